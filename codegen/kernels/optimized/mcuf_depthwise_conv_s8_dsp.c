/* Depthwise convolution, depth multiplier 1, DSP extension.
 *
 * Four channels per step: one 32-bit load of 4 inputs and one of 4 weights (TFLite's
 * [k_h][k_w][C] filter layout keeps a tap's channels adjacent), SXTB16 into int16 pairs,
 * then SMLABB / SMLATT per channel. The input offset is folded into bias_folded; a tap
 * in the padding reads the input zero point, which contributes exactly what the folding
 * subtracted. Same results as the reference mcuf_depthwise_conv_s8, byte for byte. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

MCUF_INLINE void mcuf_depthwise_conv_s8_dsp_body(const mcuf_conv_params *p, const int8_t *input,
                                const int8_t *filter, const int32_t *bias_folded,
                                const int32_t *multiplier, const int8_t *shift,
                                int8_t *output, const int fast)
{
    const int C = p->in_c, C4 = C & ~3;
    const int8_t zp = (int8_t)(-p->input_offset);
    const uint32_t zp4 = (uint8_t)zp * 0x01010101u;
    const mcuf_out_stage o = mcuf_out_stage_of(p, fast);
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_top;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_left;
            int8_t *out = output + ((int32_t)oy * p->out_w + ox) * C;
            for (int c = 0; c < C4; c += 4) {
                int32_t a0 = bias_folded[c], a1 = bias_folded[c + 1];
                int32_t a2 = bias_folded[c + 2], a3 = bias_folded[c + 3];
                const int8_t *w = filter + c;
                for (int ky = 0; ky < p->k_h; ++ky) {
                    const int iy = iy0 + ky * p->dil_h;
                    const int row_ok = iy >= 0 && iy < p->in_h;
                    const int8_t *row = input + (int32_t)iy * p->in_w * C + c;
                    for (int kx = 0; kx < p->k_w; ++kx, w += C) {
                        const int ix = ix0 + kx * p->dil_w;
                        const uint32_t x = (row_ok && ix >= 0 && ix < p->in_w) ? mcuf_read32(row + ix * C) : zp4;
                        const uint32_t k = mcuf_read32(w);
                        const uint32_t xe = mcuf_sxtb16(x), xo = mcuf_sxtb16_ror8(x);
                        const uint32_t ke = mcuf_sxtb16(k), ko = mcuf_sxtb16_ror8(k);
                        a0 = mcuf_smlabb(xe, ke, a0);
                        a2 = mcuf_smlatt(xe, ke, a2);
                        a1 = mcuf_smlabb(xo, ko, a1);
                        a3 = mcuf_smlatt(xo, ko, a3);
                    }
                }
                const mcuf_requant q0 = mcuf_requant_at(o, multiplier, shift, c);
                const mcuf_requant q1 = mcuf_requant_at(o, multiplier, shift, c + 1);
                const mcuf_requant q2 = mcuf_requant_at(o, multiplier, shift, c + 2);
                const mcuf_requant q3 = mcuf_requant_at(o, multiplier, shift, c + 3);
                out[c] = mcuf_out(o, a0, &q0);
                out[c + 1] = mcuf_out(o, a1, &q1);
                out[c + 2] = mcuf_out(o, a2, &q2);
                out[c + 3] = mcuf_out(o, a3, &q3);
            }
            for (int c = C4; c < C; ++c) {
                int32_t acc = bias_folded[c];
                for (int ky = 0; ky < p->k_h; ++ky) {
                    const int iy = iy0 + ky * p->dil_h;
                    for (int kx = 0; kx < p->k_w; ++kx) {
                        const int ix = ix0 + kx * p->dil_w;
                        const int32_t x = (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w)
                                              ? input[((int32_t)iy * p->in_w + ix) * C + c] : zp;
                        acc += x * filter[(ky * p->k_w + kx) * C + c];
                    }
                }
                const mcuf_requant q = mcuf_requant_at(o, multiplier, shift, c);
                out[c] = mcuf_out(o, acc, &q);
            }
        }
    }
}

/* Two specialised copies, chosen by the generator: the fast output stage for every channel,
 * and the general one (a model links only what it calls). */
void mcuf_depthwise_conv_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                     const int8_t *filter, const int32_t *bias_folded,
                                     const int32_t *multiplier, const int8_t *shift, int8_t *output)
{
    mcuf_depthwise_conv_s8_dsp_body(p, input, filter, bias_folded, multiplier, shift, output, 1);
}

void mcuf_depthwise_conv_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                const int8_t *filter, const int32_t *bias_folded,
                                const int32_t *multiplier, const int8_t *shift, int8_t *output)
{
    mcuf_depthwise_conv_s8_dsp_body(p, input, filter, bias_folded, multiplier, shift, output, 0);
}
