"""`codegen fit` refuses, before any work and in one line, what used to end in a traceback
after it: a width multiplier or class count whose random-weight .tflite would exhaust the
host's memory (alpha 1e9: numpy's MemoryError for 238 GiB), a --plot whose suffix matplotlib
cannot write (its ValueError, after the whole grid was evaluated), a --plot into no folder."""
import subprocess
import sys

import pytest

from conftest import ROOT


def fit(*args):
    return subprocess.run([sys.executable, "-m", "codegen.cli", "fit", "--board", "stm32f746g-disco",
                           *map(str, args)], capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.parametrize("args, words", [
    (["--alpha", "1e9", "--resolution", "96"], ["alpha 1e+09", "parameters", "lower --alpha or --classes"]),
    (["--alpha", "0.25", "--resolution", "96", "--classes", "99999999"], ["99,999,999 classes", "64 MiB"]),
    (["--alpha", "0.25", "--resolution", "96", "--plot", "fit.txt"], ["--plot fit.txt", ".png"]),
    # int(32 * 0.03) = 0 channels: was three 'tensor ... is read before any operator writes it:
    # re-export the model from the converter' lines about fit's own synthetic model
    (["--family", "mobilenet_v1", "--alpha", "0.03", "--resolution", "32"],
     ["mobilenet_v1 alpha 0.03", "layer 0 (conv)", "[16, 16, 0]", "alpha >= 1/32"]),
    (["--alpha", "0.25", "--resolution", "96", "--plot", "no/such/folder/fit.png"], ["no folder no/such/folder"]),
    # was "there is no folder README.md; create it first" (it is there: a file)
    (["--alpha", "0.25", "--resolution", "96", "--plot", "README.md/fit.png"], ["README.md is a file, not a folder"]),
    # was: --resolution 3 "fits" (1x1 maps from the second stage on); 100000 a page of errors
    (["--resolution", "3"], ["--resolution 3", "give 32 or more"]),
    (["--resolution", "96,31"], ["--resolution 31", "give 32 or more"]),
    (["--alpha", "0.25", "--resolution", "100000"], ["--resolution 100000", "alpha 0.25", "give at most 3344"]),
])
def test_fit_refuses_in_one_line_before_any_work(args, words):
    r = fit(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "[1/" not in r.stderr            # refused before the first candidate
    for w in words:
        assert w in r.stderr, r.stderr


def test_fit_largest_published_mobilenet_still_fits_the_check(tmp_path):
    """alpha 1.4 at 224 (MobileNet V2's largest, 6.1M parameters) stays well inside the bound."""
    r = fit("--family", "mobilenet_v2", "--alpha", "1.4", "--resolution", "224", "--plot", tmp_path / "f.png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "f.png").stat().st_size > 0


def test_the_largest_resolution_fit_names_is_the_largest_it_takes():
    from codegen.architectures import resolution_problem
    most = 64 << 20
    for family, alpha in (("mobilenet_v1", 0.25), ("mobilenet_v2", 1.4)):
        top = int(resolution_problem(family, alpha, 100000, 1000, most).rsplit(" ", 1)[1])
        assert 224 < top < 100000
        assert resolution_problem(family, alpha, top, 1000, most) is None
        assert f"give at most {top}" in resolution_problem(family, alpha, top + 1, 1000, most)
    assert resolution_problem("mobilenet_v1", 0.25, 32, 1000, most) is None


@pytest.mark.skipif(__import__("shutil").which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
def test_a_board_too_small_to_measure_code_on_does_not_blame_the_compiler():
    """qemu-microbit (16 KB RAM): the firmware that measures the code does not fit, so the code
    size is the estimate; the note said 'arm-none-eabi-gcc not found' with the compiler installed."""
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "fit", "--board", "qemu-microbit",
                        "--alpha", "0.25", "--resolution", "96"],   # mobilenet_v2's does not fit
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "arm-none-eabi-gcc not found" not in r.stdout
    assert "estimated for mobilenet_v2: the smallest firmware that measures it does not fit qemu-microbit" \
        in r.stdout


def test_fit_plot_onto_a_folder_is_refused_before_any_work(tmp_path):
    """--plot DIR.png where DIR.png is a folder: matplotlib's IsADirectoryError after the grid."""
    (tmp_path / "fit.png").mkdir()
    r = fit("--alpha", "0.25", "--resolution", "96", "--plot", tmp_path / "fit.png")
    assert r.returncode == 2 and "[1/" not in r.stderr, r.stderr
    assert r.stderr.strip() == (f"codegen: error: --plot {tmp_path / 'fit.png'} is a folder; give a file "
                                f"name in it, e.g. {tmp_path / 'fit.png' / 'fit.png'}"), r.stderr


@pytest.mark.skipif(__import__("shutil").which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
def test_nothing_fits_on_ram_alone_points_to_patches():
    """Every candidate failing on RAM alone got 'try smaller alpha or resolution, ... or a bigger
    board', not fit's own --patches (trial5's find); the hint now names it, and only without it."""
    argv = [sys.executable, "-m", "codegen.cli", "fit", "--board", "qemu-microbit", "--family", "mobilenet_v1",
            "--alpha", "0.25", "--resolution", "64", "--classes", "2"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0 and "no: RAM\n" in r.stdout, r.stdout + r.stderr
    assert "nothing fits: 1 fail on RAM alone: add --patches" in r.stdout, r.stdout
    # 'try smaller' says what to type: one step below the grid tried
    assert "try smaller alpha or resolution (the smallest tried: alpha 0.25 at 64x64; e.g. --alpha 0.125 " \
           "--resolution 32), fewer classes" in r.stdout, r.stdout
    r = subprocess.run(argv + ["--patches"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0 and "add --patches" not in r.stdout, r.stdout + r.stderr


def test_patches_are_not_searched_for_a_candidate_too_big_for_flash():
    """`fit --patches --board qemu-microbit` spent about 20 s per candidate searching patch
    schedules for models whose weights alone exceed its 256 KB of flash (10 minutes in all,
    trial10); such a candidate fails whatever the schedule, and now says so at once."""
    import time
    from codegen.fit import Fitter
    from firmware_tools.boards import get_board
    t0 = time.monotonic()
    c = Fitter(get_board("qemu-microbit"), measure_code=False, patches=True).evaluate("mobilenet_v2", 0.5, 160)
    assert not c.fits_flash and not c.fits_ram and c.patches == "patches not tried: flash too small"
    assert time.monotonic() - t0 < 10
