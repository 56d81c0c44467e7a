"""Random single-layer CONV_2D / DEPTHWISE_CONV_2D models for hostile shape sweeps of the
optimized convolution kernels: int8 (per-channel scales over up to ten decades, multipliers
on both sides of 1 so some channels take TFLite's left shift, weights at -128 / 127) and
legacy uint8 (weight and input zero points at 0 / 255 and between), kernels K_h x K_w of 1-7,
strides 1-3 per axis, dilations, SAME / VALID, planes from 1x1, 1-67 channels, depth
multipliers 1-8, every fused activation, biases up to +-2^31, output scales far from the
typical one. `focus` biases the draw towards one kernel family's shapes (the legacy uint8
routing of codegen/ops/legacy.py, the HWC depthwise kernel, the planar 3x3 depthwise kernel,
asymmetric strides) so a small sweep still reaches every new kernel."""
from __future__ import annotations

import numpy as np

from codegen.tflite_writer import ModelBuilder
from opmodels import ACT, PAD

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
FOCUSES = ("any", "legacy", "hwc", "dw3", "asym")


def _osz(padding: str, size: int, k: int, s: int, d: int) -> int:
    eff = (k - 1) * d + 1
    return (size + s - 1) // s if padding == "SAME" else (size + s - eff) // s


def random_conv_case(rng: np.random.Generator, focus: str = "any") -> dict:
    """One case (a dict of plain ints / strings, printable as a test id) drawn from rng."""
    pick = lambda xs: xs[int(rng.integers(len(xs)))]   # noqa: E731 (plain Python values)
    c = dict(kind=pick(["CONV_2D", "DEPTHWISE_CONV_2D"]), u8=bool(rng.random() < 0.5),
             kh=pick([1, 3, 3, 5, 7]), kw=0, sh=pick([1, 2]), sw=0, dh=1, dw=1,
             padding=pick(["SAME", "VALID"]), h=pick([1, 2, 3, 4, 5, 7, 8, 9, 11, 16]),
             w=pick([1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 19]),
             c=pick([1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, 24, 31, 33, 48, 64, 67]),
             out_c=int(rng.integers(1, 68)), mult=pick([1, 1, 1, 2, 4, 8]), act=pick(ACTS),
             left_shifts=bool(rng.random() < 0.3), seed=int(rng.integers(1 << 30)))
    c["kw"], c["sw"] = c["kh"], c["sh"]
    if rng.random() < 0.1 and c["sh"] == 1:
        c["dh"] = c["dw"] = 2
    if focus == "legacy":
        c["u8"] = True
        shape = int(rng.integers(4))
        if shape == 0:     # the planar 3x3 wzp kernel: wide rows
            c.update(kind="DEPTHWISE_CONV_2D", kh=3, kw=3, mult=1, dh=1, dw=1, h=pick([1, 2, 3, 5, 7]),
                     w=pick([4, 5, 8, 9, 15, 16, 17, 23, 33]))
        elif shape == 1:   # the RGB stem
            c.update(kind="CONV_2D", kh=3, kw=3, c=3, sh=2, sw=2, dh=1, dw=1, act=pick(["NONE", "NONE", c["act"]]))
        elif shape == 2:   # the 1x1 int16 kernel
            c.update(kind="CONV_2D", kh=1, kw=1, sh=1, sw=1, dh=1, dw=1, padding="VALID",
                     c=pick([4, 8, 12, 16, 32, 48, 64, 68]))
        else:
            c.update(kind="DEPTHWISE_CONV_2D", kh=pick([3, 5, 7]), mult=1, dh=1, dw=1)
            c["kw"] = c["kh"]
    elif focus == "hwc":
        c.update(kind="DEPTHWISE_CONV_2D", mult=1, dh=1, dw=1, kh=pick([3, 3, 5, 7]), u8=bool(rng.random() < 0.3),
                 h=int(rng.integers(1, 12)), w=int(rng.integers(1, 20)))
        c["kw"] = c["kh"]
    elif focus == "dw3":
        if rng.random() < 0.7:   # the planar 3x3 kernel's stride-1 pair assembly
            c.update(kind="DEPTHWISE_CONV_2D", u8=False, kh=3, kw=3, sh=pick([1, 1, 1, 2]), mult=1, dh=1, dw=1,
                     h=int(rng.integers(1, 10)), w=int(rng.integers(3, 34)), c=int(rng.integers(1, 68)),
                     left_shifts=True)
            c["sw"] = c["sh"]
        else:                    # 1x1 convolutions, 1x1 planes included
            hw = pick([1, 1, 2, 3, 5])
            c.update(kind="CONV_2D", u8=bool(rng.random() < 0.2), kh=1, kw=1, sh=1, sw=1, dh=1, dw=1,
                     padding="VALID", h=hw, w=pick([1, hw, 3, 7]), c=pick([4, 8, 12, 16, 20, 32, 48, 64, 72, 96]),
                     left_shifts=True)
    elif focus == "asym":
        c.update(kh=pick([1, 2, 3, 5, 7]), kw=pick([1, 2, 3, 5, 7]), sh=pick([1, 2, 3]), sw=pick([1, 2, 3]),
                 dh=pick([1, 1, 2, 3]), dw=pick([1, 1, 2, 3]), h=int(rng.integers(1, 14)), w=int(rng.integers(1, 34)))
        if rng.random() < 0.5:
            c.update(kind="DEPTHWISE_CONV_2D", kh=3, kw=3, dh=1, dw=1, mult=1, w=int(rng.integers(8, 34)))
    if c["kind"] == "CONV_2D":
        c["mult"] = 1
    if c["padding"] == "VALID" and (c["h"] < (c["kh"] - 1) * c["dh"] + 1 or c["w"] < (c["kw"] - 1) * c["dw"] + 1):
        c["padding"] = "SAME"
    return c


def random_conv_model(case: dict) -> bytes:
    """The .tflite bytes of a random_conv_case (its own seed draws weights, scales, biases)."""
    rng = np.random.default_rng(case["seed"])
    mb = ModelBuilder()
    dw = case["kind"] == "DEPTHWISE_CONV_2D"
    kh, kw, c = case["kh"], case["kw"], case["c"]
    out_c = c * case["mult"] if dw else case["out_c"]
    wshape = (1, kh, kw, out_c) if dw else (out_c, kh, kw, c)
    xs = float(np.exp(rng.uniform(np.log(1e-3), np.log(1.0))))
    if case["u8"]:
        xzp = int(rng.choice([0, 128, 255, int(rng.integers(0, 256))]))
        wzp = int(rng.choice([0, 255, 128, int(rng.integers(0, 256))]))
        ws = float(np.exp(rng.uniform(np.log(1e-4), np.log(0.05))))
        wscales = np.full(out_c, ws, np.float32)
        wdata = rng.integers(0, 256, wshape) if rng.random() < 0.7 else rng.choice([0, 255], wshape)
        wt = mb.tensor(list(wshape), "uint8", ws, wzp, wdata, axis=3 if dw else 0)
        bscale = xs * ws
    else:
        xzp = int(rng.integers(-128, 128))
        if case["left_shifts"]:
            mid = float(np.exp(rng.uniform(np.log(1e-4), np.log(0.1))))
            spread = float(rng.choice([1.0, 1.5, 3, 10, 1e5]))
            lo, hi = mid / spread, mid * spread
        else:
            lo, hi = sorted(np.exp(rng.uniform(np.log(1e-6), np.log(1.0), 2)))
        wscales = np.exp(rng.uniform(np.log(lo), np.log(hi) + 1e-9, out_c)).astype(np.float32)
        wdata = rng.integers(-128, 128, wshape) if rng.random() < 0.7 else rng.choice([-128, 127], wshape)
        wt = mb.tensor(list(wshape), "int8", wscales, 0, wdata, axis=3 if dw else 0)
        bscale = (xs * wscales).astype(np.float32)
    x = mb.tensor([1, case["h"], case["w"], c], "uint8" if case["u8"] else "int8", xs, xzp)
    bmax = int(rng.choice([10, 3000, 100000, 1 << 24, 1 << 29, (1 << 31) - 1]))
    bias = mb.tensor([out_c], "int32", bscale, 0, rng.integers(-bmax, bmax, out_c))
    oh = _osz(case["padding"], case["h"], kh, case["sh"], case["dh"])
    ow = _osz(case["padding"], case["w"], kw, case["sw"], case["dw"])
    typical = xs * float(np.median(wscales)) * 60 * np.sqrt(kh * kw * (1 if dw else c))
    if case["left_shifts"] and not case["u8"]:   # multipliers on both sides of 1
        ys = xs * float(np.median(wscales)) * float(np.exp(rng.uniform(np.log(0.2), np.log(3))))
    elif rng.random() < 0.8:
        ys = typical * float(np.exp(rng.uniform(np.log(0.05), np.log(5))))
    else:
        ys = typical * float(np.exp(rng.uniform(np.log(1e-5), np.log(1e4))))
    if case["act"] == "RELU6" and rng.random() < 0.5:
        ys = 6.0 / 255 * float(rng.choice([0.5, 1, 2]))
    yzp = (int(rng.choice([0, 128, 255, int(rng.integers(0, 256))])) if case["u8"]
           else int(rng.choice([-128, 127, 0, int(rng.integers(-128, 128))])))
    y = mb.tensor([1, oh, ow, out_c], "uint8" if case["u8"] else "int8", ys, yzp)
    common = dict(Padding=PAD[case["padding"]], StrideW=case["sw"], StrideH=case["sh"],
                  FusedActivationFunction=ACT[case["act"]], DilationWFactor=case["dw"], DilationHFactor=case["dh"])
    if dw:
        mb.op("DEPTHWISE_CONV_2D", [x, wt, bias], [y], "DepthwiseConv2DOptions", DepthMultiplier=case["mult"], **common)
    else:
        mb.op("CONV_2D", [x, wt, bias], [y], "Conv2DOptions", **common)
    return mb.build([x], [y])
