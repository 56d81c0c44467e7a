/* Depthwise convolution (depth multiplier 1, any kernel, stride, dilation, padding, channel
 * count), DSP extension, straight on the HWC layout: the kernel for
 * kernels other than 3x3 (MobileNet V3's 5x5), dilations, and channel counts that are not a
 * multiple of 4.
 *
 * Four channels per step: one LDR of the four input bytes of a tap, SXTB16 twice into
 * (x0, x2) and (x1, x3), one LDRD of the tap's four weights -- stored by the generator
 * already widened, in that order -- and four SMLAxy: 8 instructions per 4 MACs. Pixels whose window lies inside the input take that path with no bounds
 * checks; border pixels read the input zero point for padding taps (the input offset is
 * folded into the bias, which the padding's zero points exactly cancel). A channel count
 * that is not a multiple of 4 ends with a group whose missing lanes have zero weights and
 * are read byte by byte (never past the tensor) and never stored.
 *
 * filter: int16 [C4 / 4][k_h * k_w][(w0, w2), (w1, w3)], C4 = ceil(C / 4) * 4 (each group's
 * taps consecutive);
 * bias_folded: [C4] (zero beyond C). Same results as mcuf_depthwise_conv_s8, byte for byte. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

/* c .. C-1 (1 to 3 bytes) of a pixel, the rest zero */
MCUF_INLINE uint32_t read_tail(const int8_t *in, int n)
{
    uint32_t v = (uint8_t)in[0];
    if (n > 1) {
        v |= (uint32_t)(uint8_t)in[1] << 8;
    }
    if (n > 2) {
        v |= (uint32_t)(uint8_t)in[2] << 16;
    }
    return v;
}

#define MAC4(x, w)                                                                   \
    do {                                                                             \
        const uint32_t xe_ = mcuf_sxtb16(x), xo_ = mcuf_sxtb16_ror8(x);              \
        a0 = mcuf_smlabb(xe_, (w)[0], a0);                                           \
        a2 = mcuf_smlatt(xe_, (w)[0], a2);                                           \
        a1 = mcuf_smlabb(xo_, (w)[1], a1);                                           \
        a3 = mcuf_smlatt(xo_, (w)[1], a3);                                           \
    } while (0)

/* One pixel, channel groups c0 .. C4: the general path (borders, other kernels, the tail). */
static void pixel(const mcuf_conv_params *p, const int8_t *input, int iy0, int ix0, int inside, int c0,
                  const int16_t *filter, const int32_t *bias_folded, const int32_t *multiplier,
                  const int8_t *shift, int8_t *out, const int fast)
{
    const int C = p->in_c, C4 = (C + 3) & ~3, kh = p->k_h, kw = p->k_w;
    const int dh = p->dil_h, dw = p->dil_w;
    const int32_t row = (int32_t)p->in_w * C;
    const uint32_t zp4 = (uint8_t)(-p->input_offset) * 0x01010101u;
    const mcuf_out_stage o = mcuf_out_stage_of(p, fast);
    for (int c = c0; c < C4; c += 4) {
        int32_t a0 = bias_folded[c], a1 = bias_folded[c + 1];
        int32_t a2 = bias_folded[c + 2], a3 = bias_folded[c + 3];
        const uint32_t *w = (const uint32_t *)(const void *)filter + (c / 4) * 2 * kh * kw;
        const int lanes = C - c < 4 ? C - c : 4;
        if (inside && lanes == 4) {
            const int8_t *r = input + (int32_t)iy0 * row + (int32_t)ix0 * C + c;
            for (int ky = 0; ky < kh; ++ky, r += dh * row) {
                const int8_t *q = r;
                for (int kx = 0; kx < kw; ++kx, q += dw * C, w += 2) {
                    MAC4(mcuf_read32(q), w);
                }
            }
        } else {
            for (int ky = 0; ky < kh; ++ky) {
                const int iy = iy0 + ky * dh;
                const int row_ok = iy >= 0 && iy < p->in_h;
                for (int kx = 0; kx < kw; ++kx, w += 2) {
                    const int ix = ix0 + kx * dw;
                    uint32_t x = zp4;
                    if (row_ok && ix >= 0 && ix < p->in_w) {
                        const int8_t *q = input + (int32_t)iy * row + (int32_t)ix * C + c;
                        x = lanes == 4 ? mcuf_read32(q) : read_tail(q, lanes);
                    }
                    MAC4(x, w);
                }
            }
        }
        const int32_t acc[4] = {a0, a1, a2, a3};
        for (int i = 0; i < lanes; ++i) {
            const mcuf_requant q = mcuf_requant_at(o, multiplier, shift, c + i);
            out[c + i] = mcuf_out(o, acc[i], &q);
        }
    }
}

/* The widest channel count whose border pixels take the 3x3 path (its zero-point row is on
 * the stack); wider layers' borders go through pixel(). */
#define MCUF_DW3_BORDER_MAX_C 256

/* One pixel of a 3x3, undilated depthwise: the nine taps of each whole group of four
 * channels unrolled (72 instructions for 36 MACs, no bounds checks, no loop counters).
 * tap[t]: the input pixel of tap t (channel 0), or for a padding tap a row of input zero
 * points at least C4 bytes long. A channel count that is not a multiple of 4 ends through
 * pixel(). */
static void pixel_3x3(const mcuf_conv_params *p, const int8_t *const tap[9], const int8_t *input,
                      int iy0, int ix0, int inside, const int16_t *filter, const int32_t *bias_folded,
                      const int32_t *multiplier, const int8_t *shift, int8_t *out, const int fast)
{
    const int C = p->in_c, C4 = C & ~3;
    const mcuf_out_stage o = mcuf_out_stage_of(p, fast);
    const uint32_t *w = (const uint32_t *)(const void *)filter;
    for (int c = 0; c < C4; c += 4, w += 18) {
        int32_t a0 = bias_folded[c], a1 = bias_folded[c + 1];
        int32_t a2 = bias_folded[c + 2], a3 = bias_folded[c + 3];
        MAC4(mcuf_read32(tap[0] + c), w);
        MAC4(mcuf_read32(tap[1] + c), w + 2);
        MAC4(mcuf_read32(tap[2] + c), w + 4);
        MAC4(mcuf_read32(tap[3] + c), w + 6);
        MAC4(mcuf_read32(tap[4] + c), w + 8);
        MAC4(mcuf_read32(tap[5] + c), w + 10);
        MAC4(mcuf_read32(tap[6] + c), w + 12);
        MAC4(mcuf_read32(tap[7] + c), w + 14);
        MAC4(mcuf_read32(tap[8] + c), w + 16);
        mcuf_requant q0 = mcuf_requant_at(o, multiplier, shift, c);
        out[c] = mcuf_out(o, a0, &q0);
        q0 = mcuf_requant_at(o, multiplier, shift, c + 1);
        out[c + 1] = mcuf_out(o, a1, &q0);
        q0 = mcuf_requant_at(o, multiplier, shift, c + 2);
        out[c + 2] = mcuf_out(o, a2, &q0);
        q0 = mcuf_requant_at(o, multiplier, shift, c + 3);
        out[c + 3] = mcuf_out(o, a3, &q0);
    }
    if (C4 < C) {
        pixel(p, input, iy0, ix0, inside, C4, filter, bias_folded, multiplier, shift, out, fast);
    }
}

MCUF_INLINE void mcuf_depthwise_conv_hwc_s8_dsp_body(const mcuf_conv_params *p, const int8_t *input,
                                                     const int16_t *filter, const int32_t *bias_folded,
                                                     const int32_t *multiplier, const int8_t *shift,
                                                     int8_t *output, const int fast)
{
    const int C = p->in_c, kh = p->k_h, kw = p->k_w, sw = p->stride_w;
    const int k3 = kh == 3 && kw == 3 && p->dil_h == 1 && p->dil_w == 1;
    const int border3 = k3 && C <= MCUF_DW3_BORDER_MAX_C;
    const int32_t row = (int32_t)p->in_w * C;
    uint32_t zp_row[MCUF_DW3_BORDER_MAX_C / 4];
    if (border3) {
        const uint32_t zp4 = (uint8_t)(-p->input_offset) * 0x01010101u;
        for (int i = 0; i < (C + 3) / 4; ++i) {
            zp_row[i] = zp4;
        }
    }
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_top;
        const int rows_in = iy0 >= 0 && iy0 + (kh - 1) * p->dil_h < p->in_h;
        int8_t *out = output + (int32_t)oy * p->out_w * C;
        for (int ox = 0; ox < p->out_w; ++ox, out += C) {
            const int ix0 = ox * sw - p->pad_left;
            const int inside = rows_in && ix0 >= 0 && ix0 + (kw - 1) * p->dil_w < p->in_w;
            if (inside ? k3 : border3) {
                const int8_t *tap[9];
                for (int ky = 0; ky < 3; ++ky) {
                    const int iy = iy0 + ky;
                    for (int kx = 0; kx < 3; ++kx) {
                        const int ix = ix0 + kx;
                        tap[3 * ky + kx] = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w
                                               ? input + (int32_t)iy * row + (int32_t)ix * C
                                               : (const int8_t *)(const void *)zp_row;
                    }
                }
                pixel_3x3(p, tap, input, iy0, ix0, inside, filter, bias_folded, multiplier, shift, out,
                          fast);
            } else {
                pixel(p, input, iy0, ix0, inside, 0, filter, bias_folded, multiplier, shift, out, fast);
            }
        }
    }
}

/* Two specialised copies, chosen by the generator: the fast output stage for every channel,
 * and the general one (a model links only what it calls). */
void mcuf_depthwise_conv_hwc_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                         const int16_t *filter, const int32_t *bias_folded,
                                         const int32_t *multiplier, const int8_t *shift, int8_t *output)
{
    mcuf_depthwise_conv_hwc_s8_dsp_body(p, input, filter, bias_folded, multiplier, shift, output, 1);
}

void mcuf_depthwise_conv_hwc_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                    const int16_t *filter, const int32_t *bias_folded,
                                    const int32_t *multiplier, const int8_t *shift, int8_t *output)
{
    mcuf_depthwise_conv_hwc_s8_dsp_body(p, input, filter, bias_folded, multiplier, shift, output, 0);
}
