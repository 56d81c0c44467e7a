/* PAD / PADV2, int8, up to 4-D: the border is filled with the pad value (the zero point). */
#include <string.h>

#include "mcuf_nn.h"

void mcuf_pad_s8(const mcuf_pad_params *p, const int8_t *input, int8_t *output)
{
    const int32_t out_size = (int32_t)p->out_dims[0] * p->out_dims[1] * p->out_dims[2] * p->out_dims[3];
    memset(output, p->value, (size_t)out_size);
    const int row = p->in_dims[3];
    for (int a = 0; a < p->in_dims[0]; ++a) {
        for (int b = 0; b < p->in_dims[1]; ++b) {
            for (int c = 0; c < p->in_dims[2]; ++c) {
                const int32_t dst =
                    (((int32_t)(a + p->pad_before[0]) * p->out_dims[1] + (b + p->pad_before[1])) *
                         p->out_dims[2] + (c + p->pad_before[2])) * p->out_dims[3] + p->pad_before[3];
                const int32_t src = (((int32_t)a * p->in_dims[1] + b) * p->in_dims[2] + c) * row;
                memcpy(output + dst, input + src, (size_t)row);
            }
        }
    }
}
