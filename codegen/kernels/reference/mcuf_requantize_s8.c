/* QUANTIZE (int8 -> int8) and standalone RELU/RELU6: reference_ops::Requantize. */
#include "mcuf_math.h"
#include "mcuf_nn.h"

void mcuf_requantize_s8(const mcuf_requantize_params *p, const int8_t *input, int8_t *output)
{
    for (uint32_t i = 0; i < p->size; ++i) {
        const int32_t x = input[i] + p->input_offset;
        const int32_t y = mcuf_requantize(x, p->multiplier, p->shift) + p->output_offset;
        output[i] = mcuf_clamp_s8(y, p->act_min, p->act_max);
    }
}
