"""Seeded random single-layer convolutions (tests/random_convs.py: int8 and legacy uint8,
kernels 1-7 per axis, strides 1-3, dilations, planes from 1x1, 1-67 channels, depth
multipliers 1-8, left-shift channels, every activation, extreme zero points, biases and
scales) against TFLite's reference kernels on the optimized kernels (--kernels dsp): the
whole sweep in one firmware image per core (tests/mve_sweep.py) on QEMU's Cortex-M7 (-O2,
two inputs), Cortex-M4 (-O0) and Cortex-M33 (-Os); a slice on the host through `verify`
(every layer). A model TFLite's reference refuses is drawn again; one the generator refuses
must say so in a CodegenError. The sweep must reach the kernels it is for (the legacy uint8
routing, the HWC and planar 3x3 depthwise assembly, the 1x1 / stem kernels)."""
import numpy as np
import pytest

from codegen.errors import CodegenError
from codegen.pipeline import generate
from codegen.verify import verify
from mve_sweep import run_on_m55, sweep_input
from random_convs import random_conv_case, random_conv_model
from runtime.interpreter import ReferenceModel

SEED = 77000
PER_FOCUS = {"any": 16, "legacy": 20, "hwc": 14, "dw3": 14, "asym": 12}
MUST_REACH = {"mcuf_conv_wzp_s8_dsp", "mcuf_depthwise_conv_3x3_wzp_s8_dsp", "mcuf_depthwise_conv_hwc_s8_dsp_fast",
              "mcuf_depthwise_conv_3x3_s8_dsp", "mcuf_conv_1x1_shallow_s8_dsp_fast",
              "mcuf_conv_shallow_stem_s8_dsp_fast"}


def _draw(tmp):
    """[(case, path)]: PER_FOCUS accepted cases of each focus, deterministic from SEED."""
    out = []
    rng = np.random.default_rng(SEED)
    for focus, n in PER_FOCUS.items():
        got = 0
        while got < n:
            case = random_conv_case(rng, focus)
            path = tmp / f"case{len(out)}.tflite"
            path.write_bytes(random_conv_model(case))
            dtype = np.uint8 if case["u8"] else np.int8
            try:
                ReferenceModel(path).invoke(np.zeros((1, case["h"], case["w"], case["c"]), dtype))
            except (RuntimeError, ValueError):    # TFLite's Prepare refuses it (e.g. bias scale)
                continue
            try:
                generate(path, tmp / "probe", "host", kernels="dsp")
            except CodegenError:                  # refused in one line: not this sweep's business
                continue
            out.append((case, path))
            got += 1
    return out


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return _draw(tmp_path_factory.mktemp("random_convs"))


def _compare(cases, mans, outs, runs):
    bad = []
    for (case, path), man, out in zip(cases, mans, outs):
        ref = ReferenceModel(path)
        for r in range(runs):
            x = sweep_input(man["input"]["bytes"], r)
            want = ref.invoke(x.view(np.uint8) if case["u8"] else x).reshape(-1).astype(np.int64)
            got = np.array(out[r], np.int64) % 256 if case["u8"] else np.array(out[r], np.int64)
            if got.tolist() != want.tolist():
                bad.append((case, man["layers"][-1]["kernel"] if man["layers"] else None, r,
                            int((got != want).sum()), want.size))
                break
    return bad


@pytest.fixture(scope="module")
def m7_sweep(cases, tmp_path_factory):
    work = tmp_path_factory.mktemp("random_convs_m7")
    mans, outs = run_on_m55([p for _, p in cases], work, kernels="dsp", runs=2, board_name="qemu-mps2-an500")
    return mans, outs


def test_random_convs_on_cortex_m7_equal_tflite(cases, m7_sweep):
    mans, outs = m7_sweep
    assert not _compare(cases, mans, outs, 2)


def test_random_sweep_reaches_the_new_kernels(m7_sweep):
    kernels = {l["kernel"] for m in m7_sweep[0] for l in m["layers"]}
    assert MUST_REACH <= kernels, MUST_REACH - kernels


@pytest.mark.parametrize("board,opt", [("qemu-mps2-an386", "-O0"), ("qemu-mps2-an505", "-Os")])
def test_random_convs_on_cortex_m4_and_m33_equal_tflite(cases, tmp_path, board, opt):
    mans, outs = run_on_m55([p for _, p in cases], tmp_path, kernels="dsp", opt=opt, runs=1, board_name=board)
    assert not _compare(cases, mans, outs, 1)


def test_random_convs_on_host_every_layer(cases, tmp_path):
    """Every fourth case through `verify --kernels dsp` (the intrinsics emulated in C)."""
    bad = []
    for i, (case, path) in enumerate(cases[::4]):
        res = verify(path, tmp_path / f"g{i}", inputs=3, kernels="dsp")
        if not res.ok:
            bad.append((case, res.output_bytes_differing))
    assert not bad
