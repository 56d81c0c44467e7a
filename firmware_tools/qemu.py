"""Runs firmware under qemu-system-arm with exact instruction timing (-icount shift=0)."""
from __future__ import annotations

import queue
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .boards import Board


class QemuError(RuntimeError):
    pass


def qemu_command(board: Board, elf: str | Path, serial: list[str] | None = None) -> list[str]:
    """The qemu-system-arm argument list that runs `elf` on `board`'s machine with -icount shift=0
    (one instruction per virtual ns) and semihosting; serial: extra -serial/-chardev arguments
    (default: the console on stdio). Raises QemuError (one line) for a board QEMU does not model,
    a missing, non-ELF or truncated file, or no qemu-system-arm."""
    if not board.qemu:
        raise QemuError(f"{board.name} is a real board, not a QEMU machine: use `firmware flash` "
                        "and read its console on the ST-LINK serial port")
    path = Path(elf)
    if not path.is_file():
        from .size import missing_elf_message
        raise QemuError(missing_elf_message(elf, board.name))
    with open(path, "rb") as fh:
        if fh.read(4) != b"\x7fELF":
            raise QemuError(f"{elf} is not an ELF file: pass the fw.elf `firmware build` wrote "
                            f"(GENERATED_DIR/build-{board.name}/fw.elf)")
    # a truncated ELF (an interrupted link, a partial copy) ran garbage: a QEMU register dump
    # ('Lockup: can't escalate 3 to HardFault') under run, a hang under serve
    from .flash import FlashError, elf_board, load_segments
    try:
        load_segments(path)
        elf_board(path)
    except FlashError as e:
        raise QemuError(str(e)) from None
    exe = shutil.which("qemu-system-arm")
    if not exe:
        raise QemuError("qemu-system-arm not found: install qemu-system-arm (`make setup` does it)")
    return [exe, "-M", board.qemu["machine"], "-cpu", board.qemu["cpu"], "-display", "none",
            "-monitor", "none", *(serial or ["-serial", "stdio"]),
            "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
            "-kernel", str(elf)]


def check_elf_for_qemu(board: Board, elf: str | Path, serve: bool = False) -> None:
    """Raises QemuError when `elf` carries a build record (`firmware build`'s `.mcuforge_board`
    section, or fw.json beside it) naming another board, or, for `firmware run` (not `serve`),
    when it is the validation firmware, which waits for the HIL link and would print nothing
    until --timeout, or for `serve` when it is the bench firmware, which exits at once. An ELF without a record (an application's own build) is not checked."""
    import json
    from .flash import FlashError, elf_board
    path = Path(elf)
    qemu_command(board, path)            # exists, is an ELF, a QEMU board
    record = {}
    try:
        record = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        pass
    try:
        built_for = elf_board(path) or record.get("board")
    except FlashError:
        built_for = record.get("board")
    if built_for and built_for != board.name:
        from .boards import BoardError, get_board
        try:
            on_qemu = bool(get_board(built_for).qemu)
        except BoardError:
            on_qemu = False
        use = f"pass --board {built_for}" if on_qemu else f"flash it with `firmware flash --board {built_for}`"
        raise QemuError(f"{elf} was built for {built_for}, not {board.name}: {use}, or build for "
                        f"{board.name} with `firmware build --board {board.name} GENERATED_DIR`")
    if serve and record.get("app") == "bench":   # it ran, printed and exited: `runtime hil` found no one
        raise QemuError(f"{elf} is the bench firmware: it runs the model once, prints on its console and exits, "
                        f"so nothing would answer `runtime hil`; run it with `firmware run --board {board.name} "
                        f"{elf}`, or build the validation firmware for `firmware serve` (`firmware build --board "
                        f"{board.name} --app validate GENERATED_DIR`)")
    if not serve and record.get("app") == "validate":
        raise QemuError(f"{elf} is the validation firmware: it waits for the HIL link on its UART and prints "
                        f"nothing; run it with `firmware serve --board {board.name} {elf}` and talk to it with "
                        "`runtime hil`, or build the bench app (`firmware build` without --app) for `firmware run`")


@dataclass
class RunResult:
    returncode: int
    console: str
    seconds: float


def run_qemu(board: Board, elf: str | Path, timeout: float = 300,
             echo: Callable[[str], None] | None = None) -> RunResult:
    """Runs `elf` on `board`'s QEMU machine until it exits (semihosting), streaming its
    console to `echo` line by line. Raises QemuError when it has not exited after `timeout`
    seconds, whether or not it still prints (a stuck firmware usually prints nothing). Any
    other exception (Ctrl-C's KeyboardInterrupt, a BrokenPipeError from `echo`) propagates
    unchanged; QEMU is killed on every way out."""
    cmd = qemu_command(board, elf)
    t0 = time.perf_counter()
    deadline = t0 + timeout
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    # a thread reads the console, so that the deadline holds while the firmware is silent
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(stream) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)
    threading.Thread(target=pump, args=(proc.stdout,), daemon=True).start()
    console, exited = [], False
    try:
        while (remaining := deadline - time.perf_counter()) > 0:
            try:
                # a --timeout of centuries waits as long as the platform can (queue.get raised
                # OverflowError above threading.TIMEOUT_MAX, about 292 years)
                line = lines.get(timeout=min(remaining, threading.TIMEOUT_MAX))
            except queue.Empty:
                break
            if line is None:      # QEMU closed its console: it is exiting
                proc.wait(timeout=min(max(1.0, deadline - time.perf_counter()), threading.TIMEOUT_MAX))
                exited = True
                break
            line = line.replace("\r", "")
            console.append(line)
            if echo:
                echo(line.rstrip("\n"))
    except subprocess.TimeoutExpired:
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    if not exited:
        raise QemuError(f"{Path(elf).name} did not finish within {timeout:g} s on {board.name}; "
                        "the firmware is stuck or the model is very large (raise --timeout)")
    return RunResult(proc.returncode, "".join(console), time.perf_counter() - t0)


def parse_bench(console: str) -> dict:
    """The bench app's report (firmware_tools/apps/bench.c) as a dict: output bytes, time (the
    counter's units; with -DBENCH_PROFILE it includes one hook per layer), stack, arena, and with
    -DBENCH_PROFILE hook (the hook's measured cost), layers_raw (counter per layer) and layers
    (per layer net of the hook, never below 0; with -DBENCH_PROFILE every figure is bench.c's mean over
    runs started 5 instructions apart in the counter's tick, within 5 instructions of exact).
    Raises QemuError when the report is incomplete."""
    if "done" not in console.split():
        raise QemuError(f"the bench firmware did not finish its report:\n{console[-2000:]}")
    out = {}
    m = re.search(r"^output:(.*)$", console, re.M)
    out["output"] = [int(v) for v in m.group(1).split()] if m else []
    out["outputs"] = [out["output"]] + [[int(v) for v in m.group(2).split()] for m in
                                        re.finditer(r"^output (\d+):(.*)$", console, re.M)]
    out["outputs_f32"] = {int(m.group(1)): np.array([int(v, 16) for v in m.group(2).split()], np.uint32)
                          .view(np.float32) for m in re.finditer(r"^output_f32 (\d+):(.*)$", console, re.M)}
    out["outputs_u8"] = {int(m.group(1)): [int(v) for v in m.group(2).split()]
                         for m in re.finditer(r"^output_u8 (\d+):(.*)$", console, re.M)}
    m = re.search(r"^time: (\d+) (.+)$", console, re.M)
    out["time"], out["unit"] = (int(m.group(1)), m.group(2).strip()) if m else (None, None)
    # per-layer counts (-DBENCH_PROFILE) net of the profiling hook's own cost, which each raw
    # figure holds once and a production build does not run ("hook:", measured on the device)
    m = re.search(r"^hook: (\d+)$", console, re.M)
    out["hook"] = int(m.group(1)) if m else 0
    out["layers_raw"] = [int(v) for v in re.findall(r"^layer \d+: (\d+)$", console, re.M)]
    out["layers"] = [max(n - out["hook"], 0) for n in out["layers_raw"]]
    for key in ("stack", "arena"):
        m = re.search(rf"^{key}: (\d+)$", console, re.M)
        out[key] = int(m.group(1)) if m else None
    return out


def free_tcp_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QemuSerial:
    """QEMU running firmware with its console UART on a loopback TCP port, for pyserial's
    socket:// URLs. A context manager: QEMU is killed on exit, whatever happened."""

    def __init__(self, board: Board, elf: str | Path, port: int | None = None, start_timeout: float = 15):
        self.board, self.elf, self.port = board, Path(elf), port or free_tcp_port()
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def start(self) -> "QemuSerial":
        chardev = ["-chardev", f"socket,id=s0,host=127.0.0.1,port={self.port},server=on,wait=off,nodelay=on",
                   "-serial", "chardev:s0"]
        self.proc = subprocess.Popen(qemu_command(self.board, self.elf, chardev), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                if "Address already in use" in err:   # QEMU's own chardev text named no fix
                    raise QemuError(f"port {self.port} on 127.0.0.1 is already in use (another `firmware "
                                    "serve`?): give another --port, or leave --port out for a free one")
                first = next((l for l in err.splitlines() if l.strip()), "")   # not its register dump
                raise QemuError(f"QEMU exited at start ({self.proc.returncode}): {first.strip()}")
            if self._listening():
                return self
            time.sleep(0.05)
        self.stop()
        raise QemuError(f"QEMU did not open its UART socket on port {self.port} within {self.start_timeout} s")

    def _listening(self) -> bool:
        """Is *our* QEMU listening on the port? Read from /proc on Linux: connecting to find
        out would use up the chardev's single client slot, and another process that drew the
        same free port could be the one listening (so the socket's inode must be one of our
        QEMU's file descriptors)."""
        import os
        import socket
        try:
            table = Path("/proc/net/tcp").read_text()
            fds = {os.readlink(f) for f in Path(f"/proc/{self.proc.pid}/fd").iterdir()}
        except OSError:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                return False
        want = f"0100007F:{self.port:04X}"
        for line in table.splitlines()[1:]:
            f = line.split()
            if f[1] == want and f[3] == "0A" and f"socket:[{f[9]}]" in fds:
                return True
        return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait()
            if self.proc.stderr:
                self.proc.stderr.close()

    def __enter__(self) -> "QemuSerial":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
