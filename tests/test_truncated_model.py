"""A .tflite cut short (a partial download or copy) is refused in one line that says so in
words: 'an offset points past its end (struct.error)', not 'reading it failed with error'
(the bare name of struct's exception class)."""
import subprocess
import sys

import pytest

from conftest import FIXTURE_MODELS, ROOT
from codegen.errors import ModelFormatError
from codegen.tflite_reader import parse_model

MODEL = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"


@pytest.mark.parametrize("length", [8, 20, 1000, 50_000, 200_000])
def test_truncated_model_names_the_cause(length):
    with pytest.raises(ModelFormatError) as e:
        parse_model(MODEL.read_bytes()[:length], "cut.tflite")
    msg = str(e.value)
    assert f"cut.tflite is corrupt or truncated ({length:,} bytes; an offset points past its end" in msg, msg
    assert "with error" not in msg and "re-export it" in msg


def test_truncated_model_cli_is_one_line(tmp_path):
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(MODEL.read_bytes()[:5000])
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "emit", cut, "-o", tmp_path / "out"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "corrupt or truncated" in r.stderr and "Traceback" not in r.stderr
