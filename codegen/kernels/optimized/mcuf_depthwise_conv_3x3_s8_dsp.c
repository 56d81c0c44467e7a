/* 3x3 depthwise convolution (any depth multiplier: one gathered plane per input channel
 * serves its multiplier's output channels; no dilation, any stride, any channel
 * count), DSP extension: the MobileNet workhorse.
 *
 * Channel by channel, the kernel gathers the input channel into a padded plane in `scratch`
 * (borders hold the input zero point; the input offset is folded into bias_folded), then
 * slides over the plane with the channel's nine weights held in five registers:
 * (w0, w2), (w3, w5), (w6, w8) as int16 pairs and the middle column (w1, w4), (w7, 0).
 * One LDR of four plane bytes and two SXTB16 give (p0, p2) and (p1, p3): at stride 1 that is
 * one kernel row of two neighbouring outputs in two SMLADs and two SMLAxy -- 7 instructions
 * for 6 MACs, where the HWC layout needs 8 for 4. The gather costs about 3 instructions per
 * input byte; it is the price of that layout and is why stride 2 gains less.
 * The filter is int8 [C][9] (channel-major). Same results as the reference kernel, byte for
 * byte. */
#include <string.h>

#include "mcuf_dsp.h"
#include "mcuf_nn.h"

/* The padded plane's geometry, shared with the generator's scratch size
 * (codegen/lowering.py, _depthwise_plane_bytes): rows and columns the output reads, plus
 * 4 bytes because a 3-tap window is read as one 4-byte word. */
MCUF_INLINE int plane_w(const mcuf_conv_params *p) { return (p->out_w - 1) * p->stride_w + 3; }
MCUF_INLINE int plane_h(const mcuf_conv_params *p) { return (p->out_h - 1) * p->stride_h + 3; }

/* (2 * lo, 2 * hi) as an int16 pair */
MCUF_INLINE uint32_t pack16(int8_t lo, int8_t hi)
{
    return (uint32_t)(uint16_t)(int16_t)(2 * lo) | ((uint32_t)(uint16_t)(int16_t)(2 * hi) << 16);
}

/* channel c of the HWC input into the plane's interior (the border is already zero points) */
static void gather_plane(const mcuf_conv_params *p, const int8_t *input, int c, int8_t *plane,
                         int pw, int ph)
{
    const int C = p->in_c, in_w = p->in_w;
    const int y0 = p->pad_top, x0 = p->pad_left;
    const int rows = mcuf_min32(p->in_h, ph - y0), cols = mcuf_min32(in_w, pw - x0);
    const int32_t c2 = 2 * C, c3 = 3 * C, c4 = 4 * C;
    for (int y = 0; y < rows; ++y) {
        const int8_t *s = input + (int32_t)y * in_w * C + c;
        int8_t *d = plane + (int32_t)(y + y0) * pw + x0;
        int n = cols;
        for (; n >= 4; n -= 4, s += c4, d += 4) {
            d[0] = s[0];
            d[1] = s[C];
            d[2] = s[c2];
            d[3] = s[c3];
        }
        for (; n > 0; --n, s += C) {
            *d++ = *s;
        }
    }
}

/* one kernel row of one output: (p0, p2) x (w0, w2) + p1 x the middle weight */
#define ROW1(v, wr, mid, acc)                                      \
    do {                                                           \
        const uint32_t v_ = (v);                                   \
        (acc) = mcuf_smlad(mcuf_sxtb16(v_), (wr), (acc));          \
        (acc) = mid(mcuf_sxtb16_ror8(v_), (acc));                  \
    } while (0)

/* one kernel row of two neighbouring outputs (stride 1): p0..p3 serve both */
#define ROW2(v, wr, mid_a, mid_b)                                  \
    do {                                                           \
        const uint32_t v_ = (v);                                   \
        const uint32_t e_ = mcuf_sxtb16(v_), d_ = mcuf_sxtb16_ror8(v_); \
        a = mcuf_smlad(e_, (wr), a);                               \
        b = mcuf_smlad(d_, (wr), b);                               \
        a = mid_a(d_, a);                                          \
        b = mid_b(e_, b);                                          \
    } while (0)

/* the middle weights: w1 and w4 in mid01's halves, w7 in mid2's bottom */
#define MID0_A(d, acc) mcuf_smlabb((d), mid01, (acc))
#define MID0_B(e, acc) mcuf_smlatb((e), mid01, (acc))
#define MID1_A(d, acc) mcuf_smlabt((d), mid01, (acc))
#define MID1_B(e, acc) mcuf_smlatt((e), mid01, (acc))
#define MID2_A(d, acc) mcuf_smlabb((d), mid2, (acc))
#define MID2_B(e, acc) mcuf_smlatb((e), mid2, (acc))

/* one channel, its plane gathered: every output row */
MCUF_INLINE void channel_body(const mcuf_conv_params *p, const int8_t *plane, int pw,
                              const int8_t *filter, int32_t bias_folded, mcuf_requant q,
                              int8_t *output, const int fast)
{
    const int C = p->out_c, out_h = p->out_h, out_w = p->out_w, sh = p->stride_h, sw = p->stride_w;
    const mcuf_out_stage o = mcuf_out_stage_of(p, fast);
    /* weights and bias doubled: the accumulators hold the 2 * acc the output stage wants */
    const uint32_t w0 = pack16(filter[0], filter[2]), w1 = pack16(filter[3], filter[5]);
    const uint32_t w2 = pack16(filter[6], filter[8]);
    const uint32_t mid01 = pack16(filter[1], filter[4]), mid2 = pack16(filter[7], 0);
    const int32_t bias = 2 * bias_folded;
    for (int oy = 0; oy < out_h; ++oy) {
        const int8_t *r = plane + (int32_t)oy * sh * pw;
        int8_t *out = output + (int32_t)oy * out_w * C;
        int ox = 0;
        if (sw == 1) {
            for (; ox + 2 <= out_w; ox += 2, r += 2) {
                int32_t a = bias, b = bias;
                ROW2(mcuf_read32(r), w0, MID0_A, MID0_B);
                ROW2(mcuf_read32(r + pw), w1, MID1_A, MID1_B);
                ROW2(mcuf_read32(r + 2 * pw), w2, MID2_A, MID2_B);
                out[0] = mcuf_out_x2(o, a, &q);
                out[C] = mcuf_out_x2(o, b, &q);
                out += 2 * C;
            }
        }
        for (; ox < out_w; ++ox, r += sw, out += C) {
            int32_t a = bias;
            ROW1(mcuf_read32(r), w0, MID0_A, a);
            ROW1(mcuf_read32(r + pw), w1, MID1_A, a);
            ROW1(mcuf_read32(r + 2 * pw), w2, MID2_A, a);
            *out = mcuf_out_x2(o, a, &q);
        }
    }
}

/* Two specialised copies: the fast output stage, and the general one. */
static void channel_fast(const mcuf_conv_params *p, const int8_t *plane, int pw, const int8_t *filter,
                         int32_t bias_folded, mcuf_requant q, int8_t *output)
{
    channel_body(p, plane, pw, filter, bias_folded, q, output, 1);
}

static void channel_general(const mcuf_conv_params *p, const int8_t *plane, int pw, const int8_t *filter,
                            int32_t bias_folded, mcuf_requant q, int8_t *output)
{
    channel_body(p, plane, pw, filter, bias_folded, q, output, 0);
}

/* Every channel: its plane, then the fast output stage, or where the channel (or the layer)
 * needs it the general one. */
MCUF_INLINE void channels(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                          const int32_t *bias_folded, const int32_t *multiplier, const int8_t *shift,
                          int8_t *output, int16_t *scratch, const int all_fast)
{
    const int pw = plane_w(p), ph = plane_h(p);
    int8_t *const plane = (int8_t *)(void *)scratch;
    memset(plane, -p->input_offset, (size_t)(pw * ph + 4));
    const int full_range = p->act_min == -128 && p->act_max == 127;
    const mcuf_out_stage fast = mcuf_out_stage_of(p, 1), general = mcuf_out_stage_of(p, 0);
    const int M = p->out_c / p->in_c;   /* depth multiplier: one plane serves M channels */
    for (int ic = 0; ic < p->in_c; ++ic) {
        gather_plane(p, input, ic, plane, pw, ph);
        for (int c = ic * M; c < (ic + 1) * M; ++c, filter += 9) {
            if (all_fast || (full_range && mcuf_requant_is_fast(shift[c]))) {
                channel_fast(p, plane, pw, filter, bias_folded[c],
                             mcuf_requant_at(fast, multiplier, shift, c), output + c);
            } else {
                channel_general(p, plane, pw, filter, bias_folded[c],
                                mcuf_requant_at(general, multiplier, shift, c), output + c);
            }
        }
    }
}

/* Chosen by the generator: every channel on the fast output stage, or the stage chosen per
 * channel -- the generator gives a channel the fast constants (shift byte < 32, see
 * fast_requant_constants) wherever they are exact, so one channel with a left shift does not
 * slow down the layer; a clamped activation range needs the general one. */
void mcuf_depthwise_conv_3x3_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                         const int8_t *filter, const int32_t *bias_folded,
                                         const int32_t *multiplier, const int8_t *shift,
                                         int8_t *output, int16_t *scratch)
{
    channels(p, input, filter, bias_folded, multiplier, shift, output, scratch, 1);
}

void mcuf_depthwise_conv_3x3_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias_folded,
                                    const int32_t *multiplier, const int8_t *shift, int8_t *output,
                                    int16_t *scratch)
{
    channels(p, input, filter, bias_folded, multiplier, shift, output, scratch, 0);
}
