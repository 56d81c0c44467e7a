"""`codegen emit -o .` in a project's root used to overwrite the project's own CMakeLists.txt
(and a model.c, a mcuforge.mk, a `mcuf/` folder) without a word. Emit now refuses in one line,
before writing anything, to replace a file it did not write; what an earlier emit wrote is
rewritten as before (re-running emit, several models in one folder, every layout)."""
import subprocess
import sys

import pytest

from conftest import FIXTURE_MODELS, ROOT

MODEL = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"


def emit(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "codegen.cli", "emit", MODEL, *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("theirs", ["CMakeLists.txt", "model.c", "model.h", "mcuforge.mk", "mcuf/notes.txt"])
def test_emit_refuses_to_overwrite_a_file_it_did_not_write(tmp_path, theirs):
    mine = tmp_path / theirs
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text("project(mine)\n")
    r = emit("-o", ".", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert theirs.split("/")[0] in r.stderr and "not written by codegen" in r.stderr and "-o " in r.stderr
    assert mine.read_text() == "project(mine)\n"
    assert not (tmp_path / "model.json").exists()          # nothing written


def test_arduino_layout_checks_its_own_files(tmp_path):
    (tmp_path / "library.properties").write_text("name=mine\n")
    r = emit("--layout", "arduino", "-o", tmp_path)
    assert r.returncode == 2 and "library.properties" in r.stderr, r.stderr
    assert emit("-o", tmp_path).returncode == 0          # the plain layout does not write it


def test_emit_rewrites_its_own_output(tmp_path):
    out = tmp_path / "gen"
    for args in ([], [], ["--name", "second"], ["--layout", "zephyr"], ["--layout", "zephyr"]):
        r = emit("-o", out, *args)
        assert r.returncode == 0, r.stderr
    assert "second" in (out / "CMakeLists.txt").read_text()
    flat = tmp_path / "flat"
    for _ in range(2):
        r = emit("--layout", "platformio", "-o", flat)
        assert r.returncode == 0, r.stderr
