"""Hostile one-op models (tests/hostile_ops.py, attack7) for the operators added last and the
legacy uint8 ones: each is refused in one line per problem naming the operator and the tensor
(exit 2), or compiled bit-exact with TFLite's reference. The cases here broke before attack7:
they were compiled although TFLite has no defined result (or refuses them)."""
from pathlib import Path

import numpy as np
import pytest

import hostile_ops
from codegen.cli import main
from codegen.verify import verify

CASES = dict((name, data) for _, name, data in hostile_ops.all_cases(["legacy", "reduce", "misc", "reshape"]))


def _refused(capsys, tmp_path, name) -> str:
    model = tmp_path / "m.tflite"
    model.write_bytes(CASES[name])
    code = main(["emit", str(model), "--target", "host", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("codegen: error: op #0 "), err
    assert not (tmp_path / "out" / "model.c").exists()
    return lines[0]


@pytest.mark.parametrize("name", ["u8_SUB_outscale1e-30", "u8_SUB_bscale1e+30", "SUB_0.05_0.05_1e-30_b4"])
def test_sub_with_an_output_multiplier_of_one_or_more_is_refused(capsys, tmp_path, name):
    """PrepareGeneralSubOp takes ADD's multipliers (QuantizeMultiplierSmallerThanOneExp: TFLite
    aborts on >= 1). Compiled before: the C shifted an int32 left by 77 (UBSan)."""
    line = _refused(capsys, tmp_path, name)
    for w in ("SUB", "output multiplier", "below 1", "-> 't", "check the output scale"):
        assert w in line, line


@pytest.mark.parametrize("name", ["u8_RELU6_inscale1e-30"])
def test_standalone_relu6_whose_bound_overflows_int32_is_refused(capsys, tmp_path, name):
    """activations.cc QuantizedReluX: zero point + (int32)roundf(6 / 1e-30), undefined in C++
    (INT_MIN on x86: every output 128); compiled before, 383 of 768 bytes differed."""
    line = _refused(capsys, tmp_path, name)
    for w in ("RELU6", "bound 6", "'t1'", "outside int32", "re-quantize"):
        assert w in line, line


@pytest.mark.parametrize("name", ["REDUCE_MAX_int64_axes", "MEAN_int64_axes"])
def test_reduce_with_int64_axes_is_refused(capsys, tmp_path, name):
    """reduce.cc PrepareSimple requires int32 axes (TFLite's Prepare fails on int64 ones)."""
    line = _refused(capsys, tmp_path, name)
    assert "input 1 't1' is int64, expected int32" in line, line


@pytest.mark.parametrize("name", ["SUB_1e-30_0.05_0.05_b4", "ADD_0.05_1e-30_0.05_b1"])
def test_a_tiny_input_scale_is_still_bit_exact(tmp_path, name):
    """Just beside the refusals: an input multiplier below 2^-31 is 0 in TFLite and here."""
    model = tmp_path / "m.tflite"
    model.write_bytes(CASES[name])
    res = verify(model, tmp_path / "gen", inputs=3)
    assert res.ok, res.mismatches[:1]


@pytest.mark.parametrize("name", ["PRELU_int8_alpha[1,5,7,6]_1e+30", "PRELU_uint8_alpha[5,1,1]_1e+30"])
def test_prelu_whose_alpha_multiplier_overflows_is_refused(capsys, tmp_path, name):
    """PreluPrepare's input*alpha/output multiplier of 1e30 (shift 100): compiled before, the C
    shifted an int32 left by 100 (UBSan)."""
    line = _refused(capsys, tmp_path, name)
    for w in ("PRELU", "input*alpha/output", "'t1' (scale 1e+30)", "re-quantize"):
        assert w in line, line


def test_pixel_table_saturates_for_a_tiny_input_scale():
    """An input scale of 1e-30 puts pixel 1 at 2.6e32 steps: numpy's cast to int64 turned that
    into INT64_MIN and the table into -128 (the Pi runtime's table, in float64, said 127).
    The ADD cases of hostile_ops with a 1e-30 input hit it when their helpers were emitted."""
    import numpy as np
    from codegen.app_helpers import pixel_table
    from runtime.preprocess import InputSpec, pixel_table as runtime_table
    for scale, zp, key, lo, hi in ((1e-30, 0, "0:1", 0.0, 1.0), (1e-45, 3, "-1:1", -1.0, 1.0)):
        ours = pixel_table(scale, zp, key)
        spec = InputSpec(0, 4, 4, 3, np.dtype(np.int8), float(np.float32(scale)), zp)
        assert ours.tolist() == runtime_table(spec, lo, hi).tolist()
        assert ours[255] == 127


@pytest.mark.parametrize("name", ["RESHAPE_fold_two_minus1", "RESHAPE_fold_zero", "RESHAPE_fold_count_mismatch",
                                  "RESHAPE_fold_huge", "RESHAPE_fold_neg2"])
def test_a_constant_reshape_tflite_refuses_is_refused(capsys, tmp_path, name):
    """alias_reshapes folded a RESHAPE of a constant before check_shapes saw it: a new shape
    with two -1s, a 0, -2 or another element count compiled (TFLite's Prepare refuses each,
    reshape_utils.h; `verify` then fell back to TFLite Micro and called it bit-exact)."""
    line = _refused(capsys, tmp_path, name)
    for w in ("RESHAPE", "shape tensor 't2'", "re-export the model"):
        assert w in line, line


def test_an_activation_reshape_with_two_unknown_extents_is_refused(capsys, tmp_path):
    """The same for a RESHAPE of an activation: the alias was taken whenever the element counts
    agreed, whatever the shape tensor said."""
    import numpy as np
    from codegen.tflite_writer import ModelBuilder
    mb = ModelBuilder()
    x = mb.tensor([1, 2, 3, 4], "int8", 0.05, 3)
    shape = mb.tensor([3], "int32", data=np.array([-1, 6, -1], np.int32))
    r = mb.tensor([4, 6, 1], "int8", 0.05, 3)
    y = mb.tensor([4, 6, 1], "int8", 0.05, 3)
    mb.op("RESHAPE", [x, shape], [r], "ReshapeOptions")
    mb.op("RELU", [r], [y])
    CASES["activation_two_minus1"] = mb.build([x], [y])
    line = _refused(capsys, tmp_path, "activation_two_minus1")
    assert "new shape [-1, 6, -1] (shape tensor 't1'): extents must be positive with at most one -1" in line, line


@pytest.mark.parametrize("name", ["TANH_uint8_outscale1e-30", "TANH_int8_outscale1e-30", "TANH_int8_outscale1e-45"])
def test_tanh_whose_table_leaves_int32_is_refused(capsys, tmp_path, name):
    """TANH's table entry tanh(x) / 1e-30 is 1e30 steps: TFLite's float -> int32 cast is
    undefined (its uint8 TANH gave 0 for every positive input; compiled, 31 of 48 bytes
    differed); with 1e-45, 1/scale is inf and the table's round() raised OverflowError
    ("internal error")."""
    model = tmp_path / "m.tflite"
    model.write_bytes(UNARY[name])
    code = main(["emit", str(model), "--target", "host", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err and "internal" not in err, err
    for w in ("#0 TANH", "output steps, beyond int32", "(tensor 't1", "larger scale"):
        assert w in lines[0], lines[0]


UNARY = {name: data for _, name, data in hostile_ops.all_cases(["unary"]) if name.startswith("TANH")}


def test_every_hostile_case_lowers_or_is_refused_in_one_line(tmp_path):
    """All of tests/hostile_ops.py (about 1,100 models: extreme, zero, NaN and inf scales, zero
    points out of range, per-axis quantization on the wrong axis, 0 and huge extents, indices,
    block sizes and axes out of range) through the reader, validate_graph and the stages up to
    lowering (graph_mutants.lowers_or_refuses): no exception but a one-line CodegenError
    (RSQRT with an output scale of 1e-45 raised ZeroDivisionError in validate.py). About 15 s;
    `python -m tests.hostile_ops` runs them through the CLI, ASan/UBSan and the reference."""
    from codegen.errors import CodegenError
    from codegen.tflite_reader import read_model
    from codegen.validate import validate_graph
    from graph_mutants import lowers_or_refuses
    import copy
    import numpy as np
    from graph_mutants import mutate
    path = tmp_path / "m.tflite"
    counts = {True: 0, False: 0}
    lowered = []
    for group, name, data in hostile_ops.all_cases():
        path.write_bytes(data)
        try:
            g = read_model(path)
            validate_graph(g)
            ok = lowers_or_refuses(copy.deepcopy(g), strip_edges=True)
            counts[ok] += 1
            if ok:
                lowered.append(g)
        except CodegenError as e:
            lines = str(e).splitlines()
            assert len(lines) == 1 or all(l.startswith("op #") for l in lines), (name, str(e))
            counts[False] += 1
    assert counts[True] > 150 and counts[False] > 800, counts
    # the compiled ones damaged further by graph_mutants.mutate (garbage options, dtypes, zero
    # points): a list as FusedActivationFunction raised TypeError (unhashable) in validate.py
    for seed in range(3):
        for k, g in enumerate(lowered):
            g = copy.deepcopy(g)
            mutate(g, np.random.default_rng([seed, k]), dtypes=["int8", "uint8", "int32", "int64", "float32"])
            try:
                validate_graph(g)
                lowers_or_refuses(g, strip_edges=True)
            except CodegenError as e:
                lines = str(e).splitlines()
                assert len(lines) == 1 or all(l.startswith("op #") for l in lines), str(e)


def test_a_per_tensor_quantized_dimension_beyond_the_rank_is_refused(capsys, tmp_path):
    """InterpreterBuilder::ParseQuantization: quantized_dimension in [0, rank) for every
    quantized tensor, one scale or many. Found by fuzzing the hostile corpus (tests/fuzz_models
    on LOG_SOFTMAX_inscale1e+30, dimension 3 on a [1, 10] input): compiled, and `verify` fell
    back to TFLite Micro, which does not check it."""
    from ai_edge_litert import schema_py_generated as schema
    from tflite_objects import pack as _pack
    m = schema.ModelT.InitFromPackedBuf(CASES["LOG_SOFTMAX_inscale1e+30"], 0)
    m.subgraphs[0].tensors[0].quantization.quantizedDimension = 3
    CASES["qdim3"] = _pack(m)
    line = _refused(capsys, tmp_path, "qdim3")
    assert "tensor 0 't0' has quantized_dimension 3 but rank 2 (TFLite requires [0, 2))" in line, line


FLATBUFFERS = Path(__file__).parent / "fixtures" / "cases" / "hostile"


@pytest.mark.parametrize("name, words", [
    ("vtable_size_127", "the table at byte 480 has a vtable of 127 bytes"),
    ("second_subgraph_past_end", "an offset points past its end (byte 917588)"),
    ("string_length_past_end", "a string at byte 780 of 262146 bytes runs past the end"),
    ("subgraph_name_unterminated", "a string at byte 136 of 4 bytes runs past the end or is not zero-terminated"),
])
def test_a_flatbuffer_tflite_does_not_verify_is_refused(capsys, tmp_path, name, words):
    """Fuzzed hostile models (tests/fuzz_models on the hostile corpus, seed 11: mutants 18,
    152, 296) that TFLite refuses ("The model is not a valid Flatbuffer buffer"): the reader
    read past them and compiled each (`verify` then fell back to TFLite Micro, or its oracle's
    repair pass died with a struct.error traceback on the second subgraph)."""
    code = main(["emit", str(FLATBUFFERS / f"{name}.tflite"), "--target", "host", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1 and "corrupt or truncated" in lines[0] and words in lines[0], err


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
def test_a_uint8_output_read_inside_the_graph_is_bit_exact(tmp_path, kernels):
    """A legacy uint8 graph whose MEAN output is a graph output and feeds the MUL too (fuzzed
    u8_MUL_mean, seed 11 mutant 238: an extra graph output). convert_uint8_graph moved the
    MEAN's write to an int8 twin but left the MUL reading the uint8 output, which the last
    layer writes: 416 of 432 output bytes differed from TFLite's reference."""
    res = verify(FLATBUFFERS / "uint8_output_read_inside.tflite", tmp_path / "gen", inputs=3, kernels=kernels)
    assert res.ok and res.distinct_outputs > 1, res.mismatches[:1]


@pytest.mark.parametrize("op", ["ADD", "SUB"])
def test_add_sub_whose_float32_denominator_overflows_is_refused(capsys, tmp_path, op):
    """(1 << 20) * output scale is a float32 product in add.cc / sub.cc: with an output scale
    of 1e33 it is inf, the multiplier 0, and QuantizeMultiplierSmallerThanOneExp aborts the
    process (measured: 1e32 prepares, 1e33 aborts). Found by fuzzing (seed 11 mutant 166);
    compiled before, `verify` fell back to TFLite Micro."""
    CASES[f"{op}_den_inf"] = hostile_ops._binary(op, 1e20, 1e10, 1e33)
    line = _refused(capsys, tmp_path, f"{op}_den_inf")
    for w in (f"#0 {op}", "is 0", "overflows float32", "'t2'", "check the output scale"):
        assert w in line, line
    CASES[f"{op}_den_ok"] = hostile_ops._binary(op, 1e20, 1e10, 1e32)
    model = tmp_path / "ok.tflite"
    model.write_bytes(CASES[f"{op}_den_ok"])
    assert main(["emit", str(model), "--target", "host", "-o", str(tmp_path / "ok")]) == 0


def test_a_constant_graph_output_is_refused(capsys, tmp_path):
    """A fuzzed SUB (hostile corpus, seed 13 mutant 321) whose constant operand is also a graph
    output: no layer writes it, and its planned arena bytes were the input's (1 byte of 291
    differed from TFLite's reference on every input)."""
    code = main(["emit", str(FLATBUFFERS / "constant_graph_output.tflite"), "--target", "host",
                 "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1, err
    assert "graph output tensor 1 't1' is a constant" in lines[0] and "drop it from the graph's outputs" in lines[0]


@pytest.mark.parametrize("name, words", [
    ("builtin_code_custom_beside_deprecated_fc", ["unsupported operator", "#0 CUSTOM"]),
    ("tensor_buffer_out_of_range", ["tensor 9 ", "names buffer 14, but the model has 14 buffers",
                                    "re-export"]),
    ("fc_bias_scale_3e38", ["op #0 FULLY_CONNECTED", "bias 't2' has scale 3.4e+38",
                            "TFLite allows 0.02", "re-export"]),
    ("pad_output_int4", ["op #1 PAD: output 0 'functional_5_1/zero_padding2d_6_1/Pad' is int4, expected int8",
                         "op #2 CONV_2D: input 0", "re-export"]),
    ("fc_weights_format_shuffled", ["op #2 FULLY_CONNECTED: weights_format 1 is not DEFAULT", "re-export"]),
    ("schema_version_99", ["schema version 99", "read version 3", "re-export"]),
    ("softmax_beta_nan", ["op #4 SOFTMAX: beta nan x input scale", "PreprocessSoftmaxScaling", "re-export"]),
])
def test_a_model_tflite_refuses_in_its_interpreter_is_refused_in_one_line(capsys, tmp_path, name, words):
    """trial9, structure-aware flatbuffer mutants (recipe: fixtures/cases/hostile/make_trial9.py)
    that TFLite's reference interpreter refuses and codegen compiled: an OperatorCode whose
    builtin_code (32, CUSTOM) disagrees with its deprecated_builtin_code (9) -- the `tflite`
    package's BuiltinCode() returns the deprecated one below 127, TFLite takes the max, so a
    CUSTOM op was compiled as FULLY_CONNECTED; a tensor naming a buffer past the buffer list
    (interpreter_builder.cc refuses it); a FULLY_CONNECTED bias scale 3.4e38 against an input *
    filter scale of 5e-4 (GetQuantizedConvolutionMultipler: scale_diff / output_scale <= 0.02);
    a PAD output of type INT4 (the PAD was folded into its CONV_2D before any type check); a
    FULLY_CONNECTED with weights_format SHUFFLED4x16INT8 (its weights were read as DEFAULT); a
    model of schema version 99 (TFLite reads 3 only); a SOFTMAX with beta nan (was refused as
    an unsupported operator whose input scale was too small)."""
    code = main(["emit", str(FLATBUFFERS / f"{name}.tflite"), "--target", "host", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 1 or all(l.startswith("codegen: error: op #") for l in lines), err
    for w in words:
        assert w in err, err
    assert not (tmp_path / "o" / "model.c").exists()


@pytest.mark.parametrize("bias_scales, refused", [
    ([0.0005], False),                   # = input * filter scale
    ([0.0005 + 0.01 * 0.5], False),      # 1% of the output scale off: TFLite prepares it
    ([0.0005 + 0.03 * 0.5], True),       # 3%: scale_diff / output_scale <= 0.02 fails
    ([1.0, 1.0, 1.0, 1.0], False),       # per-channel bias: its legacy scale is 0, diff 0.001
])
def test_fully_connected_bias_scale_follows_tflites_prepare(capsys, tmp_path, bias_scales, refused):
    """The bias-scale rule of a per-tensor FULLY_CONNECTED, where TFLite's reference
    (ai-edge-litert) was measured to switch: the same four models prepare / fail there."""
    from codegen.tflite_writer import ModelBuilder
    mb = ModelBuilder()
    x = mb.tensor([1, 8], "int8", 0.05, 0)
    w = mb.tensor([4, 8], "int8", [0.01], 0, np.arange(32).reshape(4, 8) % 7 - 3)
    b = mb.tensor([4], "int32", np.float32(bias_scales), 0, np.array([1, -2, 3, 4]))
    y = mb.tensor([1, 4], "int8", 0.5, 0)
    mb.op("FULLY_CONNECTED", [x, w, b], [y], "FullyConnectedOptions", FusedActivationFunction=0)
    model = tmp_path / "fc.tflite"
    model.write_bytes(mb.build([x], [y]))
    code = main(["emit", str(model), "--target", "host", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == (2 if refused else 0), err
    if refused:
        assert len(err.strip().splitlines()) == 1 and "TFLite allows 0.02" in err, err


@pytest.mark.parametrize("off", [0.0, 0.019, 0.021, 0.1])
def test_legacy_uint8_conv_bias_scale_follows_tflites_prepare(capsys, tmp_path, off):
    """A uint8 CONV_2D's bias scale (PopulateConvolutionQuantizationParams checks it for uint8
    inputs only): off * output scale away from input * filter scale, our verdict and TFLite's
    reference (ai-edge-litert) agree; 0.021 was compiled before (trial's fuzz_flatbuffer)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tflite_objects import pack, unpack
    m = unpack(Path(__file__).parent / "fixtures/cases/models/c12b_legacy_uint8.tflite")
    t = m.subgraphs[0].tensors
    x, w, b, y = (t[i].quantization.scale[0] for i in (0, 1, 2, 3))   # op #0 CONV_2D: 0, 1, 2 -> 3
    t[2].quantization.scale = np.array([np.float64(x) * np.float64(w) + off * y], np.float32)
    model = tmp_path / "u8.tflite"
    model.write_bytes(pack(m))
    try:
        Interpreter(str(model), experimental_op_resolver_type=OpResolverType.BUILTIN_REF).allocate_tensors()
        tflite_refuses = False
    except (RuntimeError, ValueError):
        tflite_refuses = True
    code = main(["emit", str(model), "--target", "host", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert tflite_refuses == (off > 0.02)
    assert code == (2 if tflite_refuses else 0), err
    if tflite_refuses:
        assert len(err.strip().splitlines()) == 1 and "op #0 CONV_2D: bias 't2'" in err, err
