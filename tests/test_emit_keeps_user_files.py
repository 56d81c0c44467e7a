"""`codegen emit -o .` in a project's root used to overwrite the project's own CMakeLists.txt
(and a model.c, a mcuforge.mk, a `mcuf/` folder) without a word. Emit now refuses in one line,
before writing anything, to replace a file it did not write; what an earlier emit wrote is
rewritten as before (re-running emit, several models in one folder, every layout). A second
model for another target or kernel set is refused: it would replace the kernel library the
first one uses."""
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


def test_a_second_model_for_another_core_does_not_replace_the_first_ones_kernels(tmp_path):
    """Two models share a folder's one kernel library: a cortex-m0plus model emitted beside a
    cortex-m7 one used to replace the DSP kernels the first calls (it no longer linked)."""
    out = tmp_path / "gen"
    assert emit("--name", "a", "-o", out).returncode == 0
    dsp = sorted(p.name for p in (out / "mcuf" / "src").glob("*_dsp.c"))
    assert dsp
    r = emit("--name", "b", "--target", "cortex-m0plus", "-o", out)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "model 'a' for cortex-m7 (dsp kernels)" in r.stderr and "cortex-m0plus (reference kernels)" in r.stderr
    assert sorted(p.name for p in (out / "mcuf" / "src").glob("*_dsp.c")) == dsp
    assert not (out / "b.c").exists()
    assert emit("--name", "b", "-o", out).returncode == 0                 # same target and kernels: fine
    assert emit("--name", "a", "--target", "cortex-m4", "-o", out).returncode == 2   # b is still cortex-m7
