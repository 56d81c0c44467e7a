"""The Helium (MVE) kernel set (`--kernels mve`, the default on cortex-m55): its kernel
records, weight layouts, scratch sizes and the per-layer choice the convolution and
element-wise families call.

Each function returns the layer's Step on an `_mve` kernel (codegen/kernels/optimized/*_mve.c)
where one fits, or None: the caller then lowers the layer as for the DSP set, whose kernels
run on a Helium core too. The MVE kernels take TFLite's own per-channel multipliers and
shifts (their output stage is CMSIS-NN's arm_requantize_mve, equal to TFLite's
MultiplyByQuantizedMultiplier: `quantization.mve_requantize`, tests/test_quantization.py) and
the input offset folded into the bias.
"""
from __future__ import annotations

import numpy as np

from .registry import ConstArray, Step, register_kernel


def _shifts_ok(shift, p: dict) -> tuple[bool, bool]:
    """(usable, fast): every shift in [-31, 30] (what the kernels' VSHL/VRSHL take), and the
    _fast copies' condition: every shift in [-31, -1] (no left shift, the rounding correction
    always) and the activation range all of int8."""
    s = shift.values
    usable = bool(((s >= -31) & (s <= 30)).all())
    return usable, usable and bool((s <= -1).all()) and (p["act_min"], p["act_max"]) == (-128, 127)


def gemm_layout(rows: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray):
    """The MVE convolutions' GEMM layout (mcuf_nn.h): rows [OC][K] int8 -> filter
    [OC4/4][K16/16][4][16] int8 (zero-padded to K16 = K rounded up to 16 and OC4 = OC rounded
    up to 4, so one pointer walks it 16 bytes at a time), and per block of four channels
    [4 biases][4 multipliers][4 shifts] int32 (padding channels: 0, 0, -1)."""
    oc, k = rows.shape
    k16, oc4 = (k + 15) // 16 * 16, (oc + 3) // 4 * 4
    w = np.zeros((oc4, k16), np.int8)
    w[:oc, :k] = rows
    filt = w.reshape(oc4 // 4, 4, k16 // 16, 16).transpose(0, 2, 1, 3).reshape(-1)
    prm = np.zeros((3, oc4), np.int64)
    prm[2] = -1
    prm[0, :oc], prm[1, :oc], prm[2, :oc] = bias, mult, shift
    prm = prm.reshape(3, oc4 // 4, 4).transpose(1, 0, 2).reshape(-1)
    return filt, prm.astype(np.int32)


def conv_s8_mve_get_buffer_size(p: dict) -> int:
    """One im2col row: K = k_h*k_w*in_c rounded up to 16 bytes."""
    return (p["k_h"] * p["k_w"] * p["in_c"] + 15) // 16 * 16


def lower_conv(op, x, y, p: dict, mult, shift, rows: np.ndarray, folded, pointwise: bool,
               grouped: bool, macs: int):
    """CONV_2D: mcuf_conv_1x1_s8_mve (pointwise, grouped or not: one GEMM layout per group) or
    mcuf_conv_s8_mve (any other ungrouped convolution, through one im2col row of K16 bytes in
    scratch), both on the GEMM layout.
    rows: [OC][k_h*k_w*in_c] int8; folded: the folded bias or None."""
    usable, fast = _shifts_ok(shift, p)
    one_by_one = (p["k_h"] == p["k_w"] == 1 and p["stride_h"] == p["stride_w"] == 1
                  and p["pad_top"] == p["pad_left"] == 0 and (p["in_h"], p["in_w"]) == (p["out_h"], p["out_w"]))
    if folded is None or (grouped and not one_by_one) or not usable:
        return None
    n = op.index
    groups = p["in_c"] // p["filter_in_c"]
    ocg = p["out_c"] // groups
    if groups > 1 and one_by_one and (p["in_c"] + 15) // 16 == (p["filter_in_c"] + 15) // 16:
        # the whole depth in as many 16-byte chunks as one group's: one GEMM over a
        # block-diagonal filter (zero weights outside each group) does no more MACs and takes
        # one call per pixel instead of one per group (small_gray16_chain #4: 4 groups of 3)
        dense = np.zeros((p["out_c"], p["in_c"]), np.int8)
        for g in range(groups):
            dense[g * ocg:(g + 1) * ocg, g * p["filter_in_c"]:(g + 1) * p["filter_in_c"]] = rows[g * ocg:(g + 1) * ocg]
        rows, p, groups, ocg, pointwise = dense, dict(p, filter_in_c=p["in_c"]), 1, p["out_c"], True
    parts = [gemm_layout(rows[g * ocg:(g + 1) * ocg], folded[g * ocg:(g + 1) * ocg],
                         mult.values[g * ocg:(g + 1) * ocg], shift.values[g * ocg:(g + 1) * ocg])
             for g in range(groups)]   # a grouped 1x1: one GEMM layout per group
    f, prm = np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts])
    pointwise = pointwise or (grouped and one_by_one)
    filt = ConstArray(f"op{n}_filter", "int8_t", f)
    params = ConstArray(f"op{n}_out_params", "int32_t", prm)
    args = [("in", x.index), ("const", filt), ("const", params), ("out", y.index)]
    if pointwise:
        return Step(op, "mcuf_conv_1x1_s8_mve" + "_fast" * fast, "mcuf_conv_params", p, args,
                    [x.index], y.index, macs, [filt, params])
    return Step(op, "mcuf_conv_s8_mve" + "_fast" * fast, "mcuf_conv_params", p, args + [("scratch",)],
                [x.index], y.index, macs, [filt, params])


def depthwise_conv_3x3_s8_mve_get_buffer_size(p: dict) -> int:
    """Scratch of mcuf_depthwise_conv_3x3_s8_mve: one channel's padded plane and the bytes
    the last vector of a row may read past it; at stride_w 2 the fast path's plane rows are
    64 + ceil(wp / 2) bytes apart (even columns, then odd ones at 64)."""
    hp, wp = (p["out_h"] - 1) * p["stride_h"] + 3, (p["out_w"] - 1) * p["stride_w"] + 3
    deint = 64 + (wp + 1) // 2 if p["stride_w"] == 2 and p["out_w"] <= 60 else wp   # the fast path's rows
    return max(hp * wp + 4 * p["stride_w"], hp * deint + 16)


# mcuf_depthwise_conv_3x3_hwc_s8_mve's scratch (about the input's size) is bounded like the DSP
# set's HWC copy (convolution.DW3_HWC_MAX_INPUT): larger planes keep the one-channel plane kernel
DW_HWC_MVE_MAX_SCRATCH = 16384


def _hwc_cost(p: dict, fast: bool) -> float:
    """Instructions of mcuf_depthwise_conv_3x3_hwc_s8_mve(_fast), fitted (least squares, within
    3%) to seven layers on mps3-an547 (3x3x256, 4x4x128, 6x6x128, 8x8x64, 12x12x64 outputs at
    stride 1; 3x3x256 and 6x6x128 at stride 2): 76 per pixel and block of eight channels, 1.1
    per scratch byte (the zero-point fill and the copy), 83 per pixel; the general copy's
    blocks (left shifts, clamps) 87 on four such layers (3x3x256 to 12x12x64), taken as 90."""
    px = p["out_h"] * p["out_w"]
    blocks = (p["in_c"] + 7) // 8
    return (76 if fast else 90) * px * blocks + 1.1 * depthwise_conv_3x3_hwc_s8_mve_get_buffer_size(p) + 83 * px


def _plane_cost(p: dict, fast: bool) -> float:
    """Instructions of mcuf_depthwise_conv_3x3_s8_mve(_fast) as the fitted cost model
    (codegen/cost_model.json, cortex-m55) predicts them."""
    from ..cost_model import CostModel
    key = "mcuf_depthwise_conv_3x3_s8_mve" + "_fast" * fast + ("/s2" if p["stride_w"] != 1 else "")
    c, oh, ow = p["out_c"], p["out_h"], p["out_w"]
    macs = 9 * oh * ow * c
    feats = [macs, oh * ow * c, p["in_h"] * p["in_w"] * p["in_c"], 1.0, 9 * c * oh * ((ow + 3) // 4 * 4),
             c, oh * c, p["in_h"] * p["in_c"], oh * ow]
    return CostModel.load(target="cortex-m55", kernels="mve").layer(key, feats)


def _hwc_pays(p: dict, fast: bool) -> bool:
    """The channel-vectorized kernel where it is predicted cheaper than the one-channel plane
    kernel (small planes: that kernel's per-channel and per-row setup outweigh the MACs on a
    3x3 or 4x4 plane, 4.74 instructions per MAC on MobileNet V1's last 3x3x256) or than the
    DSP set's HWC kernel (the strided planes of at most DW_MVE_MIN_STRIDE2_PLANE pixels, 2.8
    instructions per MAC there), its scratch within DW_HWC_MVE_MAX_SCRATCH."""
    if depthwise_conv_3x3_hwc_s8_mve_get_buffer_size(p) > DW_HWC_MVE_MAX_SCRATCH:
        return False
    other = _plane_cost(p, fast)
    if p["stride_h"] == p["stride_w"] == 2 and p["out_h"] * p["out_w"] <= DW_MVE_MIN_STRIDE2_PLANE:
        other = min(other, 2.8 * 9 * p["out_h"] * p["out_w"] * p["out_c"])
    return _hwc_cost(p, fast) < other


# Below this many output pixels a stride-2 3x3 depthwise costs more on the MVE kernel (one
# padded plane per channel) than on the DSP set's HWC one on mps3-an547 (mobilevit_xxs_96_rgb:
# 12x12 407k vs 352k, 6x6 210k vs 119k, 3x3 152k vs 46k; 24x24 664k vs 936k).
DW_MVE_MIN_STRIDE2_PLANE = 144


def depthwise_hwc_records(taps: np.ndarray, folded, mult, shift) -> np.ndarray:
    """mcuf_depthwise_conv_3x3_hwc_s8_mve's packed constants: per block of eight channels
    (C rounded up to 8; padding channels: zero taps, bias 0, multiplier 0, shift -1) 42 int32
    words: the taps [9][8] int8 (18 words, little-endian bytes), then [bias][mult][shift], each
    as the block's even channels (0, 2, 4, 6) then its odd ones. taps: [9][C] int8."""
    c = taps.shape[1]
    c8 = (c + 7) // 8 * 8
    t = np.zeros((9, c8), np.int8)
    t[:, :c] = taps
    prm = np.zeros((3, c8), np.int64)
    prm[2] = -1
    prm[0, :c], prm[1, :c], prm[2, :c] = folded, mult, shift
    blocks = c8 // 8
    tw = t.reshape(9, blocks, 8).transpose(1, 0, 2).reshape(blocks, 72).view("<i4")     # [blocks][18]
    pw = prm.reshape(3, blocks, 4, 2).transpose(1, 0, 3, 2).reshape(blocks, 24)        # even, odd
    return np.concatenate([tw.astype(np.int64), pw], axis=1).reshape(-1).astype(np.int32)


def depthwise_conv_3x3_hwc_s8_mve_get_buffer_size(p: dict) -> int:
    """Scratch of mcuf_depthwise_conv_3x3_hwc_s8_mve: the zero-point padded input plane in
    blocks of eight channels, C8 * ((out_h - 1) * stride_h + 3) * ((out_w - 1) * stride_w + 3)
    bytes (C8: in_c rounded up to 8)."""
    hp, wp = (p["out_h"] - 1) * p["stride_h"] + 3, (p["out_w"] - 1) * p["stride_w"] + 3
    return (p["in_c"] + 7) // 8 * 8 * hp * wp


def lower_depthwise(op, x, y, p: dict, mult, shift, taps: np.ndarray, folded, macs: int):
    """DEPTHWISE_CONV_2D 3x3, depth multiplier 1, no dilation: mcuf_depthwise_conv_3x3_hwc_s8_mve
    (vectorized over channels, packed constants) where it is cheaper (_hwc_pays), else
    mcuf_depthwise_conv_3x3_s8_mve (filter in TFLite's [3][3][C] layout). taps: [9][C] int8."""
    usable, fast = _shifts_ok(shift, p)
    if (folded is None or not usable or p["depth_multiplier"] != 1
            or (p["k_h"], p["k_w"], p["dil_h"], p["dil_w"]) != (3, 3, 1, 1)):
        return None
    n = op.index
    if _hwc_pays(p, fast):
        packed = ConstArray(f"op{n}_packed", "int32_t",
                            depthwise_hwc_records(taps, folded, mult.values, shift.values))
        return Step(op, "mcuf_depthwise_conv_3x3_hwc_s8_mve" + "_fast" * fast, "mcuf_conv_params", p,
                    [("in", x.index), ("const", packed), ("out", y.index), ("scratch",)],
                    [x.index], y.index, macs, [packed])
    if p["stride_h"] == p["stride_w"] == 2 and p["out_h"] * p["out_w"] <= DW_MVE_MIN_STRIDE2_PLANE:
        return None   # a small strided plane: the DSP set's HWC kernel is cheaper on an M55
    filt = ConstArray(f"op{n}_filter", "int8_t", np.ascontiguousarray(taps).reshape(-1))
    b = ConstArray(f"op{n}_bias", "int32_t", folded)
    return Step(op, "mcuf_depthwise_conv_3x3_s8_mve" + "_fast" * fast, "mcuf_conv_params", p,
                [("in", x.index), ("const", filt), ("const", b), ("const", mult), ("const", shift),
                 ("out", y.index), ("scratch",)], [x.index], y.index, macs, [filt, b, mult, shift])


F = "convolution"
register_kernel("mcuf_conv_1x1_s8_mve", pixel_ordered=True, fast_twin=True, family=F,
                weight_layout="int8 [OC4/4][K16/16][4][16] + int32 [OC4/4][bias, mult, shift][4] (gemm_layout)")
register_kernel("mcuf_conv_s8_mve", scratch=conv_s8_mve_get_buffer_size, fast_twin=True, family=F,
                weight_layout="int8 [OC4/4][K16/16][4][16] + int32 [OC4/4][bias, mult, shift][4] (gemm_layout)")
register_kernel("mcuf_depthwise_conv_3x3_s8_mve", scratch=depthwise_conv_3x3_s8_mve_get_buffer_size,
                fast_twin=True, family=F, weight_layout="int8 [1][3][3][C] (TFLite's), folded bias")
register_kernel("mcuf_depthwise_conv_3x3_hwc_s8_mve", scratch=depthwise_conv_3x3_hwc_s8_mve_get_buffer_size,
                fast_twin=True, family=F,
                weight_layout="int32 [C8/8][taps [9][8] int8, bias, mult, shift even/odd] (depthwise_hwc_records)")
register_kernel("mcuf_add_s8_mve", family="elementwise")
register_kernel("mcuf_maxpool_s8_mve", family="pooling")
register_kernel("mcuf_avgpool_s8_mve", family="pooling")
register_kernel("mcuf_copy_s8_mve", family="data_movement")
register_kernel("mcuf_requantize_s8_mve", family="requantize")

# portable kernels with an MVE twin taking the same parameters and arguments
_TWINS = {"mcuf_add_s8": "mcuf_add_s8_mve", "mcuf_maxpool_s8": "mcuf_maxpool_s8_mve",
          "mcuf_avgpool_s8": "mcuf_avgpool_s8_mve",
          "mcuf_copy_s8": "mcuf_copy_s8_mve", "mcuf_requantize_s8": "mcuf_requantize_s8_mve"}


def retarget(step):
    """A non-convolution step on its MVE twin where there is one (ADD of equal shapes:
    mcuf_add_s8_mve, if every shift is one the MVE output stage takes, [-31, 30]; MAX_POOL_2D:
    mcuf_maxpool_s8_mve; AVERAGE_POOL_2D of at most 256 cells: mcuf_avgpool_s8_mve; the strided copies of TRANSPOSE, SPLIT, SLICE: mcuf_copy_s8_mve;
    QUANTIZE and standalone RELUs: mcuf_requantize_s8_mve).
    Same parameters and arguments."""
    twin = _TWINS.get(getattr(step, "kernel", None))
    if twin is None:
        return step
    p = step.params
    shifts = [p[k] for k in ("input1_shift", "input2_shift", "output_shift", "shift") if k in p]
    if twin == "mcuf_avgpool_s8_mve" and p["k_h"] * p["k_w"] > 256:
        return step   # its exact division by multiplication needs sums below 2^16
    if twin == "mcuf_copy_s8_mve":
        # vectors pay off on long rows and on the short-row transpose the kernel walks the
        # other way (NCHW -> NHWC); a channel shuffle's rows of 2-3 bytes stay scalar
        row = p["out_dims"][p["dims"] - 1]
        if not (row >= 16 or (p["dims"] == 2 and p["in_strides"][0] == 1 and row < 16)):
            return step
    if all(-31 <= s <= 30 for s in shifts):
        step.kernel = twin
    return step
