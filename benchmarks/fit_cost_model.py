"""Refits `codegen fit`'s cost model to QEMU measurements, every core in one command.

    nice .venv/bin/python benchmarks/fit_cost_model.py --jobs 2 --holdout

re-measures every core (Cortex-M7, M4, M33 with the DSP kernels, Cortex-M55 with the Helium
(MVE) kernels, Cortex-M0 with the portable kernels: codegen/cost_model.py CORES) and rewrites
codegen/cost_model.json (the coefficients), benchmarks/cost_model_data.json (every measured
layer) and benchmarks/results_cost_model.md (predicted vs measured for every model x core).
Run it after any kernel change; then `pytest tests/test_fit.py -k committed` checks every
measurement of a bundled, shared or MobileNet model is predicted within 15%. 263 firmwares
(28 models x 5 cores, 6 sweep models and, with --holdout, 15 held-out ones x 4 cores, 39 small
models on the Cortex-M0; the ones a board cannot hold skipped before building); measured here:
2,662 s at --jobs 2 on the shared 2-core machine under load 5-8 (748 s for the 140 firmwares
before the synthetic ones), printed at the end and kept in the report. QEMU counts do not depend
on the load.

    --cores cortex-m7,cortex-m4   re-measure only those cores, keep the others' measurements
    --models NAME,NAME            re-measure only those models (file stems), keep the others
    --refit-only                  no QEMU: recompute the features, refit, rewrite (seconds)
    --holdout                     also measure the sweep candidates not fitted, report per kernel
    --out DIR                     write the three files into DIR (partial runs there add up)

For each core it builds the bench firmware with per-layer profiling for every bundled and
shared model (tests/fixtures/models, benchmarks/models) plus MobileNet V1/V2 configurations made
by codegen/architectures.py (random weights: the counts do not depend on them; small ones for
the 16 KB Cortex-M0 board), plus synthetic layers that reach the kernels no such model reaches:
on the DSP and Helium cores the sweep models (sweep_<i>: benchmarks/cliff_sweep.py's branch models
of up to SWEEP_PER_KERNEL layers per kernel chosen, picked from its grid with and without ReLU6 and
a few more shapes, sweep_candidates), on the Cortex-M0 tests/opmodels.py's single-op models
(ops_<kind>_<i>) and sweep layers on 8x8 planes (sweep_small_<i>). It skips models that do
not fit the board (flash or RAM), runs each on
the core's QEMU board (-icount shift=0) and fits each kernel's count as a non-negative linear
combination of codegen/cost_model.py's FEATURES. The report gives, per model and core, the
prediction of the full fit and of a fit made without that model (held out).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from codegen.architectures import FAMILIES, to_tflite  # noqa: E402
import cliff_sweep  # noqa: E402  (its ModelBuilder layers: the synthetic sweep models)
import opmodels  # noqa: E402  (tests/opmodels.py: the single-op models of the portable kernels' fit)
from codegen.cost_model import (CORES, DATA_FILE, FEATURES, MODEL_FILE, CostModel, cost_key,  # noqa: E402
                                epilogue_instructions, fit, layer_features)

COMMAND = "nice .venv/bin/python benchmarks/fit_cost_model.py --jobs 2 --holdout"
FILES = sorted((ROOT / "tests/fixtures/models").glob("*.tflite")) + sorted((ROOT / "benchmarks/models").glob("*.tflite"))
CONFIGS = [("mobilenet_v1", 0.25, 224, 1000), ("mobilenet_v1", 0.5, 128, 1000), ("mobilenet_v1", 0.75, 96, 1000),
           ("mobilenet_v1", 0.35, 128, 1000),  # channel counts that are not multiples of 4: generic kernels
           ("mobilenet_v2", 0.35, 160, 1000), ("mobilenet_v2", 0.5, 128, 1000), ("mobilenet_v2", 0.75, 96, 1000)]
# small enough for the Cortex-M0 board (16 KB RAM, 256 KB flash), measured on every core
SMALL_CONFIGS = [("mobilenet_v1", 0.25, 32, 10), ("mobilenet_v1", 0.25, 40, 10), ("mobilenet_v1", 0.35, 32, 10),
                 ("mobilenet_v2", 0.35, 32, 10), ("mobilenet_v2", 0.25, 40, 10),
                 ("mobilenet_v1", 0.25, 24, 10), ("mobilenet_v1", 0.25, 48, 10), ("mobilenet_v1", 0.25, 16, 10)]


def config_name(fam: str, a: float, r: int, classes: int) -> str:
    return f"{fam}_{a}_{r}" + ("" if classes == 1000 else f"_c{classes}")


def write_models(work: Path, holdout: bool = False) -> list[Path]:
    """The bundled and shared models, then CONFIGS and SMALL_CONFIGS, then the sweep models
    (sweep_models; with `holdout`, the held-out ones too) written into `work`."""
    models = list(FILES)
    for fam, a, r, k in CONFIGS + SMALL_CONFIGS:
        p = work / f"{config_name(fam, a, r, k)}.tflite"
        p.write_bytes(to_tflite(FAMILIES[fam](a, r, k)))
        models.append(p)
    fitted, held = sweep_models(work)
    return models + fitted + small_models(work) + (held if holdout else [])


# The synthetic sweep layers: per kernel set of a measured core (not the portable kernels: the
# Cortex-M0 board's 16 KB hold none of these models), up to SWEEP_PER_KERNEL candidate layers
# per kernel chosen (cost_key), spread over their MACs, so that every kernel the generator
# chooses for a CONV_2D / DEPTHWISE_CONV_2D has measurements of several shapes on every core.
SWEEP_PER_KERNEL = 6
SWEEP_KERNEL_SETS = ("dsp", "mve")
SWEEP_SEED = 1000


def sweep_candidates() -> list[dict]:
    """The layers the sweep models are chosen from (cliff_sweep.py's spec dicts, each with a fused
    activation "act"): cliff_sweep.grid() without and with ReLU6 (the kernels' _fast and general
    output stages), and per activation the shapes the grid lacks that select other kernels:
    1x1 depthwise (the LUT kernels), 1x1 CONV_2D on one pixel (the squeeze-excite kernels), 3x3
    and 5x5 depthwise on 4x4 and 8x8 planes (the packed small-plane kernels), grouped 1x1 with 2-3
    input and 4-8 output channels per group (the ShuffleNet-shaped packed kernels)."""
    out = []
    for act in (0, 3):
        out += [dict(s, act=act) for s in cliff_sweep.grid()]
        for c in (1, 3, 8, 13, 32):
            for mult in (1, 2, 4, 8):
                for stride in (1, 2):
                    out.append(cliff_sweep.sized(dict(op="DEPTHWISE_CONV_2D", k=1, stride=stride, in_c=c, mult=mult, act=act)))
        for in_c in (4, 8, 16):
            for oc in (8, 13, 32):
                out.append(cliff_sweep.sized(dict(op="CONV_2D", k=1, stride=1, in_c=in_c, out_c=oc, groups=1, act=act), 1))
        for c in (4, 8, 13, 16, 32):
            for stride in (1, 2):
                for plane in (4, 8):
                    for k in (3, 5):
                        out.append(cliff_sweep.sized(dict(op="DEPTHWISE_CONV_2D", k=k, stride=stride, in_c=c, mult=1,
                                               act=act), plane))
        for groups in (2, 3, 4, 8):
            for per in (2, 3):
                for per_out in (4, 8):
                    out.append(cliff_sweep.sized(dict(op="CONV_2D", k=1, stride=1, in_c=groups * per, out_c=groups * per_out,
                                           groups=groups, act=act)))
    return out


def _write_batches(work: Path, prefix: str, specs: list[dict]) -> list[tuple[Path, list[dict]]]:
    """specs cut into firmwares (cliff_sweep.batches) and written as branch models
    work/<prefix>_<i>.tflite (seeded SWEEP_SEED + i: the same bytes every run)."""
    out = []
    for i, chunk in enumerate(cliff_sweep.batches([dict(s) for s in specs]), 1):
        p = work / f"{prefix}_{i}.tflite"
        p.write_bytes(cliff_sweep.branch_model(np.random.default_rng(SWEEP_SEED + i), chunk))
        out.append((p, chunk))
    return out


@functools.lru_cache(maxsize=4)
def candidate_keys(work: Path) -> dict[str, dict[str, list[dict]]]:
    """kernel set -> cost_key -> the sweep candidates whose layer that kernel set runs on it
    (compiled, not measured: seconds)."""
    from codegen.pipeline import compile_graph
    written = _write_batches(work, "sweep_candidates", sweep_candidates())
    keys: dict[str, dict[str, list[dict]]] = {}
    for kernels in SWEEP_KERNEL_SETS + ("reference",):
        mine = keys.setdefault(kernels, {})
        for path, chunk in written:
            steps = {s.output: s for s in compile_graph(path, kernels).steps}
            for s in chunk:
                mine.setdefault(cost_key(steps[s["tensor"]]), []).append(s)
    return keys


# The portable kernels (the Cortex-M0 board, 16 KB of RAM, holds none of the bundled models
# with these operators): tests/opmodels.py's single-op models, 3 shapes each, named
# ops_<kind>_<i>, measured on the cores of the portable kernel set only.
SMALL_OPS = {
    "fully_connected": (opmodels.fully_connected_model, [
        dict(batches=1, in_depth=64, out_depth=10, per_channel=True),
        dict(batches=1, in_depth=256, out_depth=32, per_channel=False),
        dict(batches=2, in_depth=128, out_depth=16, per_channel=True)]),
    "add": (opmodels.add_model, [dict(shape=s) for s in ((1, 8, 8, 8), (1, 6, 6, 16), (1, 12, 12, 4))]),
    "add_broadcast": (opmodels.add_broadcast_model, [
        dict(shape_a=(4, 9, 64), shape_b=(4, 9, 1), const_b=False),
        dict(shape_a=(1, 8, 8, 16), shape_b=(16,), const_b=True),
        dict(shape_a=(16, 32), shape_b=(16, 1), const_b=False)]),
    "hard_swish": (opmodels.hard_swish_model, [dict(shape=s) for s in ((1, 8, 8, 8), (1, 16, 16, 4), (1, 4, 4, 32))]),
    "mul": (opmodels.mul_model, [dict(shape_a=(1, 8, 8, 8), shape_b=(1, 8, 8, 8)),
                                 dict(shape_a=(1, 6, 6, 16), shape_b=(1, 1, 1, 16)),
                                 dict(shape_a=(1, 12, 12, 4), shape_b=(1, 1, 1, 4), const_b=True)]),
    "squared_difference": (opmodels.squared_difference_model, [
        dict(shape_a=(4, 9, 64), shape_b=(4, 9, 1), const_b=False),
        dict(shape_a=(16, 32), shape_b=(16, 1), const_b=False),
        dict(shape_a=(1, 8, 8, 8), shape_b=(8,), const_b=True)]),
    "batch_matmul": (opmodels.batch_matmul_model, [
        dict(shape_a=(1, 16, 32), shape_b=(1, 16, 32), adj_y=True),
        dict(shape_a=(2, 8, 16), shape_b=(2, 8, 16), adj_y=True),
        dict(shape_a=(1, 32, 16), shape_b=(1, 16, 24), const_b=True)]),
    "softmax": (opmodels.softmax_model, [dict(outer=1, depth=100, input_scale=0.1),
                                         dict(outer=4, depth=64, input_scale=0.05),
                                         dict(outer=1, depth=256, input_scale=0.2)]),
    "split_concat": (opmodels.split_concat_model, [dict(shape=(1, 8, 8, 8), axis=3, sizes=(4, 4)),
                                                   dict(shape=(1, 8, 8, 12), axis=3, sizes=(6, 6)),
                                                   dict(shape=(1, 16, 16, 4), axis=3, sizes=(2, 2))]),
    "max_pool": (opmodels.pool_model, [
        dict(kind="MAX_POOL_2D", k=3, stride=2, padding="SAME", c=8, h=16, w=16),
        dict(kind="MAX_POOL_2D", k=2, stride=2, padding="VALID", c=16, h=8, w=8),
        dict(kind="MAX_POOL_2D", k=3, stride=1, padding="SAME", c=4, h=12, w=12)]),
    "average_pool": (opmodels.pool_model, [
        dict(kind="AVERAGE_POOL_2D", k=3, stride=2, padding="SAME", c=8, h=16, w=16),
        dict(kind="AVERAGE_POOL_2D", k=2, stride=2, padding="VALID", c=16, h=8, w=8),
        dict(kind="AVERAGE_POOL_2D", k=7, stride=1, padding="VALID", c=32, h=7, w=7)]),
    "transpose": (opmodels.transpose_model, [dict(shape=(1, 8, 8, 8), perm=(0, 3, 1, 2)),
                                             dict(shape=(1, 4, 4, 6, 2), perm=(0, 1, 2, 4, 3)),
                                             dict(shape=(1, 16, 16, 4), perm=(0, 2, 1, 3))]),
}
SMALL_KERNEL_SETS = ("reference",)
SMALL_PLANE = 8            # the portable kernels' sweep layers: planes of 8x8 ...
SMALL_OUT_BYTES = 6_000    # ... and at most this many output bytes a firmware (16 KB of RAM)


def small_models(work: Path) -> list[Path]:
    """The portable kernels' fit set beyond the small MobileNets: SMALL_OPS's single-op models
    (ops_<kind>_<i>) and sweep_small_<i>: up to SWEEP_PER_KERNEL sweep candidates per kernel the
    portable set chooses (spread over MACs), on SMALL_PLANE x SMALL_PLANE inputs, SMALL_OUT_BYTES
    of outputs per model."""
    out = []
    for kind, (build, cases) in SMALL_OPS.items():
        for i, kw in enumerate(cases, 1):
            p = work / f"ops_{kind}_{i}.tflite"
            p.write_bytes(build(np.random.default_rng(SWEEP_SEED + i), **kw))
            out.append(p)
    chosen: dict[tuple, dict] = {}
    for kernels in SMALL_KERNEL_SETS:
        for key, specs in sorted(candidate_keys(work)[kernels].items()):
            small = sorted({_spec_id(t): t for t in (cliff_sweep.sized(dict(s), SMALL_PLANE) for s in specs)
                            if cliff_sweep.out_hw(SMALL_PLANE, t["stride"]) ** 2 * cliff_sweep.out_channels(t)
                            <= SMALL_OUT_BYTES // 2}.values(), key=lambda t: (t["macs"], _spec_id(t)))
            for i in sorted(set(np.linspace(0, len(small) - 1, min(SWEEP_PER_KERNEL, len(small))).round().astype(int))):
                chosen.setdefault(_spec_id(small[i]), small[i])
    chunks: list[list[dict]] = [[]]
    size = 0
    for t in sorted(chosen.values(), key=lambda t: (t["in_c"], _spec_id(t))):
        n = cliff_sweep.out_hw(SMALL_PLANE, t["stride"]) ** 2 * cliff_sweep.out_channels(t)
        if chunks[-1] and size + n > SMALL_OUT_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(t)
        size += n
    for i, chunk in enumerate(chunks, 1):
        p = work / f"sweep_small_{i}.tflite"
        p.write_bytes(cliff_sweep.branch_model(np.random.default_rng(SWEEP_SEED + i), chunk))
        out.append(p)
    return out


def _runs_on(core: str, name: str) -> bool:
    """Which cores measure a model: the sweep models on the DSP and Helium cores, the small
    ones (small_models) on the portable kernels' core, the others everywhere."""
    if name.startswith(("ops_", "sweep_small_")):
        return CORES[core][1] in SMALL_KERNEL_SETS
    if name.startswith("sweep"):
        return CORES[core][1] in SWEEP_KERNEL_SETS
    return True


def _spec_id(s: dict) -> tuple:
    return tuple(sorted((k, v) for k, v in s.items() if k not in ("tensor",)))


def sweep_models(work: Path) -> tuple[list[Path], list[Path]]:
    """The fitted sweep models (sweep_<i>: up to SWEEP_PER_KERNEL candidates per kernel chosen,
    per kernel set of SWEEP_KERNEL_SETS, spread evenly over the kernel's MACs) and the held-out
    ones (sweep_holdout_<i>: every other candidate), written into `work`."""
    keys = candidate_keys(work)
    chosen: dict[tuple, dict] = {}
    for kernels in SWEEP_KERNEL_SETS:
        for key, specs in sorted(keys[kernels].items()):
            specs = sorted(specs, key=lambda s: (s["macs"], _spec_id(s)))
            for i in sorted(set(np.linspace(0, len(specs) - 1, min(SWEEP_PER_KERNEL, len(specs))).round().astype(int))):
                chosen.setdefault(_spec_id(specs[i]), specs[i])
    rest = [s for s in sweep_candidates() if _spec_id(s) not in chosen]
    fitted = [p for p, _ in _write_batches(work, "sweep", list(chosen.values()))]
    held = [p for p, _ in _write_batches(work, "sweep_holdout", rest)]
    return fitted, held


def refeature(rows: list[dict], models: list[Path]) -> None:
    """Recomputes every row's features with today's layer_features (no QEMU: the instruction
    counts stay), checking each measured model still compiles to the same kernels."""
    from codegen.pipeline import compile_graph
    paths = {m.stem: m for m in models}
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["core"], r["model"]), []).append(r)
    compiled = {}
    for (core, name), rs in groups.items():
        kernels = CORES[core][1]
        if name not in paths:
            raise SystemExit(f"{core} {name}: the model is gone; re-measure: --cores {core}")
        if (name, kernels) not in compiled:
            compiled[(name, kernels)] = compile_graph(paths[name], kernels)
        c = compiled[(name, kernels)]
        base = (lambda k: k.split("/")[0])    # the C function: a refined key (cost_key) needs no QEMU
        if [base(s.kernel) for s in c.steps] != [base(r["kernel"]) for r in sorted(rs, key=lambda r: r["layer"])]:
            raise SystemExit(f"{core} {name}: the model's kernels changed since it was measured; "
                             f"re-measure: --cores {core}")
        for r in rs:
            r["kernel"], r["features"] = cost_key(c.steps[r["layer"]]), layer_features(c.graph, c.steps[r["layer"]])
            r.pop("epilogue", None)
            if epilogue_instructions(c.steps[r["layer"]]):
                r["epilogue"] = epilogue_instructions(c.steps[r["layer"]])


def measure(core: str, model: str, work: str) -> tuple[str, str, list[dict] | str]:
    """One model on one core's QEMU board: its per-layer rows, or why it was skipped."""
    from codegen.pipeline import compile_graph, generate
    from firmware_tools.boards import get_board
    from firmware_tools.build import DoesNotFit, build_firmware
    from firmware_tools.qemu import parse_bench, run_qemu

    board_name, kernels = CORES[core]
    board = get_board(board_name)
    model = Path(model)
    gen = Path(work) / f"{core}-{model.stem}"
    try:
        c = compile_graph(model, kernels)
        weights, ram = sum(s.weight_bytes for s in c.steps), c.plan.arena_bytes + int(board.manifest["stack_bytes"])
        if weights > board.flash_bytes or ram > board.ram_bytes:   # skip the build (minutes for a big model)
            return core, model.stem, (f"does not fit {board_name}: weights {weights:,} B (flash {board.flash_bytes:,}),"
                                      f" arena + stack {ram:,} B (RAM {board.ram_bytes:,})")
        generate(model, gen / "gen", board.target, kernels=kernels)
        fw = build_firmware(gen / "gen", board, gen / "fw",
                            defines=["BENCH_PROFILE", "MCUF_LAYER_HOOK=bench_layer_hook"])
    except DoesNotFit as e:
        return core, model.stem, f"does not fit {board_name}: {str(e).splitlines()[0]}"
    except Exception as e:  # noqa: BLE001 - refused by the generator (e.g. an op the kernels lack)
        return core, model.stem, f"not built: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    counts = parse_bench(run_qemu(board, fw.elf, timeout=1800).console)["layers"]
    assert len(counts) == len(c.steps), (model, core, len(counts), len(c.steps))
    return core, model.stem, [{"core": core, "model": model.stem, "layer": i, "kernel": cost_key(s),
                               "features": layer_features(c.graph, s), "instructions": n,
                               **({"epilogue": epilogue_instructions(s)} if epilogue_instructions(s) else {})}
                              for i, (s, n) in enumerate(zip(c.steps, counts))]


def report(rows: list[dict], coeffs: dict, commit: str, skipped: dict, wall: dict,
           holdout: list[dict] | None = None) -> str:
    cores = [c for c in CORES if c in coeffs]
    lines = ["# Cost model: predicted vs measured instructions per inference (QEMU, -icount shift=0)", "",
             f"Fitted at commit {commit} by `{COMMAND}` (re-measures every core, rewrites "
             "codegen/cost_model.json, benchmarks/cost_model_data.json and this file; `--cores` re-measures "
             "some, `--refit-only` refits the committed measurements without QEMU). Per kernel (cost_key): "
             f"instructions = a non-negative linear combination of {', '.join(FEATURES)} "
             "(codegen/cost_model.py). "
             "'held out' = predicted by a fit made without that model. "
             "tests/test_fit.py checks every row's 'error' is within ±15% but the synthetic models' "
             "(sweep_*, ops_*: judged per kernel, below).", ""]
    if wall:
        lines += ["Measurement wall time: " + "; ".join(f"{k} {v}" for k, v in wall.items()), ""]
    lines += ["| core | board | kernels | layers | models | worst error | worst held out |",
              "|---|---|---|---:|---:|---:|---:|"]
    table = []
    for core in cores:
        mine = [r for r in rows if r["core"] == core]
        names = list(dict.fromkeys(r["model"] for r in mine))
        full = CostModel(core, coeffs[core])
        errs, loos = [], []
        for name in names:
            rs = [r for r in mine if r["model"] == name]
            measured = sum(r["instructions"] for r in rs)
            pred = sum(full.layer(r["kernel"], r["features"]) + r.get("epilogue", 0.0) for r in rs)
            loo = CostModel(core, fit([r for r in mine if r["model"] != name]))
            pred_loo = sum(loo.layer(r["kernel"], r["features"]) + r.get("epilogue", 0.0) for r in rs)
            e, el = pred / measured - 1, pred_loo / measured - 1
            errs.append(e)
            loos.append(el)
            table.append(f"| {core} | {name} | {measured:,} | {pred:,.0f} | {100 * e:+.1f}% | "
                         f"{pred_loo:,.0f} | {100 * el:+.1f}% |")
        lines.append(f"| {core} | {CORES[core][0]} | {CORES[core][1]} | {len(mine)} | {len(names)} | "
                     f"{100 * max(errs, key=abs):+.1f}% | {100 * max(loos, key=abs):+.1f}% |")
    lines += ["", "| core | model | measured | predicted | error | predicted, held out | error, held out |",
              "|---|---|---:|---:|---:|---:|---:|"] + table
    lines += kernel_table(rows, coeffs, holdout or [])
    if skipped:
        lines += ["", "Not measured (the board refuses them):", ""]
        lines += [f"- {core} {name}: {why}" for (core, name), why in sorted(skipped.items())]
    return "\n".join(lines) + "\n"


def kernel_table(rows: list[dict], coeffs: dict, holdout: list[dict]) -> list[str]:
    """Per core and kernel: the layers fitted (all, and those of sweep models), and the worst and
    median error of the full fit's prediction of the held-out sweep layers (measured with
    --holdout, never fitted) -- per layer, so a kernel's worst shape shows."""
    lines = ["", "Per kernel: layers fitted (of them sweep layers), and the held-out sweep layers "
             "(`--holdout`: cliff_sweep-built layers never fitted) predicted by the full fit, per layer. "
             "'(fallback)' = no coefficients of this core: predicted at 4 instructions per MAC.", "",
             "| core | kernel | layers fitted | of them sweep | held out | held-out worst | held-out median |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for core in [c for c in CORES if c in coeffs]:
        model = CostModel(core, coeffs[core])
        mine = [r for r in rows if r["core"] == core]
        held = [r for r in holdout if r["core"] == core]
        for kernel in sorted({r["kernel"] for r in mine + held}):
            fitted = [r for r in mine if r["kernel"] == kernel]
            hs = [r for r in held if r["kernel"] == kernel]
            errs = sorted((model.layer(kernel, r["features"]) + r.get("epilogue", 0.0)) / r["instructions"] - 1 for r in hs)
            worst = f"{100 * max(errs, key=abs):+.1f}%" if errs else ""
            median = f"{100 * float(np.median(errs)):+.1f}%" if errs else ""
            tag = "" if kernel in coeffs[core] else " (fallback)"
            lines.append(f"| {core} | {kernel}{tag} | {len(fitted)} | "
                         f"{sum(r['model'].startswith('sweep') for r in fitted)} | {len(hs)} | {worst} | {median} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cores", default=",".join(CORES),
                    help=f"comma-separated cores to re-measure (default all: {','.join(CORES)})")
    ap.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2)),
                    help="firmwares built and run in parallel (default: the CPU count)")
    ap.add_argument("--refit-only", action="store_true",
                    help="no QEMU: refit and rewrite the report from benchmarks/cost_model_data.json")
    ap.add_argument("--models", default="",
                    help="comma-separated model names (file stems) to re-measure, keeping the others' rows")
    ap.add_argument("--holdout", action="store_true",
                    help="also measure the sweep candidates not fitted (sweep_holdout_*, not fitted) on the "
                         "re-measured DSP and Helium cores and report their error per kernel")
    ap.add_argument("--out", default="",
                    help="write cost_model.json, cost_model_data.json and results_cost_model.md into this "
                         "directory instead of over the committed files")
    args = ap.parse_args(argv)
    out_dir = Path(args.out) if args.out else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    cores = [c.strip() for c in args.cores.split(",") if c.strip()]
    if args.jobs < 1:
        print("--jobs must be at least 1", file=sys.stderr)
        return 2
    bad = [c for c in cores if c not in CORES]
    if bad:
        print(f"unknown core {', '.join(bad)}: choose from {', '.join(CORES)}", file=sys.stderr)
        return 2
    old_file = out_dir / DATA_FILE.name if out_dir is not None and (out_dir / DATA_FILE.name).exists() else DATA_FILE
    old = json.loads(old_file.read_text()) if old_file.exists() else {"rows": [], "skipped": []}
    if isinstance(old, list):          # the format before per-core data: Cortex-M7 only
        old = {"rows": [dict(r, core="cortex-m7") for r in old], "skipped": []}
    rows = list(old["rows"])
    holdout = list(old.get("holdout", []))
    skipped = {(s["core"], s["model"]): s["why"] for s in old.get("skipped", [])}
    wall = {} if set(cores) == set(CORES) and not args.models else dict(old.get("wall", {}))
    if not args.refit_only:
        t0 = time.perf_counter()
        want = set(args.models.split(",")) if args.models else None
        again = (lambda core, name: core in cores and (want is None or name in want))
        rows = [r for r in rows if not again(r["core"], r["model"])]
        if args.holdout:
            holdout = [r for r in holdout if r["core"] not in cores]
        skipped = {k: v for k, v in skipped.items() if not again(*k)}
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            models = write_models(work, args.holdout)
            if want is not None:
                models = [m for m in models if m.stem in want]
            jobs = [(core, str(m), str(work)) for core in cores for m in models if _runs_on(core, m.stem)]
            print(f"measuring {len(models)} models on {len(cores)} cores ({len(jobs)} firmwares, "
                  f"{args.jobs} at a time) ...", flush=True)
            new: dict[tuple[str, str], list[dict]] = {}
            with ProcessPoolExecutor(max_workers=args.jobs) as pool:
                futs = [pool.submit(measure, *j) for j in jobs]
                for n, f in enumerate(as_completed(futs), 1):
                    core, name, res = f.result()
                    if isinstance(res, str):
                        skipped[(core, name)] = res
                        what = f"skipped ({res})"
                    else:
                        new[(core, name)] = res
                        what = f"{sum(r['instructions'] for r in res):,} instructions, {len(res)} layers"
                    print(f"[{n}/{len(jobs)}] {time.perf_counter() - t0:6.0f} s  {core:13s} {name}: {what}",
                          flush=True)
        order = {(c, m.stem): i for i, (c, m) in enumerate((c, m) for c in cores for m in models)}
        for key in sorted(new, key=order.get):
            (holdout if key[1].startswith("sweep_holdout") else rows).extend(new[key])
        rows.sort(key=lambda r: list(CORES).index(r["core"]))
        holdout.sort(key=lambda r: list(CORES).index(r["core"]))
        wall[f"cores {','.join(cores)}" + (f" models {args.models}" if args.models else "")] = (f"{time.perf_counter() - t0:.0f} s at --jobs {args.jobs}"
                                            f" ({len(jobs)} firmwares)")
    else:
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            models = write_models(Path(tmp), bool(holdout))
            refeature(rows, models)
            refeature(holdout, models)
        print(f"features recomputed in {time.perf_counter() - t0:.0f} s", flush=True)
        wall = dict(old.get("wall", {}))
    by_core: dict[str, list] = {}
    for r in rows:
        by_core.setdefault(r["core"], []).append(r)
    coeffs = {core: fit(by_core[core]) for core in CORES if core in by_core}
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    model_file, data_file, report_file = ((out_dir / MODEL_FILE.name, out_dir / DATA_FILE.name,
                                          out_dir / "results_cost_model.md") if out_dir is not None else
                                         (MODEL_FILE, DATA_FILE, ROOT / "benchmarks/results_cost_model.md"))
    model_file.write_text(json.dumps({
        "features": list(FEATURES), "commit": commit, "command": COMMAND,
        "cores": {core: {"board": CORES[core][0], "kernels": CORES[core][1], "coefficients": coeffs[core]}
                  for core in coeffs}}, indent=1) + "\n")
    data_file.write_text(json.dumps({"commit": commit, "wall": wall, "rows": rows, "holdout": holdout, "skipped": [
        {"core": c, "model": m, "why": w} for (c, m), w in sorted(skipped.items())]}) + "\n")
    text = report(rows, coeffs, commit, skipped, wall, holdout)
    report_file.write_text(text)
    print(text)
    print(f"written {model_file}, {data_file}, {report_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
