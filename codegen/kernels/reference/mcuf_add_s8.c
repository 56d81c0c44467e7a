/* ADD, int8, same shapes: reference_integer_ops::AddElementwise. */
#include "mcuf_math.h"
#include "mcuf_nn.h"

void mcuf_add_s8(const mcuf_add_params *p, const int8_t *input1, const int8_t *input2,
                 int8_t *output)
{
    for (uint32_t i = 0; i < p->size; ++i) {
        const int32_t a = (int32_t)((uint32_t)(p->input1_offset + input1[i]) << p->left_shift);
        const int32_t b = (int32_t)((uint32_t)(p->input2_offset + input2[i]) << p->left_shift);
        const int32_t sa = mcuf_requantize(a, p->input1_multiplier, p->input1_shift);
        const int32_t sb = mcuf_requantize(b, p->input2_multiplier, p->input2_shift);
        const int32_t out =
            mcuf_requantize(sa + sb, p->output_multiplier, p->output_shift) + p->output_offset;
        output[i] = mcuf_clamp_s8(out, p->act_min, p->act_max);
    }
}
