"""Bad input gets one clear line, a non-zero exit code, and no traceback."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import FIXTURE_MODELS
from codegen.tflite_writer import ModelBuilder


def run_codegen(*args):
    return subprocess.run([sys.executable, "-m", "codegen.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def assert_clean_error(r, *needles):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr + r.stdout
    lines = [l for l in r.stderr.strip().splitlines() if l]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n.lower() in lines[0].lower(), lines[0]


def float_model() -> bytes:
    mb = ModelBuilder()
    x = mb.tensor([1, 4, 4, 2], "float32")
    y = mb.tensor([1, 2, 2, 2], "float32")
    mb.op("AVERAGE_POOL_2D", [x], [y], "Pool2DOptions", Padding=1, StrideW=2, StrideH=2,
          FilterWidth=2, FilterHeight=2, FusedActivationFunction=0)
    return mb.build([x], [y])


def unsupported_model() -> bytes:
    mb = ModelBuilder()
    x = mb.tensor([1, 8], "int8", 0.1, 0)
    t = mb.tensor([1, 8], "int8", 1 / 128, 0)
    y = mb.tensor([1, 8], "int8", 1 / 64, 0)
    mb.op("EXP", [x], [t])     # TANH is supported since issue #18
    mb.op("ELU", [t], [y])
    return mb.build([x], [y])


def test_float_model(tmp_path):
    p = tmp_path / "float.tflite"
    p.write_bytes(float_model())
    assert_clean_error(run_codegen("emit", p, "-o", tmp_path / "out"), "float", "int8",
                       "representative_dataset")


def test_unsupported_ops_are_listed_together(tmp_path):
    p = tmp_path / "ops.tflite"
    p.write_bytes(unsupported_model())
    r = run_codegen("emit", p, "-o", tmp_path / "out")
    assert_clean_error(r, "2 unsupported", "#0 EXP", "#1 ELU")
    ins = run_codegen("inspect", p)
    assert ins.returncode != 0 and "#0 EXP" in ins.stdout and "#1 ELU" in ins.stdout


def test_truncated_file(tmp_path):
    data = (FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite").read_bytes()
    p = tmp_path / "cut.tflite"
    p.write_bytes(data[: len(data) // 3])
    assert_clean_error(run_codegen("emit", p, "-o", tmp_path / "out"), "truncated")


@pytest.mark.parametrize("content", [b"", b"hello, this is not a model\n" * 10,
                                     np.random.default_rng(0).bytes(5000)])
def test_not_a_flatbuffer(tmp_path, content):
    p = tmp_path / "junk.tflite"
    p.write_bytes(content)
    assert_clean_error(run_codegen("emit", p, "-o", tmp_path / "out"), "not a TFLite model")


def test_missing_file(tmp_path):
    assert_clean_error(run_codegen("inspect", tmp_path / "nope.tflite"), "cannot read")


def test_garbage_after_valid_header(tmp_path):
    data = bytearray((FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite").read_bytes())
    data[8:4000] = np.random.default_rng(1).bytes(3992)
    p = tmp_path / "garbled.tflite"
    p.write_bytes(bytes(data))
    r = run_codegen("emit", p, "-o", tmp_path / "out")
    assert_clean_error(r)
