"""Every kernel against TFLite's reference kernels, one op at a time, over the awkward cases:
strides, paddings, dilations, odd channel counts, groups, depth multipliers, per-channel
scales spanning orders of magnitude, and zero points at both ends of the int8 range."""
import json
import zlib

import numpy as np
import pytest

import opmodels
from codegen.verify import verify


def seed(*parts) -> np.random.Generator:
    """A generator seeded from the case's parameters, the same in every run."""
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


def check(write_model, tmp_path, data: bytes, inputs: int = 4, kernels: str = "reference"):
    model = write_model(data)
    res = verify(model, tmp_path / "gen", inputs=inputs, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; first mismatch {res.mismatches[:1]}"
    return json.loads((tmp_path / "gen" / "model.json").read_text())


CONV_CASES = [
    # k, stride, padding, dilation, in_c, out_c, groups, h, w, act
    (1, 1, "SAME", 1, 8, 16, 1, 6, 6, "NONE"),
    (1, 1, "VALID", 1, 5, 7, 1, 5, 5, "RELU6"),
    (1, 2, "SAME", 1, 6, 5, 1, 7, 7, "RELU"),
    (3, 1, "SAME", 1, 3, 8, 1, 9, 9, "RELU6"),
    (3, 2, "SAME", 1, 3, 8, 1, 9, 9, "NONE"),
    (3, 2, "VALID", 1, 5, 6, 1, 10, 10, "RELU"),
    (3, 1, "SAME", 2, 4, 3, 1, 9, 9, "NONE"),
    (3, 1, "VALID", 2, 3, 5, 1, 11, 8, "RELU6"),
    (5, 1, "SAME", 1, 2, 6, 1, 8, 8, "NONE"),
    (5, 2, "SAME", 1, 7, 9, 1, 12, 11, "RELU_N1_TO_1"),
    (5, 2, "VALID", 2, 3, 4, 1, 14, 13, "NONE"),
    (3, 1, "SAME", 1, 6, 6, 2, 7, 7, "NONE"),
    (1, 1, "VALID", 1, 12, 9, 3, 5, 5, "RELU"),
    (3, 2, "SAME", 1, 8, 8, 4, 8, 8, "RELU6"),
    (1, 1, "SAME", 1, 16, 24, 8, 4, 4, "NONE"),
    (3, 2, "SAME", 1, 1, 8, 1, 9, 10, "NONE"),      # the grayscale stem
    (3, 2, "VALID", 1, 3, 12, 1, 8, 11, "NONE"),    # the RGB stem, 4-channel records
    (1, 1, "VALID", 1, 16, 5, 1, 1, 1, "NONE"),     # a 1x1 plane (squeeze-excite)
]


def conv_case(k, stride, padding, dilation, in_c, out_c, groups, h, w, act) -> bytes:
    """One CONV_CASES row as a model, per-channel scales over three orders of magnitude."""
    return opmodels.conv_model(seed(k, stride, padding, dilation, in_c, out_c, groups), k=k,
                               stride=stride, padding=padding, dilation=dilation, in_c=in_c,
                               out_c=out_c, groups=groups, h=h, w=w, act=act, scale_span=(1e-4, 1e-1))


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d(write_model, tmp_path, case):
    k, stride, _, _, in_c, _, groups, _, _, _ = case
    man = check(write_model, tmp_path, conv_case(*case))
    pointwise = k == 1 and stride == 1 and groups == 1
    assert man["layers"][0]["kernel"] == ("mcuf_conv_1x1_s8" if pointwise else "mcuf_conv_s8")


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_optimized(write_model, tmp_path, case):
    """The DSP kernels (intrinsics emulated on the host) give the reference's bytes too."""
    k, stride, _, _, in_c, _, groups, _, _, _ = case
    man = check(write_model, tmp_path, conv_case(*case), kernels="dsp")
    kernel = man["layers"][0]["kernel"]
    if groups == 1 and (k > 1 or stride > 1 or in_c % 4 == 0):
        assert kernel.endswith(("_dsp", "_dsp_fast")), kernel


@pytest.mark.parametrize("zp", [-128, 127])
def test_conv2d_zero_point_extremes(write_model, tmp_path, zp):
    rng = seed("zp", zp)
    data = opmodels.conv_model(rng, k=3, stride=1, padding="SAME", dilation=1, in_c=5, out_c=6,
                               in_zp=zp, scale_span=(1e-5, 1e-1))
    check(write_model, tmp_path, data)


DW_CASES = [
    # k, stride, padding, dilation, in_c, mult, h, w, act
    (3, 1, "SAME", 1, 8, 1, 8, 8, "RELU6"),
    (3, 2, "SAME", 1, 5, 1, 9, 9, "NONE"),
    (3, 2, "VALID", 1, 3, 2, 9, 9, "RELU"),
    (3, 1, "SAME", 2, 4, 2, 10, 10, "NONE"),
    (5, 1, "SAME", 1, 6, 1, 9, 9, "RELU6"),
    (5, 2, "VALID", 1, 3, 1, 11, 11, "NONE"),
    (1, 1, "VALID", 1, 7, 2, 4, 4, "NONE"),
    (3, 1, "VALID", 1, 1, 3, 6, 6, "RELU6"),
]


@pytest.mark.parametrize("k,stride,padding,dilation,in_c,mult,h,w,act", DW_CASES)
def test_depthwise_conv2d(write_model, tmp_path, k, stride, padding, dilation, in_c, mult, h, w, act):
    rng = seed(k, stride, padding, dilation, in_c, mult)
    data = opmodels.depthwise_model(rng, k=k, stride=stride, padding=padding, dilation=dilation,
                                    in_c=in_c, mult=mult, h=h, w=w, act=act, scale_span=(1e-4, 1e-1))
    check(write_model, tmp_path, data)


@pytest.mark.parametrize("k,stride,padding,dilation,in_c,mult,h,w,act", DW_CASES + [
    (3, 1, "SAME", 1, 8, 1, 3, 3, "NONE"), (3, 2, "VALID", 1, 12, 1, 4, 9, "RELU6"),
    (3, 1, "SAME", 2, 16, 1, 7, 7, "RELU"), (3, 1, "SAME", 1, 7, 1, 5, 7, "RELU6"),
    (3, 2, "SAME", 1, 6, 1, 8, 10, "NONE"), (3, 1, "VALID", 1, 3, 1, 6, 5, "NONE"),
    (3, 3, "SAME", 1, 5, 1, 10, 11, "RELU"), (3, 1, "SAME", 1, 9, 1, 1, 1, "NONE"),
    (3, 2, "SAME", 1, 4, 1, 1, 2, "NONE"),
    # the HWC kernel's unrolled 3x3 path: >= 16 channels at stride 2 or on <= 36-pixel planes
    (3, 2, "SAME", 1, 34, 1, 9, 7, "RELU6"), (3, 1, "SAME", 1, 32, 1, 4, 4, "RELU"),
    (3, 2, "VALID", 1, 33, 1, 7, 8, "NONE"), (3, 1, "SAME", 1, 260, 1, 3, 3, "RELU6"),
    (3, 1, "VALID", 1, 40, 1, 5, 6, "NONE")])
def test_depthwise_conv2d_optimized(write_model, tmp_path, k, stride, padding, dilation, in_c, mult, h, w, act):
    rng = seed(k, stride, padding, dilation, in_c, mult, h)
    data = opmodels.depthwise_model(rng, k=k, stride=stride, padding=padding, dilation=dilation,
                                    in_c=in_c, mult=mult, h=h, w=w, act=act, scale_span=(1e-4, 1e-1))
    man = check(write_model, tmp_path, data, kernels="dsp")
    kernel = man["layers"][0]["kernel"]
    if mult == 1:
        assert kernel.endswith(("_dsp", "_dsp_fast")), kernel
    side = (lambda n: -(-n // stride)) if padding == "SAME" else (lambda n: (n - k) // stride + 1)
    if kernel.startswith("mcuf_depthwise_conv_kxk_plane_s8_dsp"):   # 5x5 / 7x7 off the HWC groups, 3x3 stride 2
        assert dilation == 1 and ((k in (5, 7) and (mult > 1 or in_c < 16 or in_c % 4))
                                  or (k == 3 and stride == 2)), kernel
    elif kernel == "mcuf_depthwise_conv_hwc_3x3_tail1_s8_dsp_fast":   # 3x3 stride 2, 4k + 1 channels
        assert (k, stride, dilation, mult) == (3, 2, 1, 1) and in_c % 4 == 1 and in_c >= 5, kernel
    elif kernel == "mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast":   # the small-plane entry
        assert (k, dilation, mult) == (3, 1, 1) and 4 <= in_c <= 16 and side(h) * side(w) <= 64, kernel
    elif k == 3 and dilation == 1 and (mult > 1 or in_c < 16):   # any depth multiplier
        assert kernel.startswith(("mcuf_depthwise_conv_3x3_s8_dsp", "mcuf_depthwise_conv_3x3_packed_s8_dsp")), kernel
    elif k == 3 and dilation == 1:   # the plane kernel or the HWC kernel's 3x3 path (cost rule)
        assert kernel.startswith(("mcuf_depthwise_conv_3x3_s8_dsp", "mcuf_depthwise_conv_3x3_packed_s8_dsp",
                                  "mcuf_depthwise_conv_hwc_s8_dsp")), kernel
    elif mult == 1:
        assert kernel.startswith("mcuf_depthwise_conv_hwc_"), kernel


from test_depthwise_dsp_qemu import DW_DSP_SWEEP  # noqa: E402  (the same sweep on QEMU there)


@pytest.mark.parametrize("k,stride,padding,in_c,mult,h,w,act", DW_DSP_SWEEP)
def test_depthwise_dsp_sweep(write_model, tmp_path, k, stride, padding, in_c, mult, h, w, act):
    rng = seed("dw-sweep", k, stride, padding, in_c, mult, h, w)
    data = opmodels.depthwise_model(rng, k=k, stride=stride, padding=padding, dilation=1,
                                    in_c=in_c, mult=mult, h=h, w=w, act=act, scale_span=(1e-4, 1e-1))
    man = check(write_model, tmp_path, data, kernels="dsp")
    kernel = man["layers"][0]["kernel"]
    assert kernel.endswith(("_dsp", "_dsp_fast")), kernel
    if k > 3 and (mult > 1 or in_c < 16 or in_c % 4):   # the K x K plane kernel
        assert kernel.startswith("mcuf_depthwise_conv_kxk_plane_s8_dsp"), kernel
    elif mult == 1 and k > 3:
        assert kernel.startswith("mcuf_depthwise_conv_hwc_"), kernel


from test_depthwise_dsp_qemu import DW_PLANE_SWEEP, NARROW, sweep_model  # noqa: E402


def _out_pixels(case) -> int:
    k, stride, padding, _, _, h, w = case[:7]
    side = (lambda n: -(-n // stride)) if padding == "SAME" else (lambda n: (n - k) // stride + 1)
    return side(h) * side(w)


@pytest.mark.parametrize("case", [c for c in DW_PLANE_SWEEP if c[7] == "NONE" and c[8] is NARROW
                                  and c[3] * c[4] <= 64 and _out_pixels(c) <= 64],
                         ids=lambda c: "x".join(map(str, c[:8])))
def test_depthwise_plane_packed_host(write_model, tmp_path, case):
    """mcuf_depthwise_conv_3x3_packed_s8_dsp_fast's C path (the host build has no DSP: every
    column through channel_body_packed from the generator's records) equals TFLite's reference;
    the QEMU sweep (test_depthwise_dsp_qemu) runs its assembly on the same models."""
    man = check(write_model, tmp_path, sweep_model(case), kernels="dsp")
    want = ("mcuf_depthwise_conv_kxk_plane_s8_dsp_fast" if case[1] == 2   # stride 2: the K x K plane kernel
            else "mcuf_depthwise_conv_3x3_packed_s8_dsp_fast")
    assert man["layers"][0]["kernel"] == want, man["layers"][0]["kernel"]


from test_depthwise_dsp_qemu import DW_HWCP_PADS, DW_HWCP_SWEEP, HWCP, hwcp_pad_model  # noqa: E402


@pytest.mark.parametrize("case", DW_HWCP_SWEEP, ids=lambda c: "x".join(map(str, c[:8])))
def test_depthwise_hwc3_packed_host(write_model, tmp_path, case):
    """mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast's C path (the host build has no DSP: every
    pixel and group from the generator's records) equals TFLite's reference; the QEMU sweep
    (test_depthwise_dsp_qemu) runs its copy and pair assembly on the same models."""
    man = check(write_model, tmp_path, sweep_model(case), kernels="dsp")
    assert man["layers"][0]["kernel"] == HWCP, man["layers"][0]["kernel"]


from test_conv_dsp_sweep import ONE_PIXEL, ONE_PIXEL_SWEEP, _model as conv_sweep_model  # noqa: E402


@pytest.mark.parametrize("case", ONE_PIXEL_SWEEP, ids=lambda c: f"{c[3]}to{c[4]}-" + ("pc" if c[9] == (1e-3, 1e-2) else "x"))
def test_conv_1x1_one_pixel_host(write_model, tmp_path, case):
    """mcuf_conv_1x1_one_pixel_in{4,8}_s8_dsp_fast's C path (the host build: every output
    channel from the generator's records) equals TFLite's reference; the QEMU sweep
    (test_conv_dsp_sweep) runs its assembly on the same models."""
    man = check(write_model, tmp_path, conv_sweep_model(case), kernels="dsp")
    assert man["layers"][0]["kernel"] == ONE_PIXEL[case[3] == 8], man["layers"][0]["kernel"]


from test_conv_dsp_sweep import SWEEP as CONV_DSP_SWEEP  # noqa: E402


@pytest.mark.parametrize("case", [CONV_DSP_SWEEP[-3], CONV_DSP_SWEEP[-1]], ids=lambda c: "x".join(map(str, c[:5])))
def test_conv_im2col_x2_host(write_model, tmp_path, case):
    """mcuf_conv_im2col_x2_s8_dsp_fast's C channel loop over the doubled fields (the host build,
    without the assembly) equals TFLite's reference; the QEMU sweep (test_conv_dsp_sweep) runs
    the assembly channel loop on the same models."""
    man = check(write_model, tmp_path, conv_sweep_model(case), kernels="dsp")
    assert man["layers"][0]["kernel"] == "mcuf_conv_im2col_x2_s8_dsp_fast", man["layers"][0]["kernel"]


@pytest.mark.parametrize("case", DW_HWCP_PADS, ids=str)
def test_depthwise_hwc3_packed_pads_host(write_model, tmp_path, case):
    """The same behind an explicit PAD folded into the layer (pads of 0 to 2 on each side)."""
    man = check(write_model, tmp_path, hwcp_pad_model(case), kernels="dsp")
    assert [l["kernel"] for l in man["layers"]] == [HWCP], man["layers"]


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("act", ["NONE", "RELU6"])
def test_dead_channels(write_model, tmp_path, kernels, act):
    """Channels with all-zero weights and a bias near 2^30 (as converters leave them) give
    their constant output; the DSP kernels still take the fast output stage."""
    rng = seed("dead", kernels, act)
    for data in [
        opmodels.conv_model(rng, k=3, stride=2, padding="SAME", dilation=1, in_c=3, out_c=8,
                            act=act, dead=(1, 6), scale_span=(1e-5, 1e-1)),
        opmodels.conv_model(rng, k=1, stride=1, padding="SAME", dilation=1, in_c=8, out_c=6,
                            act=act, dead=(0, 3, 5)),
        opmodels.depthwise_model(rng, k=3, stride=1, padding="SAME", dilation=1, in_c=7, mult=1,
                                 act=act, dead=(2, 3))]:
        man = check(write_model, tmp_path, data, kernels=kernels)
        if kernels == "dsp":
            assert man["layers"][0]["kernel"].endswith(("_dsp", "_dsp_fast")), man["layers"][0]["kernel"]


def test_depthwise_3x3_mixes_output_stages_per_channel(write_model, tmp_path):
    """Channels whose multiplier needs no right shift take the general output stage while
    the others keep the fast one, in the same layer; the bytes stay the reference's."""
    from codegen.pipeline import compile_graph
    rng = seed("dw-mixed")
    data = opmodels.depthwise_model(rng, k=3, stride=1, padding="SAME", dilation=1, in_c=24, mult=1,
                                    h=6, w=7, scale_span=(1e-4, 1e-1), out_scale=1e-3)
    model = write_model(data)
    step = compile_graph(model, kernels="dsp").steps[0]
    shifts = next(c for c in step.consts if c.name.endswith("_rq_shift")).values
    assert step.kernel == "mcuf_depthwise_conv_3x3_s8_dsp"
    assert (shifts >= 32).any() and (shifts < 32).any(), shifts   # formula and fast channels
    check(write_model, tmp_path, data, kernels="dsp")


@pytest.mark.parametrize("h,w", [(7, 9), (4, 4)])
def test_depthwise_3x3_hwc_path_mixes_output_stages(write_model, tmp_path, h, w):
    """A layer the HWC kernel's 3x3 path would take by shape, but with formula (left-shift)
    channels beside fast ones: it keeps the plane kernel (the HWC path is in assembly for the
    fast output stage only), and the bytes stay the reference's."""
    from codegen.pipeline import compile_graph
    rng = seed("dw3-hwc-mixed", h)
    data = opmodels.depthwise_model(rng, k=3, stride=2 if h > 4 else 1, padding="SAME", dilation=1,
                                    in_c=38, mult=1, h=h, w=w, scale_span=(1e-4, 1e-1), out_scale=1e-3)
    model = write_model(data)
    step = compile_graph(model, kernels="dsp").steps[0]
    shifts = next(c for c in step.consts if c.name.endswith("_rq_shift")).values
    assert step.kernel == "mcuf_depthwise_conv_3x3_s8_dsp"
    assert (shifts >= 32).any() and (shifts < 32).any(), shifts   # formula and fast channels
    check(write_model, tmp_path, data, kernels="dsp")


@pytest.mark.parametrize("zp", [-128, 127])
def test_optimized_zero_point_extremes(write_model, tmp_path, zp):
    rng = seed("dsp-zp", zp)
    check(write_model, tmp_path, opmodels.conv_model(rng, k=3, stride=2, padding="SAME", dilation=1,
                                                     in_c=8, out_c=7, in_zp=zp, scale_span=(1e-5, 1e-1)),
          kernels="dsp")
    check(write_model, tmp_path, opmodels.conv_model(rng, k=1, stride=1, padding="SAME", dilation=1,
                                                     in_c=12, out_c=9, h=5, w=5, in_zp=zp,
                                                     scale_span=(1e-5, 1e-1)), kernels="dsp")


FC_CASES = [(1, 16, 10, False, "NONE"), (3, 37, 5, False, "RELU"), (1, 64, 7, True, "RELU6"),
            # the DSP kernel: odd batches and units, depths off a multiple of 4, one unit
            (4, 8, 6, True, "NONE"), (5, 30, 9, False, "NONE"), (2, 3, 1, True, "RELU"),
            (1, 256, 4, False, "NONE")]


@pytest.mark.parametrize("batches,in_depth,out_depth,per_channel,act", FC_CASES)
@pytest.mark.parametrize("kernels", ["reference", "dsp", "mve"])
def test_fully_connected(write_model, tmp_path, batches, in_depth, out_depth, per_channel, act, kernels):
    rng = seed(in_depth)
    man = check(write_model, tmp_path, opmodels.fully_connected_model(
        rng, batches=batches, in_depth=in_depth, out_depth=out_depth, per_channel=per_channel, act=act),
        kernels=kernels)
    want = {"reference": "mcuf_fully_connected_s8", "dsp": "mcuf_fully_connected_s8_dsp",
            "mve": "mcuf_fully_connected_s8_dsp"}[kernels]   # no Helium FC: the DSP one
    assert man["layers"][-1]["kernel"] == want


@pytest.mark.parametrize("kind", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("k,stride,padding,act", [(2, 2, "VALID", "NONE"), (3, 1, "SAME", "RELU6"),
                                                  (3, 2, "SAME", "NONE"), (7, 1, "VALID", "RELU")])
def test_pooling(write_model, tmp_path, kind, k, stride, padding, act):
    rng = seed(k * 10 + stride)
    check(write_model, tmp_path, opmodels.pool_model(rng, kind=kind, k=k, stride=stride,
                                                     padding=padding, act=act))


@pytest.mark.parametrize("c", [4, 5, 11])
@pytest.mark.parametrize("k,stride,padding,act", [(2, 2, "VALID", "NONE"), (3, 1, "SAME", "RELU6"),
                                                  (3, 2, "SAME", "NONE"), (7, 1, "VALID", "RELU")])
def test_max_pooling_optimized(write_model, tmp_path, k, stride, padding, act, c):
    """Four channels per SSUB8 + SEL (emulated on the host), odd channel tails."""
    rng = seed("maxdsp", k * 10 + stride, c)
    man = check(write_model, tmp_path, opmodels.pool_model(rng, kind="MAX_POOL_2D", k=k, stride=stride,
                                                           padding=padding, act=act, c=c),
                kernels="dsp")
    assert man["layers"][0]["kernel"] == "mcuf_maxpool_s8_dsp"


@pytest.mark.parametrize("keep_dims", [True, False])
@pytest.mark.parametrize("same_quant", [True, False])
@pytest.mark.parametrize("axes", [(1, 2), (2, 1), (-3, -2)])
def test_mean_hw(write_model, tmp_path, keep_dims, same_quant, axes):
    rng = seed(int(keep_dims) * 2 + int(same_quant))
    check(write_model, tmp_path, opmodels.mean_model(rng, keep_dims=keep_dims, same_quant=same_quant,
                                                     axes=axes))


@pytest.mark.parametrize("keep_dims", [True, False])
@pytest.mark.parametrize("same_quant", [True, False])
@pytest.mark.parametrize("shape,axes", [((4, 9, 64), (-1,)), ((1, 5, 7, 6), (3,)),
                                        ((1, 5, 7, 6), (2, 3)), ((2, 3, 5), (1,)), ((3, 40), (1,))])
def test_mean_other_axes(write_model, tmp_path, keep_dims, same_quant, shape, axes):
    """Layer norm's MEAN over the last axis, and other contiguous axis sets."""
    rng = seed("mean", shape, axes, keep_dims, same_quant)
    check(write_model, tmp_path, opmodels.mean_model(rng, keep_dims=keep_dims, same_quant=same_quant,
                                                     shape=shape, axes=axes), inputs=8)


REDUCE_MAX_CASES = [
    # shape, axes, keep_dims, same_quant, kernels
    ((1, 5, 7, 6), (1, 2), True, True, "reference"),
    ((1, 5, 7, 6), (-3, -2), False, True, "dsp"),
    ((4, 9, 16), (-1,), False, True, "reference"),
    ((3, 40), (1,), True, True, "reference"),
]


@pytest.mark.parametrize("shape,axes,keep_dims,same_quant,kernels", REDUCE_MAX_CASES)
def test_reduce_max(write_model, tmp_path, shape, axes, keep_dims, same_quant, kernels):
    """REDUCE_MAX (mcuf_reduce_max_s8) over H,W and the last axis, keep_dims both ways."""
    rng = seed("reduce_max", shape, axes, keep_dims, same_quant)
    man = check(write_model, tmp_path, opmodels.mean_model(rng, keep_dims=keep_dims, same_quant=same_quant,
                                                           shape=shape, axes=axes, op="REDUCE_MAX"),
                inputs=6, kernels=kernels)
    assert man["layers"][0]["kernel"] == "mcuf_reduce_max_s8"


def test_reduce_max_with_a_requantizing_output_refused(write_model, tmp_path):
    """TFLite's REDUCE_MAX fails at Eval when the output's scale differs from the input's."""
    import subprocess
    import sys
    model = write_model(opmodels.mean_model(seed("rmaxq"), keep_dims=True, same_quant=False,
                                            shape=(3, 40), axes=(1,), op="REDUCE_MAX"))
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "emit", str(model), "-o", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert all(w in lines[0] for w in ("#0 REDUCE_MAX", "output 't2'", "requires them equal", "re-convert"))


@pytest.mark.parametrize("kernels", ["reference", "dsp", "mve"])
@pytest.mark.parametrize("act", ["NONE", "RELU6"])
def test_add(write_model, tmp_path, act, kernels):
    rng = seed(3)
    man = check(write_model, tmp_path, opmodels.add_model(rng, act=act), kernels=kernels)
    assert man["layers"][-1]["kernel"] == {"reference": "mcuf_add_s8", "dsp": "mcuf_add_s8_dsp",
                                           "mve": "mcuf_add_s8_mve"}[kernels]


@pytest.mark.parametrize("shape_a,shape_b,const_b,act", [
    ((4, 9, 64), (4, 9, 1), False, "NONE"),     # layer norm: x - mean as x + (-mean)
    ((4, 9, 1), (), True, "NONE"),              # + epsilon, a constant scalar
    ((1, 5, 5, 7), (7,), True, "RELU6"),        # + a constant per-channel row
    ((1, 3, 4, 5), (1, 3, 1, 5), True, "RELU"),
])
@pytest.mark.parametrize("kernels", ["reference", "dsp", "mve"])
def test_add_broadcasting(write_model, tmp_path, shape_a, shape_b, const_b, act, kernels):
    data = opmodels.add_broadcast_model(seed("addb", shape_a, shape_b), shape_a=shape_a,
                                        shape_b=shape_b, const_b=const_b, act=act)
    man = check(write_model, tmp_path, data, inputs=6, kernels=kernels)
    assert man["layers"][-1]["kernel"] == {"reference": "mcuf_add_broadcast_s8", "dsp": "mcuf_add_s8_dsp",
                                           "mve": "mcuf_add_s8_dsp"}[kernels]   # no broadcasting Helium ADD


@pytest.mark.parametrize("outer,depth,scale,beta", [(1, 10, 0.1, 1.0), (3, 17, 0.05, 1.0),
                                                    (2, 100, 0.2, 1.0), (1, 4, 0.02, 0.5),
                                                    (1, 1000, 0.1, 1.0), (1, 300, 0.01, 1.0),
                                                    (4, 64, 1.0, 1.0), (1, 256, 0.3, 0.7)])
def test_softmax(write_model, tmp_path, outer, depth, scale, beta):
    """Wide rows take exp() from the generator's 256-entry table (softmax_exp_table, a
    Python port of the kernel's fixed-point exp); TFLite's bytes either way."""
    rng = seed(depth, scale)
    man = check(write_model, tmp_path, opmodels.softmax_model(rng, outer=outer, depth=depth,
                                                              input_scale=scale, beta=beta), inputs=8)
    table = outer * depth >= 64
    assert man["layers"][-1]["kernel"] == "mcuf_softmax_s8" + "_table" * table


@pytest.mark.parametrize("lead,depth", [((4, 2, 9), 9), ((2, 3), 5), ((1, 2, 3, 4), 7)])
def test_softmax_last_axis_of_any_rank(write_model, tmp_path, lead, depth):
    """Attention's SOFTMAX over [batch, heads, queries, keys]."""
    check(write_model, tmp_path, opmodels.softmax_model(seed("smx", lead), outer=None, depth=depth,
                                                        input_scale=0.05, lead=lead), inputs=6)


@pytest.mark.parametrize("pads", [((0, 1), (0, 1)), ((1, 1), (1, 1)), ((2, 0), (1, 3))])
def test_pad_folded_into_conv(write_model, tmp_path, pads):
    rng = seed(sum(map(sum, pads)))
    man = check(write_model, tmp_path, opmodels.pad_then_conv_model(rng, pads=pads))
    assert [l["op"] for l in man["layers"]] == ["CONV_2D"], "PAD should be folded into the conv"


def test_pad_standalone(write_model, tmp_path):
    rng = seed(5)
    man = check(write_model, tmp_path, opmodels.pad_model(rng, pads=[[0, 0], [1, 2], [0, 1], [2, 1]]))
    assert man["layers"][0]["kernel"] == "mcuf_pad_s8"


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("op", ["QUANTIZE", "RELU", "RELU6"])
def test_requantize(write_model, tmp_path, op, kernels):
    """The DSP set takes the generator's 256-entry table of the reference arithmetic."""
    rng = seed(len(op))
    man = check(write_model, tmp_path, opmodels.requantize_model(rng, op=op), kernels=kernels)
    assert man["layers"][-1]["kernel"] == {"reference": "mcuf_requantize_s8", "dsp": "mcuf_lut_s8"}[kernels]


# --- MobileNet V3: HARD_SWISH (a table built by the generator) and broadcasting MUL ---

HARD_SWISH_CASES = [
    # input scale, input zero point, output scale, output zero point
    (0.02, 0, 0.02, -10), (0.05, -128, 0.03, -128), (0.1, 127, 0.2, 0), (0.003, 5, 0.0015, -100),
    (0.5, -20, 0.4, -128), (1.5, 0, 1.0, -100), (0.0004, -60, 0.0003, 30),
]


@pytest.mark.parametrize("in_scale,in_zp,out_scale,out_zp", HARD_SWISH_CASES)
def test_hard_swish_table_equals_tflite_for_every_input(write_model, in_scale, in_zp, out_scale, out_zp):
    """All 256 int8 inputs through TFLite's reference HARD_SWISH vs the generator's table."""
    from codegen.quantization import hard_swish_table
    from runtime.interpreter import make_interpreter
    model = write_model(opmodels.hard_swish_model(seed(in_scale), shape=(1, 256), in_scale=in_scale,
                                                  in_zp=in_zp, out_scale=out_scale, out_zp=out_zp))
    it = make_interpreter(model, reference=True)
    it.set_tensor(it.get_input_details()[0]["index"], np.arange(-128, 128, dtype=np.int8)[None])
    it.invoke()
    ref = it.get_tensor(it.get_output_details()[0]["index"])[0]
    np.testing.assert_array_equal(hard_swish_table(in_scale, in_zp, out_scale, out_zp), ref)


@pytest.mark.parametrize("shape", [(1, 5, 5, 7), (1, 3, 3, 1), (2, 9), (1, 1, 1, 33)])
def test_hard_swish(write_model, tmp_path, shape):
    check(write_model, tmp_path, opmodels.hard_swish_model(seed("hs", shape), shape=shape))


MUL_CASES = [
    # shape_a, shape_b, constant input2, activation
    ((1, 4, 4, 6), (1, 4, 4, 6), False, "NONE"),
    ((1, 5, 5, 7), (1, 1, 1, 7), False, "NONE"),        # squeeze-excite gating
    ((1, 3, 6, 9), (1, 1, 1, 9), False, "RELU6"),
    ((1, 1, 1, 13), (), True, "NONE"),                   # hard-sigmoid's x * (1/6): a scalar constant
    ((1, 1, 1, 5), (1,), True, "RELU"),
    ((1, 4, 3, 5), (1, 4, 1, 5), True, "NONE"),         # broadcast over W
    ((1, 1, 3, 4), (1, 5, 1, 4), True, "NONE"),         # both inputs broadcast
    ((2, 3, 8), (8,), True, "NONE"),                     # rank 3 with a per-channel constant
]


@pytest.mark.parametrize("shape_a,shape_b,const_b,act", MUL_CASES)
@pytest.mark.parametrize("kernels", ["reference", "dsp", "mve"])
def test_mul_broadcasting(write_model, tmp_path, shape_a, shape_b, const_b, act, kernels):
    man = check(write_model, tmp_path, opmodels.mul_model(seed("mul", shape_a, shape_b), shape_a=shape_a,
                                                          shape_b=shape_b, const_b=const_b, act=act),
                kernels=kernels)
    assert man["layers"][-1]["kernel"] == {"reference": "mcuf_mul_s8", "dsp": "mcuf_mul_s8_dsp",
                                           "mve": "mcuf_mul_s8_dsp"}[kernels]   # no Helium MUL: the DSP one


@pytest.mark.parametrize("zps", [(-128, -128, -128), (127, 127, 127), (-128, 127, 0)])
@pytest.mark.parametrize("scales", [(0.001, 0.002, 1e-4), (0.2, 0.3, 0.05), (0.05, 0.004, 0.9)])
@pytest.mark.parametrize("kernels", ["reference", "dsp"])
def test_mul_quantization_extremes(write_model, tmp_path, zps, scales, kernels):
    check(write_model, tmp_path, opmodels.mul_model(seed("mulx", zps, scales), shape_a=(1, 3, 3, 5),
                                                    shape_b=(1, 1, 1, 5), scales=scales, zps=zps),
          kernels=kernels)


# --- ops that only move bytes: one strided-copy kernel, one concatenation kernel ---

TRANSPOSE_CASES = [
    ((1, 4, 4, 3, 5), (0, 1, 2, 4, 3)),     # channel shuffle, g=3 (RESHAPE->TRANSPOSE->RESHAPE)
    ((1, 3, 3, 2, 7), (0, 1, 2, 4, 3)),     # g=2, odd group size
    ((1, 3, 5, 6), (0, 2, 3, 1)),           # NCHW -> NHWC, as PyTorch exports begin
    ((1, 5, 6, 3), (0, 3, 1, 2)),           # NHWC -> NCHW
    ((2, 3, 4), (2, 0, 1)),
    ((3, 2, 2, 2, 5), (1, 3, 0, 2, 4)),     # MobileViT unfold: five dimensions stay
    ((2, 3, 2, 3, 2, 2), (5, 4, 3, 2, 1, 0)),  # six, none contiguous
    ((7, 9), (1, 0)),
]


@pytest.mark.parametrize("shape,perm", TRANSPOSE_CASES)
def test_transpose(write_model, tmp_path, shape, perm):
    man = check(write_model, tmp_path, opmodels.transpose_model(seed("tr", shape, perm), shape=shape, perm=perm))
    assert man["layers"][0]["kernel"] == "mcuf_copy_s8"


SPLIT_CASES = [
    # shape, axis, sizes, split_v, const_part
    ((1, 4, 4, 6), 3, (3, 3), False, False),       # ShuffleNet V2 channel split
    ((1, 4, 4, 6), -1, (2, 2, 2), False, True),    # negative axis, a constant block
    ((1, 5, 3, 7), 3, (1, 4, 2), True, False),     # odd channel counts
    ((1, 6, 4, 5), 1, (2, 4), True, False),        # along H: contiguous blocks
    ((2, 9), 1, (4, 5), True, True),
]


@pytest.mark.parametrize("shape,axis,sizes,split_v,const_part", SPLIT_CASES)
def test_split_and_concatenation(write_model, tmp_path, shape, axis, sizes, split_v, const_part):
    data = opmodels.split_concat_model(seed("sp", shape, axis, sizes), shape=shape, axis=axis,
                                       sizes=sizes, split_v=split_v, const_part=const_part)
    man = check(write_model, tmp_path, data)
    kinds = [layer["kernel"] for layer in man["layers"]]
    assert kinds == ["mcuf_copy_s8"] * len(sizes) + ["mcuf_concat_s8"]


SLICE_CASES = [
    # shape, begin, end, strides, begin_mask, end_mask, shrink, out_shape
    ((1, 6, 6, 8), (0, 1, 0, 2), (1, 5, 6, 7), (1, 1, 2, 1), 0, 0, 0, (1, 4, 3, 5)),
    ((1, 6, 6, 8), (0, 0, 0, 0), (0, 0, 0, 4), (1, 1, 1, 1), 0b0111, 0b0111, 0, (1, 6, 6, 4)),
    ((1, 5, 7, 3), (0, -1, 0, 0), (1, -6, 7, 3), (1, -1, 3, 1), 0, 0, 0, (1, 5, 3, 3)),
    ((1, 4, 5, 6), (0, 2, 0, 0), (1, 3, 5, 6), (1, 1, 1, 1), 0, 0, 0b0010, (1, 5, 6)),
]


@pytest.mark.parametrize("shape,begin,end,strides,bm,em,shrink,out_shape", SLICE_CASES)
def test_strided_slice(write_model, tmp_path, shape, begin, end, strides, bm, em, shrink, out_shape):
    data = opmodels.strided_slice_model(seed("ss", shape, begin, end, strides), shape=shape, begin=begin,
                                        end=end, strides=strides, begin_mask=bm, end_mask=em,
                                        shrink=shrink, out_shape=out_shape)
    check(write_model, tmp_path, data)


@pytest.mark.parametrize("shape,begin,size", [((1, 6, 5, 7), (0, 1, 2, 3), (1, 4, -1, 3)),
                                              ((3, 8), (1, 2), (2, 5))])
def test_slice(write_model, tmp_path, shape, begin, size):
    check(write_model, tmp_path, opmodels.slice_model(seed("sl", shape), shape=shape, begin=begin, size=size))


# --- MobileViT's unary ops: tables the generator computes from TFLite's integer algorithms ---

UNARY_CASES = {
    # LOGISTIC's int8 output is fixed at scale 1/256, zero point -128 (TFLite requires it)
    "LOGISTIC": [(0.02, 0, 1 / 256, -128), (0.1, -128, 1 / 256, -128), (0.0625, 127, 1 / 256, -128),
                 (0.003, 5, 1 / 256, -128), (0.6, -20, 1 / 256, -128)],
    "RSQRT": [(3.9e-08, -128, 1.24, -128), (0.01, -128, 0.05, -128), (0.2, -100, 0.01, 0),
              (1e-4, -128, 0.9, -128), (5.0, -128, 0.002, -128), (0.03, -128, 0.2, 100)],
    "NEG": [(9.19e-09, 6, 9.19e-09, -7), (0.05, -128, 0.05, 127), (0.02, 3, 0.07, -9),
            (0.1, 0, 0.013, 0)],
    # GELU (erfcf / tanhf), EXP (expf), LOG (logf): TFLite's LUTPopulate tables in float32
    "GELU": [(0.05, 3, 0.04, -5), (0.1, -128, 0.05, -100), (0.0123, -17, 0.0077, 40), (0.2, 0, 0.1, -128)],
    "GELU_APPROX": [(0.05, 3, 0.04, -5), (0.02, 127, 0.01, 0), (0.0123, -17, 0.0077, 40)],
    "EXP": [(0.05, 3, 0.04, -5), (0.05, -128, 0.3, -100), (0.0123, -17, 0.0077, 40)],
    "LOG": [(0.05, 3, 0.04, -5), (0.1, -128, 0.05, -100), (0.0123, -17, 0.0077, 40)],
    "ABS": [(0.05, 3, 0.04, -5), (0.1, -128, 0.1, -100), (0.0123, 127, 0.0077, -128)],
    # SQRT: truncated, not rounded; only inputs at or above the zero point (TFLite fails below)
    "SQRT": [(0.3, -20, 0.05, -100), (0.0123, 0, 0.0077, 40), (0.05, -128, 0.01, -128)],
}
TABLES = {"LOGISTIC": "logistic_table", "RSQRT": "rsqrt_table", "NEG": "dequantize_negate_quantize_table",
          "GELU": "gelu_table", "GELU_APPROX": "gelu_table", "EXP": "exp_table", "LOG": "log_table",
          "ABS": "abs_table", "SQRT": "sqrt_table"}


@pytest.mark.parametrize("op,case", [(op, c) for op, cases in UNARY_CASES.items() for c in cases])
def test_unary_table_equals_tflite_for_every_input(write_model, op, case):
    """All 256 int8 inputs through TFLite's reference kernel vs the generator's table (for
    RSQRT and SQRT only inputs at or above the zero point: TFLite rejects negative reals)."""
    from codegen import quantization
    from runtime.interpreter import make_interpreter
    in_scale, in_zp, out_scale, out_zp = case
    lo = in_zp if op in ("RSQRT", "SQRT") else -128
    n = 128 - lo
    model = write_model(opmodels.unary_model(op, shape=(1, n), in_scale=in_scale, in_zp=in_zp,
                                             out_scale=out_scale, out_zp=out_zp))
    it = make_interpreter(model, reference=True)
    it.set_tensor(it.get_input_details()[0]["index"], np.arange(lo, 128, dtype=np.int8)[None])
    it.invoke()
    ref = it.get_tensor(it.get_output_details()[0]["index"])[0]
    extra = {"approximate": op == "GELU_APPROX"} if op.startswith("GELU") else {}
    table = getattr(quantization, TABLES[op])(in_scale, in_zp, out_scale, out_zp, **extra)
    np.testing.assert_array_equal(table[lo + 128:], ref)


@pytest.mark.parametrize("op,kernels", [("LOGISTIC", "reference"), ("NEG", "reference"),
                                        ("GELU", "reference"), ("GELU_APPROX", "dsp"), ("EXP", "dsp"),
                                        ("LOG", "reference"), ("ABS", "dsp"), ("SQRT", "reference")])
def test_unary_ops_generated(write_model, tmp_path, op, kernels):
    in_scale, in_zp, out_scale, out_zp = UNARY_CASES[op][2]
    data = opmodels.unary_model(op, shape=(2, 5, 7), in_scale=in_scale, in_zp=in_zp,
                                out_scale=out_scale, out_zp=out_zp)
    man = check(write_model, tmp_path, data, kernels=kernels)
    assert [layer["kernel"] for layer in man["layers"]] == ["mcuf_lut_s8"]


BATCH_MATMUL_CASES = [
    # shape_a, shape_b, adj_x, adj_y, const_b
    ((4, 2, 9, 32), (4, 2, 9, 32), False, True, False),    # attention scores Q*K^T
    ((2, 5, 7), (2, 7, 3), False, False, True),
    ((3, 6, 5), (5, 4), False, False, True),               # a constant shared by every batch
    ((1, 7, 6), (1, 5, 7), True, True, True),
    ((2, 3, 4, 5), (1, 5, 6), False, False, True),         # batch broadcast of the constant
]


@pytest.mark.parametrize("shape_a,shape_b,adj_x,adj_y,const_b", BATCH_MATMUL_CASES)
def test_batch_matmul(write_model, tmp_path, shape_a, shape_b, adj_x, adj_y, const_b):
    data = opmodels.batch_matmul_model(seed("bmm", shape_a, shape_b, adj_x, adj_y), shape_a=shape_a,
                                       shape_b=shape_b, adj_x=adj_x, adj_y=adj_y, const_b=const_b)
    man = check(write_model, tmp_path, data)
    assert man["layers"][0]["kernel"] == "mcuf_batch_matmul_s8"


@pytest.mark.parametrize("zps", [(-128, -128, -128), (127, 127, 127)])
def test_batch_matmul_zero_point_extremes(write_model, tmp_path, zps):
    data = opmodels.batch_matmul_model(seed("bmmzp", zps), shape_a=(2, 4, 6), shape_b=(2, 6, 3),
                                       const_b=True, zps=zps)
    check(write_model, tmp_path, data)


@pytest.mark.parametrize("shape_a,shape_b,const_b", [((4, 9, 64), (4, 9, 1), False),
                                                     ((1, 3, 5, 7), (1, 3, 5, 1), False),
                                                     ((2, 6, 5), (5,), True), ((3, 7), (3, 7), True)])
def test_squared_difference(write_model, tmp_path, shape_a, shape_b, const_b):
    data = opmodels.squared_difference_model(seed("sqd", shape_a, shape_b), shape_a=shape_a,
                                             shape_b=shape_b, const_b=const_b)
    man = check(write_model, tmp_path, data, inputs=6)
    assert man["layers"][-1]["kernel"] == "mcuf_squared_difference_s8"


@pytest.mark.parametrize("zp", [-128, 127])
def test_squared_difference_and_broadcast_add_zero_point_extremes(write_model, tmp_path, zp):
    """Both broadcasting kernels with every zero point at one end of the int8 range."""
    rng = seed("sqd-zp", zp)
    mb = opmodels.ModelBuilder()
    x = mb.tensor([2, 3, 6], "int8", 0.03, zp)
    m = mb.tensor([2, 3, 1], "int8", 0.02, zp)
    axes = mb.tensor([1], "int32", data=[2])
    mb.op("MEAN", [x, axes], [m], "ReducerOptions", KeepDims=True)
    sq = mb.tensor([2, 3, 6], "int8", 0.03 * 0.03 * 100, zp)
    mb.op("SQUARED_DIFFERENCE", [x, m], [sq])
    eps = mb.tensor([], "int8", 0.05, zp, np.array(int(rng.integers(-128, 128)), np.int8))
    y = mb.tensor([2, 3, 6], "int8", 0.2, zp)
    mb.op("ADD", [sq, eps], [y], "AddOptions", FusedActivationFunction=0)
    check(write_model, tmp_path, mb.build([x], [y]), inputs=6)


from test_conv_dsp_sweep import GROUPED_SWEEP, _grouped_model  # noqa: E402


@pytest.mark.parametrize("case,kernel", GROUPED_SWEEP, ids=lambda c: "x".join(map(str, c[:9])) if isinstance(c, tuple) else c)
def test_grouped_1x1_packed_host(write_model, tmp_path, case, kernel):
    """mcuf_conv_grouped_1x1_packed_s8_dsp_fast's C path (the host build has no DSP) and the
    layers it leaves to the grouped kernel equal TFLite's reference; test_conv_dsp_sweep runs
    the assembly on QEMU's M7, M4 and M33 on the same models."""
    man = check(write_model, tmp_path, _grouped_model(case), kernels="dsp")
    assert man["layers"][0]["kernel"] == kernel


@pytest.mark.parametrize("op,quant,words", [
    ("EXP", (0.1, -128, 0.3, -100), ["#0 EXP", "beyond int32", "larger scale", "tensor 't1'"]),
    ("ABS", (0.5, 0, 1e-12, 0), ["#0 ABS", "2^31 or more", "larger output scale", "tensor 't1'"]),
    # attack6: expf(1e30 * x) is inf; the table held -128, ai-edge-litert 127 (an undefined cast)
    ("EXP", (1e30, 0, 0.05, 0), ["#0 EXP", "inf in float32", "re-quantize", "tensor 't1'"])])
def test_unary_table_refusals_name_op_tensor_and_fix(write_model, tmp_path, op, quant, words):
    """Where TFLite's own table arithmetic is undefined (a float beyond int32 cast to int,
    a multiplier of 2^31 or more), `codegen emit` refuses in one line, exit code 2."""
    import subprocess
    import sys
    in_scale, in_zp, out_scale, out_zp = quant
    model = write_model(opmodels.unary_model(op, shape=(1, 8), in_scale=in_scale, in_zp=in_zp,
                                             out_scale=out_scale, out_zp=out_zp))
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "emit", str(model), "-o", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert all(w in lines[0] for w in words), lines[0]


def test_new_kernels_on_cortex_m7(write_model, tmp_path):
    """mcuf_reduce_max_s8 (H,W and last axis), mcuf_gather_s8 and a GELU table on QEMU's
    Cortex-M7: the firmware's output bytes equal TFLite's reference."""
    from conftest import assert_models_bit_exact_on_qemu
    models = {
        "rmax_hw": opmodels.mean_model(seed("m7-rmax"), keep_dims=True, same_quant=True, shape=(1, 6, 5, 7),
                                       axes=(1, 2), op="REDUCE_MAX"),
        "rmax_last": opmodels.mean_model(seed("m7-rmax2"), keep_dims=False, same_quant=True, shape=(4, 9, 16),
                                         axes=(-1,), op="REDUCE_MAX"),
        "gelu": opmodels.unary_model("GELU_APPROX", shape=(2, 5, 7), in_scale=0.05, in_zp=3, out_scale=0.04,
                                     out_zp=-5),
        "gather": opmodels.gather_model(seed("m7-gather"), shape=(10, 8), indices=[[2, 9], [0, 4]], axis=0),
    }
    assert_models_bit_exact_on_qemu(write_model, tmp_path, models, distinct=True)


DEPTH_SPACE_CASES = [
    ("DEPTH_TO_SPACE", (1, 3, 4, 8), 2, "reference"),
    ("DEPTH_TO_SPACE", (2, 2, 3, 27), 3, "mve"),
    ("SPACE_TO_DEPTH", (1, 6, 4, 3), 2, "reference"),
    ("SPACE_TO_DEPTH", (1, 6, 9, 5), 3, "dsp"),
]


@pytest.mark.parametrize("op,shape,block,kernels", DEPTH_SPACE_CASES)
def test_depth_to_space_and_space_to_depth(write_model, tmp_path, op, shape, block, kernels):
    """One strided copy each (mcuf_copy_s8, up to 6 dimensions; _mve on Helium)."""
    man = check(write_model, tmp_path, opmodels.depth_space_model(seed("d2s", op, shape), op, shape=shape,
                                                                  block=block), kernels=kernels)
    assert man["layers"][0]["kernel"] in ("mcuf_copy_s8", "mcuf_copy_s8_mve")


@pytest.mark.parametrize("shape,axis,kernels", [((1, 4, 5, 3), 1, "reference"), ((3, 7, 4), -1, "dsp"),
                                                ((2, 6), 0, "reference")])
def test_unpack_and_pack(write_model, tmp_path, shape, axis, kernels):
    """UNPACK (a strided copy per output) and PACK (mcuf_concat_s8 along a new axis)."""
    count = shape[axis]
    man = check(write_model, tmp_path, opmodels.pack_unpack_model(seed("pack", shape, axis), shape=shape,
                                                                  axis=axis, count=count), kernels=kernels)
    kinds = [layer["kernel"] for layer in man["layers"]]
    assert kinds[-1] == "mcuf_concat_s8" and kinds[0].startswith("mcuf_copy_s8"), kinds


@pytest.mark.parametrize("shape,indices,axis,kernels", [
    ((1, 6, 5, 4), [3, 0, 0, 5], 1, "reference"),
    ((10, 8), [[2, 9], [0, 4]], 0, "dsp"),          # an embedding lookup, 2-D indices
    ((3, 7, 12), [11, 0, 5], -1, "reference"),      # channel selection on the last axis
])
def test_gather_constant_indices(write_model, tmp_path, shape, indices, axis, kernels):
    man = check(write_model, tmp_path, opmodels.gather_model(seed("gather", shape, axis), shape=shape,
                                                             indices=indices, axis=axis), kernels=kernels)
    assert man["layers"][0]["kernel"] == "mcuf_gather_s8"


def test_gather_index_out_of_range_refused(write_model, tmp_path):
    import subprocess
    import sys
    model = write_model(opmodels.gather_model(seed("gather-oob"), shape=(4, 5), indices=[1, 4], axis=0))
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "emit", str(model), "-o", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert all(w in lines[0] for w in ("#0 GATHER", "[4]", "'t1'", "extent 4", "fix the indices")), lines[0]


@pytest.mark.parametrize("kind", ["RESHAPE", "EXPAND_DIMS"])
def test_a_reshaped_constant_is_folded(write_model, tmp_path, kind):
    """A RESHAPE / EXPAND_DIMS of a constant feeding an ADD (the converter folds these; a
    hand-made or older model may not): its output becomes the constant's bytes in the new
    shape, bit-exact; it was refused as '#0 RESHAPE' with no reason (attack6)."""
    from codegen.tflite_writer import ModelBuilder
    mb = ModelBuilder()
    x = mb.tensor([1, 2, 3, 4], "int8", 0.05, 3)
    shape = [1, 24] if kind == "RESHAPE" else [2, 3, 4]
    c = mb.tensor(shape, "int8", 0.04, -2, np.arange(-12, 12, dtype=np.int8).reshape(shape))
    arg = mb.tensor([4], "int32", data=np.array([1, 2, 3, 4], np.int32)) if kind == "RESHAPE" else \
        mb.tensor([], "int32", data=np.array(0, np.int32))
    r = mb.tensor([1, 2, 3, 4], "int8", 0.04, -2)
    mb.op(kind, [c, arg], [r])
    y = mb.tensor([1, 2, 3, 4], "int8", 0.1, 0)
    mb.op("ADD", [x, r], [y], "AddOptions")
    res = verify(write_model(mb.build([x], [y])), tmp_path / "gen", inputs=3)
    assert res.ok and res.distinct_outputs > 1, res.mismatches[:1]
