"""The eight damaged fixtures of issue #17 (tests/fixtures/cases/malformed/): each used to
crash the generator, hang it, or give C that reads or writes outside its buffers. Each is
now refused with exit code 2 and one `codegen: error: op #N TYPE: ...` line per problem,
by `codegen emit` and by `codegen inspect`."""
import subprocess
import sys
from pathlib import Path

import pytest

CASES = Path(__file__).parent / "fixtures" / "cases" / "malformed"

NEEDS_SHAPES = pytest.mark.xfail(strict=True, reason="needs the shape-inference stage (branch registry)")

# file -> (what each stderr line must say, in order of importance)
EXPECTED = {
    "conv_missing_input": ["op #7 DEPTHWISE_CONV_2D", "has 0 inputs", "takes 2 to 3"],
    "extreme_scale_shift_overflow": ["op #4 DEPTHWISE_CONV_2D", "effective scale", "2^30",
                                     "scale 3.4e+38"],
    "huge_intermediate_dimension": ["tensor 102", "[1, 1073741824, 3, 240]", "32-bit"],
    "reshape_reads_its_own_output": ["op #20 RESHAPE", "tensor 81", "read before", "cycle"],
    "stride_zero": ["op #16 CONV_2D", "StrideW is 0", "at least 1"],
    "tensor_index_minus_one": ["op #1 PAD", "input 1 is omitted (-1)", "required"],
    "avgpool_output_channels_mismatch": ["op #2 AVERAGE_POOL_2D", "23", "24"],
    "pad_amount_exceeds_declared_output": ["op #1 PAD", "98", "102"],
}
XFAIL = {"avgpool_output_channels_mismatch", "pad_amount_exceeds_declared_output"}


def run_codegen(*args):
    return subprocess.run([sys.executable, "-m", "codegen.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def _params():
    for name in sorted(EXPECTED):
        marks = [NEEDS_SHAPES] if name in XFAIL else []
        yield pytest.param(name, marks=marks, id=name)


def test_every_shared_case_is_here():
    assert sorted(p.stem for p in CASES.glob("*.tflite")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", list(_params()))
def test_malformed_is_refused_in_one_line_per_problem(name, tmp_path):
    r = run_codegen("emit", CASES / f"{name}.tflite", "--target", "host", "-o", tmp_path / "out")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert lines and all(l.startswith("codegen: error: ") for l in lines), r.stderr
    line = next((l for l in lines if EXPECTED[name][0] in l), lines[0])
    for needle in EXPECTED[name]:
        assert needle in line, line
    assert not (tmp_path / "out" / "model.c").exists()


@pytest.mark.parametrize("name", list(_params()))
def test_malformed_inspect_refuses_too(name):
    r = run_codegen("inspect", CASES / f"{name}.tflite")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert EXPECTED[name][0] in r.stderr
