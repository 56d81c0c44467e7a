"""The kernel-selection rules of the one-pixel 1x1 entries (mcuf_conv_1x1_one_pixel_in{4,8}_s8_dsp_fast),
the packed HWC 3x3 depthwise on planes over HWC3_PACKED_MAX_PIXELS where its copy fits the
graph's largest operator (mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast), the Helium HWC 3x3
depthwise at its 16 KB scratch cap (mcuf_depthwise_conv_3x3_hwc_s8_mve) and the Helium grouped
1x1 as one block-diagonal GEMM, probed right at their boundaries (channel counts 3/4/5/8/9,
output channels around the unrolled passes, 1x1 planes with SAME padding, planes either side
of the caps, strides 1 and 2, biases near 2^30, extreme output scales, legacy uint8 with
weight zero points 0 and 255) against TFLite's reference: one Cortex-M7 image (--kernels dsp)
and one Cortex-M55 image (--kernels mve), two inputs per model, every output byte. attack9 ran
243 M7 and 66 M55 such cases (and each under -fsanitize=address,undefined on the host): all
bit-exact; this is a slice of them."""
import zlib

import numpy as np
import pytest

import opmodels
from codegen.pipeline import compile_graph
from mve_sweep import run_on_m55, sweep_input
from runtime.interpreter import ReferenceModel

N = (1e-3, 1e-2)   # every channel on the fast output stage


def _rng(case):
    return np.random.default_rng(zlib.crc32(repr(case).encode()))


def _m7_model(case) -> bytes:
    kind = case[0]
    if kind == "conv":        # 1x1 on a 1x1 plane, SAME padding: (in_c, out_c, extra options)
        _, ic, oc, extra = case
        return opmodels.conv_model(_rng(case), k=1, stride=1, padding="SAME", dilation=1, in_c=ic, out_c=oc,
                                   h=1, w=1, **dict(extra))
    if kind == "u8conv":      # legacy uint8 1x1 on a 1x1 plane: (in_c, out_c, w_zp, in_zp)
        _, ic, oc, wzp, izp = case
        return opmodels.uint8_layer_model(_rng(case), "CONV_2D", in_zp=izp, w_zp=wzp, h=1, w=1, c=ic, out_c=oc,
                                          k=1, stride=1, padding="SAME")
    if kind == "chain":       # a 2x2 max pool (the graph's largest operator) then the 3x3 depthwise
        _, c, hw, s = case
        return opmodels.chain_model(_rng(case), shape=(1, 2 * hw, 2 * hw, c),
                                    layers=[("maxpool", 2, 2), ("dw", 3, s, 1)], scale_span=N)
    _, c, hw, s = case        # legacy uint8 3x3 depthwise alone
    return opmodels.uint8_layer_model(_rng(case), "DEPTHWISE_CONV_2D", h=hw, w=hw, c=c, k=3, stride=s,
                                      padding="SAME")


M7 = [
    *[("conv", ic, oc, ()) for ic, oc in [(3, 9), (4, 1), (4, 16), (4, 17), (5, 8), (7, 9), (8, 8), (8, 9),
                                          (8, 17), (9, 16)]],
    ("conv", 4, 17, (("bmax", 2 ** 30),)), ("conv", 8, 17, (("out_scale", 1e3),)),
    ("conv", 8, 17, (("out_scale", 1e-9),)), ("conv", 4, 17, (("act", "RELU6"),)),
    ("u8conv", 4, 9, 0, 255), ("u8conv", 8, 17, 255, 0), ("u8conv", 5, 9, 119, 128),
    ("chain", 4, 16, 2), ("chain", 5, 17, 2), ("chain", 8, 18, 2), ("chain", 9, 19, 1), ("chain", 16, 17, 1),
    ("chain", 16, 19, 2), ("chain", 17, 16, 2), ("chain", 12, 40, 2),
    ("u8dw", 4, 9, 2), ("u8dw", 8, 17, 2), ("u8dw", 9, 15, 1), ("u8dw", 16, 8, 1),
]

M55 = [   # (kind, channels or (groups, out_c), plane, stride, padding)
    ("dw", 64, 14, 1, "SAME"),     # scratch exactly 16,384 B: the Helium HWC kernel
    ("dw", 64, 15, 1, "SAME"),     # just over the cap: another kernel
    ("dw", 250, 6, 1, "SAME"), ("dw", 250, 7, 2, "SAME"), ("dw", 128, 10, 2, "SAME"), ("dw", 9, 4, 2, "VALID"),
    ("dw", 7, 2, 1, "SAME"),
    ("g", 16, (16, 16), 2), ("g", 34, (2, 4), 2), ("g", 17, (17, 17), 1), ("g", 15, (5, 10), 1),
    ("gx", 48, (3, 9), 2),          # wide weight scales, biases near 2^30: the general output stage
]


def _m55_model(case) -> bytes:
    if case[0] == "dw":
        _, c, hw, s, pad = case
        return opmodels.depthwise_model(_rng(case), k=3, stride=s, padding=pad, dilation=1, in_c=c, mult=1,
                                        h=hw, w=hw, scale_span=N)
    kind, ic, (g, oc), hw = case
    extra = dict(scale_span=(1e-5, 1e1), bmax=2 ** 30) if kind == "gx" else dict(scale_span=N)
    return opmodels.conv_model(_rng(case), k=1, stride=1, padding="VALID", dilation=1, groups=g, in_c=ic,
                               out_c=oc, h=hw, w=hw, **extra)


def _run(tmp_path, cases, make, kernels, board):
    models = []
    for i, case in enumerate(cases):
        path = tmp_path / f"case{i}.tflite"
        path.write_bytes(make(case))
        models.append(path)
    mans, outs = run_on_m55(models, tmp_path, kernels=kernels, board_name=board)
    for case, model, man, got in zip(cases, models, mans, outs):
        ref = ReferenceModel(model)
        for r, o in enumerate(got):
            x = sweep_input(man["input"]["bytes"], r)
            u8 = case[0].startswith("u8")
            want = ref.invoke(x.view(np.uint8) if u8 else x).reshape(-1).astype(np.int64)
            o = np.array(o, np.int8).view(np.uint8) if u8 else np.array(o)
            assert o.tolist() == want.tolist(), (case, r, int((o != want).sum()), len(want))
    return models


def test_selection_boundaries_on_cortex_m7_equal_tflite(tmp_path):
    models = _run(tmp_path, M7, _m7_model, "dsp", "qemu-mps2-an500")
    kern = {case: [s.kernel for s in compile_graph(m, "dsp").steps] for case, m in zip(M7, models)}
    for case in M7:
        if case[0] == "conv" and not case[3] and case[1] in (4, 8):
            assert kern[case][-1] == f"mcuf_conv_1x1_one_pixel_in{case[1]}_s8_dsp_fast", (case, kern[case])
        elif case[0] == "conv" and not case[3]:
            assert "one_pixel" not in kern[case][-1], (case, kern[case])
    packed = "mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast"
    assert kern[("chain", 8, 18, 2)][-1] == packed     # 9x9 output (81 > 64 px): room from the pool
    assert kern[("chain", 12, 40, 2)][-1] == packed    # 20x20 output


def test_selection_boundaries_on_cortex_m55_equal_tflite(tmp_path):
    models = _run(tmp_path, M55, _m55_model, "mve", "qemu-mps3-an547")
    ks = [compile_graph(m, "mve").steps[-1] for m in models]
    assert ks[0].kernel == "mcuf_depthwise_conv_3x3_hwc_s8_mve_fast"
    assert not ks[1].kernel.startswith("mcuf_depthwise_conv_3x3_hwc_s8_mve")
