/* DEPTHWISE_CONV_2D 3x3 (depth multiplier 1, no dilation, stride_w 1 or 2, any stride_h,
 * any padding and channel count) whose weights have a zero point (legacy uint8 graphs), for
 * cores with the DSP extension. Same results as mcuf_depthwise_conv_wzp_s8 (TFLite's uint8
 * reference_ops::DepthwiseConv), byte for byte.
 *
 * Planar: the input rows a window needs are kept in `scratch` as int16, channel-major
 * (row [C][RW]: each channel's padded pixels consecutive), in a ring of three rows, so that
 * an input row is widened once however many output rows read it (two pixels of four
 * channels per step: LDR twice, SXTB16 four times, PKHBT / PKHTB four times, four word
 * stores). Padding pixels hold the input zero point, whose x + input_offset is 0 (what
 * TFLite's skipped taps add), so every window is whole and takes the bias with the input
 * offset folded in, 2 * (bias + input_offset * sum W).
 * Then one channel at a time (filter: int32 [C][8], the folded bias, per kernel row the
 * int16 pairs (W0, W1) and (W1, W2), W = 2 * (w + filter_offset), and 0), two output pixels
 * per step, per kernel row one or two word loads (the row's previous word is carried) and
 * four SMLAD / SMLAxy for 6 MACs: stride 1, words (x0, x1) (x2, x3):
 * p0 = (x0, x1) . (W0, W1) + x2 W2, p1 = x1 W0 + (x2, x3) . (W1, W2); stride 2, words
 * (x0, x1) (x2, x3) (x4, x5): p0 = (x0, x1) . (W0, W1) + x2 W2, p1 = (x2, x3) . (W0, W1) + x4 W2.
 * The doubled accumulators of an output row go to `scratch` ([C][out_w rounded up to even]);
 * then the output stage (mcuf_dsp.h) runs per pixel, four channels a word.
 * The pair loops are inline assembly on DSP cores (ALL_CHANNELS_S1_ASM / _S2_ASM: the
 * compiler spilled the carried words and weights, worse on the M33 than on the M7).
 * Measured (legacy MobileNet V1 0.25, 64x64, instructions per MAC, M7 / M4 / M33 alike):
 * 2.45-2.64 at stride 1 on 8x8 to 32x32 outputs, 2.92-2.98 on 4x4x128; at stride 2
 * 3.66 / 3.95 (16x16x16 / 8x8x32 outputs: the widening of every input row weighs four
 * times more there), so codegen/ops/legacy.py sends stride-2 layers to the int8 HWC kernel
 * where the fast output stage allows. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

MCUF_INLINE uint32_t pair_of(int32_t v) { return (uint32_t)(uint16_t)v * 0x10001u; }

/* (a.lo, b.lo) and (a.hi, b.hi): PKHBT / PKHTB */
MCUF_INLINE uint32_t lo_pair(uint32_t a, uint32_t b)
{
#if MCUF_HAS_DSP
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (a & 0xffffu) | (b << 16);
#endif
}
MCUF_INLINE uint32_t hi_pair(uint32_t a, uint32_t b)
{
#if MCUF_HAS_DSP
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
    return r;
#else
    return (a >> 16) | (b & 0xffff0000u);
#endif
}

/* mcuf_out_fast2 as an int32 (no sign extension after SSAT) */
MCUF_INLINE int32_t out_fast(int32_t x2, const mcuf_requant *q)
{
#if MCUF_HAS_DSP
    int32_t r;
    __asm__("ssat %0, #8, %1, asr #1" : "=r"(r) : "r"(mcuf_requant_fast2(x2, q)));
    return r;
#else
    return mcuf_out_fast2(x2, q);
#endif
}

/* The padded row width (int16 values per channel): even, covering the last pixel pair's
 * reads. */
MCUF_INLINE int32_t row_width(const mcuf_conv_params *p)
{
    const int32_t ow2 = (p->out_w + 1) & ~1;
    return (((ow2 - 1) * p->stride_w + 3) + 1) & ~1;
}

/* The padded columns [lo, hi) that hold input pixels (the same for every input row). */
MCUF_INLINE void input_columns(const mcuf_conv_params *p, int32_t rw, int32_t *lo, int32_t *hi)
{
    *lo = p->pad_left < rw ? p->pad_left : rw;
    *hi = p->pad_left + p->in_w < rw ? p->pad_left + p->in_w : rw;
}

/* Input row iy into dst ([C][rw]), columns [lo, hi) only: the padding columns of every slot
 * hold the zero point from the start. A row outside the input: the zero point there too. */
static void widen_row(const mcuf_conv_params *p, const int8_t *input, int iy, int32_t rw, int16_t *dst)
{
    const int ch = p->in_c, c4 = ch & ~3;
    int32_t lo, hi;
    input_columns(p, rw, &lo, &hi);
    if (iy < 0 || iy >= p->in_h) {
        const int16_t zp = (int16_t)-p->input_offset;
        for (int c = 0; c < ch; ++c) {
            for (int32_t i = lo; i < hi; ++i) {
                dst[c * rw + i] = zp;
            }
        }
        return;
    }
    const int8_t *src = input + ((int32_t)iy * p->in_w) * ch;
    int32_t px = lo;
    const int32_t pairs = (hi - lo) / 2;
    if (pairs >= c4 / 4) {   /* long rows: pixel pairs in the inner loop */
        for (int c = 0; c < c4; c += 4) {
            const int8_t *sp = src + c;
            int16_t *d = dst + c * rw + lo;
            int16_t *const d_end = d + 2 * pairs;
            for (; d != d_end; d += 2, sp += 2 * ch) {
                const uint32_t v0 = mcuf_read32(sp), v1 = mcuf_read32(sp + ch);
                const uint32_t e0 = mcuf_sxtb16(v0), e1 = mcuf_sxtb16(v1);
                const uint32_t o0 = mcuf_sxtb16_ror8(v0), o1 = mcuf_sxtb16_ror8(v1);
                mcuf_write32(d, lo_pair(e0, e1));
                mcuf_write32(d + rw, lo_pair(o0, o1));
                mcuf_write32(d + 2 * rw, hi_pair(e0, e1));
                mcuf_write32(d + 3 * rw, hi_pair(o0, o1));
            }
        }
        for (int c = c4; c < ch; ++c) {
            for (int32_t i = 0; i < 2 * pairs; ++i) {
                dst[c * rw + lo + i] = src[i * ch + c];
            }
        }
        px = lo + 2 * pairs;
        src += 2 * pairs * ch;
    }
    for (; px + 2 <= hi; px += 2, src += 2 * ch) {
        int16_t *d = dst + px;
        int c = 0;
        for (; c < c4; c += 4, d += 4 * rw) {
            const uint32_t v0 = mcuf_read32(src + c), v1 = mcuf_read32(src + ch + c);
            const uint32_t e0 = mcuf_sxtb16(v0), e1 = mcuf_sxtb16(v1);
            const uint32_t o0 = mcuf_sxtb16_ror8(v0), o1 = mcuf_sxtb16_ror8(v1);
            mcuf_write32(d, lo_pair(e0, e1));
            mcuf_write32(d + rw, lo_pair(o0, o1));
            mcuf_write32(d + 2 * rw, hi_pair(e0, e1));
            mcuf_write32(d + 3 * rw, hi_pair(o0, o1));
        }
        for (; c < ch; ++c, d += rw) {
            d[0] = src[c];
            d[1] = src[ch + c];
        }
    }
    if (px < hi) {
        for (int c = 0; c < ch; ++c) {
            dst[c * rw + px] = src[c];
        }
    }
}

/* One kernel row of a stride-1 pixel pair: c_ = (x0, x1) carried from the pair before,
 * m_ = (x2, x3) loaded (and carried to the next); weights (W0, W1) (W1, W2). */
#define ROW_S1(xr, c_, wa, wb)                                                       \
    do {                                                                             \
        const uint32_t m_ = mcuf_read32((xr) + 2);                                   \
        p0 = mcuf_smlad(c_, (uint32_t)(wa), p0);                                     \
        p0 = mcuf_smlabt(m_, (uint32_t)(wb), p0);                                    \
        p1 = mcuf_smlatb(c_, (uint32_t)(wa), p1);                                    \
        p1 = mcuf_smlad(m_, (uint32_t)(wb), p1);                                     \
        c_ = m_;                                                                     \
    } while (0)
/* ... of a stride-2 pair: c_ = (x0, x1) carried, (x2, x3) (x4, x5) loaded, the last carried */
#define ROW_S2(xr, c_, wa, wb)                                                       \
    do {                                                                             \
        const uint32_t m_ = mcuf_read32((xr) + 2), n_ = mcuf_read32((xr) + 4);       \
        p0 = mcuf_smlad(c_, (uint32_t)(wa), p0);                                     \
        p0 = mcuf_smlabt(m_, (uint32_t)(wb), p0);                                    \
        p1 = mcuf_smlad(m_, (uint32_t)(wa), p1);                                     \
        p1 = mcuf_smlabt(n_, (uint32_t)(wb), p1);                                    \
        c_ = n_;                                                                     \
    } while (0)

/* One output row's doubled accumulators, channel by channel, pixel pairs, into a ([C][ow2]).
 * w: channel 0's block (bias, then the kernel rows' weight pairs); x0 / x1 / x2: its padded
 * rows; step: int16 values per pair; skip: from the end of a channel's pairs to the next
 * channel's row. The pointers carry over from channel to channel (no per-channel setup). */
#define ALL_CHANNELS(ROW, step)                                                      \
    do {                                                                             \
        do {                                                                         \
            int32_t *const a_end = a + ow2;                                          \
            uint32_t c0 = mcuf_read32(x0), c1 = mcuf_read32(x1), c2 = mcuf_read32(x2); \
            do {                                                                     \
                int32_t p0 = w[0], p1 = p0;                                          \
                ROW(x0, c0, w[1], w[2]);                                             \
                ROW(x1, c1, w[3], w[4]);                                             \
                ROW(x2, c2, w[5], w[6]);                                             \
                a[0] = p0;                                                           \
                a[1] = p1;                                                           \
                a += 2;                                                              \
                x0 += (step);                                                        \
                x1 += (step);                                                        \
                x2 += (step);                                                        \
            } while (a != a_end);                                                    \
            x0 += skip;                                                              \
            x1 += skip;                                                              \
            x2 += skip;                                                              \
            w += 8;                                                                  \
        } while (w != w_end);                                                        \
    } while (0)

#if MCUF_HAS_DSP
/* ALL_CHANNELS(ROW_S1, 2) with its pair loop in assembly: the compiler's kept the three rows'
 * carried words and reloaded weights through the stack (24 instructions a pair on the M7, 30
 * on the M33); here each kernel row is one LDRD of its weight pair, one post-indexed LDRD of
 * the input words (x0, x1) (x2, x3) and four MACs, the bias the first row's accumulator
 * input: 21 instructions a pair (18 MACs) on every core. The rows and the accumulators are
 * word aligned (even int16 offsets in the word-aligned scratch), as LDRD / STRD need. */
#define ALL_CHANNELS_S1_ASM(skip_)                                                   \
    do {                                                                             \
        do {                                                                         \
            int32_t *const a_end = a + ow2;                                          \
            const int32_t b_ = w[0];                                                 \
            uint32_t p0_, p1_, t0_, t1_, c_, m_;                                     \
            __asm__ volatile(                                                        \
                "1:\n\t"                                                             \
                "ldrd %[t0], %[t1], [%[w], #4]\n\t"                                  \
                "ldrd %[c], %[m], [%[x0]], #4\n\t"                                   \
                "smlatb %[p1], %[c], %[t0], %[b]\n\t"                                \
                "smlad %[p0], %[c], %[t0], %[b]\n\t"                                 \
                "smlabt %[p0], %[m], %[t1], %[p0]\n\t"                               \
                "smlad %[p1], %[m], %[t1], %[p1]\n\t"                                \
                "ldrd %[t0], %[t1], [%[w], #12]\n\t"                                 \
                "ldrd %[c], %[m], [%[x1]], #4\n\t"                                   \
                "smlad %[p0], %[c], %[t0], %[p0]\n\t"                                \
                "smlatb %[p1], %[c], %[t0], %[p1]\n\t"                               \
                "smlabt %[p0], %[m], %[t1], %[p0]\n\t"                               \
                "smlad %[p1], %[m], %[t1], %[p1]\n\t"                                \
                "ldrd %[t0], %[t1], [%[w], #20]\n\t"                                 \
                "ldrd %[c], %[m], [%[x2]], #4\n\t"                                   \
                "smlad %[p0], %[c], %[t0], %[p0]\n\t"                                \
                "smlatb %[p1], %[c], %[t0], %[p1]\n\t"                               \
                "smlabt %[p0], %[m], %[t1], %[p0]\n\t"                               \
                "smlad %[p1], %[m], %[t1], %[p1]\n\t"                                \
                "strd %[p0], %[p1], [%[a]], #8\n\t"                                  \
                "cmp %[a], %[e]\n\t"                                                 \
                "bne 1b\n\t"                                                         \
                : [x0] "+r"(x0), [x1] "+r"(x1), [x2] "+r"(x2), [a] "+r"(a),          \
                  [p0] "=&r"(p0_), [p1] "=&r"(p1_), [t0] "=&r"(t0_), [t1] "=&r"(t1_), \
                  [c] "=&r"(c_), [m] "=&r"(m_)                                       \
                : [w] "r"(w), [e] "r"(a_end), [b] "r"(b_)                            \
                : "memory", "cc");                                                   \
            x0 += (skip_);                                                           \
            x1 += (skip_);                                                           \
            x2 += (skip_);                                                           \
            w += 8;                                                                  \
        } while (w != w_end);                                                        \
    } while (0)
#endif

#if MCUF_HAS_DSP
/* The same at stride 2: per kernel row the pair's words (x0, x1) (x2, x3) by one
 * post-indexed LDRD, then (x4, x5) into the first's register once it is used: 24
 * instructions a pair. */
#define ALL_CHANNELS_S2_ASM(skip_)                                                   \
    do {                                                                             \
        do {                                                                         \
            int32_t *const a_end = a + ow2;                                          \
            const int32_t b_ = w[0];                                                 \
            uint32_t p0_, p1_, t0_, t1_, c_, m_;                                     \
            __asm__ volatile(                                                        \
                "1:\n\t"                                                             \
                "ldrd %[t0], %[t1], [%[w], #4]\n\t"                                  \
                "ldrd %[c], %[m], [%[x0]], #8\n\t"                                   \
                "smlad %[p0], %[c], %[t0], %[b]\n\t"                                 \
                "ldr %[c], [%[x0]]\n\t"                                              \
                "smlabt %[p0], %[m], %[t1], %[p0]\n\t"                               \
                "smlad %[p1], %[m], %[t0], %[b]\n\t"                                 \
                "smlabt %[p1], %[c], %[t1], %[p1]\n\t"                               \
                "ldrd %[t0], %[t1], [%[w], #12]\n\t"                                 \
                "ldrd %[c], %[m], [%[x1]], #8\n\t"                                   \
                "smlad %[p0], %[c], %[t0], %[p0]\n\t"                                \
                "ldr %[c], [%[x1]]\n\t"                                              \
                "smlabt %[p0], %[m], %[t1], %[p0]\n\t"                               \
                "smlad %[p1], %[m], %[t0], %[p1]\n\t"                                \
                "smlabt %[p1], %[c], %[t1], %[p1]\n\t"                               \
                "ldrd %[t0], %[t1], [%[w], #20]\n\t"                                 \
                "ldrd %[c], %[m], [%[x2]], #8\n\t"                                   \
                "smlad %[p0], %[c], %[t0], %[p0]\n\t"                                \
                "ldr %[c], [%[x2]]\n\t"                                              \
                "smlabt %[p0], %[m], %[t1], %[p0]\n\t"                               \
                "smlad %[p1], %[m], %[t0], %[p1]\n\t"                                \
                "smlabt %[p1], %[c], %[t1], %[p1]\n\t"                               \
                "strd %[p0], %[p1], [%[a]], #8\n\t"                                  \
                "cmp %[a], %[e]\n\t"                                                 \
                "bne 1b\n\t"                                                         \
                : [x0] "+r"(x0), [x1] "+r"(x1), [x2] "+r"(x2), [a] "+r"(a),          \
                  [p0] "=&r"(p0_), [p1] "=&r"(p1_), [t0] "=&r"(t0_), [t1] "=&r"(t1_), \
                  [c] "=&r"(c_), [m] "=&r"(m_)                                       \
                : [w] "r"(w), [e] "r"(a_end), [b] "r"(b_)                            \
                : "memory", "cc");                                                   \
            x0 += (skip_);                                                           \
            x1 += (skip_);                                                           \
            x2 += (skip_);                                                           \
            w += 8;                                                                  \
        } while (w != w_end);                                                        \
    } while (0)
#endif

/* The same for rows of four output pixels (two pairs, unrolled: no inner loop; the stores
 * after both, so that the weights need not be reloaded for the second). */
#define PAIR_AT(ROW, step, r0_, r1_)                                                 \
    do {                                                                             \
        int32_t p0 = w[0], p1 = p0;                                                  \
        ROW(x0, c0, w[1], w[2]);                                                     \
        ROW(x1, c1, w[3], w[4]);                                                     \
        ROW(x2, c2, w[5], w[6]);                                                     \
        r0_ = p0;                                                                    \
        r1_ = p1;                                                                    \
        x0 += (step);                                                                \
        x1 += (step);                                                                \
        x2 += (step);                                                                \
    } while (0)
#define ALL_CHANNELS_4(ROW, step)                                                    \
    do {                                                                             \
        do {                                                                         \
            uint32_t c0 = mcuf_read32(x0), c1 = mcuf_read32(x1), c2 = mcuf_read32(x2); \
            int32_t y0, y1, y2, y3;                                                  \
            PAIR_AT(ROW, step, y0, y1);                                              \
            PAIR_AT(ROW, step, y2, y3);                                              \
            a[0] = y0;                                                               \
            a[1] = y1;                                                               \
            a[2] = y2;                                                               \
            a[3] = y3;                                                               \
            a += 4;                                                                  \
            x0 += skip;                                                              \
            x1 += skip;                                                              \
            x2 += skip;                                                              \
            w += 8;                                                                  \
        } while (w != w_end);                                                        \
    } while (0)

/* The same for stride-2 rows whose pair count is even: two pairs per step, stored after both. */
#define ALL_CHANNELS_X4(ROW, step)                                                   \
    do {                                                                             \
        do {                                                                         \
            int32_t *const a_end = a + ow2;                                          \
            uint32_t c0 = mcuf_read32(x0), c1 = mcuf_read32(x1), c2 = mcuf_read32(x2); \
            do {                                                                     \
                int32_t y0, y1, y2, y3;                                              \
                PAIR_AT(ROW, step, y0, y1);                                          \
                PAIR_AT(ROW, step, y2, y3);                                          \
                a[0] = y0;                                                           \
                a[1] = y1;                                                           \
                a[2] = y2;                                                           \
                a[3] = y3;                                                           \
                a += 4;                                                              \
            } while (a != a_end);                                                    \
            x0 += skip;                                                              \
            x1 += skip;                                                              \
            x2 += skip;                                                              \
            w += 8;                                                                  \
        } while (w != w_end);                                                        \
    } while (0)

/* mode: 0 full range and fast constants, 1 fast constants and a clamp, 2 TFLite's formula */
MCUF_INLINE void body(const mcuf_conv_params *p, const int8_t *input, const int32_t *filter,
                      const int32_t *multiplier, const int8_t *shift, int8_t *output,
                      int16_t *scratch, const int mode)
{
    const mcuf_out_stage o = mcuf_out_stage_of(p, mode != 2);   /* fast constants: shift b */
    const mcuf_requant q = mcuf_requant_at(o, multiplier, shift, 0);
    const int ch = p->in_c, c4 = ch & ~3, ow = p->out_w, s2 = p->stride_w == 2;
    const int32_t rw = row_width(p), plane = (int32_t)ch * rw, ow2 = (ow + 1) & ~1;
    int32_t *const accs = (int32_t *)(void *)(scratch + 3 * plane);   /* [C][ow2] */
    const uint32_t lo4 = mcuf_splat4_s8(p->act_min), hi4 = mcuf_splat4_s8(p->act_max);
    int held[3] = {-1, -1, -1};   /* the input row each ring slot holds, -1 the padding */
    {   /* every slot a padding row */
        const uint32_t zp2 = pair_of(-p->input_offset);
        for (int32_t i = 0; i < 3 * plane; i += 2) {
            mcuf_write32(scratch + i, zp2);
        }
    }
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int16_t *r[3];
        int key[3], slot[3], taken[3] = {0, 0, 0};
        for (int ky = 0; ky < 3; ++ky) {   /* the rows the ring holds already */
            const int iy = oy * p->stride_h - p->pad_top + ky;
            key[ky] = iy < 0 || iy >= p->in_h ? -1 : iy;   /* every padding row alike */
            slot[ky] = -1;
            for (int s = 0; s < 3; ++s) {
                if (held[s] == key[ky]) {
                    slot[ky] = s;
                }
            }
            if (slot[ky] >= 0) {
                taken[slot[ky]] = 1;
            }
        }
        for (int ky = 0; ky < 3; ++ky) {   /* the others into slots this window does not use */
            if (slot[ky] < 0) {
                int s = 0;
                while (taken[s]) {
                    ++s;
                }
                widen_row(p, input, key[ky], rw, scratch + s * plane);
                held[s] = key[ky];
                taken[s] = 1;
                for (int k = ky; k < 3; ++k) {   /* a later tap of the same row */
                    if (key[k] == key[ky]) {
                        slot[k] = s;
                    }
                }
            }
            r[ky] = scratch + slot[ky] * plane;
        }
        {   /* the accumulators */
            const int32_t *w = filter, *const w_end = filter + 8 * ch;
            const int16_t *x0 = r[0], *x1 = r[1], *x2 = r[2];
            int32_t *a = accs;
            if (s2) {
                const int32_t skip = rw - 2 * ow2;
#if MCUF_HAS_DSP
                ALL_CHANNELS_S2_ASM(skip);
#else
                if (ow2 % 4 == 0) {
                    ALL_CHANNELS_X4(ROW_S2, 4);
                } else {
                    ALL_CHANNELS(ROW_S2, 4);
                }
#endif
            } else if (ow2 == 4) {
                const int32_t skip = rw - 4;
#if MCUF_HAS_DSP
                ALL_CHANNELS_S1_ASM(skip);
#else
                ALL_CHANNELS_4(ROW_S1, 2);
#endif
            } else {   /* (two pairs per step measured slower here: spills) */
                const int32_t skip = rw - ow2;
#if MCUF_HAS_DSP
                ALL_CHANNELS_S1_ASM(skip);
#else
                ALL_CHANNELS(ROW_S1, 2);
#endif
            }
        }
        /* the output stage, four channels a word: wide rows of few channels pixel after pixel
         * per group of four (the group's accumulator rows through their own pointers, no
         * per-pixel setup: 3.03 -> 2.74 instructions per MAC on a 32x32x8 layer), others
         * group after group per pixel (no per-group setup: 2.89 -> 3.04 the other way on 4x4x128) */
        int8_t *const out_row = output + (int32_t)oy * ow * ch;
        int c = 0;
        if (mode != 2 && 2 * ow >= ch) {
            for (; c < c4; c += 4) {
                const int32_t *a0 = accs + (int32_t)c * ow2;
                const int32_t *a1 = a0 + ow2, *a2 = a1 + ow2, *a3 = a2 + ow2;
                const int32_t *const a0_end = a0 + ow;
                int8_t *out = out_row + c;
                for (; a0 != a0_end; out += ch) {
                    const int32_t y0 = out_fast(*a0++, &q), y1 = out_fast(*a1++, &q);
                    const int32_t y2 = out_fast(*a2++, &q), y3 = out_fast(*a3++, &q);
                    const uint32_t y = mcuf_pack4_s8(y0, y1, y2, y3);
                    mcuf_write32(out, mode == 1 ? mcuf_clamp4_s8(y, lo4, hi4) : y);
                }
            }
        } else if (mode != 2) {
            int8_t *out = out_row;
            for (int ox = 0; ox < ow; ++ox, out += ch) {
                const int32_t *a = accs + ox;
                for (c = 0; c < c4; c += 4, a += 4 * ow2) {
                    const int32_t y0 = out_fast(a[0], &q), y1 = out_fast(a[ow2], &q);
                    const int32_t y2 = out_fast(a[2 * ow2], &q), y3 = out_fast(a[3 * ow2], &q);
                    const uint32_t y = mcuf_pack4_s8(y0, y1, y2, y3);
                    mcuf_write32(out + c, mode == 1 ? mcuf_clamp4_s8(y, lo4, hi4) : y);
                }
            }
        }
        for (; c < ch; ++c) {   /* the channels past the last group of four; all with TFLite's formula */
            const int32_t *a = accs + (int32_t)c * ow2;
            int8_t *out = out_row + c;
            for (int ox = 0; ox < ow; ++ox, out += ch) {
                int32_t y = mode == 2 ? mcuf_out_general2(o, a[ox], &q) : mcuf_out_fast2(a[ox], &q);
                if (mode == 1) {
                    y = y < o.act_min ? o.act_min : (y > o.act_max ? o.act_max : y);
                }
                *out = (int8_t)y;
            }
        }
    }
}

void mcuf_depthwise_conv_3x3_wzp_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                        const int32_t *filter, const int32_t *multiplier,
                                        const int8_t *shift, int8_t *output, int16_t *scratch)
{
    const int fast_constants = mcuf_requant_is_fast(shift[0]);
    if (fast_constants && p->act_min == -128 && p->act_max == 127) {
        body(p, input, filter, multiplier, shift, output, scratch, 0);
    } else if (fast_constants) {
        body(p, input, filter, multiplier, shift, output, scratch, 1);
    } else {
        body(p, input, filter, multiplier, shift, output, scratch, 2);
    }
}
