/* FULLY_CONNECTED, int8, DSP extension: two batch rows x two units at a time on the GEMM run of
 * the 1x1 convolution (mcuf_gemm_2x2: one LDM of the column pair, one LDRD of both units' 4
 * weights, 4 SXTB16, 8 SMLAD per 16 MACs), every weight streamed once per row pair instead of
 * the portable kernel's byte loop. The input offset is folded into the bias by the generator
 * (bias_folded = bias + input_offset * sum of the unit's weights; per-tensor weight zero points
 * keep the portable kernel). The output stage is the reference's own single rounding
 * (mcuf_requantize_single, reference_integer_ops::FullyConnected), computed in C.
 *
 * filter: the units' rows padded with zero weights to D4 = ceil(in_depth / 4) * 4 and
 * interleaved in unit pairs word by word (an odd last unit plain); scratch: 4 * D4 bytes (two
 * rows widened to int16, mcuf_gemm_2x2's column pair). Same results as the reference
 * mcuf_fully_connected_s8, byte for byte. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

/* rows in0 and in1 (the same row twice for an odd last one) as a column pair: per 4 values
 * row 0's (x0, x2) (x1, x3), then row 1's; a tail of in_depth % 4 values is read bytewise and
 * padded with zeros (its weights are zero, and nothing past the rows is read). */
static void widen_rows(const int8_t *in0, const int8_t *in1, int D, uint32_t *col)
{
    int c = 0;
    for (; c + 4 <= D; c += 4, col += 4) {
        const uint32_t a = mcuf_read32(in0 + c), b = mcuf_read32(in1 + c);
        col[0] = mcuf_sxtb16(a);
        col[1] = mcuf_sxtb16_ror8(a);
        col[2] = mcuf_sxtb16(b);
        col[3] = mcuf_sxtb16_ror8(b);
    }
    if (c < D) {
        uint8_t a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};
        for (int i = 0; c + i < D; ++i) {
            a[i] = (uint8_t)in0[c + i];
            b[i] = (uint8_t)in1[c + i];
        }
        const uint32_t va = mcuf_read32(a), vb = mcuf_read32(b);
        col[0] = mcuf_sxtb16(va);
        col[1] = mcuf_sxtb16_ror8(va);
        col[2] = mcuf_sxtb16(vb);
        col[3] = mcuf_sxtb16_ror8(vb);
    }
}

/* row 0 of the column pair (or row 1, col + 2 words) times one plain filter row */
static int32_t dot_col(const uint32_t *col, const int8_t *w, int D4, int32_t acc)
{
    for (int k = 0; k < D4; k += 4, col += 4) {
        const uint32_t kw = mcuf_read32(w + k);
        acc = mcuf_smlad(col[0], mcuf_sxtb16(kw), acc);
        acc = mcuf_smlad(col[1], mcuf_sxtb16_ror8(kw), acc);
    }
    return acc;
}

MCUF_INLINE int8_t fc_out(const mcuf_fc_params *p, int32_t acc, int32_t multiplier, int32_t shift)
{
    return mcuf_clamp_s8(mcuf_requantize_single(acc, multiplier, shift) + p->output_offset, p->act_min,
                         p->act_max);
}

void mcuf_fully_connected_s8_dsp(const mcuf_fc_params *p, const int8_t *input, const int8_t *filter,
                                 const int32_t *bias_folded, const int32_t *multiplier,
                                 const int32_t *shift, int8_t *output, int16_t *scratch)
{
    const int D = p->in_depth, D4 = (D + 3) & ~3, U = p->out_depth, U2 = U & ~1;
    uint32_t *const col = (uint32_t *)(void *)scratch;
    for (int b = 0; b < p->batches; b += 2) {
        const int two = b + 1 < p->batches;
        const int8_t *in0 = input + (int32_t)b * D;
        int8_t *out0 = output + (int32_t)b * U;
        int8_t *out1 = two ? out0 + U : out0;   /* a lone row's twin lands on itself */
        widen_rows(in0, two ? in0 + D : in0, D, col);
        const int8_t *w = filter;
        for (int u = 0; u < U2; u += 2, w += 2 * D4) {
            int32_t acc[4] = {bias_folded[u], bias_folded[u + 1], bias_folded[u], bias_folded[u + 1]};
            mcuf_gemm_2x2(col, w, w + 2 * D4, acc);
            const int q0 = p->per_channel ? u : 0, q1 = p->per_channel ? u + 1 : 0;
            const int8_t y00 = fc_out(p, acc[0], multiplier[q0], shift[q0]);
            const int8_t y01 = fc_out(p, acc[1], multiplier[q1], shift[q1]);
            const int8_t y10 = fc_out(p, acc[2], multiplier[q0], shift[q0]);
            const int8_t y11 = fc_out(p, acc[3], multiplier[q1], shift[q1]);
            out1[u] = y10;
            out1[u + 1] = y11;
            out0[u] = y00;
            out0[u + 1] = y01;
        }
        if (U & 1) {   /* an odd last unit: its row is stored plain */
            const int q = p->per_channel ? U2 : 0;
            const int8_t y1 = fc_out(p, dot_col(col + 2, w, D4, bias_folded[U2]), multiplier[q], shift[q]);
            const int8_t y0 = fc_out(p, dot_col(col, w, D4, bias_folded[U2]), multiplier[q], shift[q]);
            out1[U2] = y1;
            out0[U2] = y0;
        }
    }
}
