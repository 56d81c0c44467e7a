"""Shared cases (public bug reproductions) for weight zero points, legacy uint8 graphs and
extreme scales: each bit-exact against TFLite's reference kernels with both kernel sets
(every layer, 20 inputs), or refused in one line."""
import subprocess
import sys
from pathlib import Path

import pytest

from codegen.verify import verify

CASES = Path(__file__).parent / "fixtures" / "cases" / "models"


@pytest.mark.parametrize("kernels", ["reference", "dsp", "mve"])
@pytest.mark.parametrize("case", ["c01_fc_filter_zero_point", "c12b_legacy_uint8"])
def test_case_bit_exact(case, kernels, tmp_path):
    """c01: FULLY_CONNECTED with int8 weights of zero point 7 (TFLite applies the weight
    offset); c12b: an all-uint8 legacy graph (conv, average pool, reshape, softmax)."""
    res = verify(CASES / f"{case}.tflite", tmp_path / "gen", inputs=20, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.layers_compared >= 20 and res.distinct_outputs > 1


@pytest.mark.parametrize("target", ["host", "cortex-m7", "cortex-m0plus", "cortex-m55"])
def test_huge_scale_refused_in_one_line(tmp_path, target):
    """c06: an activation scale of 1.3e36 makes the conv's multiplier 2^118; TFLite's
    integer arithmetic is undefined there (x86 and Arm shift differently), so it is refused,
    for every kernel set."""
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "emit", "-o", str(tmp_path / "gen"),
                        "--target", target, str(CASES / "c06_huge_scale.tflite")],
                       capture_output=True, text=True, timeout=120)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "#1 CONV_2D" in lines[0] and "2^118" in lines[0] and "re-quantize" in lines[0]


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("kind", ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"])
def test_int8_weight_zero_points_where_tflite_takes_them(write_model, tmp_path, kind, per_channel):
    """int8 weights with zero point 3: TFLite refuses CONV_2D (so does codegen, in one line);
    it accepts DEPTHWISE_CONV_2D and per-channel FULLY_CONNECTED ignoring the zero point, and
    applies it to per-tensor FULLY_CONNECTED -- codegen's bytes equal TFLite's in each case."""
    import opmodels
    from codegen.errors import UnsupportedModelError
    from codegen.pipeline import compile_graph
    from runtime.interpreter import ReferenceModel
    from test_single_ops import seed
    model = write_model(opmodels.weight_zero_point_model(seed("wzp", kind, per_channel), kind, zp=3,
                                                         per_channel=per_channel))
    if kind == "CONV_2D":
        with pytest.raises(Exception, match="zero_point"):
            ReferenceModel(model)
        with pytest.raises(UnsupportedModelError, match="#0 CONV_2D .*zero point 3.*TFLite refuses"):
            compile_graph(model)
        return
    for kernels in ("reference", "dsp"):
        res = verify(model, tmp_path / kernels, inputs=20, kernels=kernels)
        assert res.ok and res.distinct_outputs > 1, res.mismatches[:1]
