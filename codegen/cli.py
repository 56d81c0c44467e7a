"""`codegen`: turn an int8 .tflite model into C, look inside a model, check generated code."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from . import __version__
from .errors import CodegenError
from .build_files import LAYOUTS
from .cli_main import board_name, input_shape, nonempty_path, positive_float, positive_int
from .targets import DEFAULT_TARGET, KERNEL_SETS, TARGETS, target_name

EPILOG = """\
examples:
  codegen inspect --target cortex-m7 model.tflite   layers, kernels, MACs, weights, arena
  codegen emit --target cortex-m7 model.tflite -o out/
  codegen emit --board stm32f746g-disco model.tflite -o out/   its CPU; patches if the arena exceeds its RAM
  codegen verify model.tflite --inputs 20           host build (the M7's kernels) vs the TFLite reference
  codegen fit --board stm32f746g-disco --latency-ms 200   which MobileNet fits this board

The model must be fully int8-quantized (int8 input, output and activations; int8 weights,
per-channel or per-tensor). `emit` writes out/model.h (the API), out/model.c (weights as
static const arrays, one static arena, the layer calls), out/model.json (a manifest) and
out/mcuf/ (the kernel library), and build files: out/CMakeLists.txt (add_subdirectory, target
mcuforge::model), out/mcuforge.mk (Make); --layout arduino|platformio|zephyr adds theirs.
"""


def _fmt_bytes(n: int) -> str:
    return f"{n:,} B" if n < 10_000 else f"{n / 1024:,.1f} KiB"


def cmd_emit(args) -> int:
    from .app_helpers import AppOptions, read_labels
    from .pipeline import generate
    t0 = time.perf_counter()
    app = AppOptions(labels=read_labels(args.labels) if args.labels else None,
                     input_range=args.input_range, arena_external=args.arena == "external")
    budget = None
    if args.board:                    # the board's CPU, and its RAM as the default --ram-limit
        from .board_budget import for_board
        args.target, budget = for_board(args.board, args.target, args.kernels)
        if args.ram_limit is not None and args.ram_limit > budget.arena:
            raise CodegenError(f"--ram-limit {args.ram_limit:,} B is more than --board leaves for the arena "
                               f"({budget.describe()}): lower it, or drop it to use the board's")
    args.target = args.target or DEFAULT_TARGET
    limit = args.ram_limit if args.ram_limit is not None or budget is None else max(budget.arena, 1)
    try:
        man = generate(args.model, args.output, args.target, args.name, args.kernels, args.layout,
                       ram_limit=limit, input_shapes=args.input_shape, app=app)
    except CodegenError as e:
        from .board_budget import does_not_fit
        from .patch_schedule import RamLimitError
        if budget is None or args.ram_limit is not None or not isinstance(e, RamLimitError):
            raise
        raise does_not_fit(budget, e) from None
    out = Path(args.output)
    if budget is not None:   # `firmware build` takes this board when --board is left out
        import json
        man["board"] = budget.board.name
        (out / f"{args.name}.json").write_text(json.dumps(man, indent=1) + "\n")
    print(f"{Path(args.model).name} -> {out}/ for {args.target} ({man['kernels']} kernels) "
          f"in {time.perf_counter() - t0:.2f} s")
    print(f"  layers        {len(man['layers'])}")
    from .targets import get_target
    t = get_target(args.target)
    if man["kernels"] == "mve" and not t.mve and t.cpu is not None:
        print(f"  note          {args.target} has no Helium: the _mve kernels build as plain C here, "
              "about 10x the instructions of --kernels dsp (same results); use auto or dsp on this core")
    print(f"  MACs          {man['macs']:,}")
    print(f"  weights       {_fmt_bytes(man['weight_bytes'])} (flash, incl. biases and requant constants)")
    print(f"  arena         {_fmt_bytes(man['arena_bytes'])} (RAM, " +
          (f"the application's, given to {args.name}_init())" if man["arena_external"] else "one static array)"))
    if budget is not None:
        print(f"  board         {budget.describe()}" + (f" (--ram-limit {args.ram_limit:,} B given)"
                                                          if args.ram_limit is not None else ""))
    if "patch_schedule" in man:
        ps = man["patch_schedule"]
        # a stage of MAC-free layers (a MAX_POOL_2D alone) has 0 of both: was a ZeroDivisionError
        extra = ps["stage_macs"] / ps["stage_macs_layer_by_layer"] - 1 if ps["stage_macs_layer_by_layer"] else 0
        print(f"  patches       {ps['label']}, "
              f"stage MACs +{extra * 100:.1f}%, "
              f"predicted instructions +{ps['predicted_overhead'] * 100:.1f}%")
    for role, ts in (("input", man["inputs"]), ("output", man["outputs"])):
        for k, t in enumerate(ts):
            label = role if len(ts) == 1 else f"{role} {k}"
            edge = f" ({t['type']} in the model: {args.name}_{'set_input' if role == 'input' else 'get_output'}_" \
                   f"{'f32' if t['type'] == 'float32' else 'u8'}())" if t.get("edge") else ""
            print(f"  {label:<13} {t['shape']} int8, scale {t['scale']:.6g}, zero point {t['zero_point']}{edge}")
    flat = args.layout in ("arduino", "platformio")
    print(f"  files         {'src/' if flat else ''}{args.name}.h {'src/' if flat else ''}{args.name}.c "
          f"{args.name}.json {'src/mcuf_*' if flat else 'mcuf/'} CMakeLists.txt mcuforge.mk"
          + {"arduino": " library.properties", "platformio": " library.json",
             "zephyr": " zephyr/"}.get(args.layout, ""))
    if args.layout == "plain" and not man["arena_external"]:   # what the bench firmware builds
        board = man.get("board") or _qemu_board_for(args.target, man)
        if board:
            print(f"  next          firmware build --board {board} {out}/ && firmware run --board {board} "
                  f"{out}/build-{board}/fw.elf")
    return 0


def _qemu_board_for(target: str, man: dict) -> str | None:
    """The first QEMU board whose CPU is `target` and whose RAM and flash hold the model's arena
    plus the board's stack and its weights (the one to try the emitted code on at once), or None
    (the host target, no such board, a board folder that cannot be read)."""
    try:
        from firmware_tools.boards import list_boards
        return next((b.name for b in list_boards() if b.target == target and b.qemu
                     and b.ram_bytes >= man["arena_bytes"] + int(b.manifest.get("stack_bytes", 0))
                     and b.flash_bytes > man["weight_bytes"]), None)
    except (OSError, ValueError):   # a board folder that cannot be read (BoardError is a ValueError)
        return None


def _board_limit(args):
    """inspect/verify --board NAME, as emit's: the board's CPU as --target and, unless given,
    its RAM less the stack and other data as --ram-limit. Returns the BoardBudget, or None."""
    if not args.board:
        args.target = args.target or DEFAULT_TARGET
        return None
    from .board_budget import for_board
    args.target, budget = for_board(args.board, args.target, args.kernels)
    if args.ram_limit is not None and args.ram_limit > budget.arena:
        raise CodegenError(f"--ram-limit {args.ram_limit:,} B is more than --board leaves for the arena "
                           f"({budget.describe()}): lower it, or drop it to use the board's")
    args.ram_limit = args.ram_limit or max(budget.arena, 1)
    return budget


def cmd_inspect(args) -> int:
    try:
        return _inspect(args)
    except CodegenError as e:
        if args.json:   # a script reading stdout gets the refusal too (stderr and exit 2 as always):
            import json   # the model's problems, and --board / --ram-limit ones (was: stdout empty)
            print(json.dumps({"model": str(args.model), "refused": str(e).splitlines()}, indent=1))
        raise


def _inspect(args) -> int:
    from .inspect import inspect_model
    from .pipeline import resolve_kernels
    given, budget = args.ram_limit, _board_limit(args)
    report = inspect_model(args.model, resolve_kernels(args.target, args.kernels))
    if not args.json:
        print(report.render())
        if budget is not None:
            print(f"board: {budget.describe()}")
    sched = None
    if args.ram_limit is not None and not report.unsupported:
        from .patch_schedule import RamLimitError, choose_schedule, render_schedule
        try:
            sched = choose_schedule(report.graph, report.steps, args.ram_limit)
        except RamLimitError as e:
            if budget is None or given is not None:
                raise
            from .board_budget import does_not_fit
            raise does_not_fit(budget, e) from None
        if not args.json:
            print(render_schedule(report.graph, report.steps, sched, args.ram_limit))
    if args.json:
        import json

        from .patch_schedule import schedule_label
        print(json.dumps({**report.as_dict(), "target": args.target, "ram_limit": args.ram_limit,
                          "schedule": (schedule_label(sched) if sched is not None else
                                       None if args.ram_limit is None else "layer by layer"),
                          "board": None if budget is None else budget.describe()}, indent=1))
    return 0 if not report.unsupported else 1


MAX_VERIFY_INPUTS = 10_000   # each input is a host run and a reference run, every layer compared


def cmd_verify(args) -> int:
    from .verify import verify
    if args.inputs > MAX_VERIFY_INPUTS:   # 100000000 was accepted: days of runs, no sooner answer
        print(f"codegen verify: error: argument --inputs: must be 1..{MAX_VERIFY_INPUTS:,}, got {args.inputs:,}",
              file=sys.stderr)
        return 2
    given, budget = args.ram_limit, _board_limit(args)
    from firmware_tools.host import BuildError

    from .patch_schedule import RamLimitError
    try:
        with tempfile.TemporaryDirectory(prefix="mcuforge-") as tmp:
            out = Path(args.output) if args.output else Path(tmp)
            from .pipeline import resolve_kernels
            result = verify(args.model, out, inputs=args.inputs, seed=args.seed, log=print,
                            kernels=resolve_kernels(args.target, args.kernels), ram_limit=args.ram_limit,
                            input_shapes=args.input_shape)
    except RamLimitError as e:   # the board's budget, not a --ram-limit the user gave: emit's board line
        if budget is None or given is not None:
            raise
        from .board_budget import does_not_fit
        raise does_not_fit(budget, e) from None
    except BuildError as e:        # was a traceback (e.g. gcc without its cc1 under `env -i`)
        raise CodegenError(e.summary()) from None
    return 0 if result.ok else 1


def _floats(s: str) -> list[float]:
    try:
        vals = [float(v) for v in s.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {s!r}") from None
    if not vals or not all(0 < v < float("inf") for v in vals):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers above 0, got {s!r}")
    return vals


def _ints(s: str) -> list[int]:
    try:
        vals = [int(v) for v in s.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers of 1 or more, got {s!r}")
    return vals


def cmd_fit(args) -> int:
    import json

    from firmware_tools.boards import BoardError, get_board

    from .fit import Fitter, plot, render
    if args.layers and not args.json:   # was silently ignored: the table has no per-layer rows
        raise CodegenError("--layers adds per-layer rows to the --json report: add --json "
                           "(the table shows whole networks only)")
    try:
        board = get_board(args.board)
    except BoardError as e:
        raise CodegenError(str(e)) from None
    families = args.family.split(",")
    from .architectures import FAMILIES
    bad = [f for f in families if f not in FAMILIES]
    if bad:
        raise CodegenError(f"unknown family {', '.join(bad)}; known: {', '.join(FAMILIES)} "
                           "(fit has layer tables for these only; other models, MobileNet V3 "
                           "included, compile: measure them with `codegen inspect` and `firmware build`)")
    _check_fit_request(args, families)
    log = (lambda s: print(s, file=sys.stderr, flush=True))
    fitter = Fitter(board, args.kernels if args.kernels != "auto" else None, cpi=args.cpi, log=log,
                    patches=args.patches)
    grid = [(f, a, r) for f in families for a in args.alpha for r in args.resolution]
    cands = []
    t0 = time.perf_counter()
    for n, (f, a, r) in enumerate(grid, 1):
        log(f"[{n}/{len(grid)}] {f} alpha {a:g} resolution {r} ({time.perf_counter() - t0:.0f} s)")
        cands.append(fitter.evaluate(f, a, r, args.classes, args.latency_ms))
    if args.plot:
        plot(cands, board, fitter, args.latency_ms, args.plot)
        log(f"plot written to {args.plot}")
    if args.json:
        print(json.dumps({"board": board.name, "clock_hz": fitter.clock, "flash_bytes": board.flash_bytes,
                          "ram_bytes": board.ram_bytes, "kernels": fitter.kernels, "cpi": fitter.cpi,
                          "latency_ms": args.latency_ms,
                          "candidates": [c.as_dict(layers=args.layers) for c in cands]}, indent=1))
    else:
        print(render(cands, board, fitter, args.latency_ms, args.sort))
    return 0


PLOT_FORMATS = (".png", ".svg", ".svgz", ".pdf", ".ps", ".eps", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".gif")


def _check_fit_request(args, families: list[str]) -> None:
    """What `fit` can refuse before any work: a --plot it could not write at the end, a grid
    point whose weights alone would be far beyond any board's flash (alpha 1e9 or 10^8
    classes: the random weights of its .tflite would exhaust the host's memory), and a
    resolution the network cannot run (architectures.resolution_problem)."""
    from firmware_tools.boards import list_boards

    from .architectures import FAMILIES, totals
    if args.plot:
        plot = Path(args.plot)
        if plot.suffix.lower() not in PLOT_FORMATS:
            raise CodegenError(f"--plot {plot}: give a file name ending in {', '.join(PLOT_FORMATS)} "
                               "(the suffix picks the format)")
        if plot.parent.exists() and not plot.parent.is_dir():
            raise CodegenError(f"--plot {plot}: {plot.parent} is a file, not a folder; give a path in a folder")
        if not plot.parent.is_dir():
            raise CodegenError(f"--plot {plot}: there is no folder {plot.parent}; create it first")
        if plot.is_dir():
            raise CodegenError(f"--plot {plot} is a folder; give a file name in it, e.g. {plot / ('fit' + plot.suffix)}")
    most = 16 * max(b.flash_bytes for b in list_boards())
    for f in families:
        for a in args.alpha:
            if a * 1280 == float("inf"):   # 1e308: int(32 * alpha) of inf was an OverflowError traceback
                raise CodegenError(f"--alpha {a:g}: the widest MobileNet layer's 1280 x alpha channels are "
                                   "beyond any number; MobileNets are published at alpha 0.25..1.4")
            for r in args.resolution:
                layers = FAMILIES[f](a, r, args.classes)
                empty = next((n for n, l in enumerate(layers) if 0 in l.out), None)
                if empty is not None:    # int(32 * alpha) == 0: a tensor of 0 channels
                    raise CodegenError(
                        f"{f} alpha {a:g} at {r}x{r}: layer {empty} ({layers[empty].kind}) would have "
                        f"output {list(layers[empty].out)} (H, W, C), 0 elements; raise --alpha "
                        "(mobilenet_v1 needs alpha >= 1/32 = 0.03125: its first layer has int(32 * alpha) channels)")
                params = totals(layers)[1]
                if params > most:
                    raise CodegenError(
                        f"{f} alpha {a:g} at {r}x{r} with {args.classes:,} classes has {params:,} parameters, "
                        f"more than {most // 2**20} MiB of int8 weights (16x the largest flash of any board); "
                        "lower --alpha or --classes")
    from .architectures import resolution_problem
    ram = 16 * max(b.ram_bytes for b in list_boards())
    for problem in (resolution_problem(f, a, r, args.classes, ram)
                    for r in args.resolution for f in families for a in args.alpha):
        if problem:
            raise CodegenError(problem)


def _input_shape_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-shape", type=input_shape, action="append", metavar="1,96,96,3",
                   help="compile a model whose input has dynamic dimensions (-1) at this size; "
                        "repeat for the second, third ... input")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="codegen", description="mcuforge code generator: int8 MobileNet-family .tflite -> plain C.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"mcuforge codegen {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    e = sub.add_parser("emit", help="generate C for a target",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Generate C sources for MODEL into DIR.",
                       epilog="examples:\n"
                              "  codegen emit --target cortex-m7 model.tflite -o out/\n"
                              "  codegen emit --board stm32f746g-disco model.tflite -o out/   # its CPU and RAM\n"
                              "  codegen emit model.tflite -o out/ --ram-limit 40000          # arena <= 40,000 B\n"
                              "  codegen emit --name person model.tflite -o out/ --labels labels.txt --layout zephyr\n\n"
                              "then (a model emitted without --name): firmware build --board qemu-mps2-an500 out/")
    e.add_argument("model", metavar="MODEL", help="an int8 .tflite file")
    e.add_argument("-o", "--output", required=True, type=nonempty_path, metavar="DIR",
                   help="output folder (created if missing; generated files in it are replaced)")
    e.add_argument("--board", type=board_name, metavar="NAME",
                   help="a board (`firmware boards` lists them): sets --target to its CPU and "
                        "--ram-limit to its RAM less the reserved stack and the firmware's other data")
    e.add_argument("--target", choices=list(TARGETS), type=target_name,
                   help=f"CPU the code is for (default: {DEFAULT_TARGET}, or the --board's); " +
                        "; ".join(f"{t.name}: {t.description}" for t in TARGETS.values()))
    e.add_argument("--kernels", default="auto", choices=KERNEL_SETS,
                   help="auto (default): the Helium (MVE) kernels on cortex-m55, the DSP-optimized "
                        "kernels where the target has the DSP extension (cortex-m4/m7/m33), the portable reference "
                        "kernels elsewhere; mve on a core without Helium (cortex-m4/m7/m33, host) builds the "
                        "Helium kernels as plain C (same results, no vectors)")
    e.add_argument("--name", default="model",
                   help="C prefix and file names, a C identifier (default: model -> model_invoke(), model.h)")
    e.add_argument("--layout", default="plain", choices=LAYOUTS,
                   help="build files besides CMakeLists.txt and mcuforge.mk (always written): arduino "
                        "(library.properties, sources in src/), platformio (library.json, src/), zephyr "
                        "(zephyr/module.yml, CMakeLists.txt, Kconfig); default: plain")
    e.add_argument("--labels", metavar="FILE",
                   help="class names, one per line: generates <name>_label(i) (one per output class)")
    e.add_argument("--arena", default="static", choices=("static", "external"),
                   help="static (default): the arena is an array in <name>.c; external: the "
                        "application passes its own to <name>_init() (e.g. one shared by two models)")
    e.add_argument("--input-range", default="auto", choices=("auto", "0:1", "-1:1", "0:255"),
                   help="the float range pixels 0..255 map onto for <name>_input_from_pixels() "
                        "(default: auto, read off the input's quantization)")
    e.add_argument("--ram-limit", type=positive_int, metavar="BYTES",
                   help="arena budget: if the layer-by-layer arena is larger, run the first stage "
                        "patch by patch (MCUNetV2), the fitting schedule with the fewest predicted "
                        "instructions; error naming the smallest reachable arena if none fits")
    _input_shape_option(e)
    e.set_defaults(fn=cmd_emit)

    i = sub.add_parser("inspect", help="show layers, cost and memory of a model",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Per-layer table of a model: kernel, output shape, MACs, weight and "
                                   "activation bytes, the planned arena, and any unsupported operators.",
                       epilog="examples:\n"
                              "  codegen inspect model.tflite\n"
                              "  codegen inspect --target cortex-m55 model.tflite\n"
                              "  codegen inspect model.tflite --ram-limit 40000   # the patch schedule too\n"
                              "  codegen inspect --board stm32f746g-disco model.tflite   # its CPU; fits its RAM?")
    i.add_argument("model", metavar="MODEL", help="a .tflite file")
    i.add_argument("--board", type=board_name, metavar="NAME", help="as for emit: the board's CPU as --target, its RAM "
                   "(less the stack and other data) as --ram-limit")
    i.add_argument("--target", choices=list(TARGETS), type=target_name,
                   help=f"show the kernels and layout chosen for this target (default: {DEFAULT_TARGET}, or the --board's)")
    i.add_argument("--kernels", default="auto", choices=KERNEL_SETS,
                   help="override the kernel set (default: auto, the target's)")
    i.add_argument("--ram-limit", type=positive_int, metavar="BYTES",
                   help="also show the patch schedule `emit --ram-limit` would choose")
    i.add_argument("--json", action="store_true", help="machine-readable report: per layer op, kernel, output "
                   "shape, MACs, params, flash and activation bytes; totals, arena, unsupported operators; "
                   "a refused model gives {\"model\", \"refused\": [one line per problem]} and exit 2")
    i.set_defaults(fn=cmd_inspect)

    v = sub.add_parser("verify", help="build for this machine and compare with the TFLite reference",
                       description="Emit, compile with gcc -Wall -Wextra -Werror, run random inputs and "
                                   "compare every layer's output with TFLite's reference kernels (with --ram-limit, "
                                   "a patch stage's inner layers are never whole: its output is compared).",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n"
                              "  codegen verify model.tflite\n"
                              "  codegen verify model.tflite --target cortex-m4 --inputs 50 --seed 1\n"
                              "  codegen verify model.tflite --ram-limit 40000 -o out/   # keep the code\n\n"
                              "Exit code 0 when bit-exact, 1 when any byte differs, 2 on bad input.")
    v.add_argument("model", metavar="MODEL", help="an int8 .tflite file")
    v.add_argument("--inputs", type=positive_int, default=20,
                   help=f"random inputs to try, 1..{MAX_VERIFY_INPUTS:,} (default: 20)")
    v.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default: 0)")
    v.add_argument("--board", type=board_name, metavar="NAME", help="as for emit: the board's CPU as --target, its RAM "
                   "(less the stack and other data) as --ram-limit")
    v.add_argument("--target", choices=list(TARGETS), type=target_name,
                   help=f"check the kernels this target uses (default: {DEFAULT_TARGET}, or the --board's): built for this "
                        "machine, the DSP intrinsics emulated, the Helium set as its plain-C build")
    v.add_argument("--kernels", default="auto", choices=KERNEL_SETS,
                   help="override the kernel set (default: auto, the target's)")
    v.add_argument("-o", "--output", type=nonempty_path, metavar="DIR", help="keep the generated code here")
    v.add_argument("--ram-limit", type=positive_int, metavar="BYTES", help="as for emit (patch-based first stage)")
    _input_shape_option(v)
    v.set_defaults(fn=cmd_verify)

    f = sub.add_parser(
        "fit", help="which MobileNet (width x resolution) fits a board and a latency budget",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="For every width multiplier and resolution: MACs, parameters, flash (weights +\n"
                    "per-channel constants as emitted + firmware code), RAM (the real memory\n"
                    "planner's arena + stack) and predicted latency (a cost model fitted to QEMU\n"
                    "instruction counts of the generated kernels), and whether it fits the board.",
        epilog="examples:\n  codegen fit --board stm32f746g-disco\n"
               "  codegen fit --board nucleo-h743zi --family mobilenet_v2 --latency-ms 100 --plot fit.png\n"
               "  codegen fit --board stm32f746g-disco --alpha 0.25 --resolution 96 --json --layers\n\n"
               "Boards: `firmware boards`. Accuracy: published ImageNet top-1 (MobileNet V1 paper "
               "tables 6-7, V2 paper table 4) where the papers give it.")
    f.add_argument("--board", type=board_name, required=True, metavar="NAME", help="a board (`firmware boards` lists them)")
    f.add_argument("--patches", action="store_true",
                   help="where the arena is over the board's RAM, try in-place depthwise and a "
                        "patch-based first stage (as `emit --ram-limit`); fits then says which "
                        "(slower: seconds per candidate)")
    f.add_argument("--family", default="mobilenet_v1,mobilenet_v2",
                   help="comma-separated: mobilenet_v1, mobilenet_v2 (default: both)")
    f.add_argument("--alpha", type=_floats, default=[0.25, 0.35, 0.5, 0.75, 1.0],
                   help="width multipliers (default: 0.25,0.35,0.5,0.75,1.0)")
    f.add_argument("--resolution", type=_ints, default=[96, 128, 160, 192, 224],
                   help="input resolutions (default: 96,128,160,192,224)")
    f.add_argument("--classes", type=positive_int, default=1000, help="classifier outputs (default: 1000)")
    f.add_argument("--latency-ms", type=positive_float(), metavar="MS",
                   help="latency budget per inference, in milliseconds at the board's clock "
                        "(default: none, only flash and RAM decide)")
    f.add_argument("--kernels", default="auto", choices=KERNEL_SETS,
                   help="kernel set (default: the board's CPU's best)")
    f.add_argument("--cpi", type=positive_float(), default=1.0,
                   help="cycles per instruction to convert predicted instructions to time (default: 1; "
                        "calibrate with DWT cycles from `runtime hil profile` on the board)")
    f.add_argument("--sort", default="accuracy", choices=("accuracy", "macs"),
                   help="row order: accuracy (default: published top-1, best first) or macs (most first)")
    f.add_argument("--plot", type=Path, metavar="FILE.png", help="latency vs accuracy and flash vs RAM plot "
                   "(needs matplotlib)")
    f.add_argument("--json", action="store_true", help="machine-readable output")
    f.add_argument("--layers", action="store_true", help="with --json: per-layer MACs, weights, instructions")
    f.set_defaults(fn=cmd_fit)
    return p


def main(argv: list[str] | None = None) -> int:
    import warnings

    from .cli_main import run
    # numpy's RuntimeWarnings (overflow in a cast of a hostile scale, ...) are not messages for
    # the user: every value that matters is checked and refused in one line by validate.py
    warnings.simplefilter("ignore", RuntimeWarning)
    return run(build_parser(), argv, (CodegenError,))


if __name__ == "__main__":
    sys.exit(main())
