/* CONV_2D with Helium (MVE): the 1x1 convolution as a GEMM over pixels, and every other
 * ungrouped convolution through an im2col row per pixel into the same GEMM.
 *
 * The GEMM step (after CMSIS-NN's arm_nn_vec_mat_mult_t_s8): one pixel's row against four
 * filter rows, 16 bytes at a time: one VLDRB of the row, four of the filter (the generator
 * interleaves each block of four rows 16 bytes by 16, zero-padded to a multiple of 16 bytes
 * and of four rows, so one pointer walks the whole filter), and four VMLADAVA (16 MACs into
 * a scalar). The four sums become one vector of four output channels, whose bias, multiplier
 * and shift are three vector loads (params: per block of four channels [bias][mult][shift],
 * four int32 each), take the output stage (mcuf_mve.h) and are stored with one VSTRB.32
 * (the last block of an output-channel count not a multiple of 4 predicated). A row of at
 * most 16 bytes is loaded once per pixel; a depth that is not a multiple of 16 ends in one
 * tail-predicated load of the row (VCTP; the filter's padding is zero).
 *
 * The input offset is folded into the bias by the generator (bias + input_offset * sum of
 * the filter row), so raw int8 inputs are multiplied; padding in the im2col rows is the input
 * zero point, which the folded bias turns into TFLite's zero contribution.
 * Same results as the reference mcuf_conv_1x1_s8 / mcuf_conv_s8, byte for byte. */
#include "mcuf_mve.h"
#include "mcuf_nn.h"

#if MCUF_HAS_MVE
/* a0..a3 as one vector: two VMOVs of a register pair into two lanes each */
MCUF_INLINE int32x4_t vec4(int32_t a0, int32_t a1, int32_t a2, int32_t a3)
{
    int32x4_t v;
    __asm__("vmov %q0[2], %q0[0], %1, %2\n\tvmov %q0[3], %q0[1], %3, %4"
            : "=w"(v) : "r"(a0), "r"(a2), "r"(a1), "r"(a3));
    return v;
}

/* v + bias, requantized per lane, offset, clamped; stored as 4 bytes (n < 4: n of them) */
MCUF_INLINE void out_stage4(const mcuf_conv_params *p, int32x4_t v, const int32_t *prm,
                            int8_t *out, int32_t n, const int fast)
{
    const int32x4_t shift = vldrwq_s32(prm + 8);
    v = vaddq_s32(v, vldrwq_s32(prm));
    if (fast) {   /* every shift in [-31, -1], the activation range all of int8 */
        v = vqrdmulhq_s32(v, vldrwq_s32(prm + 4));
        v = vqaddq_s32(v, vshrq_n_s32(v, 31));
        v = vaddq_n_s32(vrshlq_s32(v, shift), p->output_offset);
        const int16x8_t h = vqmovnbq_s32(vreinterpretq_s16_s32(v), v);
        const int8x16_t b = vqmovnbq_s16(vreinterpretq_s8_s16(h), h);
        v = vreinterpretq_s32_s8(b);   /* each lane's low byte: the int8-saturated value */
    } else {
        const int32x4_t zero = vdupq_n_s32(0);
        const int32x4_t right = vminq_s32(shift, zero);
        v = vqrdmulhq_s32(vshlq_s32(v, vmaxq_s32(shift, zero)), vldrwq_s32(prm + 4));
        v = vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, right), 31));
        v = vaddq_n_s32(vrshlq_s32(v, right), p->output_offset);
        v = vminq_s32(vmaxq_s32(v, vdupq_n_s32(p->act_min)), vdupq_n_s32(p->act_max));
    }
    if (n >= 4) {
        vstrbq_s32(out, v);
    } else {
        vstrbq_p_s32(out, v, vctp32q((uint32_t)n));
    }
}

/* The fast GEMM row in assembly: gcc's code for the loop below holds its pointers and
 * counts on the stack and reloads them around every block (about 45 instructions per block
 * of four channels besides the MACs); here they stay in registers: 17. Full blocks only,
 * K > 16. Registers: r0 row, r1 filter, r2 params, r3 row pointer, r4 out, r5 blocks left,
 * r6 r8 r10 ip accumulators (VMLADAV wants even ones), r7 tail length, r9 zero point, r11
 * chunk count, lr loop count; P0 the tail predicate. */
typedef struct {
    int8_t *out;
    int32_t blocks, chunks, tail, zero_point;
} row_job;

__attribute__((naked, noinline)) static void gemm_row_fast_asm(
    __attribute__((unused)) const int8_t *x, __attribute__((unused)) const int8_t *w,
    __attribute__((unused)) const int32_t *prm, __attribute__((unused)) const row_job *j)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "ldr r4, [r3, #0]\n\t"
        "ldr r5, [r3, #4]\n\t"
        "ldr r11, [r3, #8]\n\t"
        "ldr r7, [r3, #12]\n\t"
        "ldr r9, [r3, #16]\n\t"
        "vctp.8 r7\n\t"
        "1:\n\t"
        "mov r3, r0\n\t"
        "vldrb.8 q0, [r3], #16\n\t"
        "vldrb.8 q1, [r1], #16\n\t"
        "vmladav.s8 r6, q0, q1\n\t"
        "vldrb.8 q2, [r1], #16\n\t"
        "vmladav.s8 r8, q0, q2\n\t"
        "vldrb.8 q1, [r1], #16\n\t"
        "vmladav.s8 r10, q0, q1\n\t"
        "vldrb.8 q2, [r1], #16\n\t"
        "vmladav.s8 ip, q0, q2\n\t"
        "sub lr, r11, #1\n\t"
        "wls lr, lr, 3f\n\t"
        "2:\n\t"
        "vldrb.8 q0, [r3], #16\n\t"
        "vldrb.8 q1, [r1], #16\n\t"
        "vmladava.s8 r6, q0, q1\n\t"
        "vldrb.8 q2, [r1], #16\n\t"
        "vmladava.s8 r8, q0, q2\n\t"
        "vldrb.8 q1, [r1], #16\n\t"
        "vmladava.s8 r10, q0, q1\n\t"
        "vldrb.8 q2, [r1], #16\n\t"
        "vmladava.s8 ip, q0, q2\n\t"
        "le lr, 2b\n\t"
        "3:\n\t"
        "cbz r7, 4f\n\t"
        "vpst\n\t"
        "vldrbt.8 q0, [r3]\n\t"
        "vldrb.8 q1, [r1], #16\n\t"
        "vmladava.s8 r6, q0, q1\n\t"
        "vldrb.8 q2, [r1], #16\n\t"
        "vmladava.s8 r8, q0, q2\n\t"
        "vldrb.8 q1, [r1], #16\n\t"
        "vmladava.s8 r10, q0, q1\n\t"
        "vldrb.8 q2, [r1], #16\n\t"
        "vmladava.s8 ip, q0, q2\n\t"
        "4:\n\t"
        "vmov q0[2], q0[0], r6, r10\n\t"
        "vmov q0[3], q0[1], r8, ip\n\t"
        "vldrw.32 q1, [r2], #16\n\t"    /* folded biases */
        "vadd.i32 q0, q0, q1\n\t"
        "vldrw.32 q1, [r2], #16\n\t"    /* multipliers */
        "vqrdmulh.s32 q0, q0, q1\n\t"
        "vshr.s32 q1, q0, #31\n\t"
        "vqadd.s32 q0, q0, q1\n\t"       /* -1 on negatives: ties away from zero */
        "vldrw.32 q1, [r2], #16\n\t"    /* shifts, all negative */
        "vrshl.s32 q0, q0, q1\n\t"
        "vadd.i32 q0, q0, r9\n\t"
        "vqmovnb.s32 q0, q0\n\t"         /* saturate to int16, then int8: the clamp */
        "vqmovnb.s16 q0, q0\n\t"
        "vstrb.32 q0, [r4], #4\n\t"
        "subs r5, r5, #1\n\t"
        "bne 1b\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}

/* The same for K <= 16: the row is one (predicated) vector, loaded once. */
__attribute__((naked, noinline)) static void gemm_row_small_fast_asm(
    __attribute__((unused)) const int8_t *x, __attribute__((unused)) const int8_t *w,
    __attribute__((unused)) const int32_t *prm, __attribute__((unused)) const row_job *j)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "ldr r4, [r3, #0]\n\t"
        "ldr r5, [r3, #4]\n\t"
        "ldr r7, [r3, #12]\n\t"   /* K, 1..16 */
        "ldr r9, [r3, #16]\n\t"
        "vctp.8 r7\n\t"
        "vpst\n\t"
        "vldrbt.8 q0, [r0]\n\t"
        "1:\n\t"
        "vldrb.8 q1, [r1], #16\n\t"
        "vmladav.s8 r6, q0, q1\n\t"
        "vldrb.8 q2, [r1], #16\n\t"
        "vmladav.s8 r8, q0, q2\n\t"
        "vldrb.8 q1, [r1], #16\n\t"
        "vmladav.s8 r10, q0, q1\n\t"
        "vldrb.8 q2, [r1], #16\n\t"
        "vmladav.s8 ip, q0, q2\n\t"
        "vmov q3[2], q3[0], r6, r10\n\t"
        "vmov q3[3], q3[1], r8, ip\n\t"
        "vldrw.32 q1, [r2], #16\n\t"
        "vadd.i32 q3, q3, q1\n\t"
        "vldrw.32 q1, [r2], #16\n\t"
        "vqrdmulh.s32 q3, q3, q1\n\t"
        "vshr.s32 q1, q3, #31\n\t"
        "vqadd.s32 q3, q3, q1\n\t"
        "vldrw.32 q1, [r2], #16\n\t"
        "vrshl.s32 q3, q3, q1\n\t"
        "vadd.i32 q3, q3, r9\n\t"
        "vqmovnb.s32 q3, q3\n\t"
        "vqmovnb.s16 q3, q3\n\t"
        "vstrb.32 q3, [r4], #4\n\t"
        "subs r5, r5, #1\n\t"
        "bne 1b\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}

/* One pixel's row x (K bytes) against OC output channels: out[0..OC) */
MCUF_INLINE void gemm_row(const mcuf_conv_params *p, const int8_t *x, int32_t K, int32_t OC,
                          const int8_t *w, const int32_t *prm, int8_t *out, const int fast)
{
    int32_t oc0 = 0;
    if (fast && OC >= 4) {
        if (K > 16) {
            const row_job j = {out, OC >> 2, K >> 4, K & 15, p->output_offset};
            gemm_row_fast_asm(x, w, prm, &j);
        } else {
            const row_job j = {out, OC >> 2, 0, K, p->output_offset};
            gemm_row_small_fast_asm(x, w, prm, &j);
        }
        oc0 = OC & ~3;
        if (oc0 == OC) {
            return;
        }
        w += (oc0 >> 2) * 64 * ((K + 15) >> 4);
        prm += (oc0 >> 2) * 12;
        out += oc0;
    }
    if (K <= 16) {
        const int8x16_t xv = vldrbq_z_s8(x, vctp8q((uint32_t)K));
        for (int32_t oc = oc0; oc < OC; oc += 4, w += 64, prm += 12, out += 4) {
            const int32_t a0 = vmladavq_s8(xv, vldrbq_s8(w));
            const int32_t a1 = vmladavq_s8(xv, vldrbq_s8(w + 16));
            const int32_t a2 = vmladavq_s8(xv, vldrbq_s8(w + 32));
            const int32_t a3 = vmladavq_s8(xv, vldrbq_s8(w + 48));
            out_stage4(p, vec4(a0, a1, a2, a3), prm, out, OC - oc, fast);
        }
        return;
    }
    const int32_t chunks = K >> 4, tail = K & 15;
    const mve_pred16_t pt = vctp8q((uint32_t)tail);
    for (int32_t oc = oc0; oc < OC; oc += 4, prm += 12, out += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        const int8_t *xp = x;
        for (int32_t i = 0; i < chunks; ++i, xp += 16, w += 64) {
            const int8x16_t xv = vldrbq_s8(xp);
            a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w));
            a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w + 16));
            a2 = vmladavaq_s8(a2, xv, vldrbq_s8(w + 32));
            a3 = vmladavaq_s8(a3, xv, vldrbq_s8(w + 48));
        }
        if (tail) {
            const int8x16_t xv = vldrbq_z_s8(xp, pt);
            a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w));
            a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w + 16));
            a2 = vmladavaq_s8(a2, xv, vldrbq_s8(w + 32));
            a3 = vmladavaq_s8(a3, xv, vldrbq_s8(w + 48));
            w += 64;
        }
        out_stage4(p, vec4(a0, a1, a2, a3), prm, out, OC - oc, fast);
    }
}
#else
MCUF_INLINE void gemm_row(const mcuf_conv_params *p, const int8_t *x, int32_t K, int32_t OC,
                          const int8_t *w, const int32_t *prm, int8_t *out, const int fast)
{
    const int32_t K16 = (K + 15) & ~15;
    (void)fast;
    for (int32_t oc = 0; oc < OC; ++oc) {
        const int32_t blk = oc >> 2, lane = oc & 3;
        const int32_t *q = prm + blk * 12;
        int32_t acc = q[lane];
        for (int32_t k = 0; k < K; ++k) {
            acc += x[k] * w[(blk * K16 + (k & ~15)) * 4 + lane * 16 + (k & 15)];
        }
        out[oc] = mcuf_mve_out1(p, acc, q[4 + lane], q[8 + lane]);
    }
}
#endif

MCUF_INLINE void conv_1x1_body(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                               const int32_t *params, int8_t *output, const int fast)
{
    const int32_t pixels = (int32_t)p->out_h * p->out_w, C = p->in_c, OC = p->out_c;
    const int32_t fic = p->filter_in_c, groups = C / fic, ocg = OC / groups;
    if (groups == 1) {
        for (int32_t px = 0; px < pixels; ++px) {
            gemm_row(p, input + px * C, C, OC, filter, params, output + px * OC, fast);
        }
        return;
    }
    /* per group: ceil(ocg / 4) blocks of ceil(fic / 16) * 64 filter bytes and 12 params */
    const int32_t wg = ((ocg + 3) >> 2) * ((fic + 15) >> 4) * 64, pg = ((ocg + 3) >> 2) * 12;
    for (int32_t px = 0; px < pixels; ++px) {
        for (int32_t g = 0; g < groups; ++g) {
            gemm_row(p, input + px * C + g * fic, fic, ocg, filter + g * wg, params + g * pg,
                     output + px * OC + g * ocg, fast);
        }
    }
}

/* 1x1, stride 1, no padding, any group count (groups = in_c / filter_in_c): filter and params
 * in the GEMM's layout (see above), one block of them per group. */
void mcuf_conv_1x1_s8_mve(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                          const int32_t *params, int8_t *output)
{
    conv_1x1_body(p, input, filter, params, output, 0);
}

void mcuf_conv_1x1_s8_mve_fast(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                               const int32_t *params, int8_t *output)
{
    conv_1x1_body(p, input, filter, params, output, 1);
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

MCUF_INLINE void conv_pixels(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                             const int32_t *params, int8_t *output, int8_t *row, const int fast,
                             const int short_rows)
{
    const int32_t K = (int32_t)p->k_h * p->k_w * p->in_c, K16 = (K + 15) & ~15;
    const int32_t OC = p->out_c;
    const int32_t C = p->in_c, run = (int32_t)p->k_w * C, step = (int32_t)p->dil_h * p->in_w * C;
    const int32_t y_last = (int32_t)(p->k_h - 1) * p->dil_h, x_last = (int32_t)(p->k_w - 1) * p->dil_w;
    mcuf_mve_fill(row, 0, K16);   /* the row's tail (zero weights) stays zero */
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int rows_in = iy0 >= 0 && iy0 + y_last < p->in_h;
        for (int32_t ox = 0; ox < p->out_w; ++ox, output += OC) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            if (short_rows && rows_in && ix0 >= 0 && ix0 + x_last < p->in_w) {
                /* inside the input, one short run per kernel row (the stems) */
                const int8_t *src = input + (iy0 * p->in_w + ix0) * C;
                int8_t *dst = row;
#if MCUF_HAS_MVE
                const mve_pred16_t pr = vctp8q((uint32_t)run);
                for (int32_t ky = 0; ky < p->k_h; ++ky, src += step, dst += run) {
                    vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
                }
#else
                for (int32_t ky = 0; ky < p->k_h; ++ky, src += step, dst += run) {
                    memcpy(dst, src, (size_t)run);
                }
#endif
            }
#if MCUF_HAS_MVE
            else if (short_rows) {
                /* at the plane's edge, rows of at most 16 bytes: per kernel row the zero point
                 * (one predicated store), then the columns inside the input over it */
                const int8x16_t zpv = vdupq_n_s8((int8_t)(-p->input_offset));
                const mve_pred16_t pr = vctp8q((uint32_t)run);
                const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t kx1 = ix0 + (int32_t)p->k_w > p->in_w ? p->in_w - ix0 : (int32_t)p->k_w;
                const uint32_t n = kx1 > kx0 ? (uint32_t)((kx1 - kx0) * C) : 0u;
                const mve_pred16_t pn = vctp8q(n);
                int8_t *dst = row;
                for (int32_t ky = 0; ky < p->k_h; ++ky, dst += run) {
                    const int32_t iy = iy0 + ky * p->dil_h;
                    vstrbq_p_s8(dst, zpv, pr);
                    if (n > 0 && iy >= 0 && iy < p->in_h) {
                        const int8_t *src = input + (iy * p->in_w + ix0 + kx0) * C;
                        vstrbq_p_s8(dst + kx0 * C, vldrbq_z_s8(src, pn), pn);
                    }
                }
            }
#endif
            else {
                im2col_row(p, input, oy, ox, row);
            }
            gemm_row(p, row, K16, OC, filter, params, output, fast);
        }
    }
}

MCUF_INLINE void conv_body(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *params, int8_t *output, int8_t *row, const int fast)
{
    /* undilated rows of at most 16 bytes (the stems): one predicated copy per kernel row */
    if (p->dil_w == 1 && (int32_t)p->k_w * p->in_c <= 16) {
        conv_pixels(p, input, filter, params, output, row, fast, 1);
    } else {
        conv_pixels(p, input, filter, params, output, row, fast, 0);
    }
}

/* Any ungrouped convolution: filter and params in the GEMM's layout (see above), the depth
 * K = k_h * k_w * in_c; scratch: K16 = K rounded up to 16 bytes (one im2col row). */
void mcuf_conv_s8_mve(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                      const int32_t *params, int8_t *output, int16_t *scratch)
{
    conv_body(p, input, filter, params, output, (int8_t *)(void *)scratch, 0);
}

void mcuf_conv_s8_mve_fast(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *params, int8_t *output, int16_t *scratch)
{
    conv_body(p, input, filter, params, output, (int8_t *)(void *)scratch, 1);
}
