/* MUL, int8, with 4-D broadcasting: reference_integer_ops::MulElementwise and
 * BroadcastMul4DSlow. A broadcast dimension has stride 0 in that input. */
#include "mcuf_math.h"
#include "mcuf_nn.h"

static inline int8_t mul_one(const mcuf_mul_params *p, int8_t x, int8_t y)
{
    const int32_t prod = (p->input1_offset + x) * (p->input2_offset + y);
    const int32_t out = mcuf_requantize(prod, p->output_multiplier, p->output_shift) + p->output_offset;
    return mcuf_clamp_s8(out, p->act_min, p->act_max);
}

void mcuf_mul_s8(const mcuf_mul_params *p, const int8_t *input1, const int8_t *input2,
                 int8_t *output)
{
    MCUF_BROADCAST_4D(p->out_dims, p->stride1, p->stride2, input1, input2, output, mul_one, p);
}
