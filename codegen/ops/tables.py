"""Unary int8 operators computed as a 256-entry table on the host: HARD_SWISH, LOGISTIC,
RSQRT and LUT (a float island DEQUANTIZE -> op -> QUANTIZE folded by the passes)."""
from __future__ import annotations

from .. import quantization as q
from ..errors import UnsupportedModelError
from .common import _require_int8, _t
from .registry import INT8, ConstArray, OpRecord, Step, register_kernel, register_op
from .shapes import same_as_input

register_kernel("mcuf_lut_s8", weight_layout="int8 [256], indexed by input + 128", family="tables")


_TABLES = {"HARD_SWISH": q.hard_swish_table, "LOGISTIC": q.logistic_table, "RSQRT": q.rsqrt_table}


def lower_table(graph, op, kernels: str = "reference") -> Step:
    """Unary int8 ops (HARD_SWISH, LOGISTIC, RSQRT, folded float islands): TFLite's result for
    each of the 256 inputs, computed here; the device does one lookup per element."""
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _require_int8(x, y)
    if op.type == "LUT":
        table = op.options["_table"]
    else:
        try:
            table = _TABLES[op.type](x.quant.scale, x.quant.zero_point, y.quant.scale, y.quant.zero_point)
        except ValueError as e:
            raise UnsupportedModelError(str(e)) from None
    t = ConstArray(f"op{op.index}_table", "int8_t", table)
    return Step(op, "mcuf_lut_s8", "mcuf_lut_params", dict(size=y.size),
                [("in", x.index), ("const", t), ("out", y.index)], [x.index], y.index, 0, [t])


for _name in ("HARD_SWISH", "LOGISTIC", "RSQRT"):
    register_op(OpRecord(_name, (1, 1), (INT8,), same_as_input, lower_table, family="tables"))
register_op(OpRecord("LUT", (1, 1), (INT8,), same_as_input, lower_table,
                     listed_as=("DEQUANTIZE->NEG->QUANTIZE",), family="tables"))
