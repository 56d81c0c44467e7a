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
 * the two inputs' strides. With fast constants, equal shapes run as one row, and where both
 * innermost strides are 1 (the squeeze-excite broadcast [1, H, W, C] x [1, 1, 1, C]) each row
 * takes it too -- row_mul / row_add:
 * MUL four elements per word pair (SXTB16, SADD16 of the offsets and of itself for the
 * doubling, SMULBB / SMULTT), ADD a tight loop of table look-ups, both storing a word per
 * four outputs. Same results as mcuf_add_s8 / mcuf_mul_s8, byte for byte. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

MCUF_INLINE mcuf_requant stage_of(const mcuf_elementwise_dsp_params *p, mcuf_out_stage *o)
{
    const mcuf_out_stage s = {p->output_offset, p->act_min, p->act_max, 2 * p->output_offset + 1, 0};
    *o = s;
    return mcuf_requant_at(s, &p->multiplier, &p->shift, 0);
}

MCUF_INLINE uint32_t pair_of(int32_t v)
{
    return (uint32_t)(uint16_t)v | ((uint32_t)(uint16_t)v << 16);
}

MCUF_INLINE int32_t smulbb(uint32_t x, uint32_t y)
{
    return (int32_t)(int16_t)x * (int16_t)y;
}

MCUF_INLINE int32_t smultt(uint32_t x, uint32_t y)
{
    return (int32_t)(int16_t)(x >> 16) * (int16_t)(y >> 16);
}

/* the fast stage of a doubled accumulator, saturated to int8 (the clamp comes per word) */
MCUF_INLINE int32_t stage_fast(int32_t x2, const mcuf_requant *q)
{
    return mcuf_ssat8(mcuf_requant_fast2(x2, q));
}

/* n outputs of MUL, both inputs contiguous; q has fast constants */
static __attribute__((noinline)) void row_mul(const int8_t *a, const int8_t *b, int8_t *out, uint32_t n, int32_t off1,
                    int32_t off2, mcuf_requant q, int32_t lo, int32_t hi)
{
    const uint32_t o1 = pair_of(off1), o2 = pair_of(off2);
    const uint32_t lo4 = mcuf_splat4_s8(lo), hi4 = mcuf_splat4_s8(hi);
    const int act = lo > -128 || hi < 127;
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t va = mcuf_read32(a + i), vb = mcuf_read32(b + i);
        uint32_t ae = mcuf_sadd16(mcuf_sxtb16(va), o1), ao = mcuf_sadd16(mcuf_sxtb16_ror8(va), o1);
        const uint32_t be = mcuf_sadd16(mcuf_sxtb16(vb), o2), bo = mcuf_sadd16(mcuf_sxtb16_ror8(vb), o2);
        ae = mcuf_sadd16(ae, ae);   /* 2 (a + off1): within +-510 */
        ao = mcuf_sadd16(ao, ao);
        const int32_t y0 = stage_fast(smulbb(ae, be), &q), y1 = stage_fast(smulbb(ao, bo), &q);
        const int32_t y2 = stage_fast(smultt(ae, be), &q), y3 = stage_fast(smultt(ao, bo), &q);
        const uint32_t y = mcuf_pack4_s8(y0, y1, y2, y3);
        mcuf_write32(out + i, act ? mcuf_clamp4_s8(y, lo4, hi4) : y);
    }
    for (; i < n; ++i) {
        out[i] = mcuf_clamp_s8(mcuf_requant_fast2(2 * (a[i] + off1) * (b[i] + off2), &q), lo, hi);
    }
}

/* n outputs of ADD, both inputs contiguous; q has fast constants */
static __attribute__((noinline)) void row_add(const int8_t *a, const int8_t *b, int8_t *out, uint32_t n, const int32_t *t1,
                    const int32_t *t2, mcuf_requant q, int32_t lo, int32_t hi)
{
    const uint32_t lo4 = mcuf_splat4_s8(lo), hi4 = mcuf_splat4_s8(hi);
    const int act = lo > -128 || hi < 127;
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const int32_t y0 = stage_fast((int32_t)((uint32_t)(t1[a[i]] + t2[b[i]]) << 1), &q);
        const int32_t y1 = stage_fast((int32_t)((uint32_t)(t1[a[i + 1]] + t2[b[i + 1]]) << 1), &q);
        const int32_t y2 = stage_fast((int32_t)((uint32_t)(t1[a[i + 2]] + t2[b[i + 2]]) << 1), &q);
        const int32_t y3 = stage_fast((int32_t)((uint32_t)(t1[a[i + 3]] + t2[b[i + 3]]) << 1), &q);
        const uint32_t y = mcuf_pack4_s8(y0, y1, y2, y3);
        mcuf_write32(out + i, act ? mcuf_clamp4_s8(y, lo4, hi4) : y);
    }
    for (; i < n; ++i) {
        out[i] = mcuf_clamp_s8(mcuf_requant_fast2((int32_t)((uint32_t)(t1[a[i]] + t2[b[i]]) << 1), &q), lo, hi);
    }
}

/* Is an input laid out as the output (row-major, no broadcast dimension of extent > 1)? */
MCUF_INLINE int dense(const mcuf_elementwise_dsp_params *p, const uint32_t *stride)
{
    uint32_t want = 1;
    for (int d = 3; d >= 0; --d) {
        if (p->out_dims[d] > 1 && stride[d] != want) {
            return 0;
        }
        want *= p->out_dims[d];
    }
    return 1;
}

MCUF_INLINE void walk(const mcuf_elementwise_dsp_params *p, const int8_t *in1, const int8_t *in2,
                      const int32_t *t1, const int32_t *t2, int8_t *out, const int mul)
{
    mcuf_out_stage o;
    const mcuf_requant q = stage_of(p, &o);
    const int32_t off1 = p->input1_offset, off2 = p->input2_offset;
    const uint32_t n3 = p->out_dims[3], s13 = p->stride1[3], s23 = p->stride2[3];
    if (q.round && dense(p, p->stride1) && dense(p, p->stride2)) {   /* equal shapes: one row */
        const uint32_t total = (uint32_t)p->out_dims[0] * p->out_dims[1] * p->out_dims[2] * n3;
        if (mul) {
            row_mul(in1, in2, out, total, off1, off2, q, o.act_min, o.act_max);
        } else {
            row_add(in1, in2, out, total, t1, t2, q, o.act_min, o.act_max);
        }
        return;
    }
    for (uint32_t n = 0; n < p->out_dims[0]; ++n) {
        for (uint32_t y = 0; y < p->out_dims[1]; ++y) {
            for (uint32_t x = 0; x < p->out_dims[2]; ++x) {
                const int8_t *a = in1 + n * p->stride1[0] + y * p->stride1[1] + x * p->stride1[2];
                const int8_t *b = in2 + n * p->stride2[0] + y * p->stride2[1] + x * p->stride2[2];
                if (q.round && s13 == 1 && s23 == 1) {   /* contiguous rows */
                    if (mul) {
                        row_mul(a, b, out, n3, off1, off2, q, o.act_min, o.act_max);
                    } else {
                        row_add(a, b, out, n3, t1, t2, q, o.act_min, o.act_max);
                    }
                    out += n3;
                } else if (q.round) {   /* fast constants: SMMLAR, shift, clamp */
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
