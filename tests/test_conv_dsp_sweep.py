"""The DSP convolution kernels' assembly paths on real cores (QEMU's Cortex-M7 and M4), against
TFLite's reference, over a shape sweep in one firmware image per core: the packed 1x1 kernel
(mcuf_conv_1x1_shallow_s8_dsp_fast, int16 weights up to 64 input channels, its 2-pixel run entered at
every step count 1..16 and its 1-pixel run (odd last pixels, 1x1 planes) at most;
mcuf_conv_1x1_s8_dsp_fast deeper: its 2-pixel and 1-pixel assembly runs at every step remainder;
odd output-channel and pixel counts), the
RGB stem (mcuf_conv_shallow_stem_s8_dsp_fast: odd and even widths, SAME / VALID, out_c 4..16) and the
grayscale stem on the same kernel,
and, beside them, the general copies (clamped activations, left-shift channels), the grouped
kernel and 1x1 over channel counts that are not a multiple of 4; FULLY_CONNECTED on its DSP
kernel (odd batches and units, depths off a multiple of 4). Every output byte of two
inputs per model is compared; the host build of the same C is checked model by model in
tests/test_single_ops.py."""
import zlib

import numpy as np
import pytest

import opmodels
from mve_sweep import run_on_m55, sweep_input
from runtime.interpreter import ReferenceModel

# (k, stride, padding, in_c, out_c, groups, h, w, act, scale_span)
NARROW = (1e-3, 1e-2)        # every channel gets fast constants
WIDE = (1e-4, 1e-1)          # some channels need left shifts: the general copies
SWEEP = [
    # 1x1, every step remainder of the 4-step unrolled run, odd and even OC and pixel counts
    (1, 1, "VALID", 4, 6, 1, 3, 3, "NONE", NARROW),
    (1, 1, "VALID", 8, 16, 1, 4, 5, "NONE", NARROW),
    (1, 1, "VALID", 12, 7, 1, 3, 5, "NONE", NARROW),
    (1, 1, "VALID", 16, 9, 1, 2, 3, "NONE", NARROW),
    (1, 1, "VALID", 20, 2, 1, 5, 1, "NONE", NARROW),
    (1, 1, "VALID", 28, 11, 1, 3, 3, "NONE", NARROW),
    (1, 1, "VALID", 32, 32, 1, 3, 4, "NONE", NARROW),
    (1, 1, "VALID", 36, 5, 1, 1, 3, "NONE", NARROW),
    (1, 1, "VALID", 64, 13, 1, 3, 3, "NONE", NARROW),
    (1, 1, "VALID", 60, 3, 1, 2, 2, "NONE", NARROW),
    # deeper than 64: int8 weights (mcuf_conv_1x1_s8_dsp_fast), 4-step loop with remainders
    (1, 1, "VALID", 68, 6, 1, 3, 3, "NONE", NARROW),
    (1, 1, "VALID", 100, 7, 1, 2, 3, "NONE", NARROW),
    (1, 1, "VALID", 128, 4, 1, 1, 2, "NONE", NARROW),
    # 1x1 planes (squeeze-excite): one pixel, the 1-pixel run only
    (1, 1, "VALID", 16, 4, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 8, 17, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 40, 1, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 4, 2, 1, 1, 1, "NONE", NARROW),
    # more 1x1 planes up to 64 channels (mcuf_conv_1x1_shallow_s8_dsp_fast's one-pixel run,
    # entered at step counts 6, 8, 11, 14, 15) and one deeper (int8 records, 1-pixel run)
    (1, 1, "VALID", 24, 8, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 32, 10, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 44, 6, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 56, 3, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 60, 24, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 72, 5, 1, 1, 1, "NONE", NARROW),
    # the general 1x1 copy and the grouped kernel (clamps, left shifts, in_c % 4 != 0, groups)
    (1, 1, "VALID", 12, 7, 1, 3, 3, "RELU6", NARROW),   # ReLU6 inside int8: _fast + the clamp epilogue
    (1, 1, "VALID", 12, 7, 1, 3, 3, "RELU6", dict(scale_span=(1e-3, 0.3), wmax=2, bmax=20, out_scale=0.01)),
    # ... with left shifts: the general copy
    (1, 1, "VALID", 24, 9, 1, 3, 3, "NONE", WIDE),
    (1, 1, "VALID", 6, 5, 1, 3, 3, "NONE", NARROW),
    (1, 1, "VALID", 15, 8, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 12, 9, 3, 3, 3, "NONE", NARROW),
    (3, 1, "SAME", 8, 8, 4, 5, 5, "NONE", NARROW),
    (1, 1, "VALID", 80, 32, 2, 3, 3, "NONE", NARROW),   # deep groups on a 3x3 plane: the im2col kernel
    # the RGB stem: widths odd / even, SAME / VALID, out_c 4..16 (ReLU6: + the clamp epilogue); out_c 6: general
    (3, 2, "SAME", 3, 8, 1, 11, 9, "NONE", NARROW),
    (3, 2, "SAME", 3, 4, 1, 8, 10, "NONE", NARROW),
    (3, 2, "VALID", 3, 12, 1, 9, 12, "NONE", NARROW),
    (3, 2, "SAME", 3, 16, 1, 7, 7, "NONE", NARROW),
    (3, 2, "VALID", 3, 8, 1, 3, 3, "NONE", NARROW),
    (3, 2, "SAME", 3, 8, 1, 2, 2, "NONE", NARROW),
    (3, 2, "SAME", 3, 6, 1, 9, 9, "NONE", NARROW),
    (3, 2, "SAME", 3, 8, 1, 9, 9, "RELU6", NARROW),
    # the grayscale stem (1 input channel): the same kernel, 5 steps
    (3, 2, "SAME", 1, 8, 1, 16, 16, "NONE", NARROW),
    (3, 2, "SAME", 1, 4, 1, 9, 11, "NONE", NARROW),
    (3, 2, "VALID", 1, 12, 1, 10, 7, "NONE", NARROW),
    (3, 2, "SAME", 1, 16, 1, 1, 1, "NONE", NARROW),
    # im2col convolution
    (3, 1, "SAME", 12, 5, 1, 5, 4, "NONE", NARROW),
    # ... mcuf_conv_im2col_x2_s8_dsp_fast (doubled fields, the assembly channel loop; the
    # generator's _im2col_x2_pays): odd pixel counts, an odd last channel, one output pixel, 5x5
    # at stride 2
    (3, 1, "SAME", 3, 8, 1, 5, 7, "NONE", NARROW),
    (3, 1, "VALID", 3, 9, 1, 4, 6, "NONE", NARROW),
    (3, 1, "VALID", 3, 8, 1, 3, 3, "NONE", NARROW),
    (5, 2, "SAME", 3, 9, 1, 9, 8, "NONE", NARROW),
]


# one-pixel 1x1 planes over 4 and 8 inputs on mcuf_conv_1x1_one_pixel_in{4,8}_s8_dsp_fast: output
# counts entering the first pass of the unrolled channel loop at every kind of place (in4: 16 a
# pass, in8: 8) and over several passes, per-channel and per-tensor constants (one scale), and
# biases near the bound of the doubled accumulator
ONE_PIXEL_SWEEP = [
    (1, 1, "VALID", 4, 1, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 4, 16, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 4, 33, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 4, 7, 1, 1, 1, "NONE", (2e-3, 2e-3)),
    (1, 1, "VALID", 8, 1, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 8, 8, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 8, 25, 1, 1, 1, "NONE", NARROW),
    (1, 1, "VALID", 8, 3, 1, 1, 1, "NONE", (3e-3, 3e-3)),
    (1, 1, "VALID", 8, 12, 1, 1, 1, "NONE", dict(scale_span=NARROW, bmax=1 << 27, wmax=127)),
    (1, 1, "VALID", 4, 9, 1, 1, 1, "NONE", dict(scale_span=NARROW, bmax=1 << 27, wmax=127)),
]
ONE_PIXEL = ("mcuf_conv_1x1_one_pixel_in4_s8_dsp_fast", "mcuf_conv_1x1_one_pixel_in8_s8_dsp_fast")

# FULLY_CONNECTED on mcuf_fully_connected_s8_dsp: (batches, in_depth, out_depth, per_channel, act)
FC_SWEEP = [(1, 16, 10, False, "NONE"), (3, 37, 5, False, "RELU"), (4, 8, 6, True, "NONE"),
            (5, 30, 9, False, "NONE"), (2, 3, 1, True, "RELU6"), (1, 256, 4, True, "NONE"),
            (6, 64, 33, True, "NONE")]


def _model(case) -> bytes:
    if len(case) == 5:
        rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
        b, d, u, pc, act = case
        return opmodels.fully_connected_model(rng, batches=b, in_depth=d, out_depth=u, per_channel=pc, act=act)
    k, stride, padding, in_c, out_c, groups, h, w, act, span = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    kw = span if isinstance(span, dict) else dict(scale_span=span)
    return opmodels.conv_model(rng, k=k, stride=stride, padding=padding, dilation=1, in_c=in_c,
                               out_c=out_c, groups=groups, h=h, w=w, act=act, **kw)


@pytest.mark.parametrize("board", ["qemu-mps2-an500", "qemu-mps2-an386"])
def test_conv_dsp_kernels_sweep_on_qemu(board, tmp_path):
    models = []
    for i, case in enumerate(SWEEP + ONE_PIXEL_SWEEP + FC_SWEEP):
        path = tmp_path / f"c{i}.tflite"
        path.write_bytes(_model(case))
        models.append(path)
    mans, outs = run_on_m55(models, tmp_path, kernels="dsp", board_name=board)
    kernels = {m["layers"][0]["kernel"] for m in mans}
    assert {"mcuf_conv_1x1_s8_dsp_fast", "mcuf_conv_1x1_shallow_s8_dsp_fast", "mcuf_conv_1x1_s8_dsp", "mcuf_conv_shallow_stem_s8_dsp_fast",
            "mcuf_conv_shallow_s8_dsp", "mcuf_conv_grouped_s8_dsp_fast",
            "mcuf_conv_grouped_direct_packed_s8_dsp_fast"} <= kernels, kernels
    im2col = [m["layers"][0]["kernel"] for m in mans[len(SWEEP) - 5:len(SWEEP)]]
    assert im2col == ["mcuf_conv_s8_dsp_fast"] + ["mcuf_conv_im2col_x2_s8_dsp_fast"] * 4, im2col
    one = [m["layers"][0]["kernel"] for m in mans[len(SWEEP):len(SWEEP) + len(ONE_PIXEL_SWEEP)]]
    assert one == [ONE_PIXEL[c[3] == 8] for c in ONE_PIXEL_SWEEP], one
    fcs = [m["layers"][0]["kernel"] for m in mans[len(SWEEP) + len(ONE_PIXEL_SWEEP):]]
    assert fcs == ["mcuf_fully_connected_s8_dsp"] * len(FC_SWEEP), fcs
    gray = [m["layers"][0]["kernel"] for c, m in zip(SWEEP, mans) if c[3] == 1 and c[0] == 3]
    assert gray == ["mcuf_conv_shallow_stem_s8_dsp_fast"] * 4, gray
    bad = []
    for case, path, man, got in zip(SWEEP + ONE_PIXEL_SWEEP + FC_SWEEP, models, mans, outs):
        ref = ReferenceModel(path)
        for r, out in enumerate(got):
            want = ref.invoke(sweep_input(man["input"]["bytes"], r)).reshape(-1)
            if out != want.tolist():
                bad.append((case[:9] if len(case) > 5 else case, man["layers"][0]["kernel"], r))
    assert not bad, bad


# mcuf_conv_grouped_1x1_packed_s8_dsp_fast (grouped 1x1, 2 or 3 input channels per group, a
# multiple of 4 outputs per group, >= 2 pixels, fast stage): even and odd pixel counts (the
# last pixel as the pair (P - 2, P - 1)), 2 pixels, 2 blocks per group (forward and backward),
# many groups, a dead channel (multiplier 2^30, b = 0), biases near the fast stage's bound
# (saturating outputs); those with exactly 4 outputs per group and at most 4 groups on
# mcuf_conv_grouped_1x1_oc4_packed_s8_dsp_fast (2, 3 and 4 groups, 2 and 3 inputs per group,
# 2 pixels, even and odd pixel counts, near-bound biases); beside them the layers both leave
# to the direct kernels (1 pixel, 2 outputs per group, 4 inputs per group, left shifts (with a clamp):
# mcuf_conv_grouped_direct[_packed]_s8_dsp[_fast], tests/test_conv_grouped_direct.py) and to
# mcuf_conv_grouped_s8_dsp[_fast] (deep groups on a 3x3 plane, fast, fast + the clamp epilogue,
# and with left shifts and a clamp); a ReLU6 inside int8 on fast constants takes the packed entries
# with the clamp epilogue (mcuf_act_clamp_s8_dsp).
# (k, stride, padding, in_c, out_c, groups, h, w, act, scale_span[, conv_model keywords])
GROUPED_PACKED = "mcuf_conv_grouped_1x1_packed_s8_dsp_fast"
GROUPED_OC4 = "mcuf_conv_grouped_1x1_oc4_packed_s8_dsp_fast"
GROUPED_SWEEP = [
    ((1, 1, "VALID", 12, 16, 4, 4, 4, "NONE", NARROW), GROUPED_OC4),
    ((1, 1, "VALID", 6, 8, 2, 3, 3, "NONE", NARROW), GROUPED_OC4),
    ((1, 1, "VALID", 8, 16, 4, 1, 2, "NONE", NARROW), GROUPED_OC4),
    ((1, 1, "VALID", 6, 24, 3, 3, 1, "NONE", NARROW), GROUPED_PACKED),
    ((1, 1, "VALID", 9, 12, 3, 5, 5, "NONE", NARROW), GROUPED_OC4),
    ((1, 1, "VALID", 30, 40, 10, 2, 3, "NONE", NARROW), GROUPED_PACKED),
    ((1, 1, "VALID", 4, 8, 2, 2, 5, "NONE", NARROW, dict(dead=(1, 6))), GROUPED_OC4),
    ((1, 1, "VALID", 12, 16, 4, 3, 4, "NONE", NARROW, dict(bmax=2**27)), GROUPED_OC4),
    ((1, 1, "VALID", 6, 12, 3, 3, 5, "NONE", NARROW, dict(bmax=2**27)), GROUPED_OC4),
    ((1, 1, "VALID", 15, 20, 5, 2, 2, "NONE", NARROW), GROUPED_PACKED),
    ((1, 1, "VALID", 12, 16, 4, 1, 1, "NONE", NARROW), "mcuf_conv_grouped_direct_packed_s8_dsp_fast"),
    ((1, 1, "VALID", 12, 8, 4, 3, 3, "NONE", NARROW), "mcuf_conv_1x1_few_c3_s8_dsp_fast"),
    ((1, 1, "VALID", 16, 16, 4, 3, 3, "NONE", NARROW), "mcuf_conv_1x1_few_c4_s8_dsp_fast"),
    ((1, 1, "VALID", 12, 16, 4, 3, 3, "RELU6", NARROW), GROUPED_OC4),   # + the clamp epilogue
    ((1, 1, "VALID", 12, 16, 4, 3, 3, "RELU6", (1e-3, 0.3), dict(wmax=2, bmax=20, out_scale=0.01)),
     "mcuf_conv_grouped_direct_s8_dsp"),
    ((1, 1, "VALID", 12, 16, 4, 3, 3, "NONE", (1e-3, 0.3), dict(wmax=2, bmax=20, out_scale=0.01)),
     "mcuf_conv_grouped_direct_s8_dsp"),
    ((1, 1, "VALID", 80, 160, 2, 3, 3, "NONE", NARROW), "mcuf_conv_grouped_s8_dsp_fast"),
    ((1, 1, "VALID", 80, 32, 2, 3, 3, "RELU6", NARROW), "mcuf_conv_grouped_s8_dsp_fast"),   # + the clamp
    ((1, 1, "VALID", 80, 32, 2, 3, 3, "RELU6", (1e-3, 0.3), dict(wmax=2, bmax=20, out_scale=0.01)),
     "mcuf_conv_grouped_s8_dsp"),
    ((1, 1, "VALID", 80, 16, 2, 3, 3, "NONE", (1e-3, 0.3), dict(wmax=2, bmax=20, out_scale=0.01)),
     "mcuf_conv_grouped_s8_dsp"),
]


def _grouped_model(case) -> bytes:
    k, stride, padding, in_c, out_c, groups, h, w, act, span = case[:10]
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    return opmodels.conv_model(rng, k=k, stride=stride, padding=padding, dilation=1, in_c=in_c, out_c=out_c,
                               groups=groups, h=h, w=w, act=act, scale_span=span, **(case[10] if len(case) > 10 else {}))


@pytest.mark.parametrize("board", ["qemu-mps2-an500", "qemu-mps2-an386", "qemu-mps2-an505"])
def test_grouped_1x1_packed_on_qemu(board, tmp_path):
    models = []
    for i, (case, _) in enumerate(GROUPED_SWEEP):
        path = tmp_path / f"g{i}.tflite"
        path.write_bytes(_grouped_model(case))
        models.append(path)
    mans, outs = run_on_m55(models, tmp_path, kernels="dsp", board_name=board)
    assert [m["layers"][0]["kernel"] for m in mans] == [k for _, k in GROUPED_SWEEP]
    bad = []
    for (case, _), path, man, got in zip(GROUPED_SWEEP, models, mans, outs):
        ref = ReferenceModel(path)
        for r, out in enumerate(got):
            want = ref.invoke(sweep_input(man["input"]["bytes"], r)).reshape(-1)
            if out != want.tolist():
                bad.append((case[:9], r, int((np.array(out) != want).sum())))
    assert not bad, bad
