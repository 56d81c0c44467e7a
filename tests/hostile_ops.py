"""Hostile one-op models for the operators added last (GELU, EXP, LOG, ABS, SQRT, REDUCE_MAX,
DEPTH_TO_SPACE, SPACE_TO_DEPTH, PACK, UNPACK, GATHER), the legacy uint8 operators and the
constant-RESHAPE fold: extreme, zero, negative, NaN and inf scales, zero points out of range,
per-axis quantization on the wrong axis, shapes with 0 or huge extents, indices and block
sizes and axes out of range. Each case is (name, .tflite bytes), a pure function of its name.

    python -m tests.hostile_ops [--only SUBSTRING] [--targets host,cortex-m7,...]

runs every case through `codegen emit` (each target) and, when accepted on the host, builds the
C under ASan/UBSan (tests/fuzz_models.Sanitized) and compares it with TFLite's reference
(`codegen verify`); prints one line per case and outcome."""
from __future__ import annotations

import numpy as np

from codegen.tflite_writer import ModelBuilder

NASTY_SCALES = [1e-30, 1e30, 0.0, -0.05, float("nan"), float("inf"), 1e-45, 3.4e38]
NASTY_ZPS = [-129, 128, 300, -1000, 2**31 - 1, -2**31]
UNARY = ("GELU", "EXP", "LOG", "ABS", "SQRT", "HARD_SWISH", "LOGISTIC", "TANH", "RSQRT")


def _unary(op, dtype, shape, in_q, out_q) -> bytes:
    mb = ModelBuilder()
    x = mb.tensor(list(shape), dtype, *in_q)
    y = mb.tensor(list(shape), dtype, *out_q)
    opts = {"EXP": "ExpOptions", "ABS": "AbsOptions", "GELU": "GeluOptions"}.get(op)
    mb.op(op, [x], [y], opts, **({"Approximate": False} if op == "GELU" else {}))
    return mb.build([x], [y])


def unary_cases():
    for op in UNARY:
        for dt, zp in (("int8", 0), ("uint8", 128)):
            for s in NASTY_SCALES:
                yield f"{op}_{dt}_inscale{s:g}", _unary(op, dt, (1, 16), (s, zp), (0.05, zp))
                yield f"{op}_{dt}_outscale{s:g}", _unary(op, dt, (1, 16), (0.05, zp), (s, zp))
            for z in NASTY_ZPS:
                yield f"{op}_{dt}_inzp{z}", _unary(op, dt, (1, 16), (0.05, z), (0.05, zp))
                yield f"{op}_{dt}_outzp{z}", _unary(op, dt, (1, 16), (0.05, zp), (0.05, z))
            for shape in ((1, 0), (0,), (1, 0, 3), (), (1, 2**31 - 1), (1, 65536, 65536)):
                yield f"{op}_{dt}_shape{'x'.join(map(str, shape))}", _unary(op, dt, shape, (0.05, zp), (0.05, zp))
            # per-axis quantization on an activation (scales of 16 on axis 1, 5 scales, axis 7)
            yield f"{op}_{dt}_peraxis_act", _unary(op, dt, (1, 16), (np.full(16, 0.05), zp), (0.05, zp))


def _depth_space(op, shape, out, block) -> bytes:
    mb = ModelBuilder()
    x = mb.tensor(list(shape), "int8", 0.05, 3)
    y = mb.tensor(list(out), "int8", 0.05, 3)
    mb.op(op, [x], [y], "DepthToSpaceOptions" if op == "DEPTH_TO_SPACE" else "SpaceToDepthOptions",
          BlockSize=block)
    return mb.build([x], [y])


def depth_space_cases():
    for op in ("DEPTH_TO_SPACE", "SPACE_TO_DEPTH"):
        for b in (0, -1, -2, 3, 2**15, 2**16, 2**31 - 1, 65537):
            yield f"{op}_block{b}", _depth_space(op, (1, 4, 4, 8), (1, 8, 8, 2), b)
        yield f"{op}_rank3", _depth_space(op, (4, 4, 8), (8, 8, 2), 2)
        yield f"{op}_rank5", _depth_space(op, (1, 1, 4, 4, 8), (1, 1, 8, 8, 2), 2)
        yield f"{op}_zero_h", _depth_space(op, (1, 0, 4, 8), (1, 0, 8, 2), 2)
        yield f"{op}_zero_c", _depth_space(op, (1, 4, 4, 0), (1, 8, 8, 0), 2)
        yield f"{op}_declared_wrong", _depth_space(op, (1, 4, 4, 8), (1, 4, 4, 8), 2)
        yield f"{op}_batch3", _depth_space(op, (3, 2, 2, 4) if op == "DEPTH_TO_SPACE" else (3, 4, 4, 1),
                                           (3, 4, 4, 1) if op == "DEPTH_TO_SPACE" else (3, 2, 2, 4), 2)
        yield f"{op}_huge", _depth_space(op, (1, 2**16, 2**16, 4), (1, 2**17, 2**17, 1), 2)
    # requantizing DEPTH_TO_SPACE (TFLite requires the same quantization)
    mb = ModelBuilder()
    x = mb.tensor([1, 2, 2, 4], "int8", 0.05, 3)
    y = mb.tensor([1, 4, 4, 1], "int8", 0.1, -3)
    mb.op("DEPTH_TO_SPACE", [x], [y], "DepthToSpaceOptions", BlockSize=2)
    yield "DEPTH_TO_SPACE_requant", mb.build([x], [y])


def _gather(shape, indices, axis, out=None, idx_dtype="int32", batch_dims=0, xq=(0.05, 3), yq=(0.05, 3)) -> bytes:
    mb = ModelBuilder()
    x = mb.tensor(list(shape), "int8", *xq)
    ind = np.asarray(indices, idx_dtype)
    idx = mb.tensor(list(ind.shape), idx_dtype, data=ind)
    if out is None:
        a = axis % len(shape) if -len(shape) <= axis < len(shape) else 0
        out = list(shape[:a]) + list(ind.shape) + list(shape[a + 1:])
    y = mb.tensor(list(out), "int8", *yq)
    mb.op("GATHER", [x, idx], [y], "GatherOptions", Axis=axis, BatchDims=batch_dims)
    return mb.build([x], [y])


def gather_cases():
    yield "GATHER_neg_index", _gather((4, 5), [-1, 2], 0)
    yield "GATHER_index_eq_extent", _gather((4, 5), [4], 0)
    yield "GATHER_index_int32_min", _gather((4, 5), [-2**31], 0)
    yield "GATHER_index_int32_max", _gather((4, 5), [2**31 - 1], 1)
    yield "GATHER_int64_indices", _gather((4, 5), [3, 0], 0, idx_dtype="int64")
    yield "GATHER_int64_huge_index", _gather((4, 5), [2**32 + 1], 0, idx_dtype="int64")
    yield "GATHER_int16_indices", _gather((4, 5), [3, 0], 0, idx_dtype="int16")
    yield "GATHER_float_indices", _gather((4, 5), [1.0], 0, idx_dtype="float32")
    for ax in (2, 5, -3, -100, 2**31 - 1, -2**31):
        yield f"GATHER_axis{ax}", _gather((4, 5), [1], ax, out=[4, 1])
    yield "GATHER_axis_neg1", _gather((4, 5), [4, 0], -1)
    yield "GATHER_batch_dims1", _gather((4, 5), [[1], [2], [0], [3]], 1, out=[4, 1], batch_dims=1)
    yield "GATHER_batch_dims_neg", _gather((4, 5), [1], 0, batch_dims=-1)
    yield "GATHER_empty_indices", _gather((4, 5), np.zeros((0,), np.int32), 0)
    yield "GATHER_scalar_index", _gather((4, 5), np.int32(2), 0)
    yield "GATHER_rank0_params", _gather((), [0], 0, out=[1])
    yield "GATHER_zero_extent_params", _gather((0, 5), [0], 0)
    yield "GATHER_declared_wrong", _gather((4, 5), [1, 2], 0, out=[3, 5])
    yield "GATHER_requant", _gather((4, 5), [1, 2], 0, yq=(0.1, 0))
    yield "GATHER_many_indices", _gather((4, 5), np.arange(70000) % 4, 0)
    yield "GATHER_7d_indices", _gather((4, 5), np.zeros((1, 1, 1, 1, 1, 1, 2), np.int32), 0)
    # indices computed at run time (an int32 graph input)
    mb = ModelBuilder()
    x = mb.tensor([4, 5], "int8", 0.05, 3)
    idx = mb.tensor([2], "int32")
    y = mb.tensor([2, 5], "int8", 0.05, 3)
    mb.op("GATHER", [x, idx], [y], "GatherOptions", Axis=0)
    yield "GATHER_runtime_indices", mb.build([x, idx], [y])
    # a constant int8 params tensor gathered by constant indices (a lookup table)
    mb = ModelBuilder()
    x = mb.tensor([1, 4], "int8", 0.05, 3)
    p = mb.tensor([4, 4], "int8", 0.05, 3, np.arange(16).reshape(4, 4))
    idx = mb.tensor([1], "int32", data=[2])
    g = mb.tensor([1, 4], "int8", 0.05, 3)
    mb.op("GATHER", [p, idx], [g], "GatherOptions", Axis=0)
    y = mb.tensor([1, 4], "int8", 0.1, 0)
    mb.op("ADD", [x, g], [y], "AddOptions")
    yield "GATHER_const_params", mb.build([x], [y])


def _pack(shape, count, axis, values_count=None, out=None, xq=(0.05, 3)) -> bytes:
    mb = ModelBuilder()
    xs = [mb.tensor(list(shape), "int8", *xq) for _ in range(count)]
    if out is None:
        a = axis % (len(shape) + 1) if -(len(shape) + 1) <= axis <= len(shape) else 0
        out = list(shape[:a]) + [count] + list(shape[a:])
    y = mb.tensor(list(out), "int8", 0.05, 3)
    mb.op("PACK", xs, [y], "PackOptions", ValuesCount=count if values_count is None else values_count,
          Axis=axis)
    return mb.build(xs, [y])


def _unpack(shape, axis, num=None, outs=None) -> bytes:
    mb = ModelBuilder()
    x = mb.tensor(list(shape), "int8", 0.05, 3)
    a = axis % len(shape) if shape and -len(shape) <= axis < len(shape) else 0
    n = outs if outs is not None else (shape[a] if shape else 1)
    part = [d for i, d in enumerate(shape) if i != a]
    ys = [mb.tensor(part, "int8", 0.05, 3) for _ in range(n)]
    mb.op("UNPACK", [x], ys, "UnpackOptions", Num=n if num is None else num, Axis=axis)
    return mb.build([x], ys)


def pack_cases():
    for ax in (3, 4, -4, -5, 2**31 - 1, -2**31):
        yield f"PACK_axis{ax}", _pack((2, 3), 2, ax, out=[2, 2, 3])
    yield "PACK_axis_neg1", _pack((2, 3), 3, -1)
    yield "PACK_values_count0", _pack((2, 3), 2, 0, values_count=0)
    yield "PACK_values_count_neg", _pack((2, 3), 2, 0, values_count=-1)
    yield "PACK_zero_dim", _pack((0, 3), 2, 0)
    yield "PACK_rank0", _pack((), 3, 0)
    yield "PACK_one_input", _pack((2, 3), 1, 1)
    yield "PACK_requant", _pack((2, 3), 2, 0, xq=(0.1, 0))
    yield "PACK_rank6_out7", _pack((1, 2, 1, 2, 1, 2), 2, 3)
    yield "UNPACK_axis_neg1", _unpack((2, 3, 4), -1)
    for ax in (3, -4, 2**31 - 1, -2**31):
        yield f"UNPACK_axis{ax}", _unpack((2, 3, 4), ax, outs=2)
    yield "UNPACK_num0", _unpack((2, 3), 0, num=0)
    yield "UNPACK_num_wrong", _unpack((2, 3), 0, num=5)
    yield "UNPACK_rank1", _unpack((4,), 0)
    yield "UNPACK_zero_extent", _unpack((0, 3), 0, outs=1)
    yield "UNPACK_other_dim_zero", _unpack((2, 0), 0)
    yield "UNPACK_rank7", _unpack((2, 1, 1, 2, 1, 2, 3), 3)


def _reduce(op, shape, axes, keep, yq=None, out=None, axes_dtype="int32") -> bytes:
    mb = ModelBuilder()
    x = mb.tensor(list(shape), "int8", 0.05, 3)
    a = mb.tensor([len(axes)] if np.ndim(axes) else [], axes_dtype, data=np.asarray(axes, axes_dtype))
    if out is None:
        red = {int(v) % len(shape) for v in np.atleast_1d(axes)} if shape else set()
        out = [1 if i in red else d for i, d in enumerate(shape) if keep or i not in red]
    y = mb.tensor(list(out), "int8", *(yq or (0.05, 3)))
    mb.op(op, [x, a], [y], "ReducerOptions", KeepDims=keep)
    return mb.build([x], [y])


def reduce_cases():
    for op in ("REDUCE_MAX", "MEAN"):
        for axes in ([4], [-5], [2**31 - 1], [-2**31], [1, 1], [1, -3], [], [0, 1, 2, 3], [3, 1]):
            for keep in (True, False):
                name = f"{op}_axes{'_'.join(map(str, axes)) or 'none'}_keep{int(keep)}"
                out = None if all(-4 <= v < 4 for v in axes) else [1, 5, 7, 6]
                yield name, _reduce(op, (1, 5, 7, 6), axes, keep, out=out)
        yield f"{op}_zero_extent", _reduce(op, (1, 0, 7, 6), [1, 2], True)
        yield f"{op}_zero_channels", _reduce(op, (1, 5, 7, 0), [1, 2], True)
        yield f"{op}_scalar_axis", _reduce(op, (1, 5, 7, 6), np.int32(2), True)
        yield f"{op}_int64_axes", _reduce(op, (1, 5, 7, 6), [1, 2], True, axes_dtype="int64")
        for s in (1e-30, 1e30, 0.0, -0.05, float("nan"), float("inf")):
            yield f"{op}_outscale{s:g}", _reduce(op, (1, 5, 7, 6), [1, 2], True, yq=(s, 3))
        for z in (-129, 128, 2**31 - 1):
            yield f"{op}_outzp{z}", _reduce(op, (1, 5, 7, 6), [1, 2], True, yq=(0.05, z))
        yield f"{op}_huge_reduce", _reduce(op, (1, 3000, 3000, 1), [1, 2], True)
        yield f"{op}_rank6", _reduce(op, (1, 2, 3, 2, 3, 2), [1, 3], True)


def _peraxis_conv(kind, axis, nscales=None, zp=0) -> bytes:
    mb = ModelBuilder()
    x = mb.tensor([1, 5, 5, 4], "int8", 0.05, 3)
    if kind == "CONV_2D":
        wshape, oc = [6, 3, 3, 4], 6
    elif kind == "DEPTHWISE_CONV_2D":
        wshape, oc = [1, 3, 3, 4], 4
    else:
        wshape, oc = [6, 100], 6
        x = mb.tensor([1, 100], "int8", 0.05, 3)
    n = nscales if nscales is not None else (wshape[axis] if 0 <= axis < len(wshape) else oc)
    rng = np.random.default_rng(n + axis)
    ws = np.full(n, 0.01, np.float32)
    w = mb.tensor(wshape, "int8", ws, zp, rng.integers(-127, 128, wshape), axis=axis)
    b = mb.tensor([oc], "int32", np.full(oc, 0.0005, np.float32), 0, rng.integers(-900, 900, oc))
    if kind == "FULLY_CONNECTED":
        y = mb.tensor([1, oc], "int8", 0.2, 0)
        mb.op(kind, [x, w, b], [y], "FullyConnectedOptions", FusedActivationFunction=0)
    elif kind == "CONV_2D":
        y = mb.tensor([1, 5, 5, oc], "int8", 0.2, 0)
        mb.op(kind, [x, w, b], [y], "Conv2DOptions", Padding=0, StrideW=1, StrideH=1,
              FusedActivationFunction=0, DilationWFactor=1, DilationHFactor=1)
    else:
        y = mb.tensor([1, 5, 5, oc], "int8", 0.2, 0)
        mb.op(kind, [x, w, b], [y], "DepthwiseConv2DOptions", Padding=0, StrideW=1, StrideH=1,
              DepthMultiplier=1, FusedActivationFunction=0, DilationWFactor=1, DilationHFactor=1)
    return mb.build([x], [y])


def peraxis_cases():
    for kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        for axis in (0, 1, 2, 3, -1, 7, 2**31 - 1):
            if kind == "FULLY_CONNECTED" and axis in (2, 3):
                continue
            yield f"{kind}_peraxis_axis{axis}", _peraxis_conv(kind, axis)
        yield f"{kind}_peraxis_3_scales", _peraxis_conv(kind, 0 if kind != "DEPTHWISE_CONV_2D" else 3, nscales=3)
        yield f"{kind}_weight_zp_300", _peraxis_conv(kind, 0 if kind != "DEPTHWISE_CONV_2D" else 3, zp=300)


def _legacy(kind, **o) -> bytes:
    from opmodels import uint8_op_model
    return uint8_op_model(np.random.default_rng(7), kind, **o)


def legacy_cases():
    for kind in ("HARD_SWISH", "LOGISTIC", "TANH", "LEAKY_RELU", "RELU6", "QUANTIZE"):
        for s in (1e-30, 1e30, 0.0, -0.05, float("nan"), float("inf")):
            yield f"u8_{kind}_inscale{s:g}", _legacy(kind, in_scale=s)
        for z in (-1, 256, 300, 2**31 - 1):
            yield f"u8_{kind}_inzp{z}", _legacy(kind, in_zp=z)
        yield f"u8_{kind}_outzp256", _legacy(kind, out_zp=256)
    for kind in ("MUL", "SUB", "MAXIMUM", "MINIMUM"):
        for s in (1e-30, 1e30, 0.0, float("nan"), -1.0):
            yield f"u8_{kind}_bscale{s:g}", _legacy(kind, b="const", b_scale=s)
            yield f"u8_{kind}_outscale{s:g}", _legacy(kind, b="self", out_scale=s)
        for z in (-1, 256, 2**31 - 1):
            yield f"u8_{kind}_bzp{z}", _legacy(kind, b="const", b_zp=z)
        yield f"u8_{kind}_mean", _legacy(kind, b="mean")
    for axes in ([4], [-5], [1, 1], [], [2**31 - 1]):
        yield f"u8_MEAN_axes{axes}", _legacy("MEAN", axes=axes) if all(-4 <= a < 4 for a in axes) else \
            _legacy_mean_raw(axes)
    for s in (1e-30, 1e30, 0.0, float("nan")):
        yield f"u8_MEAN_outscale{s:g}", _legacy("MEAN", out_scale=s)
    for pads in ([[0, 0], [-1, 0], [0, 0], [0, 0]], [[0, 0], [2**30, 0], [0, 0], [0, 0]],
                 [[1, 0], [0, 0], [0, 0], [0, 0]], [[0, 0], [0, 2**31 - 1], [0, 0], [0, 0]]):
        try:
            yield f"u8_PAD_{pads}", _legacy("PAD", pads=pads)
        except (ValueError, OverflowError):     # the builder cannot write it (beyond int32)
            continue
    yield "u8_PADV2_value_300", _legacy("PADV2", pads=[[0, 0], [1, 1], [1, 1], [0, 0]], value=44)
    for hw in ((0, 0), (1, 1), (2**15, 2**15), (-1, 4), (200, 1)):
        for kind in ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"):
            for ac, hp in ((False, False), (True, False), (False, True), (True, True)):
                yield f"u8_{kind}_{hw}_{int(ac)}{int(hp)}", _legacy(kind, out_hw=hw, align_corners=ac, half_pixel=hp)
    # PRELU with alpha of a bad shape, LOG_SOFTMAX with extreme scales
    from opmodels import log_softmax_model
    for s in (1e-30, 1e30, 0.0, float("nan"), 1e3):
        yield f"LOG_SOFTMAX_inscale{s:g}", log_softmax_model(np.random.default_rng(1), shape=(1, 10), in_scale=s, in_zp=0)
    for dt in ("int8", "uint8"):
        for ashape in ([7], [1, 1, 1, 7], [2, 1, 1, 6], [0], [1, 5, 7, 6], [5, 1, 1]):
            for ascale in (0.01, 1e30, 0.0, float("nan")):
                yield f"PRELU_{dt}_alpha{ashape}_{ascale:g}", _prelu(dt, ashape, ascale)


def _legacy_mean_raw(axes) -> bytes:
    mb = ModelBuilder()
    x = mb.tensor([1, 5, 7, 6], "uint8", 0.05, 128)
    a = mb.tensor([len(axes)], "int32", data=axes)
    y = mb.tensor([1, 5, 7, 6], "uint8", 0.05, 128)
    mb.op("MEAN", [x, a], [y], "ReducerOptions", KeepDims=True)
    return mb.build([x], [y])


def _prelu(dt, ashape, ascale) -> bytes:
    zp = 128 if dt == "uint8" else 0
    mb = ModelBuilder()
    x = mb.tensor([1, 5, 7, 6], dt, 0.05, zp)
    rng = np.random.default_rng(3)
    lo, hi = (0, 256) if dt == "uint8" else (-128, 128)
    a = mb.tensor(ashape, dt, ascale, zp, rng.integers(lo, hi, ashape))
    y = mb.tensor([1, 5, 7, 6], dt, 0.05, zp)
    mb.op("PRELU", [x, a], [y])
    return mb.build([x], [y])


def _reshape_fold(cshape, newshape, rshape, shape_dtype="int32", data_shape=None) -> bytes:
    mb = ModelBuilder()
    x = mb.tensor([1, 2, 3, 4], "int8", 0.05, 3)
    n = int(np.prod(data_shape if data_shape is not None else cshape))
    c = mb.tensor(list(cshape), "int8", 0.04, -2, (np.arange(n) % 200 - 100).astype(np.int8).reshape(
        data_shape if data_shape is not None else cshape))
    arg = mb.tensor([len(newshape)], shape_dtype, data=np.asarray(newshape, shape_dtype))
    r = mb.tensor(list(rshape), "int8", 0.04, -2)
    mb.op("RESHAPE", [c, arg], [r], "ReshapeOptions", NewShape=list(newshape))
    y = mb.tensor([1, 2, 3, 4], "int8", 0.1, 0)
    mb.op("ADD", [x, r], [y], "AddOptions")
    return mb.build([x], [y])


def reshape_cases():
    yield "RESHAPE_fold_ok", _reshape_fold([24], [1, 2, 3, 4], [1, 2, 3, 4])
    yield "RESHAPE_fold_two_minus1", _reshape_fold([24], [-1, 2, -1, 4], [1, 2, 3, 4])
    yield "RESHAPE_fold_zero", _reshape_fold([24], [0, 2, 3, 4], [1, 2, 3, 4])
    yield "RESHAPE_fold_count_mismatch", _reshape_fold([24], [1, 2, 3, 5], [1, 2, 3, 4])
    yield "RESHAPE_fold_declared_wrong", _reshape_fold([24], [1, 2, 3, 4], [1, 4, 3, 2])
    yield "RESHAPE_fold_broadcast", _reshape_fold([4], [1, 1, 1, 4], [1, 1, 1, 4])
    yield "RESHAPE_fold_int64", _reshape_fold([24], [1, 2, 3, 4], [1, 2, 3, 4], shape_dtype="int64")
    yield "RESHAPE_fold_huge", _reshape_fold([24], [2**31 - 1, 2, 3, 4], [1, 2, 3, 4])
    yield "RESHAPE_fold_neg2", _reshape_fold([24], [-2, 2, 3, -2], [1, 2, 3, 4])
    # the constant's buffer holds fewer bytes than its shape says
    yield "RESHAPE_fold_short_buffer", _reshape_fold([24], [1, 2, 3, 4], [1, 2, 3, 4], data_shape=[12])
    yield "RESHAPE_fold_long_buffer", _reshape_fold([24], [1, 2, 3, 4], [1, 2, 3, 4], data_shape=[48])


def _binary(op, sa, sb, so, za=3, zb=-3, zo=0, shape_b=(1, 4, 4, 6), act=0) -> bytes:
    mb = ModelBuilder()
    x = mb.tensor([1, 4, 4, 6], "int8", sa, za)
    b = mb.tensor(list(shape_b), "int8", sb, zb, np.arange(int(np.prod(shape_b))).reshape(shape_b) % 200 - 100)
    y = mb.tensor([1, 4, 4, 6], "int8", so, zo)
    opts = {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions"}[op]
    mb.op(op, [x, b], [y], opts, FusedActivationFunction=act)
    return mb.build([x], [y])


def _const_input(op) -> bytes:
    """The op applied to a constant (its output then feeds an ADD with the graph input)."""
    mb = ModelBuilder()
    data = (np.arange(96) % 200 - 100).astype(np.int8)
    if op == "DEPTH_TO_SPACE":
        c = mb.tensor([1, 2, 3, 16], "int8", 0.05, 3, data.reshape(1, 2, 3, 16))
        o = mb.tensor([1, 8, 12, 1], "int8", 0.05, 3)
        mb.op(op, [c], [o], "DepthToSpaceOptions", BlockSize=4)
    elif op == "GATHER":
        c = mb.tensor([96], "int8", 0.05, 3, data)
        idx = mb.tensor([1, 8, 12, 1], "int32", data=np.arange(96).reshape(1, 8, 12, 1)[::-1] % 96)
        o = mb.tensor([1, 8, 12, 1], "int8", 0.05, 3)
        mb.op(op, [c, idx], [o], "GatherOptions", Axis=0)
    elif op == "UNPACK":
        c = mb.tensor([2, 1, 8, 12, 1], "int8", 0.05, 3, np.concatenate([data, data]).reshape(2, 1, 8, 12, 1))
        o = mb.tensor([1, 8, 12, 1], "int8", 0.05, 3)
        o2 = mb.tensor([1, 8, 12, 1], "int8", 0.05, 3)
        mb.op(op, [c], [o, o2], "UnpackOptions", Num=2, Axis=0)
    elif op == "PACK":
        c = mb.tensor([8, 12, 1], "int8", 0.05, 3, data.reshape(8, 12, 1))
        o = mb.tensor([1, 8, 12, 1], "int8", 0.05, 3)
        mb.op(op, [c], [o], "PackOptions", ValuesCount=1, Axis=0)
    else:   # a unary table op on a constant
        c = mb.tensor([1, 8, 12, 1], "int8", 0.05, 3, data.reshape(1, 8, 12, 1))
        o = mb.tensor([1, 8, 12, 1], "int8", 0.05, 3)
        mb.op(op, [c], [o], {"EXP": "ExpOptions", "ABS": "AbsOptions"}.get(op))
    x = mb.tensor([1, 8, 12, 1], "int8", 0.05, 3)
    y = mb.tensor([1, 8, 12, 1], "int8", 0.1, 0)
    mb.op("ADD", [x, o], [y], "AddOptions")
    return mb.build([x], [y])


def misc_cases():
    for op in ("ADD", "SUB", "MUL"):
        for sa, sb, so in ((1e-30, 0.05, 0.05), (0.05, 1e-30, 0.05), (0.05, 0.05, 1e-30), (0.05, 0.05, 1e30),
                           (1e30, 0.05, 1e30), (1e-20, 1e-20, 1e-20), (1e20, 1e20, 1e20), (0.05, 1e-7, 0.05)):
            for shape_b in ((1, 4, 4, 6), (6,), (1, 1, 1, 1)):
                yield f"{op}_{sa:g}_{sb:g}_{so:g}_b{len(shape_b)}", _binary(op, sa, sb, so, shape_b=shape_b)
        for z in (-128, 127, -129, 128):
            yield f"{op}_zps{z}", _binary(op, 0.05, 0.05, 0.05, za=z, zb=z, zo=z, act=3)
    for op in ("DEPTH_TO_SPACE", "GATHER", "UNPACK", "PACK", "EXP", "LOG", "ABS", "SQRT", "GELU"):
        yield f"{op}_of_constant", _const_input(op)
    # per-axis (several scales) activations into the data-movement ops
    mb = ModelBuilder()
    x = mb.tensor([1, 2, 2, 4], "int8", np.array([0.05, 0.06, 0.07, 0.08]), 3, axis=3)
    y = mb.tensor([1, 4, 4, 1], "int8", 0.05, 3)
    mb.op("DEPTH_TO_SPACE", [x], [y], "DepthToSpaceOptions", BlockSize=2)
    yield "DEPTH_TO_SPACE_peraxis_input", mb.build([x], [y])
    mb = ModelBuilder()
    x = mb.tensor([4, 5], "int8", np.full(5, 0.05), 3, axis=1)
    idx = mb.tensor([2], "int32", data=[1, 3])
    y = mb.tensor([2, 5], "int8", np.full(5, 0.05), 3, axis=1)
    mb.op("GATHER", [x, idx], [y], "GatherOptions", Axis=0)
    yield "GATHER_peraxis_both", mb.build([x], [y])
    mb = ModelBuilder()
    x = mb.tensor([2, 3], "int8", np.full(3, 0.05), 3, axis=1)
    ys = [mb.tensor([3], "int8", np.full(3, 0.05), 3, axis=0) for _ in range(2)]
    mb.op("UNPACK", [x], ys, "UnpackOptions", Num=2, Axis=0)
    yield "UNPACK_peraxis", mb.build([x], ys)


GROUPS = {"misc": misc_cases, "unary": unary_cases, "depth_space": depth_space_cases, "gather": gather_cases,
          "pack": pack_cases, "reduce": reduce_cases, "peraxis": peraxis_cases,
          "legacy": legacy_cases, "reshape": reshape_cases}


def _guarded(gen):
    """The cases of one generator; a case the builder cannot write (numpy refuses its
    shapes) is left out."""
    it = iter(gen)
    while True:
        try:
            yield next(it)
        except StopIteration:
            return
        except (ValueError, OverflowError, TypeError):
            continue


def all_cases(groups=None):
    for g, fn in GROUPS.items():
        if groups is None or g in groups:
            for name, data in _guarded(fn()):
                yield g, name.replace(" ", ""), data


def _litert_refuses(model) -> str:
    """'' if TFLite's reference kernels prepare and run the model on zeros, else why not (in a
    child process: the reference aborts on some models)."""
    import subprocess
    import sys
    code = ("import sys, numpy as np\n"
            "from ai_edge_litert.interpreter import Interpreter, OpResolverType\n"
            "i = Interpreter(model_path=sys.argv[1], experimental_op_resolver_type=OpResolverType.BUILTIN_REF)\n"
            "i.allocate_tensors()\n"
            "for d in i.get_input_details(): i.set_tensor(d['index'], np.zeros(d['shape'], d['dtype']))\n"
            "i.invoke()\n")
    r = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=120)
    return "" if r.returncode == 0 else (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1][:200]


def main(argv=None) -> int:
    import argparse
    import collections
    import shutil
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from fuzz_models import Sanitized, _classify_cli, _run_forked
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="")
    ap.add_argument("--names", default=None, help="a file of case names, one a line: run only those")
    ap.add_argument("--groups", default=None)
    ap.add_argument("--targets", default="host")
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--kernels", default="reference", help="kernel sets to build accepted cases with "
                    "on the host (reference,dsp,mve)")
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="hostile-"))
    names = set(Path(a.names).read_text().split("\n")) if a.names else None
    sans = {}   # one per kernel set: Sanitized builds its kernel library once, from the first output
    counts = collections.Counter()
    for g, name, data in all_cases(a.groups.split(",") if a.groups else None):
        if a.only not in name or (names is not None and name not in names):
            continue
        d = work / "case"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        model = d / "m.tflite"
        model.write_bytes(data)
        for tgt in a.targets.split(","):
            out = d / f"out-{tgt}"
            how, code, err = _run_forked(["emit", str(model), "--target", tgt, "-o", str(out)], 120, d)
            o, msg = _classify_cli("emit", how, code, err)
            if o == "refused":
                msg = err.strip().splitlines()[0][:220]
            how2, code2, err2 = _run_forked(["inspect", str(model), "--target", tgt], 120, d)
            o2, msg2 = _classify_cli("inspect", how2, code2, err2, accept_codes=(0, 1))
            if o2 not in ("accepted", "refused"):
                o, msg = o2, msg2
            if o == "accepted" and tgt == "host":
                for kernels in a.kernels.split(","):
                    kout = d / f"out-{kernels}"
                    how, code, err = _run_forked(["emit", str(model), "--target", "host", "--kernels", kernels,
                                                  "-o", str(kout)], 120, d)
                    o, msg = _classify_cli("emit", how, code, err)
                    if o == "accepted":
                        o, msg = sans.setdefault(kernels, Sanitized(work, timeout=120)).run(kout)
                    if o == "accepted" and not a.no_verify:
                        how, code, err = _run_forked(["verify", str(model), "--target", "host", "--kernels",
                                                      kernels, "--inputs", "3", "-o", str(d / "v")], 300, d)
                        o3, msg3 = _classify_cli("verify", how, code, err)
                        if o3 != "accepted":
                            o, msg = "verify-" + o3, (err.strip().splitlines() or [""])[-1][:220]
                    if o != "accepted":
                        msg = f"[{kernels}] {msg}"
                        break
                if o == "accepted" and not a.no_verify:
                    why = _litert_refuses(model)
                    if why:     # verify fell back to TFLite Micro: TFLite itself refuses the model
                        o, msg = "tflite-refuses", why
            counts[o] += 1
            print(f"{o:12s} {tgt:10s} {g:11s} {name:45s} {msg}", flush=True)
    print(dict(counts))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
