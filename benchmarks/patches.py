"""Patch-based first stage (codegen/patch_schedule.py) on QEMU's Cortex-M7 (mps2-an500): for each
model, layer by layer and the schedule `codegen emit --ram-limit` chooses at a few limits
(fractions of the layer-by-layer arena; where nothing fits, the smallest reachable arena the
error names). Instructions per inference under -icount shift=0, arena + stack high-water,
bit-exact = every model output equals TFLite's reference (BUILTIN_REF) on the bench input
(through the float32/uint8 edges where the model has them).

    .venv/bin/python benchmarks/patches.py [--models a.tflite,...] [--fractions 0.8,0.65]

Writes benchmarks/results_patches.md and .json.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codegen.errors import CodegenError  # noqa: E402
from codegen.pipeline import compile_graph, generate  # noqa: E402
from codegen.verify import deterministic_input  # noqa: E402
from firmware_tools.boards import get_board  # noqa: E402
from firmware_tools.build import build_firmware  # noqa: E402
from firmware_tools.qemu import parse_bench, run_qemu  # noqa: E402
from codegen.oracle import ask  # noqa: E402

MODELS = sorted((ROOT / "benchmarks" / "models").glob("*.tflite")) + \
    sorted((ROOT / "tests" / "fixtures" / "models").glob("*.tflite"))


def _edge_input(info: dict) -> np.ndarray:
    """What bench.c writes through input `info`'s float32/uint8 edge (firmware_tools/apps/bench.c
    run_edges; the same as tests/test_edges.py bench_edge_input)."""
    p = deterministic_input(info["bytes"])
    if info["type"] == "uint8":
        return p.view(np.uint8)
    i = np.arange(info["bytes"])
    frac = ((i % 5) - 2).astype(np.float32) / np.float32(4)
    return (((p.astype(np.int32) - info["zero_point"]).astype(np.float32) + frac)
            * np.float32(info["scale"])).astype(np.float32)


def _bit_exact(model: Path, man: dict, bench: dict) -> bool:
    """Every output the bench printed equals TFLite's reference (BUILTIN_REF, codegen.oracle):
    int8 outputs of the int8 bench input; float32/uint8 outputs (bit for bit) of the pattern fed
    through the float32/uint8 edges."""
    feed = {(i["edge"]["tensor"] if i.get("edge") else i["tensor"]):
            _edge_input(i) if i.get("edge") else deterministic_input(i["bytes"]) for i in man["inputs"]}
    outer = [o["edge"]["tensor"] if o.get("edge") else o["tensor"] for o in man["outputs"]]
    ref = ask(model, [feed], outer).tensors[0]
    for k, o in enumerate(man["outputs"]):
        want = ref[outer[k]].reshape(-1)
        if o["type"] == "float32":
            if k not in bench["outputs_f32"] or not np.array_equal(
                    bench["outputs_f32"][k].view(np.uint32), want.astype(np.float32).view(np.uint32)):
                return False
        elif o["type"] == "uint8":
            if bench["outputs_u8"].get(k) != want.tolist():
                return False
        elif k >= len(bench["outputs"]) or bench["outputs"][k] != want.tolist():
            return False
    return True


def run(model: Path, limit: int | None, work: Path, board) -> dict:
    gen = work / f"{model.stem}-{limit}"
    man = generate(model, gen, board.target, ram_limit=limit)
    fw = build_firmware(gen, board)
    res = run_qemu(board, fw.elf, timeout=1800)
    bench = parse_bench(res.console)
    ps = man.get("patch_schedule")
    return {"model": model.stem, "limit": limit, "instructions": bench["time"],
            "arena": fw.size.arena, "stack": bench["stack"], "bit_exact": _bit_exact(model, man, bench),
            "schedule": "layer by layer" if ps is None else ps.get("label") or
            f"layers 0..{ps['split']}, {ps['grid'][0]}x{ps['grid'][1]}",
            "predicted_overhead": None if ps is None else ps["predicted_overhead"],
            "input_bytes": man["input"]["bytes"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(str(m) for m in MODELS))
    ap.add_argument("--fractions", default="0.9,0.8,0",
                    help="limits as fractions of the layer-by-layer arena; 0: the smallest reachable")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results_patches"))
    ap.add_argument("--render", metavar="LOG", help="only write the table from a previous run's "
                                                    "printed JSON lines")
    ap.add_argument("--limits", help="explicit --ram-limit values (bytes, comma-separated) instead of --fractions")
    ap.add_argument("--arch", help="FAMILY:ALPHA:RES, e.g. mobilenet_v2:1.0:224: the `codegen fit` "
                                   "architecture as a real int8 .tflite with random weights, instead of --models")
    args = ap.parse_args()
    if args.arch:
        from codegen.architectures import to_tflite
        from codegen.architectures import FAMILIES
        fam, alpha, res = args.arch.split(":")
        path = Path(tempfile.gettempdir()) / f"{fam}_{alpha}_{res}.tflite"
        path.write_bytes(to_tflite(FAMILIES[fam](float(alpha), int(res))))
        args.models = str(path)
    board = get_board("qemu-mps2-an500")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    rows = []
    if args.render:
        rows = [json.loads(line) for line in Path(args.render).read_text().splitlines() if line.startswith("{")]
        args.models = ""
    with tempfile.TemporaryDirectory(prefix="mcuforge-patches-") as tmp:
        for m in [Path(p) for p in args.models.split(",") if p]:
            c = compile_graph(m, "dsp")
            lbl = c.plan.arena_bytes
            from codegen.line_buffer import streaming_input_bound
            sb = streaming_input_bound(c.graph, c.steps)
            if sb:
                rows.append({"model": m.stem, "streaming_input_bound": sb[0], "split": sb[1], "rate": sb[2],
                             "input_bytes": c.graph.tensors[c.graph.resolve(c.graph.inputs[0])].nbytes})
                print(json.dumps(rows[-1]), flush=True)
            base = run(m, None, Path(tmp), board)
            rows.append(base)
            print(json.dumps(base), flush=True)
            done = set()
            limits = ([int(x) for x in args.limits.split(",")] if args.limits else
                      [int(lbl * float(f)) or 1 for f in args.fractions.split(",")])
            for limit in limits:
                try:
                    generate(m, Path(tmp) / "probe", board.target, ram_limit=limit)
                except CodegenError as e:
                    got = re.search(r"smallest reachable arena is ([\d,]+) B", str(e))
                    if not got:
                        print(f"{m.stem} at {limit}: {e}", flush=True)
                        continue
                    limit = int(got.group(1).replace(",", ""))
                if limit in done:
                    continue
                done.add(limit)
                r = run(m, limit, Path(tmp), board)
                r["overhead"] = r["instructions"] / base["instructions"] - 1
                rows.append(r)
                print(json.dumps(r), flush=True)
                Path(args.out + ".json").write_text(json.dumps({"commit": commit, "rows": rows}, indent=1) + "\n")
    out = [f"Measured at commit `{commit}`: QEMU 7.2 mps2-an500 (Cortex-M7), -icount shift=0, "
           "arm-none-eabi-gcc -O2, DSP kernels; bench input `input[i] = (int8)(((i*7 + 3) % 256) - 128)`.",
           "Limit: `--ram-limit` (arena bytes); where the fraction of the layer-by-layer arena was "
           "unreachable, the smallest reachable arena the error named.", "",
           "| model | --ram-limit | schedule | arena | stack | arena + stack | instructions | overhead (measured / predicted) | bit-exact |",
           "|---|---:|---|---:|---:|---:|---:|---:|:-:|"]
    notes = []
    for r in rows:
        if "streaming_input_bound" in r:
            notes.append(f"- {r['model']}: the input ({r['input_bytes']:,} B) stays resident in every schedule "
                         f"above; a streaming input (camera rows arriving, only the rows the first layer still "
                         f"reads kept) would need about {r['streaming_input_bound']:,} B "
                         f"(`codegen.line_buffer.streaming_input_bound`: line buffers over layers 0..{r['split']}, "
                         f"{r['rate']} row(s) a step; a bound before planning, not emitted).")
            continue
        ov = "" if r["limit"] is None else f"{r['overhead'] * 100:+.1f}% / {(r['predicted_overhead'] or 0) * 100:+.1f}%"
        out.append(f"| {r['model']} | {'' if r['limit'] is None else format(r['limit'], ',')} | {r['schedule']} | "
                   f"{r['arena']:,} | {r['stack']:,} | {r['arena'] + r['stack']:,} | {r['instructions']:,} | {ov} | "
                   f"{'yes' if r['bit_exact'] else 'NO'} |")
    out += [""] + notes if notes else []
    Path(args.out + ".md").write_text("\n".join(out) + "\n")
    Path(args.out + ".json").write_text(json.dumps({"commit": commit, "rows": rows}, indent=1) + "\n")
    print("\n".join(out))
    return 0 if all(r.get("bit_exact", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
