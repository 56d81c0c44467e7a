"""The wheel carries everything the tools need: built from a copy of the sources, installed
into a fresh virtual environment outside the checkout, and used from there to emit C for a
Cortex-M7, build the QEMU firmware, run it and get TFLite's reference output."""
import re
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURE_MODELS, ROOT
from codegen.verify import deterministic_input

SOURCES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md",
           "codegen", "firmware_tools", "runtime", "boards"]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "board_files", "build-*")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin dir, wheel path) of a venv with only the mcuforge wheel installed; its
    dependencies come from this test environment's site-packages through a .pth file (no
    network, no re-download), which adds the directory without running its .pth files, so
    this environment's editable install of mcuforge stays invisible."""
    tmp = tmp_path_factory.mktemp("pkg")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        p = ROOT / name
        (shutil.copytree(p, src / name, ignore=IGNORE) if p.is_dir() else shutil.copy(p, src / name))
    dist = tmp / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "--no-index", str(src), "-w", str(dist)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    wheel = next(dist.glob("mcuforge-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = next((venv / "lib").glob("python3*/site-packages"))
    (purelib / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                        "-q", "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return venv / "bin", wheel


def test_wheel_carries_runtime_files(installed):
    _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for kernel in (ROOT / "codegen" / "kernels").rglob("*.[ch]"):
        assert f"codegen/{kernel.relative_to(ROOT / 'codegen').as_posix()}" in names
    assert "codegen/cost_model.json" in names
    for f in (ROOT / "firmware_tools" / "apps").iterdir():
        assert f"firmware_tools/apps/{f.name}" in names
    for f in (ROOT / "boards").rglob("*"):
        if f.is_file():
            assert f"firmware_tools/board_files/{f.relative_to(ROOT / 'boards').as_posix()}" in names


def test_installed_wheel_emits_builds_and_runs(installed, tmp_path):
    bindir, _ = installed
    model = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"

    def run(*cmd):
        r = subprocess.run([str(bindir / cmd[0]), *cmd[1:]], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, f"{cmd}: {r.stdout}{r.stderr}"
        return r.stdout

    where = run("python", "-c", "import codegen, firmware_tools.boards as b; "
                                "print(codegen.__file__); print(b.BOARDS_DIR)").split()
    assert all(str(ROOT) not in w and w.startswith(str(bindir.parent)) for w in where), where
    boards = run("firmware", "boards")
    assert {"qemu-mps2-an500", "nucleo-h743zi", "stm32f746g-disco"} <= set(re.findall(r"^(\S+)\s", boards, re.M))
    run("codegen", "emit", "--target", "cortex-m7", str(model), "-o", "out")
    run("firmware", "build", "--board", "qemu-mps2-an500", "out")
    console = run("firmware", "run", "--board", "qemu-mps2-an500", "out/build-qemu-mps2-an500/fw.elf")
    from firmware_tools.qemu import parse_bench
    from runtime.interpreter import ReferenceModel
    ref = ReferenceModel(model)
    want = ref.invoke(deterministic_input(int(np.prod(ref.input["shape"]))))
    assert parse_bench(console)["output"] == want.reshape(-1).tolist()
