"""`firmware`: build generated code into firmware for a board, size it, run it, flash it."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from codegen.cli_main import board_name, nonempty_path, positive_float

from .boards import BoardError, get_board, list_boards

EPILOG = """\
examples:
  firmware boards
  codegen emit --target cortex-m7 model.tflite -o out/
  firmware build --board qemu-mps2-an500 out/           # -> out/build-qemu-mps2-an500/fw.elf
  firmware run --board qemu-mps2-an500 out/build-qemu-mps2-an500/fw.elf
  firmware size out/build-qemu-mps2-an500/fw.elf
  firmware flash --board nucleo-h743zi out/build-nucleo-h743zi/fw.elf
  firmware serve --board qemu-mps2-an500 out/build-qemu-mps2-an500/fw.elf   # UART on socket://

QEMU boards report time in executed instructions (exact: -icount shift=0); real boards in
DWT cycles. The default app is the bench: it runs the model once on a fixed input and
prints the output bytes, the time and the stack high-water mark.
"""


def cmd_boards(args) -> int:
    rows = [(b.name, b.manifest["cpu"], f"{b.flash_bytes // 1024:,} KB", f"{b.ram_bytes // 1024:,} KB",
             f"{b.clock_hz / 1e6:g} MHz", ("QEMU" if b.qemu else "hardware") + (f", {b.clock_note}" if b.clock_note else "")
             + (f", {b.target_note}" if b.target_note else ""))
            for b in list_boards()]
    if args.json:
        print(json.dumps([b.manifest for b in list_boards()], indent=1))
        return 0
    print(f"{'board':<20} {'cpu':<14} {'flash':>9} {'RAM':>9} {'clock':>9}  runs on")
    for r in rows:
        print(f"{r[0]:<20} {r[1]:<14} {r[2]:>9} {r[3]:>9} {r[4]:>9}  {r[5]}")
    return 0


def cmd_build(args) -> int:
    from .build import build_firmware
    board = get_board(args.board or _emitted_for(Path(args.generated)))
    fw = build_firmware(args.generated, board, args.output, app=args.app, opt=args.opt, lto=args.lto)
    print(f"built {fw.elf} (+ .bin .hex .map) for {board.name}")
    print(fw.size.render())
    return 0


def _emitted_for(gen: Path) -> str:
    """`build` without --board: the board `codegen emit --board` recorded in model.json."""
    from .build import read_json   # a named pipe there must not block open()
    try:
        board = read_json(gen / "model.json").get("board")
    except (OSError, ValueError, AttributeError):
        board = None
    if not board and gen.is_file():   # model.tflite, a mistyped or an empty folder were asked
        raise BoardError(f"{gen} is a file, not the folder `codegen emit` writes: run `codegen emit "   # "which board?"
                         "--board NAME MODEL -o out/` (it records the board) and build out/")
    if not board and not (gen / "model.json").exists():
        from .build import _named_manifests
        if not _named_manifests(gen):
            raise BoardError(f"{gen} {'has no model.json' if gen.is_dir() else 'does not exist'}: run "
                             f"`codegen emit --board NAME MODEL -o {gen}` first (it records the board), "
                             "or give the folder `codegen emit` wrote")
    if not board or not isinstance(board, str):
        raise BoardError(f"which board? pass --board NAME (`firmware boards` lists them); {gen} names none "
                         "(`codegen emit --board NAME` records its board for `firmware build`)"
                         + _boards_for_target(gen))
    return board


def _boards_for_target(gen: Path) -> str:
    """'; for cortex-m33: qemu-mps2-an505 (QEMU), ...' -- the boards whose CPU runs the code in
    `gen` (model.json's "target"), or '' when that cannot be read or no board has it."""
    from .build import read_json
    try:
        target = read_json(gen / "model.json").get("target")
        boards = [b for b in list_boards() if b.target == target]
    except (OSError, ValueError, AttributeError):   # BoardError is a ValueError
        return ""
    if not isinstance(target, str) or not boards:
        return ""
    return f"; for {target}: " + ", ".join(
        b.name + (" (QEMU)" if b.manifest.get("qemu") else "") for b in boards)


def cmd_size(args) -> int:
    from .size import size_report
    from .size import ElfError, missing_elf_message
    elf = Path(args.elf)
    if not elf.is_file():
        raise ElfError(missing_elf_message(elf, args.board))
    with open(elf, "rb") as fh:
        if fh.read(4) != b"\x7fELF":
            raise ElfError(f"{elf}: not an ELF file, the binutils cannot read it; pass the fw.elf "
                           "`firmware build` wrote (GENERATED_DIR/build-BOARD/fw.elf)")
    name = args.board
    meta = elf.with_suffix(".json")
    built_for = _built_for(elf, meta)
    if not name:
        name = built_for
    if not name:
        print("firmware: error: which board? pass --board (no build record next to the ELF)", file=sys.stderr)
        return 2
    if built_for and built_for != name:   # flash refuses such an ELF; size reported it silently
        print(f"firmware: warning: {elf} was built for {built_for}, not {name}: the sizes below are measured "
              f"against {name}'s memories (--board {built_for}, or leave --board out, for its own)", file=sys.stderr)
    report = size_report(elf, get_board(name))
    print(json.dumps(report.as_dict(), indent=1) if args.json else report.render())
    return 0 if report.fits else 1


def _built_for(elf: Path, meta: Path) -> str | None:
    """The board `firmware build` built `elf` for: its `.mcuforge_board` section, else the
    build record (fw.json) beside it; None when neither says (an ELF from elsewhere)."""
    from .flash import FlashError, elf_board
    try:
        board = elf_board(elf)
    except FlashError:             # not a 32-bit ELF: size_report names the problem
        board = None
    if not board and meta.exists():
        try:
            from .build import read_json
            board = read_json(meta).get("board")
        except (ValueError, AttributeError):
            board = None
    return board


def _qemu_board(args):
    """`run`/`serve`: --board, else the board `firmware build` recorded in the ELF (as `size`
    does); a missing ELF or one without a record is one line saying what to pass."""
    if args.board:
        return get_board(args.board)
    from .size import ElfError, missing_elf_message
    elf = Path(args.elf)
    if not elf.is_file():
        raise ElfError(missing_elf_message(elf))
    built_for = _built_for(elf, elf.with_suffix(".json"))
    if not built_for:
        raise BoardError(f"which board? {elf} has no build record (`firmware build` writes one): "
                         "pass --board NAME (`firmware boards`: the ones that run on QEMU)")
    return get_board(built_for)


def cmd_run(args) -> int:
    from .qemu import check_elf_for_qemu, run_qemu
    board = _qemu_board(args)
    check_elf_for_qemu(board, args.elf)
    res = run_qemu(board, args.elf, timeout=args.timeout, echo=lambda s: print(s, flush=True))
    print(f"[{board.name} exited with code {res.returncode} after {res.seconds:.1f} s]", file=sys.stderr)
    return res.returncode


def cmd_flash(args) -> int:
    from .flash import FlashError, elf_board, flash
    if not args.board:
        # unlike run/size/serve, flashing writes a real board: the board is never guessed, but
        # the ELF's build record gives the line to type ('required: --board' gave nothing)
        try:
            recorded = elf_board(Path(args.elf))
        except (FlashError, OSError):
            recorded = None
        hint = ""
        if recorded:
            try:
                qemu = bool(get_board(recorded).qemu)
            except BoardError:
                qemu = False
            hint = (f"; {args.elf} was built for {recorded}, a QEMU machine: `firmware run` it instead" if qemu
                    else f"; {args.elf} was built for {recorded}: --board {recorded}")
        raise BoardError("which board? pass --board NAME (`firmware boards`: the ones that run on hardware); "
                         "flash never guesses the board it writes" + hint)
    tool = flash(get_board(args.board), args.elf, force=args.force)
    print(f"flashed {args.elf} to {args.board} with {tool}")
    return 0


def cmd_serve(args) -> int:
    """QEMU running the firmware with its console UART on a loopback TCP port, until QEMU
    exits or Ctrl-C: the validation firmware's link for `runtime hil ... --port URL`."""
    import signal
    import time

    from .qemu import QemuSerial, check_elf_for_qemu

    def stop(signum, frame):   # SIGTERM/SIGHUP as Ctrl-C: leave the `with`, which kills QEMU
        raise KeyboardInterrupt
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    board = _qemu_board(args)
    check_elf_for_qemu(board, args.elf, serve=True)
    with QemuSerial(board, args.elf, port=args.port) as q:
        print(f"{board.name} is running {args.elf}; its UART is at {q.url}", flush=True)
        print(f"  e.g. runtime hil info --port {q.url}   (Ctrl-C stops QEMU)", flush=True)
        try:
            while q.proc.poll() is None:
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("stopping QEMU", file=sys.stderr)
            return 0
    print(f"[{board.name} exited with code {q.proc.returncode}]", file=sys.stderr)
    return q.proc.returncode


_seconds = positive_float("seconds")   # --timeout: nan or 0 would end a run at its first line


def _tcp_port(s: str) -> int:
    """--port of `firmware serve`: a TCP port number, 0..65535 (0: a free one, as without
    --port). The URL `runtime --port` takes is accepted too when it names this machine's
    loopback (socket://127.0.0.1:4321, 127.0.0.1:4321, localhost:4321): it is the port number
    a user copies from `firmware serve`'s own output. Anything else: ArgumentTypeError naming
    the form wanted."""
    text = s.strip()
    m = re.fullmatch(r"(?:socket://)?(?:127\.0\.0\.1|localhost):(\d{1,5})/?", text, re.IGNORECASE)
    try:
        v = int(m.group(1) if m else text)
    except ValueError:
        v = -1
    if not 0 <= v <= 65535:
        if "://" in text or ":" in text:
            raise argparse.ArgumentTypeError(
                f"expected a TCP port number on 127.0.0.1 (e.g. 4321), got {s!r}; QEMU's UART listens on "
                "this machine's loopback only, and `runtime ... --port socket://127.0.0.1:4321` then opens it")
        raise argparse.ArgumentTypeError(f"expected a TCP port 1..65535, got {s!r}")
    return v


OPT_FLAGS = ("-O0", "-O1", "-O2", "-O3", "-Os", "-Og", "-Oz")


def _opt_flag(s: str) -> str:
    flag = s if s.startswith("-") else f"-{s}"
    if flag not in OPT_FLAGS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(OPT_FLAGS)}, got {s!r}")
    return flag


def _fix_opt_value(argv: list[str]) -> list[str]:
    """argparse takes `--opt -Os` for two options (a value starting with '-' looks like one):
    join such a pair into `--opt=-Os`."""
    out, i = [], 0
    while i < len(argv):
        # any -O...: `--opt -O7` said "expected one argument" instead of naming the valid flags
        if argv[i] == "--opt" and i + 1 < len(argv) and (argv[i + 1] in OPT_FLAGS or argv[i + 1].startswith("-O")):
            out.append(f"--opt={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="firmware", description="mcuforge firmware tools.", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    from codegen import __version__   # one version for the three commands (codegen --version had it alone)
    p.add_argument("--version", action="version", version=f"mcuforge firmware {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    b = sub.add_parser("boards", help="list the boards and their memories", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="The boards: CPU, flash, RAM, clock, QEMU or hardware.\n"
                                   "Built-in ones, and your own: board folders (board.json, board.c, linker.ld) in\n"
                                   "the folders $MCUFORGE_BOARDS names, ':'-separated (README: A board of your own).",
                       epilog="examples:\n  firmware boards\n  firmware boards --json\n"
                              "  MCUFORGE_BOARDS=~/boards firmware boards   # with your own")
    b.add_argument("--json", action="store_true", help="machine-readable list (bytes, Hz)")
    b.set_defaults(fn=cmd_boards)
    bd = sub.add_parser("build", help="cross-compile generated code into firmware for a board", formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Cross-compile the folder `codegen emit` wrote, with an app, into "
                                    "fw.elf/.bin/.hex/.map\nfor a board, and print its flash and RAM use.",
                        epilog="examples:\n"
                               "  firmware build --board qemu-mps2-an500 out/            # -> out/build-qemu-mps2-an500/fw.elf\n"
                               "  firmware build --board qemu-mps2-an500 --app validate out/   # for `firmware serve`\n"
                               "  firmware build --board nucleo-h743zi --opt -Os --lto out/")
    bd.add_argument("--board", type=board_name, help="see `firmware boards` (default: the one `codegen emit --board` recorded)")
    bd.add_argument("generated", metavar="GENERATED_DIR", help="output of `codegen emit`")
    bd.add_argument("-o", "--output", type=nonempty_path, metavar="OUT", help="default: GENERATED_DIR/build-BOARD")
    from .build import list_apps
    bd.add_argument("--app", default="bench", choices=list_apps(),
                    help="bench (default): one inference, prints output, time, stack; validate: the HIL "
                         "protocol on the console UART, for `firmware serve` / `runtime hil`")
    bd.add_argument("--opt", default="-O2", type=_opt_flag, metavar="{-O0,-O1,-O2,-O3,-Os,-Og,-Oz}",
                    help="optimization flag (default: -O2); `--opt -Os` and `--opt=-Os` both work")
    bd.add_argument("--lto", action="store_true", help="link-time optimization")
    bd.set_defaults(fn=cmd_build)
    s = sub.add_parser("size", help="flash and RAM use of a firmware ELF", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Flash and RAM use of a firmware ELF, by section and against the board's memories.",
                       epilog="examples:\n  firmware size out/build-qemu-mps2-an500/fw.elf\n"
                              "  firmware size --board stm32f746g-disco --json out/build-stm32f746g-disco/fw.elf")
    s.add_argument("elf", metavar="ELF", help="e.g. GENERATED_DIR/build-BOARD/fw.elf")
    s.add_argument("--board", type=board_name, help="default: the board it was built for")
    s.add_argument("--json", action="store_true", help="machine-readable report (bytes)")
    s.set_defaults(fn=cmd_size)
    r = sub.add_parser("run", help="run firmware under QEMU, streaming its console", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Run firmware on a QEMU board (-icount shift=0: time in executed "
                                   "instructions),\nstreaming its console; the exit code is the firmware's.",
                       epilog="examples:\n  firmware run --board qemu-mps2-an500 out/build-qemu-mps2-an500/fw.elf\n"
                              "  firmware run --board qemu-mps3-an547 --timeout 60 out/build-qemu-mps3-an547/fw.elf")
    r.add_argument("--board", type=board_name, help="a QEMU board (`firmware boards`: runs on QEMU; default: the one "
                                   "`firmware build` built ELF for)")
    r.add_argument("elf", metavar="ELF", help="e.g. GENERATED_DIR/build-BOARD/fw.elf")
    r.add_argument("--timeout", type=_seconds, default=300, help="seconds (default: 300)")
    r.set_defaults(fn=cmd_run)
    f = sub.add_parser("flash", help="flash a real board (pyocd, openocd or st-flash)", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Write a firmware ELF to a real board's flash: pyocd's Python API if installed "
                                   "(pip install '.[flash]'),\nelse the first of the pyocd, openocd or st-flash "
                                   "commands found. Refuses an ELF built for another board.",
                       epilog="examples:\n  firmware flash --board nucleo-h743zi out/build-nucleo-h743zi/fw.elf")
    f.add_argument("--board", type=board_name, help="a real board (`firmware boards`: runs on hardware); required: "
                                   "flash never guesses the board it writes")
    f.add_argument("elf", metavar="ELF", help="e.g. GENERATED_DIR/build-BOARD/fw.elf")
    f.add_argument("--force", action="store_true",
                   help="skip the check that ELF was built for this board (its build record and load addresses)")
    f.set_defaults(fn=cmd_flash)
    sv = sub.add_parser("serve", help="run firmware under QEMU with its UART on a TCP port (for `runtime hil`)",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Run firmware on a QEMU board with its UART on a loopback TCP port, "
                                    "until Ctrl-C;\nit prints the socket:// URL `runtime hil` opens.",
                        epilog="examples:\n"
                               "  firmware serve --board qemu-mps2-an500 out/build-qemu-mps2-an500/fw.elf\n"
                               "  firmware serve --board qemu-mps2-an500 --port 4321 out/build-qemu-mps2-an500/fw.elf\n"
                               "then, in another terminal: runtime hil info --port socket://127.0.0.1:4321")
    sv.add_argument("--board", type=board_name, help="a QEMU board (`firmware boards`: runs on QEMU; default: the one "
                                    "`firmware build` built ELF for)")
    sv.add_argument("elf", metavar="ELF", help="e.g. the validation firmware (`firmware build --app validate`)")
    sv.add_argument("--port", type=_tcp_port, metavar="N",
                    help="TCP port number on 127.0.0.1 (default: a free one); the socket://127.0.0.1:N URL "
                         "it prints is what `runtime ... --port` takes (socket://127.0.0.1:N is accepted here too)")
    sv.set_defaults(fn=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    from codegen.cli_main import run
    from codegen.errors import CodegenError
    from .build import FirmwareBuildError
    from .flash import FlashError
    from .qemu import QemuError
    from .size import DoesNotFit, ElfError
    argv = _fix_opt_value(list(sys.argv[1:] if argv is None else argv))
    return run(build_parser(), argv, (BoardError, FirmwareBuildError, DoesNotFit, QemuError, FlashError,
                                      CodegenError, ElfError, FileNotFoundError))


if __name__ == "__main__":
    sys.exit(main())
