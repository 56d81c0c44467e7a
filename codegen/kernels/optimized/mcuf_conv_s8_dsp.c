/* General convolution (any kernel, stride, dilation, padding; one group), DSP extension.
 *
 * im2col: the receptive fields of two output pixels are copied into `scratch` as int16,
 * each group of four in the order (x0, x2, x1, x3) so that it lines up with SXTB16 of the
 * weights (w0, w2) and (w1, w3), the two pixels' groups interleaved (mcuf_gemm_2x2's column
 * pair); padding taps hold the input zero point (the input offset is folded into
 * bias_folded). Then a 2 pixel x 2 output channel GEMM with SMLAD. The
 * generator pads each filter row to K4 = ceil(K / 4) * 4 with zero weights and interleaves
 * the rows of each output-channel pair word by word, as for mcuf_conv_1x1_s8_dsp.
 * mcuf_conv_im2col_x2_s8_dsp_fast (at the end): the fields doubled, the assembly channel loop.
 * scratch: 2 * K4 int16 and K4 + 4 bytes. Same results as the reference mcuf_conv_s8, byte for byte. */
#include <string.h>

#include "mcuf_dsp.h"
#include "mcuf_nn.h"


static const uint8_t reorder[4] = {0, 2, 1, 3};

/* A pixel whose receptive field lies inside the input: its k_h rows are runs of
 * k_w * in_c bytes, copied word by word into `bytes` (each run rounded up to whole words:
 * the excess is overwritten by the next run, or lands on the zero weights of the K4 tail),
 * then widened four at a time by SXTB16 -- which is exactly the (x0, x2, x1, x3) order. */
static void im2col_interior(const mcuf_conv_params *p, const int8_t *in, int K4, int8_t *bytes,
                            uint32_t *col)
{
    const int run = p->k_w * p->in_c;
    const int32_t row = (int32_t)p->in_w * p->in_c * p->dil_h;
    int8_t *b = bytes;
    for (int ky = 0; ky < p->k_h; ++ky, in += row, b += run) {
        for (int i = 0; i < run; i += 4) {
            const uint32_t v = mcuf_read32(in + i);
            memcpy(b + i, &v, 4);
        }
    }
    for (int k = 0; k < K4; k += 4, col += 4) {   /* every other pair of words: the twin pixel's */
        const uint32_t v = mcuf_read32(bytes + k);
        col[0] = mcuf_sxtb16(v);
        col[1] = mcuf_sxtb16_ror8(v);
    }
}

static void im2col(const mcuf_conv_params *p, const int8_t *input, int oy, int ox, int K4,
                   int16_t *col, int8_t *bytes)
{
    const int16_t zp = (int16_t)(-p->input_offset);
    const int iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int iy_last = iy0 + (p->k_h - 1) * p->dil_h;
    if (p->dil_w == 1 && iy0 >= 0 && iy_last < p->in_h && ix0 >= 0 && ix0 + p->k_w <= p->in_w) {
        /* ... and whose last run, rounded up to words, does not read past the tensor */
        const int32_t last_read = ((int32_t)iy_last * p->in_w + ix0) * p->in_c +
                                  ((p->k_w * p->in_c + 3) & ~3);
        if (last_read <= (int32_t)p->in_h * p->in_w * p->in_c) {
            im2col_interior(p, input + ((int32_t)iy0 * p->in_w + ix0) * p->in_c, K4, bytes,
                            (uint32_t *)(void *)col);
            return;
        }
    }
    int k = 0;
    for (int ky = 0; ky < p->k_h; ++ky) {
        const int iy = iy0 + ky * p->dil_h;
        for (int kx = 0; kx < p->k_w; ++kx) {
            const int ix = ix0 + kx * p->dil_w;
            const int ok = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
            const int8_t *in = input + ((int32_t)iy * p->in_w + ix) * p->in_c;
            for (int ic = 0; ic < p->in_c; ++ic, ++k) {
                col[2 * (k & ~3) + reorder[k & 3]] = ok ? in[ic] : zp;
            }
        }
    }
    for (; k < K4; ++k) {
        col[2 * (k & ~3) + reorder[k & 3]] = 0;
    }
}

/* im2col_interior and im2col with every int16 doubled (sign-extended, then SADD16 with itself;
 * the zero point and the border taps doubled too): mcuf_conv_im2col_x2_s8_dsp_fast's fields.
 * Kept apart from the plain pair, whose code gcc compiles worse with a doubling switch inlined
 * (QEMU's M7: 7x7 from 16 channels to 13, 1.4% more instructions) */
MCUF_INLINE void im2col_interior_x2(const mcuf_conv_params *p, const int8_t *in, int K4, int8_t *bytes,
                                    uint32_t *col)
{
    const int run = p->k_w * p->in_c;
    const int32_t row = (int32_t)p->in_w * p->in_c * p->dil_h;
    int8_t *b = bytes;
    for (int ky = 0; ky < p->k_h; ++ky, in += row, b += run) {
        for (int i = 0; i < run; i += 4) {
            const uint32_t v = mcuf_read32(in + i);
            memcpy(b + i, &v, 4);
        }
    }
    for (int k = 0; k < K4; k += 4, col += 4) {
        const uint32_t v = mcuf_read32(bytes + k);
        const uint32_t e = mcuf_sxtb16(v), o = mcuf_sxtb16_ror8(v);
        col[0] = mcuf_sadd16(e, e);
        col[1] = mcuf_sadd16(o, o);
    }
}

static void im2col_x2(const mcuf_conv_params *p, const int8_t *input, int oy, int ox, int K4,
                      int16_t *col, int8_t *bytes)
{
    const int16_t zp = (int16_t)(-2 * p->input_offset);
    const int iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int iy_last = iy0 + (p->k_h - 1) * p->dil_h;
    if (p->dil_w == 1 && iy0 >= 0 && iy_last < p->in_h && ix0 >= 0 && ix0 + p->k_w <= p->in_w) {
        const int32_t last_read = ((int32_t)iy_last * p->in_w + ix0) * p->in_c +
                                  ((p->k_w * p->in_c + 3) & ~3);
        if (last_read <= (int32_t)p->in_h * p->in_w * p->in_c) {
            im2col_interior_x2(p, input + ((int32_t)iy0 * p->in_w + ix0) * p->in_c, K4, bytes,
                               (uint32_t *)(void *)col);
            return;
        }
    }
    int k = 0;
    for (int ky = 0; ky < p->k_h; ++ky) {
        const int iy = iy0 + ky * p->dil_h;
        for (int kx = 0; kx < p->k_w; ++kx) {
            const int ix = ix0 + kx * p->dil_w;
            const int ok = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
            const int8_t *in = input + ((int32_t)iy * p->in_w + ix) * p->in_c;
            for (int ic = 0; ic < p->in_c; ++ic, ++k) {
                col[2 * (k & ~3) + reorder[k & 3]] = ok ? (int16_t)(2 * in[ic]) : zp;
            }
        }
    }
    for (; k < K4; ++k) {
        col[2 * (k & ~3) + reorder[k & 3]] = 0;
    }
}

/* pixel 0 of the column pair (or pixel 1, col + 4) times one plain filter row */
static int32_t dot_col(const int16_t *col, const int8_t *w, int K4, int32_t acc)
{
    for (int k = 0; k < K4; k += 4, col += 8) {
        const uint32_t kw = mcuf_read32(w + k);
        acc = mcuf_smlad(mcuf_read32(col), mcuf_sxtb16(kw), acc);
        acc = mcuf_smlad(mcuf_read32(col + 2), mcuf_sxtb16_ror8(kw), acc);
    }
    return acc;
}

MCUF_INLINE void mcuf_conv_s8_dsp_body(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                      const int32_t *bias_folded, const int32_t *multiplier, const int8_t *shift,
                      int8_t *output, int16_t *scratch, const int fast)
{
    const int K4 = (p->k_h * p->k_w * p->in_c + 3) & ~3;
    const int OC = p->out_c;
    const int32_t pixels = (int32_t)p->out_h * p->out_w;
    const mcuf_out_stage o = mcuf_out_stage_of(p, fast);
    int16_t *const col = scratch;
    int8_t *const bytes = (int8_t *)(void *)(scratch + 2 * K4);
    for (int32_t px = 0; px < pixels; px += 2) {
        const int two = px + 1 < pixels;   /* an odd last pixel fills both halves, stored once */
        const int32_t px1 = two ? px + 1 : px;
        im2col(p, input, (int)(px / p->out_w), (int)(px % p->out_w), K4, col, bytes);
        im2col(p, input, (int)(px1 / p->out_w), (int)(px1 % p->out_w), K4, col + 4, bytes);
        int8_t *out0 = output + px * OC, *out1 = output + px1 * OC;
        const int8_t *w = filter;
        int oc = 0;
        for (; oc + 2 <= OC; oc += 2) {
            int32_t acc[4] = {bias_folded[oc], bias_folded[oc + 1], bias_folded[oc], bias_folded[oc + 1]};
            mcuf_gemm_2x2(col, w, w + 2 * K4, acc);
            w += 2 * K4;
            for (int i = 0; i < 4; ++i) {   /* the output stage takes 2 * acc */
                acc[i] = (int32_t)((uint32_t)acc[i] << 1);
            }
            const mcuf_requant q[2] = {mcuf_requant_at(o, multiplier, shift, oc),
                                       mcuf_requant_at(o, multiplier, shift, oc + 1)};
            mcuf_out_2x2(o, acc, q, out0 + oc, out1 + oc);
        }
        if (oc < OC) {   /* odd channel count: the last row is stored plain */
            const mcuf_requant q = mcuf_requant_at(o, multiplier, shift, oc);
            out0[oc] = mcuf_out(o, dot_col(col, w, K4, bias_folded[oc]), &q);
            out1[oc] = mcuf_out(o, dot_col(col + 4, w, K4, bias_folded[oc]), &q);
        }
    }
}

/* Two specialised copies, chosen by the generator: the fast output stage for every channel,
 * and the general one (a model links only what it calls). */
void mcuf_conv_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias_folded, const int32_t *multiplier, const int8_t *shift,
                           int8_t *output, int16_t *scratch)
{
    mcuf_conv_s8_dsp_body(p, input, filter, bias_folded, multiplier, shift, output, scratch, 1);
}

void mcuf_conv_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                      const int32_t *bias_folded, const int32_t *multiplier, const int8_t *shift,
                      int8_t *output, int16_t *scratch)
{
    mcuf_conv_s8_dsp_body(p, input, filter, bias_folded, multiplier, shift, output, scratch, 0);
}

/* mcuf_conv_s8_dsp_fast's contract (every channel on the fast output stage) with bias_folded
 * doubled (2 * bias_folded, the generator's): the pixel pair's fields widened doubled
 * (im2col_x2), so the accumulators are the 2 * acc the output stage wants from the start, and
 * every channel pair of the pixel pair in the assembly channel loop mcuf_gemm_2x2_fast_s8 (as
 * mcuf_conv_1x1_s8_dsp_fast's; about 25 instructions fewer per channel pair and pixel pair than
 * the C loop, against about 1.75 K4 more for the doubling); an odd last channel in C. The
 * generator takes it where that saves at least 2% (codegen/ops/convolution.py _im2col_x2_pays;
 * QEMU's M7: 3x3 from 3 channels to 8 3.00 -> 2.66 instructions per MAC, to 13 2.65 -> 2.31,
 * from 8 to 8 2.10 -> 2.03, 5x5 at stride 2 from 3 to 8 2.25 -> 2.20); an entry point of its
 * own, so the models that do not call it do not link it. Builds without the DSP extension: the
 * C loop over the same doubled fields. */
void mcuf_conv_im2col_x2_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                                     const int32_t *bias2, const int32_t *multiplier, const int8_t *shift,
                                     int8_t *output, int16_t *scratch)
{
    const int K4 = (p->k_h * p->k_w * p->in_c + 3) & ~3;
    const int OC = p->out_c;
    const int32_t pixels = (int32_t)p->out_h * p->out_w;
    const mcuf_out_stage o = mcuf_out_stage_of(p, 1);
    int16_t *const col = scratch;
    int8_t *const bytes = (int8_t *)(void *)(scratch + 2 * K4);
    const int oc2 = OC & ~1;
    const int8_t *const w_odd = filter + (int32_t)oc2 * K4;   /* an odd last channel's row */
#if MCUF_HAS_GEMM_ASM
    mcuf_gemm_job job = {multiplier, shift, o.round1, bias2, 0, 0, 2 * K4,
                         (const uint32_t *)(const void *)col, shift + oc2, filter};
#endif
    for (int32_t px = 0; px < pixels; px += 2) {
        const int two = px + 1 < pixels;   /* an odd last pixel fills both halves, stored once */
        const int32_t px1 = two ? px + 1 : px;
        im2col_x2(p, input, (int)(px / p->out_w), (int)(px % p->out_w), K4, col, bytes);
        im2col_x2(p, input, (int)(px1 / p->out_w), (int)(px1 % p->out_w), K4, col + 4, bytes);
        int8_t *const out0 = output + px * OC, *const out1 = output + px1 * OC;
#if MCUF_HAS_GEMM_ASM
        if (oc2 != 0) {
            job.out0 = out0;
            job.out1 = out1;
            mcuf_gemm_2x2_fast_s8(&job);
        }
#else
        const int8_t *w = filter;
        for (int oc = 0; oc < oc2; oc += 2, w += 2 * K4) {
            int32_t acc[4] = {bias2[oc], bias2[oc + 1], bias2[oc], bias2[oc + 1]};   /* 2 * acc */
            mcuf_gemm_2x2(col, w, w + 2 * K4, acc);
            const mcuf_requant q[2] = {mcuf_requant_at(o, multiplier, shift, oc),
                                       mcuf_requant_at(o, multiplier, shift, oc + 1)};
            mcuf_out_2x2(o, acc, q, out0 + oc, out1 + oc);
        }
#endif
        if (oc2 < OC) {   /* odd channel count: the last row is stored plain */
            const mcuf_requant q = mcuf_requant_at(o, multiplier, shift, oc2);
            out0[oc2] = mcuf_out_x2(o, dot_col(col, w_odd, K4, bias2[oc2]), &q);
            out1[oc2] = mcuf_out_x2(o, dot_col(col + 4, w_odd, K4, bias2[oc2]), &q);
        }
    }
}
