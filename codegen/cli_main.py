"""What every mcuforge command line does around its work: parse, dispatch, and turn the
errors a user can fix into one line on stderr and exit code 2, never a traceback."""
from __future__ import annotations

import argparse
import os
import sys


def run(parser: argparse.ArgumentParser, argv: list[str] | None, errors: tuple[type[BaseException], ...]) -> int:
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return 2
    try:
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
        print(f"{parser.prog}: error: {what}" + (f": {' -> '.join(names)}" if names else "")
              + "; check the path", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
