"""Lowering: each operator becomes one call into the kernel library, with every constant
(requantization multipliers and shifts, padding, activation range, folded biases)
computed here, on the host, exactly as TFLite's Prepare() computes it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import quantization as q
from .errors import UnsupportedModelError
from .graph import Graph, Operator, Tensor


@dataclass
class ConstArray:
    name: str
    ctype: str                  # "int8_t", "int16_t", "int32_t" or a struct (one row each)
    values: np.ndarray


@dataclass
class Step:
    op: Operator
    kernel: str                 # C function called
    params_type: str            # C struct type of the parameter block
    params: dict                # struct field -> value
    args: list                  # after &params: ("in", tensor) | ("out", tensor) | ("const", ConstArray) | ("null",)
    inputs: list[int]           # activation tensors read (source indices)
    output: int                 # activation tensor written (source index)
    macs: int = 0
    consts: list[ConstArray] = field(default_factory=list)
    scratch_bytes: int = 0      # per-call working memory, planned in the arena like a tensor

    @property
    def weight_bytes(self) -> int:
        return sum(c.values.nbytes for c in self.consts)


SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D",
                 "MAX_POOL_2D", "MEAN", "ADD", "MUL", "SOFTMAX", "PAD", "PADV2", "QUANTIZE",
                 "RELU", "RELU6", "RELU_N1_TO_1", "HARD_SWISH", "TRANSPOSE", "SPLIT", "SPLIT_V",
                 "SLICE", "STRIDED_SLICE", "CONCATENATION", "LOGISTIC", "RSQRT",
                 "BATCH_MATMUL", "SQUARED_DIFFERENCE", "DEQUANTIZE->NEG->QUANTIZE")


def lower_op(graph: Graph, op: Operator, kernels: str = "reference") -> list[Step]:
    """One operator's steps (a SPLIT makes one per output). kernels: 'reference' (portable C)
    or 'dsp' (optimized, chosen per layer where one fits)."""
    fn = _LOWERERS.get(op.type)
    if fn is None:
        raise UnsupportedModelError("no kernel for this operator")
    if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        step = fn(graph, op, kernels)
    else:
        step = fn(graph, op)
    return step if isinstance(step, list) else [step]


def lower(graph: Graph, kernels: str = "reference") -> list[Step]:
    """All operators at once, so that every unsupported one is reported together."""
    steps, problems = [], []
    for op in graph.operators:
        try:
            steps.extend(lower_op(graph, op, kernels))
        except UnsupportedModelError as e:
            problems.append(f"#{op.index} {op.type}" + ("" if op.type not in _LOWERERS else f" ({e})"))
    if problems:
        raise UnsupportedModelError(
            f"{len(problems)} unsupported operator(s): {', '.join(problems)}. "
            f"Supported: {', '.join(SUPPORTED_OPS)}; run `codegen inspect` for details")
    return steps


# --- helpers ---

def _t(graph: Graph, idx: int) -> Tensor:
    return graph.tensors[idx]


def _nhwc(t: Tensor) -> tuple[int, int, int, int]:
    if len(t.shape) != 4:
        raise UnsupportedModelError(f"expects a 4-D NHWC tensor, got shape {list(t.shape)}")
    if t.shape[0] != 1:   # the NHWC kernels compute one image
        raise UnsupportedModelError(f"batch {t.shape[0]}: re-convert with batch size 1")
    return tuple(t.shape)  # type: ignore[return-value]


def _same_padding(padding: str, stride: int, dilation: int, in_size: int, k: int,
                  out_size: int) -> int:
    """ComputePaddingWithOffset: TFLite puts the odd pixel after, so before = total // 2."""
    eff = (k - 1) * dilation + 1
    total = max((out_size - 1) * stride + eff - in_size, 0)
    return total // 2


def _out_size(padding: str, in_size: int, k: int, stride: int, dilation: int) -> int:
    eff = (k - 1) * dilation + 1
    return (in_size + stride - 1) // stride if padding == "SAME" else (in_size + stride - eff) // stride


def _act(op: Operator, out: Tensor) -> tuple[int, int]:
    return q.activation_range(op.options.get("FusedActivationFunction", "NONE"),
                              out.quant.scale, out.quant.zero_point)


def _channel_quant(graph, op, x, w, y, out_c):
    scales = w.quant.scales if w.quant.per_channel else np.repeat(w.quant.scales, out_c)
    if len(scales) != out_c:
        raise UnsupportedModelError(f"{len(scales)} filter scales for {out_c} output channels")
    pairs = q.conv_channel_multipliers(x.quant.scale, scales, y.quant.scale)
    mult = np.array([m for m, _ in pairs], np.int32)
    shift = np.array([s for _, s in pairs], np.int32)
    n = op.index
    return ConstArray(f"op{n}_multiplier", "int32_t", mult), ConstArray(f"op{n}_shift", "int32_t", shift)


def _bias(graph, op, out_c) -> np.ndarray:
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        b = _t(graph, op.inputs[2]).data
        if b is None or b.dtype != np.int32:
            raise UnsupportedModelError("bias must be a constant int32 tensor")
        return b.astype(np.int64).reshape(-1)
    return np.zeros(out_c, np.int64)


def _require_int8(*tensors: Tensor) -> None:
    for t in tensors:
        if t.dtype != "int8" or t.quant is None:
            raise UnsupportedModelError(f"tensor '{t.name}' is {t.dtype}, expected quantized int8")


# --- convolutions ---

def _conv_common(graph, op, depthwise: bool):
    x, w, y = _t(graph, op.inputs[0]), _t(graph, op.inputs[1]), _t(graph, op.outputs[0])
    _require_int8(x, w, y)
    if w.data is None:
        raise UnsupportedModelError("filter must be constant")
    _, in_h, in_w, in_c = _nhwc(x)
    _, out_h, out_w, out_c = _nhwc(y)
    o = op.options
    sh, sw = o.get("StrideH", 1), o.get("StrideW", 1)
    dh, dw = o.get("DilationHFactor", 1), o.get("DilationWFactor", 1)
    if depthwise:
        _, k_h, k_w, w_c = w.shape
        filter_in_c = 1
    else:
        w_c, k_h, k_w, filter_in_c = w.shape
    if w_c != out_c:
        raise UnsupportedModelError(f"filter has {w_c} output channels, output has {out_c}")
    ep = o.get("_explicit_pad", (0, 0, 0, 0))  # folded PAD: top, bottom, left, right
    padded_h, padded_w = in_h + ep[0] + ep[1], in_w + ep[2] + ep[3]
    padding = o.get("Padding", "VALID")
    if (_out_size(padding, padded_h, k_h, sh, dh), _out_size(padding, padded_w, k_w, sw, dw)) != (out_h, out_w):
        raise UnsupportedModelError("output size does not match the padding and strides")
    pad_top = ep[0] + _same_padding(padding, sh, dh, padded_h, k_h, out_h)
    pad_left = ep[2] + _same_padding(padding, sw, dw, padded_w, k_w, out_w)
    act_min, act_max = _act(op, y)
    mult, shift = _channel_quant(graph, op, x, w, y, out_c)
    params = dict(in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c,
                  k_h=k_h, k_w=k_w, filter_in_c=filter_in_c,
                  depth_multiplier=out_c // in_c if depthwise else 1,
                  stride_h=sh, stride_w=sw, dil_h=dh, dil_w=dw, pad_top=pad_top, pad_left=pad_left,
                  input_offset=-x.quant.zero_point, output_offset=y.quant.zero_point,
                  act_min=act_min, act_max=act_max)
    return x, w, y, params, mult, shift


def _folded_bias(bias: np.ndarray, input_offset: int, filter_rows: np.ndarray) -> np.ndarray | None:
    """bias + input_offset * sum(filter row): the kernels then multiply raw int8 inputs.
    None if that no longer fits int32 (the unfolded reference kernels are used then)."""
    folded = bias + input_offset * filter_rows.astype(np.int64).sum(axis=1)
    return None if np.abs(folded).max(initial=0) >= 2**31 else folded.astype(np.int32)


def _requant_table(op, p: dict, mult: ConstArray, shift: ConstArray, bias_folded: np.ndarray,
                   abs_weight_sums: np.ndarray) -> tuple[list[ConstArray] | None, np.ndarray, bool]:
    """The optimized kernels' per-channel output constants -- a multiplier and a shift byte
    (5 flash bytes per channel, see fast_requant_constants), the bias they go with, and
    whether the SMMLAR stage is provably exact for every channel in the full int8 range (then
    the kernels' _fast copies are called); None where twice the accumulator (what the 3x3
    depthwise kernel holds) may not fit int32: the reference kernels are used then. The
    accumulator of a raw int8 input is at most |bias| + 128 * sum |w|.
    A channel whose weights are all zero outputs one constant; the converter often gives
    such dead channels a bias near 2^30. They get bias 4 * (value - zero point) and the
    multiplier 0.25 instead, which gives the same value and keeps the bound small.
    Every channel where the SMMLAR form is exact gets its constants (shift byte < 32),
    whatever the others and the activation range: the general stage computes through them
    too and only adds the clamp; only left-shift channels take TFLite's formula."""
    offset, lo, hi = p["output_offset"], p["act_min"], p["act_max"]
    bias, ms, ss = bias_folded.astype(np.int64), mult.values.astype(np.int64), shift.values.astype(np.int64)
    for c in np.flatnonzero(abs_weight_sums == 0):
        v = min(max(q.multiply_by_quantized_multiplier(int(bias[c]), int(ms[c]), int(ss[c])) + offset, lo), hi)
        bias[c], ms[c], ss[c] = 4 * (v - offset), 1 << 30, -1
    bound = np.abs(bias) + 128 * abs_weight_sums.astype(np.int64)
    if (2 * bound >= 2**31).any():
        return None, bias_folded, False
    exact = [q.fast_requant_exact_for(int(s), int(b), offset) for s, b in zip(ss, bound)]
    fast = all(exact) and (lo, hi) == (-128, 127)
    rows = np.array([q.fast_requant_constants(int(m), int(s), offset) if f
                     else q.formula_requant_constants(int(m), int(s))
                     for m, s, f in zip(ms, ss, exact)], np.int64).reshape(-1, 2)
    return ([ConstArray(f"op{op.index}_rq_multiplier", "int32_t", rows[:, 0].astype(np.int32)),
             ConstArray(f"op{op.index}_rq_shift", "int8_t", rows[:, 1].astype(np.int8))],
            bias.astype(np.int32), fast)


def _interleave_pairs(rows: np.ndarray) -> np.ndarray:
    """[OC][K] (K % 4 == 0) -> the rows of each output-channel pair interleaved word by word,
    so one LDRD fetches 4 weights of both channels; an odd last row stays plain."""
    oc, k = rows.shape
    pairs = rows[:oc - oc % 2].reshape(oc // 2, 2, k // 4, 4).transpose(0, 2, 1, 3).reshape(-1)
    return np.concatenate([pairs, rows[oc - oc % 2:].reshape(-1)])


def _depthwise_plane_bytes(p: dict) -> int:
    """Scratch of the 3x3 DSP depthwise kernel: one channel's padded plane (+4, see the C)."""
    return ((p["out_h"] - 1) * p["stride_h"] + 3) * ((p["out_w"] - 1) * p["stride_w"] + 3) + 4


SHALLOW_RUN_MAX = 16   # k_w * in_c up to which the shallow-input kernel is chosen (stems)


def _is_stem(p: dict) -> bool:
    """The shape mcuf_conv_shallow_stem_s8_dsp_fast is written for (is_stem in the C)."""
    return (p["k_h"], p["k_w"], p["in_c"], p["stride_w"]) == (3, 3, 3, 2)


def _shallow_row_len(p: dict) -> int:
    """One widened input row of mcuf_conv_shallow_s8_dsp, in int16 (see its row_len)."""
    return (((p["out_w"] - 1) * p["stride_w"] + p["k_w"]) * p["in_c"] + 2) & ~1


def _shallow_filter(rows: np.ndarray, p: dict) -> np.ndarray:
    """[OC][k_h*k_w*in_c] int8 -> mcuf_conv_shallow_s8_dsp's int16 layout: each kernel row's
    run padded to even with a zero weight, doubled, an odd channel count padded with a zero
    row, then per channel pair [k_h * L/2][2 channels][2 values]."""
    oc, run = p["out_c"], p["k_w"] * p["in_c"]
    ell = run + run % 2
    w = np.zeros((oc + oc % 2, p["k_h"], ell), np.int16)
    w[:oc, :, :run] = 2 * rows.reshape(oc, p["k_h"], run).astype(np.int16)
    return w.reshape(-1, 2, p["k_h"] * ell // 2, 2).transpose(0, 2, 1, 3).reshape(-1)


def _lower_conv(graph, op, kernels: str = "reference") -> Step:
    x, w, y, p, mult, shift = _conv_common(graph, op, depthwise=False)
    if p["in_c"] % p["filter_in_c"] or p["out_c"] % (p["in_c"] // p["filter_in_c"]):
        raise UnsupportedModelError("input channels are not a multiple of the filter depth")
    n = op.index
    bias = _bias(graph, op, p["out_c"])
    rows = w.data.reshape(p["out_c"], -1)
    grouped = p["filter_in_c"] != p["in_c"]
    pointwise = (p["k_h"] == p["k_w"] == 1 and p["stride_h"] == p["stride_w"] == 1
                 and p["pad_top"] == p["pad_left"] == 0 and not grouped
                 and (p["in_h"], p["in_w"]) == (p["out_h"], p["out_w"]))
    folded = _folded_bias(bias, p["input_offset"], rows)
    rq, fast = None, False
    if kernels == "dsp" and folded is not None:
        rq, dsp_bias, fast = _requant_table(op, p, mult, shift, folded,
                                            np.abs(rows.astype(np.int64)).sum(axis=1))
    macs = p["out_h"] * p["out_w"] * p["out_c"] * p["k_h"] * p["k_w"] * p["filter_in_c"]
    if rq is not None and pointwise and p["in_c"] % 4 == 0:
        filt = ConstArray(f"op{n}_filter", "int8_t", _interleave_pairs(rows))
        b = ConstArray(f"op{n}_bias", "int32_t", 2 * dsp_bias)   # the kernel accumulates 2 * acc
        return Step(op, "mcuf_conv_1x1_s8_dsp" + "_fast" * fast, "mcuf_conv_params", p,
                    [("in", x.index), ("const", filt), ("const", b), *[("const", c) for c in rq],
                     ("out", y.index), ("scratch",)], [x.index], y.index, macs, [filt, b, *rq],
                    4 * p["in_c"])
    if (rq is not None and not grouped and not pointwise and p["dil_w"] == 1
            and p["k_w"] * p["in_c"] <= SHALLOW_RUN_MAX):
        filt = ConstArray(f"op{n}_filter", "int16_t", _shallow_filter(rows, p))
        b = ConstArray(f"op{n}_bias", "int32_t", 2 * dsp_bias)
        kernel = ("mcuf_conv_shallow_stem_s8_dsp_fast" if fast and _is_stem(p)
                  else "mcuf_conv_shallow_s8_dsp")
        return Step(op, kernel, "mcuf_conv_params", p,
                    [("in", x.index), ("const", filt), ("const", b), *[("const", c) for c in rq],
                     ("out", y.index), ("scratch",)], [x.index], y.index, macs, [filt, b, *rq],
                    2 * p["k_h"] * _shallow_row_len(p))
    if rq is not None and not grouped and not pointwise:
        k4 = (rows.shape[1] + 3) // 4 * 4   # rows padded with zero weights to whole words
        padded = np.zeros((p["out_c"], k4), np.int8)
        padded[:, :rows.shape[1]] = rows
        filt = ConstArray(f"op{n}_filter", "int8_t", _interleave_pairs(padded))
        b = ConstArray(f"op{n}_bias", "int32_t", dsp_bias)
        return Step(op, "mcuf_conv_s8_dsp" + "_fast" * fast, "mcuf_conv_params", p,
                    [("in", x.index), ("const", filt), ("const", b), *[("const", c) for c in rq],
                     ("out", y.index), ("scratch",)], [x.index], y.index, macs, [filt, b, *rq],
                    2 * k4 * 2 + k4 + 4)
    if pointwise and folded is not None:
        filt = ConstArray(f"op{n}_filter", "int8_t", rows.reshape(-1))
        b = ConstArray(f"op{n}_bias", "int32_t", folded)
        kernel = "mcuf_conv_1x1_s8"
    else:
        filt = ConstArray(f"op{n}_filter", "int8_t", rows.reshape(-1))
        b = ConstArray(f"op{n}_bias", "int32_t", bias.astype(np.int32))
        kernel = "mcuf_conv_s8"
    args = [("in", x.index), ("const", filt), ("const", b), ("const", mult), ("const", shift),
            ("out", y.index)]
    return Step(op, kernel, "mcuf_conv_params", p, args, [x.index], y.index, macs,
                [filt, b, mult, shift])


def _lower_depthwise(graph, op, kernels: str = "reference") -> Step:
    x, w, y, p, mult, shift = _conv_common(graph, op, depthwise=True)
    if p["out_c"] % p["in_c"]:
        raise UnsupportedModelError("output channels are not a multiple of input channels")
    n = op.index
    filt = ConstArray(f"op{n}_filter", "int8_t", w.data.reshape(-1))
    bias = _bias(graph, op, p["out_c"])
    taps = w.data.reshape(-1, p["out_c"])                   # [tap][channel]
    macs = p["out_h"] * p["out_w"] * p["out_c"] * p["k_h"] * p["k_w"]
    folded = _folded_bias(bias, p["input_offset"], taps.T)
    if kernels == "dsp" and p["depth_multiplier"] == 1 and folded is not None:
        three = p["k_h"] == p["k_w"] == 3 and p["dil_h"] == p["dil_w"] == 1
        rq, dsp_bias, fast = _requant_table(op, p, mult, shift, folded,
                                            np.abs(taps.astype(np.int64)).sum(axis=0))
        if rq is not None:
            b = ConstArray(f"op{n}_bias", "int32_t", dsp_bias)
            kernel = "mcuf_depthwise_conv_s8_dsp"
            args = [("in", x.index), ("const", filt), ("const", b), *[("const", c) for c in rq],
                    ("out", y.index)]
            scratch = 0
            if three:
                filt = ConstArray(f"op{n}_filter", "int8_t", np.ascontiguousarray(taps.T).reshape(-1))
                args[1] = ("const", filt)
                kernel = "mcuf_depthwise_conv_3x3_s8_dsp"
                args.append(("scratch",))          # one channel's padded plane
                scratch = _depthwise_plane_bytes(p)
            return Step(op, kernel + "_fast" * fast, "mcuf_conv_params", p, args, [x.index], y.index,
                        macs, [filt, b, *rq], scratch)
    b = ConstArray(f"op{n}_bias", "int32_t", bias.astype(np.int32))
    return Step(op, "mcuf_depthwise_conv_s8", "mcuf_conv_params", p,
                [("in", x.index), ("const", filt), ("const", b), ("const", mult), ("const", shift),
                 ("out", y.index)], [x.index], y.index, macs, [filt, b, mult, shift])


def _lower_fully_connected(graph, op) -> Step:
    x, w, y = _t(graph, op.inputs[0]), _t(graph, op.inputs[1]), _t(graph, op.outputs[0])
    _require_int8(x, w, y)
    if w.data is None or len(w.shape) != 2:
        raise UnsupportedModelError("filter must be a constant 2-D tensor")
    out_depth, in_depth = w.shape
    if x.size % in_depth:
        raise UnsupportedModelError("input size is not a multiple of the filter depth")
    mult, shift = _channel_quant(graph, op, x, w, y, out_depth)
    per_channel = w.quant.per_channel
    if not per_channel:
        mult.values, shift.values = mult.values[:1], shift.values[:1]
    act_min, act_max = _act(op, y)
    n = op.index
    filt = ConstArray(f"op{n}_filter", "int8_t", w.data.reshape(-1))
    b = ConstArray(f"op{n}_bias", "int32_t", _bias(graph, op, out_depth).astype(np.int32))
    p = dict(batches=x.size // in_depth, in_depth=in_depth, out_depth=out_depth,
             per_channel=int(per_channel), input_offset=-x.quant.zero_point,
             output_offset=y.quant.zero_point, act_min=act_min, act_max=act_max)
    return Step(op, "mcuf_fully_connected_s8", "mcuf_fc_params", p,
                [("in", x.index), ("const", filt), ("const", b), ("const", mult), ("const", shift),
                 ("out", y.index)], [x.index], y.index, p["batches"] * in_depth * out_depth,
                [filt, b, mult, shift])


# --- pooling and reductions ---

def _lower_pool(graph, op) -> Step:
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _require_int8(x, y)
    if x.quant.scale != y.quant.scale or x.quant.zero_point != y.quant.zero_point:
        raise UnsupportedModelError("pooling input and output quantization differ")
    _, in_h, in_w, c = _nhwc(x)
    _, out_h, out_w, _ = _nhwc(y)
    o = op.options
    k_h, k_w = o["FilterHeight"], o["FilterWidth"]
    sh, sw = o.get("StrideH", 1), o.get("StrideW", 1)
    padding = o.get("Padding", "VALID")
    act_min, act_max = _act(op, y)
    p = dict(in_h=in_h, in_w=in_w, channels=c, out_h=out_h, out_w=out_w, k_h=k_h, k_w=k_w,
             stride_h=sh, stride_w=sw,
             pad_top=_same_padding(padding, sh, 1, in_h, k_h, out_h),
             pad_left=_same_padding(padding, sw, 1, in_w, k_w, out_w),
             act_min=act_min, act_max=act_max)
    kernel = "mcuf_avgpool_s8" if op.type == "AVERAGE_POOL_2D" else "mcuf_maxpool_s8"
    return Step(op, kernel, "mcuf_pool_params", p, [("in", x.index), ("out", y.index)],
                [x.index], y.index)


def _lower_mean(graph, op) -> Step:
    """MEAN over one run of adjacent axes, the input seen as [outer, count, inner]: the
    zero-point-corrected sum requantized with 1/count folded in (TFLite 2.21's integer path,
    also when input and output quantization are equal; checked in test_single_ops)."""
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _require_int8(x, y)
    axes = sorted({a % len(x.shape) for a in _const_ints(graph, op.inputs[1], "axis")})
    if axes != list(range(axes[0], axes[-1] + 1)):
        raise UnsupportedModelError(f"MEAN over axes {axes} that are not adjacent")
    dims = list(x.shape)
    outer, count = int(np.prod(dims[:axes[0]])), int(np.prod(dims[axes[0]:axes[-1] + 1]))
    inner = int(np.prod(dims[axes[-1] + 1:]))
    multiplier, shift = q.mean_multiplier(x.quant.scale, y.quant.scale, count)
    p = dict(batches=outer, count=count, channels=inner, input_zero_point=x.quant.zero_point,
             multiplier=multiplier, shift=shift, output_zero_point=y.quant.zero_point)
    return Step(op, "mcuf_mean_s8", "mcuf_mean_params", p, [("in", x.index), ("out", y.index)],
                [x.index], y.index, x.size)


# --- element-wise ---

def _lower_add(graph, op) -> Step:
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
    if a.shape == b.shape and not consts:
        return Step(op, "mcuf_add_s8", "mcuf_add_params", p, args, ins, y.index)
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


def _operand(graph, op, t, name):
    """An elementwise operand: an arena tensor, or a constant copied into flash."""
    if t.is_constant:
        c = ConstArray(f"op{op.index}_{name}", "int8_t", np.asarray(t.data, np.int8).reshape(-1))
        return ("const", c), [c], []
    return ("in", t.index), [], [t.index]


def _lower_mul(graph, op) -> Step:
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
    return Step(op, "mcuf_mul_s8", "mcuf_mul_params", p, args, ins, y.index, 0, consts)


def _lower_batch_matmul(graph, op) -> Step:
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


def _lower_squared_difference(graph, op) -> Step:
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


_TABLES = {"HARD_SWISH": q.hard_swish_table, "LOGISTIC": q.logistic_table, "RSQRT": q.rsqrt_table}


def _lower_table(graph, op) -> Step:
    """Unary int8 ops (HARD_SWISH, LOGISTIC, RSQRT, folded float islands): TFLite's result for
    each of the 256 inputs, computed here; the device does one lookup per element."""
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _require_int8(x, y)
    if op.type == "LUT":
        table = op.options["_table"]
    else:
        try:
            table = _TABLES[op.type](x.quant.scale, x.quant.zero_point, y.quant.scale, y.quant.zero_point)
        except ValueError as e:
            raise UnsupportedModelError(str(e)) from None
    t = ConstArray(f"op{op.index}_table", "int8_t", table)
    return Step(op, "mcuf_lut_s8", "mcuf_lut_params", dict(size=y.size),
                [("in", x.index), ("const", t), ("out", y.index)], [x.index], y.index, 0, [t])


SOFTMAX_TABLE_MIN_ELEMENTS = 64


def _lower_softmax(graph, op) -> Step:
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _require_int8(x, y)
    if y.quant.zero_point != -128 or abs(y.quant.scale - 1 / 256) > 1e-9:
        raise UnsupportedModelError("int8 softmax output must have scale 1/256 and zero point -128")
    depth = x.shape[-1]
    try:
        mult, shift, diff_min = q.softmax_params(op.options.get("Beta", 1.0), x.quant.scale)
    except ValueError as e:
        raise UnsupportedModelError(f"softmax input scale {x.quant.scale} is too small ({e})") from None
    p = dict(outer=x.size // depth, depth=depth, input_multiplier=mult, input_left_shift=shift,
             diff_min=diff_min)
    if x.size >= SOFTMAX_TABLE_MIN_ELEMENTS:   # 1 KB of flash saves ~400 instructions per element
        t = ConstArray(f"op{op.index}_exp", "int32_t", q.softmax_exp_table(mult, shift, diff_min))
        return Step(op, "mcuf_softmax_s8_table", "mcuf_softmax_params", p,
                    [("in", x.index), ("const", t), ("out", y.index)], [x.index], y.index, 0, [t])
    return Step(op, "mcuf_softmax_s8", "mcuf_softmax_params", p,
                [("in", x.index), ("out", y.index)], [x.index], y.index)


def _lower_pad(graph, op) -> Step:
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


def _lower_requantize(graph, op) -> Step:
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _require_int8(x, y)
    real = float(np.float32(x.quant.scale)) / float(np.float32(y.quant.scale))
    m, s = q.quantize_multiplier(real)
    act = {"QUANTIZE": "NONE", "RELU": "RELU", "RELU6": "RELU6", "RELU_N1_TO_1": "RELU_N1_TO_1"}[op.type]
    act_min, act_max = q.activation_range(act, y.quant.scale, y.quant.zero_point)
    p = dict(size=y.size, input_offset=-x.quant.zero_point, multiplier=m, shift=s,
             output_offset=y.quant.zero_point, act_min=act_min, act_max=act_max)
    return Step(op, "mcuf_requantize_s8", "mcuf_requantize_params", p,
                [("in", x.index), ("out", y.index)], [x.index], y.index)


# --- ops that only move bytes ---

def _same_quant(x: Tensor, y: Tensor) -> None:
    _require_int8(x, y)
    if x.quant.scale != y.quant.scale or x.quant.zero_point != y.quant.zero_point:
        raise UnsupportedModelError(f"'{y.name}' is quantized differently from its input "
                                    "(a copy cannot requantize); re-convert the model")


COPY_MAX_DIMS = 6   # MCUF_COPY_MAX_DIMS


def _row_major_strides(shape) -> list[int]:
    strides, step = [], 1
    for d in reversed(list(shape)):
        strides.insert(0, step)
        step *= int(d)
    return strides


def _copy_step(op, x: Tensor, y: Tensor, dims, strides, offset: int = 0) -> Step:
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
    return Step(op, "mcuf_copy_s8", "mcuf_copy_params", p, [("in", x.index), ("out", y.index)],
                [x.index], y.index)


def _const_ints(graph, idx: int, what: str) -> list[int]:
    v = _t(graph, idx).data
    if v is None:
        raise UnsupportedModelError(f"{what} must be constant")
    return [int(a) for a in np.asarray(v).reshape(-1)]


def _lower_transpose(graph, op) -> Step:
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    _same_quant(x, y)
    perm = _const_ints(graph, op.inputs[1], "the permutation")
    st = _row_major_strides(x.shape)
    return _copy_step(op, x, y, [x.shape[a] for a in perm], [st[a] for a in perm])


def _lower_split(graph, op) -> list[Step]:
    """SPLIT (axis, x) and SPLIT_V (x, sizes, axis): one copy per output."""
    xi, ai = (op.inputs[1], op.inputs[0]) if op.type == "SPLIT" else (op.inputs[0], op.inputs[2])
    x = _t(graph, xi)
    axis = _const_ints(graph, ai, "the split axis")[0] % len(x.shape)
    st = _row_major_strides(x.shape)
    steps, start = [], 0
    for o in op.outputs:
        y = _t(graph, o)
        _same_quant(x, y)
        steps.append(_copy_step(op, x, y, y.shape, st, start * st[axis]))
        start += y.shape[axis]
    return steps


def _lower_slice(graph, op) -> Step:
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
                raise UnsupportedModelError("STRIDED_SLICE with a zero stride")
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
    return _copy_step(op, x, y, count, [s * k for s, k in zip(st, step)], offset)


def _lower_concat(graph, op) -> Step:
    y = _t(graph, op.outputs[0])
    if op.options.get("FusedActivationFunction", "NONE") != "NONE":
        raise UnsupportedModelError("CONCATENATION with a fused activation")
    axis = op.options.get("Axis", 0) % len(y.shape)
    outer = int(np.prod(y.shape[:axis]))
    args, consts, ins, rows = [], [], [], []
    for k, i in enumerate(op.inputs):
        x = _t(graph, i)
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


_LOWERERS = {
    "CONV_2D": _lower_conv, "DEPTHWISE_CONV_2D": _lower_depthwise,
    "FULLY_CONNECTED": _lower_fully_connected, "AVERAGE_POOL_2D": _lower_pool,
    "MAX_POOL_2D": _lower_pool, "MEAN": _lower_mean, "ADD": _lower_add,
    "SOFTMAX": _lower_softmax, "PAD": _lower_pad, "PADV2": _lower_pad,
    "QUANTIZE": _lower_requantize, "RELU": _lower_requantize, "RELU6": _lower_requantize,
    "RELU_N1_TO_1": _lower_requantize, "MUL": _lower_mul, "HARD_SWISH": _lower_table,
    "TRANSPOSE": _lower_transpose, "SPLIT": _lower_split, "SPLIT_V": _lower_split,
    "SLICE": _lower_slice, "STRIDED_SLICE": _lower_slice, "CONCATENATION": _lower_concat,
    "LOGISTIC": _lower_table, "RSQRT": _lower_table, "LUT": _lower_table,
    "BATCH_MATMUL": _lower_batch_matmul, "SQUARED_DIFFERENCE": _lower_squared_difference,
}
