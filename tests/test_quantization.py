"""The integer arithmetic the kernels rely on, checked exhaustively where it matters."""
import numpy as np
import pytest

from codegen import quantization as q


def test_quantize_multiplier_known_values():
    assert q.quantize_multiplier(0.5) == (1 << 30, 0)
    assert q.quantize_multiplier(0.25) == (1 << 30, -1)
    assert q.quantize_multiplier(1.0) == (1 << 30, 1)
    assert q.quantize_multiplier(0.0) == (0, 0)
    m, s = q.quantize_multiplier(0.0012345)
    assert abs(m * 2.0 ** (s - 31) - 0.0012345) < 1e-12


def test_rounding_divide_by_pot_rounds_half_away_from_zero():
    assert [q.rounding_divide_by_pot(x, 1) for x in (-3, -2, -1, 0, 1, 2, 3)] == [-2, -1, -1, 0, 1, 1, 2]


@pytest.mark.parametrize("shift", [-1, -2, -3, -7, -12, -20, -23, -31])
@pytest.mark.parametrize("offset", [-128, 0, 5, 127])
def test_fast_output_stage_equals_tflite_double_rounding(shift, offset):
    """The optimized kernels' SMMLAR output stage (fast_requant_constants) gives exactly
    MultiplyByQuantizedMultiplier + the output zero point, ties, power-of-two multipliers
    and the int32 extremes included, wherever the generator's accumulator bound allows it."""
    rng = np.random.default_rng(-shift * 1000 + offset + 100)
    multipliers = [1 << 30, (1 << 31) - 1, (1 << 30) + 1] + [int(v) for v in rng.integers(1 << 30, 1 << 31, 40)]
    xs = (list(range(-700, 700)) + [int(v) for v in rng.integers(-(1 << 26), 1 << 26, 400)]
          + [-(1 << 31), (1 << 31) - 1, -(1 << 30), 1 << 30, (1 << 30) - 1, -(1 << 30) + 1])
    checked = 0
    for m in multipliers:
        c = q.fast_requant_constants(m, shift, offset)
        for x in xs:
            if not q.fast_requant_exact_for(shift, abs(x), offset):
                continue
            want = q.multiply_by_quantized_multiplier(x, m, shift) + offset
            assert q.fast_requant_apply(c, x, offset) == want, (m, shift, x)
            checked += 1
    assert checked > 10_000 or shift == -31


def test_fast_output_stage_refuses_what_it_cannot_do():
    assert not q.fast_requant_exact_for(0, 100, 0)        # no right shift: the general stage
    assert not q.fast_requant_exact_for(-32, 100, 0)
    assert not q.fast_requant_exact_for(-3, 1 << 30, 0)   # 2 * acc would not fit int32
    assert not q.fast_requant_exact_for(-26, 100, -128)   # the zero point times 2^26 would not
    assert q.fast_requant_exact_for(-23, 100, -128)


@pytest.mark.parametrize("shift", [-31, -24, -12, -7, -2, -1, 0, 1, 5, 30])
def test_mve_output_stage_equals_tflite_double_rounding(shift):
    """The Helium kernels' output stage (CMSIS-NN's arm_requantize_mve: VQRDMULH, a saturating
    -1 on negatives, VRSHL's round-half-up shift) is MultiplyByQuantizedMultiplier bit for bit:
    every tie of the right shift of both signs (where half-up and half-away-from-zero differ
    without the correction), the int32 extremes and INT32_MIN * INT32_MIN included."""
    rng = np.random.default_rng(shift + 77)
    right = max(-shift, 0)
    near_one = (1 << 31) - 1      # VQRDMULH(x, 2^31 - 1) == x for |x| < 2^30: ties stay ties
    ties = [(2 * k + 1) << (right - 1) for k in range(-300, 300)] if right else []
    ties = [t for t in ties if abs(t) < 1 << 30]
    multipliers = ([1 << 30, near_one, (1 << 30) + 1, -(1 << 31), 0]
                   + [int(v) for v in rng.integers(1 << 30, 1 << 31, 12)])
    xs = (list(range(-600, 600)) + ties + [int(v) for v in rng.integers(-(1 << 31), 1 << 31, 300)]
          + [-(1 << 31), (1 << 31) - 1, -(1 << 31) + 1, -(1 << 30), 1 << 30, (1 << 30) - 1])
    for m in multipliers:
        for x in xs:
            assert q.mve_requantize(x, m, shift) == q.multiply_by_quantized_multiplier(x, m, shift), (x, m)
    if 0 < right < 31:   # (at 31 the only ties are +-2^30, not kept by VQRDMULH(x, ~1))
        # the ties really are exercised: without the correction, VRSHL alone rounds the
        # negative ones up (toward zero) where TFLite rounds away from zero
        neg = [t for t in ties if t < 0]
        assert neg and all(q.saturating_rounding_doubling_high_mul(t, near_one) == t for t in neg)
        assert all((t + (1 << (right - 1))) >> right != q.rounding_divide_by_pot(t, right) for t in neg)


def test_mve_avgpool_division_by_multiplication_is_exact():
    """mcuf_avgpool_s8_mve divides t = |sum| + count/2 (< 2^16 for windows of at most 256
    cells) by count as one VMULH.U32 by ceil(2^32 / count): equal to floor(t / count) for
    every t below 2^16 and every count from 2 to 256."""
    t = np.arange(1 << 16, dtype=np.uint64)
    for count in range(2, 257):
        m = np.uint64(((1 << 32) + count - 1) // count)
        assert np.array_equal((t * m) >> np.uint64(32), t // np.uint64(count)), count


def test_mean_multiplier_folds_the_count():
    m, s = q.mean_multiplier(0.02, 0.02, 9)
    assert abs(m * 2.0 ** (s - 31) - 1 / 9) < 1e-6
