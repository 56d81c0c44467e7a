"""Structure-only records: operators the generator never lowers itself, which the passes fold or
replace (codegen/passes.py) or which only pass through validation on their way to an
"unsupported" line. Their record gives what codegen/validate.py checks before any pass runs:
the arity TFLite's kernel Prepare() enforces (NumInputs / NumOutputs) and the inputs it lets be
omitted (-1). No shape function (infer_shape None: never shape-checked), no lowering."""
from __future__ import annotations

from .data_movement import ANY, lower_pack, pack_shape
from .registry import OpRecord, register_op

F = "folded"

# shape.cc: the int32 shape arithmetic of Keras' dynamic reshape, folded to constants by
# passes._FOLDERS (so is PACK's, pack.cc; an int8 PACK is lowered: data_movement.lower_pack)
register_op(OpRecord("SHAPE", (1, 1), (ANY,), None, None, output_dtypes=ANY, family=F))
register_op(OpRecord("PACK", (1, -1), (ANY,), pack_shape, lower_pack, output_dtypes=ANY, family="data_movement"))
# dequantize.cc, neg.cc: float islands (DEQUANTIZE -> NEG -> QUANTIZE) folded into a table
# (passes.fold_float_islands), or the float edges of the graph (io_edges.py)
register_op(OpRecord("DEQUANTIZE", (1, 1), (ANY,), None, None, output_dtypes=ANY, family=F))
register_op(OpRecord("NEG", (1, 1), (ANY,), None, None, output_dtypes=ANY, family=F))
# transpose_conv.cc: 3 inputs, or 4 with the bias, which may be omitted (-1); not compiled
register_op(OpRecord("TRANSPOSE_CONV", (3, 4), (ANY,), None, None, optional=(3,), output_dtypes=ANY, family=F))
