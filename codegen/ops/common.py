"""Helpers shared by the operator modules' lowerings: tensors, quantization constants,
operands. Each computes what TFLite's Prepare() computes, on the host."""
from __future__ import annotations

import numpy as np

from .. import quantization as q
from ..errors import UnsupportedModelError
from ..graph import Graph, Operator, Tensor
from .registry import ConstArray


def _t(graph: Graph, idx: int) -> Tensor:
    return graph.tensors[idx]


def _nhwc(t: Tensor) -> tuple[int, int, int, int]:
    if len(t.shape) != 4:
        raise UnsupportedModelError(f"expects a 4-D NHWC tensor, got shape {list(t.shape)}")
    return tuple(t.shape)  # type: ignore[return-value]


def _same_padding(padding: str, stride: int, dilation: int, in_size: int, k: int,
                  out_size: int) -> int:
    """ComputePaddingWithOffset: TFLite puts the odd pixel after, so before = total // 2."""
    eff = (k - 1) * dilation + 1
    total = max((out_size - 1) * stride + eff - in_size, 0)
    return total // 2


def _out_size(padding: str, in_size: int, k: int, stride: int, dilation: int) -> int:
    """ComputeOutSize (tensorflow/lite/kernels/padding.h): SAME ceil(in / stride), VALID
    (in + stride - effective filter) / stride; the effective filter is (k - 1) * dilation + 1."""
    eff = (k - 1) * dilation + 1
    return (in_size + stride - 1) // stride if padding == "SAME" else (in_size + stride - eff) // stride


def _act(op: Operator, out: Tensor) -> tuple[int, int]:
    try:
        return q.activation_range(op.options.get("FusedActivationFunction", "NONE"),
                                  out.quant.scale, out.quant.zero_point)
    except ValueError as e:        # an activation enum this generator does not know
        raise UnsupportedModelError(str(e)) from None


def _channel_quant(graph, op, x, w, y, out_c):
    scales = w.quant.scales if w.quant.per_channel else np.repeat(w.quant.scales, out_c)
    if len(scales) != out_c:
        raise UnsupportedModelError(f"{len(scales)} filter scales for {out_c} output channels")
    pairs = q.conv_channel_multipliers(x.quant.scale, scales, y.quant.scale)
    worst = max((s for _, s in pairs), default=0)
    if worst > 30:   # as lowering._check_shifts, before any kernel encodes the shift
        raise UnsupportedModelError(
            f"its requantization multiplier is about 2^{worst} (activation scales '{x.name}' "
            f"{x.quant.scale:.3g}, '{y.name}' {y.quant.scale:.3g}): TFLite's integer arithmetic "
            "overflows for 2^31 and more; re-quantize the model with a representative dataset "
            "that gives realistic scales")
    mult = np.array([m for m, _ in pairs], np.int32)
    shift = np.array([s for _, s in pairs], np.int32)
    n = op.index
    return ConstArray(f"op{n}_multiplier", "int32_t", mult), ConstArray(f"op{n}_shift", "int32_t", shift)


def _bias(graph, op, out_c) -> np.ndarray:
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        b = _t(graph, op.inputs[2]).data
        if b is None or b.dtype != np.int32:
            raise UnsupportedModelError("bias must be a constant int32 tensor")
        return b.astype(np.int64).reshape(-1)
    return np.zeros(out_c, np.int64)


def _require_int8(*tensors: Tensor) -> None:
    for t in tensors:
        if t.dtype != "int8" or t.quant is None:
            raise UnsupportedModelError(f"tensor '{t.name}' is {t.dtype}, expected quantized int8")


def _same_quant(x: Tensor, y: Tensor) -> None:
    _require_int8(x, y)
    if x.quant.scale != y.quant.scale or x.quant.zero_point != y.quant.zero_point:
        raise UnsupportedModelError(f"'{y.name}' is quantized differently from its input "
                                    "(a copy cannot requantize); re-convert the model")


def _const_ints(graph, idx: int, what: str) -> list[int]:
    v = _t(graph, idx).data
    if v is None:
        raise UnsupportedModelError(f"{what} must be constant")
    return [int(a) for a in np.asarray(v).reshape(-1)]


def _operand(graph, op, t, name):
    """An elementwise operand: an arena tensor, or a constant copied into flash."""
    if t.is_constant:
        c = ConstArray(f"op{op.index}_{name}", "int8_t", np.asarray(t.data, np.int8).reshape(-1))
        return ("const", c), [c], []
    return ("in", t.index), [], [t.index]
