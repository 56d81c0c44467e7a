"""Legacy uint8 graphs against TFLite's uint8 reference kernels, every layer: the values
stored shifted to int8, weight zero points applied per tap, uint8 average-pool rounding."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import opmodels
from codegen.verify import deterministic_input, verify
from test_single_ops import seed

LAYERS = [  # kind, options
    ("CONV_2D", dict(k=3, stride=1, padding="SAME")),
    ("CONV_2D", dict(k=3, stride=2, padding="VALID", act="RELU6", w_zp=140)),
    ("CONV_2D", dict(k=1, stride=1, padding="SAME", in_zp=0, w_zp=255)),
    ("CONV_2D", dict(k=1, stride=1, padding="SAME", in_zp=255, w_zp=0)),
    ("DEPTHWISE_CONV_2D", dict(k=3, stride=1, padding="SAME", w_zp=97)),
    ("DEPTHWISE_CONV_2D", dict(k=3, stride=2, padding="SAME", act="RELU6", in_zp=3)),
    ("FULLY_CONNECTED", dict(w_zp=133)),
    ("FULLY_CONNECTED", dict(w_zp=0, in_zp=250)),
    ("AVERAGE_POOL_2D", dict(k=2, stride=2, padding="VALID")),
    ("AVERAGE_POOL_2D", dict(k=3, stride=1, padding="SAME", in_zp=7)),
    ("AVERAGE_POOL_2D", dict(k=7, stride=1, padding="VALID", in_zp=255)),
    ("MAX_POOL_2D", dict(k=3, stride=2, padding="SAME")),
    ("SOFTMAX", dict(in_zp=200)),
]


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("kind,options", LAYERS, ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}{x}" for k, x in v.items()))
def test_uint8_layer(write_model, tmp_path, kind, options, kernels):
    model = write_model(opmodels.uint8_layer_model(seed("u8", kind, options), kind, **options))
    res = verify(model, tmp_path / "gen", inputs=8, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.distinct_outputs > 1


LEGACY_MOBILENET = Path(__file__).parent / "fixtures" / "legacy" / "legacy_uint8_mobilenet_v1_a025_64.tflite"


@pytest.mark.parametrize("kernels", ["reference", "dsp", "mve"])
def test_uint8_mobilenet_bit_exact_every_layer(tmp_path, kernels):
    """The legacy uint8 MobileNet V1 (tests/fixtures/make_uint8_mobilenet.py): 32 layers
    (x ^ 0x80 in, 27 convolutions, average pool, softmax, x ^ 0x80 out), 20 inputs."""
    res = verify(LEGACY_MOBILENET, tmp_path / "gen", inputs=20, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.layers_compared == 20 * 32 and res.distinct_outputs == 20


@pytest.mark.parametrize("name", ["mobilenet", "v3_blocks"])
def test_uint8_network_on_cortex_m7(tmp_path, name):
    """The same bytes as TFLite's uint8 reference on QEMU's Cortex-M7 (DSP kernels where
    they apply, the _wzp kernels for the weight offsets): the MobileNet V1 and the V3-style
    network (defined below)."""
    from codegen.pipeline import generate
    from codegen.verify import deterministic_input
    from firmware_tools.boards import get_board
    from firmware_tools.build import build_firmware
    from firmware_tools.qemu import parse_bench, run_qemu
    from runtime.interpreter import ReferenceModel
    model = {"mobilenet": LEGACY_MOBILENET, "v3_blocks": LEGACY_V3}[name]
    b = get_board("qemu-mps2-an500")
    man = generate(model, tmp_path / "gen", b.target)
    assert man["input"]["dtype"] == man["output"]["dtype"] == "uint8"
    res = run_qemu(b, build_firmware(tmp_path / "gen", b).elf, timeout=120)
    assert res.returncode == 0, res.console
    x = deterministic_input(man["input"]["bytes"])
    want = ReferenceModel(model).invoke(x).reshape(-1)
    got = np.array(parse_bench(res.console)["output"], np.int64) % 256     # bytes, as uint8
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("kind", ["ADD", "CONCATENATION"])
def test_uint8_add_and_concatenation(write_model, tmp_path, kind, kernels):
    """uint8 ADD (the int8 arithmetic on shifted values) and CONCATENATION of inputs with
    three quantizations (ConcatenationWithScaling's float rescaling as a table per input)."""
    model = write_model(opmodels.uint8_add_concat_model(seed("u8", kind), kind))
    res = verify(model, tmp_path / "gen", inputs=20, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.distinct_outputs > 1


# --- the operators of uint8 MobileNet V3 / EdgeTPU-style and segmentation graphs ---

OPERATORS = [  # kind, options of opmodels.uint8_op_model
    ("HARD_SWISH", dict(in_scale=0.03, in_zp=120, out_scale=0.02, out_zp=40)),
    ("HARD_SWISH", dict(in_scale=0.05, in_zp=200, out_scale=0.04, out_zp=10)),
    ("LOGISTIC", dict(in_scale=0.06, in_zp=130)),
    ("LOGISTIC", dict(in_scale=0.1, in_zp=20)),
    ("TANH", dict(in_scale=0.02, in_zp=100)),
    ("RELU", dict(in_scale=0.03, in_zp=120, out_scale=0.02, out_zp=3)),
    ("RELU6", dict(in_scale=0.05, in_zp=100, out_scale=6 / 255, out_zp=0)),   # ties: float multiplier
    ("RELU_N1_TO_1", dict(in_scale=0.01, in_zp=128, out_scale=2 / 255, out_zp=128)),
    ("QUANTIZE", dict(in_scale=0.05, in_zp=128, out_scale=0.07, out_zp=100)),
    ("QUANTIZE", dict(in_scale=0.02, in_zp=3, out_scale=0.011, out_zp=250)),
    ("MUL", dict(b="const", out_scale=0.04, out_zp=100)),
    ("MUL", dict(b="self", out_scale=0.05, out_zp=10, act="RELU6")),
    ("MUL", dict(b="mean", out_scale=0.05, out_zp=120)),
    ("SUB", dict(b="const", out_scale=0.06, out_zp=128)),
    ("SUB", dict(b="mean", out_scale=0.04, out_zp=128, act="RELU")),
    ("MAXIMUM", dict(b="const", b_scale=0.05, b_zp=128)),
    ("MINIMUM", dict(b="const", b_shape=[1, 1, 7, 6], b_scale=0.05, b_zp=128)),
    ("MEAN", dict(axes=[1, 2], keep_dims=True, out_scale=0.03, out_zp=100)),
    ("MEAN", dict(axes=[1, 2], keep_dims=True)),
    ("MEAN", dict(axes=[1, 2], keep_dims=False, out_scale=0.03, out_zp=100)),
    ("MEAN", dict(axes=[2], keep_dims=True, in_zp=30, out_scale=0.02, out_zp=150)),
    ("MEAN", dict(axes=[-1], keep_dims=False, in_zp=200, out_scale=0.02, out_zp=50)),
    ("PAD", dict(pads=[0, 0, 1, 2, 2, 1, 0, 0], in_zp=77)),
    ("PADV2", dict(pads=[0, 0, 1, 2, 2, 1, 0, 0], in_zp=77, value=5)),
    ("RESIZE_NEAREST_NEIGHBOR", dict(out_hw=[9, 13])),
    ("RESIZE_NEAREST_NEIGHBOR", dict(out_hw=[10, 14], half_pixel=True)),
    ("RESIZE_NEAREST_NEIGHBOR", dict(out_hw=[9, 13], align_corners=True)),
    ("RESIZE_BILINEAR", dict(out_hw=[9, 13])),
    ("RESIZE_BILINEAR", dict(out_hw=[10, 14], half_pixel=True)),
    ("RESIZE_BILINEAR", dict(out_hw=[9, 13], align_corners=True)),
    ("RESIZE_BILINEAR", dict(out_hw=[17, 3], half_pixel=True, in_zp=0)),
]


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("kind,options", OPERATORS, ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}{x}" for k, x in v.items()))
def test_uint8_operator(write_model, tmp_path, kind, options, kernels):
    """One legacy uint8 operator, compiled through the shift (codegen/legacy_uint8.py says
    why each is exact), against TFLite's uint8 reference kernels, 8 inputs. A unary one reads
    [1, 256]: verify's first input, (i * 7 + 3) % 256, holds every byte once."""
    model = write_model(opmodels.uint8_op_model(seed("u8op", kind, options), kind, **options))
    res = verify(model, tmp_path / "gen", inputs=8, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.reference == "litert" and res.distinct_outputs > 1
    if kind in opmodels.UINT8_UNARY:
        assert len(set(deterministic_input(256).tolist())) == 256


def test_relu6_multiplier_ties_int8(write_model, tmp_path):
    """ReluPrepare divides the scales in float (found on the uint8 RELU6 above): int8
    0.05 -> 6/255 puts (x - zp) * 2.125 on exact halves, where the double quotient rounds
    the other way."""
    model = write_model(opmodels.unary_model("RELU6", in_scale=0.05, in_zp=-28, out_scale=6 / 255, out_zp=-128))
    res = verify(model, tmp_path / "gen", inputs=2)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"


def test_uint8_float_edges(write_model, tmp_path):
    """A legacy uint8 graph behind float32 edges (QUANTIZE float32 -> uint8 in, DEQUANTIZE
    out): the edges become the float API conversions of the shifted int8 tensors."""
    model = write_model(opmodels.uint8_float_edges_model(seed("u8", "float edges")))
    res = verify(model, tmp_path / "gen", inputs=8)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.distinct_outputs > 1 and res.layers_compared == 8 * 3   # input edge, conv, HARD_SWISH


# the int8 one-op models of tests/opmodels.py written as uint8 (opmodels.uint8_variant)
VARIANTS = [
    ("LEAKY_RELU", lambda r: opmodels.head_unary_model("LEAKY_RELU", in_scale=0.03, in_zp=-8, out_scale=0.02,
                                                       out_zp=-28, Alpha=0.2)),
    ("LEAKY_RELU", lambda r: opmodels.head_unary_model("LEAKY_RELU", in_scale=0.03, in_zp=40, out_scale=0.05,
                                                       out_zp=0, Alpha=1.7)),
    ("PRELU", lambda r: opmodels.head_binary_model(r, "PRELU", shape_a=(1, 5, 6, 7), shape_b=(7,), const_b=True,
                                                   quant=((0.05, 3), (0.01, -20), (0.04, -10)))),
    ("LOG_SOFTMAX", lambda r: opmodels.log_softmax_model(r, shape=(4, 100), in_scale=0.1, in_zp=-3)),
    ("LOG_SOFTMAX", lambda r: opmodels.log_softmax_model(r, shape=(3, 1000), in_scale=0.25, in_zp=127)),
    ("LOG_SOFTMAX", lambda r: opmodels.log_softmax_model(r, shape=(16, 10), in_scale=1.3, in_zp=20)),
    ("TRANSPOSE", lambda r: opmodels.transpose_model(r, shape=(1, 3, 4, 5), perm=(0, 2, 3, 1))),
    ("SLICE", lambda r: opmodels.slice_model(r, shape=(1, 6, 5, 4), begin=(0, 1, 2, 1), size=(1, 3, -1, 2))),
    ("STRIDED_SLICE", lambda r: opmodels.strided_slice_model(r, shape=(1, 6, 5, 4), begin=(0, 1, 0, 0),
                                                             end=(1, 6, 5, 4), strides=(1, 2, 2, 1),
                                                             out_shape=(1, 3, 3, 4))),
    ("SPLIT", lambda r: opmodels.split_concat_model(r, shape=(1, 6, 4, 6), axis=3, sizes=(3, 3))),
    ("SPLIT_V", lambda r: opmodels.split_concat_model(r, shape=(1, 6, 4, 6), axis=1, sizes=(1, 2, 3), split_v=True)),
]


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("case", range(len(VARIANTS)), ids=[f"{k}{i}" for i, (k, _) in enumerate(VARIANTS)])
def test_uint8_operator_variant(write_model, tmp_path, case, kernels):
    """LEAKY_RELU, PRELU, LOG_SOFTMAX and the copies in uint8 (the int8 test models with every
    int8 tensor uint8, values and zero points + 128) against TFLite's uint8 reference."""
    kind, make = VARIANTS[case]
    model = write_model(opmodels.uint8_variant(make, seed("u8var", case)))
    res = verify(model, tmp_path / "gen", inputs=8, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.reference == "litert" and res.distinct_outputs > 1
    assert any(l["op"] == kind for l in json.loads((tmp_path / "gen" / "model.json").read_text())["layers"])


def test_an_operator_mixing_uint8_and_int8_refused(write_model, tmp_path):
    """attack6: RESIZE_BILINEAR uint8 -> int8 (TFLite's kernel dispatches on the output type
    and reads the uint8 bytes as int8) compiled with every output byte different; refused in
    one line naming the operator, both tensors and the fix."""
    from codegen.tflite_writer import ModelBuilder
    mb = ModelBuilder()
    x = mb.tensor([1, 4, 4, 3], "uint8", 0.05, 128)
    y = mb.tensor([1, 8, 8, 3], "int8", 0.05, 0)
    mb.op("RESIZE_BILINEAR", [x, mb.tensor([2], "int32", data=[8, 8])], [y], "ResizeBilinearOptions")
    model = write_model(mb.build([x], [y]))
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "emit", "-o", str(tmp_path / "gen"), str(model)],
                       capture_output=True, text=True, timeout=120)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert all(w in lines[0] for w in ("op #0 RESIZE_BILINEAR", "uint8 tensor 't0'", "int8 tensor 't1'",
                                       "QUANTIZE between")), lines[0]


@pytest.mark.parametrize("kind", ["SQUARED_DIFFERENCE"])
def test_uint8_operator_refused(write_model, tmp_path, kind):
    """A uint8 operator not checked against TFLite's uint8 kernel (codegen/legacy_uint8.py's
    SHIFTABLE_OPS) is refused in one line naming it, exit code 2."""
    model = write_model(opmodels.uint8_variant(opmodels.squared_difference_model, seed("u8", kind),
                                               shape_a=(1, 4, 4, 3), shape_b=(1, 4, 4, 3), const_b=True))
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "emit", "-o", str(tmp_path / "gen"), str(model)],
                       capture_output=True, text=True, timeout=120)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"#0 {kind}" in lines[0] and "re-convert with full-integer int8 quantization" in lines[0]



def test_uint8_logistic_with_a_foreign_output_quantization_is_named_in_uint8_terms(write_model, tmp_path):
    """TFLite refuses a uint8 LOGISTIC whose output is not 1/256 and zero point 0; the refusal
    names the model's own uint8 zero point and requirement, not the int8 ones of the shift."""
    model = write_model(opmodels.uint8_op_model(seed("u8logq"), "LOGISTIC", out_scale=1 / 128, out_zp=3))
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "emit", "-o", str(tmp_path / "gen"), str(model)],
                       capture_output=True, text=True, timeout=120)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "zero point 3;" in lines[0] and "uint8 LOGISTIC requires 1/256 and 0" in lines[0], lines[0]


LEGACY_V3 = Path(__file__).parent / "fixtures" / "legacy" / "legacy_uint8_v3_blocks.tflite"


@pytest.mark.parametrize("kernels", ["reference", "dsp", "mve"])
def test_uint8_v3_blocks_bit_exact_every_layer(tmp_path, kernels):
    """The legacy uint8 V3-style network (tests/fixtures/make_uint8_mobilenet_v3.py):
    HARD_SWISH, PAD folded into a depthwise, squeeze-excite (MEAN, MULs), residual ADD,
    QUANTIZE requantization, RESIZE_NEAREST_NEIGHBOR, CONCATENATION of two quantizations,
    RESIZE_BILINEAR (align_corners), LOGISTIC, standalone RELU6, MEAN, FULLY_CONNECTED, SOFTMAX;
    23 layers compared, 20 inputs."""
    res = verify(LEGACY_V3, tmp_path / "gen", inputs=20, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.layers_compared == 20 * 23 and res.distinct_outputs == 20



@pytest.mark.parametrize("options", [dict(out_hw=[10, 14], half_pixel=True), dict(out_hw=[9, 13], align_corners=True)],
                         ids=["half_pixel", "align_corners"])
def test_uint8_resize_bilinear_on_cortex_m7(write_model, tmp_path, options):
    """mcuf_resize_bilinear_u8's float interpolation on QEMU's Cortex-M7 (FPv5, where GCC
    would fuse a multiply and an add unless told not to): every output byte equals TFLite's
    uint8 reference."""
    from codegen.pipeline import generate
    from firmware_tools.boards import get_board
    from firmware_tools.build import build_firmware
    from firmware_tools.qemu import parse_bench, run_qemu
    from runtime.interpreter import ReferenceModel
    model = write_model(opmodels.uint8_op_model(seed("u8op", "RESIZE_BILINEAR", options), "RESIZE_BILINEAR", **options))
    b = get_board("qemu-mps2-an500")
    man = generate(model, tmp_path / "gen", b.target)
    res = run_qemu(b, build_firmware(tmp_path / "gen", b).elf, timeout=120)
    assert res.returncode == 0, res.console
    want = ReferenceModel(model).invoke(deterministic_input(man["input"]["bytes"])).reshape(-1)
    got = np.array(parse_bench(res.console)["output"], np.int64) % 256
    assert got.size == want.size > 500 and got.tolist() == want.tolist()


def test_mutated_uint8_models_refused_cleanly():
    """Garbage shapes, options, constants and zero points on the uint8 graphs of this file
    (the V3-style fixture, RESIZE_BILINEAR, float edges, a requantization, LOG_SOFTMAX): the
    generator lowers them or refuses them in one line, never another exception."""
    import copy
    from codegen.tflite_reader import parse_model
    from graph_mutants import lowers_or_refuses, mutate
    rng = np.random.default_rng(5)
    sources = [
        LEGACY_V3.read_bytes(),
        opmodels.uint8_op_model(seed("m1"), "RESIZE_BILINEAR", out_hw=[9, 13], half_pixel=True),
        opmodels.uint8_op_model(seed("m2"), "QUANTIZE", in_scale=0.05, in_zp=128, out_scale=0.07, out_zp=100),
        opmodels.uint8_op_model(seed("m3"), "MUL", b="mean", out_scale=0.05, out_zp=120),
        opmodels.uint8_float_edges_model(seed("m4")),
        opmodels.uint8_variant(opmodels.log_softmax_model, seed("m5"), shape=(2, 7), in_scale=0.1, in_zp=0),
    ]
    graphs = [parse_model(d) for d in sources]
    outcomes = {"ok": 0, "refused": 0}
    for trial in range(300):
        g = copy.deepcopy(graphs[trial % len(graphs)])
        mutate(g, rng, dtypes=["uint8", "int8", "float32"])
        outcomes["ok" if lowers_or_refuses(g, strip_edges=True) else "refused"] += 1
    assert outcomes["ok"] > 20 and outcomes["refused"] > 20, outcomes
