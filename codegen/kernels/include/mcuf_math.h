/* mcuforge fixed-point primitives: TFLite's integer requantization, bit for bit.
 *
 * These mirror tflite::MultiplyByQuantizedMultiplier with its default double rounding
 * (SaturatingRoundingDoublingHighMul followed by RoundingDivideByPOT) and the gemmlowp
 * fixed-point helpers TFLite's reference int8 softmax is built on. All constants they
 * consume are computed on the host by codegen/quantization.py.
 */
#ifndef MCUF_MATH_H
#define MCUF_MATH_H

#include <stdint.h>

#if defined(__GNUC__)
#define MCUF_INLINE static inline __attribute__((always_inline))
#else
#define MCUF_INLINE static inline
#endif

MCUF_INLINE int32_t mcuf_max32(int32_t a, int32_t b) { return a > b ? a : b; }
MCUF_INLINE int32_t mcuf_min32(int32_t a, int32_t b) { return a < b ? a : b; }

MCUF_INLINE int32_t mcuf_srdhm(int32_t a, int32_t b)
{
    /* SaturatingRoundingDoublingHighMul: the only overflow is INT32_MIN * INT32_MIN. */
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    /* C division truncates toward zero, as the reference's does. */
    return (int32_t)((ab + nudge) / (1LL << 31));
}

MCUF_INLINE int32_t mcuf_rdbypot(int32_t x, int exponent)
{
    /* RoundingDivideByPOT: round to nearest, ties away from zero. */
    const int32_t mask = (int32_t)((1LL << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

MCUF_INLINE int32_t mcuf_requantize(int32_t x, int32_t multiplier, int32_t shift)
{
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    return mcuf_rdbypot(mcuf_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

/* Single-rounding variant (TFLITE_SINGLE_ROUNDING): one 64-bit product, one rounding shift.
 * TFLite's reference FULLY_CONNECTED uses this one; measured on the oracle, the double
 * rounding above differs from it by 1 LSB on ~0.1% of outputs. Relies on >> of a negative
 * int64 being arithmetic, as it is on gcc for Arm and x86. */
MCUF_INLINE int32_t mcuf_requantize_single(int32_t x, int32_t multiplier, int32_t shift)
{
    const int total = 31 - shift;
    const int64_t round = (int64_t)1 << (total - 1);
    return (int32_t)(((int64_t)x * multiplier + round) >> total);
}

MCUF_INLINE int8_t mcuf_clamp_s8(int32_t x, int32_t lo, int32_t hi)
{
    return (int8_t)(x < lo ? lo : (x > hi ? hi : x));
}

/* Walks a 4-D output in order over two inputs given by element strides (0 where an input is
 * broadcast: BroadcastBinaryFunction4DSlow's indexing), storing ELEM(p, a, b) for each. */
#define MCUF_BROADCAST_4D(dims, s1, s2, in1, in2, out, ELEM, p)                              \
    do {                                                                                    \
        int8_t *o_ = (out);                                                                 \
        for (uint32_t n_ = 0; n_ < (dims)[0]; ++n_) {                                       \
            for (uint32_t y_ = 0; y_ < (dims)[1]; ++y_) {                                   \
                for (uint32_t x_ = 0; x_ < (dims)[2]; ++x_) {                               \
                    const int8_t *a_ = (in1) + n_ * (s1)[0] + y_ * (s1)[1] + x_ * (s1)[2];  \
                    const int8_t *b_ = (in2) + n_ * (s2)[0] + y_ * (s2)[1] + x_ * (s2)[2];  \
                    for (uint32_t c_ = 0; c_ < (dims)[3]; ++c_) {                           \
                        *o_++ = ELEM((p), a_[c_ * (s1)[3]], b_[c_ * (s2)[3]]);              \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    } while (0)

#endif /* MCUF_MATH_H */
