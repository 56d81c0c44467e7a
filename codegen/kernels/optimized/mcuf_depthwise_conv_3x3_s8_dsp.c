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
 * At stride 1 the column pairs of every channel run in assembly (dw3_pairs_*: the fast output
 * stage, or it plus the activation's clamp; a channel whose TFLite shift is a left shift, and
 * whose accumulator provably fits, on its own exact stage), an odd last column and other
 * strides in C. The filter is int8 [C][9] (channel-major). Same results as the reference
 * kernel, byte for byte. */
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

/* one channel, its plane gathered, its weights and bias doubled as packed words (w0, w2),
 * (w3, w5), (w6, w8), (w1, w4), (w7, 0) and 2 * bias_folded: every output row from column ox0 on */
MCUF_INLINE void channel_body_packed(const mcuf_conv_params *p, const int8_t *plane, int pw, uint32_t w0,
                                     uint32_t w1, uint32_t w2, uint32_t mid01, uint32_t mid2, int32_t bias,
                                     mcuf_requant q, int8_t *output, int ox0, const int fast)
{
    const int C = p->out_c, out_h = p->out_h, out_w = p->out_w, sh = p->stride_h, sw = p->stride_w;
    const mcuf_out_stage o = mcuf_out_stage_of(p, fast);
    for (int oy = 0; oy < out_h; ++oy) {
        const int8_t *r = plane + (int32_t)oy * sh * pw + ox0 * sw;
        int8_t *out = output + ((int32_t)oy * out_w + ox0) * C;
        int ox = ox0;
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

/* one channel from its int8 filter (weights and bias doubled: the accumulators hold the
 * 2 * acc the output stage wants) */
MCUF_INLINE void channel_body(const mcuf_conv_params *p, const int8_t *plane, int pw,
                              const int8_t *filter, int32_t bias_folded, mcuf_requant q,
                              int8_t *output, int ox0, const int fast)
{
    channel_body_packed(p, plane, pw, pack16(filter[0], filter[2]), pack16(filter[3], filter[5]),
                        pack16(filter[6], filter[8]), pack16(filter[1], filter[4]), pack16(filter[7], 0),
                        2 * bias_folded, q, output, ox0, fast);
}

#if MCUF_HAS_DSP
/* The stride-1 pair run of one channel in assembly: every output row's column pairs
 * (columns 0 .. out_w & ~1), the two outputs of a pair from three plane words (ROW2 above:
 * 22 instructions for 18 MACs), then the fast output stage of both (SMMLAR, sign correction,
 * shifts, SSAT) -- about 38 instructions per pair against about 45 in gcc's code, which has
 * to spill around the 16 values the loop holds. The clamped copy adds the activation's range
 * after the SSAT (DW3_CLAMP_*).
 * Registers: r0/r1 the two accumulators, r2-r4 and lr scratch, r5-r9 the weights (w0 w2),
 * (w3 w5), (w6 w8), (w1 w4), (w7 0), r10 the plane row, r11 the plane width, ip the output.
 * The job's first 13 words are copied to the frame; the last 8 go to r5-r11, ip. */
typedef struct {
    int32_t multiplier, round, shift;   /* 0: the channel's fast constants (mcuf_requant) */
    int32_t out_stride;                 /* 12: out_c */
    const int8_t *row_end;              /* 16: the first row's plane pointer after its pairs */
    int32_t bias2, bias2_again;         /* 20: 2 * bias_folded, twice (one LDRD sets both) */
    int32_t act_min, act_max;           /* 28: each as two int16 halves */
    int32_t plane_step;                 /* 36: sh * pw - 2 * pairs */
    int32_t out_step;                   /* 40: (out_w - 2 * pairs) * out_c */
    int32_t row_bytes;                  /* 44: sh * pw */
    const int8_t *stop;                 /* 48: row_end + out_h * row_bytes */
    uint32_t w0, w1, w2, mid01, mid2;   /* 52: the doubled weights as in channel_body */
    const int8_t *plane;                /* 72 */
    int32_t pw;                         /* 76 */
    int8_t *out;                        /* 80 */
} dw3_job;

#define DW3_PAIR                                                                        \
    "ldrd r0, r1, [sp, #20]\n\t"                                                        \
    "ldr r2, [r10]\n\t"                                                                 \
    "sxtb16 r3, r2\n\t"                                                                 \
    "sxtb16 r4, r2, ror #8\n\t"                                                         \
    "smlad r0, r3, r5, r0\n\t"                                                          \
    "smlad r1, r4, r5, r1\n\t"                                                          \
    "smlabb r0, r4, r8, r0\n\t"                                                         \
    "smlatb r1, r3, r8, r1\n\t"                                                         \
    "ldr r2, [r10, r11]\n\t"                                                            \
    "sxtb16 r3, r2\n\t"                                                                 \
    "sxtb16 r4, r2, ror #8\n\t"                                                         \
    "smlad r0, r3, r6, r0\n\t"                                                          \
    "smlad r1, r4, r6, r1\n\t"                                                          \
    "smlabt r0, r4, r8, r0\n\t"                                                         \
    "smlatt r1, r3, r8, r1\n\t"                                                         \
    "ldr r2, [r10, r11, lsl #1]\n\t"                                                    \
    "sxtb16 r3, r2\n\t"                                                                 \
    "sxtb16 r4, r2, ror #8\n\t"                                                         \
    "smlad r0, r3, r7, r0\n\t"                                                          \
    "smlad r1, r4, r7, r1\n\t"                                                          \
    "smlabb r0, r4, r9, r0\n\t"                                                         \
    "smlatb r1, r3, r9, r1\n\t"                                                         \
    "add r10, r10, #2\n\t"

/* The fast output stage of both accumulators (mcuf_out_fast2) */
#define DW3_OUT                                                                         \
    "ldmia sp, {r2, r3, r4}\n\t"                                                        \
    "smmlar lr, r0, r2, r3\n\t"                                                         \
    "add r0, lr, r0, asr #31\n\t"                                                       \
    "smmlar lr, r1, r2, r3\n\t"                                                         \
    "add r1, lr, r1, asr #31\n\t"                                                       \
    "asr r0, r0, r4\n\t"                                                                \
    "asr r1, r1, r4\n\t"                                                                \
    "ssat r0, #8, r0, asr #1\n\t"                                                       \
    "ssat r1, #8, r1, asr #1\n\t"

/* A left-shift channel's output stage: the weights and bias come scaled by 2^(s + 1), so the
 * accumulator is 2 * (acc << s), and TFLite's SaturatingRoundingDoublingHighMul(acc << s, M)
 * + zero point is SMMLAR(2 * (acc << s), M, zero point) (see fast_requant_constants; no
 * rounding shift follows a left shift). Frame: M, zero point. */
#define DW3_OUT_LEFT                                                                    \
    "ldrd r2, r3, [sp]\n\t"                                                             \
    "smmlar r0, r0, r2, r3\n\t"                                                         \
    "smmlar r1, r1, r2, r3\n\t"                                                         \
    "ssat r0, #8, r0\n\t"                                                               \
    "ssat r1, #8, r1\n\t"

/* The activation's range after the SSAT (exact: the range lies inside int8); the frame holds
 * each bound twice, as int16 halves. Only the upper bound (ReLU6 with zero point -128: SSUB8
 * and SEL per output on the low bytes), only the lower one, or both, on the two outputs
 * packed as int16 halves (SSUB16 and SEL per bound). */
#define DW3_CLAMP_HI                                                                    \
    "ldr r3, [sp, #32]\n\t"                                                             \
    "ssub8 lr, r3, r0\n\t"                                                              \
    "sel r0, r0, r3\n\t"                                                                \
    "ssub8 lr, r3, r1\n\t"                                                              \
    "sel r1, r1, r3\n\t"

#define DW3_CLAMP_LO                                                                    \
    "ldr r2, [sp, #28]\n\t"                                                             \
    "ssub8 lr, r0, r2\n\t"                                                              \
    "sel r0, r0, r2\n\t"                                                                \
    "ssub8 lr, r1, r2\n\t"                                                              \
    "sel r1, r1, r2\n\t"

#define DW3_CLAMP_BOTH                                                                  \
    "pkhbt r0, r0, r1, lsl #16\n\t"                                                     \
    "ldrd r2, r3, [sp, #28]\n\t"                                                        \
    "ssub16 lr, r0, r2\n\t"                                                             \
    "sel r0, r0, r2\n\t"                                                                \
    "ssub16 lr, r3, r0\n\t"                                                             \
    "sel r0, r0, r3\n\t"                                                                \
    "lsr r1, r0, #16\n\t"

/* Every row's column pairs of one channel, its constants in the frame and r5-r11, ip */
#define DW3_ROWS(out, clamp)                                                               \
    "1:\n\t" DW3_PAIR out clamp                                                           \
    MCUF_DW_PAIR_STORE_NEXT("r10")

#define DW3_RUN(out, clamp)                                                                \
    "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                                   \
    "sub sp, sp, #52\n\t"                                                               \
    "ldmia r0!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, ip}\n\t"                 \
    "stmia sp, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, ip}\n\t"                  \
    "ldr r1, [r0], #4\n\t"                                                              \
    "str r1, [sp, #48]\n\t"                                                             \
    "ldmia r0, {r5, r6, r7, r8, r9, r10, r11, ip}\n\t"                                  \
    DW3_ROWS(out, clamp)                                                                  \
    "add sp, sp, #52\n\t"                                                               \
    "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t"

__attribute__((naked)) static void dw3_pairs_fast(__attribute__((unused)) const dw3_job *job)
{
    __asm__ volatile(DW3_RUN(DW3_OUT, ""));
}

__attribute__((naked)) static void dw3_pairs_clamp_hi(__attribute__((unused)) const dw3_job *job)
{
    __asm__ volatile(DW3_RUN(DW3_OUT, DW3_CLAMP_HI));
}

__attribute__((naked)) static void dw3_pairs_clamp_lo(__attribute__((unused)) const dw3_job *job)
{
    __asm__ volatile(DW3_RUN(DW3_OUT, DW3_CLAMP_LO));
}

__attribute__((naked)) static void dw3_pairs_clamp(__attribute__((unused)) const dw3_job *job)
{
    __asm__ volatile(DW3_RUN(DW3_OUT, DW3_CLAMP_BOTH));
}

__attribute__((naked)) static void dw3_pairs_left(__attribute__((unused)) const dw3_job *job)
{
    __asm__ volatile(DW3_RUN(DW3_OUT_LEFT, ""));
}

__attribute__((naked)) static void dw3_pairs_left_clamp(__attribute__((unused)) const dw3_job *job)
{
    __asm__ volatile(DW3_RUN(DW3_OUT_LEFT, DW3_CLAMP_BOTH));
}

/* The packed entry point's runs: every channel of one gathered plane (the depth multiplier's
 * channels) from the generator's records, 9 words each: multiplier, round, shift byte b (the
 * fast constants, mcuf_requant), 2 * bias_folded, then the doubled weights w0, w1, w2, mid01,
 * mid2 as channel_body packs them -- per channel one LDM to the frame and one to r5-r9, where
 * dw3_pairs_fast's C caller builds a job of 21 words. dw3_packed_run: the channels of the
 * plane in scratch; dw3_packed_all: every input channel, its plane gathered first (4 bytes of
 * a row, 4 LDRB at stride C, one STR; needs cols % 4 == 0). Both advance rec and out. */
typedef struct {
    int32_t out_stride;                 /* 0: out_c */
    const int8_t *row_end;              /* 4: the first row's plane pointer after its pairs */
    int32_t plane_step, out_step;       /* 8: as dw3_job */
    int32_t row_bytes;                  /* 16 */
    const int8_t *stop;                 /* 20 */
    const int8_t *plane;                /* 24 */
    int32_t pw;                         /* 28 */
    int8_t *out;                        /* 32: the next channel's first output */
    const int32_t *rec, *rec_end;       /* 36: the next channel's record, the plane's last's end */
    const int8_t *in;                   /* 44: dw3_packed_all: the next input channel's first byte */
    int8_t *interior;                   /* 48: the plane's first interior byte */
    int32_t rows, words;                /* 52: input rows gathered, 4-byte words per row */
    int32_t row_in, in_c;               /* 60: input bytes per row, input channels */
    int32_t plane_rec_bytes;            /* 68: 36 * the depth multiplier */
    const int8_t *in_end;               /* 72: input + in_c */
} dw3_packed_job;

#define DW3_PACKED_FRAME                                                                \
    "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                                   \
    "sub sp, sp, #56\n\t"                                                               \
    "str r0, [sp, #52]\n\t"                                                             \
    "ldr r1, [r0]\n\t"                                                                  \
    "str r1, [sp, #12]\n\t"                                                             \
    "ldrd r1, r2, [r0, #8]\n\t"                                                         \
    "strd r1, r2, [sp, #36]\n\t"                                                        \
    "ldrd r1, r2, [r0, #16]\n\t"                                                        \
    "strd r1, r2, [sp, #44]\n\t"

#define DW3_PACKED_CHANNELS                                                             \
    "2:\n\t"                                  /* the next channel */                    \
    "ldr r1, [r0, #36]\n\t"                                                             \
    "ldmia r1!, {r2, r3, r4}\n\t"                                                       \
    "stmia sp, {r2, r3, r4}\n\t"                                                        \
    "ldmia r1!, {r2, r5, r6, r7, r8, r9}\n\t"                                           \
    "str r1, [r0, #36]\n\t"                                                             \
    "ldr r1, [r0, #4]\n\t"                                                              \
    "strd r1, r2, [sp, #16]\n\t"                                                        \
    "str r2, [sp, #24]\n\t"                                                             \
    "ldrd r10, r11, [r0, #24]\n\t"                                                      \
    "ldr ip, [r0, #32]\n\t"                                                             \
    "add r1, ip, #1\n\t"                                                                \
    "str r1, [r0, #32]\n\t"                                                             \
    DW3_ROWS(DW3_OUT, "")                                                                 \
    "ldr r0, [sp, #52]\n\t"                                                             \
    "ldrd r1, r2, [r0, #36]\n\t"                                                        \
    "cmp r1, r2\n\t"                                                                    \
    "bne 2b\n\t"

__attribute__((naked)) static void dw3_packed_run(__attribute__((unused)) dw3_packed_job *job)
{
    __asm__ volatile(DW3_PACKED_FRAME DW3_PACKED_CHANNELS
                     "add sp, sp, #56\n\t"
                     "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}

__attribute__((naked)) static void dw3_packed_all(__attribute__((unused)) dw3_packed_job *job)
{
    __asm__ volatile(
        DW3_PACKED_FRAME
        "3:\n\t"                                  /* the next input channel: its plane */
        "ldr r1, [r0, #44]\n\t"
        "add r2, r1, #1\n\t"
        "str r2, [r0, #44]\n\t"
        "ldrd r2, r3, [r0, #48]\n\t"              /* interior, rows */
        "ldrd r4, r5, [r0, #60]\n\t"              /* row_in, in_c */
        "ldr r6, [r0, #56]\n\t"                   /* words */
        "ldr lr, [r0, #28]\n\t"                   /* pw */
        "add r7, r5, r5, lsl #1\n\t"
        "4:\n\t"
        "mov r8, r1\n\t"
        "mov r9, r2\n\t"
        "mov r10, r6\n\t"
        "5:\n\t"
        "ldrb r11, [r8]\n\t"
        "ldrb ip, [r8, r5]\n\t"
        "orr r11, r11, ip, lsl #8\n\t"
        "ldrb ip, [r8, r5, lsl #1]\n\t"
        "orr r11, r11, ip, lsl #16\n\t"
        "ldrb ip, [r8, r7]\n\t"
        "orr r11, r11, ip, lsl #24\n\t"
        "str r11, [r9], #4\n\t"
        "add r8, r8, r5, lsl #2\n\t"
        "subs r10, r10, #1\n\t"
        "bne 5b\n\t"
        "add r1, r1, r4\n\t"
        "add r2, r2, lr\n\t"
        "subs r3, r3, #1\n\t"
        "bne 4b\n\t"
        "ldr r1, [r0, #36]\n\t"                   /* its channels' records */
        "ldr r2, [r0, #68]\n\t"
        "add r1, r1, r2\n\t"
        "str r1, [r0, #40]\n\t"
        DW3_PACKED_CHANNELS
        "ldrd r1, r2, [r0, #44]\n\t"
        "ldr r3, [r0, #72]\n\t"
        "cmp r1, r3\n\t"
        "bne 3b\n\t"
        "add sp, sp, #56\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}

/* (lo << k, hi << k) as an int16 pair */
MCUF_INLINE uint32_t pack16_shl(int8_t lo, int8_t hi, int k)
{
    return (uint32_t)(uint16_t)(int16_t)(lo * (1 << k)) | ((uint32_t)(uint16_t)(int16_t)(hi * (1 << k)) << 16);
}

/* A formula channel (shift byte >= 32) whose TFLite shift s is a left shift of at most 7 and
 * whose accumulator, scaled by 2^(s + 1), provably fits int32 (|bias_folded| + 128 * sum |w|,
 * the input being int8): s, for the assembly's left-shift stage; else -1 (TFLite's formula
 * in C). At most 7: 2^(s + 1) * 127 and 2^(s + 1) * -128 are int16 weights. */
static int left_shift_of(int32_t b, const int8_t *filter, int32_t bias_folded)
{
    const int32_t s = b - MCUF_FORMULA_SHIFT;
    if (s < 0 || s > 7) {
        return -1;
    }
    int64_t bound = bias_folded < 0 ? -(int64_t)bias_folded : bias_folded;
    for (int i = 0; i < 9; ++i) {
        bound += 128 * (filter[i] < 0 ? -filter[i] : filter[i]);
    }
    return (bound << (s + 1)) < ((int64_t)1 << 31) ? (int)s : -1;
}

/* Every row's column pairs of one channel (stride 1, out_w >= 2) on the fast constants q,
 * clamped to the activation's range unless it is all of int8. */
static void channel_pairs_asm(const mcuf_conv_params *p, const int8_t *plane, int pw, const int8_t *filter,
                              int32_t bias_folded, const mcuf_requant *q, int8_t *output, int full_range,
                              int left)
{
    const int C = p->out_c, pairs = p->out_w >> 1;
    const int32_t row_bytes = (int32_t)p->stride_h * pw;
    dw3_job j;
    j.multiplier = q->multiplier;
    j.round = q->round;
    j.shift = q->shift;
    j.out_stride = C;
    j.row_end = plane + 2 * pairs;
    j.bias2 = j.bias2_again = 2 * bias_folded;
    j.act_min = (int32_t)(((uint32_t)p->act_min & 0xFFFFu) * 0x10001u);   /* as two int16 halves */
    j.act_max = (int32_t)(((uint32_t)p->act_max & 0xFFFFu) * 0x10001u);
    j.plane_step = row_bytes - 2 * pairs;
    j.out_step = (int32_t)(p->out_w - 2 * pairs) * C;
    j.row_bytes = row_bytes;
    j.stop = j.row_end + (int32_t)p->out_h * row_bytes;
    j.plane = plane;
    j.pw = pw;
    j.out = output;
    if (left >= 0) {   /* the weights and bias scaled by 2^(s + 1) */
        const int k = left + 1;
        j.w0 = pack16_shl(filter[0], filter[2], k);
        j.w1 = pack16_shl(filter[3], filter[5], k);
        j.w2 = pack16_shl(filter[6], filter[8], k);
        j.mid01 = pack16_shl(filter[1], filter[4], k);
        j.mid2 = pack16_shl(filter[7], 0, k);
        j.bias2 = j.bias2_again = bias_folded * (1 << k);
        if (full_range) {
            dw3_pairs_left(&j);
        } else {
            dw3_pairs_left_clamp(&j);
        }
        return;
    }
    j.w0 = pack16(filter[0], filter[2]);   /* doubled, as the fast stage wants */
    j.w1 = pack16(filter[3], filter[5]);
    j.w2 = pack16(filter[6], filter[8]);
    j.mid01 = pack16(filter[1], filter[4]);
    j.mid2 = pack16(filter[7], 0);
    if (full_range) {
        dw3_pairs_fast(&j);
    } else if (p->act_min == -128) {
        dw3_pairs_clamp_hi(&j);
    } else if (p->act_max == 127) {
        dw3_pairs_clamp_lo(&j);
    } else {
        dw3_pairs_clamp(&j);
    }
}
#endif

/* Two specialised copies: the fast output stage, and the general one. */
static void channel_fast(const mcuf_conv_params *p, const int8_t *plane, int pw, const int8_t *filter,
                         int32_t bias_folded, mcuf_requant q, int8_t *output, int ox0)
{
    channel_body(p, plane, pw, filter, bias_folded, q, output, ox0, 1);
}

static void channel_general(const mcuf_conv_params *p, const int8_t *plane, int pw, const int8_t *filter,
                            int32_t bias_folded, mcuf_requant q, int8_t *output, int ox0)
{
    channel_body(p, plane, pw, filter, bias_folded, q, output, ox0, 0);
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
#if MCUF_HAS_DSP
    /* stride 1: the column pairs of every channel with fast constants in assembly (the clamped
     * copy where the range is not all of int8), an odd last column in C */
    const int pairs_asm = p->stride_w == 1 && p->out_w >= 2;
    const int ox0 = pairs_asm ? p->out_w & ~1 : 0;
#else
    const int pairs_asm = 0, ox0 = 0;
#endif
    for (int ic = 0; ic < p->in_c; ++ic) {
        gather_plane(p, input, ic, plane, pw, ph);
        for (int c = ic * M; c < (ic + 1) * M; ++c, filter += 9) {
            const int fast_c = all_fast || mcuf_requant_is_fast(shift[c]);
#if MCUF_HAS_DSP
            const int left = pairs_asm && !fast_c ? left_shift_of(shift[c], filter, bias_folded[c]) : -1;
            if (pairs_asm && (fast_c || left >= 0)) {
                /* a left-shift channel: its multiplier and the zero point (DW3_OUT_LEFT) */
                const mcuf_requant q = left >= 0 ? (mcuf_requant){multiplier[c], p->output_offset, 0}
                                                 : mcuf_requant_at(fast, multiplier, shift, c);
                channel_pairs_asm(p, plane, pw, filter, bias_folded[c], &q, output + c, all_fast || full_range,
                                  left);
                if (ox0 == p->out_w) {
                    continue;
                }
            }
#else
            const int left = -1;
#endif
            const int x0 = pairs_asm && (fast_c || left >= 0) ? ox0 : 0;
            if (all_fast || (full_range && fast_c)) {
                channel_fast(p, plane, pw, filter, bias_folded[c],
                             mcuf_requant_at(fast, multiplier, shift, c), output + c, x0);
            } else {
                channel_general(p, plane, pw, filter, bias_folded[c],
                                mcuf_requant_at(general, multiplier, shift, c), output + c, x0);
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


/* The fast output stage on every channel and the generator's packed records (9 int32 words
 * per channel, dw3_packed_run: multiplier, round, b, 2 * bias_folded, the five doubled weight
 * words), chosen for small planes where the per-channel setup of the _fast entry (its
 * constants unpacked and the weights widened in C) costs as much as the channel's pairs. The
 * stride-1 column pairs of all the channels of one plane in one assembly call, an odd last
 * column (and every column off the DSP build) in C from the same records. */
void mcuf_depthwise_conv_3x3_packed_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                                const int32_t *packed, int8_t *output, int16_t *scratch)
{
    const int pw = plane_w(p), ph = plane_h(p);
    int8_t *const plane = (int8_t *)(void *)scratch;
    memset(plane, -p->input_offset, (size_t)(pw * ph + 4));
    const int M = p->out_c / p->in_c;
#if MCUF_HAS_DSP
    const int pairs_asm = p->stride_w == 1 && p->out_w >= 2;
    const int ox0 = pairs_asm ? p->out_w & ~1 : 0;
    dw3_packed_job j;
    if (pairs_asm) {
        const int pairs = p->out_w >> 1;
        const int32_t row_bytes = (int32_t)p->stride_h * pw;
        j.out_stride = p->out_c;
        j.row_end = plane + 2 * pairs;
        j.plane_step = row_bytes - 2 * pairs;
        j.out_step = (int32_t)(p->out_w - 2 * pairs) * p->out_c;
        j.row_bytes = row_bytes;
        j.stop = j.row_end + (int32_t)p->out_h * row_bytes;
        j.plane = plane;
        j.pw = pw;
        j.out = output;
        j.rec = packed;
    }
#else
    const int ox0 = 0;
#endif
    const int32_t *rec = packed;
    /* gather_plane with its geometry hoisted out of the channel loop, 4 bytes a word store */
    const int32_t C = p->in_c, row_in = (int32_t)p->in_w * C;
    const int rows = mcuf_min32(p->in_h, ph - p->pad_top), cols = mcuf_min32(p->in_w, pw - p->pad_left);
    int8_t *const d0 = plane + (int32_t)p->pad_top * pw + p->pad_left;
#if MCUF_HAS_DSP
    if (pairs_asm && ox0 == p->out_w && rows > 0 && cols > 0 && cols % 4 == 0) {
        /* even width, whole words per row: everything in one assembly call */
        j.in = input;
        j.interior = d0;
        j.rows = rows;
        j.words = cols >> 2;
        j.row_in = row_in;
        j.in_c = C;
        j.plane_rec_bytes = 36 * M;
        j.in_end = input + C;
        dw3_packed_all(&j);
        return;
    }
#endif
    for (int ic = 0; ic < p->in_c; ++ic) {
        const int8_t *s = input + ic;
        int8_t *d = d0;
        for (int y = 0; y < rows; ++y, s += row_in, d += pw) {
            const int8_t *t = s;
            int n = 0;
            for (; n + 4 <= cols; n += 4, t += 4 * C) {
                mcuf_write32(d + n, (uint32_t)(uint8_t)t[0] | (uint32_t)(uint8_t)t[C] << 8 |
                                    (uint32_t)(uint8_t)t[2 * C] << 16 | (uint32_t)(uint8_t)t[3 * C] << 24);
            }
            for (; n < cols; ++n, t += C) {
                d[n] = *t;
            }
        }
#if MCUF_HAS_DSP
        if (pairs_asm) {
            j.rec_end = rec + 9 * M;
            dw3_packed_run(&j);
        }
#endif
        if (ox0 < p->out_w) {
            for (int c = ic * M; c < (ic + 1) * M; ++c) {
                const int32_t *r = rec + 9 * (c - ic * M);
                const mcuf_requant q = {r[0], r[1], r[2]};
                channel_body_packed(p, plane, pw, (uint32_t)r[4], (uint32_t)r[5], (uint32_t)r[6],
                                    (uint32_t)r[7], (uint32_t)r[8], r[3], q, output + c, ox0, 1);
            }
        }
        rec += 9 * M;
    }
}
