"""mcuf_conv_1x1_few_c{2,3,4}_s8_dsp_fast (1x1 CONV_2D over 2-4 input channels per group, grouped
or dense, codegen/ops/conv_dsp.py: _few_1x1_takes) against TFLite's reference: groups 1/2/3/
4/8 x 2/3/4 channels per group, odd and split (more than 16) output channels per group, stride 1
and 2, SAME / VALID, pixel counts of every remainder by 2 and 3 (c 2 runs triples), lines of 2
pixels, out_w 1 (down the column), output multipliers spread over 2^10, input zero points at both
ends of int8, a ReLU6 clamping inside int8 (the kernel, then mcuf_act_clamp_s8_dsp), and the
layers it must leave (a 1x1 plane, 17 outputs per group, dense 4 inputs). One firmware image per core: QEMU's Cortex-M7 and Cortex-M4 (-O2) and Cortex-M33 (-Os:
functions aligned to 2, the chain's ADR entry); the host
build of the same C (no DSP: the portable copy) under tests/test_single_ops.py's check."""
import zlib

import numpy as np
import pytest

import opmodels
from mve_sweep import differences, run_on_m55

C2, C3, C4 = (f"mcuf_conv_1x1_few_c{c}_s8_dsp_fast" for c in (2, 3, 4))
NARROW = (1e-3, 1e-2)
WIDE = (1e-5, 1e-2)
# (stride, padding, in_c, out_c, groups, h, w, act, in_zp), expected kernel (None: another one)
CASES = [
    ((1, "SAME", 4, 4, 2, 5, 7, "NONE", None), C2),
    ((2, "SAME", 6, 6, 3, 9, 9, "NONE", None), C2),
    ((1, "VALID", 8, 8, 4, 3, 5, "NONE", 127), C2),
    ((2, "VALID", 16, 16, 8, 6, 7, "NONE", -128), C2),
    ((1, "SAME", 4, 10, 2, 1, 2, "NONE", None), C2),      # 5 out per group, 2 pixels
    ((2, "SAME", 6, 9, 3, 3, 1, "NONE", None), C2),       # out_w 1: the column
    ((2, "SAME", 2, 8, 1, 6, 5, "NONE", -128), C2),       # dense, 2 inputs
    ((1, "SAME", 2, 32, 1, 4, 3, "NONE", 127), C2),       # dense, 2 blocks of 16
    ((1, "SAME", 6, 6, 2, 7, 5, "NONE", None), C3),
    ((1, "SAME", 9, 9, 3, 5, 5, "NONE", -128), C3),
    ((2, "SAME", 12, 12, 4, 7, 9, "NONE", 127), C3),
    ((2, "VALID", 24, 24, 8, 5, 6, "NONE", None), C3),
    ((1, "SAME", 9, 15, 3, 5, 1, "NONE", None), C3),      # out_w 1 at stride 1: one line
    ((1, "SAME", 3, 8, 1, 5, 5, "NONE", None), C3),       # dense, 3 inputs
    ((2, "SAME", 3, 13, 1, 7, 7, "NONE", -128), C3),
    ((2, "SAME", 3, 32, 1, 9, 9, "NONE", 127), C3),
    ((1, "SAME", 8, 8, 2, 5, 5, "NONE", None), C4),
    ((2, "SAME", 12, 12, 3, 7, 7, "NONE", None), C4),
    ((1, "SAME", 16, 20, 4, 3, 3, "NONE", -128), C4),     # 5 out per group
    ((2, "SAME", 32, 32, 8, 5, 5, "NONE", 127), C4),
    ((2, "SAME", 8, 4, 2, 5, 1, "NONE", None), C4),       # out 3x1: the column, odd
    ((2, "SAME", 8, 36, 2, 3, 3, "NONE", None), C4),      # 18 per group: 2 blocks of 9
    # many pairs a call (the pair count in ip, in_step and the rewind from the end header), odd
    # pixel counts, output multipliers spread over 2^10 (shifts 1 to 11 in one layer)
    ((1, "SAME", 4, 4, 2, 13, 11, "NONE", -128, WIDE), C2),
    ((2, "SAME", 16, 16, 8, 15, 13, "NONE", 127, WIDE), C2),
    ((1, "VALID", 6, 6, 2, 9, 15, "NONE", None, WIDE), C3),
    ((2, "SAME", 9, 9, 3, 13, 15, "NONE", -128, WIDE), C3),
    ((2, "SAME", 6, 6, 3, 7, 4, "NONE", 127), C2),        # lines of 2 pixels: c 2's pairs in C
    ((2, "SAME", 4, 6, 2, 9, 1, "NONE", None), C2),       # a column of 5: a triple and the last 3
    ((1, "SAME", 6, 6, 3, 1, 1, "NONE", None), None),     # a 1x1 plane
    ((1, "SAME", 6, 6, 2, 5, 5, "RELU6", None), C3),      # ReLU6 inside int8: + the clamp epilogue
    ((1, "SAME", 4, 34, 2, 3, 3, "NONE", None), None),    # 17 per group: no equal blocks
    ((1, "SAME", 4, 4, 1, 3, 3, "NONE", None), None),     # dense 4 inputs: the dense 1x1 kernels
]


def _model(case) -> bytes:
    stride, padding, in_c, out_c, groups, h, w, act, zp = case[:9]
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    return opmodels.conv_model(rng, k=1, stride=stride, padding=padding, dilation=1, in_c=in_c,
                               out_c=out_c, groups=groups, h=h, w=w, act=act,
                               scale_span=case[9] if len(case) > 9 else NARROW, in_zp=zp)


@pytest.mark.parametrize("board,opt", [("qemu-mps2-an500", "-O2"), ("qemu-mps2-an386", "-O2"),
                                       ("qemu-mps2-an505", "-Os")])
def test_1x1_few_on_qemu(board, opt, tmp_path):
    models = []
    for i, (case, _) in enumerate(CASES):
        path = tmp_path / f"f{i}.tflite"
        path.write_bytes(_model(case))
        models.append(path)
    mans, outs = run_on_m55(models, tmp_path, kernels="dsp", opt=opt, board_name=board)
    got_kernels = [m["layers"][0]["kernel"] for m in mans]
    for (case, want), got in zip(CASES, got_kernels):
        if want is None:
            assert "few" not in got, (case, got)
        else:
            assert got == want, (case, got)
    bad = differences([case for case, _ in CASES], models, mans, outs)
    assert not bad, bad


@pytest.mark.parametrize("i", [0, 2, 5, 7, 10, 12, 15, 18, 20, 23, 25, 26, 27])
def test_1x1_few_host(write_model, tmp_path, i):
    """The same C built for the host (portable copy), as `codegen verify` checks it (case 2: the
    input placed 2 * in_c = 16 bytes into the output, no alignment slack: c 2's triples write C
    over A's bytes)."""
    from test_single_ops import check
    case, kernel = CASES[i]
    man = check(write_model, tmp_path, _model(case), kernels="dsp")
    assert man["layers"][0]["kernel"] == kernel
