/* Any int8 -> int8 function of one value (HARD_SWISH, and the other pointwise activations):
 * the generator evaluates TFLite's integer algorithm for all 256 inputs at build time, so
 * the device does one table lookup per element -- exact by construction, and faster than the
 * reference arithmetic. */
#include "mcuf_nn.h"

void mcuf_lut_s8(const mcuf_lut_params *p, const int8_t *input, const int8_t *table, int8_t *output)
{
    const int8_t *t = table + 128;   /* t[x] for x in [-128, 127] */
    for (uint32_t i = 0; i < p->size; ++i) {
        output[i] = t[input[i]];
    }
}
