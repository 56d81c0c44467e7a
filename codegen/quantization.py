"""TFLite's quantization arithmetic, evaluated on the host at generation time.

Every constant the kernels need (multipliers, shifts, activation ranges, softmax
scaling) is computed here exactly as TFLite's Prepare() computes it, so the
generated code never depends on how the device rounds floating point.
"""
from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def tflite_round(x: float) -> int:
    """std::round: halves go away from zero (Python's round() goes to even)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """tflite::QuantizeMultiplier: real ~= multiplier * 2^(shift - 31), multiplier in Q31."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = tflite_round(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return int(q_fixed), int(shift)


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """quantize_multiplier for a real multiplier above 1 (TFLite's QuantizeMultiplierGreaterThanOne,
    tensorflow/lite/kernels/internal/quantization_util.cc): (int32 Q31 multiplier, left shift >= 0).
    Raises ValueError when real <= 1 or the shift would be negative."""
    if not real > 1.0:
        raise ValueError(f"multiplier {real} must be > 1")
    multiplier, shift = quantize_multiplier(real)
    if shift < 0:
        raise ValueError(f"multiplier {real} gives a negative left shift")
    return multiplier, shift


def add_output_multiplier(input1_scale: float, input2_scale: float, output_scale: float,
                          left_shift: int = 20) -> float:
    """The output multiplier of TFLite's int8/uint8 ADD and SUB (add.cc Prepare,
    sub.cc PrepareGeneralSubOp): 2*max(input scales) / (2^left_shift * output scale), with the
    products in float32 as there (the scales are floats); 0.0 when 2^left_shift * output scale
    overflows float32. Unitless. TFLite hands it to QuantizeMultiplierSmallerThanOneExp
    (kernels/internal/quantization_util.cc), which TFLITE_CHECKs 0 < multiplier < 1 and aborts
    the process otherwise: see smaller_than_one_exp_ok."""
    f32 = np.float32
    twice_max = float(f32(2 * f32(max(f32(input1_scale), f32(input2_scale)))))
    with np.errstate(over="ignore"):
        den = float(f32(f32(1 << left_shift) * f32(output_scale)))
    return twice_max / den if den else math.inf


def smaller_than_one_exp_ok(real: float) -> bool:
    """QuantizeMultiplierSmallerThanOneExp's preconditions (TFLITE_CHECK_LT(real, 1.) and
    TFLITE_CHECK_GT(real, 0.)): False where TFLite aborts (NaN too)."""
    return 0.0 < real < 1.0


def conv_channel_multipliers(input_scale: float, filter_scales, output_scale: float):
    """PopulateConvolutionQuantizationParams: one (multiplier, shift) per output channel.

    The product is formed in double from the float32 scales, as TFLite does.
    """
    out = []
    for fs in filter_scales:
        real = float(np.float32(input_scale)) * float(np.float32(fs)) / float(np.float32(output_scale))
        out.append(quantize_multiplier(real))
    return out


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8 (f / scale computed in float32)."""
    def quantize(f: float) -> int:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            v = float(np.float32(f) / np.float32(scale))
        if not math.isfinite(v):       # a scale so small that f / scale overflows float32:
            v = math.copysign(2.0**31, f) if f else 0.0   # beyond any int8 bound, clamped below
        return zero_point + tflite_round(v)

    lo, hi = INT8_MIN, INT8_MAX
    if activation == "RELU":
        lo = max(lo, quantize(0.0))
    elif activation == "RELU6":
        lo, hi = max(lo, quantize(0.0)), min(hi, quantize(6.0))
    elif activation == "RELU_N1_TO_1":
        lo, hi = max(lo, quantize(-1.0)), min(hi, quantize(1.0))
    elif activation != "NONE":
        raise ValueError(f"unsupported fused activation {activation}")
    return lo, hi


# --- Reference integer primitives (also the oracle for the C kernels' unit tests) ---

def saturating_rounding_doubling_high_mul(a: int, b: int, bits: int = 32) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int32 (or int16 with bits=16)."""
    lo = -(1 << (bits - 1))
    if a == b == lo:
        return -lo - 1
    ab = a * b
    nudge = (1 << (bits - 2)) if ab >= 0 else (1 - (1 << (bits - 2)))
    return _trunc_div(ab + nudge, 1 << (bits - 1))


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp's RoundingDivideByPOT (fixedpoint.h): x / 2^exponent rounded half away from zero,
    on Python ints (x an int32 value, exponent 0..31); no errors raised."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier (common.h, the double-rounding form): x * multiplier *
    2^shift / 2^31, as SaturatingRoundingDoublingHighMul then RoundingDivideByPOT. x: an int32
    accumulator; multiplier: Q31 in [2^30, 2^31), or 0; shift: -31..30 (left when positive; x << shift
    wraps to int32 as the C does). Returns an int32 value; no errors raised."""
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    x = _wrap32(x * (1 << left))
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), right)


def _wrap32(x: int) -> int:
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


# --- The Helium (MVE) kernels' output stage (codegen/kernels/include/mcuf_mve.h) ---

def _sat32(x: int) -> int:
    return max(-(1 << 31), min((1 << 31) - 1, x))


def mve_requantize(x: int, multiplier: int, shift: int) -> int:
    """The _mve kernels' output stage, instruction by instruction, as the Armv8.1-M
    pseudocode defines each (CMSIS-NN's arm_requantize_mve): VSHL.S32 by the left shift
    (wrapping), VQRDMULH.S32 (sat((2ab + 2^31) >> 32)), the correction VQADD(v, v >> 31) where
    there is a right shift (the general copies compute it as VSHR #31 of VAND with the
    negative shift), then VRSHL.S32 by -right ((v + 2^(right-1)) >> right in full precision).
    Equal to multiply_by_quantized_multiplier for every int32 x and shift in [-31, 30]
    (tests/test_quantization.py): VQRDMULH is SaturatingRoundingDoublingHighMul exactly, and
    rounding half up of v - 1 for v < 0 is rounding half away from zero of v."""
    left, right = max(shift, 0), max(-shift, 0)
    v = _wrap32(x << left)
    v = _sat32((2 * v * multiplier + (1 << 31)) >> 32)
    if right:
        v = _sat32(v + (v >> 31))
        v = (v + (1 << (right - 1))) >> right
    return v


# --- Softmax (reference_ops::Softmax, int8) ---

SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5


def softmax_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling + CalculateInputRadius: (multiplier, left_shift, diff_min)."""
    bits = SOFTMAX_SCALED_DIFF_INTEGER_BITS
    max_real = float((1 << 31) - 1)
    real = min(float(beta) * float(np.float32(input_scale)) * (1 << (31 - bits)), max_real)
    multiplier, left_shift = quantize_multiplier_greater_than_one(real)
    max_input_rescaled = 1.0 * ((1 << bits) - 1) * (1 << (31 - bits)) / (1 << left_shift)
    diff_min = -int(math.floor(max_input_rescaled))
    return multiplier, left_shift, diff_min


def _mul_by_pot(x: int, e: int) -> int:
    """gemmlowp's SaturatingRoundingMultiplyByPOT on int32."""
    if e > 0:
        return _sat_left_shift(x, e)
    return rounding_divide_by_pot(x, -e) if e < 0 else x


def _exp_on_negative_values(a: int) -> int:
    """gemmlowp's exp_on_negative_values, a in Q5.26 (a <= 0), result in Q0.31 -- the
    same operations as the C kernel (reference/mcuf_softmax_s8.c)."""
    srdhm = saturating_rounding_doubling_high_mul
    frac_bits = 31 - SOFTMAX_SCALED_DIFF_INTEGER_BITS
    one_quarter = 1 << (frac_bits - 2)
    a_mod = (a & (one_quarter - 1)) - one_quarter
    x = _wrap32(_mul_by_pot(a_mod, SOFTMAX_SCALED_DIFF_INTEGER_BITS) + (1 << 28))  # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4_over_4 = _mul_by_pot(srdhm(x2, x2), -2)
    poly = _mul_by_pot(_wrap32(srdhm(_wrap32(x4_over_4 + x3), 715827883) + x2), -1)
    result = _wrap32(1895147668 + srdhm(1895147668, _wrap32(x + poly)))
    remainder = a_mod - a
    for k, m in enumerate((1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)):
        exponent = k - 2
        if SOFTMAX_SCALED_DIFF_INTEGER_BITS > exponent and remainder & (1 << (frac_bits + exponent)):
            result = srdhm(result, m)
    return (1 << 31) - 1 if a == 0 else result


def softmax_exp_table(multiplier: int, left_shift: int, diff_min: int) -> np.ndarray:
    """exp(x - max) for the 256 possible differences, entry i for x - max = -i, as the
    kernel computes it (0 below diff_min, where the kernel skips the element: a 0 adds
    nothing to the sum and gives the -128 the kernel writes)."""
    table = np.zeros(256, np.int64)
    for i in range(256):
        if -i >= diff_min:
            scaled = saturating_rounding_doubling_high_mul(_wrap32(-i << left_shift), multiplier)
            table[i] = _exp_on_negative_values(scaled)
    return table.astype(np.int32)


# --- MEAN (reference_ops::QuantizedMeanOrSum) ---

def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """input_scale / output_scale / count as TFLite folds it: the count is divided into the
    Q31 multiplier with a left shift of floor(log2(count)), clamped to keep precision legal."""
    multiplier, shift = quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))
    n_shift = min(count.bit_length() - 1, 32, 31 + shift)  # >= 0: shift is never below -31
    return _wrap32((multiplier << n_shift) // count), shift - n_shift


# --- The optimized kernels' output stage ---

FORMULA_SHIFT = 64   # a shift byte >= 32 marks a channel on TFLite's formula: its shift + 64


def fast_requant_constants(multiplier: int, shift: int, output_offset: int) -> tuple[int, int]:
    """(multiplier, shift byte b = e - 1) of the optimized kernels' output stage for a right
    shift e = -shift >= 1. With x2 = 2 * acc and round = (2 * output_offset + 1) << b, which the
    kernel computes (one LSL; storing it would cost 4 flash bytes per channel):

        y = SMMLAR(x2, multiplier, round) + (x2 < 0 ? -1 : 0);   out = (y >> b) >> 1

    equals MultiplyByQuantizedMultiplier(acc, multiplier, shift) + output_offset.
    Why: SaturatingRoundingDoublingHighMul is floor((x*m + 2^30) / 2^31) for either sign
    (its truncating nudge and the floor agree), i.e. SMMULR(2x, m), the rounding high
    multiply; RoundingDivideByPOT's ties away from zero are floor((y + 2^(e-1) - [x < 0]) / 2^e);
    SMMLAR adds round = 2^(e-1) + output_offset * 2^e to the high word for free, which
    carries the output zero point too; the last shift by 1 is SSAT's free ASR #1.
    Exact while fast_requant_exact_for holds."""
    return multiplier, -shift - 1


def formula_requant_constants(multiplier: int, shift: int) -> tuple[int, int]:
    """A channel the fast stage cannot take (left shifts): TFLite's shift, marked."""
    assert -31 <= shift < 128 - FORMULA_SHIFT, shift
    return multiplier, shift + FORMULA_SHIFT


def fast_requant_round(b: int, output_offset: int) -> int:
    """The SMMLAR addend the kernel computes from the shift byte (as int32: the kernel's LSL
    wraps; fast_requant_exact_for checks it does not need to)."""
    return _wrap32(_round_unwrapped(b, output_offset))


def fast_requant_rounds(shift_bytes, output_offset: int) -> np.ndarray:
    """fast_requant_round of every channel's shift byte: int64 array, shape of shift_bytes."""
    return np.array([fast_requant_round(int(b), output_offset) for b in np.asarray(shift_bytes).reshape(-1)],
                    np.int64).reshape(np.shape(shift_bytes))


def _round_unwrapped(b: int, output_offset: int) -> int:
    return (2 * output_offset + 1) << b


def fast_requant_apply(c, acc: int, output_offset: int) -> int:
    """The C output stage in Python (before the int8 saturation), for the tests."""
    m, b = c
    x2 = _wrap32(2 * acc)
    y = _wrap32(((fast_requant_round(b, output_offset) << 32) + x2 * m + (1 << 31)) >> 32)
    return (_wrap32(y + (-1 if x2 < 0 else 0)) >> b) >> 1


def fast_requant_exact_for(shift: int, acc_bound: int, output_offset: int) -> bool:
    """Is the fast output stage exact for every |acc| <= acc_bound? It needs a right shift
    of 1..31, the doubled accumulator in int32, and y (at most |round| + |acc| + 1) too."""
    if not 1 <= -shift <= 31 or 2 * acc_bound >= 2**31:
        return False
    return abs(_round_unwrapped(-shift - 1, output_offset)) + acc_bound + 1 < 2**31


# --- HARD_SWISH (reference_ops::HardSwish, int8): a function of one int8, so a 256-entry table ---

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


def _sdhm16(a: int, b: int) -> int:
    """reference_ops::SaturatingDoublingHighMul on int16: truncating, no rounding nudge."""
    if a == b == INT16_MIN:
        return INT16_MAX
    return _trunc_div(a * b, 1 << 15)


def _sat_left_shift(x: int, amount: int, bits: int = 32) -> int:
    """x << amount saturated to a signed `bits`-bit integer (gemmlowp's
    SaturatingRoundingMultiplyByPOT for a positive exponent: its threshold test is this clamp)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return max(lo, min(hi, x * (1 << amount)))


def _int8_table(fn) -> np.ndarray:
    """table[x + 128] = fn(x) clamped to int8, for every int8 x: the device looks it up."""
    return np.array([max(-128, min(127, fn(x))) for x in range(-128, 128)], np.int8)


def _down_scale_to_int16(m: int) -> int:
    """DownScaleInt32ToInt16Multiplier: round a Q31 multiplier to Q15."""
    if m >= INT32_MAX - (1 << 15):
        return INT16_MAX
    return (m + (1 << 15)) >> 16


def hard_swish_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """table[x + 128] = TFLite's int8 HARD_SWISH of x. The multipliers are derived in float32
    arithmetic, exactly as HardSwishPrepare does."""
    f32 = np.float32
    hires = f32(f32(1.0) / f32(128.0)) * f32(in_scale)
    out_m, out_e = quantize_multiplier(float(f32(hires / f32(out_scale))))
    relu_m, relu_e = quantize_multiplier(float(f32(hires / f32(f32(3.0) / f32(32768.0)))))
    if out_e > 0:
        raise ValueError("HARD_SWISH output scale too small for TFLite's kernel (exponent > 0)")
    out_m16, relu_m16 = _down_scale_to_int16(out_m), _down_scale_to_int16(relu_m)

    def hard_swish(x: int) -> int:
        hires_v = (x - in_zp) * (1 << 7)
        pre_out = saturating_rounding_doubling_high_mul(hires_v, out_m16, 16)
        r = hires_v
        if relu_e > 0:
            r = _sat_left_shift(r, relu_e - 1, 16)
        r = saturating_rounding_doubling_high_mul(r, relu_m16, 16)
        if relu_e > 0:
            r = _sat_left_shift(r, 1, 16)
        if relu_e < 0:
            r = rounding_divide_by_pot(r, -relu_e)
        r = (r + (1 << 15)) >> 1
        return rounding_divide_by_pot(_sdhm16(r, pre_out), -out_e) + out_zp

    return _int8_table(hard_swish)


# --- Tables for unary ops whose TFLite int8 kernel is a function of one byte ---

def _expf():
    """The C library's expf, which TFLite's LUTPopulate calls; numpy's float32 exp elsewhere
    (it can differ in the last bit, which matters only at exact rounding ties)."""
    import ctypes
    import ctypes.util
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        libm.expf.restype, libm.expf.argtypes = ctypes.c_float, [ctypes.c_float]
        return lambda v: np.float32(libm.expf(float(v)))
    except (OSError, AttributeError):
        return lambda v: np.exp(np.float32(v))


def logistic_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """table[x + 128] = TFLite's int8 LOGISTIC of x: the reference kernel looks it up in a
    table LUTPopulate fills in float32: round(sigmoid(in_scale * (x - zp)) / out_scale) + zp.
    Raises ValueError, as TFLite's SigmoidPrepare refuses it, unless the output scale is exactly
    1/256 and the zero point -128."""
    if float(np.float32(out_scale)) != 1.0 / 256 or out_zp != -128:
        raise ValueError(f"LOGISTIC output scale {float(out_scale):.6g} / zero point {out_zp}: TFLite "
                         "requires 1/256 and -128 for int8 (its Prepare refuses this model); re-convert it")
    f32, expf = np.float32, _expf()
    inv = f32(f32(1.0) / f32(out_scale))

    def logistic(x: int) -> int:
        v = f32(f32(in_scale) * f32(x - in_zp))
        sigmoid = f32(f32(1.0) / f32(f32(1.0) + expf(-v)))
        return tflite_round(float(f32(sigmoid * inv))) + out_zp

    return _int8_table(logistic)


def inv_sqrt_multiplier(value: int) -> tuple[int, int]:
    """GetInvSqrtQuantizedMultiplierExp(value, kReverseShift): 1/sqrt(value) as a Q31
    multiplier and a left shift, by five gemmlowp fixed-point Newton steps (F3 arithmetic)."""
    if value <= 1:
        return 2**31 - 1, 0
    shift = 11
    while value >= 1 << 29:
        value //= 4
        shift += 1
    pairs = ((32 - value.bit_length()) - 1) // 2 - 1
    shift -= pairs
    value <<= 2 * pairs
    srdhm = saturating_rounding_doubling_high_mul
    half_input = rounding_divide_by_pot(value >> 1, 1)
    half_three = (1 << 28) + (1 << 27)
    x = 1 << 28                                             # F3 one
    for _ in range(5):
        x3 = _sat_left_shift(srdhm(srdhm(x, x), x), 6)    # F9 -> F3
        x = _sat_left_shift(_wrap32(srdhm(half_three, x) - srdhm(half_input, x3)), 3)
    x = srdhm(x, 1518500250)                                # * sqrt(2)/2
    if shift < 0:
        x <<= -shift
        shift = 0
    return x, -shift


def rsqrt_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """table[x + 128] = TFLite's int8 RSQRT of x (RsqrtEvalQuantized). Inputs below the zero
    point (negative reals) are an error in TFLite; they get the largest output here."""
    f32 = np.float32
    scale = 1.0 / float(f32(np.sqrt(f32(in_scale)) * f32(out_scale)))
    mult, shift = quantize_multiplier(scale)
    k_shift = 20

    def rsqrt(x: int) -> int:
        v = x - in_zp
        if v <= 0:
            return 127
        m, s = inv_sqrt_multiplier(v)
        data = multiply_by_quantized_multiplier(1, m, s + k_shift)
        return multiply_by_quantized_multiplier(data, mult, shift - k_shift) + out_zp

    return _int8_table(rsqrt)


def dequantize_negate_quantize_table(in_scale: float, in_zp: int, out_scale: float,
                                     out_zp: int) -> np.ndarray:
    """DEQUANTIZE -> NEG -> QUANTIZE, the float island the converter leaves in a layer norm's
    'x - mean': float32 scale * (x - zp), negated, then round(v / out_scale) + zp, clamped."""
    f32 = np.float32

    def negate(x: int) -> int:
        v = -f32(float(f32(in_scale)) * (x - in_zp))
        return tflite_round(float(f32(v / f32(out_scale)))) + out_zp

    return _int8_table(negate)


# --- LUTPopulate: the float32 table TFLite fills for GELU, EXP, LOG (and TANH, LOGISTIC) ---

def _libm(name: str):
    """The C library's float function `name` (erfcf, tanhf, expf, logf: what std::erfc,
    std::tanh, std::exp, std::log resolve to for a float argument in TFLite's C++) as a
    float32 -> float32 Python function; numpy's float32 version if libm cannot be loaded."""
    import ctypes
    import ctypes.util
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        fn = getattr(libm, name)
        fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
        return lambda v: np.float32(fn(float(v)))
    except (OSError, AttributeError):
        fallback = {"erfcf": math.erfc, "tanhf": math.tanh, "expf": math.exp, "logf": math.log}[name]
        return lambda v: np.float32(fallback(float(v)))   # pragma: no cover - libm is always there


def lut_populate(in_scale: float, in_zp: int, out_scale: float, out_zp: int, transform,
                 op: str = "op") -> np.ndarray:
    """table[x + 128] for every int8 x, as TFLite's LUTPopulateInt8
    (tensorflow/lite/kernels/internal/common.h) fills it, all in float32:
    dequantized = in_scale * (x - in_zp); transformed = transform(dequantized); a NaN result
    gives -128; else quantized = int(round(transformed * (1 / out_scale)) +
    out_zp), clamped to int8 (round: half away from zero). `transform` takes and returns
    numpy float32. Raises ValueError when a rescaled value reaches 2^30 in magnitude: near
    and beyond 2^31 TFLite's float -> int32 cast is undefined (x86 gives -2^31, so the
    table's entry is -128 for a huge positive value): no defined result to mirror. An
    infinite result is refused the same way (attack6: EXP with input scale 1e30 gives inf,
    ai-edge-litert's table held 127 there, not the -128 a NaN gives)."""
    f32 = np.float32
    with np.errstate(over="ignore", divide="ignore"):   # a denormal scale: inf, refused below
        inv = f32(f32(1.0) / f32(out_scale))
    out = []
    for x in range(-128, 128):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            dequantized = f32(f32(in_scale) * f32(x - in_zp))
            transformed = f32(transform(dequantized))
            if np.isnan(transformed):
                out.append(INT8_MIN)
                continue
            scaled = f32(transformed * inv)
        if not np.isfinite(transformed):
            raise ValueError(f"{op} of input {x} is {float(transformed)} in float32 (undefined in "
                             "TFLite's table); re-quantize the model so the input's scale is realistic")
        if not np.isfinite(scaled) or abs(float(scaled)) >= 2.0**30:
            raise ValueError(f"{op} of input {x} is {float(scaled):.6g} output steps, beyond int32 "
                             "(undefined in TFLite's table); give the output a larger scale")
        out.append(max(INT8_MIN, min(INT8_MAX, tflite_round(float(scaled)) + out_zp)))
    return np.array(out, np.int8)


def gelu_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int,
               approximate: bool) -> np.ndarray:
    """table[x + 128] = TFLite's int8 GELU of x: GeluPrepare fills a LUTPopulate table with
    reference_ops::GeluTransform (tensorflow/lite/kernels/internal/reference/gelu.h, in float):
    0.5f * x * erfcf(x * (float)-M_SQRT1_2), or with approximate
    0.5f * x * (1.f + tanhf(kSqrt2dPi * (x + 0.044715f * x * x * x))),
    kSqrt2dPi = (float)(M_2_SQRTPI * M_SQRT1_2). All 256 inputs checked against ai-edge-litert's
    reference kernel (tests/test_single_ops.py)."""
    f32 = np.float32
    half, one = f32(0.5), f32(1.0)
    if approximate:
        tanhf, k, c = _libm("tanhf"), f32(1.12837916709551257390 * 0.70710678118654752440), f32(0.044715)

        def transform(v):
            inner = f32(v + f32(f32(f32(c * v) * v) * v))
            return f32(f32(half * v) * f32(one + tanhf(f32(k * inner))))
    else:
        erfcf, m = _libm("erfcf"), f32(-0.70710678118654752440)

        def transform(v):
            return f32(f32(half * v) * erfcf(f32(v * m)))
    return lut_populate(in_scale, in_zp, out_scale, out_zp, transform, "GELU")


def exp_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """table[x + 128] = TFLite's int8 EXP of x: exp.cc's Prepare fills a LUTPopulate table
    with std::exp on a float (expf)."""
    return lut_populate(in_scale, in_zp, out_scale, out_zp, _libm("expf"), "EXP")


def log_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """table[x + 128] = TFLite's int8 LOG of x: elementwise.cc's LogLUTPrepare fills a
    LUTPopulate table with logf(v), and for v <= 0 the output's lowest real value
    (-128 - out_zp) * out_scale (in float)."""
    f32 = np.float32
    logf = _libm("logf")
    with np.errstate(over="ignore"):
        low = f32(f32(INT8_MIN - out_zp) * f32(out_scale))
    return lut_populate(in_scale, in_zp, out_scale, out_zp,
                        lambda v: low if v <= 0 else logf(v), "LOG")


def abs_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """table[x + 128] = TFLite's int8 ABS of x (elementwise.cc, AbsEvalQuantized):
    |x - in_zp|, rescaled with MultiplyByQuantizedMultiplier by QuantizeMultiplier(in_scale /
    out_scale) (a float quotient) only when the two scales differ, + out_zp, clamped."""
    f32 = np.float32
    rescale = f32(in_scale) != f32(out_scale)
    with np.errstate(over="ignore"):
        ratio = f32(f32(in_scale) / f32(out_scale))
    if rescale and not np.isfinite(ratio):
        raise ValueError("ABS scale ratio overflows float (TFLite's arithmetic overflows); "
                         "choose a larger output scale")
    mult, shift = quantize_multiplier(float(ratio)) if rescale else (0, 0)
    if rescale and shift > 30:
        raise ValueError("ABS multiplier of 2^31 or more (TFLite's arithmetic overflows); "
                         "choose a larger output scale")

    def absq(x: int) -> int:
        v = abs(x - in_zp)
        return (multiply_by_quantized_multiplier(v, mult, shift) if rescale else v) + out_zp

    return _int8_table(absq)


def sqrt_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """table[x + 128] = TFLite's int8 SQRT of x (elementwise.cc, SqrtEvalQuantized), in
    float32: sqrt(in_scale * (x - in_zp)) / out_scale truncated toward zero (a static_cast,
    not a rounding), + out_zp, clamped. Inputs below the zero point (negative reals) make
    TFLite's Eval fail; they get sqrt(0)'s output here. Raises ValueError where the quotient
    reaches 2^30 (TFLite's cast to int is undefined beyond int32)."""
    f32 = np.float32

    def sqrtq(x: int) -> int:
        with np.errstate(over="ignore"):
            v = f32(f32(in_scale) * f32(max(x - in_zp, 0)))
            r = f32(np.sqrt(v) / f32(out_scale))      # sqrtf is correctly rounded, as numpy's
        if not np.isfinite(r) or abs(float(r)) >= 2.0**30:
            raise ValueError(f"SQRT of input {x} is {float(r):.6g} output steps, beyond int32 "
                             "(undefined in TFLite); give the output a larger scale")
        return int(math.trunc(float(r))) + out_zp

    return _int8_table(sqrtq)
