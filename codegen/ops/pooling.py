"""AVERAGE_POOL_2D, MAX_POOL_2D, MEAN and REDUCE_MAX: shape rules and lowering."""
from __future__ import annotations

import numpy as np

from .. import quantization as q
from ..errors import UnsupportedModelError
from ..graph import Graph, Operator
from . import mve
from .heads import MAX_LEFT_SHIFT
from .common import _act, _const_ints, _nhwc, _require_int8, _same_padding, _t
from .registry import INDEX, INT8, OpRecord, Step, register_kernel, register_op
from .shapes import axis_index, const_ints, conv_out_size, fmt, input_shape, int_option, padding_option


def pool_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """pooling.cc Prepare: [N, H', W', C], H' and W' by ComputeOutSize with the filter
    (FilterHeight x FilterWidth, >= 1) and strides (>= 1); the channels are the input's."""
    x = input_shape(graph, op, 0, 4, "input")
    k_h, k_w = int_option(op, "FilterHeight"), int_option(op, "FilterWidth")
    sh, sw = int_option(op, "StrideH", 1), int_option(op, "StrideW", 1)
    padding = padding_option(op)
    return [(x[0], conv_out_size(padding, x[1], k_h, sh, 1, "height"),
             conv_out_size(padding, x[2], k_w, sw, 1, "width"), x[3])]


def explain_pool(graph: Graph, op: Operator) -> str:
    o = op.options
    return (f"from input {fmt(graph.tensors[op.inputs[0]].shape)}, filter "
            f"{o.get('FilterHeight')}x{o.get('FilterWidth')}, stride {o.get('StrideH', 1)}x{o.get('StrideW', 1)}, "
            f"{o.get('Padding', 'VALID')}")


def mean_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """reduce.cc ResizeOutputTensor: the reduced axes (in range, repeats allowed) become 1
    with KeepDims, or are removed."""
    x = input_shape(graph, op, 0)
    axes = {axis_index(a, len(x)) for a in const_ints(graph, op, 1, "axis")}
    if op.options.get("KeepDims", False):
        return [tuple(1 if i in axes else d for i, d in enumerate(x))]
    return [tuple(d for i, d in enumerate(x) if i not in axes)]


def explain_mean(graph: Graph, op: Operator) -> str:
    axes = np.asarray(graph.tensors[op.inputs[1]].data).reshape(-1).tolist()
    return (f"from input {fmt(graph.tensors[op.inputs[0]].shape)}, axes {axes}, "
            f"keep_dims {bool(op.options.get('KeepDims', False))}")


F = "pooling"
register_kernel("mcuf_avgpool_s8", family=F)
register_kernel("mcuf_maxpool_s8", family=F)
register_kernel("mcuf_maxpool_s8_dsp", family=F)   # four channels per SSUB8 + SEL
register_kernel("mcuf_mean_s8", family=F)
register_kernel("mcuf_mean_s8_dsp", family=F)   # four channels per load, SXTAB16 into 16-bit lanes
register_kernel("mcuf_reduce_max_s8", family=F)


def lower_pool(graph, op, kernels: str = "reference") -> Step:
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _require_int8(x, y)
    if x.quant.scale != y.quant.scale or x.quant.zero_point != y.quant.zero_point:
        raise UnsupportedModelError("pooling input and output quantization differ")
    _, in_h, in_w, c = _nhwc(x)
    _, out_h, out_w, _ = _nhwc(y)
    o = op.options
    k_h, k_w = o["FilterHeight"], o["FilterWidth"]
    sh, sw = o.get("StrideH", 1), o.get("StrideW", 1)
    padding = o.get("Padding", "VALID")
    act_min, act_max = _act(op, y)
    p = dict(in_h=in_h, in_w=in_w, channels=c, out_h=out_h, out_w=out_w, k_h=k_h, k_w=k_w,
             stride_h=sh, stride_w=sw,
             pad_top=_same_padding(padding, sh, 1, in_h, k_h, out_h),
             pad_left=_same_padding(padding, sw, 1, in_w, k_w, out_w),
             act_min=act_min, act_max=act_max)
    kernel = "mcuf_avgpool_s8" if op.type == "AVERAGE_POOL_2D" else "mcuf_maxpool_s8" + "_dsp" * (kernels == "dsp")
    step = Step(op, kernel, "mcuf_pool_params", p, [("in", x.index), ("out", y.index)],
                [x.index], y.index)
    return mve.retarget(step) if kernels == "mve" else step


def _reduced_run(graph, op, x) -> tuple[int, int, int]:
    """The input seen as [outer, count, inner] for a reduction over one run of adjacent axes
    (the constant axis input, negative axes counted from the end, repeats allowed; no axes:
    count 1). UnsupportedModelError for axes that are not adjacent."""
    axes = sorted({a % len(x.shape) for a in _const_ints(graph, op.inputs[1], "axis")}) if x.shape else []
    if axes and axes != list(range(axes[0], axes[-1] + 1)):
        raise UnsupportedModelError(f"{op.type} over axes {axes} that are not adjacent; transpose them "
                                    "next to each other first, or reduce in two steps")
    if not axes:
        return int(np.prod(x.shape)), 1, 1
    dims = list(x.shape)
    return (int(np.prod(dims[:axes[0]])), int(np.prod(dims[axes[0]:axes[-1] + 1])),
            int(np.prod(dims[axes[-1] + 1:])))


def lower_reduce_max(graph, op, kernels: str = "reference") -> Step:
    """REDUCE_MAX over one run of adjacent axes: reduce.cc's EvalGeneric<kMax> compares the
    raw int8 values (from numeric_limits<int8_t>::lowest()) and stores the largest unchanged.
    UnsupportedModelError when input and output quantization differ (TFLite's Eval fails:
    reduce.cc checks input scale == output scale)."""
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _require_int8(x, y)
    if np.float32(x.quant.scale) != np.float32(y.quant.scale) or x.quant.zero_point != y.quant.zero_point:
        raise UnsupportedModelError(
            f"REDUCE_MAX output '{y.name}' quantized (scale {y.quant.scale:.6g}, zero point "
            f"{y.quant.zero_point}) unlike its input (scale {x.quant.scale:.6g}, zero point "
            f"{x.quant.zero_point}); TFLite requires them equal: re-convert the model")
    outer, count, inner = _reduced_run(graph, op, x)
    return Step(op, "mcuf_reduce_max_s8", "mcuf_reduce_params",
                dict(batches=outer, count=count, channels=inner),
                [("in", x.index), ("out", y.index)], [x.index], y.index, x.size)


def lower_mean(graph, op, kernels: str = "reference") -> Step:
    """MEAN over one run of adjacent axes, the input seen as [outer, count, inner]: the
    zero-point-corrected sum requantized with 1/count folded in (TFLite 2.21's integer path,
    also when input and output quantization are equal; checked in test_single_ops).
    (SUM is not registered: ai-edge-litert 2.3.0's reference int8 SUM reads the int8 bytes as
    uint8 and clamps to [0, 255]; its optimized kernel gives this path with count 1.)"""
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _require_int8(x, y)
    outer, count, inner = _reduced_run(graph, op, x)
    multiplier, shift = q.mean_multiplier(x.quant.scale, y.quant.scale, count)
    p = dict(batches=outer, count=count, channels=inner, input_zero_point=x.quant.zero_point,
             multiplier=multiplier, shift=shift, output_zero_point=y.quant.zero_point)
    if kernels in ("dsp", "mve") and shift <= MAX_LEFT_SHIFT:
        # the optimized output stage: fast constants where exact for |sum - zero_sum| <= 255 * count
        m, b = (q.fast_requant_constants(multiplier, shift, p["output_zero_point"])
                if q.fast_requant_exact_for(shift, 255 * count, p["output_zero_point"])
                else q.formula_requant_constants(multiplier, shift))
        if 2 * 255 * count < 2**31:   # mcuf_out doubles sum - zero_sum
            d = dict(batches=outer, count=count, channels=inner, zero_sum=x.quant.zero_point * count,
                     multiplier=m, shift=b, output_zero_point=y.quant.zero_point)
            step = Step(op, "mcuf_mean_s8_dsp", "mcuf_mean_dsp_params", d, [("in", x.index), ("out", y.index)],
                        [x.index], y.index, x.size)
            return mve.retarget(step) if kernels == "mve" else step
    return Step(op, "mcuf_mean_s8", "mcuf_mean_params", p, [("in", x.index), ("out", y.index)],
                [x.index], y.index, x.size)


register_op(OpRecord("AVERAGE_POOL_2D", (1, 1), (INT8,), pool_shape, lower_pool, explain=explain_pool, family=F))
register_op(OpRecord("MAX_POOL_2D", (1, 1), (INT8,), pool_shape, lower_pool, explain=explain_pool, family=F))
# reduce.cc PrepareSimple: TF_LITE_ENSURE_TYPES_EQ(axis->type, kTfLiteInt32) (int64 axes are refused)
AXES = ("int32",)
register_op(OpRecord("MEAN", (2, 2), (INT8, AXES), mean_shape, lower_mean, explain=explain_mean, family=F))
register_op(OpRecord("REDUCE_MAX", (2, 2), (INT8, AXES), mean_shape, lower_reduce_max, explain=explain_mean,
                     family=F))
