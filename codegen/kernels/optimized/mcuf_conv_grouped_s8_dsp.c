/* Grouped convolution (any group count, kernel, stride, dilation, padding), DSP extension;
 * also DEPTHWISE_CONV_2D with a depth multiplier > 1, which is the grouped convolution with
 * one input channel per group (groups = in_c, filter_in_c = 1, out_c / groups = multiplier).
 *
 * Per pixel pair and group: the group's receptive field (K = k_h * k_w * filter_in_c
 * values of each pixel) is widened and doubled into `scratch` as mcuf_gemm_2x2's column
 * pair (per 4 values, pixel 0's (2x0, 2x2) (2x1, 2x3), then pixel 1's), padded to K4 =
 * ceil(K / 4) * 4 with anything finite (the weights there are 0), then reused by every
 * output-channel pair of the group: the 2x2 GEMM of mcuf_conv_1x1_s8_dsp, whose fast copy
 * runs the assembly channel loop (mcuf_gemm_2x2_fast_s8) over the group's channels. The
 * input offset is folded into the bias, which the generator doubles (bias2), so the
 * accumulators hold the 2 * acc the output stage wants. A 1x1 kernel's field is a run of
 * filter_in_c input bytes read a word at a time; other kernels copy their taps' runs into
 * a byte row first (padding taps hold the input zero point), then widen it.
 *
 * filter: per group, its out_c / groups rows padded to K4 with zero weights, interleaved in
 * output-channel pairs word by word (an odd last row plain), the groups one after the other.
 * scratch: 4 * K4 bytes (the column pair) + K4 + 4 (the byte row), the generator's
 * scratch function in codegen/ops/convolution.py. Same results as the reference mcuf_conv_s8 (grouped) and
 * mcuf_depthwise_conv_s8, byte for byte. */
#include <string.h>

#include "mcuf_dsp.h"
#include "mcuf_nn.h"

/* 4 bytes as the doubled column words of one pixel: (2x0, 2x2), (2x1, 2x3) */
MCUF_INLINE void widen_word(uint32_t v, uint32_t *col)
{
    const uint32_t e = mcuf_sxtb16(v), o = mcuf_sxtb16_ror8(v);
    col[0] = mcuf_sadd16(e, e);
    col[1] = mcuf_sadd16(o, o);
}

/* One pixel's field of group g into the column (pixel 0 at col, pixel 1 at col + 2 words).
 * in_size: the input's bytes, so that no word is read past its end. */
static void gather(const mcuf_conv_params *p, const int8_t *input, int32_t in_size, int oy, int ox,
                   int c0, int K, int K4, uint32_t *col, int8_t *bytes)
{
    const int iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int C = p->in_c, FC = p->filter_in_c;
    if (p->k_h == 1 && p->k_w == 1 && iy0 >= 0 && iy0 < p->in_h && ix0 >= 0 && ix0 < p->in_w) {
        const int32_t at = ((int32_t)iy0 * p->in_w + ix0) * C + c0;
        if (at + K4 <= in_size) {   /* the run, rounded up to words, inside the tensor */
            const int8_t *in = input + at;
            for (int k = 0; k < K4; k += 4, col += 4) {
                widen_word(mcuf_read32(in + k), col);
            }
            return;
        }
    }
    const int8_t zp = (int8_t)(-p->input_offset);
    int8_t *b = bytes;
    for (int ky = 0; ky < p->k_h; ++ky) {
        const int iy = iy0 + ky * p->dil_h;
        const int row_ok = iy >= 0 && iy < p->in_h;
        for (int kx = 0; kx < p->k_w; ++kx, b += FC) {
            const int ix = ix0 + kx * p->dil_w;
            if (row_ok && ix >= 0 && ix < p->in_w) {
                const int8_t *in = input + ((int32_t)iy * p->in_w + ix) * C + c0;
                if (FC == 1) {
                    b[0] = in[0];
                } else {
                    memcpy(b, in, (size_t)FC);
                }
            } else {
                memset(b, zp, (size_t)FC);
            }
        }
    }
    for (int k = K; k < K4; ++k) {
        bytes[k] = 0;
    }
    for (int k = 0; k < K4; k += 4, col += 4) {
        widen_word(mcuf_read32(bytes + k), col);
    }
}

/* pixel 0 of the column pair (or pixel 1, col + 2 words) times one plain filter row */
static int32_t dot_col(const uint32_t *col, const int8_t *w, int K4, int32_t acc)
{
    for (int k = 0; k < K4; k += 4, col += 4) {
        const uint32_t kw = mcuf_read32(w + k);
        acc = mcuf_smlad(col[0], mcuf_sxtb16(kw), acc);
        acc = mcuf_smlad(col[1], mcuf_sxtb16_ror8(kw), acc);
    }
    return acc;
}

MCUF_INLINE void mcuf_conv_grouped_s8_dsp_body(const mcuf_conv_params *p, const int8_t *input,
                                               const int8_t *filter, const int32_t *bias2,
                                               const int32_t *multiplier, const int8_t *shift,
                                               int8_t *output, int16_t *scratch, const int fast)
{
    const int FC = p->filter_in_c;
    const int groups = p->in_c / FC;
    const int K = p->k_h * p->k_w * FC, K4 = (K + 3) & ~3;
    const int OC = p->out_c, OCg = OC / groups;
    const int32_t pixels = (int32_t)p->out_h * p->out_w;
    const int32_t in_size = (int32_t)p->in_h * p->in_w * p->in_c;
    const mcuf_out_stage o = mcuf_out_stage_of(p, fast);
    uint32_t *const col = (uint32_t *)(void *)scratch;
    int8_t *const bytes = (int8_t *)(void *)(col + K4);
    for (int32_t px = 0; px < pixels; px += 2) {
        const int two = px + 1 < pixels;   /* an odd last pixel fills both halves, stored once */
        const int32_t px1 = two ? px + 1 : px;
        const int oy0 = (int)(px / p->out_w), ox0 = (int)(px % p->out_w);
        const int oy1 = (int)(px1 / p->out_w), ox1 = (int)(px1 % p->out_w);
        int8_t *const out0 = output + px * OC, *const out1 = output + px1 * OC;
        const int8_t *w = filter;
        for (int g = 0; g < groups; ++g) {
            const int c0 = g * FC, oc0 = g * OCg, oc_end = oc0 + (OCg & ~1);
            gather(p, input, in_size, oy0, ox0, c0, K, K4, col, bytes);
            gather(p, input, in_size, oy1, ox1, c0, K, K4, col + 2, bytes);
#if MCUF_HAS_GEMM_ASM
            if (fast) {
                if (oc_end > oc0) {
                    const mcuf_gemm_job job = {multiplier + oc0, shift + oc0, o.round1, bias2 + oc0,
                                               out0 + oc0, out1 + oc0, 2 * K4, col, shift + oc_end, w};
                    mcuf_gemm_2x2_fast_s8(&job);
                    w += (oc_end - oc0) * K4;
                }
            } else
#endif
            {
                for (int c = oc0; c < oc_end; c += 2) {
                    int32_t acc[4] = {bias2[c], bias2[c + 1], bias2[c], bias2[c + 1]};
                    mcuf_gemm_2x2(col, w, w + 2 * K4, acc);
                    w += 2 * K4;
                    const mcuf_requant q[2] = {mcuf_requant_at(o, multiplier, shift, c),
                                               mcuf_requant_at(o, multiplier, shift, c + 1)};
                    mcuf_out_2x2(o, acc, q, out0 + c, out1 + c);
                }
            }
            if (OCg & 1) {   /* odd channels per group: the group's last row is stored plain */
                const int c = oc_end;
                const mcuf_requant q = mcuf_requant_at(o, multiplier, shift, c);
                const int8_t y0 = mcuf_out_x2(o, dot_col(col, w, K4, bias2[c]), &q);
                const int8_t y1 = mcuf_out_x2(o, dot_col(col + 2, w, K4, bias2[c]), &q);
                out0[c] = y0;
                out1[c] = y1;
                w += K4;
            }
        }
    }
}

/* Two specialised copies, chosen by the generator: the fast output stage for every channel,
 * and the general one (a model links only what it calls). */
void mcuf_conv_grouped_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                   const int8_t *filter, const int32_t *bias2,
                                   const int32_t *multiplier, const int8_t *shift, int8_t *output,
                                   int16_t *scratch)
{
    mcuf_conv_grouped_s8_dsp_body(p, input, filter, bias2, multiplier, shift, output, scratch, 1);
}

void mcuf_conv_grouped_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                              const int32_t *bias2, const int32_t *multiplier, const int8_t *shift,
                              int8_t *output, int16_t *scratch)
{
    mcuf_conv_grouped_s8_dsp_body(p, input, filter, bias2, multiplier, shift, output, scratch, 0);
}

/* A grouped 1x1 convolution of 2 or 3 input channels per group (filter_in_c), at least 2
 * groups, a multiple of 4 output channels per group, stride 1, no padding, fast output stage
 * on every channel: the generator's packed stream (codegen/ops/convolution.py,
 * _grouped_1x1_records). Two pixels at a time, A = p and B = p + h (h = P / 2 of the P pixels;
 * p = 0 .. ceil(P / 2) - 1, so an odd count's last pair computes pixel h twice), one block
 * per 4 output channels of a group: the block's header {A's input offset, B's}, then per
 * channel 7 words -- the doubled weights as two int16 pairs, 2 * bias_folded twice, the
 * multiplier, round = (2 * output_offset + 1) << b and b + 1 (see fast_requant_constants).
 * One LDR of each pixel's group, two SXTB16 and a PKHBT + SXTB16 give each pixel's (x0, x2)
 * and (x1 of A, x1 of B), shared by the block's channels; per channel and both pixels one
 * LDM, SMLAD + SMLAxB each, then SMMLAR, the sign correction, ASR and SSAT: 15 instructions
 * for 6 MACs. A group's word is read forward (x0 x1 x2 and the next byte), the last group's
 * backward (the byte before, then x0 x1 x2; its headers hold B's offset first), so that no
 * word leaves the pixel's bytes; the weights follow the bytes' places. A header
 * {0, -(stream bytes)} ends the pair and rewinds the stream. The stream starts with 3 words:
 * in_c, ceil(P / 2) * in_c and h * out_c. Same results as mcuf_conv_grouped_s8_dsp_fast, byte for byte. */
#define G1_CHANNEL                                                                      \
    "ldmia r0!, {r6, r7, r8, r9, r10, r11, ip}\n\t"                                     \
    "smlad r8, r3, r6, r8\n\t"                                                          \
    "smlad r9, r4, r6, r9\n\t"                                                          \
    "smlabb r8, r5, r7, r8\n\t"                                                         \
    "smlatb r9, r5, r7, r9\n\t"                                                         \
    "smmlar r6, r8, r10, r11\n\t"                                                       \
    "smmlar r7, r9, r10, r11\n\t"                                                       \
    "add r6, r6, r8, asr #31\n\t"                                                       \
    "add r7, r7, r9, asr #31\n\t"                                                       \
    "asr r6, r6, ip\n\t"                                                                \
    "asr r7, r7, ip\n\t"                                                                \
    "ssat r6, #8, r6\n\t"                                                               \
    "ssat r7, #8, r7\n\t"                                                               \
    "strb r7, [r2, lr]\n\t"                                                             \
    "strb r6, [r2], #1\n\t"

#define G1_BLOCK G1_CHANNEL G1_CHANNEL G1_CHANNEL G1_CHANNEL

#if MCUF_HAS_DSP
/* The whole layer in assembly. Registers: r0 the stream, r1 pixel A's input, r2 its output,
 * lr h * out_c (B's outputs), r3-r5 the inputs, r6-r11 and ip one channel's record; frame:
 * in_c, the input after the last pair's pixel A. */
__attribute__((naked)) void mcuf_conv_grouped_1x1_packed_s8_dsp_fast(
    __attribute__((unused)) const mcuf_conv_params *p, __attribute__((unused)) const int8_t *input,
    __attribute__((unused)) const int32_t *packed, __attribute__((unused)) int8_t *output)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "sub sp, sp, #8\n\t"
        "mov r0, r2\n\t"
        "ldmia r0!, {r4, r5, lr}\n\t"          /* in_c, ceil(P / 2) * in_c, h * out_c */
        "add r5, r5, r1\n\t"
        "strd r4, r5, [sp]\n\t"
        "mov r2, r3\n\t"
        "ldmia r0!, {r6, r7}\n\t"
        "1:\n\t"                                 /* a forward block */
        "ldr r3, [r1, r6]\n\t"
        "ldr r4, [r1, r7]\n\t"
        "pkhbt r5, r3, r4, lsl #16\n\t"          /* x0 x1 of A, x0 x1 of B */
        "sxtb16 r3, r3\n\t"
        "sxtb16 r4, r4\n\t"
        "sxtb16 r5, r5, ror #8\n\t"
        G1_BLOCK
        "ldmia r0!, {r6, r7}\n\t"
        "cmp r7, r6\n\t"
        "bgt 1b\n\t"
        "2:\n\t"                                 /* a backward block (the last group) */
        "ldr r3, [r1, r7]\n\t"
        "ldr r4, [r1, r6]\n\t"
        "pkhtb r5, r4, r3, asr #16\n\t"          /* x1 x2 of A, x1 x2 of B */
        "sxtb16 r3, r3, ror #8\n\t"
        "sxtb16 r4, r4, ror #8\n\t"
        "sxtb16 r5, r5\n\t"
        G1_BLOCK
        "ldmia r0!, {r6, r7}\n\t"
        "cbz r6, 3f\n\t"
        "b 2b\n\t"
        "3:\n\t"                                 /* the pair's end: rewind the stream */
        "add r0, r0, r7\n\t"
        "ldrd r6, r7, [sp]\n\t"
        "add r1, r1, r6\n\t"
        "cmp r1, r7\n\t"
        "ldmia r0!, {r6, r7}\n\t"
        "bne 1b\n\t"
        "add sp, sp, #8\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}
#else
/* the same in C (builds without the DSP extension) */
void mcuf_conv_grouped_1x1_packed_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                              const int32_t *packed, int8_t *output)
{
    const int32_t P = (int32_t)p->out_h * p->out_w, in_c = packed[0], b_out = packed[2];
    const int32_t *r = packed + 3;
    const int8_t *in = input;
    int8_t *out = output;
    for (int32_t pair = 0; pair < (P + 1) / 2; ++pair, in += in_c) {
        for (;;) {
            if (r[1] < 0) {   /* the pair's end {0, -(stream bytes)} */
                r += 2 + r[1] / 4;
                break;
            }
            const int back = r[1] < r[0];   /* the last group: B's offset first */
            const int32_t off_a = back ? r[1] : r[0], off_b = back ? r[0] : r[1];
            r += 2;
            const uint32_t a = mcuf_read32(in + off_a), b = mcuf_read32(in + off_b);
            /* (x0, x2) of each pixel and x1 of A | x1 of B << 16, as the assembly's halves */
            const uint32_t xa = back ? mcuf_sxtb16_ror8(a) : mcuf_sxtb16(a);
            const uint32_t xb = back ? mcuf_sxtb16_ror8(b) : mcuf_sxtb16(b);
            const uint32_t x1 = back ? mcuf_sxtb16((b & 0xFFFF0000u) | (a >> 16))
                                     : mcuf_sxtb16_ror8((a & 0xFFFFu) | (b << 16));
            for (int k = 0; k < 4; ++k, r += 7, ++out) {
                const int32_t acc_a = mcuf_smlabb(x1, (uint32_t)r[1], mcuf_smlad(xa, (uint32_t)r[0], r[2]));
                const int32_t acc_b = mcuf_smlatb(x1, (uint32_t)r[1], mcuf_smlad(xb, (uint32_t)r[0], r[3]));
                out[0] = (int8_t)mcuf_ssat8((mcuf_smmlar(acc_a, r[4], r[5]) + (acc_a >> 31)) >> r[6]);
                out[b_out] = (int8_t)mcuf_ssat8((mcuf_smmlar(acc_b, r[4], r[5]) + (acc_b >> 31)) >> r[6]);
            }
        }
    }
}
#endif

/* mcuf_conv_grouped_1x1_oc4_packed_s8_dsp_fast: the layers of the kernel above with exactly 4
 * output channels per group and 2 .. MCUF_G1_OC4_MAX_GROUPS groups, without its loop tests.
 * One block per group, the first G - 1 read forward, the last backward (as above); the
 * assembly runs a pair as straight code: a chain of MCUF_G1_OC4_MAX_GROUPS - 1 forward blocks
 * entered at the (skip + 1)-th, skip = MCUF_G1_OC4_MAX_GROUPS - G, then the backward block.
 * Each block's header {A's input offset, B's} is loaded with its first channel's record and
 * the next block's with its last channel's (one LDM of 8 words), so a channel costs 15
 * instructions and a block 6 more. Per channel 6 words: the doubled weights (byte e0, byte
 * e1) as an int16 pair, then b + 1 in the low half and the doubled weight of byte s in the
 * high half of one word (ASR by register reads its low byte, SMLAxT its high half), 2 * bias
 * twice, the multiplier and round = (2 * output_offset + 1) << b. The stream starts with
 * skip, in_c, ceil(P / 2) * in_c and h * out_c (codegen/ops/convolution.py,
 * _grouped_1x1_oc4_records). Same results as mcuf_conv_grouped_1x1_packed_s8_dsp_fast. */
#define G4_MAC(XA, XB, X1)                                                              \
    "smlad r8, " XA ", r6, r8\n\t"                                                      \
    "smlad r9, " XB ", r6, r9\n\t"                                                      \
    "smlabt r8, " X1 ", r7, r8\n\t"                                                     \
    "smlatt r9, " X1 ", r7, r9\n\t"                                                     \
    "smmlar r6, r8, r10, r11\n\t"                                                       \
    "add r6, r6, r8, asr #31\n\t"                                                       \
    "smmlar r8, r9, r10, r11\n\t"                                                       \
    "add r8, r8, r9, asr #31\n\t"                                                       \
    "asr.w r6, r6, r7\n\t"                                                              \
    "asr.w r8, r8, r7\n\t"                                                              \
    "ssat r6, #8, r6\n\t"                                                               \
    "ssat r8, #8, r8\n\t"                                                               \
    "strb r8, [r2, lr]\n\t"                                                             \
    "strb r6, [r2], #1\n\t"
#define G4_LDM "ldmia r0!, {r6, r7, r8, r9, r10, r11}\n\t"
#define G4_CHANNELS(XA, XB, X1) \
    G4_MAC(XA, XB, X1) G4_LDM G4_MAC(XA, XB, X1) G4_LDM G4_MAC(XA, XB, X1) G4_LDM G4_MAC(XA, XB, X1)
#define G4_FORWARD                                                                      \
    "ldr r3, [r1, r3]\n\t"                                                              \
    "ldr r4, [r1, r4]\n\t"                                                              \
    "pkhbt r5, r3, r4, lsl #16\n\t"                                                     \
    "sxtb16 r3, r3\n\t"                                                                 \
    "sxtb16 r4, r4\n\t"                                                                 \
    "sxtb16 r5, r5, ror #8\n\t"                                                         \
    G4_CHANNELS("r3", "r4", "r5")                                                       \
    "ldmia r0!, {r3, r4, r6, r7, r8, r9, r10, r11}\n\t"
#define G4_BACKWARD                                                                     \
    "ldr r3, [r1, r3]\n\t"                                                              \
    "ldr r4, [r1, r4]\n\t"                                                              \
    "pkhtb r5, r4, r3, asr #16\n\t"                                                     \
    "sxtb16 r3, r3, ror #8\n\t"                                                         \
    "sxtb16 r4, r4, ror #8\n\t"                                                         \
    "sxtb16 r5, r5\n\t"                                                                 \
    G4_CHANNELS("r3", "r4", "r5")

#if MCUF_HAS_DSP
/* Registers: r0 the stream, r1 pixel A's input, r2 its output, lr h * out_c, ip the input
 * after the last pair's pixel A, r3-r5 the inputs (first the header), r6-r11 a record;
 * frame: the chain's entry (Thumb address), the stream's first block, in_c. */
__attribute__((naked)) void mcuf_conv_grouped_1x1_oc4_packed_s8_dsp_fast(
    __attribute__((unused)) const mcuf_conv_params *p, __attribute__((unused)) const int8_t *input,
    __attribute__((unused)) const int32_t *packed, __attribute__((unused)) int8_t *output)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "sub sp, sp, #12\n\t"
        "ldmia r2!, {r4, r5, r6, lr}\n\t"      /* skip, in_c, ceil(P / 2) * in_c, h * out_c */
        "add ip, r1, r6\n\t"
        "strd r2, r5, [sp, #4]\n\t"
        "mov r0, r2\n\t"
        "mov r2, r3\n\t"
        ".p2align 2\n\t"                /* ADR is relative to Align(PC, 4): the section word aligned (-Os aligns functions to 2) */
        "adr.w r5, 11f\n\t"
        "adr.w r6, 12f\n\t"
        "sub r6, r6, r5\n\t"
        "mla r5, r6, r4, r5\n\t"               /* the (skip + 1)-th forward block */
        "orr r5, r5, #1\n\t"
        "str r5, [sp]\n\t"
        "ldmia r0!, {r3, r4, r6, r7, r8, r9, r10, r11}\n\t"
        "bx r5\n\t"
        "11:\n\t"                                 /* MCUF_G1_OC4_MAX_GROUPS - 1 forward blocks */
        G4_FORWARD
        "12:\n\t"
        G4_FORWARD G4_FORWARD
        G4_BACKWARD
        "ldrd r0, r6, [sp, #4]\n\t"            /* the pair's end: rewind, next pixel */
        "add r1, r1, r6\n\t"
        "cmp r1, ip\n\t"
        "ldmia r0!, {r3, r4, r6, r7, r8, r9, r10, r11}\n\t"
        "beq 4f\n\t"
        "ldr pc, [sp]\n\t"
        "4:\n\t"
        "add sp, sp, #12\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}
#else
/* the same in C (builds without the DSP extension) */
void mcuf_conv_grouped_1x1_oc4_packed_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                                  const int32_t *packed, int8_t *output)
{
    (void)p;
    const int groups = MCUF_G1_OC4_MAX_GROUPS - packed[0];
    const int32_t in_c = packed[1], end = packed[2], b_out = packed[3];
    int8_t *out = output;
    for (int32_t at = 0; at < end; at += in_c) {
        const int8_t *in = input + at;
        const int32_t *r = packed + 4;
        for (int g = 0; g < groups; ++g) {
            const int back = g == groups - 1;
            const uint32_t a = mcuf_read32(in + r[0]), b = mcuf_read32(in + r[1]);
            r += 2;
            const uint32_t xa = back ? mcuf_sxtb16_ror8(a) : mcuf_sxtb16(a);
            const uint32_t xb = back ? mcuf_sxtb16_ror8(b) : mcuf_sxtb16(b);
            const uint32_t x1 = back ? mcuf_sxtb16((b & 0xFFFF0000u) | (a >> 16))
                                     : mcuf_sxtb16_ror8((a & 0xFFFFu) | (b << 16));
            for (int k = 0; k < 4; ++k, r += 6, ++out) {
                const int32_t acc_a = mcuf_smlabt(x1, (uint32_t)r[1], mcuf_smlad(xa, (uint32_t)r[0], r[2]));
                const int32_t acc_b = mcuf_smlatt(x1, (uint32_t)r[1], mcuf_smlad(xb, (uint32_t)r[0], r[3]));
                const int sh = r[1] & 0xFF;
                out[0] = (int8_t)mcuf_ssat8((mcuf_smmlar(acc_a, r[4], r[5]) + (acc_a >> 31)) >> sh);
                out[b_out] = (int8_t)mcuf_ssat8((mcuf_smmlar(acc_b, r[4], r[5]) + (acc_b >> 31)) >> sh);
            }
        }
    }
}
#endif

/* mcuf_conv_grouped_direct_s8_dsp: a grouped CONV_2D (or a 1x1 over a channel count off a
 * multiple of 4) without im2col: per output row, its k_h input rows are copied into `scratch`
 * padded to Wp = (out_w - 1) * stride_w + (k_w - 1) * dil_w + 1 pixels with the input zero
 * point (the row buffer; padding taps then need no test), then every output channel pair of a
 * group is accumulated for two neighbouring pixels of the row straight from the buffer: per
 * step one word of each pixel at the step's offset (taps[s] = ky * Wp * in_c + kx * dil_w *
 * in_c + 4 j, j = 0 .. ceil(filter_in_c / 4) - 1, plus g * filter_in_c), SXTB16 twice each,
 * then SMLAD with both channels' doubled int16 weight pairs (w of byte 0, byte 2), (byte 1,
 * byte 3): 16 MACs (4 bytes x 2 pixels x 2 channels) per step. A word's bytes past the group's
 * channels (the next group's, or the buffer's 4 slack bytes, zeroed) have weight 0. An odd
 * last channel of a group runs alone (2 words per step), an odd last pixel of a row as its own
 * twin (the same bytes stored twice).
 * filter: int32 words, per group, per channel pair, per step: channel c's (w0, w2), (w1, w3),
 * channel c + 1's (int16, doubled, SXTB16 order), an odd last channel's per step 2 words
 * (generator: _grouped_direct_filter in codegen/ops/convolution.py); bias2: the folded bias
 * doubled; scratch: k_h * Wp * in_c + 4 bytes, Wp = out_w * stride_w + (k_w - 1) * dil_w + 1 (the taps of every output
 * pixel and of a lone last pixel's twin; the generator's scratch function in codegen/ops/convolution.py).
 * Same results as the reference mcuf_conv_s8 (grouped), byte for byte. */
/* The row buffer's width in pixels: every output pixel's taps, and a lone last pixel's
 * twin (one stride more), which the packed entry computes and then overwrites. */
MCUF_INLINE int32_t mcuf_grouped_direct_row_pixels(const mcuf_conv_params *p)
{
    return (int32_t)p->out_w * p->stride_w + (p->k_w - 1) * p->dil_w + 1;
}

static void direct_rows(const mcuf_conv_params *p, const int8_t *input, int oy, int32_t row_bytes,
                        int32_t wp, int8_t *rows)
{
    const int C = p->in_c;
    const int8_t zp = (int8_t)(-p->input_offset);
    int32_t left = p->pad_left, right = (int32_t)p->pad_left + p->in_w;   /* buffer columns of the input */
    if (left < 0) {
        left = 0;
    }
    if (left > wp) {
        left = wp;
    }
    if (right > wp) {
        right = wp;
    }
    if (right < left) {
        right = left;
    }
    for (int ky = 0; ky < p->k_h; ++ky) {
        int8_t *dst = rows + ky * row_bytes;
        const int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h || right == left) {
            memset(dst, zp, (size_t)row_bytes);
            continue;
        }
        memset(dst, zp, (size_t)(left * C));
        memcpy(dst + left * C, input + ((int32_t)iy * p->in_w + (left - p->pad_left)) * C,
               (size_t)((right - left) * C));
        memset(dst + right * C, zp, (size_t)((wp - right) * C));
    }
}

MCUF_INLINE void mcuf_conv_grouped_direct_s8_dsp_body(const mcuf_conv_params *p, const int8_t *input,
                                                      const int32_t *taps, const int32_t *filter,
                                                      const int32_t *bias2, const int32_t *multiplier,
                                                      const int8_t *shift, int8_t *output,
                                                      int8_t *scratch, const int fast)
{
    const int C = p->in_c, FC = p->filter_in_c, OC = p->out_c;
    const int groups = C / FC, OCg = OC / groups;
    const int S = p->k_h * p->k_w * ((FC + 3) >> 2);
    const int32_t wp = mcuf_grouped_direct_row_pixels(p);
    const int32_t row_bytes = wp * C, step = (int32_t)p->stride_w * C;
    const mcuf_out_stage o = mcuf_out_stage_of(p, fast);
    memset(scratch + p->k_h * row_bytes, 0, 4);   /* the slack the last word may reach */
    for (int oy = 0; oy < p->out_h; ++oy) {
        direct_rows(p, input, oy, row_bytes, wp, scratch);
        for (int ox = 0; ox < p->out_w; ox += 2) {
            const int two = ox + 1 < p->out_w;
            const int32_t d = two ? step : 0;
            const int8_t *const base = scratch + ox * step;
            int8_t *const out0 = output + ((int32_t)oy * p->out_w + ox) * OC;
            int8_t *const out1 = two ? out0 + OC : out0;
            const uint32_t *w = (const uint32_t *)(const void *)filter;
            int c = 0;
            for (int g = 0; g < groups; ++g) {
                const int8_t *const src = base + g * FC;
                for (int k = 0; k + 1 < OCg; k += 2, c += 2) {
                    int32_t a0 = bias2[c], a1 = bias2[c + 1], b0 = a0, b1 = a1;
                    for (int s = 0; s < S; ++s, w += 4) {
                        const int8_t *q = src + taps[s];
                        const uint32_t xa = mcuf_read32(q), xb = mcuf_read32(q + d);
                        const uint32_t ae = mcuf_sxtb16(xa), ao = mcuf_sxtb16_ror8(xa);
                        const uint32_t be = mcuf_sxtb16(xb), bo = mcuf_sxtb16_ror8(xb);
                        a0 = mcuf_smlad(ao, w[1], mcuf_smlad(ae, w[0], a0));
                        b0 = mcuf_smlad(bo, w[1], mcuf_smlad(be, w[0], b0));
                        a1 = mcuf_smlad(ao, w[3], mcuf_smlad(ae, w[2], a1));
                        b1 = mcuf_smlad(bo, w[3], mcuf_smlad(be, w[2], b1));
                    }
                    const int32_t acc[4] = {a0, a1, b0, b1};
                    const mcuf_requant rq[2] = {mcuf_requant_at(o, multiplier, shift, c),
                                                mcuf_requant_at(o, multiplier, shift, c + 1)};
                    mcuf_out_2x2(o, acc, rq, out0 + c, out1 + c);
                }
                if (OCg & 1) {
                    int32_t a0 = bias2[c], b0 = a0;
                    for (int s = 0; s < S; ++s, w += 2) {
                        const int8_t *q = src + taps[s];
                        const uint32_t xa = mcuf_read32(q), xb = mcuf_read32(q + d);
                        a0 = mcuf_smlad(mcuf_sxtb16_ror8(xa), w[1], mcuf_smlad(mcuf_sxtb16(xa), w[0], a0));
                        b0 = mcuf_smlad(mcuf_sxtb16_ror8(xb), w[1], mcuf_smlad(mcuf_sxtb16(xb), w[0], b0));
                    }
                    const mcuf_requant rq = mcuf_requant_at(o, multiplier, shift, c);
                    const int8_t y0 = mcuf_out_x2(o, a0, &rq), y1 = mcuf_out_x2(o, b0, &rq);
                    out0[c] = y0;
                    out1[c] = y1;
                    ++c;
                }
            }
        }
    }
}

void mcuf_conv_grouped_direct_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                     const int32_t *taps, const int32_t *filter, const int32_t *bias2,
                                     const int32_t *multiplier, const int8_t *shift, int8_t *output,
                                     int16_t *scratch)
{
    mcuf_conv_grouped_direct_s8_dsp_body(p, input, taps, filter, bias2, multiplier, shift, output,
                                         (int8_t *)(void *)scratch, 0);
}

/* mcuf_conv_grouped_direct_packed_s8_dsp_fast: the layers of mcuf_conv_grouped_direct_s8_dsp
 * with the fast output stage and at most MCUF_GROUPED_DIRECT_MAX_STEPS steps, over one packed int32 stream (generator:
 * _grouped_direct_records): per channel pair of a group (an odd last channel paired with
 * itself) 2 * bias of both channels, per step {pixel A's offset, pixel B's (A's + stride_w *
 * in_c)} and both channels' doubled weight pairs (w0, w2) (w1, w3), then multiplier 0, round 0,
 * multiplier 1, round 1, b0 | b1 << 8 and both channels' indices (round = (2 * output_offset
 * + 1) << b, fast_requant_constants). The same row buffer; per pixel pair one call of the
 * assembly, which runs the pairs' steps fully unrolled (entered at the step that leaves S of
 * them) and a row's pixel pairs in one call: per step one LDRD of the offsets, two LDR, four
 * SXTB16, one LDM of the weights and 8 SMLAD -- 16 instructions for 16 MACs -- per channel
 * pair about 32 more (the output stage of 4 results and their stores at the indices), per
 * pixel pair 12. A lone last pixel's twin is computed one stride further (the buffer holds
 * it) and stored first, to the same place. */
typedef struct {             /* in this order: the assembly's frame */
    const int8_t *src;       /* the first pixel A's window in the row buffer */
    int8_t *out_a, *out_b;   /* its pixels' outputs (out_b = out_a for a lone pixel) */
    const int32_t *end;      /* the stream's end */
    int32_t skip;            /* MCUF_GROUPED_DIRECT_MAX_STEPS - steps */
    const int32_t *stream;
    int32_t pairs;           /* pixel pairs to run (>= 1), each src_step and out_step further */
    int32_t src_step, out_step;
} grouped_direct_job;

#if MCUF_HAS_DSP
#define GD_STEP                                                                         \
    "ldrd r6, r7, [ip], #8\n\t"                                                         \
    "ldr r4, [lr, r6]\n\t"                                                              \
    "ldr r5, [lr, r7]\n\t"                                                              \
    "ldmia ip!, {r8, r9, r10, r11}\n\t"                                                 \
    "sxtb16 r6, r4\n\t"                                                                 \
    "sxtb16 r4, r4, ror #8\n\t"                                                         \
    "sxtb16 r7, r5\n\t"                                                                 \
    "sxtb16 r5, r5, ror #8\n\t"                                                         \
    "smlad r0, r6, r8, r0\n\t"                                                          \
    "smlad r0, r4, r9, r0\n\t"                                                          \
    "smlad r2, r7, r8, r2\n\t"                                                          \
    "smlad r2, r5, r9, r2\n\t"                                                          \
    "smlad r1, r6, r10, r1\n\t"                                                         \
    "smlad r1, r4, r11, r1\n\t"                                                         \
    "smlad r3, r7, r10, r3\n\t"                                                         \
    "smlad r3, r5, r11, r3\n\t"
#define GD_STEP4 GD_STEP GD_STEP GD_STEP GD_STEP
/* y = (SMMLAR(acc, multiplier, round) + (acc >> 31)) >> b >> 1, saturated (lr: a temporary) */
#define GD_OUT(acc, m, rnd, b)                                                          \
    "smmlar lr, " acc ", " m ", " rnd "\n\t"                                            \
    "add lr, lr, " acc ", asr #31\n\t"                                                  \
    "asr lr, lr, " b "\n\t"                                                             \
    "ssat " acc ", #8, lr, asr #1\n\t"

/* Frame: src, out_a, out_b, end, the entry (Thumb address), stream, pairs, src_step, out_step.
 * Registers: r0-r3 the accumulators (A c0, A c1, B c0, B c1), r4-r11 inputs and weights, ip
 * the stream, lr the window. */
__attribute__((naked)) static void grouped_direct_pair(__attribute__((unused)) const grouped_direct_job *job)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "sub sp, sp, #36\n\t"
        /* src out_a out_b end skip stream pairs src_step out_step */
        "ldmia r0, {r4, r5, r6, r7, r8, r9, r10, r11, ip}\n\t"
        "strd r11, ip, [sp, #28]\n\t"
        ".p2align 2\n\t"                /* ADR is relative to Align(PC, 4): the section word aligned (-Os aligns functions to 2) */
        "adr.w r11, 11f\n\t"
        "adr.w ip, 12f\n\t"
        "sub ip, ip, r11\n\t"
        "mla r8, ip, r8, r11\n\t"                     /* the (skip + 1)-th step */
        "orr r8, r8, #1\n\t"
        "stmia sp, {r4, r5, r6, r7, r8, r9, r10}\n\t"
        "mov ip, r9\n\t"
        "1:\n\t"                                       /* a channel pair */
        "ldmia ip!, {r0, r1}\n\t"
        "mov r2, r0\n\t"
        "mov r3, r1\n\t"
        "ldr lr, [sp]\n\t"
        "ldr r10, [sp, #16]\n\t"
        "bx r10\n\t"
        "11:\n\t" GD_STEP
        "12:\n\t" GD_STEP GD_STEP GD_STEP
        GD_STEP4 GD_STEP4 GD_STEP4 GD_STEP4 GD_STEP4 GD_STEP4 GD_STEP4 GD_STEP4
        "ldmia ip!, {r4, r5, r6, r7, r8, r9, r10}\n\t" /* m0 rnd0 m1 rnd1 b0|b1<<8 c0 c1 */
        "lsr r11, r8, #8\n\t"                           /* ASR by a register reads its low byte */
        GD_OUT("r0", "r4", "r5", "r8")
        GD_OUT("r2", "r4", "r5", "r8")
        GD_OUT("r1", "r6", "r7", "r11")
        GD_OUT("r3", "r6", "r7", "r11")
        "ldrd r4, r5, [sp, #4]\n\t"
        "strb r2, [r5, r9]\n\t"                         /* pixel B first: a lone pixel's twin */
        "strb r3, [r5, r10]\n\t"
        "strb r0, [r4, r9]\n\t"
        "strb r1, [r4, r10]\n\t"
        "ldr r6, [sp, #12]\n\t"
        "cmp ip, r6\n\t"
        "bne 1b\n\t"
        "ldr r4, [sp, #24]\n\t"                       /* the next pixel pair */
        "subs r4, r4, #1\n\t"
        "beq 9f\n\t"
        "str r4, [sp, #24]\n\t"
        "ldmia sp, {r4, r5, r6}\n\t"
        "ldrd r7, r8, [sp, #28]\n\t"
        "add r4, r4, r7\n\t"
        "add r5, r5, r8\n\t"
        "add r6, r6, r8\n\t"
        "stmia sp, {r4, r5, r6}\n\t"
        "ldr ip, [sp, #20]\n\t"
        "b 1b\n\t"
        "9:\n\t"
        "add sp, sp, #36\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}
#else
/* the same in C (builds without the DSP extension) */
static void grouped_direct_pair(const grouped_direct_job *job)
{
    const int steps = MCUF_GROUPED_DIRECT_MAX_STEPS - job->skip;
    const int8_t *src = job->src;
    int8_t *out_a = job->out_a, *out_b = job->out_b;
    for (int32_t n = 0; n < job->pairs; ++n, src += job->src_step, out_a += job->out_step, out_b += job->out_step) {
        for (const int32_t *r = job->stream; r != job->end;) {
            int32_t a0 = r[0], a1 = r[1], b0 = r[0], b1 = r[1];
            r += 2;
            for (int s = 0; s < steps; ++s, r += 6) {
                const uint32_t xa = mcuf_read32(src + r[0]), xb = mcuf_read32(src + r[1]);
                const uint32_t ae = mcuf_sxtb16(xa), ao = mcuf_sxtb16_ror8(xa);
                const uint32_t be = mcuf_sxtb16(xb), bo = mcuf_sxtb16_ror8(xb);
                a0 = mcuf_smlad(ao, (uint32_t)r[3], mcuf_smlad(ae, (uint32_t)r[2], a0));
                b0 = mcuf_smlad(bo, (uint32_t)r[3], mcuf_smlad(be, (uint32_t)r[2], b0));
                a1 = mcuf_smlad(ao, (uint32_t)r[5], mcuf_smlad(ae, (uint32_t)r[4], a1));
                b1 = mcuf_smlad(bo, (uint32_t)r[5], mcuf_smlad(be, (uint32_t)r[4], b1));
            }
            const mcuf_requant q0 = {r[0], r[1], r[4] & 0xFF}, q1 = {r[2], r[3], (r[4] >> 8) & 0xFF};
            const int32_t c0 = r[5], c1 = r[6];
            r += 7;
            out_b[c0] = mcuf_out_fast2(b0, &q0);   /* pixel B first: a lone pixel's twin */
            out_b[c1] = mcuf_out_fast2(b1, &q1);
            out_a[c0] = mcuf_out_fast2(a0, &q0);
            out_a[c1] = mcuf_out_fast2(a1, &q1);
        }
    }
}
#endif

void mcuf_conv_grouped_direct_packed_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                                 const int32_t *packed, int8_t *output, int16_t *scratch)
{
    const int C = p->in_c, FC = p->filter_in_c, OC = p->out_c;
    const int groups = C / FC, OCg = OC / groups;
    const int S = p->k_h * p->k_w * ((FC + 3) >> 2);
    const int32_t wp = mcuf_grouped_direct_row_pixels(p);
    const int32_t row_bytes = wp * C, step = (int32_t)p->stride_w * C;
    int8_t *const rows = (int8_t *)(void *)scratch;
    const int full = p->out_w >> 1;
    grouped_direct_job job;
    job.end = packed + (int32_t)groups * ((OCg + 1) >> 1) * (9 + 6 * S);
    job.skip = MCUF_GROUPED_DIRECT_MAX_STEPS - S;
    job.stream = packed;
    job.src_step = 2 * step;
    job.out_step = 2 * OC;
    memset(rows + p->k_h * row_bytes, 0, 4);   /* the slack the last word may reach */
    for (int oy = 0; oy < p->out_h; ++oy) {
        direct_rows(p, input, oy, row_bytes, wp, rows);
        int8_t *const out = output + (int32_t)oy * p->out_w * OC;
        if (full > 0) {   /* the row's pixel pairs in one call */
            job.src = rows;
            job.out_a = out;
            job.out_b = out + OC;
            job.pairs = full;
            grouped_direct_pair(&job);
        }
        if (p->out_w & 1) {   /* a lone last pixel, its twin one stride further */
            job.src = rows + (p->out_w - 1) * step;
            job.out_a = job.out_b = out + (p->out_w - 1) * OC;
            job.pairs = 1;
            grouped_direct_pair(&job);
        }
    }
}
