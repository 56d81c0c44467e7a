"""`codegen emit --board NAME`: the board's CPU as the target and its RAM (less the reserved
stack and the firmware's other data/bss) as the default --ram-limit; a model that cannot fit
even with patches is refused in one line naming the board, its RAM and the smallest peak."""
import json
import re
from pathlib import Path

import pytest

from conftest import FIXTURE_MODELS
from codegen.cli import main
from firmware_tools.boards import BOARDS_DIR, get_board, list_boards

MODEL = str(FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite")


def _emit(capsys, *argv):
    code = main(["emit", *map(str, argv)])
    out = capsys.readouterr()
    assert "Traceback" not in out.err, out.err
    return code, out.out, out.err


def test_board_sets_the_target_and_a_model_that_fits_is_laid_out_as_without(tmp_path, capsys):
    code, out, err = _emit(capsys, "--board", "stm32f746g-disco", MODEL, "-o", tmp_path / "b")
    assert code == 0, err
    man = json.loads((tmp_path / "b" / "model.json").read_text())
    assert man["target"] == "cortex-m7" and man["kernels"] == "dsp" and "patch_schedule" not in man
    line = next(l for l in out.splitlines() if l.strip().startswith("board"))
    assert re.search(r"stm32f746g-disco: 327,680 B RAM - 8,192 B stack - [\d,]+ B other data/bss "
                     r"= [\d,]+ B for the arena", line), line
    # the same arena as --target cortex-m7 without a limit (the model fits the board)
    assert main(["emit", "--target", "cortex-m7", MODEL, "-o", str(tmp_path / "t")]) == 0
    assert man["arena_bytes"] == json.loads((tmp_path / "t" / "model.json").read_text())["arena_bytes"]


def test_board_ram_chooses_patches_and_the_firmware_links_in_that_ram(tmp_path, capsys):
    """A 56x56 MobileNet V1 needs 15,680 B layer by layer; the micro:bit's 16 KB less its 2 KB
    stack leave about 14.3 KB: emit picks a patch schedule, and the bench firmware built from it
    links into the board's RAM (the linker script's region) with the arena it planned."""
    from codegen.architectures import FAMILIES
    from codegen.fit import _write
    from codegen.pipeline import compile_graph
    from codegen.verify import verify
    from firmware_tools.build import build_firmware
    model = _write(FAMILIES["mobilenet_v1"](0.25, 56, 2, 1), tmp_path / "m56.tflite")
    board = get_board("qemu-microbit")
    assert compile_graph(model, "reference").plan.arena_bytes > board.ram_bytes - 2048   # not layer by layer
    code, out, err = _emit(capsys, "--board", board.name, model, "-o", tmp_path / "gen")
    assert code == 0, err
    man = json.loads((tmp_path / "gen" / "model.json").read_text())
    assert man["target"] == "cortex-m0plus" and "patch_schedule" in man and "patches" in out
    budget = int(re.search(r"= ([\d,]+) B for the arena", out).group(1).replace(",", ""))
    assert man["arena_bytes"] <= budget
    fw = build_firmware(tmp_path / "gen", board, tmp_path / "fw")
    assert fw.size.arena == man["arena_bytes"] and fw.size.ram <= board.ram_bytes
    # and the schedule it chose is bit-exact with TFLite's reference (host build, every layer after the stage)
    res = verify(model, tmp_path / "v", inputs=2, seed=1, kernels="reference", ram_limit=budget)
    assert res.ok, res.mismatches[:1]


def test_a_model_the_board_cannot_hold_is_refused_in_one_line(tmp_path, capsys):
    code, out, err = _emit(capsys, "--board", "qemu-microbit", MODEL, "-o", tmp_path / "o")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    m = re.search(r"--board qemu-microbit: .*16,384 B of RAM.*smallest reachable peak is ([\d,]+) B "
                  r"\(arena ([\d,]+) B.*2,048 B stack.*smaller model.*at least ([\d,]+) B of RAM", err)
    assert m, err
    peak, arena, need = (int(g.replace(",", "")) for g in m.groups())
    assert peak == need and peak >= arena + 2048 and arena > 96 * 96 * 3   # the input alone is 27,648 B


@pytest.mark.parametrize("argv, words", [
    (["--board", "stm32f746g-disco", "--target", "cortex-m4"], ["--target cortex-m4", "--board", "cortex-m7"]),
    (["--board", "no-such-board"], ["--board", "no-such-board", "firmware boards"]),
    (["--board", "qemu-microbit", "--ram-limit", "20000"], ["--ram-limit 20,000 B", "qemu-microbit: 16,384 B RAM",
                                                             "2,048 B stack", "lower it"]),
], ids=["conflicting-target", "unknown-board", "limit-over-the-board"])
def test_bad_board_options_are_refused_in_one_line(tmp_path, capsys, argv, words):
    code, out, err = _emit(capsys, *argv, MODEL, "-o", tmp_path / "o")
    assert code == 2 and len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists(), err
    assert all(w in err for w in words), err


def test_the_matching_target_is_accepted_and_help_teaches_board(tmp_path, capsys):
    code, _, err = _emit(capsys, "--board", "qemu-mps2-an500", "--target", "cortex-m7", MODEL, "-o", tmp_path)
    assert code == 0, err
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "codegen emit --board stm32f746g-disco" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["emit", "--help"])
    assert "--board NAME" in capsys.readouterr().out


def test_board_stack_is_the_linker_scripts():
    """The budget subtracts board.json's stack_bytes: it must be what linker.ld reserves."""
    units = {"": 1, "K": 1024, "M": 1024 * 1024}
    for b in list_boards():
        m = re.search(r"__stack_size\s*=\s*(\d+)([KM]?)\s*;", (BOARDS_DIR / b.name / "linker.ld").read_text())
        assert m and int(m.group(1)) * units[m.group(2)] == b.manifest["stack_bytes"], b.name
    assert Path(BOARDS_DIR).is_dir()


def test_boards_listing_says_which_board_runs_at_its_reset_clock(capsys):
    # was: "nucleo-u575zi-q ... 4 MHz  hardware", read as the part's speed (fit predicted at 4 MHz
    # without a word); its board.c leaves the core on the 4 MHz MSIS, the STM32U575 is rated to 160
    from firmware_tools.cli import main
    assert main(["boards"]) == 0
    rows = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()[1:]}
    assert rows["nucleo-u575zi-q"].endswith("4 MHz  hardware, reset clock, not raised by board.c; max 160 MHz")
    assert rows["stm32f746g-disco"].endswith("216 MHz  hardware")     # board.c raises it to the max
    assert rows["qemu-mps2-an500"].endswith("25 MHz  QEMU")


def test_inspect_and_verify_take_board_as_emit_does(tmp_path, capsys):
    """`codegen emit --board B`, then `codegen inspect --board B` to see why: was 'unrecognized
    arguments' (only emit and fit had --board; trial5's find). inspect and verify now take the
    board's CPU and RAM budget as emit does, and refuse what emit refuses in the same line."""
    assert main(["inspect", "--board", "qemu-mps2-an505", MODEL]) == 0
    out = capsys.readouterr().out
    assert "dsp kernels" in out.splitlines()[0] and "board: qemu-mps2-an505: 4,194,304 B RAM" in out
    assert "layer by layer (fits)" in out
    assert main(["inspect", "--board", "qemu-microbit", MODEL]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--board qemu-microbit: the model does not fit its 16,384 B of RAM" in err[0], err
    _, _, emit_err = _emit(capsys, "--board", "qemu-microbit", MODEL, "-o", tmp_path / "o")
    assert err[0] == emit_err.strip()
    assert main(["verify", "--board", "qemu-microbit", MODEL, "--inputs", "1"]) == 2   # the same line
    assert capsys.readouterr().err.strip() == emit_err.strip()
    assert main(["verify", "--board", "qemu-mps2-an505", MODEL, "--inputs", "1"]) == 0
    out = capsys.readouterr().out
    assert "(dsp kernels)" in out and "BIT-EXACT" in out
    assert main(["verify", "--board", "qemu-mps2-an505", "--target", "cortex-m7", MODEL]) == 2
    assert "conflicts with --board qemu-mps2-an505" in capsys.readouterr().err


def test_firmware_build_takes_the_board_emit_was_given(tmp_path, capsys):
    """`codegen emit --board B ... -o out/`, then `firmware build out/`: was 'the following
    arguments are required: --board' (trial5's find). emit records B in model.json and build
    takes it; a folder emitted without --board is one line asking for it."""
    from firmware_tools.cli import main as firmware_main
    code, _, err = _emit(capsys, "--board", "qemu-mps2-an505", MODEL, "-o", tmp_path / "b")
    assert code == 0 and json.loads((tmp_path / "b" / "model.json").read_text())["board"] == "qemu-mps2-an505", err
    assert firmware_main(["build", str(tmp_path / "b")]) == 0
    assert "for qemu-mps2-an505" in capsys.readouterr().out
    assert json.loads((tmp_path / "b" / "build-qemu-mps2-an505" / "fw.json").read_text())["board"] == "qemu-mps2-an505"
    assert main(["emit", "--target", "cortex-m7", MODEL, "-o", str(tmp_path / "t")]) == 0
    assert "board" not in json.loads((tmp_path / "t" / "model.json").read_text())
    capsys.readouterr()
    assert firmware_main(["build", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "which board? pass --board NAME" in err[0], err
    # trial9: the line names the boards that run the emitted target's code
    assert err[0].endswith("; for cortex-m7: nucleo-h743zi, qemu-mps2-an500 (QEMU), stm32f746g-disco"), err


def test_build_of_a_missing_empty_or_file_folder_says_so_not_which_board(tmp_path, capsys):
    """trial7: `firmware build out/` on a mistyped or empty folder, or on model.tflite, asked
    'which board?'; given --board, the next error was the real one."""
    from firmware_tools.cli import main as firmware_main
    (tmp_path / "empty").mkdir()
    for gen, says in [(tmp_path / "nope", "does not exist: run `codegen emit --board NAME MODEL -o"),
                      (tmp_path / "empty", "has no model.json: run `codegen emit --board NAME MODEL -o"),
                      (MODEL, "is a file, not the folder `codegen emit` writes")]:
        assert firmware_main(["build", str(gen)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"firmware: error: {gen} {says.split(':')[0]}") and says in err[0], err


def test_the_first_board_measurement_says_why_it_builds_firmware(monkeypatch):
    """`codegen emit --board B` builds firmware once per board (~15 s) to measure the RAM beside
    the arena; on a terminal only its compile progress showed, not why: a line says so now. On a
    pipe nothing is added (the one-line refusals stay one line)."""
    import io
    import sys
    from codegen import board_budget as bb
    from codegen.fit import Fitter

    def overhead(self, family):
        self.log("measuring")          # what a cold cache does before building
        return 0, 4, True
    monkeypatch.setattr(Fitter, "firmware_overhead", overhead)

    class Tty(io.StringIO):
        def isatty(self):
            return True
    for stream, said in ((Tty(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        budget = bb.board_budget(get_board("qemu-mps2-an500"), "dsp")
        assert budget.other == 4
        text = stream.getvalue()
        assert ("measuring qemu-mps2-an500's RAM outside the arena with a firmware build" in text) == said, text
        assert text.count("\n") == int(said)


def test_emit_ends_with_the_next_commands_on_a_qemu_board_that_holds_the_model(tmp_path, capsys):
    """trial9: emit for cortex-m33 left a new user to find the board; the summary's last line
    is the build-and-run commands on a QEMU board of the target that holds the model (its
    --board when given; none for the host, or a model no QEMU board of the target holds)."""
    from firmware_tools.cli import main as firmware_main
    code, out, err = _emit(capsys, "--target", "cortex-m33", MODEL, "-o", tmp_path / "m33")
    assert code == 0, err
    nxt = out.splitlines()[-1].split(None, 1)
    assert nxt[0] == "next" and nxt[1] == (f"firmware build --board qemu-mps2-an505 {tmp_path / 'm33'}/ && firmware "
                                           f"run --board qemu-mps2-an505 {tmp_path / 'm33'}/build-qemu-mps2-an505/fw.elf")
    build, run = nxt[1].split(" && ")
    assert firmware_main(build.split()[1:]) == 0 and (tmp_path / "m33" / "build-qemu-mps2-an505" / "fw.elf").is_file()
    _, out, _ = _emit(capsys, "--board", "qemu-mps2-an386", MODEL, "-o", tmp_path / "m4")
    assert "firmware build --board qemu-mps2-an386 " in out.splitlines()[-1]
    # the micro:bit (16 KB RAM) cannot hold this model's arena; the host has no board; the bench
    # firmware does not build code emitted with --arena external
    for argv in (["--target", "cortex-m0plus"], ["--target", "host"], ["--arena", "external"]):
        _, out, _ = _emit(capsys, *argv, MODEL, "-o", tmp_path / argv[1])
        assert out.splitlines()[-1].strip().startswith("files"), out
