/* CONV_2D and DEPTHWISE_CONV_2D whose weights have a zero point: TFLite's uint8
 * reference_ops::Conv and reference_ops::DepthwiseConv, which add filter_offset to every
 * weight (legacy uint8 graphs, whose values the generator stores shifted by -128: the
 * differences x - zero point, and so the arithmetic, are unchanged). Out-of-bounds taps
 * are skipped, as there. */
#include "mcuf_math.h"
#include "mcuf_nn.h"

void mcuf_conv_wzp_s8(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                      const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                      int8_t *output)
{
    const int filters_per_group = p->out_c / (p->in_c / p->filter_in_c);
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_top;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_left;
            for (int oc = 0; oc < p->out_c; ++oc) {
                const int in_c0 = (oc / filters_per_group) * p->filter_in_c;
                const int8_t *w = filter + (int32_t)oc * p->k_h * p->k_w * p->filter_in_c;
                int32_t acc = 0;
                for (int ky = 0; ky < p->k_h; ++ky) {
                    const int iy = iy0 + ky * p->dil_h;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (int kx = 0; kx < p->k_w; ++kx) {
                        const int ix = ix0 + kx * p->dil_w;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        const int8_t *in = input + ((int32_t)iy * p->in_w + ix) * p->in_c + in_c0;
                        const int8_t *wk = w + (ky * p->k_w + kx) * p->filter_in_c;
                        for (int ic = 0; ic < p->filter_in_c; ++ic) {
                            acc += (wk[ic] + p->filter_offset) * (in[ic] + p->input_offset);
                        }
                    }
                }
                acc += bias[oc];
                acc = mcuf_requantize(acc, multiplier[oc], shift[oc]) + p->output_offset;
                *output++ = mcuf_clamp_s8(acc, p->act_min, p->act_max);
            }
        }
    }
}

void mcuf_depthwise_conv_wzp_s8(const mcuf_conv_params *p, const int8_t *input,
                                const int8_t *filter, const int32_t *bias,
                                const int32_t *multiplier, const int32_t *shift,
                                int8_t *output)
{
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_top;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_left;
            for (int ic = 0; ic < p->in_c; ++ic) {
                for (int m = 0; m < p->depth_multiplier; ++m) {
                    const int oc = ic * p->depth_multiplier + m;
                    int32_t acc = 0;
                    for (int ky = 0; ky < p->k_h; ++ky) {
                        const int iy = iy0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (int kx = 0; kx < p->k_w; ++kx) {
                            const int ix = ix0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            const int32_t x = input[((int32_t)iy * p->in_w + ix) * p->in_c + ic];
                            const int32_t w = filter[(ky * p->k_w + kx) * p->out_c + oc] + p->filter_offset;
                            acc += w * (x + p->input_offset);
                        }
                    }
                    acc += bias[oc];
                    acc = mcuf_requantize(acc, multiplier[oc], shift[oc]) + p->output_offset;
                    output[((int32_t)oy * p->out_w + ox) * p->out_c + oc] =
                        mcuf_clamp_s8(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
