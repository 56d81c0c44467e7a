"""Shape validation: every operator's output shapes recomputed from its input shapes and
options with its record's `infer_shape` (TFLite's Prepare rules) and compared with the
shapes the model declares. Run by `codegen.pipeline.load_graph` after the graph passes and
before lowering, so that no kernel is ever called with buffers smaller than it walks.

The helpers here are what the operator modules' shape functions are built from; every one
raises only `ShapeError` (an `UnsupportedModelError`) on garbage: bad ranks, zero or
negative dimensions, zero strides, missing options or constants.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedModelError
from ..graph import Graph, Operator
from .registry import OPS, Shape

MAX_DIM = 2**31 - 1          # a dimension a C int32 holds


class ShapeError(UnsupportedModelError):
    """An operator's shapes or options are not ones TFLite's Prepare accepts."""


def fmt(shape) -> str:
    """[1,24,24,16]: the form every shape takes in an error line."""
    return "[" + ",".join(str(int(d)) for d in shape) + "]"


def shape_of(graph: Graph, idx: int, what: str = "input") -> Shape:
    """The declared shape of tensor idx; ShapeError if it has a zero, negative or huge dimension."""
    t = graph.tensors.get(idx)
    if t is None:
        raise ShapeError(f"{what} tensor {idx} does not exist")
    shape = tuple(int(d) for d in t.shape)
    if any(d <= 0 or d > MAX_DIM for d in shape):
        raise ShapeError(f"{what} '{t.name}' has shape {fmt(shape)}: every dimension must be in 1..{MAX_DIM}")
    return shape


def input_shape(graph: Graph, op: Operator, pos: int, rank: int | None = None, what: str | None = None) -> Shape:
    what = what or f"input {pos}"
    if pos >= len(op.inputs) or op.inputs[pos] < 0:
        raise ShapeError(f"{what} is missing")
    s = shape_of(graph, op.inputs[pos], what)
    if rank is not None and len(s) != rank:
        raise ShapeError(f"{what} {fmt(s)} must be {rank}-D")
    return s


def const_ints(graph: Graph, op: Operator, pos: int, what: str) -> list[int]:
    """A constant integer operand, flattened (axes, paddings, permutations, begin/end)."""
    if pos >= len(op.inputs) or op.inputs[pos] < 0 or op.inputs[pos] not in graph.tensors:
        raise ShapeError(f"{what} (input {pos}) is missing")
    v = graph.tensors[op.inputs[pos]].data
    if v is None:
        raise ShapeError(f"{what} (input {pos}) must be constant")
    a = np.asarray(v)
    if a.dtype.kind not in "iu":
        raise ShapeError(f"{what} (input {pos}) must be integers, got {a.dtype}")
    return [int(x) for x in a.reshape(-1)]


def int_option(op: Operator, key: str, default: int | None = None, minimum: int | None = 1) -> int:
    """An integer option (StrideH, FilterWidth, ...): default when absent, ShapeError when
    neither, or below minimum."""
    v = op.options.get(key, default)
    if v is None:
        raise ShapeError(f"option {key} is missing")
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ShapeError(f"option {key} is {v!r}, not an integer")
    if minimum is not None and v < minimum:
        raise ShapeError(f"option {key} is {v}, must be >= {minimum}")
    return int(v)


def padding_option(op: Operator) -> str:
    p = op.options.get("Padding", "VALID")
    if p not in ("SAME", "VALID"):
        raise ShapeError(f"padding {p!r} is neither SAME nor VALID")
    return p


def conv_out_size(padding: str, in_size: int, k: int, stride: int, dilation: int, what: str) -> int:
    """ComputeOutSize (tensorflow/lite/kernels/padding.h): SAME ceil(in / stride), VALID
    (in + stride - effective filter) / stride, effective filter (k - 1) * dilation + 1.
    A size below 1 (a filter larger than the padded input) is refused."""
    eff = (k - 1) * dilation + 1
    out = (in_size + stride - 1) // stride if padding == "SAME" else (in_size + stride - eff) // stride
    if out < 1:
        raise ShapeError(f"{what}: filter {k} (dilation {dilation}) does not fit the input size {in_size}")
    return out


def axis_index(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise ShapeError(f"{what} {axis} out of range for rank {rank}")
    return axis % rank


def broadcast(a: Shape, b: Shape) -> Shape:
    """NumPy/TFLite broadcasting (ProcessBroadcastShapes): right-aligned, extents equal or 1."""
    n = max(len(a), len(b))
    a1, b1 = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a1, b1):
        if x != y and 1 not in (x, y):
            raise ShapeError(f"shapes {fmt(a)} and {fmt(b)} do not broadcast")
        out.append(max(x, y))
    return tuple(out)


def same_as_input(graph: Graph, op: Operator) -> list[Shape]:
    """Element-wise unary operators: the output has the input's shape."""
    return [input_shape(graph, op, 0)]


def explain_inputs(graph: Graph, op: Operator) -> str:
    """'from input [..]' (non-constant inputs only): the default explanation."""
    shapes = [fmt(graph.tensors[i].shape) for i in op.inputs
              if i >= 0 and i in graph.tensors and not graph.tensors[i].is_constant]
    return ("from input " if len(shapes) == 1 else "from inputs ") + " and ".join(shapes) if shapes else ""


def _signature_problems(graph: Graph, op: Operator, rec) -> list[str]:
    out = []
    lo, hi = rec.inputs
    if len(op.inputs) < lo or (hi >= 0 and len(op.inputs) > hi):
        want = f"{lo}" if lo == hi else f"{lo} to {hi if hi >= 0 else 'any'}"
        return [f"has {len(op.inputs)} inputs, expects {want}"]
    olo, ohi = rec.outputs
    if len(op.outputs) < olo or (ohi >= 0 and len(op.outputs) > ohi):
        return [f"has {len(op.outputs)} outputs, expects {olo if olo == ohi else f'at least {olo}'}"]
    for k, i in enumerate(op.inputs):
        if i == -1 and k in rec.optional:
            continue
        t = graph.tensors.get(i)
        if t is None:
            out.append(f"input {k} is tensor {i}, which does not exist" +
                       ("" if k in rec.optional else " (this input cannot be omitted)"))
            continue
        allowed = rec.input_dtypes[min(k, len(rec.input_dtypes) - 1)]
        if t.dtype not in allowed:
            out.append(f"input {k} '{t.name}' is {t.dtype}, expected {' or '.join(allowed)}")
    for k, o in enumerate(op.outputs):
        t = graph.tensors.get(o)
        if t is None:
            out.append(f"output {k} is tensor {o}, which does not exist")
        elif t.dtype not in rec.output_dtypes:
            out.append(f"output {k} '{t.name}' is {t.dtype}, expected {' or '.join(rec.output_dtypes)}")
    return out


def shape_problems(graph: Graph) -> list[str]:
    """One line per operator whose signature or declared output shapes disagree with its
    record, naming the operator, the tensor and the fix: `op #12 DEPTHWISE_CONV_2D: declared
    output [1,24,24,16], computed [1,24,24,8] from input [1,48,48,8], stride 2, SAME, filter
    [1,3,3,8]; output tensor 13 'dw': re-export the model from the converter`. Operators
    without a record are left to the lowering (which lists them as unsupported)."""
    problems = []
    for op in graph.operators:
        rec = OPS.get(op.type)
        if rec is None or rec.infer_shape is None:
            continue
        head = f"op #{op.index} {op.type}: "
        sig = _signature_problems(graph, op, rec)
        if sig:
            problems += [head + s for s in sig]
            continue
        try:
            computed = rec.infer_shape(graph, op)
            declared = [shape_of(graph, o, f"output {k}") for k, o in enumerate(op.outputs)]
        except ShapeError as e:
            problems.append(head + str(e))
            continue
        except Exception as e:    # a shape function bug must still not become a traceback
            problems.append(head + f"cannot infer the output shape ({type(e).__name__}: {e})")
            continue
        if len(computed) != len(declared):
            problems.append(head + f"declares {len(declared)} outputs, computed {len(computed)}")
            continue
        for k, (d, c) in enumerate(zip(declared, computed)):
            if tuple(d) != tuple(c):
                try:
                    why = (rec.explain or explain_inputs)(graph, op)
                except Exception:      # an explanation is a courtesy: never a traceback
                    why = explain_inputs(graph, op)
                which = "output" if len(declared) == 1 else f"output {k}"
                t = graph.tensors[op.outputs[k]]
                problems.append(head + f"declared {which} {fmt(d)}, computed {fmt(c)}" + (f" {why}" if why else "")
                                + f"; output tensor {op.outputs[k]} '{t.name}'")
    return [_with_fix(p) for p in problems]


FIX = "re-export the model from the converter"


def _with_fix(line: str) -> str:
    """A shape or signature problem means the file contradicts TFLite's own rules (a damaged
    or hand-edited file, or a broken exporter): the line ends in what to do, unless it
    already names a fix."""
    return line if "re-export" in line or "re-convert" in line else f"{line}: {FIX}"


def check_shapes(graph: Graph) -> None:
    """Raises one UnsupportedModelError listing every problem, one line each (see shape_problems)."""
    problems = shape_problems(graph)
    if problems:
        raise UnsupportedModelError("\n".join(problems))
