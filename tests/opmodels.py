"""Tiny one-op (or few-op) int8 models for differential tests, built with ModelBuilder."""
from __future__ import annotations

import numpy as np

from codegen.tflite_writer import ModelBuilder

ACT = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}
PAD = {"SAME": 0, "VALID": 1}


def _out_size(padding, size, k, stride, dil):
    eff = (k - 1) * dil + 1
    return (size + stride - 1) // stride if padding == "SAME" else (size + stride - eff) // stride


def _input(mb, rng, shape, scale=None, zp=None):
    scale = scale if scale is not None else float(rng.uniform(0.01, 0.1))
    zp = zp if zp is not None else int(rng.integers(-128, 128))
    return mb.tensor(shape, "int8", scale, zp), scale


def _kill(weights, biases, dead, axis):
    """Dead channels as converters emit them: all-zero weights, a bias near +-2^30."""
    for i, c in enumerate(dead):
        np.moveaxis(weights, axis, 0)[c] = 0
        biases[c] = (1 << 30) * (-1 if i % 2 else 1) - 64 * i


def conv_model(rng, *, k, stride, padding, dilation, in_c, out_c, groups=1, h=8, w=8,
               act="NONE", scale_span=(1e-3, 1e-2), in_zp=None, dead=(), out_scale=None, wmax=127,
               bmax=3000) -> bytes:
    mb = ModelBuilder()
    x, xs = _input(mb, rng, [1, h, w, in_c], zp=in_zp)
    fic = in_c // groups
    wscales = np.exp(rng.uniform(np.log(scale_span[0]), np.log(scale_span[1]), out_c)).astype(np.float32)
    wdata, bdata = rng.integers(-wmax, wmax + 1, (out_c, k, k, fic)), rng.integers(-bmax, bmax, out_c)
    _kill(wdata, bdata, dead, 0)
    wt = mb.tensor([out_c, k, k, fic], "int8", wscales, 0, wdata, axis=0)
    bias = mb.tensor([out_c], "int32", xs * wscales, 0, bdata)
    oh, ow = _out_size(padding, h, k, stride, dilation), _out_size(padding, w, k, stride, dilation)
    out_scale = out_scale or xs * float(np.median(wscales)) * 73 * 73 * np.sqrt(k * k * fic) / 60
    y = mb.tensor([1, oh, ow, out_c], "int8", out_scale, int(rng.integers(-20, 20)))
    mb.op("CONV_2D", [x, wt, bias], [y], "Conv2DOptions", Padding=PAD[padding], StrideW=stride,
          StrideH=stride, FusedActivationFunction=ACT[act], DilationWFactor=dilation,
          DilationHFactor=dilation)
    return mb.build([x], [y])


def depthwise_model(rng, *, k, stride, padding, dilation, in_c, mult, h=8, w=8, act="NONE",
                    scale_span=(1e-3, 1e-2), dead=(), out_scale=None, wmax=127, bmax=3000,
                    in_zp=None) -> bytes:
    mb = ModelBuilder()
    x, xs = _input(mb, rng, [1, h, w, in_c], zp=in_zp)
    out_c = in_c * mult
    wscales = np.exp(rng.uniform(np.log(scale_span[0]), np.log(scale_span[1]), out_c)).astype(np.float32)
    wdata, bdata = rng.integers(-wmax, wmax + 1, (1, k, k, out_c)), rng.integers(-bmax, bmax, out_c)
    _kill(wdata, bdata, dead, 3)
    wt = mb.tensor([1, k, k, out_c], "int8", wscales, 0, wdata, axis=3)
    bias = mb.tensor([out_c], "int32", xs * wscales, 0, bdata)
    sh, sw = stride if isinstance(stride, tuple) else (stride, stride)   # (stride_h, stride_w)
    oh, ow = _out_size(padding, h, k, sh, dilation), _out_size(padding, w, k, sw, dilation)
    out_scale = out_scale or xs * float(np.median(wscales)) * 73 * 73 * k / 60
    y = mb.tensor([1, oh, ow, out_c], "int8", out_scale, int(rng.integers(-20, 20)))
    mb.op("DEPTHWISE_CONV_2D", [x, wt, bias], [y], "DepthwiseConv2DOptions", Padding=PAD[padding],
          StrideW=sw, StrideH=sh, DepthMultiplier=mult, FusedActivationFunction=ACT[act],
          DilationWFactor=dilation, DilationHFactor=dilation)
    return mb.build([x], [y])


def fully_connected_model(rng, *, batches, in_depth, out_depth, per_channel, act="NONE") -> bytes:
    mb = ModelBuilder()
    x, xs = _input(mb, rng, [batches, in_depth])
    n = out_depth if per_channel else 1
    wscales = np.exp(rng.uniform(np.log(1e-3), np.log(1e-2), n)).astype(np.float32)
    wt = mb.tensor([out_depth, in_depth], "int8", wscales, 0,
                   rng.integers(-127, 128, (out_depth, in_depth)), axis=0)
    bias = mb.tensor([out_depth], "int32", xs * wscales, 0, rng.integers(-3000, 3000, out_depth))
    out_scale = xs * float(np.median(wscales)) * 73 * 73 * np.sqrt(in_depth) / 60
    y = mb.tensor([batches, out_depth], "int8", out_scale, int(rng.integers(-20, 20)))
    mb.op("FULLY_CONNECTED", [x, wt, bias], [y], "FullyConnectedOptions",
          FusedActivationFunction=ACT[act])
    return mb.build([x], [y])


def pool_model(rng, *, kind, k, stride, padding, c=5, h=9, w=9, act="NONE") -> bytes:
    mb = ModelBuilder()
    scale, zp = float(rng.uniform(0.01, 0.1)), int(rng.integers(-100, 100))
    x, _ = _input(mb, rng, [1, h, w, c], scale, zp)
    oh, ow = _out_size(padding, h, k, stride, 1), _out_size(padding, w, k, stride, 1)
    y = mb.tensor([1, oh, ow, c], "int8", scale, zp)
    mb.op(kind, [x], [y], "Pool2DOptions", Padding=PAD[padding], StrideW=stride, StrideH=stride,
          FilterWidth=k, FilterHeight=k, FusedActivationFunction=ACT[act])
    return mb.build([x], [y])


def mean_model(rng, *, keep_dims, same_quant, h=5, w=7, c=6, axes=(1, 2), shape=None, op="MEAN") -> bytes:
    """MEAN or REDUCE_MAX (op) over `axes`, as the converter writes them (ReducerOptions)."""
    mb = ModelBuilder()
    in_shape = list(shape or (1, h, w, c))
    x, xs = _input(mb, rng, in_shape)
    zp = mb.tensors[x]["zero_point"][0]
    axis = mb.tensor([len(axes)], "int32", data=np.array(axes, np.int32))
    reduced = {a % len(in_shape) for a in axes}
    shape = [1 if i in reduced else d for i, d in enumerate(in_shape) if keep_dims or i not in reduced]
    if same_quant:
        y = mb.tensor(shape, "int8", xs, zp)
    else:
        y = mb.tensor(shape, "int8", xs * float(rng.uniform(0.3, 1.5)), int(rng.integers(-50, 50)))
    mb.op(op, [x, axis], [y], "ReducerOptions", KeepDims=keep_dims)
    return mb.build([x], [y])


def add_model(rng, *, shape=(1, 6, 6, 5), act="NONE") -> bytes:
    """ADD(x, requantized x): two int8 operands with different scales and zero points."""
    mb = ModelBuilder()
    x, xs = _input(mb, rng, list(shape))
    b = mb.tensor(list(shape), "int8", xs * float(rng.uniform(0.5, 3.0)), int(rng.integers(-60, 60)))
    y = mb.tensor(list(shape), "int8", xs * float(rng.uniform(1.0, 3.0)), int(rng.integers(-30, 30)))
    mb.op("QUANTIZE", [x], [b])
    mb.op("ADD", [x, b], [y], "AddOptions", FusedActivationFunction=ACT[act])
    return mb.build([x], [y])


def squared_difference_model(rng, *, shape_a, shape_b, const_b) -> bytes:
    """(x - m)^2 with m = x's MEAN over the last axis (a layer norm's variance), or a constant."""
    mb = ModelBuilder()
    a, xs = _input(mb, rng, list(shape_a))
    sb = xs * float(rng.uniform(0.2, 2.0))
    if const_b:
        b = mb.tensor(list(shape_b), "int8", sb, int(rng.integers(-128, 128)), rng.integers(-128, 128, shape_b))
    else:
        axes = mb.tensor([1], "int32", data=[len(shape_a) - 1])
        b = mb.tensor(list(shape_b), "int8", sb, int(rng.integers(-100, 100)))
        mb.op("MEAN", [a, axes], [b], "ReducerOptions", KeepDims=True)
    out = list(np.broadcast_shapes(tuple(shape_a), tuple(shape_b)))
    y = mb.tensor(out, "int8", xs * xs * float(rng.uniform(40, 200)), int(rng.integers(-128, -100)))
    mb.op("SQUARED_DIFFERENCE", [a, b], [y])
    return mb.build([a], [y])


def add_broadcast_model(rng, *, shape_a, shape_b, const_b, act="NONE") -> bytes:
    """ADD with broadcasting: x plus a constant of shape_b (layer norm's epsilon, a bias row)
    or plus x's MEAN over its last axis (shape_b = shape_a with a last extent of 1)."""
    mb = ModelBuilder()
    a, xs = _input(mb, rng, list(shape_a))
    sb = xs * float(rng.uniform(0.05, 3.0))
    if const_b:
        b = mb.tensor(list(shape_b), "int8", sb, int(rng.integers(-128, 128)),
                      rng.integers(-128, 128, shape_b))
    else:
        axes = mb.tensor([1], "int32", data=[len(shape_a) - 1])
        b = mb.tensor(list(shape_b), "int8", sb, int(rng.integers(-100, 100)))
        mb.op("MEAN", [a, axes], [b], "ReducerOptions", KeepDims=True)
    out = list(np.broadcast_shapes(tuple(shape_a), tuple(shape_b)))
    y = mb.tensor(out, "int8", xs * float(rng.uniform(0.5, 3.0)), int(rng.integers(-30, 30)))
    mb.op("ADD", [b, a] if const_b else [a, b], [y], "AddOptions", FusedActivationFunction=ACT[act])
    return mb.build([a], [y])


def softmax_model(rng, *, outer, depth, input_scale, beta=1.0, lead=None) -> bytes:
    """SOFTMAX over the last axis; `lead` gives the leading dimensions (e.g. attention's
    [batch, heads, queries]) instead of [outer]."""
    mb = ModelBuilder()
    shape = list(lead or [outer]) + [depth]
    x, _ = _input(mb, rng, shape, scale=input_scale)
    y = mb.tensor(shape, "int8", 1 / 256, -128)
    mb.op("SOFTMAX", [x], [y], "SoftmaxOptions", Beta=beta)
    return mb.build([x], [y])



def _explicit_pad(mb, rng, pads, h, w, in_c):
    """A random int8 input [1, h, w, in_c] and a PAD op of ((top, bottom), (left, right)) rows
    and columns in its quantization: (input, padded tensor, input scale, zero point, padded h, w)."""
    x, xs = _input(mb, rng, [1, h, w, in_c])
    zp = int(mb.tensors[x]["zero_point"][0])
    (t, b_), (l, r) = pads
    paddings = mb.tensor([4, 2], "int32", data=np.array([[0, 0], [t, b_], [l, r], [0, 0]], np.int32))
    ph, pw = h + t + b_, w + l + r
    p = mb.tensor([1, ph, pw, in_c], "int8", xs, zp)
    mb.op("PAD", [x, paddings], [p])
    return x, p, xs, zp, ph, pw

def pad_then_conv_model(rng, *, pads, k=3, stride=2, in_c=4, out_c=6, h=9, w=9) -> bytes:
    """PAD (explicit, as PyTorch exporters and Keras ZeroPadding2D emit) -> CONV VALID."""
    mb = ModelBuilder()
    x, p, xs, zp, ph, pw = _explicit_pad(mb, rng, pads, h, w, in_c)
    wscales = np.exp(rng.uniform(np.log(1e-3), np.log(1e-2), out_c)).astype(np.float32)
    wt = mb.tensor([out_c, k, k, in_c], "int8", wscales, 0, rng.integers(-127, 128, (out_c, k, k, in_c)))
    bias = mb.tensor([out_c], "int32", xs * wscales, 0, rng.integers(-3000, 3000, out_c))
    oh, ow = _out_size("VALID", ph, k, stride, 1), _out_size("VALID", pw, k, stride, 1)
    y = mb.tensor([1, oh, ow, out_c], "int8", xs * float(np.median(wscales)) * 73 * 73 * 6 / 60, 3)
    mb.op("CONV_2D", [p, wt, bias], [y], "Conv2DOptions", Padding=PAD["VALID"], StrideW=stride,
          StrideH=stride, FusedActivationFunction=ACT["RELU6"], DilationWFactor=1, DilationHFactor=1)
    return mb.build([x], [y])


def pad_model(rng, *, pads, shape=(1, 4, 5, 3)) -> bytes:
    mb = ModelBuilder()
    x, xs = _input(mb, rng, list(shape))
    zp = int(mb.tensors[x]["zero_point"][0])
    paddings = mb.tensor([4, 2], "int32", data=np.array(pads, np.int32))
    out = [d + a + b for d, (a, b) in zip(shape, pads)]
    y = mb.tensor(out, "int8", xs, zp)
    mb.op("PAD", [x, paddings], [y])
    return mb.build([x], [y])


def requantize_model(rng, *, op="QUANTIZE", shape=(1, 4, 4, 7)) -> bytes:
    mb = ModelBuilder()
    x, xs = _input(mb, rng, list(shape))
    y = mb.tensor(list(shape), "int8", xs * float(rng.uniform(0.2, 4.0)), int(rng.integers(-100, 100)))
    mb.op(op, [x], [y])
    return mb.build([x], [y])


def hard_swish_model(rng, *, shape=(1, 5, 5, 7), in_scale=None, in_zp=None, out_scale=None, out_zp=None) -> bytes:
    mb = ModelBuilder()
    x, xs = _input(mb, rng, list(shape), in_scale, in_zp)
    os_ = out_scale if out_scale is not None else xs * float(rng.uniform(0.3, 1.2))
    y = mb.tensor(list(shape), "int8", os_, out_zp if out_zp is not None else int(rng.integers(-128, 0)))
    mb.op("HARD_SWISH", [x], [y])
    return mb.build([x], [y])


def mul_model(rng, *, shape_a=(1, 4, 4, 6), shape_b=(1, 1, 1, 6), const_b=False, act="NONE",
              scales=None, zps=None) -> bytes:
    """MUL with numpy-style broadcasting. Input2 is a constant (const_b: hard-sigmoid's scaling,
    per-channel factors), the input itself (same shape: a square), or -- the squeeze-excite
    pattern -- the input's MEAN over H and W, [1, 1, 1, C]."""
    mb = ModelBuilder()
    sa, sb, so = scales if scales is not None else rng.uniform(0.005, 0.1, 3)
    za, zb, zo = zps if zps is not None else rng.integers(-128, 128, 3)
    a = mb.tensor(list(shape_a), "int8", sa, int(za))
    if const_b:
        b = mb.tensor(list(shape_b), "int8", sb, int(zb), rng.integers(-128, 128, shape_b))
    elif tuple(shape_b) == tuple(shape_a):
        b = a
    elif len(shape_a) == 4 and tuple(shape_b) == (1, 1, 1, shape_a[3]):
        axes = mb.tensor([2], "int32", data=[1, 2])
        b = mb.tensor(list(shape_b), "int8", sb, int(zb))
        mb.op("MEAN", [a, axes], [b], "ReducerOptions", KeepDims=True)
    else:
        raise ValueError(f"no way to derive a {shape_b} input2 from {shape_a}: make it constant")
    out_shape = list(np.broadcast_shapes(tuple(shape_a), tuple(shape_b)))
    y = mb.tensor(out_shape, "int8", so, int(zo))
    mb.op("MUL", [a, b], [y], "MulOptions", FusedActivationFunction=ACT[act])
    return mb.build([a], [y])


def transpose_model(rng, *, shape, perm) -> bytes:
    mb = ModelBuilder()
    x, xs = _input(mb, rng, list(shape))
    p = mb.tensor([len(perm)], "int32", data=list(perm))
    y = mb.tensor([shape[a] for a in perm], "int8", xs, mb.tensors[x]["zero_point"][0])
    mb.op("TRANSPOSE", [x, p], [y], "TransposeOptions")
    return mb.build([x], [y])


def split_concat_model(rng, *, shape, axis, sizes, split_v=False, const_part=False) -> bytes:
    """SPLIT (equal parts) or SPLIT_V (sizes) along `axis`, then CONCATENATION of the parts in
    reverse order (and, with const_part, a constant block in the middle) along the same axis."""
    mb = ModelBuilder()
    x, xs = _input(mb, rng, list(shape))
    zp = int(mb.tensors[x]["zero_point"][0])
    ax = mb.tensor([1], "int32", data=[axis])
    parts = []
    for n in sizes:
        s = list(shape)
        s[axis] = n
        parts.append(mb.tensor(s, "int8", xs, zp))
    if split_v:
        sz = mb.tensor([len(sizes)], "int32", data=list(sizes))
        mb.op("SPLIT_V", [x, sz, ax], parts, "SplitVOptions", NumSplits=len(sizes))
    else:
        mb.op("SPLIT", [ax, x], parts, "SplitOptions", NumSplits=len(sizes))
    ins = parts[::-1]
    if const_part:
        s = list(shape)
        s[axis] = 2
        ins.insert(1, mb.tensor(s, "int8", xs, zp, rng.integers(-128, 128, s)))
    out = list(shape)
    out[axis] = sum(mb.tensors[i]["shape"][axis] for i in ins)
    y = mb.tensor(out, "int8", xs, zp)
    mb.op("CONCATENATION", ins, [y], "ConcatenationOptions", Axis=axis)
    return mb.build([x], [y])


def strided_slice_model(rng, *, shape, begin, end, strides, begin_mask=0, end_mask=0,
                        shrink=0, out_shape) -> bytes:
    mb = ModelBuilder()
    x, xs = _input(mb, rng, list(shape))
    consts = [mb.tensor([len(shape)], "int32", data=list(v)) for v in (begin, end, strides)]
    y = mb.tensor(list(out_shape), "int8", xs, mb.tensors[x]["zero_point"][0])
    mb.op("STRIDED_SLICE", [x] + consts, [y], "StridedSliceOptions", BeginMask=begin_mask,
          EndMask=end_mask, ShrinkAxisMask=shrink)
    return mb.build([x], [y])


def slice_model(rng, *, shape, begin, size) -> bytes:
    mb = ModelBuilder()
    x, xs = _input(mb, rng, list(shape))
    b = mb.tensor([len(shape)], "int32", data=list(begin))
    s = mb.tensor([len(shape)], "int32", data=list(size))
    out = [d - bb if n < 0 else n for d, bb, n in zip(shape, begin, size)]
    y = mb.tensor(out, "int8", xs, mb.tensors[x]["zero_point"][0])
    mb.op("SLICE", [x, b, s], [y], "SliceOptions")
    return mb.build([x], [y])


def unary_model(op, *, shape=(1, 256), in_scale, in_zp, out_scale, out_zp) -> bytes:
    """One unary int8 op (LOGISTIC, RSQRT, EXP, LOG, ABS; "GELU" and "GELU_APPROX" for GELU with
    approximate false / true), or with op="NEG" the converter's float detour
    DEQUANTIZE -> NEG -> QUANTIZE."""
    mb = ModelBuilder()
    x = mb.tensor(list(shape), "int8", in_scale, in_zp)
    y = mb.tensor(list(shape), "int8", out_scale, out_zp)
    if op == "NEG":
        f1, f2 = mb.tensor(list(shape), "float32"), mb.tensor(list(shape), "float32")
        mb.op("DEQUANTIZE", [x], [f1])
        mb.op("NEG", [f1], [f2])
        mb.op("QUANTIZE", [f2], [y])
    elif op.startswith("GELU"):
        mb.op("GELU", [x], [y], "GeluOptions", Approximate=op == "GELU_APPROX")
    else:
        mb.op(op, [x], [y], {"EXP": "ExpOptions", "ABS": "AbsOptions"}.get(op))
    return mb.build([x], [y])


def batch_matmul_model(rng, *, shape_a, shape_b, adj_x=False, adj_y=False, const_b=False,
                       zps=None) -> bytes:
    """BATCH_MATMUL of the input with a derived operand: a constant, or the input itself
    (self-attention's Q*K^T with adj_y). Output scale chosen so the result spans int8."""
    mb = ModelBuilder()
    za, zb, zo = zps if zps is not None else rng.integers(-100, 100, 3)
    sa = float(rng.uniform(0.01, 0.05))
    a = mb.tensor(list(shape_a), "int8", sa, int(za))
    if const_b:
        sb = float(rng.uniform(0.01, 0.05))
        b = mb.tensor(list(shape_b), "int8", sb, int(zb), rng.integers(-128, 128, shape_b))
    else:
        b, sb = a, sa
    k = shape_a[-2] if adj_x else shape_a[-1]
    m = shape_a[-1] if adj_x else shape_a[-2]
    n = shape_b[-2] if adj_y else shape_b[-1]
    batch = list(np.broadcast_shapes(tuple(shape_a[:-2]), tuple(shape_b[:-2])))
    y = mb.tensor(batch + [m, n], "int8", sa * sb * 128 * np.sqrt(k), int(zo))
    mb.op("BATCH_MATMUL", [a, b], [y], "BatchMatMulOptions", AdjX=adj_x, AdjY=adj_y)
    return mb.build([a], [y])


# --- detection / segmentation head operators (tests/test_heads.py) ---

def head_unary_model(op, *, shape=(1, 256), in_scale, in_zp, out_scale, out_zp, **options) -> bytes:
    """TANH or LEAKY_RELU (options: Alpha) on one int8 tensor."""
    mb = ModelBuilder()
    x = mb.tensor(list(shape), "int8", in_scale, in_zp)
    y = mb.tensor(list(shape), "int8", out_scale, out_zp)
    opts = {"LEAKY_RELU": "LeakyReluOptions"}.get(op)
    mb.op(op, [x], [y], opts, **options)
    return mb.build([x], [y])


def head_binary_model(rng, op, *, shape_a, shape_b, const_b, quant, act="NONE") -> bytes:
    """SUB, MAXIMUM, MINIMUM or PRELU of the input and a second operand: a constant of
    shape_b, or (shape_b == shape_a) the input requantized by a QUANTIZE.
    quant: ((scale, zp) of a, of b, of the output)."""
    (sa, za), (sb, zb), (so, zo) = quant
    mb = ModelBuilder()
    a = mb.tensor(list(shape_a), "int8", sa, za)
    if const_b:
        b = mb.tensor(list(shape_b), "int8", sb, zb, rng.integers(-128, 128, shape_b))
    else:
        b = mb.tensor(list(shape_b), "int8", sb, zb)
        mb.op("QUANTIZE", [a], [b])
    out = list(np.broadcast_shapes(tuple(shape_a), tuple(shape_b)))
    y = mb.tensor(out, "int8", so, zo)
    if op == "SUB":
        mb.op("SUB", [a, b], [y], "SubOptions", FusedActivationFunction=ACT[act])
    elif op == "PRELU":
        mb.op("PRELU", [a, b], [y])
    else:
        mb.op(op, [a, b], [y], "MaximumMinimumOptions")
    return mb.build([a], [y])


def resize_model(rng, kind, *, n=1, in_hw, out_hw, c, align_corners=False, half_pixel=False) -> bytes:
    """RESIZE_NEAREST_NEIGHBOR or RESIZE_BILINEAR of an [n, h, w, c] int8 tensor."""
    mb = ModelBuilder()
    x, xs = _input(mb, rng, [n, *in_hw, c])
    zp = int(mb.tensors[x]["zero_point"][0])
    size = mb.tensor([2], "int32", data=list(out_hw))
    y = mb.tensor([n, *out_hw, c], "int8", xs, zp)
    opts = "ResizeNearestNeighborOptions" if kind == "RESIZE_NEAREST_NEIGHBOR" else "ResizeBilinearOptions"
    mb.op(kind, [x, size], [y], opts, AlignCorners=align_corners, HalfPixelCenters=half_pixel)
    return mb.build([x], [y])


def concat_requantized_model(rng, *, raw=False) -> bytes:
    """CONCATENATION of differently quantized branches as the converter writes it: each input
    requantized to the output's scale by a QUANTIZE first (raw=True: without them, which
    TFLite refuses)."""
    mb = ModelBuilder()
    x = mb.tensor([1, 4, 5, 3], "int8", 0.05, 3)
    a = mb.tensor([1, 4, 5, 3], "int8", 0.2, -128)
    b = mb.tensor([1, 4, 5, 3], "int8", 0.01, 127)
    mb.op("QUANTIZE", [x], [a])
    mb.op("QUANTIZE", [x], [b])
    so, zo = 0.07, -9
    ins = [x, a, b]
    if not raw:
        ins = []
        for t in (x, a, b):
            r = mb.tensor([1, 4, 5, 3], "int8", so, zo)
            mb.op("QUANTIZE", [t], [r])
            ins.append(r)
    y = mb.tensor([1, 4, 5, 9], "int8", so, zo)
    mb.op("CONCATENATION", ins, [y], "ConcatenationOptions", Axis=3)
    return mb.build([x], [y])


def tied_conv_model(rng, *, repeats=3, c=16, h=8, w=8) -> bytes:
    """One 3x3 CONV_2D applied `repeats` times with the same weight and bias tensors (a
    weight-tied refinement block): the .tflite stores the weights once."""
    mb = ModelBuilder()
    x = mb.tensor([1, h, w, c], "int8", 0.05, -3)
    wscales = np.exp(rng.uniform(np.log(1e-3), np.log(1e-2), c)).astype(np.float32)
    wt = mb.tensor([c, 3, 3, c], "int8", wscales, 0, rng.integers(-127, 128, (c, 3, 3, c)), axis=0)
    bias = mb.tensor([c], "int32", 0.05 * wscales, 0, rng.integers(-3000, 3000, c))
    t = x
    for _ in range(repeats):
        y = mb.tensor([1, h, w, c], "int8", 0.05, -3)
        mb.op("CONV_2D", [t, wt, bias], [y], "Conv2DOptions", Padding=PAD["SAME"], StrideW=1,
              StrideH=1, FusedActivationFunction=ACT["RELU6"], DilationWFactor=1, DilationHFactor=1)
        t = y
    return mb.build([x], [t])


# --- legacy uint8 graphs (tests/test_legacy_uint8.py) ---

def uint8_layer_model(rng, kind, *, in_zp=128, w_zp=119, h=7, w=7, c=5, out_c=6, k=3, stride=1,
                      padding="SAME", act="NONE", dilation=1, groups=1) -> bytes:
    """One legacy uint8 layer (TFLite 1.x quantization): uint8 activations, uint8 weights with
    a zero point near 128 (w_zp), per-tensor scales. kind: CONV_2D, DEPTHWISE_CONV_2D,
    FULLY_CONNECTED, AVERAGE_POOL_2D, MAX_POOL_2D, SOFTMAX. groups: a CONV_2D's filter
    depth is c / groups."""
    mb = ModelBuilder()
    xs = 0.02
    if kind == "FULLY_CONNECTED":
        x = mb.tensor([2, c * h], "uint8", xs, in_zp)
        ws = 0.004
        wt = mb.tensor([out_c, c * h], "uint8", ws, w_zp, rng.integers(0, 256, (out_c, c * h)))
        b = mb.tensor([out_c], "int32", xs * ws, 0, rng.integers(-2000, 2000, out_c))
        y = mb.tensor([2, out_c], "uint8", 0.5 if w_zp in (0, 255) else 0.1, 131)
        mb.op(kind, [x, wt, b], [y], "FullyConnectedOptions", FusedActivationFunction=ACT[act])
        return mb.build([x], [y])
    x = mb.tensor([1, h, w, c], "uint8", xs, in_zp)
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        ws = 0.005
        oh, ow = _out_size(padding, h, k, stride, dilation), _out_size(padding, w, k, stride, dilation)
        if kind == "CONV_2D":
            wt = mb.tensor([out_c, k, k, c // groups], "uint8", ws, w_zp, rng.integers(0, 256, (out_c, k, k, c // groups)))
        else:
            out_c = c
            wt = mb.tensor([1, k, k, c], "uint8", ws, w_zp, rng.integers(0, 256, (1, k, k, c)), axis=3)
        b = mb.tensor([out_c], "int32", xs * ws, 0, rng.integers(-3000, 3000, out_c))
        y = mb.tensor([1, oh, ow, out_c], "uint8", 0.05 * (k if kind == "CONV_2D" else 1), 120)
        if kind == "CONV_2D":
            mb.op(kind, [x, wt, b], [y], "Conv2DOptions", Padding=PAD[padding], StrideW=stride,
                  StrideH=stride, FusedActivationFunction=ACT[act], DilationWFactor=dilation,
                  DilationHFactor=dilation)
        else:
            mb.op(kind, [x, wt, b], [y], "DepthwiseConv2DOptions", Padding=PAD[padding], StrideW=stride,
                  StrideH=stride, DepthMultiplier=1, FusedActivationFunction=ACT[act],
                  DilationWFactor=dilation, DilationHFactor=dilation)
        return mb.build([x], [y])
    if kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        oh, ow = _out_size(padding, h, k, stride, 1), _out_size(padding, w, k, stride, 1)
        y = mb.tensor([1, oh, ow, c], "uint8", xs, in_zp)
        mb.op(kind, [x], [y], "Pool2DOptions", Padding=PAD[padding], StrideW=stride, StrideH=stride,
              FilterWidth=k, FilterHeight=k, FusedActivationFunction=ACT[act])
        return mb.build([x], [y])
    assert kind == "SOFTMAX"
    y = mb.tensor([1, h, w, c], "uint8", 1 / 256, 0)
    mb.op(kind, [x], [y], "SoftmaxOptions", Beta=1.0)
    return mb.build([x], [y])


def log_softmax_model(rng, *, shape, in_scale, in_zp) -> bytes:
    mb = ModelBuilder()
    x = mb.tensor(list(shape), "int8", in_scale, in_zp)
    y = mb.tensor(list(shape), "int8", 16 / 256, 127)
    mb.op("LOG_SOFTMAX", [x], [y], "LogSoftmaxOptions")
    return mb.build([x], [y])


def weight_zero_point_model(rng, kind, *, zp, per_channel) -> bytes:
    """int8 CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED whose weights have zero point zp."""
    mb = ModelBuilder()
    if kind == "FULLY_CONNECTED":
        x = mb.tensor([1, 16], "int8", 0.05, 2)
        sc = np.full(4 if per_channel else 1, 0.01, np.float32)
        w = mb.tensor([4, 16], "int8", sc, zp, rng.integers(-100, 100, (4, 16)))
        b = mb.tensor([4], "int32", sc * 0.05, 0, rng.integers(-100, 100, 4))
        y = mb.tensor([1, 4], "int8", 0.1, 0)
        mb.op(kind, [x, w, b], [y], "FullyConnectedOptions")
        return mb.build([x], [y])
    x = mb.tensor([1, 5, 5, 3], "int8", 0.05, 2)
    n = 3 if kind == "DEPTHWISE_CONV_2D" else 4
    sc = np.full(n if per_channel else 1, 0.01, np.float32)
    shape = [1, 3, 3, 3] if kind == "DEPTHWISE_CONV_2D" else [4, 3, 3, 3]
    w = mb.tensor(shape, "int8", sc, zp, rng.integers(-100, 100, shape), axis=3 if n == 3 else 0)
    b = mb.tensor([n], "int32", sc * 0.05, 0, rng.integers(-100, 100, n))
    y = mb.tensor([1, 5, 5, n], "int8", 0.1, 0)
    if kind == "CONV_2D":
        mb.op(kind, [x, w, b], [y], "Conv2DOptions", Padding=0, StrideW=1, StrideH=1,
              DilationWFactor=1, DilationHFactor=1)
    else:
        mb.op(kind, [x, w, b], [y], "DepthwiseConv2DOptions", Padding=0, StrideW=1, StrideH=1,
              DepthMultiplier=1, DilationWFactor=1, DilationHFactor=1)
    return mb.build([x], [y])


def uint8_add_concat_model(rng, kind) -> bytes:
    """uint8 ADD, or CONCATENATION of three differently quantized uint8 inputs (one equal to
    the output's), each derived from the input by a uint8 1x1 conv."""
    mb = ModelBuilder()
    x = mb.tensor([1, 4, 5, 3], "uint8", 0.02, 128)
    branches = []
    for k, (sc, zp) in enumerate([(0.05, 3), (0.11, 250), (0.08, 120)]):
        w = mb.tensor([3, 1, 1, 3], "uint8", 0.01, 128 + k, rng.integers(0, 256, (3, 1, 1, 3)))
        b = mb.tensor([3], "int32", 0.02 * 0.01, 0, rng.integers(-500, 500, 3))
        y = mb.tensor([1, 4, 5, 3], "uint8", sc, zp)
        mb.op("CONV_2D", [x, w, b], [y], "Conv2DOptions", Padding=0, StrideW=1, StrideH=1,
              FusedActivationFunction=0, DilationWFactor=1, DilationHFactor=1)
        branches.append(y)
    if kind == "ADD":
        out = mb.tensor([1, 4, 5, 3], "uint8", 0.07, 131)
        mb.op("ADD", branches[:2], [out], "AddOptions", FusedActivationFunction=0)
    else:
        out = mb.tensor([1, 4, 5, 9], "uint8", 0.08, 120)
        mb.op("CONCATENATION", branches, [out], "ConcatenationOptions", Axis=3, FusedActivationFunction=0)
    return mb.build([x], [out])
def chain_model(rng, *, shape, layers, scale_span=(1e-4, 1e-1)) -> bytes:
    """Several layers one after the other in one model (one firmware image sweeps many kernel
    shapes). layers: ("dw", k, stride, mult) depthwise, ("conv", k, stride, out_c, groups),
    ("maxpool", k, stride), ("add_const",) a per-channel constant added, ("mul_self",) the
    tensor squared -- SAME padding, per-channel weight scales drawn from scale_span (default
    three orders of magnitude)."""
    mb = ModelBuilder()
    x, xs = _input(mb, rng, list(shape))
    first, (h, w, c) = x, shape[1:]
    for spec in layers:
        kind = spec[0]
        if kind in ("dw", "conv"):
            k, stride = spec[1], spec[2]
            if kind == "dw":
                out_c, fic, wshape, axis = c * spec[3], 1, [1, k, k, c * spec[3]], 3
            else:
                out_c, fic = spec[3], c // spec[4]
                wshape, axis = [out_c, k, k, fic], 0
            wscales = np.exp(rng.uniform(np.log(scale_span[0]), np.log(scale_span[1]), out_c)).astype(np.float32)
            wt = mb.tensor(wshape, "int8", wscales, 0, rng.integers(-127, 128, wshape), axis=axis)
            bias = mb.tensor([out_c], "int32", xs * wscales, 0, rng.integers(-3000, 3000, out_c))
            oh, ow = _out_size("SAME", h, k, stride, 1), _out_size("SAME", w, k, stride, 1)
            ys = xs * float(np.median(wscales)) * 73 * 73 * np.sqrt(k * k * fic) / 60
            y = mb.tensor([1, oh, ow, out_c], "int8", ys, int(rng.integers(-20, 20)))
            if kind == "dw":
                mb.op("DEPTHWISE_CONV_2D", [x, wt, bias], [y], "DepthwiseConv2DOptions", Padding=0,
                      StrideW=stride, StrideH=stride, DepthMultiplier=spec[3], FusedActivationFunction=0,
                      DilationWFactor=1, DilationHFactor=1)
            else:
                mb.op("CONV_2D", [x, wt, bias], [y], "Conv2DOptions", Padding=0, StrideW=stride,
                      StrideH=stride, FusedActivationFunction=0, DilationWFactor=1, DilationHFactor=1)
            x, xs, h, w, c = y, ys, oh, ow, out_c
        elif kind == "maxpool":
            k, stride = spec[1], spec[2]
            oh, ow = _out_size("SAME", h, k, stride, 1), _out_size("SAME", w, k, stride, 1)
            y = mb.tensor([1, oh, ow, c], "int8", xs, mb_zero_point(mb, x))
            mb.op("MAX_POOL_2D", [x], [y], "Pool2DOptions", Padding=0, StrideW=stride, StrideH=stride,
                  FilterWidth=k, FilterHeight=k, FusedActivationFunction=0)
            x, h, w = y, oh, ow
        elif kind == "add_const":
            b = mb.tensor([c], "int8", xs * 0.7, int(rng.integers(-100, 100)), rng.integers(-128, 128, [c]))
            ys = xs * 1.6
            y = mb.tensor([1, h, w, c], "int8", ys, int(rng.integers(-20, 20)))
            mb.op("ADD", [x, b], [y], "AddOptions", FusedActivationFunction=0)
            x, xs = y, ys
        elif kind == "mul_self":
            ys = xs * xs * 40
            y = mb.tensor([1, h, w, c], "int8", ys, -100)
            mb.op("MUL", [x, x], [y], "MulOptions", FusedActivationFunction=0)
            x, xs = y, ys
        else:
            raise ValueError(kind)
    return mb.build([first], [x])


def mb_zero_point(mb, t) -> int:
    """The zero point a ModelBuilder tensor was made with."""
    return int(mb.tensors[t]["zero_point"][0])


UINT8_UNARY = ("HARD_SWISH", "LOGISTIC", "TANH", "RELU", "RELU6", "RELU_N1_TO_1", "QUANTIZE", "LEAKY_RELU")


def uint8_op_model(rng, kind, *, in_scale=0.05, in_zp=128, out_scale=None, out_zp=None, shape=None,
                   **o) -> bytes:
    """One legacy uint8 operator on a uint8 input (TFLite 1.x quantization), for the ops the
    shift to int8 takes beyond uint8_layer_model's. kind: one of UINT8_UNARY ([1, 256] by
    default: the first verify input then holds all 256 bytes; LOGISTIC's output 1/256 and 0,
    TANH's 1/128 and 128, as TFLite requires), MUL / SUB / MAXIMUM / MINIMUM (o["b"]: "const"
    a uint8 constant of shape o["b_shape"], "self" the input itself, "mean" the input's MEAN
    over H and W -- squeeze-excite), MEAN (o["axes"], o["keep_dims"]), PAD / PADV2 (o["pads"];
    PADV2 with o["value"], a uint8 constant in the output's quantization),
    RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR (o["out_hw"], align_corners, half_pixel)."""
    mb = ModelBuilder()
    if kind in UINT8_UNARY:
        shape = list(shape or [1, 256])
        x = mb.tensor(shape, "uint8", in_scale, in_zp)
        if kind == "LOGISTIC":   # (another out_scale/out_zp given: a model TFLite refuses)
            out_scale, out_zp = out_scale or 1 / 256, 0 if out_zp is None else out_zp
        elif kind == "TANH":
            out_scale, out_zp = 1 / 128, 128
        y = mb.tensor(shape, "uint8", out_scale if out_scale is not None else in_scale,
                      out_zp if out_zp is not None else in_zp)
        if kind == "LEAKY_RELU":
            mb.op(kind, [x], [y], "LeakyReluOptions", Alpha=0.2)
        else:
            mb.op(kind, [x], [y])
        return mb.build([x], [y])
    shape = list(shape or [1, 5, 7, 6])
    x = mb.tensor(shape, "uint8", in_scale, in_zp)
    os_ = out_scale if out_scale is not None else in_scale
    oz = out_zp if out_zp is not None else in_zp
    if kind in ("MUL", "SUB", "MAXIMUM", "MINIMUM"):
        bs, bz = o.get("b_scale", 0.03), o.get("b_zp", 140)
        if o["b"] == "const":
            b_shape = list(o.get("b_shape", [shape[-1]]))
            b = mb.tensor(b_shape, "uint8", bs, bz, rng.integers(0, 256, b_shape))
        elif o["b"] == "self":
            b, b_shape = x, shape
        else:
            axes = mb.tensor([2], "int32", data=[1, 2])
            b_shape = [1, 1, 1, shape[-1]]
            b = mb.tensor(b_shape, "uint8", bs, bz)
            mb.op("MEAN", [x, axes], [b], "ReducerOptions", KeepDims=True)
        out_shape = list(np.broadcast_shapes(tuple(shape), tuple(b_shape)))
        y = mb.tensor(out_shape, "uint8", os_, oz)
        if kind == "MUL":
            mb.op(kind, [x, b], [y], "MulOptions", FusedActivationFunction=ACT[o.get("act", "NONE")])
        elif kind == "SUB":
            mb.op(kind, [x, b], [y], "SubOptions", FusedActivationFunction=ACT[o.get("act", "NONE")])
        else:
            mb.op(kind, [x, b], [y], "MaximumMinimumOptions")
        return mb.build([x], [y])
    if kind == "MEAN":
        axes = list(o.get("axes", [1, 2]))
        keep = o.get("keep_dims", True)
        a = mb.tensor([len(axes)], "int32", data=axes)
        red = {ax % len(shape) for ax in axes}
        out_shape = [1 if i in red else d for i, d in enumerate(shape) if keep or i not in red]
        y = mb.tensor(out_shape, "uint8", os_, oz)
        mb.op(kind, [x, a], [y], "ReducerOptions", KeepDims=keep)
        return mb.build([x], [y])
    if kind in ("PAD", "PADV2"):
        pads = np.asarray(o["pads"], np.int32).reshape(len(shape), 2)
        p = mb.tensor([len(shape), 2], "int32", data=pads)
        y = mb.tensor([d + int(a + b) for d, (a, b) in zip(shape, pads)], "uint8", in_scale, in_zp)
        ins = [x, p]
        if kind == "PADV2":
            ins.append(mb.tensor([1], "uint8", in_scale, in_zp, [o["value"]]))
        mb.op(kind, ins, [y])
        return mb.build([x], [y])
    if kind in ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"):
        out_hw = list(o["out_hw"])
        size = mb.tensor([2], "int32", data=out_hw)
        y = mb.tensor([shape[0], *out_hw, shape[3]], "uint8", in_scale, in_zp)
        opts = "ResizeNearestNeighborOptions" if kind == "RESIZE_NEAREST_NEIGHBOR" else "ResizeBilinearOptions"
        mb.op(kind, [x, size], [y], opts, AlignCorners=o.get("align_corners", False),
              HalfPixelCenters=o.get("half_pixel", False))
        return mb.build([x], [y])
    raise ValueError(kind)


def uint8_float_edges_model(rng) -> bytes:
    """A legacy uint8 graph with float32 edges: QUANTIZE float32 -> uint8, a uint8 3x3 conv
    with ReLU6, HARD_SWISH, DEQUANTIZE uint8 -> float32."""
    mb = ModelBuilder()
    f = mb.tensor([1, 6, 6, 3], "float32")
    x = mb.tensor([1, 6, 6, 3], "uint8", 1 / 127.5, 128)
    mb.op("QUANTIZE", [f], [x])
    w = mb.tensor([4, 3, 3, 3], "uint8", 0.01, 131, rng.integers(0, 256, (4, 3, 3, 3)))
    b = mb.tensor([4], "int32", 0.01 / 127.5, 0, rng.integers(-800, 800, 4))
    c = mb.tensor([1, 6, 6, 4], "uint8", 6 / 255, 0)
    mb.op("CONV_2D", [x, w, b], [c], "Conv2DOptions", Padding=PAD["SAME"], StrideW=1, StrideH=1,
          FusedActivationFunction=ACT["RELU6"], DilationWFactor=1, DilationHFactor=1)
    h = mb.tensor([1, 6, 6, 4], "uint8", 0.025, 15)
    mb.op("HARD_SWISH", [c], [h])
    out = mb.tensor([1, 6, 6, 4], "float32")
    mb.op("DEQUANTIZE", [h], [out])
    return mb.build([f], [out])


class _Uint8Builder(ModelBuilder):
    """A ModelBuilder whose int8 tensors are written as uint8 (zero points and values + 128):
    the int8 one-op models above as legacy uint8 graphs (uint8_variant)."""

    def build(self, inputs, outputs) -> bytes:
        for t in self.tensors:
            if t["dtype"] == "int8":
                t["dtype"] = "uint8"
                if t["zero_point"] is not None:
                    t["zero_point"] = t["zero_point"] + 128
                if t["data"] is not None:
                    t["data"] = (t["data"].astype(np.int16) + 128).astype(np.uint8)
        return super().build(inputs, outputs)


def uint8_variant(build, *args, **kwargs) -> bytes:
    """`build` (one of this module's int8 model functions) with every int8 tensor uint8, the
    quantized values shifted by 128: the same reals in TFLite 1.x's uint8 quantization."""
    global ModelBuilder
    int8_builder, ModelBuilder = ModelBuilder, _Uint8Builder
    try:
        return build(*args, **kwargs)
    finally:
        ModelBuilder = int8_builder


def depth_space_model(rng, op, *, shape, block) -> bytes:
    """DEPTH_TO_SPACE or SPACE_TO_DEPTH of an int8 NHWC input (BlockSize `block`)."""
    mb = ModelBuilder()
    x, xs = _input(mb, rng, list(shape))
    n, h, w, c = shape
    out = [n, h * block, w * block, c // block**2] if op == "DEPTH_TO_SPACE" else \
        [n, h // block, w // block, c * block**2]
    y = mb.tensor(out, "int8", xs, mb.tensors[x]["zero_point"][0])
    mb.op(op, [x], [y], "DepthToSpaceOptions" if op == "DEPTH_TO_SPACE" else "SpaceToDepthOptions",
          BlockSize=block)
    return mb.build([x], [y])


def pack_unpack_model(rng, *, shape, axis, count) -> bytes:
    """UNPACK the input along `axis` into `count` tensors, ADD a requantized copy to each (so
    they are real activations), PACK them back along `axis`: both ops in one model."""
    mb = ModelBuilder()
    x, xs = _input(mb, rng, list(shape))
    zp = mb.tensors[x]["zero_point"][0]
    a = axis % len(shape)
    part = [d for i, d in enumerate(shape) if i != a]
    parts = [mb.tensor(part, "int8", xs, zp) for _ in range(count)]
    mb.op("UNPACK", [x], parts, "UnpackOptions", Num=count, Axis=axis)
    ys = float(xs * rng.uniform(1.0, 2.0))
    yz = int(rng.integers(-30, 30))
    outs = []
    for p in parts:
        o = mb.tensor(part, "int8", ys, yz)
        mb.op("ADD", [p, p], [o], "AddOptions", FusedActivationFunction=0)
        outs.append(o)
    y = mb.tensor(list(shape), "int8", ys, yz)   # the same axis of the same rank
    mb.op("PACK", outs, [y], "PackOptions", ValuesCount=count, Axis=axis)
    return mb.build([x], [y])


def gather_model(rng, *, shape, indices, axis) -> bytes:
    """GATHER of the int8 input along `axis` with constant int32 `indices` (any shape)."""
    mb = ModelBuilder()
    x, xs = _input(mb, rng, list(shape))
    ind = np.asarray(indices, np.int32)
    a = axis % len(shape)
    idx = mb.tensor(list(ind.shape), "int32", data=ind)
    y = mb.tensor(list(shape[:a]) + list(ind.shape) + list(shape[a + 1:]), "int8", xs,
                  mb.tensors[x]["zero_point"][0])
    mb.op("GATHER", [x, idx], [y], "GatherOptions", Axis=axis)
    return mb.build([x], [y])


def pad_then_depthwise_model(rng, *, pads, in_c, stride, h, w, scale_span=(1e-3, 1e-2)) -> bytes:
    """PAD (explicit, any rows and columns before and after) -> DEPTHWISE_CONV_2D 3x3 VALID,
    multiplier 1 (the generator folds the PAD into the layer's padding)."""
    mb = ModelBuilder()
    x, p, xs, zp, ph, pw = _explicit_pad(mb, rng, pads, h, w, in_c)
    wscales = np.exp(rng.uniform(np.log(scale_span[0]), np.log(scale_span[1]), in_c)).astype(np.float32)
    wt = mb.tensor([1, 3, 3, in_c], "int8", wscales, 0, rng.integers(-127, 128, (1, 3, 3, in_c)), axis=3)
    bias = mb.tensor([in_c], "int32", xs * wscales, 0, rng.integers(-3000, 3000, in_c))
    oh, ow = _out_size("VALID", ph, 3, stride, 1), _out_size("VALID", pw, 3, stride, 1)
    y = mb.tensor([1, oh, ow, in_c], "int8", xs * float(np.median(wscales)) * 73 * 73 * 3 / 60,
                  int(rng.integers(-20, 20)))
    mb.op("DEPTHWISE_CONV_2D", [p, wt, bias], [y], "DepthwiseConv2DOptions", Padding=PAD["VALID"],
          StrideW=stride, StrideH=stride, DepthMultiplier=1, FusedActivationFunction=ACT["NONE"],
          DilationWFactor=1, DilationHFactor=1)
    return mb.build([x], [y])
