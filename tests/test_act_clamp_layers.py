"""Convolutions whose fused activation clamps inside int8 (RELU6 / RELU / RELU_N1_TO_1 with an
output zero point in -20..19) on the _fast DSP kernels plus the clamp epilogue
(mcuf_act_clamp_s8_dsp, codegen/ops/conv_dsp.py _fast_then_clamp), against TFLite's reference:
the layers the cliff sweep (benchmarks/cliff_sweep.py --act relu6) found on slow general kernels
-- grouped and dense few-channel 1x1, grouped 3x3, the RGB stem, 3x3 depthwise at stride 2 and
1, a 3x3 im2col, a pointwise, output sizes off a multiple of 4 (the clamp's byte tail) -- in
one firmware on QEMU's Cortex-M7, a few of them on the host (the portable C of the same kernels,
`codegen verify`), and a three-layer chain of such layers run in patches and in row bands
(the clamp on each patch's bytes only)."""
import json
import zlib

import numpy as np
import pytest

import opmodels
from codegen.tflite_writer import ModelBuilder
from mve_sweep import differences, run_on_m55

CLAMP = "mcuf_act_clamp_s8_dsp"
NARROW = (1e-3, 1e-2)   # every channel on fast constants
# ("conv", k, stride, padding, in_c, out_c, groups, h, w, act) /
# ("dw", k, stride, padding, in_c, mult, h, w, act), the kernel expected
CASES = [
    (("conv", 1, 1, "SAME", 8, 8, 4, 9, 9, "RELU6"), "mcuf_conv_1x1_few_c2_s8_dsp_fast"),
    (("conv", 1, 2, "SAME", 3, 13, 1, 11, 11, "RELU6"), "mcuf_conv_1x1_few_c3_s8_dsp_fast"),
    (("conv", 1, 1, "SAME", 6, 6, 2, 7, 5, "RELU"), "mcuf_conv_1x1_few_c3_s8_dsp_fast"),
    (("conv", 3, 1, "SAME", 8, 8, 4, 8, 8, "RELU6"), "mcuf_conv_grouped_direct_packed_s8_dsp_fast"),
    (("conv", 3, 2, "SAME", 3, 8, 1, 17, 17, "RELU6"), "mcuf_conv_shallow_stem_s8_dsp_fast"),
    (("conv", 3, 1, "SAME", 8, 13, 1, 7, 7, "RELU_N1_TO_1"), "mcuf_conv_im2col_x2_s8_dsp_fast"),
    (("conv", 1, 1, "SAME", 16, 13, 1, 5, 7, "RELU6"), "mcuf_conv_1x1_shallow_s8_dsp_fast"),
    (("dw", 3, 2, "SAME", 8, 1, 13, 13, "RELU6"), None),
    (("dw", 3, 2, "SAME", 3, 4, 11, 9, "RELU6"), None),
    (("dw", 3, 1, "SAME", 16, 1, 6, 6, "RELU6"), None),
]


def _model(case) -> bytes:
    rng = np.random.default_rng(zlib.crc32(repr(("act-clamp", case)).encode()))
    if case[0] == "conv":
        _, k, stride, padding, in_c, out_c, groups, h, w, act = case
        return opmodels.conv_model(rng, k=k, stride=stride, padding=padding, dilation=1, in_c=in_c,
                                   out_c=out_c, groups=groups, h=h, w=w, act=act, scale_span=NARROW)
    _, k, stride, padding, in_c, mult, h, w, act = case
    return opmodels.depthwise_model(rng, k=k, stride=stride, padding=padding, dilation=1, in_c=in_c,
                                    mult=mult, h=h, w=w, act=act, scale_span=NARROW)


def _check_layer(man, case, want):
    layer = man["layers"][0]
    assert layer["kernel"].endswith("_fast") and layer.get("epilogue") == CLAMP, (case, layer["kernel"])
    if want is not None:
        assert layer["kernel"] == want, (case, layer["kernel"])


def test_clamping_layers_on_fast_kernels_on_qemu_m7(tmp_path):
    models = []
    for i, (case, _) in enumerate(CASES):
        path = tmp_path / f"c{i}.tflite"
        path.write_bytes(_model(case))
        models.append(path)
    mans, outs = run_on_m55(models, tmp_path, kernels="dsp", board_name="qemu-mps2-an500")
    for (case, want), man in zip(CASES, mans):
        _check_layer(man, case, want)
    assert "mcuf_act_clamp_s8_dsp(" in (tmp_path / "gen" / "m0.c").read_text()
    bad = differences([c for c, _ in CASES], models, mans, outs)
    assert not bad, bad


@pytest.mark.parametrize("i", [0, 4, 7])
def test_clamping_layers_on_host(write_model, tmp_path, i):
    from test_single_ops import check
    case, want = CASES[i]
    _check_layer(check(write_model, tmp_path, _model(case), inputs=3, kernels="dsp"), case, want)


def _chain() -> bytes:
    """RGB 24x24 -> 3x3 stride-2 conv (8, RELU6) -> 3x3 depthwise (RELU6) -> grouped 1x1 (8, 4
    groups, RELU6) -> 1x1 (8): every clamp inside int8 (output zero points -20..19)."""
    rng = np.random.default_rng(11)
    mb = ModelBuilder()
    x = mb.tensor([1, 24, 24, 3], "int8", 0.02, -5)
    scale = 0.02

    def weights(in_c, out_c, k, groups, depthwise):
        ws = np.exp(rng.uniform(np.log(1e-3), np.log(1e-2), out_c)).astype(np.float32)
        fic = 1 if depthwise else in_c // groups
        shape = [1, k, k, out_c] if depthwise else [out_c, k, k, fic]
        w = mb.tensor(shape, "int8", ws, 0, rng.integers(-127, 128, shape), axis=3 if depthwise else 0)
        b = mb.tensor([out_c], "int32", scale * ws, 0, rng.integers(-3000, 3000, out_c))
        return w, b, ws

    dims = [24]
    t, c = x, 3
    for kind, out_c, k, stride, groups, act in (("conv", 8, 3, 2, 1, 3), ("dw", 8, 3, 1, 1, 3),
                                                ("conv", 8, 1, 1, 4, 3), ("conv", 8, 1, 1, 1, 0)):
        w, b, ws = weights(c, out_c, k, groups, kind == "dw")
        side = (dims[-1] + stride - 1) // stride
        out_scale = scale * float(np.median(ws)) * 73 * 73 * np.sqrt(k * k * (1 if kind == "dw" else c // groups)) / 60
        y = mb.tensor([1, side, side, out_c], "int8", out_scale, int(rng.integers(-20, 20)))
        if kind == "dw":
            mb.op("DEPTHWISE_CONV_2D", [t, w, b], [y], "DepthwiseConv2DOptions", Padding=0, StrideW=stride,
                  StrideH=stride, DepthMultiplier=1, FusedActivationFunction=act, DilationWFactor=1, DilationHFactor=1)
        else:
            mb.op("CONV_2D", [t, w, b], [y], "Conv2DOptions", Padding=0, StrideW=stride, StrideH=stride,
                  FusedActivationFunction=act, DilationWFactor=1, DilationHFactor=1)
        t, c, scale = y, out_c, out_scale
        dims.append(side)
    return mb.build([x], [t])


@pytest.mark.parametrize("patches", [(2, 2, 2), (2, "rows", 1)], ids=["patches", "rows"])
def test_clamping_chain_in_patches_on_host(tmp_path, patches):
    from codegen.verify import verify
    model = tmp_path / "chain.tflite"
    model.write_bytes(_chain())
    res = verify(model, tmp_path / "gen", inputs=3, seed=2, kernels="dsp", patches=patches)
    man = json.loads((tmp_path / "gen" / "model.json").read_text())
    staged = [l for l in man["layers"] if l.get("patch_stage")]
    assert sum(1 for l in staged if l.get("epilogue") == CLAMP) >= 2, man["layers"]
    assert (tmp_path / "gen" / "model.c").read_text().count("mcuf_act_clamp_s8_dsp(") >= 4
    assert res.ok, f"first differing layer: {res.mismatches[:1]}"
