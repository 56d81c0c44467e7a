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
 * taps consecutive); for the fast entry points then the output table of the assembly (the
 * biases and output constants per group of 4 channels, see mcuf_nn.h), and with a channel tail
 * (C % 4, C > 4, run as one more group over the last 4 channels) their weights and table;
 * bias_folded: [C4] (zero beyond C). Same results as mcuf_depthwise_conv_s8, byte for byte. */
#include <string.h>

#include "mcuf_dsp.h"
#include "mcuf_nn.h"

/* The unrolled inline assembly below is one string literal longer than the 4,095 characters
 * C99 asks compilers to support; gcc and clang take it, so -pedantic's warning is off here. */
#pragma GCC diagnostic ignored "-Woverlength-strings"

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
            out[c + i] = mcuf_out_x2(o, acc[i], &q);
        }
    }
}


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
        out[c] = mcuf_out_x2(o, a0, &q0);
        q0 = mcuf_requant_at(o, multiplier, shift, c + 1);
        out[c + 1] = mcuf_out_x2(o, a1, &q0);
        q0 = mcuf_requant_at(o, multiplier, shift, c + 2);
        out[c + 2] = mcuf_out_x2(o, a2, &q0);
        q0 = mcuf_requant_at(o, multiplier, shift, c + 3);
        out[c + 3] = mcuf_out_x2(o, a3, &q0);
    }
    if (C4 < C) {
        pixel(p, input, iy0, ix0, inside, C4, filter, bias_folded, multiplier, shift, out, fast);
    }
}

#if MCUF_HAS_DSP
/* The unrolled 3x3 path's whole groups with the fast output stage, in Armv7E-M assembly (gcc
 * spills the C version's pointers around its accumulators: about 4.4 instructions per MAC
 * against about 3.7 here). Per group of four channels: the biases (LDM), nine taps of
 * LDR tap, LDR input word, LDRD weights, 2 SXTB16, 4 SMLAxy (81 instructions for 36 MACs),
 * then mcuf_out_fast2 on the four doubled accumulators and four byte stores.
 * Tap t's input word of the group is at tab[t] + cur: for a pixel inside the input tab holds
 * the taps' byte offsets and cur the window's address; for a border pixel tab holds each
 * tap's address (or the zero-point row's) and cur the group's channel offset. cur advances
 * by 4 per group up to job->end; the output table is read from job->otab on (group by group),
 * the output bytes go to cur + job->d. At least one group (114 instructions for 36 MACs).
 * Registers: r4-r7 accumulators (then outputs), r8/r9 input pair, r10/r11 weights (then
 * r8-r10 a channel's output record), r0 job, r1 cur, r2 weights, r3 tab, r12 the output
 * table, lr output-stage temporary and pointers. */
typedef struct {
    const int32_t *bias;        /* +0 */
    const int32_t *otab;        /* +4: the output table (mcuf_hwc_out_table), group by group */
    intptr_t unused;            /* +8 */
    intptr_t d;                 /* +12: the output minus cur (both advance by 4) */
    intptr_t end;               /* +16 */
} dw3_job;

#define DW3_TAP(k)                                                                   \
    "ldr r8, [r3, #" #k "*4]\n\t"                                                    \
    "ldr r8, [r8, r1]\n\t"                                                           \
    "ldrd r10, r11, [r2], #8\n\t"                                                    \
    "sxtb16 r9, r8\n\t"                                                              \
    "sxtb16 r8, r8, ror #8\n\t"                                                      \
    "smlabb r4, r9, r10, r4\n\t"                                                     \
    "smlatt r6, r9, r10, r6\n\t"                                                     \
    "smlabb r5, r8, r11, r5\n\t"                                                     \
    "smlatt r7, r8, r11, r7\n\t"

/* acc (doubled) -> (SMMLAR(acc, m, round) + (acc >> 31)) >> b, SSAT #8 ASR #1, with the
 * channel's output-table record (m, round, b) at r12 (advanced) */
#define DW3_OUT(acc)                                                                 \
    "ldmia r12!, {r8, r9, r10}\n\t"                                                  \
    "smmlar lr, " acc ", r8, r9\n\t"                                                 \
    "add lr, lr, " acc ", asr #31\n\t"                                               \
    "asr lr, lr, r10\n\t"                                                            \
    "ssat " acc ", #8, lr, asr #1\n\t"

__attribute__((naked, noinline)) static void dw3_groups_fast(__attribute__((unused)) dw3_job *job,
                                                             __attribute__((unused)) intptr_t cur,
                                                             __attribute__((unused)) const uint32_t *w,
                                                             __attribute__((unused)) const intptr_t *tab)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "ldr r12, [r0, #4]\n\t"
        "1:\n\t"
        "ldmia r12!, {r4, r5, r6, r7}\n\t"
        DW3_TAP(0) DW3_TAP(1) DW3_TAP(2) DW3_TAP(3) DW3_TAP(4) DW3_TAP(5) DW3_TAP(6) DW3_TAP(7)
        DW3_TAP(8)
        DW3_OUT("r4") DW3_OUT("r5") DW3_OUT("r6") DW3_OUT("r7")
        "ldr lr, [r0, #12]\n\t"
        "add lr, lr, r1\n\t"
        "strb r4, [lr, #0]\n\t"
        "strb r5, [lr, #1]\n\t"
        "strb r6, [lr, #2]\n\t"
        "strb r7, [lr, #3]\n\t"
        "add r1, r1, #4\n\t"
        "ldr lr, [r0, #16]\n\t"
        "cmp r1, lr\n\t"
        "bne 1b\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}

/* Two output pixels A and B of one row (any stride, inside or on the border) through the
 * unrolled 3x3 path at once: each tap's weights (one LDRD) serve both, and the output
 * constants of a group are loaded once for both. Per group of four channels: the biases
 * (two LDM), nine taps of LDRD weights then for A and B each LDR tap address, LDR input
 * word, 2 SXTB16, 4 SMLAxy (153 instructions for 72 MACs), then the fast output stage on
 * the eight (doubled) accumulators and eight byte stores.
 * The job (below) is copied onto the stack, so the loop reads it SP-relative and every
 * other register serves the arithmetic. tab[t] (A) and tab[9 + t] (B): each tap's address
 * at channel 0, or the zero-point row's; cur: the group's channel offset, from its initial
 * value by 4 up to end. At least one group.
 * Registers: r4-r7 A's accumulators, r8-r11 B's (then outputs), r0 input word, r3 its
 * even lanes, r12/lr weights (then output-stage temporaries), r1 cur, r2 weights. */
typedef struct {
    union {
        const int8_t *p[18];    /* +0: A's nine taps, +36: B's */
        intptr_t off[18];       /* pixels inside the input: byte offsets from A's window, which is cur */
    } tab;
    const int32_t *bias;        /* +72 */
    const int32_t *otab;        /* +76: the output table (mcuf_hwc_out_table), group by group */
    intptr_t unused;            /* +80 */
    intptr_t da;                /* +84: A's output minus cur (constant: both advance by 4) */
    intptr_t db;                /* +88: B's */
    intptr_t end;               /* +92 */
    int32_t round1;             /* +96 (unused) */
    const uint32_t *w;          /* +100: the weights' pointer while r2 serves the output stage */
    intptr_t cur;               /* +104 (unused) */
    /* a run of pairs inside the input (one row, cur = A's window): after each pair's groups */
    intptr_t pairs;             /* +108: pairs left in the run, >= 1 (1 for a border pair) */
    intptr_t in_step;           /* +112: cur to the next pair's window: 2 * sw * C - (C & ~3) */
    intptr_t end_step;          /* +116: end to the next pair's: 2 * sw * C */
    intptr_t d_step;            /* +120: da and db to the next pair's: 2 * C - 2 * sw * C */
    const int32_t *bias0;       /* +124: bias, otab and the weights from their starts again */
    const int32_t *otab0;       /* +128 */
    const uint32_t *w0;         /* +132 */
    intptr_t pad[2];            /* +136: the job is copied 36 words at a time */
} dw3x2_job;

#define DW3X2_PIX(off, a0, a1, a2, a3)                                               \
    "ldr r0, [sp, #" #off "]\n\t"                                                    \
    "ldr r0, [r0, r1]\n\t"                                                           \
    "sxtb16 r3, r0\n\t"                                                              \
    "sxtb16 r0, r0, ror #8\n\t"                                                      \
    "smlabb " a0 ", r3, r12, " a0 "\n\t"                                             \
    "smlatt " a2 ", r3, r12, " a2 "\n\t"                                             \
    "smlabb " a1 ", r0, lr, " a1 "\n\t"                                              \
    "smlatt " a3 ", r0, lr, " a3 "\n\t"

#define DW3X2_TAP(k, kb)                                                             \
    "ldrd r12, lr, [r2], #8\n\t"                                                     \
    DW3X2_PIX(k, "r4", "r5", "r6", "r7")                                             \
    DW3X2_PIX(kb, "r8", "r9", "r10", "r11")

/* the job onto the stack (36 words) */
#define DW3X2_ENTER                                                                  \
    "sub sp, sp, #144\n\t"                                                           \
    "mov r12, sp\n\t"                                                                \
    ".rept 4\n\t"                                                                    \
    "ldmia r0!, {r3, r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                          \
    "stmia r12!, {r3, r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                         \
    ".endr\n\t"

/* after a pair's last group: the run's next pair (cur, end, da, db one pair on; bias, otab and
 * the weights from their starts) while pairs remain */
#define DW3X2_NEXT_PAIR                                                              \
    "ldr r12, [sp, #108]\n\t"                                                        \
    "subs r12, r12, #1\n\t"                                                          \
    "beq 2f\n\t"                                                                     \
    "str r12, [sp, #108]\n\t"                                                        \
    "ldrd r12, lr, [sp, #112]\n\t"                                                   \
    "add r1, r1, r12\n\t"                                                            \
    "ldr r12, [sp, #92]\n\t"                                                         \
    "add r12, r12, lr\n\t"                                                           \
    "str r12, [sp, #92]\n\t"                                                         \
    "ldrd r12, lr, [sp, #84]\n\t"                                                    \
    "ldr r0, [sp, #120]\n\t"                                                         \
    "add r12, r12, r0\n\t"                                                           \
    "add lr, lr, r0\n\t"                                                             \
    "strd r12, lr, [sp, #84]\n\t"                                                    \
    "ldr r12, [sp, #128]\n\t"                                                        \
    "ldmia r12, {r4, r5, r6, r7}\n\t"                                                \
    "ldmia r12!, {r8, r9, r10, r11}\n\t"                                             \
    "str r12, [sp, #76]\n\t"                                                         \
    "ldr r2, [sp, #132]\n\t"                                                         \
    "b 1b\n\t"                                                                       \
    "2:\n\t"

/* channel ra/rb of both pixels from its output-table record (m, round, b) at r2 (advanced):
 * (SMMLAR(acc, m, round) + (acc >> 31)) >> b, SSAT #8 ASR #1 (mcuf_out_fast2) */
#define DW3X2_OUT(ra, rb)                                                            \
    "ldmia r2!, {r0, r3, r12}\n\t"                                                   \
    "smmlar lr, " ra ", r0, r3\n\t"                                                  \
    "add lr, lr, " ra ", asr #31\n\t"                                                \
    "asr lr, lr, r12\n\t"                                                            \
    "ssat " ra ", #8, lr, asr #1\n\t"                                                \
    "smmlar lr, " rb ", r0, r3\n\t"                                                  \
    "add lr, lr, " rb ", asr #31\n\t"                                                \
    "asr lr, lr, r12\n\t"                                                            \
    "ssat " rb ", #8, lr, asr #1\n\t"

/* a group's end (r1 = cur, r2 = weights): the output stage on the eight accumulators through
 * the output table (its pointer in the job), the eight bytes stored at cur + da / cur + db,
 * then the next group while cur != end (41 + 11 + 5 instructions) */
#define DW3X2_TAIL DWX2_TAIL_AT(100, 76, 84, 92)

/* the eight output bytes of a pair's group: A's at cur + da, B's at cur + db (da, db at sp + D) */
#define DWX2_STORE_AT(D)                                                             \
    "ldrd r12, lr, [sp, #" #D "]\n\t"                                                \
    "add r12, r12, r1\n\t"                                                           \
    "add lr, lr, r1\n\t"                                                             \
    "strb r4, [r12, #0]\n\t"                                                         \
    "strb r5, [r12, #1]\n\t"                                                         \
    "strb r6, [r12, #2]\n\t"                                                         \
    "strb r7, [r12, #3]\n\t"                                                         \
    "strb r8, [lr, #0]\n\t"                                                          \
    "strb r9, [lr, #1]\n\t"                                                          \
    "strb r10, [lr, #2]\n\t"                                                         \
    "strb r11, [lr, #3]\n\t"

/* DW3X2_TAIL with the job's slots at other offsets: W the weights' pointer, T the output
 * table's, D da (db after it), E end */
#define DWX2_TAIL_AT(W, T, D, E)                                                     \
    "str r2, [sp, #" #W "]\n\t"                                                      \
    "ldr r2, [sp, #" #T "]\n\t"                                                      \
    DW3X2_OUT("r4", "r8") DW3X2_OUT("r5", "r9") DW3X2_OUT("r6", "r10")               \
    DW3X2_OUT("r7", "r11")                                                           \
    DWX2_STORE_AT(D)                                                                 \
    "ldmia r2, {r4, r5, r6, r7}\n\t"                                                 \
    "ldmia r2!, {r8, r9, r10, r11}\n\t"                                              \
    "str r2, [sp, #" #T "]\n\t"                                                      \
    "ldr r2, [sp, #" #W "]\n\t"                                                      \
    "add r1, r1, #4\n\t"                                                             \
    "ldr r12, [sp, #" #E "]\n\t"                                                     \
    "cmp r1, r12\n\t"                                                                \
    "bne 1b\n\t"

__attribute__((naked, noinline)) static void dw3x2_groups_fast(__attribute__((unused)) const dw3x2_job *job,
                                                               __attribute__((unused)) intptr_t cur,
                                                               __attribute__((unused)) const uint32_t *w)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        DW3X2_ENTER
        "ldr r12, [sp, #76]\n\t"
        "ldmia r12, {r4, r5, r6, r7}\n\t"
        "ldmia r12!, {r8, r9, r10, r11}\n\t"
        "str r12, [sp, #76]\n\t"
        "1:\n\t"
        DW3X2_TAP(0, 36) DW3X2_TAP(4, 40) DW3X2_TAP(8, 44) DW3X2_TAP(12, 48) DW3X2_TAP(16, 52)
        DW3X2_TAP(20, 56) DW3X2_TAP(24, 60) DW3X2_TAP(28, 64) DW3X2_TAP(32, 68)
        DW3X2_TAIL

        DW3X2_NEXT_PAIR
        "add sp, sp, #144\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}
#endif

#if MCUF_HAS_DSP
/* Stride 1: A's window is columns 0-2 of a 3x4 block and B's columns 1-3, so each row loads
 * four input words instead of six and the middle two serve both pixels (129 instructions for
 * 72 MACs). The same job, tab[4 * ky + j]: column j of the block's row ky (tab[12..17] unused). */
#define DW3S1_X(off)                                                                 \
    "ldr r0, [sp, #" #off "]\n\t"                                                    \
    "ldr r0, [r0, r1]\n\t"                                                           \
    "sxtb16 r3, r0\n\t"                                                              \
    "sxtb16 r0, r0, ror #8\n\t"

#define DW3S1_MAC(a0, a1, a2, a3)                                                    \
    "smlabb " a0 ", r3, r12, " a0 "\n\t"                                             \
    "smlatt " a2 ", r3, r12, " a2 "\n\t"                                             \
    "smlabb " a1 ", r0, lr, " a1 "\n\t"                                              \
    "smlatt " a3 ", r0, lr, " a3 "\n\t"

#define DW3S1_A DW3S1_MAC("r4", "r5", "r6", "r7")
#define DW3S1_B DW3S1_MAC("r8", "r9", "r10", "r11")
#define DW3S1_W "ldrd r12, lr, [r2], #8\n\t"

#define DW3S1_ROW(o0, o1, o2, o3)                                                    \
    DW3S1_W DW3S1_X(o0) DW3S1_A DW3S1_X(o1) DW3S1_B                                  \
    DW3S1_W DW3S1_A DW3S1_X(o2) DW3S1_B                                              \
    DW3S1_W DW3S1_A DW3S1_X(o3) DW3S1_B

/* A pair routine of the groups loop: BODY loads the block's nine taps (rows, or
 * columns for the vertical pairs) and accumulates both pixels; the entry, the output stage and
 * the pair stepping are shared. */
#define DW3X2_GROUPS_FAST(name, BODY)                                                         \
    __attribute__((naked, noinline)) static void name(__attribute__((unused)) const dw3x2_job *job, \
                                                      __attribute__((unused)) intptr_t cur,  \
                                                      __attribute__((unused)) const uint32_t *w) \
    {                                                                                         \
        __asm__ volatile(                                                                     \
            "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                                 \
            DW3X2_ENTER                                                                       \
            "ldr r12, [sp, #76]\n\t"                                                          \
            "ldmia r12, {r4, r5, r6, r7}\n\t"                                                 \
            "ldmia r12!, {r8, r9, r10, r11}\n\t"                                              \
            "str r12, [sp, #76]\n\t"                                                          \
            "1:\n\t"                                                                          \
            BODY                                                                              \
            DW3X2_TAIL                                                                        \
            DW3X2_NEXT_PAIR                                                                   \
            "add sp, sp, #144\n\t"                                                            \
            "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");                                \
    }

DW3X2_GROUPS_FAST(dw3x2s1_groups_fast,
                  DW3S1_ROW(0, 4, 8, 12) DW3S1_ROW(16, 20, 24, 28) DW3S1_ROW(32, 36, 40, 44))

/* Stride 2: A's window is columns 0-2 of a 3x5 block and B's columns 2-4, so each row loads
 * five input words instead of six: column 2 serves A (weight 2) and B (weight 0), the weights
 * of a row loaded in the order 0, 2, 1 (142 instructions for 72 MACs against 153).
 * The same job, tab[5 * ky + j]: column j of the block's row ky (tab[15..17] unused). */
#define DW3S2_W(o) "ldrd r12, lr, [r2, #" #o "]\n\t"

#define DW3S2_ROW(o0, o1, o2, o3, o4, w0, w1, w2)                                     \
    DW3S2_W(w0) DW3S1_X(o0) DW3S1_A DW3S1_X(o2) DW3S1_B                              \
    DW3S2_W(w2) DW3S1_A DW3S1_X(o4) DW3S1_B                                          \
    DW3S2_W(w1) DW3S1_X(o1) DW3S1_A DW3S1_X(o3) DW3S1_B

DW3X2_GROUPS_FAST(dw3x2s2_groups_fast,
                  DW3S2_ROW(0, 4, 8, 12, 16, 0, 8, 16) DW3S2_ROW(20, 24, 28, 32, 36, 24, 32, 40)
                  DW3S2_ROW(40, 44, 48, 52, 56, 48, 56, 64)
                  "add r2, r2, #72\n\t")

/* The channel tail of 4k + 2 channels for a horizontal pair at stride 2 (4k + 1:
 * dwt1s2_groups_fast below): the
 * tail group's word at channel C-4 as above, but only lanes C-2 and C-1 (the tops of its two
 * SXTB16 halves, SMLATT) accumulated, and only their outputs computed and stored. Exactly one group per pair
 * (cur = A's window + C - 4; otab the tail's record, read, not advanced); in a run, in_step
 * is 2 * sw * C (cur is not advanced), and end and otab0 are not read.
 * 106 instructions for 36 MACs against 142 for the four-lane group, and an output stage of two
 * channels instead of four (ShuffleNet V1's 24x24x30 at stride 2: 3.12 -> 2.99 instructions per
 * MAC on the M7). Stride 1 keeps the four-lane group: no bundled layer takes it (the plane
 * kernel has them), and the copy would cost every model with this kernel 0.6 KB of code. */
#define DWT2_MAC(a2, a3)                                                             \
    "smlatt " a2 ", r3, r12, " a2 "\n\t"                                             \
    "smlatt " a3 ", r0, lr, " a3 "\n\t"

#define DWT2_A DWT2_MAC("r6", "r7")
#define DWT2_B DWT2_MAC("r10", "r11")

#define DWT2S2_ROW(o0, o1, o2, o3, o4, w0, w1, w2)                                    \
    DW3S2_W(w0) DW3S1_X(o0) DWT2_A DW3S1_X(o2) DWT2_B                                \
    DW3S2_W(w2) DWT2_A DW3S1_X(o4) DWT2_B                                            \
    DW3S2_W(w1) DW3S1_X(o1) DWT2_A DW3S1_X(o3) DWT2_B

/* the tail's biases of lanes C-2 and C-1 (A's and B's) from its record (otab, not advanced) */
#define DWT2_BIAS                                                                    \
    "ldr r12, [sp, #76]\n\t"                                                         \
    "ldrd r6, r7, [r12, #8]\n\t"                                                     \
    "ldrd r10, r11, [r12, #8]\n\t"

/* the pair's two lanes through records 2 and 3 of the tail's output table, four bytes stored */
#define DWT2_TAIL                                                                    \
    "ldr r2, [sp, #76]\n\t"                                                          \
    "add r2, r2, #40\n\t"                                                            \
    DW3X2_OUT("r6", "r10") DW3X2_OUT("r7", "r11")                                    \
    "ldrd r12, lr, [sp, #84]\n\t"                                                    \
    "add r12, r12, r1\n\t"                                                           \
    "add lr, lr, r1\n\t"                                                             \
    "strb r6, [r12, #2]\n\t"                                                         \
    "strb r7, [r12, #3]\n\t"                                                         \
    "strb r10, [lr, #2]\n\t"                                                         \
    "strb r11, [lr, #3]\n\t"

/* after a pair: the run's next pair (cur and da, db one pair on, the weights from their start) */
#define DWT2_NEXT_PAIR                                                               \
    "ldr r12, [sp, #108]\n\t"                                                        \
    "subs r12, r12, #1\n\t"                                                          \
    "beq 2f\n\t"                                                                     \
    "str r12, [sp, #108]\n\t"                                                        \
    "ldr r12, [sp, #112]\n\t"                                                        \
    "add r1, r1, r12\n\t"                                                            \
    "ldrd r12, lr, [sp, #84]\n\t"                                                    \
    "ldr r0, [sp, #120]\n\t"                                                         \
    "add r12, r12, r0\n\t"                                                           \
    "add lr, lr, r0\n\t"                                                             \
    "strd r12, lr, [sp, #84]\n\t"                                                    \
    DWT2_BIAS                                                                        \
    "ldr r2, [sp, #132]\n\t"                                                         \
    "b 1b\n\t"                                                                       \
    "2:\n\t"

__attribute__((naked, noinline)) static void dwt2s2_groups_fast(__attribute__((unused)) const dw3x2_job *job,
                                                                __attribute__((unused)) intptr_t cur,
                                                                __attribute__((unused)) const uint32_t *w)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        DW3X2_ENTER
        DWT2_BIAS
        "1:\n\t"
        DWT2S2_ROW(0, 4, 8, 12, 16, 0, 8, 16) DWT2S2_ROW(20, 24, 28, 32, 36, 24, 32, 40)
        DWT2S2_ROW(40, 44, 48, 52, 56, 48, 56, 64)
        DWT2_TAIL

        DWT2_NEXT_PAIR
        "add sp, sp, #144\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}

/* The channel tail of 4k + 1 channels for a horizontal pair at stride 2: lane C-1 alone (its
 * byte loaded sign-extended with LDRSB, cur = A's window + C - 1; its weight the top of the
 * group's odd word, SMLABT), one output stage and one byte stored per pixel. The same job and
 * record as dwt2s2_groups_fast (exactly one group per pair; in a run in_step is 2 * sw * C).
 * The pair's constants and pointers live in registers (DWT1_ENTER): 73 instructions a pair, of
 * which 57 for its 18 MACs' taps, against about 140 for dwt2s2's two lanes (the cliff sweep's
 * 48x48x13 at stride 2 on QEMU's M7: 3.38 -> 3.11 with the state on the stack, 3.07 in registers). */
#define DWT1_X(off)                                                                  \
    "ldr r0, [sp, #" #off "]\n\t"                                                    \
    "ldrsb r0, [r0, r1]\n\t"

#define DWT1_W(o) "ldr lr, [r2, #" #o "]\n\t"
#define DWT1_A "smlabt r7, r0, lr, r7\n\t"
#define DWT1_B "smlabt r11, r0, lr, r11\n\t"

#define DWT1S2_ROW(o0, o1, o2, o3, o4, w0, w1, w2)                                    \
    DWT1_W(w0) DWT1_X(o0) DWT1_A DWT1_X(o2) DWT1_B                                    \
    DWT1_W(w2) DWT1_A DWT1_X(o4) DWT1_B                                               \
    DWT1_W(w1) DWT1_X(o1) DWT1_A DWT1_X(o3) DWT1_B

/* The pair's state in registers (every field read once, at entry): r3, r4, r5 lane C-1's m,
 * round and b (record 3 of the tail's output table), r10 its bias, r6 A's output byte
 * (cur + da), r8 C (B's byte at A's + C: db = da + C), r9 the pairs left, r12 in_step (the
 * next pair's output 2 * C on: in_step + d_step). */
#define DWT1_ENTER                                                                   \
    "ldr r12, [sp, #76]\n\t"                                                         \
    "ldr r10, [r12, #12]\n\t"                                                        \
    "ldr r3, [r12, #52]\n\t"                                                         \
    "ldr r4, [r12, #56]\n\t"                                                         \
    "ldr r5, [r12, #60]\n\t"                                                         \
    "ldrd r8, r9, [sp, #84]\n\t"                                                     \
    "add r6, r8, r1\n\t"                                                             \
    "sub r8, r9, r8\n\t"                                                             \
    "ldr r9, [sp, #108]\n\t"                                                         \
    "ldr r12, [sp, #112]\n\t"

/* one accumulator through lane C-1's output stage (mcuf_out_fast2, as DW3X2_OUT) */
#define DWT1_OUT(ra)                                                                 \
    "smmlar r0, " ra ", r3, r4\n\t"                                                  \
    "add r0, r0, " ra ", asr #31\n\t"                                                \
    "asr r0, r0, r5\n\t"                                                             \
    "ssat " ra ", #8, r0, asr #1\n\t"

__attribute__((naked, noinline)) static void dwt1s2_groups_fast(__attribute__((unused)) const dw3x2_job *job,
                                                                __attribute__((unused)) intptr_t cur,
                                                                __attribute__((unused)) const uint32_t *w)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        DW3X2_ENTER
        DWT1_ENTER
        "1:\n\t"
        "mov r7, r10\n\t"
        "mov r11, r10\n\t"
        DWT1S2_ROW(0, 4, 8, 12, 16, 4, 12, 20) DWT1S2_ROW(20, 24, 28, 32, 36, 28, 36, 44)
        DWT1S2_ROW(40, 44, 48, 52, 56, 52, 60, 68)
        DWT1_OUT("r7") DWT1_OUT("r11")
        "strb r7, [r6]\n\t"
        "strb r11, [r6, r8]\n\t"
        "add r6, r6, r8, lsl #1\n\t"
        "add r1, r1, r12\n\t"
        "subs r9, r9, #1\n\t"
        "bne 1b\n\t"
        "add sp, sp, #144\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}

/* Two pixels of one column (rows oy and oy + 1, a plane's odd last column) at stride_h 1 or 2:
 * A's window is rows 0-2 of a 4x3 / 5x3 block and B's rows 1-3 / 2-4, so each block column
 * loads four / five input words instead of six (the stride-1 / stride-2 loop's sharing turned
 * by 90 degrees). The same job, tab[(sh + 3) * kx + j]: row j of the block's column kx; the
 * weights of a column read at their offsets (tap 3 * ky + kx at 8 * (3 * ky + kx)). */
#define DW3V1_COL(o0, o1, o2, o3, w0, w1, w2)                                        \
    DW3S2_W(w0) DW3S1_X(o0) DW3S1_A DW3S1_X(o1) DW3S1_B                              \
    DW3S2_W(w1) DW3S1_A DW3S1_X(o2) DW3S1_B                                          \
    DW3S2_W(w2) DW3S1_A DW3S1_X(o3) DW3S1_B

DW3X2_GROUPS_FAST(dw3x2v1_groups_fast,
                  DW3V1_COL(0, 4, 8, 12, 0, 24, 48) DW3V1_COL(16, 20, 24, 28, 8, 32, 56)
                  DW3V1_COL(32, 36, 40, 44, 16, 40, 64)
                  "add r2, r2, #72\n\t")

DW3X2_GROUPS_FAST(dw3x2v2_groups_fast,
                  DW3S2_ROW(0, 4, 8, 12, 16, 0, 24, 48) DW3S2_ROW(20, 24, 28, 32, 36, 8, 32, 56)
                  DW3S2_ROW(40, 44, 48, 52, 56, 16, 40, 64)
                  "add r2, r2, #72\n\t")

/* a column pair's groups through the vertical two-pixel assembly for stride_h (1, 2) */
MCUF_INLINE void dw3x2v_call(const dw3x2_job *job, intptr_t cur, const uint32_t *w, int sh)
{
    if (sh == 1) {
        dw3x2v1_groups_fast(job, cur, w);
    } else if (sh == 2) {
        dw3x2v2_groups_fast(job, cur, w);
    } else {
        dw3x2_groups_fast(job, cur, w);
    }
}

/* The same two-pixel loop for a K x K kernel (K = 5, 7: MobileNet V3's 5x5), written once
 * with the assembler's .irp over the taps. The job's scalar fields come first (so their
 * offsets do not depend on K), then A's K*K tap addresses and B's; it is copied onto the
 * stack four words at a time. */
#define DWX2_JOB(K)                                                                  \
    typedef struct {                                                                 \
        const int32_t *bias;        /* +0 */                                         \
        const int32_t *otab;        /* +4: the output table */                       \
        intptr_t unused0;           /* +8 */                                         \
        intptr_t da;                /* +12: A's output minus cur */                  \
        intptr_t db;                /* +16: B's */                                   \
        intptr_t end;               /* +20 */                                        \
        int32_t round1;             /* +24 */                                        \
        const uint32_t *w;          /* +28 */                                        \
        intptr_t cur;               /* +32 */                                        \
        int32_t unused;             /* +36 */                                        \
        union {                     /* +40: A's taps, then B's */                    \
            const int8_t *p[2 * (K) * (K)];                                          \
            intptr_t off[2 * (K) * (K)];   /* inside: offsets from A's window (cur) */ \
        } tab;                                                                       \
    } dwx2_job##K;

/* KK: K * K as a literal; TAPS: "0, 1, ..., KK - 1"; NW: the job's words, 10 + 2 * KK */
#define DWX2_FN(K, KK, NW, TAPS)                                                     \
    __attribute__((naked, noinline)) static void dwx2_groups_fast_##K(               \
        __attribute__((unused)) const dwx2_job##K *job, __attribute__((unused)) intptr_t cur, \
        __attribute__((unused)) const uint32_t *w)                                   \
    {                                                                                \
        __asm__ volatile(                                                            \
            "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                        \
            "sub sp, sp, #(" #NW "*4)\n\t"                                           \
            "mov r12, sp\n\t"                                                        \
            ".rept (" #NW "/4)\n\t"                                                  \
            "ldmia r0!, {r3, r4, r5, r6}\n\t"                                        \
            "stmia r12!, {r3, r4, r5, r6}\n\t"                                       \
            ".endr\n\t"                                                              \
            "ldr r12, [sp, #4]\n\t"                                                  \
            "ldmia r12, {r4, r5, r6, r7}\n\t"                                        \
            "ldmia r12!, {r8, r9, r10, r11}\n\t"                                     \
            "str r12, [sp, #4]\n\t"                                                  \
            "1:\n\t"                                                                 \
            ".irp tap, " TAPS "\n\t"                                                 \
            "ldrd r12, lr, [r2], #8\n\t"                                             \
            "ldr r0, [sp, #(40+4*\\tap)]\n\t"                                        \
            "ldr r0, [r0, r1]\n\t"                                                   \
            "sxtb16 r3, r0\n\t"                                                      \
            "sxtb16 r0, r0, ror #8\n\t"                                              \
            "smlabb r4, r3, r12, r4\n\t"                                             \
            "smlatt r6, r3, r12, r6\n\t"                                             \
            "smlabb r5, r0, lr, r5\n\t"                                              \
            "smlatt r7, r0, lr, r7\n\t"                                              \
            "ldr r0, [sp, #(40+4*" #KK "+4*\\tap)]\n\t"                              \
            "ldr r0, [r0, r1]\n\t"                                                   \
            "sxtb16 r3, r0\n\t"                                                      \
            "sxtb16 r0, r0, ror #8\n\t"                                              \
            "smlabb r8, r3, r12, r8\n\t"                                             \
            "smlatt r10, r3, r12, r10\n\t"                                           \
            "smlabb r9, r0, lr, r9\n\t"                                              \
            "smlatt r11, r0, lr, r11\n\t"                                            \
            ".endr\n\t"                                                              \
            DWX2_TAIL_AT(28, 4, 12, 20)                                              \
            "add sp, sp, #(" #NW "*4)\n\t"                                           \
            "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");                       \
    }

DWX2_JOB(5)
DWX2_JOB(7)
DWX2_FN(5, 25, 60, "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24")
DWX2_FN(7, 49, 108, "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,"
                    "31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48")

/* the K*K tap addresses (channel 0) of the undilated window at (iy0, ix0); padding taps get zp */
MCUF_INLINE void taps_k(const mcuf_conv_params *p, const int8_t *input, int K, int iy0, int ix0,
                        const int8_t *zp, const int8_t **tab)
{
    const int C = p->in_c;
    const int32_t row = (int32_t)p->in_w * C;
    for (int ky = 0; ky < K; ++ky) {
        const int iy = iy0 + ky;
        const int row_ok = iy >= 0 && iy < p->in_h;
        for (int kx = 0; kx < K; ++kx) {
            const int ix = ix0 + kx;
            *tab++ = row_ok && ix >= 0 && ix < p->in_w ? input + (int32_t)iy * row + (int32_t)ix * C : zp;
        }
    }
}

/* Pixels (oy, ox) and (oy, ox + 1) of a K x K (K = 5, 7) undilated layer with C >= 4, C <= the
 * zero-point row's length (two = 0: pixel (oy, ox) twice, its bytes stored twice); the channel
 * tail (C % 4) through pixel(). */
MCUF_INLINE void pair_k(const mcuf_conv_params *p, const int8_t *input, int oy, int ox, int two,
                   const int16_t *filter, const int32_t *bias_folded, const int32_t *multiplier,
                   const int8_t *shift, int8_t *out, const int8_t *zp, const int K, dwx2_job5 *in5,
                   dwx2_job7 *in7, const int col)
{
    const int C = p->in_c;
    const int iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int ix1 = col ? ix0 : ix0 + two * p->stride_w;
    const int iy1 = col ? iy0 + p->stride_h : iy0;
    int8_t *const out_b = col ? out + (int32_t)p->out_w * C : out + two * C;
    const uint32_t *w = (const uint32_t *)(const void *)filter;
    const int32_t *const otab = (const int32_t *)(const void *)(w + ((C + 3) / 4) * K * K * 2);
    /* both windows inside the input: the layer's job (offsets from A's window, passed as cur) */
    const int both_in = !col && two && iy0 >= 0 && iy0 + K - 1 < p->in_h && ix0 >= 0 && ix1 + K - 1 < p->in_w;
    const intptr_t base = both_in ? (intptr_t)(input + (int32_t)iy0 * p->in_w * C + (int32_t)ix0 * C) : 0;
    if (K == 5 && both_in) {
        in5->da = (intptr_t)out - base;
        in5->db = (intptr_t)out_b - base;
        in5->end = base + (C & ~3);
        dwx2_groups_fast_5(in5, base, w);
    } else if (K == 5) {
        dwx2_job5 job = {bias_folded, otab, 0, (intptr_t)out, (intptr_t)out_b, C & ~3, 0, w, 0, 0, {{0}}};
        taps_k(p, input, 5, iy0, ix0, zp, job.tab.p);
        taps_k(p, input, 5, iy1, ix1, zp, job.tab.p + 25);
        dwx2_groups_fast_5(&job, 0, w);
    } else if (both_in) {
        in7->da = (intptr_t)out - base;
        in7->db = (intptr_t)out_b - base;
        in7->end = base + (C & ~3);
        dwx2_groups_fast_7(in7, base, w);
    } else {
        dwx2_job7 job = {bias_folded, otab, 0, (intptr_t)out, (intptr_t)out_b, C & ~3, 0, w, 0, 0, {{0}}};
        taps_k(p, input, 7, iy0, ix0, zp, job.tab.p);
        taps_k(p, input, 7, iy1, ix1, zp, job.tab.p + 49);
        dwx2_groups_fast_7(&job, 0, w);
    }
    if (C & 3) {
        const int rows_in = iy0 >= 0 && iy0 + K - 1 < p->in_h;
        pixel(p, input, iy0, ix0, rows_in && ix0 >= 0 && ix0 + K - 1 < p->in_w, C & ~3, filter, bias_folded,
              multiplier, shift, out, 1);
        if (two || col) {
            const int rows_in1 = iy1 >= 0 && iy1 + K - 1 < p->in_h;
            pixel(p, input, iy1, ix1, rows_in1 && ix1 >= 0 && ix1 + K - 1 < p->in_w, C & ~3, filter,
                  bias_folded, multiplier, shift, out_b, 1);
        }
    }
}
#endif

#if MCUF_HAS_DSP
/* the nine tap addresses (channel 0) of the 3x3 window at (iy0, ix0); padding taps get zp */
MCUF_INLINE void taps3(const mcuf_conv_params *p, const int8_t *input, int iy0, int ix0, int inside,
                       const intptr_t offs[9], const int8_t *zp, const int8_t **tab)
{
    const int C = p->in_c;
    const int32_t row = (int32_t)p->in_w * C;
    if (inside) {
        const int8_t *base = input + (int32_t)iy0 * row + (int32_t)ix0 * C;
        for (int t = 0; t < 9; ++t) {
            tab[t] = base + offs[t];
        }
        return;
    }
    for (int ky = 0; ky < 3; ++ky) {
        const int iy = iy0 + ky;
        for (int kx = 0; kx < 3; ++kx) {
            const int ix = ix0 + kx;
            tab[3 * ky + kx] = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w
                                   ? input + (int32_t)iy * row + (int32_t)ix * C
                                   : zp;
        }
    }
}
#endif

#if MCUF_HAS_DSP
/* The taps of a block of 3 x N outside the input, bit N * k + j (k = 0..2, j = 0..N-1): set when
 * position o0 + k of the outer dimension is outside [0, o_size) or position i0 + j of the inner
 * one outside [0, i_size). A row-major block (3 rows of N columns): o0 = iy0, i0 = ix0; a
 * column-major one (3 columns of N rows, the vertical pairs): o0 = ix0, i0 = iy0. */
MCUF_INLINE uint32_t zp_mask(int o0, int o_size, int i0, int i_size, int N)
{
    const uint32_t nmask = (1u << N) - 1;
    const int lo = i0 < 0 ? (-i0 < N ? -i0 : N) : 0;                           /* inner j < lo outside */
    const int hi = i_size - i0 < N ? (i_size - i0 > 0 ? i_size - i0 : 0) : N;   /* and j >= hi */
    uint32_t m = (((1u << lo) - 1) | (nmask & ~((1u << hi) - 1))) * (1u | 1u << N | 1u << 2 * N);
    for (int k = 0; k < 3; ++k) {
        if (o0 + k < 0 || o0 + k >= o_size) {
            m |= nmask << (N * k);
        }
    }
    return m;
}

/* the taps of mask (bit t: off[t]) pointed at the zero-point row: zoff (its offset from the window) */
MCUF_INLINE void zp_point(intptr_t *off, uint32_t mask, intptr_t zoff)
{
    for (; mask != 0; mask &= mask - 1) {
        off[__builtin_ctz(mask)] = zoff;
    }
}
#endif

#if MCUF_HAS_DSP
/* hwc3_pairs_fast (the _fast entry point's 3x3 pairs) and hwc3_pairs_tail1_fast (the same with
 * the one-lane tail of 4k + 1 channels at stride 2: only mcuf_depthwise_conv_hwc_3x3_tail1_s8_dsp_fast
 * calls it, so only a model with such a layer links it and dwt1s2_groups_fast) */
#define MCUF_HWC3_PAIRS hwc3_pairs_fast
#define MCUF_HWC3_TAIL1 0
#include "mcuf_dw_hwc3_pairs.h"
#undef MCUF_HWC3_PAIRS
#undef MCUF_HWC3_TAIL1
#define MCUF_HWC3_PAIRS hwc3_pairs_tail1_fast
#define MCUF_HWC3_TAIL1 1
#include "mcuf_dw_hwc3_pairs.h"
#undef MCUF_HWC3_PAIRS
#undef MCUF_HWC3_TAIL1
#endif

/* kk: 0 for the general entry points; 5 or 7 for the K x K ones (fast output stage), whose
 * two-pixel assembly only they link */
MCUF_INLINE void mcuf_depthwise_conv_hwc_s8_dsp_body(const mcuf_conv_params *p, const int8_t *input,
                                                     const int16_t *filter, const int32_t *bias_folded,
                                                     const int32_t *multiplier, const int8_t *shift,
                                                     int8_t *output, int16_t *scratch, const int fast,
                                                     const int kk)
{
    const int C = p->in_c, kh = p->k_h, kw = p->k_w, sw = p->stride_w;
    const int k3 = kh == 3 && kw == 3 && p->dil_h == 1 && p->dil_w == 1;
    const int border3 = k3;   /* border pixels too: padding taps read the zero-point row */
    /* K x K (5, 7), undilated: the two-pixel assembly everywhere (fast output stage) */
    const int kpair = MCUF_HAS_DSP && fast && kk != 0 && kh == kk && kw == kk && p->dil_h == 1 &&
                      p->dil_w == 1 && C >= 4;
    const int32_t row = (int32_t)p->in_w * C;
    const int8_t *const zp_row = (const int8_t *)(void *)scratch;   /* C4 input zero points */
#if MCUF_HAS_DSP
    const uint32_t *filter_w = (const uint32_t *)(const void *)filter;
    /* the fast entry points' output table, after the weights (mcuf_hwc_out_table) */
    const int32_t *const otab = (const int32_t *)(const void *)(filter_w + ((C + 3) / 4) * kh * kw * 2);
    intptr_t offs[9];   /* an inside pixel's taps: byte offsets from its window's top-left */
    for (int ky = 0, t = 0; ky < 3; ++ky, t += 3) {
        offs[t] = (intptr_t)ky * row;
        offs[t + 1] = offs[t] + C;
        offs[t + 2] = offs[t] + 2 * C;
    }
#endif
    if (border3 || kpair) {
        memset(scratch, (uint8_t)(-p->input_offset), (size_t)((C + 3) & ~3));
    }
#if MCUF_HAS_DSP
    /* an odd plane width: the last column's pixels in pairs of rows (the two-pixel assembly
     * takes any two windows), unless the output overlaps the input (in place: then pixel by
     * pixel in order, see depthwise_conv_hwc_s8_dsp_in_place) */
    const int alias = (uintptr_t)output < (uintptr_t)(input + (int32_t)p->in_h * row) &&
                      (uintptr_t)input < (uintptr_t)(output + (int32_t)p->out_h * p->out_w * C);
    const int colpair = (p->out_w & 1) && !alias;
#endif
#if MCUF_HAS_DSP
    /* two pixels inside the input: one job for the layer, its taps as byte offsets from A's
     * window (whose address the call passes as cur), so no tap table per pair */
    dw3x2_job jin;
    memset(&jin, 0, sizeof jin);
    for (int t = 0; t < 9 && fast && k3; ++t) {
        jin.tab.off[t] = offs[t];
        jin.tab.off[9 + t] = offs[t] + (intptr_t)sw * C;
    }
    jin.bias = bias_folded;
    jin.otab = otab;
    jin.in_step = 2 * (intptr_t)sw * C - (C & ~3);
    jin.end_step = 2 * (intptr_t)sw * C;
    jin.d_step = 2 * (intptr_t)C - 2 * (intptr_t)sw * C;
    jin.bias0 = bias_folded;
    jin.otab0 = otab;
    jin.w0 = filter_w;
    /* a channel tail (C % 4, C > 4, the output not over the input): the last 4 channels as one
     * more group (channels C-4 .. C-1; C-4 .. C4-5 computed twice, the same bytes stored
     * twice), with its own weights, biases and table after the output table */
    const int xtail = fast && k3 && (C & 3) && C > 4 && !alias;
    const uint32_t *const xw = (const uint32_t *)(const void *)(otab + 4 * ((C + 3) & ~3) + 4);
    const int32_t *const xbias = (const int32_t *)(const void *)(xw + 18);   /* its record */
    dw3x2_job jtl;
    if (xtail) {
        jtl = jin;
        jtl.bias = jtl.bias0 = xbias;
        jtl.otab = jtl.otab0 = xbias;
        jtl.w0 = xw;
        jtl.in_step = 2 * (intptr_t)sw * C - 4;
    }
    /* a border pair at stride 1 or 2: jin's block offsets from A's window (cur), its taps outside
     * the input pointed at the zero-point row by offset (zp_row - window; cur then steps by 4
     * through zp_row's C4 bytes as through a pixel's channels), restored after the call */
    /* K x K pairs inside the input: the same, one job for the layer */
    dwx2_job5 kin5;
    dwx2_job7 kin7;
    if (kpair) {
        intptr_t *const off = kk == 5 ? kin5.tab.off : kin7.tab.off;
        if (kk == 5) {
            memset(&kin5, 0, sizeof kin5);
        } else {
            memset(&kin7, 0, sizeof kin7);
        }
        for (int ky = 0; ky < kk; ++ky) {
            for (int kx = 0; kx < kk; ++kx) {
                off[ky * kk + kx] = (intptr_t)ky * row + (intptr_t)kx * C;
                off[kk * kk + ky * kk + kx] = (intptr_t)ky * row + (intptr_t)(kx + sw) * C;
            }
        }
        if (kk == 5) {
            kin5.bias = bias_folded;
            kin5.otab = otab;
        } else {
            kin7.bias = bias_folded;
            kin7.otab = otab;
        }
    }
#endif
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_top;
        const int rows_in = iy0 >= 0 && iy0 + (kh - 1) * p->dil_h < p->in_h;
        int8_t *out = output + (int32_t)oy * p->out_w * C;
        for (int ox = 0; ox < p->out_w; ++ox, out += C) {
#if MCUF_HAS_DSP
            if (kpair) {   /* a row's odd last pixel: a pair with the next row's (colpair), or of it
                            * with itself (same bytes twice) */
                const int two = ox + 1 < p->out_w;
                if (!two && colpair && (oy & 1)) {
                    continue;   /* done with the row above */
                }
                pair_k(p, input, oy, ox, two, filter, bias_folded, multiplier, shift, out,
                       zp_row, kk, &kin5, &kin7, !two && colpair && oy + 1 < p->out_h);
                ox += two;
                out += two * C;
                continue;
            }
#endif
            const int ix0 = ox * sw - p->pad_left;
            const int inside = rows_in && ix0 >= 0 && ix0 + (kw - 1) * p->dil_w < p->in_w;
#if MCUF_HAS_DSP
            if (fast && k3 && C >= 4 && ox + 1 == p->out_w && colpair) {   /* an odd last column */
                if (oy & 1) {
                    continue;   /* done with the row above */
                }
                if (oy + 1 < p->out_h) {   /* with the next row's last pixel */
                    const int iy1 = iy0 + p->stride_h;
                    const int inside1 = iy1 >= 0 && iy1 + 2 < p->in_h && ix0 >= 0 && ix0 + 2 < p->in_w;
                    int8_t *const out1 = out + (int32_t)p->out_w * C;
                    /* A's taps from its window (cur), B's from A's window too (sh rows down) */
                    dw3x2_job job;
                    const intptr_t dy = (intptr_t)p->stride_h * row;
                    const uintptr_t base =
                        (uintptr_t)input + (uintptr_t)((intptr_t)iy0 * row + (intptr_t)ix0 * C);
                    const intptr_t zoff = (intptr_t)((uintptr_t)zp_row - base);
                    const int sh = p->stride_h;
                    if (sh <= 2) {   /* dw3x2v1/v2's column-major 4x3 / 5x3 block */
                        const int H = sh + 3;
                        intptr_t *o = job.tab.off;
                        for (int kx = 0; kx < 3; ++kx) {
                            for (intptr_t j = 0, v = (intptr_t)kx * C; j < H; ++j, v += row) {
                                *o++ = v;
                            }
                        }
                        if (!inside || !inside1) {
                            zp_point(job.tab.off, zp_mask(ix0, p->in_w, iy0, p->in_h, H), zoff);
                        }
                    } else {
                        for (int t = 0; t < 9; ++t) {
                            job.tab.off[t] = offs[t];
                            job.tab.off[9 + t] = offs[t] + dy;
                        }
                        if (!inside) {
                            zp_point(job.tab.off, zp_mask(iy0, p->in_h, ix0, p->in_w, 3), zoff);
                        }
                        if (!inside1) {
                            zp_point(job.tab.off + 9, zp_mask(iy1, p->in_h, ix0, p->in_w, 3), zoff);
                        }
                    }
                    job.bias = bias_folded;
                    job.otab = otab;
                    job.da = (intptr_t)((uintptr_t)out - base);
                    job.db = (intptr_t)((uintptr_t)out1 - base);
                    job.end = (intptr_t)(base + (uintptr_t)(C & ~3));
                    job.pairs = 1;
                    dw3x2v_call(&job, (intptr_t)base, filter_w, sh);
                    if (xtail) {
                        job.bias = xbias;
                        job.otab = xbias;
                        job.end = (intptr_t)(base + (uintptr_t)C);
                        dw3x2v_call(&job, (intptr_t)(base + (uintptr_t)(C - 4)), xw, sh);
                    } else if (C & 3) {
                        pixel(p, input, iy0, ix0, inside, C & ~3, filter, bias_folded, multiplier, shift,
                              out, fast);
                        pixel(p, input, iy1, ix0, inside1, C & ~3, filter, bias_folded, multiplier, shift,
                              out1, fast);
                    }
                    continue;
                }
            }
            if (fast && k3 && C >= 4 && ox + 1 < p->out_w) {   /* two pixels at once */
                const int ix1 = ix0 + sw;
                const int inside1 = rows_in && ix1 >= 0 && ix1 + 2 < p->in_w;
                if (inside && inside1) {   /* the row's run of pairs inside the input: one call */
                    /* pairs k = 0 .. n-1 with ox + 2k + 1 < out_w and ix0 + (2k + 1) * sw + 2 < in_w
                     * (both hold for k = 0, both numerators >= 0) */
                    const int n_out = (p->out_w - ox - 2) / 2;
                    const int n_in = ((p->in_w - 3 - ix0) / sw - 1) / 2;
                    const int n = 1 + (n_out < n_in ? n_out : n_in);
                    const int8_t *const base = input + (int32_t)iy0 * row + (int32_t)ix0 * C;
                    jin.da = (intptr_t)out - (intptr_t)base;
                    jin.db = (intptr_t)(out + C) - (intptr_t)base;
                    jin.end = (intptr_t)base + (C & ~3);
                    jin.pairs = n;
                    dw3x2_groups_fast(&jin, (intptr_t)base, filter_w);
                    if (xtail) {   /* the run's channel tails: one more group per pair */
                        jtl.da = jin.da;
                        jtl.db = jin.db;
                        jtl.end = (intptr_t)base + C;
                        jtl.pairs = n;
                        dw3x2_groups_fast(&jtl, (intptr_t)base + C - 4, xw);
                    }
                    for (int i = 0; i < 2 * n && (C & 3) && !xtail; ++i) {   /* then the run's channel tails */
                        pixel(p, input, iy0, ix0 + i * sw, 1, C & ~3, filter, bias_folded, multiplier, shift,
                              out + i * C, fast);
                    }
                    ox += 2 * n - 1;
                    out += (2 * n - 1) * C;
                    continue;
                }
                if ((inside || border3) && (inside1 || border3)) {
                    dw3x2_job job;
                    {
                        taps3(p, input, iy0, ix0, inside, offs, zp_row, job.tab.p);
                        taps3(p, input, iy0, ix1, inside1, offs, zp_row,
                              job.tab.p + 9);
                    }
                    job.bias = bias_folded;
                    job.otab = otab;
                    job.da = (intptr_t)out;
                    job.db = (intptr_t)(out + C);
                    job.end = C & ~3;
                    job.pairs = 1;
                    dw3x2_groups_fast(&job, 0, filter_w);
                    if (xtail) {
                        job.bias = xbias;
                        job.otab = xbias;
                        job.end = C;
                        dw3x2_groups_fast(&job, C - 4, xw);
                    } else if (C & 3) {
                        pixel(p, input, iy0, ix0, inside, C & ~3, filter, bias_folded, multiplier, shift,
                              out, fast);
                        pixel(p, input, iy0, ix1, inside1, C & ~3, filter, bias_folded, multiplier, shift,
                              out + C, fast);
                    }
                    ++ox;
                    out += C;
                    continue;
                }
            }
#endif
            if (inside ? k3 : border3) {
                const int8_t *tap[9];
                const int asm_path = MCUF_HAS_DSP && fast && C >= 4;
                for (int ky = 0; ky < 3 && !asm_path; ++ky) {
                    const int iy = iy0 + ky;
                    for (int kx = 0; kx < 3; ++kx) {
                        const int ix = ix0 + kx;
                        tap[3 * ky + kx] = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w
                                               ? input + (int32_t)iy * row + (int32_t)ix * C
                                               : zp_row;
                    }
                }
#if MCUF_HAS_DSP
                if (asm_path) {   /* the whole groups in assembly, then a tail in C */
                    /* taps as offsets from the window (cur), those outside the input to zp_row */
                    const uintptr_t base =
                        (uintptr_t)input + (uintptr_t)((intptr_t)iy0 * row + (intptr_t)ix0 * C);
                    intptr_t o9[9];
                    if (!inside) {
                        for (int t = 0; t < 9; ++t) {
                            o9[t] = offs[t];
                        }
                        zp_point(o9, zp_mask(iy0, p->in_h, ix0, p->in_w, 3), (intptr_t)((uintptr_t)zp_row - base));
                    }
                    const intptr_t cur = (intptr_t)base;
                    dw3_job job = {bias_folded, otab, 0, (intptr_t)((uintptr_t)out - base),
                                   (intptr_t)(base + (uintptr_t)(C & ~3))};
                    dw3_groups_fast(&job, cur, filter_w, inside ? offs : o9);
                    if (C & 3) {
                        pixel(p, input, iy0, ix0, inside, C & ~3, filter, bias_folded, multiplier, shift,
                              out, fast);
                    }
                    continue;
                }
#endif
                if (fast) {   /* fewer than 4 channels (the generator never sends them here) */
                    pixel(p, input, iy0, ix0, inside, 0, filter, bias_folded, multiplier, shift, out, 1);
                } else {
                    pixel_3x3(p, tap, input, iy0, ix0, inside, filter, bias_folded, multiplier, shift, out,
                              0);
                }
            } else {
                pixel(p, input, iy0, ix0, inside, 0, filter, bias_folded, multiplier, shift, out, fast);
            }
        }
    }
}

/* Specialised copies, chosen by the generator: the fast output stage for every channel, the
 * general one, and the fast stage for undilated 5x5 and 7x7 layers with the two-pixel K x K
 * assembly (own entry points, so --gc-sections drops the 1.9 KB and 3.4 KB loops from the
 * models without such layers). Every entry point is correct on any parameters (a K x K one
 * given other kernel sizes takes the general C path). */
static __attribute__((noinline)) void hwc_body_fast(const mcuf_conv_params *p, const int8_t *input,
                                                    const int16_t *filter, const int32_t *bias_folded,
                                                    const int32_t *multiplier, const int8_t *shift,
                                                    int8_t *output, int16_t *scratch)
{
    mcuf_depthwise_conv_hwc_s8_dsp_body(p, input, filter, bias_folded, multiplier, shift, output, scratch, 1, 0);
}

void mcuf_depthwise_conv_hwc_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                         const int16_t *filter, const int32_t *bias_folded,
                                         const int32_t *multiplier, const int8_t *shift, int8_t *output,
                                         int16_t *scratch)
{
#if MCUF_HAS_DSP
    if (p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 && p->dil_w == 1 && p->in_c >= 4 && p->stride_w <= 2) {
        hwc3_pairs_fast(p, input, filter, bias_folded, multiplier, shift, output, scratch);
        return;
    }
#endif
    hwc_body_fast(p, input, filter, bias_folded, multiplier, shift, output, scratch);
}

/* 3x3 stride-2 layers of 4k + 1 channels (k >= 1; the generator's _hwc_depthwise_kernel): the
 * channel tail's pairs on one lane, a separate entry point so that the other models do not link
 * its code (about 300 bytes); any other layer as mcuf_depthwise_conv_hwc_s8_dsp_fast */
void mcuf_depthwise_conv_hwc_3x3_tail1_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                                   const int16_t *filter, const int32_t *bias_folded,
                                                   const int32_t *multiplier, const int8_t *shift,
                                                   int8_t *output, int16_t *scratch)
{
#if MCUF_HAS_DSP
    if (p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 && p->dil_w == 1 && p->in_c >= 4 && p->stride_w <= 2) {
        hwc3_pairs_tail1_fast(p, input, filter, bias_folded, multiplier, shift, output, scratch);
        return;
    }
#endif
    hwc_body_fast(p, input, filter, bias_folded, multiplier, shift, output, scratch);
}

void mcuf_depthwise_conv_hwc_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                    const int16_t *filter, const int32_t *bias_folded,
                                    const int32_t *multiplier, const int8_t *shift, int8_t *output,
                                    int16_t *scratch)
{
    mcuf_depthwise_conv_hwc_s8_dsp_body(p, input, filter, bias_folded, multiplier, shift, output, scratch, 0, 0);
}

void mcuf_depthwise_conv_hwc_5x5_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                             const int16_t *filter, const int32_t *bias_folded,
                                             const int32_t *multiplier, const int8_t *shift, int8_t *output,
                                             int16_t *scratch)
{
    mcuf_depthwise_conv_hwc_s8_dsp_body(p, input, filter, bias_folded, multiplier, shift, output, scratch, 1, 5);
}

void mcuf_depthwise_conv_hwc_7x7_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                             const int16_t *filter, const int32_t *bias_folded,
                                             const int32_t *multiplier, const int8_t *shift, int8_t *output,
                                             int16_t *scratch)
{
    mcuf_depthwise_conv_hwc_s8_dsp_body(p, input, filter, bias_folded, multiplier, shift, output, scratch, 1, 7);
}

/* The small-plane entry (mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast; the generator's
 * _hwc3_packed_takes / _hwc3_packed_records: 3x3, multiplier 1, stride_w 1 or 2, 4 to 16
 * channels, output planes up to 64 pixels, the fast output stage). The input is first copied
 * into the scratch with zero-point rows and gaps around it (one pass of 32-byte LDM/STM), so
 * every pair of output pixels has the same block of taps and no pair is a border pair; then
 * every pair of the plane runs in one assembly call, the channel groups of a pair from one
 * record stream (biases, weights in load order, output constants, the next group's offset in
 * the last shift word: one LDM of biases, no pointer juggling, a 3-instruction group loop).
 * An odd width's last pair has a phantom B whose bytes land on the next row's first pixel
 * (written again after) or, on the last row, in a sink in the scratch. The copy also makes the
 * kernel safe with the output over the input. */
typedef struct {
    intptr_t cur;       /* the first pair's window in the copy */
    intptr_t da, db;    /* its A's and B's output minus cur */
    intptr_t row_end;   /* cur at the first row's last pair's last group */
    intptr_t rows;      /* >= 1 */
} hwcp_job;

#if MCUF_HAS_DSP
/* the zero-point fill (r4-r11 = the zero point in every byte: the region before the first
 * row, one 32-byte unit at each row's gap, the bottom rows) and the copy of the rows, each
 * through one call into a ladder of 32-byte LDM/STM pairs entered at its row's chunk count
 * (at most 16), then a ladder of words; cp: the header's words 24 on (the zero point in
 * every byte at cp + 64) */
__attribute__((naked, noinline)) static void hwcp_copy(__attribute__((unused)) const int32_t *cp,
                                                       __attribute__((unused)) int8_t *s,
                                                       __attribute__((unused)) const int8_t *in)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "add r4, r0, #64\n\t"
        "ldmia r4, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "mov r3, r1\n\t"
        "ldr r12, [r0, #0]\n\t"          /* units before the first row */
        "1:\n\t"
        "stmia r3!, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "subs r12, r12, #1\n\t"
        "bne 1b\n\t"
        "ldr r12, [r0, #8]\n\t"          /* the first gap */
        "add r3, r1, r12\n\t"
        "ldr lr, [r0, #12]\n\t"          /* P */
        "ldr r12, [r0, #4]\n\t"          /* rows */
        "2:\n\t"
        "stmia r3, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "add r3, r3, lr\n\t"
        "subs r12, r12, #1\n\t"
        "bne 2b\n\t"
        "ldr r12, [r0, #16]\n\t"         /* the bottom rows */
        "add r3, r1, r12\n\t"
        "ldr r12, [r0, #20]\n\t"
        "3:\n\t"
        "stmia r3!, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "subs r12, r12, #1\n\t"
        "bne 3b\n\t"
        "ldr r3, [r0, #28]\n\t"          /* g, at sp */
        "push {r3}\n\t"
        "ldr r3, [r0, #32]\n\t"          /* the ladders' entries */
        ".p2align 2\n\t"                /* ADR is relative to Align(PC, 4): the section word aligned (-Os aligns functions to 2) */
        "adr r12, 20f\n\t"
        "sub r12, r12, r3, lsl #3\n\t"
        "orr r12, r12, #1\n\t"
        "ldr r3, [r0, #36]\n\t"
        "adr r4, 21f\n\t"
        "sub r4, r4, r3, lsl #3\n\t"
        "orr r4, r4, #1\n\t"
        "ldr r3, [r0, #24]\n\t"          /* the first row */
        "add r1, r1, r3\n\t"
        "ldr r3, [r0, #4]\n\t"
        "mov r0, r4\n\t"
        "4:\n\t"
        "blx r12\n\t"
        "ldr r4, [sp]\n\t"
        "add r1, r1, r4\n\t"
        "subs r3, r3, #1\n\t"
        "bne 4b\n\t"
        "add sp, sp, #4\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t"
        ".rept 16\n\t"
        "ldmia.w r2!, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "stmia.w r1!, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        ".endr\n\t"
        "20:\n\t"
        "bx r0\n\t"
        ".rept 7\n\t"
        "ldr.w r4, [r2], #4\n\t"
        "str.w r4, [r1], #4\n\t"
        ".endr\n\t"
        "21:\n\t"
        "bx lr\n\t");
}

/* the first tap of a block (its offset 0): the window itself */
#define HWCP_X0                                                                      \
    "ldr r0, [r1]\n\t"                                                               \
    "sxtb16 r3, r0\n\t"                                                              \
    "sxtb16 r0, r0, ror #8\n\t"

#define HWCP_S1_ROW0(o1, o2, o3)                                                     \
    DW3S1_W HWCP_X0 DW3S1_A DW3S1_X(o1) DW3S1_B                                      \
    DW3S1_W DW3S1_A DW3S1_X(o2) DW3S1_B                                              \
    DW3S1_W DW3S1_A DW3S1_X(o3) DW3S1_B

/* stride 2's block row with the weights in load order (columns 0, 2, 1) */
#define HWCP_S2_ROW(X0, o1, o2, o3, o4)                                              \
    DW3S1_W X0 DW3S1_A DW3S1_X(o2) DW3S1_B                                           \
    DW3S1_W DW3S1_A DW3S1_X(o4) DW3S1_B                                              \
    DW3S1_W DW3S1_X(o1) DW3S1_A DW3S1_X(o3) DW3S1_B

/* Every pair of the job: the header's words 0-23 copied onto the stack (the block's taps at
 * sp + 0, the steps at sp + 60), da, db at sp + 96, row_end at +104, rows left at +108, the
 * group stream at +112. Per group of a pair: the biases (one LDM), BODY (the block's nine taps
 * of A and B), the output stage on the stream's records, eight byte stores, then the next group
 * while the step (the last shift word >> 8) is not 0 (192 instructions for 72 MACs at stride 2,
 * 180 at stride 1); per pair the window, da and db stepped, per row likewise. */
#define HWCP_PAIRS(name, BODY)                                                                \
    __attribute__((naked, noinline)) static void name(__attribute__((unused)) const int32_t *hdr, \
                                                      __attribute__((unused)) const hwcp_job *job) \
    {                                                                                         \
        __asm__ volatile(                                                                     \
            "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                                 \
            "sub sp, sp, #120\n\t"                                                            \
            "mov r12, sp\n\t"                                                                 \
            ".rept 3\n\t"                                                                     \
            "ldmia r0!, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                               \
            "stmia r12!, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                              \
            ".endr\n\t"                                                                       \
            "add r2, r0, #96\n\t"                                                             \
            "str r2, [sp, #112]\n\t"                                                          \
            "ldmia r1, {r1, r3, r4, r5, r6}\n\t"                                              \
            "strd r3, r4, [sp, #96]\n\t"                                                      \
            "strd r5, r6, [sp, #104]\n\t"                                                     \
            "1:\n\t"                                                                          \
            "ldmia r2!, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                               \
            BODY                                                                              \
            DW3X2_OUT("r4", "r8") DW3X2_OUT("r5", "r9") DW3X2_OUT("r6", "r10")                \
            DW3X2_OUT("r7", "r11")                                                            \
            "asrs r0, r12, #8\n\t"                                                            \
            DWX2_STORE_AT(96)                                                                 \
            "add r1, r1, r0\n\t"                                                              \
            "bne 1b\n\t"                                                                      \
            "ldr r12, [sp, #104]\n\t"                                                         \
            "cmp r1, r12\n\t"                                                                 \
            "beq 2f\n\t"                                                                      \
            "ldrd r12, r0, [sp, #60]\n\t"                                                     \
            "4:\n\t"                                                                          \
            "add r1, r1, r12\n\t"                                                             \
            "ldrd r12, lr, [sp, #96]\n\t"                                                     \
            "add r12, r12, r0\n\t"                                                            \
            "add lr, lr, r0\n\t"                                                              \
            "strd r12, lr, [sp, #96]\n\t"                                                     \
            "ldr r2, [sp, #112]\n\t"                                                          \
            "b 1b\n\t"                                                                        \
            "2:\n\t"                                                                          \
            "ldr r0, [sp, #108]\n\t"                                                          \
            "subs r0, r0, #1\n\t"                                                             \
            "beq 3f\n\t"                                                                      \
            "str r0, [sp, #108]\n\t"                                                          \
            "ldr r0, [sp, #76]\n\t"                                                           \
            "add r12, r12, r0\n\t"                                                            \
            "str r12, [sp, #104]\n\t"                                                         \
            "ldrd r12, r0, [sp, #68]\n\t"                                                     \
            "b 4b\n\t"                                                                        \
            "3:\n\t"                                                                          \
            "add sp, sp, #120\n\t"                                                            \
            "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");                                \
    }

HWCP_PAIRS(hwcp_pairs_s1, HWCP_S1_ROW0(4, 8, 12) DW3S1_ROW(16, 20, 24, 28) DW3S1_ROW(32, 36, 40, 44))
HWCP_PAIRS(hwcp_pairs_s2, HWCP_S2_ROW(HWCP_X0, 4, 8, 12, 16) HWCP_S2_ROW(DW3S1_X(20), 24, 28, 32, 36)
                          HWCP_S2_ROW(DW3S1_X(40), 44, 48, 52, 56))
#endif

/* The same from the records in C (the host build; unaligned pointers): every output pixel
 * and group straight from the input, padding taps at the zero point. */
static __attribute__((noinline)) void hwcp_c(const mcuf_conv_params *p, const int8_t *input, const int32_t *packed, int8_t *output)
{
    const int C = p->in_c, sw = p->stride_w;
    const int8_t zp = (int8_t)(-p->input_offset);
    /* the weights' load order: stride 2 per row columns 0, 2, 1 */
    static const uint8_t kx2[3] = {0, 2, 1}, kx1[3] = {0, 1, 2};
    const uint8_t *const kxo = sw == 2 ? kx2 : kx1;
    for (int oy = 0; oy < p->out_h; ++oy) {
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * sw - p->pad_left;
            int8_t *const out = output + ((int32_t)oy * p->out_w + ox) * C;
            const int32_t *g = packed + 48;
            for (int o = 0;;) {
                int32_t acc[4] = {g[0], g[1], g[2], g[3]};
                const int32_t *w = g + 8;
                for (int ky = 0; ky < 3; ++ky) {
                    for (int k = 0; k < 3; ++k, w += 2) {
                        const int iy = iy0 + ky, ix = ix0 + kxo[k];
                        const int in = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
                        for (int l = 0; l < 4; ++l) {
                            const int16_t wl = (int16_t)((uint32_t)w[l & 1] >> (l & 2 ? 16 : 0));
                            const int8_t x = in ? input[((int32_t)iy * p->in_w + ix) * C + o + l] : zp;
                            acc[l] += (int32_t)x * wl;
                        }
                    }
                }
                const int32_t *r = w;
                for (int l = 0; l < 4; ++l, r += 3) {
                    const mcuf_requant q = {r[0], r[1], r[2] & 0xFF};
                    out[o + l] = mcuf_out_fast2(acc[l], &q);
                }
                const int step = (int)(r[-1] >> 8);
                if (step == 0) {
                    break;
                }
                o += step;
                g = r;
            }
        }
    }
}

void mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                                    const int32_t *packed, int8_t *output, int16_t *scratch)
{
#if MCUF_HAS_DSP
    int8_t *const s = (int8_t *)(void *)scratch;
    if ((((uintptr_t)input | (uintptr_t)s) & 3) == 0 && (p->stride_w == 1 || p->stride_w == 2)) {
        void (*const run)(const int32_t *, const hwcp_job *) = p->stride_w == 2 ? hwcp_pairs_s2 : hwcp_pairs_s1;
        hwcp_copy(packed + 24, s, input);
        const int32_t C = p->in_c, adv = 2 * (int32_t)p->stride_w * C, n = packed[22];
        const intptr_t cur = (intptr_t)(s + packed[21]);
        hwcp_job j = {cur, (intptr_t)output - cur, (intptr_t)output - cur + C, cur + packed[34], p->out_h};
        if ((p->out_w & 1) == 0) {
            run(packed, &j);
            return;
        }
        /* an odd width: the phantom Bs of rows but the last on the next row's first pixel */
        const int32_t last = p->out_h - 1, row_in = packed[19];
        if (last > 0) {
            j.rows = last;
            run(packed, &j);
        }
        j.cur = cur + last * row_in;
        j.da = (intptr_t)(output + last * p->out_w * C) - j.cur;
        j.rows = 1;
        if (n > 1) {   /* the last row's whole pairs */
            j.db = j.da + C;
            j.row_end = j.cur + (n - 2) * adv + C - 4;
            run(packed, &j);
            j.cur += (n - 1) * adv;
            j.da = (intptr_t)(output + (last * p->out_w + 2 * (n - 1)) * C) - j.cur;
        }
        j.db = (intptr_t)(s + packed[23]) - j.cur;   /* the last phantom into the sink */
        j.row_end = j.cur + C - 4;
        run(packed, &j);
        return;
    }
#else
    (void)scratch;
#endif
    hwcp_c(p, input, packed, output);
}
