/* gemmlowp's fixed-point routines that TFLite's reference SOFTMAX and LOG_SOFTMAX evaluate
 * (gemmlowp/fixedpoint/fixedpoint.h), shared by reference/mcuf_softmax_s8.c and
 * reference/mcuf_log_softmax_s8.c; operation for operation, sums wrapping as gemmlowp's
 * int32 arithmetic does on Arm and x86. */
#ifndef MCUF_FIXEDPOINT_H
#define MCUF_FIXEDPOINT_H

#include <stdint.h>

#include "mcuf_math.h"

MCUF_INLINE int32_t mcuf_wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
MCUF_INLINE int32_t mcuf_wrap_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

/* SaturatingRoundingMultiplyByPOT with a run-time exponent: x * 2^e with saturation (e > 0)
 * or rounding (e < 0). */
MCUF_INLINE int32_t mcuf_mul_by_pot(int32_t x, int e)
{
    if (e > 0) {
        const int32_t threshold = (int32_t)((1u << (31 - e)) - 1);
        if (x > threshold) {
            return INT32_MAX;
        }
        if (x < -threshold) {
            return INT32_MIN;
        }
        return (int32_t)((uint32_t)x << e);
    }
    return e < 0 ? mcuf_rdbypot(x, -e) : x;
}

/* one_over_one_plus_x_for_x_in_0_1, Q0.31 in and out: Newton-Raphson on the half
 * denominator in Q2.29. ExactMulByPot<-1> reinterprets Q2.29 as Q1.30 (same raw bits);
 * Rescale<0> then multiplies by 2 with saturation. */
MCUF_INLINE int32_t mcuf_one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = mcuf_wrap_add(1515870810 /* 48/17 */, mcuf_srdhm(half_denominator, -1010580540 /* -32/17 */));
    for (int i = 0; i < 3; ++i) {
        const int32_t one_minus = mcuf_wrap_sub(1 << 29, mcuf_srdhm(half_denominator, x));
        x = mcuf_wrap_add(x, mcuf_mul_by_pot(mcuf_srdhm(x, one_minus), 2));
    }
    return mcuf_mul_by_pot(x, 1);
}

/* leading zero bits of x, 32 for 0 */
MCUF_INLINE int mcuf_clz32(uint32_t x)
{
#if defined(__GNUC__)
    return x ? __builtin_clz(x) : 32;
#else
    int n = 0;
    while (n < 32 && !(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
#endif
}

#endif /* MCUF_FIXEDPOINT_H */
