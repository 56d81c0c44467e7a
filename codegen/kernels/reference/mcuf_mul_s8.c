/* MUL, int8, with 4-D broadcasting: reference_integer_ops::MulElementwise and
 * BroadcastMul4DSlow. A broadcast dimension has stride 0 in that input. */
#include "mcuf_math.h"
#include "mcuf_nn.h"

void mcuf_mul_s8(const mcuf_mul_params *p, const int8_t *input1, const int8_t *input2,
                 int8_t *output)
{
    const uint16_t *d = p->out_dims;
    for (uint32_t n = 0; n < d[0]; ++n) {
        for (uint32_t y = 0; y < d[1]; ++y) {
            for (uint32_t x = 0; x < d[2]; ++x) {
                const int8_t *a = input1 + n * p->stride1[0] + y * p->stride1[1] + x * p->stride1[2];
                const int8_t *b = input2 + n * p->stride2[0] + y * p->stride2[1] + x * p->stride2[2];
                for (uint32_t c = 0; c < d[3]; ++c) {
                    const int32_t prod = (p->input1_offset + a[c * p->stride1[3]]) *
                                         (p->input2_offset + b[c * p->stride2[3]]);
                    const int32_t out =
                        mcuf_requantize(prod, p->output_multiplier, p->output_shift) + p->output_offset;
                    *output++ = mcuf_clamp_s8(out, p->act_min, p->act_max);
                }
            }
        }
    }
}
