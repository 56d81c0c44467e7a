"""Unary int8 operators computed as a 256-entry table on the host: HARD_SWISH, LOGISTIC,
RSQRT, GELU, EXP, LOG, ABS, SQRT and LUT (a float island DEQUANTIZE -> op -> QUANTIZE folded by the
passes)."""
from __future__ import annotations

from .. import quantization as q
from ..errors import UnsupportedModelError
from .common import _require_int8, _t
from .registry import INT8, ConstArray, OpRecord, Step, register_kernel, register_op
from .shapes import same_as_input

register_kernel("mcuf_lut_s8", weight_layout="int8 [256], indexed by input + 128", family="tables")


_TABLES = {"HARD_SWISH": q.hard_swish_table, "LOGISTIC": q.logistic_table, "RSQRT": q.rsqrt_table,
           "EXP": q.exp_table, "LOG": q.log_table, "ABS": q.abs_table, "SQRT": q.sqrt_table}


def _gelu_table(op):
    """GeluOptions.approximate chooses the formula (a bool, default false)."""
    approximate = op.options.get("Approximate", False)
    if not isinstance(approximate, (bool, int)):
        raise ValueError(f"GELU option approximate {approximate!r} is not a bool; re-convert the model")
    return lambda *quant: q.gelu_table(*quant, approximate=bool(approximate))


def lower_table(graph, op, kernels: str = "reference") -> Step:
    """Unary int8 ops (HARD_SWISH, LOGISTIC, RSQRT, GELU, EXP, LOG, ABS, SQRT, folded float
    islands): TFLite's result for each of the 256 inputs, computed here (codegen/quantization.py
    cites each op's TFLite source); the device does one lookup per element.
    UnsupportedModelError where TFLite's own arithmetic is undefined or refuses the model."""
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _require_int8(x, y)
    if op.type == "LUT":
        table = op.options["_table"]
    else:
        try:
            make = _gelu_table(op) if op.type == "GELU" else _TABLES[op.type]
            table = make(x.quant.scale, x.quant.zero_point, y.quant.scale, y.quant.zero_point)
        except ValueError as e:
            raise UnsupportedModelError(f"{e} (tensor '{y.name}')") from None
    t = ConstArray(f"op{op.index}_table", "int8_t", table)
    return Step(op, "mcuf_lut_s8", "mcuf_lut_params", dict(size=y.size),
                [("in", x.index), ("const", t), ("out", y.index)], [x.index], y.index, 0, [t])


for _name in ("HARD_SWISH", "LOGISTIC", "RSQRT", "GELU", "EXP", "LOG", "ABS", "SQRT"):
    register_op(OpRecord(_name, (1, 1), (INT8,), same_as_input, lower_table, family="tables"))
register_op(OpRecord("LUT", (1, 1), (INT8,), same_as_input, lower_table,
                     listed_as=("DEQUANTIZE->NEG->QUANTIZE",), family="tables"))
