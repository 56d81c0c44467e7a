"""Model fuzzer: mutated copies of every bundled fixture through `codegen inspect` and
`codegen emit` (default `--target host`; any target, kernel set and `--ram-limit`), and the emitted C of every accepted mutant run once under
AddressSanitizer + UBSan with the arena poisoned outside the running layer's buffers.

    python -m tests.fuzz_models --count 1000 --seed 1          # or --minutes 10
    python -m tests.fuzz_models --seed 1 --start 417 --count 1 --keep   # replay one mutant

A mutant is a pure function of (seed, index): `make_mutant(seed, index)` gives the same
bytes on every machine, so any finding is replayed by its index. Mutations:
- byte level: bit flips, truncations, overwritten 32-bit words;
- structure aware (the flatbuffer unpacked with the TFLite schema's object API from
  ai-edge-litert, edited, packed again): tensor shapes, types and buffer indices, operator
  input/output lists and tensor indices (-1, 2147483647, out of range, its own output),
  opcode, quantization scales (0, NaN, inf, 1e10, 1e-45, ...), zero points, quantized
  dimension, builtin options (strides 0, dilations, filter sizes, padding and fused
  activation codes, axes), constant data (a bias of 2^31-1), graph inputs/outputs;
- `--kinds tables` (a stream of its own): what TFLite's InterpreterBuilder reads beside those
  fields: options tables of another type or none, zero-point vectors shorter than the scales,
  variable / sparse / external tensors, graph inputs with data, shared or repeated graph I/O,
  extra subgraphs, opcodes' two codes, float options' signs (_mutate_tables).

Each mutant runs in a forked child of this process (codegen already imported: ~50x cheaper
than a new interpreter) with a timeout. Outcome classes, worst first:
  hang         a command (or the built program) did not finish within the timeout
  crash        killed by a signal (segfault, out of memory) or an unexpected exit code
  traceback    a Python traceback on stderr
  sanitizer    the emitted C, built with -fsanitize=address,undefined, reported an error
  build-error  the emitted C did not compile
  bad-message  refused, but a stderr line is not a one-line `codegen: error: ...`
  internal     refused through lowering's last line of defence ("internal error"): a
               malformation validate.py does not name yet
  refused      exit code 2, one-line messages
  accepted     emitted, built, ran one inference with no sanitizer report
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from codegen.targets import TARGETS

sys.path.insert(0, str(Path(__file__).resolve().parent))   # tests/: tflite_objects (python -m tests.fuzz_models)
from tflite_objects import pack, schema, unpack  # noqa: E402

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # children are forked: keep numpy single-threaded

ROOT = Path(__file__).resolve().parents[1]
# The corpus is pinned by name: mutant (seed, index) picks FIXTURES[randrange(len(FIXTURES))],
# so a fixture added to tests/fixtures/models must not shift it (main's float_io/two_heads
# fixtures did: every replayed finding in test_fuzz.py became another mutant). To fuzz a new
# fixture, append it here and re-find the replayed indices.
CORPUS = ["tests/fixtures/models/" + n for n in (
    "mobilenet_v1_a025_128_gray", "mobilenet_v1_a025_96_rgb", "mobilenet_v2_a035_96_rgb",
    "mobilenet_v3_large_a025_96_rgb", "mobilenet_v3_small_a050_96_rgb", "mobilevit_xxs_96_rgb",
    "shufflenet_v1_g3_96_rgb", "shufflenet_v2_x05_96_rgb", "torch_layout_96_nchw")] + \
    ["benchmarks/models/mbnet128_0.25_q", "benchmarks/models/vww96_q"]
FIXTURES = [ROOT / f"{n}.tflite" for n in CORPUS]

KERNELS = "reference"   # --kernels: "dsp" emits the optimized kernels (intrinsics emulated on the host)
TARGET = "host"         # --target: the kernel choice and layouts of this CPU (the C is built on the host)
RAM_LIMIT: str | None = None   # --ram-limit BYTES | "min": emit with a patch-based first stage

OUTCOMES = ("hang", "crash", "traceback", "sanitizer", "build-error", "bad-message", "internal",
            "refused", "accepted")
SEVERITY = {o: i for i, o in enumerate(OUTCOMES)}

INTERESTING_INTS = [-1, 0, 1, 2, 3, 7, 127, 128, 255, 256, 32767, 65535, 65536, 2**30,
                    2**31 - 1, -2**31, -128, -129]
INTERESTING_SCALES = [0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e10, 1e-45, 1e-30,
                      3.4e38, 1e-10, 1.0, 0.5]
INTERESTING_ZPS = [-129, 128, 255, 256, -2**31, 2**31 - 1, 127, -128, 0]


# --- mutants ---------------------------------------------------------------------------

@dataclass
class Mutant:
    seed: int
    index: int
    fixture: str
    kind: str
    detail: str
    data: bytes = field(repr=False, default=b"")


_UNPACKED: dict[Path, object] = {}


def _unpacked(path: Path):
    """The fixture as the schema's object tree, unpacked once per process (mutations are
    undone after packing, so one tree serves every mutant)."""
    m = _UNPACKED.get(path)
    if m is None:
        m = unpack(path)
        _UNPACKED[path] = m
    return m


class _Edits:
    """Attribute edits on the shared object tree, undone in reverse order."""
    def __init__(self):
        self.undo: list[tuple[object, str, object]] = []

    def set(self, obj, attr, value):
        self.undo.append((obj, attr, getattr(obj, attr)))
        setattr(obj, attr, value)

    def restore(self):
        for obj, attr, old in reversed(self.undo):
            setattr(obj, attr, old)


def _arr(values, like=None):
    import numpy as np
    dtype = like.dtype if like is not None and hasattr(like, "dtype") else None
    try:
        return np.asarray(values, dtype=dtype)
    except (OverflowError, ValueError):
        return np.asarray(values)


def _mutate_structure(rng: random.Random, model, ed: _Edits) -> tuple[str, str]:
    import numpy as np
    sg = model.subgraphs[0]
    tensors, ops = sg.tensors, sg.operators
    kind = rng.choice(["shape", "shape", "type", "buffer", "op_input", "op_input", "op_output",
                       "op_inputs_list", "opcode", "scale", "scale", "zero_point", "quant_dim",
                       "no_quant", "options", "options", "options", "const_data", "graph_io",
                       "scale_len"])
    ti = rng.randrange(len(tensors))
    t = tensors[ti]
    oi = rng.randrange(len(ops))
    op = ops[oi]
    if kind == "shape":
        shape = list(t.shape) if t.shape is not None else []
        how = rng.choice(["dim", "dim", "drop", "add"])
        if how == "dim" and shape:
            k = rng.randrange(len(shape))
            shape[k] = rng.choice([0, -1, 1, 2, shape[k] + 1, max(shape[k] - 1, 0), shape[k] * 2,
                                   2**30, 2**31 - 1, 65536])
        elif how == "drop" and shape:
            shape.pop(rng.randrange(len(shape)))
        else:
            shape.insert(rng.randrange(len(shape) + 1), rng.choice([1, 2, 3]))
        ed.set(t, "shape", np.asarray(shape, np.int32))
        return kind, f"tensor {ti} shape -> {shape}"
    if kind == "type":
        v = rng.choice(list(range(0, 18)) + [99])
        ed.set(t, "type", v)
        return kind, f"tensor {ti} type -> {v}"
    if kind == "buffer":
        v = rng.choice([-1, 0, len(model.buffers), 2**31 - 1, rng.randrange(len(model.buffers))])
        ed.set(t, "buffer", v)
        return kind, f"tensor {ti} buffer -> {v}"
    if kind in ("op_input", "op_output"):
        attr = "inputs" if kind == "op_input" else "outputs"
        lst = list(getattr(op, attr)) if getattr(op, attr) is not None else []
        if not lst:
            lst = [0]
        k = rng.randrange(len(lst))
        own = list(op.outputs if attr == "inputs" else op.inputs)
        v = rng.choice([-1, 2**31 - 1, len(tensors), -2, rng.randrange(len(tensors)),
                        own[0] if own else 0])
        lst[k] = v
        ed.set(op, attr, np.asarray(lst, np.int32))
        return kind, f"op {oi} {attr}[{k}] -> {v}"
    if kind == "op_inputs_list":
        lst = list(op.inputs)
        how = rng.choice(["drop", "dup", "empty", "extra"])
        if how == "drop" and lst:
            lst.pop(rng.randrange(len(lst)))
        elif how == "dup" and lst:
            lst.append(lst[0])
        elif how == "empty":
            lst = []
        else:
            lst.append(rng.randrange(len(tensors)))
        ed.set(op, "inputs", np.asarray(lst, np.int32))
        return kind, f"op {oi} inputs {how} -> {lst}"
    if kind == "opcode":
        v = rng.choice([rng.randrange(len(model.operatorCodes)), len(model.operatorCodes), 2**31 - 1])
        ed.set(op, "opcodeIndex", v)
        return kind, f"op {oi} opcode index -> {v}"
    if kind in ("scale", "zero_point", "quant_dim", "no_quant", "scale_len"):
        q = t.quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            cand = [i for i, x in enumerate(tensors) if x.quantization is not None
                    and x.quantization.scale is not None and len(x.quantization.scale)]
            if not cand:
                return "noop", "no quantized tensor"
            ti = rng.choice(cand)
            t, q = tensors[ti], tensors[ti].quantization
        if kind == "scale":
            s = np.array(q.scale, np.float32)
            v = rng.choice(INTERESTING_SCALES)
            if rng.random() < 0.5:
                s[:] = v
            else:
                s[rng.randrange(len(s))] = v
            ed.set(q, "scale", s)
            return kind, f"tensor {ti} scale -> {v}"
        if kind == "zero_point":
            zp = np.array(q.zeroPoint if q.zeroPoint is not None else [0] * len(q.scale), np.int64)
            v = rng.choice(INTERESTING_ZPS)
            zp[rng.randrange(len(zp))] = v
            ed.set(q, "zeroPoint", zp)
            return kind, f"tensor {ti} zero point -> {v}"
        if kind == "quant_dim":
            v = rng.choice([0, 1, 2, 3, 4, -1, 7])
            ed.set(q, "quantizedDimension", v)
            return kind, f"tensor {ti} quantized dimension -> {v}"
        if kind == "scale_len":
            s = np.array(q.scale, np.float32)
            s = s[:-1] if len(s) > 1 and rng.random() < 0.5 else np.append(s, s[:1])
            ed.set(q, "scale", s)
            return kind, f"tensor {ti} {len(s)} scales"
        ed.set(t, "quantization", None)
        return kind, f"tensor {ti} quantization removed"
    if kind == "options":
        opts = op.builtinOptions
        if opts is None:
            return "noop", f"op {oi} has no options"
        names = sorted(k for k, v in vars(opts).items() if isinstance(v, (int, float, bool))
                       or (hasattr(v, "dtype")))
        if not names:
            return "noop", f"op {oi} options empty"
        name = rng.choice(names)
        old = getattr(opts, name)
        if hasattr(old, "dtype"):
            v = _arr([rng.choice(INTERESTING_INTS) for _ in range(max(len(old), 1))], old)
        elif isinstance(old, float):
            v = rng.choice(INTERESTING_SCALES)
        else:
            v = rng.choice([0, -1, 2, 3, 4, 5, 6, 7, 100, 2**31 - 1, -2**31, 65536])
        ed.set(opts, name, v)
        return kind, f"op {oi} {type(opts).__name__}.{name} -> {v}"
    if kind == "const_data":
        cand = [i for i, x in enumerate(tensors) if 0 < x.buffer < len(model.buffers)
                and model.buffers[x.buffer].data is not None and len(model.buffers[x.buffer].data)]
        if not cand:
            return "noop", "no constant"
        ti = rng.choice(cand)
        t = tensors[ti]
        buf = model.buffers[t.buffer]
        data = np.array(buf.data, np.uint8)
        how = rng.choice(["int32max", "int32min", "truncate", "extend", "random_word"])
        if how in ("int32max", "int32min", "random_word") and len(data) >= 4:
            k = rng.randrange(len(data) // 4) * 4
            v = {"int32max": 2**31 - 1, "int32min": -2**31}.get(how, rng.choice(INTERESTING_INTS))
            data[k:k + 4] = np.frombuffer(struct.pack("<i", v), np.uint8)
            detail = f"word {k // 4} = {v}"
        elif how == "truncate":
            data = data[:rng.randrange(len(data))]
            detail = f"truncated to {len(data)} bytes"
        else:
            data = np.append(data, np.zeros(rng.choice([1, 4, 16]), np.uint8))
            detail = f"extended to {len(data)} bytes"
        ed.set(buf, "data", data)
        return kind, f"tensor {ti} buffer {t.buffer} {detail}"
    # graph_io
    how = rng.choice(["inputs_empty", "outputs_empty", "input_idx", "output_idx", "extra_output"])
    if how == "inputs_empty":
        ed.set(sg, "inputs", np.asarray([], np.int32))
    elif how == "outputs_empty":
        ed.set(sg, "outputs", np.asarray([], np.int32))
    elif how == "input_idx":
        ed.set(sg, "inputs", np.asarray([rng.choice([-1, 2**31 - 1, ti])], np.int32))
    elif how == "output_idx":
        ed.set(sg, "outputs", np.asarray([rng.choice([-1, 2**31 - 1, ti])], np.int32))
    else:
        ed.set(sg, "outputs", np.asarray(list(sg.outputs) + [ti], np.int32))
    return "graph_io", how


_TABLE_BYTES: dict[Path, list[int]] = {}


def _table_positions(path: Path) -> list[int]:
    """Byte positions of the file outside the constant buffers' data: the flatbuffer's
    tables, vectors and strings, where a flipped bit changes the graph rather than a weight."""
    pos = _TABLE_BYTES.get(path)
    if pos is None:
        import tflite
        buf = path.read_bytes()
        inside = bytearray(len(buf))
        m = tflite.Model.GetRootAsModel(buf, 0)
        for i in range(m.BuffersLength()):
            b = m.Buffers(i)
            o = b._tab.Offset(4)               # Buffer.data
            if o and b.DataLength():
                start = b._tab.Vector(o)
                inside[start:start + b.DataLength()] = b"\x01" * b.DataLength()
        pos = [i for i in range(0, len(buf), 4) if not inside[i]]
        _TABLE_BYTES[path] = pos
    return pos


def _mutate_bytes(rng: random.Random, path: Path) -> tuple[bytes, str, str]:
    data = path.read_bytes()
    b = bytearray(data)
    kind = rng.choice(["flip", "flip", "truncate", "word"])
    table = _table_positions(path)
    if kind == "flip":
        n = rng.choice([1, 1, 2, 4, 8])
        # most flips land outside the weights (the graph); some anywhere in the file
        pos = [rng.choice(table) + rng.randrange(4) if rng.random() < 0.75 else rng.randrange(len(b))
               for _ in range(n)]
        pos = [min(p, len(b) - 1) for p in pos]
        for p in pos:
            b[p] ^= 1 << rng.randrange(8)
        return bytes(b), kind, f"bits flipped at {pos}"
    if kind == "truncate":
        n = rng.randrange(len(b))
        return bytes(b[:n]), kind, f"truncated to {n} bytes"
    p = min(rng.choice(table), len(b) - 4)
    v = rng.choice(INTERESTING_INTS)
    b[p:p + 4] = struct.pack("<i", v)
    return bytes(b), kind, f"word at {p} = {v}"


TABLE_KINDS = ("options_table", "options_table", "zero_points", "variable", "sparsity", "io_constant",
               "names", "io_shared", "subgraphs", "opcode_code", "external_buffer", "alpha")


def _mutate_tables(rng: random.Random, model, ed: _Edits) -> tuple[str, str]:
    """--kinds tables (attack5): what TFLite's InterpreterBuilder and op parsers read beside
    the fields above: the options table's type (another op's, none), zero-point vectors
    shorter than the scales, variable and sparse tensors, a graph input with data, absent
    names, inputs/outputs listed twice or shared, extra subgraphs, opcodes with both codes,
    external buffers, LEAKY_RELU alphas."""
    import numpy as np
    s = schema()
    sg = model.subgraphs[0]
    tensors, ops = sg.tensors, sg.operators
    if not ops or not tensors or not len(sg.inputs):   # a first edit put an empty subgraph first
        return "noop", "empty subgraph"
    kind = rng.choice(TABLE_KINDS)
    oi = rng.randrange(len(ops))
    op = ops[oi]
    ti = rng.randrange(len(tensors))
    t = tensors[ti]
    if kind == "options_table":
        if rng.random() < 0.5 or op.builtinOptions is None:
            ed.set(op, "builtinOptions", None)
            ed.set(op, "builtinOptionsType", 0)
            return kind, f"op {oi} options table removed"
        other = next((o for o in ops if o.builtinOptions is not None
                      and o.builtinOptionsType != op.builtinOptionsType), None)
        if other is None:
            return "noop", "one options type"
        ed.set(op, "builtinOptions", other.builtinOptions)
        ed.set(op, "builtinOptionsType", other.builtinOptionsType)
        return kind, f"op {oi} takes op {ops.index(other)}'s options table"
    if kind == "zero_points":
        q = t.quantization
        if q is None or q.scale is None or not len(q.scale):
            return "noop", "tensor not quantized"
        n = rng.choice([0, max(len(q.scale) - 1, 0), len(q.scale) + 1])
        ed.set(q, "zeroPoint", np.zeros(n, np.int64))
        return kind, f"tensor {ti} {n} zero points for {len(q.scale)} scales"
    if kind == "variable":
        ed.set(t, "isVariable", True)
        return kind, f"tensor {ti} variable"
    if kind == "sparsity":
        shape = list(t.shape) if t.shape is not None else []
        sp = s.SparsityParametersT()
        sp.traversalOrder = list(range(len(shape)))
        sp.dimMetadata = []
        for d in shape:
            dm = s.DimensionMetadataT()
            dm.format, dm.denseSize = s.DimensionType.DENSE, int(d)
            sp.dimMetadata.append(dm)
        ed.set(t, "sparsity", sp)
        return kind, f"tensor {ti} sparse (all dimensions dense)"
    if kind == "io_constant":
        const = [i for i, x in enumerate(tensors) if 0 < x.buffer < len(model.buffers)
                 and model.buffers[x.buffer].data is not None and len(model.buffers[x.buffer].data)]
        if not const or not len(sg.inputs):
            return "noop", "no constant"
        c = rng.choice(const)
        if rng.random() < 0.5:
            ed.set(sg, "inputs", np.asarray([c] + list(sg.inputs)[1:], np.int32))
            return kind, f"graph input 0 -> constant tensor {c}"
        ed.set(tensors[sg.inputs[0]], "buffer", tensors[c].buffer)
        return kind, f"graph input {sg.inputs[0]} given tensor {c}'s buffer"
    if kind == "names":
        for x in tensors:
            ed.set(x, "name", None if rng.random() < 0.7 else "*/\n#error x")
        return kind, "tensor names removed or hostile"
    if kind == "io_shared":
        how = rng.choice(["inputs_twice", "outputs_twice", "output_is_input", "op_output_is_graph_input"])
        if how == "inputs_twice":
            ed.set(sg, "inputs", np.asarray(list(sg.inputs) * 2, np.int32))
        elif how == "outputs_twice":
            ed.set(sg, "outputs", np.asarray(list(sg.outputs) * 2, np.int32))
        elif how == "output_is_input":
            ed.set(sg, "outputs", np.asarray(list(sg.outputs) + list(sg.inputs), np.int32))
        else:
            ed.set(op, "outputs", np.asarray([sg.inputs[0]] + list(op.outputs)[1:], np.int32))
        return kind, how
    if kind == "subgraphs":
        how = rng.choice(["extra", "empty_first"])
        if how == "extra":
            ed.set(model, "subgraphs", list(model.subgraphs) + [model.subgraphs[0]])
        else:
            g0 = s.SubGraphT()
            g0.tensors, g0.operators, g0.inputs, g0.outputs = [], [], [], []
            ed.set(model, "subgraphs", [g0] + list(model.subgraphs))
        return kind, how
    if kind == "opcode_code":
        oc = model.operatorCodes[rng.randrange(len(model.operatorCodes))]
        v = rng.choice([0, 3, 4, 32, 127, 200, -1])
        ed.set(oc, "deprecatedBuiltinCode", v)
        return kind, f"deprecated builtin code -> {v}"
    if kind == "external_buffer":
        ed.set(t, "externalBuffer", rng.choice([1, 2**31 - 1]))
        return kind, f"tensor {ti} external buffer"
    # alpha: LEAKY_RELU / any float option at a sign or tie-prone value
    opts = op.builtinOptions
    floats = sorted(k for k, v in vars(opts).items() if isinstance(v, float)) if opts is not None else []
    if not floats:
        return "noop", f"op {oi} has no float option"
    name = rng.choice(floats)
    v = rng.choice([-1.0, -0.5, -0.25, -2.0, 0.5, 2.0])
    ed.set(opts, name, v)
    return kind, f"op {oi} {type(opts).__name__}.{name} -> {v}"


KINDS = "classic"     # --kinds: "classic" (the mutations above) or "tables" (_mutate_tables)


def make_mutant(seed: int, index: int) -> Mutant:
    """The index-th mutant of a seed: a fixture, one to three edits, the bytes. With
    KINDS == "tables", a stream of its own (another rng name: the classic (seed, index)
    findings keep replaying the same mutants)."""
    if KINDS == "tables":
        return _make_table_mutant(seed, index)
    rng = random.Random(f"mcuforge-fuzz:{seed}:{index}")
    path = FIXTURES[rng.randrange(len(FIXTURES))]
    if rng.random() < 0.3:
        data, kind, detail = _mutate_bytes(rng, path)
        return Mutant(seed, index, path.name, "bytes:" + kind, detail, data)
    return _edited_mutant(seed, index, rng, path, _mutate_structure, [1, 1, 1, 2, 3], "struct")


def _edited_mutant(seed: int, index: int, rng, path, mutate, counts: list[int], prefix: str) -> Mutant:
    """One to a few `mutate(rng, model, edits)` edits (how many: rng.choice(counts)) on the
    unpacked fixture at `path`, packed; an edit the schema's packer cannot encode is drawn
    again, up to five times (then the fixture's own bytes, kind '<prefix>:unpackable')."""
    model = _unpacked(path)
    for _attempt in range(5):
        ed = _Edits()
        kinds, details = [], []
        try:
            for _ in range(rng.choice(counts)):
                k, d = mutate(rng, model, ed)
                kinds.append(k)
                details.append(d)
            try:
                data = pack(model)
            except Exception:             # e.g. -2^31 into a uint8 option field
                continue
        finally:
            ed.restore()
        return Mutant(seed, index, path.name, f"{prefix}:" + "+".join(kinds), "; ".join(details), data)
    return Mutant(seed, index, path.name, f"{prefix}:unpackable", "five edits the packer refused",
                  path.read_bytes())


def _make_table_mutant(seed: int, index: int) -> Mutant:
    rng = random.Random(f"mcuforge-fuzz-tables:{seed}:{index}")
    path = FIXTURES[rng.randrange(len(FIXTURES))]
    return _edited_mutant(seed, index, rng, path, _mutate_tables, [1, 1, 2], "tables")


# --- running the commands --------------------------------------------------------------

@dataclass
class Result:
    index: int
    fixture: str
    kind: str
    detail: str
    outcome: str
    command: str = ""
    message: str = ""          # the first stderr line or sanitizer report that decided it
    seconds: float = 0.0


def _run_forked(argv: list[str], timeout: float, workdir: Path) -> tuple[str, int, str]:
    """`codegen <argv>` in a forked child: ('exit', code, stderr) | ('signal', n, stderr) |
    ('hang', 0, stderr)."""
    err_path = workdir / "stderr.txt"
    pid = os.fork()
    if pid == 0:                                         # child
        code = 1
        try:
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
            fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 2)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), write_through=True)
            sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), write_through=True)
            from codegen.cli import main
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:                             # what the real CLI would print
            traceback.print_exc()
            code = 1
        finally:
            try:
                sys.stderr.flush()
            except Exception:
                pass
            os._exit(code if isinstance(code, int) else 1)
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "hang", 0, _read(err_path)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    if os.WIFSIGNALED(status):
        return "signal", os.WTERMSIG(status), _read(err_path)
    return "exit", os.WEXITSTATUS(status), _read(err_path)


def _read(p: Path) -> str:
    try:
        return p.read_text(errors="replace")
    except OSError:
        return ""


def _classify_cli(command: str, how: str, code: int, err: str, accept_codes=(0,)) -> tuple[str, str]:
    if how == "hang":
        return "hang", f"{command}: no exit within the timeout"
    if how == "signal":
        return "crash", f"{command}: killed by signal {code}"
    if "Traceback" in err:
        last = [l for l in err.strip().splitlines() if l.strip()]
        where = [l.strip() for l in last if l.strip().startswith('File "')]
        return "traceback", f"{command}: {last[-1] if last else ''} at {where[-1] if where else '?'}"
    if code in accept_codes:
        return "accepted", ""
    if code in (1, 2):
        lines = [l for l in err.splitlines() if l.strip()]
        if command == "emit" or code == 2:
            if not lines or any(not l.startswith("codegen: error: ") for l in lines):
                return "bad-message", f"{command}: {lines[:2]}"
        if any("internal error" in l for l in lines):
            return "internal", f"{command}: {lines[0]}"
        return "refused", (lines[0] if lines else "")
    return "crash", f"{command}: exit code {code}"


# --- the sanitizer run -----------------------------------------------------------------

CFLAGS = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
          "-fno-omit-frame-pointer", "-std=c99", "-w"]

HARNESS = r"""
/* Poisons every arena byte outside the running layer's planned buffers. MCUF_LAYER_HOOK is
 * called with -1 before the first layer and with i after layer i: both are the moment to
 * open exactly the ranges layer i + 1 may touch (its inputs, its output, its scratch). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sanitizer/asan_interface.h>
#include "model.h"
#include "fuzz_plan.h"

static int8_t *base;

void fuzz_hook(int layer, const int8_t *output, uint32_t bytes)
{
    (void)output; (void)bytes;
    const int next = layer + 1;
    ASAN_POISON_MEMORY_REGION(base, MODEL_ARENA_SIZE);
    if (next < FUZZ_LAYERS) {
        for (int r = fuzz_first[next]; r < fuzz_first[next + 1]; ++r) {
            ASAN_UNPOISON_MEMORY_REGION(base + fuzz_ranges[r][0], fuzz_ranges[r][1]);
        }
    } else {
        ASAN_UNPOISON_MEMORY_REGION(base + FUZZ_OUT_OFFSET, MODEL_OUTPUT_SIZE);
    }
}

int main(int argc, char **argv)
{
    unsigned seed = argc > 1 ? (unsigned)atoi(argv[1]) : 1u;
    int8_t *in = model_input();
    base = in - FUZZ_IN_OFFSET;
    for (uint32_t i = 0; i < MODEL_INPUT_SIZE; ++i) {
        seed = seed * 1103515245u + 12345u;
        in[i] = (int8_t)(seed >> 16);
    }
    model_invoke();
    const int8_t *out = model_output();
    uint32_t sum = 0;
    for (uint32_t i = 0; i < MODEL_OUTPUT_SIZE; ++i) {
        sum = sum * 31u + (uint8_t)out[i];
    }
    ASAN_UNPOISON_MEMORY_REGION(base, MODEL_ARENA_SIZE);
    printf("ok %u\n", sum);
    return 0;
}
"""


def _plan_header(manifest: dict) -> str:
    layers = manifest["layers"]
    ranges, first = [], [0]
    for L in layers:
        if L.get("patch_stage"):   # run patch by patch inside one call: its sub-arena moves, open all
            ranges.append((0, manifest["arena_bytes"]))
            first.append(len(ranges))
            continue
        rs = [(L["offset"], L["bytes"])] + [tuple(r) for r in L.get("reads", [])]
        if L.get("scratch_offset") is not None:
            rs.append((L["scratch_offset"], L["scratch_bytes"]))
        ranges += rs
        first.append(len(ranges))
    rows = ",\n".join(f"    {{{o}u, {n}u}}" for o, n in ranges) or "    {0u, 0u}"
    return (f"#define FUZZ_LAYERS {len(layers)}\n"
            f"#define FUZZ_IN_OFFSET {manifest['input']['offset']}u\n"
            f"#define FUZZ_OUT_OFFSET {manifest['output']['offset']}u\n"
            f"static const uint32_t fuzz_ranges[][2] = {{\n{rows}\n}};\n"
            f"static const int fuzz_first[] = {{{', '.join(map(str, first))}}};\n")


class Sanitized:
    """Builds the kernel library once (cached by the hash of its sources), then each
    accepted mutant's model.c with the poisoning harness; results cached by the hash of
    model.c and the plan."""

    def __init__(self, cache: Path, timeout: float):
        self.cache, self.timeout = cache, timeout
        self.results: dict[str, tuple[str, str]] = {}
        self.lib: Path | None = None

    def _library(self, mcuf: Path) -> Path:
        srcs = sorted((mcuf / "src").glob("*.c"))
        h = hashlib.sha256()
        for p in srcs + sorted((mcuf / "include").glob("*.h")):
            h.update(p.name.encode() + p.read_bytes())
        h.update(" ".join(CFLAGS).encode())
        lib = self.cache / f"libmcuf-asan-{h.hexdigest()[:16]}.a"
        if not lib.exists():
            objdir = Path(tempfile.mkdtemp(dir=self.cache))
            objs = []
            for s in srcs:
                o = objdir / (s.stem + ".o")
                subprocess.run(["gcc", *CFLAGS, "-I", str(mcuf / "include"), "-c", str(s), "-o", str(o)],
                               check=True, capture_output=True)
                objs.append(str(o))
            # a name of this build's own: another worker or fuzzer run sharing the cache may be
            # writing the same library (a shared .tmp made `ar` fail on the other's half-written file)
            tmp = objdir / (lib.name + ".tmp")
            subprocess.run(["ar", "rcs", str(tmp), *objs], check=True, capture_output=True)
            os.replace(tmp, lib)
            shutil.rmtree(objdir, ignore_errors=True)
        return lib

    def run(self, out: Path) -> tuple[str, str]:
        manifest = json.loads((out / "model.json").read_text())
        (out / "fuzz_plan.h").write_text(_plan_header(manifest))
        (out / "fuzz_harness.c").write_text(HARNESS)
        if self.lib is None:
            self.lib = self._library(out / "mcuf")
        # the source's SHA-256 (in a comment and model_sha256[]) is the only part of model.c a
        # no-op mutation changes (a flipped bit in a name or in unused min/max arrays): leave it
        # out of the key, so that such mutants share the result of the C they really produce
        code = re.sub(rb"sha256 [0-9a-f]{16}\.\.\.|_sha256\[32\] = \{[^}]*\}", b"",
                      (out / "model.c").read_bytes())
        key = hashlib.sha256(self.lib.name.encode() + HARNESS.encode() + code
                             + (out / "fuzz_plan.h").read_bytes() + (out / "model.h").read_bytes()).hexdigest()
        if key in self.results:
            return self.results[key]
        disk = self.cache / "results" / f"{key[:32]}.json"     # shared by --jobs workers and runs
        if disk.exists():
            try:
                self.results[key] = tuple(json.loads(disk.read_text()))
                return self.results[key]
            except (OSError, ValueError):
                pass
        exe = out / "fuzz_run"
        r = subprocess.run(["gcc", *CFLAGS, "-O0", "-g0", "-DMCUF_LAYER_HOOK=fuzz_hook", "-I", str(out),
                            "-I", str(out / "mcuf" / "include"), str(out / "model.c"),
                            str(out / "fuzz_harness.c"), str(self.lib), "-o", str(exe)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            res = ("build-error", (r.stderr.strip().splitlines() or ["?"])[0][:300])
        else:
            env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:exitcode=66",
                       UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=66")
            try:
                p = subprocess.run([str(exe), "7"], capture_output=True, text=True, timeout=self.timeout,
                                   env=env)
                if p.returncode == 0 and p.stdout.startswith("ok"):
                    res = ("accepted", "")
                else:
                    res = ("sanitizer", _sanitizer_summary(p.stderr, p.returncode))
            except subprocess.TimeoutExpired:
                res = ("hang", "the built model did not finish")
        self.results[key] = res
        disk.parent.mkdir(exist_ok=True)
        tmp = disk.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(list(res)))
        os.replace(tmp, disk)
        return res


def _sanitizer_summary(err: str, code: int) -> str:
    for pat in (r"runtime error: .*", r"ERROR: AddressSanitizer: [^\n]*", r"SUMMARY: [^\n]*"):
        m = re.search(pat, err)
        if m:
            loc = re.search(r"#\d+ 0x[0-9a-f]+ in (\w+) (\S+)", err[m.start():])
            src = re.search(r"^(\S+\.c:\d+:\d+): runtime error", err, re.M)
            where = src.group(1) if src else (f"{loc.group(1)} {loc.group(2)}" if loc else "")
            return f"{m.group(0)[:200]} [{Path(where.split()[-1]).name if where else '?'}]"
    return f"exit code {code}: {err.strip()[:200]}"


# --- the loop --------------------------------------------------------------------------

def run_one(seed: int, index: int, work: Path, san: Sanitized | None, timeout: float,
            seen: dict[str, Result] | None = None) -> Result:
    t0 = time.perf_counter()
    m = make_mutant(seed, index)
    digest = hashlib.sha256(m.data).hexdigest()
    if seen is not None and digest in seen:                   # an identical mutant: same outcome
        r = seen[digest]
        return Result(index, m.fixture, m.kind, m.detail, r.outcome, r.command, r.message, 0.0)
    d = work / f"m{index}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    model = d / "mutant.tflite"
    model.write_bytes(m.data)
    worst = ("accepted", "", "")
    limit = ["--ram-limit", RAM_LIMIT] if RAM_LIMIT is not None else []
    if RAM_LIMIT == "min":   # the smallest arena `emit --ram-limit 1` names: the tightest schedule
        limit = ["--ram-limit", "1"]
        how, code, err = _run_forked(["emit", str(model), "--target", TARGET, "--kernels", KERNELS,
                                      *limit, "-o", str(d / "out")], timeout, d)
        need = re.search(r"raise the limit to at least ([\d,]+) B", err)
        if need:
            limit = ["--ram-limit", need.group(1).replace(",", "")]
    how, code, err = _run_forked(["inspect", str(model), "--target", TARGET, "--kernels", KERNELS, *limit],
                                 timeout, d)
    o, msg = _classify_cli("inspect", how, code, err, accept_codes=(0, 1))
    if SEVERITY[o] < SEVERITY[worst[0]]:
        worst = (o, "inspect", msg)
    out = d / "out"
    how, code, err = _run_forked(["emit", str(model), "--target", TARGET, "--kernels", KERNELS,
                                  *limit, "-o", str(out)], timeout, d)
    o, msg = _classify_cli("emit", how, code, err)
    if o == "accepted" and san is not None:
        o, msg = san.run(out)
    elif o == "accepted":
        o, msg = "accepted", "(not built: --no-asan)"
    if SEVERITY[o] < SEVERITY[worst[0]] or (worst[0] == "accepted" and o != "accepted"):
        worst = (o, "emit", msg)
    r = Result(index, m.fixture, m.kind, m.detail, worst[0], worst[1], worst[2],
               round(time.perf_counter() - t0, 3))
    if seen is not None:
        seen[digest] = r
    shutil.rmtree(d, ignore_errors=True)
    return r


def fuzz(seed: int, start: int = 0, count: int | None = None, minutes: float | None = None,
         asan: bool = True, timeout: float = 60.0, work: Path | None = None, log=None,
         jsonl: Path | None = None) -> list[Result]:
    """Run mutants start, start+1, ... until `count` are done or `minutes` have passed."""
    import codegen.cli, codegen.emitter, codegen.inspect, codegen.pipeline   # noqa: F401,E401
    # imported once here, so that every forked child starts with them loaded
    work = Path(work or tempfile.mkdtemp(prefix="mcuf-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = Path(os.environ.get("MCUF_FUZZ_CACHE", Path(tempfile.gettempdir()) / "mcuf-fuzz-cache"))
    cache.mkdir(parents=True, exist_ok=True)
    san = Sanitized(cache, timeout) if asan else None
    end = time.monotonic() + minutes * 60 if minutes else None
    results: list[Result] = []
    seen: dict[str, Result] = {}
    fh = open(jsonl, "a") if jsonl else None
    i = start
    while (count is None or i < start + count) and (end is None or time.monotonic() < end):
        r = run_one(seed, i, work, san, timeout, seen)
        results.append(r)
        if fh:
            fh.write(json.dumps(asdict(r)) + "\n")
            fh.flush()
        if log and (r.outcome not in ("refused", "accepted")):
            log(f"#{i} {r.outcome}: {r.fixture} {r.kind} ({r.detail}) -> {r.command}: {r.message}")
        if log and (i - start + 1) % 100 == 0:
            log(f"... {i - start + 1} mutants, {summary_counts(results)}")
        i += 1
    if fh:
        fh.close()
    return results


def _worker(args) -> list[dict]:
    seed, indices, asan, timeout, work = args
    out = []
    for lo, n in indices:
        out += [asdict(r) for r in fuzz(seed, lo, n, asan=asan, timeout=timeout, work=work)]
    return out


def fuzz_parallel(seed: int, start: int, count: int, jobs: int, asan: bool = True,
                  timeout: float = 60.0, log=None, jsonl: Path | None = None,
                  chunk: int = 25) -> list[Result]:
    """fuzz() over `jobs` processes, in chunks of `chunk` indices; same results as one
    process (each mutant depends only on (seed, index))."""
    import multiprocessing as mp
    import codegen.cli, codegen.emitter, codegen.inspect, codegen.pipeline   # noqa: F401,E401
    work = Path(tempfile.mkdtemp(prefix="mcuf-fuzz-"))
    chunks = [(seed, [(lo, min(chunk, start + count - lo))], asan, timeout, work / f"c{lo}")
              for lo in range(start, start + count, chunk)]
    results: list[Result] = []
    fh = open(jsonl, "a") if jsonl else None
    with mp.get_context("fork").Pool(jobs) as pool:
        for rows in pool.imap_unordered(_worker, chunks):
            for row in rows:
                r = Result(**row)
                results.append(r)
                if fh:
                    fh.write(json.dumps(row) + "\n")
                if log and r.outcome not in ("refused", "accepted"):
                    log(f"#{r.index} {r.outcome}: {r.fixture} {r.kind} ({r.detail}) -> {r.command}: {r.message}")
            if fh:
                fh.flush()
            if log:
                log(f"... {len(results)} mutants, {summary_counts(results)}")
    if fh:
        fh.close()
    shutil.rmtree(work, ignore_errors=True)
    return sorted(results, key=lambda r: r.index)


def summary_counts(results: list[Result]) -> dict[str, int]:
    counts = {o: 0 for o in OUTCOMES}
    for r in results:
        counts[r.outcome] += 1
    return counts


def render(results: list[Result], seconds: float) -> str:
    counts = summary_counts(results)
    lines = [f"{len(results)} mutants in {seconds:.0f} s", "", f"{'outcome':<12} {'count':>7}"]
    lines += [f"{o:<12} {counts[o]:>7}" for o in OUTCOMES]
    kinds: dict[str, dict[str, int]] = {}
    for r in results:
        k = r.kind.split("+")[0]
        kinds.setdefault(k, {o: 0 for o in OUTCOMES})[r.outcome] += 1
    lines += ["", f"{'mutation':<22} " + " ".join(f"{o[:9]:>9}" for o in OUTCOMES)]
    for k in sorted(kinds):
        lines.append(f"{k:<22} " + " ".join(f"{kinds[k][o]:>9}" for o in OUTCOMES))
    bad = [r for r in results if SEVERITY[r.outcome] < SEVERITY["refused"]]
    if bad:
        lines += ["", "findings (replay: --seed S --start INDEX --count 1 --keep):"]
        by_msg: dict[str, list[Result]] = {}
        for r in bad:
            by_msg.setdefault(f"{r.outcome}: {r.message}"[:220], []).append(r)
        for msg, rs in sorted(by_msg.items(), key=lambda kv: -len(kv[1])):
            lines.append(f"  {len(rs):>4}x {msg}  (e.g. #{rs[0].index} {rs[0].fixture} {rs[0].kind}: "
                         f"{rs[0].detail[:80]})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz_models", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", type=int, default=0, help="first mutant index (default 0)")
    p.add_argument("--count", type=int, help="mutants to run")
    p.add_argument("--minutes", type=float, help="stop after this long")
    p.add_argument("--timeout", type=float, default=60.0, help="per command, seconds (default 60)")
    p.add_argument("--no-asan", action="store_true", help="do not build and run accepted mutants")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (with --count)")
    p.add_argument("--kernels", default="reference", choices=("reference", "dsp", "mve"),
                   help="kernel set of `codegen inspect/emit` (dsp: the optimized kernels, their Arm "
                        "intrinsics emulated in C; mve: the Helium set's layouts and constants, its "
                        "plain-C host build)")
    p.add_argument("--target", default="host", choices=sorted(TARGETS),
                   help="`--target` of `codegen inspect/emit` (default host); the emitted C is still "
                        "built and run on this machine under the sanitizers")
    p.add_argument("--ram-limit", metavar="BYTES|min",
                   help="`--ram-limit` of `codegen inspect/emit`: accepted mutants run a patch-based "
                        "first stage wherever the limit is below their layer-by-layer arena; min: "
                        "each mutant at the smallest arena `emit --ram-limit 1` names")
    p.add_argument("--kinds", default="classic", choices=("classic", "tables"),
                   help="mutation family: classic (bytes, fields, options values, constants) or "
                        "tables (options tables of another type or none, zero-point vectors, variable, "
                        "sparse and external tensors, graph inputs with data, shared I/O, subgraphs, "
                        "opcodes, float options' signs): a stream of its own")
    p.add_argument("--keep", metavar="DIR", help="write the mutants' .tflite files here")
    p.add_argument("--jsonl", metavar="FILE", help="append one JSON line per mutant")
    args = p.parse_args(argv)
    global KERNELS, TARGET, RAM_LIMIT, KINDS
    KERNELS, TARGET, RAM_LIMIT, KINDS = args.kernels, args.target, args.ram_limit, args.kinds
    if args.count is None and args.minutes is None:
        args.count = 100
    if args.keep:
        keep = Path(args.keep)
        keep.mkdir(parents=True, exist_ok=True)
        for i in range(args.start, args.start + (args.count or 0)):
            m = make_mutant(args.seed, i)
            (keep / f"seed{args.seed}_{i}.tflite").write_bytes(m.data)
            print(f"{keep}/seed{args.seed}_{i}.tflite: {m.fixture} {m.kind}: {m.detail}")
    t0 = time.monotonic()
    try:
        log = lambda s: print(s, file=sys.stderr, flush=True)   # noqa: E731
        jsonl = Path(args.jsonl) if args.jsonl else None
        if args.jobs > 1 and args.count:
            results = fuzz_parallel(args.seed, args.start, args.count, args.jobs, not args.no_asan,
                                    args.timeout, log=log, jsonl=jsonl)
        else:
            results = fuzz(args.seed, args.start, args.count, args.minutes, not args.no_asan,
                           args.timeout, log=log, jsonl=jsonl)
    except KeyboardInterrupt:
        return 130
    print(render(results, time.monotonic() - t0))
    return 0 if all(SEVERITY[r.outcome] >= SEVERITY["internal"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
