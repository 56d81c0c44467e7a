"""Reads a .tflite flatbuffer (through the `tflite` schema package) into the graph IR."""
from __future__ import annotations

import contextlib
import hashlib
import os
import stat
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
    """The SHA-256 of the file's bytes as 64 hex digits (what the manifest and the HIL INFO carry).
    Raises OSError when the file cannot be read."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_model(path: str | Path) -> Graph:
    """The Graph of a .tflite file (tensors with shapes, dtypes, quantization and constant data;
    operators with their options). Raises ModelFormatError (one line naming the file and the fix)
    for an unreadable, oversized (> 2 GiB), non-TFLite or damaged file."""
    path = Path(path)
    try:
        with open_for_reading(path) as f:
            # the identifier first, then at most a flatbuffer's 2 GiB: a device or a pipe
            # (/dev/zero, /dev/urandom) is refused at once instead of read forever
            buf = f.read(8)
            st = os.fstat(f.fileno())
            # a file's size is known: refused unread (a 3 GB file took 4 GB of RAM to refuse)
            too_big = stat.S_ISREG(st.st_mode) and st.st_size > _MAX_FLATBUFFER
            if len(buf) == 8 and buf[4:8] == b"TFL3" and not too_big:
                buf += f.read(_MAX_FLATBUFFER - 8 + 1)
    except OSError as e:
        raise ModelFormatError(f"cannot read {path}: {e.strerror}; {_read_fix(path, e)}") from None
    if too_big or len(buf) > _MAX_FLATBUFFER:
        raise ModelFormatError(f"{path} is larger than 2 GiB, the most a TFLite flatbuffer can hold; "
                               "pass the .tflite file written by the TFLite converter")
    return parse_model(buf, str(path))


def _read_fix(path: Path, e: OSError) -> str:
    """What to do about a model path that cannot be opened: a folder names the .tflite files in
    it (the user meant one of them), a missing file its folder's, else check the permissions."""
    import errno
    if e.errno == errno.EISDIR or path.is_dir():
        found = sorted(p.name for p in path.glob("*.tflite"))[:3]
        return ("give the .tflite file, not its folder" +
                (f" (in it: {', '.join(found)})" if found else ""))
    if e.errno == errno.ENOENT:
        return "check the path (a .tflite file the TFLite converter wrote)"
    if e.errno == errno.EACCES:
        return "check its permissions (`ls -l`)"
    return "check the path"


_MAX_FLATBUFFER = 2**31 - 1   # flatbuffers' offsets are 32-bit signed


def open_for_reading(path: str | Path):
    """`open(path, "rb")` that cannot block in open(): a named pipe (FIFO) nobody writes to
    made open() wait forever (`codegen emit fifo`, `runtime classify --labels fifo`). It is
    opened non-blocking, then reads block as usual: a pipe without a writer reads as empty.
    Raises OSError as open() does."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def parse_model(buf: bytes, name: str = "model") -> Graph:
    """read_model on bytes already in memory; `name` is the file named in error lines. Raises
    ModelFormatError when buf lacks the 'TFL3' identifier or its flatbuffer is damaged."""
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelFormatError(
            f"{name} is not a TFLite model (no 'TFL3' flatbuffer identifier); "
            "pass the .tflite file written by the TFLite converter")
    try:
        with _verified_reads():
            graph = _parse(buf)
            model = tflite.Model.GetRootAsModel(buf, 0)
            model.Description()
            for k in range(model.SubgraphsLength()):   # TFLite verifies every subgraph, all of it
                _touch_subgraph(model.Subgraphs(k))
        return graph
    except ModelFormatError:
        raise
    except Exception as e:  # a damaged flatbuffer fails anywhere inside the generated reader
        why = (f"an offset points past its end ({type(e).__module__}.{type(e).__name__})"
               if isinstance(e, (struct.error, IndexError)) else str(e) if isinstance(e, _Unverifiable)
               else f"reading it failed with {type(e).__name__}")
        raise ModelFormatError(
            f"{name} is corrupt or truncated ({len(buf):,} bytes; {why}); re-export it from the converter") from None


class _Unverifiable(Exception):
    """A table or string the flatbuffers Verifier (TFLite's VerifyAndBuildFromBuffer) refuses."""


@contextlib.contextmanager
def _verified_reads():
    """While parsing: every table's vtable and every string the generated reader touches is
    checked as flatbuffers' Verifier checks it (TFLite refuses such a file: "The model is not a
    valid Flatbuffer buffer"); the reader alone sliced a string's length past the end, or took a
    vtable of odd size 127, and compiled the model (attack7, fuzzed hostile models)."""
    from flatbuffers import encode
    from flatbuffers import number_types as N
    from flatbuffers.table import Table
    offset, string = Table.Offset, Table.String

    def get(fmt, buf, at, size):
        if at < 0 or at + size > len(buf):
            raise _Unverifiable(f"an offset points past its end (byte {at})")
        return encode.Get(fmt.packer_type, buf, at)

    def checked_offset(self, slot):
        buf, pos = self.Bytes, self.Pos
        if pos % 4:
            raise _Unverifiable(f"a table at byte {pos} is not 4-byte aligned")
        vtable = pos - get(N.SOffsetTFlags, buf, pos, 4)
        if vtable % 2:
            raise _Unverifiable(f"the vtable of the table at byte {pos} is not 2-byte aligned")
        vlen, olen = get(N.VOffsetTFlags, buf, vtable, 2), get(N.VOffsetTFlags, buf, vtable + 2, 2)
        if vlen < 4 or vlen % 2 or vtable + vlen > len(buf) or olen < 4 or pos + olen > len(buf):
            raise _Unverifiable(f"the table at byte {pos} has a vtable of {vlen} bytes for {olen} "
                                "bytes of fields, outside the file or not a valid size")
        if slot < vlen:
            field = get(N.VOffsetTFlags, buf, vtable + slot, 2)
            if field >= olen:
                raise _Unverifiable(f"a field of the table at byte {pos} lies outside its {olen} bytes")
            return field
        return 0

    def checked_string(self, off):
        buf = self.Bytes
        at = off + get(N.UOffsetTFlags, buf, off, 4)
        length = get(N.UOffsetTFlags, buf, at, 4)
        end = at + 4 + length
        if at % 4 or end >= len(buf) or buf[end] != 0:
            raise _Unverifiable(f"a string at byte {at} of {length} bytes runs past the end or is not "
                                "zero-terminated")
        return bytes(buf[at + 4:end])

    Table.Offset, Table.String = checked_offset, checked_string
    try:
        yield
    finally:
        Table.Offset, Table.String = offset, string


def _touch_subgraph(sg) -> None:
    """Reads every table and string of a subgraph the generator does not compile (TFLite
    verifies them all): raises on a damaged one."""
    sg.Name()
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        t.Name(), t.ShapeAsNumpy() if t.ShapeLength() else None, t.Buffer(), t.Type()
        q = t.Quantization()
        if q is not None:
            q.ScaleLength(), q.ZeroPointLength(), q.QuantizedDimension()
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        op.OpcodeIndex(), op.InputsLength(), op.OutputsLength(), op.BuiltinOptionsType()
    sg.InputsLength(), sg.OutputsLength()


def _parse(buf: bytes) -> Graph:
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() < 1:
        raise ModelFormatError("the model has no subgraph (no operators, no tensors): re-export the model "
                               "from the converter")
    if model.Version() != 3:   # TFLite's interpreter refuses any other (TFLITE_SCHEMA_VERSION; trial9: compiled)
        raise ModelFormatError(f"the model is in TFLite schema version {model.Version()}, TFLite and mcuforge "
                               "read version 3: re-export the model from the converter")
    sg = model.Subgraphs(0)
    opcodes, versions = [], []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = _builtin_code(oc)
        opcodes.append(_OP_NAMES.get(code, f"CUSTOM:{oc.CustomCode()!r}" if code == 32 else f"OP_{code}"))
        versions.append(int(oc.Version()))

    tensors: dict[int, Tensor] = {}
    problems: list[str] = []
    bad_constants: set[int] = set()
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        type_name = _TYPE_NAMES.get(t.Type(), f"TYPE_{t.Type()}")
        dtype = _DTYPES.get(type_name, type_name.lower())
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        q = t.Quantization()
        quant = None
        if q is not None and q.ScaleLength() > 0:
            # kept as stored: TFLite refuses scales without as many zero points (validate.py
            # names it); filling in zeros gave C that differs from TFLite Micro (attack5)
            zps = q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(0, np.int64)
            quant = Quantization(np.asarray(q.ScaleAsNumpy(), np.float32),
                                 np.asarray(zps, np.int64), int(q.QuantizedDimension()))
        name = (t.Name() or b"").decode("utf-8", "replace")   # optional in the schema, as in TFLite
        try:
            data = _buffer_data(model, buf, t.Buffer(), dtype, shape)
        except _SizeMismatch as e:     # collected: validate.py reports every such tensor
            data = None
            bad_constants.add(i)
            problems.append(f"tensor {i} '{name}' has a constant buffer of {e.args[0]} values but its "
                            f"shape {list(shape)} needs {e.args[1]}: re-export the model from the converter")
        except _Unreadable as e:       # was: one line naming no tensor, or "read before written"
            data = None
            bad_constants.add(i)
            problems.append(f"tensor {i} '{name}' {e.args[0]}")
        ext = _external_buffer(t)
        if ext:      # schema field 10, newer than the `tflite` package's reader (attack5: was ignored)
            problems.append(f"tensor {i} '{name}' keeps its data in external buffer {ext}, outside the "
                            ".tflite file; mcuforge reads the weights from the model file: re-export the model "
                            "with its weights inside")
            bad_constants.add(i)
        if t.IsVariable() and data is not None:   # interpreter_builder.cc refuses it
            problems.append(f"tensor {i} '{name}' is a variable tensor with a constant buffer, which TFLite "
                            f"refuses: re-export the model from the converter")
        sig = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else None
        tensors[i] = Tensor(i, name, shape, dtype, quant, data, sig)

    operators, op_codes = [], []
    wrong_options: dict[int, tuple[str, str]] = {}
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        idx = op.OpcodeIndex()
        if idx >= len(opcodes):
            raise ModelFormatError(f"operator {i} refers to opcode {idx}, which does not exist (the model has "
                                   f"{len(opcodes)}): re-export the model from the converter")
        op_codes.append(idx)
        options, wrong = _options(op, opcodes[idx])
        if wrong:                      # validate.py names it (after the structure checks)
            wrong_options[i] = wrong
        operators.append(Operator(
            index=i, type=opcodes[idx],
            inputs=[int(x) for x in op.InputsAsNumpy()] if op.InputsLength() else [],
            outputs=[int(x) for x in op.OutputsAsNumpy()] if op.OutputsLength() else [],
            options=options))

    problems += _version_problems(opcodes, versions, op_codes, operators, tensors)
    desc = model.Description().decode("utf-8", "replace") if model.Description() else ""
    graph = Graph(tensors, operators, [int(x) for x in sg.InputsAsNumpy()] if sg.InputsLength() else [],
                  [int(x) for x in sg.OutputsAsNumpy()] if sg.OutputsLength() else [], desc)
    graph.problems = problems
    graph.wrong_options = wrong_options
    graph.bad_constants = bad_constants
    return graph


def _version_problems(opcodes, versions, op_codes, operators, tensors) -> list[str]:
    """One line per operator code whose version TFLite's reference resolver does not register
    (codegen/op_versions.py), naming the first operator that uses it, its output tensor and how
    many more use it; codes no operator uses are named too (TFLite refuses those as well).
    op_codes[i]: operator i's opcode index."""
    from .op_versions import version_problem
    lines = []
    for j, name in enumerate(opcodes):
        users = [op for op, k in zip(operators, op_codes) if k == j]
        if not users:
            where = f"operator code {j} ({name}, used by no operator)"
        else:
            op = users[0]
            out = op.outputs[0] if op.outputs else None
            t = tensors.get(out) if out is not None else None
            where = f"op #{op.index} {name}" + (f", output tensor {out} '{t.name}'" if t is not None else "")
            if len(users) > 1:
                where += f" (and {len(users) - 1} more {name}: " + ", ".join(f"#{u.index}" for u in users[1:6]) \
                    + (", ..." if len(users) > 6 else "") + ")"
        p = version_problem(name, versions[j], where)
        if p:
            lines.append(p)
    return lines


def _builtin_code(oc) -> int:
    """The operator code TFLite runs: max(builtin_code, deprecated_builtin_code), as
    tflite::GetBuiltinCode (schema_utils.cc) takes it. The `tflite` package's BuiltinCode()
    returns deprecated_builtin_code whenever builtin_code < 127, so a file whose two fields
    disagree (builtin_code 32 = CUSTOM, or 22 = RESHAPE, beside a deprecated 9 =
    FULLY_CONNECTED) was compiled as the deprecated operator while TFLite runs the other (trial9)."""
    from flatbuffers import number_types as N
    o = oc._tab.Offset(10)
    raw = oc._tab.Get(N.Int32Flags, o + oc._tab.Pos) if o else 0
    return max(int(raw), int(oc.DeprecatedBuiltinCode()))


def _external_buffer(t) -> int:
    """Tensor.external_buffer (schema.fbs field 10, vtable slot 24), 0 when absent."""
    import flatbuffers
    o = t._tab.Offset(24)
    return int(t._tab.Get(flatbuffers.number_types.Uint32Flags, o + t._tab.Pos)) if o else 0


class _SizeMismatch(Exception):
    """(values in the buffer, values the shape needs)"""


class _Unreadable(Exception):
    """(what is wrong with the tensor's constant data, and the fix)"""


def _buffer_data(model, buf: bytes, index: int, dtype: str, shape) -> np.ndarray | None:
    if index >= model.BuffersLength() and index != 0:   # interpreter_builder.cc refuses it (trial9:
        raise _Unreadable(f"names buffer {index:,}, but the model has {model.BuffersLength()} "   # compiled)
                          "buffers: the file is damaged; re-export the model from the converter")
    if index <= 0 or index >= model.BuffersLength():
        return None
    b = model.Buffers(index)
    if b.Offset() > 1:  # large models keep data after the flatbuffer
        start, size = b.Offset(), b.Size()
        if start + size > len(buf):
            raise _Unreadable(f"has its data in buffer {index} at offset {start:,}, {size:,} bytes, past the end "
                              f"of the file ({len(buf):,} bytes): the file is truncated or damaged; "
                              "re-export the model from the converter")
        raw = buf[start:start + size]
    elif b.DataLength() > 0:
        raw = b.DataAsNumpy().tobytes()
    else:
        return None
    try:
        item = np.dtype(dtype).itemsize
    except TypeError:
        raise _Unreadable(f"holds constant {dtype} data, which mcuforge cannot read (int8 weights, int32 "
                          "biases): convert with full-integer int8 quantization") from None
    count = 1
    for d in shape:
        count *= int(d)                # Python integers: no wrap-around on hostile shapes
    if len(raw) % item or len(raw) // item != count:
        raise _SizeMismatch(len(raw) / item if len(raw) % item else len(raw) // item, count)
    return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()


# the options table TFLite's parser reads for an operator (flatbuffer_conversions.cc:
# op->builtin_options_as_<Table>()), where it is not the operator's name + "Options"
_OPTIONS_OF = {"AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions",
               "L2_POOL_2D": "Pool2DOptions", "MEAN": "ReducerOptions", "SUM": "ReducerOptions",
               "REDUCE_MAX": "ReducerOptions", "REDUCE_MIN": "ReducerOptions",
               "REDUCE_PROD": "ReducerOptions", "REDUCE_ANY": "ReducerOptions",
               "BATCH_MATMUL": "BatchMatMulOptions", "PADV2": "PadV2Options",
               "MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions"}


def _expected_options(op_type: str) -> str | None:
    name = _OPTIONS_OF.get(op_type)
    if name is None:
        name = "".join(p.capitalize() if not p[0].isdigit() else p.upper() for p in op_type.split("_") if p) + "Options"
    return name if hasattr(tflite.BuiltinOptions, name) and hasattr(tflite, name) else None


def _fields(cls) -> list[str]:
    return [a for a in dir(cls) if not (a.startswith(("_", "Init", "GetRootAs"))
                                        or a.endswith(("Length", "IsNone", "AsNumpy", "BufferHasIdentifier"))
                                        or not a[0].isupper())]


def _options(op, op_type: str = "") -> tuple[dict, tuple[str, str] | None]:
    """All scalar and vector fields of the operator's builtin options table, by name, and
    (stored, expected) table names when the table is not the one TFLite reads for op_type.
    No table (or another operator's): TFLite's parser leaves every parameter 0 (its params
    struct value-initialized), so the fields of the expected table are given as 0 / [] here,
    not the schema's defaults (stride 1, beta 1.0...) an empty table would read as."""
    kind = op.BuiltinOptionsType()
    table = op.BuiltinOptions()
    name = _OPTION_CLASSES.get(kind)
    expected = _expected_options(op_type) if op_type else None
    if expected is not None and (not kind or table is None or name != expected):
        cls = getattr(tflite, expected)
        zeros = {a: ([] if hasattr(cls, a + "AsNumpy") else _ENUMS[a].get(0, 0) if a in _ENUMS else 0)
                 for a in _fields(cls)}
        return zeros, ((name or f"type {kind}", expected) if kind and name != expected else None)
    if not kind or table is None or name is None or not hasattr(tflite, name):
        return {}, None
    cls = getattr(tflite, name)
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    out = {}
    for attr in _fields(cls):
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
    return out, None
