/* Operators of detection and segmentation heads, int8, as TFLite's reference kernels:
 * SUB (reference_ops::BroadcastQuantSubSlow / SubElementwise), MAXIMUM and MINIMUM
 * (reference_ops::MaximumMinimumBroadcastSlow: raw values compared), PRELU
 * (reference_ops::BroadcastPrelu4DSlow), RESIZE_NEAREST_NEIGHBOR (reference_ops::
 * ResizeNearestNeighbor) and RESIZE_BILINEAR (reference_ops::ResizeBilinearInteger). Every
 * coordinate the reference derives with float or integer arithmetic per output row and
 * column is computed by the generator and passed in as a table. */
#include <string.h>

#include "mcuf_math.h"
#include "mcuf_nn.h"

static inline int8_t sub_one(const mcuf_add_params *p, int8_t x, int8_t y)
{
    const int32_t a = (int32_t)((uint32_t)(p->input1_offset + x) << p->left_shift);
    const int32_t b = (int32_t)((uint32_t)(p->input2_offset + y) << p->left_shift);
    const int32_t sa = mcuf_requantize(a, p->input1_multiplier, p->input1_shift);
    const int32_t sb = mcuf_requantize(b, p->input2_multiplier, p->input2_shift);
    const int32_t out = mcuf_requantize(sa - sb, p->output_multiplier, p->output_shift) + p->output_offset;
    return mcuf_clamp_s8(out, p->act_min, p->act_max);
}

void mcuf_sub_s8(const mcuf_add_broadcast_params *p, const int8_t *input1, const int8_t *input2,
                 int8_t *output)
{
    MCUF_BROADCAST_4D(p->out_dims, p->stride1, p->stride2, input1, input2, output, sub_one, &p->add);
}

#define MCUF_MAX_ONE(p, a, b) ((a) > (b) ? (a) : (b))
#define MCUF_MIN_ONE(p, a, b) ((a) < (b) ? (a) : (b))

void mcuf_maximum_s8(const mcuf_broadcast_params *p, const int8_t *input1, const int8_t *input2,
                     int8_t *output)
{
    MCUF_BROADCAST_4D(p->out_dims, p->stride1, p->stride2, input1, input2, output, MCUF_MAX_ONE, p);
}

void mcuf_minimum_s8(const mcuf_broadcast_params *p, const int8_t *input1, const int8_t *input2,
                     int8_t *output)
{
    MCUF_BROADCAST_4D(p->out_dims, p->stride1, p->stride2, input1, input2, output, MCUF_MIN_ONE, p);
}

static inline int8_t prelu_one(const mcuf_prelu_params *p, int8_t x, int8_t alpha)
{
    const int32_t v = p->input_offset + x;
    int32_t out;
    if (v >= 0) {
        out = mcuf_requantize(v, p->output_multiplier_1, p->output_shift_1);
    } else {
        out = mcuf_requantize(v * (p->alpha_offset + alpha), p->output_multiplier_2, p->output_shift_2);
    }
    return mcuf_clamp_s8(out + p->output_offset, -128, 127);
}

void mcuf_prelu_s8(const mcuf_prelu_params *p, const int8_t *input, const int8_t *alpha,
                   int8_t *output)
{
    MCUF_BROADCAST_4D(p->out_dims, p->stride1, p->stride2, input, alpha, output, prelu_one, p);
}

void mcuf_resize_nearest_s8(const mcuf_resize_params *p, const int8_t *input,
                            const int32_t *y_index, const int32_t *x_index, int8_t *output)
{
    const uint32_t row = (uint32_t)p->in_w * p->depth;
    for (uint32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->in_h * row;
        for (uint32_t y = 0; y < p->out_h; ++y) {
            const int8_t *in_row = in + (uint32_t)y_index[y] * row;
            for (uint32_t x = 0; x < p->out_w; ++x) {
                memcpy(output, in_row + (uint32_t)x_index[x] * p->depth, p->depth);
                output += p->depth;
            }
        }
    }
}

/* y_table: per output row {y0, y1, input_y - 1024 * y0}; x_table likewise per column */
void mcuf_resize_bilinear_s8(const mcuf_resize_params *p, const int8_t *input,
                             const int32_t *y_table, const int32_t *x_table, int8_t *output)
{
    const uint32_t row = (uint32_t)p->in_w * p->depth;
    for (uint32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->in_h * row;
        for (uint32_t y = 0; y < p->out_h; ++y) {
            const int8_t *r0 = in + (uint32_t)y_table[3 * y] * row;
            const int8_t *r1 = in + (uint32_t)y_table[3 * y + 1] * row;
            const int64_t dy = y_table[3 * y + 2];
            for (uint32_t x = 0; x < p->out_w; ++x) {
                const uint32_t c0 = (uint32_t)x_table[3 * x] * p->depth;
                const uint32_t c1 = (uint32_t)x_table[3 * x + 1] * p->depth;
                const int64_t dx = x_table[3 * x + 2];
                for (uint32_t c = 0; c < p->depth; ++c) {
                    const int64_t v = (int64_t)r0[c0 + c] * (1024 - dy) * (1024 - dx) +
                                      (int64_t)r1[c0 + c] * dy * (1024 - dx) +
                                      (int64_t)r0[c1 + c] * (1024 - dy) * dx +
                                      (int64_t)r1[c1 + c] * dy * dx;
                    const int64_t round = v > 0 ? (1 << 19) : -(1 << 19);
                    /* C division truncates, as the reference's; the cast keeps the low byte */
                    *output++ = (int8_t)(uint8_t)(uint64_t)((v + round) / (1 << 20));
                }
            }
        }
    }
}
