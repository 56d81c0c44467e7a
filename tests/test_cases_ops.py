"""Shared cases (public bug reproductions) for weight zero points, legacy uint8 graphs and
extreme scales: each bit-exact against TFLite's reference kernels with both kernel sets
(every layer, 20 inputs), or refused in one line."""
import subprocess
import sys
from pathlib import Path

import pytest

from codegen.verify import verify

CASES = Path(__file__).parent / "fixtures" / "cases" / "models"


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("case", ["c01_fc_filter_zero_point", "c12b_legacy_uint8"])
def test_case_bit_exact(case, kernels, tmp_path):
    """c01: FULLY_CONNECTED with int8 weights of zero point 7 (TFLite applies the weight
    offset); c12b: an all-uint8 legacy graph (conv, average pool, reshape, softmax)."""
    res = verify(CASES / f"{case}.tflite", tmp_path / "gen", inputs=20, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.layers_compared >= 20 and res.distinct_outputs > 1


def test_huge_scale_refused_in_one_line(tmp_path):
    """c06: an activation scale of 1.3e36 makes the conv's multiplier 2^118; TFLite's
    integer arithmetic is undefined there (x86 and Arm shift differently), so it is refused."""
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "emit", "-o", str(tmp_path / "gen"),
                        str(CASES / "c06_huge_scale.tflite")], capture_output=True, text=True,
                       timeout=120)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "#1 CONV_2D" in lines[0] and "2^118" in lines[0] and "re-quantize" in lines[0]
