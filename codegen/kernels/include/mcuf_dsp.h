/* SIMD building blocks for the optimized (_dsp) kernels.
 *
 * On cores with the DSP extension (Cortex-M4, M7, M33, M55) these are the ACLE intrinsics
 * from arm_acle.h, one instruction each. On the host they are emulated in plain C with
 * identical results, so the optimized algorithms are tested byte for byte there too; an Arm
 * core without the extension is refused at compile time (MCUF_DSP_EMULATE overrides).
 */
#ifndef MCUF_DSP_H
#define MCUF_DSP_H

#include <stdint.h>
#include <string.h>

#include "mcuf_math.h"
#include "mcuf_nn.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define MCUF_HAS_DSP 1
#define mcuf_sxtb16(x) __sxtb16(x)
/* SXTB16 with its free rotate: gcc does not fold a rotate expression into it by itself. */
MCUF_INLINE uint32_t mcuf_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#define mcuf_smlad(x, y, acc) __smlad((x), (y), (acc))
#define mcuf_sadd16(x, y) __sadd16((x), (y))
#define mcuf_smlabb(x, y, acc) __smlabb((x), (y), (acc))
#define mcuf_smlatt(x, y, acc) __smlatt((x), (y), (acc))
#define mcuf_smlabt(x, y, acc) __smlabt((x), (y), (acc))
#define mcuf_smlatb(x, y, acc) __smlatb((x), (y), (acc))
#else
#if defined(__arm__) && !defined(MCUF_DSP_EMULATE)
/* An Arm core without the DSP extension (Cortex-M0/M0+/M3): the emulation below would be
 * slower than the reference kernels. Emit with --kernels reference for it. */
#error "mcuforge: the _dsp kernels need the DSP extension (Cortex-M4/M7/M33/M55); emit with --kernels reference"
#endif
#define MCUF_HAS_DSP 0
MCUF_INLINE uint32_t mcuf_sxtb16(uint32_t x)
{
    return ((uint32_t)(int16_t)(int8_t)(x & 0xFF) & 0xFFFFu) |
           ((uint32_t)(int16_t)(int8_t)((x >> 16) & 0xFF) << 16);
}
MCUF_INLINE uint32_t mcuf_sxtb16_ror8(uint32_t x) { return mcuf_sxtb16((x >> 8) | (x << 24)); }
MCUF_INLINE uint32_t mcuf_sadd16(uint32_t x, uint32_t y)
{
    return ((x + y) & 0xFFFFu) | (((x >> 16) + (y >> 16)) << 16);
}
MCUF_INLINE int32_t mcuf_smlad(uint32_t x, uint32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)x * (int16_t)y) +
                     (uint32_t)((int32_t)(int16_t)(x >> 16) * (int16_t)(y >> 16)));
}
MCUF_INLINE int32_t mcuf_smlabb(uint32_t x, uint32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)x * (int16_t)y));
}
MCUF_INLINE int32_t mcuf_smlatt(uint32_t x, uint32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)(x >> 16) * (int16_t)(y >> 16)));
}
MCUF_INLINE int32_t mcuf_smlabt(uint32_t x, uint32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)x * (int16_t)(y >> 16)));
}
MCUF_INLINE int32_t mcuf_smlatb(uint32_t x, uint32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)(x >> 16) * (int16_t)y));
}
#endif

/* Four int8 of v as int16 in natural order: lo = (v0, v1), hi = (v2, v3). SXTB16 gives
 * (v0, v2) and (v1, v3); PKHBT / PKHTB regroup them (gcc does not always find those in the
 * mask-and-or). */
MCUF_INLINE void mcuf_widen4(uint32_t v, uint32_t *lo, uint32_t *hi)
{
    const uint32_t e = mcuf_sxtb16(v), o = mcuf_sxtb16_ror8(v);
#if MCUF_HAS_DSP
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(*lo) : "r"(e), "r"(o));
    __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(*hi) : "r"(e), "r"(o));
#else
    *lo = (e & 0xFFFFu) | (o << 16);
    *hi = (e >> 16) | (o & 0xFFFF0000u);
#endif
}

/* Unaligned 32-bit load: one LDR on Armv7-M and later (memcpy is folded by the compiler). */
MCUF_INLINE uint32_t mcuf_read32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Unaligned 32-bit store: one STR on Armv7-M and later. */
MCUF_INLINE void mcuf_write32(void *p, uint32_t v) { memcpy(p, &v, 4); }

/* Two words from p, then p advanced by `step` bytes: one LDRD with write-back. gcc makes
 * two LDRs and an ADD of the same C, which is what QEMU counts (and the core executes). */
#if MCUF_HAS_DSP
#define MCUF_LDRD_ADVANCE(lo, hi, p, step)                                          \
    __asm__("ldrd %0, %1, [%2], #" #step                                             \
            : "=r"(lo), "=r"(hi), "+r"(p)                                            \
            : "m"(*(const uint32_t(*)[2])(const void *)(p)))
#else
#define MCUF_LDRD_ADVANCE(lo, hi, p, step)                                          \
    do {                                                                             \
        (lo) = mcuf_read32(p);                                                       \
        (hi) = mcuf_read32((const int8_t *)(p) + 4);                                 \
        (p) = (const void *)((const int8_t *)(p) + (step));                          \
    } while (0)
#endif

/* Loads at p + off, off a compile-time constant: one LDR, or one LDRD (p + off word
 * aligned). Volatile so that gcc keeps them where they are written instead of hoisting
 * them out of a loop into spilled registers, which it otherwise does with a kernel's
 * loop-invariant input words. The memory operand starts at p (already in a register: an
 * operand at p + off makes gcc compute that address first). */
#if MCUF_HAS_DSP
#define MCUF_LDR_AT(v, p, off)                                                       \
    __asm__ volatile("ldr %0, [%1, %2]"                                              \
                     : "=r"(v)                                                       \
                     : "r"(p), "n"(off), "m"(*(const uint8_t(*)[(off) + 4])(const void *)(p)))
#define MCUF_LDRD_AT(lo, hi, p, off)                                                 \
    __asm__ volatile("ldrd %0, %1, [%2, %3]"                                         \
                     : "=r"(lo), "=r"(hi)                                            \
                     : "r"(p), "n"(off),                                             \
                       "m"(*(const uint8_t(*)[(off) + 8])(const void *)(p)))
#else
#define MCUF_LDR_AT(v, p, off) ((v) = mcuf_read32((const char *)(p) + (off)))
#define MCUF_LDRD_AT(lo, hi, p, off)                                                 \
    do {                                                                             \
        (lo) = mcuf_read32((const char *)(p) + (off));                               \
        (hi) = mcuf_read32((const char *)(p) + (off) + 4);                           \
    } while (0)
#endif

#if MCUF_HAS_DSP
/* The depthwise pair runs' step after a pair (mcuf_depthwise_conv_3x3_s8_dsp.c's dw3 runs and
 * mcuf_depthwise_conv_kxk_s8_dsp.c's stride-2 ones, their frames laid out alike): the pair's two
 * outputs r0, r1 stored out_c apart at ip (frame +12 out_c, +16 the row's end of ROW, the plane
 * row register), the next pair; at the row's end the next row (+36 plane step, +40 output step,
 * +44 row bytes, +48 the stop), back to label 1 until the last row. */
#define MCUF_DW_PAIR_STORE_NEXT(ROW)                                                 \
    "ldrd r2, r3, [sp, #12]\n\t"                                                      \
    "strb r0, [ip]\n\t"                                                               \
    "strb r1, [ip, r2]\n\t"                                                           \
    "add ip, ip, r2, lsl #1\n\t"                                                      \
    "cmp " ROW ", r3\n\t"                                                             \
    "bne 1b\n\t"                                                                      \
    "ldr r2, [sp, #36]\n\t"                                                           \
    "add " ROW ", " ROW ", r2\n\t"                                                    \
    "ldr r2, [sp, #40]\n\t"                                                           \
    "add ip, ip, r2\n\t"                                                              \
    "ldr r2, [sp, #44]\n\t"                                                           \
    "add r3, r3, r2\n\t"                                                              \
    "str r3, [sp, #16]\n\t"                                                           \
    "ldr r2, [sp, #48]\n\t"                                                           \
    "cmp r3, r2\n\t"                                                                  \
    "bne 1b\n\t"
#endif

/* The GEMM kernels' inner run: acc (2 pixels x 2 output channels: acc[0], acc[1] pixel 0's
 * channels, acc[2], acc[3] pixel 1's) += an interleaved column pair times the interleaved
 * int8 rows of a channel pair, w to w_end (a multiple of 8 bytes).
 * The column pair holds, per 4 inputs, 4 words: pixel 0's int16 pairs (x0, x2), (x1, x3)
 * (SXTB16 order), then pixel 1's; the rows of the channel pair alternate word by word.
 * One step -- 16 MACs -- is one LDM of the four column words, one LDRD of both channels' 4
 * weights, 4 SXTB16 and 8 SMLAD: 14 instructions. gcc does not emit the LDM by itself (it
 * needs four ascending registers) and the run needs 14 registers, more than inline assembly
 * can reliably get (-Os, frame pointers), so on DSP cores it is a small assembly routine
 * (mcuf_gemm_2x2_fast_s8_dsp.c). */
#if MCUF_HAS_DSP
void mcuf_gemm_2x2_s8(const void *col, const void *w, const void *w_end, int32_t acc[4]);

MCUF_INLINE void mcuf_gemm_2x2(const void *col, const void *w, const void *w_end, int32_t acc[4])
{
    mcuf_gemm_2x2_s8(col, w, w_end, acc);
}
#else
MCUF_INLINE void mcuf_gemm_2x2(const void *col, const void *w, const void *w_end, int32_t acc[4])
{
    const uint32_t *c = (const uint32_t *)col;
    for (const int8_t *k = (const int8_t *)w; k != (const int8_t *)w_end; k += 8, c += 4) {
        const uint32_t k0 = mcuf_read32(k), k1 = mcuf_read32(k + 4);
        const uint32_t e0 = mcuf_sxtb16(k0), o0 = mcuf_sxtb16_ror8(k0);
        const uint32_t e1 = mcuf_sxtb16(k1), o1 = mcuf_sxtb16_ror8(k1);
        acc[0] = mcuf_smlad(c[1], o0, mcuf_smlad(c[0], e0, acc[0]));
        acc[2] = mcuf_smlad(c[3], o0, mcuf_smlad(c[2], e0, acc[2]));
        acc[1] = mcuf_smlad(c[1], o1, mcuf_smlad(c[0], e1, acc[1]));
        acc[3] = mcuf_smlad(c[3], o1, mcuf_smlad(c[2], e1, acc[3]));
    }
}
#endif

/* One pixel pair, every channel pair, fast output stage (mcuf_gemm_2x2_fast_s8_dsp.c): the
 * assembly routine's frame, in this order. round1: 2 * output zero point + 1 (see
 * mcuf_requant); bias2: doubled biases; col: the doubled column pair (mcuf_gemm_2x2's
 * layout, each int16 twice the input); weight_bytes: 2 * in_c, one channel pair's
 * interleaved rows (a multiple of 8); shift_end: shift + the even channel count (>= 2). */
typedef struct {
    const int32_t *multiplier;
    const int8_t *shift;
    int32_t round1;
    const int32_t *bias2;
    int8_t *out0, *out1;
    int32_t weight_bytes;
    const uint32_t *col;
    const int8_t *shift_end;
    const int8_t *filter;
} mcuf_gemm_job;

#if MCUF_HAS_DSP
#define MCUF_HAS_GEMM_ASM 1
void mcuf_gemm_2x2_fast_s8(const mcuf_gemm_job *job);
#else
#define MCUF_HAS_GEMM_ASM 0
#endif

/* One pixel pair, every channel pair, fast output stage, over a packed stream
 * (mcuf_gemm_2x2_fast_s8_dsp.c, mcuf_gemm_2x2_packed_s8): per channel pair one record of
 * 36 + weight_bytes bytes -- int32 2 * bias of channel 0, 1, 0, 1; the pair's weights
 * interleaved word by word (mcuf_gemm_2x2's layout); int32 multiplier 0, round 0,
 * b0 | b1 << 8, multiplier 1, round 1 (round = (2 * output zero point + 1) << b, see
 * mcuf_requant) -- the records one after the other, word aligned. skip_bytes: 56 times the
 * steps of 4 inputs that the run's 4-step unrolled loop skips on entry, (-(in_c / 4)) & 3.
 * In this order (the routine reads it as words). */
typedef struct {
    int8_t *out0, *out1;
    const uint32_t *col;
    const int8_t *end;        /* the end of the pairs' records */
    int32_t skip_bytes;
    int32_t weight_bytes;     /* 2 * in_c, a multiple of 8 */
    const int8_t *packed;     /* the first record */
} mcuf_gemm_packed_job;

#define MCUF_PACKED_PAIR_BYTES(in_c) (36 + 2 * (in_c))

#if MCUF_HAS_DSP
void mcuf_gemm_2x2_packed_s8(const mcuf_gemm_packed_job *job);
/* the same for one pixel (skip_bytes: 40 per skipped step) */
void mcuf_gemm_1x2_packed_s8(const mcuf_gemm_packed_job *job);
/* in_c <= 64, int16 weights (records of 36 + 4 * in_c bytes; skip_bytes: 40 * (16 - in_c / 4)) */
void mcuf_gemm_2x2_packed16_s8(const mcuf_gemm_packed_job *job);
/* the same for one pixel (skip_bytes: 24 * (16 - in_c / 4)) */
void mcuf_gemm_1x2_packed16_s8(const mcuf_gemm_packed_job *job);
#endif

/* Per-layer output stage shared by the optimized kernels: requantize, add the output zero
 * point, clamp to the fused activation's range. Copied into locals once per call so the
 * compiler does not reload them after every int8 store. */
typedef struct {
    int32_t offset, act_min, act_max;
    int32_t round1;   /* 2 * offset + 1: the fast stage's rounding constant before its shift */
    int fast;         /* a compile-time constant in each specialised kernel body */
} mcuf_out_stage;

MCUF_INLINE mcuf_out_stage mcuf_out_stage_of(const mcuf_conv_params *p, int fast)
{
    const mcuf_out_stage o = {p->output_offset, p->act_min, p->act_max, 2 * p->output_offset + 1, fast};
    return o;
}

/* One channel's output constants, unpacked (in registers) from the generator's multiplier
 * and shift byte b (mcuf_nn.h). round = (2 * offset + 1) << b = 2^b + offset * 2^(b+1) is the
 * SMMLAR addend of fast_requant_constants, never 0 (an odd number times 2^b, |round| < 2^31).
 * The fast stage ends in SSAT, whose free ASR #1 takes the last bit of the shift: there
 * shift = b. The general stage ends in a clamp that cannot shift: there shift = b + 1, and a
 * formula channel (b >= 32) has round = 0 and TFLite's shift + 65 (branch-free: a register
 * LSL by 32 or more gives 0). */
typedef struct {
    int32_t multiplier, round, shift;
} mcuf_requant;

#define MCUF_FORMULA_SHIFT 64   /* a formula channel's shift byte: TFLite's shift + 64 */

MCUF_INLINE int mcuf_requant_is_fast(int32_t b) { return b < 32; }

/* x << n as the core's register shift does it: 0 for n from 32 to 255 */
MCUF_INLINE int32_t mcuf_lsl_reg(int32_t x, int32_t n)
{
#if MCUF_HAS_DSP
    int32_t r;
    __asm__("lsl %0, %1, %2" : "=r"(r) : "r"(x), "r"(n));
    return r;
#else
    return n < 32 ? (int32_t)((uint32_t)x << n) : 0;
#endif
}

MCUF_INLINE mcuf_requant mcuf_requant_at(mcuf_out_stage o, const int32_t *multiplier,
                                         const int8_t *shift, int c)
{
    const int32_t b = shift[c];
    const mcuf_requant q = {multiplier[c],
                            o.fast ? (int32_t)((uint32_t)o.round1 << b) : mcuf_lsl_reg(o.round1, b),
                            o.fast ? b : b + 1};
    return q;
}

/* (acc * 2^32 + a * b + 2^31) >> 32: the rounding most-significant-word multiply-accumulate */
MCUF_INLINE int32_t mcuf_smmlar(int32_t a, int32_t b, int32_t acc)
{
#if MCUF_HAS_DSP
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
#else
    return (int32_t)(((int64_t)acc * 4294967296LL + (int64_t)a * b + 2147483648LL) >> 32);
#endif
}

MCUF_INLINE int32_t mcuf_ssat8(int32_t x)
{
#if MCUF_HAS_DSP
    return __ssat(x, 8);
#else
    return x < -128 ? -128 : (x > 127 ? 127 : x);
#endif
}

/* The fast output stage of a doubled accumulator x2 = 2 * acc (fast_requant_constants):
 * SMMLAR, the sign correction as an ADD with ASR #31, shifts by b and (SSAT's own ASR #1) 1 --
 * the requantized value with the output zero point added, saturated. */
MCUF_INLINE int32_t mcuf_requant_fast2(int32_t x2, const mcuf_requant *q)
{
    return (mcuf_smmlar(x2, q->multiplier, q->round) + (x2 >> 31)) >> q->shift;
}

MCUF_INLINE int8_t mcuf_out_fast2(int32_t x2, const mcuf_requant *q)
{
#if MCUF_HAS_DSP
    int32_t r;
    __asm__("ssat %0, #8, %1, asr #1" : "=r"(r) : "r"(mcuf_requant_fast2(x2, q)));
    return (int8_t)r;
#else
    return (int8_t)mcuf_ssat8(mcuf_requant_fast2(x2, q) >> 1);
#endif
}

/* TFLite's formula for the rare channels without fast constants (left shifts): long, so out
 * of line, once per kernel file. */
static __attribute__((noinline, unused)) int32_t mcuf_requant_formula2(int32_t x2, const mcuf_requant *q,
                                                                       int32_t offset)
{
    return mcuf_requantize(x2 >> 1, q->multiplier, q->shift - 1 - MCUF_FORMULA_SHIFT) + offset;
}

/* The general stage: a channel with fast constants (round != 0) still computes through them,
 * with the whole shift (b + 1), others (left shifts) through TFLite's formula; then the
 * activation's clamp. */
MCUF_INLINE int8_t mcuf_out_general2(mcuf_out_stage o, int32_t x2, const mcuf_requant *q)
{
    const int32_t y = q->round ? mcuf_requant_fast2(x2, q) : mcuf_requant_formula2(x2, q, o.offset);
    return mcuf_clamp_s8(y, o.act_min, o.act_max);
}

/* The output stage of a kernel that accumulates 2 * acc itself (doubled weights and bias). */
MCUF_INLINE int8_t mcuf_out_x2(mcuf_out_stage o, int32_t acc2, const mcuf_requant *q)
{
    return o.fast ? mcuf_out_fast2(acc2, q) : mcuf_out_general2(o, acc2, q);
}

MCUF_INLINE int8_t mcuf_out(mcuf_out_stage o, int32_t acc, const mcuf_requant *q)
{
    return mcuf_out_x2(o, (int32_t)((uint32_t)acc << 1), q);
}

/* A channel with fast constants (round != 0) in a copy of either stage. */
MCUF_INLINE int8_t mcuf_out_fast_constants_x2(mcuf_out_stage o, int32_t acc2, const mcuf_requant *q)
{
    return o.fast ? mcuf_out_fast2(acc2, q)
                  : mcuf_clamp_s8(mcuf_requant_fast2(acc2, q), o.act_min, o.act_max);
}

/* A 2 pixel x 2 channel block with a formula channel: rare, so out of line, once per file. */
static __attribute__((noinline, unused)) void mcuf_out_2x2_general(mcuf_out_stage o, const int32_t acc2[4],
                                                                   const mcuf_requant q[2], int8_t *out0,
                                                                   int8_t *out1)
{
    out0[0] = mcuf_out_general2(o, acc2[0], &q[0]);
    out0[1] = mcuf_out_general2(o, acc2[1], &q[1]);
    out1[0] = mcuf_out_general2(o, acc2[2], &q[0]);
    out1[1] = mcuf_out_general2(o, acc2[3], &q[1]);
}

/* A 2 pixel x 2 channel block's doubled accumulators (pixel 0's two channels, then pixel 1's)
 * through the output stage of channels q[0], q[1] into out0[0..1] and out1[0..1]. All four
 * before any store: an int8 store may alias the tables the constants came from, and storing
 * first would make the compiler reload them. A block with a formula channel goes out of line:
 * inline, its four branches would cost every block registers. */
MCUF_INLINE void mcuf_out_2x2(mcuf_out_stage o, const int32_t acc2[4], const mcuf_requant q[2],
                              int8_t *out0, int8_t *out1)
{
    if (!o.fast && !(q[0].round && q[1].round)) {
        /* copies made here, so that only this path keeps the block in memory */
        const int32_t a[4] = {acc2[0], acc2[1], acc2[2], acc2[3]};
        const mcuf_requant c[2] = {q[0], q[1]};
        mcuf_out_2x2_general(o, a, c, out0, out1);
        return;
    }
    const int8_t y00 = mcuf_out_fast_constants_x2(o, acc2[0], &q[0]);
    const int8_t y01 = mcuf_out_fast_constants_x2(o, acc2[1], &q[1]);
    const int8_t y10 = mcuf_out_fast_constants_x2(o, acc2[2], &q[0]);
    const int8_t y11 = mcuf_out_fast_constants_x2(o, acc2[3], &q[1]);
    out0[0] = y00;
    out0[1] = y01;
    out1[0] = y10;
    out1[1] = y11;
}

/* Four int8 values (each already within [-128, 127]) as one word, y0 in the low byte: three
 * BFI. */
MCUF_INLINE uint32_t mcuf_pack4_s8(int32_t y0, int32_t y1, int32_t y2, int32_t y3)
{
#if MCUF_HAS_DSP
    uint32_t r = (uint32_t)y0;
    __asm__("bfi %0, %1, #8, #8" : "+r"(r) : "r"(y1));
    __asm__("bfi %0, %1, #16, #8" : "+r"(r) : "r"(y2));
    __asm__("bfi %0, %1, #24, #8" : "+r"(r) : "r"(y3));
    return r;
#else
    return (uint32_t)(uint8_t)y0 | (uint32_t)(uint8_t)y1 << 8 | (uint32_t)(uint8_t)y2 << 16 |
           (uint32_t)(uint8_t)y3 << 24;
#endif
}

/* Per signed byte: min(max(x, lo), hi) -- SSUB8 + SEL twice. */
MCUF_INLINE uint32_t mcuf_clamp4_s8(uint32_t x, uint32_t lo, uint32_t hi)
{
#if MCUF_HAS_DSP
    uint32_t r, t;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(t) : "r"(x), "r"(lo) : "cc");
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(t), "r"(hi) : "cc");
    return r;
#else
    uint32_t r = 0;
    for (int i = 0; i < 32; i += 8) {
        int32_t v = (int8_t)(x >> i);
        const int32_t l = (int8_t)(lo >> i), h = (int8_t)(hi >> i);
        v = v < l ? l : (v > h ? h : v);
        r |= (uint32_t)(uint8_t)v << i;
    }
    return r;
#endif
}

/* v's low byte in all four bytes */
MCUF_INLINE uint32_t mcuf_splat4_s8(int32_t v) { return (uint32_t)(uint8_t)v * 0x01010101u; }

#endif /* MCUF_DSP_H */
