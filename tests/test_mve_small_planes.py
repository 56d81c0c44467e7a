"""Helium (MVE) kernels for small planes on QEMU's Cortex-M55 (mps3-an547), against TFLite's
reference (issue #22): the channel-vectorized 3x3 depthwise kernel
(mcuf_depthwise_conv_3x3_hwc_s8_mve, the last 3x3 depthwise layers of the MobileNets and
ShuffleNets: every output pixel of a 3x3 or 4x4 plane is an edge pixel), the grouped 1x1
whose whole depth fits one 16-byte row (one block-diagonal GEMM, mcuf_conv_1x1_s8_mve) and
the im2col rows of the stems at the plane's edges (mcuf_conv_s8_mve).

One firmware image runs the whole sweep (tests/mve_sweep.py), two inputs per model, every
output byte compared: channel counts 1, 5, 13, 17, 250 (tails of the 8-channel blocks and of
the 16-byte copies), planes 1x1 to 5x5 with SAME and VALID padding at strides 1 and 2,
per-channel weight scales, dead channels with biases near +-2^30, clamped activations and
left-shift channels (the general copies beside the _fast ones)."""
import zlib

import numpy as np
import pytest

import opmodels
from codegen.pipeline import compile_graph
from codegen.verify import verify
from mve_sweep import run_on_m55, sweep_input
from runtime.interpreter import ReferenceModel

# (kind, k, stride, padding, in_c, out_c or groups, h, w, act, left shifts, dead channels)
CASES = [
    # 3x3 depthwise on small planes: channel tails, 1x1..5x5 outputs, pads, strides
    ("dw", 3, 1, "SAME", 5, 0, 1, 1, "NONE", False, ()),
    ("dw", 3, 1, "SAME", 13, 0, 2, 2, "NONE", False, (1, 6)),
    ("dw", 3, 1, "SAME", 17, 0, 3, 3, "NONE", False, ()),
    ("dw", 3, 1, "SAME", 250, 0, 3, 3, "NONE", False, (0, 7, 8, 249)),
    ("dw", 3, 1, "SAME", 64, 0, 4, 4, "RELU6", False, ()),
    ("dw", 3, 1, "SAME", 1, 0, 5, 5, "NONE", False, ()),
    ("dw", 3, 1, "VALID", 13, 0, 5, 5, "NONE", False, ()),
    ("dw", 3, 1, "VALID", 24, 0, 3, 4, "RELU", False, ()),
    ("dw", 3, 2, "SAME", 17, 0, 5, 5, "NONE", False, (16,)),
    ("dw", 3, 2, "SAME", 250, 0, 6, 6, "NONE", False, ()),
    ("dw", 3, 2, "VALID", 5, 0, 7, 7, "NONE", False, ()),
    ("dw", 3, 2, "SAME", 8, 0, 2, 3, "NONE", False, ()),
    ("dw", 3, 2, "SAME", 32, 0, 9, 9, "RELU6", False, ()),
    ("dw", 3, 1, "SAME", 13, 0, 4, 3, "NONE", True, ()),
    ("dw", 3, 2, "SAME", 16, 0, 4, 4, "NONE", True, ()),
    ("dw", 3, 2, "SAME", 61, 0, 8, 8, "NONE", False, (60,)),
    ("dw", 3, 2, "VALID", 40, 0, 9, 9, "NONE", False, ()),
    # grouped 1x1 whose depth fits 16 bytes: (groups, out_c); 3 groups of 5 channels out
    ("gconv", 1, 1, "VALID", 12, (4, 16), 4, 4, "NONE", False, (3,)),
    ("gconv", 1, 1, "VALID", 10, (2, 6), 3, 5, "RELU6", False, ()),
    ("gconv", 1, 1, "VALID", 15, (3, 15), 1, 1, "NONE", False, ()),
    ("gconv", 1, 1, "VALID", 16, (4, 8), 2, 3, "NONE", True, ()),
    # im2col rows of at most 16 bytes at the edges: SAME at strides 1 and 2 (padding on one
    # or both sides), VALID, 5x5, planes down to 1x1
    ("conv", 3, 2, "SAME", 1, 8, 16, 16, "NONE", False, ()),
    ("conv", 3, 1, "SAME", 1, 5, 5, 5, "NONE", False, (2,)),
    ("conv", 3, 2, "SAME", 3, 13, 7, 9, "RELU6", False, ()),
    ("conv", 3, 1, "SAME", 4, 17, 3, 3, "NONE", False, ()),
    ("conv", 3, 1, "SAME", 5, 6, 1, 1, "NONE", False, ()),
    ("conv", 5, 2, "SAME", 3, 9, 5, 4, "NONE", False, ()),
    ("conv", 3, 2, "VALID", 2, 7, 5, 5, "RELU", False, ()),
    ("conv", 3, 1, "SAME", 3, 9, 4, 5, "NONE", True, ()),
    ("conv", 3, 1, "SAME", 6, 5, 3, 4, "NONE", False, ()),
]


def _rng(case) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(case).encode()))


def _model(case) -> bytes:
    kind, k, stride, padding, in_c, oc, h, w, act, left, dead = case
    small = dict(scale_span=(1e-3, 0.3), wmax=2, bmax=20) if left else dict(scale_span=(1e-4, 1e-1))
    if kind == "dw":
        return opmodels.depthwise_model(_rng(case), k=k, stride=stride, padding=padding, dilation=1,
                                        in_c=in_c, mult=1, h=h, w=w, act=act, dead=dead,
                                        out_scale=0.003 if left else None, **small)
    groups, out_c = oc if kind == "gconv" else (1, oc)
    return opmodels.conv_model(_rng(case), k=k, stride=stride, padding=padding, dilation=1, groups=groups,
                               in_c=in_c, out_c=out_c, h=h, w=w, act=act, dead=dead,
                               out_scale=(0.003 if k == 1 else 0.001) if left else None, **small)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    work = tmp_path_factory.mktemp("mve_small")
    models = []
    for i, case in enumerate(CASES):
        path = work / f"case{i}.tflite"
        path.write_bytes(_model(case))
        models.append(path)
    mans, outs = run_on_m55(models, work)
    return models, mans, outs


def test_small_planes_take_the_new_paths(sweep):
    """Every stride-1 3x3 depthwise of at most 4x4 output pixels (the issue's layers: all edge
    pixels) takes the channel-vectorized kernel, the sweep holds its _fast and general copies at
    both strides, the small grouped 1x1s one block-diagonal GEMM, the stems the MVE im2col."""
    models, mans, _ = sweep
    dw = set()
    for case, man, model in zip(CASES, mans, models):
        kernel = man["layers"][-1]["kernel"]
        if case[0] == "dw":
            dw.add((kernel, case[2]))
            if case[2] == 1 and case[6] * case[7] <= 16:
                assert kernel.startswith("mcuf_depthwise_conv_3x3_hwc_s8_mve"), (case, kernel)
            continue
        if case[0] == "gconv":
            step = compile_graph(model, "mve").steps[-1]
            assert kernel.startswith("mcuf_conv_1x1_s8_mve") and step.params["filter_in_c"] == case[4]
        else:
            assert kernel.startswith("mcuf_conv_s8_mve"), (case, kernel)
        assert kernel.endswith("_fast") != (case[9] or case[8] != "NONE"), (case, kernel)
    hwc = "mcuf_depthwise_conv_3x3_hwc_s8_mve"
    assert {(hwc, 1), (hwc + "_fast", 1), (hwc + "_fast", 2)} <= dw, dw


@pytest.mark.parametrize("i", range(len(CASES)), ids=lambda i: "{}-k{}s{}-{}-c{}-{}-{}x{}-{}{}{}".format(
    *CASES[i][:9], "-left" if CASES[i][9] else "", "-dead" if CASES[i][10] else ""))
def test_small_plane_kernel_on_cortex_m55_equals_tflite(sweep, i):
    from test_mve import _compare   # every run's outputs equal TFLite's reference bytes
    _compare(sweep, i)


@pytest.mark.parametrize("i", [3, 4, 9, 13, 17, 19, 24])
def test_small_plane_paths_on_the_host(write_model, tmp_path, i):
    """The same generated code built for the host (the kernels' plain-C branch: the packed
    depthwise constants, the block-diagonal filter) equals the reference on every layer."""
    res = verify(write_model(_model(CASES[i])), tmp_path / "gen", inputs=3, kernels="mve")
    assert res.ok, f"{res.output_bytes_differing} output bytes differ"


@pytest.mark.parametrize("opt", ["-O0", "-Os"])
def test_small_plane_assembly_at_other_optimization_levels(tmp_path, opt):
    """The depthwise kernel's two assembly routines (fast and general stage, strides 1 and 2,
    a channel tail) and the edge im2col built at -O0 and -Os: the same bytes as TFLite."""
    picked = [3, 4, 9, 13, 21]
    models = []
    for i in picked:
        path = tmp_path / f"case{i}.tflite"
        path.write_bytes(_model(CASES[i]))
        models.append(path)
    mans, outs = run_on_m55(models, tmp_path, opt=opt, runs=1)
    kernels = {m["layers"][-1]["kernel"] for m in mans}
    assert {"mcuf_depthwise_conv_3x3_hwc_s8_mve", "mcuf_depthwise_conv_3x3_hwc_s8_mve_fast"} <= kernels
    for model, man, got in zip(models, mans, outs):
        want = ReferenceModel(model).invoke(sweep_input(man["input"]["bytes"], 0)).reshape(-1).tolist()
        assert got[0] == want, model.name
