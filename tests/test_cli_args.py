"""Bad arguments to the `codegen` commands: one `usage`/`error` line and exit code 2 before any
work, never a traceback, a vacuous success, a hang or a file outside the output folder
(found by the `attack` review; each case failed before its fix)."""
import argparse
import os

import pytest

from conftest import FIXTURE_MODELS
from codegen.cli import main

MODEL = str(FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite")


def _refused(capsys, argv, *words):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("codegen ") and ": error: argument" in last, err
    for w in words:
        assert w in last, err


@pytest.mark.parametrize("name", ["1x", "../../escaped", "a-b", "", "x.y"])
def test_emit_name_must_be_a_c_identifier(tmp_path, capsys, name):
    # was: `--name 1x` wrote 1x_invoke() (not C), `--name ../../escaped` wrote outside -o
    # refused by the generator's check (codegen/pipeline.check_name: also C keywords), one line
    code = main(["emit", MODEL, "-o", str(tmp_path / "out"), "--name", name])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and "--name" in err and "C identifier" in err, err
    assert not (tmp_path / "out").exists() and not list(tmp_path.parent.glob("escaped*"))


@pytest.mark.parametrize("cmd", ["emit", "inspect", "verify"])
@pytest.mark.parametrize("limit", ["0", "-5", "abc", "1e5"])
def test_ram_limit_must_be_positive(tmp_path, capsys, cmd, limit):
    # was: `--ram-limit -5` planned and answered "--ram-limit -5 B: no schedule fits"
    argv = [cmd, MODEL, "--ram-limit", limit] + (["-o", str(tmp_path / "o")] if cmd == "emit" else [])
    _refused(capsys, argv, "--ram-limit")


@pytest.mark.parametrize("n", ["0", "-3"])
def test_verify_needs_at_least_one_input(capsys, n):
    # was: exit 0 and "BIT-EXACT: 0 of 0 output bytes differ" (a check that checked nothing)
    _refused(capsys, ["verify", MODEL, "--inputs", n], "--inputs")


def test_verify_inputs_has_an_upper_bound(capsys):
    # was: --inputs 100000000 accepted (days of host and reference runs)
    from codegen.cli import MAX_VERIFY_INPUTS
    assert main(["verify", MODEL, "--inputs", "100000000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--inputs" in err and f"1..{MAX_VERIFY_INPUTS:,}" in err, err
    assert "100,000,000" in err


def test_board_names_say_which_target_code_a_board_runs(capsys):
    # `firmware boards` said cortex-m0 for qemu-microbit, `firmware build` "a cortex-m0plus"
    from codegen.board_budget import board_target
    from codegen.errors import CodegenError
    from firmware_tools.boards import get_board
    from firmware_tools.cli import main as firmware
    mb = get_board("qemu-microbit")
    assert mb.manifest["cpu"] == "cortex-m0" and mb.target == "cortex-m0plus"
    assert mb.cpu_and_target == "cortex-m0, runs the cortex-m0plus target's code"
    assert get_board("qemu-mps2-an500").cpu_and_target == "cortex-m7"
    assert firmware(["boards"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("qemu-microbit"))
    assert "cortex-m0 " in row and row.endswith("QEMU, runs the cortex-m0plus target's code"), row
    with pytest.raises(CodegenError, match=r"qemu-microbit \(cortex-m0, runs the cortex-m0plus target's code\)"):
        board_target("qemu-microbit", "cortex-m7")


@pytest.mark.parametrize("opt,value", [("--alpha", "-1"), ("--alpha", "nan"), ("--alpha", "0"),
                                       ("--alpha", ","), ("--resolution", "0,96"), ("--classes", "0"),
                                       ("--cpi", "0"), ("--latency-ms", "-1"), ("--latency-ms", "inf")])
def test_fit_numbers_must_be_positive(capsys, opt, value):
    # was: --alpha -1 / nan: a numpy ValueError traceback; --alpha 0 / --classes 0: a page of
    # zero-size-tensor errors about a model the user never gave; --cpi 0: every latency 0 ms
    _refused(capsys, ["fit", "--board", "stm32f746g-disco", opt, value], opt)


def test_fit_alpha_too_wide_to_index_is_one_line(capsys):
    # attack5: --alpha 1e308 (finite) made int(32 * alpha) an OverflowError traceback
    assert main(["fit", "--board", "stm32f746g-disco", "--alpha", "1e308"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--alpha 1e+308" in err and "0.25..1.4" in err, err


def test_a_device_file_is_refused_not_read_forever(capsys):
    # was: `codegen inspect /dev/zero` read until memory ran out (a hang)
    assert main(["inspect", "/dev/zero"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a TFLite model" in err, err


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_nobody_writes_to_is_refused_not_waited_for(tmp_path, capsys):
    """attack5: open() of a FIFO blocks until a writer comes: `codegen emit fifo` and
    `--labels fifo` hung; `--labels /dev/zero` read until a MemoryError traceback."""
    import os
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for argv in (["emit", str(fifo), "-o", str(tmp_path / "a")], ["inspect", str(fifo)],
                 ["emit", MODEL, "--labels", str(fifo), "-o", str(tmp_path / "b")],
                 ["emit", MODEL, "--labels", "/dev/zero", "-o", str(tmp_path / "c")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("codegen: error: "), err
    assert "larger than 16 MiB" in err


def test_a_model_file_over_2_gib_is_refused_unread(tmp_path):
    """attack5: a sparse 3 GB file with the TFL3 identifier was read whole (4 GB of RAM) to
    be refused; its size is known before reading. Under a 1.5 GB address-space limit."""
    import os
    import resource
    import subprocess
    import sys
    big = tmp_path / "big.tflite"
    with open(big, "wb") as f:
        f.write(b"XXXXTFL3")
        f.truncate(3 << 30)

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (1500 << 20, 1500 << 20))
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "inspect", str(big)], capture_output=True, text=True,
                       timeout=120, preexec_fn=limit, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "larger than 2 GiB" in r.stderr, r.stderr


def test_positive_number_types_are_one_shared_definition():
    # D3: codegen and runtime had each their own copy; one definition now, same messages
    import argparse

    import codegen.cli as ccli
    import runtime.cli as rcli
    from codegen.cli_main import positive_float, positive_int
    assert not hasattr(ccli, "_positive_int") and not hasattr(rcli, "_positive_int")
    actions = [a for p in (ccli.build_parser(), rcli.build_parser()) for a in _all_actions(p)]
    assert {a.type for a in actions if a.dest in ("inputs", "ram_limit", "frames", "top_k")} == {positive_int}
    cases = {"0": "must be 1 or more, got 0", "x": "invalid int value: 'x'"}
    for s, msg in cases.items():
        with pytest.raises(argparse.ArgumentTypeError, match=msg):
            positive_int(s)
    for s in ("nan", "inf", "0", "-1", "x"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"expected a positive number of seconds, got {s!r}"):
            rcli._seconds(s)
        with pytest.raises(argparse.ArgumentTypeError, match=f"expected a positive number, got {s!r}"):
            positive_float()(s)
    assert positive_float()("2.5") == 2.5 and positive_int("7") == 7
    # a budget pasted as the tools print it (47,888) is read; a unit is refused with the form wanted
    assert positive_int("47,888") == positive_int("47_888") == 47888 and positive_int("1,000,000") == 10**6
    for s in ("40k", "4,00", "1,2345"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"invalid int value: {s!r}; give a whole number such as 40000"):
            positive_int(s)
    # firmware's --timeout too (it had its own _seconds): the shared type, the same message
    import firmware_tools.cli as fcli
    timeouts = [a for p in (fcli.build_parser(), rcli.build_parser()) for a in _all_actions(p) if a.dest == "timeout"]
    assert len(timeouts) >= 4 and {a.type.__name__ for a in timeouts} == {"positive_float"}
    for a in timeouts:
        with pytest.raises(argparse.ArgumentTypeError, match="expected a positive number of seconds, got 'nan'"):
            a.type("nan")


def _all_actions(parser):
    import argparse
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sp in a.choices.values():
                yield from _all_actions(sp)
        else:
            yield a


@pytest.mark.parametrize("prog,argv", [
    ("codegen", ["emit", MODEL, "-o", ""]),
    ("codegen", ["verify", MODEL, "-o", ""]),
    ("firmware", ["build", "--board", "qemu-mps2-an500", "GEN", "-o", ""]),
    ("runtime", ["classify", "--model", MODEL, "--save", ""])])
def test_an_empty_output_path_is_refused(tmp_path, monkeypatch, capsys, prog, argv):
    # was: `codegen emit M -o ""` (an unset shell variable) wrote model.c, mcuf/ ... into the
    # current folder; runtime --save "" saved PNGs there
    import importlib
    monkeypatch.chdir(tmp_path)
    cli = importlib.import_module({"codegen": "codegen.cli", "firmware": "firmware_tools.cli",
                                   "runtime": "runtime.cli"}[prog])
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(prog) and "empty path" in last and ("-o/--output" in last or "--save" in last), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cmd", ["emit", "verify"])
@pytest.mark.parametrize("shape", ["nan", "1,96.5,96,3", "1,96,96,c"])
def test_input_shape_names_the_expected_form(tmp_path, capsys, cmd, shape):
    # was: "argument --input-shape: invalid literal for int() with base 10: 'nan'"
    argv = [cmd, MODEL, "--input-shape", shape] + (["-o", str(tmp_path / "o")] if cmd == "emit" else [])
    _refused(capsys, argv, "--input-shape", "like 1,96,96,3", repr(shape))


def _help_examples(parser, prog, cmd, capsys):
    """The example lines that end `PROG CMD --help` (the part before any '#' comment)."""
    with pytest.raises(SystemExit):
        parser.parse_args([cmd, "--help"])
    out = capsys.readouterr().out
    examples = [l.split("#")[0].strip() for l in out.split("examples:", 1)[1].splitlines()
                if l.startswith(f"  {prog} {cmd}")]
    assert examples, out
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[cmd]
    undocumented = [a.dest for a in sub._actions if not a.help]
    assert not undocumented, undocumented
    return out, examples


@pytest.mark.parametrize("cmd", ["emit", "inspect", "verify", "fit"])
def test_every_codegen_help_teaches_with_examples_that_parse(cmd, capsys):
    """`codegen emit/inspect/verify --help` had no examples, `fit --sort` and the MODEL of
    inspect/verify no help line, `--latency-ms` no unit or default. Each subcommand's help now
    ends in examples this parser accepts, and every option and argument says what it is."""
    import shlex

    from codegen.cli import build_parser
    out, examples = _help_examples(build_parser(), "codegen", cmd, capsys)
    for e in examples:
        assert build_parser().parse_args(shlex.split(e)[1:]).command == cmd, e
    assert "milliseconds" in out if cmd == "fit" else True


@pytest.mark.parametrize("cmd", ["boards", "build", "run", "size", "serve", "flash"])
def test_every_firmware_help_teaches_with_examples_that_parse(cmd, capsys):
    """`firmware build/run/size/serve/flash/boards --help` had no examples and `size ELF`,
    `boards --json` no help line; each now ends in examples this parser accepts."""
    import shlex

    from firmware_tools.cli import _fix_opt_value, build_parser
    _, examples = _help_examples(build_parser(), "firmware", cmd, capsys)
    for e in examples:
        argv = _fix_opt_value(shlex.split(e)[1:])     # as main() does: `--opt -Os`
        assert build_parser().parse_args(argv).fn.__name__ == f"cmd_{cmd}", e


@pytest.mark.parametrize("argv", [["--opt", "-O7"], ["--opt=-O7"], ["--opt", "O9"]])
def test_firmware_build_names_the_valid_opt_flags(tmp_path, capsys, argv):
    """`firmware build --opt -O7` said 'argument --opt: expected one argument' (argparse took
    -O7 for an option); every spelling now lists the valid flags."""
    from firmware_tools.cli import main as firmware_main
    with pytest.raises(SystemExit) as e:
        firmware_main(["build", "--board", "qemu-mps2-an500", *argv, str(tmp_path)])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert e.value.code == 2 and "argument --opt: expected one of -O0, -O1, -O2, -O3, -Os, -Og, -Oz" in last, last


@pytest.mark.parametrize("module,prog", [("codegen.cli", "codegen"), ("firmware_tools.cli", "firmware"),
                                         ("runtime.cli", "runtime")])
def test_every_command_has_version(module, prog, capsys):
    """`firmware --version` and `runtime --version` were 'unrecognized arguments'; codegen had it."""
    import importlib

    from codegen import __version__
    with pytest.raises(SystemExit) as e:
        importlib.import_module(module).build_parser().parse_args(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"mcuforge {prog} {__version__}"


@pytest.mark.parametrize("module,argv,usage,words", [
    ("codegen.cli", ["emit", MODEL, "-o", "out", "--ramlimit", "40000"], "usage: codegen emit ",
     ["--ramlimit -> --ram-limit", "`codegen emit --help`"]),
    ("runtime.cli", ["hil", "info", "--port", "socket://127.0.0.1:1", "--seed", "3"], "usage: runtime hil info ",
     ["unrecognized arguments: --seed 3", "`runtime hil info --help`"]),
    ("firmware_tools.cli", ["build", "--board", "qemu-mps2-an500", "out", "--ltoo"], "usage: firmware build ",
     ["--ltoo -> --lto"]),
])
def test_an_unknown_option_shows_its_command_usage_and_the_nearest_option(module, argv, usage, words, capsys):
    """`runtime classify ... --port URL` printed the top-level `usage: runtime [-h] [--version]
    COMMAND ...` and 'unrecognized arguments' (argparse reports a subcommand's leftovers at the
    top; trial5's find): now the command's own usage, the nearest option and where to look."""
    import importlib
    with pytest.raises(SystemExit) as e:
        importlib.import_module(module).main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith(usage) and "Traceback" not in err, err
    for w in words:
        assert w in err.strip().splitlines()[-1], err


def test_classify_takes_port_as_hil_does():
    """`runtime hil info --port URL`, then `runtime classify --port URL`: was unrecognized
    (classify spells it --device); both spellings now name the device."""
    from runtime.cli import build_parser
    for flag in ("--port", "--device"):
        args = build_parser().parse_args(["classify", "--model", "m.tflite", flag, "socket://127.0.0.1:4321"])
        assert args.device == "socket://127.0.0.1:4321"


def test_a_command_without_its_action_prints_its_own_help(capsys):
    """`runtime hil` alone printed `runtime --help` (classify and hil), not hil's actions."""
    from runtime.cli import main as runtime_main
    assert runtime_main(["hil"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: runtime hil ") and "validate" in out and "classify" not in out.split("\n")[0]


def test_inspect_json_has_the_tables_figures(capsys):
    """Every other report had --json (fit, size, boards, hil, classify) but inspect (trial5's
    find): its JSON carries the table's per-layer figures and totals, the arena and the schedule."""
    import json

    from codegen.cli import main as codegen_main
    assert codegen_main(["inspect", MODEL]) == 0
    text = capsys.readouterr().out
    assert codegen_main(["inspect", "--json", MODEL, "--ram-limit", "40000"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["target"] == "cortex-m7" and d["kernels"] == "dsp" and not d["unsupported"]
    assert len(d["layers"]) == 30 and d["layers"][0]["op"] == "CONV_2D" and d["inputs"][0]["shape"] == [1, 96, 96, 3]
    for figure in (d["macs"], d["params"], d["flash_bytes"]):
        assert f"{figure:,}" in text.split("total", 1)[1].splitlines()[0]
    assert f"planned arena: {d['arena_bytes']:,} bytes" in text
    assert d["ram_limit"] == 40000 and "layers 0..3" in d["schedule"]
    assert sum(ly["macs"] for ly in d["layers"]) == d["macs"]


def test_inspect_json_of_a_refused_model_is_json_too(capsys):
    """A script reading `inspect --json`'s stdout got nothing for a refused model (trial6's find):
    it gets {"model", "refused": [one line per problem]}; stderr and exit 2 as for every refusal."""
    import json

    from codegen.cli import main as codegen_main
    bad = os.path.join(os.path.dirname(__file__), "fixtures", "cases", "malformed", "stride_zero.tflite")
    assert codegen_main(["inspect", "--json", bad]) == 2
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert d["model"] == bad and d["refused"] == ["op #16 CONV_2D: option StrideW is 0, must be >= 1: "
                                                  "re-export the model from the converter"]
    assert "codegen: error: op #16 CONV_2D: option StrideW is 0" in err


@pytest.mark.parametrize("opts,says", [(["--ram-limit", "100"], "--ram-limit 100 B: no schedule fits"),
                                       (["--board", "nosuch"], "--board: unknown board 'nosuch'"),
                                       (["--board", "stm32f746g-disco", "--ram-limit", "99999999"],
                                        "--ram-limit 99,999,999 B is more than --board")])
def test_inspect_json_of_a_budget_or_board_refusal_is_json_too(capsys, opts, says):
    """`inspect --json --ram-limit 100` (or an unknown --board) printed nothing on stdout (trial7's
    find): the refusal is the same {"model", "refused"} object, stderr and exit 2 unchanged."""
    import json
    assert main(["inspect", "--json", MODEL, *opts]) == 2
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert d["model"] == MODEL and len(d["refused"]) == 1 and d["refused"][0].startswith(says)
    assert f"codegen: error: {says}" in err


@pytest.mark.parametrize("cmd", ["emit", "inspect", "verify"])
@pytest.mark.parametrize("given,says", [
    ("cortex-m3", "'cortex-m3' has no target of its own; use --target cortex-m0plus"),
    ("cortex-m85", "use --target cortex-m55"),
    ("M7", "'M7': the target is spelled cortex-m7"),
    ("Cortex-M0+", "the target is spelled cortex-m0plus"),
    ("cortex-a53", "invalid choice: 'cortex-a53' (choose from 'cortex-m7'"),
])
def test_a_target_name_that_is_not_one_names_the_one_to_use(tmp_path, capsys, cmd, given, says):
    """A core without a target of its own (M3, M85, ...) or another spelling of a target gets
    the --target to give, in argparse's one-line error (exit 2)."""
    with pytest.raises(SystemExit) as e:
        main([cmd, "--target", given, MODEL, *(["-o", str(tmp_path / "o")] if cmd == "emit" else [])])
    err = capsys.readouterr().err
    assert e.value.code == 2 and says in err, err


@pytest.mark.parametrize("prog,argv", [
    ("codegen", ["emit", "--board", "", MODEL, "-o", "OUT"]),
    ("codegen", ["inspect", "--board", " ", MODEL]),
    ("codegen", ["verify", "--board", "", MODEL]),
    ("codegen", ["fit", "--board", ""]),
    ("firmware", ["build", "--board", "", "GEN"]),
    ("firmware", ["run", "--board", "", "fw.elf"]),
    ("firmware", ["size", "--board", "", "fw.elf"]),
    ("firmware", ["flash", "--board", "", "fw.elf"]),
    ("firmware", ["serve", "--board", "", "fw.elf"])])
def test_an_empty_board_name_is_refused_not_read_as_no_board(tmp_path, monkeypatch, capsys, prog, argv):
    # trial9: `codegen emit --board "$BOARD"` with BOARD unset emitted for the default cortex-m7
    # (exit 0, no word); `firmware build --board ""` took the recorded board instead
    import importlib
    monkeypatch.chdir(tmp_path)
    cli = importlib.import_module({"codegen": "codegen.cli", "firmware": "firmware_tools.cli"}[prog])
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(prog) and "argument --board: empty board name" in last, err
    assert list(tmp_path.iterdir()) == []


def test_fit_layers_without_json_is_refused_not_ignored(capsys):
    # trial9: `codegen fit --layers` printed the plain table, the flag silently dropped
    assert main(["fit", "--board", "qemu-microbit", "--layers"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--layers" in err[0] and "add --json" in err[0], err
