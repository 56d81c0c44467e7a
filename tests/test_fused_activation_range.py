"""A fused activation whose bound does not quantize into int32 (RELU6 with an output scale below
6 / 2^31, RELU_N1_TO_1 below 1 / 2^31): TFLite's Prepare() fails there (kernel_util.cc Quantize,
no_integer_overflow_from_quantization), so there is no reference to be bit-exact with. codegen
used to compile it (clamping the bound silently); it is now refused in one line naming the
operator, the tensor and the fix. Just inside the bound it still compiles, bit-exact."""
import subprocess
import sys

import numpy as np
import pytest

from codegen.verify import verify
from conftest import ROOT
from opmodels import depthwise_model


def model(act, out_scale):
    return depthwise_model(np.random.default_rng(11), k=1, stride=2, padding="SAME", dilation=1, in_c=9,
                           mult=1, h=2, w=9, act=act, scale_span=(1e-7, 1e-6), out_scale=out_scale)


@pytest.mark.parametrize("act, out_scale", [("RELU6", 1e-9), ("RELU_N1_TO_1", 1e-10)])
def test_activation_bound_outside_int32_is_refused(write_model, tmp_path, act, out_scale):
    path = write_model(model(act, out_scale))
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "emit", path, "--target", "host", "-o",
                        tmp_path / "out"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in ("op #0 DEPTHWISE_CONV_2D", f"fused {act}", "'t3'", "outside int32", "re-quantize"):
        assert w in lines[0], lines[0]
    assert not (tmp_path / "out" / "model.c").exists()


def test_activation_bound_just_inside_int32_is_bit_exact(write_model, tmp_path):
    # 6 / 3e-9 = 2e9 < 2^31: TFLite prepares it, the output clamps at [zp, 127]
    res = verify(write_model(model("RELU6", 3e-9)), tmp_path / "gen", inputs=3, kernels="dsp")
    assert res.ok, res.mismatches[:1]
