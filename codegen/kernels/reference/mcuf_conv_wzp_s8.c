/* CONV_2D and DEPTHWISE_CONV_2D whose weights have a zero point: TFLite's uint8
 * reference_ops::Conv and reference_ops::DepthwiseConv, which add filter_offset to every
 * weight (legacy uint8 graphs, whose values the generator stores shifted by -128: the
 * differences x - zero point, and so the arithmetic, are unchanged). Out-of-bounds taps
 * are skipped, as there. Both kernels are one walk: a depthwise output channel is a
 * convolution over one input channel whose weights are out_c apart. */
#include "mcuf_math.h"
#include "mcuf_nn.h"

/* sum over the window's in-bounds taps (ky, kx) and i < n of
 * (w[(ky * k_w + kx) * w_tap + i] + filter_offset) * (in[(iy, ix), c0 + i] + input_offset) */
static int32_t window_sum(const mcuf_conv_params *p, const int8_t *input, int iy0, int ix0,
                          int c0, int n, const int8_t *w, int w_tap)
{
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
            const int8_t *in = input + ((int32_t)iy * p->in_w + ix) * p->in_c + c0;
            const int8_t *wk = w + (int32_t)(ky * p->k_w + kx) * w_tap;
            for (int i = 0; i < n; ++i) {
                acc += (wk[i] + p->filter_offset) * (in[i] + p->input_offset);
            }
        }
    }
    return acc;
}

/* Every output in order; output channel oc reads input channels c0(oc) .. + n - 1. */
static void walk(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                 const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                 int8_t *output, int depthwise)
{
    const int n = depthwise ? 1 : p->filter_in_c;
    const int per_group = depthwise ? p->depth_multiplier : p->out_c / (p->in_c / p->filter_in_c);
    const int w_tap = depthwise ? p->out_c : p->filter_in_c;
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_top;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_left;
            for (int oc = 0; oc < p->out_c; ++oc) {
                const int8_t *w = depthwise ? filter + oc
                                            : filter + (int32_t)oc * p->k_h * p->k_w * p->filter_in_c;
                int32_t acc = window_sum(p, input, iy0, ix0, (oc / per_group) * n, n, w, w_tap);
                acc += bias[oc];
                acc = mcuf_requantize(acc, multiplier[oc], shift[oc]) + p->output_offset;
                *output++ = mcuf_clamp_s8(acc, p->act_min, p->act_max);
            }
        }
    }
}

void mcuf_conv_wzp_s8(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                      const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                      int8_t *output)
{
    walk(p, input, filter, bias, multiplier, shift, output, 0);
}

void mcuf_depthwise_conv_wzp_s8(const mcuf_conv_params *p, const int8_t *input,
                                const int8_t *filter, const int32_t *bias,
                                const int32_t *multiplier, const int32_t *shift,
                                int8_t *output)
{
    walk(p, input, filter, bias, multiplier, shift, output, 1);
}
