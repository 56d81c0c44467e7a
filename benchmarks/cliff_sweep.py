"""Instructions per MAC of CONV_2D / DEPTHWISE_CONV_2D over a grid of shapes (issue #22, "no cliff").

    nice .venv/bin/python benchmarks/cliff_sweep.py [--board qemu-mps2-an500] [--out benchmarks/results_cliff_sweep.md]

Issue #22 asks that on DSP cores no CONV_2D or DEPTHWISE_CONV_2D layer costs more than 3
instructions per MAC for any stride, kernel size, depth multiplier, group count and channel count.
This sweeps a grid of int8 layers (random weights, per-channel scales, SAME padding, no fused
activation) built with codegen/tflite_writer.py's ModelBuilder:

- CONV_2D: kernel 1/3/5/7 x stride 1/2 x input channels 1/3/8/13/16 x output channels 8/13/32;
- DEPTHWISE_CONV_2D: kernel 3/5/7 x stride 1/2 x channels 1/3/8/13/32 x depth multiplier 1/2/4/8;
- grouped CONV_2D: kernel 1/3 x stride 1/2 x groups 2/3/4/8 x per-group channels 2/3/4/8 (in = out
  channels).

Planes (input height = width) as in a MobileNet at that depth: 48 for 1 and 3 input channels
(a 96x96 model after its stem, or a 48x48 input), 24 for 8/13/16, 12 for 32 and more; a layer whose
MACs would be under 20,000 gets its plane doubled (up to 96) so that call overhead is not what is
measured. Every layer sharing an input shape (channels, plane) is a branch of one model (one input,
one output per layer: one firmware each), so each layer's output is compared byte for byte with
TFLite's reference (codegen/verify.py reference_int8_outputs), and each layer's count is its own
(the bench firmware built with -DBENCH_PROFILE: per-layer instructions net of the profiling hook,
the mean of runs dithered across the counter's tick; firmware_tools/apps/bench.c).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codegen.pipeline import generate  # noqa: E402
from codegen.tflite_writer import ModelBuilder  # noqa: E402
from codegen.verify import deterministic_input, reference_int8_outputs  # noqa: E402
from firmware_tools.boards import get_board  # noqa: E402
from firmware_tools.build import build_firmware  # noqa: E402
from firmware_tools.qemu import parse_bench, run_qemu  # noqa: E402

CLIFF = 3.0
MIN_MACS = 20_000
MAX_OUT_BYTES = 600_000   # the layers' outputs of one firmware (all live at the end: RAM, console)


def base_plane(in_c: int) -> int:
    return 48 if in_c <= 3 else 24 if in_c <= 16 else 12


def out_hw(h: int, stride: int) -> int:
    return (h + stride - 1) // stride   # SAME padding


def layer_macs(s: dict, h: int) -> int:
    o = out_hw(h, s["stride"]) ** 2
    if s["op"] == "DEPTHWISE_CONV_2D":
        return o * s["k"] ** 2 * s["in_c"] * s["mult"]
    return o * s["k"] ** 2 * (s["in_c"] // s["groups"]) * s["out_c"]


def out_channels(s: dict) -> int:
    return s["in_c"] * s["mult"] if s["op"] == "DEPTHWISE_CONV_2D" else s["out_c"]


def grid() -> list[dict]:
    specs = []
    for k in (1, 3, 5, 7):
        for stride in (1, 2):
            for in_c in (1, 3, 8, 13, 16):
                for out_c in (8, 13, 32):
                    specs.append(dict(op="CONV_2D", k=k, stride=stride, in_c=in_c, out_c=out_c, groups=1))
    for k in (3, 5, 7):
        for stride in (1, 2):
            for c in (1, 3, 8, 13, 32):
                for mult in (1, 2, 4, 8):
                    specs.append(dict(op="DEPTHWISE_CONV_2D", k=k, stride=stride, in_c=c, mult=mult))
    for k in (1, 3):
        for stride in (1, 2):
            for groups in (2, 3, 4, 8):
                for per in (2, 3, 4, 8):
                    specs.append(dict(op="CONV_2D", k=k, stride=stride, in_c=groups * per,
                                      out_c=groups * per, groups=groups))
    return [sized(s) for s in specs]


def sized(s: dict, plane: int | None = None) -> dict:
    """The spec with its input plane (height = width) and MACs: `plane`, or the grid's rule --
    the base plane for its input depth, doubled up to 96 while the layer has under MIN_MACS MACs."""
    h = plane or base_plane(s["in_c"])
    if plane is None:
        while layer_macs(s, h) < MIN_MACS and h < 96:
            h *= 2
    return dict(s, plane=h, macs=layer_macs(s, h))


def branch_model(rng, specs: list[dict]) -> bytes:
    """One int8 input [1, plane, plane, in_c] per input shape of specs and one layer per spec
    reading its shape's input, each layer's output a model output (in the order of specs).
    A spec's optional "act" is its fused activation (TFLite's enum: 0 none, the sweep's; 1 ReLU,
    3 ReLU6: the kernels' general output stage, which benchmarks/fit_cost_model.py also fits)."""
    mb = ModelBuilder()
    inputs = {}
    for s in specs:
        if (s["in_c"], s["plane"]) not in inputs:
            xs = float(rng.uniform(0.01, 0.1))
            inputs[s["in_c"], s["plane"]] = (mb.tensor([1, s["plane"], s["plane"], s["in_c"]], "int8", xs,
                                                       int(rng.integers(-128, 128))), xs)
    outs = []
    for s in specs:
        in_c, h = s["in_c"], s["plane"]
        x, xs = inputs[in_c, h]
        k, stride, oc = s["k"], s["stride"], out_channels(s)
        dw = s["op"] == "DEPTHWISE_CONV_2D"
        fic = 1 if dw else in_c // s["groups"]
        wshape, axis = ([1, k, k, oc], 3) if dw else ([oc, k, k, fic], 0)
        wscales = np.exp(rng.uniform(np.log(1e-3), np.log(1e-2), oc)).astype(np.float32)
        wt = mb.tensor(wshape, "int8", wscales, 0, rng.integers(-127, 128, wshape), axis=axis)
        bias = mb.tensor([oc], "int32", xs * wscales, 0, rng.integers(-3000, 3000, oc))
        o = out_hw(h, stride)
        ys = xs * float(np.median(wscales)) * 73 * 73 * np.sqrt(k * k * fic) / 60
        y = mb.tensor([1, o, o, oc], "int8", ys, int(rng.integers(-20, 20)))
        if dw:
            mb.op("DEPTHWISE_CONV_2D", [x, wt, bias], [y], "DepthwiseConv2DOptions", Padding=0,
                  StrideW=stride, StrideH=stride, DepthMultiplier=s["mult"],
                  FusedActivationFunction=s.get("act", 0), DilationWFactor=1, DilationHFactor=1)
        else:
            mb.op("CONV_2D", [x, wt, bias], [y], "Conv2DOptions", Padding=0, StrideW=stride,
                  StrideH=stride, FusedActivationFunction=s.get("act", 0), DilationWFactor=1, DilationHFactor=1)
        s["tensor"] = y
        outs.append(y)
    return mb.build([x for x, _ in inputs.values()], outs)


def batches(specs: list[dict]) -> list[list[dict]]:
    """Specs sorted by input shape (in_c, plane) and cut into firmwares whose layers' outputs
    (all live at the end, all printed) stay under MAX_OUT_BYTES."""
    chunks: list[list[dict]] = [[]]
    size = 0
    for s in sorted(specs, key=lambda s: (s["in_c"], s["plane"])):
        n = out_hw(s["plane"], s["stride"]) ** 2 * out_channels(s)
        if chunks[-1] and size + n > MAX_OUT_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(s)
        size += n
    return chunks


def run_batch(specs: list[dict], board, work: Path, seed: int) -> None:
    name = f"cliff_{seed}"
    model = work / f"{name}.tflite"
    model.write_bytes(branch_model(np.random.default_rng(seed), specs))
    man = generate(model, work / name, board.target, kernels="auto")
    fw = build_firmware(work / name, board, defines=["BENCH_PROFILE", "MCUF_LAYER_HOOK=bench_layer_hook"])
    res = run_qemu(board, fw.elf, timeout=1800)
    bench = parse_bench(res.console)
    refs = reference_int8_outputs(model, [deterministic_input(t["bytes"]) for t in man["inputs"]])
    got = bench["outputs"]
    by_tensor = {l["output"]: (l, n) for l, n in zip(man["layers"], bench["layers"])}
    for i, s in enumerate(specs):
        layer, n = by_tensor[s["tensor"]]
        assert layer["op"] == s["op"] and layer["macs"] == s["macs"], (layer, s)
        s["kernel"], s["instructions"] = layer["kernel"], n
        s["bit_exact"] = i < len(got) and got[i] == refs[i].tolist()


ACTS = {"none": 0, "relu": 1, "relu6": 3}   # --act: TFLite's FusedActivationFunction


def render(specs: list[dict], commit: str, command: str, board: str, seconds: float, act: str = "none") -> str:
    rows = sorted(specs, key=lambda s: -s["instructions"] / s["macs"])
    over = [s for s in rows if s["instructions"] / s["macs"] > CLIFF]
    out = ["# Instructions per MAC over a grid of CONV_2D / DEPTHWISE_CONV_2D shapes (issue #22)", "",
           f"Measured at commit `{commit}` on {board} (QEMU 7.2, `-icount shift=0`), DSP kernels (`--kernels auto`), "
           "arm-none-eabi-gcc 12.2 -O2, bench firmware with -DBENCH_PROFILE: per-layer instructions net of "
           "the profiling hook, mean of runs dithered across the counter's tick (within 5 instructions).",
           f"Command: `{command}` ({seconds / 60:.1f} min here).", "",
           "Grid (random int8 weights, per-channel scales, SAME padding, "
           + ("no fused activation" if act == "none" else
              f"fused {act.upper()} clamping inside int8 (output zero points -20..19: a clamp narrower than int8)")
           + "): CONV_2D kernel "
           "1/3/5/7 x stride 1/2 x input channels 1/3/8/13/16 x output channels 8/13/32; DEPTHWISE_CONV_2D "
           "kernel 3/5/7 x stride 1/2 x channels 1/3/8/13/32 x depth multiplier 1/2/4/8; grouped CONV_2D "
           "kernel 1/3 x stride 1/2 x groups 2/3/4/8 x per-group channels 2/3/4/8 (in = out channels). Planes: "
           f"48x48 for 1/3 input channels, 24x24 for 8-16, 12x12 for 32 and more, doubled (up to 96) "
           f"while a layer has under {MIN_MACS:,} MACs ({sum(s['macs'] < MIN_MACS for s in specs)} still under it at 96x96); "
           "plane is the input's height x width. Every layer's output was compared with TFLite's "
           "reference kernels: "
           f"{sum(s['bit_exact'] for s in specs)} of {len(specs)} bit-exact.", "",
           f"**{len(over)} of {len(specs)} layers above {CLIFF:g} instructions per MAC.** By kernel chosen:", "",
           "| kernel chosen | layers | above 3 | worst instr/MAC | best instr/MAC |", "|---|---:|---:|---:|---:|"]
    for kern in sorted({s["kernel"] for s in rows}, key=lambda k: (-sum(s["kernel"] == k for s in over), k)):
        ks = [s["instructions"] / s["macs"] for s in rows if s["kernel"] == kern]
        out.append(f"| {kern} | {len(ks)} | {sum(r > CLIFF for r in ks)} | {max(ks):.2f} | {min(ks):.2f} |")
    out += ["", "Every layer, worst first:", "",
           "| op | kernel | stride | in_c | out_c / mult / groups | input plane | MACs | kernel chosen | instructions | instr/MAC | bit-exact |",
           "|---|---:|---:|---:|---|---:|---:|---|---:|---:|:-:|"]
    for s in rows:
        if s["op"] == "DEPTHWISE_CONV_2D":
            what = f"mult {s['mult']} ({s['in_c'] * s['mult']} out)"
        elif s["groups"] > 1:
            what = f"{s['out_c']} out, {s['groups']} groups"
        else:
            what = f"{s['out_c']} out"
        out.append(f"| {s['op']} | {s['k']}x{s['k']} | {s['stride']} | {s['in_c']} | {what} | "
                   f"{s['plane']}x{s['plane']} | {s['macs']:,} | {s['kernel']} | {s['instructions']:,} | "
                   f"{s['instructions'] / s['macs']:.2f} | {'yes' if s['bit_exact'] else 'NO'} |")
    return "\n".join(out) + "\n"


def _shown(path: str) -> str:
    """--out as a command line in the table shows it: relative to the repository when inside it."""
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", default="qemu-mps2-an500", help="QEMU board (default: the Cortex-M7)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results_cliff_sweep.md"))
    ap.add_argument("--dry-run", action="store_true", help="list the firmwares and MACs, run nothing")
    ap.add_argument("--act", choices=list(ACTS), default="none",
                    help="every layer's fused activation (default none, the fast output stage; relu6 "
                    "clamps and takes the general stage); write its table elsewhere with --out")
    args = ap.parse_args()
    board = get_board(args.board)
    specs = grid()
    for s in specs:
        s["act"] = ACTS[args.act]
    plan = batches(specs)
    print(f"{len(specs)} layers in {len(plan)} firmwares, {sum(s['macs'] for s in specs):,} MACs", flush=True)
    if args.dry_run:
        for chunk in plan:
            print(f"  {sorted({(s['in_c'], s['plane']) for s in chunk})}: {len(chunk)} layers, "
                  f"{sum(s['macs'] for s in chunk):,} MACs")
        return 0
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mcuforge-cliff-") as tmp:
        for i, chunk in enumerate(plan, 1):
            t0 = time.perf_counter()
            run_batch(chunk, board, Path(tmp), seed=i)
            worst = max(chunk, key=lambda s: s["instructions"] / s["macs"])
            print(f"[{i}/{len(plan)}] {len(chunk)} layers, worst "
                  f"{worst['instructions'] / worst['macs']:.2f} instr/MAC, bit-exact "
                  f"{sum(s['bit_exact'] for s in chunk)}/{len(chunk)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    command = "nice .venv/bin/python benchmarks/cliff_sweep.py" + \
        ("" if args.board == "qemu-mps2-an500" else f" --board {args.board}") + \
        ("" if args.act == "none" else f" --act {args.act} --out {_shown(args.out)}")
    md = render(specs, commit, command, args.board, time.perf_counter() - t_all, args.act)
    Path(args.out).write_text(md)
    print("\n".join(md.splitlines()[:30]))
    return 0 if all(s["bit_exact"] for s in specs) else 1


if __name__ == "__main__":
    sys.exit(main())
