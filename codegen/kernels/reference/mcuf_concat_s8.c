/* CONCATENATION, int8: a pure copy (TFLite requires equal scales and zero points). */
#include <string.h>

#include "mcuf_nn.h"

void mcuf_concat_s8(const mcuf_concat_params *p, const int8_t *const *inputs,
                    const int32_t *rows, int8_t *output)
{
    for (uint32_t i = 0, col = 0; i < p->count; col += (uint32_t)rows[i], ++i) {
        const int8_t *src = inputs[i];
        int8_t *dst = output + col;
        for (uint32_t o = 0; o < p->outer; ++o) {
            memcpy(dst, src, (size_t)rows[i]);
            src += rows[i];
            dst += p->out_row;
        }
    }
}
