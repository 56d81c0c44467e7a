"""Defaults that give fast, right results and refusals that keep a user from wrong ones:
emit's default target is a real MCU, firmware build refuses code generated for another
target, flash refuses an ELF built for another board, the DSP kernels never reach a core
without the DSP extension, --name must be a C identifier, `--opt -Os` parses, `fit` caches
its firmware measurement, `firmware serve` puts the validation firmware's UART on TCP, and the
STM32 boards' clock setup matches their manifests."""
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURE_MODELS, ROOT
from codegen.pipeline import generate
from firmware_tools.boards import get_board

MODEL = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"


def cli(tool: str, *args, **kw):
    return subprocess.run([sys.executable, "-m", tool, *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, **kw)


def one_line_error(r, *words):
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


def test_emit_defaults_to_a_real_mcu(tmp_path):
    r = cli("codegen.cli", "emit", MODEL, "-o", tmp_path)
    assert r.returncode == 0, r.stderr
    man = json.loads((tmp_path / "model.json").read_text())
    assert man["target"] == "cortex-m7" and man["kernels"] == "dsp"
    assert "for cortex-m7 (dsp kernels)" in r.stdout


def test_build_refuses_code_generated_for_another_target(tmp_path):
    generate(MODEL, tmp_path / "gen", "host")
    r = cli("firmware_tools.cli", "build", "--board", "qemu-mps2-an500", tmp_path / "gen")
    one_line_error(r, "generated for host", "--target cortex-m7")


def test_opt_flag_parses_with_a_space(tmp_path):
    generate(MODEL, tmp_path / "gen", "cortex-m7")
    r = cli("firmware_tools.cli", "build", "--board", "qemu-mps2-an500", "--opt", "-Os", tmp_path / "gen")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "gen" / "build-qemu-mps2-an500" / "fw.json").read_text())["opt"] == "-Os"
    r = cli("firmware_tools.cli", "build", "--board", "qemu-mps2-an500", "--opt=-O9", tmp_path / "gen")
    assert r.returncode == 2 and "expected one of" in r.stderr


@pytest.mark.parametrize("name", ["1bad", "bad-name", "int", "a b", ""])
def test_name_must_be_a_c_identifier(name, tmp_path):
    one_line_error(cli("codegen.cli", "emit", MODEL, "-o", tmp_path, "--name", name), "not a C identifier")
    assert not (tmp_path / f"{name}.c").exists()


def test_dsp_kernels_never_reach_a_core_without_dsp(tmp_path):
    one_line_error(cli("codegen.cli", "emit", "--target", "cortex-m0plus", "--kernels", "dsp", MODEL, "-o", tmp_path),
                   "DSP extension", "--kernels reference")
    # nor through --kernels mve, whose fallback is the DSP set (was: _dsp sources copied for an M0+)
    one_line_error(cli("codegen.cli", "emit", "--target", "cortex-m0plus", "--kernels", "mve", MODEL, "-o",
                       tmp_path / "mve"), "--kernels mve", "DSP extension", "--kernels reference")
    assert not (tmp_path / "mve").exists()
    generate(MODEL, tmp_path / "m0", "cortex-m0plus")
    assert not list((tmp_path / "m0" / "mcuf" / "src").glob("*_dsp.c"))
    # and the header refuses to build them for such a core
    r = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m0plus", "-mthumb", "-std=c99",
                        f"-I{ROOT / 'codegen/kernels/include'}", "-c",
                        str(ROOT / "codegen/kernels/optimized/mcuf_conv_1x1_s8_dsp.c"), "-o", str(tmp_path / "x.o")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "need the DSP extension" in r.stderr


def test_fit_refuses_dsp_and_helium_kernels_on_a_core_without_dsp():
    """`fit --board qemu-microbit --kernels mve` built the bench firmware with the _dsp fallbacks
    for a Cortex-M0+: a FirmwareBuildError traceback, exit 1 (--kernels dsp logged the grid
    before refusing): the Fitter now resolves the kernel set as emit does, before any work."""
    for k in ("mve", "dsp"):
        one_line_error(cli("codegen.cli", "fit", "--board", "qemu-microbit", "--kernels", k, "--alpha", "0.25",
                           "--resolution", "32"), f"--kernels {k}", "DSP extension")


def test_verify_checks_the_targets_kernels():
    r = cli("codegen.cli", "verify", MODEL, "--inputs", "2")
    assert r.returncode == 0, r.stderr
    assert "(dsp kernels)" in r.stdout and "BIT-EXACT" in r.stdout
    r = cli("codegen.cli", "verify", "--target", "cortex-m0plus", MODEL, "--inputs", "1")
    assert r.returncode == 0 and "(reference kernels)" in r.stdout


@pytest.fixture(scope="module")
def qemu_elf(tmp_path_factory):
    out = tmp_path_factory.mktemp("fw")
    from firmware_tools.build import build_firmware
    generate(MODEL, out / "gen", "cortex-m7")
    return build_firmware(out / "gen", get_board("qemu-mps2-an500"), out / "fw", app="validate").elf


def test_flash_refuses_an_elf_built_for_another_board(qemu_elf, tmp_path):
    from firmware_tools.flash import elf_board
    assert elf_board(qemu_elf) == "qemu-mps2-an500"
    r = cli("firmware_tools.cli", "flash", "--board", "nucleo-h743zi", qemu_elf)
    one_line_error(r, "built for qemu-mps2-an500, not nucleo-h743zi", "refusing")
    # without its section and build record, the load addresses still give it away
    bare = tmp_path / "bare.elf"
    subprocess.run(["arm-none-eabi-objcopy", "--remove-section=.mcuforge_board", str(qemu_elf), str(bare)],
                   check=True)
    assert elf_board(bare) is None
    one_line_error(cli("firmware_tools.cli", "flash", "--board", "nucleo-h743zi", bare), "no board record")
    (tmp_path / "bare.json").write_text(json.dumps({"board": "nucleo-h743zi"}))
    one_line_error(cli("firmware_tools.cli", "flash", "--board", "nucleo-h743zi", bare),
                   "at 0x00000000, outside nucleo-h743zi's flash")


def test_flash_without_board_gives_the_line_to_type(qemu_elf, tmp_path):
    """`firmware flash ELF` said argparse's 'the following arguments are required: --board'. The
    board is still never guessed (flash writes hardware), but the ELF's build record gives the
    line to type -- or, for a QEMU build, says to run it instead."""
    one_line_error(cli("firmware_tools.cli", "flash", qemu_elf), "which board? pass --board NAME",
                   "built for qemu-mps2-an500, a QEMU machine: `firmware run` it instead")
    record = tmp_path / "record"
    record.write_bytes(b"nucleo-h743zi\0")
    real = tmp_path / "real.elf"
    subprocess.run(["arm-none-eabi-objcopy", f"--update-section=.mcuforge_board={record}", str(qemu_elf),
                    str(real)], check=True)
    one_line_error(cli("firmware_tools.cli", "flash", real), "flash never guesses the board it writes",
                   f"{real} was built for nucleo-h743zi: --board nucleo-h743zi")


def test_serve_puts_the_validation_firmware_on_tcp(qemu_elf):
    """`firmware serve` as the README's HIL walk-through runs it: the printed socket:// URL
    answers the HIL link, two inputs are bit-exact, Ctrl-C stops QEMU."""
    from runtime.hil.link import HilLink
    from runtime.hil.validate import validate
    proc = subprocess.Popen([sys.executable, "-m", "firmware_tools.cli", "serve", "--board", "qemu-mps2-an500",
                             str(qemu_elf)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        url = re.search(r"(socket://127\.0\.0\.1:\d+)", line).group(1)
        with HilLink(url) as link:
            rep = validate(link, MODEL, inputs=2)
        assert rep.ok and rep.inputs == 2
    finally:
        proc.send_signal(signal.SIGTERM)   # as a process manager stops it (Ctrl-C is the same path)
        proc.wait(timeout=20)
    assert proc.returncode == 0, proc.stderr.read()
    port = url.rsplit(":", 1)[1]
    def cmdline(p):
        try:
            return p.read_bytes()
        except OSError:   # the process ended meanwhile
            return b""
    left = [p for p in Path("/proc").glob("[0-9]*/cmdline") if f"port={port},".encode() in cmdline(p)]
    assert not left, "QEMU outlived `firmware serve`"


def test_serve_port_takes_the_number_or_the_url_it_prints():
    """`firmware serve --port` is a TCP port number while `runtime --port` is a pyserial URL: the
    URL serve itself prints (socket://127.0.0.1:N) is accepted as N; a remote host is refused
    in one line saying the number is wanted, not as a bare 'expected a TCP port'."""
    from firmware_tools.cli import _tcp_port
    assert [_tcp_port(s) for s in ("4321", "socket://127.0.0.1:4321", "127.0.0.1:4321", "localhost:4321",
                                   "SOCKET://LOCALHOST:4321/")] == [4321] * 5
    r = cli("firmware_tools.cli", "serve", "--board", "qemu-mps2-an500", "--port", "socket://10.0.0.1:4321",
            "nothing.elf")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "expected a TCP port number on 127.0.0.1 (e.g. 4321), got 'socket://10.0.0.1:4321'" in r.stderr
    assert "runtime ... --port socket://127.0.0.1:4321" in r.stderr
    r = cli("firmware_tools.cli", "serve", "--port", "70000", "nothing.elf")
    assert r.returncode == 2 and "expected a TCP port 1..65535, got '70000'" in r.stderr


def test_fit_caches_its_firmware_measurement(tmp_path, monkeypatch):
    from codegen.fit import Fitter
    monkeypatch.setenv("MCUF_CACHE", str(tmp_path))
    board = get_board("stm32f746g-disco")
    first = Fitter(board).firmware_overhead("mobilenet_v1")
    files = list(tmp_path.glob("fit-code-*.json"))
    assert first[2] and len(files) == 1
    t0 = time.perf_counter()
    again = Fitter(board).firmware_overhead("mobilenet_v1")
    assert again == first and time.perf_counter() - t0 < 1.0   # no firmware build
    files[0].write_text(json.dumps([first[0] + 4, first[1]]))   # really read from the cache
    assert Fitter(board).firmware_overhead("mobilenet_v1")[0] == first[0] + 4


def _defines(path) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"^#define (\w+)\s+(\d+)u?\b", path.read_text(), re.M)}


def test_stm32_clock_setup_matches_the_manifests():
    """board.json's clock (what `codegen fit` predicts with) is what board.c programs."""
    d = _defines(ROOT / "boards/stm32f746g-disco/board.c")
    f7 = d["HSE_HZ"] // d["PLL_M"] * d["PLL_N"] // d["PLL_P"]
    assert f7 == get_board("stm32f746g-disco").clock_hz == 216_000_000
    assert 1_000_000 <= d["HSE_HZ"] // d["PLL_M"] <= 2_000_000            # VCO input, RM0385
    assert 100_000_000 <= d["HSE_HZ"] // d["PLL_M"] * d["PLL_N"] <= 432_000_000   # VCO output
    h7 = ROOT / "boards/nucleo-h743zi/board.c"
    d = _defines(h7)
    assert "rev_v ? 480u : 400u" in h7.read_text()
    assert d["HSE_HZ"] // d["DIVM1"] * 480 // 2 == get_board("nucleo-h743zi").clock_hz == 480_000_000
    from codegen.fit import Fitter
    assert Fitter(get_board("nucleo-h743zi"), measure_code=False).clock == 480_000_000
