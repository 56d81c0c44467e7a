"""Bad arguments to `runtime`: refused at once in one line, exit code 2 (found by the `attack`
review: --timeout nan waited forever for an answer, --inputs 0 / --frames 0 ran nothing and
exited 0, --threads -1 blamed the model file, a missing --model cost a 10 s link timeout)."""
import subprocess
import sys
import time

import pytest

from conftest import FIXTURE_MODELS

MODEL = str(FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite")


def runtime(*args):
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("argv,opt", [
    (["hil", "info", "--port", "loop://", "--timeout", "nan"], "--timeout"),
    (["hil", "validate", "--port", "loop://", "--model", MODEL, "--inputs", "0"], "--inputs"),
    (["hil", "validate", "--port", "loop://", "--model", MODEL, "--timeout", "-1"], "--timeout"),
    (["classify", "--model", MODEL, "--source", "synthetic", "--frames", "0"], "--frames"),
    (["classify", "--model", MODEL, "--source", "synthetic", "--threads", "-1"], "--threads"),
    (["classify", "--model", MODEL, "--source", "synthetic", "--top-k", "0"], "--top-k"),
])
def test_bad_numbers_are_refused_before_any_work(argv, opt):
    p = runtime(*argv)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert f"argument {opt}: " in p.stderr.strip().splitlines()[-1], p.stderr


def test_a_missing_model_is_named_before_the_link_is_tried():
    t0 = time.monotonic()
    p = runtime("hil", "validate", "--port", "loop://", "--model", "/nonexistent.tflite")
    assert p.returncode == 2 and p.stderr.strip() == "runtime: error: /nonexistent.tflite: no such model file"
    assert time.monotonic() - t0 < 8     # was: NoAnswer after the 10 s timeout
