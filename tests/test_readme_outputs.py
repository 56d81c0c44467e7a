"""Every command output pasted in README.md is current: scripts/readme_outputs.py re-runs the
commands and compares (wall-clock times and the TCP port masked). The two `codegen fit` grids
take a minute each: a sample of their rows is re-computed and must appear verbatim."""
import re
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import readme_outputs  # noqa: E402


def test_readme_blocks_are_current():
    r = subprocess.run([sys.executable, str(ROOT / "scripts/readme_outputs.py"), "--check"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr + r.stdout


def test_every_block_is_in_the_readme():
    text = (ROOT / "README.md").read_text()
    for name in readme_outputs.BLOCKS:
        assert readme_outputs.readme_block(text, name) is not None, name


def test_mask_hides_only_timings():
    a = ("x in 0.21 s\nQEMU took 0.1 s\nlink: 5 payload bytes in 71.3 s\nsocket://127.0.0.1:4321\n11,626,760 instr"
         ", link 1657.6 ms")
    b = ("x in 9.99 s\nQEMU took 3.2 s\nlink: 5 payload bytes in 1.0 s\nsocket://127.0.0.1:5555\n11,626,760 instr"
         ", link 12.0 ms")
    assert readme_outputs.mask(a) == readme_outputs.mask(b)
    assert readme_outputs.mask(a) != readme_outputs.mask(a.replace("11,626,760", "11,626,761"))


@pytest.mark.parametrize("board,extra", [("stm32f746g-disco", []), ("nucleo-h743zi", ["--latency-ms", "1000"])])
def test_fit_blocks_sampled(board, extra):
    block = readme_outputs.readme_block((ROOT / "README.md").read_text(), f"fit-{board}")
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "fit", "--board", board, "--alpha", "0.25,1",
                        "--resolution", "96,224", *extra], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    rows = [ln for ln in r.stdout.splitlines() if re.match(r"^mobilenet_v[12]\s", ln)]
    assert len(rows) == 8
    for ln in rows + r.stdout.splitlines()[:1]:   # the rows and the board's header line
        assert ln in block.splitlines(), f"README's fit-{board} block lacks:\n{ln}"
