"""mcuf_conv_grouped_direct_s8_dsp[_fast] (grouped CONV_2D and 1x1 over in_c % 4 != 0 straight
from k_h padded input rows, codegen/ops/conv_dsp.py: _grouped_direct_takes) against TFLite's
reference: groups 2/3/4/8, 1..8 input channels per group (odd ones, odd channels per group),
kernel 1 and 3, stride 1 and 2, SAME / VALID, dilation 2, odd widths, planes down to 1x1, fused
RELU6 (the packed entry + the clamp epilogue; the general copy past the packed run), input zero points at both ends of int8. One firmware image per core
(QEMU's Cortex-M7, and the M55 with its own kernel set, where the grouped layers MVE does not
take fall back to the DSP kernels; the M4 and M33 run the packed entry in
tests/test_conv_dsp_sweep.py's grouped sweep); the host build of the same C (no DSP: the
portable intrinsics) under tests/test_single_ops.py's check on a few of them."""
import zlib

import numpy as np
import pytest

import opmodels
from mve_sweep import differences, run_on_m55

DIRECT = "mcuf_conv_grouped_direct_packed_s8_dsp_fast"
GENERAL = "mcuf_conv_grouped_direct_s8_dsp"            # the C kernel: a clamp or left shifts
FEW2, FEW3 = "mcuf_conv_1x1_few_c2_s8_dsp_fast", "mcuf_conv_1x1_few_c3_s8_dsp_fast"   # 1x1, 2-4 per group
NARROW = (1e-3, 1e-2)
# (k, stride, padding, dilation, in_c, out_c, groups, h, w, act, in_zp), expected kernel
CASES = [
    ((3, 1, "SAME", 1, 4, 4, 2, 7, 7, "NONE", None), DIRECT),
    ((3, 2, "SAME", 1, 6, 6, 3, 9, 7, "NONE", None), DIRECT),
    ((3, 1, "VALID", 1, 8, 8, 4, 6, 5, "NONE", None), DIRECT),
    ((3, 2, "VALID", 1, 16, 16, 8, 8, 9, "NONE", None), DIRECT),
    ((3, 1, "SAME", 1, 6, 6, 2, 5, 6, "NONE", -128), DIRECT),
    ((3, 2, "SAME", 1, 9, 9, 3, 6, 6, "NONE", 127), DIRECT),
    ((3, 1, "SAME", 1, 12, 12, 4, 3, 3, "NONE", None), DIRECT),
    ((3, 1, "SAME", 1, 24, 24, 8, 2, 3, "NONE", None), DIRECT),
    ((3, 2, "SAME", 1, 10, 10, 2, 7, 7, "NONE", None), DIRECT),     # 5 per group
    ((3, 1, "SAME", 1, 14, 6, 2, 5, 5, "NONE", None), DIRECT),      # 7 per group, 3 out per group
    ((3, 1, "SAME", 1, 16, 16, 2, 4, 4, "NONE", None), DIRECT),     # 8 per group
    ((3, 2, "SAME", 1, 32, 32, 4, 5, 5, "NONE", None), DIRECT),
    ((3, 1, "SAME", 1, 8, 12, 4, 1, 1, "NONE", None), DIRECT),      # a 1x1 plane
    ((3, 2, "SAME", 1, 6, 6, 3, 2, 1, "NONE", None), DIRECT),
    ((3, 1, "SAME", 2, 6, 9, 3, 7, 6, "NONE", None), DIRECT),       # dilation 2
    # ReLU6 inside int8: the packed entry, then the clamp epilogue (mcuf_act_clamp_s8_dsp)
    ((3, 1, "SAME", 1, 6, 6, 2, 5, 5, "RELU6", None), DIRECT),
    ((1, 2, "SAME", 1, 16, 10, 2, 5, 8, "RELU6", -128), DIRECT),
    ((3, 1, "SAME", 1, 12, 6, 2, 4, 4, "RELU6", None), DIRECT),
    ((3, 1, "SAME", 1, 34, 6, 2, 4, 5, "NONE", None), GENERAL),     # 45 steps: more than the packed run
    ((3, 1, "SAME", 1, 34, 6, 2, 4, 5, "RELU6", None), GENERAL),    # the same, its own clamp
    ((3, 1, "SAME", 1, 32, 8, 2, 4, 4, "NONE", None), DIRECT),      # 16 per group: 36 steps, the whole run
    ((1, 1, "SAME", 1, 4, 4, 2, 5, 7, "NONE", None), FEW2),
    ((1, 2, "SAME", 1, 6, 6, 3, 9, 9, "NONE", None), FEW2),
    ((1, 1, "VALID", 1, 8, 8, 4, 3, 5, "NONE", 127), FEW2),
    ((1, 2, "VALID", 1, 16, 16, 8, 6, 7, "NONE", -128), FEW2),
    ((1, 1, "SAME", 1, 12, 12, 3, 1, 1, "NONE", None), DIRECT),
    ((1, 2, "SAME", 1, 24, 24, 3, 5, 5, "NONE", None), DIRECT),
    ((1, 1, "SAME", 1, 10, 14, 2, 3, 3, "NONE", None), DIRECT),     # 5 in, 7 out per group
    ((1, 1, "SAME", 1, 64, 64, 8, 3, 2, "NONE", None), DIRECT),
    ((1, 1, "SAME", 1, 3, 8, 1, 5, 5, "NONE", None), FEW3),       # 1x1 over 3 channels
    ((1, 1, "SAME", 1, 3, 13, 1, 4, 3, "NONE", -128), FEW3),
    ((1, 1, "SAME", 1, 13, 9, 1, 3, 3, "NONE", 127), DIRECT),
    ((1, 1, "SAME", 1, 7, 5, 1, 1, 1, "RELU6", None), DIRECT),
]


def _model(case) -> bytes:
    k, stride, padding, dil, in_c, out_c, groups, h, w, act, zp = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    return opmodels.conv_model(rng, k=k, stride=stride, padding=padding, dilation=dil, in_c=in_c,
                               out_c=out_c, groups=groups, h=h, w=w, act=act, scale_span=NARROW, in_zp=zp)


@pytest.mark.parametrize("board,kernels", [("qemu-mps2-an500", "dsp"), ("qemu-mps3-an547", "mve")])
def test_grouped_direct_on_qemu(board, kernels, tmp_path):
    models = []
    for i, (case, _) in enumerate(CASES):
        path = tmp_path / f"g{i}.tflite"
        path.write_bytes(_model(case))
        models.append(path)
    mans, outs = run_on_m55(models, tmp_path, kernels=kernels, board_name=board)
    got_kernels = [m["layers"][0]["kernel"] for m in mans]
    if kernels == "dsp":
        assert got_kernels == [k for _, k in CASES]
    else:
        assert DIRECT in got_kernels, got_kernels
    bad = differences([case for case, _ in CASES], models, mans, outs)
    assert not bad, bad


@pytest.mark.parametrize("i", [0, 5, 9, 13, 15, 16, 18, 19, 23, 26, 30, 32])
def test_grouped_direct_host(write_model, tmp_path, i):
    """The same C built for the host (portable intrinsics), as `codegen verify` checks it."""
    from test_single_ops import check
    case, kernel = CASES[i]
    man = check(write_model, tmp_path, _model(case), kernels="dsp")
    assert man["layers"][0]["kernel"] == kernel
