"""Your own board, outside mcuforge ($MCUFORGE_BOARDS), and board folders that are not valid:
one line naming the file, the field and the fix, exit 2 (a missing "clock_hz" or a typo in
board.json was a KeyError / JSONDecodeError traceback in every command, `firmware boards`
included; a linker.ld whose RAM disagreed with board.json made `firmware build` report an
overflow of memory board.json said was free)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURE_MODELS, ROOT

BUILTIN = ROOT / "boards"


def run(module, *args, boards=None):
    env = dict(os.environ)
    env.pop("MCUFORGE_BOARDS", None)
    if boards is not None:
        env["MCUFORGE_BOARDS"] = str(boards)
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=env, cwd=ROOT)


def my_board(root, name="my-m33-256k", ram=262144):
    """A copy of qemu-mps2-an505 with less RAM, renamed, in a folder of your own."""
    d = root / name
    shutil.copytree(BUILTIN / "qemu-mps2-an505", d)
    m = json.loads((d / "board.json").read_text())
    m.update(name=name, description="my board: an AN505 with 256 KB RAM")
    m["ram"]["size"] = ram
    (d / "board.json").write_text(json.dumps(m, indent=1))
    c = d / "board.c"
    c.write_text(c.read_text().replace('#define BOARD_NAME "qemu-mps2-an505"', f'#define BOARD_NAME "{name}"'))
    ld = d / "linker.ld"
    ld.write_text(ld.read_text().replace("ORIGIN = 0x38000000, LENGTH = 4M",
                                         f"ORIGIN = 0x38000000, LENGTH = {ram // 1024}K"))
    return d


def test_a_board_of_your_own_builds_and_runs_on_qemu(tmp_path):
    """The documented way (README, Firmware and boards): a folder of board folders named in
    $MCUFORGE_BOARDS; codegen emit --board, firmware build, run and size all find it."""
    my_board(tmp_path / "boards")
    listed = run("firmware_tools.cli", "boards", "--json", boards=tmp_path / "boards")
    assert listed.returncode == 0, listed.stderr
    mine = [b for b in json.loads(listed.stdout) if b["name"] == "my-m33-256k"]
    assert mine and mine[0]["ram"]["size"] == 262144
    model = FIXTURE_MODELS / "torch_layout_96_nchw.tflite"
    gen = tmp_path / "gen"
    r = run("codegen.cli", "emit", "--board", "my-m33-256k", model, "-o", gen, boards=tmp_path / "boards")
    assert r.returncode == 0, r.stderr
    assert "my-m33-256k: 262,144 B RAM" in r.stdout
    r = run("firmware_tools.cli", "build", gen, boards=tmp_path / "boards")
    assert r.returncode == 0, r.stderr
    assert "RAM" in r.stdout and "of 262,144" in r.stdout
    elf = gen / "build-my-m33-256k" / "fw.elf"
    r = run("firmware_tools.cli", "run", elf, boards=tmp_path / "boards")
    assert r.returncode == 0, r.stderr
    assert "mcuforge-bench board=my-m33-256k" in r.stdout and "done" in r.stdout
    # without the variable the board is unknown, and the message says where your own go
    r = run("firmware_tools.cli", "run", elf)
    assert r.returncode == 2 and "MCUFORGE_BOARDS" in r.stderr and "Traceback" not in r.stderr


def _break(d, how):
    bj = d / "board.json"
    m = json.loads(bj.read_text())
    if how == "not-json":
        bj.write_text("{name: my-m33-256k}")
        return "not valid JSON"
    if how == "no-clock":
        del m["clock_hz"]
    elif how == "bad-target":
        m["target"] = "cortex-m3"
    elif how == "name-mismatch":
        m["name"] = "qemu-mps2-an505"
    elif how == "bad-origin":
        m["flash"]["origin"] = "eight million"
    elif how == "ram-mismatch":
        m["ram"]["size"] = 4194304      # linker.ld says 256K
    elif how == "stack-mismatch":
        m["stack_bytes"] = 4096         # linker.ld says 32K
    elif how == "no-board-c":
        (d / "board.c").unlink()
    bj.write_text(json.dumps(m))
    return {"no-clock": '"clock_hz"', "bad-target": "cortex-m3", "name-mismatch": '"name"',
            "bad-origin": "flash.origin", "ram-mismatch": "RAM region", "stack-mismatch": "__stack_size",
            "no-board-c": "board.c"}[how]


@pytest.mark.parametrize("how", ["not-json", "no-clock", "bad-target", "name-mismatch", "bad-origin",
                                 "ram-mismatch", "stack-mismatch", "no-board-c"])
def test_a_broken_board_folder_is_one_line(tmp_path, how):
    d = my_board(tmp_path / "boards")
    needle = _break(d, how)
    for module, args in (("firmware_tools.cli", ["boards"]),
                         ("codegen.cli", ["emit", "--board", "my-m33-256k",
                                          FIXTURE_MODELS / "torch_layout_96_nchw.tflite", "-o", tmp_path / "o"])):
        r = run(module, *args, boards=tmp_path / "boards")
        assert r.returncode == 2, (module, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert str(d / "board.json") in lines[0] and needle in lines[0], lines[0]


def test_a_copy_of_a_builtin_board_not_renamed_and_a_variable_that_is_no_folder(tmp_path):
    shutil.copytree(BUILTIN / "qemu-mps2-an500", tmp_path / "boards" / "qemu-mps2-an500")
    r = run("firmware_tools.cli", "boards", boards=tmp_path / "boards")
    assert r.returncode == 2 and "defined twice" in r.stderr and "rename" in r.stderr, r.stderr
    r = run("firmware_tools.cli", "boards", boards=tmp_path / "nowhere")
    assert r.returncode == 2 and "not a folder" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_every_builtin_board_is_valid():
    from firmware_tools.boards import BOARDS_DIR, load_board
    for d in sorted(BOARDS_DIR.glob("*/board.json")):
        load_board(d.parent)


def test_the_readme_line_for_the_cortex_m0plus_board(tmp_path):
    """README (Firmware and boards): no bundled MobileNet fits qemu-microbit's 16 KB; the line
    it gives instead emits, builds and runs."""
    model = ROOT / "tests" / "fixtures" / "cases" / "models" / "c16_float_io.tflite"
    r = run("codegen.cli", "emit", "--board", "qemu-microbit", model, "-o", tmp_path / "out0")
    assert r.returncode == 0, r.stderr
    r = run("firmware_tools.cli", "build", tmp_path / "out0")
    assert r.returncode == 0, r.stderr
    r = run("firmware_tools.cli", "run", tmp_path / "out0" / "build-qemu-microbit" / "fw.elf")
    assert r.returncode == 0, r.stderr
    assert "mcuforge-bench board=qemu-microbit" in r.stdout and "output_f32 0:" in r.stdout and "done" in r.stdout


def test_boards_help_says_where_your_own_go():
    r = run("firmware_tools.cli", "boards", "--help")
    assert r.returncode == 0 and "$MCUFORGE_BOARDS" in r.stdout and "MCUFORGE_BOARDS=~/boards" in r.stdout
