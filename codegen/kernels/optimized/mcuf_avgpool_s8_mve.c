/* AVERAGE_POOL_2D, int8, with Helium (MVE): reference_integer_ops::AveragePool four channels
 * per vector. The window's sum is exact in int32 lanes; TFLite's rounded division
 * (acc +- count/2) / count, truncating, is sign(acc) * floor((|acc| + count/2) / count), and
 * the floor is one VMULH.U32 by ceil(2^32 / count): for count in [2, 256] and a dividend
 * t < 2^16 the error t * (ceil(2^32/count) * count - 2^32) < 2^16 * 2^8 stays below 2^32, so
 * the quotient is exact (Granlund and Montgomery, "Division by invariant integers using
 * multiplication", 1994). The generator calls it for windows of at most 256 cells. Padding
 * cells are left out of the window and of the count, as in the reference. Same results as
 * mcuf_avgpool_s8, byte for byte. */
#include "mcuf_mve.h"
#include "mcuf_nn.h"

void mcuf_avgpool_s8_mve(const mcuf_pool_params *p, const int8_t *input, int8_t *output)
{
#if MCUF_HAS_MVE
    const int32_t C = p->channels, row = (int32_t)p->in_w * C;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy = oy * p->stride_h - p->pad_top;
        const int32_t y0 = iy < 0 ? 0 : iy, y1 = iy + p->k_h > p->in_h ? p->in_h : iy + p->k_h;
        for (int32_t ox = 0; ox < p->out_w; ++ox, output += C) {
            const int32_t ix = ox * p->stride_w - p->pad_left;
            const int32_t x0 = ix < 0 ? 0 : ix, x1 = ix + p->k_w > p->in_w ? p->in_w : ix + p->k_w;
            const int32_t count = (y1 - y0) * (x1 - x0);
            const uint32_t m = count >= 2 ? (uint32_t)((0x100000000ull + (uint64_t)count - 1) / (uint64_t)count) : 0;
            const int8_t *base = input + y0 * row + x0 * C;
            for (int32_t c = 0; c < C; c += 4) {
                const mve_pred16_t pr = vctp32q((uint32_t)(C - c));
                int32x4_t acc = vdupq_n_s32(0);
                const int8_t *r = base + c;
                for (int32_t y = y0; y < y1; ++y, r += row) {
                    const int8_t *q = r;
                    for (int32_t x = x0; x < x1; ++x, q += C) {
                        acc = vaddq_s32(acc, vldrbq_z_s32(q, pr));
                    }
                }
                int32x4_t v = acc;
                if (count >= 2) {
                    const uint32x4_t t = vreinterpretq_u32_s32(vaddq_n_s32(vabsq_s32(acc), count / 2));
                    const int32x4_t quot = vreinterpretq_s32_u32(vmulhq_u32(t, vdupq_n_u32(m)));
                    v = vpselq_s32(vnegq_s32(quot), quot, vcmpltq_n_s32(acc, 0));
                }
                vstrbq_p_s32(output + c, vminq_s32(vmaxq_s32(v, lo), hi), pr);
            }
        }
    }
#else
    mcuf_avgpool_s8(p, input, output);
#endif
}
