/* DEPTHWISE_CONV_2D 3x3, depth multiplier 1, no dilation, any stride and padding, with
 * Helium (MVE), vectorized over channels: the kernel for small planes.
 *
 * mcuf_depthwise_conv_3x3_s8_mve vectorizes along an output row, one channel at a time: on a
 * 3x3 or 4x4 plane its per-channel setup outweighs the MACs (4.74 instructions per MAC on
 * MobileNet V1's last 3x3x256 layer, benchmarks/results_m55_profile.md). Here eight channels
 * are one vector and every output pixel takes the same path:
 *
 * - the input is copied once into scratch as a zero-point padded plane in blocks of eight
 *   channels, [C8/8][hp][wp][8] (hp, wp: the padded plane's rows and columns, C8 = C rounded
 *   up to 8): a pixel's eight channels of a block are 8 bytes, the three taps of a kernel row
 *   8 bytes apart (immediate offsets from one pointer per kernel row), and a padded pixel is
 *   the input zero point, which the folded bias turns into TFLite's zero contribution;
 * - per output pixel and block of eight channels: 9 taps, each one widening load of the
 *   input (VLDRB.S16), one of the weights, VMULLB/VMULLT (int16 x int16 -> int32, even and
 *   odd channels) and two VADDs into two int32 accumulators; the output stage
 *   (arm_requantize_mve's arithmetic, mcuf_mve.h) on both, narrowed back into channel order
 *   (VQMOVNB/VQMOVNT) and stored with one VSTRB.16 (predicated on a channel tail).
 *
 * packed (generator: codegen/ops/mve.py, depthwise_hwc_records) per block of eight channels,
 * 42 words: the taps [9][8] int8 (72 bytes, zero for padding channels), then int32
 * [bias even][bias odd][mult even][mult odd][shift even][shift odd], four each (even: channels
 * 0, 2, 4, 6 of the block; padding channels 0, 0, -1). The input offset is folded into the
 * bias. Same results as the reference mcuf_depthwise_conv_s8, byte for byte. */
#include "mcuf_mve.h"
#include "mcuf_nn.h"

#define BLOCK_WORDS 42      /* 72 bytes of taps + 6 x 4 int32 */

typedef struct {
    int32_t hp, wp;         /* padded plane rows, columns */
    int32_t r0, r1;         /* plane rows [r0, r1) lie in the input */
    int32_t j0, j1;         /* plane columns [j0, j1) lie in the input */
    int32_t blocks;         /* C8 / 8 */
} hwc_geom;

static hwc_geom geometry(const mcuf_conv_params *p)
{
    hwc_geom g;
    g.hp = (p->out_h - 1) * p->stride_h + 3;
    g.wp = (p->out_w - 1) * p->stride_w + 3;
    g.r0 = p->pad_top > 0 ? p->pad_top : 0;
    g.r1 = p->pad_top + p->in_h < g.hp ? p->pad_top + p->in_h : g.hp;
    g.j0 = p->pad_left > 0 ? p->pad_left : 0;
    g.j1 = p->pad_left + p->in_w < g.wp ? p->pad_left + p->in_w : g.wp;
    g.blocks = (p->in_c + 7) >> 3;
    return g;
}

/* The padded plane: zero point everywhere, then the input's pixels in blocks of eight
 * channels (block b of plane pixel (r, j) at ((b * hp + r) * wp + j) * 8). */
static void fill_plane(const mcuf_conv_params *p, const hwc_geom *g, const int8_t *input, int8_t *plane)
{
    const int32_t C = p->in_c, bstride = g->hp * g->wp * 8;
    mcuf_mve_fill(plane, (int8_t)(-p->input_offset), g->blocks * bstride);
#if MCUF_HAS_MVE
    /* 16 input bytes -> two 8-byte blocks, bstride apart: one word scatter (VSTRW) */
    const uint32x4_t offs = vaddq_u32(vmulq_n_u32(vshrq_n_u32(vidupq_n_u32(0, 1), 1), (uint32_t)bstride),
                                      vmulq_n_u32(vandq_u32(vidupq_n_u32(0, 1), vdupq_n_u32(1)), 4));
    for (int32_t r = g->r0; r < g->r1; ++r) {
        const int8_t *src = input + ((r - p->pad_top) * p->in_w + (g->j0 - p->pad_left)) * C;
        for (int32_t j = g->j0; j < g->j1; ++j, src += C) {
            int8_t *dst = plane + (r * g->wp + j) * 8;
            int32_t c = 0;
            for (; c + 16 <= C; c += 16, dst += 2 * bstride) {
                vstrwq_scatter_offset_s32((int32_t *)(void *)dst, offs,
                                          vreinterpretq_s32_s8(vldrbq_s8(src + c)));
            }
            if (c < C) {   /* the last 1..15 channels (the rest of their words: zero) */
                const uint32_t n = (uint32_t)(C - c);
                const int8x16_t v = vldrbq_z_s8(src + c, vctp8q(n));
                vstrwq_scatter_offset_p_s32((int32_t *)(void *)dst, offs, vreinterpretq_s32_s8(v),
                                            vctp32q((n + 3) >> 2));
            }
        }
    }
#else
    for (int32_t r = g->r0; r < g->r1; ++r) {
        for (int32_t j = g->j0; j < g->j1; ++j) {
            const int8_t *src = input + ((r - p->pad_top) * p->in_w + (j - p->pad_left)) * C;
            for (int32_t c = 0; c < C; ++c) {
                plane[(((c >> 3) * g->hp + r) * g->wp + j) * 8 + (c & 7)] = src[c];
            }
        }
    }
#endif
}

#if MCUF_HAS_MVE
#define TAP(row, kx, t)                                                                   \
    do {                                                                                  \
        const int16x8_t x_ = vldrbq_s16((row) + 8 * (kx));                                \
        const int16x8_t w_ = vldrbq_s16(wt + 8 * (t));                                    \
        ae = vaddq_s32(ae, vmullbq_int_s16(x_, w_));                                      \
        ao = vaddq_s32(ao, vmulltq_int_s16(x_, w_));                                      \
    } while (0)

/* v requantized per lane (mult, shift vectors) and offset, clamped */
MCUF_INLINE int32x4_t requant4(const mcuf_conv_params *p, int32x4_t v, int32x4_t mult,
                               int32x4_t shift, const int fast)
{
    if (fast) {   /* every shift in [-31, -1], the activation range all of int8: the clamp
                   * is the narrowing's saturation */
        v = vqrdmulhq_s32(v, mult);
        v = vqaddq_s32(v, vshrq_n_s32(v, 31));
        return vaddq_n_s32(vrshlq_s32(v, shift), p->output_offset);
    }
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t right = vminq_s32(shift, zero);
    v = vqrdmulhq_s32(vshlq_s32(v, vmaxq_s32(shift, zero)), mult);
    v = vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, right), 31));
    v = vaddq_n_s32(vrshlq_s32(v, right), p->output_offset);
    return vminq_s32(vmaxq_s32(v, vdupq_n_s32(p->act_min)), vdupq_n_s32(p->act_max));
}

/* The fast stage's full blocks of one output pixel in assembly (gcc's code for the loop below
 * spilled the accumulators and taps to the stack: 3.0 instructions per MAC): 81 instructions
 * per block of eight channels (72 MACs). Registers: r0 r4 r5 the three kernel rows' plane
 * pointers (widening loads want low registers), r1 the packed constants, r2 the output, r6
 * the plane's block stride, r7 the output zero point, lr the block count; q0 q1 the even and
 * odd channels' accumulators, q2 an input vector, q3 a tap's weights, q4 a product. */
typedef struct {
    int32_t wp8, bstride, blocks, zero_point;
    int32_t act_min, act_max;   /* the general stage's clamp */
} hwc_job;

#define HWC_TAP(ROW, OFF, WOFF)                                                           \
    "vldrb.s16 q2, [" ROW ", #" OFF "]\n\t"                                                \
    "vldrb.s16 q3, [r1, #" WOFF "]\n\t"                                                   \
    "vmullb.s16 q4, q2, q3\n\t"                                                           \
    "vadd.i32 q0, q0, q4\n\t"                                                             \
    "vmullt.s16 q4, q2, q3\n\t"                                                           \
    "vadd.i32 q1, q1, q4\n\t"

__attribute__((naked, noinline)) static void hwc_pixel_fast_asm(
    __attribute__((unused)) const int8_t *b0, __attribute__((unused)) const int32_t *packed,
    __attribute__((unused)) int8_t *out, __attribute__((unused)) const hwc_job *j)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, lr}\n\t"
        "vpush {d8, d9}\n\t"
        "ldr r5, [r3, #0]\n\t"
        "add r4, r0, r5\n\t"
        "add r5, r4, r5\n\t"
        "ldr r6, [r3, #4]\n\t"
        "ldr lr, [r3, #8]\n\t"
        "ldr r7, [r3, #12]\n\t"
        "dls lr, lr\n\t"
        "1:\n\t"
        "vldrw.32 q0, [r1, #72]\n\t"      /* folded biases, even channels */
        "vldrw.32 q1, [r1, #88]\n\t"      /* odd channels */
        HWC_TAP("r0", "0", "0") HWC_TAP("r0", "8", "8") HWC_TAP("r0", "16", "16")
        HWC_TAP("r4", "0", "24") HWC_TAP("r4", "8", "32") HWC_TAP("r4", "16", "40")
        HWC_TAP("r5", "0", "48") HWC_TAP("r5", "8", "56") HWC_TAP("r5", "16", "64")
        "vldrw.32 q3, [r1, #104]\n\t"     /* multipliers */
        "vqrdmulh.s32 q0, q0, q3\n\t"
        "vldrw.32 q3, [r1, #120]\n\t"
        "vqrdmulh.s32 q1, q1, q3\n\t"
        "vshr.s32 q3, q0, #31\n\t"
        "vqadd.s32 q0, q0, q3\n\t"        /* -1 on negatives: ties away from zero */
        "vshr.s32 q3, q1, #31\n\t"
        "vqadd.s32 q1, q1, q3\n\t"
        "vldrw.32 q3, [r1, #136]\n\t"     /* shifts, all negative */
        "vrshl.s32 q0, q0, q3\n\t"
        "vldrw.32 q3, [r1, #152]\n\t"
        "vrshl.s32 q1, q1, q3\n\t"
        "vadd.i32 q0, q0, r7\n\t"
        "vadd.i32 q1, q1, r7\n\t"
        "vqmovnb.s32 q2, q0\n\t"          /* even channels, then odd ones: channel order */
        "vqmovnt.s32 q2, q1\n\t"
        "vqmovnb.s16 q2, q2\n\t"          /* int8-saturated: the clamp */
        "vstrb.16 q2, [r2], #8\n\t"
        "add r0, r0, r6\n\t"
        "add r4, r4, r6\n\t"
        "add r5, r5, r6\n\t"
        "add r1, r1, #168\n\t"
        "le lr, 1b\n\t"
        "vpop {d8, d9}\n\t"
        "pop {r4, r5, r6, r7, pc}\n\t");
}

/* The general stage's copy (any shift in [-31, 30], any activation range): per half the
 * left shift VSHL by max(shift, 0), VQRDMULH, the sign correction on min(shift, 0), VRSHL, the
 * zero point and the clamp (VMAX/VMIN): 93 instructions per block (1.5 per MAC on 3x3x256 to
 * 12x12x64 planes, 3.5 as gcc's code of the loop below). q5 act_min, q6 act_max,
 * q7 zero. */
#define HWC_GENERAL_STAGE(ACC, MOFF, SOFF)                                                \
    "vldrw.32 q3, [r1, #" SOFF "]\n\t"                                                    \
    "vmax.s32 q4, q3, q7\n\t"                                                             \
    "vshl.s32 " ACC ", " ACC ", q4\n\t"                                                     \
    "vmin.s32 q3, q3, q7\n\t"                                                             \
    "vldrw.32 q4, [r1, #" MOFF "]\n\t"                                                    \
    "vqrdmulh.s32 " ACC ", " ACC ", q4\n\t"                                                 \
    "vand q4, " ACC ", q3\n\t"                                                             \
    "vshr.s32 q4, q4, #31\n\t"                                                            \
    "vqadd.s32 " ACC ", " ACC ", q4\n\t"                                                    \
    "vrshl.s32 " ACC ", " ACC ", q3\n\t"                                                    \
    "vadd.i32 " ACC ", " ACC ", r7\n\t"                                                     \
    "vmax.s32 " ACC ", " ACC ", q5\n\t"                                                     \
    "vmin.s32 " ACC ", " ACC ", q6\n\t"

__attribute__((naked, noinline)) static void hwc_pixel_asm(
    __attribute__((unused)) const int8_t *b0, __attribute__((unused)) const int32_t *packed,
    __attribute__((unused)) int8_t *out, __attribute__((unused)) const hwc_job *j)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, lr}\n\t"
        "vpush {d8, d9, d10, d11, d12, d13, d14, d15}\n\t"
        "ldr r5, [r3, #0]\n\t"
        "add r4, r0, r5\n\t"
        "add r5, r4, r5\n\t"
        "ldr r6, [r3, #16]\n\t"
        "vdup.32 q5, r6\n\t"
        "ldr r6, [r3, #20]\n\t"
        "vdup.32 q6, r6\n\t"
        "vmov.i32 q7, #0\n\t"
        "ldr r6, [r3, #4]\n\t"
        "ldr lr, [r3, #8]\n\t"
        "ldr r7, [r3, #12]\n\t"
        "dls lr, lr\n\t"
        "1:\n\t"
        "vldrw.32 q0, [r1, #72]\n\t"
        "vldrw.32 q1, [r1, #88]\n\t"
        HWC_TAP("r0", "0", "0") HWC_TAP("r0", "8", "8") HWC_TAP("r0", "16", "16")
        HWC_TAP("r4", "0", "24") HWC_TAP("r4", "8", "32") HWC_TAP("r4", "16", "40")
        HWC_TAP("r5", "0", "48") HWC_TAP("r5", "8", "56") HWC_TAP("r5", "16", "64")
        HWC_GENERAL_STAGE("q0", "104", "136")
        HWC_GENERAL_STAGE("q1", "120", "152")
        "vqmovnb.s32 q2, q0\n\t"
        "vqmovnt.s32 q2, q1\n\t"
        "vqmovnb.s16 q2, q2\n\t"
        "vstrb.16 q2, [r2], #8\n\t"
        "add r0, r0, r6\n\t"
        "add r4, r4, r6\n\t"
        "add r5, r5, r6\n\t"
        "add r1, r1, #168\n\t"
        "le lr, 1b\n\t"
        "vpop {d8, d9, d10, d11, d12, d13, d14, d15}\n\t"
        "pop {r4, r5, r6, r7, pc}\n\t");
}

MCUF_INLINE void depthwise_hwc_body(const mcuf_conv_params *p, const int8_t *input,
                                    const int32_t *packed, int8_t *output, int8_t *plane,
                                    const int fast)
{
    const hwc_geom g = geometry(p);
    fill_plane(p, &g, input, plane);
    const int32_t C = p->in_c, full = C >> 3, tail = C & 7;
    const int32_t wp8 = g.wp * 8, bstride = g.hp * wp8;
    const hwc_job job = {wp8, bstride, full, p->output_offset, p->act_min, p->act_max};
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int8_t *b0 = plane + (oy * p->stride_h * g.wp + ox * p->stride_w) * 8;
            const int8_t *wt = (const int8_t *)(const void *)packed;
            int8_t *out = output + (oy * p->out_w + ox) * C;
            int32_t b = 0;
            if (full > 0) {
                if (fast) {
                    hwc_pixel_fast_asm(b0, packed, out, &job);
                } else {
                    hwc_pixel_asm(b0, packed, out, &job);
                }
                b = full;
                b0 += full * bstride;
                wt += full * 4 * BLOCK_WORDS;
                out += full * 8;
            }
            for (; b < g.blocks; ++b, b0 += bstride, wt += 4 * BLOCK_WORDS, out += 8) {
                const int32_t *prm = (const int32_t *)(const void *)(wt + 72);
                const int8_t *b1 = b0 + wp8, *b2 = b1 + wp8;
                int32x4_t ae = vldrwq_s32(prm), ao = vldrwq_s32(prm + 4);
                TAP(b0, 0, 0); TAP(b0, 1, 1); TAP(b0, 2, 2);
                TAP(b1, 0, 3); TAP(b1, 1, 4); TAP(b1, 2, 5);
                TAP(b2, 0, 6); TAP(b2, 1, 7); TAP(b2, 2, 8);
                ae = requant4(p, ae, vldrwq_s32(prm + 8), vldrwq_s32(prm + 16), fast);
                ao = requant4(p, ao, vldrwq_s32(prm + 12), vldrwq_s32(prm + 20), fast);
                /* even lanes, then odd ones, back into channel order; saturated to int8 in
                 * the low byte of each 16-bit lane */
                int16x8_t h = vqmovnbq_s32(vdupq_n_s16(0), ae);
                h = vqmovntq_s32(h, ao);
                const int8x16_t q = vqmovnbq_s16(vdupq_n_s8(0), h);
                if (b < full) {
                    vstrbq_s16(out, vreinterpretq_s16_s8(q));
                } else {
                    vstrbq_p_s16(out, vreinterpretq_s16_s8(q), vctp16q((uint32_t)tail));
                }
            }
        }
    }
}
#else
MCUF_INLINE void depthwise_hwc_body(const mcuf_conv_params *p, const int8_t *input,
                                    const int32_t *packed, int8_t *output, int8_t *plane,
                                    const int fast)
{
    (void)fast;
    const hwc_geom g = geometry(p);
    fill_plane(p, &g, input, plane);
    const int32_t C = p->in_c, wp8 = g.wp * 8, bstride = g.hp * wp8;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int8_t *b0 = plane + (oy * p->stride_h * g.wp + ox * p->stride_w) * 8;
            for (int32_t c = 0; c < C; ++c) {
                const int32_t blk = c >> 3, lane = c & 7, half = (lane & 1) * 4 + (lane >> 1);
                const int8_t *wt = (const int8_t *)(const void *)(packed + blk * BLOCK_WORDS);
                const int32_t *prm = packed + blk * BLOCK_WORDS + 18;
                const int8_t *px = b0 + blk * bstride + lane;
                int32_t acc = prm[half];
                for (int t = 0; t < 9; ++t) {
                    acc += wt[t * 8 + lane] * px[(t / 3) * wp8 + (t % 3) * 8];
                }
                output[(oy * p->out_w + ox) * C + c] = mcuf_mve_out1(p, acc, prm[8 + half], prm[16 + half]);
            }
        }
    }
}
#endif

/* packed: per block of eight channels, 42 words (see above); scratch: the padded plane,
 * ceil(C / 8) * 8 * ((out_h - 1) * stride_h + 3) * ((out_w - 1) * stride_w + 3) bytes
 * (its size function in codegen/ops/mve.py). */
void mcuf_depthwise_conv_3x3_hwc_s8_mve(const mcuf_conv_params *p, const int8_t *input,
                                        const int32_t *packed, int8_t *output, int16_t *scratch)
{
    depthwise_hwc_body(p, input, packed, output, (int8_t *)(void *)scratch, 0);
}

void mcuf_depthwise_conv_3x3_hwc_s8_mve_fast(const mcuf_conv_params *p, const int8_t *input,
                                             const int32_t *packed, int8_t *output, int16_t *scratch)
{
    depthwise_hwc_body(p, input, packed, output, (int8_t *)(void *)scratch, 1);
}
