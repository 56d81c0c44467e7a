/* 1x1 CONV_2D with c = 2, 3 or 4 input channels per group (grouped, or dense with in_c = c),
 * fast output stage, any stride, no padding (generator: _few_1x1_takes, _few_1x1_records in
 * codegen/ops/convolution.py; stream layout in mcuf_nn.h).
 *
 * c 3 and 4: two pixels at a time, A and B = A + d bytes; c 2: three, A, B and C = A + 2 d.
 * Per block (a group, or L of its channels) one word of each pixel: A's (and c 2's B's) read
 * forward at the group's first byte, the last pixel's backward (its word ends at the group's
 * last byte), so none leaves the group of pixels' bytes: a forward word ends at most 4 - c bytes
 * past its group, inside the next pixel's (d >= in_c >= c), the backward one starts at most
 * 4 - c bytes before, inside the previous pixel's. Widened once per block (6 instructions, c 2 9):
 *   c 2: PKHBT / PKHTB + SXTB16 give (x0, x1) of A, B and C: one SMLAD per output;
 *   c 3: SXTB16 gives (x0, x2) of each, PKHBT + SXTB16 (x1 of A, x1 of B): SMLAD + SMLAxT;
 *   c 4: (x0, x2) (x1, x3) of each: two SMLAD.
 * then L channel units, run straight from the (skip + 1)-th of MCUF_G1_FEW_MAX_OC units: one LDM
 * of the channel's record (its doubled biases, one per pixel, are the accumulators), the MACs of
 * every pixel, SMMLAR, the sign correction, ASR, SSAT and STRB for each: 19 instructions for 3
 * outputs (c 2), 15 (c 3) or 16 (c 4) for 2; 8 more per block (CBNZ, widening, dispatch; c 2
 * 11), 6 (c 2 and 3) or 8 (c 4) per group of pixels.
 * The output stage is the floor: TFLite's rounding (SRDHM's half up, then the shift's half away
 * from zero) makes the result's step at v = SRDHM(acc) < 0 one unit of v, which only a sign
 * correction at v's scale (before a per-channel shift) gives exactly; SSAT's shift is an
 * immediate, so the per-channel shift stays an ASR.
 * The groups of pixels of a row (or of the whole plane at stride 1, or of the column when out_w
 * is 1) run in one call; when the group size does not divide the count, the last group is the
 * last pixels (the ones before computed twice, the same bytes stored again); c 2's lines of 2
 * pixels run in C.
 * In place (pixel_ordered: codegen/planner.py puts the input at pixels * (out_c - in_c) + 2 in_c
 * bytes into the output, stride 1): output pixel j overwrites at most input pixels <= j - 2, so
 * a triple's C writes over A only, and block g's stores there land on A's bytes below
 * (g + 1) * c, which this block's (and every earlier block's) widening has read; a group split
 * in several blocks has L >= 9 > c, whose stores stay below A. Every block loads its words
 * before its first store (the C copies below too).
 * Same results as mcuf_conv_grouped_s8_dsp_fast, byte for byte. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

/* The unrolled inline assembly below is one string literal longer than the 4,095 characters
 * C99 asks compilers to support; gcc and clang take it, so -pedantic's warning is off here. */
#pragma GCC diagnostic ignored "-Woverlength-strings"

typedef struct {   /* in this order: the assembly loads it with one LDM */
    const int32_t *stream;
    const int8_t *in;   /* the first pair's pixel A */
    int8_t *out;        /* its outputs (B's out_c bytes later) */
    int32_t pairs;      /* >= 1 */
    int32_t in_step;    /* 2 d: the next pair's pixel A */
    int32_t out_c;
} few_job;

typedef void (*few_fn)(const few_job *);

/* every pixel group of the layer (pairs, or triples for c 2): lines of groups (the whole plane at
 * stride 1), or the column; a line of n pixels runs n / npix groups in one call and, when npix
 * does not divide n, its last npix pixels (the ones before recomputed, the same bytes stored
 * again); a line shorter than npix (2 pixels at npix 3) goes to `small` as one pair */
static void few_run(const mcuf_conv_params *p, const int8_t *input, const int32_t *packed, int8_t *output,
                    few_fn run, int32_t npix, few_fn small)
{
    const int32_t C = p->in_c, OC = p->out_c;
    few_job j;
    j.stream = packed;
    j.out_c = OC;
    int32_t lines, n, d, line_in, line_out;   /* lines of n pixels, d bytes apart */
    if (p->stride_h == 1 && p->stride_w == 1) {   /* the plane is one line */
        lines = 1;
        n = (int32_t)p->out_h * p->out_w;
        d = C;
        line_in = line_out = 0;
    } else if (p->out_w >= 2) {
        lines = p->out_h;
        n = p->out_w;
        d = (int32_t)p->stride_w * C;
        line_in = (int32_t)p->stride_h * p->in_w * C;
        line_out = (int32_t)p->out_w * OC;
    } else {
        lines = 1;
        n = p->out_h;
        d = (int32_t)p->stride_h * p->in_w * C;
        line_in = line_out = 0;
    }
    if (n < npix) {   /* n = 2 < 3: one pair a line */
        npix = 2;
        run = small;
    }
    const int32_t groups = n / npix, rest = n % npix;
    j.in_step = npix * d;
    for (int32_t l = 0; l < lines; ++l) {
        const int8_t *in = input + l * line_in;
        int8_t *out = output + l * line_out;
        j.in = in;
        j.out = out;
        j.pairs = groups;
        run(&j);
        if (rest) {   /* the last npix pixels */
            j.in = in + (n - npix) * d;
            j.out = out + (n - npix) * OC;
            j.pairs = 1;
            run(&j);
        }
    }
}

/* c 2 in C: npix pixels (2 or 3) per group of the job, their bytes at the block header's A, B
 * and C offsets (C's read backward: its first byte 2 bytes on); the lines shorter than 3 pixels
 * of the DSP build, and every line of the build without it */
static void few2_generic(const few_job *j, const int npix)
{
    const int L = MCUF_G1_FEW_MAX_OC - j->stream[0];
    for (int32_t n = 0; n < j->pairs; ++n) {
        const int8_t *in = j->in + n * j->in_step;
        int8_t *o = j->out + n * npix * j->out_c;
        const int32_t *r = j->stream + 1;
        while (r[2] != 0) {   /* not the end block */
            const int32_t off[3] = {r[0], r[1], r[2] + 2};   /* each pixel's group's first byte */
            int32_t x0[3], x1[3];   /* read before the block's first store, as the assembly */
            for (int q = 0; q < npix; ++q) {
                x0[q] = in[off[q]];
                x1[q] = in[off[q] + 1];
            }
            r += 3;
            for (int k = 0; k < L; ++k, r += 7, ++o) {
                const int32_t w0 = (int16_t)r[0], w1 = (int16_t)((uint32_t)r[0] >> 16);
                for (int q = 0; q < npix; ++q) {
                    const int32_t acc = r[2 + q] + x0[q] * w0 + x1[q] * w1;
                    o[q * j->out_c] = (int8_t)mcuf_ssat8((mcuf_smmlar(acc, r[5], r[6]) + (acc >> 31))
                                                         >> (r[1] & 0xFF));
                }
            }
        }
    }
}
static void few_c2_pair(const few_job *j) { few2_generic(j, 2); }

#if MCUF_HAS_DSP
/* y = (SMMLAR(acc, m, round) + (acc >> 31)) >> (b + 1), saturated; B's at [r2, lr], A's at r2++ */
#define FEW_OUT(A, B, T, U, M, RND, SH)                                                 \
    "smmlar " T ", " A ", " M ", " RND "\n\t"                                           \
    "add " T ", " T ", " A ", asr #31\n\t"                                              \
    "smmlar " U ", " B ", " M ", " RND "\n\t"                                           \
    "add " U ", " U ", " B ", asr #31\n\t"                                              \
    "asr.w " T ", " T ", " SH "\n\t"                                                    \
    "asr.w " U ", " U ", " SH "\n\t"                                                    \
    "ssat " T ", #8, " T "\n\t"                                                         \
    "ssat " U ", #8, " U "\n\t"                                                         \
    "strb " U ", [r2, lr]\n\t"                                                          \
    "strb " T ", [r2], #1\n\t"

/* c 3: record r6 (w0, w2), r7 b + 1 | w1 << 16, r8 r9 the accumulators, r10 m, r11 round */
#define FEW3_MAC                                                                        \
    "smlad r8, r3, r6, r8\n\t"                                                          \
    "smlad r9, r4, r6, r9\n\t"                                                          \
    "smlabt r8, r5, r7, r8\n\t"                                                         \
    "smlatt r9, r5, r7, r9\n\t" FEW_OUT("r8", "r9", "r6", "r8", "r10", "r11", "r7")
#define FEW23_LDM "ldmia r0!, {r6, r7, r8, r9, r10, r11}\n\t"
#define FEW23_HEAD "ldmia r0!, {r3, r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
/* c 4: record r7 (w0, w2), r8 (w1, w3), r9 r10 the accumulators, r11 m, ip round, then b + 1 */
#define FEW4_MAC                                                                        \
    "smlad r9, r3, r7, r9\n\t"                                                          \
    "smlad r9, r5, r8, r9\n\t"                                                          \
    "smlad r10, r4, r7, r10\n\t"                                                        \
    "smlad r10, r6, r8, r10\n\t"                                                        \
    "ldr r8, [r0], #4\n\t" FEW_OUT("r9", "r10", "r7", "r9", "r11", "ip", "r8")
#define FEW4_LDM "ldmia r0!, {r7, r8, r9, r10, r11, ip}\n\t"
#define FEW4_HEAD "ldmia r0!, {r3, r4, r5, r7, r8, r9, r10, r11, ip}\n\t"

/* c 2, three pixels A, B = A + d, C = A + 2 d: record r6 (w0, w1), r7 b + 1, r8 r9 r10 the
 * accumulators, r11 m, ip round; r3 r4 r5 the pixels' (x0, x1); outputs at [r2], [r2, lr],
 * [r2, lr, lsl #1]: 19 instructions for 3 outputs */
#define FEW2T_MAC                                                                       \
    "smlad r8, r3, r6, r8\n\t"                                                          \
    "smlad r9, r4, r6, r9\n\t"                                                          \
    "smlad r10, r5, r6, r10\n\t"                                                        \
    "smmlar r6, r8, r11, ip\n\t"                                                        \
    "add r6, r6, r8, asr #31\n\t"                                                       \
    "smmlar r8, r9, r11, ip\n\t"                                                        \
    "add r8, r8, r9, asr #31\n\t"                                                       \
    "smmlar r9, r10, r11, ip\n\t"                                                       \
    "add r9, r9, r10, asr #31\n\t"                                                      \
    "asr.w r6, r6, r7\n\t"                                                              \
    "asr.w r8, r8, r7\n\t"                                                              \
    "asr.w r9, r9, r7\n\t"                                                              \
    "ssat r6, #8, r6\n\t"                                                               \
    "ssat r8, #8, r8\n\t"                                                               \
    "ssat r9, #8, r9\n\t"                                                               \
    "strb r8, [r2, lr]\n\t"                                                             \
    "strb r9, [r2, lr, lsl #1]\n\t"                                                     \
    "strb r6, [r2], #1\n\t"
#define FEW2T_LDM "ldmia r0!, {r6, r7, r8, r9, r10, r11, ip}\n\t"
/* the block header: A's, B's offsets (read forward), C's (backward: its word ends at C's group's
 * last byte; 0 on the end block, whose A and B words are in_step and the rewind) */
#define FEW2T_HEAD "ldmia r0!, {r3, r4, r5, r6, r7, r8, r9, r10, r11, ip}\n\t"
#define FEW2T_PREP                                                                      \
    "ldr r3, [r1, r3]\n\t"                                                              \
    "ldr r4, [r1, r4]\n\t"                                                              \
    "ldr r5, [r1, r5]\n\t"                                                              \
    "pkhbt r3, r3, r3, lsl #8\n\t"   /* x0 x1 x1 . */                                   \
    "pkhbt r4, r4, r4, lsl #8\n\t"                                                      \
    "pkhtb r5, r5, r5, asr #8\n\t"   /* . z0 z0 z1 */                                   \
    "sxtb16 r3, r3\n\t"                                                                 \
    "sxtb16 r4, r4\n\t"                                                                 \
    "sxtb16 r5, r5, ror #8\n\t"

#define FEW3_PREP                                                                       \
    "ldr r3, [r1, r3]\n\t"                                                              \
    "ldr r4, [r1, r4]\n\t"                                                              \
    "pkhbt r5, r3, r4, lsl #8\n\t"   /* x0 x1 y0 y1 */                                  \
    "sxtb16 r3, r3\n\t"                                                                 \
    "sxtb16 r4, r4, ror #8\n\t"                                                         \
    "sxtb16 r5, r5, ror #8\n\t"
#define FEW4_PREP                                                                       \
    "ldr r3, [r1, r3]\n\t"                                                              \
    "ldr r4, [r1, r4]\n\t"                                                              \
    "sxtb16 r5, r3, ror #8\n\t"                                                         \
    "sxtb16 r3, r3\n\t"                                                                 \
    "sxtb16 r6, r4, ror #8\n\t"                                                         \
    "sxtb16 r4, r4\n\t"

#define FEW_X2(u) u u
#define FEW_X4(u) FEW_X2(u) FEW_X2(u)
/* MCUF_G1_FEW_MAX_OC = 16 units: 15 (MAC, LDM), then the last MAC */
#define FEW_CHAIN(MAC, LDM)                                                             \
    "11:\n\t" MAC LDM "12:\n\t" FEW_X4(MAC LDM) FEW_X4(MAC LDM) FEW_X4(MAC LDM)         \
    FEW_X2(MAC LDM) MAC

/* The pair's end (at 3:, after the end block's header): c 2 and 3 count the pairs in ip (free
 * in their chains) and take in_step (r3) and the stream's rewind to its first block (r4, a
 * negative byte count) from the end header; c 4 (ip in its records) keeps them in the frame. */
#define FEW23_INIT "mov ip, r7\n\t"
#define FEW23_TAIL                                                                      \
    "add r1, r1, r3\n\t"                                                              \
    "add r2, r2, lr\n\t"                         /* past B's outputs */               \
    "add r0, r0, r4\n\t"                                                              \
    "subs ip, ip, #1\n\t"                                                             \
    "bne 1b\n\t"
#define FEW4_INIT ""
#define FEW4_TAIL                                                                       \
    "ldrd r3, r4, [sp, #8]\n\t"                                                       \
    "add r1, r1, r3\n\t"                                                              \
    "add r2, r2, lr\n\t"                         /* past B's outputs */               \
    "subs r4, r4, #1\n\t"                                                             \
    "str r4, [sp, #12]\n\t"                                                           \
    "ldr r0, [sp, #4]\n\t"                                                            \
    "bne 1b\n\t"

/* the chain's entry for r9 = skip: the (skip + 1)-th unit's Thumb address into the frame's
 * first word (r10, r11 scratch) */
#define FEW_ENTRY                                                                       \
    ".p2align 2\n\t"   /* ADR is relative to Align(PC, 4): the section word aligned (-Os) */ \
    "adr.w r10, 11f\n\t"                                                                \
    "adr.w r11, 12f\n\t"                                                                \
    "sub r11, r11, r10\n\t"                                                             \
    "mla r10, r11, r9, r10\n\t"              /* the (skip + 1)-th unit */               \
    "orr r10, r10, #1\n\t"                                                              \
    "str r10, [sp]\n\t"

/* Registers: r0 the stream, r1 pixel A, r2 its outputs, lr out_c, r3-r6 the inputs (first the
 * block's offsets and r5 its end flag: 1 for the end block, read by CBNZ before the widening
 * overwrites it), the rest a record. Frame: the chain's entry (Thumb address), the stream's
 * first block, in_step, pairs left. */
#define FEW_BODY(PREP, MAC, LDM, HEAD, INIT, TAIL)                                                  \
    __asm__ volatile(                                                                   \
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                               \
        "sub sp, sp, #16\n\t"                                                           \
        "ldmia r0, {r4, r5, r6, r7, r8, lr}\n\t" /* stream in out pairs in_step out_c */ \
        "mov r1, r5\n\t"                                                                \
        "mov r2, r6\n\t"                                                                \
        "ldr r9, [r4], #4\n\t"                   /* skip */                             \
        "str r4, [sp, #4]\n\t"                                                          \
        "strd r8, r7, [sp, #8]\n\t"                                                     \
        FEW_ENTRY                                                                       \
        "mov r0, r4\n\t" INIT                                                          \
        "1:\n\t" HEAD PREP                                                              \
        "ldr pc, [sp]\n\t"                                                              \
        FEW_CHAIN(MAC, LDM)                                                             \
        HEAD                                                                            \
        "cbnz r5, 3f\n\t"                        /* the end block: the pair's end */    \
        PREP                                                                            \
        "ldr pc, [sp]\n\t"                                                              \
        "3:\n\t" TAIL                                                                   \
        "add sp, sp, #16\n\t"                                                           \
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t")

/* c 2's triples: as FEW_BODY with three pixels; the frame's fourth word is the job's end (its
 * last triple's outputs' end), the pair count's stand-in */
#define FEW2T_BODY                                                                      \
    __asm__ volatile(                                                                   \
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                               \
        "sub sp, sp, #16\n\t"                                                           \
        "ldmia r0, {r4, r5, r6, r7, r8, lr}\n\t" /* stream in out triples in_step out_c */ \
        "mov r1, r5\n\t"                                                                \
        "mov r2, r6\n\t"                                                                \
        "add r8, lr, lr, lsl #1\n\t"                                                    \
        "mla r8, r8, r7, r6\n\t"                 /* out + triples * 3 out_c */          \
        "ldr r9, [r4], #4\n\t"                   /* skip */                             \
        "str r8, [sp, #12]\n\t"                                                         \
        FEW_ENTRY                                                                       \
        "mov r0, r4\n\t"                                                                \
        "1:\n\t" FEW2T_HEAD FEW2T_PREP                                                  \
        "ldr pc, [sp]\n\t"                                                              \
        FEW_CHAIN(FEW2T_MAC, FEW2T_LDM)                                                 \
        FEW2T_HEAD                                                                      \
        "cbz r5, 3f\n\t"                         /* the end block: the triple's end */  \
        FEW2T_PREP                                                                      \
        "ldr pc, [sp]\n\t"                                                              \
        "3:\n\t"                                                                        \
        "add r1, r1, r3\n\t"                     /* in_step */                          \
        "add r2, r2, lr, lsl #1\n\t"             /* past C's outputs */                 \
        "add r0, r0, r4\n\t"                     /* the first block */                  \
        "ldr r3, [sp, #12]\n\t"                                                         \
        "cmp r2, r3\n\t"                                                                \
        "bne 1b\n\t"                                                                    \
        "add sp, sp, #16\n\t"                                                           \
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t")

__attribute__((naked)) static void few_c2(__attribute__((unused)) const few_job *j)
{
    FEW2T_BODY;
}
__attribute__((naked)) static void few_c3(__attribute__((unused)) const few_job *j)
{
    FEW_BODY(FEW3_PREP, FEW3_MAC, FEW23_LDM, FEW23_HEAD, FEW23_INIT, FEW23_TAIL);
}
__attribute__((naked)) static void few_c4(__attribute__((unused)) const few_job *j)
{
    FEW_BODY(FEW4_PREP, FEW4_MAC, FEW4_LDM, FEW4_HEAD, FEW4_INIT, FEW4_TAIL);
}
#else
/* the same in C (builds without the DSP extension) */
MCUF_INLINE int8_t few_out(int32_t acc, int32_t m, int32_t rnd, int32_t sh)
{
    return (int8_t)mcuf_ssat8((mcuf_smmlar(acc, m, rnd) + (acc >> 31)) >> (sh & 0xFF));
}

static void few_generic(const few_job *j, const int c)
{
    const int L = MCUF_G1_FEW_MAX_OC - j->stream[0];
    const int words = c == 4 ? 7 : 6;
    for (int32_t n = 0; n < j->pairs; ++n) {
        const int8_t *in = j->in + n * j->in_step;
        int8_t *o = j->out + n * 2 * j->out_c;
        const int32_t *r = j->stream + 1;
        for (;;) {
            if (r[2]) {   /* the end block */
                break;
            }
            const int8_t *a = in + r[0], *b = in + r[1] + (4 - c);   /* b: B's first channel */
            r += 3;
            for (int k = 0; k < L; ++k, r += words, ++o) {
                int32_t acc_a = r[2], acc_b = r[3];
                const int16_t w0 = (int16_t)r[0], wh = (int16_t)(r[0] >> 16);
                if (c == 2) {
                    acc_a += a[0] * w0 + a[1] * wh;
                    acc_b += b[0] * w0 + b[1] * wh;
                } else {
                    const int16_t w1 = (int16_t)(c == 3 ? r[1] >> 16 : r[1]);
                    acc_a += a[0] * w0 + a[1] * w1 + a[2] * wh;
                    acc_b += b[0] * w0 + b[1] * w1 + b[2] * wh;
                    if (c == 4) {
                        const int16_t w3 = (int16_t)(r[1] >> 16);
                        acc_a += a[3] * w3;
                        acc_b += b[3] * w3;
                    }
                }
                const int32_t sh = c == 4 ? r[6] : r[1];
                o[j->out_c] = few_out(acc_b, r[4], r[5], sh);
                o[0] = few_out(acc_a, r[4], r[5], sh);
            }
        }
    }
}
static void few_c2(const few_job *j) { few2_generic(j, 3); }
static void few_c3(const few_job *j) { few_generic(j, 3); }
static void few_c4(const few_job *j) { few_generic(j, 4); }
#endif

void mcuf_conv_1x1_few_c2_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                      const int32_t *packed, int8_t *output)
{
    few_run(p, input, packed, output, few_c2, 3, few_c2_pair);
}

void mcuf_conv_1x1_few_c3_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                      const int32_t *packed, int8_t *output)
{
    few_run(p, input, packed, output, few_c3, 2, few_c3);
}

void mcuf_conv_1x1_few_c4_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                      const int32_t *packed, int8_t *output)
{
    few_run(p, input, packed, output, few_c4, 2, few_c4);
}
