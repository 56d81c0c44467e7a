/* A fused activation's clamp applied in place: data[i] = min(max(data[i], act_min), act_max)
 * for i < size (CMSIS-NN's arm_relu6_s8 with any range). The epilogue of a convolution whose
 * kernel saturates to the full int8 range (the _fast output stage): for [act_min, act_max]
 * within [-128, 127], clamp(sat_int8(x), act_min, act_max) == clamp(x, act_min, act_max),
 * TFLite's result. Any size (0 included), any alignment; touches data[0 .. size - 1] only. */
#include "mcuf_math.h"
#include "mcuf_nn.h"

void mcuf_act_clamp_s8(int8_t *data, uint32_t size, int32_t act_min, int32_t act_max)
{
    for (uint32_t i = 0; i < size; ++i) {
        data[i] = mcuf_clamp_s8(data[i], act_min, act_max);
    }
}
