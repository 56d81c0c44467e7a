"""HIL across a labgrid board farm, end to end on this machine: a real labgrid coordinator and
exporter (subprocesses on 127.0.0.1), two QEMU boards whose UARTs the exporter publishes as
NetworkSerialPort resources, two places matched to them; the HIL commands and the pytest
suite acquire a place, talk to its serial port and release it.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FIXTURE_MODELS, ROOT, TESTS
from firmware_tools.boards import get_board
from firmware_tools.qemu import QemuSerial, free_tcp_port
from test_hil import BOARD, firmware  # noqa: F401  (the module-scoped firmware cache)

labgrid = pytest.importorskip("labgrid", reason="the farm extra: pip install 'mcuforge[farm]'")
RGB96 = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"
GRAY128 = FIXTURE_MODELS / "mobilenet_v1_a025_128_gray.tflite"
LABELS_FILE = FIXTURE_MODELS / "shapes_labels.txt"
IMAGES = TESTS / "fixtures" / "images" / "shapes"
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif("config.getoption('--port') or config.getoption('--place')",
                                reason="builds its own farm on QEMU")


def _wait(cond, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise TimeoutError(what)


class Farm:
    def __init__(self, tmp: Path, boards: dict):
        self.tmp, self.boards = tmp, boards           # place name -> QemuSerial
        self.address = f"127.0.0.1:{free_tcp_port()}"
        self.env = {**os.environ, "LG_COORDINATOR": self.address}
        self.procs = []

    def client(self, *args, check=True):
        p = subprocess.run([BIN / "labgrid-client", *args], capture_output=True, text=True, env=self.env,
                           timeout=60)
        if check and p.returncode:
            raise RuntimeError(f"labgrid-client {' '.join(args)}: {p.stderr}")
        return p

    def start(self):
        log = open(self.tmp / "coordinator.log", "w")
        self.procs.append(subprocess.Popen([BIN / "labgrid-coordinator", "-l", self.address],
                                           stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                           cwd=self.tmp))      # it keeps places.yaml in its directory
        host, port = self.address.split(":")

        def listening():
            import socket
            try:
                socket.create_connection((host, int(port)), timeout=0.5).close()
                return True
            except OSError:
                return False
        _wait(listening, "the coordinator did not listen")
        # the exporter's configuration: each QEMU UART (raw TCP) as a NetworkSerialPort
        config = self.tmp / "exporter.yaml"
        config.write_text("".join(f"{name}:\n  NetworkSerialPort:\n    host: 127.0.0.1\n    port: {q.port}\n"
                                  f"    protocol: raw\n" for name, q in self.boards.items()))
        log = open(self.tmp / "exporter.log", "w")
        self.procs.append(subprocess.Popen([BIN / "labgrid-exporter", "-c", self.address, "-n", "qemu-host",
                                            "--hostname", "127.0.0.1", config],
                                           stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.tmp))
        _wait(lambda: len(self.client("resources").stdout.split()) == len(self.boards),
              "the exporter did not publish its resources")
        for name in self.boards:
            self.client("-p", name, "create")
            self.client("-p", name, "add-match", f"qemu-host/{name}/*")
        return self

    def acquired(self, place) -> str:
        return next(ln.split(":", 1)[1].strip() for ln in self.client("-p", place, "show").stdout.splitlines()
                    if ln.strip().startswith("acquired:"))

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture(scope="module")
def farm(firmware, tmp_path_factory):
    """Places mcu-a (MobileNet V1 RGB 96) and mcu-b (V1 grey 128), each a QEMU board."""
    tmp = tmp_path_factory.mktemp("farm")
    boards = {"mcu-a": QemuSerial(get_board(BOARD), firmware(RGB96)),
              "mcu-b": QemuSerial(get_board(BOARD), firmware(GRAY128))}
    farm = Farm(tmp, boards)
    try:
        for q in boards.values():
            q.start()
        yield farm.start()
    finally:
        farm.stop()
        for q in boards.values():
            q.stop()


def runtime(farm, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=farm.env, cwd=farm.tmp)


def test_hil_validate_on_a_place_is_bit_exact_and_releases_it(farm):
    p = runtime(farm, "hil", "validate", "--place", "mcu-a", "--model", RGB96, "--inputs", "5")
    assert p.returncode == 0, p.stderr
    assert "5 inputs (random, seed 0), BIT-EXACT: 0 of 20 output bytes differ" in p.stdout
    assert farm.acquired("mcu-a") == "None"
    p = runtime(farm, "hil", "info", "--place", "mcu-b")
    assert p.returncode == 0 and "qemu-mps2-an500, cortex-m7" in p.stdout, p.stderr
    p = runtime(farm, "classify", "--place", "mcu-a", "--model", RGB96, "--labels", LABELS_FILE,
                "--source", IMAGES, "--frames", "2", "--json")
    assert p.returncode == 0, p.stderr
    assert [json.loads(s)["device"]["bit_exact"] for s in p.stdout.splitlines()[:-1]] == [True, True]
    assert farm.acquired("mcu-a") == "None" and farm.acquired("mcu-b") == "None"


def test_two_places_validated_concurrently(farm):
    t0 = time.monotonic()
    p = runtime(farm, "hil", "validate", "--place", "mcu-a", "--model", RGB96, "--place", "mcu-b",
                "--model", GRAY128, "--inputs", "8", "--json")
    wall = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    a, b = rep["places"]["mcu-a"], rep["places"]["mcu-b"]
    assert rep["ok"] and a["report"]["ok"] and b["report"]["ok"]
    assert a["report"]["inputs"] == b["report"]["inputs"] == 8
    assert a["report"]["model"] == RGB96.name and b["report"]["model"] == GRAY128.name
    # concurrent, not one after the other: the two runs overlap in time
    assert a["started"] < b["ended"] and b["started"] < a["ended"], (a, b)
    print(f"mcu-a {a['ended'] - a['started']:.1f} s, mcu-b {b['ended'] - b['started']:.1f} s, wall {wall:.1f} s")
    assert farm.acquired("mcu-a") == "None" and farm.acquired("mcu-b") == "None"


def test_a_place_held_by_someone_else_is_a_clear_error(farm):
    farm.client("-p", "mcu-b", "acquire")
    try:
        p = runtime(farm, "hil", "validate", "--place", "mcu-b", "--model", GRAY128, "--inputs", "1")
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert "labgrid place mcu-b" in p.stderr and "already acquired" in p.stderr
    finally:
        farm.client("-p", "mcu-b", "release")
    p = runtime(farm, "hil", "info", "--place", "no-such-place")
    assert p.returncode == 2 and "matches nothing" in p.stderr


def test_the_pytest_suite_runs_on_a_place(farm):
    """tests/test_hil.py --place: the device tests acquire the place, run on its port, release."""
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TESTS / "test_hil.py"),
                        "--place", "mcu-a", "--hil-model", str(RGB96), "-k", "test_info or version_mismatch"],
                       capture_output=True, text=True, timeout=300, env=farm.env, cwd=ROOT)
    assert p.returncode == 0, p.stdout[-3000:]
    assert "2 passed" in p.stdout
    assert farm.acquired("mcu-a") == "None"
