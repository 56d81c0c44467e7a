"""The eight damaged fixtures of issue #17 (tests/fixtures/cases/malformed/): each used to
crash the generator, hang it, or give C that reads or writes outside its buffers. Each is
now refused with exit code 2 and one `codegen: error: op #N TYPE: ...` line per problem,
by `codegen emit` and by `codegen inspect`."""
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz_models import _pack   # an edited ModelT back to .tflite bytes

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
