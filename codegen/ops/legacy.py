"""Kernels and lowerings of legacy uint8 graphs (the pass is codegen/legacy_uint8.py):
CONV_2D / DEPTHWISE_CONV_2D whose weights keep a zero point (the _wzp kernels: filter_offset
added per tap, as TFLite's uint8 reference_ops::Conv / DepthwiseConv), FULLY_CONNECTED and
the convolutions with TFLite's uint8 multiplier, AVERAGE_POOL_2D with uint8 rounding."""
from __future__ import annotations

import numpy as np

from .. import quantization as q
from ..errors import UnsupportedModelError
from ..graph import Graph, Operator, Tensor
from .common import _bias, _t
from .conv_dsp import (PACKED16_MAX_IN_C, _fast_stem, _hwc3_packed_step, _hwc3_packed_takes,
                       _hwc_depthwise_kernel, _one_pixel_1x1, _one_pixel_1x1_step, hwc3_packed_room,
                       _hwc_depthwise_weights, _packed_pairs, _requant_table, _stem_step)
from .convolution import _conv_common
from .fully_connected import lower_fully_connected
from .heads import lower_resize
from .heads import MAX_LEFT_SHIFT
from .pooling import lower_pool
from .registry import ConstArray, Step, register_kernel

F = "legacy_uint8"
register_kernel("mcuf_conv_wzp_s8", weight_layout="int8 [OC][KH][KW][IC] (uint8 - 128)", family=F)
register_kernel("mcuf_depthwise_conv_wzp_s8", weight_layout="int8 [1][KH][KW][OC] (uint8 - 128)", family=F)
register_kernel("mcuf_avgpool_u8", family=F)
register_kernel("mcuf_resize_bilinear_u8", weight_layout="int32 [out][4] per row and per column: lower, "
                                                         "upper, float32 bits of 1 - fraction and of fraction", family=F)


def bilinear_float_table(in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """TFLite's float ComputeInterpolationValues (reference_ops::ResizeBilinear<T>, the
    uint8 path) for every output coordinate v, in float32: scale = in / out (align_corners:
    (in - 1) / (out - 1)), s = v * scale or (v + 0.5) * scale - 0.5 (half_pixel_centers),
    lower = max(floor(s), 0), upper = min(ceil(s), in - 1), w1 = s - lower, w0 = 1 - w1.
    Returns int32 [out][4]: lower, upper and the bit patterns of w0 and w1."""
    f32 = np.float32
    scale = (f32(in_size - 1) / f32(out_size - 1) if align_corners and out_size > 1
             else f32(in_size) / f32(out_size))
    rows = []
    for v in range(out_size):
        s = f32(f32(f32(f32(v) + f32(0.5)) * scale) - f32(0.5)) if half_pixel else f32(f32(v) * scale)
        lo, hi = max(int(np.floor(s)), 0), min(int(np.ceil(s)), in_size - 1)
        w1 = f32(s - f32(lo))
        w0 = f32(f32(1.0) - w1)
        rows.append((lo, hi, int(np.array(w0, np.float32).view(np.int32)), int(np.array(w1, np.float32).view(np.int32))))
    return np.array(rows, np.int64).astype(np.int32).reshape(-1)


def conv_wzp_s8_dsp_get_buffer_size(p: dict) -> int:
    """Two im2col columns (a pixel pair): k_h * k_w * in_c int16 each, rounded up to 4 values."""
    return 4 * _k4(p)


def _k4(p: dict) -> int:
    return (p["k_h"] * p["k_w"] * p["in_c"] + 3) // 4 * 4


register_kernel("mcuf_conv_wzp_s8_dsp", scratch=conv_wzp_s8_dsp_get_buffer_size,
                weight_layout="int16 channel pairs interleaved per 4 taps, w - zero point, "
                              "SXTB16 order per 4 channels", family=F)
def depthwise_conv_wzp_s8_dsp_get_buffer_size(p: dict) -> int:
    """k_h input rows padded to the output row's span: (out_w - 1) * stride_w +
    (k_w - 1) * dil_w + 1 pixels of in_c bytes each."""
    pw = (p["out_w"] - 1) * p["stride_w"] + (p["k_w"] - 1) * p["dil_w"] + 1
    return p["k_h"] * pw * p["in_c"]


register_kernel("mcuf_depthwise_conv_wzp_s8_dsp", scratch=depthwise_conv_wzp_s8_dsp_get_buffer_size,
                weight_layout="int16 pairs in words: per 4 channels [KH][KW][4] (SXTB16 order), "
                              "then the tail's [KH][KW][C % 4]; 2 * (w - zero point)", family=F)


def depthwise_conv_3x3_wzp_s8_dsp_get_buffer_size(p: dict) -> int:
    """A ring of three input rows, int16 channel-major: 3 * in_c * RW * 2 bytes, RW the
    padded row width ((out_w rounded up to even) - 1) * stride_w + 3, rounded up to even;
    then one output row's int32 accumulators, in_c * (out_w rounded up to even) * 4 bytes."""
    ow2 = (p["out_w"] + 1) // 2 * 2
    rw = ((ow2 - 1) * p["stride_w"] + 3 + 1) // 2 * 2
    return 3 * p["in_c"] * rw * 2 + p["in_c"] * ow2 * 4


register_kernel("mcuf_depthwise_conv_3x3_wzp_s8_dsp", scratch=depthwise_conv_3x3_wzp_s8_dsp_get_buffer_size,
                weight_layout="int32 [C][8]: the folded bias, per kernel row int16 pairs (W0, W1), "
                              "(W1, W2), 0; W = 2 * (w - zero point)",
                family=F)


def depthwise_conv_3x3_wzp_s8_dsp_weights(w: np.ndarray, filter_offset: int,
                                          bias_folded: np.ndarray) -> np.ndarray:
    """int8 [1][3][3][C] and the C doubled biases with the input offset folded in -> the
    int32 [C][8] blocks of mcuf_depthwise_conv_3x3_wzp_s8_dsp: the bias, then per kernel row
    the int16 pairs (W0, W1) and (W1, W2) of W = 2 * (w + filter_offset), the first in the
    low half, then 0."""
    ww = 2 * (w.astype(np.int32)[0] + filter_offset)          # [3][3][C]
    ww = ww.transpose(2, 0, 1)                                 # [C][3][3]
    pairs = np.stack([ww[..., [0, 1]], ww[..., [1, 2]]], axis=2)   # [C][3][2][2]
    words = pairs.astype("<i2").reshape(len(ww), -1).view("<i4")    # [C][6]
    blocks = np.zeros((len(ww), 8), np.int32)
    blocks[:, 0] = bias_folded
    blocks[:, 1:7] = words
    return blocks.reshape(-1)


def _planar_3x3(p: dict) -> bool:
    """Whether a depthwise layer takes mcuf_depthwise_conv_3x3_wzp_s8_dsp: 3x3, undilated,
    stride_w 1 with 4 or more output columns, stride_w 2 with 8 or more (measured on the
    Cortex-M7 on the legacy MobileNet V1 fixture: narrower rows are cheaper on the HWC
    kernel, whose cost has no per-row widening or per-channel setup; 2x2x256 at stride 1:
    3.50 instructions per MAC here, 3.03 on mcuf_depthwise_conv_hwc_s8_dsp_fast)."""
    return (p["k_h"] == p["k_w"] == 3 and p["dil_h"] == p["dil_w"] == 1
            and ((p["stride_w"] == 1 and p["out_w"] >= 4) or (p["stride_w"] == 2 and p["out_w"] >= 8)))


def _sxtb16_order(n: int) -> np.ndarray:
    """Channel order within one tap as the _dsp kernels load it: every group of four as
    SXTB16 and its ROR 8 give it, (c0, c2, c1, c3), the remaining n % 4 in order."""
    idx = np.arange(n)
    g = n // 4 * 4
    idx[:g] = idx[:g].reshape(-1, 4)[:, [0, 2, 1, 3]].reshape(-1)
    return idx


def conv_wzp_s8_dsp_weights(w: np.ndarray, filter_offset: int) -> np.ndarray:
    """int8 [OC][KH][KW][IC] -> the int16 rows of mcuf_conv_wzp_s8_dsp: 2 * (w + filter_offset),
    each tap's channels in _sxtb16_order, a row zero-padded to K4 (k_h*k_w*in_c rounded up
    to 4); channel pairs interleaved per 4 values (channel a's 4, then b's), an odd last
    channel's row alone."""
    oc, kh, kw, ic = w.shape
    rows = 2 * (w.astype(np.int16) + filter_offset)[..., _sxtb16_order(ic)].reshape(oc, -1)
    k4 = (rows.shape[1] + 3) // 4 * 4
    rows = np.pad(rows, ((0, 0), (0, k4 - rows.shape[1])))
    pairs = oc // 2 * 2
    inter = rows[:pairs].reshape(pairs // 2, 2, k4 // 4, 4).transpose(0, 2, 1, 3).reshape(-1)
    return np.concatenate([inter, rows[pairs:].reshape(-1)]).astype(np.int16)


def depthwise_conv_wzp_s8_dsp_weights(w: np.ndarray, filter_offset: int) -> np.ndarray:
    """int8 [1][KH][KW][C] -> the words of mcuf_depthwise_conv_wzp_s8_dsp: int16
    2 * (w + filter_offset), per group of four channels all its taps in order, each tap's four
    in SXTB16 order (c0, c2, c1, c3); then the C % 4 tail channels as [KH][KW][tail]; two int16
    a little-endian word (a zero pads the last)."""
    taps, c = w.shape[1] * w.shape[2], w.shape[3]
    ww = 2 * (w.astype(np.int16) + filter_offset).reshape(taps, c)
    g = c // 4 * 4
    groups = ww[:, :g].reshape(taps, g // 4, 4)[:, :, [0, 2, 1, 3]].transpose(1, 0, 2).reshape(-1)
    flat = np.concatenate([groups, ww[:, g:].reshape(-1)]).astype(np.int16)
    if flat.size % 2:
        flat = np.append(flat, np.int16(0))
    return flat.astype("<i2").view("<i4")


def _dsp_output_stage(op: Operator, p: dict, mult: int, shift: int, bound: int):
    """The optimized kernels' output constants (mcuf_dsp.h) of a per-tensor multiplier for
    accumulators |acc| <= bound, or None where twice the accumulator may not fit int32."""
    if 2 * bound >= 2**31 or shift > MAX_LEFT_SHIFT:   # the latter: refused by the reference path
        return None
    m, b = (q.fast_requant_constants(mult, shift, p["output_offset"])
            if q.fast_requant_exact_for(shift, bound, p["output_offset"])
            else q.formula_requant_constants(mult, shift))
    return [ConstArray(f"op{op.index}_rq_multiplier", "int32_t", np.array([m], np.int32)),
            ConstArray(f"op{op.index}_rq_shift", "int8_t", np.array([b], np.int8))]


def _uint8_multiplier(x: Tensor, w: Tensor, y: Tensor) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler as TFLite's uint8 CONV_2D, DEPTHWISE_CONV_2D and
    FULLY_CONNECTED compute it: the input and filter scales multiplied in float32, then
    divided by the output scale in double (measured: the int8 per-channel form, all in
    double, gives a multiplier 5 units lower in the last place on a MobileNet layer, and
    1-LSB differences)."""
    if w.quant.per_channel and len(np.unique(w.quant.scales)) > 1:
        raise UnsupportedModelError(f"uint8 filter '{w.name}' with per-channel scales")
    f32 = np.float32
    real = float(f32(f32(x.quant.scale) * f32(w.quant.scales[0]))) / float(f32(y.quant.scale))
    return q.quantize_multiplier(real)


def lower_legacy(graph: Graph, op: Operator, kernels: str):
    """A Step for a `_legacy_uint8` operator that needs a uint8 variant, else None (the
    int8 lowering is then exact on the shifted values)."""
    if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        depthwise = op.type == "DEPTHWISE_CONV_2D"
        x, w, y, p, mult, shift = _conv_common(graph, op, depthwise=depthwise)
        # a grouped CONV_2D (filter depth in_c / groups; the graph check refused groups that do
        # not divide the channels): TFLite's uint8 reference_ops::Conv takes groups, so does
        # mcuf_conv_wzp_s8 (the _dsp twins below take one group)
        grouped = not depthwise and p["in_c"] != p["filter_in_c"]
        if depthwise and p["out_c"] % p["in_c"]:
            raise UnsupportedModelError("output channels are not a multiple of input channels")
        zps = np.unique(w.quant.zero_points)
        if len(zps) != 1:
            raise UnsupportedModelError(f"filter '{w.name}' has per-channel zero points")
        p["filter_offset"] = -int(zps[0])
        n = op.index
        rows = w.data.reshape(-1) if depthwise else w.data.reshape(p["out_c"], -1).reshape(-1)
        filt = ConstArray(f"op{n}_filter", "int8_t", rows)
        b = ConstArray(f"op{n}_bias", "int32_t", _bias(graph, op, p["out_c"]).astype(np.int32))
        taps = p["k_h"] * p["k_w"] * (1 if depthwise else p["filter_in_c"])
        kernel = "mcuf_depthwise_conv_wzp_s8" if depthwise else "mcuf_conv_wzp_s8"
        mult.values[:], shift.values[:] = _uint8_multiplier(x, w, y)
        if kernels in ("dsp", "mve") and not grouped and (not depthwise or p["depth_multiplier"] == 1):
            step = _lower_wzp_dsp(op, p, w, b.values, int(mult.values[0]), int(shift.values[0]), x, y, depthwise,
                                  hwc3_packed_room(graph) if depthwise else 0)
            if step is not None:
                return step
        return Step(op, kernel, "mcuf_conv_params", p,
                      [("in", x.index), ("const", filt), ("const", b), ("const", mult),
                       ("const", shift), ("out", y.index)], [x.index], y.index,
                      p["out_h"] * p["out_w"] * p["out_c"] * taps, [filt, b, mult, shift])
    if op.type == "FULLY_CONNECTED":
        step = lower_fully_connected(graph, op, kernels)
        x, w, y = (_t(graph, i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        mult, shift = step.consts[2], step.consts[3]
        mult.values[:], shift.values[:] = _uint8_multiplier(x, w, y)
        return step
    if op.type == "AVERAGE_POOL_2D":
        step = lower_pool(graph, op, kernels)
        step.kernel = "mcuf_avgpool_u8"
        return step
    if op.type == "RESIZE_BILINEAR":   # the int8 lowering's checks and shapes, the uint8 tables
        step = lower_resize(graph, op, kernels)
        align, half = bool(op.options.get("AlignCorners", False)), bool(op.options.get("HalfPixelCenters", False))
        p = step.params
        ys = ConstArray(f"op{op.index}_y_table", "int32_t", bilinear_float_table(p["in_h"], p["out_h"], align, half))
        xs = ConstArray(f"op{op.index}_x_table", "int32_t", bilinear_float_table(p["in_w"], p["out_w"], align, half))
        step.kernel = "mcuf_resize_bilinear_u8"
        tables = iter([ys, xs])
        step.args = [("const", next(tables)) if a[0] == "const" else a for a in step.args]
        step.consts = [ys, xs]
        return step
    return None


def _lower_wzp_dsp(op, p, w, bias, mult, shift, x, y, depthwise, room: int = 0):
    """The _dsp twin of a _wzp convolution, or None where its output stage cannot hold twice
    the accumulator (|bias| + 255 * sum |w + filter_offset|: inputs and weights are offset
    uint8 differences, within +-255). Its constants: the doubled weights, the doubled bias
    (a depthwise layer's followed by the interior windows' 2 * (bias + input_offset * sum w),
    whose partial sums may wrap int32 but end exact), one multiplier and shift byte."""
    ww = w.data.astype(np.int64) + p["filter_offset"]
    sums = np.abs(ww).reshape(-1, ww.shape[-1]).sum(axis=0) if depthwise else np.abs(ww).reshape(ww.shape[0], -1).sum(axis=1)
    bound = int((np.abs(bias.astype(np.int64)) + 255 * sums).max(initial=0))
    step = _lower_wzp_as_int8(op, p, ww, bias, mult, shift, x, y, depthwise, room)
    if step is not None:
        return step
    rq = _dsp_output_stage(op, p, mult, shift, bound)
    if rq is None:
        return None
    n = op.index
    planar = depthwise and _planar_3x3(p)
    if depthwise:
        filt = ConstArray(f"op{n}_filter", "int32_t", depthwise_conv_wzp_s8_dsp_weights(w.data, p["filter_offset"]))
    else:
        filt = ConstArray(f"op{n}_filter", "int16_t", conv_wzp_s8_dsp_weights(w.data, p["filter_offset"]))
    bias2 = 2 * bias.astype(np.int64)
    if depthwise:   # then the interior windows' bias, the input offset folded in
        bias2 = np.concatenate([bias2, bias2 + 2 * p["input_offset"] * ww.reshape(-1, ww.shape[-1]).sum(axis=0)])
    b = ConstArray(f"op{n}_bias", "int32_t", bias2.astype(np.int32))
    if planar:   # the folded biases go into the filter's blocks
        c = p["out_c"]
        filt = ConstArray(f"op{n}_filter", "int32_t",
                          depthwise_conv_3x3_wzp_s8_dsp_weights(w.data, p["filter_offset"], bias2[c:].astype(np.int32)))
        args = [("in", x.index), ("const", filt), ("const", rq[0]), ("const", rq[1]),
                ("out", y.index), ("scratch",)]
        return Step(op, "mcuf_depthwise_conv_3x3_wzp_s8_dsp", "mcuf_conv_params", p, args, [x.index],
                    y.index, p["out_h"] * p["out_w"] * p["out_c"] * 9, [filt, *rq])
    taps = p["k_h"] * p["k_w"] * (1 if depthwise else p["filter_in_c"])
    kernel = "mcuf_depthwise_conv_wzp_s8_dsp" if depthwise else "mcuf_conv_wzp_s8_dsp"
    args = [("in", x.index), ("const", filt), ("const", b), ("const", rq[0]), ("const", rq[1]),
            ("out", y.index), ("scratch",)]
    return Step(op, kernel, "mcuf_conv_params", p, args, [x.index], y.index,
                p["out_h"] * p["out_w"] * p["out_c"] * taps, [filt, b, *rq])


def _lower_wzp_as_int8(op, p, ww, bias, mult, shift, x, y, depthwise, room: int = 0):
    """A _wzp convolution on an int8 _dsp kernel whose weights are int16 (filled at generation
    time with W = w + filter_offset, [-255, 255]; doubled where the kernel doubles): TFLite's
    sum over the taps inside the input of (x + input_offset) * W equals sum x * W over the
    whole window padded with the input zero point plus input_offset * sum W, so the bias
    takes input_offset * sum W (_folded_bias) and the kernels multiply raw inputs, exactly as
    for int8 layers. Taken where the fast output stage is exact for the layer (_requant_table,
    whose bound |bias| + 128 * sum |W| holds for raw int8 inputs) and the layer has the shape
    of the RGB stem (mcuf_conv_shallow_stem_s8_dsp_fast), of a 1x1 over at most
    PACKED16_MAX_IN_C channels (mcuf_conv_1x1_shallow_s8_dsp_fast) or of a depthwise layer the
    planar wzp kernel does not take or at stride 2 (mcuf_depthwise_conv_hwc_s8_dsp_fast).
    Measured on QEMU's M7, legacy MobileNet V1 0.25 64x64, instructions per MAC: stem 4.41 ->
    1.35, 1x1 8->16 3.81 -> 1.89 (16..64 inputs 2.25-1.41 -> 1.22-0.77), stride-2 depthwise
    at 16 and 32 channels 3.93 / 4.19 -> 3.56 / 3.42 (the planar wzp kernel's widening of
    every input row weighs double there), 4x4 / 2x2 outputs 5.2 / 4.9 -> 3.36 / 3.03; at
    stride 1 the planar kernel stays (2.83-3.03, the HWC one 3.06-3.77). None otherwise."""
    n, oc = op.index, p["out_c"]
    rows = ww[0].reshape(-1, oc).T if depthwise else ww.reshape(oc, -1)     # [OC][K] int64
    folded = bias.astype(np.int64) + p["input_offset"] * rows.sum(axis=1)
    if np.abs(folded).max(initial=0) >= 2**31:
        return None
    m = ConstArray(f"op{n}_multiplier", "int32_t", np.full(oc, mult, np.int32))
    s = ConstArray(f"op{n}_shift", "int32_t", np.full(oc, shift, np.int32))
    rq, dsp_bias, fast = _requant_table(op, p, m, s, folded, np.abs(rows).sum(axis=1))
    if rq is None or not fast:
        return None
    macs = p["out_h"] * p["out_w"] * oc * p["k_h"] * p["k_w"] * (1 if depthwise else p["filter_in_c"])
    pointwise = (p["k_h"] == p["k_w"] == 1 and p["stride_h"] == p["stride_w"] == 1
                 and p["pad_top"] == p["pad_left"] == 0 and (p["in_h"], p["in_w"]) == (p["out_h"], p["out_w"]))
    if not depthwise and pointwise and _one_pixel_1x1(p, fast):
        return _one_pixel_1x1_step(op, p, x, y, rows, dsp_bias, rq, macs)
    if not depthwise and pointwise and p["in_c"] % 4 == 0 and p["in_c"] <= PACKED16_MAX_IN_C:
        packed = ConstArray(f"op{n}_packed", "int8_t",
                            _packed_pairs(rows, 2 * dsp_bias.astype(np.int64), rq[0].values, rq[1].values,
                                          p["output_offset"], wide=True))
        return Step(op, "mcuf_conv_1x1_shallow_s8_dsp_fast", "mcuf_conv_params", p,
                    [("in", x.index), ("const", packed), ("out", y.index), ("scratch",)],
                    [x.index], y.index, macs, [packed])
    if not depthwise and _fast_stem(p, fast) and p["in_c"] == 3:
        return _stem_step(op, p, x, y, rows, dsp_bias, rq, macs)
    if (depthwise and (not _planar_3x3(p) or p["stride_w"] == 2) and p["k_h"] == p["k_w"] == 3
            and p["dil_h"] == p["dil_w"] == 1 and _hwc3_packed_takes(p, fast, room)):
        # the small-plane entry (any plane whose copy fits the graph's largest operator, room)
        return _hwc3_packed_step(op, p, x, y, rows.T, dsp_bias, rq, macs)
    if depthwise and (not _planar_3x3(p) or p["stride_w"] == 2):
        c4 = (p["in_c"] + 3) // 4 * 4
        filt = ConstArray(f"op{n}_filter", "int16_t", _hwc_depthwise_weights(rows.T, rq, dsp_bias, p, fast))
        b = ConstArray(f"op{n}_bias", "int32_t", 2 * np.pad(dsp_bias, (0, c4 - p["in_c"])))
        return Step(op, _hwc_depthwise_kernel(p, fast), "mcuf_conv_params", p,
                    [("in", x.index), ("const", filt), ("const", b), *[("const", c) for c in rq],
                     ("out", y.index), ("scratch",)], [x.index], y.index, macs, [filt, b, *rq])
    return None
