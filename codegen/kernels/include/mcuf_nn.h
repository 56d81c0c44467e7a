/* mcuforge fixed-point operator library (int8, NHWC).
 *
 * Naming follows CMSIS-NN: mcuf_<op>_s8. Every kernel takes a const parameter block that
 * the code generator fills at generation time (shapes, offsets, activation range), the
 * tensors, and the per-channel requantization constants. No kernel allocates memory or
 * uses floating point. `reference/` holds the portable C implementations; they define
 * the behaviour that any optimized variant must reproduce byte for byte.
 */
#ifndef MCUF_NN_H
#define MCUF_NN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CONV_2D (grouped when filter_in_c < in_c) and DEPTHWISE_CONV_2D. */
typedef struct {
    uint16_t in_h, in_w, in_c;
    uint16_t out_h, out_w, out_c;
    uint16_t k_h, k_w;
    uint16_t filter_in_c;      /* conv: input channels per group (in_c / groups) */
    uint16_t depth_multiplier; /* depthwise only */
    uint8_t stride_h, stride_w;
    uint8_t dil_h, dil_w;
    int16_t pad_top, pad_left; /* padding before the first row / column */
    int32_t input_offset;      /* -input zero point */
    int32_t output_offset;     /* output zero point */
    int32_t act_min, act_max;
    int32_t filter_offset;     /* -filter zero point: only the _wzp kernels read it */
} mcuf_conv_params;

/* filter: [out_c][k_h][k_w][filter_in_c]; bias: [out_c] */
void mcuf_conv_s8(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                  const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                  int8_t *output);

/* 1x1, stride 1, no padding, no groups: a GEMM over pixels. bias_folded already holds
 * bias + input_offset * sum(filter row), computed by the generator. */
void mcuf_conv_1x1_s8(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                      const int32_t *bias_folded, const int32_t *multiplier,
                      const int32_t *shift, int8_t *output);

/* Weights with a zero point (legacy uint8 graphs, stored shifted to int8): every tap
 * multiplies (filter + filter_offset) * (input + input_offset), as TFLite's uint8
 * reference_ops::Conv / DepthwiseConv do; per-tensor or per-channel multipliers. */
void mcuf_conv_wzp_s8(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                      const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                      int8_t *output);
void mcuf_depthwise_conv_wzp_s8(const mcuf_conv_params *p, const int8_t *input,
                                const int8_t *filter, const int32_t *bias,
                                const int32_t *multiplier, const int32_t *shift,
                                int8_t *output);
/* The same on cores with the DSP extension (optimized/mcuf_conv_wzp_s8_dsp.c): int16 weights
 * with the weight offset folded in, in the layouts of codegen/ops/legacy.py; the output
 * stage's multiplier and shift byte (mcuf_dsp.h). scratch: two int16 im2col columns. The
 * depthwise filter: int16 pairs packed in words (word aligned); its scratch: k_h padded input
 * rows (the size: codegen/ops/legacy.py). */
void mcuf_conv_wzp_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int16_t *filter,
                          const int32_t *bias, const int32_t *multiplier, const int8_t *shift,
                          int8_t *output, int16_t *scratch);
void mcuf_depthwise_conv_wzp_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                    const int32_t *filter, const int32_t *bias,
                                    const int32_t *multiplier, const int8_t *shift,
                                    int8_t *output, int16_t *scratch);
/* 3x3, stride_w 1 or 2, no dilation (optimized/mcuf_depthwise_conv_3x3_wzp_s8_dsp.c): filter
 * int32 [C][8], per channel the bias with the input offset folded in (doubled), the kernel
 * rows' pairs (W0, W1), (W1, W2), W = 2 * (w + filter_offset), and 0; scratch: a ring of
 * three int16 channel-major input rows and a row of accumulators (codegen/ops/legacy.py). */
void mcuf_depthwise_conv_3x3_wzp_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                        const int32_t *filter, const int32_t *multiplier,
                                        const int8_t *shift, int8_t *output, int16_t *scratch);

/* filter: [k_h][k_w][out_c] (TFLite layout); out_c = in_c * depth_multiplier */
void mcuf_depthwise_conv_s8(const mcuf_conv_params *p, const int8_t *input,
                            const int8_t *filter, const int32_t *bias,
                            const int32_t *multiplier, const int32_t *shift,
                            int8_t *output);

/* Optimized variants (kernels/optimized/, DSP extension or its C emulation).
 *
 * They take the input offset folded into bias_folded (bias + input_offset * sum of the
 * filter row), and per output channel a multiplier and a shift byte b computed by the
 * generator (codegen/quantization.py, fast_requant_constants): where b < 32, TFLite's double
 * rounding plus the output zero point is one SMMLAR of the doubled accumulator into
 * (2 * output zero point + 1) << b, a sign correction and shifts by b and 1; where b >= 32
 * (left shifts), b - 64 is TFLite's signed shift and the reference arithmetic applies.
 * 5 flash bytes per channel. Each comes in two copies: the _fast one, which the generator
 * calls where every channel has b < 32 and the activation range is all of int8 (so SSAT is
 * the clamp), and the general one, right for any constants and range. */

/* in_c % 4 == 0; filter rows interleaved in output-channel pairs word by word; bias2:
 * the folded bias doubled; scratch: 4 * in_c bytes (two pixels widened to int16) */
void mcuf_conv_1x1_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                          const int32_t *bias2, const int32_t *multiplier, const int8_t *shift,
                          int8_t *output, int16_t *scratch);
/* the fast copy (every channel fast, full int8 range): one packed stream of channel-pair
 * records, biases, weights and output constants together (mcuf_gemm_packed_job in mcuf_dsp.h) */
void mcuf_conv_1x1_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input, const int8_t *packed,
                               int8_t *output, int16_t *scratch);
/* the same for in_c <= 64 with int16 weights in the records (no SXTB16 in the run) */
void mcuf_conv_1x1_shallow_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                       const int8_t *packed, int8_t *output, int16_t *scratch);
/* the same records at a stride (no padding before the first row / column): the input pixels
 * (oy * stride_h, ox * stride_w) */
void mcuf_conv_1x1_strided_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                       const int8_t *packed, int8_t *output, int16_t *scratch);
/* one pixel (a 1x1 plane), in_c 4 (in4) or 8 (in8): per output channel one record of 2 * bias,
 * doubled int16 weight pairs and output constants after a 2-word header; no scratch */
void mcuf_conv_1x1_one_pixel_in4_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                             const int32_t *packed, int8_t *output);
void mcuf_conv_1x1_one_pixel_in8_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                             const int32_t *packed, int8_t *output);
/* a 1x1 over ONE input channel (any stride, no padding): lut[(uint8_t)x][c] is the output of
 * channel c for input byte x (256 * out_c bytes, requantization and clamp folded in); no scratch */
void mcuf_conv_1x1_lut_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int8_t *lut,
                              int8_t *output);
/* a 1x1 depthwise, depth multiplier 1 (any stride, no padding): lut[c][(uint8_t)x] is channel
 * c's output for input byte x (in_c * 256 bytes); no scratch */
void mcuf_depthwise_conv_1x1_lut_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int8_t *lut,
                                        int8_t *output);

/* one group; filter rows padded to K4 = ceil(k_h*k_w*in_c / 4) * 4 and interleaved in
 * output-channel pairs word by word; scratch: 2*K4 int16 + K4 + 4 bytes */
void mcuf_conv_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                      const int32_t *bias_folded, const int32_t *multiplier, const int8_t *shift,
                      int8_t *output, int16_t *scratch);
void mcuf_conv_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias_folded, const int32_t *multiplier, const int8_t *shift,
                           int8_t *output, int16_t *scratch);
/* the same contract, fast output stage, bias2 = 2 * bias_folded: the fields widened doubled and
 * the assembly channel loop (own entry point; the generator's _im2col_x2_pays) */
void mcuf_conv_im2col_x2_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                                     const int32_t *bias2, const int32_t *multiplier, const int8_t *shift,
                                     int8_t *output, int16_t *scratch);

/* one group, dil_w 1, k_w * in_c small (the RGB stem): input rows widened to int16 once per
 * output row; filter int16, widened, doubled and interleaved in output-channel pairs (see the
 * kernel); bias2 doubled; scratch: k_h rows of
 * (((out_w - 1) * stride_w + k_w) * in_c + 2) & ~1 int16. The _fast copy is for the 3x3,
 * stride-2 RGB stem only. */
void mcuf_conv_shallow_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int16_t *filter,
                              const int32_t *bias2, const int32_t *multiplier, const int8_t *shift,
                              int8_t *output, int16_t *scratch);
/* the RGB stem (3x3, stride 2, 3 channels), out_c % 4 == 0, fast output stage: one packed
 * stream of 4-channel records (see the kernel); scratch: 9 * (2 * out_w + 4) int16 */
void mcuf_conv_shallow_stem_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                        const int8_t *packed, int8_t *output, int16_t *scratch);

/* Grouped convolution (groups = in_c / filter_in_c > 1, any kernel, stride, dilation, padding),
 * and DEPTHWISE_CONV_2D with a depth multiplier > 1 as the grouped convolution it is (groups =
 * in_c, filter_in_c = 1). filter: per group, its out_c / groups rows padded to
 * K4 = ceil(k_h*k_w*filter_in_c / 4) * 4 and interleaved in output-channel pairs word by word,
 * the groups one after the other; bias2: the folded bias doubled; scratch: 5 * K4 + 4 bytes. */
void mcuf_conv_grouped_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                              const int32_t *bias2, const int32_t *multiplier, const int8_t *shift,
                              int8_t *output, int16_t *scratch);
void mcuf_conv_grouped_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                   const int8_t *filter, const int32_t *bias2,
                                   const int32_t *multiplier, const int8_t *shift, int8_t *output,
                                   int16_t *scratch);

/* A grouped CONV_2D (or a 1x1 over in_c % 4 != 0) straight from k_h padded input rows, two
 * neighbouring pixels x two output channels per step of one word (optimized/
 * mcuf_conv_grouped_s8_dsp.c). taps: per step the byte offset in the row buffer (ky * Wp * in_c
 * + kx * dil_w * in_c + 4 j, j < ceil(filter_in_c / 4)); filter: int32 words, per group and
 * channel pair, per step both channels' doubled int16 weight pairs (byte 0, byte 2), (byte 1,
 * byte 3), an odd last channel's alone; bias2: the folded bias doubled; scratch: k_h * Wp *
 * in_c + 4 bytes, Wp = out_w * stride_w + (k_w - 1) * dil_w + 1 (a lone last pixel's twin too). */
void mcuf_conv_grouped_direct_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int32_t *taps,
                                     const int32_t *filter, const int32_t *bias2, const int32_t *multiplier,
                                     const int8_t *shift, int8_t *output, int16_t *scratch);

/* The layers above with at most MCUF_GROUPED_DIRECT_MAX_STEPS steps and the fast output stage on
 * every channel, over one packed int32 stream: per channel pair of a group (an odd last
 * channel twice) 2 * bias of both, per step {pixel A's offset, pixel B's} and both channels'
 * weight pairs, then multiplier 0, round 0, multiplier 1, round 1, b0 | b1 << 8, the channels'
 * indices. scratch: as mcuf_conv_grouped_direct_s8_dsp's. */
#define MCUF_GROUPED_DIRECT_MAX_STEPS 36
void mcuf_conv_grouped_direct_packed_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                                 const int32_t *packed, int8_t *output, int16_t *scratch);

/* Grouped 1x1, stride 1, no padding, filter_in_c 2 or 3, at least 2 groups, out_c / groups a
 * multiple of 4, at least 2 pixels, fast output stage on every channel; packed: int32 in_c,
 * ceil(P / 2) * in_c, (P / 2) * out_c, then per 4 output channels of a group {pixel A's input
 * offset, pixel B's (B = A + P / 2)} (the last group's the other way round), 7 words per
 * channel (doubled int16 weight pairs in the read word's byte order, 2 * bias_folded twice,
 * multiplier, round, b + 1), then {0, -(the pair's stream bytes)}. */
void mcuf_conv_grouped_1x1_packed_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                              const int32_t *packed, int8_t *output);

/* The layers above with exactly 4 output channels per group and 2 .. MCUF_G1_OC4_MAX_GROUPS
 * groups, run without loop tests; packed: int32 skip = MCUF_G1_OC4_MAX_GROUPS - groups, in_c,
 * ceil(P / 2) * in_c, (P / 2) * out_c, then per group {pixel A's input offset, pixel B's} and
 * 6 words per channel (the doubled weight pair (e0, e1), b + 1 | the doubled weight of s << 16,
 * 2 * bias_folded twice, multiplier, round). */
#define MCUF_G1_OC4_MAX_GROUPS 4
void mcuf_conv_grouped_1x1_oc4_packed_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                                  const int32_t *packed, int8_t *output);

/* 1x1, any stride, no padding, c = filter_in_c 2, 3 or 4 input channels per group (any group
 * count, one group included), L output channels per block with out_c / groups a multiple of L
 * <= MCUF_G1_FEW_MAX_OC, at least 2 pixels, fast output stage on every channel. Pixel pairs A, B
 * (c 2: triples A, B, C; B = A + d bytes, C = A + 2 d, d = stride_w * in_c, or stride_h * in_w *
 * in_c when out_w is 1; a count's last pair (triple) overlaps the one before); packed: int32
 * skip = MCUF_G1_FEW_MAX_OC - L, then per block {A's word offset g * c (read forward), B's
 * d + g * c + c - 4 (backward), 0} (c 2: {g * c, d + g * c, 2 d + g * c + c - 4}) and L records
 * -- c 2: (w0, w1), b + 1, c 3: (w0, w2), b + 1 | w1 << 16, c 4: (w0, w2), (w1, w3) (doubled int16
 * pairs), then 2 * bias_folded twice (c 2: three times), multiplier, round, and for c 4 b + 1 --
 * ended by {2 d (c 2: 3 d), the stream's rewind in bytes, 1 (c 2: 0)} and 6 zero words (c 2: 7)
 * (generator: _few_1x1_records in codegen/ops/conv_dsp.py). */
#define MCUF_G1_FEW_MAX_OC 16
void mcuf_conv_1x1_few_c2_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                      const int32_t *packed, int8_t *output);
void mcuf_conv_1x1_few_c3_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                      const int32_t *packed, int8_t *output);
void mcuf_conv_1x1_few_c4_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                      const int32_t *packed, int8_t *output);

/* depth multiplier 1, any kernel / stride / dilation / channel count, on the HWC layout (small
 * planes, strides > 1); filter: int16 [C4 / 4][k_h * k_w][(w0, w2), (w1, w3)] (SXTB16 order),
 * doubled, C4 = ceil(C / 4) * 4; bias_folded: [C4], doubled, zero beyond C; scratch: a row of
 * C4 input zero points (padding taps), C4 bytes. The _fast, 5x5 and 7x7 entry points' filter
 * continues (generator: _hwc_depthwise_weights) with an int32 output table, per 4 channels the
 * doubled biases then (multiplier, round, shift) per channel, 4 zero words, and with a channel
 * tail (C % 4, C > 4) the last 4 channels' weights and table. */
void mcuf_depthwise_conv_hwc_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                    const int16_t *filter, const int32_t *bias_folded,
                                    const int32_t *multiplier, const int8_t *shift, int8_t *output,
                                    int16_t *scratch);
void mcuf_depthwise_conv_hwc_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                         const int16_t *filter, const int32_t *bias_folded,
                                         const int32_t *multiplier, const int8_t *shift, int8_t *output,
                                         int16_t *scratch);
/* the same contract, fast output stage; the two-pixel assembly of undilated 5x5 / 7x7 layers
 * with >= 4 channels (own entry points: unused ones are dropped at link time) */
void mcuf_depthwise_conv_hwc_5x5_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                             const int16_t *filter, const int32_t *bias_folded,
                                             const int32_t *multiplier, const int8_t *shift, int8_t *output,
                                             int16_t *scratch);
void mcuf_depthwise_conv_hwc_7x7_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                             const int16_t *filter, const int32_t *bias_folded,
                                             const int32_t *multiplier, const int8_t *shift, int8_t *output,
                                             int16_t *scratch);
/* the same contract, fast output stage; 3x3 stride-2 layers of 4k + 1 channels with their
 * channel tail on one lane (own entry point) */
void mcuf_depthwise_conv_hwc_3x3_tail1_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                                   const int16_t *filter, const int32_t *bias_folded,
                                                   const int32_t *multiplier, const int8_t *shift,
                                                   int8_t *output, int16_t *scratch);

/* 3x3, any depth multiplier, no dilation; filter: int8 [out_c][9]; scratch: the padded plane of
 * one channel, ((out_h-1)*stride_h + 3) * ((out_w-1)*stride_w + 3) + 4 bytes */
void mcuf_depthwise_conv_3x3_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias_folded,
                                    const int32_t *multiplier, const int8_t *shift,
                                    int8_t *output, int16_t *scratch);
void mcuf_depthwise_conv_3x3_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                         const int8_t *filter, const int32_t *bias_folded,
                                         const int32_t *multiplier, const int8_t *shift,
                                         int8_t *output, int16_t *scratch);

/* K x K (3, 5, 7), any depth multiplier, any stride, no dilation, one gathered plane per input
 * channel; filter: int16 [out_c][K][ceil(K/4)][(w0, w2), (w1, w3)] doubled, zero beyond K;
 * bias_folded doubled; scratch: ((out_h-1)*stride_h + K) * ((out_w-1)*stride_w + K) + 4 bytes */
void mcuf_depthwise_conv_kxk_plane_s8_dsp(const mcuf_conv_params *p, const int8_t *input,
                                          const int16_t *filter, const int32_t *bias_folded,
                                          const int32_t *multiplier, const int8_t *shift, int8_t *output,
                                          int16_t *scratch);
void mcuf_depthwise_conv_kxk_plane_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                               const int16_t *filter, const int32_t *bias_folded,
                                               const int32_t *multiplier, const int8_t *shift,
                                               int8_t *output, int16_t *scratch);

/* 3x3, depth multiplier 1, HWC, fast output stage, small planes (the generator's
 * _hwc3_packed_records: a header, then per group of 4 channels biases, weights and output
 * constants); scratch: the zero-point padded copy of the input (its size: the kernel's
 * record in codegen/ops/convolution.py) */
void mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                                    const int32_t *packed, int8_t *output, int16_t *scratch);

/* the same, fast output stage on every channel, for small planes; packed: per output channel
 * 9 int32 words -- multiplier, round = (2 * output_offset + 1) << b, the shift byte b (the fast
 * constants, mcuf_requant), 2 * bias_folded, then the doubled weights as int16 pairs (w0, w2),
 * (w3, w5), (w6, w8), (w1, w4), (w7, 0); scratch as above */
void mcuf_depthwise_conv_3x3_packed_s8_dsp_fast(const mcuf_conv_params *p, const int8_t *input,
                                                const int32_t *packed, int8_t *output, int16_t *scratch);

/* Helium (MVE) variants (kernels/optimized/, the _mve files: Cortex-M55/M85; plain C elsewhere):
 * the input offset folded into bias_folded, TFLite's own per-channel multiplier and shift
 * (shift in [-31, 30]); the output stage is CMSIS-NN's arm_requantize_mve (see mcuf_mve.h).
 * The _fast copies need every shift in [-31, -1] and the activation range all of int8; the
 * general ones take any. */

/* The convolutions' GEMM layout: K = k_h*k_w*in_c (in_c for 1x1) padded with zero weights to
 * K16, a multiple of 16, and OC to OC4, a multiple of 4; filter [OC4/4][K16/16][4 rows][16];
 * params per block of four output channels: [4 folded biases][4 multipliers][4 shifts] int32. */

/* 1x1, stride 1, no padding, any in_c and group count (the layout per group, groups after
 * each other) */
void mcuf_conv_1x1_s8_mve(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                          const int32_t *params, int8_t *output);
void mcuf_conv_1x1_s8_mve_fast(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                               const int32_t *params, int8_t *output);

/* one group, any kernel size, stride, dilation and padding; scratch: K16 bytes (an im2col row) */
void mcuf_conv_s8_mve(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                      const int32_t *params, int8_t *output, int16_t *scratch);
void mcuf_conv_s8_mve_fast(const mcuf_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *params, int8_t *output, int16_t *scratch);

/* 3x3, depth multiplier 1, no dilation: filter [3][3][C] (TFLite's); scratch: one channel's
 * padded plane, ((out_h-1)*stride_h + 3) * ((out_w-1)*stride_w + 3) + 4*stride_w bytes */
void mcuf_depthwise_conv_3x3_s8_mve(const mcuf_conv_params *p, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias_folded,
                                    const int32_t *multiplier, const int32_t *shift,
                                    int8_t *output, int16_t *scratch);
void mcuf_depthwise_conv_3x3_s8_mve_fast(const mcuf_conv_params *p, const int8_t *input,
                                         const int8_t *filter, const int32_t *bias_folded,
                                         const int32_t *multiplier, const int32_t *shift,
                                         int8_t *output, int16_t *scratch);

/* 3x3, depth multiplier 1, no dilation, vectorized over channels (small planes): packed per
 * block of eight channels, 42 words: taps [9][8] int8, then int32 [bias][mult][shift] of the
 * even and of the odd channels, four each; scratch: the zero-point padded input plane in
 * blocks of eight channels, ceil(C/8)*8 * ((out_h-1)*stride_h + 3) * ((out_w-1)*stride_w + 3)
 * bytes */
void mcuf_depthwise_conv_3x3_hwc_s8_mve(const mcuf_conv_params *p, const int8_t *input,
                                        const int32_t *packed, int8_t *output, int16_t *scratch);
void mcuf_depthwise_conv_3x3_hwc_s8_mve_fast(const mcuf_conv_params *p, const int8_t *input,
                                             const int32_t *packed, int8_t *output, int16_t *scratch);

typedef struct {
    uint16_t batches, in_depth, out_depth;
    uint8_t per_channel;       /* multiplier/shift have out_depth entries, else one */
    int32_t input_offset, output_offset;
    int32_t act_min, act_max;
    int32_t filter_offset;     /* -filter zero point (per-tensor weights; legacy uint8 / QAT) */
} mcuf_fc_params;

/* DSP extension (kernels/optimized/): bias_folded = bias + input_offset * sum of the unit's
 * weights; filter rows padded to D4 = ceil(in_depth / 4) * 4 and interleaved in unit pairs word
 * by word (an odd last unit plain); scratch: 4 * D4 bytes; filter_offset must be 0 */
void mcuf_fully_connected_s8_dsp(const mcuf_fc_params *p, const int8_t *input, const int8_t *filter,
                                 const int32_t *bias_folded, const int32_t *multiplier,
                                 const int32_t *shift, int8_t *output, int16_t *scratch);

/* filter: [out_depth][in_depth] */
void mcuf_fully_connected_s8(const mcuf_fc_params *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, const int32_t *multiplier,
                             const int32_t *shift, int8_t *output);

typedef struct {
    uint16_t in_h, in_w, channels;
    uint16_t out_h, out_w;
    uint16_t k_h, k_w;
    uint8_t stride_h, stride_w;
    int16_t pad_top, pad_left;
    int32_t act_min, act_max;
} mcuf_pool_params;

void mcuf_avgpool_s8(const mcuf_pool_params *p, const int8_t *input, int8_t *output);
/* uint8 AVERAGE_POOL_2D (reference_ops::AveragePool on uint8: (sum + n/2) / n of the
 * non-negative uint8 sum) on values stored shifted to int8 (u - 128) */
void mcuf_avgpool_u8(const mcuf_pool_params *p, const int8_t *input, int8_t *output);
void mcuf_maxpool_s8(const mcuf_pool_params *p, const int8_t *input, int8_t *output);
/* DSP extension: four channels per SSUB8 + SEL (kernels/optimized/) */
void mcuf_maxpool_s8_dsp(const mcuf_pool_params *p, const int8_t *input, int8_t *output);
/* the same with Helium (MVE), sixteen channels per vector (plain C without MVE) */
void mcuf_maxpool_s8_mve(const mcuf_pool_params *p, const int8_t *input, int8_t *output);
/* AVERAGE_POOL_2D with Helium (MVE), four channels per vector, windows of at most 256 cells */
void mcuf_avgpool_s8_mve(const mcuf_pool_params *p, const int8_t *input, int8_t *output);

/* MEAN over adjacent axes, the input seen as [batches][count][channels] (H*W in a global
 * pooling, the last axis in a layer norm): the zero-point-corrected sum requantized, 1/count
 * folded into multiplier/shift by the generator as TFLite folds it. */
typedef struct {
    uint32_t batches;
    uint32_t count;            /* elements averaged, e.g. H * W */
    uint32_t channels;
    int32_t input_zero_point;
    int32_t multiplier, shift;
    int32_t output_zero_point;
} mcuf_mean_params;

void mcuf_mean_s8(const mcuf_mean_params *p, const int8_t *input, int8_t *output);
/* The same on cores with the DSP extension (optimized/mcuf_mean_s8_dsp.c): four channels per
 * load, summed in 16-bit lanes (SXTAB16); multiplier and shift are the optimized kernels'
 * output constants (mcuf_dsp.h: a shift byte, fast constants where the generator proved them
 * exact for |sum - zero_sum| <= 255 * count, the output zero point carried in their rounding
 * term; TFLite's formula otherwise). */
typedef struct {
    uint32_t batches;
    uint32_t count;
    uint32_t channels;
    int32_t zero_sum;          /* input zero point * count */
    int32_t multiplier, shift;
    int32_t output_zero_point;
} mcuf_mean_dsp_params;

void mcuf_mean_s8_dsp(const mcuf_mean_dsp_params *p, const int8_t *input, int8_t *output);

/* REDUCE_MAX over adjacent axes, the input seen as [batches][count][channels]: the largest
 * raw int8 value of each (batch, channel), as reduce.cc's EvalGeneric<kMax> compares them
 * (no requantization). No scratch. */
typedef struct {
    uint32_t batches;
    uint32_t count;            /* elements compared, e.g. H * W, >= 1 */
    uint32_t channels;
} mcuf_reduce_params;

void mcuf_reduce_max_s8(const mcuf_reduce_params *p, const int8_t *input, int8_t *output);

typedef struct {
    uint32_t size;
    int32_t input1_offset, input2_offset;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t output_offset;
    int32_t act_min, act_max;
} mcuf_add_params;

void mcuf_add_s8(const mcuf_add_params *p, const int8_t *input1, const int8_t *input2,
                 int8_t *output);
/* the same with Helium (MVE), four elements per vector (plain C without MVE) */
void mcuf_add_s8_mve(const mcuf_add_params *p, const int8_t *input1, const int8_t *input2,
                     int8_t *output);

/* ADD with 4-D broadcasting (a constant, a per-row statistic): the same arithmetic; strides
 * in elements, 0 where an input is broadcast. */
typedef struct {
    mcuf_add_params add;        /* .size unused */
    uint16_t out_dims[4];
    uint32_t stride1[4], stride2[4];
} mcuf_add_broadcast_params;

void mcuf_add_broadcast_s8(const mcuf_add_broadcast_params *p, const int8_t *input1,
                           const int8_t *input2, int8_t *output);

/* ADD and MUL on the optimized kernels' output stage (kernels/optimized/mcuf_elementwise_s8_dsp.c):
 * the walk of mcuf_mul_params; multiplier and shift byte as the convolutions' per-channel ones
 * (mcuf_dsp.h), for the doubled accumulator; ADD's tables: [2][256] int32, each input's scaled
 * value (x + offset) << left_shift times its multiplier, indexed by x + 128. */
typedef struct {
    uint16_t out_dims[4];
    uint32_t stride1[4], stride2[4];
    int32_t input1_offset, input2_offset;   /* MUL only */
    int32_t multiplier;
    int8_t shift;
    int32_t output_offset;
    int32_t act_min, act_max;
} mcuf_elementwise_dsp_params;

void mcuf_add_s8_dsp(const mcuf_elementwise_dsp_params *p, const int8_t *input1,
                     const int8_t *input2, const int32_t *tables, int8_t *output);
void mcuf_mul_s8_dsp(const mcuf_elementwise_dsp_params *p, const int8_t *input1,
                     const int8_t *input2, int8_t *output);

/* MUL with 4-D broadcasting (NHWC); strides in elements, 0 where an input is broadcast. */
typedef struct {
    uint16_t out_dims[4];
    uint32_t stride1[4], stride2[4];
    int32_t input1_offset, input2_offset;
    int32_t output_multiplier, output_shift;
    int32_t output_offset;
    int32_t act_min, act_max;
} mcuf_mul_params;

void mcuf_mul_s8(const mcuf_mul_params *p, const int8_t *input1, const int8_t *input2,
                 int8_t *output);

/* A pointwise int8 function as a 256-entry table (table[x + 128]), built by the generator. */
/* LOG_SOFTMAX over the last axis (reference/mcuf_log_softmax_s8.c); output scale 16/256,
 * zero point 127. diff_q5[d], exp_q12[d]: for the difference -d from the row maximum, its
 * Q5.26 value and its exp() in Q12.19 (0 where the reference skips it), from the generator. */
typedef struct {
    uint32_t outer, depth;
    int32_t diff_min;
    int32_t reverse_multiplier, reverse_shift;
} mcuf_log_softmax_params;

void mcuf_log_softmax_s8(const mcuf_log_softmax_params *p, const int8_t *input,
                         const int32_t *diff_q5, const int32_t *exp_q12, int8_t *output);

/* Detection / segmentation head operators (reference/mcuf_heads_s8.c). */
/* SUB: ADD's arithmetic with the scaled operands subtracted */
void mcuf_sub_s8(const mcuf_add_broadcast_params *p, const int8_t *input1, const int8_t *input2,
                 int8_t *output);

/* two operands walked over a 4-D output; element strides, 0 where broadcast */
typedef struct {
    uint16_t out_dims[4];
    uint32_t stride1[4], stride2[4];
} mcuf_broadcast_params;

void mcuf_maximum_s8(const mcuf_broadcast_params *p, const int8_t *input1, const int8_t *input2,
                     int8_t *output);
void mcuf_minimum_s8(const mcuf_broadcast_params *p, const int8_t *input1, const int8_t *input2,
                     int8_t *output);

typedef struct {
    uint16_t out_dims[4];
    uint32_t stride1[4], stride2[4];           /* input, alpha */
    int32_t input_offset, alpha_offset, output_offset;
    int32_t output_multiplier_1, output_shift_1;   /* x >= 0: input scale / output scale */
    int32_t output_multiplier_2, output_shift_2;   /* x < 0: times alpha's scale too */
} mcuf_prelu_params;

void mcuf_prelu_s8(const mcuf_prelu_params *p, const int8_t *input, const int8_t *alpha,
                   int8_t *output);

typedef struct {
    uint16_t batches, in_h, in_w, depth, out_h, out_w;
} mcuf_resize_params;

/* y_index[out_h], x_index[out_w]: the source row / column of each output one */
void mcuf_resize_nearest_s8(const mcuf_resize_params *p, const int8_t *input,
                            const int32_t *y_index, const int32_t *x_index, int8_t *output);
/* y_table[out_h][3], x_table[out_w][3]: {lower, upper, 10-bit fraction} per row / column */
void mcuf_resize_bilinear_s8(const mcuf_resize_params *p, const int8_t *input,
                             const int32_t *y_table, const int32_t *x_table, int8_t *output);
/* legacy uint8 (stored u - 128): y_table[out_h][4], x_table[out_w][4]: {lower, upper,
 * float bits of 1 - fraction, of fraction}; TFLite's uint8 float interpolation */
void mcuf_resize_bilinear_u8(const mcuf_resize_params *p, const int8_t *input,
                             const int32_t *y_table, const int32_t *x_table, int8_t *output);

typedef struct {
    uint32_t size;
} mcuf_lut_params;

void mcuf_lut_s8(const mcuf_lut_params *p, const int8_t *input, const int8_t *table, int8_t *output);

typedef struct {
    uint32_t outer;
    uint32_t depth;
    int32_t input_multiplier, input_left_shift;
    int32_t diff_min;
} mcuf_softmax_params;

void mcuf_softmax_s8(const mcuf_softmax_params *p, const int8_t *input, int8_t *output);
/* the same with exp() of the 256 possible differences from the row maximum precomputed */
void mcuf_softmax_s8_table(const mcuf_softmax_params *p, const int8_t *input,
                           const int32_t *exp_table, int8_t *output);

typedef struct {
    uint16_t in_dims[4];
    uint16_t pad_before[4];
    uint16_t out_dims[4];
    int8_t value;
} mcuf_pad_params;

void mcuf_pad_s8(const mcuf_pad_params *p, const int8_t *input, int8_t *output);

typedef struct {
    uint32_t size;
    int32_t input_offset;
    int32_t multiplier, shift;
    int32_t output_offset;
    int32_t act_min, act_max;
} mcuf_requantize_params;

/* QUANTIZE int8 -> int8, and standalone RELU / RELU6 (same arithmetic, narrower range). */
void mcuf_requantize_s8(const mcuf_requantize_params *p, const int8_t *input, int8_t *output);
/* the same with Helium (MVE), four elements per vector (plain C without MVE) */
void mcuf_requantize_s8_mve(const mcuf_requantize_params *p, const int8_t *input, int8_t *output);

/* A fused activation's clamp in place: data[i] = min(max(data[i], act_min), act_max) for
 * i < size, any size and alignment (CMSIS-NN's arm_relu6_s8 with any range). The epilogue of a
 * _fast convolution kernel (which saturates to [-128, 127]) on a layer whose activation clamps
 * inside int8. */
void mcuf_act_clamp_s8(int8_t *data, uint32_t size, int32_t act_min, int32_t act_max);
/* DSP extension: SSUB8 + SEL per bound, 16 bytes per step (kernels/optimized/) */
void mcuf_act_clamp_s8_dsp(int8_t *data, uint32_t size, int32_t act_min, int32_t act_max);

#define MCUF_COPY_MAX_DIMS 6     /* TFLite's TRANSPOSE limit */

typedef struct {
    uint32_t offset;            /* first input element read */
    uint32_t dims;              /* dimensions used, 1..MCUF_COPY_MAX_DIMS */
    uint32_t out_dims[MCUF_COPY_MAX_DIMS];   /* output extents, outermost first */
    int32_t in_strides[MCUF_COPY_MAX_DIMS];  /* input element step for each output dimension */
} mcuf_copy_params;

/* Every op that only moves bytes, as one strided gather: TRANSPOSE (permuted strides),
 * SPLIT / SPLIT_V / SLICE / STRIDED_SLICE (an offset and strides). The generator merges
 * dimensions that stay contiguous, so a channel shuffle is a 3-D copy and a split along
 * channels a 2-D one. */
void mcuf_copy_s8(const mcuf_copy_params *p, const int8_t *input, int8_t *output);
/* the same with Helium (MVE): vector row copies and gathers, NCHW -> NHWC as scatters */
void mcuf_copy_s8_mve(const mcuf_copy_params *p, const int8_t *input, int8_t *output);

typedef struct {
    uint32_t outer;             /* product of the dimensions before the axis */
    uint32_t out_row;           /* bytes per outer index in the output */
    uint32_t count;             /* number of inputs */
} mcuf_concat_params;

/* CONCATENATION of `count` inputs (equal quantization, checked by the generator):
 * input i contributes rows[i] bytes per outer index. */
void mcuf_concat_s8(const mcuf_concat_params *p, const int8_t *const *inputs,
                    const int32_t *rows, int8_t *output);

/* GATHER with constant indices along one axis, the input seen as [outer][axis_size][inner]:
 * output [outer][count][inner], row k = input row indices[k] (reference_ops::Gather; every
 * index checked in [0, axis_size) by the generator). No scratch. */
typedef struct {
    uint32_t outer;
    uint32_t axis_size;
    uint32_t inner;             /* bytes per gathered row */
    uint32_t count;             /* number of indices */
} mcuf_gather_params;

void mcuf_gather_s8(const mcuf_gather_params *p, const int8_t *input, const int32_t *indices,
                    int8_t *output);

typedef struct {
    uint32_t batches, rows, cols, depth;        /* out[b][rows][cols] = sum over depth */
    uint32_t lhs_batch, lhs_row, lhs_depth;     /* element strides (adjoint = swapped strides) */
    uint32_t rhs_batch, rhs_depth, rhs_col;
    int32_t lhs_offset, rhs_offset;             /* minus the zero points */
    int32_t output_multiplier, output_shift;
    int32_t output_offset;
    int32_t act_min, act_max;
} mcuf_batch_matmul_params;

/* BATCH_MATMUL, int8 (attention's Q*K^T and A*V): reference_ops::BatchMatMul's integer path,
 * one per-tensor requantization (double rounding). */
void mcuf_batch_matmul_s8(const mcuf_batch_matmul_params *p, const int8_t *lhs,
                          const int8_t *rhs, int8_t *output);

/* SQUARED_DIFFERENCE, int8, with 4-D broadcasting (a layer norm's variance): both inputs
 * rescaled to a common scale, subtracted, squared, requantized. ADD's parameter block:
 * the same fields, with SQUARED_DIFFERENCE's own left shift and multipliers. */
void mcuf_squared_difference_s8(const mcuf_add_broadcast_params *p, const int8_t *input1,
                                const int8_t *input2, int8_t *output);

/* A model's float and uint8 edges (mcuf_quantize_f32.c): TFLite's reference QUANTIZE
 * float32 -> int8 and DEQUANTIZE int8 -> float32 in single precision, bit for bit; uint8 <->
 * int8 QUANTIZE through a 256-entry table indexed by the input byte (as unsigned). */
void mcuf_quantize_f32_s8(const float *input, int8_t *output, uint32_t size, float scale,
                          int32_t zero_point);
void mcuf_dequantize_s8_f32(const int8_t *input, float *output, uint32_t size, float scale,
                            int32_t zero_point);
void mcuf_requantize_u8_s8(const uint8_t *input, int8_t *output, uint32_t size, const int8_t *table);
void mcuf_requantize_s8_u8(const int8_t *input, uint8_t *output, uint32_t size, const uint8_t *table);

#ifdef __cplusplus
}
#endif

#endif /* MCUF_NN_H */
