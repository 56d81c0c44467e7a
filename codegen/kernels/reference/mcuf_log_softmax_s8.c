/* LOG_SOFTMAX, int8 -> int8 (output scale 16/256, zero point 127):
 * reference_integer_ops::LogSoftmax.
 *
 * Per element the reference needs the input difference from the row maximum in Q5.26
 * (MultiplyByQuantizedMultiplier) and its exp() rescaled to Q12.19; both depend on the
 * difference alone, so the generator tabulates them for the 256 possible differences
 * (diff_q5[-diff], exp_q12[-diff], 0 where the reference skips the element). What remains
 * here is the per-row part: the sum, its logarithm -- gemmlowp's
 * log_x_for_x_greater_than_or_equal_to_1<5> on the Q12.19 sum, reproduced operation for
 * operation (tensorflow/lite/kernels/internal/common.h) -- and the output rescaling. */
#include "mcuf_fixedpoint.h"
#include "mcuf_math.h"
#include "mcuf_nn.h"

static int32_t sat_add(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + b;
    return (int32_t)(s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : s));
}

static int32_t sat_sub(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a - b;
    return (int32_t)(s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : s));
}

static int32_t rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + b;
    return (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
}

/* log_x_for_x_greater_than_or_equal_to_1_impl<5, 12>: Q12.19 in, Q5.26 out */
static int32_t log_q12_to_q5(int32_t z_a)
{
    enum { IN_BITS = 12, ACC_BITS = 6, OUT_BITS = 5 };
    const int32_t log_2 = 1488522236, sqrt_sqrt_half = 1805811301, sqrt_half = 1518500250;
    const int32_t alpha_n = 117049297, alpha_d = 127690142, alpha_i = 1057819769,
                  alpha_f = 638450708;
    const int32_t shifted_quarter = mcuf_mul_by_pot(536870912, -ACC_BITS);

    const int z_a_headroom_plus_1 = mcuf_clz32((uint32_t)z_a);
    const int32_t r_a_tmp = mcuf_mul_by_pot(z_a, z_a_headroom_plus_1 - 1);
    const int32_t r_a_raw = mcuf_mul_by_pot(mcuf_srdhm(r_a_tmp, sqrt_half), 1);
    const int32_t z_a_pow_2_adj =
        sat_add(mcuf_mul_by_pot(IN_BITS - z_a_headroom_plus_1, 31 - ACC_BITS), shifted_quarter);

    const int32_t z_b = mcuf_srdhm(z_a, sqrt_half);
    const int z_b_headroom = mcuf_clz32((uint32_t)z_b) - 1;
    const int32_t r_b_raw = mcuf_mul_by_pot(z_a, z_b_headroom);
    const int32_t z_b_pow_2_adj =
        sat_sub(mcuf_mul_by_pot(IN_BITS - z_b_headroom, 31 - ACC_BITS), shifted_quarter);

    const int32_t r = mcuf_min32(r_a_raw, r_b_raw);
    const int32_t z_pow_2_adj = mcuf_max32(z_a_pow_2_adj, z_b_pow_2_adj);

    const int32_t p = rounding_half_sum(r, sqrt_sqrt_half);
    int32_t q = mcuf_wrap_sub(r, sqrt_sqrt_half);
    q = mcuf_wrap_add(q, q);
    const int32_t common_sq = mcuf_srdhm(q, q);
    const int32_t num = mcuf_wrap_add(mcuf_srdhm(q, r), mcuf_srdhm(mcuf_srdhm(q, common_sq), alpha_n));
    const int32_t denom_minus_one_0 =
        mcuf_wrap_add(mcuf_srdhm(p, mcuf_wrap_add(mcuf_wrap_add(alpha_i, q), mcuf_srdhm(alpha_d, common_sq))),
                 mcuf_srdhm(alpha_f, q));
    const int32_t recip_denom = mcuf_one_over_one_plus_x(denom_minus_one_0);
    const int32_t num_scaled = mcuf_mul_by_pot(num, -ACC_BITS);
    const int32_t sum = mcuf_wrap_add(mcuf_srdhm(z_pow_2_adj, log_2), mcuf_srdhm(num_scaled, recip_denom));
    return mcuf_mul_by_pot(sum, ACC_BITS - OUT_BITS);
}

void mcuf_log_softmax_s8(const mcuf_log_softmax_params *p, const int8_t *input,
                         const int32_t *diff_q5, const int32_t *exp_q12, int8_t *output)
{
    for (uint32_t row = 0; row < p->outer; ++row) {
        const int8_t *in = input + row * p->depth;
        int8_t *out = output + row * p->depth;
        int32_t max = -128;
        for (uint32_t i = 0; i < p->depth; ++i) {
            max = mcuf_max32(max, in[i]);
        }
        int32_t sum = 0;                       /* Q12.19; the table holds 0 below diff_min */
        for (uint32_t i = 0; i < p->depth; ++i) {
            sum = mcuf_wrap_add(sum, exp_q12[max - in[i]]);
        }
        const int32_t log_sum = log_q12_to_q5(sum);
        const int32_t adjusted_diff_min = mcuf_max32(
            p->diff_min - 1,
            mcuf_requantize(mcuf_wrap_add(log_sum, INT32_MIN), p->reverse_multiplier, p->reverse_shift));
        for (uint32_t i = 0; i < p->depth; ++i) {
            const int32_t diff = in[i] - max;
            if (diff > adjusted_diff_min) {
                const int32_t v = mcuf_rdbypot(mcuf_wrap_sub(diff_q5[-diff], log_sum), 31 - 5 - 4) + 127;
                out[i] = mcuf_clamp_s8(v, -128, 127);
            } else {
                out[i] = -128;
            }
        }
    }
}
