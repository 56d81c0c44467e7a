"""`make demo`: the main job on one model, end to end, with a readable report.

inspect -> emit C for Cortex-M7 -> build firmware -> run it on QEMU's Cortex-M7 with exact
instruction counting -> compare its output with TFLite's reference -> also check every layer
of the same C built for this machine.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from codegen.cli_main import interrupts_first
from codegen.errors import CodegenError
from codegen.inspect import inspect_model
from codegen.pipeline import generate
from codegen.verify import deterministic_input, reference_int8_outputs, verify

from .boards import get_board
from .build import FirmwareBuildError, build_firmware
from .qemu import QemuError, parse_bench, run_qemu
from .size import DoesNotFit

DEFAULT_MODEL = "tests/fixtures/models/mobilenet_v1_a025_96_rgb.tflite"


def _steps(model: Path, board, out: Path) -> int:
    """The demo's five steps; 0 when the device and the reference agree on every layer."""
    print(f"== 1. codegen inspect --target {board.target} {model}")
    from codegen.pipeline import resolve_kernels
    print(inspect_model(model, resolve_kernels(board.target)).render())

    print(f"\n== 2. codegen emit --target {board.target} -> {out / board.target}/")
    man = generate(model, out / board.target, board.target)
    print(f"model.h model.c model.json mcuf/ CMakeLists.txt mcuforge.mk  ({len(man['layers'])} layers, arena "
          f"{man['arena_bytes']:,} B, weights {man['weight_bytes']:,} B)")

    print(f"\n== 3. firmware build --board {board.name}")
    fw = build_firmware(out / board.target, board)
    print(f"{fw.elf}\n{fw.size.render()}")

    print(f"\n== 4. firmware run --board {board.name} (QEMU, -icount shift=0)")
    res = run_qemu(board, fw.elf, timeout=600, echo=lambda s: print("   |", s, flush=True))
    bench = parse_bench(res.console)
    x = deterministic_input(man["input"]["bytes"])
    want = reference_int8_outputs(model, [x])[0]
    same = bench["output"] == want.tolist()
    diff = int(np.count_nonzero(np.array(bench["output"]) != want))
    print(f"device output == TFLite reference (BUILTIN_REF): {'yes' if same else 'NO'} "
          f"({diff} of {want.size} bytes differ)")
    print(f"{bench['time']:,} {bench['unit']} per inference "
          f"({bench['time'] / man['macs']:.2f} per MAC), stack high-water {bench['stack']:,} B, "
          f"QEMU took {res.seconds:.1f} s")

    kernels = resolve_kernels(board.target)
    print(f"\n== 5. every layer, 20 inputs: the same C ({kernels} kernels) built for this machine "
          "vs the reference")
    check = verify(model, out / "host", inputs=20, log=print, kernels=kernels)
    return 0 if same and check.ok else 1


def main(argv: list[str]) -> int:
    model = Path(argv[0] if argv else DEFAULT_MODEL)
    board = get_board(argv[1] if len(argv) > 1 else "qemu-mps2-an500")
    out = Path("out")
    if hasattr(sys.stdout, "reconfigure"):   # each step's line as it happens, also through a pipe (`make demo | tee`)
        sys.stdout.reconfigure(line_buffering=True)
    try:
        with interrupts_first():
            return _steps(model, board, out)
    except (CodegenError, FirmwareBuildError, DoesNotFit, QemuError) as e:
        print(f"demo: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:            # Ctrl-C: one line, as every mcuforge command
        print("demo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:              # `make demo | head`: stop quietly, as SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as e:                 # out/ not writable, a model path that is a folder ...
        names = " -> ".join(str(n) for n in (e.filename, e.filename2) if n)
        print(f"demo: error: {e.strerror or type(e).__name__}{': ' + names if names else ''}; check the path",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
