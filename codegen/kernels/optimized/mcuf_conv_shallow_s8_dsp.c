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

/* The unrolled inline assembly below is one string literal longer than the 4,095 characters
 * C99 asks compilers to support; gcc and clang take it, so -pedantic's warning is off here. */
#pragma GCC diagnostic ignored "-Woverlength-strings"

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

/* The general copies: the MobileNet stem shape (3x3, stride 2, RGB) and any other shape (general
 * output stage: exact for every channel). */
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

/* --- The RGB stem, fast output stage: mcuf_conv_shallow_stem_s8_dsp_fast ---
 *
 * 3x3, stride 2 along the width, 3 input channels (or 1: the grayscale stem, 9 values, 5 steps,
 * records of 160 bytes, the next pixel 12 bytes on), out_c a multiple of 4, every channel with
 * fast constants and the full int8 range. Each output row first widens the three input rows it
 * reads into one column-major strip: per input column (padding columns included) its 3 rows x
 * 3 channels as 9 int16, so that a pixel's whole receptive field is 27 consecutive int16 (28
 * read: the 28th meets a zero weight) and the next pixel's starts 36 bytes later -- every load
 * of the run is at a fixed offset from one pointer. The run is 2 pixels x 4 output channels:
 * per pair of values one LDR for each pixel, two LDRDs of the four channels' weight pairs,
 * eight SMLADs -- 12 instructions for 16 MACs, in assembly (stem_pairs) because it needs all
 * 14 registers.
 *
 * packed: per group of 4 output channels one record of 304 bytes: int32 2 * bias of channels
 * 0-3, twice (pixel 0's accumulators, then pixel 1's); 14 steps of 4 int32 words, channel c's
 * weight pair (2w[2j], 2w[2j+1]) as int16 (the field ordered [kx][ky][ch], the 28th weight 0);
 * per channel int32 multiplier, round, shift byte b (mcuf_requant). scratch:
 * mcuf_conv_shallow_stem_s8_dsp_fast's strip, 9 * (2 * out_w + 4) int16. */

#define STEM_RECORD_BYTES(steps) (80 + 16 * (steps))   /* 304 (RGB), 160 (gray) */

MCUF_INLINE int32_t stem_cols(const mcuf_conv_params *p) { return 2 * (int32_t)p->out_w + 4; }

/* steps of two values in a pixel's field: 14 (RGB, 27 values), 5 (gray, 9) */
MCUF_INLINE int stem_steps(const mcuf_conv_params *p) { return p->in_c == 3 ? 14 : 5; }

/* Input rows iy0 .. iy0 + 2 as the column-major strip (zero point outside the input): per
 * column 3 rows x C values (C = in_c, 1 or 3: a constant in each copy). */
MCUF_INLINE void widen_strip_c(const mcuf_conv_params *p, const int8_t *input, int iy0, int16_t *strip,
                               const int C)
{
    const int16_t zp = (int16_t)(-p->input_offset);
    const int col = 3 * C;
    const int32_t cols = stem_cols(p), row_bytes = (int32_t)p->in_w * C;
    const int32_t first = mcuf_min32(p->pad_left, cols);
    const int32_t last = mcuf_min32((int32_t)p->pad_left + p->in_w, cols);
    for (int r = 0; r < 3; ++r) {
        const int iy = iy0 + r;
        int16_t *d = strip + C * r;
        int32_t c = 0;
        if (iy >= 0 && iy < p->in_h) {
            for (; c < first; ++c, d += col) {
                for (int k = 0; k < C; ++k) {
                    d[k] = zp;
                }
            }
            const int8_t *x = input + (int32_t)iy * row_bytes;
            for (; c < last; ++c, d += col, x += C) {
                for (int k = 0; k < C; ++k) {
                    d[k] = x[k];
                }
            }
        }
        for (; c < cols; ++c, d += col) {
            for (int k = 0; k < C; ++k) {
                d[k] = zp;
            }
        }
    }
}

static void widen_strip(const mcuf_conv_params *p, const int8_t *input, int iy0, int16_t *strip)
{
    if (p->in_c == 3) {
        widen_strip_c(p, input, iy0, strip, 3);
    } else {
        widen_strip_c(p, input, iy0, strip, 1);
    }
}

/* The routine's frame, in this order (it copies the words to its stack). */
typedef struct {
    int8_t *out0, *out1;     /* the pair's outputs; out1 == out0 for a lone pixel (stored last) */
    const int16_t *x;        /* the first pair's field in the strip */
    const int8_t *end;       /* the end of the records */
    const int8_t *packed;
    int32_t pairs;           /* pixel pairs, >= 1 */
    int32_t skip;            /* out_c: the other pixel's bytes, after each pair */
} stem_job;

#if MCUF_HAS_DSP
/* one pair of values of both pixels times the weight pairs of the 4 channels */
#define STEM_STEP(j, j1)                                                             \
    "ldr r10, [lr, #" #j "]\n\t"                                                     \
    "ldr r11, [lr, #" #j1 "]\n\t"                                                    \
    "ldrd r8, r9, [ip], #8\n\t"                                                      \
    "smlad r0, r10, r8, r0\n\t"                                                      \
    "smlad r1, r10, r9, r1\n\t"                                                      \
    "smlad r4, r11, r8, r4\n\t"                                                      \
    "smlad r5, r11, r9, r5\n\t"                                                      \
    "ldrd r8, r9, [ip], #8\n\t"                                                      \
    "smlad r2, r10, r8, r2\n\t"                                                      \
    "smlad r3, r10, r9, r3\n\t"                                                      \
    "smlad r6, r11, r8, r6\n\t"                                                      \
    "smlad r7, r11, r9, r7\n\t"

/* y = (SMMLAR(acc, m, round) + (acc >> 31)) >> b >> 1, saturated, into acc; t scratch */
#define STEM_OUT(acc, m, rnd, b, t)                                                  \
    "smmlar " t ", " acc ", " m ", " rnd "\n\t"                                       \
    "add " t ", " t ", " acc ", asr #31\n\t"                                          \
    "asr " t ", " t ", " b "\n\t"                                                     \
    "ssat " acc ", #8, " t ", asr #1\n\t"

#define STEM_CHANNEL(a0, a1)                                                         \
    "ldmia ip!, {r8, r9, r10}\n\t"                                                   \
    STEM_OUT(a0, "r8", "r9", "r10", "r11")                                           \
    STEM_OUT(a1, "r8", "r9", "r10", "r11")

#define STEM_ROUTINE(name, RUN, tail, advance)                                      \
    __attribute__((naked)) static void name(__attribute__((unused)) const stem_job *job) \
    {                                                                                \
        __asm__ volatile(                                                            \
            "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                        \
            "sub sp, sp, #28\n\t"                                                    \
            "ldmia r0, {r1, r2, r3, r4, r5, r6, r7}\n\t"                             \
            "stmia sp, {r1, r2, r3, r4, r5, r6, r7}\n\t"                             \
            "mov lr, r3\n\t"                                                         \
            "1:\n\t"                                                                 \
            "ldr ip, [sp, #16]\n\t"                                                  \
            "2:\n\t"                                                                 \
            "ldmia ip!, {r0, r1, r2, r3, r4, r5, r6, r7}\n\t"                       \
            RUN                                                                      \
            STEM_CHANNEL("r0", "r4") STEM_CHANNEL("r1", "r5")                        \
            STEM_CHANNEL("r2", "r6") STEM_CHANNEL("r3", "r7")                        \
            "ldrd r8, r9, [sp]\n\t"                                                  \
            "strb r4, [r9], #1\n\t"                                                  \
            "strb r5, [r9], #1\n\t"                                                  \
            "strb r6, [r9], #1\n\t"                                                  \
            "strb r7, [r9], #1\n\t"                                                  \
            "strb r0, [r8], #1\n\t"                                                  \
            "strb r1, [r8], #1\n\t"                                                  \
            "strb r2, [r8], #1\n\t"                                                  \
            "strb r3, [r8], #1\n\t"                                                  \
            "strd r8, r9, [sp]\n\t"                                                  \
            "ldr r10, [sp, #12]\n\t"                                                 \
            "cmp ip, r10\n\t"                                                        \
            "bne 2b\n\t"                                                             \
            "ldrd r8, r9, [sp]\n\t"                                                  \
            "ldr r10, [sp, #24]\n\t"                                                 \
            "add r8, r8, r10\n\t"                                                    \
            "add r9, r9, r10\n\t"                                                    \
            "strd r8, r9, [sp]\n\t"                                                  \
            "add lr, lr, #" #advance "\n\t"                                          \
            "ldr r10, [sp, #20]\n\t"                                                 \
            "subs r10, r10, #1\n\t"                                                  \
            "str r10, [sp, #20]\n\t"                                                 \
            "bne 1b\n\t"                                                             \
            "add sp, sp, #28\n\t"                                                    \
            "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");                      \
    }

/* RGB: 14 steps, the second pixel 36 bytes on, the next pair 72 */
STEM_ROUTINE(stem_pairs_rgb,
             STEM_STEP(0, 36) STEM_STEP(4, 40) STEM_STEP(8, 44) STEM_STEP(12, 48)
             STEM_STEP(16, 52) STEM_STEP(20, 56) STEM_STEP(24, 60) STEM_STEP(28, 64)
             STEM_STEP(32, 68) STEM_STEP(36, 72) STEM_STEP(40, 76) STEM_STEP(44, 80)
             STEM_STEP(48, 84) STEM_STEP(52, 88), 0, 72)
/* gray: 5 steps, the second pixel 12 bytes on, the next pair 24 */
STEM_ROUTINE(stem_pairs_gray,
             STEM_STEP(0, 12) STEM_STEP(4, 16) STEM_STEP(8, 20) STEM_STEP(12, 24) STEM_STEP(16, 28),
             0, 24)

static void stem_pairs(const stem_job *job, int steps)
{
    if (steps == 14) {
        stem_pairs_rgb(job);
    } else {
        stem_pairs_gray(job);
    }
}
#else
/* The same arithmetic in C (host builds). */
static void stem_pairs(const stem_job *job, int steps)
{
    int8_t *out0 = job->out0, *out1 = job->out1;
    const int16_t *x = job->x;
    const int32_t field = steps == 14 ? 18 : 6;   /* the second pixel, in int16 */
    for (int32_t n = 0; n < job->pairs; ++n, x += 2 * field, out0 += job->skip, out1 += job->skip) {
        for (const int8_t *rec = job->packed; rec != job->end; rec += STEM_RECORD_BYTES(steps)) {
            int32_t acc[8];
            for (int i = 0; i < 8; ++i) {
                acc[i] = (int32_t)mcuf_read32(rec + 4 * i);
            }
            const int8_t *w = rec + 32;
            for (int j = 0; j < steps; ++j, w += 16) {
                const uint32_t a = mcuf_read32(x + 2 * j), b = mcuf_read32(x + field + 2 * j);
                for (int c = 0; c < 4; ++c) {
                    const uint32_t k = mcuf_read32(w + 4 * c);
                    acc[c] = mcuf_smlad(a, k, acc[c]);
                    acc[4 + c] = mcuf_smlad(b, k, acc[4 + c]);
                }
            }
            int8_t y[8];
            for (int c = 0; c < 4; ++c) {
                const int8_t *t = w + 12 * c;
                const mcuf_requant q = {(int32_t)mcuf_read32(t), (int32_t)mcuf_read32(t + 4),
                                        (int32_t)mcuf_read32(t + 8)};
                y[c] = mcuf_out_fast2(acc[c], &q);
                y[4 + c] = mcuf_out_fast2(acc[4 + c], &q);
            }
            for (int c = 0; c < 4; ++c) {   /* pixel 1 first: a lone pixel's twin */
                *out1++ = y[4 + c];
            }
            for (int c = 0; c < 4; ++c) {
                *out0++ = y[c];
            }
        }
    }
}
#endif

void mcuf_conv_shallow_stem_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                        const int8_t *packed, int8_t *output, int16_t *scratch)
{
    const int OC = p->out_c, out_w = p->out_w, steps = stem_steps(p);
    const int32_t col = 3 * p->in_c;   /* int16 per strip column */
    const int8_t *end = packed + (OC / 4) * STEM_RECORD_BYTES(steps);
    for (int oy = 0; oy < p->out_h; ++oy) {
        widen_strip(p, input, oy * p->stride_h - p->pad_top, scratch);
        int8_t *out = output + (int32_t)oy * out_w * OC;
        if (out_w >= 2) {
            const stem_job job = {out, out + OC, scratch, end, packed, out_w / 2, OC};
            stem_pairs(&job, steps);
        }
        if (out_w & 1) {   /* the last pixel alone: its twin reads the strip's spare columns */
            int8_t *o = out + (int32_t)(out_w - 1) * OC;
            const stem_job job = {o, o, scratch + 2 * col * (out_w - 1), end, packed, 1, OC};
            stem_pairs(&job, steps);
        }
    }
}
