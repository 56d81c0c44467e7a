/* MEAN over adjacent axes, int8: TFLite's integer QuantizedMeanOrSum (see mcuf_nn.h). */
#include "mcuf_math.h"
#include "mcuf_nn.h"

void mcuf_mean_s8(const mcuf_mean_params *p, const int8_t *input, int8_t *output)
{
    const int32_t zero_sum = p->input_zero_point * (int32_t)p->count;
    for (uint32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->count * p->channels;
        for (uint32_t c = 0; c < p->channels; ++c) {
            int32_t sum = 0;
            for (uint32_t i = 0; i < p->count; ++i) {
                sum += in[i * p->channels + c];
            }
            const int32_t out =
                mcuf_requantize(sum - zero_sum, p->multiplier, p->shift) + p->output_zero_point;
            *output++ = mcuf_clamp_s8(out, -128, 127);
        }
    }
}
