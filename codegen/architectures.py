"""MobileNet architectures as layer tables, for any width multiplier and resolution.

The tables follow keras.applications (the converter path the fixtures took), which follows
the papers: MobileNet V1 (Howard et al. 2017, table 1; channels int(c * alpha)) and
MobileNet V2 (Sandler et al. 2018, table 2; channels rounded to multiples of 8, last 1x1
conv 1280 wide for alpha <= 1). From a table come MACs and parameters analytically, and --
through `to_tflite` -- a real int8 .tflite with random weights, which the real compiler and
memory planner then size exactly (weights are irrelevant to sizes and instruction counts).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACT_SCALE = 0.05               # to_tflite's activation scale (about what trained MobileNets have)


@dataclass(frozen=True)
class Layer:
    kind: str
    inp: tuple[int, int, int]          # H, W, C in
    out: tuple[int, int, int]          # H, W, C out
    k: int = 1
    stride: int = 1
    relu6: bool = True
    residual: int | None = None        # add: index of the layer whose output is the other operand

    @property
    def macs(self) -> int:
        """Multiply-accumulates (the papers' mult-adds); a MEAN counts one add per input."""
        h, w, c = self.out
        if self.kind in ("conv", "pointwise"):
            return self.k * self.k * self.inp[2] * h * w * c
        if self.kind == "depthwise":
            return self.k * self.k * h * w * c
        if self.kind == "fc":
            return self.inp[2] * c
        if self.kind == "mean":
            return self.inp[0] * self.inp[1] * self.inp[2]
        return 0

    @property
    def params(self) -> int:
        """Weights plus biases (batch norm folded, as in the converted model)."""
        c = self.out[2]
        if self.kind in ("conv", "pointwise"):
            return self.k * self.k * self.inp[2] * c + c
        if self.kind == "depthwise":
            return self.k * self.k * c + c
        if self.kind == "fc":
            return self.inp[2] * c + c
        return 0


def _same(size: int, stride: int) -> int:
    return -(-size // stride)


def make_divisible(v: float, divisor: int = 8) -> int:
    """MobileNet V2's channel rounding (nearest multiple of 8, never below 90% of v)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class _Table:
    def __init__(self, resolution: int, channels: int):
        self.layers: list[Layer] = []
        self.shape = (resolution, resolution, channels)

    def add(self, kind, c=None, k=1, stride=1, relu6=True, residual=None) -> int:
        h, w, cin = self.shape
        if kind in ("conv", "pointwise", "depthwise"):
            out = (_same(h, stride), _same(w, stride), cin if kind == "depthwise" else c)
        elif kind == "mean":
            out = (1, 1, cin)
        elif kind == "fc":
            out = (1, 1, c)
        else:
            out = self.shape
        self.layers.append(Layer(kind, self.shape, out, k, stride, relu6, residual))
        self.shape = out
        return len(self.layers) - 1


V1_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
             (512, 1), (512, 1), (1024, 2), (1024, 1)]
V2_BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
             (6, 160, 3, 2), (6, 320, 1, 1)]   # expansion t, channels c, repeats n, stride s


def mobilenet_v1(alpha: float, resolution: int, classes: int = 1000, channels: int = 3) -> list[Layer]:
    t = _Table(resolution, channels)
    t.add("conv", int(32 * alpha), k=3, stride=2)
    for c, s in V1_BLOCKS:
        t.add("depthwise", k=3, stride=s)
        t.add("pointwise", int(c * alpha))
    t.add("mean")
    t.add("pointwise", classes, relu6=False)          # Keras' head is a 1x1 convolution
    t.add("softmax")
    return t.layers


def mobilenet_v2(alpha: float, resolution: int, classes: int = 1000, channels: int = 3) -> list[Layer]:
    t = _Table(resolution, channels)
    t.add("conv", make_divisible(32 * alpha), k=3, stride=2)
    for expansion, c, n, s in V2_BLOCKS:
        out_c = make_divisible(c * alpha)
        for i in range(n):
            block_in, cin = len(t.layers) - 1, t.shape[2]
            stride = s if i == 0 else 1
            if expansion != 1:
                t.add("pointwise", cin * expansion)
            t.add("depthwise", k=3, stride=stride)
            t.add("pointwise", out_c, relu6=False)    # the linear bottleneck
            if stride == 1 and cin == out_c:
                t.add("add", residual=block_in)
    t.add("pointwise", make_divisible(1280 * alpha) if alpha > 1.0 else 1280)
    t.add("mean")
    t.add("fc", classes, relu6=False)
    t.add("softmax")
    return t.layers


FAMILIES = {"mobilenet_v1": mobilenet_v1, "mobilenet_v2": mobilenet_v2}


def totals(layers: list[Layer]) -> tuple[int, int]:
    return sum(ly.macs for ly in layers), sum(ly.params for ly in layers)


# Five stride-2 layers (total stride 32): below 32x32 the later stages would run on 1x1 maps
# padded from nothing. keras.applications.MobileNet / MobileNetV2 refuse it too: "width and
# height should be no smaller than 32" (their input_shape docstrings).
MIN_RESOLUTION = 32


def min_arena_bytes(layers: list[Layer]) -> int:
    """A lower bound of any layer-by-layer arena, in bytes (int8): the largest input + output
    of one layer, which must be live at the same time."""
    return max(int(np.prod(ly.inp)) + int(np.prod(ly.out)) for ly in layers)


def resolution_problem(family: str, alpha: float, resolution: int, classes: int, most_bytes: int) -> str | None:
    """Why `fit` should refuse this resolution before any work, in one line naming --resolution
    and the range that works, or None. Below MIN_RESOLUTION the strides leave no image; above,
    the smallest arena (min_arena_bytes) must stay within most_bytes (16x the largest RAM of any
    board, the caller's bound: beyond it no schedule fits anywhere and the tensors exceed what a
    32-bit target addresses). The largest resolution that keeps it there is found by bisection."""
    make = FAMILIES[family]
    if resolution < MIN_RESOLUTION:
        return (f"--resolution {resolution}: below {MIN_RESOLUTION} the network's five stride-2 layers leave "
                f"no image (keras.applications refuses it too); give {MIN_RESOLUTION} or more "
                "(96..224 are the published ones)")
    need = min_arena_bytes(make(alpha, resolution, classes))
    if need <= most_bytes:
        return None
    lo, hi = MIN_RESOLUTION, resolution          # lo fits (or is the floor), hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if min_arena_bytes(make(alpha, mid, classes)) <= most_bytes else (lo, mid)
    return (f"--resolution {resolution}: {family} alpha {alpha:g} needs at least {need / 2**20:,.0f} MiB of "
            f"arena at {resolution}x{resolution} (one layer's input and output), more than {most_bytes // 2**20} "
            f"MiB (16x the largest RAM of any board); give at most {lo}")


def to_tflite(layers: list[Layer], seed: int = 0) -> bytes:
    """A real int8 .tflite of the table: random per-channel-quantized weights, output scales
    that keep activations in range. Right for sizes and instruction counts, not for answers."""
    from .tflite_writer import ModelBuilder
    rng = np.random.default_rng(seed)
    mb = ModelBuilder()
    h, w, c = layers[0].inp
    x = mb.tensor([1, h, w, c], "int8", 1 / 255, -128)
    scales, zero_points = {x: 1 / 255}, {x: -128}
    outputs: list[int] = []
    cur = x
    for ly in layers:
        xs = scales[cur]
        oh, ow, oc = ly.out
        act = 3 if ly.relu6 else 0
        if ly.kind in ("conv", "pointwise", "depthwise", "fc"):
            fan_in = ly.k * ly.k * (1 if ly.kind == "depthwise" else ly.inp[2])
            # activations at a fixed scale, weights scaled so a typical accumulator lands there:
            # scales must not drift layer after layer (V2's 50 layers would overflow float32)
            ys = ACT_SCALE
            ws = (rng.uniform(0.5, 2.0, oc) * ys * 20 / (xs * 127 * 127 * np.sqrt(fan_in))).astype(np.float32)
            if ly.kind == "fc":      # converters quantize FULLY_CONNECTED weights per tensor
                ws = np.full(oc, np.median(ws), np.float32)
            y_shape = [1, oc] if ly.kind == "fc" else [1, oh, ow, oc]
            y = mb.tensor(y_shape, "int8", ys, -128 if ly.relu6 else 0)
            # biases worth up to +-20 output steps: the logits differ, as a trained model's do
            # (TFLite's reference softmax aborts when ~1000 inputs tie for the maximum)
            bias = mb.tensor([oc], "int32", xs * ws, 0,
                             np.round(rng.uniform(-20, 20, oc) * ys / (xs * ws.astype(np.float64))).astype(np.int64))
            if ly.kind == "depthwise":
                wt = mb.tensor([1, ly.k, ly.k, oc], "int8", ws, 0,
                               rng.integers(-127, 128, (1, ly.k, ly.k, oc)), axis=3)
                mb.op("DEPTHWISE_CONV_2D", [cur, wt, bias], [y], "DepthwiseConv2DOptions", Padding=0,
                      StrideW=ly.stride, StrideH=ly.stride, DepthMultiplier=1,
                      FusedActivationFunction=act, DilationWFactor=1, DilationHFactor=1)
            elif ly.kind == "fc":
                wt = mb.tensor([oc, ly.inp[2]], "int8", ws[0], 0, rng.integers(-127, 128, (oc, ly.inp[2])))
                flat = mb.tensor([1, ly.inp[2]], "int8", xs, zero_points[cur])
                mb.op("RESHAPE", [cur], [flat], "ReshapeOptions", NewShape=[1, ly.inp[2]])
                mb.op("FULLY_CONNECTED", [flat, wt, bias], [y], "FullyConnectedOptions",
                      FusedActivationFunction=act)
            else:
                wt = mb.tensor([oc, ly.k, ly.k, ly.inp[2]], "int8", ws, 0,
                               rng.integers(-127, 128, (oc, ly.k, ly.k, ly.inp[2])))
                mb.op("CONV_2D", [cur, wt, bias], [y], "Conv2DOptions", Padding=0, StrideW=ly.stride,
                      StrideH=ly.stride, FusedActivationFunction=act, DilationWFactor=1,
                      DilationHFactor=1)
        elif ly.kind == "add":
            other = outputs[ly.residual]
            ys = max(xs, scales[other]) * 2
            y = mb.tensor([1, oh, ow, oc], "int8", ys, 0)
            mb.op("ADD", [cur, other], [y], "AddOptions", FusedActivationFunction=0)
        elif ly.kind == "mean":
            axes = mb.tensor([2], "int32", data=[1, 2])
            ys = xs
            y = mb.tensor([1, 1, 1, oc], "int8", ys, zero_points[cur])
            mb.op("MEAN", [cur, axes], [y], "ReducerOptions", KeepDims=True)
        elif ly.kind == "softmax":
            if len(mb.tensors[cur]["shape"]) != 2:         # Keras reshapes V1's 1x1 conv head
                flat = mb.tensor([1, oc], "int8", xs, zero_points[cur])
                mb.op("RESHAPE", [cur], [flat], "ReshapeOptions", NewShape=[1, oc])
                cur = flat
            ys = 1 / 256
            y = mb.tensor([1, oc], "int8", ys, -128)
            mb.op("SOFTMAX", [cur], [y], "SoftmaxOptions", Beta=1.0)
        else:
            raise ValueError(f"unknown layer kind {ly.kind}")
        scales[y] = ys
        zero_points[y] = int(mb.tensors[y]["zero_point"][0])
        outputs.append(y)
        cur = y
    return mb.build([x], [cur])

