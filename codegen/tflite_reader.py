"""Reads a .tflite flatbuffer (through the `tflite` schema package) into the graph IR."""
from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import tflite

from .errors import ModelFormatError
from .graph import Graph, Operator, Quantization, Tensor

_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_OPTION_CLASSES = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
_ENUMS = {
    "FusedActivationFunction": {v: k for k, v in vars(tflite.ActivationFunctionType).items()
                                if not k.startswith("_")},
    "Padding": {v: k for k, v in vars(tflite.Padding).items() if not k.startswith("_")},
}
_DTYPES = {"FLOAT32": "float32", "FLOAT16": "float16", "INT32": "int32", "UINT8": "uint8",
           "INT64": "int64", "BOOL": "bool", "INT16": "int16", "INT8": "int8",
           "FLOAT64": "float64", "UINT32": "uint32", "UINT16": "uint16"}


def model_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_model(path: str | Path) -> Graph:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            # the identifier first, then at most a flatbuffer's 2 GiB: a device or a pipe
            # (/dev/zero, /dev/urandom) is refused at once instead of read forever
            buf = f.read(8)
            if len(buf) == 8 and buf[4:8] == b"TFL3":
                buf += f.read(_MAX_FLATBUFFER - 8 + 1)
    except OSError as e:
        raise ModelFormatError(f"cannot read {path}: {e.strerror}") from None
    if len(buf) > _MAX_FLATBUFFER:
        raise ModelFormatError(f"{path} is larger than 2 GiB, the most a TFLite flatbuffer can hold; "
                               "pass the .tflite file written by the TFLite converter")
    return parse_model(buf, str(path))


_MAX_FLATBUFFER = 2**31 - 1   # flatbuffers' offsets are 32-bit signed


def parse_model(buf: bytes, name: str = "model") -> Graph:
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelFormatError(
            f"{name} is not a TFLite model (no 'TFL3' flatbuffer identifier); "
            "pass the .tflite file written by the TFLite converter")
    try:
        return _parse(buf)
    except ModelFormatError:
        raise
    except Exception as e:  # a damaged flatbuffer fails anywhere inside the generated reader
        why = (f"an offset points past its end ({type(e).__module__}.{type(e).__name__})"
               if isinstance(e, (struct.error, IndexError)) else f"reading it failed with {type(e).__name__}")
        raise ModelFormatError(
            f"{name} is corrupt or truncated ({len(buf):,} bytes; {why}); re-export it from the converter") from None


def _parse(buf: bytes) -> Graph:
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() < 1:
        raise ModelFormatError("model has no subgraph")
    sg = model.Subgraphs(0)
    opcodes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        opcodes.append(_OP_NAMES.get(code, f"CUSTOM:{oc.CustomCode()!r}" if code == 32 else f"OP_{code}"))

    tensors: dict[int, Tensor] = {}
    problems: list[str] = []
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        type_name = _TYPE_NAMES.get(t.Type(), f"TYPE_{t.Type()}")
        dtype = _DTYPES.get(type_name, type_name.lower())
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        q = t.Quantization()
        quant = None
        if q is not None and q.ScaleLength() > 0:
            zps = q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(q.ScaleLength())
            quant = Quantization(np.asarray(q.ScaleAsNumpy(), np.float32),
                                 np.asarray(zps, np.int64), int(q.QuantizedDimension()))
        name = t.Name().decode("utf-8", "replace")
        try:
            data = _buffer_data(model, buf, t.Buffer(), dtype, shape)
        except _SizeMismatch as e:     # collected: validate.py reports every such tensor
            data = None
            problems.append(f"tensor {i} '{name}' has a constant buffer of {e.args[0]} values but its "
                            f"shape {list(shape)} needs {e.args[1]}: re-export the model from the converter")
        sig = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else None
        tensors[i] = Tensor(i, name, shape, dtype, quant, data, sig)

    operators = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        idx = op.OpcodeIndex()
        if idx >= len(opcodes):
            raise ModelFormatError(f"operator {i} refers to opcode {idx}, which does not exist")
        operators.append(Operator(
            index=i, type=opcodes[idx],
            inputs=[int(x) for x in op.InputsAsNumpy()] if op.InputsLength() else [],
            outputs=[int(x) for x in op.OutputsAsNumpy()] if op.OutputsLength() else [],
            options=_options(op)))

    desc = model.Description().decode("utf-8", "replace") if model.Description() else ""
    graph = Graph(tensors, operators, [int(x) for x in sg.InputsAsNumpy()] if sg.InputsLength() else [],
                  [int(x) for x in sg.OutputsAsNumpy()] if sg.OutputsLength() else [], desc)
    graph.problems = problems
    return graph


class _SizeMismatch(Exception):
    """(values in the buffer, values the shape needs)"""


def _buffer_data(model, buf: bytes, index: int, dtype: str, shape) -> np.ndarray | None:
    if index <= 0 or index >= model.BuffersLength():
        return None
    b = model.Buffers(index)
    if b.Offset() > 1:  # large models keep data after the flatbuffer
        start, size = b.Offset(), b.Size()
        if start + size > len(buf):
            raise ModelFormatError("a weight buffer points past the end of the file (truncated?)")
        raw = buf[start:start + size]
    elif b.DataLength() > 0:
        raw = b.DataAsNumpy().tobytes()
    else:
        return None
    try:
        item = np.dtype(dtype).itemsize
    except TypeError:
        return None
    count = 1
    for d in shape:
        count *= int(d)                # Python integers: no wrap-around on hostile shapes
    if len(raw) % item or len(raw) // item != count:
        raise _SizeMismatch(len(raw) / item if len(raw) % item else len(raw) // item, count)
    return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()


def _options(op) -> dict:
    """All scalar and vector fields of the operator's builtin options table, by name."""
    kind = op.BuiltinOptionsType()
    table = op.BuiltinOptions()
    name = _OPTION_CLASSES.get(kind)
    if not kind or table is None or name is None or not hasattr(tflite, name):
        return {}
    cls = getattr(tflite, name)
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    out = {}
    for attr in dir(cls):
        if (attr.startswith(("_", "Init", "GetRootAs")) or attr.endswith(("Length", "IsNone", "AsNumpy"))
                or not attr[0].isupper()):
            continue
        fn = getattr(opts, attr)
        if hasattr(opts, attr + "AsNumpy"):
            n = getattr(opts, attr + "Length")()
            out[attr] = [int(v) for v in getattr(opts, attr + "AsNumpy")()] if n else []
            continue
        try:
            value = fn()
        except TypeError:
            continue
        out[attr] = _ENUMS[attr].get(value, value) if attr in _ENUMS else value
    return out
