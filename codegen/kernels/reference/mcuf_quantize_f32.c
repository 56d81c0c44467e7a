/* The float and uint8 edges of a model (QUANTIZE float32/uint8 -> int8 at the input,
 * DEQUANTIZE int8 -> float32 or QUANTIZE int8 -> uint8 at the output), bit for bit as
 * TFLite's reference kernels compute them (reference/quantize.h AffineQuantize,
 * reference/dequantize.h Dequantize, reference/requantize.h Requantize):
 *
 *   quantize:   q = clamp((int32)round(x / scale) + zero_point, -128, 127), the quotient in
 *               single precision, round() half away from zero;
 *   dequantize: y = scale * (q - zero_point); TFLite forms it in double and rounds once to
 *               float; (q - zero_point) has 9 bits and scale 24, so the double product is exact
 *               and the single-precision product, rounded once, is the same float;
 *   uint8 <-> int8: a 256-entry table the generator computes with TFLite's Requantize.
 *
 * Single-precision arithmetic only (an FPU's VDIV.F32/VMUL.F32, or the soft-float library on
 * cores without one: both IEEE 754, correctly rounded). No libm. Quotients beyond +-512 are
 * clamped before the integer conversion (the int8 clamp decides them anyway); TFLite's cast of
 * a NaN or of a quotient beyond int32 is undefined behaviour in C++: here NaN gives the zero
 * point and infinities saturate like large finite values. */
#include "mcuf_nn.h"

static int8_t quantize_one(float x, float scale, int32_t zero_point)
{
    float v = x / scale;
    int32_t r = 0;
    if (v == v) {                       /* not NaN */
        if (v > 512.0f) {
            v = 512.0f;
        } else if (v < -512.0f) {
            v = -512.0f;
        }
        r = (int32_t)v;                 /* toward zero */
        const float frac = v - (float)r;   /* exact: the fraction bits of v */
        if (frac >= 0.5f) {
            ++r;
        } else if (frac <= -0.5f) {
            --r;
        }
    }
    r += zero_point;
    return (int8_t)(r < -128 ? -128 : (r > 127 ? 127 : r));
}

void mcuf_quantize_f32_s8(const float *input, int8_t *output, uint32_t size, float scale,
                          int32_t zero_point)
{
    for (uint32_t i = 0; i < size; ++i) {
        output[i] = quantize_one(input[i], scale, zero_point);
    }
}

void mcuf_dequantize_s8_f32(const int8_t *input, float *output, uint32_t size, float scale,
                            int32_t zero_point)
{
    for (uint32_t i = 0; i < size; ++i) {
        output[i] = scale * (float)((int32_t)input[i] - zero_point);
    }
}

void mcuf_requantize_u8_s8(const uint8_t *input, int8_t *output, uint32_t size, const int8_t *table)
{
    for (uint32_t i = 0; i < size; ++i) {
        output[i] = table[input[i]];
    }
}

void mcuf_requantize_s8_u8(const int8_t *input, uint8_t *output, uint32_t size, const uint8_t *table)
{
    for (uint32_t i = 0; i < size; ++i) {
        output[i] = table[(uint8_t)input[i]];
    }
}
