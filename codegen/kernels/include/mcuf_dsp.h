/* SIMD building blocks for the optimized (_dsp) kernels.
 *
 * On cores with the DSP extension (Cortex-M4, M7, M33, M55) these are the ACLE intrinsics
 * from arm_acle.h, one instruction each. Everywhere else (the host, Cortex-M0+) they are
 * emulated in plain C with identical results, so the optimized algorithms are tested
 * byte for byte on the host too.
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
#define mcuf_smlabb(x, y, acc) __smlabb((x), (y), (acc))
#define mcuf_smlatt(x, y, acc) __smlatt((x), (y), (acc))
#define mcuf_smlabt(x, y, acc) __smlabt((x), (y), (acc))
#define mcuf_smlatb(x, y, acc) __smlatb((x), (y), (acc))
#else
#define MCUF_HAS_DSP 0
MCUF_INLINE uint32_t mcuf_sxtb16(uint32_t x)
{
    return ((uint32_t)(int16_t)(int8_t)(x & 0xFF) & 0xFFFFu) |
           ((uint32_t)(int16_t)(int8_t)((x >> 16) & 0xFF) << 16);
}
MCUF_INLINE uint32_t mcuf_sxtb16_ror8(uint32_t x) { return mcuf_sxtb16((x >> 8) | (x << 24)); }
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

/* Unaligned 32-bit load: one LDR on Armv7-M and later (memcpy is folded by the compiler). */
MCUF_INLINE uint32_t mcuf_read32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

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

/* The GEMM kernels' inner step: 2 pixels x 2 output channels x 4 input values.
 * x0e/x0o, x1e/x1o: the even/odd int16 pairs of 4 inputs of each pixel (SXTB16 of an int8
 * word, or an int16 im2col column in (0,2)(1,3) order); k0, k1: 4 int8 weights of each
 * channel. Eight SMLADs, 16 MACs. */
MCUF_INLINE void mcuf_mac_2x2(uint32_t x0e, uint32_t x0o, uint32_t x1e, uint32_t x1o, uint32_t k0,
                              uint32_t k1, int32_t acc[4])
{
    uint32_t ke = mcuf_sxtb16(k0), ko = mcuf_sxtb16_ror8(k0);
    acc[0] = mcuf_smlad(x0o, ko, mcuf_smlad(x0e, ke, acc[0]));
    acc[2] = mcuf_smlad(x1o, ko, mcuf_smlad(x1e, ke, acc[2]));
    ke = mcuf_sxtb16(k1);
    ko = mcuf_sxtb16_ror8(k1);
    acc[1] = mcuf_smlad(x0o, ko, mcuf_smlad(x0e, ke, acc[1]));
    acc[3] = mcuf_smlad(x1o, ko, mcuf_smlad(x1e, ke, acc[3]));
}

/* The GEMM kernels' inner run: acc (2 pixels x 2 output channels) += columns c0 and c1 (int16
 * pairs in SXTB16 order, 4 values per 8 bytes) times the interleaved int8 rows of a channel
 * pair, w to w_end. Each step is three LDRDs, 4 SXTB16 and 8 SMLAD for 16 MACs. */
#define MCUF_GEMM_2X2_STEP(c0, c1, w, acc)                                          \
    do {                                                                             \
        uint32_t x0e, x0o, x1e, x1o, k0, k1;                                         \
        MCUF_LDRD_ADVANCE(x0e, x0o, c0, 8);                                          \
        MCUF_LDRD_ADVANCE(x1e, x1o, c1, 8);                                          \
        MCUF_LDRD_ADVANCE(k0, k1, w, 8);                                             \
        mcuf_mac_2x2(x0e, x0o, x1e, x1o, k0, k1, acc);                               \
    } while (0)

/* Unrolled twice: the loop's compare and branch are 2 of every 17 instructions otherwise
 * (four times is slower: gcc runs out of registers). */
MCUF_INLINE void mcuf_gemm_2x2(const void *c0, const void *c1, const void *w, const void *w_end,
                               int32_t acc[4])
{
    if (((const int8_t *)w_end - (const int8_t *)w) & 8) {
        MCUF_GEMM_2X2_STEP(c0, c1, w, acc);
    }
    while (w != w_end) {
        MCUF_GEMM_2X2_STEP(c0, c1, w, acc);
        MCUF_GEMM_2X2_STEP(c0, c1, w, acc);
    }
}

/* Per-layer output stage shared by the optimized kernels: requantize, add the output zero
 * point, clamp to the fused activation's range. Copied into locals once per call so the
 * compiler does not reload them after every int8 store. */
typedef struct {
    int32_t offset, act_min, act_max;
    int fast;   /* a compile-time constant in each specialised kernel body */
} mcuf_out_stage;

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
 * SMMLAR, the sign correction as an ADD with ASR #31, one shift -- the requantized value with
 * the output zero point added. */
MCUF_INLINE int32_t mcuf_requant_fast2(int32_t x2, const mcuf_requant *q)
{
    return (mcuf_smmlar(x2, q->multiplier, q->round) + (x2 >> 31)) >> q->shift;
}

MCUF_INLINE int8_t mcuf_out_fast2(int32_t x2, const mcuf_requant *q)
{
    return (int8_t)mcuf_ssat8(mcuf_requant_fast2(x2, q));
}

/* The general stage: a channel with fast constants (round != 0) still computes through them,
 * others (left shifts) through TFLite's formula; then the activation's clamp. */
MCUF_INLINE int8_t mcuf_out_general2(mcuf_out_stage o, int32_t x2, const mcuf_requant *q)
{
    const int32_t y = q->round ? mcuf_requant_fast2(x2, q)
                               : mcuf_requantize(x2 >> 1, q->multiplier, q->shift) + o.offset;
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

#endif /* MCUF_DSP_H */
