/* QUANTIZE (int8 -> int8) and standalone RELU/RELU6 with Helium (MVE): reference_ops::
 * Requantize four elements per vector (widening load, offset, the output stage of
 * mcuf_mve.h -- TFLite's MultiplyByQuantizedMultiplier bit for bit -- offset, clamp), the
 * last vector tail-predicated. Same results as mcuf_requantize_s8, byte for byte. */
#include "mcuf_mve.h"
#include "mcuf_nn.h"

void mcuf_requantize_s8_mve(const mcuf_requantize_params *p, const int8_t *input, int8_t *output)
{
#if MCUF_HAS_MVE
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    for (int32_t n = (int32_t)p->size; n > 0; n -= 4, input += 4, output += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)n);
        int32x4_t v = vaddq_n_s32(vldrbq_z_s32(input, pr), p->input_offset);
        v = mcuf_mve_requant_n(v, p->multiplier, p->shift, 0);
        v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, p->output_offset), lo), hi);
        vstrbq_p_s32(output, v, pr);
    }
#else
    mcuf_requantize_s8(p, input, output);
#endif
}
