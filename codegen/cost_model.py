"""Predicted instructions per layer, from a per-kernel linear model fitted to QEMU measurements.

Each kernel's count is modelled as a * MACs + b * output bytes + c * input bytes + d: the MAC
loop, the output stage (requantize, clamp, store), the input walk (im2col, padding checks) and
the call's fixed cost. The coefficients (codegen/cost_model.json) are fitted by
`benchmarks/fit_cost_model.py` to per-layer instruction counts of the generated kernels on QEMU's
Cortex-M7 (-icount shift=0), with the data it was fitted on kept next to it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_FILE = Path(__file__).with_name("cost_model.json")
FEATURES = ("macs", "output_bytes", "input_bytes", "call")


def cost_key(step) -> str:
    """The kernel called: the optimized kernels' _fast and general copies differ by several
    instructions per output byte (the general output stage handles left shifts and clamps).
    The HWC depthwise kernel's 3x3 path (unrolled, in assembly) is keyed apart from its other
    kernel sizes ("/3x3"), and so are its undilated 5x5 and 7x7 on the fast stage at >= 4
    channels, also in assembly ("/kxk"): their costs per MAC differ."""
    p = step.params
    if step.kernel.startswith("mcuf_depthwise_conv_hwc_s8_dsp"):
        if (p["k_h"], p["k_w"], p["dil_h"], p["dil_w"]) == (3, 3, 1, 1):
            return step.kernel + "/3x3"
        if (step.kernel.endswith("_fast") and p["k_h"] == p["k_w"] in (5, 7)
                and (p["dil_h"], p["dil_w"]) == (1, 1) and p["in_c"] >= 4):
            return step.kernel + "/kxk"
    return step.kernel


def layer_features(graph, step) -> list[float]:
    out = graph.tensors[step.output]
    ins = sum(graph.tensors[i].nbytes for i in step.inputs)
    return [float(step.macs), float(out.nbytes), float(ins), 1.0]


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
    """rows: {"kernel", "features", "instructions"} per measured layer -> {kernel: coefficients}."""
    by_kernel: dict[str, list] = {}
    for r in rows:
        by_kernel.setdefault(r["kernel"], []).append(r)
    coeffs = {}
    for kernel, rs in sorted(by_kernel.items()):
        x = np.array([r["features"] for r in rs])
        y = np.array([r["instructions"] for r in rs], float)
        coeffs[kernel] = fit_kernel(x, y)
    return coeffs


@dataclass
class CostModel:
    target: str
    kernels: dict[str, list[float]]
    fallback_per_mac: float = 4.0         # a kernel never measured: a pessimistic guess

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> "CostModel":
        data = json.loads(Path(path).read_text())
        return cls(data["target"], data["kernels"])

    def layer(self, kernel: str, features: list[float]) -> float:
        c = self.kernels.get(kernel) or self.kernels.get(kernel.split("/")[0])
        if c is None:
            return self.fallback_per_mac * features[0] + 20 * features[1] + 200
        return float(np.dot(c, features))

    def predict(self, graph, steps) -> list[float]:
        return [self.layer(cost_key(s), layer_features(graph, s)) for s in steps]
