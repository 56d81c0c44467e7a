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
 * DEPTHWISE_CONV_2D (mcuf_depthwise_conv_wzp_s8_dsp, depth multiplier 1): per output row, its
 * k_h input rows copied into `scratch` padded with the input zero point (x + input_offset = 0
 * there, which is what a skipped tap adds), so that every window is whole and takes the bias
 * with the input offset folded in, 2 * (bias + input_offset * sum W). Four channels at a
 * time, per tap one input word, two SXTB16, two weight words (per group of four channels its
 * taps in order, each (c0, c2) (c1, c3)) and four SMLAxy; 3x3 unrolled. Fast constants: SSAT
 * per output, the activation's clamp per word (SSUB8 / SEL).
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
        if (!two) {   /* an odd last pixel (a 1x1 head's only one): its column alone */
            for (; oc + 2 <= out_c; oc += 2) {
                int32_t a00 = bias2[oc], a01 = bias2[oc + 1];
                for (const int16_t *c = col0; c < col1; c += 4, w += 8) {
                    const uint32_t x0 = mcuf_read32(c), x1 = mcuf_read32(c + 2);
                    a00 = mcuf_smlad(x0, mcuf_read32(w), a00);
                    a01 = mcuf_smlad(x0, mcuf_read32(w + 4), a01);
                    a00 = mcuf_smlad(x1, mcuf_read32(w + 2), a00);
                    a01 = mcuf_smlad(x1, mcuf_read32(w + 6), a01);
                }
                out0[oc] = mcuf_out_x2(o, a00, &q);
                out0[oc + 1] = mcuf_out_x2(o, a01, &q);
            }
            if (oc < out_c) {
                int32_t a0 = bias2[oc];
                for (const int16_t *c = col0; c < col1; c += 2, w += 2) {
                    a0 = mcuf_smlad(mcuf_read32(c), mcuf_read32(w), a0);
                }
                out0[oc] = mcuf_out_x2(o, a0, &q);
            }
            continue;
        }
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

/* One tap of four channels: their input word (SXTB16 order) times the tap's weight pairs
 * (w0 = (W0, W2), w1 = (W1, W3)). */
#define TAP4(v, w0, w1)                                                              \
    do {                                                                             \
        const uint32_t e_ = mcuf_sxtb16(v), o_ = mcuf_sxtb16_ror8(v);                \
        a0 = mcuf_smlabb(e_, (uint32_t)(w0), a0);                                    \
        a2 = mcuf_smlatt(e_, (uint32_t)(w0), a2);                                    \
        a1 = mcuf_smlabb(o_, (uint32_t)(w1), a1);                                    \
        a3 = mcuf_smlatt(o_, (uint32_t)(w1), a3);                                    \
    } while (0)

/* The k_h input rows of output row oy, each padded to pw pixels, into rows (row r at
 * r * pw * ch): pixels outside the input hold the input zero point, whose x + input_offset
 * is 0 -- what TFLite's skipped taps contribute. */
static void padded_rows(const mcuf_conv_params *p, const int8_t *input, int oy, int pw, int8_t *rows)
{
    const int ch = p->in_c;
    const int32_t row_bytes = (int32_t)pw * ch, in_bytes = (int32_t)p->in_w * ch;
    const uint32_t zp4 = mcuf_splat4_s8(-p->input_offset);
    const int ix0 = -p->pad_left;   /* input column of padded pixel 0 */
    for (int ky = 0; ky < p->k_h; ++ky, rows += row_bytes) {
        const int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
        /* padded bytes [0, lo) and [hi, row_bytes) are padding, [lo, hi) input bytes */
        int32_t lo = 0, hi = 0;
        if (iy >= 0 && iy < p->in_h) {
            const int first = ix0 < 0 ? -ix0 : 0;                     /* padded pixel of input column 0 or ix0 */
            const int last = p->in_w - ix0 < pw ? p->in_w - ix0 : pw; /* one past the last input pixel */
            lo = (int32_t)first * ch;
            hi = last > first ? (int32_t)last * ch : lo;
            const int8_t *src = input + (int32_t)iy * in_bytes + (int32_t)(first + ix0) * ch;
            int32_t i = lo;
            for (; i + 4 <= hi; i += 4, src += 4) {
                mcuf_write32(rows + i, mcuf_read32(src));
            }
            for (; i < hi; ++i) {
                rows[i] = *src++;
            }
        }
        int32_t i = 0;
        for (; i + 4 <= lo; i += 4) {
            mcuf_write32(rows + i, zp4);
        }
        for (; i < lo; ++i) {
            rows[i] = (int8_t)zp4;
        }
        for (i = hi; i + 4 <= row_bytes; i += 4) {
            mcuf_write32(rows + i, zp4);
        }
        for (; i < row_bytes; ++i) {
            rows[i] = (int8_t)zp4;
        }
    }
}

MCUF_INLINE void depthwise_body(const mcuf_conv_params *p, const int8_t *input, const int32_t *filter,
                                const int32_t *bias2, const int32_t *multiplier, const int8_t *shift,
                                const mcuf_requant q, int8_t *output, int8_t *scratch, const int fast)
{
    const mcuf_out_stage o = mcuf_out_stage_of(p, fast);
    const int ch = p->in_c, c4 = ch & ~3, taps = p->k_h * p->k_w, tail = ch - c4;
    const int three = p->k_h == 3 && p->k_w == 3;
    const int pw = (p->out_w - 1) * p->stride_w + (p->k_w - 1) * p->dil_w + 1;
    const int32_t row_step = (int32_t)pw * ch, col_step = (int32_t)p->dil_w * ch;
    const int32_t px_step = (int32_t)p->stride_w * ch;
    const int16_t *tail_w = (const int16_t *)(const void *)(filter + (c4 / 4) * taps * 2);
    const int32_t *b = bias2 + ch;   /* every window has the input offset folded into its bias */
    /* the general stage's constants (shift b + 1) for the per-word clamp */
    const mcuf_requant qc = mcuf_requant_at(mcuf_out_stage_of(p, 0), multiplier, shift, 0);
    const int act = p->act_min > -128 || p->act_max < 127;
    const uint32_t lo4 = mcuf_splat4_s8(p->act_min), hi4 = mcuf_splat4_s8(p->act_max);
    for (int oy = 0; oy < p->out_h; ++oy) {
        padded_rows(p, input, oy, pw, scratch);
        const int8_t *in0 = scratch;
        for (int ox = 0; ox < p->out_w; ++ox, output += ch, in0 += px_step) {
            const int32_t *w = filter;
            for (int c = 0; c < c4; c += 4, w += 2 * taps) {
                int32_t a0 = b[c], a1 = b[c + 1], a2 = b[c + 2], a3 = b[c + 3];
                const int8_t *in = in0 + c;
                if (three) {   /* unrolled, constant weight offsets */
                    const int32_t cs2 = 2 * col_step;
                    for (int ky = 0; ky < 3; ++ky, in += row_step) {
                        const int32_t *wr = w + 6 * ky;
                        TAP4(mcuf_read32(in), wr[0], wr[1]);
                        TAP4(mcuf_read32(in + col_step), wr[2], wr[3]);
                        TAP4(mcuf_read32(in + cs2), wr[4], wr[5]);
                    }
                } else {
                    const int32_t *wr = w;
                    for (int ky = 0; ky < p->k_h; ++ky, in += row_step) {
                        for (int kx = 0; kx < p->k_w; ++kx, wr += 2) {
                            TAP4(mcuf_read32(in + kx * col_step), wr[0], wr[1]);
                        }
                    }
                }
                if (q.round) {   /* fast constants: SSAT each, the activation per word */
                    const uint32_t y = mcuf_pack4_s8(mcuf_ssat8(mcuf_requant_fast2(a0, &qc)),
                                                     mcuf_ssat8(mcuf_requant_fast2(a1, &qc)),
                                                     mcuf_ssat8(mcuf_requant_fast2(a2, &qc)),
                                                     mcuf_ssat8(mcuf_requant_fast2(a3, &qc)));
                    mcuf_write32(output + c, act ? mcuf_clamp4_s8(y, lo4, hi4) : y);
                } else {
                    const int8_t y0 = mcuf_out_x2(o, a0, &q), y1 = mcuf_out_x2(o, a1, &q);
                    const int8_t y2 = mcuf_out_x2(o, a2, &q), y3 = mcuf_out_x2(o, a3, &q);
                    mcuf_write32(output + c, mcuf_pack4_s8(y0, y1, y2, y3));
                }
            }
            for (int j = 0; j < tail; ++j) {
                const int c = c4 + j;
                int32_t a = b[c];
                const int8_t *in = in0 + c;
                const int16_t *wr = tail_w + j;
                for (int ky = 0; ky < p->k_h; ++ky, in += row_step) {
                    for (int kx = 0; kx < p->k_w; ++kx, wr += tail) {
                        a += in[kx * col_step] * *wr;
                    }
                }
                output[c] = mcuf_out_x2(o, a, &q);
            }
        }
    }
}

void mcuf_depthwise_conv_wzp_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                    const int32_t *filter, const int32_t *bias2,
                                    const int32_t *multiplier, const int8_t *shift,
                                    int8_t *output, int16_t *scratch)
{
    int8_t *const rows = (int8_t *)(void *)scratch;   /* the padded input rows are bytes */
    int fast;
    const mcuf_requant q = stage(p, multiplier, shift, &fast);
    if (fast) {
        depthwise_body(p, input, filter, bias2, multiplier, shift, q, output, rows, 1);
    } else {
        depthwise_body(p, input, filter, bias2, multiplier, shift, q, output, rows, 0);
    }
}
