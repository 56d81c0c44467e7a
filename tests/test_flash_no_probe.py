"""`firmware flash` with nothing attached says what to do, in one line: connect the board's
ST-LINK USB port (pyocd installed: `pip install '.[flash]'`), or install a programmer. pyocd's
own "No connected debug probes" (red, on stdout) used to come first, and with several probes
pyocd asked on stdin which one (a hang without a terminal)."""
import importlib.util
import os
import subprocess
import sys

from conftest import ROOT


def test_flash_with_no_probe_attached(tmp_path):
    src = tmp_path / "x.c"
    src.write_text("int x;\n")
    elf = tmp_path / "fw.elf"   # any ELF: --force skips the board checks, so the probe search is reached
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m33", "-mthumb", "-c", src, "-o", elf], check=True)
    r = subprocess.run([sys.executable, "-m", "firmware_tools.cli", "flash", "--board", "nucleo-u575zi-q",
                        "--force", str(elf)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    if importlib.util.find_spec("pyocd"):
        assert "pyocd found no debug probe: connect nucleo-u575zi-q's ST-LINK USB port" in lines[0]
    else:
        assert "no programmer found for nucleo-u575zi-q: install one of" in lines[0]


def test_flash_force_still_needs_an_elf_file(tmp_path):
    """--force skips the board checks only: a missing file, a folder or a text file is named
    as such (trial10: "no programmer found", and a programmer would have been handed it)."""
    import pytest
    from firmware_tools.boards import get_board
    from firmware_tools.flash import FlashError, flash
    (tmp_path / "notes.txt").write_text("hello\n")
    board = get_board("nucleo-h743zi")
    for path, expect in [(tmp_path / "nope.elf", "does not exist"), (tmp_path, "is a folder"),
                         (tmp_path / "notes.txt", "is not a 32-bit little-endian ELF file")]:
        with pytest.raises(FlashError) as e:
            flash(board, path, force=True)
        assert expect in str(e.value) and "programmer" not in str(e.value), str(e.value)


def test_binutils_output_naming_a_non_utf8_folder(tmp_path):
    """arm-none-eabi-size prints the ELF's path; in a folder whose name is not UTF-8 (codegen emit
    -o takes it) `firmware build` ended in a UnicodeDecodeError traceback (trial10)."""
    from firmware_tools.size import _sections
    folder = tmp_path / os.fsdecode(b"out\xfe")
    folder.mkdir()
    src, obj = folder / "x.c", folder / "x.o"
    src.write_text("int x[3] = {1, 2, 3};\n")
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-c", src, "-o", obj], check=True)
    assert _sections(obj)[".data"] == 12
