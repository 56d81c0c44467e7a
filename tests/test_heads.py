"""Operators of detection and segmentation heads against TFLite's reference kernels
(BUILTIN_REF), one op at a time, both kernel sets, at the quantization extremes: zero points
-128 and 127, scales from 1e-4 to 10, broadcasting, align_corners / half_pixel_centers."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import opmodels
from codegen.verify import verify
from test_single_ops import seed

EXTREMES = [  # (scale, zero point) of input, second operand / -, output
    ((0.05, 3), (0.02, -7), (0.08, 1)),
    ((1e-4, -128), (10.0, 127), (0.5, -128)),
    ((3.0, 127), (0.01, -128), (1e-3, 127)),
    ((0.02, -128), (0.02, -128), (0.02, -128)),
]


def check(write_model, tmp_path, data: bytes, kernels: str, inputs: int = 6) -> dict:
    model = write_model(data)
    res = verify(model, tmp_path / "gen", inputs=inputs, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; first mismatch {res.mismatches[:1]}"
    return json.loads((tmp_path / "gen" / "model.json").read_text())


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("quant", EXTREMES)
@pytest.mark.parametrize("op,options", [("TANH", {}), ("LEAKY_RELU", {"Alpha": 0.1}),
                                        ("LEAKY_RELU", {"Alpha": 1.7}), ("LEAKY_RELU", {"Alpha": -0.3})])
def test_unary_tables(write_model, tmp_path, op, options, quant, kernels):
    """Every one of the 256 inputs appears: the whole table is checked."""
    (si, zi), _, (so, zo) = quant
    if op == "TANH":
        so = so if so <= 1 / 64 else 1 / 128
    data = opmodels.head_unary_model(op, in_scale=si, in_zp=zi, out_scale=so, out_zp=zo, **options)
    man = check(write_model, tmp_path, data, kernels)
    assert man["layers"][0]["kernel"] == "mcuf_lut_s8"


@pytest.mark.parametrize("alpha", [-1.0, -0.5, -0.25, -2.0])
def test_leaky_relu_negative_alpha_rounds_exact_halves_as_tflite(alpha):
    """attack5: scales whose ratio makes exact .5 products (0.05 -> 0.04, alpha -1: -102 *
    -1.25 = 127.5): TFLite gives 127, the signed product gave 128. The whole table of each
    (scale, zero point) pair against the reference interpreter, in process (no build)."""
    from codegen.ops.heads import leaky_relu_table
    from runtime.interpreter import make_interpreter
    for (si, zi), (so, zo) in [((0.05, 3), (0.04, -2)), ((0.1, 0), (0.08, 5)), ((1 / 64, -7), (1 / 128, 1)),
                               ((0.025, 10), (0.02, -10))]:
        it = make_interpreter(opmodels.head_unary_model("LEAKY_RELU", in_scale=si, in_zp=zi, out_scale=so,
                                                        out_zp=zo, Alpha=alpha), reference=True)
        it.set_tensor(it.get_input_details()[0]["index"], np.arange(-128, 128, dtype=np.int8).reshape(1, 256))
        it.invoke()
        ref = it.get_tensor(it.get_output_details()[0]["index"]).reshape(-1)
        assert np.array_equal(leaky_relu_table(si, zi, so, zo, alpha), ref), (si, zi, so, zo)


BINARY_SHAPES = [((1, 5, 6, 7), (1, 5, 6, 7), False), ((1, 5, 6, 7), (7,), True),
                 ((1, 5, 6, 7), (1, 5, 1, 1), True), ((2, 9, 3), (1, 1, 3), True)]


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("quant", EXTREMES)
@pytest.mark.parametrize("shape_a,shape_b,const_b", BINARY_SHAPES)
@pytest.mark.parametrize("op", ["SUB", "MAXIMUM", "MINIMUM"])
def test_binary(write_model, tmp_path, op, shape_a, shape_b, const_b, quant, kernels):
    rng = seed(op, shape_a, shape_b, quant)
    data = opmodels.head_binary_model(rng, op, shape_a=shape_a, shape_b=shape_b, const_b=const_b,
                                      quant=quant, act="RELU6" if quant[0][0] == 0.05 and op == "SUB" else "NONE")
    check(write_model, tmp_path, data, kernels)


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("quant", EXTREMES)
@pytest.mark.parametrize("shape_b", [(1, 1, 7), (7,), (1, 5, 6, 7), (5, 1, 1)])
def test_prelu(write_model, tmp_path, shape_b, quant, kernels):
    rng = seed("prelu", shape_b, quant)
    data = opmodels.head_binary_model(rng, "PRELU", shape_a=(1, 5, 6, 7), shape_b=shape_b,
                                      const_b=True, quant=quant)
    check(write_model, tmp_path, data, kernels)


RESIZE_CASES = [  # in_hw, out_hw, align_corners, half_pixel_centers
    ((4, 5), (8, 10), False, False), ((4, 5), (8, 10), True, False), ((4, 5), (8, 10), False, True),
    ((3, 3), (7, 5), False, False), ((3, 3), (7, 5), True, False), ((3, 3), (7, 5), False, True),
    ((8, 9), (3, 4), False, False), ((8, 9), (3, 4), True, False), ((8, 9), (3, 4), False, True),
    ((1, 1), (3, 2), False, False), ((5, 5), (1, 1), True, False), ((6, 4), (6, 4), False, True),
]


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("in_hw,out_hw,align,half", RESIZE_CASES)
@pytest.mark.parametrize("kind", ["RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"])
def test_resize(write_model, tmp_path, kind, in_hw, out_hw, align, half, kernels):
    rng = seed(kind, in_hw, out_hw, align, half)
    data = opmodels.resize_model(rng, kind, n=2 if in_hw == (3, 3) else 1, in_hw=in_hw,
                                 out_hw=out_hw, c=3, align_corners=align, half_pixel=half)
    check(write_model, tmp_path, data, kernels)


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
def test_concatenation_of_requantized_inputs(write_model, tmp_path, kernels):
    """Inputs of three different scales and zero points (-128 and 127), each requantized to
    the output's by a QUANTIZE as the converter does: bit-exact."""
    man = check(write_model, tmp_path, opmodels.concat_requantized_model(seed("cat")), kernels, inputs=10)
    assert [layer["op"] for layer in man["layers"]].count("QUANTIZE") == 5


def test_concatenation_of_mixed_quantization_is_refused_like_tflite(write_model):
    """Without the QUANTIZEs TFLite's int8 CONCATENATION refuses the model; so does codegen."""
    from codegen.errors import UnsupportedModelError
    from codegen.pipeline import compile_graph
    from runtime.interpreter import ReferenceModel
    model = write_model(opmodels.concat_requantized_model(seed("cat"), raw=True))
    with pytest.raises(Exception, match="CONCATENATION"):
        ReferenceModel(model)
    with pytest.raises(UnsupportedModelError, match="#2 CONCATENATION.*refuses this too"):
        compile_graph(model)


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("shape,in_scale,in_zp", [((1, 10), 0.1, 3), ((2, 5, 7), 0.02, -128),
                                                   ((1, 4, 4, 21), 1.0, 127), ((3, 256), 0.05, 0),
                                                   ((1, 1000), 0.2, -20), ((2, 3), 1e-3, 50)])
def test_log_softmax(write_model, tmp_path, shape, in_scale, in_zp, kernels):
    data = opmodels.log_softmax_model(seed("logsm", shape), shape=shape, in_scale=in_scale, in_zp=in_zp)
    man = check(write_model, tmp_path, data, kernels, inputs=10)
    assert man["layers"][0]["kernel"] == "mcuf_log_softmax_s8"


def test_shape_mismatches_refused(write_model):
    """The records' shape rules: a resize whose declared output disagrees with its size
    tensor, and a PRELU whose alpha would widen the input, are refused in one line."""
    from test_registry import declared_output, refusal
    msg = refusal(write_model, declared_output(opmodels.resize_model, [1, 8, 9, 3],
                                               kind="RESIZE_NEAREST_NEIGHBOR", in_hw=(4, 5),
                                               out_hw=(8, 10), c=3))
    assert msg.startswith("op #0 RESIZE_NEAREST_NEIGHBOR: declared output [1,8,9,3], computed [1,8,10,3]"), msg
    msg = refusal(write_model, opmodels.head_binary_model(
        seed("prelu-wide"), "PRELU", shape_a=(1, 5, 1, 7), shape_b=(1, 1, 6, 7), const_b=True,
        quant=EXTREMES[0]))
    assert msg.startswith("op #0 PRELU") and "widens input [1,5,1,7]" in msg and "\n" not in msg, msg


def test_head_kernels_on_cortex_m7(write_model, tmp_path):
    """The new kernels' bytes on QEMU's Cortex-M7 equal TFLite's reference (int64
    interpolation with negative half-pixel fractions, the fixed-point log, broadcasts)."""
    from conftest import assert_models_bit_exact_on_qemu
    models = {
        "bilinear": opmodels.resize_model(seed("m7-bil"), "RESIZE_BILINEAR", in_hw=(3, 5), out_hw=(7, 9),
                                          c=3, half_pixel=True),
        "log_softmax": opmodels.log_softmax_model(seed("m7-ls"), shape=(2, 100), in_scale=0.1, in_zp=-3),
        "prelu": opmodels.head_binary_model(seed("m7-pr"), "PRELU", shape_a=(1, 5, 6, 7), shape_b=(7,),
                                            const_b=True, quant=EXTREMES[1]),
        "sub": opmodels.head_binary_model(seed("m7-sub"), "SUB", shape_a=(1, 5, 6, 7), shape_b=(1, 5, 1, 1),
                                          const_b=True, quant=EXTREMES[2]),
        "tanh": opmodels.head_unary_model("TANH", in_scale=0.05, in_zp=3, out_scale=1 / 128, out_zp=0),
    }
    assert_models_bit_exact_on_qemu(write_model, tmp_path, models)


def test_mutated_head_and_uint8_models_refused_cleanly():
    """Garbage shapes, options, constants and zero points on the head operators, the legacy
    uint8 graphs and the detection fixture: the generator lowers them or refuses them with a
    CodegenError (one line), never another exception."""
    import copy
    from codegen.tflite_reader import parse_model
    from graph_mutants import lowers_or_refuses, mutate
    sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
    from make_detection import build
    rng = np.random.default_rng(3)
    sources = [
        opmodels.resize_model(seed("g1"), "RESIZE_BILINEAR", in_hw=(3, 4), out_hw=(5, 7), c=2, half_pixel=True),
        opmodels.resize_model(seed("g2"), "RESIZE_NEAREST_NEIGHBOR", in_hw=(3, 4), out_hw=(5, 7), c=2),
        opmodels.head_binary_model(seed("g3"), "PRELU", shape_a=(1, 3, 4, 5), shape_b=(5,), const_b=True,
                                   quant=EXTREMES[0]),
        opmodels.head_binary_model(seed("g4"), "SUB", shape_a=(1, 3, 4, 5), shape_b=(1, 3, 1, 1), const_b=True,
                                   quant=EXTREMES[1]),
        opmodels.head_binary_model(seed("g5"), "MAXIMUM", shape_a=(2, 3), shape_b=(2, 3), const_b=False,
                                   quant=EXTREMES[2]),
        opmodels.log_softmax_model(seed("g6"), shape=(2, 7), in_scale=0.1, in_zp=0),
        opmodels.head_unary_model("LEAKY_RELU", in_scale=0.1, in_zp=0, out_scale=0.05, out_zp=3, Alpha=0.2),
        opmodels.uint8_layer_model(seed("g7"), "CONV_2D"),
        opmodels.uint8_layer_model(seed("g8"), "DEPTHWISE_CONV_2D"),
        opmodels.uint8_layer_model(seed("g9"), "AVERAGE_POOL_2D", k=2, stride=2, padding="VALID"),
        opmodels.uint8_add_concat_model(seed("g10"), "CONCATENATION"),
        build(),
    ]
    graphs = [parse_model(d) for d in sources]
    outcomes = {"ok": 0, "refused": 0}
    for trial in range(400):
        g = copy.deepcopy(graphs[trial % len(graphs)])
        mutate(g, rng)
        outcomes["ok" if lowers_or_refuses(g) else "refused"] += 1
    assert outcomes["ok"] > 40 and outcomes["refused"] > 40, outcomes
