"""ADD, MUL, SQUARED_DIFFERENCE (broadcasting, at most 4-D) and BATCH_MATMUL: shape rules
and lowering; the quantization constants are computed as each operator's Prepare does."""
from __future__ import annotations

import numpy as np

from .. import quantization as q
from ..errors import UnsupportedModelError
from ..graph import Graph, Operator
from . import mve
from .common import _act, _operand, _require_int8, _t
from .registry import INT8, ConstArray, OpRecord, Step, register_kernel, register_op
from .shapes import ShapeError, broadcast, fmt, input_shape


def broadcast_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """The two operands broadcast (arithmetic ops' Prepare, ProcessBroadcastShapes)."""
    return [broadcast(input_shape(graph, op, 0), input_shape(graph, op, 1))]


def batch_matmul_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """batch_matmul.cc Prepare: both operands 2-D to 5-D, the contracted depths equal (after
    AdjX / AdjY), the batch dimensions broadcast; output [*batch, rows of lhs, cols of rhs]."""
    a, b = input_shape(graph, op, 0), input_shape(graph, op, 1)
    if not (2 <= len(a) <= 5 and 2 <= len(b) <= 5):
        raise ShapeError(f"operands {fmt(a)} and {fmt(b)} must be 2-D to 5-D")
    adj_x, adj_y = bool(op.options.get("AdjX", False)), bool(op.options.get("AdjY", False))
    m, k = (a[-1], a[-2]) if adj_x else (a[-2], a[-1])
    k2, n = (b[-1], b[-2]) if adj_y else (b[-2], b[-1])
    if k != k2:
        raise ShapeError(f"depths differ: {fmt(a)} x {fmt(b)} (adj_x {adj_x}, adj_y {adj_y})")
    return [(*broadcast(a[:-2], b[:-2]), m, n)]


F = "elementwise"
register_kernel("mcuf_add_s8", family=F)
register_kernel("mcuf_add_broadcast_s8", family=F)
register_kernel("mcuf_mul_s8", family=F)
register_kernel("mcuf_squared_difference_s8", family=F)
register_kernel("mcuf_batch_matmul_s8", family=F)
register_kernel("mcuf_add_s8_dsp", weight_layout="int32 [2][256] tables: each input's scaled value", family=F)
register_kernel("mcuf_mul_s8_dsp", family=F)


def _elementwise_dsp_step(op, kernel: str, p: dict, walk: dict, bound: int, args, ins, y,
                          consts) -> Step | None:
    """ADD / MUL on mcuf_elementwise_s8_dsp.c: the accumulator (|acc| <= bound) through the
    optimized output stage (fast constants where exact, else TFLite's formula). None where the
    doubled accumulator may not fit int32 (the reference kernel is used then)."""
    mult, shift, offset = p["output_multiplier"], p["output_shift"], p["output_offset"]
    if 2 * bound >= 2**31 or not -31 <= shift <= 30:   # larger: the reference step, refused
        return None
    m, b = (q.fast_requant_constants(mult, shift, offset) if q.fast_requant_exact_for(shift, bound, offset)
            else q.formula_requant_constants(mult, shift))
    params = dict(**walk, input1_offset=p["input1_offset"], input2_offset=p["input2_offset"],
                  multiplier=m, shift=b, output_offset=offset, act_min=p["act_min"], act_max=p["act_max"])
    return Step(op, kernel, "mcuf_elementwise_dsp_params", params, args, ins, y.index, 0, consts)


def lower_add(graph, op, kernels: str = "reference") -> Step:
    a, b, y = _t(graph, op.inputs[0]), _t(graph, op.inputs[1]), _t(graph, op.outputs[0])
    _require_int8(a, b, y)
    args, ins, consts, walk = _broadcast_operands(graph, op, a, b, y)
    left_shift = 20
    sa, sb, so = (float(np.float32(t.quant.scale)) for t in (a, b, y))
    twice_max = float(np.float32(2 * np.float32(max(sa, sb))))
    m1, s1 = q.quantize_multiplier(sa / twice_max)
    m2, s2 = q.quantize_multiplier(sb / twice_max)
    mo, s_o = q.quantize_multiplier(twice_max / ((1 << left_shift) * so))
    act_min, act_max = _act(op, y)
    p = dict(size=y.size, input1_offset=-a.quant.zero_point, input2_offset=-b.quant.zero_point,
             left_shift=left_shift, input1_multiplier=m1, input1_shift=s1,
             input2_multiplier=m2, input2_shift=s2, output_multiplier=mo, output_shift=s_o,
             output_offset=y.quant.zero_point, act_min=act_min, act_max=act_max)
    if kernels == "mve" and a.shape == b.shape and not consts:   # the Helium twin, where it fits
        step = mve.retarget(Step(op, "mcuf_add_s8", "mcuf_add_params", p, args, ins, y.index))
        if step.kernel == "mcuf_add_s8_mve":
            return step
    # the Helium set has no broadcasting ADD or MUL: the DSP kernels (an M55 runs them) beat the
    # portable ones there (mobilevit_xxs_96_rgb on mps3-an547: MUL 37M, ADD 0.55M instructions fewer)
    if kernels in ("dsp", "mve"):   # each input's scaled value is a function of one int8: two tables
        xs = np.arange(-128, 128)
        tables = np.array([[q.multiply_by_quantized_multiplier((int(v) + off) << left_shift, m, s)
                            for v in xs] for off, m, s in ((p["input1_offset"], m1, s1),
                                                            (p["input2_offset"], m2, s2))], np.int64)
        t = ConstArray(f"op{op.index}_tables", "int32_t", tables.reshape(-1).astype(np.int32))
        bound = int(np.abs(tables).max(axis=1).sum())
        step = _elementwise_dsp_step(op, "mcuf_add_s8_dsp", p, walk, bound,
                                     [*args[:2], ("const", t), args[2]], ins, y, consts + [t])
        if step is not None:
            return step
    if a.shape == b.shape and not consts:
        step = Step(op, "mcuf_add_s8", "mcuf_add_params", p, args, ins, y.index)
        return mve.retarget(step) if kernels == "mve" else step
    # broadcasting, or a constant operand (layer norm's epsilon)
    return Step(op, "mcuf_add_broadcast_s8", "mcuf_add_broadcast_params", dict(add=p, **walk),
                args, ins, y.index, 0, consts)


def _broadcast_strides(shape, out_dims) -> list[int]:
    """Element strides of a (right-aligned, NHWC) input inside the 4-D output; 0 where the
    input has extent 1 and the output does not (broadcast)."""
    dims = [1] * (4 - len(shape)) + list(shape)
    strides, step = [0] * 4, 1
    for i in range(3, -1, -1):
        if dims[i] != out_dims[i] and dims[i] != 1:
            raise UnsupportedModelError(f"shapes {list(shape)} and {out_dims} do not broadcast")
        strides[i] = 0 if dims[i] == 1 and out_dims[i] != 1 else step
        step *= dims[i]
    return strides


def _broadcast_operands(graph, op, a, b, y):
    """Two element-wise operands walked over the (at most 4-D) output: the call's arguments,
    the arena tensors read, the constants copied to flash, and the walk (4-D output extents,
    each input's element strides, 0 where it is broadcast)."""
    if len(y.shape) > 4:
        raise UnsupportedModelError(f"{op.type} of rank {len(y.shape)} (at most 4 supported)")
    out_dims = [1] * (4 - len(y.shape)) + list(y.shape)
    arg_a, const_a, in_a = _operand(graph, op, a, "input1")
    arg_b, const_b, in_b = _operand(graph, op, b, "input2")
    walk = dict(out_dims=out_dims, stride1=_broadcast_strides(a.shape, out_dims),
                stride2=_broadcast_strides(b.shape, out_dims))
    return [arg_a, arg_b, ("out", y.index)], in_a + in_b, const_a + const_b, walk


def lower_mul(graph, op, kernels: str = "reference") -> Step:
    a, b, y = _t(graph, op.inputs[0]), _t(graph, op.inputs[1]), _t(graph, op.outputs[0])
    _require_int8(a, b, y)
    args, ins, consts, walk = _broadcast_operands(graph, op, a, b, y)
    f32 = np.float32
    # MulPrepare: the product of the scales in float32, then QuantizeMultiplier on the double
    real = float(f32(f32(f32(a.quant.scale) * f32(b.quant.scale)) / f32(y.quant.scale)))
    mult, shift = q.quantize_multiplier(real)
    act_min, act_max = _act(op, y)
    p = dict(**walk, input1_offset=-a.quant.zero_point, input2_offset=-b.quant.zero_point,
             output_multiplier=mult, output_shift=shift, output_offset=y.quant.zero_point,
             act_min=act_min, act_max=act_max)
    if kernels in ("dsp", "mve"):   # no Helium MUL: the DSP one (see lower_add)
        bound = (128 + abs(p["input1_offset"])) * (128 + abs(p["input2_offset"]))
        step = _elementwise_dsp_step(op, "mcuf_mul_s8_dsp", p, walk, bound, args, ins, y, consts)
        if step is not None:
            return step
    return Step(op, "mcuf_mul_s8", "mcuf_mul_params", p, args, ins, y.index, 0, consts)


def lower_batch_matmul(graph, op, kernels: str = "reference") -> Step:
    a, b, y = _t(graph, op.inputs[0]), _t(graph, op.inputs[1]), _t(graph, op.outputs[0])
    _require_int8(a, b, y)
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise UnsupportedModelError("BATCH_MATMUL operands need at least two dimensions")
    adj_x, adj_y = op.options.get("AdjX", False), op.options.get("AdjY", False)
    m, k = (a.shape[-1], a.shape[-2]) if adj_x else (a.shape[-2], a.shape[-1])
    k2, n = (b.shape[-1], b.shape[-2]) if adj_y else (b.shape[-2], b.shape[-1])
    if k != k2:
        raise UnsupportedModelError(f"BATCH_MATMUL depths differ: {list(a.shape)} x {list(b.shape)}")
    ba, bb = int(np.prod(a.shape[:-2])), int(np.prod(b.shape[:-2]))
    batches = int(np.prod(y.shape[:-2]))
    if not ((ba == batches or ba == 1) and (bb == batches or bb == 1)
            and (a.shape[:-2] == b.shape[:-2] or 1 in (ba, bb))):
        raise UnsupportedModelError(f"BATCH_MATMUL batch broadcast {list(a.shape)} x {list(b.shape)}")
    f32 = np.float32
    real = float(f32(a.quant.scale)) * float(f32(b.quant.scale)) / float(f32(y.quant.scale))
    mult, shift = q.quantize_multiplier(real)
    act_min, act_max = _act(op, y)
    p = dict(batches=batches, rows=m, cols=n, depth=k,
             lhs_batch=0 if ba == 1 else m * k, lhs_row=1 if adj_x else k, lhs_depth=m if adj_x else 1,
             rhs_batch=0 if bb == 1 else k * n, rhs_depth=1 if adj_y else n, rhs_col=k if adj_y else 1,
             lhs_offset=-a.quant.zero_point, rhs_offset=-b.quant.zero_point,
             output_multiplier=mult, output_shift=shift, output_offset=y.quant.zero_point,
             act_min=act_min, act_max=act_max)
    arg_a, const_a, in_a = _operand(graph, op, a, "lhs")
    arg_b, const_b, in_b = _operand(graph, op, b, "rhs")
    return Step(op, "mcuf_batch_matmul_s8", "mcuf_batch_matmul_params", p,
                [arg_a, arg_b, ("out", y.index)], in_a + in_b, y.index, batches * m * n * k,
                const_a + const_b)


def lower_squared_difference(graph, op, kernels: str = "reference") -> Step:
    a, b, y = _t(graph, op.inputs[0]), _t(graph, op.inputs[1]), _t(graph, op.outputs[0])
    _require_int8(a, b, y)
    args, ins, consts, walk = _broadcast_operands(graph, op, a, b, y)
    left_shift = 7                      # int8: (255 << 7)^2 still fits int32
    sa, sb, so = (float(np.float32(t.quant.scale)) for t in (a, b, y))
    twice_max = 2.0 * max(sa, sb)
    m1, s1 = q.quantize_multiplier(sa / twice_max)
    m2, s2 = q.quantize_multiplier(sb / twice_max)
    mo, s_o = q.quantize_multiplier(twice_max * twice_max / float(np.float32((1 << 2 * left_shift) * so)))
    if max(s1, s2, s_o) > 0:
        raise UnsupportedModelError("SQUARED_DIFFERENCE output scale too small for TFLite's kernel")
    arith = dict(size=y.size, input1_offset=-a.quant.zero_point, input2_offset=-b.quant.zero_point,
                 left_shift=left_shift, input1_multiplier=m1, input1_shift=s1, input2_multiplier=m2,
                 input2_shift=s2, output_multiplier=mo, output_shift=s_o,
                 output_offset=y.quant.zero_point, act_min=-128, act_max=127)
    return Step(op, "mcuf_squared_difference_s8", "mcuf_add_broadcast_params", dict(add=arith, **walk),
                args, ins, y.index, 0, consts)


register_op(OpRecord("ADD", (2, 2), (INT8,), broadcast_shape, lower_add, family=F))
register_op(OpRecord("MUL", (2, 2), (INT8,), broadcast_shape, lower_mul, family=F))
register_op(OpRecord("SQUARED_DIFFERENCE", (2, 2), (INT8,), broadcast_shape, lower_squared_difference, family=F))
register_op(OpRecord("BATCH_MATMUL", (2, 2), (INT8,), batch_matmul_shape, lower_batch_matmul, family=F))
