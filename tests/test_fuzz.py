"""A fixed-seed slice of the model fuzzer (tests/fuzz_models.py) in the default suite: no
traceback, no hang, no crash, no sanitizer report, every refusal one line per problem.
The long runs are by hand: python -m tests.fuzz_models --count 10000 --seed 1."""
import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from conftest import FIXTURE_MODELS
from codegen.pipeline import generate
from fuzz_models import OUTCOMES, Sanitized, fuzz, make_mutant, render, summary_counts

SEED, START, COUNT = 17, 0, 30     # 20-45 s on a loaded 2-core machine

needs_asan = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc with ASan/UBSan")


def test_mutants_are_reproducible_from_seed_and_index():
    for i in (0, 5, 11):
        a, b = make_mutant(SEED, i), make_mutant(SEED, i)
        assert a.data == b.data and a.kind == b.kind and a.fixture == b.fixture
    assert make_mutant(SEED, 1).data != make_mutant(SEED + 1, 1).data


@needs_asan
def test_fixed_seed_slice(tmp_path):
    t0 = time.monotonic()
    results = fuzz(SEED, START, COUNT, asan=True, timeout=60, work=tmp_path)
    counts = summary_counts(results)
    report = render(results, time.monotonic() - t0)
    print(report)
    assert len(results) == COUNT
    for bad in ("hang", "crash", "traceback", "sanitizer", "build-error", "bad-message", "internal"):
        assert counts[bad] == 0, report
    # the slice exercises both paths: refusals and emitted C run under the sanitizers
    assert counts["refused"] > 0 and counts["accepted"] > 0, report
    assert set(counts) == set(OUTCOMES)


@needs_asan
def test_poisoning_harness_catches_a_layer_outside_its_buffers(tmp_path):
    """The harness is not vacuous: move one layer's planned input range in the manifest and
    the unchanged C, reading its real input, hits poisoned bytes."""
    out = tmp_path / "out"
    generate(FIXTURE_MODELS / "torch_layout_96_nchw.tflite", out, "host")
    san = Sanitized(tmp_path, timeout=60)
    assert san.run(out) == ("accepted", "")
    man = json.loads((out / "model.json").read_text())
    layer = next(L for L in man["layers"] if L["reads"] and L["reads"][0][0] != L["offset"])
    layer["reads"][0][0] = layer["offset"]          # claim it reads its output's bytes instead
    (out / "model.json").write_text(json.dumps(man))
    outcome, message = Sanitized(tmp_path, timeout=60).run(out)
    assert outcome == "sanitizer" and "use-after-poison" in message, message


@needs_asan
def test_table_mutants_slice(tmp_path, monkeypatch):
    """`--kinds tables` (attack5: options tables of another type or none, zero-point vectors,
    variable / sparse / external tensors, graph inputs with data, shared I/O, subgraphs): a
    fixed slice, the same outcome classes as the classic one."""
    import fuzz_models
    monkeypatch.setattr(fuzz_models, "KINDS", "tables")
    assert make_mutant(1, 3).kind.startswith("tables:")
    results = fuzz(1, 0, 12, asan=True, timeout=60, work=tmp_path)
    counts = summary_counts(results)
    report = render(results, 0)
    for bad in ("hang", "crash", "traceback", "sanitizer", "build-error", "bad-message", "internal"):
        assert counts[bad] == 0, report
    assert counts["refused"] > 0 and counts["accepted"] > 0, report


def test_reader_validation_and_passes_raise_only_project_errors(tmp_path):
    """In process, 40 mutants through read -> validate -> passes -> shape check -> lowering:
    nothing but a CodegenError (the CLI's one-line refusal) ever comes out."""
    from codegen.errors import CodegenError
    from codegen.pipeline import compile_graph
    p = tmp_path / "m.tflite"
    kinds = set()
    for i in range(40):
        m = make_mutant(SEED + 1, i)
        p.write_bytes(m.data)
        try:
            compile_graph(p)
            kinds.add("accepted")
        except CodegenError:
            kinds.add("refused")
    assert kinds == {"accepted", "refused"}


@pytest.mark.parametrize("seed, index", [(1, 7433), (1, 4412), (1, 4463), (1, 8409)])
def test_replayed_findings(tmp_path, seed, index):
    """Mutants the long runs found, kept as regressions. (1, 7433): bit flips that leave a
    signalling-NaN scale; numpy's cast warning reached stderr beside the refusal lines. 4412,
    4463, 8409: scales of 3.4e38 (overflow warnings; HARD_SWISH's multipliers an internal error)."""
    import subprocess
    import sys
    p = tmp_path / "m.tflite"
    p.write_bytes(make_mutant(seed, index).data)
    for cmd in (["inspect", p], ["emit", p, "-o", tmp_path / "out"]):
        r = subprocess.run([sys.executable, "-m", "codegen.cli", *map(str, cmd)], capture_output=True,
                           text=True, timeout=120)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert r.returncode == 2 and lines and all(l.startswith("codegen: error: ") for l in lines), r.stderr


@needs_asan
def test_poisoning_harness_runs_a_patch_based_first_stage(tmp_path):
    """`--ram-limit` mutants (python -m tests.fuzz_models --ram-limit min): the patch stage's
    layers have no planned offset in model.json; the harness opens the arena while the stage
    runs and poisons as before after it (it used to emit `{None, 0}` rows: build-error)."""
    out = tmp_path / "out"
    man = generate(FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite", out, "cortex-m55", kernels="mve",
                   ram_limit=40_000)
    assert "patch_schedule" in man and man["layers"][0].get("patch_stage")
    cache = Path(tempfile.gettempdir()) / "mcuf-fuzz-cache"   # fuzz()'s: the library is built once
    cache.mkdir(parents=True, exist_ok=True)
    assert Sanitized(cache, timeout=60).run(out) == ("accepted", "")


def test_sanitized_library_build_ignores_another_runs_half_written_archive(tmp_path):
    """Two fuzzer workers (or two fuzzer runs sharing the cache) building the same kernel
    library at once: each writes its archive under a name of its own. It was one shared
    `<lib>.tmp`, and `ar rcs` onto the other's half-written file failed with a
    CalledProcessError that ended the whole run (seen with --jobs 2, seed 78500)."""
    mcuf = tmp_path / "mcuf"
    (mcuf / "src").mkdir(parents=True)
    (mcuf / "include").mkdir()
    (mcuf / "src" / "k.c").write_text("int mcuf_k(int x);\nint mcuf_k(int x) { return x + 1; }\n")
    (mcuf / "include" / "k.h").write_text("int mcuf_k(int x);\n")
    other = tmp_path / "other"
    other.mkdir()
    name = Sanitized(other, timeout=60)._library(mcuf).name     # the library's cache name
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / name).with_suffix(".tmp").write_bytes(b"half-written by another worker")
    built = Sanitized(cache, timeout=60)._library(mcuf)
    assert built.name == name and b"mcuf_k" in built.read_bytes()
