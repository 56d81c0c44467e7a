/* FULLY_CONNECTED, int8 (per-tensor or per-channel weights), as TFLite's reference kernel
 * computes it (reference_integer_ops::FullyConnected): note the single-rounding
 * requantization, and the weight offset (filter + filter_offset), 0 unless the per-tensor
 * weights have a zero point. */
#include "mcuf_math.h"
#include "mcuf_nn.h"

void mcuf_fully_connected_s8(const mcuf_fc_params *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, const int32_t *multiplier,
                             const int32_t *shift, int8_t *output)
{
    for (int b = 0; b < p->batches; ++b) {
        const int8_t *in = input + (int32_t)b * p->in_depth;
        for (int oc = 0; oc < p->out_depth; ++oc) {
            const int8_t *w = filter + (int32_t)oc * p->in_depth;
            int32_t acc = 0;
            if (p->filter_offset == 0) {
                for (int i = 0; i < p->in_depth; ++i) {
                    acc += w[i] * (in[i] + p->input_offset);
                }
            } else {
                for (int i = 0; i < p->in_depth; ++i) {
                    acc += (w[i] + p->filter_offset) * (in[i] + p->input_offset);
                }
            }
            if (bias) {
                acc += bias[oc];
            }
            const int q = p->per_channel ? oc : 0;
            acc = mcuf_requantize_single(acc, multiplier[q], shift[q]) + p->output_offset;
            *output++ = mcuf_clamp_s8(acc, p->act_min, p->act_max);
        }
    }
}
