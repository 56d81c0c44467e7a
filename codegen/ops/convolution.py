"""CONV_2D and DEPTHWISE_CONV_2D: shape rules, the portable kernels' records, and the lowering
to one kernel call each -- the one place the kernel is chosen (lower_conv, lower_depthwise).
The DSP kernels' scratch sizes, weight layouts, selection rules and packing:
codegen/ops/conv_dsp.py; the Helium ones: codegen/ops/mve.py."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedModelError
from ..graph import Graph, Operator
from .common import _act, _bias, _channel_quant, _nhwc, _out_size, _require_int8, _same_padding, _t
from . import mve
from .conv_dsp import (  # the DSP kernels' selection and packing
    PACKED16_MAX_IN_C, SHALLOW_RUN_MAX, _depthwise_lut_1x1, _depthwise_lut_1x1_step,
    _depthwise_plane_pays, _fast_stem, _few_1x1_step, _few_1x1_takes, _folded_bias,
    _grouped_1x1_packed, _grouped_direct_pays, _grouped_direct_step, _grouped_direct_takes,
    _grouped_dsp_step, _hwc3_packed_step, _hwc3_packed_takes, _hwc_depthwise_kernel, _im2col_x2_pays,
    _hwc_depthwise_weights, _interleave_pairs, _kxk_plane_step, _kxk_plane_takes, _lut_1x1,
    _lut_1x1_step, _one_pixel_1x1, _one_pixel_1x1_step, _packed_pairs, _plane_3x3_step,
    _fast_then_clamp, _shallow_filter, _stem_step, _strided_1x1, hwc3_packed_room
)
from .registry import INT8, ConstArray, OpRecord, Step, register_kernel, register_op
from .shapes import ShapeError, conv_out_size, fmt, input_shape, int_option, padding_option


# --- shapes (TFLite conv.cc / depthwise_conv.cc Prepare) ---

def _conv_geometry(graph: Graph, op: Operator):
    x = input_shape(graph, op, 0, 4, "input")
    w = input_shape(graph, op, 1, 4, "filter")
    sh, sw = int_option(op, "StrideH", 1), int_option(op, "StrideW", 1)
    dh, dw = int_option(op, "DilationHFactor", 1), int_option(op, "DilationWFactor", 1)
    padding = padding_option(op)
    ep = op.options.get("_explicit_pad", (0, 0, 0, 0))   # a PAD folded in by the passes
    return x, w, sh, sw, dh, dw, padding, ep


def _spatial(x, k_h, k_w, sh, sw, dh, dw, padding, ep):
    h = conv_out_size(padding, x[1] + ep[0] + ep[1], k_h, sh, dh, "height")
    w = conv_out_size(padding, x[2] + ep[2] + ep[3], k_w, sw, dw, "width")
    return h, w


def conv_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """[N, H', W', OC]: filter [OC, KH, KW, IC / groups], the input's channels a multiple of
    the filter depth and OC a multiple of the groups (conv.cc: groups = IC / filter depth)."""
    x, w, sh, sw, dh, dw, padding, ep = _conv_geometry(graph, op)
    oc, k_h, k_w, depth = w
    if x[3] % depth:
        raise ShapeError(f"input {fmt(x)} has {x[3]} channels, not a multiple of the filter depth {depth}")
    if oc % (x[3] // depth):
        raise ShapeError(f"{oc} output channels are not a multiple of the {x[3] // depth} groups")
    return [(x[0], *_spatial(x, k_h, k_w, sh, sw, dh, dw, padding, ep), oc)]


def depthwise_shape(graph: Graph, op: Operator) -> list[tuple[int, ...]]:
    """[N, H', W', C * depth multiplier]: filter [1, KH, KW, OC] with OC a multiple of the
    input channels (depthwise_conv.cc; the multiplier is OC / C, as the reference kernel
    reads it, and the DepthMultiplier option, where set, must agree)."""
    x, w, sh, sw, dh, dw, padding, ep = _conv_geometry(graph, op)
    one, k_h, k_w, oc = w
    if one != 1:
        raise ShapeError(f"filter {fmt(w)} must be [1, KH, KW, OC]")
    if oc % x[3]:
        raise ShapeError(f"filter {fmt(w)} has {oc} channels, not a multiple of the input's {x[3]}")
    dm = op.options.get("DepthMultiplier", 0)
    if isinstance(dm, (int, np.integer)) and dm > 0 and dm * x[3] != oc:
        raise ShapeError(f"depth multiplier {dm} x {x[3]} input channels != {oc} filter channels")
    return [(x[0], *_spatial(x, k_h, k_w, sh, sw, dh, dw, padding, ep), oc)]


def explain_conv(graph: Graph, op: Operator) -> str:
    """from input [1,48,48,8], stride 2, SAME, filter [1,3,3,8] (+ dilation, folded PAD)."""
    o = op.options
    s = (o.get("StrideH", 1), o.get("StrideW", 1))
    text = f"from input {fmt(graph.tensors[op.inputs[0]].shape)}, stride " + \
        (f"{s[0]}" if s[0] == s[1] else f"{s[0]}x{s[1]}") + f", {o.get('Padding', 'VALID')}"
    text += f", filter {fmt(graph.tensors[op.inputs[1]].shape)}"
    d = (o.get("DilationHFactor", 1), o.get("DilationWFactor", 1))
    if d != (1, 1):
        text += f", dilation {d[0]}x{d[1]}"
    if any(o.get("_explicit_pad", ())):
        text += f", explicit pad {list(o['_explicit_pad'])}"
    return text


# --- the portable reference kernels (the DSP ones: codegen/ops/conv_dsp.py) ---

F = "convolution"
register_kernel("mcuf_conv_s8", weight_layout="int8 [OC][KH][KW][IC/groups]", family=F)
register_kernel("mcuf_conv_1x1_s8", weight_layout="int8 [OC][IC], folded bias", pixel_ordered=True, family=F)
register_kernel("mcuf_depthwise_conv_s8", weight_layout="int8 [1][KH][KW][OC]", family=F)


# --- lowering ---

def _conv_common(graph, op, depthwise: bool):
    x, w, y = _t(graph, op.inputs[0]), _t(graph, op.inputs[1]), _t(graph, op.outputs[0])
    _require_int8(x, w, y)
    if w.data is None:
        raise UnsupportedModelError("filter must be constant")
    if not depthwise and not op.options.get("_legacy_uint8") and w.quant.zero_points.any():
        # TFLite's int8 CONV_2D Prepare refuses it too (conv.cc: zero_point != 0); its
        # DEPTHWISE_CONV_2D accepts and ignores a filter zero point, and so does this code
        raise UnsupportedModelError(
            f"filter '{w.name}' has zero point {int(w.quant.zero_points[w.quant.zero_points != 0][0])}: "
            "int8 CONV_2D needs symmetric weights (TFLite refuses this model too); "
            "re-quantize with symmetric (zero point 0) int8 weights")
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


def lower_conv(graph, op, kernels: str = "reference") -> Step:
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
    macs = p["out_h"] * p["out_w"] * p["out_c"] * p["k_h"] * p["k_w"] * p["filter_in_c"]
    if kernels == "mve":   # the Helium set; the DSP kernels where none of its kernels fits
        step = mve.lower_conv(op, x, y, p, mult, shift, rows, folded, pointwise, grouped, macs)
        if step is not None:
            return step
        kernels = "dsp-fallback"
    if kernels.startswith("dsp") and _lut_1x1(p, grouped) and not w.quant.zero_points.any():   # one MAC per output
        return _lut_1x1_step(op, p, x, y, rows, bias, mult, shift, macs)
    if kernels.startswith("dsp") and folded is not None:
        # the clamp epilogue on the DSP cores; the Cortex-M55's fallback to these kernels keeps
        # the general output stage (the clamped _fast kernels are not measured there)
        step = _fast_then_clamp(op, p, mult, shift, folded, rows, kernels, lambda dsp_bias, rq, fast:
                                _lower_conv_dsp(op, p, x, y, rows, dsp_bias, rq, fast, pointwise, grouped, macs))
        if step is not None:
            return step
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


def _lower_conv_dsp(op, p: dict, x, y, rows: np.ndarray, dsp_bias, rq, fast: bool, pointwise: bool,
                    grouped: bool, macs: int) -> Step | None:
    """lower_conv's choice among the DSP kernels (the output constants rq of _requant_table,
    fast: the _fast output stage; lower_conv adds the activation's clamp after a _fast kernel
    where the range is inside int8, _fast_then_clamp); None: the portable kernels."""
    n = op.index
    if _few_1x1_takes(p, fast):   # 1x1 over 2-4 channels (per group)
        return _few_1x1_step(op, p, x, y, rows, dsp_bias, rq, macs)
    if pointwise and _one_pixel_1x1(p, fast):
        return _one_pixel_1x1_step(op, p, x, y, rows, dsp_bias, rq, macs)
    if _strided_1x1(p, grouped, pointwise, fast):   # a 1x1 at stride 2, odd depths
        c4 = (p["in_c"] + 3) // 4 * 4   # zero weights up to a multiple of 4 inputs
        packed = ConstArray(f"op{n}_packed", "int8_t",
                            _packed_pairs(np.pad(rows, ((0, 0), (0, c4 - p["in_c"]))), 2 * dsp_bias.astype(np.int64),
                                          rq[0].values, rq[1].values, p["output_offset"], True))
        return Step(op, "mcuf_conv_1x1_strided_s8_dsp_fast", "mcuf_conv_params", p,
                    [("in", x.index), ("const", packed), ("out", y.index), ("scratch",)],
                    [x.index], y.index, macs, [packed])
    if pointwise and p["in_c"] % 4 == 0 and fast:
        wide = p["in_c"] <= PACKED16_MAX_IN_C   # any pixel count (1x1 planes: one-pixel run)
        packed = ConstArray(f"op{n}_packed", "int8_t",
                            _packed_pairs(rows, 2 * dsp_bias.astype(np.int64), rq[0].values, rq[1].values,
                                          p["output_offset"], wide))
        return Step(op, "mcuf_conv_1x1_shallow_s8_dsp_fast" if wide else "mcuf_conv_1x1_s8_dsp_fast",
                    "mcuf_conv_params", p,
                    [("in", x.index), ("const", packed), ("out", y.index), ("scratch",)],
                    [x.index], y.index, macs, [packed])
    if pointwise and p["in_c"] % 4 == 0:
        filt = ConstArray(f"op{n}_filter", "int8_t", _interleave_pairs(rows))
        b = ConstArray(f"op{n}_bias", "int32_t", 2 * dsp_bias)   # the kernel accumulates 2 * acc
        return Step(op, "mcuf_conv_1x1_s8_dsp", "mcuf_conv_params", p,
                    [("in", x.index), ("const", filt), ("const", b), *[("const", c) for c in rq],
                     ("out", y.index), ("scratch",)], [x.index], y.index, macs, [filt, b, *rq])
    if (grouped or (pointwise and p["in_c"] % 4)):
        # also a 1x1 over a channel count that is not a multiple of 4: one group, K4 padded
        if not _grouped_1x1_packed(p, fast) and _grouped_direct_takes(p) and _grouped_direct_pays(p, fast):
            return _grouped_direct_step(op, p, x, y, rows, dsp_bias, rq, fast, macs)
        return _grouped_dsp_step(op, p, x, y, rows, dsp_bias, rq, fast, macs)
    if not grouped and _fast_stem(p, fast):   # the RGB or grayscale stem
        return _stem_step(op, p, x, y, rows, dsp_bias, rq, macs)
    if p["in_c"] == 1 and _kxk_plane_takes(p):
        # a 1-channel image under a 5x5 / 7x7 filter: a depthwise with multiplier out_c
        return _kxk_plane_step(op, p, x, y, rows, dsp_bias, rq, fast, macs)
    if (p["in_c"] == 1 and p["k_h"] == p["k_w"] == 3
            and p["dil_h"] == p["dil_w"] == 1):
        # a 1-channel image (grayscale stem) is a 3x3 depthwise with depth multiplier out_c:
        # the plane kernel gathers the image once and slides every filter over it; at stride_w 2
        # on the fast stage the K x K plane kernel's two-channel pair run (cliff sweep, M7,
        # 48x48 to 13 outputs at stride 2: 3.95 -> 2.22 instructions per MAC)
        if fast and p["stride_w"] == 2:
            return _kxk_plane_step(op, p, x, y, rows, dsp_bias, rq, fast, macs)
        return _plane_3x3_step(op, p, x, y, rows, dsp_bias, rq, fast, macs)
    if (not grouped and not pointwise and p["dil_w"] == 1
            and p["k_w"] * p["in_c"] <= SHALLOW_RUN_MAX
            and not (fast and p["in_c"] >= 2 and (p["stride_w"] == 1 or p["k_w"] >= 5))):
        # (with the fast output stage, the im2col kernel below wins over 2+ channels except on
        # the stride-2 3x3 stems: cliff sweep, M7, from 3 channels 3x3 stride 1 3.71-4.03 ->
        # 2.10-3.00, 5x5 2.75-3.05 -> 1.50-2.25, 3x3 stride 2 at 13 outputs 2.42 here, 2.65 there)
        if _fast_stem(p, fast):
            return _stem_step(op, p, x, y, rows, dsp_bias, rq, macs)
        filt = ConstArray(f"op{n}_filter", "int16_t", _shallow_filter(rows, p))
        b = ConstArray(f"op{n}_bias", "int32_t", 2 * dsp_bias)
        kernel = "mcuf_conv_shallow_s8_dsp"
        return Step(op, kernel, "mcuf_conv_params", p,
                    [("in", x.index), ("const", filt), ("const", b), *[("const", c) for c in rq],
                     ("out", y.index), ("scratch",)], [x.index], y.index, macs, [filt, b, *rq])
    if not grouped and not pointwise:
        k4 = (rows.shape[1] + 3) // 4 * 4   # rows padded with zero weights to whole words
        padded = np.zeros((p["out_c"], k4), np.int8)
        padded[:, :rows.shape[1]] = rows
        filt = ConstArray(f"op{n}_filter", "int8_t", _interleave_pairs(padded))
        x2 = fast and _im2col_x2_pays(p)   # doubled fields and biases, the assembly channel loop
        b = ConstArray(f"op{n}_bias", "int32_t", 2 * dsp_bias if x2 else dsp_bias)
        return Step(op, "mcuf_conv_im2col_x2_s8_dsp_fast" if x2 else "mcuf_conv_s8_dsp" + "_fast" * fast, "mcuf_conv_params", p,
                    [("in", x.index), ("const", filt), ("const", b), *[("const", c) for c in rq],
                     ("out", y.index), ("scratch",)], [x.index], y.index, macs, [filt, b, *rq])
    return None


def lower_depthwise(graph, op, kernels: str = "reference") -> Step:
    x, w, y, p, mult, shift = _conv_common(graph, op, depthwise=True)
    if p["out_c"] % p["in_c"]:
        raise UnsupportedModelError("output channels are not a multiple of input channels")
    n = op.index
    filt = ConstArray(f"op{n}_filter", "int8_t", w.data.reshape(-1))
    bias = _bias(graph, op, p["out_c"])
    taps = w.data.reshape(-1, p["out_c"])                   # [tap][channel]
    macs = p["out_h"] * p["out_w"] * p["out_c"] * p["k_h"] * p["k_w"]
    folded = _folded_bias(bias, p["input_offset"], taps.T)
    if kernels == "mve":   # the Helium set; the DSP kernels where none of its kernels fits
        step = mve.lower_depthwise(op, x, y, p, mult, shift, taps, folded, macs)
        if step is not None:
            return step
        kernels = "dsp-fallback"
    lut_kernel = _depthwise_lut_1x1(p) if kernels.startswith("dsp") and not w.quant.zero_points.any() else None
    if lut_kernel:   # one MAC per output: a table look-up
        return _depthwise_lut_1x1_step(op, p, x, y, lut_kernel, taps, bias, mult, shift, macs)
    if kernels.startswith("dsp") and folded is not None:
        rows = np.ascontiguousarray(taps.T)                # [channel][tap]
        step = _fast_then_clamp(op, p, mult, shift, folded, rows, kernels, lambda dsp_bias, rq, fast:
                                _lower_depthwise_dsp(graph, op, p, x, y, taps, rows, dsp_bias, rq, fast, macs))
        if step is not None:
            return step
    b = ConstArray(f"op{n}_bias", "int32_t", bias.astype(np.int32))
    return Step(op, "mcuf_depthwise_conv_s8", "mcuf_conv_params", p,
                [("in", x.index), ("const", filt), ("const", b), ("const", mult), ("const", shift),
                 ("out", y.index)], [x.index], y.index, macs, [filt, b, mult, shift])


def _lower_depthwise_dsp(graph, op, p: dict, x, y, taps: np.ndarray, rows: np.ndarray, dsp_bias, rq,
                         fast: bool, macs: int) -> Step | None:
    """lower_depthwise's choice among the DSP kernels (taps [tap][channel], rows the same
    [channel][tap]; rq, fast as _lower_conv_dsp); None: the portable kernel."""
    n = op.index
    if _kxk_plane_takes(p):
        return _kxk_plane_step(op, p, x, y, rows, dsp_bias, rq, fast, macs)
    three = p["k_h"] == p["k_w"] == 3 and p["dil_h"] == p["dil_w"] == 1
    if p["depth_multiplier"] == 1 or three:
        if three and _hwc3_packed_takes(p, fast, hwc3_packed_room(graph)):
            return _hwc3_packed_step(op, p, x, y, taps, dsp_bias, rq, macs)
        if three and _depthwise_plane_pays(p, fast):
            if p["stride_w"] == 2 and fast:   # the K x K plane kernel's stride-2 pairs in assembly
                # (fewer instructions per MAC at every stride-2 row of benchmarks/cliff_sweep.py on
                # QEMU's M7: 4.23 -> 3.02 on 8 channels at multiplier 8, 5.41 -> 4.25 on 13 at 1;
                # two channels per pair run and the gather in assembly: 3.02 -> 2.39, 4.25 -> 3.92)
                return _kxk_plane_step(op, p, x, y, rows, dsp_bias, rq, fast, macs)
            return _plane_3x3_step(op, p, x, y, taps.T, dsp_bias, rq, fast, macs)
        if p["depth_multiplier"] == 1:
            c4 = (p["in_c"] + 3) // 4 * 4
            filt = ConstArray(f"op{n}_filter", "int16_t", _hwc_depthwise_weights(taps, rq, dsp_bias, p, fast))
            b = ConstArray(f"op{n}_bias", "int32_t", 2 * np.pad(dsp_bias, (0, c4 - p["in_c"])))
            return Step(op, _hwc_depthwise_kernel(p, fast), "mcuf_conv_params", p,
                        [("in", x.index), ("const", filt), ("const", b), *[("const", c) for c in rq],
                         ("out", y.index), ("scratch",)], [x.index], y.index, macs, [filt, b, *rq])
    if p["depth_multiplier"] > 1:
        if p["in_c"] == 1 and p["dil_w"] == 1 and p["k_w"] <= SHALLOW_RUN_MAX:
            # one input channel: a plain convolution of a 1-channel image
            filt = ConstArray(f"op{n}_filter", "int16_t", _shallow_filter(rows, p))
            b = ConstArray(f"op{n}_bias", "int32_t", 2 * dsp_bias)
            return Step(op, "mcuf_conv_shallow_s8_dsp", "mcuf_conv_params", p,
                        [("in", x.index), ("const", filt), ("const", b), *[("const", c) for c in rq],
                         ("out", y.index), ("scratch",)], [x.index], y.index, macs, [filt, b, *rq])
        return _grouped_dsp_step(op, p, x, y, rows, dsp_bias, rq, fast, macs)
    return None


CONV_DTYPES = (INT8, INT8, ("int32",))
register_op(OpRecord("CONV_2D", (2, 3), CONV_DTYPES, conv_shape, lower_conv, optional=(2,),
                     explain=explain_conv, family=F, weights=(1, 2)))
# no optional input: TFLite's DEPTHWISE_CONV_2D takes its bias absent as 2 inputs, but refuses
# an omitted (-1) third one ("Tensor at index 2 was optional but was expected"), so such a model
# has no reference to be bit-exact with (CONV_2D and FULLY_CONNECTED take -1)
register_op(OpRecord("DEPTHWISE_CONV_2D", (2, 3), CONV_DTYPES, depthwise_shape, lower_depthwise,
                     explain=explain_conv, family=F, weights=(1, 2)))
