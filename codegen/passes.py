"""Graph passes run before lowering. Each takes the graph, changes it in place, and says why."""
from __future__ import annotations

import numpy as np

from . import quantization as q
from .errors import UnsupportedModelError
from .graph import Graph, Operator

# Ops that only reinterpret their input's bytes: the output becomes an alias, no copy.
ALIAS_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}


def run_all(graph: Graph) -> Graph:
    fold_shape_arithmetic(graph)
    alias_reshapes(graph)
    fold_pad_into_conv(graph)
    remove_dead_ops(graph)
    return graph


# --- constant folding of static shape arithmetic (Keras 3: SHAPE -> STRIDED_SLICE -> PACK) ---

def _const(graph: Graph, idx: int):
    if idx < 0:
        return None
    return graph.tensors[idx].data


def _fold_shape(graph, op):
    return np.asarray(graph.tensors[op.inputs[0]].shape, dtype=np.int32)


def _fold_strided_slice(graph, op):
    x, begin, end, strides = (_const(graph, i) for i in op.inputs[:4])
    if any(v is None for v in (x, begin, end, strides)) or x.ndim != 1:
        return None
    o = op.options
    b, e, s = int(begin[0]), int(end[0]), int(strides[0])
    if o.get("BeginMask", 0) & 1:
        b = 0 if s > 0 else len(x) - 1
    if o.get("EndMask", 0) & 1:
        e = len(x) if s > 0 else -len(x) - 1
    if o.get("ShrinkAxisMask", 0) & 1:
        return np.asarray(x[b], dtype=x.dtype)
    return np.asarray(x[b:e:s], dtype=x.dtype)


def _fold_pack(graph, op):
    vals = [_const(graph, i) for i in op.inputs]
    if any(v is None for v in vals):
        return None
    return np.stack(vals, axis=op.options.get("Axis", 0))


def _fold_concat(graph, op):
    vals = [_const(graph, i) for i in op.inputs]
    if any(v is None for v in vals) or vals[0].dtype != np.int32:
        return None
    return np.concatenate(vals, axis=op.options.get("Axis", 0))


_FOLDERS = {"SHAPE": _fold_shape, "STRIDED_SLICE": _fold_strided_slice,
            "PACK": _fold_pack, "CONCATENATION": _fold_concat}


def fold_shape_arithmetic(graph: Graph) -> None:
    """Evaluate int32 shape computations on the host; their results become constants."""
    changed = True
    while changed:
        changed = False
        for op in list(graph.operators):
            folder = _FOLDERS.get(op.type)
            out = graph.tensors[op.outputs[0]] if op.outputs else None
            if folder is None or out is None or out.dtype != "int32":
                continue
            try:
                value = folder(graph, op)
            except (ValueError, IndexError, TypeError, OverflowError, np.exceptions.AxisError):
                value = None           # not foldable: left to the lowering, which refuses it
            if value is None:
                continue
            value = np.asarray(value, dtype=np.int32)
            if value.size != out.size:
                raise UnsupportedModelError(
                    f"op #{op.index} {op.type}: computes {value.size} values but its output "
                    f"'{out.name}' has shape {list(out.shape)}; re-export the model from the converter")
            out.data = value.reshape(out.shape)
            graph.operators.remove(op)
            changed = True


# --- float islands: DEQUANTIZE -> float op -> QUANTIZE on one int8 value ---

# float ops allowed inside an island, with the table of the whole island
_ISLAND_TABLES = {"NEG": q.dequantize_negate_quantize_table}


def fold_float_islands(graph: Graph) -> None:
    """The converter leaves some int8 -> float -> int8 detours (a layer norm's 'x - mean' is
    DEQUANTIZE -> NEG -> QUANTIZE). Element-wise on one int8 value, the whole detour is a
    256-entry table: it becomes one LUT op and the float tensors disappear."""
    for deq in list(graph.operators):
        if deq.type != "DEQUANTIZE":
            continue
        x = graph.tensors[deq.inputs[0]]
        mid = graph.consumers(deq.outputs[0])
        if x.dtype != "int8" or x.quant is None or len(mid) != 1 or mid[0].type not in _ISLAND_TABLES:
            continue
        quant = graph.consumers(mid[0].outputs[0])
        if len(quant) != 1 or quant[0].type != "QUANTIZE" or deq.outputs[0] in graph.outputs:
            continue
        y = graph.tensors[quant[0].outputs[0]]
        if y.dtype != "int8" or y.quant is None or mid[0].outputs[0] in graph.outputs:
            continue
        table = _ISLAND_TABLES[mid[0].type](x.quant.scale, x.quant.zero_point, y.quant.scale,
                                            y.quant.zero_point)
        lut = Operator(quant[0].index, "LUT", [x.index], [y.index],
                       {"_table": table, "_from": f"DEQUANTIZE->{mid[0].type}->QUANTIZE"})
        at = graph.operators.index(quant[0])
        graph.operators[at] = lut
        graph.operators.remove(deq)
        graph.operators.remove(mid[0])


# --- reshapes become aliases ---

def alias_reshapes(graph: Graph) -> None:
    """RESHAPE/SQUEEZE/EXPAND_DIMS move no bytes in NHWC: map the output onto the input. Of a
    constant, the output becomes that constant's bytes in the output's shape (TFLite's Reshape
    copies the bytes; the converter folds such ops, a hand-made or older model may not).
    Only a reshape whose new shape TFLite's Prepare accepts (reshape.cc, ops.data_movement.
    reshape_shape) and which gives its declared output: any other is left in the graph for
    check_shapes to refuse in one line (two -1s, a 0, a count that differs were folded)."""
    from .ops.data_movement import reshape_shape
    for op in list(graph.operators):
        if op.type not in ALIAS_OPS or not op.inputs or not op.outputs:
            continue
        try:
            if tuple(reshape_shape(graph, op)[0]) != tuple(graph.tensors[op.outputs[0]].shape):
                continue
        except Exception:     # ShapeError, a missing tensor: check_shapes names it
            continue
        src, dst = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        if (src.is_constant and not dst.is_constant and src.dtype == dst.dtype and src.size == dst.size
                and dst.index not in graph.outputs and all(d >= 0 for d in dst.shape)):
            dst.data = np.asarray(src.data).reshape(dst.shape)
            graph.operators.remove(op)
            continue
        if (src.is_constant or src.dtype != dst.dtype or src.size != dst.size
                or graph.resolve(src.index) == dst.index):   # never an alias cycle
            continue
        if src.quant and dst.quant and (src.quant.scale != dst.quant.scale
                                        or src.quant.zero_point != dst.quant.zero_point):
            raise UnsupportedModelError(
                f"operator {op.index} ({op.type}) changes quantization; re-convert the model")
        graph.aliases[dst.index] = src.index
        graph.operators.remove(op)


# --- explicit PAD folded into the convolution that reads it ---

def fold_pad_into_conv(graph: Graph) -> None:
    """PAD(zero point) -> CONV/DEPTHWISE: the kernel skips out-of-bounds taps, which is
    the same as reading the zero point, so the padded copy is never made."""
    for pad in list(graph.operators):
        if pad.type not in ("PAD", "PADV2"):
            continue
        src, dst = graph.tensors[pad.inputs[0]], graph.tensors[pad.outputs[0]]
        pads = _const(graph, pad.inputs[1])
        consumers = graph.consumers(dst.index)
        if (pads is None or np.asarray(pads).size != 8 or src.dtype != "int8" or len(src.shape) != 4
                or dst.dtype != "int8"   # else left for check_shapes to name (trial9: int4 / type 100 compiled)
                or len(consumers) != 1 or dst.index in graph.outputs or src.quant is None
                or dst.quant is None):
            continue
        conv = consumers[0]
        if conv.type not in ("CONV_2D", "DEPTHWISE_CONV_2D") or conv.inputs[0] != dst.index:
            continue
        pads = np.asarray(pads).reshape(4, 2)
        if pads[0].any() or pads[3].any():
            continue
        if pad.type == "PADV2":
            value = _const(graph, pad.inputs[2]) if len(pad.inputs) > 2 else None
            if value is None or np.asarray(value).size < 1 or int(np.asarray(value).ravel()[0]) != dst.quant.zero_point:
                continue
        if src.quant.zero_point != dst.quant.zero_point or src.quant.scale != dst.quant.scale:
            continue
        prior = conv.options.get("_explicit_pad", (0, 0, 0, 0))
        conv.options["_explicit_pad"] = (prior[0] + int(pads[1][0]), prior[1] + int(pads[1][1]),
                                         prior[2] + int(pads[2][0]), prior[3] + int(pads[2][1]))
        conv.inputs[0] = src.index
        graph.operators.remove(pad)


def remove_dead_ops(graph: Graph) -> None:
    """Drop operators none of whose outputs reach a graph output."""
    live = {graph.resolve(i) for i in graph.outputs} | set(graph.outputs)
    kept: list[Operator] = []
    for op in reversed(graph.operators):
        if any(o in live for o in op.outputs):
            kept.append(op)
            live.update(graph.resolve(i) for i in op.inputs if i >= 0)
    graph.operators[:] = list(reversed(kept))
