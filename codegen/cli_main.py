"""What every mcuforge command line does around its work: parse, dispatch, and turn the
errors a user can fix into one line on stderr and exit code 2, never a traceback."""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import sys
import threading


def positive_int(s: str) -> int:
    """argparse type: an integer >= 1 (a count or a byte budget; 0 would make the command vacuous).
    Thousands separators as the tools print them are read (47,888 is 47888; 47_888 too).

    Raises argparse.ArgumentTypeError (argparse prints it as `argument --X: ...`, exit 2)."""
    try:
        v = int(re.sub(r"(?<=\d)[,_](?=\d{3}(\D|$))", "", s.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {s!r}; give a whole number such as 40000 "
                                         "(no unit: bytes where it is a size)") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {v}")
    return v


def positive_float(unit: str = ""):
    """An argparse type: a finite number > 0 (nan would never expire as a timeout, a hang;
    0 or less is vacuous). `unit` names what the number counts in the message ("seconds").

    Returns the type function; it raises argparse.ArgumentTypeError."""
    what = f"a positive number of {unit}" if unit else "a positive number"

    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            v = 0.0
        if not (math.isfinite(v) and v > 0):
            raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}")
        return v
    parse.__name__ = "positive_float"
    return parse


def nonempty_path(s: str) -> str:
    """argparse type for a path the command writes to: refuses the empty string, which
    pathlib reads as the current folder (`-o ""` from an unset shell variable wrote the
    generated files beside the user's own). Raises argparse.ArgumentTypeError."""
    if not s:
        raise argparse.ArgumentTypeError("empty path (it would mean the current folder): give a folder "
                                         "name, or . for the current folder")
    return s


def input_shape(s: str) -> list[int]:
    """argparse type for --input-shape (codegen emit/verify, runtime classify): '1,96,96,3' ->
    [1, 96, 96, 3] by codegen.input_shape.parse_shape; raises argparse.ArgumentTypeError (its
    one line) unless positive integers."""
    from .input_shape import parse_shape
    try:
        return parse_shape(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def board_name(s: str) -> str:
    """argparse type for --board: refuses an empty or blank name, which read as no --board at all
    (`--board "$BOARD"` with BOARD unset emitted for the default cortex-m7 without a word).
    Raises argparse.ArgumentTypeError."""
    if not s.strip():
        raise argparse.ArgumentTypeError("empty board name: give one `firmware boards` lists, e.g. "
                                         "qemu-mps2-an500, or leave --board out")
    return s


def _command_parser(parser: argparse.ArgumentParser, args) -> argparse.ArgumentParser:
    """The (sub)parser of the command `args` ran (`codegen emit`, `runtime hil info`)."""
    while True:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(args, sub.dest, None) if sub else None
        if name not in (sub.choices if sub else {}):
            return parser
        parser = sub.choices[name]


def _unrecognized(parser: argparse.ArgumentParser, extra: list[str]) -> str:
    """argparse's 'unrecognized arguments' line, with the nearest option of this command for
    each misspelt one (`--ramlimit` -> --ram-limit)."""
    import difflib
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    hints = [f"{x} -> {m[0]}" for x in extra if x.startswith("--")
             for m in [difflib.get_close_matches(x.split("=")[0], options, n=1, cutoff=0.7)] if m]
    return (f"unrecognized arguments: {' '.join(extra)}" + (f" (did you mean: {', '.join(hints)}?)" if hints else "")
            + f"; `{parser.prog} --help` lists its options")


_interrupted = False


def _on_sigint(signum, frame):
    """Python's default SIGINT handler (raise KeyboardInterrupt), noting that it ran."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def watch_interrupts() -> None:
    """Let was_interrupted() tell whether Ctrl-C arrived: an error raised while the interrupt
    unwinds reports as the interrupt it is (exit 130), not as a bad path (CPython's subprocess
    can close a pipe twice when KeyboardInterrupt lands inside Popen: 'Bad file descriptor',
    seen in `make demo` stopped during the firmware build). Main thread, default handler only."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


def was_interrupted() -> bool:
    """Whether Ctrl-C arrived since watch_interrupts()."""
    return _interrupted


@contextlib.contextmanager
def interrupts_first():
    """watch_interrupts(); inside, any exception raised once Ctrl-C has arrived is re-raised
    as KeyboardInterrupt (from it), so the command's `except KeyboardInterrupt` reports it.
    Each entry starts afresh (a command run in-process after an interrupted one)."""
    global _interrupted
    _interrupted = False
    watch_interrupts()
    try:
        yield
    except BaseException as e:
        if _interrupted and not isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise KeyboardInterrupt from e
        raise


def run(parser: argparse.ArgumentParser, argv: list[str] | None, errors: tuple[type[BaseException], ...]) -> int:
    args, extra = parser.parse_known_args(argv)
    if extra:   # the command's own usage line, not the top-level `usage: codegen [-h] COMMAND ...`
        cmd = _command_parser(parser, args)
        cmd.error(_unrecognized(cmd, extra))
    if not getattr(args, "fn", None):   # `runtime hil` alone: hil's help, not runtime's
        _command_parser(parser, args).print_help()
        return 2
    try:
        with interrupts_first():
            return args.fn(args)
    except errors as e:
        for line in str(e).splitlines() or [type(e).__name__]:   # one problem per line
            print(f"{parser.prog}: error: {line}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`... | head -1`): stop quietly, as a process killed by SIGPIPE
        # would; stdout goes to /dev/null so the interpreter's final flush cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as e:
        # a path the user gave that cannot be read or written (an existing file where a
        # folder is expected, a read-only folder, a missing file): one line, no traceback
        what = f"{e.strerror or type(e).__name__}"
        names = [str(n) for n in (e.filename, e.filename2) if n]
        if isinstance(e, (FileExistsError, NotADirectoryError)) and names:
            # mkdir on an existing file ('File exists: out; check the path' named no fix)
            print(f"{parser.prog}: error: {names[0]}: a file is in the way where a folder is written "
                  "(-o names a folder, created if missing); check the path: give another or move the file",
                  file=sys.stderr)
            return 2
        print(f"{parser.prog}: error: {what}" + (f": {' -> '.join(names)}" if names else "")
              + "; check the path", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
