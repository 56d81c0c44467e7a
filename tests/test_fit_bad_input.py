"""`codegen fit` refuses, before any work and in one line, what used to end in a traceback
after it: a width multiplier or class count whose random-weight .tflite would exhaust the
host's memory (alpha 1e9: numpy's MemoryError for 238 GiB), a --plot whose suffix matplotlib
cannot write (its ValueError, after the whole grid was evaluated), a --plot into no folder."""
import subprocess
import sys

import pytest

from conftest import ROOT


def fit(*args):
    return subprocess.run([sys.executable, "-m", "codegen.cli", "fit", "--board", "stm32f746g-disco",
                           *map(str, args)], capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.parametrize("args, words", [
    (["--alpha", "1e9", "--resolution", "96"], ["alpha 1e+09", "parameters", "lower --alpha or --classes"]),
    (["--alpha", "0.25", "--resolution", "96", "--classes", "99999999"], ["99,999,999 classes", "64 MiB"]),
    (["--alpha", "0.25", "--resolution", "96", "--plot", "fit.txt"], ["--plot fit.txt", ".png"]),
    (["--alpha", "0.25", "--resolution", "96", "--plot", "no/such/folder/fit.png"], ["no folder no/such/folder"]),
])
def test_fit_refuses_in_one_line_before_any_work(args, words):
    r = fit(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "[1/" not in r.stderr            # refused before the first candidate
    for w in words:
        assert w in r.stderr, r.stderr


def test_fit_largest_published_mobilenet_still_fits_the_check(tmp_path):
    """alpha 1.4 at 224 (MobileNet V2's largest, 6.1M parameters) stays well inside the bound."""
    r = fit("--family", "mobilenet_v2", "--alpha", "1.4", "--resolution", "224", "--plot", tmp_path / "f.png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "f.png").stat().st_size > 0
