"""The highest version of each builtin operator mcuforge compiles: the highest version TFLite's
reference op resolver registers (measured, not copied from a header).

An operator code's `version` (schema.fbs OperatorCode.version, default 1) is the converter's
statement of which features of the operator the model uses; a newer converter raises it when it
adds a feature (an option field, a tensor type). TFLite's InterpreterBuilder refuses a model
that names a version its resolver did not register ("Didn't find op for builtin opcode
'CONV_2D' version '1000'"), whether or not an operator uses the code; TFLite Micro ignores the
version. mcuforge follows TFLite: its oracle is TFLite's reference resolver (`BUILTIN_REF`),
an operator at a version that resolver does not know could carry fields this reader does not
read, and `codegen verify` could not check it.

MAX_VERSION[op] is the largest v for which ai-edge-litert 2.3.0's
`Interpreter(model_content=..., experimental_op_resolver_type=OpResolverType.BUILTIN_REF)`
accepts a model whose operator code is (op, v); every version from 1 to it is accepted, 0 and
negative versions are refused. `tests/test_op_versions.py` re-measures every entry (max
accepted, max + 1 refused) on the installed ai-edge-litert. The default (optimized) resolver
registers a few higher versions (DEPTHWISE_CONV_2D 7, SOFTMAX 4, STRIDED_SLICE 8, ADD 6, MUL 8,
TRANSPOSE 9, ...): features its reference kernels do not have, so not taken here.
"""
from __future__ import annotations

MAX_VERSION: dict[str, int] = {
    "ABS": 3, "ADD": 5, "AVERAGE_POOL_2D": 3, "BATCH_MATMUL": 4, "CONCATENATION": 7, "CONV_2D": 8,
    "DEPTHWISE_CONV_2D": 6, "DEPTH_TO_SPACE": 1, "DEQUANTIZE": 9, "EXP": 2, "EXPAND_DIMS": 1,
    "FULLY_CONNECTED": 14, "GATHER": 8, "GELU": 2, "HARD_SWISH": 1, "LEAKY_RELU": 2, "LOG": 2,
    "LOGISTIC": 3, "LOG_SOFTMAX": 2, "MAXIMUM": 4, "MAX_POOL_2D": 3, "MEAN": 3, "MINIMUM": 4,
    "MUL": 7, "NEG": 1, "PACK": 5, "PAD": 6, "PADV2": 6, "PRELU": 1, "QUANTIZE": 6,
    "REDUCE_MAX": 3, "RELU": 3, "RELU6": 3, "RELU_N1_TO_1": 1, "RESHAPE": 1, "RESIZE_BILINEAR": 4,
    "RESIZE_NEAREST_NEIGHBOR": 4, "RSQRT": 3, "SHAPE": 1, "SLICE": 8, "SOFTMAX": 3,
    "SPACE_TO_DEPTH": 2, "SPLIT": 5, "SPLIT_V": 3, "SQRT": 2, "SQUARED_DIFFERENCE": 2,
    "SQUEEZE": 1, "STRIDED_SLICE": 4, "SUB": 5, "TANH": 3, "TRANSPOSE": 8, "TRANSPOSE_CONV": 5,
    "UNPACK": 6,
}


def version_problem(op_name: str, version: int, where: str) -> str | None:
    """One line if TFLite's reference resolver refuses `op_name` at `version`, else None.

    where: who uses the code (e.g. "op #3 CONV_2D, output tensor 7 'conv1'"). Operators
    without an entry (custom codes, operators mcuforge does not compile) give None: they are
    refused as unsupported elsewhere."""
    top = MAX_VERSION.get(op_name)
    if top is None or 1 <= version <= top:
        return None
    if version < 1:
        return (f"{where}: {op_name} version {version}; operator versions start at 1 and TFLite refuses "
                "the model: the file is damaged; re-export the model from the converter")
    return (f"{where}: {op_name} version {version}, but TFLite's reference kernels know {op_name} "
            f"versions 1 to {top} (the version names a feature they lack, such as int4 weights; TFLite's "
            f"reference interpreter refuses the model, so mcuforge cannot check it): re-convert with int8 "
            f"weights and activations (full-integer quantization), which the converter writes as {op_name} "
            f"at most version {top}")
