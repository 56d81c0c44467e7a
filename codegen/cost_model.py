"""Predicted instructions per layer, from a per-kernel linear model fitted to QEMU measurements.

Each kernel's count (per cost_key) is modelled as a non-negative combination of FEATURES:
    a * MACs + b * output bytes + c * input bytes + d (per call) + e * vector MACs
    + f * channels + g * channel rows + h * input channel rows + i * pixels
the MAC loop, the output stage (requantize, clamp, store), the input walk (im2col, padding
checks), the call's fixed cost, the MAC loop as a vector kernel runs it (idle lanes of a
tail-predicated or 4-channel-blocked step included: `vector_macs`), per-channel setup (the
Helium depthwise kernel gathers one padded plane per channel), per-row and per-pixel loop
overheads. The coefficients (codegen/cost_model.json), one set per core (CORES: Cortex-M7, M4,
M33 with the DSP kernels, Cortex-M55 with the Helium kernels, Cortex-M0 with the portable
ones), are fitted by `benchmarks/fit_cost_model.py` (least squares, coefficients >= 0) to
per-layer instruction counts of the generated kernels on QEMU (-icount shift=0); the data they
were fitted on is benchmarks/cost_model_data.json, the errors benchmarks/results_cost_model.md.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_FILE = Path(__file__).with_name("cost_model.json")
DATA_FILE = Path(__file__).resolve().parents[1] / "benchmarks" / "cost_model_data.json"
FEATURES = ("macs", "output_bytes", "input_bytes", "call", "vector_macs", "channels", "channel_rows",
            "channel_in_rows", "pixels")
# the cores measured: target -> (QEMU board, kernel set); benchmarks/fit_cost_model.py refits them
CORES = {"cortex-m7": ("qemu-mps2-an500", "dsp"), "cortex-m4": ("qemu-mps2-an386", "dsp"),
         "cortex-m33": ("qemu-mps2-an505", "dsp"), "cortex-m55": ("qemu-mps3-an547", "mve"),
         "cortex-m0plus": ("qemu-microbit", "reference")}
DEFAULT_CORE = "cortex-m7"


def cost_key(step) -> str:
    """The kernel called: the optimized kernels' _fast and general copies differ by several
    instructions per output byte (the general output stage handles left shifts and clamps).
    The HWC depthwise kernel's 3x3 path (unrolled, in assembly) is keyed apart from its other
    kernel sizes ("/3x3"): their costs per MAC differ (its undilated 5x5 and 7x7 on the fast
    stage at >= 4 channels, also in assembly, are entry points of their own; its 3x3 stride-2
    entry for 4k + 1 channels, the same path with a one-lane channel tail, is keyed as "/3x3", and
    the im2col kernel's doubled-field entry mcuf_conv_im2col_x2_s8_dsp_fast as mcuf_conv_s8_dsp_fast,
    which it undercuts by 2-11% -- neither has coefficients of its own yet); so are the Helium 3x3
    depthwise kernel's strided path ("/s2") and the Helium GEMM's rows of at most 16 bytes
    ("/k16")."""
    p = step.params
    if step.kernel == "mcuf_depthwise_conv_hwc_3x3_tail1_s8_dsp_fast":
        return "mcuf_depthwise_conv_hwc_s8_dsp_fast/3x3"   # the same 3x3 path, one-lane channel tail
    if step.kernel == "mcuf_conv_im2col_x2_s8_dsp_fast":
        return "mcuf_conv_s8_dsp_fast"   # the same im2col; its channel loop in assembly (2-11% fewer)
    if step.kernel.startswith("mcuf_depthwise_conv_hwc_s8_dsp"):
        if (p["k_h"], p["k_w"], p["dil_h"], p["dil_w"]) == (3, 3, 1, 1):
            return step.kernel + "/3x3"
    if step.kernel.startswith("mcuf_depthwise_conv_3x3_s8_mve") and p["stride_w"] != 1:
        return step.kernel + "/s2"     # gathers (or a de-interleaved plane) instead of two rows at once
    if (step.kernel.startswith(("mcuf_conv_1x1_s8_mve", "mcuf_conv_s8_mve"))
            and p["k_h"] * p["k_w"] * p["filter_in_c"] <= 16):
        return step.kernel + "/k16"    # a row of at most 16 bytes: loaded once per pixel, no depth loop
    return step.kernel


# mcuf_act_clamp_s8_dsp, the epilogue of a _fast kernel on an activation that clamps inside int8
# (codegen/ops/conv_dsp.py _fast_then_clamp): instructions per output byte with one bound and
# with two, and per call. Measured on QEMU's Cortex-M7, M4 and M33 alike (tests/test_act_clamp_qemu.py
# prints them: 64 calls over 4,096 word-aligned bytes, 0.760 and 1.259 per byte, i.e. 0.75 / 1.25
# and about 41 per call). Not fitted by benchmarks/fit_cost_model.py: a measured layer's count
# includes its epilogue, which the fit subtracts (epilogue_instructions) before fitting the kernel.
ACT_CLAMP_COST = (0.75, 1.25, 41.0)


def epilogue_instructions(step) -> float:
    """Predicted instructions of a step's epilogue (0.0 without one): ACT_CLAMP_COST over its
    output's bytes (out_h * out_w * out_c of its params)."""
    if not getattr(step, "epilogue", ""):
        return 0.0
    p = step.params
    two = p["act_min"] > -128 and p["act_max"] < 127
    per_byte, per_byte2, call = ACT_CLAMP_COST
    return (per_byte2 if two else per_byte) * p["out_h"] * p["out_w"] * p["out_c"] + call


def _up(n: int, m: int) -> int:
    return -(-n // m) * m


def vector_macs(step) -> float:
    """MACs as the Helium kernels' loops execute them, idle lanes included: the GEMM
    (mcuf_conv_*_s8_mve) takes four output channels by 16 bytes of depth per step, so
    pixels x groups x up4(out_c / groups) x up16(k_h*k_w*filter_in_c); the 3x3 depthwise
    kernel four outputs of one row per step, so 9 x out_c x out_h x up4(out_w), its
    channel-vectorized twin (_hwc_) eight channels per step, 9 x out_h x out_w x up8(out_c)
    (its coefficients, hand-fitted on seven layers, are not in cost_model_data.json yet). Other kernels:
    their MACs."""
    p, k = step.params, step.kernel
    if k.startswith(("mcuf_conv_1x1_s8_mve", "mcuf_conv_s8_mve")):
        groups = p["in_c"] // p["filter_in_c"]
        return float(p["out_h"] * p["out_w"] * groups * _up(p["out_c"] // groups, 4)
                     * _up(p["k_h"] * p["k_w"] * p["filter_in_c"], 16))
    if k.startswith("mcuf_depthwise_conv_3x3_s8_mve"):
        return float(9 * p["out_c"] * p["out_h"] * _up(p["out_w"], 4))
    if k.startswith("mcuf_depthwise_conv_3x3_hwc_s8_mve"):   # eight channels per step
        return float(9 * p["out_h"] * p["out_w"] * _up(p["out_c"], 8))
    return float(step.macs)


def layer_features(graph, step) -> list[float]:
    """FEATURES of one step: [MACs, output bytes, input bytes (all inputs), 1, vector MACs,
    output channels (the output tensor's last dimension), output rows x channels and first
    input's rows x channels (4-D NHWC tensors, else 0: per-channel, per-row loop overheads),
    output pixels (rows x columns of a 4-D output, else 0: per-pixel overheads, e.g. im2col)]."""
    out = graph.tensors[step.output]
    ins = sum(graph.tensors[i].nbytes for i in step.inputs)
    first = graph.tensors[step.inputs[0]] if step.inputs else out
    rows = (lambda t: float(t.shape[1] * t.shape[3]) if len(t.shape) == 4 else 0.0)
    return [float(step.macs), float(out.nbytes), float(ins), 1.0, vector_macs(step),
            float(out.shape[-1] if len(out.shape) else 1), rows(out), rows(first),
            float(out.shape[1] * out.shape[2]) if len(out.shape) == 4 else 0.0]


def fit_kernel(x: np.ndarray, y: np.ndarray) -> list[float]:
    """Least squares with non-negative coefficients: drop the most negative term, refit."""
    active = list(range(x.shape[1]))
    while True:
        coef = np.zeros(x.shape[1])
        sol, *_ = np.linalg.lstsq(x[:, active], y, rcond=None)
        coef[active] = sol
        if (sol >= 0).all() or len(active) == 1:
            return [float(max(c, 0.0)) for c in coef]
        active.pop(int(np.argmin(sol)))


def fit(rows: list[dict]) -> dict:
    """rows: {"kernel", "features", "instructions"} per measured layer -> {kernel: coefficients}
    (a row's "epilogue", where present, is the predicted count of its step's epilogue: taken off
    its instructions first, epilogue_instructions).
    Weighted least squares: each layer's row (features and count) is divided by the square root
    of its count, so a layer's squared error counts relative to its size (a variance
    proportional to the count) -- an unweighted fit lets a kernel's largest layers (the sweep
    models' big planes) set its coefficients and misses small models' layers by 30% and more;
    a fully relative one (1 / count) lets the many small layers miss the large ones."""
    by_kernel: dict[str, list] = {}
    rows = [dict(r, instructions=r["instructions"] - r["epilogue"]) if r.get("epilogue") else r for r in rows]
    for r in rows:
        by_kernel.setdefault(r["kernel"], []).append(r)
    coeffs = {}
    for kernel, rs in sorted(by_kernel.items()):
        x = np.array([r["features"] for r in rs])
        y = np.array([r["instructions"] for r in rs], float)
        w = 1 / np.sqrt(np.maximum(y, 1.0))
        coeffs[kernel] = fit_kernel(x * w[:, None], y * w)
    return coeffs


@dataclass
class CostModel:
    target: str
    kernels: dict[str, list[float]]
    fallback_per_mac: float = 4.0         # a kernel never measured: a pessimistic guess

    @classmethod
    def load(cls, path: Path = MODEL_FILE, target: str | None = None, kernels: str | None = None) -> "CostModel":
        """The coefficients fitted on `target`'s QEMU board (default: Cortex-M7). A core not
        measured, or measured with another kernel set than `kernels`, takes the coefficients of
        the first measured core that ran that kernel set (the DSP kernels: Cortex-M7); kernels
        missing there too fall back to any core's coefficients, then to `fallback_per_mac`."""
        cores = json.loads(Path(path).read_text())["cores"]
        target = target or DEFAULT_CORE
        mine = cores.get(target)
        if mine is None or (kernels is not None and mine["kernels"] != kernels):
            same = [c for c in cores.values() if kernels is None or c["kernels"] == kernels]
            mine = same[0] if same else cores[DEFAULT_CORE]
        coeffs = {}
        for c in list(cores.values())[::-1] + [mine]:    # the chosen core's coefficients win
            coeffs.update(c["coefficients"])
        return cls(target, coeffs)

    def layer(self, kernel: str, features: list[float]) -> float:
        """Predicted instructions of one call. `features` as layer_features gives them; the
        first four alone (MACs, output bytes, input bytes, 1: a patch of a layer,
        codegen/patch_schedule.py) count the vector MACs as MACs and no per-channel or per-row
        overheads (FEATURES[5:])."""
        c = self.kernels.get(kernel) or self.kernels.get(kernel.split("/")[0])
        if c is None:
            return self.fallback_per_mac * features[0] + 20 * features[1] + 200
        f = list(features) + [features[0], 0.0, 0.0, 0.0, 0.0][len(features) - 4:] if len(features) < len(c) else features
        return float(np.dot(c[:len(f)], f[:len(c)]))

    def predict(self, graph, steps) -> list[float]:
        return [self.layer(cost_key(s), layer_features(graph, s)) + epilogue_instructions(s) for s in steps]
