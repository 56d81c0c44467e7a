"""The Helium (MVE) kernel set on QEMU's Cortex-M55 (mps3-an547), against TFLite's reference.

The _mve kernels' vector code runs only on a core: a whole shape sweep of single-op models is
built into one firmware image (tests/mve_sweep.py) and every output byte of two inputs per
model compared with the reference -- odd channel counts (tail predication), depths below,
at and above 16 bytes, output-channel counts not a multiple of 4, strides 1/2, SAME/VALID,
dilation, clamped activations and left-shift channels (the general copies beside the fast
ones). The same generated code built for the host (the kernels' plain-C branch) is checked
too, and the two real benchmark models run bit-exact on the M55 with the MVE set. ADD of equal
shapes, grouped 1x1 convolutions, MAX/AVERAGE_POOL_2D, QUANTIZE/RELU and the strided copies
ride along (their _mve twins)."""
import re
import zlib

import numpy as np
import pytest

import opmodels
from conftest import BENCH_MODELS, FIXTURE_MODELS
from codegen.pipeline import compile_graph, generate
from codegen.verify import deterministic_input, verify
from firmware_tools.boards import get_board
from firmware_tools.build import build_firmware
from firmware_tools.qemu import parse_bench, run_qemu
from mve_sweep import run_on_m55, sweep_input
from runtime.interpreter import ReferenceModel


def _rng(case) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(case).encode()))


# (kind, k, stride, padding, dilation, in_c, out_c or depth multiplier, h, w, act, left_shifts)
SWEEP = [
    # 1x1: depth < 16 (one predicated vector), = 16, > 16 with and without a tail; out_c % 4
    ("conv", 1, 1, "VALID", 1, 3, 5, 3, 3, "NONE", False),
    ("conv", 1, 1, "VALID", 1, 8, 16, 4, 5, "NONE", False),
    ("conv", 1, 1, "VALID", 1, 16, 7, 3, 3, "NONE", False),
    ("conv", 1, 1, "VALID", 1, 20, 9, 2, 3, "NONE", False),
    ("conv", 1, 1, "VALID", 1, 48, 13, 3, 1, "NONE", False),
    ("conv", 1, 1, "VALID", 1, 33, 4, 1, 1, "NONE", False),
    ("conv", 1, 1, "VALID", 1, 12, 6, 3, 3, "RELU6", False),
    ("conv", 1, 1, "VALID", 1, 40, 11, 2, 2, "RELU", False),
    ("conv", 1, 1, "VALID", 1, 12, 9, 3, 5, "NONE", True),
    ("conv", 1, 1, "VALID", 1, 24, 10, 2, 3, "NONE", True),
    # im2col: the RGB stem (odd widths), other kernels, strides, paddings, dilation
    ("conv", 3, 2, "SAME", 1, 3, 8, 11, 9, "NONE", False),
    ("conv", 3, 2, "SAME", 1, 3, 5, 8, 10, "RELU6", False),
    ("conv", 3, 1, "SAME", 1, 5, 6, 5, 7, "NONE", False),
    ("conv", 3, 2, "VALID", 1, 5, 6, 10, 9, "RELU", False),
    ("conv", 5, 2, "SAME", 1, 7, 9, 9, 8, "NONE", False),
    ("conv", 3, 1, "SAME", 2, 4, 3, 7, 7, "NONE", False),
    ("conv", 1, 2, "SAME", 1, 6, 5, 7, 7, "NONE", False),
    ("conv", 3, 1, "SAME", 1, 12, 9, 4, 5, "NONE", True),
    # grouped 1x1 (ShuffleNet V1): one GEMM per group; the 'dilation' field is the group count
    ("gconv", 1, 1, "VALID", 3, 24, 15, 3, 4, "NONE", False),
    ("gconv", 1, 1, "VALID", 2, 40, 18, 2, 3, "RELU", False),
    # 3x3 depthwise: odd channel counts, planes narrower than a vector, strides, paddings (stride 2
    # on planes above DW_MVE_MIN_STRIDE2_PLANE output pixels: smaller ones take the DSP kernel)
    ("dw", 3, 1, "SAME", 1, 1, 1, 5, 6, "NONE", False),
    ("dw", 3, 1, "SAME", 1, 5, 1, 7, 9, "NONE", False),
    ("dw", 3, 1, "VALID", 1, 16, 1, 6, 5, "NONE", False),
    ("dw", 3, 2, "SAME", 1, 8, 1, 26, 26, "NONE", False),
    ("dw", 3, 2, "VALID", 1, 7, 1, 27, 29, "NONE", False),
    ("dw", 3, 2, "SAME", 1, 19, 1, 31, 20, "NONE", False),
    ("dw", 3, 1, "SAME", 1, 6, 1, 3, 3, "RELU6", False),
    ("dw", 3, 2, "SAME", 1, 9, 1, 25, 25, "RELU", False),
    ("dw", 3, 1, "SAME", 1, 24, 1, 6, 7, "NONE", True),
    # ADD of equal shapes (after a QUANTIZE that makes its second operand): odd sizes, clamps
    ("add", 0, 0, "", 0, 5, 0, 6, 6, "NONE", False),
    ("add", 0, 0, "", 0, 7, 0, 3, 1, "RELU6", False),
    ("add", 0, 0, "", 0, 16, 0, 5, 3, "RELU", False),
    # MAX_POOL_2D: channel counts around 16, windows cut by the padding
    ("maxpool", 3, 2, "SAME", 1, 5, 0, 9, 9, "NONE", False),
    ("maxpool", 2, 2, "VALID", 1, 19, 0, 8, 7, "RELU6", False),
    ("maxpool", 3, 1, "SAME", 1, 32, 0, 4, 5, "NONE", False),
    # AVERAGE_POOL_2D: windows of 1 to 9 cells at the borders, exact rounded division
    ("avgpool", 3, 2, "SAME", 1, 7, 0, 9, 9, "NONE", False),
    ("avgpool", 2, 2, "VALID", 1, 19, 0, 8, 7, "RELU6", False),
    ("avgpool", 3, 1, "SAME", 1, 6, 0, 5, 4, "NONE", False),
    # QUANTIZE int8 -> int8 and a standalone RELU
    ("quantize", 0, 0, "", 0, 7, 0, 5, 3, "QUANTIZE", False),
    ("quantize", 0, 0, "", 0, 16, 0, 3, 3, "RELU", False),
]
# the strided copies that take mcuf_copy_s8_mve: (kind, shape, perm or (begin, size))
COPIES = [
    ("transpose", (1, 3, 9, 10), (0, 2, 3, 1)),          # NCHW -> NHWC: short rows, scattered
    ("transpose", (1, 20, 37), (0, 2, 1)),               # rows of 20 gathered 37 apart
    ("slice", (1, 4, 5, 40), ((0, 1, 0, 3), (1, 2, 5, 33))),   # contiguous rows of 33
]


def _model(case) -> bytes:
    kind, k, stride, padding, dil, in_c, oc, h, w, act, left = case
    if kind == "add":
        return opmodels.add_model(_rng(case), shape=(1, h, w, in_c), act=act)
    if kind in ("maxpool", "avgpool"):
        return opmodels.pool_model(_rng(case), kind="MAX_POOL_2D" if kind == "maxpool" else "AVERAGE_POOL_2D",
                                   k=k, stride=stride, padding=padding, c=in_c, h=h, w=w, act=act)
    if kind == "quantize":
        return opmodels.requantize_model(_rng(case), op=act, shape=(1, h, w, in_c))
    if kind == "gconv":
        return opmodels.conv_model(_rng(case), k=k, stride=stride, padding=padding, dilation=1, groups=dil,
                                   in_c=in_c, out_c=oc, h=h, w=w, act=act, scale_span=(1e-4, 1e-1))
    small = dict(scale_span=(1e-3, 0.3), wmax=2, bmax=20) if left else dict(scale_span=(1e-4, 1e-1))
    if kind == "conv":
        return opmodels.conv_model(_rng(case), k=k, stride=stride, padding=padding, dilation=dil,
                                   in_c=in_c, out_c=oc, h=h, w=w, act=act,
                                   out_scale=(0.003 if k == 1 else 0.001) if left else None, **small)
    return opmodels.depthwise_model(_rng(case), k=k, stride=stride, padding=padding, dilation=dil,
                                    in_c=in_c, mult=oc, h=h, w=w, act=act,
                                    out_scale=0.003 if left else None, **small)


def _copy_model(case) -> bytes:
    kind, shape, arg = case
    if kind == "transpose":
        return opmodels.transpose_model(_rng(case), shape=shape, perm=arg)
    return opmodels.slice_model(_rng(case), shape=shape, begin=arg[0], size=arg[1])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """SWEEP's models, then COPIES', in one firmware image."""
    work = tmp_path_factory.mktemp("mve")
    models = []
    for i, data in enumerate([*map(_model, SWEEP), *map(_copy_model, COPIES)]):
        path = work / f"case{i}.tflite"
        path.write_bytes(data)
        models.append(path)
    mans, outs = run_on_m55(models, work)
    return models, mans, outs


def test_sweep_takes_every_mve_kernel_and_copy(sweep):
    models, mans, _ = sweep
    kernels = [m["layers"][-1]["kernel"] for m in mans]
    assert all(k.endswith(("_mve", "_mve_fast")) for k in kernels), kernels
    for base in ("mcuf_conv_1x1_s8_mve", "mcuf_conv_s8_mve", "mcuf_depthwise_conv_3x3_s8_mve"):
        assert base in kernels and base + "_fast" in kernels, base
    assert {"mcuf_add_s8_mve", "mcuf_maxpool_s8_mve", "mcuf_avgpool_s8_mve", "mcuf_copy_s8_mve",
            "mcuf_requantize_s8_mve"} <= set(kernels)
    for case, model in zip(SWEEP, models):   # the left-shift cases have left shifts
        if case[0] not in ("conv", "dw"):
            continue
        shifts = next(c for c in compile_graph(model, "mve").steps[0].consts
                      if c.name.endswith(("_shift", "_out_params", "_packed")))
        vals = (shifts.values.reshape(-1, 3, 4)[:, 2] if shifts.name.endswith("_out_params") else
                shifts.values.reshape(-1, 42)[:, 34:] if shifts.name.endswith("_packed") else shifts.values)
        assert (vals > 0).any() == case[-1], case


@pytest.mark.parametrize("i", range(len(SWEEP), len(SWEEP) + len(COPIES)),
                         ids=lambda i: "{}-{}".format(*COPIES[i - len(SWEEP)][:2]))
def test_mve_copy_on_cortex_m55_equals_tflite(sweep, i):
    _compare(sweep, i)


@pytest.mark.parametrize("i", range(len(SWEEP)), ids=lambda i: "{}-k{}s{}-{}-d{}-c{}-{}-{}x{}-{}{}".format(
    *SWEEP[i][:-1], "-left" if SWEEP[i][-1] else "") if SWEEP[i][0] in ("conv", "dw", "gconv") else
    "{}-k{}s{}-{}-{}x{}x{}-{}".format(SWEEP[i][0], *SWEEP[i][1:4], SWEEP[i][7], SWEEP[i][8], SWEEP[i][5], SWEEP[i][9]))
def test_mve_kernel_on_cortex_m55_equals_tflite(sweep, i):
    _compare(sweep, i)


def _compare(sweep, i):
    """Model i's outputs on the M55, every run, equal TFLite's reference bytes."""
    models, mans, outs = sweep
    ref = ReferenceModel(models[i])
    for r, got in enumerate(outs[i]):
        want = ref.invoke(sweep_input(mans[i]["input"]["bytes"], r)).reshape(-1).tolist()
        assert got == want, f"run {r}: {sum(a != b for a, b in zip(got, want))} of {len(want)} bytes differ"


@pytest.mark.parametrize("opt", ["-O0", "-Os"])
def test_mve_assembly_paths_at_other_optimization_levels(tmp_path, opt):
    """The assembly routines (GEMM rows of <= 16 and > 16 bytes with a tail, the stem through
    the im2col row, 3x3 depthwise at stride 1 and 2) and the intrinsics built at -O0 and -Os:
    the same bytes as TFLite."""
    picked = [1, 3, 10, 21, 23, 35]
    models = []
    for i in picked:
        path = tmp_path / f"case{i}.tflite"
        path.write_bytes(_model(SWEEP[i]))
        models.append(path)
    mans, outs = run_on_m55(models, tmp_path, opt=opt, runs=1)
    assert any(m["layers"][0]["kernel"] == "mcuf_depthwise_conv_3x3_s8_mve_fast" for m in mans)
    for model, man, got in zip(models, mans, outs):
        want = ReferenceModel(model).invoke(sweep_input(man["input"]["bytes"], 0)).reshape(-1).tolist()
        assert got[0] == want, model.name


@pytest.mark.parametrize("i", [0, 4, 8, 10, 14, 18, 21, 25, 28, 30, 33, 36, 39])
def test_mve_generated_code_on_the_host(write_model, tmp_path, i):
    """The MVE set's generated C built for the host (the kernels' plain-C branch, the same
    layouts and constants) equals the reference on every layer."""
    res = verify(write_model(_model(SWEEP[i])), tmp_path / "gen", inputs=3, kernels="mve")
    assert res.ok, f"{res.output_bytes_differing} output bytes differ"


@pytest.mark.parametrize("model", sorted(BENCH_MODELS.glob("*.tflite")), ids=lambda p: p.stem)
def test_benchmark_models_on_cortex_m55_with_mve(model, tmp_path):
    """Both real models: the M55's default kernel set is the MVE one, bit-exact on the bench input."""
    b = get_board("qemu-mps3-an547")
    man = generate(model, tmp_path / "gen", b.target)
    assert man["kernels"] == "mve"
    kernels = {l["kernel"] for l in man["layers"]}
    assert {"mcuf_conv_1x1_s8_mve_fast", "mcuf_depthwise_conv_3x3_s8_mve_fast"} <= kernels, kernels
    res = run_qemu(b, build_firmware(tmp_path / "gen", b).elf, timeout=120)
    assert res.returncode == 0, res.console
    want = ReferenceModel(model).invoke(deterministic_input(man["input"]["bytes"]))
    assert parse_bench(res.console)["output"] == want.reshape(-1).tolist()


SMALL_MODELS = BENCH_MODELS.parent / "small"


@pytest.mark.parametrize("model", [*sorted(FIXTURE_MODELS.glob("*.tflite")), *sorted(BENCH_MODELS.glob("*.tflite")),
                                   *sorted(SMALL_MODELS.glob("*.tflite"))], ids=lambda p: p.stem)
def test_mve_set_takes_an_optimized_kernel_wherever_the_dsp_set_has_one(model):
    """An M55 runs the DSP kernels too: with --kernels mve no layer may fall back to a portable
    kernel where the DSP set has an optimized one (MUL, FULLY_CONNECTED and broadcasting ADD
    once did, and mobilevit_xxs_96_rgb took 71.8M instructions with the MVE set against 44.0M
    with the DSP one on mps3-an547; benchmarks/results_m55.md)."""
    opt = re.compile(r"_(dsp|mve)(_|$)")
    mve_steps, dsp_steps = compile_graph(model, "mve").steps, compile_graph(model, "dsp").steps
    assert len(mve_steps) == len(dsp_steps)
    portable = [(s.op.index, s.op.type, s.kernel, d.kernel) for s, d in zip(mve_steps, dsp_steps)
                if opt.search(d.kernel) and not opt.search(s.kernel)]
    assert not portable, portable
