"""benchmarks/run.py on a user's own model: its table, and the committed results untouched.

trial5's find: `benchmarks/run.py --models mine.tflite --boards qemu-mps2-an500` overwrote
benchmarks/results.md and results.json (the tables the README quotes) with a one-row table.
A run over some --boards or --models now prints its table and writes only to --out."""
import subprocess
import sys

import numpy as np

from conftest import ROOT
from opmodels import add_model


def test_a_partial_benchmark_run_prints_and_leaves_the_committed_results(tmp_path):
    model = tmp_path / "mine.tflite"
    model.write_bytes(add_model(np.random.default_rng(3)))
    committed = {p: p.read_bytes() for p in (ROOT / "benchmarks" / "results.md", ROOT / "benchmarks" / "results.json")}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--boards", "qemu-mps2-an500", "--models", str(model)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "| mine | qemu-mps2-an500 | cortex-m7 |" in r.stdout, r.stdout
    assert all(p.read_bytes() == data for p, data in committed.items())
    r = subprocess.run(cmd + ["--out", str(tmp_path / "mine")], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0 and "| mine | qemu-mps2-an500 |" in (tmp_path / "mine.md").read_text(), r.stderr
    assert (tmp_path / "mine.json").exists()
