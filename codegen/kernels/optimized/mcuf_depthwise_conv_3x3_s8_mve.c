/* DEPTHWISE_CONV_2D 3x3, depth multiplier 1, no dilation, any stride and padding, with
 * Helium (MVE).
 *
 * Channel by channel over a padded plane in scratch, as the DSP kernel does: the plane's
 * border (the input zero point) is written once, its interior gathered from the HWC input for
 * every channel (VLDRB.U16 gathers, 8 bytes each). Then four neighbouring outputs of one row
 * are one int32 vector: each of the 9 taps is one widening load of the plane (a gather for
 * stride 2) and one VMLA by the tap's weight, held in a register for the whole plane; two
 * output rows are computed together at stride 1, so the middle input rows are loaded once
 * for both. The output stage (mcuf_mve.h) runs once per vector and a predicated scatter
 * VSTRB puts the four outputs C bytes apart.
 *
 * The input offset is folded into the bias by the generator; the plane's padding is the
 * input zero point, which the folded bias turns into TFLite's zero contribution.
 * Same results as the reference mcuf_depthwise_conv_s8, byte for byte. */
#include "mcuf_mve.h"
#include "mcuf_nn.h"

/* Plane geometry: ((out_h - 1) * stride_h + 3) rows of ((out_w - 1) * stride_w + 3) bytes;
 * plane row r is input row r - pad_top, column j input column j - pad_left. */
typedef struct {
    int32_t hp, wp;         /* plane rows, row length */
    int32_t r0, r1;         /* plane rows [r0, r1) lie in the input */
    int32_t j0, j1;         /* plane columns [j0, j1) lie in the input */
} plane_geom;

static plane_geom geometry(const mcuf_conv_params *p)
{
    plane_geom g;
    g.hp = (p->out_h - 1) * p->stride_h + 3;
    g.wp = (p->out_w - 1) * p->stride_w + 3;
    g.r0 = p->pad_top > 0 ? p->pad_top : 0;
    g.r1 = p->pad_top + p->in_h < g.hp ? p->pad_top + p->in_h : g.hp;
    g.j0 = p->pad_left > 0 ? p->pad_left : 0;
    g.j1 = p->pad_left + p->in_w < g.wp ? p->pad_left + p->in_w : g.wp;
    return g;
}

#if MCUF_HAS_MVE
/* plane interior of channel c: n = j1 - j0 bytes per row, gathered C bytes apart */
static void gather_plane(const mcuf_conv_params *p, const plane_geom *g, const int8_t *input,
                         int32_t c, int8_t *plane)
{
    const int32_t C = p->in_c, n = g->j1 - g->j0;
    const uint16x8_t offs = vmulq_n_u16(vidupq_n_u16(0, 1), (uint16_t)C);
    for (int32_t r = g->r0; r < g->r1; ++r) {
        const int8_t *src = input + ((r - p->pad_top) * p->in_w + (g->j0 - p->pad_left)) * C + c;
        int8_t *dst = plane + r * g->wp + g->j0;
        int32_t left = n;
        for (; left >= 8; left -= 8, src += 8 * C, dst += 8) {
            vstrbq_s16(dst, vldrbq_gather_offset_s16(src, offs));
        }
        if (left > 0) {
            const mve_pred16_t pr = vctp16q((uint32_t)left);
            vstrbq_p_s16(dst, vldrbq_gather_offset_z_s16(src, offs, pr), pr);
        }
    }
}

#define TAP(acc, ptr, w) acc = vmlaq_n_s32(acc, vldrbq_s32(ptr), w)
#define TAP2(acc, ptr, w) acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(ptr, o2), w)

MCUF_INLINE void channel(const mcuf_conv_params *p, const plane_geom *g, const int8_t *plane,
                         const int8_t *f, int32_t bias, int32_t mult, int32_t shift,
                         int8_t *out, const int fast)
{
    const int32_t C = p->in_c, OC = p->out_c, ow = p->out_w, wp = g->wp;
    const int32_t w0 = f[0], w1 = f[C], w2 = f[2 * C], w3 = f[3 * C], w4 = f[4 * C];
    const int32_t w5 = f[5 * C], w6 = f[6 * C], w7 = f[7 * C], w8 = f[8 * C];
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)OC);
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const int32_t zp = p->output_offset;
    const int32_t row_out = ow * OC;
    if (p->stride_w == 1 && p->stride_h == 1) {
        int32_t oy = 0;
        for (; oy + 1 < p->out_h; oy += 2) {   /* two output rows share input rows 1 and 2 */
            const int8_t *b = plane + oy * wp;
            int8_t *o = out + oy * row_out;
            for (int32_t x = 0; x < ow; x += 4, b += 4, o += 4 * OC) {
                int32x4_t a = vdupq_n_s32(bias), d = a, t;
                TAP(a, b, w0); TAP(a, b + 1, w1); TAP(a, b + 2, w2);
                t = vldrbq_s32(b + wp);     a = vmlaq_n_s32(a, t, w3); d = vmlaq_n_s32(d, t, w0);
                t = vldrbq_s32(b + wp + 1); a = vmlaq_n_s32(a, t, w4); d = vmlaq_n_s32(d, t, w1);
                t = vldrbq_s32(b + wp + 2); a = vmlaq_n_s32(a, t, w5); d = vmlaq_n_s32(d, t, w2);
                t = vldrbq_s32(b + 2 * wp);     a = vmlaq_n_s32(a, t, w6); d = vmlaq_n_s32(d, t, w3);
                t = vldrbq_s32(b + 2 * wp + 1); a = vmlaq_n_s32(a, t, w7); d = vmlaq_n_s32(d, t, w4);
                t = vldrbq_s32(b + 2 * wp + 2); a = vmlaq_n_s32(a, t, w8); d = vmlaq_n_s32(d, t, w5);
                TAP(d, b + 3 * wp, w6); TAP(d, b + 3 * wp + 1, w7); TAP(d, b + 3 * wp + 2, w8);
                const mve_pred16_t pst = vctp32q((uint32_t)(ow - x));
                a = mcuf_mve_requant_n(a, mult, shift, fast);
                a = vminq_s32(vmaxq_s32(vaddq_n_s32(a, zp), lo), hi);
                vstrbq_scatter_offset_p_s32(o, offs, a, pst);
                d = mcuf_mve_requant_n(d, mult, shift, fast);
                d = vminq_s32(vmaxq_s32(vaddq_n_s32(d, zp), lo), hi);
                vstrbq_scatter_offset_p_s32(o + row_out, offs, d, pst);
            }
        }
        for (; oy < p->out_h; ++oy) {
            const int8_t *b = plane + oy * wp;
            int8_t *o = out + oy * row_out;
            for (int32_t x = 0; x < ow; x += 4, b += 4, o += 4 * OC) {
                int32x4_t a = vdupq_n_s32(bias);
                TAP(a, b, w0); TAP(a, b + 1, w1); TAP(a, b + 2, w2);
                TAP(a, b + wp, w3); TAP(a, b + wp + 1, w4); TAP(a, b + wp + 2, w5);
                TAP(a, b + 2 * wp, w6); TAP(a, b + 2 * wp + 1, w7); TAP(a, b + 2 * wp + 2, w8);
                a = mcuf_mve_requant_n(a, mult, shift, fast);
                a = vminq_s32(vmaxq_s32(vaddq_n_s32(a, zp), lo), hi);
                vstrbq_scatter_offset_p_s32(o, offs, a, vctp32q((uint32_t)(ow - x)));
            }
        }
        return;
    }
    const int32_t sw = p->stride_w, sh = p->stride_h;
    const uint32x4_t o2 = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)sw);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int8_t *b = plane + oy * sh * wp;
        int8_t *o = out + oy * row_out;
        for (int32_t x = 0; x < ow; x += 4, b += 4 * sw, o += 4 * OC) {
            int32x4_t a = vdupq_n_s32(bias);
            TAP2(a, b, w0); TAP2(a, b + 1, w1); TAP2(a, b + 2, w2);
            TAP2(a, b + wp, w3); TAP2(a, b + wp + 1, w4); TAP2(a, b + wp + 2, w5);
            TAP2(a, b + 2 * wp, w6); TAP2(a, b + 2 * wp + 1, w7); TAP2(a, b + 2 * wp + 2, w8);
            a = mcuf_mve_requant_n(a, mult, shift, fast);
            a = vminq_s32(vmaxq_s32(vaddq_n_s32(a, zp), lo), hi);
            vstrbq_scatter_offset_p_s32(o, offs, a, vctp32q((uint32_t)(ow - x)));
        }
    }
}

/* The fast path (every shift in [-31, -1], activation range all of int8, stride_w 1 or 2)
 * in assembly: one channel's whole output, four outputs of a row per step, 29 instructions
 * per step (9 widening loads, 9 VMLA by the weights held in registers, the output stage,
 * one scatter store); gcc's code for the C loop spilled the weights and pointers. For
 * stride_w 2 the plane's rows are de-interleaved (even columns at 0, odd ones at 64:
 * DEINT_ODD) so the three taps of a row are contiguous vectors too. Registers: r0-r4 and
 * r8-r11 the weights, r5-r7 the three plane rows (widening loads want low registers), ip the
 * channel's output, lr the step count; q2 bias, q3 multiplier, q4
 * shift, q5 zero point, q6 output offsets (advanced by q7 = 4 * OC per step). */
#define DEINT_ODD 64
typedef struct {
    int32_t w[9];
    const int8_t *plane;       /* plane row of the next output row */
    int32_t row_stride;        /* bytes between plane rows */
    int32_t row_step;          /* plane bytes between output rows */
    int8_t *out;               /* the channel's first output */
    int32_t rows;              /* output rows left */
    int32_t blocks, tail;      /* full steps per row, outputs in the last partial one */
    int32_t pad[4];            /* q at byte 80 */
    int32x4_t q[7];            /* bias, mult, shift, zero point, offsets, 4 * OC, row fix */
} dw_job;

#define DW_STEP(K1, K2)                                                                   \
    "vmov q0, q2\n\t"                                                                     \
    "vldrb.s32 q1, [r5, #" K1 "]\n\t" "vmla.s32 q0, q1, r1\n\t"                           \
    "vldrb.s32 q1, [r5, #" K2 "]\n\t" "vmla.s32 q0, q1, r2\n\t"                           \
    "vldrb.s32 q1, [r5], #4\n\t" "vmla.s32 q0, q1, r0\n\t"                                \
    "vldrb.s32 q1, [r6, #" K1 "]\n\t" "vmla.s32 q0, q1, r4\n\t"                           \
    "vldrb.s32 q1, [r6, #" K2 "]\n\t" "vmla.s32 q0, q1, r8\n\t"                           \
    "vldrb.s32 q1, [r6], #4\n\t" "vmla.s32 q0, q1, r3\n\t"                                \
    "vldrb.s32 q1, [r7, #" K1 "]\n\t" "vmla.s32 q0, q1, r10\n\t"                          \
    "vldrb.s32 q1, [r7, #" K2 "]\n\t" "vmla.s32 q0, q1, r11\n\t"                          \
    "vldrb.s32 q1, [r7], #4\n\t" "vmla.s32 q0, q1, r9\n\t"                                \
    "vqrdmulh.s32 q0, q0, q3\n\t"                                                         \
    "vshr.s32 q1, q0, #31\n\t"                                                            \
    "vqadd.s32 q0, q0, q1\n\t"                                                            \
    "vrshl.s32 q0, q0, q4\n\t"                                                            \
    "vadd.i32 q0, q0, q5\n\t"                                                             \
    "vqmovnb.s32 q0, q0\n\t"                                                              \
    "vqmovnb.s16 q0, q0\n\t"

#define DW_CHANNEL(K1, K2)                                                                \
    "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                                     \
    "vpush {d8, d9, d10, d11, d12, d13, d14, d15}\n\t"                                    \
    "push {r0, r1}\n\t"                              /* [sp]: the job */                   \
    "mov ip, r0\n\t"                                                                      \
    "add lr, ip, #80\n\t"                                                                 \
    "vldrw.32 q2, [lr]\n\t"                                                               \
    "vldrw.32 q3, [lr, #16]\n\t"                                                          \
    "vldrw.32 q4, [lr, #32]\n\t"                                                          \
    "vldrw.32 q5, [lr, #48]\n\t"                                                          \
    "vldrw.32 q6, [lr, #64]\n\t"                                                          \
    "vldrw.32 q7, [lr, #80]\n\t"                                                          \
    "ldm ip, {r0, r1, r2, r3, r4, r8, r9, r10, r11}\n\t"                                    \
    "1:\n\t"                                                                              \
    "ldr lr, [sp]\n\t"                                                                    \
    "ldr r5, [lr, #36]\n\t"                                                               \
    "ldr r6, [lr, #40]\n\t"                                                              \
    "add r6, r5, r6\n\t"                                                                \
    "ldr r7, [lr, #40]\n\t"                                                              \
    "add r7, r6, r7\n\t"                                                               \
    "ldr ip, [lr, #44]\n\t"                                                               \
    "add ip, r5, ip\n\t"                                                                  \
    "str ip, [lr, #36]\n\t"                                                               \
    "ldr ip, [lr, #48]\n\t"                                                               \
    "ldr lr, [lr, #56]\n\t"                                                               \
    "wls lr, lr, 3f\n\t"                                                                  \
    "2:\n\t"                                                                              \
    DW_STEP(K1, K2)                                                                  \
    "vstrb.32 q0, [ip, q6]\n\t"                                                           \
    "vadd.i32 q6, q6, q7\n\t"                                                             \
    "le lr, 2b\n\t"                                                                       \
    "3:\n\t"                                                                              \
    "ldr lr, [sp]\n\t"                                                                    \
    "ldr lr, [lr, #60]\n\t"                                                               \
    "cmp lr, #0\n\t"                                                                      \
    "beq 4f\n\t"                                                                          \
    "vctp.32 lr\n\t"                                                                      \
    DW_STEP(K1, K2)                                                                  \
    "vpst\n\t"                                                                            \
    "vstrbt.32 q0, [ip, q6]\n\t"                                                          \
    "4:\n\t"                                                                              \
    "ldr lr, [sp]\n\t"                                                                    \
    "add ip, lr, #176\n\t"                                                                \
    "vldrw.32 q1, [ip]\n\t"                                                               \
    "vadd.i32 q6, q6, q1\n\t"                                                             \
    "ldr ip, [lr, #52]\n\t"                                                               \
    "subs ip, ip, #1\n\t"                                                                 \
    "str ip, [lr, #52]\n\t"                                                               \
    "bne 1b\n\t"                                                                          \
    "pop {r0, r1}\n\t"                                                                    \
    "vpop {d8, d9, d10, d11, d12, d13, d14, d15}\n\t"                                     \
    "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t"

/* outside the naked functions: clang allows only asm statements in their bodies */
/* the assembly's frame: q at byte 80 (a C99 compile-time check; _Static_assert is C11) */
typedef char dw_job_q_at_80[(__builtin_offsetof(dw_job, q) == 80) ? 1 : -1];

__attribute__((naked, noinline)) static void dw_channel_s1_asm(__attribute__((unused)) dw_job *j)
{
    __asm__ volatile(DW_CHANNEL("1", "2"));
}

__attribute__((naked, noinline)) static void dw_channel_s2_asm(__attribute__((unused)) dw_job *j)
{
    __asm__ volatile(DW_CHANNEL("64", "1"));
}

/* plane interior of channel c in the de-interleaved layout (rows rs bytes apart) */
static void gather_plane_deint(const mcuf_conv_params *p, const plane_geom *g, const int8_t *input,
                               int32_t c, int8_t *plane, int32_t rs)
{
    const int32_t C = p->in_c;
    const uint16x8_t offs = vmulq_n_u16(vidupq_n_u16(0, 1), (uint16_t)(2 * C));
    for (int32_t r = g->r0; r < g->r1; ++r) {
        for (int32_t q = 0; q < 2; ++q) {
            const int32_t jq = g->j0 + ((q - g->j0) & 1);
            int32_t left = (g->j1 - jq + 1) >> 1;
            const int8_t *src = input + ((r - p->pad_top) * p->in_w + (jq - p->pad_left)) * C + c;
            int8_t *dst = plane + r * rs + q * DEINT_ODD + (jq >> 1);
            for (; left >= 8; left -= 8, src += 16 * C, dst += 8) {
                vstrbq_s16(dst, vldrbq_gather_offset_s16(src, offs));
            }
            if (left > 0) {
                const mve_pred16_t pr = vctp16q((uint32_t)left);
                vstrbq_p_s16(dst, vldrbq_gather_offset_z_s16(src, offs, pr), pr);
            }
        }
    }
}

/* the fast path's layout: stride_w 1 (plane rows wp apart) or 2 (de-interleaved: even columns
 * at 0, odd ones at DEINT_ODD, rows DEINT_ODD + ceil(wp / 2) apart) */
static int fast_layout(const mcuf_conv_params *p)
{
    return p->stride_w == 1 || (p->stride_w == 2 && p->out_w <= 60);
}

static void depthwise_fast(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias_folded, const int32_t *multiplier,
                           const int32_t *shift, int8_t *output, int8_t *plane)
{
    const plane_geom g = geometry(p);
    const int deint = p->stride_w == 2;
    const int32_t rs = deint ? DEINT_ODD + (g.wp + 1) / 2 : g.wp;
    const int32_t C = p->in_c, OC = p->out_c, ow = p->out_w;
    mcuf_mve_fill(plane, (int8_t)(-p->input_offset), g.hp * rs + 16);   /* the border, once */
    dw_job j;
    j.row_stride = rs;
    j.row_step = rs * p->stride_h;
    j.blocks = ow >> 2;
    j.tail = ow & 3;
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)OC);
    const int32_t used = (ow >> 2) * 4 * OC;   /* what a row's full steps advance */
    j.q[3] = vdupq_n_s32(p->output_offset);
    j.q[4] = vreinterpretq_s32_u32(offs);
    j.q[5] = vdupq_n_s32(4 * OC);
    j.q[6] = vdupq_n_s32(ow * OC - used);
    for (int32_t c = 0; c < C; ++c) {
        if (deint) {
            gather_plane_deint(p, &g, input, c, plane, rs);
        } else {
            gather_plane(p, &g, input, c, plane);
        }
        for (int t = 0; t < 9; ++t) {
            j.w[t] = filter[t * C + c];
        }
        j.plane = plane;
        j.out = output + c;
        j.rows = p->out_h;
        j.q[0] = vdupq_n_s32(bias_folded[c]);
        j.q[1] = vdupq_n_s32(multiplier[c]);
        j.q[2] = vdupq_n_s32(shift[c]);
        j.q[4] = vreinterpretq_s32_u32(offs);
        if (deint) {
            dw_channel_s2_asm(&j);
        } else {
            dw_channel_s1_asm(&j);
        }
    }
}
#else
static void gather_plane(const mcuf_conv_params *p, const plane_geom *g, const int8_t *input,
                         int32_t c, int8_t *plane)
{
    const int32_t C = p->in_c;
    for (int32_t r = g->r0; r < g->r1; ++r) {
        for (int32_t j = g->j0; j < g->j1; ++j) {
            plane[r * g->wp + j] = input[((r - p->pad_top) * p->in_w + (j - p->pad_left)) * C + c];
        }
    }
}

MCUF_INLINE void channel(const mcuf_conv_params *p, const plane_geom *g, const int8_t *plane,
                         const int8_t *f, int32_t bias, int32_t mult, int32_t shift,
                         int8_t *out, const int fast)
{
    (void)fast;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int8_t *b = plane + oy * p->stride_h * g->wp + ox * p->stride_w;
            int32_t acc = bias;
            for (int t = 0; t < 9; ++t) {
                acc += f[t * p->in_c] * b[(t / 3) * g->wp + t % 3];
            }
            out[(oy * p->out_w + ox) * p->out_c] = mcuf_mve_out1(p, acc, mult, shift);
        }
    }
}
#endif

MCUF_INLINE void depthwise_body(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                                const int32_t *bias_folded, const int32_t *multiplier,
                                const int32_t *shift, int8_t *output, int8_t *plane, const int fast)
{
#if MCUF_HAS_MVE
    if (fast && fast_layout(p)) {
        depthwise_fast(p, input, filter, bias_folded, multiplier, shift, output, plane);
        return;
    }
#endif
    const plane_geom g = geometry(p);
    const int8_t zp = (int8_t)(-p->input_offset);
    /* the border, once: rows outside the input whole, the others' side columns */
    mcuf_mve_fill(plane, zp, g.r0 * g.wp);
    mcuf_mve_fill(plane + g.r1 * g.wp, zp, (g.hp - g.r1) * g.wp + 4 * p->stride_w);
    for (int32_t r = g.r0; r < g.r1; ++r) {
        mcuf_mve_fill(plane + r * g.wp, zp, g.j0);
        mcuf_mve_fill(plane + r * g.wp + g.j1, zp, g.wp - g.j1);
    }
    for (int32_t c = 0; c < p->in_c; ++c) {
        gather_plane(p, &g, input, c, plane);
        channel(p, &g, plane, filter + c, bias_folded[c], multiplier[c], shift[c], output + c, fast);
    }
}

/* filter [3][3][C] (TFLite's); scratch: the plane of one channel,
 * ((out_h - 1) * stride_h + 3) * ((out_w - 1) * stride_w + 3) + 4 * stride_w bytes
 * (the last vector of a row reads up to 4 * stride_w bytes past the plane). */
void mcuf_depthwise_conv_3x3_s8_mve(const mcuf_conv_params *p, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias_folded,
                                    const int32_t *multiplier, const int32_t *shift,
                                    int8_t *output, int16_t *scratch)
{
    depthwise_body(p, input, filter, bias_folded, multiplier, shift, output, (int8_t *)(void *)scratch, 0);
}

void mcuf_depthwise_conv_3x3_s8_mve_fast(const mcuf_conv_params *p, const int8_t *input,
                                         const int8_t *filter, const int32_t *bias_folded,
                                         const int32_t *multiplier, const int32_t *shift,
                                         int8_t *output, int16_t *scratch)
{
    depthwise_body(p, input, filter, bias_folded, multiplier, shift, output, (int8_t *)(void *)scratch, 1);
}
