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


@pytest.mark.parametrize("shift", [3, 1, 0, -1, -2, -3, -7, -12, -20, -31])
def test_fast_output_stage_equals_tflite_double_rounding(shift):
    """The optimized kernels' one-SMLAL output stage (fast_requant_constants) gives exactly
    MultiplyByQuantizedMultiplier, ties, power-of-two multipliers and the int32 extremes
    included, wherever the generator's accumulator bound says it may be used."""
    rng = np.random.default_rng(shift + 100)
    multipliers = [1 << 30, (1 << 31) - 1, (1 << 30) + 1] + [int(v) for v in rng.integers(1 << 30, 1 << 31, 40)]
    xs = (list(range(-700, 700)) + [int(v) for v in rng.integers(-(1 << 26), 1 << 26, 400)]
          + [-(1 << 31), (1 << 31) - 1, -(1 << 30), 1 << 30])
    checked = 0
    for m in multipliers:
        c = q.fast_requant_constants(m, shift)
        for x in xs:
            if not q.fast_requant_exact_for(shift, abs(x)):
                continue
            assert q.fast_requant_apply(c, x) == q.multiply_by_quantized_multiplier(x, m, shift), (m, shift, x)
            checked += 1
    assert checked > 10_000


def test_mean_multiplier_folds_the_count():
    m, s = q.mean_multiplier(0.02, 0.02, 9)
    assert abs(m * 2.0 ** (s - 31) - 1 / 9) < 1e-6
