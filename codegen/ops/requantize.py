"""QUANTIZE (int8 -> int8) and RELU, RELU6, RELU_N1_TO_1: one requantization with a clamp."""
from __future__ import annotations

import numpy as np

from .. import quantization as q
from .common import _require_int8, _t
from . import mve
from .registry import INT8, ConstArray, OpRecord, Step, register_kernel, register_op
from .shapes import same_as_input

register_kernel("mcuf_requantize_s8", family="requantize")


def lower_requantize(graph, op, kernels: str = "reference") -> Step:
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _require_int8(x, y)
    f32 = np.float32
    # QuantizePrepare divides the scales as doubles; ReluPrepare (RELU, RELU6, RELU_N1_TO_1)
    # as floats (input->params.scale / output->params.scale), then widens the quotient
    real = (float(f32(x.quant.scale)) / float(f32(y.quant.scale)) if op.type == "QUANTIZE"
            else float(f32(x.quant.scale) / f32(y.quant.scale)))
    m, s = q.quantize_multiplier(real)
    act = {"QUANTIZE": "NONE", "RELU": "RELU", "RELU6": "RELU6", "RELU_N1_TO_1": "RELU_N1_TO_1"}[op.type]
    act_min, act_max = q.activation_range(act, y.quant.scale, y.quant.zero_point)
    p = dict(size=y.size, input_offset=-x.quant.zero_point, multiplier=m, shift=s,
             output_offset=y.quant.zero_point, act_min=act_min, act_max=act_max)
    if kernels == "dsp":   # a function of one int8: the reference arithmetic as a table
        table = np.array([min(max(q.multiply_by_quantized_multiplier(v + p["input_offset"], m, s)
                                  + p["output_offset"], act_min), act_max)
                          for v in range(-128, 128)], np.int8)
        t = ConstArray(f"op{op.index}_table", "int8_t", table)
        return Step(op, "mcuf_lut_s8", "mcuf_lut_params", dict(size=y.size),
                    [("in", x.index), ("const", t), ("out", y.index)], [x.index], y.index, 0, [t])
    step = Step(op, "mcuf_requantize_s8", "mcuf_requantize_params", p,
                [("in", x.index), ("out", y.index)], [x.index], y.index)
    return mve.retarget(step) if kernels == "mve" else step


for _name in ("QUANTIZE", "RELU", "RELU6", "RELU_N1_TO_1"):
    register_op(OpRecord(_name, (1, 1), (INT8,), same_as_input, lower_requantize, family="requantize"))
