/* SQUARED_DIFFERENCE, int8: TFLite's squared_difference.cc integer path with
 * BroadcastBinaryFunction4DSlow's indexing. All shifts are right shifts (the generator
 * refuses scales that would need a left one, as TFLite's Prepare assumes). */
#include "mcuf_math.h"
#include "mcuf_nn.h"

void mcuf_squared_difference_s8(const mcuf_squared_difference_params *p, const int8_t *input1,
                                const int8_t *input2, int8_t *output)
{
    const uint16_t *d = p->out_dims;
    for (uint32_t n = 0; n < d[0]; ++n) {
        for (uint32_t y = 0; y < d[1]; ++y) {
            for (uint32_t x = 0; x < d[2]; ++x) {
                const int8_t *a = input1 + n * p->stride1[0] + y * p->stride1[1] + x * p->stride1[2];
                const int8_t *b = input2 + n * p->stride2[0] + y * p->stride2[1] + x * p->stride2[2];
                for (uint32_t c = 0; c < d[3]; ++c) {
                    const int32_t va = (p->input1_offset + a[c * p->stride1[3]]) * (1 << p->left_shift);
                    const int32_t vb = (p->input2_offset + b[c * p->stride2[3]]) * (1 << p->left_shift);
                    const int32_t diff = mcuf_requantize(va, p->input1_multiplier, p->input1_shift) -
                                         mcuf_requantize(vb, p->input2_multiplier, p->input2_shift);
                    const int32_t out = mcuf_requantize(diff * diff, p->output_multiplier, p->output_shift) +
                                        p->output_offset;
                    *output++ = mcuf_clamp_s8(out, p->act_min, p->act_max);
                }
            }
        }
    }
}
