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


def test_hil_throughput_of_a_users_board_is_printed_not_committed(monkeypatch, capsys):
    """`benchmarks/hil_throughput.py --port /dev/ttyACM0` (a real board's link) overwrote
    results_hil.md, the QEMU figure the README quotes; it now prints it only."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("hil_throughput", ROOT / "benchmarks" / "hil_throughput.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "measure", lambda url: {"board": "nucleo-h743zi", "rtt_ms": 1.0,
                                                     "write_Bps": 10240.0, "read_Bps": 20480.0})
    committed = (ROOT / "benchmarks" / "results_hil.md").read_bytes()
    monkeypatch.setattr(sys, "argv", ["hil_throughput.py", "--port", "socket://127.0.0.1:1"])
    assert mod.main() == 0
    assert "nucleo-h743zi: INFO round trip 1.0 ms, WRITE_INPUT 10.0 KiB/s" in capsys.readouterr().out
    assert (ROOT / "benchmarks" / "results_hil.md").read_bytes() == committed


def test_bad_boards_models_or_out_are_refused_before_the_first_run(tmp_path):
    """trial7: an unknown board or a missing model ended the run in a traceback; `--out /tmp/b/`
    (a folder, as the brief says) wrote '/tmp/b/.md', or a traceback after every row was measured."""
    run = [sys.executable, str(ROOT / "benchmarks" / "run.py")]
    for args, says in [(["--boards", "nosuch"], "--boards: unknown board 'nosuch'"),
                       (["--boards", "stm32f746g-disco"], "--boards: stm32f746g-disco is not a QEMU board"),
                       (["--models", str(tmp_path / "no.tflite")], "no such file"),
                       (["--boards", "qemu-mps2-an500", "--out", "/proc/no/"], "cannot create its folder")]:
        r = subprocess.run(run + args, capture_output=True, text=True, timeout=60, cwd=tmp_path)
        last = r.stderr.strip().splitlines()[-1]
        assert r.returncode == 2 and last.startswith("run.py: error: ") and says in last, r.stderr
    model = tmp_path / "mine.tflite"
    model.write_bytes(add_model(np.random.default_rng(3)))
    r = subprocess.run(run + ["--boards", "qemu-mps2-an500", "--models", str(model), "--out", str(tmp_path / "res") + "/"],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "| mine | qemu-mps2-an500 |" in (tmp_path / "res" / "results.md").read_text()
    assert (tmp_path / "res" / "results.json").exists()
