"""FULLY_CONNECTED: shape rule and lowering to mcuf_fully_connected_s8."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedModelError
from ..graph import Graph, Operator
from .common import _act, _bias, _channel_quant, _require_int8, _t
from .registry import INT8, ConstArray, OpRecord, Step, register_kernel, register_op
from .shapes import ShapeError, fmt, input_shape


def fully_connected_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """fully_connected.cc Prepare: filter [units, depth], the input's element count a multiple
    of depth; output [input size / depth, units], or the input's dims with the last replaced
    by units when KeepNumDims is set."""
    x = input_shape(graph, op, 0)
    w = input_shape(graph, op, 1, 2, "filter")
    units, depth = w
    size = int(np.prod(x, dtype=np.int64))
    if size % depth:
        raise ShapeError(f"input {fmt(x)} ({size} elements) is not a multiple of the filter depth {depth}")
    if op.options.get("KeepNumDims", False):
        if not x or x[-1] != depth:
            raise ShapeError(f"KeepNumDims: input {fmt(x)}'s last dimension must be the filter depth {depth}")
        return [(*x[:-1], units)]
    return [(size // depth, units)]


register_kernel("mcuf_fully_connected_s8", weight_layout="int8 [units][depth]", family="fully_connected")


def fully_connected_s8_dsp_get_buffer_size(p: dict) -> int:
    """Two input rows widened to int16: 4 * D4 bytes, D4 = in_depth rounded up to 4."""
    return 4 * ((p["in_depth"] + 3) // 4 * 4)


register_kernel("mcuf_fully_connected_s8_dsp", scratch=fully_connected_s8_dsp_get_buffer_size,
                weight_layout="int8 rows padded to D4, unit pairs interleaved word by word "
                "(conv_dsp._interleave_pairs), folded bias", family="fully_connected")


def lower_fully_connected(graph, op, kernels: str = "reference") -> Step:
    x, w, y = _t(graph, op.inputs[0]), _t(graph, op.inputs[1]), _t(graph, op.outputs[0])
    _require_int8(x, w, y)
    if w.data is None or len(w.shape) != 2:
        raise UnsupportedModelError("filter must be a constant 2-D tensor")
    out_depth, in_depth = w.shape
    if x.size % in_depth:
        raise UnsupportedModelError("input size is not a multiple of the filter depth")
    mult, shift = _channel_quant(graph, op, x, w, y, out_depth)
    per_channel = w.quant.per_channel
    if not per_channel:
        mult.values, shift.values = mult.values[:1], shift.values[:1]
    act_min, act_max = _act(op, y)
    n = op.index
    filt = ConstArray(f"op{n}_filter", "int8_t", w.data.reshape(-1))
    b = ConstArray(f"op{n}_bias", "int32_t", _bias(graph, op, out_depth).astype(np.int32))
    # TFLite applies a per-tensor weight zero point (weights_offset); per-channel weights'
    # zero points are ignored by its per-channel kernel (checked against the reference)
    filter_offset = 0 if per_channel else -w.quant.zero_point
    p = dict(batches=x.size // in_depth, in_depth=in_depth, out_depth=out_depth,
             per_channel=int(per_channel), input_offset=-x.quant.zero_point,
             output_offset=y.quant.zero_point, act_min=act_min, act_max=act_max,
             filter_offset=filter_offset)
    # the Helium set has no FULLY_CONNECTED kernel: the DSP one (it runs on an M55 too) beats the
    # portable loop there (mobilevit_xxs_96_rgb on mps3-an547: 5.1M instructions fewer)
    if kernels in ("dsp", "mve") and filter_offset == 0:
        from .conv_dsp import _folded_bias, _interleave_pairs
        rows = w.data.reshape(out_depth, in_depth)
        folded = _folded_bias(b.values.astype(np.int64), p["input_offset"], rows)
        if folded is not None:
            d4 = (in_depth + 3) // 4 * 4
            padded = np.zeros((out_depth, d4), np.int8)
            padded[:, :in_depth] = rows
            fd = ConstArray(f"op{n}_filter", "int8_t", _interleave_pairs(padded))
            bf = ConstArray(f"op{n}_bias", "int32_t", folded)
            return Step(op, "mcuf_fully_connected_s8_dsp", "mcuf_fc_params", p,
                        [("in", x.index), ("const", fd), ("const", bf), ("const", mult), ("const", shift),
                         ("out", y.index), ("scratch",)], [x.index], y.index,
                        p["batches"] * in_depth * out_depth, [fd, bf, mult, shift])
    return Step(op, "mcuf_fully_connected_s8", "mcuf_fc_params", p,
                [("in", x.index), ("const", filt), ("const", b), ("const", mult), ("const", shift),
                 ("out", y.index)], [x.index], y.index, p["batches"] * in_depth * out_depth,
                [filt, b, mult, shift])


register_op(OpRecord("FULLY_CONNECTED", (2, 3), (INT8, INT8, ("int32",)), fully_connected_shape,
                     lower_fully_connected, optional=(2,), family="fully_connected", weights=(1, 2)))
