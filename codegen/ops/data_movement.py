"""Operators that only move bytes: PAD/PADV2, TRANSPOSE, SPLIT/SPLIT_V, SLICE/STRIDED_SLICE,
DEPTH_TO_SPACE/SPACE_TO_DEPTH, UNPACK (one strided copy each), CONCATENATION and PACK,
GATHER with constant indices; and the reshapes (RESHAPE, SQUEEZE, EXPAND_DIMS),
which the passes turn into aliases and which are only shape-checked here."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedModelError
from ..graph import Graph, Operator, Tensor
from . import mve
from .common import _const_ints, _operand, _require_int8, _same_quant, _t
from .registry import INDEX, INT8, ConstArray, OpRecord, Step, register_kernel, register_op
from .shapes import ShapeError, axis_index, const_ints, fmt, input_shape, shape_of


# --- shapes (TFLite's Prepare of each) ---

def pad_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """pad.cc ResizeOutputTensor: paddings [rank, 2], every amount >= 0; out = in + before + after."""
    x = input_shape(graph, op, 0)
    pads = const_ints(graph, op, 1, "paddings")
    if len(pads) != 2 * len(x):
        raise ShapeError(f"{len(pads)} padding amounts for a {len(x)}-D input {fmt(x)} (expects {2 * len(x)})")
    if min(pads, default=0) < 0:
        raise ShapeError(f"negative padding amounts {pads}")
    return [tuple(d + pads[2 * i] + pads[2 * i + 1] for i, d in enumerate(x))]


def explain_pad(graph: Graph, op: Operator) -> str:
    pads = np.asarray(graph.tensors[op.inputs[1]].data).reshape(-1, 2).tolist()
    return f"from input {fmt(graph.tensors[op.inputs[0]].shape)}, paddings {pads}"


def transpose_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """transpose.cc Prepare: perm a permutation of 0..rank-1; out[i] = in[perm[i]]."""
    x = input_shape(graph, op, 0)
    perm = const_ints(graph, op, 1, "permutation")
    if sorted(perm) != list(range(len(x))):
        raise ShapeError(f"permutation {perm} is not one of the {len(x)} axes of {fmt(x)}")
    return [tuple(x[a] for a in perm)]


def split_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """split.cc: SPLIT(axis, x) into NumSplits (= the outputs) equal parts, the axis' extent a
    multiple of it."""
    x = input_shape(graph, op, 1)
    axes = const_ints(graph, op, 0, "axis")
    if len(axes) != 1:
        raise ShapeError(f"axis must be one value, got {axes}")
    axis = axis_index(axes[0], len(x))
    n = len(op.outputs)
    if op.options.get("NumSplits", n) != n:
        raise ShapeError(f"NumSplits {op.options.get('NumSplits')} but {n} outputs")
    if x[axis] % n:
        raise ShapeError(f"axis {axis} of {fmt(x)} does not split into {n} equal parts")
    return [tuple(x[axis] // n if i == axis else d for i, d in enumerate(x))] * n


def split_v_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """split_v.cc: SPLIT_V(x, size_splits, axis); at most one size -1 (the rest), the sizes
    summing to the axis' extent, one per output."""
    x = input_shape(graph, op, 0)
    sizes = const_ints(graph, op, 1, "size_splits")
    axes = const_ints(graph, op, 2, "axis")
    if len(axes) != 1:
        raise ShapeError(f"axis must be one value, got {axes}")
    axis = axis_index(axes[0], len(x))
    if len(sizes) != len(op.outputs):
        raise ShapeError(f"{len(sizes)} split sizes for {len(op.outputs)} outputs")
    if sizes.count(-1) > 1 or any(s < -1 for s in sizes):
        raise ShapeError(f"split sizes {sizes}: at most one -1, no other negative")
    if -1 in sizes:
        sizes[sizes.index(-1)] = x[axis] - (sum(sizes) + 1)
    if sum(sizes) != x[axis] or min(sizes) < 0:
        raise ShapeError(f"split sizes {sizes} do not sum to axis {axis} of {fmt(x)}")
    return [tuple(s if i == axis else d for i, d in enumerate(x)) for s in sizes]


def slice_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """slice.cc: begin >= 0 and size (-1: to the end) with begin + size <= extent."""
    x = input_shape(graph, op, 0)
    begin = const_ints(graph, op, 1, "begin")
    size = const_ints(graph, op, 2, "size")
    if len(begin) != len(x) or len(size) != len(x):
        raise ShapeError(f"begin {begin} and size {size} must have one value per axis of {fmt(x)}")
    out = []
    for b, s, d in zip(begin, size, x):
        n = d - b if s == -1 else s
        if b < 0 or n < 0 or b + n > d:
            raise ShapeError(f"slice begin {begin} size {size} outside the input {fmt(x)}")
        out.append(n)
    return [tuple(out)]


def strided_slice_bounds(x, begin, end, strides, o):
    """strided_slice_logic.h (StartForAxis / StopForAxis), masks applied: per axis the first
    index, the count and the stride; shrunk axes have count 1."""
    if o.get("EllipsisMask", 0) or o.get("NewAxisMask", 0) or o.get("Offset", False):
        raise ShapeError("STRIDED_SLICE with ellipsis, new-axis or offset masks is not supported")
    starts, counts = [], []
    for i, d in enumerate(x):
        b, e, s = begin[i], end[i], strides[i]
        if s == 0:
            raise ShapeError("STRIDED_SLICE with a zero stride (TFLite refuses it too): re-export the model; a slice steps by 1 or more")
        if o.get("ShrinkAxisMask", 0) >> i & 1:
            b = b + d if b < 0 else b
            if not 0 <= b < d:
                raise ShapeError(f"shrunk axis {i}: index {begin[i]} outside extent {d}")
            starts.append(b)
            counts.append(1)
            continue
        if o.get("BeginMask", 0) >> i & 1:
            b = 0 if s > 0 else d - 1
        if o.get("EndMask", 0) >> i & 1:
            e = d if s > 0 else -d - 1
        b = b + d if b < 0 else b
        e = e + d if e < 0 and not (o.get("EndMask", 0) >> i & 1) else e
        b = min(max(b, 0), d) if s > 0 else min(max(b, -1), d - 1)
        e = min(max(e, 0), d) if s > 0 else min(max(e, -1), d - 1)
        starts.append(b)
        counts.append(max(0, -(-(e - b) // s) if s > 0 else -(-(b - e) // -s)))
    return starts, counts


def strided_slice_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """strided_slice.cc ResizeSensor: the per-axis counts, shrunk axes removed."""
    x = input_shape(graph, op, 0)
    begin, end, strides = (const_ints(graph, op, k, w) for k, w in ((1, "begin"), (2, "end"), (3, "strides")))
    if not len(begin) == len(end) == len(strides) == len(x):
        raise ShapeError(f"begin/end/strides must have one value per axis of {fmt(x)}")
    _, counts = strided_slice_bounds(x, begin, end, strides, op.options)
    shrink = op.options.get("ShrinkAxisMask", 0)
    return [tuple(c for i, c in enumerate(counts) if not shrink >> i & 1)]


def concat_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """concatenation.cc Prepare: every input of the same rank, equal except on the axis
    (Axis, negative from the end), whose extents add up."""
    shapes = [input_shape(graph, op, k) for k in range(len(op.inputs))]
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise ShapeError(f"inputs of different ranks: {', '.join(fmt(s) for s in shapes)}")
    axis = op.options.get("Axis", 0)
    if not isinstance(axis, (int, np.integer)):
        raise ShapeError(f"axis {axis!r} is not an integer")
    axis = axis_index(int(axis), rank)
    for s in shapes[1:]:
        if any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != axis):
            raise ShapeError(f"inputs {', '.join(fmt(s) for s in shapes)} differ outside axis {axis}")
    return [tuple(sum(s[axis] for s in shapes) if i == axis else d for i, d in enumerate(shapes[0]))]


def explain_concat(graph: Graph, op: Operator) -> str:
    return (f"from inputs {' + '.join(fmt(graph.tensors[i].shape) for i in op.inputs)}, "
            f"axis {op.options.get('Axis', 0)}")


def reshape_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """reshape.cc: the new shape (the constant shape input, else NewShape, else the declared
    output) with at most one -1 resolved; the element count must not change. SQUEEZE and
    EXPAND_DIMS keep the count too (their output is checked the same way)."""
    x = input_shape(graph, op, 0)
    size = int(np.prod(x, dtype=np.int64))
    target = None
    if op.type == "RESHAPE" and len(op.inputs) > 1 and op.inputs[1] >= 0 and \
            graph.tensors.get(op.inputs[1]) is not None and graph.tensors[op.inputs[1]].is_constant:
        target = const_ints(graph, op, 1, "shape")
    elif op.type == "RESHAPE" and op.options.get("NewShape"):
        target = [int(d) for d in op.options["NewShape"]]
    src = "NewShape option"
    if target is None:
        target = list(shape_of(graph, op.outputs[0], "output"))
        src = "declared output shape"
    elif op.type == "RESHAPE" and len(op.inputs) > 1 and op.inputs[1] >= 0 and op.inputs[1] in graph.tensors:
        src = f"shape tensor '{graph.tensors[op.inputs[1]].name}'"
    fix = "TFLite's Prepare refuses it too (reshape_utils.h): re-export the model"
    if target.count(-1) > 1 or any(d < -1 or d == 0 for d in target):
        raise ShapeError(f"new shape {target} ({src}): extents must be positive with at most one -1; {fix}")
    known = int(np.prod([d for d in target if d != -1], dtype=object))
    if -1 in target:
        if size % known:
            raise ShapeError(f"input {fmt(x)} ({size} elements) cannot be reshaped to {target} ({src}); {fix}")
        target[target.index(-1)] = size // known
    elif known != size:
        raise ShapeError(f"reshape of {fmt(x)} ({size} elements) into {fmt(target)} ({known} elements, "
                         f"{src}); {fix}")
    return [tuple(target)]


def depth_space_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """depth_to_space.cc / space_to_depth.cc Prepare: a 4-D NHWC input, BlockSize b >= 1;
    DEPTH_TO_SPACE: C a multiple of b*b, out [N, H*b, W*b, C/(b*b)]; SPACE_TO_DEPTH: H and W
    multiples of b, out [N, H/b, W/b, C*b*b]."""
    x = input_shape(graph, op, 0, 4, "input")
    b = op.options.get("BlockSize")
    if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
        raise ShapeError(f"block size {b!r} is not a positive integer")
    n, h, w, c = x
    if op.type == "DEPTH_TO_SPACE":
        if c % (b * b):
            raise ShapeError(f"{c} channels of {fmt(x)} are not a multiple of block size {b} squared")
        return [(n, h * b, w * b, c // (b * b))]
    if h % b or w % b:
        raise ShapeError(f"height and width of {fmt(x)} are not multiples of block size {b}")
    return [(n, h // b, w // b, c * b * b)]


def explain_depth_space(graph: Graph, op: Operator) -> str:
    return f"from input {fmt(graph.tensors[op.inputs[0]].shape)}, block size {op.options.get('BlockSize')}"


def pack_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """pack.cc Prepare: every input of one shape S, Axis in [-(rank+1), rank] (negative from
    the end of the output); ValuesCount, when given, the number of inputs (0 too: pack.cc's
    TF_LITE_ENSURE_EQ(NumInputs, values_count) fails on it); out S with the input count
    inserted at the axis."""
    shapes = [input_shape(graph, op, k) for k in range(len(op.inputs))]
    if any(s != shapes[0] for s in shapes):
        raise ShapeError(f"inputs of different shapes: {', '.join(fmt(s) for s in shapes)}")
    if op.options.get("ValuesCount", len(shapes)) != len(shapes):
        raise ShapeError(f"ValuesCount {op.options.get('ValuesCount')} but {len(shapes)} inputs "
                         "(TFLite requires them equal): re-export the model")
    axis = axis_index(int(op.options.get("Axis", 0)), len(shapes[0]) + 1)
    s = list(shapes[0])
    return [tuple(s[:axis] + [len(shapes)] + s[axis:])]


def unpack_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """unpack.cc Prepare: Axis in [-rank, rank); Num, when given, the number of outputs (0
    too: TF_LITE_ENSURE_EQ(NumOutputs, num) fails on it), equal to the axis' extent; every
    output the input without that axis."""
    x = input_shape(graph, op, 0)
    axis = axis_index(int(op.options.get("Axis", 0)), len(x))
    if x[axis] != len(op.outputs) or op.options.get("Num", len(op.outputs)) != len(op.outputs):
        raise ShapeError(f"axis {axis} of {fmt(x)} unpacks into {x[axis]} tensors, "
                         f"the model has {len(op.outputs)} outputs (Num {op.options.get('Num')}; TFLite "
                         "requires all three equal): re-export the model")
    return [tuple(d for i, d in enumerate(x) if i != axis)] * len(op.outputs)


def gather_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """gather.cc Prepare: Axis in [-rank, rank) (negative from the end), BatchDims 0 here;
    out = params.shape[:axis] + indices.shape + params.shape[axis + 1:]."""
    x = input_shape(graph, op, 0, what="params")
    idx = input_shape(graph, op, 1, what="indices")
    if op.options.get("BatchDims", 0):
        raise ShapeError(f"batch_dims {op.options.get('BatchDims')} (only 0 is supported)")
    axis = axis_index(int(op.options.get("Axis", 0)), len(x))
    return [tuple(x[:axis]) + tuple(idx) + tuple(x[axis + 1:])]


# --- kernels ---

F = "data_movement"
register_kernel("mcuf_pad_s8", family=F)
register_kernel("mcuf_copy_s8", family=F)
register_kernel("mcuf_concat_s8", family=F)
register_kernel("mcuf_gather_s8", weight_layout="int32 indices [count]", family=F)


# --- lowering ---

def lower_pad(graph, op, kernels: str = "reference") -> Step:
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _require_int8(x, y)
    pads = _t(graph, op.inputs[1]).data
    if pads is None or len(x.shape) > 4:
        raise UnsupportedModelError("paddings must be constant and the tensor at most 4-D")
    rank = len(x.shape)
    pads = np.zeros((4, 2), np.int64) if rank == 0 else np.asarray(pads).reshape(rank, 2)
    pads = np.vstack([np.zeros((4 - rank, 2), np.int64), pads])
    in_dims = [1] * (4 - rank) + list(x.shape)
    value = y.quant.zero_point
    if op.type == "PADV2" and len(op.inputs) > 2:
        v = _t(graph, op.inputs[2]).data
        if v is None:
            raise UnsupportedModelError("pad value must be constant")
        value = int(np.asarray(v).ravel()[0])
    p = dict(in_dims=in_dims, pad_before=[int(v) for v in pads[:, 0]],
             out_dims=[d + int(a + b) for d, (a, b) in zip(in_dims, pads)], value=value)
    return Step(op, "mcuf_pad_s8", "mcuf_pad_params", p, [("in", x.index), ("out", y.index)],
                [x.index], y.index)


COPY_MAX_DIMS = 6   # MCUF_COPY_MAX_DIMS


def _row_major_strides(shape) -> list[int]:
    strides, step = [], 1
    for d in reversed(list(shape)):
        strides.insert(0, step)
        step *= int(d)
    return strides


def _copy_step(op, x: Tensor, y: Tensor, dims, strides, offset: int = 0, kernels: str = "reference") -> Step:
    """A strided gather of y from x. Extent-1 dimensions are dropped and neighbours that stay
    contiguous merged: a channel shuffle's 5-D transpose is a 3-D copy."""
    merged: list[list[int]] = []
    for d, s in zip(dims, strides):
        if d == 1:
            continue
        if merged and merged[-1][1] == s * d:
            merged[-1] = [merged[-1][0] * d, s]
        else:
            merged.append([int(d), int(s)])
    if len(merged) > COPY_MAX_DIMS:
        raise UnsupportedModelError(f"a copy that needs {len(merged)} dimensions (at most {COPY_MAX_DIMS})")
    merged = merged or [[1, 1]]
    pad = [0] * (COPY_MAX_DIMS - len(merged))
    p = dict(offset=offset, dims=len(merged), out_dims=[d for d, _ in merged] + pad,
             in_strides=[s for _, s in merged] + pad)
    step = Step(op, "mcuf_copy_s8", "mcuf_copy_params", p, [("in", x.index), ("out", y.index)],
                [x.index], y.index)
    return mve.retarget(step) if kernels == "mve" else step


def lower_transpose(graph, op, kernels: str = "reference") -> Step:
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _same_quant(x, y)
    perm = _const_ints(graph, op.inputs[1], "the permutation")
    st = _row_major_strides(x.shape)
    return _copy_step(op, x, y, [x.shape[a] for a in perm], [st[a] for a in perm], kernels=kernels)


def lower_depth_space(graph, op, kernels: str = "reference") -> Step:
    """DEPTH_TO_SPACE (TFLite's only mode, DCR) and SPACE_TO_DEPTH as one strided copy
    (reference_ops::DepthToSpace / SpaceToDepth): out[n, h*b + i, w*b + j, c] =
    in[n, h, w, (i*b + j)*C' + c], and its inverse; the bytes are copied unchanged."""
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _same_quant(x, y)
    b = int(op.options["BlockSize"])
    n, h, w, c = x.shape
    if op.type == "DEPTH_TO_SPACE":
        co = c // (b * b)        # output dims [N, H, i, W, j, C'] in its row-major order
        dims, strides = [n, h, b, w, b, co], [h * w * c, w * c, b * co, c, co, 1]
    else:
        dims, strides = [n, h // b, w // b, b, b, c], [h * w * c, b * w * c, b * c, w * c, c, 1]
    return _copy_step(op, x, y, dims, strides, kernels=kernels)


def lower_pack(graph, op, kernels: str = "reference") -> Step:
    """PACK of int8 tensors (the int32 shape arithmetic of Keras' dynamic reshape is folded
    by the passes first): a concatenation along a new axis, mcuf_concat_s8 (pack.cc copies
    the bytes; it requires every input quantized as the output)."""
    y = _t(graph, op.outputs[0])
    axis = axis_index(int(op.options.get("Axis", 0)), len(y.shape))
    outer = int(np.prod(y.shape[:axis]))
    row = int(np.prod(y.shape[axis + 1:]))
    args, consts, ins = [], [], []
    for k, i in enumerate(op.inputs):
        x = _t(graph, i)
        _same_quant(x, y)
        a, c, n = _operand(graph, op, x, f"input{k}")
        args.append(a)
        consts += c
        ins += n
    r = ConstArray(f"op{op.index}_rows", "int32_t", np.full(len(op.inputs), row, np.int32))
    p = dict(outer=outer, out_row=row * len(op.inputs), count=len(op.inputs))
    return Step(op, "mcuf_concat_s8", "mcuf_concat_params", p,
                [("ins", args), ("const", r), ("out", y.index)], ins, y.index, 0, consts + [r])


def lower_unpack(graph, op, kernels: str = "reference") -> list[Step]:
    """UNPACK: one strided copy per output, slice k of the axis (unpack.cc copies bytes)."""
    x = _t(graph, op.inputs[0])
    axis = axis_index(int(op.options.get("Axis", 0)), len(x.shape))
    st = _row_major_strides(x.shape)
    rest = [i for i in range(len(x.shape)) if i != axis]
    steps = []
    for k, o in enumerate(op.outputs):
        y = _t(graph, o)
        _same_quant(x, y)
        steps.append(_copy_step(op, x, y, [x.shape[i] for i in rest], [st[i] for i in rest],
                                k * st[axis], kernels=kernels))
    return steps


def lower_gather(graph, op, kernels: str = "reference") -> Step:
    """GATHER of int8 params with constant indices along one axis (reference_ops::Gather: rows
    copied unchanged). UnsupportedModelError for indices that are not constant or outside
    [0, axis extent) (TFLite's Eval fails on those), or params quantized unlike the output."""
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _same_quant(x, y)
    axis = axis_index(int(op.options.get("Axis", 0)), len(x.shape))
    if _t(graph, op.inputs[1]).data is None:
        raise UnsupportedModelError(f"GATHER indices '{_t(graph, op.inputs[1]).name}' are computed at run "
                                    "time; only constant indices compile (make them a constant)")
    idx = _const_ints(graph, op.inputs[1], "GATHER indices")
    bad = [i for i in idx if not 0 <= i < x.shape[axis]]
    if bad:
        raise UnsupportedModelError(
            f"GATHER indices {bad[:4]} of '{_t(graph, op.inputs[1]).name}' outside axis {axis} of "
            f"'{x.name}' (extent {x.shape[axis]}); TFLite fails on them too: fix the indices")
    t = ConstArray(f"op{op.index}_indices", "int32_t", np.array(idx, np.int32))
    p = dict(outer=int(np.prod(x.shape[:axis])), axis_size=int(x.shape[axis]),
             inner=int(np.prod(x.shape[axis + 1:])), count=len(idx))
    return Step(op, "mcuf_gather_s8", "mcuf_gather_params", p,
                [("in", x.index), ("const", t), ("out", y.index)], [x.index], y.index, 0, [t])


def lower_split(graph, op, kernels: str = "reference") -> list[Step]:
    """SPLIT (axis, x) and SPLIT_V (x, sizes, axis): one copy per output."""
    xi, ai = (op.inputs[1], op.inputs[0]) if op.type == "SPLIT" else (op.inputs[0], op.inputs[2])
    x = _t(graph, xi)
    axis = _const_ints(graph, ai, "the split axis")[0] % len(x.shape)
    st = _row_major_strides(x.shape)
    steps, start = [], 0
    for o in op.outputs:
        y = _t(graph, o)
        _same_quant(x, y)
        steps.append(_copy_step(op, x, y, y.shape, st, start * st[axis], kernels=kernels))
        start += y.shape[axis]
    return steps


def lower_slice(graph, op, kernels: str = "reference") -> Step:
    """SLICE (begin, size) and STRIDED_SLICE (begin, end, strides, masks) with constant bounds."""
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _same_quant(x, y)
    rank = len(x.shape)
    begin = _const_ints(graph, op.inputs[1], "begin")
    if op.type == "SLICE":
        size = _const_ints(graph, op.inputs[2], "size")
        step = [1] * rank
        count = [x.shape[i] - begin[i] if size[i] < 0 else size[i] for i in range(rank)]
    else:
        o = op.options
        if o.get("EllipsisMask", 0) or o.get("NewAxisMask", 0) or o.get("Offset", False):
            raise UnsupportedModelError("STRIDED_SLICE with ellipsis, new-axis or offset masks")
        end = _const_ints(graph, op.inputs[2], "end")
        step = _const_ints(graph, op.inputs[3], "strides")
        count = []
        for i in range(rank):
            b, e, s, d = begin[i], end[i], step[i], x.shape[i]
            if s == 0:
                raise UnsupportedModelError("STRIDED_SLICE with a zero stride (TFLite refuses it too): re-export the model; a slice steps by 1 or more")
            if o.get("BeginMask", 0) >> i & 1:
                b = 0 if s > 0 else d - 1
            if o.get("EndMask", 0) >> i & 1:
                e = d if s > 0 else -d - 1
            b = b + d if b < 0 else b
            e = e + d if e < 0 and not (o.get("EndMask", 0) >> i & 1) else e
            if o.get("ShrinkAxisMask", 0) >> i & 1:
                begin[i], count_i = b, 1
            else:
                b = min(max(b, 0), d) if s > 0 else min(max(b, -1), d - 1)
                e = min(max(e, 0), d) if s > 0 else min(max(e, -1), d - 1)
                begin[i], count_i = b, max(0, -(-(e - b) // s) if s > 0 else -(-(b - e) // -s))
            count.append(count_i)
    if int(np.prod(count)) != y.size:
        raise UnsupportedModelError(f"slice of {count} elements does not match the output {list(y.shape)}")
    st = _row_major_strides(x.shape)
    offset = sum(b * s for b, s in zip(begin, st))
    return _copy_step(op, x, y, count, [s * k for s, k in zip(st, step)], offset, kernels=kernels)


def lower_concat(graph, op, kernels: str = "reference") -> Step:
    y = _t(graph, op.outputs[0])
    if op.options.get("FusedActivationFunction", "NONE") != "NONE":
        raise UnsupportedModelError("CONCATENATION with a fused activation")
    axis = op.options.get("Axis", 0) % len(y.shape)
    outer = int(np.prod(y.shape[:axis]))
    args, consts, ins, rows = [], [], [], []
    for k, i in enumerate(op.inputs):
        x = _t(graph, i)
        if (x.quant is not None and y.quant is not None
                and (x.quant.scale != y.quant.scale or x.quant.zero_point != y.quant.zero_point)):
            # concatenation.cc Prepare refuses int8 inputs quantized unlike the output; the
            # converter requantizes such inputs with a QUANTIZE first (compiled exactly)
            raise UnsupportedModelError(
                f"input '{x.name}' (scale {x.quant.scale:.6g}, zero point {x.quant.zero_point}) is "
                f"quantized differently from the output (scale {y.quant.scale:.6g}, zero point "
                f"{y.quant.zero_point}); TFLite's int8 CONCATENATION refuses this too: re-convert, "
                "the converter requantizes such inputs with a QUANTIZE first")
        _same_quant(x, y)
        a, c, n = _operand(graph, op, x, f"input{k}")
        args.append(a)
        consts += c
        ins += n
        rows.append(int(np.prod(x.shape[axis:])))
    r = ConstArray(f"op{op.index}_rows", "int32_t", np.array(rows, np.int32))
    p = dict(outer=outer, out_row=int(np.prod(y.shape[axis:])), count=len(rows))
    return Step(op, "mcuf_concat_s8", "mcuf_concat_params", p,
                [("ins", args), ("const", r), ("out", y.index)], ins, y.index, 0, consts + [r])


ANY = ("int8", "uint8", "int16", "int32", "int64", "float32", "float16", "bool")
register_op(OpRecord("PAD", (2, 2), (INT8, INDEX), pad_shape, lower_pad, explain=explain_pad, family=F))
# PADV2: TFLite lets constant_values (input 2) be omitted; lower_pad reads it when present, so
# it is not declared optional (validate.py refuses -1 there, as before the registry was its source)
register_op(OpRecord("PADV2", (2, 3), (INT8, INDEX, INT8), pad_shape, lower_pad,
                     explain=explain_pad, family=F))
register_op(OpRecord("TRANSPOSE", (2, 2), (INT8, INDEX), transpose_shape, lower_transpose, family=F))
register_op(OpRecord("SPLIT", (2, 2), (INDEX, INT8), split_shape, lower_split, outputs=(1, -1), family=F,
                     outputs_option="NumSplits"))
register_op(OpRecord("SPLIT_V", (3, 3), (INT8, INDEX, INDEX), split_v_shape, lower_split, outputs=(1, -1), family=F,
                     outputs_option="NumSplits"))
register_op(OpRecord("SLICE", (3, 3), (INT8, INDEX, INDEX), slice_shape, lower_slice, family=F))
register_op(OpRecord("STRIDED_SLICE", (4, 4), (INT8, INDEX, INDEX, INDEX), strided_slice_shape, lower_slice,
                     family=F))
register_op(OpRecord("CONCATENATION", (1, -1), (INT8,), concat_shape, lower_concat, explain=explain_concat,
                     family=F))
register_op(OpRecord("DEPTH_TO_SPACE", (1, 1), (INT8,), depth_space_shape, lower_depth_space,
                     explain=explain_depth_space, family=F))
register_op(OpRecord("SPACE_TO_DEPTH", (1, 1), (INT8,), depth_space_shape, lower_depth_space,
                     explain=explain_depth_space, family=F))
register_op(OpRecord("GATHER", (2, 2), (INT8, INDEX), gather_shape, lower_gather, family=F))
register_op(OpRecord("UNPACK", (1, 1), (INT8,), unpack_shape, lower_unpack, outputs=(1, -1), family=F))
# aliases after the passes: shape-checked only; arity from reshape.cc, squeeze.cc, expand_dims.cc
for _name, _arity in (("RESHAPE", (1, 2)), ("SQUEEZE", (1, 1)), ("EXPAND_DIMS", (2, 2))):
    register_op(OpRecord(_name, _arity, (ANY, INDEX), reshape_shape, None, output_dtypes=ANY, family=F))
