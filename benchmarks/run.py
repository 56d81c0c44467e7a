"""Benchmarks every bundled model on every QEMU board (run by hand; results go in README).

    .venv/bin/python benchmarks/run.py [--boards qemu-mps2-an500,...] [--models a.tflite,...]
                                       [--profile] [--tflm] [--out /tmp/bench/]

For each model and board: emit, build (-O2), run under QEMU with -icount shift=0, and record
instructions per inference (exact on mps2: SysTick x 40), flash (code / weights), RAM (arena /
stack high-water / rest), QEMU wall time, and whether the output equals TFLite's reference.
On qemu-mps3-an547 (Cortex-M55) each model runs twice: with its default kernel set, the Helium
(MVE) one, and with the DSP kernels; a table compares both with TFLite Micro + CMSIS-NN's MVE
build there (ANCHOR_M55). --tflm adds TFLite Micro's planned activation arena for the same model (the `tflite-micro`
PyPI package; install it only for this). --profile adds per-layer instruction counts (net of the
profiling hook's own cost, measured on the device; the totals too).
Writes benchmarks/results.md and benchmarks/results.json (a run over some --boards or --models
prints its table and writes only to --out).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codegen.pipeline import generate  # noqa: E402
from codegen.verify import deterministic_input, reference_int8_outputs  # noqa: E402
from firmware_tools.boards import BoardError, get_board, list_boards  # noqa: E402
from firmware_tools.build import build_firmware  # noqa: E402
from firmware_tools.qemu import parse_bench, run_qemu  # noqa: E402
from firmware_tools.size import DoesNotFit  # noqa: E402

MODELS = sorted((ROOT / "tests" / "fixtures" / "models").glob("*.tflite")) + \
    sorted((ROOT / "benchmarks" / "models").glob("*.tflite")) + \
    sorted((ROOT / "benchmarks" / "small").glob("*.tflite")) + \
    sorted((ROOT / "tests" / "fixtures" / "legacy").glob("*.tflite"))   # legacy uint8 graphs
ANCHOR = {"vww96_q": {"instructions": 24_018_880, "arena": 100_644, "text": 444_916},
          "mbnet128_0.25_q": {"instructions": 44_688_680, "arena": 168_836, "text": 732_180}}
# TFLite Micro + CMSIS-NN built for cortex-m55 (its Helium/MVE paths), QEMU mps3-an547, same
# input; the ShuffleNets with TFLM's reference 5-D TRANSPOSE (stock CMSIS-NN skips it and gives
# wrong outputs). Source: benchmarks/models/README.md ("Anchor on Cortex-M55").
ANCHOR_M55 = {"vww96_q": 6_555_094, "mbnet128_0.25_q": 12_837_750,
              "mobilenet_v1_a025_128_gray": 12_051_594, "mobilenet_v1_a025_96_rgb": 6_869_250,
              "mobilenet_v2_a035_96_rgb": 13_542_938, "mobilenet_v3_large_a025_96_rgb": 25_756_719,
              "mobilenet_v3_small_a050_96_rgb": 20_391_625, "shufflenet_v1_g3_96_rgb": 8_400_063,
              "shufflenet_v2_x05_96_rgb": 4_923_000, "torch_layout_96_nchw": 2_704_875}
M55_GOAL = 0.60   # issue #22: the MVE set at <= 0.60x the anchor on every model above
# boards that run a second kernel set besides their default (the M55: its DSP kernels too)
EXTRA_KERNELS = {"qemu-mps3-an547": ["dsp"]}


def tflm_arena(model: Path) -> int | None:
    """TFLite Micro's planned activation bytes ('Arena allocation head') for the model."""
    code = ("from tflite_micro.python.tflite_micro import runtime\n"
            f"it = runtime.Interpreter.from_file({str(model)!r}, arena_size=8 << 20)\n"
            "it.print_allocations()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    m = re.search(r"Arena allocation head (\d+) bytes", r.stdout + r.stderr)
    return int(m.group(1)) if m else None


def bench_one(model: Path, board_name: str, work: Path, profile: bool, kernels: str = "auto") -> dict:
    board = get_board(board_name)
    gen = work / f"{model.stem}-{board.name}-{kernels}"
    man = generate(model, gen, board.target, kernels=kernels)
    defines = ["BENCH_PROFILE", "MCUF_LAYER_HOOK=bench_layer_hook"] if profile else []
    try:
        fw = build_firmware(gen, board, defines=defines)
    except DoesNotFit as e:   # the micro:bit's 16 KB: small models only
        return {"model": model.stem, "board": board.name, "target": board.target, "does_not_fit": str(e)}
    res = run_qemu(board, fw.elf, timeout=1800)
    bench = parse_bench(res.console)
    ref = reference_int8_outputs(model, [deterministic_input(t["bytes"]) for t in man["inputs"]])[0].tolist()
    # a profiled run's total holds one profiling hook per layer: taken out (bench.c "hook:")
    total = bench["time"] - bench["hook"] * len(bench["layers_raw"])
    row = {"model": model.stem, "board": board.name, "target": board.target, "kernels": man["kernels"],
           "instructions": total, "unit": bench["unit"], "macs": man["macs"],
           "bit_exact": bench["output"] == ref, "output_head": bench["output"][:4],
           "flash_code": fw.size.code + fw.size.other_rodata + fw.size.data_init,
           "flash_weights": fw.size.weights, "ram_arena": fw.size.arena,
           "ram_stack_used": bench["stack"], "ram_other": fw.size.other_ram,
           "elf_text": fw.size.flash, "qemu_seconds": round(res.seconds, 2)}
    if profile:
        row["profile_hook"] = bench["hook"]
        row["layers"] = [{"index": l["index"], "op": l["op"], "kernel": l["kernel"], "macs": l["macs"],
                          "instructions": n} for l, n in zip(man["layers"], bench["layers"])]
    return row


def _per_mac(r: dict) -> str:
    """Instructions per MAC; blank for a model without MACs (ADD, pooling: it divided by zero)."""
    return f"{r['instructions'] / r['macs']:.2f}" if r["macs"] else ""


ANCHORS = json.loads((ROOT / "benchmarks" / "anchors.json").read_text())
CLIFF = 3.0   # instructions per MAC above which a CONV_2D / DEPTHWISE_CONV_2D layer is listed


def _cores_table(rows: list[dict]) -> list[str]:
    """Every model x core: instructions, ratio to TFLite Micro + CMSIS-NN on the same core
    (benchmarks/anchors.json), instructions per MAC, and (with --profile) every CONV_2D /
    DEPTHWISE_CONV_2D layer above CLIFF instructions per MAC."""
    out = ["", "Every model on every core against TFLite Micro + CMSIS-NN on the same core "
           "(benchmarks/anchors.json; ShuffleNet anchors are stock TFLM, which skips their 5-D transpose):", "",
           "| model | board | core | instructions | anchor | ratio | instr/MAC | conv/dw layers > 3 instr/MAC |",
           "|---|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        a = ANCHORS["instructions"].get(r["target"], {}).get(r["model"])
        cliffs = [l for l in r.get("layers", []) if l["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D")
                  and l["macs"] and l["instructions"] / l["macs"] > CLIFF]
        listed = "; ".join(f"#{l['index']} {l['op']} {l['kernel']} {l['instructions'] / l['macs']:.2f}"
                           for l in cliffs) if "layers" in r else "(no --profile)"
        ratio = "" if a is None else f"{r['instructions'] / a:.3f}x"
        out.append(f"| {r['model']} | {r['board']} | {r['target']} | {r['instructions']:,} | "
                   f"{'' if a is None else f'{a:,}'} | {ratio} | "
                   f"{_per_mac(r)} | {listed or 'none'} |")
    return out


def render(rows: list[dict], tflm: dict, commit: str) -> str:
    out = [f"Measured at commit `{commit}` on QEMU 7.2 with `-icount shift=0`, arm-none-eabi-gcc 12.2, -O2.",
           "Input: `input[i] = (int8)(((i*7 + 3) % 256) - 128)`. Instructions are per inference.",
           "With --profile, per-layer counts and totals leave out the profiling hook's own cost (a production "
           "build has none), measured on the device as the mean of 64 calls (firmware_tools/apps/bench.c); "
           "each is the mean over runs started 5 instructions apart in the counter's tick, within 5 instructions of exact.",
           "", "| model | board | kernels | instructions | instr/MAC | flash code | flash weights | arena | stack used | RAM other | TFLM arena | bit-exact | QEMU s |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|---:|"]
    for r in rows:
        t = tflm.get(r["model"])
        out.append(f"| {r['model']} | {r['board']} | {r.get('kernels', '')} | {r['instructions']:,} | {_per_mac(r)} | "
                   f"{r['flash_code']:,} | {r['flash_weights']:,} | {r['ram_arena']:,} | {r['ram_stack_used']:,} | {r['ram_other']:,} | "
                   f"{'' if t is None else f'{t:,}'} | {'yes' if r['bit_exact'] else 'NO'} | {r['qemu_seconds']} |")
    m55 = {(r["model"], r.get("kernels")): r["instructions"] for r in rows if r["board"] == "qemu-mps3-an547"}
    m55_models = [m for m in dict.fromkeys(r["model"] for r in rows) if (m, "mve") in m55]
    if m55_models:
        out += ["", "Cortex-M55 (mps3-an547): the DSP kernels, the Helium (MVE) kernels, and TFLite Micro + "
                "CMSIS-NN's MVE build (benchmarks/models/README.md); goal <= "
                f"{M55_GOAL:.2f}x:", "",
                "| model | DSP | MVE | anchor (MVE) | MVE / anchor | DSP / MVE |", "|---|---:|---:|---:|---:|---:|"]
        for m in m55_models:
            mve, dsp, a = m55[m, "mve"], m55.get((m, "dsp")), ANCHOR_M55.get(m)
            out.append(f"| {m} | {'' if dsp is None else f'{dsp:,}'} | {mve:,} | {'' if a is None else f'{a:,}'} | "
                       f"{'' if a is None else f'{mve / a:.3f}x' + (' (over)' if mve / a > M55_GOAL else '')} | "
                       f"{'' if dsp is None else f'{dsp / mve:.2f}x'} |")
    anchored = [r for r in rows if r["model"] in ANCHOR and r["board"] == "qemu-mps2-an500"]
    if anchored:
        out += ["", "Against the anchor (TFLite Micro + CMSIS-NN, same emulated Cortex-M7; see benchmarks/models/README.md):",
                "", "| model | instructions (ours / anchor) | RAM: arena + stack (ours / TFLM arena) | flash (ours / anchor ELF text) |",
                "|---|---:|---:|---:|"]
        for r in anchored:
            a = ANCHOR[r["model"]]
            ram = r["ram_arena"] + r["ram_stack_used"]
            out.append(f"| {r['model']} | {r['instructions']:,} / {a['instructions']:,} = {r['instructions'] / a['instructions']:.3f}x | "
                       f"{ram:,} / {a['arena']:,} = {ram / a['arena']:.3f}x | {r['elf_text']:,} / {a['text']:,} = {r['elf_text'] / a['text']:.3f}x |")
    out += _cores_table(rows)
    for r in rows:
        if "layers" in r:
            top = sorted(r["layers"], key=lambda l: -l["instructions"])[:8]
            out += ["", f"Slowest layers, {r['model']} on {r['board']} ({r.get('kernels', '')} kernels):", "",
                    "| layer | op | kernel | MACs | instructions | instr/MAC |", "|---:|---|---|---:|---:|---:|"]
            for l in top:
                ratio = f"{l['instructions'] / l['macs']:.2f}" if l["macs"] else ""
                out.append(f"| {l['index']} | {l['op']} | {l['kernel']} | {l['macs']:,} | {l['instructions']:,} | {ratio} |")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--boards", help="comma-separated QEMU boards (default: every one)")
    ap.add_argument("--models", help="comma-separated .tflite files (default: the bundled models)")
    ap.add_argument("--profile", action="store_true", help="per-layer instruction counts")
    ap.add_argument("--tflm", action="store_true", help="compare with TFLite Micro's arena")
    ap.add_argument("--out", help="write OUT.md and OUT.json, or DIR/results.md and .json for a folder "
                    "(an existing one, or OUT ending in /; created if missing) (default: benchmarks/results, "
                    "the committed tables, for a full run; a run with --boards or --models only prints its table)")
    args = ap.parse_args()
    # checked before the first run (trial7: an unknown board, a missing model or `--out /tmp/b/`
    # ended a run of minutes in a traceback, the last one after every row was measured)
    for b in args.boards.split(",") if args.boards else []:
        try:
            if not get_board(b).qemu:
                ap.error(f"--boards: {b} is not a QEMU board; `firmware boards` lists them (runs on QEMU)")
        except BoardError as e:
            ap.error(f"--boards: {e}")
    for m in args.models.split(",") if args.models else []:
        if not Path(m).is_file():
            ap.error(f"--models: {m}: no such file; give .tflite files, comma-separated")
    if args.out is not None:
        if args.out.endswith(("/", "\\")) or Path(args.out).is_dir():
            args.out = str(Path(args.out) / "results")
        try:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            ap.error(f"--out {args.out}: cannot create its folder ({e.strerror or e}); give a writable path")
    if args.out is None and args.boards is None and args.models is None:
        args.out = str(ROOT / "benchmarks" / "results")
    # a user's own model or board used to overwrite the committed results with a one-row table
    args.boards = args.boards or ",".join(b.name for b in list_boards() if b.qemu)
    args.models = args.models or ",".join(str(m) for m in MODELS)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    models = [Path(m) for m in args.models.split(",")]
    boards = args.boards.split(",")
    rows, tflm, unfit = [], {}, []
    runs = [(m, b, k) for m in models for b in boards for k in ["auto", *EXTRA_KERNELS.get(b, [])]]
    with tempfile.TemporaryDirectory(prefix="mcuforge-bench-") as tmp:
        total = len(runs)
        for i, (m, b, k) in enumerate(runs, 1):
            t0 = time.perf_counter()
            row = bench_one(m, b, Path(tmp), args.profile, k)
            if "does_not_fit" in row:
                unfit.append(row)
                print(f"[{i}/{total}] {m.stem} on {b}: does not fit ({row['does_not_fit']})", flush=True)
                continue
            rows.append(row)
            print(f"[{i}/{total}] {m.stem} on {b} ({row['kernels']}): {row['instructions']:,} instructions, arena "
                  f"{row['ram_arena']:,} B, bit-exact {row['bit_exact']} ({time.perf_counter() - t0:.1f} s)",
                  flush=True)
    if args.tflm:
        for m in models:
            tflm[m.stem] = tflm_arena(m)
    md = render(rows, tflm, commit)
    if unfit:
        md += "\nDoes not fit (not run):\n\n" + "\n".join(f"- {r['model']} on {r['board']}: {r['does_not_fit']}"
                                                       for r in unfit) + "\n"
    if args.out:
        Path(args.out + ".md").write_text(md)
        Path(args.out + ".json").write_text(json.dumps({"commit": commit, "rows": rows, "does_not_fit": unfit, "tflm_arena": tflm}, indent=1) + "\n")
    print(md)
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
