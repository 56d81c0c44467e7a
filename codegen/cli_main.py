"""What every mcuforge command line does around its work: parse, dispatch, and turn the
errors a user can fix into one line on stderr and exit code 2, never a traceback."""
from __future__ import annotations

import argparse
import sys


def run(parser: argparse.ArgumentParser, argv: list[str] | None, errors: tuple[type[BaseException], ...]) -> int:
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return 2
    try:
        return args.fn(args)
    except errors as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
