/* SOFTMAX, int8 -> int8 (output scale 1/256, zero point -128): reference_ops::Softmax.
 *
 * TFLite's reference evaluates exp() and 1/x in gemmlowp's fixed-point formats; the
 * helpers below and in mcuf_fixedpoint.h reproduce those routines operation for operation. Qm.n comments give
 * the number of integer bits of each 32-bit value.
 */
#include "mcuf_fixedpoint.h"
#include "mcuf_math.h"
#include "mcuf_nn.h"

#define SCALED_DIFF_BITS 5  /* input differences in Q5.26 */
#define ACCUM_BITS 12       /* sum of exps in Q12.19 */

/* exp(a) for a in [-1/4, 0), all Q0.31: Taylor series around -1/8. */
static int32_t exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668;   /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = a + (1 << 28);             /* a + 1/8 */
    const int32_t x2 = mcuf_srdhm(x, x);
    const int32_t x3 = mcuf_srdhm(x2, x);
    const int32_t x4 = mcuf_srdhm(x2, x2);
    const int32_t x4_over_4 = mcuf_mul_by_pot(x4, -2);
    const int32_t poly =
        mcuf_mul_by_pot(mcuf_srdhm(x4_over_4 + x3, one_third) + x2, -1);
    return constant_term + mcuf_srdhm(constant_term, x + poly);
}

/* exp(a) for a <= 0, a in Q5.26, result in Q0.31. */
static int32_t exp_on_negative_values(int32_t a)
{
    const int frac_bits = 31 - SCALED_DIFF_BITS;
    const int32_t one_quarter = 1 << (frac_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_quarter = (a & mask) - one_quarter;
    /* Rescale Q5.26 -> Q0.31 */
    int32_t result = exp_quarter(mcuf_mul_by_pot(a_mod_quarter_minus_quarter, SCALED_DIFF_BITS));
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    /* exp(-2^k) for k = -2..4, applied for each set bit of the remainder. */
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308,
                                           39332535, 720401, 242};
    for (int k = 0; k < 7; ++k) {
        const int exponent = k - 2;
        if (SCALED_DIFF_BITS > exponent && (remainder & (1 << (frac_bits + exponent)))) {
            result = mcuf_srdhm(result, multipliers[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

static int32_t exp_of_diff(const mcuf_softmax_params *p, const int32_t *exp_table, int32_t diff)
{
    if (exp_table) {
        return exp_table[-diff];
    }
    if (diff < p->diff_min) {
        return 0;
    }
    const int32_t scaled =
        mcuf_srdhm((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
    return exp_on_negative_values(scaled);
}

/* A zero exp adds nothing to the sum and yields -128, which is what the reference does
 * for a skipped element, so both paths below need no separate test for diff_min. */
static void softmax(const mcuf_softmax_params *p, const int8_t *input, const int32_t *exp_table,
                    int8_t *output)
{
    for (uint32_t row = 0; row < p->outer; ++row) {
        const int8_t *in = input + row * p->depth;
        int8_t *out = output + row * p->depth;
        int32_t max_in_row = -128;
        for (uint32_t c = 0; c < p->depth; ++c) {
            max_in_row = mcuf_max32(max_in_row, in[c]);
        }
        int32_t sum_of_exps = 0; /* Q12.19 */
        for (uint32_t c = 0; c < p->depth; ++c) {
            sum_of_exps += mcuf_mul_by_pot(exp_of_diff(p, exp_table, in[c] - max_in_row), -ACCUM_BITS);
        }
        /* GetReciprocal */
        const int headroom_plus_one = mcuf_clz32((uint32_t)sum_of_exps);
        const int num_bits_over_unit = ACCUM_BITS - headroom_plus_one;
        const int32_t shifted_sum_minus_one =
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - (1u << 31));
        const int32_t shifted_scale = mcuf_one_over_one_plus_x(shifted_sum_minus_one);
        /* More than 256 classes tied near the maximum push the exponent past 31: TFLite's
         * reference kernel aborts there, C's shift would be undefined. Capped, every output
         * lands at the bottom of the range (-128 or -127), as probabilities below 1/256 do. */
        const int out_exponent = num_bits_over_unit + 31 - 8 > 31 ? 31 : num_bits_over_unit + 31 - 8;

        for (uint32_t c = 0; c < p->depth; ++c) {
            const int32_t e = exp_of_diff(p, exp_table, in[c] - max_in_row);
            const int32_t unsat = mcuf_rdbypot(mcuf_srdhm(shifted_scale, e), out_exponent);
            out[c] = mcuf_clamp_s8(unsat - 128, -128, 127);
        }
    }
}

void mcuf_softmax_s8(const mcuf_softmax_params *p, const int8_t *input, int8_t *output)
{
    softmax(p, input, 0, output);
}

/* exp_table: the generator's 256 values of exp_of_diff for diff = 0, -1, ..., -255
 * (codegen/quantization.py, softmax_exp_table) -- for wide rows, where evaluating the
 * polynomial per element costs hundreds of instructions. */
void mcuf_softmax_s8_table(const mcuf_softmax_params *p, const int8_t *input,
                           const int32_t *exp_table, int8_t *output)
{
    softmax(p, input, exp_table, output);
}
