"""mcuf_depthwise_conv_kxk_plane_s8_dsp[_fast] (5x5 / 7x7 on one gathered channel plane: depth
multipliers, 1- and 3-channel inputs, channel counts off a multiple of 4, and CONV_2D of a
1-channel image; 3x3 at stride 2) over a shape sweep on QEMU's Cortex-M7, M4 and M33 and, where the Helium set
has no kernel for the layer, the Cortex-M55: every layer in one firmware image per core
(tests/mve_sweep.py), every output byte of two inputs equal to TFLite's reference kernels."""
import zlib

import numpy as np
import pytest

import opmodels
from mve_sweep import differences, run_on_m55

NARROW = (1e-3, 1e-2)   # every channel on fast constants: the _fast entry (full range)
KXK = "mcuf_depthwise_conv_kxk_plane_s8_dsp"

# DEPTHWISE_CONV_2D: k, stride, padding, in_c, mult, h, w, act, scale span, input zero point.
# (3x3 at stride_w 2 on the fast stage: the pairs in assembly, kxk3s2_pairs_fast)
# Strides 1, 2 (pairs) and 3 (single outputs), SAME and VALID, odd widths, planes narrower than
# the kernel, 1x1 input and output planes, fused ReLU6 / ReLU (the general stage), left-shift
# channels (the default span), input zero points at -128 and 127
DW_KXK_SWEEP = [
    (5, 1, "SAME", 1, 1, 9, 9, "NONE", NARROW, None), (5, 2, "SAME", 1, 1, 10, 11, "NONE", NARROW, -128),
    (7, 1, "SAME", 1, 1, 7, 9, "RELU6", NARROW, 127), (7, 2, "VALID", 1, 1, 9, 13, "NONE", NARROW, None),
    (5, 1, "SAME", 3, 1, 6, 7, "NONE", NARROW, 127), (5, 2, "SAME", 3, 2, 9, 8, "NONE", NARROW, None),
    (7, 1, "SAME", 3, 4, 5, 6, "NONE", NARROW, -128), (7, 2, "SAME", 3, 8, 7, 9, "RELU6", NARROW, None),
    (5, 1, "SAME", 8, 2, 6, 6, "NONE", NARROW, None), (5, 2, "VALID", 8, 4, 9, 10, "NONE", NARROW, None),
    (7, 2, "SAME", 13, 1, 8, 9, "NONE", NARROW, None), (5, 1, "SAME", 13, 1, 7, 7, "RELU6", NARROW, None),
    (7, 1, "SAME", 13, 2, 5, 5, "NONE", NARROW, None), (5, 2, "SAME", 13, 1, 9, 9, "NONE", NARROW, 127),
    (5, 1, "SAME", 1, 8, 1, 1, "NONE", NARROW, None), (7, 2, "SAME", 2, 2, 1, 1, "NONE", NARROW, None),
    (5, 1, "VALID", 4, 1, 5, 5, "NONE", NARROW, None), (7, 1, "SAME", 1, 2, 3, 2, "NONE", NARROW, None),
    (5, 2, "SAME", 5, 1, 2, 3, "NONE", NARROW, None), (5, 1, "SAME", 32, 2, 4, 5, "NONE", NARROW, None),
    (5, 3, "SAME", 4, 2, 9, 10, "NONE", NARROW, None), (7, 3, "VALID", 3, 1, 11, 12, "RELU", NARROW, None),
    (7, 1, "VALID", 16, 4, 7, 7, "NONE", NARROW, None), (5, 1, "SAME", 6, 1, 8, 8, "NONE", (1e-4, 1e-1), None),
    (7, 2, "SAME", 3, 2, 9, 9, "RELU6", (1e-4, 1e-1), -128), (5, 2, "SAME", 1, 4, 12, 7, "NONE", NARROW, None),
    (7, 1, "SAME", 8, 1, 9, 10, "NONE", NARROW, None), (5, 1, "SAME", 12, 1, 6, 5, "RELU6", NARROW, None),
    # 3x3 at stride 2 (the layers the 3x3 plane kernel took, on the fast output stage)
    (3, 2, "SAME", 1, 1, 9, 9, "NONE", NARROW, -128), (3, 2, "SAME", 3, 4, 8, 11, "NONE", NARROW, 127),
    (3, 2, "VALID", 3, 1, 9, 8, "NONE", NARROW, None), (3, 2, "SAME", 8, 2, 1, 1, "NONE", NARROW, None),
    (3, 2, "SAME", 2, 8, 2, 3, "NONE", NARROW, None), (3, 2, "VALID", 1, 2, 3, 3, "NONE", NARROW, None),
    (3, 2, "SAME", 32, 2, 6, 7, "NONE", NARROW, None),
    # the two-channel pair run (even multipliers, an odd last column in C, odd multipliers'
    # last channel alone) and the gather's words (odd and even word counts, byte tails, pad_left 1)
    (3, 2, "SAME", 5, 2, 13, 13, "NONE", NARROW, -128), (3, 2, "SAME", 2, 3, 10, 16, "NONE", NARROW, 127),
    (3, 2, "VALID", 7, 6, 9, 12, "NONE", NARROW, None), (3, 2, "SAME", 7, 1, 17, 20, "NONE", NARROW, None),
    # rows of 32 bytes or more: the border-only zero-point fill; 1-channel rows by LDM / STM
    # (word-aligned rows; a 3-byte tail at VALID 7x7), or by memcpy (in_w off a multiple of 4)
    (3, 2, "SAME", 1, 1, 6, 40, "NONE", NARROW, -128), (3, 2, "SAME", 3, 2, 5, 33, "NONE", NARROW, 127),
    (5, 1, "SAME", 2, 1, 4, 34, "NONE", NARROW, None), (5, 2, "SAME", 1, 2, 5, 34, "NONE", NARROW, None),
    (7, 2, "VALID", 1, 1, 9, 40, "NONE", NARROW, None),
    # other vertical strides (stride_h, stride_w)
    (3, (1, 2), "SAME", 4, 2, 7, 9, "NONE", NARROW, None), (3, (3, 2), "VALID", 2, 4, 10, 9, "NONE", NARROW, None),
    (5, (2, 1), "SAME", 3, 2, 9, 8, "NONE", NARROW, None), (7, (1, 2), "SAME", 1, 4, 8, 11, "NONE", NARROW, None),
    # the four-plane gather (in_c a multiple of 4, small planes): word rows with byte tails,
    # pad_left 0 / 1 / 2, the general stage, and a plane over KXK_QUAD_MAX_SCRATCH (one plane)
    (3, 2, "VALID", 16, 2, 10, 15, "NONE", NARROW, 127), (3, 2, "SAME", 12, 2, 11, 13, "NONE", NARROW, -128),
    (5, 1, "SAME", 8, 2, 9, 11, "RELU6", NARROW, None),
    (5, 2, "SAME", 12, 1, 13, 14, "NONE", NARROW, None), (3, 2, "SAME", 8, 2, 40, 41, "NONE", NARROW, None)]

# CONV_2D of a 1-channel image: k, stride, padding, out_c, h, w, act, input zero point
CONV1_KXK_SWEEP = [
    (5, 1, "SAME", 8, 9, 9, "NONE", None), (7, 2, "SAME", 13, 10, 11, "RELU6", -128),
    (5, 2, "VALID", 3, 9, 12, "NONE", 127), (7, 1, "SAME", 32, 6, 7, "NONE", None),
    (5, 1, "SAME", 4, 1, 1, "NONE", None), (7, 2, "VALID", 2, 7, 7, "NONE", None),
    # 3x3 at stride 2 on the fast stage (out_c off a multiple of 4: the stem kernel takes the rest)
    (3, 2, "SAME", 13, 12, 11, "NONE", -128), (3, 2, "VALID", 5, 9, 10, "NONE", None)]


def dw_model(case) -> bytes:
    k, stride, padding, in_c, mult, h, w, act, span, zp = case
    rng = np.random.default_rng(zlib.crc32(repr(("dw-kxk", case)).encode()))
    return opmodels.depthwise_model(rng, k=k, stride=stride, padding=padding, dilation=1, in_c=in_c,
                                    mult=mult, h=h, w=w, act=act, scale_span=span, in_zp=zp)


def conv1_model(case) -> bytes:
    k, stride, padding, out_c, h, w, act, zp = case
    rng = np.random.default_rng(zlib.crc32(repr(("conv1-kxk", case)).encode()))
    return opmodels.conv_model(rng, k=k, stride=stride, padding=padding, dilation=1, in_c=1, out_c=out_c,
                               h=h, w=w, act=act, in_zp=zp)


def _run(board, tmp_path, kernels):
    cases = DW_KXK_SWEEP + CONV1_KXK_SWEEP
    models = []
    for i, case in enumerate(cases):
        path = tmp_path / f"case{i}.tflite"
        path.write_bytes(dw_model(case) if i < len(DW_KXK_SWEEP) else conv1_model(case))
        models.append(path)
    mans, outs = run_on_m55(models, tmp_path, kernels=kernels, board_name=board)
    bad = differences(cases, models, mans, outs)
    assert not bad, bad
    return cases, [m["layers"][0]["kernel"] for m in mans]


@pytest.mark.parametrize("board", ["qemu-mps2-an500", "qemu-mps2-an386", "qemu-mps2-an505"])
def test_kxk_plane_sweep_on_qemu_equals_tflite(board, tmp_path):
    cases, kernels = _run(board, tmp_path, "dsp")
    assert all(k in (KXK, KXK + "_fast") for k in kernels), [(c, k) for c, k in zip(cases, kernels) if not k.startswith(KXK)]
    # the _fast entry wherever every channel has fast constants and the range is all of int8
    fast = [k for c, k in zip(cases, kernels) if k.endswith("_fast")]
    assert len(fast) >= 20, kernels


def test_kxk_plane_sweep_on_m55_equals_tflite(tmp_path):
    """The Cortex-M55 build: Helium kernels where one fits, else these DSP kernels."""
    cases, kernels = _run("qemu-mps3-an547", tmp_path, "mve")
    assert any(k.startswith(KXK) for k in kernels), kernels
