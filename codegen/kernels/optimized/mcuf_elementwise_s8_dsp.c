/* ADD and MUL, int8, with 4-D broadcasting, at close to memory speed.
 *
 * ADD: TFLite's AddElementwise scales each input on its own -- (x + offset) << left_shift,
 * then MultiplyByQuantizedMultiplierSmallerThanOneExp -- before it sums them, so each
 * input's scaled value is a function of one int8: the generator computes both 256-entry
 * int32 tables with TFLite's arithmetic (`tables`: input 1's, then input 2's, indexed by
 * x + 128) and the device adds two looked-up values. MUL: the product of the offset inputs.
 * Either accumulator then takes the optimized kernels' output stage (mcuf_dsp.h) with the
 * generator's multiplier and shift byte (fast constants where provably exact for the
 * accumulator's bound, TFLite's formula otherwise), and the activation's clamp. The walk is
 * the reference's (BroadcastBinaryFunction4DSlow order); its innermost dimension runs with
 * the two inputs' strides. Same results as mcuf_add_s8 / mcuf_mul_s8, byte for byte. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

MCUF_INLINE mcuf_requant stage_of(const mcuf_elementwise_dsp_params *p, mcuf_out_stage *o)
{
    const mcuf_out_stage s = {p->output_offset, p->act_min, p->act_max, 2 * p->output_offset + 1, 0};
    *o = s;
    return mcuf_requant_at(s, &p->multiplier, &p->shift, 0);
}

MCUF_INLINE void walk(const mcuf_elementwise_dsp_params *p, const int8_t *in1, const int8_t *in2,
                      const int32_t *t1, const int32_t *t2, int8_t *out, const int mul)
{
    mcuf_out_stage o;
    const mcuf_requant q = stage_of(p, &o);
    const int32_t off1 = p->input1_offset, off2 = p->input2_offset;
    const uint32_t n3 = p->out_dims[3], s13 = p->stride1[3], s23 = p->stride2[3];
    for (uint32_t n = 0; n < p->out_dims[0]; ++n) {
        for (uint32_t y = 0; y < p->out_dims[1]; ++y) {
            for (uint32_t x = 0; x < p->out_dims[2]; ++x) {
                const int8_t *a = in1 + n * p->stride1[0] + y * p->stride1[1] + x * p->stride1[2];
                const int8_t *b = in2 + n * p->stride2[0] + y * p->stride2[1] + x * p->stride2[2];
                if (q.round) {   /* fast constants: SMMLAR, shift, clamp */
                    for (uint32_t c = 0; c < n3; ++c, a += s13, b += s23) {
                        const int32_t acc = mul ? (*a + off1) * (*b + off2) : t1[*a] + t2[*b];
                        const int32_t v = mcuf_requant_fast2((int32_t)((uint32_t)acc << 1), &q);
                        *out++ = mcuf_clamp_s8(v, o.act_min, o.act_max);
                    }
                } else {
                    for (uint32_t c = 0; c < n3; ++c, a += s13, b += s23) {
                        const int32_t acc = mul ? (*a + off1) * (*b + off2) : t1[*a] + t2[*b];
                        *out++ = mcuf_out_general2(o, (int32_t)((uint32_t)acc << 1), &q);
                    }
                }
            }
        }
    }
}

void mcuf_add_s8_dsp(const mcuf_elementwise_dsp_params *p, const int8_t *input1,
                     const int8_t *input2, const int32_t *tables, int8_t *output)
{
    walk(p, input1, input2, tables + 128, tables + 256 + 128, output, 0);
}

void mcuf_mul_s8_dsp(const mcuf_elementwise_dsp_params *p, const int8_t *input1,
                     const int8_t *input2, int8_t *output)
{
    walk(p, input1, input2, 0, 0, output, 1);
}
