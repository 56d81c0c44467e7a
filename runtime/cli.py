"""`runtime`: the host runtime. `runtime hil ...` validates generated code on a board."""
from __future__ import annotations

import argparse
import json
import sys

EPILOG = """\
examples (the board runs firmware built with `firmware build --app validate`):
  runtime hil info --port /dev/ttyACM0
  runtime hil validate --port /dev/ttyACM0 --model model.tflite --inputs 50
  runtime hil profile --port socket://127.0.0.1:4321 --model model.tflite --json

--port takes anything pyserial's serial_for_url does: /dev/ttyACM0, COM3,
socket://HOST:PORT (QEMU's UART), rfc2217://HOST:PORT.
"""


def cmd_info(args) -> int:
    from .hil.link import HilLink
    with HilLink(args.port, timeout=args.timeout) as link:
        info = link.hello()
    if args.json:
        print(json.dumps(info, default=lambda o: o.__dict__, indent=1))
        return 0
    print(f"board        {info.board}, {info.cpu} at {info.clock_hz / 1e6:g} MHz (time in {info.unit})")
    print(f"protocol     {info.protocol}, max payload {info.max_payload} B")
    print(f"model        sha256 {info.model_sha256}")
    print(f"input        {info.input.bytes} B, shape {list(info.input.shape)}, scale {info.input.scale:.6g}, zero point {info.input.zero_point}")
    print(f"output       {info.output.bytes} B, shape {list(info.output.shape)}, scale {info.output.scale:.6g}, zero point {info.output.zero_point}")
    print(f"arena        {info.arena_bytes:,} B, {info.layers} layers, {info.kernels} kernels")
    return 0


def cmd_validate(args, profile_only: bool = False) -> int:
    from .hil.link import HilLink
    from .hil.validate import validate
    if not args.model:
        print("runtime: error: --model is required (the .tflite the firmware was built from)", file=sys.stderr)
        return 2
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else print
    with HilLink(args.port, timeout=args.timeout) as link:
        rep = validate(link, args.model, inputs=1 if profile_only else args.inputs, seed=args.seed, log=log)
    print(json.dumps(rep.as_dict(), indent=1) if args.json else rep.render())
    return 0 if rep.ok else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="runtime", description="mcuforge host runtime.", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    hil = sub.add_parser("hil", help="hardware-in-the-loop validation over a serial link")
    hs = hil.add_subparsers(dest="hil_command", metavar="ACTION")
    for name, fn, help_ in (("info", cmd_info, "what the device runs"),
                            ("validate", cmd_validate, "N inputs on the device vs the TFLite reference"),
                            ("profile", lambda a: cmd_validate(a, True), "time per layer")):
        c = hs.add_parser(name, help=help_)
        c.add_argument("--port", required=True, help="/dev/ttyACM0, socket://127.0.0.1:PORT, rfc2217://...")
        c.add_argument("--model", help="the .tflite the firmware was generated from")
        c.add_argument("--inputs", type=int, default=50, help="inputs to compare (default: 50)")
        c.add_argument("--seed", type=int, default=0)
        c.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for an answer")
        c.add_argument("--json", action="store_true", help="machine-readable report")
        c.set_defaults(fn=fn)
    return p


def main(argv: list[str] | None = None) -> int:
    from codegen.cli_main import run
    from .hil.link import HilError
    return run(build_parser(), argv, (HilError,))


if __name__ == "__main__":
    sys.exit(main())
