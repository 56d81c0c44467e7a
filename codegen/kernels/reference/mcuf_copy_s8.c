/* Strided copy (TRANSPOSE, SPLIT, SLICE, STRIDED_SLICE): output in order, input gathered. */
#include <string.h>

#include "mcuf_nn.h"

void mcuf_copy_s8(const mcuf_copy_params *p, const int8_t *input, int8_t *output)
{
    const uint32_t last = p->dims - 1;
    const uint32_t row = p->out_dims[last];
    const int32_t step = p->in_strides[last];
    uint32_t index[MCUF_COPY_MAX_DIMS] = {0};   /* odometer over the outer dimensions */
    const int8_t *src = input + p->offset;
    for (;;) {
        if (step == 1) {                        /* contiguous rows: one memcpy */
            memcpy(output, src, row);
        } else {
            for (uint32_t e = 0; e < row; ++e) {
                output[e] = src[(int32_t)e * step];
            }
        }
        output += row;
        uint32_t d = last;
        while (d > 0) {                         /* advance the odometer, carrying outwards */
            --d;
            src += p->in_strides[d];
            if (++index[d] < p->out_dims[d]) {
                break;
            }
            src -= (int32_t)p->out_dims[d] * p->in_strides[d];
            index[d] = 0;
            if (d == 0) {
                return;
            }
        }
        if (last == 0) {
            return;
        }
    }
}
