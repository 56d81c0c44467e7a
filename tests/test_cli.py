"""The commands users type, and the C they produce under the strictest compilers."""
import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURE_MODELS
from codegen.targets import TARGETS, get_target

MODEL = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"


def run(*args, module="codegen.cli"):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def test_help_teaches():
    r = run("--help")
    assert r.returncode == 0
    for word in ("emit", "inspect", "verify", "--target cortex-m7", "model.h"):
        assert word in r.stdout


def test_inspect_table():
    r = run("inspect", "--target", "host", MODEL)   # the reference kernels (default: cortex-m7)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "mcuf_depthwise_conv_s8" in out and "planned arena" in out and "all operators supported" in out
    assert "MACs" in out and "weights" in out


@pytest.mark.parametrize("target", list(TARGETS))
def test_emit_every_target(tmp_path, target):
    r = run("emit", "--target", target, MODEL, "-o", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "arena" in r.stdout
    for f in ("model.h", "model.c", "model.json", "mcuf/include/mcuf_nn.h"):
        assert (tmp_path / f).exists()
    cc = "gcc" if target == "host" else "arm-none-eabi-gcc"
    if not shutil.which(cc):
        pytest.fail(f"{cc} is missing: run `make setup`")
    sources = [tmp_path / "model.c", *sorted((tmp_path / "mcuf" / "src").glob("*.c"))]
    for src in sources:
        cmd = [cc, *get_target(target).cflags, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2",
               "-Wshadow",
               f"-I{tmp_path}", f"-I{tmp_path / 'mcuf' / 'include'}", "-c", str(src),
               "-o", str(tmp_path / (src.stem + ".o"))]
        c = subprocess.run(cmd, capture_output=True, text=True)
        assert c.returncode == 0, c.stderr


def test_weights_land_in_flash(tmp_path):
    """static const weights go to .rodata (flash); only the arena is in .bss (RAM)."""
    assert run("emit", "--target", "cortex-m7", MODEL, "-o", tmp_path).returncode == 0
    obj = tmp_path / "model.o"
    subprocess.run(["arm-none-eabi-gcc", *get_target("cortex-m7").cflags, "-O2", "-std=c99",
                    f"-I{tmp_path / 'mcuf' / 'include'}", f"-I{tmp_path}", "-c",
                    str(tmp_path / "model.c"), "-o", str(obj)], check=True)
    size = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True, text=True,
                          check=True).stdout
    sections = {l.split()[0]: int(l.split()[1]) for l in size.splitlines()[2:] if len(l.split()) >= 2
                and l.split()[1].isdigit()}
    import json
    man = json.loads((tmp_path / "model.json").read_text())
    assert sections.get(".bss", 0) == man["arena_bytes"]
    assert sections.get(".data", 0) == 0
    assert sections.get(".rodata", 0) >= man["weight_bytes"]


def test_verify_command():
    r = run("verify", MODEL, "--inputs", "3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "BIT-EXACT" in r.stdout and "input   3/3: ok" in r.stdout
    # the model's inputs and the random test inputs were both "inputs" on one line (trial7)
    assert "1 input(s), 1 output(s); 3 random inputs (seed 0), every layer compared" in r.stdout


def test_verify_asks_the_reference_in_bounded_chunks(tmp_path, monkeypatch):
    """The reference returns every layer's tensors; one request for all inputs held them all
    (3 GB at --inputs 10000 on the 96x96 fixture) and printed nothing until the last. Asked in
    chunks (here of 2), the inputs, their order and the result are those of one request."""
    from conftest import ROOT
    from codegen import oracle, verify as verify_mod
    model = ROOT / "tests/fixtures/cases/models/c16_float_io.tflite"   # a float32 edge: rng used per input too
    sizes, sent, real_ask = [], [], oracle.ask

    def counting_ask(m, feeds, want, **kw):
        sizes.append(len(feeds))
        sent.extend(feeds)
        return real_ask(m, feeds, want, **kw)
    monkeypatch.setattr(oracle, "ask", counting_ask)
    lines = []
    monkeypatch.setattr(verify_mod, "VERIFY_CHUNK", 2)
    small = verify_mod.verify(model, tmp_path / "a", inputs=5, seed=3, log=lines.append)
    assert sizes == [2, 2, 1]
    monkeypatch.setattr(verify_mod, "VERIFY_CHUNK", 50)
    whole = verify_mod.verify(model, tmp_path / "b", inputs=5, seed=3)
    assert sizes[3:] == [5]
    import numpy as np
    for a, b in zip(sent[:5], sent[5:]):      # the same inputs, in the same order
        assert a.keys() == b.keys() and all(np.array_equal(a[t], b[t]) for t in a)
    assert small.ok and whole.ok and small.inputs == whole.inputs == 5
    assert (small.distinct_outputs, small.layers_compared, small.output_bytes_compared) == \
        (whole.distinct_outputs, whole.layers_compared, whole.output_bytes_compared)
    assert [ln for ln in lines if ln.startswith("  input ") and ln.endswith(": ok")] == [f"  input {k:>3}/5: ok" for k in range(1, 6)]
    assert sum(ln.startswith("  reference: ") for ln in lines) == 1


def test_readme_operator_table_is_current():
    """The README's family x operator table is generated from the bundled models."""
    from conftest import ROOT
    r = subprocess.run([sys.executable, str(ROOT / "scripts/op_table.py"), "--check"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("kernels, limit", [("dsp", 56_000), ("dsp", 75_000), ("reference", 64_000)])
def test_inspect_ram_limit_reports_the_schedule_emit_builds(tmp_path, capsys, kernels, limit):
    """`inspect --ram-limit` shows the patch stage `emit --ram-limit` writes: the same grid,
    sub-arena and arena (ShuffleNet V1, whose first stage has the most schedules of the fixtures)."""
    import json
    import re

    from codegen.cli import main
    shuffle = str(FIXTURE_MODELS / "shufflenet_v1_g3_96_rgb.tflite")
    assert main(["inspect", shuffle, "--kernels", kernels, "--ram-limit", str(limit)]) == 0
    out = capsys.readouterr().out
    m = re.search(r"layers 0\.\.(\d+) in (\d+)x(\d+) patches .*; sub-arena ([\d,]+) B; arena ([\d,]+) B", out)
    lb = re.search(r"layers 0\.\.(\d+) in (\d+) row bands(?: x (\d+) column strips)? .*; sub-arena "
                   r"\(windows \+ scratch\) ([\d,]+) B; arena ([\d,]+) B", out)     # codegen/line_buffer.py
    assert m or lb, "inspect shows no patch stage"
    groups = m.groups() if m else (lb[1], lb[2], lb[3] or "1", lb[4], lb[5])
    assert main(["emit", shuffle, "-o", str(tmp_path), "--kernels", kernels, "--ram-limit", str(limit)]) == 0
    man = json.loads((tmp_path / "model.json").read_text())
    ps = man["patch_schedule"]
    emitted = (ps["split"], *ps["grid"], ps["sub_arena_bytes"], man["arena_bytes"])
    assert tuple(int(g.replace(",", "")) for g in groups) == emitted
    assert man["arena_bytes"] <= limit


@pytest.mark.parametrize("target, noted", [("cortex-m7", True), ("cortex-m33", True), ("cortex-m55", False),
                                           ("host", False)])
def test_emit_notes_helium_kernels_asked_for_on_a_core_without_helium(tmp_path, target, noted):
    """--kernels mve on an M7 is allowed (the _mve kernels' plain-C build, same results) but
    measured 92.8 M instructions against 9.07 M with dsp on vww-sized MobileNet: emit says so
    (trial4); on the M55 and the host (where it is the point) it says nothing."""
    r = run("emit", "--target", target, "--kernels", "mve", MODEL, "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert ("has no Helium" in r.stdout) == noted, r.stdout
