/* CONV_2D and DEPTHWISE_CONV_2D whose weights have a zero point (legacy uint8 graphs), for
 * cores with the DSP extension. Same results as mcuf_conv_wzp_s8 / mcuf_depthwise_conv_wzp_s8
 * (TFLite's uint8 reference_ops::Conv / DepthwiseConv), byte for byte.
 *
 * The generator folds the weight offset into int16 weights W = w + filter_offset (uint8
 * weight - its zero point: [-255, 255]). The input offset cannot go into the bias: TFLite
 * skips the taps in the padding, so a border output sums fewer (x + input_offset) terms;
 * the kernels add it to the loaded inputs instead (SADD16 on int16 pairs, [-255, 255] too),
 * and a tap in the padding contributes 0.
 *
 * CONV_2D (mcuf_conv_wzp_s8_dsp): per output pixel an im2col column of
 * K = k_h * k_w * in_c int16 values x + input_offset (0 in the padding), rounded up to a
 * multiple of 4 with zeros; within each tap's channels every group of four is stored as
 * SXTB16 gives it, (c0, c2, c1, c3), the rest in order, and the weight rows are permuted the
 * same way (conv_wzp_s8_dsp_weights). Channel pairs' rows are interleaved per 4 values, so
 * one step -- 8 MACs -- is 2 column words, 4 weight words and 4 SMLAD.
 * DEPTHWISE_CONV_2D (mcuf_depthwise_conv_wzp_s8_dsp, depth multiplier 1): four channels at a
 * time, per in-bounds tap one input word, two SXTB16 + SADD16, two weight words (int16
 * [tap][in_c], each group of four channels as (c0, c2, c1, c3)) and four SMLAxy.
 * The output stage is the optimized kernels' (mcuf_dsp.h: fast constants where the generator
 * proved them exact for the layer's accumulator bound, TFLite's formula otherwise). */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

MCUF_INLINE uint32_t pair_of(int32_t v)
{
    return (uint32_t)(uint16_t)v | ((uint32_t)(uint16_t)v << 16);
}

/* The layer's output stage: one multiplier and shift byte for every channel (uint8 graphs
 * have per-tensor scales), unpacked once. fast: the full int8 range and fast constants. */
MCUF_INLINE mcuf_requant stage(const mcuf_conv_params *p, const int32_t *multiplier,
                               const int8_t *shift, int *fast)
{
    *fast = p->act_min == -128 && p->act_max == 127 && mcuf_requant_is_fast(shift[0]);
    return mcuf_requant_at(mcuf_out_stage_of(p, *fast), multiplier, shift, 0);
}

/* The column of the output pixel whose window starts at input row iy0, column ix0. */
static void column(const mcuf_conv_params *p, const int8_t *input, int iy0, int ix0, int16_t *col,
                   int k4)
{
    const int in_c = p->in_c, c4 = in_c & ~3;
    const uint32_t off2 = pair_of(p->input_offset);
    int16_t *const end = col + k4;
    for (int ky = 0; ky < p->k_h; ++ky) {
        const int iy = iy0 + ky * p->dil_h;
        const int row_in = iy >= 0 && iy < p->in_h;
        for (int kx = 0; kx < p->k_w; ++kx, col += in_c) {
            const int ix = ix0 + kx * p->dil_w;
            if (!row_in || ix < 0 || ix >= p->in_w) {
                for (int c = 0; c < in_c; ++c) {
                    col[c] = 0;
                }
                continue;
            }
            const int8_t *src = input + ((int32_t)iy * p->in_w + ix) * in_c;
            int c = 0;
            for (; c < c4; c += 4) {
                const uint32_t v = mcuf_read32(src + c);
                mcuf_write32(col + c, mcuf_sadd16(mcuf_sxtb16(v), off2));
                mcuf_write32(col + c + 2, mcuf_sadd16(mcuf_sxtb16_ror8(v), off2));
            }
            for (; c < in_c; ++c) {
                col[c] = (int16_t)(src[c] + p->input_offset);
            }
        }
    }
    while (col < end) {
        *col++ = 0;
    }
}

MCUF_INLINE void conv_body(const mcuf_conv_params *p, const int8_t *input, const int16_t *filter,
                           const int32_t *bias2, const mcuf_requant q, int8_t *output,
                           int16_t *scratch, const int fast)
{
    const mcuf_out_stage o = mcuf_out_stage_of(p, fast);
    const int k4 = (p->k_h * p->k_w * p->in_c + 3) & ~3;
    const int out_c = p->out_c;
    const int32_t pixels = (int32_t)p->out_h * p->out_w;
    int16_t *const col0 = scratch, *const col1 = scratch + k4;
    int oy = 0, ox = 0;
    for (int32_t px = 0; px < pixels; px += 2) {
        const int two = px + 1 < pixels;
        column(p, input, oy * p->stride_h - p->pad_top, ox * p->stride_w - p->pad_left, col0, k4);
        if (++ox == p->out_w) {
            ox = 0;
            ++oy;
        }
        if (two) {
            column(p, input, oy * p->stride_h - p->pad_top, ox * p->stride_w - p->pad_left, col1, k4);
            if (++ox == p->out_w) {
                ox = 0;
                ++oy;
            }
        }
        int8_t *out0 = output + px * out_c, *out1 = two ? out0 + out_c : out0;
        const int16_t *w = filter;
        int oc = 0;
        for (; oc + 2 <= out_c; oc += 2) {
            int32_t a00 = bias2[oc], a01 = bias2[oc + 1], a10 = a00, a11 = a01;
            for (const int16_t *c = col0; c < col1; c += 4, w += 8) {
                const uint32_t wa0 = mcuf_read32(w), wa1 = mcuf_read32(w + 2);
                const uint32_t wb0 = mcuf_read32(w + 4), wb1 = mcuf_read32(w + 6);
                const uint32_t x0 = mcuf_read32(c), x1 = mcuf_read32(c + 2);
                a00 = mcuf_smlad(x0, wa0, a00);
                a01 = mcuf_smlad(x0, wb0, a01);
                a00 = mcuf_smlad(x1, wa1, a00);
                a01 = mcuf_smlad(x1, wb1, a01);
                const uint32_t z0 = mcuf_read32(c + k4), z1 = mcuf_read32(c + k4 + 2);
                a10 = mcuf_smlad(z0, wa0, a10);
                a11 = mcuf_smlad(z0, wb0, a11);
                a10 = mcuf_smlad(z1, wa1, a10);
                a11 = mcuf_smlad(z1, wb1, a11);
            }
            const int8_t y00 = mcuf_out_x2(o, a00, &q), y01 = mcuf_out_x2(o, a01, &q);
            const int8_t y10 = mcuf_out_x2(o, a10, &q), y11 = mcuf_out_x2(o, a11, &q);
            out1[oc] = y10;
            out1[oc + 1] = y11;
            out0[oc] = y00;
            out0[oc + 1] = y01;
        }
        if (oc < out_c) {
            int32_t a0 = bias2[oc], a1 = a0;
            for (const int16_t *c = col0; c < col1; c += 2, w += 2) {
                const uint32_t wv = mcuf_read32(w);
                a0 = mcuf_smlad(mcuf_read32(c), wv, a0);
                a1 = mcuf_smlad(mcuf_read32(c + k4), wv, a1);
            }
            const int8_t y0 = mcuf_out_x2(o, a0, &q), y1 = mcuf_out_x2(o, a1, &q);
            out1[oc] = y1;
            out0[oc] = y0;
        }
    }
}

void mcuf_conv_wzp_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int16_t *filter,
                          const int32_t *bias2, const int32_t *multiplier, const int8_t *shift,
                          int8_t *output, int16_t *scratch)
{
    int fast;
    const mcuf_requant q = stage(p, multiplier, shift, &fast);
    if (fast) {
        conv_body(p, input, filter, bias2, q, output, scratch, 1);
    } else {
        conv_body(p, input, filter, bias2, q, output, scratch, 0);
    }
}

/* The first tap index t >= 0 with 0 <= i0 + t * d < n, and one past the last. */
MCUF_INLINE void tap_range(int i0, int d, int k, int n, int *lo, int *hi)
{
    int a = 0, b = k;
    while (a < k && i0 + a * d < 0) {
        ++a;
    }
    while (b > a && i0 + (b - 1) * d >= n) {
        --b;
    }
    *lo = a;
    *hi = b;
}

/* Four channels' doubled accumulators over the in-bounds taps; `border`: add the input
 * offset to each loaded input (an interior window has it in its bias instead). */
MCUF_INLINE void taps4(const int8_t *in_row, const int16_t *w_row, int rows, int nx, int32_t row_step,
                       int32_t col_step, int w_row_step, int ch, uint32_t off2, int border, int32_t a[4])
{
    int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    for (int ky = 0; ky < rows; ++ky, in_row += row_step, w_row += w_row_step) {
        const int8_t *in = in_row;
        const int16_t *w = w_row;
        for (int kx = 0; kx < nx; ++kx, in += col_step, w += ch) {
            const uint32_t v = mcuf_read32(in);
            uint32_t e = mcuf_sxtb16(v), od = mcuf_sxtb16_ror8(v);
            if (border) {
                e = mcuf_sadd16(e, off2);
                od = mcuf_sadd16(od, off2);
            }
            const uint32_t we = mcuf_read32(w), wo = mcuf_read32(w + 2);
            a0 = mcuf_smlabb(e, we, a0);
            a2 = mcuf_smlatt(e, we, a2);
            a1 = mcuf_smlabb(od, wo, a1);
            a3 = mcuf_smlatt(od, wo, a3);
        }
    }
    a[0] = a0;
    a[1] = a1;
    a[2] = a2;
    a[3] = a3;
}

MCUF_INLINE void depthwise_body(const mcuf_conv_params *p, const int8_t *input, const int16_t *filter,
                                const int32_t *bias2, const mcuf_requant q, int8_t *output, const int fast)
{
    const mcuf_out_stage o = mcuf_out_stage_of(p, fast);
    const int ch = p->in_c, c4 = ch & ~3;
    const uint32_t off2 = pair_of(p->input_offset);
    const int32_t row_step = (int32_t)p->dil_h * p->in_w * ch, col_step = (int32_t)p->dil_w * ch;
    const int w_row_step = p->k_w * ch;
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_top;
        int ky0, ky1;
        tap_range(iy0, p->dil_h, p->k_h, p->in_h, &ky0, &ky1);
        for (int ox = 0; ox < p->out_w; ++ox, output += ch) {
            const int ix0 = ox * p->stride_w - p->pad_left;
            int kx0, kx1;
            tap_range(ix0, p->dil_w, p->k_w, p->in_w, &kx0, &kx1);
            const int8_t *in0 = input + ((int32_t)(iy0 + ky0 * p->dil_h) * p->in_w +
                                         (ix0 + kx0 * p->dil_w)) * ch;
            const int16_t *w0 = filter + (int32_t)(ky0 * p->k_w + kx0) * ch;
            const int rows = ky1 - ky0, nx = kx1 - kx0;
            const int border = rows != p->k_h || nx != p->k_w;
            const int32_t *b = border ? bias2 : bias2 + ch;
            int c = 0;
            for (; c < c4; c += 4) {
                int32_t a[4] = {b[c], b[c + 1], b[c + 2], b[c + 3]};
                if (border) {
                    taps4(in0 + c, w0 + c, rows, nx, row_step, col_step, w_row_step, ch, off2, 1, a);
                } else {
                    taps4(in0 + c, w0 + c, rows, nx, row_step, col_step, w_row_step, ch, off2, 0, a);
                }
                const int8_t y0 = mcuf_out_x2(o, a[0], &q), y1 = mcuf_out_x2(o, a[1], &q);
                const int8_t y2 = mcuf_out_x2(o, a[2], &q), y3 = mcuf_out_x2(o, a[3], &q);
                mcuf_write32(output + c, (uint32_t)(uint8_t)y0 | (uint32_t)(uint8_t)y1 << 8 |
                                             (uint32_t)(uint8_t)y2 << 16 | (uint32_t)(uint8_t)y3 << 24);
            }
            for (; c < ch; ++c) {
                int32_t a = bias2[c];   /* the tail channels always add the offset per tap */
                const int8_t *in_row = in0 + c;
                const int16_t *w_row = w0 + c;
                for (int ky = 0; ky < rows; ++ky, in_row += row_step, w_row += w_row_step) {
                    for (int kx = 0; kx < nx; ++kx) {
                        a += (in_row[kx * col_step] + p->input_offset) * w_row[kx * ch];
                    }
                }
                output[c] = mcuf_out_x2(o, a, &q);
            }
        }
    }
}

void mcuf_depthwise_conv_wzp_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                    const int16_t *filter, const int32_t *bias2,
                                    const int32_t *multiplier, const int8_t *shift,
                                    int8_t *output)
{
    int fast;
    const mcuf_requant q = stage(p, multiplier, shift, &fast);
    if (fast) {
        depthwise_body(p, input, filter, bias2, q, output, 1);
    } else {
        depthwise_body(p, input, filter, bias2, q, output, 0);
    }
}
