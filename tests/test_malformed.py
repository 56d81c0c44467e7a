"""The eight damaged fixtures of issue #17 (tests/fixtures/cases/malformed/): each used to
crash the generator, hang it, or give C that reads or writes outside its buffers. Each is
now refused with exit code 2 and one `codegen: error: op #N TYPE: ...` line per problem,
by `codegen emit` and by `codegen inspect`."""
import subprocess
import sys
from pathlib import Path

import pytest
from tflite_objects import pack as _pack   # an edited ModelT back to .tflite bytes

CASES = Path(__file__).parent / "fixtures" / "cases" / "malformed"

# file -> (what each stderr line must say, in order of importance)
EXPECTED = {
    "conv_missing_input": ["op #7 DEPTHWISE_CONV_2D", "has 0 inputs", "takes 2 to 3"],
    "extreme_scale_shift_overflow": ["op #4 DEPTHWISE_CONV_2D", "effective scale", "2^30",
                                     "scale 3.4e+38"],
    "huge_intermediate_dimension": ["tensor 102", "[1, 1073741824, 3, 240]", "32-bit"],
    "reshape_reads_its_own_output": ["op #20 RESHAPE", "tensor 81", "read before", "cycle"],
    "stride_zero": ["op #16 CONV_2D", "StrideW is 0", ">= 1"],
    "tensor_index_minus_one": ["op #1 PAD", "input 1 is omitted (-1)", "required"],
    "avgpool_output_channels_mismatch": ["op #2 AVERAGE_POOL_2D", "declared output [1,12,12,23]",
                                         "computed [1,12,12,24]"],
    "pad_amount_exceeds_declared_output": ["op #1 PAD", "declared output [1,98,98,3]",
                                           "computed [5,98,98,3]", "[[0, 4], [1, 1], [1, 1], [0, 0]]"],
}


def run_codegen(*args):
    return subprocess.run([sys.executable, "-m", "codegen.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def _params():
    return sorted(EXPECTED)


def test_every_shared_case_is_here():
    assert sorted(p.stem for p in CASES.glob("*.tflite")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", _params())
def test_malformed_is_refused_in_one_line_per_problem(name, tmp_path):
    r = run_codegen("emit", CASES / f"{name}.tflite", "--target", "host", "-o", tmp_path / "out")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert lines and all(l.startswith("codegen: error: ") for l in lines), r.stderr
    if name == "pad_amount_exceeds_declared_output":   # the shared paddings: all five PADs named
        assert [l.split(":")[2].strip() for l in lines] == [f"op #{i} PAD" for i in (1, 3, 6, 9, 14)]
    line = next((l for l in lines if EXPECTED[name][0] in l), lines[0])
    for needle in EXPECTED[name]:
        assert needle in line, line
    assert not (tmp_path / "out" / "model.c").exists()


@pytest.mark.parametrize("name", _params())
def test_malformed_inspect_refuses_too(name):
    r = run_codegen("inspect", CASES / f"{name}.tflite")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert EXPECTED[name][0] in r.stderr


def test_split_with_fewer_outputs_than_num_splits_names_the_split(tmp_path):
    """shufflenet_v2's op #11 SPLIT (NumSplits 2) with its last output dropped from the op's
    outputs: was "op #12 CONV_2D: input 0 ... is read before any operator writes it" (the
    consumer of the dropped output); TFLite's split.cc requires outputs == num_splits."""
    from ai_edge_litert import schema_py_generated as schema
    src = Path(__file__).parent / "fixtures" / "models" / "shufflenet_v2_x05_96_rgb.tflite"
    m = schema.ModelT.InitFromPackedBuf(src.read_bytes(), 0)
    op = m.subgraphs[0].operators[11]
    assert m.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.SPLIT
    assert op.builtinOptions.numSplits == len(op.outputs) == 2
    op.outputs = list(op.outputs)[:-1]
    bad = tmp_path / "split_short.tflite"
    bad.write_bytes(_pack(m))
    r = run_codegen("emit", bad, "-o", tmp_path / "o")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "op #11 SPLIT: has 1 outputs but NumSplits 2" in lines[0] and "re-export" in lines[0], r.stderr


def test_split_v_whose_num_splits_disagrees_with_its_outputs_names_the_split_v(tmp_path):
    """split_v.cc also requires NumOutputs == num_splits (was: accepted)."""
    import numpy as np
    import opmodels
    from ai_edge_litert import schema_py_generated as schema
    data = opmodels.split_concat_model(np.random.default_rng(0), shape=(1, 6, 4, 5), axis=1,
                                       sizes=(2, 4), split_v=True)
    m = schema.ModelT.InitFromPackedBuf(data, 0)
    op = m.subgraphs[0].operators[0]
    assert m.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.SPLIT_V
    op.builtinOptions.numSplits = 3
    bad = tmp_path / "split_v_num_splits.tflite"
    bad.write_bytes(_pack(m))
    r = run_codegen("emit", bad, "-o", tmp_path / "o")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "codegen: error: op #0 SPLIT_V: has 2 outputs but NumSplits 3 (TFLite requires one output "
        "per split): re-export the model from the converter"], r.stderr


# --- attack5: tensors, options tables and quantization vectors as TFLite's InterpreterBuilder
# reads them (each case was accepted before its fix; TFLite refused it or computed otherwise)

def _mutated(tmp_path, base: bytes, edit, name="m.tflite"):
    from ai_edge_litert import schema_py_generated as schema
    m = schema.ModelT.InitFromPackedBuf(base, 0)
    edit(m, m.subgraphs[0], schema)
    p = tmp_path / name
    p.write_bytes(_pack(m))
    return p


def _conv():
    import numpy as np
    import opmodels
    return opmodels.conv_model(np.random.default_rng(0), k=3, stride=1, padding="SAME", dilation=1,
                               in_c=4, out_c=6)


def _emit(capsys, path, tmp_path):
    from codegen.cli import main
    code = main(["emit", str(path), "--target", "host", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, [l for l in err.splitlines() if l.strip()]


def _refused_with(capsys, tmp_path, path, *words):
    code, lines = _emit(capsys, path, tmp_path)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("codegen: error: "), lines
    for w in words:
        assert w in lines[0], lines[0]


def _pool_options(m, g, s):
    o = s.Pool2DOptionsT()
    o.strideW = o.strideH = o.filterWidth = o.filterHeight = 1
    g.operators[0].builtinOptions, g.operators[0].builtinOptionsType = o, s.BuiltinOptions.Pool2DOptions


def _no_zero_points(which):
    def edit(m, g, s):
        op = g.operators[0]
        q = g.tensors[op.outputs[0] if which == "output" else op.inputs[2]].quantization
        q.zeroPoint = []
    return edit


def _input_with_data(m, g, s):
    import numpy as np
    b = s.BufferT()
    b.data = np.zeros(8 * 8 * 4, np.uint8)
    m.buffers.append(b)
    g.tensors[g.inputs[0]].buffer = len(m.buffers) - 1


def _variable_filter(m, g, s):
    g.tensors[g.operators[0].inputs[1]].isVariable = True


def _filter_past_the_end(m, g, s):
    b = m.buffers[g.tensors[g.operators[0].inputs[1]].buffer]     # the >2 GB form: offset + size
    b.data, b.offset, b.size = None, 2**64 - 8, 16


def _external_filter(m, g, s):
    g.tensors[g.operators[0].inputs[1]].externalBuffer = 1


def _int4_filter(m, g, s):
    g.tensors[g.operators[0].inputs[1]].type = s.TensorType.INT4


@pytest.mark.parametrize("edit, words", [
    # was one line naming no tensor ("a weight buffer points past the end"), and the filter's
    # data unread an int4 filter was "read before any operator writes it"
    (_filter_past_the_end, ["tensor 1 't1' has its data in buffer 1 at offset 18,446,744,073,709,551,608",
                            "past the end of the file"]),
    (_int4_filter, ["tensor 1 't1' holds constant int4 data", "full-integer int8"]),
    # Tensor.external_buffer was not read at all: the inline bytes were taken (TFLite refuses)
    (_external_filter, ["tensor 1 't1' keeps its data in external buffer 1", "weights inside"]),
    # TFLite reads Conv2DOptions only (builtin_options_as_Conv2DOptions() is null for another
    # table): it ran the op with stride 0 and refused it; we read the Pool2DOptions' strides
    # (TFLite Micro: 1137 of 1152 outputs differed)
    (_pool_options, ["op #0 CONV_2D", "Pool2DOptions table, not the Conv2DOptions", "re-export"]),
    # zero points missing: TFLite refuses "0 zero_point values and 1 scale values"; the reader
    # filled in zeros (TFLite Micro: 1132 of 1152 outputs differed)
    (_no_zero_points("output"), ["op #0 CONV_2D", "tensor 3 't3' has 1 scales but 0 zero points"]),
    (_no_zero_points("bias"), ["op #0 CONV_2D", "tensor 2 't2' has 6 scales but 0 zero points"]),
    # TFLite's set_tensor() wrote into the input's read-only data: a segfault
    (_input_with_data, ["graph input tensor 0 't0' is a constant", "the caller writes"]),
    (_variable_filter, ["tensor 1 't1' is a variable tensor with a constant buffer"]),
], ids=["offset-past-the-end", "int4-filter", "external-buffer", "options-of-another-op", "output-zero-points", "bias-zero-points", "input-with-data",
        "variable-with-data"])
def test_what_tflites_interpreter_builder_refuses_is_refused(edit, words, tmp_path, capsys):
    _refused_with(capsys, tmp_path, _mutated(tmp_path, _conv(), edit), *words)


def test_an_absent_options_table_means_every_option_zero_as_in_tflite(tmp_path, capsys):
    """No options table: TFLite's parser leaves its params struct zeroed (beta 0, stride 0),
    not the schema defaults an empty table reads as (we ran SOFTMAX with beta 1.0)."""
    import numpy as np
    import opmodels
    from codegen.tflite_reader import read_model

    def drop(m, g, s):
        g.operators[0].builtinOptions, g.operators[0].builtinOptionsType = None, 0
    soft = _mutated(tmp_path, opmodels.softmax_model(np.random.default_rng(0), outer=2, depth=10,
                                                     input_scale=0.05), drop, "softmax.tflite")
    assert read_model(soft).operators[0].options == {"Beta": 0}
    code, lines = _emit(capsys, soft, tmp_path)
    assert code == 2 and len(lines) == 1 and "#0 SOFTMAX" in lines[0], lines
    conv = _mutated(tmp_path, _conv(), drop, "conv.tflite")
    _refused_with(capsys, tmp_path, conv, "op #0 CONV_2D", "StrideH is 0")


def test_nameless_tensors_and_an_fc_without_options_are_bit_exact(tmp_path):
    """Tensor names are optional (TFLite names them ""): the reader's None.decode() was
    reported as a corrupt file. FULLY_CONNECTED without options runs in TFLite with every
    option 0, as here."""
    import numpy as np
    import opmodels

    def edit(m, g, s):
        for t in g.tensors:
            t.name = None
        g.operators[0].builtinOptions, g.operators[0].builtinOptionsType = None, 0
    p = _mutated(tmp_path, opmodels.fully_connected_model(np.random.default_rng(0), batches=1, in_depth=16,
                                                          out_depth=4, per_channel=True), edit)
    r = run_codegen("verify", p, "--target", "host", "--inputs", "3")
    assert r.returncode == 0 and "BIT-EXACT" in r.stdout and "BUILTIN_REF" in r.stdout, r.stdout + r.stderr


def _const_data_input(kind):
    """attack6: an operator whose data input is a constant tensor, its result ADDed to the
    graph input (the emitted C read the constant's arena bytes, never written: garbage)."""
    import numpy as np
    from codegen.tflite_writer import ModelBuilder
    mb = ModelBuilder()
    x = mb.tensor([1, 2, 2, 4], "int8", 0.05, 3)
    p = mb.tensor([1, 2, 2, 4], "int8", 0.05, 3, (np.arange(16) * 7 - 50).reshape(1, 2, 2, 4))
    g = mb.tensor([1, 2, 2, 4], "int8", 0.05, 3)
    if kind == "GATHER":
        mb.op("GATHER", [p, mb.tensor([2], "int32", data=[1, 0])], [g], "GatherOptions", Axis=1)
    elif kind == "TRANSPOSE":
        mb.op("TRANSPOSE", [p, mb.tensor([4], "int32", data=[0, 2, 1, 3])], [g])
    else:
        mb.op("EXP", [p], [g], "ExpOptions")
    y = mb.tensor([1, 2, 2, 4], "int8", 0.1, 0)
    mb.op("ADD", [g, x], [y], "AddOptions", FusedActivationFunction=0)
    return mb.build([x], [y])


@pytest.mark.parametrize("kind", ["GATHER", "TRANSPOSE", "EXP"])
def test_an_operator_on_a_constant_data_input_is_refused(kind, tmp_path, capsys):
    path = tmp_path / "m.tflite"
    path.write_bytes(_const_data_input(kind))
    _refused_with(capsys, tmp_path, path, f"#0 {kind}", "data input 't1' is a constant", "fold it")


def _pack_unpack_count_zero(op):
    from codegen.tflite_writer import ModelBuilder
    mb = ModelBuilder()
    if op == "PACK":
        xs = [mb.tensor([2, 3], "int8", 0.05, 3) for _ in range(3)]
        y = mb.tensor([3, 2, 3], "int8", 0.05, 3)
        mb.op("PACK", xs, [y], "PackOptions", ValuesCount=0, Axis=0)
        return mb.build(xs, [y])
    x = mb.tensor([2, 3, 4], "int8", 0.05, 3)
    ys = [mb.tensor([2, 4], "int8", 0.05, 3) for _ in range(3)]
    mb.op("UNPACK", [x], ys, "UnpackOptions", Num=0, Axis=1)
    return mb.build([x], ys)


@pytest.mark.parametrize("op,words", [("PACK", ["op #0 PACK", "ValuesCount 0 but 3 inputs"]),
                                      ("UNPACK", ["op #0 UNPACK", "(Num 0;"])])
def test_pack_unpack_count_zero_is_refused_as_tflite_refuses_it(op, words, tmp_path, capsys):
    """attack6: ValuesCount / Num 0 was taken for 'not given' (TFLite's Prepare fails on it:
    TF_LITE_ENSURE_EQ(NumInputs, values_count)); the model compiled."""
    path = tmp_path / "m.tflite"
    path.write_bytes(_pack_unpack_count_zero(op))
    _refused_with(capsys, tmp_path, path, *words)


def test_a_graph_input_dimension_above_65535_is_refused(tmp_path, capsys):
    """attack6: model_io_info's uint16_t shape[4] truncated 70,000 (gcc -Werror refused the C)."""
    import opmodels
    path = tmp_path / "m.tflite"
    import numpy as np
    path.write_bytes(opmodels.gather_model(np.random.default_rng(0), shape=(70000, 1), indices=[69999, 0],
                                           axis=0))
    _refused_with(capsys, tmp_path, path, "input 't0' has shape [70000, 1]", "at most 65,535", "reshape")
