/* RESIZE_BILINEAR of a legacy uint8 tensor stored shifted to int8 (u - 128), as TFLite's
 * uint8 reference kernel computes it (reference_ops::ResizeBilinear<uint8_t>), which unlike
 * the int8 one (ResizeBilinearInteger, 10-bit fixed point) interpolates the raw bytes in
 * single precision:
 *
 *   v = u00 * wy0 * wx0 + u10 * wy1 * wx0 + u01 * wy0 * wx1 + u11 * wy1 * wx1 + 0.5f
 *   out = (uint8) v        (truncation)
 *
 * evaluated left to right, each product and sum rounded to float (IEEE 754 binary32, as an
 * FPU's VMUL.F32/VADD.F32 or the soft-float library give them). wy1 = input_y - y0 and
 * wy0 = 1 - wy1 (the same for x) come from the generator, computed in float32 as TFLite's
 * ComputeInterpolationValues does, as their bit patterns: y_table[out_h][4] = {lower, upper,
 * bits(wy0), bits(wy1)}, x_table the same per column. No fused multiply-add may join a
 * product and a sum (it rounds once where TFLite rounds twice): contraction is turned off
 * here for GCC and clang. Values outside [0, 256) (never met: the weights sum to 1) are
 * clamped before the conversion, which C leaves undefined there. */
#include <string.h>

#include "mcuf_nn.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#define MCUF_NO_FP_CONTRACT
#elif defined(__GNUC__)
#define MCUF_NO_FP_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define MCUF_NO_FP_CONTRACT
#endif

static float bits_to_float(int32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

MCUF_NO_FP_CONTRACT
void mcuf_resize_bilinear_u8(const mcuf_resize_params *p, const int8_t *input,
                             const int32_t *y_table, const int32_t *x_table, int8_t *output)
{
    const uint32_t row = (uint32_t)p->in_w * p->depth;
    for (uint32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->in_h * row;
        for (uint32_t y = 0; y < p->out_h; ++y) {
            const int8_t *r0 = in + (uint32_t)y_table[4 * y] * row;
            const int8_t *r1 = in + (uint32_t)y_table[4 * y + 1] * row;
            const float wy0 = bits_to_float(y_table[4 * y + 2]);
            const float wy1 = bits_to_float(y_table[4 * y + 3]);
            for (uint32_t x = 0; x < p->out_w; ++x) {
                const uint32_t c0 = (uint32_t)x_table[4 * x] * p->depth;
                const uint32_t c1 = (uint32_t)x_table[4 * x + 1] * p->depth;
                const float wx0 = bits_to_float(x_table[4 * x + 2]);
                const float wx1 = bits_to_float(x_table[4 * x + 3]);
                for (uint32_t c = 0; c < p->depth; ++c) {
                    float v = (float)(r0[c0 + c] + 128) * wy0 * wx0;
                    v = v + (float)(r1[c0 + c] + 128) * wy1 * wx0;
                    v = v + (float)(r0[c1 + c] + 128) * wy0 * wx1;
                    v = v + (float)(r1[c1 + c] + 128) * wy1 * wx1;
                    v = v + 0.5f;
                    if (!(v >= 0.0f)) {
                        v = 0.0f;
                    } else if (v > 255.0f) {
                        v = 255.0f;
                    }
                    *output++ = (int8_t)((int32_t)v - 128);
                }
            }
        }
    }
}
