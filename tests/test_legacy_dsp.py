"""The _dsp kernels of legacy uint8 convolutions (mcuf_conv_wzp_s8_dsp,
mcuf_depthwise_conv_wzp_s8_dsp) and of MEAN (mcuf_mean_s8_dsp), and the contiguous-row paths of
mcuf_mul_s8_dsp / mcuf_add_s8_dsp, against TFLite's reference kernels over a shape sweep: odd channel counts, small and large planes, strides, paddings,
dilations, zero points at both ends; once on the host (the DSP intrinsics emulated in C,
every layer compared by verify) and once on QEMU's Cortex-M7 (the whole sweep in one
firmware image, tests/mve_sweep.py)."""
import numpy as np
import pytest

import opmodels
from codegen.verify import verify
from mve_sweep import run_on_m55, sweep_input
from runtime.interpreter import ReferenceModel
from test_single_ops import seed

INT8_KERNEL: dict[tuple, str] = {}   # the cases that take an int8 _dsp kernel (the others a _wzp one)


def int8(kernel: str, *case) -> tuple:
    """`case`, recorded as one the int8 _dsp kernel `kernel` runs."""
    INT8_KERNEL[case] = kernel
    return case


# kind, h, w, c, out_c, k, stride, padding, dilation, act, in_zp, w_zp
CONV = [
    ("CONV_2D", 16, 16, 3, 8, 3, 2, "SAME", 1, "RELU6", 128, 119),    # a stem
    ("CONV_2D", 12, 12, 1, 4, 3, 1, "SAME", 1, "NONE", 128, 119),     # grey input
    ("CONV_2D", 6, 6, 8, 16, 1, 1, "SAME", 1, "RELU6", 3, 140),       # pointwise
    ("CONV_2D", 5, 7, 5, 7, 1, 1, "VALID", 1, "NONE", 250, 97),       # odd channels, odd pixels
    ("CONV_2D", 9, 8, 16, 3, 1, 2, "VALID", 1, "RELU", 128, 119),
    ("CONV_2D", 7, 9, 5, 6, 3, 1, "VALID", 1, "NONE", 0, 160),
    ("CONV_2D", 11, 11, 4, 5, 3, 1, "SAME", 2, "RELU6", 255, 100),
    ("CONV_2D", 8, 8, 2, 5, 5, 2, "SAME", 1, "NONE", 128, 128),
    ("CONV_2D", 1, 1, 6, 3, 3, 1, "SAME", 1, "NONE", 100, 60),        # every tap but one padding
    ("DEPTHWISE_CONV_2D", 16, 16, 8, 8, 3, 1, "SAME", 1, "RELU6", 128, 119),
    ("DEPTHWISE_CONV_2D", 7, 7, 5, 5, 3, 1, "SAME", 1, "NONE", 3, 97),
    ("DEPTHWISE_CONV_2D", 9, 9, 12, 12, 3, 2, "SAME", 1, "RELU6", 128, 140),
    int8("mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast", "DEPTHWISE_CONV_2D", 10, 10, 4, 4, 3, 2, "VALID", 1, "NONE", 250, 30),
    ("DEPTHWISE_CONV_2D", 9, 9, 6, 6, 3, 1, "SAME", 2, "RELU", 10, 230),
    int8("mcuf_depthwise_conv_hwc_5x5_s8_dsp_fast", "DEPTHWISE_CONV_2D", 8, 8, 7, 7, 5, 1, "SAME", 1, "NONE", 128, 128),
    ("DEPTHWISE_CONV_2D", 24, 24, 16, 16, 3, 1, "SAME", 1, "RELU6", 128, 119),
    int8("mcuf_depthwise_conv_hwc_s8_dsp_fast", "DEPTHWISE_CONV_2D", 1, 1, 4, 4, 3, 1, "SAME", 1, "NONE", 90, 30),
    int8("mcuf_depthwise_conv_hwc_s8_dsp_fast", "DEPTHWISE_CONV_2D", 2, 3, 3, 3, 3, 2, "SAME", 1, "NONE", 128, 119),
    # the planar 3x3 kernel (mcuf_depthwise_conv_3x3_wzp_s8_dsp): odd widths and channels,
    # strides 1 and 2, SAME / VALID, rows of padding above and below
    ("DEPTHWISE_CONV_2D", 5, 17, 13, 13, 3, 2, "SAME", 1, "RELU6", 128, 119),
    int8("mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast", "DEPTHWISE_CONV_2D", 8, 18, 6, 6, 3, 2, "VALID", 1, "NONE", 7, 200),
    ("DEPTHWISE_CONV_2D", 3, 11, 9, 9, 3, 1, "VALID", 1, "RELU", 20, 15),
    ("DEPTHWISE_CONV_2D", 6, 5, 2, 2, 3, 1, "SAME", 1, "NONE", 128, 128),
    ("DEPTHWISE_CONV_2D", 2, 4, 5, 5, 3, 1, "SAME", 1, "NONE", 128, 119),   # a 2x4 plane
    ("DEPTHWISE_CONV_2D", 7, 16, 1, 1, 3, 2, "SAME", 1, "RELU6", 60, 190),  # one channel
    ("DEPTHWISE_CONV_2D", 5, 4, 18, 18, 3, 1, "SAME", 1, "RELU6", 128, 119),  # more groups than pairs
    ("DEPTHWISE_CONV_2D", 3, 2, 1, 1, 3, 2, "SAME", 1, "RELU6", 60, 190),   # HWC kernel: narrow
    int8("mcuf_depthwise_conv_hwc_s8_dsp_fast", "DEPTHWISE_CONV_2D", 4, 1, 8, 8, 3, 1, "SAME", 1, "NONE", 128, 119),
    # the full int8 range and exact fast constants: the int8 _dsp kernels with int16 weights
    # w + filter_offset (codegen/ops/legacy.py _lower_wzp_as_int8); weight zero points 0 and
    # 255 give W = +-255, the ends of what the int16 weights and the accumulator bound hold
    int8("mcuf_conv_shallow_stem_s8_dsp_fast", "CONV_2D", 16, 16, 3, 8, 3, 2, "SAME", 1, "NONE", 128, 119),     # the RGB stem kernel
    int8("mcuf_conv_shallow_stem_s8_dsp_fast", "CONV_2D", 9, 7, 3, 4, 3, 2, "VALID", 1, "NONE", 100, 0),        # odd plane, W up to 255
    int8("mcuf_conv_1x1_shallow_s8_dsp_fast", "CONV_2D", 6, 6, 8, 16, 1, 1, "SAME", 1, "NONE", 3, 140),        # the 1x1 int16 kernel
    int8("mcuf_conv_1x1_shallow_s8_dsp_fast", "CONV_2D", 5, 3, 64, 7, 1, 1, "VALID", 1, "NONE", 128, 250),     # 64 inputs, odd pixels and channels
    int8("mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast", "DEPTHWISE_CONV_2D", 16, 16, 16, 16, 3, 2, "SAME", 1, "NONE", 0, 255),   # stride 2: HWC
    int8("mcuf_depthwise_conv_hwc_s8_dsp_fast", "DEPTHWISE_CONV_2D", 7, 7, 10, 10, 3, 2, "SAME", 1, "NONE", 128, 0),     # channel tail
    # stride-2 3x3 layers of 4-16 channels on the small-plane entry (the input copied with
    # zero-point padding; codegen/ops/conv_dsp.py _hwc3_packed_takes): odd channels (the last
    # group over C-4..C-1), W = +-255
    int8("mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast", "DEPTHWISE_CONV_2D", 9, 12, 5, 5, 3, 2, "SAME", 1, "NONE", 255, 0),
    # one-pixel 1x1 planes (squeeze-excite) on mcuf_conv_1x1_one_pixel_in{4,8}_s8_dsp_fast: 8 -> 4
    # and 4 -> 8 as in legacy_uint8_v3_blocks, 19 and 13 outputs (a second pass of the unrolled
    # channel loop, the first entered part-way), W up to +-255
    int8("mcuf_conv_1x1_one_pixel_in8_s8_dsp_fast", "CONV_2D", 1, 1, 8, 4, 1, 1, "VALID", 1, "NONE", 128, 119),
    int8("mcuf_conv_1x1_one_pixel_in4_s8_dsp_fast", "CONV_2D", 1, 1, 4, 8, 1, 1, "VALID", 1, "NONE", 3, 255),
    int8("mcuf_conv_1x1_one_pixel_in4_s8_dsp_fast", "CONV_2D", 1, 1, 4, 19, 1, 1, "VALID", 1, "NONE", 250, 0),
    int8("mcuf_conv_1x1_one_pixel_in8_s8_dsp_fast", "CONV_2D", 1, 1, 8, 13, 1, 1, "SAME", 1, "NONE", 128, 128),
]
# shape, axes
MEAN = [
    ((1, 24, 24, 16), (1, 2)),      # 576 rows: the 16-bit lanes flush every 256
    ((1, 3, 3, 18), (1, 2)),        # a global pool of a small plane, 2 tail channels
    ((1, 5, 7, 6), (1, 2)),
    ((1, 17, 17, 3), (1, 2)),       # channels only in the scalar tail, 289 rows
    ((4, 9, 64), (-1,)),            # layer norm: one channel, contiguous
    ((2, 1100), (1,)),              # contiguous, more than 256 words
    ((3, 4, 5), (1,)),
    ((1, 5, 7, 6), (2, 3)),
]

# MUL: shape_a, shape_b, const_b, act; ADD: shape, act (tests/opmodels.py)
ELEMENTWISE = [
    ("MUL", (1, 6, 6, 13), (1, 1, 1, 13), False, "RELU6"),   # squeeze-excite scaling
    ("MUL", (1, 5, 5, 16), (1, 1, 1, 16), False, "NONE"),
    ("MUL", (1, 3, 7, 5), (1, 3, 7, 5), True, "NONE"),        # equal shapes (x * sigmoid(x))
    ("MUL", (1, 1, 1, 13), (), True, "NONE"),                  # a scalar: strided, not a row
    ("ADD", (1, 6, 6, 5), "RELU6"),
    ("ADD", (1, 4, 4, 16), "NONE"),
    ("ADD", (1, 3, 3, 7), "RELU"),
]


def elementwise_model(case) -> bytes:
    if case[0] == "MUL":
        _, a, b, const_b, act = case
        return opmodels.mul_model(seed("ewdsp", case), shape_a=a, shape_b=b, const_b=const_b, act=act)
    return opmodels.add_model(seed("ewdsp", case), shape=case[1], act=case[2])


def conv_model(case) -> bytes:
    kind, h, w, c, out_c, k, stride, padding, dilation, act, in_zp, w_zp = case
    return opmodels.uint8_layer_model(seed("u8dsp", case), kind, in_zp=in_zp, w_zp=w_zp, h=h, w=w, c=c,
                                      out_c=out_c, k=k, stride=stride, padding=padding, act=act,
                                      dilation=dilation)


def mean_model(case) -> bytes:
    shape, axes = case
    return opmodels.mean_model(seed("meandsp", case), keep_dims=True, same_quant=False, shape=shape, axes=axes)


def _id(case):
    return "-".join(map(str, case)).replace(" ", "")


@pytest.mark.parametrize("case", CONV, ids=_id)
def test_legacy_conv_dsp_on_host(write_model, tmp_path, case):
    res = verify(write_model(conv_model(case)), tmp_path / "gen", inputs=6, kernels="dsp")
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.distinct_outputs > 1


@pytest.mark.parametrize("case", MEAN, ids=_id)
def test_mean_dsp_on_host(write_model, tmp_path, case):
    res = verify(write_model(mean_model(case)), tmp_path / "gen", inputs=6, kernels="dsp")
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"


@pytest.fixture(scope="module")
def m7_sweep(tmp_path_factory):
    """Every CONV and MEAN case in one Cortex-M7 image, --kernels dsp, two inputs each."""
    work = tmp_path_factory.mktemp("legacy_dsp")
    models = []
    for i, data in enumerate([*map(conv_model, CONV), *map(mean_model, MEAN), *map(elementwise_model, ELEMENTWISE)]):
        path = work / f"case{i}.tflite"
        path.write_bytes(data)
        models.append(path)
    mans, outs = run_on_m55(models, work, kernels="dsp", board_name="qemu-mps2-an500")
    return models, mans, outs


def test_sweep_takes_the_dsp_kernels(m7_sweep):
    _, mans, _ = m7_sweep
    kernels = [[l["kernel"] for l in m["layers"] if l["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "MUL", "ADD")][-1]
               for m in mans]
    want = [(INT8_KERNEL[c] if c in INT8_KERNEL else
             "mcuf_conv_wzp_s8_dsp" if c[0] == "CONV_2D" else
             "mcuf_depthwise_conv_3x3_wzp_s8_dsp" if _planar(c) else
             "mcuf_depthwise_conv_wzp_s8_dsp") for c in CONV]
    want += ["mcuf_mean_s8_dsp"] * len(MEAN) + [f"mcuf_{c[0].lower()}_s8_dsp" for c in ELEMENTWISE]
    assert kernels == want


def _planar(case) -> bool:
    """The planar 3x3 kernel's cases (codegen/ops/legacy.py _planar_3x3)."""
    _, h, w, c, out_c, k, stride, padding, dilation, *_ = case
    out_w = -(-w // stride) if padding == "SAME" else (w - k) // stride + 1
    return k == 3 and dilation == 1 and out_w >= (4 if stride == 1 else 8)


def _sweep_id(i):
    if i < len(CONV):
        return _id(CONV[i])
    if i < len(CONV) + len(MEAN):
        return "MEAN-" + _id(MEAN[i - len(CONV)])
    return _id(ELEMENTWISE[i - len(CONV) - len(MEAN)])


@pytest.mark.parametrize("i", range(len(CONV) + len(MEAN) + len(ELEMENTWISE)), ids=_sweep_id)
def test_dsp_kernel_on_cortex_m7_equals_tflite(m7_sweep, i):
    models, mans, outs = m7_sweep
    ref = ReferenceModel(models[i])
    for r, got in enumerate(outs[i]):
        x = sweep_input(mans[i]["input"]["bytes"], r)
        want = ref.invoke(x.view(np.uint8) if i < len(CONV) else x).reshape(-1).astype(np.int64)
        got = np.array(got, np.int64) % 256 if i < len(CONV) else np.array(got, np.int64)
        assert got.tolist() == want.tolist(), f"run {r}: {int((got != want).sum())} of {want.size} bytes differ"


@pytest.mark.parametrize("board,opt", [("qemu-mps2-an386", "-O0"), ("qemu-mps2-an505", "-Os")])
def test_dsp_kernels_on_cortex_m4_and_m33_at_other_levels(tmp_path, board, opt):
    """The same sweep on the Cortex-M4 at -O0 and the Cortex-M33 at -Os (the inline assembly
    and intrinsics at other optimization levels and cores), one input each."""
    models = []
    for i, data in enumerate([*map(conv_model, CONV), *map(mean_model, MEAN), *map(elementwise_model, ELEMENTWISE)]):
        path = tmp_path / f"case{i}.tflite"
        path.write_bytes(data)
        models.append(path)
    mans, outs = run_on_m55(models, tmp_path, kernels="dsp", opt=opt, runs=1, board_name=board)
    bad = []
    for i, (model, man) in enumerate(zip(models, mans)):
        x = sweep_input(man["input"]["bytes"], 0)
        want = ReferenceModel(model).invoke(x.view(np.uint8) if i < len(CONV) else x).reshape(-1).astype(np.int64)
        got = np.array(outs[i][0], np.int64) % 256 if i < len(CONV) else np.array(outs[i][0], np.int64)
        if got.tolist() != want.tolist():
            bad.append(_sweep_id(i))
    assert not bad, bad
