"""`firmware run` / `firmware serve` as a user gets them wrong: an ELF built for another board,
the validation firmware under `run` (it waits for the HIL link and prints nothing), --timeout
and --port out of range, a firmware that never prints (the timeout must still hold), Ctrl-C,
and a reader that goes away (`| head -1`). One line and exit code 2, or 130 / 141; never a
traceback, a hang, or QEMU left running. Real firmware, real QEMU (a one-op model, so the
builds are short)."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from codegen.pipeline import generate
from firmware_tools.boards import get_board
from opmodels import add_model

BOARD = "qemu-mps2-an500"


def firmware(*args, **kw):
    return subprocess.run([sys.executable, "-m", "firmware_tools.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, **kw)


def one_line_error(r, *words):
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


def qemu_running(elf: Path) -> list[str]:
    out = []
    for p in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmd = p.read_bytes()
        except OSError:
            continue
        if b"qemu-system-arm" in cmd and str(elf).encode() in cmd:
            out.append(p.parent.name)
    return out


@pytest.fixture(scope="module")
def elfs(tmp_path_factory):
    from firmware_tools.build import build_firmware
    out = tmp_path_factory.mktemp("fw")
    (out / "add.tflite").write_bytes(add_model(np.random.default_rng(7)))
    generate(out / "add.tflite", out / "gen", "cortex-m7")
    board = get_board(BOARD)
    bench = build_firmware(out / "gen", board, out / "bench").elf
    validate = build_firmware(out / "gen", board, out / "validate", app="validate").elf
    silent = out / "silent" / "fw.elf"            # the validation firmware without its build record
    silent.parent.mkdir()
    shutil.copy(validate, silent)
    return {"bench": bench, "validate": validate, "silent": silent}


def test_run_refuses_an_elf_built_for_another_board(elfs):
    r = firmware("run", "--board", "qemu-mps2-an386", elfs["bench"])
    one_line_error(r, f"built for {BOARD}, not qemu-mps2-an386", f"--board {BOARD}")
    r = firmware("serve", "--board", "qemu-mps3-an547", elfs["validate"])
    one_line_error(r, f"built for {BOARD}, not qemu-mps3-an547")
    assert not qemu_running(elfs["validate"])


def test_run_points_the_validation_firmware_to_serve(elfs):
    t0 = time.monotonic()
    r = firmware("run", "--board", BOARD, elfs["validate"])
    one_line_error(r, "validation firmware", "firmware serve", "runtime hil")
    assert time.monotonic() - t0 < 60          # it used to wait out the 300 s default


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "abc"])
def test_run_timeout_must_be_positive_seconds(elfs, value):
    r = firmware("run", "--board", BOARD, "--timeout", value, elfs["bench"])
    assert r.returncode == 2 and "positive number of seconds" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("value", ["-1", "65536", "nan"])
def test_serve_port_must_be_a_tcp_port(elfs, value):
    r = firmware("serve", "--board", BOARD, "--port", value, elfs["validate"])
    assert r.returncode == 2 and "TCP port 1..65535" in r.stderr and "Traceback" not in r.stderr


def test_run_timeout_holds_while_the_firmware_is_silent(elfs):
    """The validation firmware prints nothing on the console: the deadline must still end it
    (the console reader used to block until QEMU printed a line, so --timeout never fired)."""
    t0 = time.monotonic()
    r = firmware("run", "--board", BOARD, "--timeout", "2", elfs["silent"])
    one_line_error(r, "did not finish within 2 s")
    assert time.monotonic() - t0 < 60
    assert not qemu_running(elfs["silent"])


def test_run_ctrl_c_is_an_interrupt_not_a_timeout(elfs):
    proc = subprocess.Popen([sys.executable, "-m", "firmware_tools.cli", "run", "--board", BOARD,
                             str(elfs["silent"])], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not qemu_running(elfs["silent"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert qemu_running(elfs["silent"]), "QEMU did not start"
        # to the tool alone (a terminal's Ctrl-C reaches QEMU too, which then races the tool
        # to exit): QEMU still runs when the interrupt arrives, and the tool must stop it
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == "firmware: interrupted", err
    time.sleep(0.5)
    assert not qemu_running(elfs["silent"])


def test_run_into_a_closed_pipe_exits_141_quietly(elfs):
    """`firmware run ... | head -1`: the reader is gone before the first line; no 'did not
    finish within 300 s' (what a broken pipe used to be reported as), QEMU stopped."""
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, "-m", "firmware_tools.cli", "run", "--board", BOARD,
                            str(elfs["bench"])], stdout=w, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                           timeout=120)
    finally:
        os.close(w)
    assert p.returncode == 141, p.stderr
    assert p.stderr == "", p.stderr
    assert not qemu_running(elfs["bench"])


def test_run_still_runs_its_own_board_and_an_unrecorded_elf(elfs, tmp_path):
    r = firmware("run", "--board", BOARD, elfs["bench"])
    assert r.returncode == 0 and "done" in r.stdout.split(), (r.stdout, r.stderr)
    bare = tmp_path / "bare.elf"                  # an application's own ELF: no record, no check
    subprocess.run(["arm-none-eabi-objcopy", "--remove-section=.mcuforge_board", str(elfs["bench"]), str(bare)],
                   check=True)
    r = firmware("run", "--board", BOARD, bare)
    assert r.returncode == 0 and "done" in r.stdout.split(), (r.stdout, r.stderr)


@pytest.mark.parametrize("value", ["1e10", "1e308"])
def test_run_timeout_of_centuries_runs_to_the_end(elfs, value):
    """A finite --timeout above threading.TIMEOUT_MAX (~292 years) was an OverflowError
    traceback from queue.get, exit 1; it now waits for the firmware as any long timeout."""
    r = firmware("run", "--board", BOARD, "--timeout", value, elfs["bench"])
    assert r.returncode == 0 and "done" in r.stdout.split(), (r.stdout, r.stderr)


def test_serve_on_a_port_in_use_names_the_fix(elfs):
    """`firmware serve --port N` on a port something listens on passed QEMU's chardev text
    through ('-chardev socket,...: Failed to find an available port: Address already in use');
    now one line: the port is in use, give another or none."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = firmware("serve", "--board", BOARD, "--port", port, elfs["validate"])
    one_line_error(r, f"port {port} on 127.0.0.1 is already in use", "give another --port")
    assert not qemu_running(elfs["validate"])


def test_size_against_another_board_names_both_boards(elfs):
    """`firmware size --board X fw.elf` on another board's ELF reported against X silently
    (flash refuses such an ELF); one warning line now names both boards."""
    r = subprocess.run([sys.executable, "-m", "firmware_tools.cli", "size", "--board", "qemu-mps2-an386",
                        str(elfs["bench"])], capture_output=True, text=True, timeout=120, cwd=ROOT)
    lines = r.stderr.strip().splitlines()
    assert r.returncode in (0, 1) and len(lines) == 1, r.stderr
    assert lines[0].startswith("firmware: warning: ") and f"built for {BOARD}, not qemu-mps2-an386" in lines[0]
    assert "qemu-mps2-an386" in r.stdout or "4,096" in r.stdout
    for argv in (["--board", BOARD], []):         # its own board, named or read off the ELF: no warning
        r = firmware("size", *argv, elfs["bench"])
        assert r.returncode == 0 and r.stderr == "", r.stderr


def test_run_and_serve_default_to_the_board_the_elf_was_built_for(elfs, tmp_path):
    """`firmware run fw.elf` without --board was argparse's "required: --board", though the ELF
    names its board (size defaulted to it; trial5's find): run and serve now take that board,
    and an ELF without a record, or no ELF, is one line saying what to pass."""
    r = firmware("run", elfs["bench"])
    assert r.returncode == 0 and "done" in r.stdout.split() and f"board={BOARD}" in r.stdout, (r.stdout, r.stderr)
    bare = tmp_path / "bare.elf"
    subprocess.run(["arm-none-eabi-objcopy", "--remove-section=.mcuforge_board", str(elfs["bench"]), str(bare)],
                   check=True)
    for cmd in ("run", "serve"):
        one_line_error(firmware(cmd, bare), "which board?", "--board NAME")
        one_line_error(firmware(cmd, tmp_path / "missing.elf"), "no such ELF file")
    assert not qemu_running(bare)


def test_serve_points_the_bench_firmware_to_run(elfs):
    """`firmware serve` of the bench firmware printed its socket:// URL and 'e.g. runtime hil
    info', then QEMU exited at once (the bench runs once): `runtime hil` found nothing there
    (trial5's find). As run refuses the validation firmware, serve now refuses the bench."""
    r = firmware("serve", "--board", BOARD, elfs["bench"])
    one_line_error(r, "is the bench firmware", "firmware run", "--app validate")
    assert "socket://" not in r.stdout and not qemu_running(elfs["bench"])
