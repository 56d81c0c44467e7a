/* 3x3 depthwise convolution (depth multiplier 1, any stride and dilation, channels a
 * multiple of 4), DSP extension: the MobileNet workhorse.
 *
 * The generator stores the filter widened to int16 in SIMD order: for each group of four
 * channels c..c+3 and each tap t, two words (w[t][c], w[t][c+2]) and (w[t][c+1], w[t][c+3]),
 * i.e. what SXTB16 makes of the input word. A tap is then one LDR of 4 inputs, two SXTB16,
 * one LDRD of weights and four SMLABB/SMLATT. Interior pixels (their column range is
 * computed once) run the nine taps unrolled with no bounds checks; border pixels point
 * their taps in the padding at a row of input zero points in `scratch` (C bytes; the input
 * offset is folded into bias_folded), and run the same nine taps.
 * Same results as the reference kernel, byte for byte. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

#define TAP(x, t)                                                      \
    do {                                                               \
        const uint32_t x_ = (x);                                       \
        const uint32_t xe_ = mcuf_sxtb16(x_), xo_ = mcuf_sxtb16_ror8(x_); \
        const uint32_t we_ = w[2 * (t)], wo_ = w[2 * (t) + 1];         \
        a0 = mcuf_smlabb(xe_, we_, a0);                                \
        a2 = mcuf_smlatt(xe_, we_, a2);                                \
        a1 = mcuf_smlabb(xo_, wo_, a1);                                \
        a3 = mcuf_smlatt(xo_, wo_, a3);                                \
    } while (0)

#define STORE4(out, c)                                                 \
    do {                                                               \
        (out)[(c)] = mcuf_out(o, a0, &rq[(c)]);                        \
        (out)[(c) + 1] = mcuf_out(o, a1, &rq[(c) + 1]);                \
        (out)[(c) + 2] = mcuf_out(o, a2, &rq[(c) + 2]);                \
        (out)[(c) + 3] = mcuf_out(o, a3, &rq[(c) + 3]);                \
    } while (0)

MCUF_INLINE void mcuf_depthwise_conv_3x3_s8_dsp_body(const mcuf_conv_params *p, const int8_t *input,
                                    const int16_t *filter16, const int32_t *bias_folded,
                                    const mcuf_requant *rq, int8_t *output, int16_t *scratch, const int fast)
{
    const int C = p->in_c, in_h = p->in_h, in_w = p->in_w, out_w = p->out_w;
    const int sw = p->stride_w, dh = p->dil_h, dw = p->dil_w, pad_left = p->pad_left;
    const int32_t row = (int32_t)in_w * C * dh, col = (int32_t)C * dw;
    const mcuf_out_stage o = {p->output_offset, p->act_min, p->act_max, fast};
    const uint32_t *const w0 = (const uint32_t *)(const void *)filter16;
    /* C zero points, for taps in the padding (scratch: C bytes, planned by the generator) */
    int8_t *const zrow = (int8_t *)(void *)scratch;
    for (int c = 0; c < C; ++c) {
        zrow[c] = (int8_t)(-p->input_offset);
    }
    /* output columns whose three taps are all inside the input: [x_lo, x_hi) */
    int x_lo = 0, x_hi = out_w;
    while (x_lo < out_w && x_lo * sw - pad_left < 0) {
        ++x_lo;
    }
    while (x_hi > x_lo && (x_hi - 1) * sw - pad_left + 2 * dw >= in_w) {
        --x_hi;
    }
    int8_t *restrict out = output;
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_top;
        const int rows_in = iy0 >= 0 && iy0 + 2 * dh < in_h;
        for (int ox = 0; ox < out_w; ++ox, out += C) {
            const int ix0 = ox * sw - pad_left;
            const int8_t *base = input + ((int32_t)iy0 * in_w + ix0) * C;
            const uint32_t *w = w0;
            if (rows_in && ox >= x_lo && ox < x_hi) {
                for (int c = 0; c < C; c += 4, w += 18) {
                    int32_t a0 = bias_folded[c], a1 = bias_folded[c + 1];
                    int32_t a2 = bias_folded[c + 2], a3 = bias_folded[c + 3];
                    const int8_t *r = base + c;
                    TAP(mcuf_read32(r), 0);
                    TAP(mcuf_read32(r + col), 1);
                    TAP(mcuf_read32(r + 2 * col), 2);
                    r += row;
                    TAP(mcuf_read32(r), 3);
                    TAP(mcuf_read32(r + col), 4);
                    TAP(mcuf_read32(r + 2 * col), 5);
                    r += row;
                    TAP(mcuf_read32(r), 6);
                    TAP(mcuf_read32(r + col), 7);
                    TAP(mcuf_read32(r + 2 * col), 8);
                    STORE4(out, c);
                }
                continue;
            }
            /* border pixel: a tap in the padding reads a row of zero points instead */
            const int8_t *tap[9];
            for (int t = 0; t < 9; ++t) {
                const int ky = t / 3, kx = t - 3 * ky;
                const int iy = iy0 + ky * dh, ix = ix0 + kx * dw;
                tap[t] = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w
                             ? base + (int32_t)ky * row + (int32_t)kx * col
                             : zrow;
            }
            for (int c = 0; c < C; c += 4, w += 18) {
                int32_t a0 = bias_folded[c], a1 = bias_folded[c + 1];
                int32_t a2 = bias_folded[c + 2], a3 = bias_folded[c + 3];
                TAP(mcuf_read32(tap[0] + c), 0);
                TAP(mcuf_read32(tap[1] + c), 1);
                TAP(mcuf_read32(tap[2] + c), 2);
                TAP(mcuf_read32(tap[3] + c), 3);
                TAP(mcuf_read32(tap[4] + c), 4);
                TAP(mcuf_read32(tap[5] + c), 5);
                TAP(mcuf_read32(tap[6] + c), 6);
                TAP(mcuf_read32(tap[7] + c), 7);
                TAP(mcuf_read32(tap[8] + c), 8);
                STORE4(out, c);
            }
        }
    }
}

/* Two specialised copies: the common output stage, and the general one. */
void mcuf_depthwise_conv_3x3_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                    const int16_t *filter16, const int32_t *bias_folded,
                                    const mcuf_requant *rq, int8_t *output, int16_t *scratch)
{
    if (p->out_fast) {
        mcuf_depthwise_conv_3x3_s8_dsp_body(p, input, filter16, bias_folded, rq, output, scratch, 1);
    } else {
        mcuf_depthwise_conv_3x3_s8_dsp_body(p, input, filter16, bias_folded, rq, output, scratch, 0);
    }
}
