/* CONV_2D with Helium (MVE): the 1x1 convolution as a GEMM over pixels, and every other
 * ungrouped convolution through an im2col of four pixels at a time into the same GEMM.
 *
 * The GEMM step is CMSIS-NN's arm_nn_mat_mul_core_4x_s8: four pixels' rows against one
 * filter row, 16 bytes at a time, one VLDRB per row and one VMLADAVA (16 MACs into a scalar)
 * per pixel; the four sums become one vector of the channel's four pixels, which takes the
 * output stage (mcuf_mve.h) once and is stored with one scatter VSTRB (the pixels are OC bytes
 * apart). Rows of K <= 16 bytes are loaded once per four pixels and kept in registers across
 * the channel loop. A depth that is not a multiple of 16 ends in one tail-predicated step
 * (VCTP; inactive lanes read nothing and count zero); a pixel count that is not a multiple
 * of 4 ends in a predicated store.
 *
 * The input offset is folded into the bias by the generator (bias + input_offset * sum of
 * the filter row), so raw int8 inputs are multiplied; padding in the im2col rows is the input
 * zero point, which the folded bias turns into TFLite's zero contribution.
 * Same results as the reference mcuf_conv_1x1_s8 / mcuf_conv_s8, byte for byte. */
#include "mcuf_mve.h"
#include "mcuf_nn.h"

#if MCUF_HAS_MVE
/* Rows r0..r3 (K bytes each, n of them real) against the OC filter rows (fstride bytes
 * apart); stores the n pixels' outputs at out, out + OC, ... */
MCUF_INLINE void gemm_4xn(const mcuf_conv_params *p, const int8_t *r0, const int8_t *r1,
                          const int8_t *r2, const int8_t *r3, int32_t K, int32_t fstride,
                          const int8_t *filter, const int32_t *bias, const int32_t *mult,
                          const int32_t *shift, int8_t *out, int n, const int fast)
{
    const int32_t OC = p->out_c;
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)OC);
    const mve_pred16_t pst = vctp32q((uint32_t)n);
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const int32_t zp = p->output_offset;
    const int32_t kfull = K & ~15, ktail = K & 15;
    if (K <= 16) {
        const mve_pred16_t pk = vctp8q((uint32_t)K);
        const int8x16_t x0 = vldrbq_z_s8(r0, pk), x1 = vldrbq_z_s8(r1, pk);
        const int8x16_t x2 = vldrbq_z_s8(r2, pk), x3 = vldrbq_z_s8(r3, pk);
        const int8_t *w = filter;
        for (int32_t oc = 0; oc < OC; ++oc, w += fstride) {
            const int8x16_t k = vldrbq_z_s8(w, pk);
            int32x4_t v = vdupq_n_s32(vmladavq_s8(x0, k));
            v = vsetq_lane_s32(vmladavq_s8(x1, k), v, 1);
            v = vsetq_lane_s32(vmladavq_s8(x2, k), v, 2);
            v = vsetq_lane_s32(vmladavq_s8(x3, k), v, 3);
            v = mcuf_mve_requant_n(vaddq_n_s32(v, bias[oc]), mult[oc], shift[oc], fast);
            v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, zp), lo), hi);
            vstrbq_scatter_offset_p_s32(out + oc, offs, v, pst);
        }
        return;
    }
    const mve_pred16_t pt = vctp8q((uint32_t)ktail);
    const int8_t *w = filter;
    for (int32_t oc = 0; oc < OC; ++oc, w += fstride) {
        int32_t a0 = bias[oc], a1 = a0, a2 = a0, a3 = a0;
        const int8_t *x0 = r0, *x1 = r1, *x2 = r2, *x3 = r3, *k = w;
        for (int32_t i = 0; i < kfull; i += 16) {
            const int8x16_t kv = vldrbq_s8(k);
            a0 = vmladavaq_s8(a0, vldrbq_s8(x0), kv);
            a1 = vmladavaq_s8(a1, vldrbq_s8(x1), kv);
            a2 = vmladavaq_s8(a2, vldrbq_s8(x2), kv);
            a3 = vmladavaq_s8(a3, vldrbq_s8(x3), kv);
            k += 16, x0 += 16, x1 += 16, x2 += 16, x3 += 16;
        }
        if (ktail) {
            const int8x16_t kv = vldrbq_z_s8(k, pt);
            a0 = vmladavaq_s8(a0, vldrbq_z_s8(x0, pt), kv);
            a1 = vmladavaq_s8(a1, vldrbq_z_s8(x1, pt), kv);
            a2 = vmladavaq_s8(a2, vldrbq_z_s8(x2, pt), kv);
            a3 = vmladavaq_s8(a3, vldrbq_z_s8(x3, pt), kv);
        }
        int32x4_t v = vdupq_n_s32(a0);
        v = vsetq_lane_s32(a1, v, 1);
        v = vsetq_lane_s32(a2, v, 2);
        v = vsetq_lane_s32(a3, v, 3);
        v = mcuf_mve_requant_n(v, mult[oc], shift[oc], fast);
        v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, zp), lo), hi);
        vstrbq_scatter_offset_p_s32(out + oc, offs, v, pst);
    }
}
#else
MCUF_INLINE void gemm_4xn(const mcuf_conv_params *p, const int8_t *r0, const int8_t *r1,
                          const int8_t *r2, const int8_t *r3, int32_t K, int32_t fstride,
                          const int8_t *filter, const int32_t *bias, const int32_t *mult,
                          const int32_t *shift, int8_t *out, int n, const int fast)
{
    const int8_t *rows[4] = {r0, r1, r2, r3};
    (void)fast;
    for (int i = 0; i < n; ++i) {
        for (int32_t oc = 0; oc < p->out_c; ++oc) {
            int32_t acc = bias[oc];
            for (int32_t k = 0; k < K; ++k) {
                acc += rows[i][k] * filter[oc * fstride + k];
            }
            out[i * p->out_c + oc] = mcuf_mve_out1(p, acc, mult[oc], shift[oc]);
        }
    }
}
#endif

MCUF_INLINE void conv_1x1_body(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                               const int32_t *bias_folded, const int32_t *multiplier,
                               const int32_t *shift, int8_t *output, const int fast)
{
    const int32_t pixels = (int32_t)p->out_h * p->out_w, C = p->in_c, OC = p->out_c;
    for (int32_t px = 0; px < pixels; px += 4) {
        const int n = pixels - px < 4 ? (int)(pixels - px) : 4;
        const int8_t *r0 = input + px * C;
        const int8_t *r1 = n > 1 ? r0 + C : r0;   /* missing pixels repeat a real one */
        const int8_t *r2 = n > 2 ? r1 + C : r1;
        const int8_t *r3 = n > 3 ? r2 + C : r2;
        gemm_4xn(p, r0, r1, r2, r3, C, C, filter, bias_folded, multiplier, shift,
                 output + px * OC, n, fast);
    }
}

/* 1x1, stride 1, no padding: filter [OC][in_c] (TFLite's), any in_c. */
void mcuf_conv_1x1_s8_mve(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                          const int32_t *bias_folded, const int32_t *multiplier,
                          const int32_t *shift, int8_t *output)
{
    conv_1x1_body(p, input, filter, bias_folded, multiplier, shift, output, 0);
}

void mcuf_conv_1x1_s8_mve_fast(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                               const int32_t *bias_folded, const int32_t *multiplier,
                               const int32_t *shift, int8_t *output)
{
    conv_1x1_body(p, input, filter, bias_folded, multiplier, shift, output, 1);
}

/* The receptive field of output pixel (oy, ox) as one row of k_h * k_w * in_c bytes,
 * [ky][kx][c] like a filter row; outside the input, the input zero point. */
static void im2col_row(const mcuf_conv_params *p, const int8_t *input, int32_t oy, int32_t ox,
                       int8_t *row)
{
    const int32_t C = p->in_c, run = (int32_t)p->k_w * C;
    const int8_t zp = (int8_t)(-p->input_offset);
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ix_last = ix0 + (int32_t)(p->k_w - 1) * p->dil_w;
    for (int32_t ky = 0; ky < p->k_h; ++ky, row += run) {
        const int32_t iy = iy0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            mcuf_mve_fill(row, zp, run);
            continue;
        }
        const int8_t *src = input + (iy * p->in_w) * C;
        if (p->dil_w == 1 && ix0 >= 0 && ix_last < p->in_w) {
            mcuf_mve_copy(row, src + ix0 * C, run);
            continue;
        }
        for (int32_t kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dil_w;
            if (ix < 0 || ix >= p->in_w) {
                mcuf_mve_fill(row + kx * C, zp, C);
            } else {
                mcuf_mve_copy(row + kx * C, src + ix * C, C);
            }
        }
    }
}

MCUF_INLINE void conv_body(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias_folded, const int32_t *multiplier,
                           const int32_t *shift, int8_t *output, int8_t *scratch, const int fast)
{
    const int32_t K = (int32_t)p->k_h * p->k_w * p->in_c, K16 = (K + 15) & ~15;
    const int32_t ow = p->out_w, pixels = (int32_t)p->out_h * ow, OC = p->out_c;
    int8_t *rows[4] = {scratch, scratch + K16, scratch + 2 * K16, scratch + 3 * K16};
    mcuf_mve_fill(scratch, 0, 4 * K16);   /* the rows' tails (zero weights) stay zero */
    for (int32_t px = 0; px < pixels; px += 4) {
        const int n = pixels - px < 4 ? (int)(pixels - px) : 4;
        for (int i = 0; i < n; ++i) {
            im2col_row(p, input, (px + i) / ow, (px + i) % ow, rows[i]);
        }
        gemm_4xn(p, rows[0], rows[n > 1], rows[n > 2 ? 2 : 0], rows[n > 3 ? 3 : 0], K16, K16, filter,
                 bias_folded, multiplier, shift, output + px * OC, n, fast);
    }
}

/* Any ungrouped convolution: filter rows [OC][K16], K = k_h * k_w * in_c padded with zero
 * weights to K16 = a multiple of 16; scratch: 4 * K16 bytes (four im2col rows). */
void mcuf_conv_s8_mve(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                      const int32_t *bias_folded, const int32_t *multiplier, const int32_t *shift,
                      int8_t *output, int16_t *scratch)
{
    conv_body(p, input, filter, bias_folded, multiplier, shift, output, (int8_t *)(void *)scratch, 0);
}

void mcuf_conv_s8_mve_fast(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias_folded, const int32_t *multiplier, const int32_t *shift,
                           int8_t *output, int16_t *scratch)
{
    conv_body(p, input, filter, bias_folded, multiplier, shift, output, (int8_t *)(void *)scratch, 1);
}
