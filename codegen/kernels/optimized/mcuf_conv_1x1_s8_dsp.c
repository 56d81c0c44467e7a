/* 1x1 convolution (stride 1, no padding) as a GEMM over pixels, DSP extension.
 *
 * Blocked 2 pixels x 2 output channels. The two pixels are sign-extended and doubled once
 * into one interleaved int16 column pair in `scratch` (per 4 inputs: pixel 0's (2x0, 2x2)
 * (2x1, 2x3), then pixel 1's), then reused by every output-channel pair; with the doubled
 * bias the accumulators hold the 2 * acc the output stage wants, no shift per output. The
 * generator interleaves the filter rows of each output-channel pair word by word
 * (w0[0..3] w1[0..3] w0[4..7] w1[4..7] ...). 16 MACs: one LDM, one LDRD, 4 SXTB16, 8 SMLAD
 * (mcuf_gemm_2x2; with the fast output stage the whole channel loop is the assembly routine
 * mcuf_gemm_2x2_fast_s8). The input offset is folded into the bias. Requires in_c % 4 == 0;
 * bias2: 2 * bias_folded; scratch: 4 * in_c bytes.
 * Same results as the reference mcuf_conv_1x1_s8, byte for byte. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

static int32_t dot(const int8_t *a, const int8_t *b, int n)
{
    int32_t acc = 0;
    for (int c = 0; c < n; c += 4) {
        const uint32_t x = mcuf_read32(a + c), k = mcuf_read32(b + c);
        acc = mcuf_smlad(mcuf_sxtb16(x), mcuf_sxtb16(k), acc);
        acc = mcuf_smlad(mcuf_sxtb16_ror8(x), mcuf_sxtb16_ror8(k), acc);
    }
    return acc;
}

/* pixels in0 and in1 (the same pixel twice for an odd last one) as a doubled column pair */
static void widen_pair(const int8_t *in0, const int8_t *in1, int C, uint32_t *col)
{
    for (int c = 0; c < C; c += 4, col += 4) {
        const uint32_t a = mcuf_read32(in0 + c), b = mcuf_read32(in1 + c);
        const uint32_t ae = mcuf_sxtb16(a), ao = mcuf_sxtb16_ror8(a);
        const uint32_t be = mcuf_sxtb16(b), bo = mcuf_sxtb16_ror8(b);
        col[0] = mcuf_sadd16(ae, ae);
        col[1] = mcuf_sadd16(ao, ao);
        col[2] = mcuf_sadd16(be, be);
        col[3] = mcuf_sadd16(bo, bo);
    }
}

#if MCUF_HAS_DSP
/* one pixel as doubled words, (2x0, 2x2) (2x1, 2x3) per 4 inputs (mcuf_gemm_1x2_packed_s8) */
static void widen_one(const int8_t *in, int C, uint32_t *col)
{
    for (int c = 0; c < C; c += 4, col += 2) {
        const uint32_t a = mcuf_read32(in + c);
        const uint32_t ae = mcuf_sxtb16(a), ao = mcuf_sxtb16_ror8(a);
        col[0] = mcuf_sadd16(ae, ae);
        col[1] = mcuf_sadd16(ao, ao);
    }
}
#endif

MCUF_INLINE void mcuf_conv_1x1_s8_dsp_body(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                          const int32_t *bias2, const int32_t *multiplier, const int8_t *shift,
                          int8_t *output, int16_t *scratch, const int fast)
{
    const int32_t pixels = (int32_t)p->out_h * p->out_w;
    const int C = p->in_c, OC = p->out_c;
    const mcuf_out_stage o = mcuf_out_stage_of(p, fast);
    uint32_t *const col = (uint32_t *)(void *)scratch;
#if MCUF_HAS_GEMM_ASM
    mcuf_gemm_job job = {multiplier, shift, o.round1, bias2, 0, 0, 2 * C, col, shift + (OC & ~1), filter};
#endif
    for (int32_t px = 0; px < pixels; px += 2) {
        const int two = px + 1 < pixels;   /* an odd last pixel is widened twice, stored once */
        const int8_t *in0 = input + px * C;
        int8_t *out0 = output + px * OC;
        int8_t *out1 = two ? out0 + OC : out0;   /* a lone pixel's twin lands on itself */
        widen_pair(in0, two ? in0 + C : in0, C, col);
        const int8_t *w = filter + (OC & ~1) * C;
#if MCUF_HAS_GEMM_ASM
        if (fast) {   /* the C loop below would do nothing for OC < 2 either */
            if (OC >= 2) {
                job.out0 = out0;
                job.out1 = out1;
                mcuf_gemm_2x2_fast_s8(&job);
            }
        } else
#endif
        {
            /* the general stage (clamps, formula channels), or no assembly (host, M0+) */
            const int8_t *k = filter;
            int8_t *o0 = out0, *o1 = out1;
            for (int c = 0; k != w; c += 2, o0 += 2, o1 += 2) {
                int32_t acc[4] = {bias2[c], bias2[c + 1], bias2[c], bias2[c + 1]};
                mcuf_gemm_2x2(col, k, k + 2 * C, acc);
                k += 2 * C;
                const mcuf_requant q[2] = {mcuf_requant_at(o, multiplier, shift, c),
                                           mcuf_requant_at(o, multiplier, shift, c + 1)};
                mcuf_out_2x2(o, acc, q, o0, o1);
            }
        }
        const int oc = OC & ~1;
        if (oc < OC) {   /* odd channel count: the last row is stored plain */
            const mcuf_requant q = mcuf_requant_at(o, multiplier, shift, oc);
            out0[oc] = mcuf_out_x2(o, bias2[oc] + 2 * dot(in0, w, C), &q);
            out1[oc] = mcuf_out_x2(o, bias2[oc] + 2 * dot(out1 == out0 ? in0 : in0 + C, w, C), &q);
        }
    }
}

/* The general copy (any constants, clamps): the C channel loop above. */
void mcuf_conv_1x1_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                          const int32_t *bias2, const int32_t *multiplier, const int8_t *shift,
                          int8_t *output, int16_t *scratch)
{
    mcuf_conv_1x1_s8_dsp_body(p, input, filter, bias2, multiplier, shift, output, scratch, 0);
}

/* One channel pair's record of the packed stream (mcuf_gemm_packed_job): pixel x of the column
 * pair (0 or 1) times channel k (0 or 1) of the pair, through the fast output stage. */
static int8_t packed_out(const int8_t *rec, const uint32_t *col, int C, int x, int k)
{
    int32_t acc = mcuf_read32(rec + 4 * k);
    const int8_t *w = rec + 16 + 4 * k;
    const uint32_t *c = col + 2 * x;
    for (int i = 0; i < C; i += 4, w += 8, c += 4) {
        const uint32_t kw = mcuf_read32(w);
        acc = mcuf_smlad(c[0], mcuf_sxtb16(kw), acc);
        acc = mcuf_smlad(c[1], mcuf_sxtb16_ror8(kw), acc);
    }
    const int8_t *t = rec + 16 + 2 * C;
    const int32_t sh = (int32_t)mcuf_read32(t + 8);
    const mcuf_requant q = {(int32_t)mcuf_read32(t + 12 * k), (int32_t)mcuf_read32(t + 4 + 12 * k),
                            k ? (sh >> 8) & 0xFF : sh & 0xFF};
    return mcuf_out_fast2(acc, &q);
}

/* The fast copy, for layers whose every channel has fast constants and whose activation range
 * is all of int8 (SSAT is the clamp). packed: the generator's stream of channel-pair records
 * (mcuf_gemm_packed_job, MCUF_PACKED_PAIR_BYTES(in_c) bytes each); an odd last channel is a
 * record whose second channel is all zeros and never stored. scratch: 4 * in_c bytes.
 * Same results as the reference mcuf_conv_1x1_s8, byte for byte. */
void mcuf_conv_1x1_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input, const int8_t *packed,
                               int8_t *output, int16_t *scratch)
{
    const int32_t pixels = (int32_t)p->out_h * p->out_w;
    const int C = p->in_c, OC = p->out_c;
    const int32_t rec_bytes = MCUF_PACKED_PAIR_BYTES(C);
    const int8_t *const pairs_end = packed + (OC >> 1) * rec_bytes;
    uint32_t *const col = (uint32_t *)(void *)scratch;
#if MCUF_HAS_DSP
    const int32_t skip2 = 56 * ((-(C >> 2)) & 3), skip1 = 40 * ((-(C >> 2)) & 3);
    mcuf_gemm_packed_job job = {0, 0, col, pairs_end, skip2, 2 * C, packed};
#endif
    for (int32_t px = 0; px < pixels; px += 2) {
        const int two = px + 1 < pixels;   /* an odd last pixel is widened twice, stored once */
        const int8_t *in0 = input + px * C;
        int8_t *out0 = output + px * OC;
        int8_t *out1 = two ? out0 + OC : out0;   /* a lone pixel's twin lands on itself */
#if MCUF_HAS_DSP
        if (two) {
            widen_pair(in0, in0 + C, C, col);
        } else {
            widen_one(in0, C, col);
        }
        if (OC >= 2) {
            job.out0 = out0;
            job.out1 = out1;
            if (two) {
                job.skip_bytes = skip2;
                mcuf_gemm_2x2_packed_s8(&job);
            } else {   /* a lone pixel: one pixel's run */
                job.skip_bytes = skip1;
                mcuf_gemm_1x2_packed_s8(&job);
            }
        }
#else
        widen_pair(in0, two ? in0 + C : in0, C, col);
        {
            int8_t *o0 = out0, *o1 = out1;
            for (const int8_t *rec = packed; rec != pairs_end; rec += rec_bytes, o0 += 2, o1 += 2) {
                const int8_t y00 = packed_out(rec, col, C, 0, 0), y01 = packed_out(rec, col, C, 0, 1);
                const int8_t y10 = packed_out(rec, col, C, 1, 0), y11 = packed_out(rec, col, C, 1, 1);
                o0[0] = y00;
                o0[1] = y01;
                o1[0] = y10;
                o1[1] = y11;
            }
        }
#endif
        if (OC & 1) {   /* odd channel count: the last record's first channel */
#if MCUF_HAS_DSP
            if (!two) {   /* the column holds the one pixel compactly: widen it as a pair */
                widen_pair(in0, in0, C, col);
            }
#endif
            const int8_t y0 = packed_out(pairs_end, col, C, 0, 0), y1 = packed_out(pairs_end, col, C, 1, 0);
            out0[OC - 1] = y0;
            out1[OC - 1] = y1;
        }
    }
}

/* packed_out for records with int16 weights (mcuf_gemm_2x2_packed16_s8): per 4 inputs channel
 * 0's (w0, w2) (w1, w3), then channel 1's */
static int8_t packed16_out(const int8_t *rec, const uint32_t *col, int C, int x, int k)
{
    int32_t acc = mcuf_read32(rec + 4 * k);
    const int8_t *w = rec + 16 + 8 * k;
    const uint32_t *c = col + 2 * x;
    for (int i = 0; i < C; i += 4, w += 16, c += 4) {
        acc = mcuf_smlad(c[0], mcuf_read32(w), acc);
        acc = mcuf_smlad(c[1], mcuf_read32(w + 4), acc);
    }
    const int8_t *t = rec + 16 + 4 * C;
    const int32_t sh = (int32_t)mcuf_read32(t + 8);
    const mcuf_requant q = {(int32_t)mcuf_read32(t + 12 * k), (int32_t)mcuf_read32(t + 4 + 12 * k),
                            k ? (sh >> 8) & 0xFF : sh & 0xFF};
    return mcuf_out_fast2(acc, &q);
}

/* The fast copy for at most 64 input channels (in_c % 4 == 0), any pixel count (a lone pixel,
 * e.g. a squeeze-excite layer's 1x1 plane, runs mcuf_gemm_1x2_packed16_s8): the packed stream with the
 * weights stored as int16 (records of 36 + 4 * in_c bytes: doubled biases, per 4 inputs
 * channel 0's (w0, w2) (w1, w3) then channel 1's, output constants), so that the run needs no
 * SXTB16 (mcuf_gemm_2x2_packed16_s8: 10 instructions per 16 MACs). The flash cost, in_c * out_c
 * bytes, is small at these depths. scratch: 4 * in_c bytes. Same results as the reference
 * mcuf_conv_1x1_s8, byte for byte. */
void mcuf_conv_1x1_shallow_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                       const int8_t *packed, int8_t *output, int16_t *scratch)
{
    const int32_t pixels = (int32_t)p->out_h * p->out_w;
    const int C = p->in_c, OC = p->out_c;
    const int32_t rec_bytes = 36 + 4 * C;
    const int8_t *const pairs_end = packed + (OC >> 1) * rec_bytes;
    uint32_t *const col = (uint32_t *)(void *)scratch;
#if MCUF_HAS_DSP
    if (pixels == 1 && OC >= 2) {   /* a 1x1 plane (squeeze-excite): straight to the one-pixel run */
        widen_one(input, C, col);
        const mcuf_gemm_packed_job one = {output, output, col, pairs_end, 24 * (16 - (C >> 2)), 4 * C, packed};
        mcuf_gemm_1x2_packed16_s8(&one);
        if (OC & 1) {
            widen_pair(input, input, C, col);
            output[OC - 1] = packed16_out(pairs_end, col, C, 0, 0);
        }
        return;
    }
    mcuf_gemm_packed_job job = {0, 0, col, pairs_end, 40 * (16 - (C >> 2)), 4 * C, packed};
    int32_t px = 0;
    for (; px + 1 < pixels; px += 2) {   /* pixel pairs */
        const int8_t *in0 = input + px * C;
        int8_t *out0 = output + px * OC, *out1 = out0 + OC;
        widen_pair(in0, in0 + C, C, col);
        if (OC >= 2) {
            job.out0 = out0;
            job.out1 = out1;
            mcuf_gemm_2x2_packed16_s8(&job);
        }
        if (OC & 1) {
            const int8_t y0 = packed16_out(pairs_end, col, C, 0, 0), y1 = packed16_out(pairs_end, col, C, 1, 0);
            out0[OC - 1] = y0;
            out1[OC - 1] = y1;
        }
    }
    if (px < pixels) {   /* an odd last pixel (or a 1x1 plane) alone: one pixel's run */
        const int8_t *in0 = input + px * C;
        int8_t *out0 = output + px * OC;
        if (OC >= 2) {
            widen_one(in0, C, col);
            job.out0 = out0;
            job.skip_bytes = 24 * (16 - (C >> 2));
            mcuf_gemm_1x2_packed16_s8(&job);
        }
        if (OC & 1) {   /* its column pair twice */
            widen_pair(in0, in0, C, col);
            out0[OC - 1] = packed16_out(pairs_end, col, C, 0, 0);
        }
    }
#else
    for (int32_t px = 0; px < pixels; px += 2) {
        const int two = px + 1 < pixels;   /* an odd last pixel is widened twice, stored once */
        const int8_t *in0 = input + px * C;
        int8_t *out0 = output + px * OC;
        int8_t *out1 = two ? out0 + OC : out0;
        widen_pair(in0, two ? in0 + C : in0, C, col);
        {
            int8_t *o0 = out0, *o1 = out1;
            for (const int8_t *rec = packed; rec != pairs_end; rec += rec_bytes, o0 += 2, o1 += 2) {
                const int8_t y00 = packed16_out(rec, col, C, 0, 0), y01 = packed16_out(rec, col, C, 0, 1);
                const int8_t y10 = packed16_out(rec, col, C, 1, 0), y11 = packed16_out(rec, col, C, 1, 1);
                o0[0] = y00;
                o0[1] = y01;
                o1[0] = y10;
                o1[1] = y11;
            }
        }
        if (OC & 1) {
            const int8_t y0 = packed16_out(pairs_end, col, C, 0, 0), y1 = packed16_out(pairs_end, col, C, 1, 0);
            out0[OC - 1] = y0;
            out1[OC - 1] = y1;
        }
    }
#endif
}

/* Pixel `off` (byte offset in the input) for a widening of C4 bytes: in place where C4 bytes
 * from it are inside the input, else its C bytes copied to tail slot `slot` of the scratch
 * (after the column pair's 4 * C4 bytes) and zero-filled to C4 (the last pixel of an input
 * whose depth is not a multiple of 4). The C4 - C bytes past a pixel belong to the next one:
 * they meet zero weights. */
static const int8_t *pixel_at(const int8_t *input, int32_t off, int C, int C4, int32_t in_bytes,
                              int16_t *scratch, int slot)
{
    if (off + C4 <= in_bytes) {
        return input + off;
    }
    int8_t *const tail = (int8_t *)(void *)scratch + (4 + slot) * C4;
    for (int i = 0; i < C4; ++i) {
        tail[i] = i < C ? input[off + i] : 0;
    }
    return tail;
}

/* mcuf_conv_1x1_shallow_s8_dsp_fast at a stride, or over a depth that is not a multiple of 4
 * (issue #22): a 1x1 at stride (sh, sw) is a 1x1 at stride 1 over the input pixels
 * (oy * sh, ox * sw). The same packed int16 records (over C4 = in_c rounded up to 4, the
 * weights past in_c zero) and assembly runs; only the two pixels widened into the column pair
 * are found by stepping through the subsampled plane (a pair may span two output rows).
 * Requires 2 <= in_c, C4 <= 64, no padding before the first row / column and every pixel read
 * inside the input ((out_h - 1) * stride_h < in_h, likewise the width: the generator's
 * _strided_1x1). scratch: 4 * C4 bytes (the column pair), and 2 * C4 more where in_c % 4 != 0
 * (the last pixel's zero-filled copies). Same results as the reference mcuf_conv_s8, byte for byte. */
void mcuf_conv_1x1_strided_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                       const int8_t *packed, int8_t *output, int16_t *scratch)
{
    const int32_t pixels = (int32_t)p->out_h * p->out_w;
    const int C = p->in_c, OC = p->out_c, C4 = (C + 3) & ~3;
    const int32_t out_w = p->out_w, col_step = (int32_t)p->stride_w * C;
    const int32_t row_skip = ((int32_t)p->stride_h * p->in_w - out_w * p->stride_w) * C;
    const int32_t in_bytes = (int32_t)p->in_h * p->in_w * C;
    const int32_t rec_bytes = 36 + 4 * C4;
    const int8_t *const pairs_end = packed + (OC >> 1) * rec_bytes;
    uint32_t *const col = (uint32_t *)(void *)scratch;
    int32_t off = 0, ox = 0;   /* the next input pixel's byte offset and output column */
#if MCUF_HAS_DSP
    mcuf_gemm_packed_job job = {0, 0, col, pairs_end, 40 * (16 - (C4 >> 2)), 4 * C4, packed};
#endif
    int32_t px = 0;
    for (; px + 1 < pixels; px += 2) {   /* pixel pairs */
        const int8_t *in0 = pixel_at(input, off, C, C4, in_bytes, scratch, 0);
        off += col_step;
        if (++ox == out_w) {
            ox = 0;
            off += row_skip;
        }
        const int8_t *in1 = pixel_at(input, off, C, C4, in_bytes, scratch, 1);
        off += col_step;
        if (++ox == out_w) {
            ox = 0;
            off += row_skip;
        }
        int8_t *out0 = output + px * OC, *out1 = out0 + OC;
        widen_pair(in0, in1, C4, col);
#if MCUF_HAS_DSP
        if (OC >= 2) {
            job.out0 = out0;
            job.out1 = out1;
            mcuf_gemm_2x2_packed16_s8(&job);
        }
#else
        {
            int8_t *o0 = out0, *o1 = out1;
            for (const int8_t *rec = packed; rec != pairs_end; rec += rec_bytes, o0 += 2, o1 += 2) {
                const int8_t y00 = packed16_out(rec, col, C4, 0, 0), y01 = packed16_out(rec, col, C4, 0, 1);
                const int8_t y10 = packed16_out(rec, col, C4, 1, 0), y11 = packed16_out(rec, col, C4, 1, 1);
                o0[0] = y00;
                o0[1] = y01;
                o1[0] = y10;
                o1[1] = y11;
            }
        }
#endif
        if (OC & 1) {
            const int8_t y0 = packed16_out(pairs_end, col, C4, 0, 0), y1 = packed16_out(pairs_end, col, C4, 1, 0);
            out0[OC - 1] = y0;
            out1[OC - 1] = y1;
        }
    }
    if (px < pixels) {   /* an odd last pixel (or a 1x1 output) alone */
        const int8_t *in0 = pixel_at(input, off, C, C4, in_bytes, scratch, 0);
        int8_t *out0 = output + px * OC;
        widen_pair(in0, in0, C4, col);   /* its column pair twice, the second output on itself */
#if MCUF_HAS_DSP
        if (OC >= 2) {
            job.out0 = out0;
            job.out1 = out0;
            mcuf_gemm_2x2_packed16_s8(&job);
        }
#else
        for (const int8_t *rec = packed; rec != pairs_end; rec += rec_bytes, out0 += 2) {
            const int8_t y00 = packed16_out(rec, col, C4, 0, 0), y01 = packed16_out(rec, col, C4, 0, 1);
            out0[0] = y00;
            out0[1] = y01;
        }
        out0 = output + px * OC;
#endif
        if (OC & 1) {
            out0[OC - 1] = packed16_out(pairs_end, col, C4, 0, 0);
        }
    }
}

/* The one-pixel entries (mcuf_conv_1x1_one_pixel_in4_s8_dsp_fast and _in8_; the generator's
 * _one_pixel_1x1 / _one_pixel_1x1_records): a 1x1 convolution of a 1x1 plane over 4 or 8
 * input channels (the small layers of a squeeze-excite block), the fast output stage. The
 * pixel is sign-extended into registers once ((x0, x2) (x1, x3) per 4 inputs, SXTB16); then
 * per output channel one LDM of its record -- 2 * bias, its doubled weights as int16 pairs
 * (w0, w2) (w1, w3) per 4 inputs, multiplier, round, b (fast_requant_round) -- in_c / 2
 * SMLAD, the fast output stage (mcuf_out_fast2) and one byte store: 8 instructions per 4 MACs
 * (in4), 10 per 8 (in8). No scratch, no set-up beyond one computed entry (ADD PC) into the
 * unrolled channel loop (16 channels a pass for in4, 8 for in8; the first pass skips
 * (-out_c) mod 16 (8) channel blocks of 32 (40) bytes). packed: int32 header [passes - 1,
 * skip bytes], then the out_c records. Same results as the reference mcuf_conv_1x1_s8, byte
 * for byte. */
#if MCUF_HAS_DSP
/* in4: r5 (x0, x2), r4 (x1, x3); record r6-r11; r3 output */
#define ONE_PIXEL_4                                                              \
    "ldmia.w r2!, {r6, r7, r8, r9, r10, r11}\n\t" /* 2b, w(0,2), w(1,3), m, round, b */ \
    "smlad r6, r5, r7, r6\n\t"                                                     \
    "smlad r6, r4, r8, r6\n\t"                                                     \
    "smmlar r7, r6, r9, r10\n\t"                                                   \
    "add.w r7, r7, r6, asr #31\n\t"                                                \
    "asr.w r7, r7, r11\n\t"                                                        \
    "ssat r7, #8, r7, asr #1\n\t"                                                  \
    "strb r7, [r3], #1\n\t"  
#define ONE_PIXEL_4X4 ONE_PIXEL_4 ONE_PIXEL_4 ONE_PIXEL_4 ONE_PIXEL_4
/* in8: r5 (x0, x2), r4 (x1, x3), r6 (x4, x6), r7 (x5, x7); record r0, r1, r8-r12, lr */
#define ONE_PIXEL_8                                                              \
    "ldmia.w r2!, {r0, r1, r8, r9, r10, r11, r12, lr}\n\t"                         \
    "smlad r0, r5, r1, r0\n\t"                                                     \
    "smlad r0, r4, r8, r0\n\t"                                                     \
    "smlad r0, r6, r9, r0\n\t"                                                     \
    "smlad r0, r7, r10, r0\n\t"                                                    \
    "smmlar r1, r0, r11, r12\n\t"                                                  \
    "add.w r1, r1, r0, asr #31\n\t"                                                \
    "asr.w r1, r1, lr\n\t"                                                         \
    "ssat r1, #8, r1, asr #1\n\t"                                                  \
    "strb r1, [r3], #1\n\t"  
#define ONE_PIXEL_8X4 ONE_PIXEL_8 ONE_PIXEL_8 ONE_PIXEL_8 ONE_PIXEL_8

__attribute__((naked)) void mcuf_conv_1x1_one_pixel_in4_s8_dsp_fast(__attribute__((unused)) const mcuf_conv_params *p,
                                                                    __attribute__((unused)) const int8_t *input,
                                                                    __attribute__((unused)) const int32_t *packed,
                                                                    __attribute__((unused)) int8_t *output)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "ldr r4, [r1]\n\t"
        "ldmia r2!, {r0, r12}\n\t"            /* passes - 1, skip bytes */
        "sxtb16 r5, r4\n\t"
        "sxtb16 r4, r4, ror #8\n\t"
        "add pc, r12\n\t"                     /* PC reads as this instruction + 4: label 4 */
        "nop\n\t"
        "4:\n\t" ONE_PIXEL_4X4 ONE_PIXEL_4X4 ONE_PIXEL_4X4 ONE_PIXEL_4X4
        "cbz r0, 3f\n\t"
        "subs r0, r0, #1\n\t"
        "b 4b\n\t"
        "3:\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}

__attribute__((naked)) void mcuf_conv_1x1_one_pixel_in8_s8_dsp_fast(__attribute__((unused)) const mcuf_conv_params *p,
                                                                    __attribute__((unused)) const int8_t *input,
                                                                    __attribute__((unused)) const int32_t *packed,
                                                                    __attribute__((unused)) int8_t *output)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "ldr r5, [r1]\n\t"
        "ldr r7, [r1, #4]\n\t"
        "ldmia r2!, {r0, r12}\n\t"            /* passes - 1, skip bytes */
        "sxtb16 r4, r5, ror #8\n\t"
        "sxtb16 r5, r5\n\t"
        "sxtb16 r6, r7\n\t"
        "sxtb16 r7, r7, ror #8\n\t"
        "str r0, [sp, #-8]!\n\t"              /* passes left: the channel blocks take every register */
        "add pc, r12\n\t"                     /* PC reads as this instruction + 4: label 4 */
        "nop\n\t"
        "4:\n\t" ONE_PIXEL_8X4 ONE_PIXEL_8X4
        "ldr r0, [sp]\n\t"
        "cbz r0, 3f\n\t"
        "subs r0, r0, #1\n\t"
        "str r0, [sp]\n\t"
        "b 4b\n\t"
        "3:\n\t"
        "add sp, sp, #8\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}
#else
static void one_pixel_c(const mcuf_conv_params *p, const int8_t *input, const int32_t *packed, int8_t *output)
{
    const int C = p->in_c, OC = p->out_c;
    const int32_t *rec = packed + 2;
    for (int oc = 0; oc < OC; ++oc, rec += 4 + C / 2) {
        int32_t acc = rec[0];
        for (int i = 0; i < C; i += 4) {
            const uint32_t x = mcuf_read32(input + i);
            acc = mcuf_smlad(mcuf_sxtb16(x), (uint32_t)rec[1 + i / 2], acc);
            acc = mcuf_smlad(mcuf_sxtb16_ror8(x), (uint32_t)rec[2 + i / 2], acc);
        }
        const int32_t *t = rec + 1 + C / 2;
        const mcuf_requant q = {t[0], t[1], t[2]};
        output[oc] = mcuf_out_fast2(acc, &q);
    }
}

void mcuf_conv_1x1_one_pixel_in4_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input, const int32_t *packed,
                                             int8_t *output)
{
    one_pixel_c(p, input, packed, output);
}

void mcuf_conv_1x1_one_pixel_in8_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input, const int32_t *packed,
                                             int8_t *output)
{
    one_pixel_c(p, input, packed, output);
}
#endif
