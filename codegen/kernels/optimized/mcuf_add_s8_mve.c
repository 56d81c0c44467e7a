/* ADD, int8, same shapes, with Helium (MVE): reference_integer_ops::AddElementwise four
 * elements per vector (widening loads; each input offset, shifted left by 20 and requantized,
 * the sum requantized, offset and clamped: the arithmetic of mcuf_add_s8, the output stage
 * of mcuf_mve.h, which is TFLite's MultiplyByQuantizedMultiplier bit for bit), the last
 * vector tail-predicated. Same results as the reference mcuf_add_s8, byte for byte. */
#include "mcuf_mve.h"
#include "mcuf_nn.h"

void mcuf_add_s8_mve(const mcuf_add_params *p, const int8_t *input1, const int8_t *input2,
                     int8_t *output)
{
#if MCUF_HAS_MVE
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    for (int32_t n = (int32_t)p->size; n > 0; n -= 4, input1 += 4, input2 += 4, output += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)n);
        int32x4_t a = vaddq_n_s32(vldrbq_z_s32(input1, pr), p->input1_offset);
        int32x4_t b = vaddq_n_s32(vldrbq_z_s32(input2, pr), p->input2_offset);
        a = mcuf_mve_requant_n(vshlq_r_s32(a, p->left_shift), p->input1_multiplier, p->input1_shift, 0);
        b = mcuf_mve_requant_n(vshlq_r_s32(b, p->left_shift), p->input2_multiplier, p->input2_shift, 0);
        a = mcuf_mve_requant_n(vaddq_s32(a, b), p->output_multiplier, p->output_shift, 0);
        a = vminq_s32(vmaxq_s32(vaddq_n_s32(a, p->output_offset), lo), hi);
        vstrbq_p_s32(output, a, pr);
    }
#else
    mcuf_add_s8(p, input1, input2, output);
#endif
}
