/* Convolution over a shallow input (k_w * in_c <= 16, no dilation along the width, one group:
 * the RGB stem of every MobileNet), DSP extension.
 *
 * The general kernel's im2col rebuilds each output pixel's receptive field, ~200
 * instructions per pixel on a 3x3x3 stem. Here each output row first widens the k_h input
 * rows it reads to int16 (padding columns hold the input zero point; the input offset is
 * folded into the bias), once per row instead of once per pixel. A pixel's receptive field
 * is then k_h runs of k_w * in_c consecutive int16 in those rows, read in place as int16
 * pairs against int16 weight pairs the generator stored widened: per pair of values one LDR
 * for each of two pixels, one LDRD of two channels' weights, four SMLADs -- 7 instructions
 * for 8 MACs, nothing rebuilt.
 *
 * filter: int16 [ceil(out_c/2)][k_h][L/2][2 channels][2], L = k_w * in_c rounded up to even
 * (an odd run's extra weight is zero and meets the next value of the row), doubled so that
 * the accumulator is the 2 * acc the output stage wants; an odd last channel is paired with
 * a zero row. bias2: the doubled folded bias. scratch: k_h rows of row_len(p) int16
 * (mirrored by _shallow_row_len in codegen/lowering.py).
 * Same results as the reference mcuf_conv_s8, byte for byte. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

/* The columns the output reads, times in_c, plus one value for an odd run's extra weight,
 * rounded up to even so that every row starts word aligned. */
MCUF_INLINE int32_t row_len(const mcuf_conv_params *p)
{
    return (((int32_t)(p->out_w - 1) * p->stride_w + p->k_w) * p->in_c + 2) & ~1;
}

/* Input row iy (or the zero point, outside the input) as int16 in natural order, padded on
 * both sides with the zero point. */
static void widen_row(const mcuf_conv_params *p, const int8_t *input, int iy, int16_t *row, int32_t len)
{
    const int16_t zp = (int16_t)(-p->input_offset);
    int32_t i = 0;
    if (iy >= 0 && iy < p->in_h) {
        const int32_t start = mcuf_min32((int32_t)p->pad_left * p->in_c, len);
        const int32_t n = mcuf_min32((int32_t)p->in_w * p->in_c, len - start);
        const int8_t *s = input + (int32_t)iy * p->in_w * p->in_c;
        for (; i < start; ++i) {
            row[i] = zp;
        }
        int16_t *d = row + start;
        int32_t k = 0;
        for (; k + 4 <= n; k += 4) {
            uint32_t lo, hi;
            mcuf_widen4(mcuf_read32(s + k), &lo, &hi);
            mcuf_write32(d + k, lo);
            mcuf_write32(d + k + 2, hi);
        }
        for (; k < n; ++k) {
            d[k] = s[k];
        }
        i = start + n;
    }
    for (; i < len; ++i) {
        row[i] = zp;
    }
}

/* one pair of values of both pixels (a, b) times the next weight pair of both channels */
#define STEP2x2(a, b, wp, acc)                                                       \
    do {                                                                             \
        uint32_t k0_, k1_;                                                           \
        MCUF_LDRD_ADVANCE(k0_, k1_, wp, 8);                                          \
        (acc)[0] = mcuf_smlad((a), k0_, (acc)[0]);                                   \
        (acc)[1] = mcuf_smlad((a), k1_, (acc)[1]);                                   \
        (acc)[2] = mcuf_smlad((b), k0_, (acc)[2]);                                   \
        (acc)[3] = mcuf_smlad((b), k1_, (acc)[3]);                                   \
    } while (0)

/* acc (2 pixels x 2 channels) += the receptive fields at x0 and x0 + step times a channel
 * pair's weights at *w (advanced past them). */
static void tile(const int16_t *x0, int32_t step, const void **w, int kh, int pairs, int32_t rs,
                 int32_t acc[4])
{
    const void *wp = *w;
    for (int ky = 0; ky < kh; ++ky, x0 += rs) {
        for (int j = 0; j < pairs; ++j) {
            STEP2x2(mcuf_read32(x0 + 2 * j), mcuf_read32(x0 + step + 2 * j), wp, acc);
        }
    }
    *w = wp;
}

/* The stem's tile (3x3, RGB, stride 2): per kernel row the 10 values of each pixel are
 * two LDRDs and an LDR at fixed offsets (pixel 1 starts 6 values = 12 bytes later; rows
 * and pixels are word aligned) -- 93 instructions for 108 MACs. */
MCUF_INLINE void tile_stem(const int16_t *x, int32_t rs, const void **w, int32_t acc[4])
{
    const void *wp = *w;
#pragma GCC unroll 3
    for (int ky = 0; ky < 3; ++ky, x += rs) {
        uint32_t a0, a1, b0, b1;
        MCUF_LDRD_AT(a0, a1, x, 0);
        MCUF_LDRD_AT(b0, b1, x, 12);
        STEP2x2(a0, b0, wp, acc);
        STEP2x2(a1, b1, wp, acc);
        MCUF_LDRD_AT(a0, a1, x, 8);
        MCUF_LDRD_AT(b0, b1, x, 20);
        STEP2x2(a0, b0, wp, acc);
        STEP2x2(a1, b1, wp, acc);
        MCUF_LDR_AT(a0, x, 16);
        MCUF_LDR_AT(b0, x, 28);
        STEP2x2(a0, b0, wp, acc);
    }
    *w = wp;
}

/* An odd channel count's last channel (its partner row is zeros), general output stage:
 * rare, so one compact copy. */
static void last_channel(const int16_t *x0, int32_t step, const void *w, int32_t bias2,
                         int32_t multiplier, int8_t shift, int8_t *out0, int8_t *out1, mcuf_out_stage o,
                         int kh, int pairs, int32_t rs)
{
    int32_t acc[4] = {bias2, 0, bias2, 0};
    tile(x0, step, &w, kh, pairs, rs, acc);
    o.fast = 0;
    const mcuf_requant q = mcuf_requant_at(o, &multiplier, &shift, 0);
    const int8_t y0 = mcuf_out_x2(o, acc[0], &q), y1 = mcuf_out_x2(o, acc[2], &q);
    *out0 = y0;
    *out1 = y1;
}

/* Every output channel of the pixels at x0 and x0 + step into out0 and out1. A single
 * pixel passes step 0 and out1 == out0: the second result is the first, stored twice. */
MCUF_INLINE void pixel_pair(const mcuf_conv_params *p, const int16_t *x0, int32_t step,
                            const int16_t *filter, const int32_t *bias2, const int32_t *multiplier,
                            const int8_t *shift, int8_t *out0, int8_t *out1, mcuf_out_stage o, int kh,
                            int pairs, int32_t rs, const int stem)
{
    const void *w = filter;
    const int oc = p->out_c & ~1;
    for (int c = 0; c != oc; c += 2, out0 += 2, out1 += 2) {
        int32_t acc[4] = {bias2[c], bias2[c + 1], bias2[c], bias2[c + 1]};
        if (stem) {
            tile_stem(x0, rs, &w, acc);
        } else {
            tile(x0, step, &w, kh, pairs, rs, acc);
        }
        const mcuf_requant q[2] = {mcuf_requant_at(o, multiplier, shift, c),
                                   mcuf_requant_at(o, multiplier, shift, c + 1)};
        mcuf_out_2x2(o, acc, q, out0, out1);
    }
    if (p->out_c & 1) {
        last_channel(x0, step, w, bias2[oc], multiplier[oc], shift[oc], out0, out1, o, kh, pairs, rs);
    }
}

/* A lone last pixel of a row (odd output width): one compact copy, general output stage. */
static void lone_pixel(const mcuf_conv_params *p, const int16_t *x0, const int16_t *filter,
                       const int32_t *bias2, const int32_t *multiplier, const int8_t *shift,
                       int8_t *out, int kh, int pairs, int32_t rs)
{
    pixel_pair(p, x0, 0, filter, bias2, multiplier, shift, out, out, mcuf_out_stage_of(p, 0), kh,
               pairs, rs, 0);
}

MCUF_INLINE void body(const mcuf_conv_params *p, const int8_t *input, const int16_t *filter,
                      const int32_t *bias2, const int32_t *multiplier, const int8_t *shift,
                      int8_t *output, int16_t *scratch, const int fast, const int stem)
{
    const int kh = p->k_h, pairs = (p->k_w * p->in_c + 1) / 2;
    const int32_t step = (int32_t)p->stride_w * p->in_c, rs = row_len(p);
    const int OC = p->out_c, out_w = p->out_w;
    const mcuf_out_stage o = mcuf_out_stage_of(p, fast);
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_top;
        for (int ky = 0; ky < kh; ++ky) {
            widen_row(p, input, iy0 + ky * p->dil_h, scratch + ky * rs, rs);
        }
        int8_t *out = output + (int32_t)oy * out_w * OC;
        const int16_t *x0 = scratch;
        int ox = 0;
        for (; ox + 2 <= out_w; ox += 2, out += 2 * OC, x0 += 2 * step) {
            pixel_pair(p, x0, step, filter, bias2, multiplier, shift, out, out + OC, o, kh, pairs,
                       rs, stem);
        }
        if (ox < out_w) {
            lone_pixel(p, x0, filter, bias2, multiplier, shift, out, kh, pairs, rs);
        }
    }
}

/* The shape tile_stem is written for (codegen/lowering.py mirrors it). */
MCUF_INLINE int is_stem(const mcuf_conv_params *p)
{
    return p->k_h == 3 && p->k_w == 3 && p->in_c == 3 && p->stride_w == 2;
}

/* Specialised copies: the MobileNet stem (3x3, stride 2, RGB) with the fast output stage
 * (chosen by the generator) or the general one, and one for any other shape (general stage:
 * exact for every channel). */
void mcuf_conv_shallow_stem_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                        const int16_t *filter, const int32_t *bias2,
                                        const int32_t *multiplier, const int8_t *shift,
                                        int8_t *output, int16_t *scratch)
{
    body(p, input, filter, bias2, multiplier, shift, output, scratch, 1, 1);
}

void mcuf_conv_shallow_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int16_t *filter,
                              const int32_t *bias2, const int32_t *multiplier, const int8_t *shift,
                              int8_t *output, int16_t *scratch)
{
    if (is_stem(p)) {
        body(p, input, filter, bias2, multiplier, shift, output, scratch, 0, 1);
    } else {
        body(p, input, filter, bias2, multiplier, shift, output, scratch, 0, 0);
    }
}
