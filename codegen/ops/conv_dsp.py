"""The DSP convolution kernels (Cortex-M4/M7/M33, and the M55 where no Helium kernel takes a
layer): their scratch sizes (the only definition: the C takes the buffer), weight layouts and
kernel records, and per kernel family the rule that takes a layer (`_*_takes`, `_*_pays`), the
generation-time packing of its constants (`_*_records`, `_*_filter`, `_*_table`) and its Step
(`_*_step`). The choice between them is made in one place, lower_conv / lower_depthwise in
codegen/ops/convolution.py; the Helium set is codegen/ops/mve.py. To add a DSP convolution
kernel: its C in codegen/kernels/optimized/, its buffer-size function and register_kernel here,
its takes/records/step here, one line in lower_conv or lower_depthwise."""
from __future__ import annotations

import numpy as np

from .. import quantization as q
from ..graph import Graph
from .registry import ConstArray, Step, register_kernel


# --- kernels: scratch sizes (the only definition: the C takes the buffer) and layouts ---

def conv_1x1_s8_dsp_get_buffer_size(p: dict) -> int:
    """Two pixels widened to int16: 4 * in_c bytes."""
    return 4 * p["in_c"]


def conv_1x1_strided_s8_dsp_fast_get_buffer_size(p: dict) -> int:
    """Two pixels widened to int16, 4 * C4 bytes (C4: in_c rounded up to 4), and where in_c % 4
    != 0 two zero-filled C4-byte copies of the last input pixel (pixel_at in the C)."""
    c4 = (p["in_c"] + 3) // 4 * 4
    return 4 * c4 + (2 * c4 if p["in_c"] % 4 else 0)


def conv_s8_dsp_get_buffer_size(p: dict) -> int:
    """Two im2col rows of K4 int16 + one of K4 int8 + 4, K4 = k_h*k_w*in_c rounded up to 4."""
    k4 = (p["k_h"] * p["k_w"] * p["filter_in_c"] + 3) // 4 * 4
    return 2 * k4 * 2 + k4 + 4


def _im2col_x2_pays(p: dict) -> bool:
    """Whether a fast-stage layer of mcuf_conv_s8_dsp_fast runs on mcuf_conv_im2col_x2_s8_dsp_fast
    (doubled fields, the assembly channel loop): where it saves at least 2% of the layer's
    instructions. Per pixel pair (QEMU's M7, fitted on the cliff sweep's 3x3 from 3 and 8
    channels to 8 and 13 and 5x5 at stride 2: within 6 instructions) it saves about
    24.5 * (out_c & ~1) - 1.75 * K4 instructions of about 2.4 * out_c * K4 + 40 * out_c
    (K4 = k_h * k_w * in_c rounded up to 4): 3x3 from 3 channels to 8 3.00 -> 2.66 per MAC;
    MobileViT-XXS's 3x3 from 48 to 48 on 6x6 (0.5%) stays on mcuf_conv_s8_dsp_fast."""
    k4 = (p["k_h"] * p["k_w"] * p["in_c"] + 3) // 4 * 4
    oc = p["out_c"]
    return 24.5 * (oc & ~1) - 1.75 * k4 >= 0.02 * (2.4 * oc * k4 + 40 * oc)


def conv_shallow_s8_dsp_get_buffer_size(p: dict) -> int:
    """k_h widened input rows of _shallow_row_len int16 each."""
    return 2 * p["k_h"] * _shallow_row_len(p)


def conv_shallow_stem_s8_dsp_fast_get_buffer_size(p: dict) -> int:
    """One column-major strip of the three input rows: 9 int16 per column, 2 * out_w + 4 columns."""
    return 2 * 9 * (2 * p["out_w"] + 4)


def depthwise_conv_3x3_s8_dsp_get_buffer_size(p: dict) -> int:
    """One channel's padded plane (+4, see the C)."""
    return ((p["out_h"] - 1) * p["stride_h"] + 3) * ((p["out_w"] - 1) * p["stride_w"] + 3) + 4


def depthwise_conv_kxk_plane_s8_dsp_get_buffer_size(p: dict) -> int:
    """One channel's padded plane, ((out_h - 1) * stride_h + K) * pw bytes, pw = (out_w - 1) *
    stride_w + K (3x3 at stride_w 2: rounded up to a multiple of 4, whole words per row for the
    pairs' LDRD; kxk_plane_w in the C), + 4 of slack for the last row's word loads (KXK_SLACK).
    With in_c a multiple of 4 and four planes (each rounded up to whole words) within
    KXK_QUAD_MAX_SCRATCH bytes, four planes: the kernel gathers four channels at a time
    (kxk_quad in the C; benchmarks/cliff_sweep.py's 3x3 stride 2 over 32 channels at
    multiplier 2 on 12x12: 3.32 -> 2.97 instructions per MAC)."""
    pw = (p["out_w"] - 1) * p["stride_w"] + p["k_w"]
    if p["k_w"] == 3 and p["stride_w"] == 2:
        pw = (pw + 3) // 4 * 4
    plane = ((p["out_h"] - 1) * p["stride_h"] + p["k_h"]) * pw + 4
    stride = (plane + 3) // 4 * 4
    if p["in_c"] >= 4 and p["in_c"] % 4 == 0 and 4 * stride <= KXK_QUAD_MAX_SCRATCH:
        return 4 * stride
    return plane


KXK_QUAD_MAX_SCRATCH = 4096   # the four-plane gather's limit (KXK_QUAD_MAX_SCRATCH in the C)


def depthwise_conv_hwc_s8_dsp_get_buffer_size(p: dict) -> int:
    """A row of input zero points for the padding taps: C4 = in_c rounded up to 4 bytes."""
    return (p["in_c"] + 3) // 4 * 4


def depthwise_conv_hwc_3x3_packed_s8_dsp_fast_get_buffer_size(p: dict) -> int:
    """Bytes: the zero-point padded copy of the input, 32 bytes of fill slack and a C-byte
    sink for an odd width's last phantom pixel (_hwc3_packed_geometry)."""
    return _hwc3_packed_geometry(p)["scratch"]


def depthwise_conv_hwc_s8_dsp_in_place(p: dict) -> bool:
    """Whether mcuf_depthwise_conv_hwc_s8_dsp may write its output over its input (output at
    the input's address): at stride 2x2, undilated, top and left padding at most 1 and an
    output no larger than the input in each dimension. The kernel writes pixel p (whole
    groups of four channels, each after reading that group of its taps) while every later
    pixel reads only input pixels past p: the next pixels of the row start at input column
    2 * (ox + 1) - pad_left >= ox + 1 of a row >= oy, and the next row at input row
    2 * (oy + 1) - pad_top >= 2 * oy + 1, whose first pixel (2 * oy + 1) * in_w is past the
    (oy + 1) * out_w pixels written. Stride 1 is never safe (the next row reads the row
    just overwritten)."""
    return ((p["stride_h"], p["stride_w"], p["dil_h"], p["dil_w"]) == (2, 2, 1, 1)
            and p["pad_top"] <= 1 and p["pad_left"] <= 1
            and p["out_h"] <= p["in_h"] and p["out_w"] <= p["in_w"])


def depthwise_conv_hwc_s8_dsp_runs_in_place(p: dict) -> bool:
    """The layers the planner may run in place on mcuf_depthwise_conv_hwc_s8_dsp: safe
    (depthwise_conv_hwc_s8_dsp_in_place) and with an input over DW3_HWC_MAX_INPUT bytes, the
    ones the plane kernel ran in place before the HWC kernel took them. Offering every safe
    layer made the planner's in-place plan larger (its placement is greedy): vww96_q 47,840 ->
    53,424 B, mbnet128_0.25_q 84,256 -> 94,640 B; offering these keeps both."""
    return depthwise_conv_hwc_s8_dsp_in_place(p) and p["in_h"] * p["in_w"] * p["in_c"] > DW3_HWC_MAX_INPUT


def conv_grouped_s8_dsp_get_buffer_size(p: dict) -> int:
    """The column pair of one group (two pixels' K4 int16) + a byte row of K4 + 4,
    K4 = k_h*k_w*filter_in_c rounded up to 4 (mcuf_conv_grouped_s8_dsp_get_buffer_size in the C)."""
    k4 = (p["k_h"] * p["k_w"] * p["filter_in_c"] + 3) // 4 * 4
    return 5 * k4 + 4


def _direct_row_bytes(p: dict) -> int:
    """One padded input row of mcuf_conv_grouped_direct_s8_dsp: Wp * in_c bytes,
    Wp = out_w * stride_w + (k_w - 1) * dil_w + 1 (the row's taps of every output pixel and of
    a lone last pixel's twin, which the packed entry computes and overwrites)."""
    return (p["out_w"] * p["stride_w"] + (p["k_w"] - 1) * p["dil_w"] + 1) * p["in_c"]


def conv_grouped_direct_s8_dsp_get_buffer_size(p: dict) -> int:
    """k_h padded input rows + 4 slack bytes (the last step's word may reach 3 bytes past the
    rows), bytes; the scratch of mcuf_conv_grouped_direct[_packed]_s8_dsp[_fast] (mcuf_nn.h
    states the same size)."""
    return p["k_h"] * _direct_row_bytes(p) + 4


F = "convolution"
ONE_PIXEL_1X1_IN_C = (4, 8)   # mcuf_conv_1x1_one_pixel_in{4,8}_s8_dsp_fast: the pixel in registers
register_kernel("mcuf_conv_1x1_s8_dsp", scratch=conv_1x1_s8_dsp_get_buffer_size, pixel_ordered=True,
                weight_layout="int8 [OC][IC], channel pairs interleaved word by word (_interleave_pairs)",
                family=F)
register_kernel("mcuf_conv_1x1_s8_dsp_fast", scratch=conv_1x1_s8_dsp_get_buffer_size, pixel_ordered=True,
                weight_layout="one stream of channel-pair records: doubled biases, the pair's rows "
                "interleaved word by word, output constants (_packed_pairs)", family=F)
register_kernel("mcuf_conv_1x1_shallow_s8_dsp_fast", scratch=conv_1x1_s8_dsp_get_buffer_size, pixel_ordered=True,
                weight_layout="one stream of channel-pair records: doubled biases, int16 weights "
                "(w0, w2) (w1, w3) per 4 inputs and channel, output constants (_packed_pairs, int16)",
                family=F)
for _c in ONE_PIXEL_1X1_IN_C:   # a 1x1 plane over 4 or 8 inputs: own entry points (no dispatch)
    register_kernel(f"mcuf_conv_1x1_one_pixel_in{_c}_s8_dsp_fast", pixel_ordered=True,
                    weight_layout="int32: header [passes - 1, skip bytes], then per output channel 2 * bias, "
                    "doubled int16 weight pairs (w0, w2) (w1, w3) per 4 inputs, multiplier, round, b "
                    "(_one_pixel_1x1_records)", family=F)
register_kernel("mcuf_conv_1x1_strided_s8_dsp_fast", scratch=conv_1x1_strided_s8_dsp_fast_get_buffer_size,
                pixel_ordered=True, weight_layout="as mcuf_conv_1x1_shallow_s8_dsp_fast (_packed_pairs, int16) "
                "over C4 = in_c rounded up to 4, zero weights past in_c", family=F)
register_kernel("mcuf_conv_1x1_lut_s8_dsp", weight_layout="uint8-indexed table [256][OC] of int8 outputs: "
                "row r holds every channel's output for the input byte (int8_t)r (_lut_1x1_table)",
                pixel_ordered=True, family=F)
register_kernel("mcuf_conv_s8_dsp", scratch=conv_s8_dsp_get_buffer_size,
                weight_layout="int8 rows padded to K4, channel pairs interleaved (_interleave_pairs)",
                fast_twin=True, family=F)
register_kernel("mcuf_conv_im2col_x2_s8_dsp_fast", scratch=conv_s8_dsp_get_buffer_size,
                weight_layout="as mcuf_conv_s8_dsp; doubled biases", family=F)
register_kernel("mcuf_conv_shallow_s8_dsp", scratch=conv_shallow_s8_dsp_get_buffer_size,
                weight_layout="int16 doubled, per channel pair (_shallow_filter)", family=F)
register_kernel("mcuf_conv_shallow_stem_s8_dsp_fast", scratch=conv_shallow_stem_s8_dsp_fast_get_buffer_size,
                weight_layout="one stream of 4-channel records: doubled biases, int16 doubled weight pairs "
                "of the [kx][ky][ch] field, output constants (_stem_records)", family=F)
register_kernel("mcuf_depthwise_conv_1x1_lut_s8_dsp", weight_layout="int8 [C][256][M]: the M outputs of input "
                "channel c for the input byte (int8_t)r at (c * 256 + r) * M (_lut_1x1_table, regrouped)", family=F)
register_kernel("mcuf_depthwise_conv_hwc_s8_dsp", scratch=depthwise_conv_hwc_s8_dsp_get_buffer_size,
                weight_layout="int16 doubled [C4/4][KH*KW][w0, w2, w1, w3], zero beyond C (_hwc_depthwise_filter); "
                "_fast: then per 4 channels int32 biases and [multiplier, round, shift] (_hwc_out_table), and with a channel tail "
                "the last 4 channels' weights, biases and table",
                fast_twin=True, family=F, in_place=depthwise_conv_hwc_s8_dsp_runs_in_place)
for _k in ("5x5", "7x7", "3x3_tail1"):   # own entry points (fast stage): undilated K x K layers
    # at >= 4 channels, 3x3 stride-2 layers of 4k + 1 channels (_hwc_depthwise_kernel)
    register_kernel(f"mcuf_depthwise_conv_hwc_{_k}_s8_dsp_fast", scratch=depthwise_conv_hwc_s8_dsp_get_buffer_size,
                    weight_layout="as mcuf_depthwise_conv_hwc_s8_dsp", family=F,
                    in_place=depthwise_conv_hwc_s8_dsp_runs_in_place)
register_kernel("mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast",
                scratch=depthwise_conv_hwc_3x3_packed_s8_dsp_fast_get_buffer_size,
                weight_layout="int32: a 40-word header (tap offsets in the padded copy, pair / row steps, "
                "copy geometry), then per group of 4 channels (the last over channels C-4..C-1) doubled "
                "biases twice, doubled int16 weight pairs in load order, [multiplier, round, b] per "
                "channel, the group step in the last b word's upper bits (_hwc3_packed_records)",
                family=F)
register_kernel("mcuf_depthwise_conv_3x3_s8_dsp", scratch=depthwise_conv_3x3_s8_dsp_get_buffer_size,
                weight_layout="int8 [OC][9] (taps transposed; any depth multiplier)", fast_twin=True, family=F,
                channel_planar=True)   # gathers channel c's plane, then writes channel c only (multiplier 1)
register_kernel("mcuf_depthwise_conv_3x3_packed_s8_dsp_fast", scratch=depthwise_conv_3x3_s8_dsp_get_buffer_size,
                weight_layout="int32 per output channel [multiplier, round, b, 2 * bias, the doubled "
                "weights as int16 pairs (w0, w2) (w3, w5) (w6, w8) (w1, w4) (w7, 0)] (_plane_3x3_records)",
                family=F, channel_planar=True)
register_kernel("mcuf_depthwise_conv_kxk_plane_s8_dsp", scratch=depthwise_conv_kxk_plane_s8_dsp_get_buffer_size,
                weight_layout="int16 doubled [OC][K][ceil(K/4)][w0, w2, w1, w3] per kernel row, zero beyond K "
                "(_kxk_plane_filter; any depth multiplier)", fast_twin=True, family=F,
                channel_planar=True)   # gathers channel c's plane, then writes channel c only (multiplier 1)
register_kernel("mcuf_conv_grouped_1x1_packed_s8_dsp_fast",
                weight_layout="int32 stream: per pixel, per 4 output channels of a group the input offsets "
                "then 7 words per channel (doubled weight pairs, doubled bias twice, output constants); "
                "a rewind header (_grouped_1x1_records)", family=F)
register_kernel("mcuf_conv_grouped_1x1_oc4_packed_s8_dsp_fast",
                weight_layout="int32 stream: skip, in_c, pair input step, pixel B's output offset; per group "
                "the input offsets then 6 words per channel (doubled weight pair, b + 1 | doubled weight << 16, "
                "doubled bias twice, multiplier, round) (_grouped_1x1_oc4_records)", family=F)
for _c in (2, 3, 4):   # 1x1 over 2-4 input channels per group: _few_1x1_takes
    register_kernel(f"mcuf_conv_1x1_few_c{_c}_s8_dsp_fast", pixel_ordered=True,
                    weight_layout="int32 stream: skip, per block of L channels of a group the two pixels' "
                    "word offsets then per channel the doubled int16 weight pairs, doubled bias twice, "
                    "multiplier, round, b + 1; an end header (_few_1x1_records)", family=F)
register_kernel("mcuf_conv_grouped_direct_s8_dsp", scratch=conv_grouped_direct_s8_dsp_get_buffer_size,
                weight_layout="int32 tap offsets (one per step); int32 words per group, channel pair and step: "
                "both channels' doubled int16 weight pairs (byte 0, byte 2), (byte 1, byte 3), an odd last "
                "channel alone (_grouped_direct_filter)", family=F)
register_kernel("mcuf_conv_grouped_direct_packed_s8_dsp_fast", scratch=conv_grouped_direct_s8_dsp_get_buffer_size,
                weight_layout="int32 stream per channel pair of a group: doubled biases, per step pixel A's and "
                "B's offsets and both channels' doubled int16 weight pairs, output constants and the channels' "
                "indices (_grouped_direct_records)", family=F)
register_kernel("mcuf_conv_grouped_s8_dsp", scratch=conv_grouped_s8_dsp_get_buffer_size,
                weight_layout="int8, per group rows padded to K4, channel pairs interleaved (_grouped_filter)",
                fast_twin=True, family=F)
ACT_CLAMP = "mcuf_act_clamp_s8_dsp"   # the epilogue of a _fast kernel on a clamping activation
register_kernel("mcuf_act_clamp_s8", weight_layout="none: a fused activation's clamp in place", family=F)
register_kernel(ACT_CLAMP, weight_layout="none: a fused activation's clamp in place", family=F)


def _clamps(p: dict) -> bool:
    """Does the fused activation clamp inside int8 (act_min > -128 or act_max < 127)."""
    return (p["act_min"], p["act_max"]) != (-128, 127)


def _fast_then_clamp(op, p: dict, mult: ConstArray, shift: ConstArray, folded: np.ndarray,
                     rows: np.ndarray, kernels: str, build):
    """The DSP step of a CONV_2D / DEPTHWISE_CONV_2D (rows: [channel][tap] int8 weights, folded:
    the folded int32 biases; kernels "dsp", or "dsp-fallback" on the Cortex-M55, which keeps the
    general output stage and no clamp epilogue): the output constants of _requant_table, then
    build(dsp_bias, rq, fast) makes the step the kernel choice gives for a fast flag -- fast where
    the SMMLAR output stage is exact on every channel; None where the constants do not fit (the
    portable kernels are used) or build finds no DSP kernel.
    Where the activation clamps inside int8 (_clamps), the _fast kernels saturate to
    [-128, 127] only, so a step on one gets the clamp as its epilogue (ACT_CLAMP on the bytes it
    wrote): for [lo, hi] within [-128, 127], clamp(sat_int8(x), lo, hi) == clamp(x, lo, hi),
    TFLite's result (reference_integer_ops::ConvPerChannel clamps the requantized int32 to
    [act_min, act_max]). A general kernel chosen clamps by itself.
    Measured (benchmarks/cliff_sweep.py --act relu6, QEMU's M7): the _fast kernel + clamp is
    never slower than the general choice on any of its 304 layers (109 -> 25 above 3
    instructions per MAC; 24 at 0bb6c23, benchmarks/results_cliff_sweep_relu6.md). Letting the
    cost model pick the general choice where it predicted it cheaper made 60+ of those layers
    slower (worst 13.2 instructions per MAC): not done."""
    rq, dsp_bias, exact = _requant_table(op, p, mult, shift, folded,
                                         np.abs(rows.astype(np.int64)).sum(axis=1), clamp_ok=kernels == "dsp")
    if rq is None:
        return None
    step = build(dsp_bias, rq, exact)
    if step is not None and exact and _clamps(p) and step.kernel.endswith("_fast"):
        step.epilogue = ACT_CLAMP
    return step


# --- selection and packing, per kernel family ---

def _folded_bias(bias: np.ndarray, input_offset: int, filter_rows: np.ndarray) -> np.ndarray | None:
    """bias + input_offset * sum(filter row): the kernels then multiply raw int8 inputs.
    None if that no longer fits int32 (the unfolded reference kernels are used then)."""
    folded = bias + input_offset * filter_rows.astype(np.int64).sum(axis=1)
    return None if np.abs(folded).max(initial=0) >= 2**31 else folded.astype(np.int32)


def _requant_table(op, p: dict, mult: ConstArray, shift: ConstArray, bias_folded: np.ndarray,
                   abs_weight_sums: np.ndarray, clamp_ok: bool = False
                   ) -> tuple[list[ConstArray] | None, np.ndarray, bool]:
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
    too and only adds the clamp; only left-shift channels take TFLite's formula.
    clamp_ok: the caller puts the activation's clamp after a _fast kernel (_fast_then_clamp),
    so the flag says only whether every channel is exact, whatever the activation range."""
    offset, lo, hi = p["output_offset"], p["act_min"], p["act_max"]
    bias, ms, ss = bias_folded.astype(np.int64), mult.values.astype(np.int64), shift.values.astype(np.int64)
    for c in np.flatnonzero(abs_weight_sums == 0):
        v = min(max(q.multiply_by_quantized_multiplier(int(bias[c]), int(ms[c]), int(ss[c])) + offset, lo), hi)
        bias[c], ms[c], ss[c] = 4 * (v - offset), 1 << 30, -1
    bound = np.abs(bias) + 128 * abs_weight_sums.astype(np.int64)
    if (2 * bound >= 2**31).any():
        return None, bias_folded, False
    exact = [q.fast_requant_exact_for(int(s), int(b), offset) for s, b in zip(ss, bound)]
    fast = all(exact) and (clamp_ok or (lo, hi) == (-128, 127))
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


PACKED16_MAX_IN_C = 64   # 1x1 layers up to this depth store int16 weights (no SXTB16 in the run;
                         # in_c * out_c more flash bytes: 12 KB on vww96)


def _one_pixel_1x1(p: dict, fast: bool) -> bool:
    """Does mcuf_conv_1x1_one_pixel_in{4,8}_s8_dsp_fast take the pointwise layer: a 1x1 plane
    (the squeeze-excite convolutions after a global MEAN) over ONE_PIXEL_1X1_IN_C input
    channels, any output channel count, the fast output stage. There the packed pair kernel's
    set-up (widening into scratch, its job, the computed entry per channel pair) outweighs the
    arithmetic: measured on QEMU, legacy_uint8_v3_blocks' 8 -> 4 and 4 -> 8 (32 MACs each),
    see the README's per-layer figures."""
    return (fast and p["k_h"] == p["k_w"] == 1 and p["out_h"] * p["out_w"] == 1
            and p["in_c"] in ONE_PIXEL_1X1_IN_C and p["filter_in_c"] == p["in_c"])


ONE_PIXEL_1X1_UNROLL = {4: (16, 32), 8: (8, 40)}   # in_c -> (channel blocks a pass, bytes a block)


def _one_pixel_1x1_records(rows: np.ndarray, bias2: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                           output_offset: int) -> np.ndarray:
    """[OC][C] weights (int8, or a legacy layer's w + filter_offset in [-255, 255]), C 4 or 8,
    doubled biases and fast output constants (shift bytes b < 32) ->
    mcuf_conv_1x1_one_pixel_in{C}_s8_dsp_fast's int32 stream: [passes - 1, skip bytes] (passes
    of ONE_PIXEL_1X1_UNROLL[C] channel blocks, the first entered after (-OC) mod that many
    blocks of 8 (C 4) or 10 (C 8) 32-bit instructions), then per channel 2 * bias, the
    doubled weights as int16 pairs (w0, w2) (w1, w3) per 4 inputs, multiplier, round
    (fast_requant_round), b."""
    oc, c = rows.shape
    unroll, block = ONE_PIXEL_1X1_UNROLL[c]
    w2 = (2 * rows.astype(np.int64)).reshape(oc, c // 4, 4)[:, :, [0, 2, 1, 3]]
    words = np.ascontiguousarray(w2.astype(np.int16).reshape(oc, -1)).view(np.int32).astype(np.int64)
    rnd = q.fast_requant_rounds(shift, output_offset)
    recs = np.concatenate([np.asarray(bias2, np.int64)[:, None], words,
                           np.stack([np.asarray(multiplier, np.int64), rnd, np.asarray(shift, np.int64)], axis=1)],
                          axis=1)
    head = [(oc + unroll - 1) // unroll - 1, ((-oc) % unroll) * block]
    return np.concatenate([np.array(head, np.int64), recs.reshape(-1)]).astype(np.int32)


def _one_pixel_1x1_step(op, p: dict, x, y, rows: np.ndarray, dsp_bias, rq, macs: int) -> Step:
    """mcuf_conv_1x1_one_pixel_in{4,8}_s8_dsp_fast (_one_pixel_1x1) on its record stream."""
    packed = ConstArray(f"op{op.index}_packed", "int32_t",
                        _one_pixel_1x1_records(rows, 2 * dsp_bias.astype(np.int64), rq[0].values, rq[1].values,
                                               p["output_offset"]))
    return Step(op, f"mcuf_conv_1x1_one_pixel_in{p['in_c']}_s8_dsp_fast", "mcuf_conv_params", p,
                [("in", x.index), ("const", packed), ("out", y.index)], [x.index], y.index, macs, [packed])


def _packed_pairs(rows: np.ndarray, bias2: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                  output_offset: int, wide: bool = False) -> np.ndarray:
    """[OC][K] int8 rows (K % 4 == 0), doubled biases and fast output constants (shift bytes
    b < 32) -> the packed stream of mcuf_gemm_2x2_packed_s8 (mcuf_gemm_packed_job in mcuf_dsp.h),
    as bytes: per channel pair int32 [2b0, 2b1, 2b0, 2b1], the two rows interleaved word by
    word, int32 [m0, round0, b0 | b1 << 8, m1, round1]; an odd last channel is paired with a
    zero channel (never stored). wide: the weights as int16 in SXTB16 order, per 4 inputs
    channel 0's (w0, w2) (w1, w3), then channel 1's (mcuf_gemm_2x2_packed16_s8)."""
    oc, k = rows.shape
    n = oc + oc % 2
    r = np.zeros((n, k), np.int16 if wide else np.int8)   # wide: int16 rows may exceed int8
    r[:oc] = rows
    b2 = np.zeros(n, np.int64)
    b2[:oc] = bias2
    m = np.zeros(n, np.int64)
    m[:oc] = multiplier
    b = np.zeros(n, np.int64)
    b[:oc] = shift
    rnd = q.fast_requant_rounds(b, output_offset)
    recs = []
    for c in range(0, n, 2):
        head = np.array([b2[c], b2[c + 1], b2[c], b2[c + 1]], np.int64).astype(np.int32).view(np.int8)
        if wide:
            w = r[c:c + 2].astype(np.int16).reshape(2, k // 4, 4)[:, :, [0, 2, 1, 3]]
            w = w.transpose(1, 0, 2).reshape(-1).view(np.int8)
        else:
            w = r[c:c + 2].reshape(2, k // 4, 4).transpose(1, 0, 2).reshape(-1)
        tail = np.array([m[c], rnd[c], b[c] | (b[c + 1] << 8), m[c + 1], rnd[c + 1]],
                        np.int64).astype(np.int32).view(np.int8)
        recs += [head, w, tail]
    return np.concatenate(recs)


SHALLOW_RUN_MAX = 16   # k_w * in_c up to which the shallow-input kernel is chosen (stems)


def _is_stem(p: dict) -> bool:
    """The shape of mcuf_conv_shallow_s8_dsp's stem tile (is_stem in the C)."""
    return (p["k_h"], p["k_w"], p["in_c"], p["stride_w"]) == (3, 3, 3, 2)


def _fast_stem(p: dict, fast: bool) -> bool:
    """The shapes mcuf_conv_shallow_stem_s8_dsp_fast takes: 3x3, stride 2 along the width, an RGB
    or grayscale input, out_c % 4 == 0, no dilation, the fast output stage."""
    return (fast and (p["k_h"], p["k_w"], p["stride_w"], p["dil_h"], p["dil_w"]) == (3, 3, 2, 1, 1)
            and p["in_c"] in (1, 3) and p["out_c"] % 4 == 0)


def _stem_step(op, p: dict, x, y, rows: np.ndarray, dsp_bias, rq, macs: int) -> Step:
    packed = ConstArray(f"op{op.index}_packed", "int8_t",
                        _stem_records(rows, 2 * dsp_bias.astype(np.int64), rq[0].values, rq[1].values,
                                      p["output_offset"]))
    return Step(op, "mcuf_conv_shallow_stem_s8_dsp_fast", "mcuf_conv_params", p,
                [("in", x.index), ("const", packed), ("out", y.index), ("scratch",)],
                [x.index], y.index, macs, [packed])


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


def _stem_records(rows: np.ndarray, bias2: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                  output_offset: int) -> np.ndarray:
    """[OC][3*3*C] int8 rows of an RGB (C = 3) or grayscale (C = 1) stem (OC % 4 == 0), doubled
    biases and fast output constants -> mcuf_conv_shallow_stem_s8_dsp_fast's stream, as bytes:
    per 4 channels int32 2 * bias of channels 0-3 twice, 14 (RGB) or 5 (gray) steps x 4 channels
    of int16 weight pairs (2w[2j], 2w[2j+1]) over the field ordered [kx][ky][ch] (its last,
    padding weight 0), then per channel int32 multiplier, round, shift byte."""
    oc, k = rows.shape
    ch = k // 9                       # 3 (RGB) or 1 (grayscale)
    steps = (k + 1) // 2              # 14 or 5
    field = np.zeros((oc, 2 * steps), np.int16)
    field[:, :k] = 2 * rows.reshape(oc, 3, 3, ch).transpose(0, 2, 1, 3).reshape(oc, k).astype(np.int16)
    rnd = q.fast_requant_rounds(shift, output_offset)
    recs = []
    for c in range(0, oc, 4):
        head = np.tile(bias2[c:c + 4].astype(np.int64), 2).astype(np.int32).view(np.int8)
        w = field[c:c + 4].reshape(4, steps, 2).transpose(1, 0, 2).reshape(-1).view(np.int8)
        tail = np.stack([np.asarray(multiplier[c:c + 4], np.int64), rnd[c:c + 4],
                         np.asarray(shift[c:c + 4], np.int64)], axis=1).astype(np.int32).reshape(-1).view(np.int8)
        recs += [head, w, tail]
    return np.concatenate(recs)


def _grouped_filter(rows: np.ndarray, groups: int) -> np.ndarray:
    """[OC][K] int8 -> mcuf_conv_grouped_s8_dsp's layout: each group's rows padded with zero
    weights to K4 = ceil(K / 4) * 4 and interleaved in output-channel pairs, group after group."""
    oc, k = rows.shape
    k4 = (k + 3) // 4 * 4
    padded = np.zeros((oc, k4), np.int8)
    padded[:, :k] = rows
    per = oc // groups
    return np.concatenate([_interleave_pairs(padded[g * per:(g + 1) * per]) for g in range(groups)])


def _grouped_1x1_packed(p: dict, fast: bool) -> bool:
    """Does mcuf_conv_grouped_1x1_packed_s8_dsp_fast take the layer: a 1x1 at stride 1 without
    padding, 2 or 3 input channels per group, at least 2 groups, a multiple of 4 output
    channels per group, at least 2 pixels, the fast output stage on every channel."""
    groups = p["in_c"] // p["filter_in_c"]
    return (fast and p["k_h"] == p["k_w"] == 1 and p["stride_h"] == p["stride_w"] == 1
            and p["pad_top"] == p["pad_left"] == 0 and (p["in_h"], p["in_w"]) == (p["out_h"], p["out_w"])
            and p["filter_in_c"] in (2, 3) and groups >= 2 and (p["out_c"] // groups) % 4 == 0
            and p["out_h"] * p["out_w"] >= 2)


def _grouped_1x1_records(rows: np.ndarray, bias: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                         output_offset: int, in_c: int, pixels: int) -> np.ndarray:
    """[OC][FC] int8 (FC 2 or 3, in_c = groups * FC >= 4), folded biases and fast output
    constants (shift bytes b < 32) -> mcuf_conv_grouped_1x1_packed_s8_dsp_fast's int32 stream:
    in_c, ceil(pixels / 2) * in_c, (pixels // 2) * out_c; per 4 output channels of group g a
    header {o, o + h * in_c} (pixel A's and pixel B's, h = pixels // 2 pixels later; for the
    last group the other way round), o the byte offset of the 4-byte word the kernel reads from
    pixel A -- g * FC (forward: the group's bytes first), for the last group in_c - 4
    (backward: its bytes last) -- then per channel the doubled weights of the word's bytes as
    int16 pairs (low half first) (byte e0, byte e1), (byte s, 0), where forward e0, s, e1 =
    bytes 0, 1, 2 and backward bytes 1, 2, 3 (SXTB16's halves), then 2 * bias twice,
    multiplier, round = (2 * output_offset + 1) << b (fast_requant_round), b + 1; after the last
    group {0, -(the pair's stream bytes)}. Every word lies in its pixel's bytes. Exact as
    fast_requant_constants: the doubled accumulator fits int32 (_requant_table)."""
    oc, fc = rows.shape
    groups = in_c // fc
    per = oc // groups
    w = 2 * rows.astype(np.int64)
    rnd = q.fast_requant_rounds(shift, output_offset)
    tail = np.stack([2 * bias.astype(np.int64), 2 * bias.astype(np.int64), multiplier.astype(np.int64),
                     np.array(rnd, np.int64), shift.astype(np.int64) + 1], axis=1)      # [OC][5]
    out = []
    for g in range(groups):
        back = g == groups - 1
        lead = 4 - fc if back else 0          # the word's bytes before x0
        byte = np.zeros((oc, 4), np.int64)    # the weight of each byte of the word
        byte[:, lead:lead + fc] = w
        e0, s, e1 = (1, 2, 3) if back else (0, 1, 2)
        pairs = np.stack([byte[:, e0], byte[:, e1], byte[:, s], np.zeros(oc, np.int64)], axis=1)
        words = pairs.astype(np.int16).view(np.int32).astype(np.int64)                # [OC][2]
        o = in_c - 4 if back else g * fc
        head = [o + (pixels // 2) * in_c, o] if back else [o, o + (pixels // 2) * in_c]
        for c in range(g * per, (g + 1) * per, 4):
            out += head + np.concatenate([words[c:c + 4], tail[c:c + 4]], axis=1).reshape(-1).tolist()
    out += [0, -4 * (len(out) + 2)]
    return np.array([in_c, (pixels + 1) // 2 * in_c, pixels // 2 * oc, *out], np.int64).astype(np.int32)


G1_OC4_MAX_GROUPS = 4   # MCUF_G1_OC4_MAX_GROUPS in mcuf_nn.h: the forward chain's length + 1


def _grouped_1x1_oc4(p: dict) -> bool:
    """Of the layers _grouped_1x1_packed takes, does mcuf_conv_grouped_1x1_oc4_packed_s8_dsp_fast:
    exactly 4 output channels per group and at most G1_OC4_MAX_GROUPS groups."""
    groups = p["in_c"] // p["filter_in_c"]
    return p["out_c"] == 4 * groups and groups <= G1_OC4_MAX_GROUPS


def _grouped_1x1_oc4_records(rows: np.ndarray, bias: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                             output_offset: int, in_c: int, pixels: int) -> np.ndarray:
    """[OC][FC] int8 (OC = 4 * groups, FC 2 or 3), folded biases and fast output constants (shift
    bytes b < 32) -> mcuf_conv_grouped_1x1_oc4_packed_s8_dsp_fast's int32 stream: skip =
    G1_OC4_MAX_GROUPS - groups, in_c, ceil(pixels / 2) * in_c, (pixels // 2) * out_c; per group g
    {o, o + h * in_c} (pixel A's and pixel B's input offsets, h = pixels // 2; o = g * FC read
    forward, the last group's o = in_c - 4 read backward, as _grouped_1x1_records), then per
    channel the doubled weights (byte e0, byte e1) as an int16 pair, (b + 1) | (the doubled
    weight of byte s) << 16, 2 * bias twice, multiplier, round = (2 * output_offset + 1) << b
    (fast_requant_round). Exact as fast_requant_constants (_requant_table)."""
    oc, fc = rows.shape
    groups = in_c // fc
    w = 2 * rows.astype(np.int64)
    rnd = q.fast_requant_rounds(shift, output_offset)
    out = []
    for g in range(groups):
        back = g == groups - 1
        lead = 4 - fc if back else 0
        byte = np.zeros((oc, 4), np.int64)
        byte[:, lead:lead + fc] = w
        e0, s, e1 = (1, 2, 3) if back else (0, 1, 2)
        o = in_c - 4 if back else g * fc
        out += [o, o + (pixels // 2) * in_c]
        for c in range(4 * g, 4 * g + 4):
            pair = np.array([byte[c, e0], byte[c, e1]], np.int64).astype(np.int16).view(np.int32)[0]
            ws = np.array([int(shift[c]) + 1, byte[c, s]], np.int64).astype(np.int16).view(np.int32)[0]
            out += [int(pair), int(ws), 2 * int(bias[c]), 2 * int(bias[c]), int(multiplier[c]), int(rnd[c])]
    head = [G1_OC4_MAX_GROUPS - groups, in_c, (pixels + 1) // 2 * in_c, pixels // 2 * oc]
    return np.array(head + out, np.int64).astype(np.int32)


FEW_1X1_MAX_OC = 16   # MCUF_G1_FEW_MAX_OC in mcuf_nn.h: the channel units of one block


def _few_1x1_block(p: dict) -> int:
    """The channels per block L of mcuf_conv_1x1_few_c{2,3,4}_s8_dsp_fast: out_c / groups split
    into the fewest equal blocks of at most FEW_1X1_MAX_OC, 0 if no equal split exists."""
    per = p["out_c"] // (p["in_c"] // p["filter_in_c"])
    n = -(-per // FEW_1X1_MAX_OC)
    return per // n if per % n == 0 else 0


def _few_1x1_takes(p: dict, fast: bool) -> bool:
    """Does mcuf_conv_1x1_few_c{c}_s8_dsp_fast take the layer: a 1x1 without padding (any
    stride), c = filter_in_c 2, 3 or 4 input channels per group (dense when in_c = c, except
    in_c 4: the dense 1x1 kernels), the fast output stage on every channel, at least 2 output
    pixels, each reading a pixel inside the input plane (at stride 1 rows as wide as the
    output's: the plane is one line), out_c / groups split in equal blocks (_few_1x1_block),
    and not a layer of the ShuffleNet-shaped packed entries (_grouped_1x1_packed). Measured on the cliff sweep (M7),
    instructions per output: 8.3-8.9 at 2 channels per group (pixel triples), 9.0-9.5 at 3,
    9.1-9.6 at 4, 7.8-8.5 dense from 3 channels (the direct, im2col and shallow kernels: 12-46)."""
    fc = p["filter_in_c"]
    inside = ((p["out_h"] - 1) * p["stride_h"] < p["in_h"] and (p["out_w"] - 1) * p["stride_w"] < p["in_w"]
              and (p["stride_h"] != 1 or p["stride_w"] != 1 or p["in_w"] == p["out_w"]))   # a folded PAD
    return (fast and p["k_h"] == p["k_w"] == 1 and p["pad_top"] == p["pad_left"] == 0 and inside
            and fc in (2, 3, 4) and not (p["in_c"] == 4 and fc == 4)
            and p["out_h"] * p["out_w"] >= 2 and _few_1x1_block(p) > 0
            and not _grouped_1x1_packed(p, fast))


def _few_1x1_records(rows: np.ndarray, bias: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                     p: dict) -> np.ndarray:
    """[OC][c] int8 (c = filter_in_c 2-4), folded biases and fast output constants (shift bytes
    b < 32) -> mcuf_conv_1x1_few_c{c}_s8_dsp_fast's int32 stream: skip = FEW_1X1_MAX_OC - L
    (L = _few_1x1_block); per block of L channels of group g, c 3 and 4: {g * c, d + g * c + c - 4,
    0} (pixel A's word read forward, B's backward, B = A + d: d = stride_w * in_c, or stride_h *
    in_w * in_c when out_w is 1, as the C picks its pairs); c 2 (pixel triples, C = A + 2 d):
    {g * c, d + g * c, 2 d + g * c + c - 4} (A's and B's words read forward, C's backward); then
    per channel: c 2: (w0, w1), b + 1, 2 * bias three times; c 3: (w0, w2), (b + 1) | w1 << 16;
    c 4: (w0, w2), (w1, w3) (the doubled weights as int16 pairs, low half first), 2 * bias twice;
    multiplier, round = (2 * output_offset + 1) << b (fast_requant_rounds), and for c 4 b + 1;
    the end block {the step to the next pair's (triple's) pixel A in bytes (2 d, c 2: 3 d), the
    stream pointer's rewind in bytes from past the end block's LDM to the first block, the end
    flag (1, c 2: 0, C's offset)} and zero words up to the header LDM's 9 words (c 2: 10; the
    third header word is 0 on the other blocks, c 2's C offset at least 2 d - 2 >= 2). Exact as
    fast_requant_constants: the doubled accumulator fits int32."""
    oc, fc = rows.shape
    groups = p["in_c"] // fc
    per, L = oc // groups, _few_1x1_block(p)
    d = p["stride_w"] * p["in_c"] if p["out_w"] >= 2 else p["stride_h"] * p["in_w"] * p["in_c"]
    w = 2 * rows.astype(np.int64)
    rnd = np.array(q.fast_requant_rounds(shift, p["output_offset"]), np.int64)

    def pair(lo, hi) -> int:
        return int(np.array([lo, hi], np.int64).astype(np.int16).view(np.int32)[0])

    out = [FEW_1X1_MAX_OC - L]
    for g in range(groups):
        for c0 in range(g * per, (g + 1) * per, L):
            if fc == 2:   # triples: A's, B's words read forward, C's backward
                out += [g * fc, d + g * fc, 2 * d + g * fc + fc - 4]
            else:
                out += [g * fc, d + g * fc + fc - 4, 0]
            for c in range(c0, c0 + L):
                b1 = int(shift[c]) + 1
                if fc == 2:
                    out += [pair(w[c, 0], w[c, 1]), b1] + [2 * int(bias[c])] * 3 + [int(multiplier[c]), int(rnd[c])]
                    continue
                if fc == 3:
                    words = [pair(w[c, 0], w[c, 2]), pair(b1, w[c, 1])]
                else:
                    words = [pair(w[c, 0], w[c, 2]), pair(w[c, 1], w[c, 3])]
                words += [2 * int(bias[c]), 2 * int(bias[c]), int(multiplier[c]), int(rnd[c])]
                out += words + ([b1] if fc == 4 else [])
    # the end header: in_step (2 d, 3 d for c 2's triples) and the stream's rewind from past its
    # LDM (9 words, 10 for c 2) to the first block; its end flag (c 2: C's offset 0)
    if fc == 2:
        out += [3 * d, -4 * (len(out) + 9), 0] + [0] * 7
    else:
        out += [2 * d, -4 * (len(out) + 8), 1] + [0] * 6
    return np.array(out, np.int64).astype(np.int32)


def _few_1x1_step(op, p: dict, x, y, rows: np.ndarray, dsp_bias, rq, macs: int) -> Step:
    """The layer on mcuf_conv_1x1_few_c{filter_in_c}_s8_dsp_fast (_few_1x1_takes)."""
    packed = ConstArray(f"op{op.index}_packed", "int32_t",
                        _few_1x1_records(rows, dsp_bias, rq[0].values, rq[1].values, p))
    return Step(op, f"mcuf_conv_1x1_few_c{p['filter_in_c']}_s8_dsp_fast", "mcuf_conv_params", p,
                [("in", x.index), ("const", packed), ("out", y.index)], [x.index], y.index, macs, [packed])


def _grouped_direct_takes(p: dict) -> bool:
    """Does mcuf_conv_grouped_direct_s8_dsp take the grouped CONV_2D (or the 1x1 over in_c % 4
    != 0, one group) that _grouped_dsp_step would get: not the 1x1s of _grouped_1x1_packed
    (ShuffleNet's, on their own assembly), not one input channel (a plain image), and at most
    GROUPED_DIRECT_MAX_STEPS words per output (deeper groups: the im2col kernel reuses its
    widened column over more channels)."""
    steps = p["k_h"] * p["k_w"] * ((p["filter_in_c"] + 3) // 4)
    return p["in_c"] > 1 and steps <= GROUPED_DIRECT_MAX_STEPS


GROUPED_DIRECT_MAX_STEPS = 64


def _grouped_direct_pays(p: dict, fast: bool) -> bool:
    """Is the direct kernel predicted cheaper than mcuf_conv_grouped_s8_dsp's im2col? Estimated
    M7 instructions per channel pair and pixel pair (4 outputs), fitted on ShuffleNet V1's
    grouped 1x1s and the cliff sweep's grouped layers (benchmarks/cliff_sweep.py): direct
    32 + 16 S (S words per output) on the packed entry, 60 + 24 S in C (the general output
    stage, or more than GROUPED_DIRECT_PACKED_MAX_STEPS steps), times the lone pixels' waste of
    rows of odd width (a row's pixels pair among themselves); im2col 45 + 14 K4 / 4 for the
    channel pair, plus both pixels' gather (a 1x1's run: 25 + 7 K4 / 4, otherwise about 65
    per tap more) and the GEMM call (20), shared by the group's channel pairs, times the waste
    of an odd pixel count. ShuffleNet's deep groups on 3x3 planes (40 inputs, 80-160 outputs
    per group) stay on the im2col kernel: it widens a pixel's inputs once for all the group's
    channels."""
    taps = p["k_h"] * p["k_w"]
    steps = taps * ((p["filter_in_c"] + 3) // 4)
    k4 = (taps * p["filter_in_c"] + 3) // 4 * 4
    pairs_per_group = max(1, p["out_c"] // (p["in_c"] // p["filter_in_c"]) // 2)
    w, pixels = p["out_w"], p["out_h"] * p["out_w"]
    packed = fast and steps <= GROUPED_DIRECT_PACKED_MAX_STEPS
    direct = ((32 + 16 * steps) if packed else (60 + 24 * steps)) * (2 * ((w + 1) // 2)) / w
    gather = 25 + 7 * k4 / 4 + (65 * taps if taps > 1 else 0)
    im2col = ((45 + 14 * k4 / 4 + (2 * gather + 20) / pairs_per_group)
              * (2 * ((pixels + 1) // 2)) / pixels)
    groups = p["in_c"] // p["filter_in_c"]
    per = p["out_c"] // groups
    direct_bytes = (4 * groups * ((per + 1) // 2) * (9 + 6 * steps) if packed
                    else 4 * (steps + groups * ((per + 1) // 2) * 2 * steps) + 4 * p["out_c"])
    extra_flash = direct_bytes - p["out_c"] * (k4 + 4)   # the im2col kernel's int8 filter, bias
    return direct < im2col and (im2col >= GROUPED_DIRECT_MIN_GAIN * direct
                                or extra_flash <= GROUPED_DIRECT_FLASH_FREE)


# The direct kernels' weights are int16 (and the packed stream repeats each step's offsets per
# channel pair): up to 3x the im2col kernel's int8 filter. A layer takes them if that costs at
# most GROUPED_DIRECT_FLASH_FREE more flash bytes, or if they are predicted at least
# GROUPED_DIRECT_MIN_GAIN times faster. On ShuffleNet V1 (M7) taking every layer predicted
# faster gave 10,273,304 -> 9,887,079 instructions for 64.8 KB more weights; with these bounds
# its three layers predicted >= 1.15x faster keep most of the gain for about 10 KB. The cliff
# sweep's grouped layers are predicted 1.4x or more.
GROUPED_DIRECT_MIN_GAIN = 1.15
GROUPED_DIRECT_FLASH_FREE = 2048


def _grouped_direct_filter(rows: np.ndarray, p: dict) -> tuple[np.ndarray, np.ndarray]:
    """[OC][KH*KW*FC] int8 -> (mcuf_conv_grouped_direct_s8_dsp's step offsets, its int32 weight
    words): per tap (ky, kx) and word j < ceil(FC / 4) the offset ky * row + kx * dil_w * in_c
    + 4 j in the row buffer (row = _direct_row_bytes); per group, channel pair and step both
    channels' doubled weights of the word's bytes as int16 pairs (byte 0, byte 2), (byte 1,
    byte 3) -- bytes past the group's FC channels weigh 0 -- an odd last channel's alone."""
    oc, fc, kh, kw = p["out_c"], p["filter_in_c"], p["k_h"], p["k_w"]
    groups, j4 = p["in_c"] // fc, (fc + 3) // 4
    row = _direct_row_bytes(p)
    taps = np.array([ky * row + kx * p["dil_w"] * p["in_c"] + 4 * j
                     for ky in range(kh) for kx in range(kw) for j in range(j4)], np.int64)
    byte = np.zeros((oc, kh * kw, 4 * j4), np.int64)
    byte[:, :, :fc] = 2 * rows.reshape(oc, kh * kw, fc).astype(np.int64)
    byte = byte.reshape(oc, -1, 4)                                  # [OC][step][byte]
    words = np.ascontiguousarray(byte[:, :, [0, 2, 1, 3]].astype(np.int16)).view(np.int32).reshape(oc, -1, 2)
    per = oc // groups
    out = []
    for g in range(groups):
        c0 = g * per
        for c in range(c0, c0 + per - 1, 2):
            out.append(np.concatenate([words[c], words[c + 1]], axis=1).reshape(-1))
        if per % 2:
            out.append(words[c0 + per - 1].reshape(-1))
    return taps.astype(np.int32), np.concatenate(out).astype(np.int32)


GROUPED_DIRECT_PACKED_MAX_STEPS = 36   # MCUF_GROUPED_DIRECT_MAX_STEPS in mcuf_nn.h: the unrolled run


def _grouped_direct_records(rows: np.ndarray, bias: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                            p: dict) -> np.ndarray:
    """[OC][KH*KW*FC] int8, folded biases and fast output constants (shift bytes b < 32) ->
    mcuf_conv_grouped_direct_packed_s8_dsp_fast's int32 stream: per channel pair (c0, c1) of a
    group (an odd last channel as (c, c)): 2 * bias of c0 and c1; per step (_grouped_direct_filter's
    taps, plus g * FC) pixel A's offset, pixel B's (+ stride_w * in_c), c0's and c1's doubled
    int16 weight pairs (byte 0, byte 2) (byte 1, byte 3); multiplier c0, round c0, multiplier
    c1, round c1 (round = (2 * output_offset + 1) << b, fast_requant_rounds), b0 | b1 << 8, c0, c1."""
    taps, _ = _grouped_direct_filter(rows, p)
    oc, fc = p["out_c"], p["filter_in_c"]
    groups, j4, kk = p["in_c"] // fc, (fc + 3) // 4, p["k_h"] * p["k_w"]
    byte = np.zeros((oc, kk, 4 * j4), np.int64)
    byte[:, :, :fc] = 2 * rows.reshape(oc, kk, fc).astype(np.int64)
    byte = byte.reshape(oc, -1, 4)
    words = np.ascontiguousarray(byte[:, :, [0, 2, 1, 3]].astype(np.int16)).view(np.int32).reshape(oc, -1, 2)
    words = words.astype(np.int64)
    rnd = np.array(q.fast_requant_rounds(shift, p["output_offset"]), np.int64)
    d = p["stride_w"] * p["in_c"]
    per = oc // groups
    out = []
    for g in range(groups):
        off = taps.astype(np.int64) + g * fc
        for c0 in range(g * per, (g + 1) * per, 2):
            c1 = min(c0 + 1, (g + 1) * per - 1)
            steps = np.stack([off, off + d, words[c0, :, 0], words[c0, :, 1], words[c1, :, 0], words[c1, :, 1]], axis=1)
            out += [2 * int(bias[c0]), 2 * int(bias[c1]), *steps.reshape(-1).tolist(),
                    int(multiplier[c0]), int(rnd[c0]), int(multiplier[c1]), int(rnd[c1]),
                    int(shift[c0]) | int(shift[c1]) << 8, c0, c1]
    return np.array(out, np.int64).astype(np.int32)


def _grouped_direct_step(op, p: dict, x, y, rows: np.ndarray, dsp_bias, rq, fast: bool, macs: int) -> Step:
    """The layer on mcuf_conv_grouped_direct_packed_s8_dsp_fast (the fast output stage, at most
    GROUPED_DIRECT_PACKED_MAX_STEPS steps), else mcuf_conv_grouped_direct_s8_dsp (C, either
    output stage; _grouped_direct_takes, _grouped_direct_pays)."""
    steps = p["k_h"] * p["k_w"] * ((p["filter_in_c"] + 3) // 4)
    if fast and steps <= GROUPED_DIRECT_PACKED_MAX_STEPS:
        packed = ConstArray(f"op{op.index}_packed", "int32_t",
                            _grouped_direct_records(rows, dsp_bias, rq[0].values, rq[1].values, p))
        return Step(op, "mcuf_conv_grouped_direct_packed_s8_dsp_fast", "mcuf_conv_params", p,
                    [("in", x.index), ("const", packed), ("out", y.index), ("scratch",)],
                    [x.index], y.index, macs, [packed])
    taps, words = _grouped_direct_filter(rows, p)
    t = ConstArray(f"op{op.index}_taps", "int32_t", taps)
    filt = ConstArray(f"op{op.index}_filter", "int32_t", words)
    b = ConstArray(f"op{op.index}_bias", "int32_t", 2 * dsp_bias)   # the kernel accumulates 2 * acc
    return Step(op, "mcuf_conv_grouped_direct_s8_dsp", "mcuf_conv_params", p,
                [("in", x.index), ("const", t), ("const", filt), ("const", b), *[("const", c) for c in rq],
                 ("out", y.index), ("scratch",)], [x.index], y.index, macs, [t, filt, b, *rq])


def _grouped_dsp_step(op, p: dict, x, y, rows: np.ndarray, dsp_bias, rq, fast: bool, macs: int) -> Step:
    """A grouped CONV_2D, a 1x1 over a channel count off a multiple of 4 (one group), or a
    DEPTHWISE_CONV_2D with depth multiplier > 1 (rows: [OC][K], one group per input channel)
    on mcuf_conv_grouped_s8_dsp; the 1x1 layers _grouped_1x1_packed takes on its packed entry."""
    if _grouped_1x1_packed(p, fast):   # the 4-outputs-per-group straight-line entry, else the looped one
        oc4 = _grouped_1x1_oc4(p)
        records = _grouped_1x1_oc4_records if oc4 else _grouped_1x1_records
        packed = ConstArray(f"op{op.index}_packed", "int32_t",
                            records(rows, dsp_bias, rq[0].values, rq[1].values, p["output_offset"],
                                    p["in_c"], p["out_h"] * p["out_w"]))
        kernel = "mcuf_conv_grouped_1x1_oc4_packed_s8_dsp_fast" if oc4 else "mcuf_conv_grouped_1x1_packed_s8_dsp_fast"
        return Step(op, kernel, "mcuf_conv_params", p, [("in", x.index), ("const", packed), ("out", y.index)],
                    [x.index], y.index, macs, [packed])
    groups = p["in_c"] // p["filter_in_c"]
    filt = ConstArray(f"op{op.index}_filter", "int8_t", _grouped_filter(rows, groups))
    b = ConstArray(f"op{op.index}_bias", "int32_t", 2 * dsp_bias)   # the kernel accumulates 2 * acc
    return Step(op, "mcuf_conv_grouped_s8_dsp" + "_fast" * fast, "mcuf_conv_params", p,
                [("in", x.index), ("const", filt), ("const", b), *[("const", c) for c in rq],
                 ("out", y.index), ("scratch",)], [x.index], y.index, macs, [filt, b, *rq])


PLANE_PACKED_MAX_C = 64        # small planes up to this many output channels take the packed
PLANE_PACKED_MAX_PIXELS = 64   # records (18 more flash bytes per channel than the int8 filter and
                               # the output tables): there the per-channel setup of the _fast
                               # entry costs as much as the channel's pairs


def _plane_3x3_records(rows: np.ndarray, bias: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                       output_offset: int) -> np.ndarray:
    """[OC][9] int8 taps, folded biases and fast output constants (shift bytes b < 32) ->
    mcuf_depthwise_conv_3x3_packed_s8_dsp_fast's int32 records, 9 words per channel:
    multiplier, round = (2 * output_offset + 1) << b (fast_requant_round), b, 2 * bias, then
    the doubled taps as int16 pairs (low half first) (w0, w2), (w3, w5), (w6, w8), (w1, w4), (w7, 0)."""
    w2 = 2 * rows.astype(np.int64)
    halves = np.stack([w2[:, 0], w2[:, 2], w2[:, 3], w2[:, 5], w2[:, 6], w2[:, 8], w2[:, 1], w2[:, 4],
                       w2[:, 7], np.zeros(len(rows), np.int64)], axis=1)
    words = halves.astype(np.int16).view(np.int32)                     # [OC][5], little-endian pairs
    rnd = q.fast_requant_rounds(shift, output_offset)
    head = np.stack([multiplier.astype(np.int64), rnd, shift.astype(np.int64), 2 * bias.astype(np.int64)], axis=1)
    return np.concatenate([head.astype(np.int32), words], axis=1).reshape(-1)


def _plane_3x3_step(op, p: dict, x, y, rows: np.ndarray, dsp_bias, rq, fast: bool, macs: int) -> Step:
    """mcuf_depthwise_conv_3x3_s8_dsp: a 3x3 depthwise of any depth multiplier, or a 3x3
    CONV_2D of a 1-channel image (a depthwise with multiplier out_c). rows: [OC][9]. On the
    fast output stage, up to PLANE_PACKED_MAX_C output channels on an output plane of up to
    PLANE_PACKED_MAX_PIXELS: mcuf_depthwise_conv_3x3_packed_s8_dsp_fast (the channels' constants
    and doubled weights precomputed, one LDM each, and at an even width the gather in the same
    assembly call; measured on QEMU's M7, small_gray16_chain: 4x4x16 x2 19,000 -> 13,160
    instructions, 8x8x8 15,440 -> 12,720; see _plane_3x3_records)."""
    if fast and p["out_c"] <= PLANE_PACKED_MAX_C and p["out_h"] * p["out_w"] <= PLANE_PACKED_MAX_PIXELS:
        packed = ConstArray(f"op{op.index}_packed", "int32_t",
                            _plane_3x3_records(rows, dsp_bias, rq[0].values, rq[1].values, p["output_offset"]))
        return Step(op, "mcuf_depthwise_conv_3x3_packed_s8_dsp_fast", "mcuf_conv_params", p,
                    [("in", x.index), ("const", packed), ("out", y.index), ("scratch",)],
                    [x.index], y.index, macs, [packed])
    filt = ConstArray(f"op{op.index}_filter", "int8_t", np.ascontiguousarray(rows).reshape(-1))
    b = ConstArray(f"op{op.index}_bias", "int32_t", dsp_bias)
    return Step(op, "mcuf_depthwise_conv_3x3_s8_dsp" + "_fast" * fast, "mcuf_conv_params", p,
                [("in", x.index), ("const", filt), ("const", b), *[("const", c) for c in rq],
                 ("out", y.index), ("scratch",)],          # one channel's padded plane
                [x.index], y.index, macs, [filt, b, *rq])


def _kxk_plane_takes(p: dict) -> bool:
    """Does mcuf_depthwise_conv_kxk_plane_s8_dsp take the (depthwise, or 1-input-channel
    CONV_2D) layer: undilated 5x5 or 7x7 with a depth multiplier above 1, or under 16
    channels, or a channel count off a multiple of 4 -- the layers the HWC kernel's 4-lane
    groups (1- and 3-channel inputs padded to 4 lanes: 39-45 and 14.7-17 instructions per MAC)
    and the grouped kernel (multipliers: 5.2-19.6) served slowly (benchmarks/cliff_sweep.py on
    QEMU's M7, issue #22)."""
    return (p["k_h"] == p["k_w"] and p["k_h"] in (5, 7) and p["dil_h"] == p["dil_w"] == 1
            and (p["out_c"] != p["in_c"] or p["in_c"] < 16 or p["in_c"] % 4 != 0))


def _kxk_plane_filter(rows: np.ndarray, k: int) -> np.ndarray:
    """[OC][K*K] int8 taps (row-major kernel) -> mcuf_depthwise_conv_kxk_plane_s8_dsp's int16
    [OC][K][G][w0, w2, w1, w3] per group of 4 taps of a kernel row (G = ceil(K / 4)), doubled
    (the kernel accumulates 2 * acc), zero weights beyond K."""
    oc = rows.shape[0]
    g = (k + 3) // 4
    w = np.zeros((oc, k, 4 * g), np.int16)
    w[:, :, :k] = 2 * rows.reshape(oc, k, k).astype(np.int16)
    return w.reshape(oc, k, g, 4)[:, :, :, [0, 2, 1, 3]].reshape(-1)


def _kxk_plane_step(op, p: dict, x, y, rows: np.ndarray, dsp_bias, rq, fast: bool, macs: int) -> Step:
    """mcuf_depthwise_conv_kxk_plane_s8_dsp[_fast] (_kxk_plane_takes): a K x K depthwise of any
    depth multiplier, or a K x K CONV_2D of a 1-channel image. rows: [OC][K*K]."""
    filt = ConstArray(f"op{op.index}_filter", "int16_t", _kxk_plane_filter(rows, p["k_h"]))
    b = ConstArray(f"op{op.index}_bias", "int32_t", 2 * dsp_bias)   # the kernel accumulates 2 * acc
    return Step(op, "mcuf_depthwise_conv_kxk_plane_s8_dsp" + "_fast" * fast, "mcuf_conv_params", p,
                [("in", x.index), ("const", filt), ("const", b), *[("const", c) for c in rq],
                 ("out", y.index), ("scratch",)], [x.index], y.index, macs, [filt, b, *rq])


HWC3_PACKED_MAX_PIXELS = 64   # output planes up to this many pixels, 4 to HWC3_PACKED_MAX_C channels:
HWC3_PACKED_MAX_C = 16        # there the _fast entry's per-call set-up (tap tables, border pairs,
                              # one assembly call per pair) costs as much as the arithmetic
HWC3_PACKED_HEADER = 48       # int32 words before the group records


def _hwc3_packed_geometry(p: dict) -> dict:
    """The zero-point padded copy of mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast, in bytes
    from the scratch: T bytes of zero points, then the input rows at pitch P = in_w * C + g (each
    followed by g >= pad_left * C, right * C zero-point bytes, g a multiple of 4), then `bottom`
    rows of zero points; the windows of output row oy, column ox at win0 + oy * sh * P +
    ox * sw * C. ceil(out_w / 2) pairs per row (an odd width's last pair has a phantom B, its
    window inside the copy). Fills run in 32-byte units (slack included)."""
    c, sh, sw = p["in_c"], p["stride_h"], p["stride_w"]
    pt, pl, in_h, in_w = p["pad_top"], p["pad_left"], p["in_h"], p["in_w"]
    n = (p["out_w"] + 1) // 2
    w_need = (2 * n - 1) * sw + 3
    h_need = (p["out_h"] - 1) * sh + 3
    right = max(0, w_need - pl - in_w)
    bottom = max(0, h_need - pt - in_h)
    g = (max(pl, right) * c + 3) // 4 * 4
    row = in_w * c
    pitch = row + g
    top = pt * pitch + g
    end = top + (in_h + bottom) * pitch
    return dict(n=n, g=g, row=row, pitch=pitch, top=top, bottom=bottom, end=end,
                win0=top - pt * pitch - pl * c, junk=end + 32, scratch=end + 32 + c + 4)


def hwc3_packed_room(graph: Graph) -> int:
    """The most bytes of activations one operator of the graph reads and writes at once (its
    non-constant inputs and outputs, int8): every memory plan's arena holds at least that
    much, so a layer whose input, output and _hwc3_packed_geometry copy fit in it takes the
    packed entry on a plane of any size without raising the arena beyond that bound (the
    planner places the copy like any scratch)."""
    room = 0
    for o in graph.operators:
        ts = [graph.tensors[i] for i in [*o.inputs, *o.outputs] if i >= 0 and i in graph.tensors]
        room = max(room, sum(t.size for t in ts if not t.is_constant))
    return room


def _hwc3_packed_takes(p: dict, fast: bool, room: int = 0) -> bool:
    """Does mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast take the depthwise layer (3x3,
    multiplier 1, undilated, the fast output stage): 4 to HWC3_PACKED_MAX_C channels, stride_w 1
    or 2, an output plane of at most HWC3_PACKED_MAX_PIXELS -- or larger where its input,
    output and zero-point padded copy together fit in `room` bytes (hwc3_packed_room: the
    graph's largest operator; there the packed pairs also beat the general HWC kernel, whose
    per-row and border-pair set-up weighs on few channels: legacy_uint8_v3_blocks' 32x32x8 at
    stride 2, QEMU's M7, 3.14 -> 2.80 instructions per MAC) --, whole words per input row, pads
    of at most 2, input rows of at most 512 bytes, zero-point gaps of at most 32 bytes, at
    stride 1 only where the HWC kernel would be chosen (else the packed plane kernel's stride-1
    pairs)."""
    if not (fast and p["depth_multiplier"] == 1 and p["k_h"] == p["k_w"] == 3
            and p["dil_h"] == p["dil_w"] == 1 and 4 <= p["in_c"] <= HWC3_PACKED_MAX_C
            and p["stride_w"] in (1, 2) and p["stride_h"] >= 1 and (p["in_w"] * p["in_c"]) % 4 == 0
            and 0 <= p["pad_top"] <= 2 and 0 <= p["pad_left"] <= 2):
        return False
    geo = _hwc3_packed_geometry(p)   # the copy's ladders: <= 16 chunks a row, one unit a gap
    if geo["row"] > 512 or geo["g"] > 32:
        return False
    if p["out_h"] * p["out_w"] > HWC3_PACKED_MAX_PIXELS:
        io = p["in_h"] * p["in_w"] * p["in_c"] + p["out_h"] * p["out_w"] * p["out_c"]
        if io + geo["scratch"] > room:
            return False
    return (p["stride_h"], p["stride_w"]) != (1, 1) or not _depthwise_plane_pays(p, fast)


def _hwc3_packed_records(taps: np.ndarray, bias: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                         p: dict) -> np.ndarray:
    """[9][C] int8 taps, folded biases and fast output constants (shift bytes b < 32) ->
    mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast's int32 stream. The header
    (HWC3_PACKED_HEADER words; offsets in bytes, _hwc3_packed_geometry):
    0-14 the taps of a pair's block from A's window (stride 2: 3 rows x 5 columns, ky * P +
    j * C; stride 1: 3 x 4), 15 the pair step of the window (from its last group, at C - 4:
    2 * sw * C - (C - 4)), 16 the outputs' step against it (2 * C - 2 * sw * C), 17 and 18 the
    same from a row's last pair to the next row's first, 19 sh * P, 20 C, 21 win0, 22 pairs per
    row, 23 the phantom sink's offset, 24-31 the copy (32-byte zero-point units before the first
    row, in_h, the first gap, P, the bottom rows' start and units, the first row's start, g),
    32 (in_w * C) / 32, 33 the remaining words, 34 a row's last group from its first window,
    35-39 zero, 40-47 the input zero point in every byte.
    Then per group of 4 channels at offsets 0, 4, ..., and C - 4 last (a channel tail computes
    C-4 .. C4-5 twice: same bytes): 2 * bias of its 4 channels twice; its 9 taps' doubled
    weights as int16 pairs (w0, w2) (w1, w3) in the assembly's load order (stride 2 per row
    columns 0, 2, 1; stride 1: 0, 1, 2); per channel multiplier, round (fast_requant_round), b,
    the last b word with the step to the next group's offset in bits 8 and up (0: the last)."""
    c, sh, sw = p["in_c"], p["stride_h"], p["stride_w"]
    geo = _hwc3_packed_geometry(p)
    pitch, n = geo["pitch"], geo["n"]
    cols = 5 if sw == 2 else 4
    tab = [ky * pitch + j * c for ky in range(3) for j in range(cols)]
    tab += [0] * (15 - len(tab))
    pair_step = 2 * sw * c - (c - 4)
    d_step = 2 * c - 2 * sw * c
    # a row's last pair's last group (window (n-1) * 2sw * C on, group C-4) -> next row's first
    row_step = sh * pitch - (n - 1) * 2 * sw * c - (c - 4)
    row_d = (p["out_w"] * c - sh * pitch) - (n - 1) * d_step
    zp = (-p["input_offset"]) & 0xFF
    units = lambda b: max(1, (b + 31) // 32)   # noqa: E731
    hdr = tab + [pair_step, d_step, row_step, row_d, sh * pitch, c, geo["win0"], n, geo["junk"],
                 units(geo["top"]), p["in_h"], geo["top"] + geo["row"], pitch, geo["top"] + p["in_h"] * pitch,
                 units(geo["bottom"] * pitch), geo["top"], geo["g"],
                 geo["row"] // 32, (geo["row"] % 32) // 4, (n - 1) * 2 * sw * c + c - 4, 0, 0, 0, 0, 0]
    hdr += [zp * 0x01010101 - (1 << 32 if zp >= 128 else 0)] * 8
    assert len(hdr) == HWC3_PACKED_HEADER
    offs = list(range(0, c - 4, 4)) + [c - 4]
    order = [(ky, kx) for ky in range(3) for kx in ((0, 2, 1) if sw == 2 else (0, 1, 2))]
    w2 = 2 * taps.astype(np.int64).reshape(3, 3, c)
    rnd = q.fast_requant_rounds(shift, p["output_offset"])
    out = list(hdr)
    for i, o in enumerate(offs):
        ch = slice(o, o + 4)
        b2 = 2 * bias[ch].astype(np.int64)
        out += list(b2) * 2
        for ky, kx in order:
            w = w2[ky, kx, ch]
            out += np.array([w[0], w[2], w[1], w[3]], np.int64).astype(np.int16).view(np.int32).tolist()
        step = offs[i + 1] - o if i + 1 < len(offs) else 0
        for l in range(4):
            out += [int(multiplier[o + l]), int(rnd[o + l]), int(shift[o + l]) | (step << 8 if l == 3 else 0)]
    return np.array(out, np.int64).astype(np.int32)


def _hwc3_packed_step(op, p: dict, x, y, taps: np.ndarray, dsp_bias, rq, macs: int) -> Step:
    """mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast (_hwc3_packed_takes): the input copied
    once into a zero-point padded scratch, then every pair of the plane in one assembly call
    (small_gray16_chain's 8x8x12 at stride 2 on QEMU's M7: see the kernel's comment)."""
    packed = ConstArray(f"op{op.index}_packed", "int32_t",
                        _hwc3_packed_records(taps, dsp_bias, rq[0].values, rq[1].values, p))
    return Step(op, "mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast", "mcuf_conv_params", p,
                [("in", x.index), ("const", packed), ("out", y.index), ("scratch",)],
                [x.index], y.index, macs, [packed])


DW3_HWC_MAX_INPUT = 32768   # bytes: larger 3x3 depthwise inputs take an in-place capable kernel


def _depthwise_plane_pays(p: dict, fast: bool) -> bool:
    """3x3: the plane kernel (one gathered channel plane, SMLAD over neighbouring taps; it also
    takes depth multipliers) unless the HWC kernel's two-pixel 3x3 assembly (fast output stage
    only) is cheaper: at stride 2 with 8 channels or more (at other strides other than 1: 16 or more, or 8 or 12), or at 16
    channels or more on an output plane of at most 256 pixels (36 with a channel tail). Measured per layer on QEMU's M7 (instructions per
    MAC, every 3x3 depthwise of vww96_q, the ShuffleNets, torch_layout_96_nchw and the legacy
    uint8 MobileNet on each kernel, dw5): at stride 2 the HWC kernel 2.88-2.98 at 16-128
    channels (2.99 on ShuffleNet V1's 24x24x30, its 2-channel tail on two lanes; 3.12 on four), the plane kernel 5.4 on a
    48x48 input, 5.9 on 24x24, 7.1 on 12x12, 10.8 on 6x6 (8.7 at 12 channels on 8x8); at
    stride 1 the HWC kernel 2.66-2.72 on 3x3, 6x6 and 12x12 planes at 64-256 channels and 2.80
    at 24 on 12x12, the plane kernel 2.94 on 12x12, 3.86 on 6x6 and 9.35 on 3x3 but 2.54-2.65
    on 24x24 and 48x48 planes (8 and 32 channels), and 2.94 on ShuffleNet V1's 12x12x30.
    Inputs over DW3_HWC_MAX_INPUT bytes need a kernel that can run
    in place (the planner's in-place depthwise under --ram-limit), and such tensors are the ones
    that set a MobileNet's arena peak (V2 96x96: 48x48x48 at stride 2): the plane kernel
    (channel_planar), or at stride 2 the HWC kernel (depthwise_conv_hwc_s8_dsp_in_place)."""
    if p["depth_multiplier"] != 1 or p["in_c"] < 8 or not fast:
        return True
    if (p["in_h"] * p["in_w"] * p["in_c"] > DW3_HWC_MAX_INPUT
            and not depthwise_conv_hwc_s8_dsp_in_place(p)):
        return True
    if (p["stride_h"], p["stride_w"]) == (2, 2):
        # 9-15 channels with a tail (C % 4) at stride 2: the HWC kernel too, its channel tail
        # included (QEMU's M7, instructions per MAC, HWC vs the K x K plane kernel's pair run:
        # 9 channels on 48x48 3.65 vs 3.92, 10 3.28 vs 3.92, 11 3.34 vs 3.92, 13 3.38 vs 3.92,
        # 14 3.13 vs 3.92, 15 3.19 vs 3.92; 13 on 24x24 3.49 vs 4.20; 9 on 7x7 5.0 vs 7.4; 4k + 1
        # channels since on their own entry, _hwc_depthwise_kernel: 13 on 48x48 3.07)
        return False
    if (p["stride_h"], p["stride_w"]) != (1, 1):
        return p["in_c"] < 16 and p["in_c"] % 4 != 0
    # a channel tail (C % 4) takes the HWC kernel's C path per pixel: 5.2 on ShuffleNet V1's
    # 12x12x30 (plane 3.37), so such layers keep the old 36-pixel limit
    return p["in_c"] < 16 or p["out_h"] * p["out_w"] > (256 if p["in_c"] % 4 == 0 else 36)


def _hwc_depthwise_kernel(p: dict, fast: bool) -> str:
    """The entry point of the HWC depthwise kernel for a layer: undilated 5x5 and 7x7 layers
    with at least 4 channels on the fast output stage have their own (the two-pixel K x K
    assembly, 1.9 KB and 3.4 KB of code a model links only if it calls them), and so have
    undilated 3x3 stride-2 layers of 4k + 1 channels (k >= 1; the one-lane channel tail)."""
    k = p["k_h"]
    if fast and k == p["k_w"] and k in (5, 7) and (p["dil_h"], p["dil_w"]) == (1, 1) and p["in_c"] >= 4:
        return f"mcuf_depthwise_conv_hwc_{k}x{k}_s8_dsp_fast"
    if (fast and (k, p["k_w"], p["dil_h"], p["dil_w"], p["stride_w"]) == (3, 3, 1, 1, 2)
            and p["in_c"] > 4 and p["in_c"] % 4 == 1):
        # 4k + 1 channels at stride 2: the channel tail's pairs on one lane (QEMU's M7, the
        # cliff sweep's 48x48x13: 3.38 -> 3.07 instructions per MAC), an entry point of its own
        # (its ~300 bytes of code linked only by models with such a layer)
        return "mcuf_depthwise_conv_hwc_3x3_tail1_s8_dsp_fast"
    return "mcuf_depthwise_conv_hwc_s8_dsp" + "_fast" * fast


def _hwc_depthwise_filter(taps: np.ndarray, c4: int) -> np.ndarray:
    """[tap][C] int8 -> mcuf_depthwise_conv_hwc_s8_dsp's int16 [C4 / 4][tap][w0, w2, w1, w3],
    doubled (zero weights beyond C)."""
    t, c = taps.shape
    w = np.zeros((t, c4), np.int16)
    w[:, :c] = 2 * taps.astype(np.int16)   # doubled: the kernel accumulates 2 * acc
    return w.reshape(t, c4 // 4, 4)[:, :, [0, 2, 1, 3]].transpose(1, 0, 2).reshape(-1)


def _hwc_depthwise_weights(taps: np.ndarray, rq: list[ConstArray], dsp_bias: np.ndarray, p: dict,
                           fast: bool) -> np.ndarray:
    """The filter constant of mcuf_depthwise_conv_hwc_s8_dsp (int16): [tap][C] int8 taps as
    _hwc_depthwise_filter; on the _fast entry points (fast) then their assembly's output table
    (_hwc_out_table: biases and output constants per 4 channels) and, with a channel tail
    (C % 4, C > 4), the last 4 channels' weights and table (the tail as one more group)."""
    c = p["in_c"]
    c4 = (c + 3) // 4 * 4
    w16 = _hwc_depthwise_filter(taps, c4)
    if not fast:
        return w16
    m, sh, b2 = rq[0].values, rq[1].values, 2 * dsp_bias.astype(np.int64)
    parts = [w16, _hwc_out_table(m, sh, b2, p["output_offset"], c4)]
    if c % 4 and c > 4:
        parts += [_hwc_depthwise_filter(taps[:, c - 4:], 4),
                  _hwc_out_table(m[c - 4:], sh[c - 4:], b2[c - 4:], p["output_offset"], 4)]
    return np.concatenate(parts)


def _hwc_out_table(multiplier: np.ndarray, shift: np.ndarray, bias2: np.ndarray, output_offset: int,
                   c4: int) -> np.ndarray:
    """The biases and fast output constants of mcuf_depthwise_conv_hwc_s8_dsp's _fast entry
    points, as the int16 halves (little-endian) of int32 records, one per group of 4 channels:
    the 4 doubled biases, then per channel [multiplier, round, shift byte b], round =
    (2 * output_offset + 1) << b (fast_requant_round; zeros beyond C); then 4 zero words (the
    assembly loads the next group's biases after each group, the last one's included). The
    assembly loads the biases with one LDM per pixel and one channel's constants with one LDM,
    where it computed round per channel. A layer with a channel tail (C % 4, C > 4) then has
    the last 4 channels' group: their weights as _hwc_depthwise_filter, then this table of theirs."""
    m, b, n = multiplier.astype(np.int64), shift.astype(np.int64), len(multiplier)
    t = np.zeros((c4 // 4 + 1, 16), np.int64)
    bias = np.zeros(c4, np.int64)
    bias[:n] = bias2
    out = np.zeros((c4, 3), np.int64)
    out[:n, 0] = m
    out[:n, 1] = q.fast_requant_rounds(b, output_offset)
    out[:n, 2] = b
    t[:-1, :4] = bias.reshape(-1, 4)
    t[:-1, 4:] = out.reshape(-1, 12)
    return t.reshape(-1)[:-12].astype("<i4").view("<i2").astype(np.int16)


def _strided_1x1(p: dict, grouped: bool, pointwise: bool, fast: bool) -> bool:
    """Does mcuf_conv_1x1_strided_s8_dsp_fast take the CONV_2D: a 1x1 at a stride > 1 (or
    _odd_depth_1x1's stride-1 layers), ungrouped, 2 <= in_c, in_c rounded up to 4 at most
    PACKED16_MAX_IN_C, the fast output stage, no padding before the first row / column and
    every input pixel it reads (oy * stride_h, ox * stride_w) inside the plane. It runs the
    stride-1 kernel's packed records (zero weights up to a multiple of 4 inputs) on the
    subsampled pixels: in_c 8 / 16 at stride 2 went from 4.3-7.0 instructions per MAC on
    mcuf_conv_shallow_s8_dsp to 1.2-2.4 (benchmarks/cliff_sweep.py on QEMU's M7)."""
    return (fast and p["k_h"] == p["k_w"] == 1 and not grouped
            and (not pointwise or _odd_depth_1x1(p))
            and 2 <= p["in_c"] and (p["in_c"] + 3) // 4 * 4 <= PACKED16_MAX_IN_C
            and p["pad_top"] == p["pad_left"] == 0
            and (p["out_h"] - 1) * p["stride_h"] < p["in_h"] and (p["out_w"] - 1) * p["stride_w"] < p["in_w"])


def _odd_depth_1x1(p: dict) -> bool:
    """The stride-1 pointwise layers (ungrouped) over an input depth that is not a multiple
    of 4 that mcuf_conv_1x1_strided_s8_dsp_fast takes from _grouped_dsp_step (one group, K4
    padded): at least 2 output pixels (a 1x1 plane stays there) and at least 24 outputs.
    Measured on QEMU's M7 (cliff_sweep.py's layers, instr/MAC, this kernel against
    mcuf_conv_grouped_direct_packed_s8_dsp_fast): in_c 2/3/5/13 x 32 outputs 5.76/3.84/2.86/1.52
    against 6.16/4.11/3.30/1.90; but in_c 2/3/5 x 8 7.66/5.11/3.77 against 6.65/4.46/3.61 and
    x 13 likewise (this kernel's per-pixel cost weighs more at few outputs; the crossing is
    near 23 outputs at in_c 3); in_c 13 x 8/13 about even (1.99/2.07 against 2.05/2.11): left there.
    lower_conv asks _few_1x1_takes first, so in_c 2 and 3 reach this kernel only where the
    few-channel kernels do not go (out_c not split in equal blocks of at most 16, a folded PAD)."""
    return p["in_c"] % 4 != 0 and p["out_h"] * p["out_w"] >= 2 and p["out_c"] >= 24


LUT_1X1_MAX_BYTES = 8192   # the table's flash budget: out_c <= 32 (256 bytes per output channel,
                           # against about 10 for the weights and output constants it replaces)


def _lut_1x1(p: dict, grouped: bool) -> bool:
    """Does mcuf_conv_1x1_lut_s8_dsp take the CONV_2D: a 1x1 over ONE input channel (groups 1),
    any stride, no padding before the first row / column (SAME and VALID 1x1 have none; a
    folded PAD may add some), every output reading an input pixel inside the plane, and a
    table of 256 * out_c bytes within LUT_1X1_MAX_BYTES. One MAC per output leaves nothing
    for a MAC kernel to amortize its requantization over (18-41 instructions per MAC on the
    grouped and shallow kernels, benchmarks/results_cliff_sweep.md); the table copy is about
    1-2 instructions per output (out_c 8-32) at 256 flash bytes per output channel."""
    return (p["k_h"] == p["k_w"] == 1 and p["in_c"] == p["filter_in_c"] == 1 and not grouped
            and p["pad_top"] == p["pad_left"] == 0
            and (p["out_h"] - 1) * p["stride_h"] < p["in_h"] and (p["out_w"] - 1) * p["stride_w"] < p["in_w"]
            and 256 * p["out_c"] <= LUT_1X1_MAX_BYTES)


def _lut_1x1_table(p: dict, weights: np.ndarray, bias: np.ndarray, multiplier: np.ndarray,
                   shift: np.ndarray) -> np.ndarray:
    """The table of mcuf_conv_1x1_lut_s8_dsp, int8 [256][OC]: row r, channel c is TFLite's
    reference integer conv (reference_integer_ops::ConvPerChannel) for the input byte
    x = (int8_t)r: MultiplyByQuantizedMultiplier(bias[c] + (x + input_offset) * weights[c],
    multiplier[c], shift[c]) + output_offset, clamped to [act_min, act_max].
    weights: [OC] int8 (the 1x1 filter over one channel); bias: [OC] int32; multiplier,
    shift: [OC] int32 (TFLite's convention: shift > 0 is a left shift)."""
    x = np.arange(256, dtype=np.int64)
    x = np.where(x < 128, x, x - 256)
    out = np.empty((256, p["out_c"]), np.int64)
    for c in range(p["out_c"]):
        m, sh = int(multiplier[c]), int(shift[c])
        accs = (int(bias[c]) + (x + p["input_offset"]) * int(weights[c])).tolist()
        out[:, c] = [q.multiply_by_quantized_multiplier(a, m, sh) for a in accs]
    return np.clip(out + p["output_offset"], p["act_min"], p["act_max"]).astype(np.int8)


def _depthwise_lut_1x1(p: dict) -> str | None:
    """The table kernel of a 1x1 DEPTHWISE_CONV_2D (one MAC per output, as _lut_1x1): over ONE
    input channel (any depth multiplier: a CONV_2D over one channel) mcuf_conv_1x1_lut_s8_dsp,
    at depth multiplier 1 mcuf_depthwise_conv_1x1_lut_s8_dsp; no padding before the first row
    / column, every pixel read inside the plane, the table (256 * out_c bytes) within
    LUT_1X1_MAX_BYTES; else None. Measured on QEMU's M7 (1x1 depthwise, 2,304-73,728 MACs):
    the HWC kernel took 42-262 instructions per MAC at multiplier 1, the grouped one 26-66 at
    multipliers 2 and 8; the tables 5-10 at multiplier 1 (4.5-5 from 8 channels) and about
    1.3 over one channel with 8 outputs."""
    if not (p["k_h"] == p["k_w"] == 1 and p["pad_top"] == p["pad_left"] == 0
            and (p["out_h"] - 1) * p["stride_h"] < p["in_h"] and (p["out_w"] - 1) * p["stride_w"] < p["in_w"]
            and 256 * p["out_c"] <= LUT_1X1_MAX_BYTES):
        return None
    return "mcuf_conv_1x1_lut_s8_dsp" if p["in_c"] == 1 else "mcuf_depthwise_conv_1x1_lut_s8_dsp"


def _lut_1x1_step(op, p: dict, x, y, rows: np.ndarray, bias: np.ndarray, mult, shift, macs: int) -> Step:
    """mcuf_conv_1x1_lut_s8_dsp (_lut_1x1) on its table."""
    lut = ConstArray(f"op{op.index}_lut", "int8_t",
                     _lut_1x1_table(p, rows[:, 0], bias, mult.values, shift.values).reshape(-1))
    return Step(op, "mcuf_conv_1x1_lut_s8_dsp", "mcuf_conv_params", p,
                [("in", x.index), ("const", lut), ("out", y.index)], [x.index], y.index, macs, [lut])


def _depthwise_lut_1x1_step(op, p: dict, x, y, kernel: str, taps: np.ndarray, bias: np.ndarray, mult, shift,
                            macs: int) -> Step:
    """_depthwise_lut_1x1's kernel on its table: taps [1][OC]; the reference depthwise conv's
    output channel c reads input channel c // M (M: depth multiplier), so the table [256][OC]
    is regrouped to [C][256][M] (over one input channel it stays [256][OC])."""
    table = _lut_1x1_table(p, taps[0], bias, mult.values, shift.values)
    if kernel == "mcuf_depthwise_conv_1x1_lut_s8_dsp":
        m = p["depth_multiplier"]
        table = table.reshape(256, p["in_c"], m).transpose(1, 0, 2)
    lut = ConstArray(f"op{op.index}_lut", "int8_t", np.ascontiguousarray(table).reshape(-1))
    return Step(op, kernel, "mcuf_conv_params", p,
                [("in", x.index), ("const", lut), ("out", y.index)], [x.index], y.index, macs, [lut])


