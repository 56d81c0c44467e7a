"""Measures the HIL link's payload throughput (run by hand; the figure goes in README).

    .venv/bin/python benchmarks/hil_throughput.py [--port URL --model M.tflite]

Without --port it builds the validation firmware for qemu-mps2-an500 and runs it under QEMU
with its UART on a loopback TCP socket. Reports WRITE_INPUT and READ_TENSOR payload bytes/s
and the round-trip time of a small request (INFO).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.hil.link import HilLink  # noqa: E402
from runtime.hil.protocol import MsgType  # noqa: E402


def measure(url: str, rounds: int = 5) -> dict:
    with HilLink(url) as link:
        info = link.hello()
        t0 = time.perf_counter()
        for _ in range(20):
            link.request(MsgType.INFO)
        rtt = (time.perf_counter() - t0) / 20
        x = np.random.default_rng(0).integers(-128, 128, info.input.bytes, dtype=np.int8)
        t0 = time.perf_counter()
        for _ in range(rounds):
            link.write_input(x)
        write_bps = rounds * x.size / (time.perf_counter() - t0)
        last = info.layers // 3            # a large early activation
        link.invoke(last_layer=last)
        t0 = time.perf_counter()
        n = sum(link.read_tensor(last).size for _ in range(rounds))
        read_bps = n / (time.perf_counter() - t0)
    return {"board": info.board, "rtt_ms": rtt * 1e3, "write_Bps": write_bps, "read_Bps": read_bps}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", help="a board's pyserial URL running the validation firmware (default: the "
                    "model's on QEMU's Cortex-M7); the figure is printed, not written to results_hil.md")
    ap.add_argument("--model", help="the .tflite to build the QEMU firmware from (default: the bundled "
                    "MobileNet V1; another one is printed, not written)")
    args = ap.parse_args()
    committed = args.port is None and args.model is None   # the README's figure: QEMU, the bundled model
    args.model = args.model or str(ROOT / "tests/fixtures/models/mobilenet_v1_a025_96_rgb.tflite")
    if args.port:
        r = measure(args.port)
    else:
        from codegen.pipeline import generate
        from firmware_tools.boards import get_board
        from firmware_tools.build import build_firmware
        from firmware_tools.qemu import QemuSerial
        board = get_board("qemu-mps2-an500")
        with tempfile.TemporaryDirectory() as tmp:
            generate(args.model, Path(tmp) / "gen", board.target)
            fw = build_firmware(Path(tmp) / "gen", board, Path(tmp) / "fw", app="validate")
            with QemuSerial(board, fw.elf) as q:
                r = measure(q.url)
    line = (f"{r['board']}: INFO round trip {r['rtt_ms']:.1f} ms, WRITE_INPUT {r['write_Bps'] / 1024:.1f} KiB/s, "
            f"READ_TENSOR {r['read_Bps'] / 1024:.1f} KiB/s (payload bytes)")
    if committed:   # a real board's link (--port) overwrote the QEMU figure the README quotes
        (ROOT / "benchmarks" / "results_hil.md").write_text(
            f"HIL link throughput, measured by benchmarks/hil_throughput.py:\n\n{line}\n")
    print(f"{r['board']}: INFO round trip {r['rtt_ms']:.1f} ms, WRITE_INPUT {r['write_Bps'] / 1024:.1f} KiB/s, "
          f"READ_TENSOR {r['read_Bps'] / 1024:.1f} KiB/s (payload bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
