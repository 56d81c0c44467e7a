/* REDUCE_MAX over adjacent axes, int8: reduce.cc's EvalGeneric<kMax> (see mcuf_nn.h). */
#include "mcuf_nn.h"

void mcuf_reduce_max_s8(const mcuf_reduce_params *p, const int8_t *input, int8_t *output)
{
    for (uint32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->count * p->channels;
        for (uint32_t c = 0; c < p->channels; ++c) {
            int8_t best = -128;
            for (uint32_t i = 0; i < p->count; ++i) {
                const int8_t v = in[i * p->channels + c];
                best = v > best ? v : best;
            }
            *output++ = best;
        }
    }
}
