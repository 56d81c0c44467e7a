/* ADD, int8: reference_integer_ops::AddElementwise, and BroadcastAdd4DSlow's indexing. */
#include "mcuf_math.h"
#include "mcuf_nn.h"

static inline int8_t add_one(const mcuf_add_params *p, int8_t x, int8_t y)
{
    const int32_t a = (int32_t)((uint32_t)(p->input1_offset + x) << p->left_shift);
    const int32_t b = (int32_t)((uint32_t)(p->input2_offset + y) << p->left_shift);
    const int32_t sa = mcuf_requantize(a, p->input1_multiplier, p->input1_shift);
    const int32_t sb = mcuf_requantize(b, p->input2_multiplier, p->input2_shift);
    const int32_t out = mcuf_requantize(sa + sb, p->output_multiplier, p->output_shift) + p->output_offset;
    return mcuf_clamp_s8(out, p->act_min, p->act_max);
}

void mcuf_add_s8(const mcuf_add_params *p, const int8_t *input1, const int8_t *input2,
                 int8_t *output)
{
    for (uint32_t i = 0; i < p->size; ++i) {
        output[i] = add_one(p, input1[i], input2[i]);
    }
}

void mcuf_add_broadcast_s8(const mcuf_add_broadcast_params *p, const int8_t *input1,
                           const int8_t *input2, int8_t *output)
{
    MCUF_BROADCAST_4D(p->out_dims, p->stride1, p->stride2, input1, input2, output, add_one, &p->add);
}
