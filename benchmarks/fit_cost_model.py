"""Fits `codegen fit`'s cost model to QEMU measurements (run by hand after kernel changes).

    .venv/bin/python benchmarks/fit_cost_model.py

Builds the bench firmware with per-layer profiling for every bundled and shared model plus a
few MobileNet configurations made by codegen/architectures.py (random weights: the counts do
not depend on them), runs each on QEMU's Cortex-M7 (qemu-mps2-an500, -icount shift=0), and fits
per kernel: instructions = a*MACs + b*output bytes + c*input bytes + d. Writes
codegen/cost_model.json (the coefficients), benchmarks/cost_model_data.json (every measured
layer) and benchmarks/results_cost_model.md (predicted vs measured, per model, including
leave-one-model-out figures: each model predicted by a fit that never saw it).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codegen.architectures import FAMILIES, to_tflite  # noqa: E402
from codegen.cost_model import MODEL_FILE, CostModel, cost_key, fit, layer_features  # noqa: E402
from codegen.pipeline import compile_graph, generate  # noqa: E402
from firmware_tools.boards import get_board  # noqa: E402
from firmware_tools.build import build_firmware  # noqa: E402
from firmware_tools.qemu import parse_bench, run_qemu  # noqa: E402

BOARD = "qemu-mps2-an500"
FILES = sorted((ROOT / "tests/fixtures/models").glob("*.tflite")) + sorted((ROOT / "benchmarks/models").glob("*.tflite"))
CONFIGS = [("mobilenet_v1", 0.25, 224), ("mobilenet_v1", 0.5, 128), ("mobilenet_v1", 0.75, 96),
           ("mobilenet_v1", 0.35, 128),     # channel counts that are not multiples of 4: generic kernels
           ("mobilenet_v2", 0.35, 160), ("mobilenet_v2", 0.5, 128), ("mobilenet_v2", 0.75, 96)]


def measure(model: Path, work: Path) -> list[dict]:
    board = get_board(BOARD)
    kernels = "dsp"
    gen = work / model.stem
    generate(model, gen, board.target, kernels=kernels)
    fw = build_firmware(gen, board, defines=["BENCH_PROFILE", "MCUF_LAYER_HOOK=bench_layer_hook"])
    counts = parse_bench(run_qemu(board, fw.elf, timeout=1800).console)["layers"]
    c = compile_graph(model, kernels)
    assert len(counts) == len(c.steps), (model, len(counts), len(c.steps))
    return [{"model": model.stem, "layer": i, "kernel": cost_key(s), "features": layer_features(c.graph, s),
             "instructions": n} for i, (s, n) in enumerate(zip(c.steps, counts))]


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        models = list(FILES)
        for fam, a, r in CONFIGS:
            p = work / f"{fam}_{a}_{r}.tflite"
            p.write_bytes(to_tflite(FAMILIES[fam](a, r, 1000)))
            models.append(p)
        for m in models:
            print(f"measuring {m.stem} on {BOARD} ...", flush=True)
            rows += measure(m, work)
    coeffs = fit(rows)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    MODEL_FILE.write_text(json.dumps({"target": "cortex-m7", "board": BOARD, "commit": commit,
                                      "features": ["macs", "output_bytes", "input_bytes", "call"],
                                      "kernels": coeffs}, indent=1) + "\n")
    (ROOT / "benchmarks/cost_model_data.json").write_text(json.dumps(rows) + "\n")
    names = list(dict.fromkeys(r["model"] for r in rows))
    lines = ["# Cost model: predicted vs measured instructions (QEMU Cortex-M7)", "",
             f"Fitted at commit {commit} by `benchmarks/fit_cost_model.py` on {len(rows)} layers of "
             f"{len(names)} models. 'held out' = predicted by a fit made without that model.", "",
             "| model | measured | predicted | error | predicted, held out | error, held out |",
             "|---|---:|---:|---:|---:|---:|"]
    full = CostModel("cortex-m7", coeffs)
    for name in names:
        mine = [r for r in rows if r["model"] == name]
        measured = sum(r["instructions"] for r in mine)
        pred = sum(full.layer(r["kernel"], r["features"]) for r in mine)
        loo = CostModel("cortex-m7", fit([r for r in rows if r["model"] != name]))
        pred_loo = sum(loo.layer(r["kernel"], r["features"]) for r in mine)
        lines.append(f"| {name} | {measured:,} | {pred:,.0f} | {100 * (pred / measured - 1):+.1f}% | "
                     f"{pred_loo:,.0f} | {100 * (pred_loo / measured - 1):+.1f}% |")
        print(lines[-1])
    (ROOT / "benchmarks/results_cost_model.md").write_text("\n".join(lines) + "\n")
    print(f"written {MODEL_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
