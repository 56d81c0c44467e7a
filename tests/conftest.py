import sys
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
