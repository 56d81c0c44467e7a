/* MAX_POOL_2D, int8, DSP extension: four channels at a time. One 32-bit load of four
 * channels per window cell, and the per-byte maximum with SSUB8 (which sets the GE flag of
 * each byte lane where the new value is >= the running one) and SEL (which picks by those
 * flags): 3 instructions per cell for four channels. The activation's clamp is the same
 * pair against the range's bytes. Padding cells are left out, as in the reference. Same
 * results as the reference mcuf_maxpool_s8, byte for byte. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

/* per-byte signed max (min) of a and b */
MCUF_INLINE uint32_t max4(uint32_t a, uint32_t b)
{
#if MCUF_HAS_DSP
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
#else
    uint32_t r = 0;
    for (int i = 0; i < 32; i += 8) {
        const int8_t x = (int8_t)(a >> i), y = (int8_t)(b >> i);
        r |= (uint32_t)(uint8_t)(x >= y ? x : y) << i;
    }
    return r;
#endif
}

MCUF_INLINE uint32_t min4(uint32_t a, uint32_t b)
{
#if MCUF_HAS_DSP
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
#else
    uint32_t r = 0;
    for (int i = 0; i < 32; i += 8) {
        const int8_t x = (int8_t)(a >> i), y = (int8_t)(b >> i);
        r |= (uint32_t)(uint8_t)(x >= y ? y : x) << i;
    }
    return r;
#endif
}

void mcuf_maxpool_s8_dsp(const mcuf_pool_params *p, const int8_t *input, int8_t *output)
{
    const int C = p->channels, C4 = C & ~3;
    const int clamp = p->act_min > -128 || p->act_max < 127;
    const uint32_t lo4 = (uint8_t)p->act_min * 0x01010101u, hi4 = (uint8_t)p->act_max * 0x01010101u;
    const int32_t row = (int32_t)p->in_w * C;
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy = oy * p->stride_h - p->pad_top;
        const int y0 = iy < 0 ? 0 : iy, y1 = iy + p->k_h > p->in_h ? p->in_h : iy + p->k_h;
        for (int ox = 0; ox < p->out_w; ++ox, output += C) {
            const int ix = ox * p->stride_w - p->pad_left;
            const int x0 = ix < 0 ? 0 : ix, x1 = ix + p->k_w > p->in_w ? p->in_w : ix + p->k_w;
            const int8_t *base = input + (int32_t)y0 * row + x0 * C;
            for (int c = 0; c < C4; c += 4) {
                uint32_t m = 0x80808080u;   /* -128 in every lane */
                const int8_t *r = base + c;
                for (int y = y0; y < y1; ++y, r += row) {
                    const int8_t *in = r;
                    for (int x = x0; x < x1; ++x, in += C) {
                        m = max4(mcuf_read32(in), m);
                    }
                }
                if (clamp) {
                    m = min4(max4(m, lo4), hi4);
                }
                mcuf_write32(output + c, m);
            }
            for (int c = C4; c < C; ++c) {
                int32_t m = -128;
                const int8_t *r = base + c;
                for (int y = y0; y < y1; ++y, r += row) {
                    for (int x = x0; x < x1; ++x) {
                        m = mcuf_max32(m, r[(x - x0) * C]);
                    }
                }
                output[c] = mcuf_clamp_s8(m, p->act_min, p->act_max);
            }
        }
    }
}
