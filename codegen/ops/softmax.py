"""SOFTMAX (int8, over the last axis): shape rule and lowering, with or without the exp table."""
from __future__ import annotations

from .. import quantization as q
from ..errors import UnsupportedModelError
from ..graph import Graph, Operator
from .common import _require_int8, _t
from .registry import INT8, ConstArray, OpRecord, Step, register_kernel, register_op
from .shapes import input_shape


def softmax_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """softmax.cc Prepare: the input's shape, at least 1-D (the last axis is normalized)."""
    from .shapes import ShapeError
    x = input_shape(graph, op, 0)
    if not x:
        raise ShapeError("input must be at least 1-D")
    return [x]


register_kernel("mcuf_softmax_s8", family="softmax")
register_kernel("mcuf_softmax_s8_table", weight_layout="int32 [256] exp table", family="softmax")


SOFTMAX_TABLE_MIN_ELEMENTS = 64


def lower_softmax(graph, op, kernels: str = "reference") -> Step:
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _require_int8(x, y)
    if y.quant.zero_point != -128 or abs(y.quant.scale - 1 / 256) > 1e-9:
        raise UnsupportedModelError("int8 softmax output must have scale 1/256 and zero point -128")
    depth = x.shape[-1]
    try:
        mult, shift, diff_min = q.softmax_params(op.options.get("Beta", 1.0), x.quant.scale)
    except ValueError as e:
        raise UnsupportedModelError(f"softmax input scale {x.quant.scale} is too small ({e})") from None
    p = dict(outer=x.size // depth, depth=depth, input_multiplier=mult, input_left_shift=shift,
             diff_min=diff_min)
    if x.size >= SOFTMAX_TABLE_MIN_ELEMENTS:   # 1 KB of flash saves ~400 instructions per element
        t = ConstArray(f"op{op.index}_exp", "int32_t", q.softmax_exp_table(mult, shift, diff_min))
        return Step(op, "mcuf_softmax_s8_table", "mcuf_softmax_params", p,
                    [("in", x.index), ("const", t), ("out", y.index)], [x.index], y.index, 0, [t])
    return Step(op, "mcuf_softmax_s8", "mcuf_softmax_params", p,
                [("in", x.index), ("out", y.index)], [x.index], y.index)


register_op(OpRecord("SOFTMAX", (1, 1), (INT8,), softmax_shape, lower_softmax, family="softmax"))
