"""An emit interrupted (Ctrl-C) while it rewrites a folder. The header was written first, about a
second before model.c on a large model, so a re-emit stopped in between left the new model's
model.h beside the old model's model.c and model.json: `firmware build` took the folder and
compiled a header whose sizes were not the source's. Now nothing is written until model.c is
rendered, the manifest is removed before the files change and written last."""
import pytest

from codegen import app_helpers
from codegen.pipeline import generate
from conftest import FIXTURE_MODELS
from firmware_tools.boards import get_board
from firmware_tools.build import FirmwareBuildError, build_firmware

OLD = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"
NEW = FIXTURE_MODELS / "mobilenet_v1_a025_128_gray.tflite"


def test_an_interrupted_re_emit_leaves_no_mixed_folder(tmp_path, monkeypatch):
    out = tmp_path / "out"
    generate(OLD, out, "cortex-m7")
    old = {f: (out / f).read_text() for f in ("model.h", "model.c", "model.json")}
    source = app_helpers.source

    def ctrl_c(*a, **k):          # the last part of model.c: the header is rendered by now
        raise KeyboardInterrupt
    monkeypatch.setattr(app_helpers, "source", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        generate(NEW, out, "cortex-m7")
    assert {f: (out / f).read_text() for f in old} == old     # the old emit, whole
    (out / "model.json").unlink()     # as an interrupt between the writes leaves it: refused
    with pytest.raises(FirmwareBuildError, match="has no model.json"):
        build_firmware(out, get_board("qemu-mps2-an500"))
    monkeypatch.setattr(app_helpers, "source", source)
    man = generate(NEW, out, "cortex-m7")             # emitting again completes the folder
    assert man["input"]["shape"] == [1, 128, 128, 1] and (out / "model.json").exists()
    assert "MODEL_INPUT_SIZE 16384" in (out / "model.h").read_text()


def test_model_c_refuses_another_models_header(tmp_path):
    """The same mix by other means (a stale model.h earlier on the include path) built and ran
    with the other model's sizes in the application's hands (measured: the bench firmware of the
    96x96 model with the 128x128 model's header printed arena 84304, its own being 47888).
    model.c now checks the header's sizes and refuses to compile with another one."""
    import subprocess
    generate(OLD, tmp_path / "a", "host")
    generate(NEW, tmp_path / "b", "host")

    def compile_a(include_first):
        return subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                               f"-I{include_first}", f"-I{tmp_path / 'a' / 'mcuf' / 'include'}",
                               str(tmp_path / "a" / "model.c")], capture_output=True, text=True)
    assert compile_a(tmp_path / "a").returncode == 0
    (tmp_path / "a" / "model.h").rename(tmp_path / "a" / "model.h.own")
    r = compile_a(tmp_path / "b")          # "model.h" found in b/ only
    assert r.returncode != 0 and "model.h is not the header of this model.c" in r.stderr, r.stderr
