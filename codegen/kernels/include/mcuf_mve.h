/* Building blocks of the Helium (MVE, Armv8.1-M: Cortex-M55/M85) kernels, `_mve`.
 *
 * The output stage is CMSIS-NN's arm_requantize_mve, which is TFLite's
 * MultiplyByQuantizedMultiplier bit for bit (proven against TFLite's formula in
 * tests/test_quantization.py, mve_requantize): VSHL by the left shift, VQRDMULH (exactly
 * SaturatingRoundingDoublingHighMul: both round (2ab + 2^31) >> 32, and only INT32_MIN^2
 * saturates), then RoundingDivideByPOT's round-half-away-from-zero as a saturating -1 on
 * negative values (VSHR #31, VQADD) before VRSHL's round-half-up right shift.
 * The kernels take TFLite's own per-channel multiplier and shift (int32, shift in [-31, 30]).
 *
 * Where the core has no MVE (the host, other Cortex-M builds of the same generated code) the
 * _mve kernels are compiled as plain C with the same constants and layouts (the
 * MCUF_HAS_MVE == 0 branch of each file): same bytes, no vectors.
 */
#ifndef MCUF_MVE_H
#define MCUF_MVE_H

#include <stdint.h>
#include <string.h>

#include "mcuf_math.h"
#include "mcuf_nn.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define MCUF_HAS_MVE 1

/* v (4 lanes of one channel) requantized and offset, before the clamp. fast: the shift is
 * in [-31, -1] (no left shift, the sign correction always applies). */
MCUF_INLINE int32x4_t mcuf_mve_requant_n(int32x4_t v, int32_t mult, int32_t shift, const int fast)
{
    if (!fast && shift > 0) {
        v = vshlq_r_s32(v, shift);
    }
    v = vqrdmulhq_n_s32(v, mult);
    if (fast || shift < 0) {
        v = vqaddq_s32(v, vshrq_n_s32(v, 31));
        v = vrshlq_n_s32(v, shift);
    }
    return v;
}

/* n bytes from src to dst (n >= 0), tail predicated */
MCUF_INLINE void mcuf_mve_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n > 0; n -= 16, src += 16, dst += 16) {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, p), p);
    }
}

MCUF_INLINE void mcuf_mve_fill(int8_t *dst, int8_t value, int32_t n)
{
    const int8x16_t v = vdupq_n_s8(value);
    for (; n > 0; n -= 16, dst += 16) {
        vstrbq_p_s8(dst, v, vctp8q((uint32_t)n));
    }
}
#else
#define MCUF_HAS_MVE 0

MCUF_INLINE void mcuf_mve_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    if (n > 0) {
        memcpy(dst, src, (size_t)n);
    }
}

MCUF_INLINE void mcuf_mve_fill(int8_t *dst, int8_t value, int32_t n)
{
    if (n > 0) {
        memset(dst, value, (size_t)n);
    }
}
#endif

/* One output: TFLite's arithmetic, as every _mve kernel's vector stage computes it. */
MCUF_INLINE int8_t mcuf_mve_out1(const mcuf_conv_params *p, int32_t acc, int32_t mult, int32_t shift)
{
    return mcuf_clamp_s8(mcuf_requantize(acc, mult, shift) + p->output_offset, p->act_min, p->act_max);
}

#endif /* MCUF_MVE_H */
