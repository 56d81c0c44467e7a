/* Strided copy (TRANSPOSE, SPLIT, SLICE, STRIDED_SLICE) with Helium (MVE): mcuf_copy_s8's
 * odometer, each output row one tail-predicated contiguous copy (step 1) or 8-byte gathers
 * (VLDRB.S16 with offsets step * 0..7); and a 2-D copy whose outer dimension is contiguous in
 * the input and whose rows are short (NCHW -> NHWC: rows of C elements) walked the other way
 * round, each input run read contiguously and scattered C bytes apart (VSTRB.16 scatter).
 * Same bytes as the reference mcuf_copy_s8. */
#include "mcuf_mve.h"
#include "mcuf_nn.h"

#if MCUF_HAS_MVE
static void copy_row(int8_t *dst, const int8_t *src, int32_t n, int32_t step)
{
    if (step == 1) {
        mcuf_mve_copy(dst, src, n);
    } else if (step > 0 && step <= 65535 / 7) {
        const uint16x8_t offs = vmulq_n_u16(vidupq_n_u16(0, 1), (uint16_t)step);
        for (; n > 0; n -= 8, src += 8 * step, dst += 8) {
            const mve_pred16_t pr = vctp16q((uint32_t)n);
            vstrbq_p_s16(dst, vldrbq_gather_offset_z_s16(src, offs, pr), pr);
        }
    } else {
        for (int32_t e = 0; e < n; ++e) {
            dst[e] = src[e * step];
        }
    }
}
#endif

void mcuf_copy_s8_mve(const mcuf_copy_params *p, const int8_t *input, int8_t *output)
{
#if MCUF_HAS_MVE
    const uint32_t last = p->dims - 1;
    const int32_t row = (int32_t)p->out_dims[last];
    const int32_t step = p->in_strides[last];
    if (p->dims == 2 && p->in_strides[0] == 1 && row < 16 && row <= 65535 / 7) {
        /* rows of `row` elements gathered `step` apart: walk the input runs instead */
        const int32_t n0 = (int32_t)p->out_dims[0];
        const uint16x8_t offs = vmulq_n_u16(vidupq_n_u16(0, 1), (uint16_t)row);
        for (int32_t e = 0; e < row; ++e) {
            const int8_t *src = input + p->offset + e * step;
            int8_t *dst = output + e;
            for (int32_t n = n0; n > 0; n -= 8, src += 8, dst += 8 * row) {
                const mve_pred16_t pr = vctp16q((uint32_t)n);
                vstrbq_scatter_offset_p_s16(dst, offs, vldrbq_z_s16(src, pr), pr);
            }
        }
        return;
    }
    uint32_t index[MCUF_COPY_MAX_DIMS] = {0};   /* odometer over the outer dimensions */
    const int8_t *src = input + p->offset;
    for (;;) {
        copy_row(output, src, row, step);
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
#else
    mcuf_copy_s8(p, input, output);
#endif
}
