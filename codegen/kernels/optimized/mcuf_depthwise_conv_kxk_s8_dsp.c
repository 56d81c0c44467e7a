/* K x K depthwise convolution (K = 3, 5 or 7) on one gathered channel plane at a time, DSP
 * extension: any depth multiplier (one plane serves the multiplier's output channels), any
 * channel count (1- and 3-channel inputs included), any stride, no dilation. Also a K x K
 * CONV_2D of a 1-channel image (a depthwise with multiplier out_c).
 *
 * The 3x3 plane kernel's approach (mcuf_depthwise_conv_3x3_s8_dsp.c) for larger kernels:
 * channel by channel the input is gathered into a padded int8 plane in `scratch` (borders
 * hold the input zero point, whose offset is folded into the bias), then every output pair
 * of a row slides over it. A kernel row of K taps is cut in groups of 4 (g): one LDR of the
 * plane bytes x+4g .. x+4g+3 and two SXTB16 give e_g = (p0, p2) and d_g = (p1, p3), which
 * meet the doubled weights WE_g = (w4g, w4g+2) and WO_g = (w4g+1, w4g+3) (zero beyond K) in
 * SMLAD. The pair's second output (at x + stride) reuses the same words: at stride 1 its
 * even taps are d_g and its odd ones (p2, p4) = PKHBT(e_g+1, e_g) with SMLADX; at stride 2
 * its even taps are PKHBT(e_g+1, e_g), its odd ones PKHBT(d_g+1, d_g); a group's last,
 * lone tap takes SMLAxy. 5x5 at stride 1: 13 instructions per kernel row for 10 MACs.
 * 3x3 at stride 2 (DSP builds): the pairs in assembly, two output channels of a plane per run
 * where the depth multiplier is above 1 (kxk3s2x2_pairs_fast: the widened words shared); the
 * gather's whole words in assembly; the plane's border written once per call.
 *
 * filter: int16 [OC][K][G][4], G = ceil(K / 4): per kernel row and group the doubled weights
 * (w4g, w4g+2, w4g+1, w4g+3), zero beyond K (the generator's _kxk_plane_filter); bias_folded:
 * 2 * (bias + input_offset * sum w) per output channel (the accumulators hold 2 * acc, as
 * the fast output stage wants); multiplier / shift: the output constants (mcuf_requant).
 * scratch (word aligned): the plane, ((out_h - 1) * stride_h + K) * pw + KXK_SLACK bytes, pw =
 * (out_w - 1) * stride_w + K (3x3 at stride_w 2: rounded up to a multiple of 4) (the kernel record's scratch size in codegen/ops/conv_dsp.py);
 * with in_c a multiple of 4 and four such planes (each rounded up to whole words) within
 * KXK_QUAD_MAX_SCRATCH bytes, four planes (kxk_quad: gathered four channels at a time). Same results as the
 * reference kernel, byte for byte. */
#include <string.h>

#include "mcuf_dsp.h"
#include "mcuf_nn.h"

/* Bytes read past the plane's last row, set to zero points (their weights are 0): a word load
 * of a row's last group reads at most 3 bytes past the row's last tap (K = 3: a lone output's
 * word at x <= pw - 3 ends at pw; a stride-2 pair's extra word at a + 4 <= pw - 1 ends at
 * pw + 2; K = 5: a lone output's second word at x + 4 <= pw - 1; K = 7: a stride-2 pair's
 * third word at x + 8 <= pw - 1), so 4 bytes, as the 3x3 plane kernel's. */
#define KXK_SLACK 4

/* the plane's width: the taps' columns; for 3x3 at stride_w 2 rounded up to whole words, so that
 * every pair's two words (at 4 * pair from a row's start) are one aligned LDRD */
MCUF_INLINE int kxk_plane_w(const mcuf_conv_params *p)
{
    const int pw = (p->out_w - 1) * p->stride_w + p->k_w;
    return p->k_w == 3 && p->stride_w == 2 ? (pw + 3) & ~3 : pw;
}
MCUF_INLINE int kxk_plane_h(const mcuf_conv_params *p) { return (p->out_h - 1) * p->stride_h + p->k_h; }

/* Rd.lo = x.lo, Rd.hi = y.hi */
MCUF_INLINE uint32_t kxk_pkhbt(uint32_t x, uint32_t y)
{
#if MCUF_HAS_DSP
    uint32_t r;
    __asm__("pkhbt %0, %1, %2" : "=r"(r) : "r"(x), "r"(y));
    return r;
#else
    return (x & 0xFFFFu) | (y & 0xFFFF0000u);
#endif
}

/* acc + x.lo * y.hi + x.hi * y.lo */
MCUF_INLINE int32_t kxk_smladx(uint32_t x, uint32_t y, int32_t acc)
{
#if MCUF_HAS_DSP
    return __smladx(x, y, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)x * (int16_t)(y >> 16)) +
                     (uint32_t)((int32_t)(int16_t)(x >> 16) * (int16_t)y));
#endif
}

/* One kernel row of two outputs, a at plane byte r and b at r + S (S = 1 or 2), or of a
 * alone (two = 0); w: the row's 2 * G weight words. K, S, two: compile-time constants. */
MCUF_INLINE void kxk_row(const int8_t *r, const uint32_t *w, const int K, const int S, const int two,
                         int32_t *pa, int32_t *pb)
{
    const int G = (K + 3) / 4;
    uint32_t e[3], d[3];
    int32_t a = *pa, b = *pb;
    /* the groups' words, and for a pair at stride 2 whose last even taps are both used
     * (K = 3, 7) one group further (only its e half) */
    const int extra = two && S == 2 && 4 * (G - 1) + 2 < K;
#pragma GCC unroll 3
    for (int g = 0; g < G + extra; ++g) {
        const uint32_t v = mcuf_read32(r + 4 * g);
        e[g] = mcuf_sxtb16(v);
        if (g < G) {
            d[g] = mcuf_sxtb16_ror8(v);
        }
    }
#pragma GCC unroll 2
    for (int g = 0; g < G; ++g) {
        const uint32_t we = w[2 * g], wo = w[2 * g + 1];
        a = mcuf_smlad(e[g], we, a);
        if (4 * g + 3 < K) {
            a = mcuf_smlad(d[g], wo, a);
        } else if (4 * g + 1 < K) {
            a = mcuf_smlabb(d[g], wo, a);
        }
        if (!two) {
            continue;
        }
        if (S == 1) {
            b = mcuf_smlad(d[g], we, b);
            if (4 * g + 3 < K) {
                b = kxk_smladx(kxk_pkhbt(e[g + 1], e[g]), wo, b);
            } else if (4 * g + 1 < K) {
                b = mcuf_smlatb(e[g], wo, b);
            }
        } else {
            if (4 * g + 2 < K) {
                b = kxk_smladx(kxk_pkhbt(e[g + 1], e[g]), we, b);
            } else {
                b = mcuf_smlatb(e[g], we, b);
            }
            if (4 * g + 3 < K) {
                b = kxk_smladx(kxk_pkhbt(d[g + 1], d[g]), wo, b);
            } else if (4 * g + 1 < K) {
                b = mcuf_smlatb(d[g], wo, b);
            }
        }
    }
    *pa = a;
    *pb = b;
}

/* One output channel over its gathered plane: pairs of each row (stride_w 1 or 2), the rest
 * alone. w: its K * 2G weight words; bias2: 2 * bias_folded. */
MCUF_INLINE void kxk_channel(const mcuf_conv_params *p, const int8_t *plane, int pw, const uint32_t *w,
                             int32_t bias2, mcuf_requant q, int8_t *output, int ox0, const int K,
                             const int fast)
{
    const int G = (K + 3) / 4;
    const int C = p->out_c, out_h = p->out_h, out_w = p->out_w, sh = p->stride_h, sw = p->stride_w;
    const mcuf_out_stage o = mcuf_out_stage_of(p, fast);
    const int pairs = sw <= 2 ? out_w >> 1 : 0;
    /* the weights in a local copy: the int8 output stores may alias the filter, and gcc would
     * reload every weight after every store */
    uint32_t wl[7 * 4];
    for (int i = 0; i < K * 2 * G; ++i) {
        wl[i] = w[i];
    }
    for (int oy = 0; oy < out_h; ++oy) {
        const int8_t *r = plane + (int32_t)oy * sh * pw + ox0 * sw;
        int8_t *out = output + ((int32_t)oy * out_w + ox0) * C;
        int ox = ox0;
        if (sw == 1) {
            for (; ox < 2 * pairs; ox += 2, r += 2, out += 2 * C) {
                int32_t a = bias2, b = bias2;
                const int8_t *rr = r;
#pragma GCC unroll 7
                for (int ky = 0; ky < K; ++ky) {
                    kxk_row(rr, wl + ky * 2 * G, K, 1, 1, &a, &b);
                    rr += pw;
                }
                out[0] = mcuf_out_x2(o, a, &q);
                out[C] = mcuf_out_x2(o, b, &q);
            }
        } else if (sw == 2) {
            for (; ox < 2 * pairs; ox += 2, r += 4, out += 2 * C) {
                int32_t a = bias2, b = bias2;
                const int8_t *rr = r;
#pragma GCC unroll 7
                for (int ky = 0; ky < K; ++ky) {
                    kxk_row(rr, wl + ky * 2 * G, K, 2, 1, &a, &b);
                    rr += pw;
                }
                out[0] = mcuf_out_x2(o, a, &q);
                out[C] = mcuf_out_x2(o, b, &q);
            }
        }
        for (; ox < out_w; ++ox, r += sw, out += C) {
            int32_t a = bias2, b = 0;
            const int8_t *rr = r;
#pragma GCC unroll 7
            for (int ky = 0; ky < K; ++ky) {
                kxk_row(rr, wl + ky * 2 * G, K, 1, 0, &a, &b);
                rr += pw;
            }
            *out = mcuf_out_x2(o, a, &q);
        }
    }
}

#if MCUF_HAS_DSP
/* The end of both stride-2 pair runs (5x5 and 3x3, frames alike): the pair's last shift and
 * saturation, its two stores a column apart, the next pair or row, the return. */
#define KXK_S2_PAIR_END                                                                 \
    "asr r0, r0, r4\n\t"                                                            \
    "asr r1, r1, r4\n\t"                                                            \
    "ssat r0, #8, r0, asr #1\n\t"                                                   \
    "ssat r1, #8, r1, asr #1\n\t"                                                   \
    MCUF_DW_PAIR_STORE_NEXT("r11")                                                  \
    "add sp, sp, #52\n\t"                                                           \
    "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t"

/* The 5x5 stride-2 pair run of one channel in assembly: every output row's column pairs; per
 * kernel row one LDM of its weights (w0, w2), (w1, w3), (w4, 0), the words at x and x + 4:
 * e0 = (p0, p2), d0 = (p1, p3), e1 = (p4, p6), d1 = (p5, p7); a += e0 . (w0, w2) + d0 . (w1, w3)
 * + p4 w4, b (at x + 2) += (p4, p2) x (w0, w2) + (p5, p3) x (w1, w3) (PKHBT, SMLADX) + p6 w4
 * -- 15 instructions for 10 MACs --, then the fast output stage of both. Registers: r0/r1 the
 * accumulators, r2-r4, r9, r10 scratch, r5-r7 a row's weights, r8 the weight pointer, r11 the
 * plane (walked down the rows), ip the output, lr the plane width. The job's first 13 words go
 * to the frame (kxk3s2_job's), then r8, r11, ip, lr. */
typedef struct {
    int32_t multiplier, round, shift, out_stride;
    const int8_t *row_end;
    int32_t bias2, bias2_again, unused0, unused1;
    int32_t plane_step, out_step, row_bytes;
    const int8_t *stop;
    const uint32_t *wp;                 /* 52: w */
    const int8_t *plane;                /* 56 */
    int8_t *out;                        /* 60 */
    int32_t pw;                         /* 64 */
    uint32_t w[15];                     /* 68: per kernel row (w0, w2), (w1, w3), (w4, 0), doubled */
} kxk5s2_job;

#define KXK5S2_ROW                                                                      \
    "ldmia r8!, {r5, r6, r7}\n\t"                                                     \
    "ldr r2, [r11]\n\t"                                                               \
    "ldr r3, [r11, #4]\n\t"                                                           \
    "sxtb16 r4, r2\n\t"                                                               \
    "sxtb16 r2, r2, ror #8\n\t"                                                       \
    "sxtb16 r9, r3\n\t"                                                               \
    "sxtb16 r3, r3, ror #8\n\t"                                                       \
    "smlad r0, r4, r5, r0\n\t"                                                        \
    "pkhbt r10, r9, r4\n\t"                                                           \
    "smladx r1, r10, r5, r1\n\t"                                                      \
    "smlad r0, r2, r6, r0\n\t"                                                        \
    "pkhbt r10, r3, r2\n\t"                                                           \
    "smladx r1, r10, r6, r1\n\t"                                                      \
    "smlabb r0, r9, r7, r0\n\t"                                                       \
    "smlatb r1, r9, r7, r1\n\t"

__attribute__((naked)) static void kxk5s2_pairs_fast(__attribute__((unused)) const kxk5s2_job *job)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "sub sp, sp, #52\n\t"
        "ldmia r0!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, ip}\n\t"
        "stmia sp, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, ip}\n\t"
        "ldr r1, [r0], #4\n\t"
        "str r1, [sp, #48]\n\t"
        "ldmia r0, {r8, r11, ip, lr}\n\t"
        "1:\n\t"
        "ldrd r0, r1, [sp, #20]\n\t"
        KXK5S2_ROW "add r11, r11, lr\n\t"
        KXK5S2_ROW "add r11, r11, lr\n\t"
        KXK5S2_ROW "add r11, r11, lr\n\t"
        KXK5S2_ROW "add r11, r11, lr\n\t"
        KXK5S2_ROW
        "sub r11, r11, lr, lsl #2\n\t"
        "add r11, r11, #4\n\t"
        "sub r8, r8, #60\n\t"
        "ldmia sp, {r2, r3, r4}\n\t"          /* the fast output stage (mcuf_out_fast2) */
        "smmlar r9, r0, r2, r3\n\t"
        "add r0, r9, r0, asr #31\n\t"
        "smmlar r9, r1, r2, r3\n\t"
        "add r1, r9, r1, asr #31\n\t"
        KXK_S2_PAIR_END);
}
#endif

static void kxk_channel_fast5(const mcuf_conv_params *p, const int8_t *plane, int pw, const uint32_t *w,
                              int32_t bias2, mcuf_requant q, int8_t *output)
{
    int ox0 = 0;
#if MCUF_HAS_DSP
    if (p->stride_w == 2 && p->out_w >= 2) {   /* the column pairs in assembly, an odd last column in C */
        const int pairs = p->out_w >> 1;
        const int32_t row_bytes = (int32_t)p->stride_h * pw;
        kxk5s2_job j;
        j.multiplier = q.multiplier;
        j.round = q.round;
        j.shift = q.shift;
        j.out_stride = p->out_c;
        j.row_end = plane + 4 * pairs;
        j.bias2 = j.bias2_again = bias2;
        j.unused0 = j.unused1 = 0;
        j.plane_step = row_bytes - 4 * pairs;
        j.out_step = (int32_t)(p->out_w - 2 * pairs) * p->out_c;
        j.row_bytes = row_bytes;
        j.stop = j.row_end + (int32_t)p->out_h * row_bytes;
        for (int ky = 0; ky < 5; ++ky) {   /* the filter's rows: WE0, WO0, WE1 (WO1 is 0) */
            j.w[3 * ky] = w[4 * ky];
            j.w[3 * ky + 1] = w[4 * ky + 1];
            j.w[3 * ky + 2] = w[4 * ky + 2];
        }
        j.wp = j.w;
        j.plane = plane;
        j.out = output;
        j.pw = pw;
        kxk5s2_pairs_fast(&j);
        ox0 = 2 * pairs;
        if (ox0 == p->out_w) {
            return;
        }
    }
#endif
    kxk_channel(p, plane, pw, w, bias2, q, output, ox0, 5, 1);
}

static void kxk_channel_fast7(const mcuf_conv_params *p, const int8_t *plane, int pw, const uint32_t *w,
                              int32_t bias2, mcuf_requant q, int8_t *output)
{
    kxk_channel(p, plane, pw, w, bias2, q, output, 0, 7, 1);
}

#if MCUF_HAS_DSP
/* The 3x3 stride-2 pair run of one channel in assembly: every output row's column pairs, the
 * pair (a at plane byte x, b at x + 2) per kernel row from the words at x and x + 4: e0 =
 * (p0, p2), d0 = (p1, p3), (p4, p2) = PKHBT(SXTB16(word 1), e0); a += e0 . (w0, w2) + p1 w1,
 * b += (p4, p2) x (w0, w2) (SMLADX) + p3 w1 -- 32 instructions for 18 MACs --, then the fast
 * output stage of both (as dw3_pairs_fast in mcuf_depthwise_conv_3x3_s8_dsp.c). Registers:
 * r0/r1 the accumulators, r2-r4 scratch, r5-r10 the rows' weight words (w0, w2), (w1, 0),
 * r11 the plane row, ip the output, lr the plane width. The job's first 13 words go to the
 * frame, the last 9 to r5-r11, ip, lr. */
typedef struct {
    int32_t multiplier, round, shift;   /* 0: the channel's fast constants (mcuf_requant) */
    int32_t out_stride;                 /* 12: out_c */
    const int8_t *row_end;              /* 16: the first row's plane pointer after its pairs */
    int32_t bias2, bias2_again;         /* 20 */
    int32_t unused0, unused1;           /* 28 */
    int32_t plane_step;                 /* 36: sh * pw - 4 * pairs */
    int32_t out_step;                   /* 40: (out_w - 2 * pairs) * out_c */
    int32_t row_bytes;                  /* 44: sh * pw */
    const int8_t *stop;                 /* 48: row_end + out_h * row_bytes */
    uint32_t w[6];                      /* 52: per kernel row (w0, w2), (w1, 0), doubled */
    const int8_t *plane;                /* 76 */
    int8_t *out;                        /* 80 */
    int32_t pw;                         /* 84 */
} kxk3s2_job;

/* one kernel row of the pair from the words r2, r3 (one LDRD: the plane's rows are whole words
 * at stride_w 2, kxk_plane_w) */
#define KXK3S2_ROW(we, wo)                                                              \
    "sxtb16 r4, r2\n\t"                                                               \
    "sxtb16 r3, r3\n\t"                                                               \
    "pkhbt r3, r3, r4\n\t"                                                            \
    "smlad r0, r4, " we ", r0\n\t"                                                    \
    "smladx r1, r3, " we ", r1\n\t"                                                   \
    "sxtb16 r2, r2, ror #8\n\t"                                                       \
    "smlabb r0, r2, " wo ", r0\n\t"                                                   \
    "smlatb r1, r2, " wo ", r1\n\t"

__attribute__((naked)) static void kxk3s2_pairs_fast(__attribute__((unused)) const kxk3s2_job *job)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "sub sp, sp, #52\n\t"
        "ldmia r0!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, ip}\n\t"
        "stmia sp, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, ip}\n\t"
        "ldr r1, [r0], #4\n\t"
        "str r1, [sp, #48]\n\t"
        "ldmia r0, {r5, r6, r7, r8, r9, r10, r11, ip, lr}\n\t"
        "1:\n\t"
        "ldrd r0, r1, [sp, #20]\n\t"
        "ldrd r2, r3, [r11]\n\t"
        KXK3S2_ROW("r5", "r6")
        "add r4, r11, lr\n\t"
        "ldrd r2, r3, [r4]\n\t"
        KXK3S2_ROW("r7", "r8")
        "add r4, r11, lr, lsl #1\n\t"
        "ldrd r2, r3, [r4]\n\t"
        KXK3S2_ROW("r9", "r10")
        "add r11, r11, #4\n\t"
        "ldmia sp, {r2, r3, r4}\n\t"          /* the fast output stage (mcuf_out_fast2) */
        "smmlar r2, r0, r2, r3\n\t"
        "add r0, r2, r0, asr #31\n\t"
        "ldr r2, [sp]\n\t"
        "smmlar r2, r1, r2, r3\n\t"
        "add r1, r2, r1, asr #31\n\t"
        KXK_S2_PAIR_END);
}
#endif

#if MCUF_HAS_DSP
/* Two output channels of one input channel (a depth multiplier above 1: channels c and c + 1,
 * adjacent in the output) in one 3x3 stride-2 pair run: the plane words of a pair are loaded
 * and widened once for both (KXK3S2_ROW's LDRD, three SXTB16 and PKHBT), then 8 multiplies:
 * 12 instructions per kernel row for 12 MACs (8 + 5 = 13 for 6 on one channel), 76 per pair of
 * both channels (36 MACs), the fast output stage included. Registers: r0/r1 channel a's pair,
 * r2/r3 channel b's, r4-r6 scratch, r7-r10 a kernel row's weights (WE_a, WO_a, WE_b, WO_b, one
 * LDM per row from the frame), r11 the plane row, ip the weight pointer, lr the plane width.
 * The job's first 29 words are the frame (the output pointer at 64 walks), then plane, pw. */
typedef struct {
    int32_t multiplier_a, round_a, shift_a;   /* 0: channel a's fast constants (mcuf_requant) */
    int32_t multiplier_b, round_b, shift_b;   /* 12: channel b's */
    int32_t out_stride;                       /* 24: out_c */
    const int8_t *row_end;                    /* 28: the first row's plane pointer after its pairs */
    int32_t bias2_a, bias2_a_again;           /* 32 */
    int32_t bias2_b, bias2_b_again;           /* 40 */
    int32_t plane_step;                       /* 48: sh * pw - 4 * pairs */
    int32_t out_step;                         /* 52: (out_w - 2 * pairs) * out_c */
    int32_t row_bytes;                        /* 56: sh * pw */
    const int8_t *stop;                       /* 60: row_end + out_h * row_bytes */
    int8_t *out;                              /* 64: channel a's output, walked */
    uint32_t w[12];                           /* 68: per kernel row WE_a, WO_a, WE_b, WO_b, doubled */
    const int8_t *plane;                      /* 116 */
    int32_t pw;                               /* 120 */
} kxk3s2x2_job;

#define KXK3S2X2_ROW                                                                    \
    "sxtb16 r6, r4\n\t"                                                               \
    "sxtb16 r5, r5\n\t"                                                               \
    "pkhbt r5, r5, r6\n\t"                                                            \
    "sxtb16 r4, r4, ror #8\n\t"                                                       \
    "smlad r0, r6, r7, r0\n\t"                                                        \
    "smladx r1, r5, r7, r1\n\t"                                                       \
    "smlabb r0, r4, r8, r0\n\t"                                                       \
    "smlatb r1, r4, r8, r1\n\t"                                                       \
    "smlad r2, r6, r9, r2\n\t"                                                        \
    "smladx r3, r5, r9, r3\n\t"                                                       \
    "smlabb r2, r4, r10, r2\n\t"                                                      \
    "smlatb r3, r4, r10, r3\n\t"

__attribute__((naked)) static void kxk3s2x2_pairs_fast(__attribute__((unused)) const kxk3s2x2_job *job)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "sub sp, sp, #120\n\t"
        "mov lr, sp\n\t"
        "ldmia r0!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, ip}\n\t"
        "stmia lr!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, ip}\n\t"
        "ldmia r0!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, ip}\n\t"
        "stmia lr!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, ip}\n\t"
        "ldmia r0!, {r1, r2, r3, r4, r5}\n\t"
        "stmia lr!, {r1, r2, r3, r4, r5}\n\t"
        "ldmia r0, {r11, lr}\n\t"
        "1:\n\t"
        "ldrd r0, r1, [sp, #32]\n\t"
        "ldrd r2, r3, [sp, #40]\n\t"
        "add ip, sp, #68\n\t"
        "ldmia ip!, {r7, r8, r9, r10}\n\t"
        "ldrd r4, r5, [r11]\n\t"
        KXK3S2X2_ROW
        "ldmia ip!, {r7, r8, r9, r10}\n\t"
        "add r4, r11, lr\n\t"
        "ldrd r4, r5, [r4]\n\t"
        KXK3S2X2_ROW
        "ldmia ip, {r7, r8, r9, r10}\n\t"
        "add r4, r11, lr, lsl #1\n\t"
        "ldrd r4, r5, [r4]\n\t"
        KXK3S2X2_ROW
        "add r11, r11, #4\n\t"
        "ldmia sp, {r4, r5, r6, r7, r8, r9}\n\t"   /* the fast output stage (mcuf_out_fast2) */
        "smmlar r10, r0, r4, r5\n\t"
        "add r0, r10, r0, asr #31\n\t"
        "smmlar r10, r1, r4, r5\n\t"
        "add r1, r10, r1, asr #31\n\t"
        "smmlar r10, r2, r7, r8\n\t"
        "add r2, r10, r2, asr #31\n\t"
        "smmlar r10, r3, r7, r8\n\t"
        "add r3, r10, r3, asr #31\n\t"
        "asr r0, r0, r6\n\t"
        "asr r1, r1, r6\n\t"
        "asr r2, r2, r9\n\t"
        "asr r3, r3, r9\n\t"
        "ssat r0, #8, r0, asr #1\n\t"
        "ssat r1, #8, r1, asr #1\n\t"
        "ssat r2, #8, r2, asr #1\n\t"
        "ssat r3, #8, r3, asr #1\n\t"
        "ldrd r4, r5, [sp, #24]\n\t"
        "ldr r6, [sp, #64]\n\t"
        "strb r0, [r6]\n\t"
        "strb r2, [r6, #1]\n\t"
        "add r6, r6, r4\n\t"
        "strb r1, [r6]\n\t"
        "strb r3, [r6, #1]\n\t"
        "add r6, r6, r4\n\t"
        "str r6, [sp, #64]\n\t"
        "cmp r11, r5\n\t"
        "bne 1b\n\t"
        "ldr r4, [sp, #48]\n\t"
        "add r11, r11, r4\n\t"
        "ldr r4, [sp, #52]\n\t"
        "add r6, r6, r4\n\t"
        "str r6, [sp, #64]\n\t"
        "ldr r4, [sp, #56]\n\t"
        "add r5, r5, r4\n\t"
        "str r5, [sp, #28]\n\t"
        "ldr r4, [sp, #60]\n\t"
        "cmp r5, r4\n\t"
        "bne 1b\n\t"
        "add sp, sp, #120\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}
#endif

/* Channels c and c + 1 of one input channel's plane (3x3, stride_w 2, the fast output stage on
 * both): the column pairs in one assembly run, an odd last column in C per channel. w: channel
 * c's 6 weight words, then c + 1's. */
static void kxk_channel2_fast3(const mcuf_conv_params *p, const int8_t *plane, int pw, const uint32_t *w,
                               const int32_t *bias2, mcuf_requant qa, mcuf_requant qb, int8_t *output)
{
    const int pairs = p->out_w >> 1;
#if MCUF_HAS_DSP
    const int32_t row_bytes = (int32_t)p->stride_h * pw;
    kxk3s2x2_job j;
    j.multiplier_a = qa.multiplier;
    j.round_a = qa.round;
    j.shift_a = qa.shift;
    j.multiplier_b = qb.multiplier;
    j.round_b = qb.round;
    j.shift_b = qb.shift;
    j.out_stride = p->out_c;
    j.row_end = plane + 4 * pairs;
    j.bias2_a = j.bias2_a_again = bias2[0];
    j.bias2_b = j.bias2_b_again = bias2[1];
    j.plane_step = row_bytes - 4 * pairs;
    j.out_step = (int32_t)(p->out_w - 2 * pairs) * p->out_c;
    j.row_bytes = row_bytes;
    j.stop = j.row_end + (int32_t)p->out_h * row_bytes;
    j.out = output;
    for (int ky = 0; ky < 3; ++ky) {
        j.w[4 * ky] = w[2 * ky];
        j.w[4 * ky + 1] = w[2 * ky + 1];
        j.w[4 * ky + 2] = w[6 + 2 * ky];
        j.w[4 * ky + 3] = w[6 + 2 * ky + 1];
    }
    j.plane = plane;
    j.pw = pw;
    kxk3s2x2_pairs_fast(&j);
#endif
    if (2 * pairs != p->out_w) {
        kxk_channel(p, plane, pw, w, bias2[0], qa, output, 2 * pairs, 3, 1);
        kxk_channel(p, plane, pw, w + 6, bias2[1], qb, output + 1, 2 * pairs, 3, 1);
    }
}

static void kxk_channel_fast3(const mcuf_conv_params *p, const int8_t *plane, int pw, const uint32_t *w,
                              int32_t bias2, mcuf_requant q, int8_t *output)
{
    int ox0 = 0;
#if MCUF_HAS_DSP
    /* the column pairs in assembly (their LDRD: a word-aligned plane, as the planner places
     * scratch), an odd last column in C */
    if (p->stride_w == 2 && p->out_w >= 2 && ((uintptr_t)plane & 3u) == 0) {
        const int pairs = p->out_w >> 1;
        const int32_t row_bytes = (int32_t)p->stride_h * pw;
        kxk3s2_job j;
        j.multiplier = q.multiplier;
        j.round = q.round;
        j.shift = q.shift;
        j.out_stride = p->out_c;
        j.row_end = plane + 4 * pairs;
        j.bias2 = j.bias2_again = bias2;
        j.unused0 = j.unused1 = 0;
        j.plane_step = row_bytes - 4 * pairs;
        j.out_step = (int32_t)(p->out_w - 2 * pairs) * p->out_c;
        j.row_bytes = row_bytes;
        j.stop = j.row_end + (int32_t)p->out_h * row_bytes;
        for (int i = 0; i < 6; ++i) {
            j.w[i] = w[i];
        }
        j.plane = plane;
        j.out = output;
        j.pw = pw;
        kxk3s2_pairs_fast(&j);
        ox0 = 2 * pairs;
        if (ox0 == p->out_w) {
            return;
        }
    }
#endif
    kxk_channel(p, plane, pw, w, bias2, q, output, ox0, 3, 1);
}

/* the general output stage (clamped ranges, formula channels): one copy for every K */
static void kxk_channel_general(const mcuf_conv_params *p, const int8_t *plane, int pw, const uint32_t *w,
                                int32_t bias2, mcuf_requant q, int8_t *output)
{
    if (p->k_h == 3) {
        kxk_channel(p, plane, pw, w, bias2, q, output, 0, 3, 0);
    } else if (p->k_h == 5) {
        kxk_channel(p, plane, pw, w, bias2, q, output, 0, 5, 0);
    } else {
        kxk_channel(p, plane, pw, w, bias2, q, output, 0, 7, 0);
    }
}

#if MCUF_HAS_DSP
/* The gather's whole words in assembly: per row bytes / 4 words of the plane from bytes C apart
 * (two words per 19 instructions: eight LDRB at register offsets 0, C, 2C, 3C, six ORR, two
 * STR -- unaligned stores allowed, pad_left may be odd), an odd word first. */
typedef struct {
    const int8_t *src;   /* channel c of the first interior row's first pixel */
    int8_t *dst;         /* the plane's first interior byte */
    int32_t bytes;       /* 4 * whole words per row (>= 4) */
    int32_t rows;        /* >= 1 */
    int32_t src_skip;    /* in_w * C - bytes * C: a row's end to the next row's start */
    int32_t dst_skip;    /* pw - bytes */
    int32_t c;           /* C: the bytes between a channel's neighbouring pixels */
} kxk_gather_job;

__attribute__((naked)) static void kxk_gather_words(__attribute__((unused)) const kxk_gather_job *job)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "sub sp, sp, #8\n\t"
        "ldmia r0, {r1, r2, r3, r4, r5, r6, r7}\n\t"
        "strd r5, r6, [sp]\n\t"                     /* src_skip, dst_skip */
        "mov r11, r3\n\t"
        "mov ip, r4\n\t"
        "mov r0, r1\n\t"
        "mov r1, r2\n\t"
        "mov r3, r7\n\t"
        "add r4, r3, r3\n\t"
        "add r5, r4, r3\n\t"
        "add r6, r4, r4\n\t"
        "2:\n\t"
        "add r2, r1, r11\n\t"
        "tst r11, #4\n\t"
        "beq 4f\n\t"
        "ldrb r7, [r0]\n\t"
        "ldrb r8, [r0, r3]\n\t"
        "ldrb r9, [r0, r4]\n\t"
        "ldrb r10, [r0, r5]\n\t"
        "add r0, r0, r6\n\t"
        "orr r7, r7, r8, lsl #8\n\t"
        "orr r7, r7, r9, lsl #16\n\t"
        "orr r7, r7, r10, lsl #24\n\t"
        "str r7, [r1], #4\n\t"
        "4:\n\t"
        "cmp r1, r2\n\t"
        "beq 5f\n\t"
        "3:\n\t"
        "ldrb r7, [r0]\n\t"
        "ldrb r8, [r0, r3]\n\t"
        "ldrb r9, [r0, r4]\n\t"
        "ldrb r10, [r0, r5]\n\t"
        "add r0, r0, r6\n\t"
        "orr r7, r7, r8, lsl #8\n\t"
        "ldrb r8, [r0]\n\t"
        "orr r7, r7, r9, lsl #16\n\t"
        "ldrb r9, [r0, r3]\n\t"
        "orr r7, r7, r10, lsl #24\n\t"
        "ldrb r10, [r0, r4]\n\t"
        "ldrb lr, [r0, r5]\n\t"
        "add r0, r0, r6\n\t"
        "orr r8, r8, r9, lsl #8\n\t"
        "orr r8, r8, r10, lsl #16\n\t"
        "orr r8, r8, lr, lsl #24\n\t"
        "str r7, [r1], #4\n\t"
        "str r8, [r1], #4\n\t"
        "cmp r1, r2\n\t"
        "bne 3b\n\t"
        "5:\n\t"
        "ldrd r7, r8, [sp]\n\t"
        "add r0, r0, r7\n\t"
        "add r1, r1, r8\n\t"
        "subs ip, ip, #1\n\t"
        "bne 2b\n\t"
        "add sp, sp, #8\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}
#endif

#if MCUF_HAS_DSP
/* A 1-channel input's rows into the plane, word-aligned rows: 4 words per LDM / STM pair. */
typedef struct {
    const int8_t *src;   /* the first interior row's first pixel */
    int8_t *dst;         /* the plane's first interior byte */
    int32_t words;       /* whole words per row (>= 1) */
    int32_t rows;        /* >= 1 */
    int32_t src_step;    /* in_w */
    int32_t dst_step;    /* pw */
} kxk_copy_job;

__attribute__((naked)) static void kxk_copy_words(__attribute__((unused)) const kxk_copy_job *job)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "ldmia r0, {r1, r2, r3, r4, r5, r6}\n\t"
        "2:\n\t"
        "mov r0, r1\n\t"
        "mov ip, r2\n\t"
        "lsrs lr, r3, #2\n\t"
        "beq 4f\n\t"
        "3:\n\t"
        "ldmia r0!, {r7, r8, r9, r10}\n\t"
        "stmia ip!, {r7, r8, r9, r10}\n\t"
        "subs lr, lr, #1\n\t"
        "bne 3b\n\t"
        "4:\n\t"
        "ands lr, r3, #3\n\t"
        "beq 6f\n\t"
        "5:\n\t"
        "ldr r7, [r0], #4\n\t"
        "str r7, [ip], #4\n\t"
        "subs lr, lr, #1\n\t"
        "bne 5b\n\t"
        "6:\n\t"
        "add r1, r1, r5\n\t"
        "add r2, r2, r6\n\t"
        "subs r4, r4, #1\n\t"
        "bne 2b\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}
#endif

/* the plane's border -- every byte of its pw * ph + KXK_SLACK outside the gather's rows x cols
 * interior at (pad_top, pad_left) -- set to the input zero point, once per call (every
 * channel's gather rewrites the same interior); rows under 32 bytes: the whole plane */
static void kxk_border(const mcuf_conv_params *p, int8_t *plane, int pw, int ph)
{
    const int rows = mcuf_min32(p->in_h, ph - p->pad_top), cols = mcuf_min32(p->in_w, pw - p->pad_left);
    const int zp = -p->input_offset;
    const int32_t total = (int32_t)pw * ph + KXK_SLACK;
    if (rows <= 0 || cols < 32) {   /* narrow rows: one memset costs less than a gap per row */
        memset(plane, zp, (size_t)total);
        return;
    }
    const int32_t start = (int32_t)p->pad_top * pw + p->pad_left;   /* the first interior byte */
    memset(plane, zp, (size_t)start);
    int8_t *gap = plane + start + cols;                               /* a row's right, the next's left */
    const int g = pw - cols;
    const uint32_t z4 = (uint32_t)(uint8_t)zp * 0x01010101u;
    for (int y = 0; y + 1 < rows; ++y, gap += pw) {
        if (g > 8) {
            memset(gap, zp, (size_t)g);
        } else if (g >= 4) {   /* two words, overlapping where g < 8 */
            mcuf_write32(gap, z4);
            mcuf_write32(gap + g - 4, z4);
        } else if (g > 0) {    /* bytes 0, g - 1 and g / 2 cover g = 1..3 */
            gap[0] = (int8_t)zp;
            gap[g - 1] = (int8_t)zp;
            gap[g >> 1] = (int8_t)zp;
        }
    }
    memset(gap, zp, (size_t)(total - (gap - plane)));
}

/* input channel c into the plane's interior (the border already holds zero points) */
static void kxk_gather(const mcuf_conv_params *p, const int8_t *input, int c, int8_t *plane, int pw, int ph)
{
    const int32_t C = p->in_c, row_in = (int32_t)p->in_w * C;
    const int rows = mcuf_min32(p->in_h, ph - p->pad_top), cols = mcuf_min32(p->in_w, pw - p->pad_left);
    if (rows <= 0 || cols <= 0) {
        return;
    }
    const int8_t *s = input + c;
    int8_t *d = plane + (int32_t)p->pad_top * pw + p->pad_left;
    if (C == 1) {
#if MCUF_HAS_DSP
        if (cols >= 4 && (((uintptr_t)s | (uintptr_t)d | (uint32_t)row_in | (uint32_t)pw) & 3u) == 0) {
            kxk_copy_job j;
            j.src = s;
            j.dst = d;
            j.words = cols >> 2;
            j.rows = rows;
            j.src_step = row_in;
            j.dst_step = pw;
            kxk_copy_words(&j);
            if ((cols & 3) == 0) {
                return;
            }
            const int n0 = cols & ~3;
            for (int y = 0; y < rows; ++y, s += row_in, d += pw) {
                memcpy(d + n0, s + n0, (size_t)(cols - n0));
            }
            return;
        }
#endif
        for (int y = 0; y < rows; ++y, s += row_in, d += pw) {
            memcpy(d, s, (size_t)cols);
        }
        return;
    }
#if MCUF_HAS_DSP
    if (cols >= 4) {
        kxk_gather_job j;
        j.src = s;
        j.dst = d;
        j.bytes = cols & ~3;
        j.rows = rows;
        j.src_skip = row_in - j.bytes * C;
        j.dst_skip = pw - j.bytes;
        j.c = C;
        kxk_gather_words(&j);
        if ((cols & 3) == 0) {
            return;
        }
    }
    const int n0 = cols & ~3;
#else
    const int n0 = 0;
#endif
    for (int y = 0; y < rows; ++y, s += row_in, d += pw) {
        const int8_t *t = s + (int32_t)n0 * C;
        int n = n0;
        for (; n + 4 <= cols; n += 4, t += 4 * C) {
            mcuf_write32(d + n, (uint32_t)(uint8_t)t[0] | (uint32_t)(uint8_t)t[C] << 8 |
                                (uint32_t)(uint8_t)t[2 * C] << 16 | (uint32_t)(uint8_t)t[3 * C] << 24);
        }
        for (; n < cols; ++n, t += C) {
            d[n] = *t;
        }
    }
}

/* Four planes at once (in_c a multiple of 4, the four planes within KXK_QUAD_MAX_SCRATCH bytes:
 * small planes, where the one-channel gather's per-row set-up costs most): per row and 4
 * pixels one word of channels c..c+3 per pixel, transposed 4x4 into a word of each plane. */
#define KXK_QUAD_MAX_SCRATCH 4096
MCUF_INLINE int32_t kxk_plane_stride(const mcuf_conv_params *p)
{
    return ((int32_t)kxk_plane_w(p) * kxk_plane_h(p) + KXK_SLACK + 3) & ~3;
}
MCUF_INLINE int kxk_quad(const mcuf_conv_params *p)
{
    return p->in_c >= 4 && (p->in_c & 3) == 0 && 4 * kxk_plane_stride(p) <= KXK_QUAD_MAX_SCRATCH;
}

/* The 4x4 byte transpose: a, b, e, f (pixel words of channels 0..3) -> w_k = channel k of the
 * four pixels: ab_e = (a0, b0, a2, b2), ab_o = (a1, b1, a3, b3) (UXTB16, UXTAB16), likewise
 * ef, then PKHBT / PKHTB (14 instructions). */
MCUF_INLINE void kxk_transpose4(uint32_t a, uint32_t b, uint32_t e, uint32_t f, uint32_t *w0, uint32_t *w1,
                                uint32_t *w2, uint32_t *w3)
{
#if MCUF_HAS_DSP
    uint32_t ab_e, ab_o, ef_e, ef_o, t;
    __asm__("uxtb16 %[t], %[b]\n\t"
            "uxtb16 %[ae], %[a]\n\t"
            "orr %[ae], %[ae], %[t], lsl #8\n\t"
            "and %[t], %[b], #0xFF00FF00\n\t"
            "uxtab16 %[ao], %[t], %[a], ror #8\n\t"
            "uxtb16 %[t], %[f]\n\t"
            "uxtb16 %[ee], %[e]\n\t"
            "orr %[ee], %[ee], %[t], lsl #8\n\t"
            "and %[t], %[f], #0xFF00FF00\n\t"
            "uxtab16 %[eo], %[t], %[e], ror #8\n\t"
            : [ae] "=&r"(ab_e), [ao] "=&r"(ab_o), [ee] "=&r"(ef_e), [eo] "=&r"(ef_o), [t] "=&r"(t)
            : [a] "r"(a), [b] "r"(b), [e] "r"(e), [f] "r"(f));
    uint32_t r0, r1, r2, r3;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r0) : "r"(ab_e), "r"(ef_e));
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r1) : "r"(ab_o), "r"(ef_o));
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r2) : "r"(ef_e), "r"(ab_e));
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r3) : "r"(ef_o), "r"(ab_o));
    *w0 = r0;
    *w1 = r1;
    *w2 = r2;
    *w3 = r3;
#else
    const uint32_t ab_e = (a & 0x00FF00FFu) | (b & 0x00FF00FFu) << 8;
    const uint32_t ab_o = (a >> 8 & 0x00FF00FFu) | (b & 0xFF00FF00u);
    const uint32_t ef_e = (e & 0x00FF00FFu) | (f & 0x00FF00FFu) << 8;
    const uint32_t ef_o = (e >> 8 & 0x00FF00FFu) | (f & 0xFF00FF00u);
    *w0 = (ab_e & 0xFFFFu) | ef_e << 16;
    *w1 = (ab_o & 0xFFFFu) | ef_o << 16;
    *w2 = ab_e >> 16 | (ef_e & 0xFFFF0000u);
    *w3 = ab_o >> 16 | (ef_o & 0xFFFF0000u);
#endif
}

#if MCUF_HAS_DSP
/* The four-plane gather's whole words in assembly: per 4 pixels of a row the words of channels
 * c..c+3 at 0, C, 2C, 3C (r0, r1, r2, r3), transposed (kxk_transpose4: UXTB16, UXTAB16, ORR,
 * PKHBT / PKHTB) and stored to the four planes: 28 instructions per 4 pixels, 8 per row.
 * Registers: r0-r4 the words and scratch, r5 / r6 the source at 0 / 2C, r7 C, r8 / r9 the
 * planes 0 / 2 (planes 1 / 3 at + ps), r10 ps, r11 the row's end in plane 0, ip the job's
 * skips, lr the rows left. */
typedef struct {
    const int8_t *src;   /* 0: channel c of the first interior row's first pixel */
    int32_t c;           /* 4: C */
    int8_t *dst;         /* 8: plane 0's first interior byte */
    int32_t ps;          /* 12: the planes' stride (kxk_plane_stride) */
    int32_t src_skip;    /* 16: in_w * C - bytes * C */
    int32_t dst_skip;    /* 20: pw - bytes */
    int32_t bytes;       /* 24: whole words per row, in bytes (>= 4) */
    int32_t rows;        /* 28: >= 1 */
} kxk_gather4_job;

__attribute__((naked)) static void kxk_gather4_words(__attribute__((unused)) const kxk_gather4_job *job)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "ldmia r0, {r5, r7, r8, r10}\n\t"
        "ldr lr, [r0, #28]\n\t"
        "add ip, r0, #16\n\t"
        "add r6, r5, r7, lsl #1\n\t"
        "add r9, r8, r10, lsl #1\n\t"
        "ldr r11, [r0, #24]\n\t"
        "add r11, r8, r11\n\t"
        "1:\n\t"
        "ldr r0, [r5]\n\t"
        "ldr r1, [r5, r7]\n\t"
        "ldr r2, [r6]\n\t"
        "ldr r3, [r6, r7]\n\t"
        "add r5, r5, r7, lsl #2\n\t"
        "add r6, r6, r7, lsl #2\n\t"
        "uxtb16 r4, r1\n\t"
        "and r1, r1, #0xFF00FF00\n\t"
        "uxtab16 r1, r1, r0, ror #8\n\t"       /* (a1, b1, a3, b3) */
        "uxtb16 r0, r0\n\t"
        "orr r0, r0, r4, lsl #8\n\t"           /* (a0, b0, a2, b2) */
        "uxtb16 r4, r3\n\t"
        "and r3, r3, #0xFF00FF00\n\t"
        "uxtab16 r3, r3, r2, ror #8\n\t"       /* (e1, f1, e3, f3) */
        "uxtb16 r2, r2\n\t"
        "orr r2, r2, r4, lsl #8\n\t"           /* (e0, f0, e2, f2) */
        "pkhbt r4, r0, r2, lsl #16\n\t"
        "str r4, [r8]\n\t"
        "pkhtb r4, r2, r0, asr #16\n\t"
        "str r4, [r9]\n\t"
        "pkhbt r4, r1, r3, lsl #16\n\t"
        "str r4, [r8, r10]\n\t"
        "pkhtb r4, r3, r1, asr #16\n\t"
        "str r4, [r9, r10]\n\t"
        "adds r8, r8, #4\n\t"
        "adds r9, r9, #4\n\t"
        "cmp r8, r11\n\t"
        "bne 1b\n\t"
        "ldmia ip, {r0, r1, r2}\n\t"
        "add r5, r5, r0\n\t"
        "add r6, r6, r0\n\t"
        "add r8, r8, r1\n\t"
        "add r9, r9, r1\n\t"
        "add r11, r8, r2\n\t"
        "subs lr, lr, #1\n\t"
        "bne 1b\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}
#endif

/* input channels c..c+3 into the interiors of planes plane, plane + ps, + 2 ps, + 3 ps */
static void kxk_gather4(const mcuf_conv_params *p, const int8_t *input, int c, int8_t *plane, int32_t ps,
                        int pw, int ph)
{
    const int32_t C = p->in_c, row_in = (int32_t)p->in_w * C;
    const int rows = mcuf_min32(p->in_h, ph - p->pad_top), cols = mcuf_min32(p->in_w, pw - p->pad_left);
    if (rows <= 0 || cols <= 0) {
        return;
    }
    const int8_t *s = input + c;
    int8_t *d = plane + (int32_t)p->pad_top * pw + p->pad_left;
    int n0 = 0;
#if MCUF_HAS_DSP
    if (cols >= 4) {   /* the whole words in assembly */
        const int32_t bytes = cols & ~3;
        kxk_gather4_job j;
        j.src = s;
        j.c = C;
        j.dst = d;
        j.ps = ps;
        j.src_skip = row_in - bytes * C;
        j.dst_skip = pw - bytes;
        j.bytes = bytes;
        j.rows = rows;
        kxk_gather4_words(&j);
        if (bytes == cols) {
            return;
        }
        n0 = bytes;
    }
#endif
    for (int y = 0; y < rows; ++y, s += row_in, d += pw) {
        const int8_t *t = s + (int32_t)n0 * C;
        int n = n0;
        for (; n + 4 <= cols; n += 4, t += 4 * C) {
            const uint32_t a = mcuf_read32(t), b = mcuf_read32(t + C), e = mcuf_read32(t + 2 * C),
                           f = mcuf_read32(t + 3 * C);
            uint32_t w0, w1, w2, w3;
            kxk_transpose4(a, b, e, f, &w0, &w1, &w2, &w3);
            mcuf_write32(d + n, w0);
            mcuf_write32(d + ps + n, w1);
            mcuf_write32(d + 2 * ps + n, w2);
            mcuf_write32(d + 3 * ps + n, w3);
        }
        for (; n < cols; ++n, t += C) {
            d[n] = t[0];
            d[ps + n] = t[1];
            d[2 * ps + n] = t[2];
            d[3 * ps + n] = t[3];
        }
    }
}

MCUF_INLINE void kxk_channels(const mcuf_conv_params *p, const int8_t *input, const int16_t *filter,
                              const int32_t *bias_folded, const int32_t *multiplier, const int8_t *shift,
                              int8_t *output, int16_t *scratch, const int all_fast, const int quad)
{
    const int pw = kxk_plane_w(p), ph = kxk_plane_h(p), K = p->k_h;
    const int words = K * 2 * ((K + 3) / 4);   /* weight words per output channel */
    int8_t *const planes = (int8_t *)(void *)scratch;
    const int32_t ps = kxk_plane_stride(p);
    kxk_border(p, planes, pw, ph);
    if (quad) {
        for (int k = 1; k < 4; ++k) {
            kxk_border(p, planes + k * ps, pw, ph);
        }
    }
    const int full_range = p->act_min == -128 && p->act_max == 127;
    const mcuf_out_stage fast = mcuf_out_stage_of(p, 1), general = mcuf_out_stage_of(p, 0);
    const int M = p->out_c / p->in_c;
    const uint32_t *w = (const uint32_t *)(const void *)filter;
    /* 3x3 at stride_w 2 on a word-aligned plane (as the planner places scratch): the two-channel
     * pair run in assembly (DSP builds) */
    const int pair_run = MCUF_HAS_DSP && K == 3 && p->stride_w == 2 && p->out_w >= 2 &&
                         ((uintptr_t)planes & 3u) == 0;
    for (int ic = 0; ic < p->in_c; ++ic) {
        int8_t *plane = planes;
        if (!quad) {
            kxk_gather(p, input, ic, plane, pw, ph);
        } else {
            if ((ic & 3) == 0) {
                kxk_gather4(p, input, ic, planes, ps, pw, ph);
            }
            plane += (ic & 3) * ps;
        }
        for (int c = ic * M; c < (ic + 1) * M; ++c, w += words) {
            if (pair_run && c + 1 < (ic + 1) * M
                && (all_fast || (full_range && mcuf_requant_is_fast(shift[c]) && mcuf_requant_is_fast(shift[c + 1])))) {
                /* two output channels of the plane at once (a depth multiplier above 1) */
                kxk_channel2_fast3(p, plane, pw, w, bias_folded + c, mcuf_requant_at(fast, multiplier, shift, c),
                                   mcuf_requant_at(fast, multiplier, shift, c + 1), output + c);
                ++c;
                w += words;
                continue;
            }
            if (all_fast || (full_range && mcuf_requant_is_fast(shift[c]))) {
                const mcuf_requant q = mcuf_requant_at(fast, multiplier, shift, c);
                if (K == 5) {
                    kxk_channel_fast5(p, plane, pw, w, bias_folded[c], q, output + c);
                } else if (K == 7) {
                    kxk_channel_fast7(p, plane, pw, w, bias_folded[c], q, output + c);
                } else {
                    kxk_channel_fast3(p, plane, pw, w, bias_folded[c], q, output + c);
                }
            } else {
                kxk_channel_general(p, plane, pw, w, bias_folded[c],
                                    mcuf_requant_at(general, multiplier, shift, c), output + c);
            }
        }
    }
}

/* Every channel on the fast output stage (the generator's choice where every channel has fast
 * constants and the activation range is all of int8). */
void mcuf_depthwise_conv_kxk_plane_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                               const int16_t *filter, const int32_t *bias_folded,
                                               const int32_t *multiplier, const int8_t *shift,
                                               int8_t *output, int16_t *scratch)
{
    if (kxk_quad(p)) {   /* two copies: the one-plane loop as lean as before */
        kxk_channels(p, input, filter, bias_folded, multiplier, shift, output, scratch, 1, 1);
    } else {
        kxk_channels(p, input, filter, bias_folded, multiplier, shift, output, scratch, 1, 0);
    }
}

/* The output stage chosen per channel (a clamped range or formula channels: the general one). */
void mcuf_depthwise_conv_kxk_plane_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                          const int16_t *filter, const int32_t *bias_folded,
                                          const int32_t *multiplier, const int8_t *shift, int8_t *output,
                                          int16_t *scratch)
{
    kxk_channels(p, input, filter, bias_folded, multiplier, shift, output, scratch, 0, kxk_quad(p));
}
