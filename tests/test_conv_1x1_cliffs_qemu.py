"""The 1x1 CONV_2D / DEPTHWISE_CONV_2D routes of issue #22 on real cores (QEMU's Cortex-M7, M33 and M55, the DSP set), against
TFLite's reference, every layer in one firmware image per core:
- mcuf_conv_1x1_lut_s8_dsp (one input channel: a table of the 256 outputs per channel): out_c
  1/3/8/13/16/32, stride 1 and 2, odd and even planes down to 1x1, SAME / VALID, RELU / RELU6,
  per-tensor and per-channel scales, left-shift multipliers, extreme input zero points, a
  saturating output scale; beside it the layers it must leave alone (a table over the flash
  budget, a folded PAD reading past the plane); the same table for a 1x1 DEPTHWISE_CONV_2D over
  one channel (any multiplier), and mcuf_depthwise_conv_1x1_lut_s8_dsp (any multiplier, a table per
  input channel: 1/2/3/4/5/8/13/16/32 channels, multipliers 1/2/3/4/5/8, a 1x1 plane, a dead
  channel, left shifts);
- mcuf_conv_1x1_strided_s8_dsp_fast (a 1x1 at stride 2 or 3 over 2 <= in_c <= 64, or at stride 1
  over in_c % 4 != 0 to at least 24 outputs, the fast output stage): in_c 2/3/4/5/8/13/16/62/63/64,
  out_c 1/2/3/8/13/24/25/27/32, odd and even planes down to 1x1 (an
  odd last pixel alone, pixel pairs spanning two rows), SAME / VALID, biases near the fast
  stage's bound; beside it the layers it leaves to the general kernels (a clamp, left shifts).
Every output byte of two inputs per model is compared."""
import zlib

import numpy as np
import pytest

import opmodels
from mve_sweep import differences, run_on_m55

NARROW = (1e-3, 1e-2)
WIDE = (1e-4, 1e-1)            # some channels need left shifts
ONE = (3e-3, 3e-3)             # one scale: per-tensor constants
LUT = "mcuf_conv_1x1_lut_s8_dsp"

# (conv_model keywords, the kernel expected to take the layer; None: anything but LUT)
LUT_SWEEP = [
    (dict(stride=1, padding="SAME", in_c=1, out_c=8, h=9, w=7), LUT),
    (dict(stride=2, padding="SAME", in_c=1, out_c=8, h=9, w=7), LUT),
    (dict(stride=2, padding="VALID", in_c=1, out_c=13, h=8, w=10), LUT),
    (dict(stride=1, padding="VALID", in_c=1, out_c=13, h=3, w=5), LUT),
    (dict(stride=2, padding="SAME", in_c=1, out_c=32, h=7, w=6), LUT),
    (dict(stride=1, padding="SAME", in_c=1, out_c=32, h=4, w=4, act="RELU6"), LUT),
    (dict(stride=2, padding="SAME", in_c=1, out_c=16, h=5, w=5, act="RELU"), LUT),
    (dict(stride=1, padding="SAME", in_c=1, out_c=16, h=3, w=3, scale_span=WIDE), LUT),
    (dict(stride=1, padding="VALID", in_c=1, out_c=1, h=5, w=5), LUT),
    (dict(stride=2, padding="SAME", in_c=1, out_c=1, h=6, w=3), LUT),
    (dict(stride=1, padding="SAME", in_c=1, out_c=3, h=1, w=1), LUT),
    (dict(stride=2, padding="SAME", in_c=1, out_c=3, h=1, w=1), LUT),
    (dict(stride=2, padding="VALID", in_c=1, out_c=5, h=2, w=9, scale_span=ONE), LUT),
    (dict(stride=1, padding="SAME", in_c=1, out_c=8, h=4, w=5, in_zp=-128), LUT),
    (dict(stride=2, padding="SAME", in_c=1, out_c=13, h=5, w=4, in_zp=127, act="RELU6"), LUT),
    (dict(stride=1, padding="SAME", in_c=1, out_c=6, h=3, w=4, out_scale=1e-4), LUT),   # saturates
    (dict(stride=1, padding="SAME", in_c=1, out_c=7, h=3, w=3, dead=(2,)), LUT),       # dead channel
    (dict(stride=1, padding="SAME", in_c=1, out_c=33, h=3, w=3), None),                 # over budget
]
STRIDED = "mcuf_conv_1x1_strided_s8_dsp_fast"
# dense 1x1 over 2-3 inputs at >= 2 output pixels: mcuf_conv_1x1_few_c{2,3}_s8_dsp_fast (_few_1x1_takes,
# faster on the cliff sweep: in_c 3 2.63-2.86 instr/MAC against 3.84-5.28), tests/test_conv_1x1_few.py
FEW2, FEW3 = "mcuf_conv_1x1_few_c2_s8_dsp_fast", "mcuf_conv_1x1_few_c3_s8_dsp_fast"
STRIDED_SWEEP = [
    (dict(stride=2, padding="SAME", in_c=8, out_c=8, h=9, w=7), STRIDED),
    (dict(stride=2, padding="VALID", in_c=16, out_c=13, h=8, w=10), STRIDED),
    (dict(stride=2, padding="SAME", in_c=4, out_c=32, h=5, w=6), STRIDED),
    (dict(stride=2, padding="SAME", in_c=16, out_c=3, h=6, w=5), STRIDED),
    (dict(stride=2, padding="SAME", in_c=8, out_c=1, h=5, w=5), STRIDED),
    (dict(stride=2, padding="SAME", in_c=8, out_c=2, h=3, w=3), STRIDED),
    (dict(stride=2, padding="SAME", in_c=64, out_c=13, h=4, w=3), STRIDED),
    (dict(stride=2, padding="SAME", in_c=16, out_c=8, h=1, w=1), STRIDED),
    (dict(stride=2, padding="VALID", in_c=8, out_c=13, h=2, w=2), STRIDED),
    (dict(stride=2, padding="SAME", in_c=12, out_c=9, h=1, w=6), STRIDED),
    (dict(stride=3, padding="SAME", in_c=8, out_c=8, h=7, w=8), STRIDED),
    (dict(stride=2, padding="SAME", in_c=8, out_c=8, h=5, w=5, bmax=2**27), STRIDED),
    (dict(stride=2, padding="SAME", in_c=16, out_c=8, h=5, w=5, in_zp=-128), STRIDED),
    (dict(stride=2, padding="SAME", in_c=16, out_c=8, h=5, w=5, in_zp=127), STRIDED),
    (dict(stride=2, padding="SAME", in_c=16, out_c=8, h=5, w=5, act="RELU6"), STRIDED),   # + the clamp epilogue
    (dict(stride=2, padding="SAME", in_c=8, out_c=13, h=5, w=5, scale_span=(0.05, 0.3), wmax=2, bmax=20,
          out_scale=1e-3), None),
    # depths off a multiple of 4 (zero weights to C4; the last input pixel through a zero-filled copy)
    (dict(stride=1, padding="SAME", in_c=3, out_c=24, h=5, w=5), FEW3),
    (dict(stride=1, padding="SAME", in_c=3, out_c=8, h=5, w=5), None),     # few outputs: the grouped route
    (dict(stride=1, padding="VALID", in_c=13, out_c=27, h=3, w=4), STRIDED),
    (dict(stride=1, padding="VALID", in_c=13, out_c=13, h=3, w=4), None),   # few outputs: the grouped route
    (dict(stride=2, padding="SAME", in_c=3, out_c=13, h=9, w=7), FEW3),
    (dict(stride=2, padding="SAME", in_c=13, out_c=32, h=4, w=4), STRIDED),
    (dict(stride=2, padding="SAME", in_c=2, out_c=5, h=1, w=1), STRIDED),
    (dict(stride=2, padding="VALID", in_c=3, out_c=8, h=3, w=3), FEW3),
    (dict(stride=1, padding="SAME", in_c=5, out_c=25, h=1, w=3), STRIDED),
    (dict(stride=2, padding="SAME", in_c=62, out_c=7, h=3, w=3), STRIDED),
    (dict(stride=1, padding="SAME", in_c=63, out_c=24, h=2, w=3, in_zp=-128), STRIDED),
    (dict(stride=1, padding="SAME", in_c=2, out_c=32, h=3, w=3, in_zp=127), FEW2),
    (dict(stride=2, padding="SAME", in_c=2, out_c=1, h=3, w=3, in_zp=127), FEW2),
    (dict(stride=1, padding="SAME", in_c=15, out_c=8, h=1, w=1), None),    # a 1x1 plane
    (dict(stride=1, padding="SAME", in_c=3, out_c=8, h=4, w=4, act="RELU6"), None),
]
DW_LUT = "mcuf_depthwise_conv_1x1_lut_s8_dsp"
DW_SWEEP = [   # 1x1 DEPTHWISE_CONV_2D (depthwise_model keywords)
    (dict(stride=1, padding="SAME", in_c=8, mult=1, h=5, w=5), DW_LUT),
    (dict(stride=2, padding="SAME", in_c=13, mult=1, h=7, w=6), DW_LUT),
    (dict(stride=1, padding="VALID", in_c=3, mult=1, h=3, w=3, act="RELU6"), DW_LUT),
    (dict(stride=2, padding="VALID", in_c=32, mult=1, h=4, w=5, scale_span=WIDE), DW_LUT),
    (dict(stride=1, padding="SAME", in_c=16, mult=1, h=1, w=1, dead=(3,)), DW_LUT),
    (dict(stride=1, padding="SAME", in_c=1, mult=8, h=6, w=5), LUT),
    (dict(stride=2, padding="SAME", in_c=1, mult=1, h=5, w=5, act="RELU"), LUT),
    (dict(stride=1, padding="SAME", in_c=4, mult=2, h=3, w=3), DW_LUT),
    (dict(stride=2, padding="SAME", in_c=3, mult=8, h=5, w=4), DW_LUT),
    (dict(stride=1, padding="VALID", in_c=5, mult=3, h=2, w=3, act="RELU6"), DW_LUT),
    (dict(stride=2, padding="SAME", in_c=2, mult=4, h=3, w=3, scale_span=WIDE), DW_LUT),
    (dict(stride=1, padding="SAME", in_c=2, mult=5, h=1, w=1), DW_LUT),
    (dict(stride=1, padding="SAME", in_c=1, mult=2, h=3, w=4), LUT),
    (dict(stride=1, padding="SAME", in_c=8, mult=8, h=2, w=2), None),    # over the flash budget
    (dict(stride=1, padding="SAME", in_c=33, mult=1, h=2, w=2), None),   # over the flash budget
]
PAD_SWEEP = [   # a folded PAD: top / left padding, or bottom / right reading past the plane
    (dict(pads=((1, 0), (0, 1)), k=1, stride=1, in_c=1, out_c=8, h=4, w=5), None),
    (dict(pads=((0, 1), (0, 1)), k=1, stride=2, in_c=1, out_c=8, h=4, w=5), None),
]


def _models(tmp_path):
    models = []
    for i, (kw, _) in enumerate(LUT_SWEEP + STRIDED_SWEEP):
        rng = np.random.default_rng(zlib.crc32(repr(kw).encode()))
        kw = dict(dict(k=1, dilation=1, scale_span=NARROW), **kw)
        models.append((tmp_path / f"l{i}.tflite", opmodels.conv_model(rng, **kw)))
    for i, (kw, _) in enumerate(DW_SWEEP):
        rng = np.random.default_rng(zlib.crc32(repr(kw).encode()))
        kw = dict(dict(k=1, dilation=1, scale_span=NARROW), **kw)
        models.append((tmp_path / f"d{i}.tflite", opmodels.depthwise_model(rng, **kw)))
    for i, (kw, _) in enumerate(PAD_SWEEP):
        rng = np.random.default_rng(zlib.crc32(repr(kw).encode()))
        models.append((tmp_path / f"p{i}.tflite", opmodels.pad_then_conv_model(rng, **kw)))
    for path, data in models:
        path.write_bytes(data)
    return [p for p, _ in models]


@pytest.mark.parametrize("board", ["qemu-mps2-an500", "qemu-mps2-an505", "qemu-mps3-an547"])
def test_conv_1x1_cliff_routes_on_qemu(board, tmp_path):
    """The whole sweep on the M7; every other layer of it on the M33 (Armv8-M) and the M55
    (Armv8.1-M, the DSP set it falls back to where the MVE set has no kernel): the same C and
    assembly compiled per core. The M4 (Armv7E-M, as the M7) is left out for time."""
    models = _models(tmp_path)
    cases = LUT_SWEEP + STRIDED_SWEEP + DW_SWEEP + PAD_SWEEP
    if board != "qemu-mps2-an500":
        half = int(board == "qemu-mps3-an547")   # the M33 and the M55 take alternate halves
        models, cases = models[half::2], cases[half::2]
    mans, outs = run_on_m55(models, tmp_path, kernels="dsp", board_name=board)
    chosen = [[l["kernel"] for l in m["layers"] if l["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D")][0] for m in mans]
    for (kw, want), got in zip(cases, chosen):
        assert got == want if want else got not in (LUT, STRIDED, DW_LUT), (kw, got)
    bad = differences([kw for kw, _ in cases], models, mans, outs)
    assert not bad, bad


HOST_CASES = [c for c in LUT_SWEEP + STRIDED_SWEEP if c[1]][::4]
HOST_DW = [c for c in DW_SWEEP if c[1]][::2]


@pytest.mark.parametrize("case", HOST_CASES, ids=lambda c: f"{c[0]['in_c']}to{c[0]['out_c']}s{c[0]['stride']}")
def test_conv_1x1_cliff_routes_host(tmp_path, case):
    """The same kernels' C paths in the host build (no DSP: the strided kernel's portable
    record loop) against TFLite's reference, on every fourth model of the QEMU sweep."""
    import json
    from codegen.verify import verify
    kw, want = case
    rng = np.random.default_rng(zlib.crc32(repr(kw).encode()))
    path = tmp_path / "m.tflite"
    path.write_bytes(opmodels.conv_model(rng, **dict(dict(k=1, dilation=1, scale_span=NARROW), **kw)))
    res = verify(path, tmp_path / "gen", inputs=3, kernels="dsp")
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; first mismatch {res.mismatches[:1]}"
    man = json.loads((tmp_path / "gen" / "model.json").read_text())
    assert man["layers"][0]["kernel"] == want


@pytest.mark.parametrize("case", HOST_DW, ids=lambda c: f"{c[0]['in_c']}x{c[0]['mult']}s{c[0]['stride']}")
def test_depthwise_1x1_lut_host(tmp_path, case):
    """The depthwise table kernels' C in the host build against TFLite's reference."""
    import json
    from codegen.verify import verify
    kw, want = case
    rng = np.random.default_rng(zlib.crc32(repr(kw).encode()))
    path = tmp_path / "m.tflite"
    path.write_bytes(opmodels.depthwise_model(rng, **dict(dict(k=1, dilation=1, scale_span=NARROW), **kw)))
    res = verify(path, tmp_path / "gen", inputs=3, kernels="dsp")
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; first mismatch {res.mismatches[:1]}"
    man = json.loads((tmp_path / "gen" / "model.json").read_text())
    assert man["layers"][0]["kernel"] == want
