/* MAX_POOL_2D, int8, with Helium (MVE): reference_integer_ops::MaxPool sixteen channels per
 * vector -- one VLDRB and one VMAX per window cell, the clamp, one VSTRB; a channel count
 * that is not a multiple of 16 ends in a tail-predicated vector. Padding cells are left out
 * of the window, as in the reference. Same results as mcuf_maxpool_s8, byte for byte. */
#include "mcuf_mve.h"
#include "mcuf_nn.h"

void mcuf_maxpool_s8_mve(const mcuf_pool_params *p, const int8_t *input, int8_t *output)
{
#if MCUF_HAS_MVE
    const int32_t C = p->channels, row = (int32_t)p->in_w * C;
    const int8x16_t lo = vdupq_n_s8((int8_t)p->act_min), hi = vdupq_n_s8((int8_t)p->act_max);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy = oy * p->stride_h - p->pad_top;
        const int32_t y0 = iy < 0 ? 0 : iy, y1 = iy + p->k_h > p->in_h ? p->in_h : iy + p->k_h;
        for (int32_t ox = 0; ox < p->out_w; ++ox, output += C) {
            const int32_t ix = ox * p->stride_w - p->pad_left;
            const int32_t x0 = ix < 0 ? 0 : ix, x1 = ix + p->k_w > p->in_w ? p->in_w : ix + p->k_w;
            const int8_t *base = input + y0 * row + x0 * C;
            for (int32_t c = 0; c < C; c += 16) {
                const mve_pred16_t pr = vctp8q((uint32_t)(C - c));
                int8x16_t m = vdupq_n_s8(-128);
                const int8_t *r = base + c;
                for (int32_t y = y0; y < y1; ++y, r += row) {
                    const int8_t *q = r;
                    for (int32_t x = x0; x < x1; ++x, q += C) {
                        m = vmaxq_s8(m, vldrbq_z_s8(q, pr));
                    }
                }
                vstrbq_p_s8(output + c, vminq_s8(vmaxq_s8(m, lo), hi), pr);
            }
        }
    }
#else
    mcuf_maxpool_s8(p, input, output);
#endif
}
