/* 1x1 convolution (stride 1, no padding) as a GEMM over pixels, DSP extension.
 *
 * Blocked 2 pixels x 2 output channels. The two pixels are sign-extended once into two
 * int16 columns in `scratch` (SXTB16 order, as mcuf_conv_s8_dsp's im2col), then reused by
 * every output-channel pair. The generator interleaves the filter
 * rows of each output-channel pair word by word (w0[0..3] w1[0..3] w0[4..7] w1[4..7] ...),
 * so one LDRD fetches both; SXTB16 widens them. 16 MACs: 3 LDRD, 4 SXTB16, 8 SMLAD. The
 * input offset is folded into bias_folded. Requires in_c % 4 == 0; scratch: 4 * in_c bytes.
 * Same results as the reference mcuf_conv_1x1_s8, byte for byte. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

static int32_t dot(const int8_t *a, const int8_t *b, int n, int32_t acc)
{
    for (int c = 0; c < n; c += 4) {
        const uint32_t x = mcuf_read32(a + c), k = mcuf_read32(b + c);
        acc = mcuf_smlad(mcuf_sxtb16(x), mcuf_sxtb16(k), acc);
        acc = mcuf_smlad(mcuf_sxtb16_ror8(x), mcuf_sxtb16_ror8(k), acc);
    }
    return acc;
}

MCUF_INLINE void mcuf_conv_1x1_s8_dsp_body(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                          const int32_t *bias_folded, const mcuf_requant *rq, int8_t *output,
                          int16_t *scratch, const int fast)
{
    const int32_t pixels = (int32_t)p->out_h * p->out_w;
    const int C = p->in_c, OC = p->out_c;
    const mcuf_out_stage o = {p->output_offset, p->act_min, p->act_max, fast};
    int32_t px = 0;
    for (; px + 2 <= pixels; px += 2) {
        const int8_t *in0 = input + px * C;
        int8_t *out0 = output + px * OC, *out1 = out0 + OC;
        /* both pixels widened once into two int16 columns, as the im2col kernel's */
        uint32_t *const col0 = (uint32_t *)(void *)scratch, *const col1 = col0 + C / 2;
        for (int c = 0, k = 0; c < C; c += 4, k += 2) {
            const uint32_t a = mcuf_read32(in0 + c), b = mcuf_read32(in0 + C + c);
            col0[k] = mcuf_sxtb16(a);
            col0[k + 1] = mcuf_sxtb16_ror8(a);
            col1[k] = mcuf_sxtb16(b);
            col1[k + 1] = mcuf_sxtb16_ror8(b);
        }
        /* pointers stepped per channel pair, not indexed: fewer live values for gcc */
        const int8_t *w = filter;
        const int32_t *b = bias_folded;
        const mcuf_requant *q = rq;
        int8_t *o0 = out0;
        for (const int8_t *const w_stop = filter + (OC & ~1) * C; w != w_stop; b += 2, q += 2, o0 += 2) {
            int32_t acc[4] = {b[0], b[1], b[0], b[1]};
            mcuf_gemm_2x2(col0, col1, w, w + 2 * C, acc);
            w += 2 * C;
            /* all four before any store: an int8 store may alias rq, so storing first
             * would make the compiler reload each channel's constants */
            const int8_t y00 = mcuf_out(o, acc[0], &q[0]), y10 = mcuf_out(o, acc[2], &q[0]);
            const int8_t y01 = mcuf_out(o, acc[1], &q[1]), y11 = mcuf_out(o, acc[3], &q[1]);
            o0[0] = y00;
            o0[1] = y01;
            o0[OC] = y10;
            o0[OC + 1] = y11;
        }
        const int oc = OC & ~1;
        if (oc < OC) {   /* odd channel count: the last row is stored plain */
            out0[oc] = mcuf_out(o, dot(in0, w, C, bias_folded[oc]), &rq[oc]);
            out1[oc] = mcuf_out(o, dot(in0 + C, w, C, bias_folded[oc]), &rq[oc]);
        }
    }
    if (px < pixels) {   /* odd pixel count: the same 2x2 step with the pixel in both slots */
        const int8_t *in = input + px * C;
        int8_t *out = output + px * OC;
        const int8_t *w = filter;
        int oc = 0;
        for (; oc + 2 <= OC; oc += 2) {
            int32_t acc[4] = {bias_folded[oc], bias_folded[oc + 1], 0, 0};
            for (int c = 0; c < C; c += 4, w += 8) {
                const uint32_t x = mcuf_read32(in + c);
                const uint32_t xe = mcuf_sxtb16(x), xo = mcuf_sxtb16_ror8(x);
                mcuf_mac_2x2(xe, xo, xe, xo, mcuf_read32(w), mcuf_read32(w + 4), acc);
            }
            out[oc] = mcuf_out(o, acc[0], &rq[oc]);
            out[oc + 1] = mcuf_out(o, acc[1], &rq[oc + 1]);
        }
        if (oc < OC) {
            out[oc] = mcuf_out(o, dot(in, w, C, bias_folded[oc]), &rq[oc]);
        }
    }
}

/* Two specialised copies: the common output stage, and the general one. */
void mcuf_conv_1x1_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                          const int32_t *bias_folded, const mcuf_requant *rq, int8_t *output,
                          int16_t *scratch)
{
    if (p->out_fast) {
        mcuf_conv_1x1_s8_dsp_body(p, input, filter, bias_folded, rq, output, scratch, 1);
    } else {
        mcuf_conv_1x1_s8_dsp_body(p, input, filter, bias_folded, rq, output, scratch, 0);
    }
}
