/* BATCH_MATMUL, int8: reference_ops::BatchMatMul (integer). Strided operands, so adjoint
 * inputs and a batch broadcast (stride 0) need no copies. */
#include "mcuf_math.h"
#include "mcuf_nn.h"

void mcuf_batch_matmul_s8(const mcuf_batch_matmul_params *p, const int8_t *lhs,
                          const int8_t *rhs, int8_t *output)
{
    for (uint32_t b = 0; b < p->batches; ++b) {
        const int8_t *l = lhs + b * p->lhs_batch;
        const int8_t *r = rhs + b * p->rhs_batch;
        for (uint32_t i = 0; i < p->rows; ++i) {
            for (uint32_t j = 0; j < p->cols; ++j) {
                int32_t acc = 0;
                for (uint32_t k = 0; k < p->depth; ++k) {
                    acc += (p->lhs_offset + l[i * p->lhs_row + k * p->lhs_depth]) *
                           (p->rhs_offset + r[k * p->rhs_depth + j * p->rhs_col]);
                }
                const int32_t out =
                    mcuf_requantize(acc, p->output_multiplier, p->output_shift) + p->output_offset;
                *output++ = mcuf_clamp_s8(out, p->act_min, p->act_max);
            }
        }
    }
}
