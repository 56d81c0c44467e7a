"""Kernels and lowerings of legacy uint8 graphs (the pass is codegen/legacy_uint8.py):
CONV_2D / DEPTHWISE_CONV_2D whose weights keep a zero point (the _wzp kernels: filter_offset
added per tap, as TFLite's uint8 reference_ops::Conv / DepthwiseConv), FULLY_CONNECTED and
the convolutions with TFLite's uint8 multiplier, AVERAGE_POOL_2D with uint8 rounding."""
from __future__ import annotations

import numpy as np

from .. import quantization as q
from ..errors import UnsupportedModelError
from ..graph import Graph, Operator, Tensor
from .common import _bias, _t
from .convolution import _conv_common
from .fully_connected import lower_fully_connected
from .pooling import lower_pool
from .registry import ConstArray, Step, register_kernel

F = "legacy_uint8"
register_kernel("mcuf_conv_wzp_s8", weight_layout="int8 [OC][KH][KW][IC] (uint8 - 128)", family=F)
register_kernel("mcuf_depthwise_conv_wzp_s8", weight_layout="int8 [1][KH][KW][OC] (uint8 - 128)", family=F)
register_kernel("mcuf_avgpool_u8", family=F)


def _uint8_multiplier(x: Tensor, w: Tensor, y: Tensor) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler as TFLite's uint8 CONV_2D, DEPTHWISE_CONV_2D and
    FULLY_CONNECTED compute it: the input and filter scales multiplied in float32, then
    divided by the output scale in double (measured: the int8 per-channel form, all in
    double, gives a multiplier 5 units lower in the last place on a MobileNet layer, and
    1-LSB differences)."""
    if w.quant.per_channel and len(np.unique(w.quant.scales)) > 1:
        raise UnsupportedModelError(f"uint8 filter '{w.name}' with per-channel scales")
    f32 = np.float32
    real = float(f32(f32(x.quant.scale) * f32(w.quant.scales[0]))) / float(f32(y.quant.scale))
    return q.quantize_multiplier(real)


def lower_legacy(graph: Graph, op: Operator, kernels: str):
    """A Step for a `_legacy_uint8` operator that needs a uint8 variant, else None (the
    int8 lowering is then exact on the shifted values)."""
    if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        depthwise = op.type == "DEPTHWISE_CONV_2D"
        x, w, y, p, mult, shift = _conv_common(graph, op, depthwise=depthwise)
        if not depthwise and (p["in_c"] != p["filter_in_c"]):
            raise UnsupportedModelError("grouped uint8 convolution")
        if depthwise and p["out_c"] % p["in_c"]:
            raise UnsupportedModelError("output channels are not a multiple of input channels")
        zps = np.unique(w.quant.zero_points)
        if len(zps) != 1:
            raise UnsupportedModelError(f"filter '{w.name}' has per-channel zero points")
        p["filter_offset"] = -int(zps[0])
        n = op.index
        rows = w.data.reshape(-1) if depthwise else w.data.reshape(p["out_c"], -1).reshape(-1)
        filt = ConstArray(f"op{n}_filter", "int8_t", rows)
        b = ConstArray(f"op{n}_bias", "int32_t", _bias(graph, op, p["out_c"]).astype(np.int32))
        taps = p["k_h"] * p["k_w"] * (1 if depthwise else p["filter_in_c"])
        kernel = "mcuf_depthwise_conv_wzp_s8" if depthwise else "mcuf_conv_wzp_s8"
        mult.values[:], shift.values[:] = _uint8_multiplier(x, w, y)
        return Step(op, kernel, "mcuf_conv_params", p,
                      [("in", x.index), ("const", filt), ("const", b), ("const", mult),
                       ("const", shift), ("out", y.index)], [x.index], y.index,
                      p["out_h"] * p["out_w"] * p["out_c"] * taps, [filt, b, mult, shift])
    if op.type == "FULLY_CONNECTED":
        step = lower_fully_connected(graph, op, kernels)
        x, w, y = (_t(graph, i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        mult, shift = step.consts[2], step.consts[3]
        mult.values[:], shift.values[:] = _uint8_multiplier(x, w, y)
        return step
    if op.type == "AVERAGE_POOL_2D":
        step = lower_pool(graph, op, kernels)
        step.kernel = "mcuf_avgpool_u8"
        return step
    return None
