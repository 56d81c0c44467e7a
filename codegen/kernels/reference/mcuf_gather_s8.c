/* GATHER with constant indices, int8: reference_ops::Gather (see mcuf_nn.h). */
#include <string.h>

#include "mcuf_nn.h"

void mcuf_gather_s8(const mcuf_gather_params *p, const int8_t *input, const int32_t *indices,
                    int8_t *output)
{
    for (uint32_t o = 0; o < p->outer; ++o) {
        const int8_t *src = input + (size_t)o * p->axis_size * p->inner;
        for (uint32_t k = 0; k < p->count; ++k) {
            memcpy(output, src + (size_t)(uint32_t)indices[k] * p->inner, p->inner);
            output += p->inner;
        }
    }
}
