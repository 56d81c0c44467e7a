"""Lowering of the operators of detection and segmentation heads (issue #18 item 6): SUB,
MAXIMUM, MINIMUM, PRELU, LEAKY_RELU, TANH, RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR,
LOG_SOFTMAX. Each mirrors TFLite's reference int8 kernel (BUILTIN_REF), named in its
docstring; every constant, coordinate and table is computed here, on the host.

One record per operator (codegen/ops/registry.py); kernels in
codegen/kernels/reference/mcuf_heads_s8.c.
"""
from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

from .. import quantization as q
from ..errors import UnsupportedModelError
from ..graph import Graph, Operator
from . import common as C
from .elementwise import _broadcast_operands, broadcast_shape
from .registry import INDEX, INT8, ConstArray, OpRecord, Step, register_kernel, register_op
from .shapes import ShapeError, const_ints, fmt, input_shape, same_as_input

MAX_LEFT_SHIFT = 30    # as codegen/lowering.py: larger multipliers are undefined in TFLite
F = "heads"
for _k in ("mcuf_sub_s8", "mcuf_maximum_s8", "mcuf_minimum_s8", "mcuf_prelu_s8"):
    register_kernel(_k, family=F)
register_kernel("mcuf_resize_nearest_s8", weight_layout="int32 source row [OH], column [OW]", family=F)
register_kernel("mcuf_resize_bilinear_s8", weight_layout="int32 {lower, upper, fraction} [OH], [OW]",
                family=F)

f32 = np.float32


# --- single-input ops as 256-entry tables (kernel mcuf_lut_s8) ---

def _libm_float(name: str):
    """A float -> float function of the C library (TFLite calls std::tanh on a float,
    i.e. tanhf), numpy's float32 version if the library cannot be loaded."""
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        fn = getattr(libm, name)
        fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
        return lambda v: f32(fn(float(v)))
    except (OSError, AttributeError):
        return {"tanhf": lambda v: np.tanh(f32(v))}[name]


def tanh_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """table[x + 128] = TFLite's int8 TANH of x. Its reference kernel (TanhEval with
    kReference) looks x up in a table that PopulateLookupTable / LUTPopulate fills in float32:
    round(tanhf(in_scale * (x - zp)) * (1 / out_scale)) + out_zp, clamped (all 256 inputs
    checked against the reference in tests/test_heads.py). Raises ValueError where an entry
    reaches 2^30 output steps or is not finite (an output scale of 1e-30 or 1e-45): TFLite's
    float -> int32 cast is undefined there (its uint8 TANH gave 0 for every positive input,
    attack7), as lut_populate refuses for GELU, EXP and LOG."""
    tanhf = _libm_float("tanhf")
    with np.errstate(over="ignore", divide="ignore"):
        inv = f32(f32(1.0) / f32(out_scale))

    def tanh(x: int) -> int:
        with np.errstate(over="ignore", invalid="ignore"):
            v = f32(f32(in_scale) * f32(x - in_zp))
            r = f32(tanhf(v) * inv)
        if not np.isfinite(r) or abs(float(r)) >= 2.0**30:
            raise ValueError(f"TANH of input {x} is {float(r):.6g} output steps, beyond int32 (undefined "
                             "in TFLite); give the output a larger scale (TFLite's converter writes 1/128)")
        return q.tflite_round(float(r)) + out_zp

    return q._int8_table(tanh)


def leaky_relu_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int,
                     alpha: float) -> np.ndarray:
    """table[x + 128] = TFLite's int8 LEAKY_RELU of x: reference_ops::QuantizeLeakyRelu with
    two multipliers from LeakyReluPrepare (input_scale * alpha / output_scale and
    input_scale / output_scale, evaluated in float as written there): x - zp >= 0 takes the
    identity one, else the alpha one; MultiplyByQuantizedMultiplier, + out_zp, clamped.
    A negative alpha (a negative multiplier): TFLite's result is the negation of the product
    by |multiplier|, so that an exact .5 rounds toward zero (attack5: 0.05 -> 0.04 with alpha
    -1 gave 128 where TFLite gives 127 at x - zp = -102; matched on 60 tie-prone scale
    pairs, where the plain signed product missed on 19)."""
    ma, sa = q.quantize_multiplier(float(f32(f32(f32(in_scale) * f32(alpha)) / f32(out_scale))))
    mi, si = q.quantize_multiplier(float(f32(f32(in_scale) / f32(out_scale))))
    if max(sa, si) > MAX_LEFT_SHIFT:
        raise ValueError("LEAKY_RELU multiplier of 2^31 or more (TFLite's arithmetic overflows)")

    def leaky(x: int) -> int:
        v = x - in_zp
        m, s = (mi, si) if v >= 0 else (ma, sa)
        if m < 0:
            return -q.multiply_by_quantized_multiplier(v, -m, s) + out_zp
        return q.multiply_by_quantized_multiplier(v, m, s) + out_zp

    return q._int8_table(leaky)


def _table_step(op, x, y, table) -> Step:
    t = ConstArray(f"op{op.index}_table", "int8_t", table)
    return Step(op, "mcuf_lut_s8", "mcuf_lut_params", dict(size=y.size),
                  [("in", x.index), ("const", t), ("out", y.index)], [x.index], y.index, 0, [t])


def lower_tanh(graph, op, kernels: str = "reference") -> Step:
    x, y = C._t(graph, op.inputs[0]), C._t(graph, op.outputs[0])
    C._require_int8(x, y)
    try:
        table = tanh_table(x.quant.scale, x.quant.zero_point, y.quant.scale, y.quant.zero_point)
    except ValueError as e:
        raise UnsupportedModelError(f"{e} (tensor '{y.name}')") from None
    return _table_step(op, x, y, table)


def lower_leaky_relu(graph, op, kernels: str = "reference") -> Step:
    x, y = C._t(graph, op.inputs[0]), C._t(graph, op.outputs[0])
    C._require_int8(x, y)
    alpha = op.options.get("Alpha", 0.2)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not np.isfinite(alpha):
        raise UnsupportedModelError(f"LEAKY_RELU alpha {alpha!r} is not a finite number")
    try:
        table = leaky_relu_table(x.quant.scale, x.quant.zero_point, y.quant.scale,
                                 y.quant.zero_point, float(alpha))
    except (ValueError, OverflowError) as e:
        raise UnsupportedModelError(f"LEAKY_RELU multipliers out of range ({e})") from None
    return _table_step(op, x, y, table)


# --- two-operand element-wise ops (4-D broadcasting) ---

def lower_sub(graph, op, kernels: str = "reference") -> Step:
    """SUB: PrepareGeneralSubOp's multipliers (ADD's: left shift 20, both inputs scaled by
    1 / (2 * max input scale)), then reference_ops::SubElementwise / BroadcastQuantSubSlow:
    the scaled operands subtracted, requantized, + output zero point, clamped."""
    a, b, y = C._t(graph, op.inputs[0]), C._t(graph, op.inputs[1]), C._t(graph, op.outputs[0])
    C._require_int8(a, b, y)
    args, ins, consts, walk = _broadcast_operands(graph, op, a, b, y)
    left_shift = 20
    sa, sb, so = (float(f32(t.quant.scale)) for t in (a, b, y))
    twice_max = float(f32(2 * f32(max(sa, sb))))
    m1, s1 = q.quantize_multiplier(sa / twice_max)
    m2, s2 = q.quantize_multiplier(sb / twice_max)
    mo, s_o = q.quantize_multiplier(twice_max / ((1 << left_shift) * so))
    act_min, act_max = C._act(op, y)
    p = dict(size=y.size, input1_offset=-a.quant.zero_point, input2_offset=-b.quant.zero_point,
             left_shift=left_shift, input1_multiplier=m1, input1_shift=s1,
             input2_multiplier=m2, input2_shift=s2, output_multiplier=mo, output_shift=s_o,
             output_offset=y.quant.zero_point, act_min=act_min, act_max=act_max)
    return Step(op, "mcuf_sub_s8", "mcuf_add_broadcast_params", dict(add=p, **walk),
                  args, ins, y.index, 0, consts)


def lower_maximum_minimum(graph, op, kernels: str = "reference") -> Step:
    """MAXIMUM / MINIMUM: reference_ops::MaximumMinimumBroadcastSlow compares the raw int8
    values (TFLite does not requantize; neither does this)."""
    a, b, y = C._t(graph, op.inputs[0]), C._t(graph, op.inputs[1]), C._t(graph, op.outputs[0])
    C._require_int8(a, b, y)
    args, ins, consts, walk = _broadcast_operands(graph, op, a, b, y)
    kernel = "mcuf_maximum_s8" if op.type == "MAXIMUM" else "mcuf_minimum_s8"
    return Step(op, kernel, "mcuf_broadcast_params", walk, args, ins, y.index, 0, consts)


def lower_prelu(graph, op, kernels: str = "reference") -> Step:
    """PRELU: PreluPrepare's two multipliers (input_scale / output_scale and
    input_scale * alpha_scale / output_scale, in float as written there), then
    reference_ops::BroadcastPrelu4DSlow: x - zp >= 0 requantized by the first, else
    (x - zp) * (alpha - alpha_zp) by the second; + output zero point, clamped to int8."""
    x, alpha, y = C._t(graph, op.inputs[0]), C._t(graph, op.inputs[1]), C._t(graph, op.outputs[0])
    C._require_int8(x, alpha, y)
    if alpha.quant.per_channel:
        raise UnsupportedModelError(f"PRELU alpha '{alpha.name}' quantized per channel")
    args, ins, consts, walk = _broadcast_operands(graph, op, x, alpha, y)
    sx, sa, so = (f32(t.quant.scale) for t in (x, alpha, y))
    m1, s1 = q.quantize_multiplier(float(f32(sx / so)))
    m2, s2 = q.quantize_multiplier(float(f32(f32(sx * sa) / so)))
    p = dict(out_dims=walk["out_dims"], stride1=walk["stride1"], stride2=walk["stride2"],
             input_offset=-x.quant.zero_point, alpha_offset=-alpha.quant.zero_point,
             output_offset=y.quant.zero_point, output_multiplier_1=m1, output_shift_1=s1,
             output_multiplier_2=m2, output_shift_2=s2)
    return Step(op, "mcuf_prelu_s8", "mcuf_prelu_params", p, args, ins, y.index, 0, consts)


# --- resizing ---

def nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """reference_ops::GetNearestNeighbor for every output coordinate, in its float32
    arithmetic: scale = in / out (or (in-1)/(out-1) with align_corners), source =
    floor((i + offset) * scale) (TfLiteRound with align_corners), clamped."""
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel else f32(0.0)
    out = []
    for i in range(out_size):
        v = f32(f32(f32(i) + offset) * scale)
        s = q.tflite_round(float(v)) if align_corners else int(np.floor(v))
        s = min(s, in_size - 1)
        if half_pixel:
            s = max(0, s)
        out.append(s)
    return np.array(out, np.int32)


def bilinear_table(in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """reference_ops::ResizeBilinearInteger's ComputeInterpolationValues for every output
    coordinate: [out][lower, upper, scaled - 1024 * lower] with the 10-bit scale
    ((1024 * in + out / 2) / out, or the align_corners form), C integer division."""
    def cdiv(a: int, b: int) -> int:
        return q._trunc_div(a, b)
    scale = cdiv(1024 * in_size + out_size // 2, out_size)
    if align_corners and out_size > 1:
        scale = cdiv(1024 * (in_size - 1) + (out_size - 1) // 2, out_size - 1)
    rows = []
    for i in range(out_size):
        v = i * scale + cdiv(scale, 2) - 512 if half_pixel else i * scale
        lo = max(cdiv(v, 1024), 0)
        hi = min(cdiv(v + 1023, 1024), in_size - 1)
        rows.append((lo, hi, v - 1024 * lo))
    return np.array(rows, np.int32).reshape(-1)


def lower_resize(graph, op, kernels: str = "reference") -> Step:
    """RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR (NHWC, H and W resized): the source rows,
    columns and fractions as tables; the kernels copy or interpolate. The output keeps the
    input's bytes' quantization, as TFLite's kernels do (they do not requantize)."""
    x, y = C._t(graph, op.inputs[0]), C._t(graph, op.outputs[0])
    C._require_int8(x, y)
    n, in_h, in_w, c = C._nhwc(x)
    n2, out_h, out_w, c2 = C._nhwc(y)
    size = C._const_ints(graph, op.inputs[1], "the output size")
    if (n, c) != (n2, c2) or size != [out_h, out_w]:
        raise UnsupportedModelError(f"output {list(y.shape)} does not match input {list(x.shape)} "
                                    f"resized to {size}")
    if max(n, in_h, in_w, c, out_h, out_w) >= 1 << 16:
        raise UnsupportedModelError("a dimension of 65536 or more")
    align = bool(op.options.get("AlignCorners", False))
    half = bool(op.options.get("HalfPixelCenters", False))
    if align and half:
        raise UnsupportedModelError("align_corners and half_pixel_centers both set (TFLite refuses it)")
    p = dict(batches=n, in_h=in_h, in_w=in_w, depth=c, out_h=out_h, out_w=out_w)
    k = op.index
    if op.type == "RESIZE_NEAREST_NEIGHBOR":
        ys = ConstArray(f"op{k}_y_index", "int32_t", nearest_indices(in_h, out_h, align, half))
        xs = ConstArray(f"op{k}_x_index", "int32_t", nearest_indices(in_w, out_w, align, half))
        kernel = "mcuf_resize_nearest_s8"
    else:
        ys = ConstArray(f"op{k}_y_table", "int32_t", bilinear_table(in_h, out_h, align, half))
        xs = ConstArray(f"op{k}_x_table", "int32_t", bilinear_table(in_w, out_w, align, half))
        kernel = "mcuf_resize_bilinear_s8"
    return Step(op, kernel, "mcuf_resize_params", p,
                  [("in", x.index), ("const", ys), ("const", xs), ("out", y.index)],
                  [x.index], y.index, 0, [ys, xs])


# --- LOG_SOFTMAX ---

register_kernel("mcuf_log_softmax_s8", weight_layout="int32 diff_q5[256], exp_q12[256]", family=F)


def log_softmax_tables(input_scale: float) -> tuple[dict, np.ndarray, np.ndarray]:
    """LogSoftmaxPrepare's constants (PreprocessLogSoftmaxScalingExp with beta 1 and 5
    integer bits; diff_min = -CalculateInputRadius(5, left shift)) and, for each of the 256
    differences d = x - max, the Q5.26 value MultiplyByQuantizedMultiplier(d, multiplier,
    left shift) and Rescale<12>(exp_on_negative_values(it)) as reference_integer_ops::
    LogSoftmax computes them (exp 0 where d < diff_min: the reference skips those)."""
    mult, left_shift, diff_min = q.softmax_params(1.0, input_scale)
    real_reverse = (1 << (31 - left_shift)) / float(mult)
    rev_mult, rev_shift = q.quantize_multiplier(real_reverse)
    diff_q5 = np.zeros(256, np.int64)
    exp_q12 = np.zeros(256, np.int64)
    for k in range(256):
        v = q.multiply_by_quantized_multiplier(-k, mult, left_shift)
        diff_q5[k] = v
        if -k >= diff_min:
            exp_q12[k] = q.rounding_divide_by_pot(q._exp_on_negative_values(v), 12)
    p = dict(diff_min=diff_min, reverse_multiplier=rev_mult, reverse_shift=rev_shift)
    return p, diff_q5.astype(np.int32), exp_q12.astype(np.int32)


def lower_log_softmax(graph, op, kernels: str = "reference") -> Step:
    """LOG_SOFTMAX over the last axis: reference_integer_ops::LogSoftmax (int8 output scale
    16/256, zero point 127, which LogSoftmaxPrepare requires)."""
    x, y = C._t(graph, op.inputs[0]), C._t(graph, op.outputs[0])
    C._require_int8(x, y)
    if y.quant.zero_point != 127 or y.quant.scale != f32(16 / 256):
        raise UnsupportedModelError("int8 LOG_SOFTMAX output must have scale 16/256 and zero point "
                                    f"127 (TFLite refuses others), not {y.quant.scale:.6g} / {y.quant.zero_point}")
    depth = x.shape[-1] if x.shape else 1
    try:
        p, diff_q5, exp_q12 = log_softmax_tables(x.quant.scale)
    except ValueError as e:
        raise UnsupportedModelError(f"LOG_SOFTMAX input scale {x.quant.scale} is too small ({e})") from None
    k = op.index
    d = ConstArray(f"op{k}_diff_q5", "int32_t", diff_q5)
    e = ConstArray(f"op{k}_exp_q12", "int32_t", exp_q12)
    return Step(op, "mcuf_log_softmax_s8", "mcuf_log_softmax_params",
                dict(outer=x.size // depth, depth=depth, **p),
                [("in", x.index), ("const", d), ("const", e), ("out", y.index)], [x.index], y.index,
                0, [d, e])


def prelu_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """activations.cc PreluPrepare: input and alpha broadcast, and the result must be the
    input's shape (HaveSameShapes(input, output))."""
    x = input_shape(graph, op, 0)
    out = broadcast_shape(graph, op)[0]
    if tuple(out) != tuple(x):
        raise ShapeError(f"alpha {fmt(input_shape(graph, op, 1))} broadcast widens input {fmt(x)} to {fmt(out)}")
    return [x]


def resize_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """resize_nearest_neighbor.cc / resize_bilinear.cc Prepare: a 4-D input, a constant
    int32 size [2] (new height, width); output [batch, height, width, channels]."""
    x = input_shape(graph, op, 0, 4)
    size = const_ints(graph, op, 1, "the output size")
    if len(size) != 2 or min(size) < 1:
        raise ShapeError(f"output size {size} must be two positive numbers")
    return [(x[0], size[0], size[1], x[3])]


register_op(OpRecord("LOG_SOFTMAX", (1, 1), (INT8,), same_as_input, lower_log_softmax, family=F))
register_op(OpRecord("TANH", (1, 1), (INT8,), same_as_input, lower_tanh, family=F))
register_op(OpRecord("LEAKY_RELU", (1, 1), (INT8,), same_as_input, lower_leaky_relu, family=F))
register_op(OpRecord("SUB", (2, 2), (INT8,), broadcast_shape, lower_sub, family=F))
register_op(OpRecord("MAXIMUM", (2, 2), (INT8,), broadcast_shape, lower_maximum_minimum, family=F))
register_op(OpRecord("MINIMUM", (2, 2), (INT8,), broadcast_shape, lower_maximum_minimum, family=F))
register_op(OpRecord("PRELU", (2, 2), (INT8,), prelu_shape, lower_prelu, family=F, weights=(1,)))
register_op(OpRecord("RESIZE_NEAREST_NEIGHBOR", (2, 2), (INT8, INDEX), resize_shape, lower_resize, family=F))
register_op(OpRecord("RESIZE_BILINEAR", (2, 2), (INT8, INDEX), resize_shape, lower_resize, family=F))
