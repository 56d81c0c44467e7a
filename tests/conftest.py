import hashlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
for p in (ROOT, TESTS):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

FIXTURE_MODELS = TESTS / "fixtures" / "models"
BENCH_MODELS = ROOT / "benchmarks" / "models"


def pytest_addoption(parser):
    parser.addoption("--port", default=None,
                     help="run the HIL tests against a real board on this pyserial URL "
                          "(e.g. /dev/ttyACM0) instead of QEMU")
    parser.addoption("--hil-model", default=None,
                     help="with --port or --place: the .tflite the board's validation firmware was built from")
    parser.addoption("--place", default=None,
                     help="run the HIL tests on a labgrid place (acquired for the session, its "
                          "NetworkSerialPort used; coordinator from LG_COORDINATOR)")


@pytest.fixture
def write_model(tmp_path):
    """Write flatbuffer bytes to a .tflite file in the test's directory."""
    def write(data: bytes, name: str = "model.tflite") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path
    return write


# ---- one compile of the kernel library per board and flags, shared by the session's firmware builds
#
# Every firmware test builds its generated folder with build_firmware(), which compiles the
# whole copied kernel library (mcuf/src, ~40 files: 80-90% of a build's compiler time) although
# only model.c differs between two models built for the same board. Like the host build's
# kernel-object cache (firmware_tools/host.py), a kernel object is compiled once per content
# and command line and then reused: keyed by the compiler command with the generated folder's
# path taken out, the source's bytes and the bytes of every header in the folder's
# mcuf/include (the only headers the kernels include besides the toolchain's). Model, board,
# app and support sources always compile for real, and so does every command that is not a
# kernel compile. The objects live in the session's temporary folder (shared by the xdist
# workers of one run, never across runs). MCUF_TEST_OBJECT_CACHE=0 turns it off.

_OBJ_CACHE: dict = {"dir": None}


def _kernel_compile(cmd: list[str]) -> tuple[Path, Path, Path] | None:
    """(source, object, generated folder) if cmd compiles one file of a generated folder's
    kernel library (GEN/mcuf/src/*.c), else None."""
    try:
        src, obj = Path(cmd[cmd.index("-c") + 1]), Path(cmd[cmd.index("-o") + 1])
    except (ValueError, IndexError):
        return None
    if src.suffix != ".c" or src.parent.name != "src" or src.parent.parent.name != "mcuf":
        return None
    return src, obj, src.parent.parent.parent


def _cached_compile(run, cmd: list[str]) -> subprocess.CompletedProcess:
    job = _kernel_compile(cmd)
    if job is None or _OBJ_CACHE["dir"] is None:
        return run(cmd)
    src, obj, gen = job
    h = hashlib.sha256()
    for arg in cmd:
        if arg != str(obj):
            h.update(arg.replace(str(gen), "<gen>").encode() + b"\0")
    for f in [src, *sorted((gen / "mcuf" / "include").glob("*.h"))]:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    cached = _OBJ_CACHE["dir"] / f"{h.hexdigest()[:24]}.o"
    if cached.exists():
        shutil.copyfile(cached, obj)
        return subprocess.CompletedProcess(cmd, 0, "", "")
    r = run(cmd)
    if r.returncode == 0 and obj.exists():
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        shutil.copyfile(obj, tmp)
        tmp.replace(cached)    # atomic: a concurrent builder of the same object wins or ties
    return r


@pytest.hookimpl(trylast=True)   # after the tmp_path plugin has made its factory
def pytest_configure(config):
    # A suite started in the background by a non-interactive shell (`nohup make test &`) inherits
    # SIGINT ignored, and so would every command the tests start: the Ctrl-C tests (demo, firmware
    # run, serve in the README check) would then see their interrupt ignored. Python's own handler
    # here is reset to the default in each child at exec, as under an interactive shell.
    import signal
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    import firmware_tools.build as build
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None or os.environ.get("MCUF_TEST_OBJECT_CACHE") == "0" or getattr(build._run, "kernel_object_cache", False):
        return
    base = factory.getbasetemp()
    root = base.parent if hasattr(config, "workerinput") else base   # xdist: the run's shared folder
    _OBJ_CACHE["dir"] = root / "firmware-kernel-objects"
    _OBJ_CACHE["dir"].mkdir(parents=True, exist_ok=True)
    run = build._run

    def cached_run(cmd):
        return _cached_compile(run, cmd)
    cached_run.kernel_object_cache = True
    build._run = cached_run


def interrupt_when(cmd: list[str], ready, cwd, env=None, timeout: float = 120) -> tuple[int, str]:
    """Runs `cmd`, sends it SIGINT (a real Ctrl-C) once a line of its stdout satisfies
    `ready(line)`, and returns (exit code, stderr); the process is killed if it outlives
    `timeout` seconds after the interrupt."""
    import signal
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if ready(line):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def assert_models_bit_exact_on_qemu(write_model, tmp_path, models: dict, board: str = "qemu-mps2-an500",
                                    distinct: bool = False) -> None:
    """Each of `models` ({name: .tflite bytes}) emitted for the board's target, built as the bench
    firmware, run under QEMU: its output bytes equal TFLite's reference for verify's first
    deterministic input (and, with distinct, hold more than one value)."""
    from codegen.pipeline import generate
    from codegen.verify import deterministic_input
    from firmware_tools.boards import get_board
    from firmware_tools.build import build_firmware
    from firmware_tools.qemu import parse_bench, run_qemu
    from runtime.interpreter import ReferenceModel
    b = get_board(board)
    for name, data in models.items():
        model = write_model(data, f"{name}.tflite")
        man = generate(model, tmp_path / name, b.target)
        res = run_qemu(b, build_firmware(tmp_path / name, b).elf, timeout=120)
        assert res.returncode == 0, res.console
        want = ReferenceModel(model).invoke(deterministic_input(man["input"]["bytes"])).reshape(-1)
        got = parse_bench(res.console)["output"]
        assert got == want.astype(int).tolist() and (len(set(got)) > 1 or not distinct), name
