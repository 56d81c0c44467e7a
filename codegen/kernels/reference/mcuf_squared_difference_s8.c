/* SQUARED_DIFFERENCE, int8: TFLite's squared_difference.cc integer path with
 * BroadcastBinaryFunction4DSlow's indexing. All shifts are right shifts (the generator
 * refuses scales that would need a left one, as TFLite's Prepare assumes). */
#include "mcuf_math.h"
#include "mcuf_nn.h"

static inline int8_t squared_difference(const mcuf_add_params *p, int8_t x, int8_t y)
{
    const int32_t a = (p->input1_offset + x) * (1 << p->left_shift);
    const int32_t b = (p->input2_offset + y) * (1 << p->left_shift);
    const int32_t diff = mcuf_requantize(a, p->input1_multiplier, p->input1_shift) -
                         mcuf_requantize(b, p->input2_multiplier, p->input2_shift);
    const int32_t out = mcuf_requantize(diff * diff, p->output_multiplier, p->output_shift) + p->output_offset;
    return mcuf_clamp_s8(out, p->act_min, p->act_max);
}

void mcuf_squared_difference_s8(const mcuf_add_broadcast_params *p, const int8_t *input1,
                                const int8_t *input2, int8_t *output)
{
    MCUF_BROADCAST_4D(p->out_dims, p->stride1, p->stride2, input1, input2, output,
                      squared_difference, &p->add);
}
