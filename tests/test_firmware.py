"""Generated code as firmware: built with arm-none-eabi-gcc for every board, run on the
three QEMU cores, its output bytes equal to the host build's and the TFLite reference's."""
import functools
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURE_MODELS
from codegen.pipeline import compile_graph, generate
from codegen.verify import deterministic_input
from firmware_tools.boards import get_board, list_boards
from firmware_tools.build import build_firmware
from firmware_tools.qemu import parse_bench, run_qemu
from firmware_tools.size import DoesNotFit
from codegen.tflite_writer import ModelBuilder

FIXTURES = sorted(FIXTURE_MODELS.glob("*.tflite"))
# The fixtures need ~50-480 KB of arena: QEMU boards with at least 1 MB of RAM run them all;
# the micro:bit (16 KB) runs a small model in its own test.
QEMU_BOARDS = [b.name for b in list_boards() if b.qemu and b.ram_bytes >= 1 << 20]
SMALL_QEMU_BOARDS = [b.name for b in list_boards() if b.qemu and b.ram_bytes < 1 << 20]
REAL_BOARDS = [b.name for b in list_boards() if not b.qemu]


def test_boards_are_defined():
    assert {"qemu-mps2-an500", "qemu-mps2-an386", "qemu-mps3-an547", "qemu-mps2-an505"} <= set(QEMU_BOARDS)
    assert {"stm32f746g-disco", "nucleo-h743zi", "nucleo-u575zi-q"} <= set(REAL_BOARDS)
    assert {"qemu-microbit"} <= set(SMALL_QEMU_BOARDS)
    for b in list_boards():
        for f in ("board.json", "board.c", "linker.ld"):
            assert (b.dir / f).exists(), f"{b.name} lacks {f}"


@functools.lru_cache(maxsize=None)
def _reference(stem: str) -> list[int]:
    """Reference output of fixture `stem` for the deterministic bench input: the int8 bytes
    inside any float32 edge (what the bench's int8 run computes)."""
    from codegen.pipeline import load_graph
    from codegen.verify import reference_int8_outputs
    m = FIXTURE_MODELS / f"{stem}.tflite"
    g = load_graph(m)
    return reference_int8_outputs(m, [deterministic_input(g.tensors[i].size) for i in g.inputs])[0].tolist()


class _References:
    def __getitem__(self, stem: str) -> list[int]:
        return _reference(stem)


@pytest.fixture
def references():
    """Reference output for the deterministic bench input, per fixture stem: computed when a
    test first asks for it, once per process (xdist spreads these tests over its workers)."""
    return _References()


@pytest.mark.parametrize("board", QEMU_BOARDS)
@pytest.mark.parametrize("model", FIXTURES, ids=lambda p: p.stem)
def test_runs_on_qemu_bit_exact(model, board, tmp_path, references):
    from firmware_tools.host import HostModel
    b = get_board(board)
    man = generate(model, tmp_path / "gen", b.target)
    fw = build_firmware(tmp_path / "gen", b)
    assert fw.size.fits
    res = run_qemu(b, fw.elf, timeout=120)
    assert res.returncode == 0, res.console
    bench = parse_bench(res.console)
    host = HostModel(tmp_path / "gen").invoke(deterministic_input(man["input"]["bytes"]))
    assert bench["output"] == host.reshape(-1).tolist() == references[model.stem]
    # above the physical floor: one MAC per instruction, 16 (VMLADAV.S8) with Helium
    floor = man["macs"] // (16 if man["kernels"] == "mve" else 1)
    assert bench["unit"] == "instructions (QEMU)" and bench["time"] > floor
    assert 0 < bench["stack"] < fw.size.stack
    assert bench["arena"] == man["arena_bytes"] == fw.size.arena


def test_instruction_count_is_repeatable(tmp_path):
    b = get_board("qemu-mps2-an500")
    generate(FIXTURES[0], tmp_path / "gen", b.target)
    fw = build_firmware(tmp_path / "gen", b)
    runs = [parse_bench(run_qemu(b, fw.elf, timeout=120).console)["time"] for _ in range(2)]
    assert runs[0] == runs[1] and runs[0] % 40 == 0


@pytest.mark.parametrize("board", REAL_BOARDS)
def test_real_boards_build_and_fit(board, tmp_path):
    b = get_board(board)
    generate(FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite", tmp_path / "gen", b.target)
    fw = build_firmware(tmp_path / "gen", b)
    assert fw.size.fits
    assert fw.size.weights > 200_000 and fw.size.arena > 0
    assert fw.bin.stat().st_size > fw.size.weights and fw.hex.exists() and fw.map.exists()
    assert "of 1,048,576" in fw.size.render() or "of 2,097,152" in fw.size.render()


@pytest.mark.parametrize("board", [b.name for b in list_boards()])
def test_validation_firmware_builds_for_every_board(board, tmp_path, write_model):
    b = get_board(board)
    model = (FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite" if board not in SMALL_QEMU_BOARDS
             else write_model(small_model()))
    generate(model, tmp_path / "gen", b.target)
    fw = build_firmware(tmp_path / "gen", b, app="validate")
    assert fw.size.fits and fw.elf.exists()


def oversized_model() -> bytes:
    """A fully connected layer with 1.2 MB of weights: more than the F746's 1 MB of flash."""
    rng = np.random.default_rng(0)
    mb = ModelBuilder()
    x = mb.tensor([1, 1200], "int8", 0.05, 0)
    w = mb.tensor([1024, 1200], "int8", 0.01, 0, rng.integers(-127, 128, (1024, 1200)))
    y = mb.tensor([1, 1024], "int8", 0.5, 0)
    mb.op("FULLY_CONNECTED", [x, w, -1], [y], "FullyConnectedOptions", FusedActivationFunction=0)
    return mb.build([x], [y])


def test_oversized_model_gives_clear_error(tmp_path, write_model):
    model = write_model(oversized_model())
    b = get_board("stm32f746g-disco")
    generate(model, tmp_path / "gen", b.target)
    with pytest.raises(DoesNotFit) as e:
        build_firmware(tmp_path / "gen", b)
    msg = str(e.value)
    assert "does not fit stm32f746g-disco" in msg and "flash by" in msg and "alpha" in msg
    r = subprocess.run([sys.executable, "-m", "firmware_tools.cli", "build", "--board", b.name,
                        str(tmp_path / "gen")], capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("firmware: error: the model does not fit")


def test_firmware_cli(tmp_path):
    def fw(*args):
        return subprocess.run([sys.executable, "-m", "firmware_tools.cli", *map(str, args)],
                              capture_output=True, text=True, timeout=300)
    r = fw("boards")
    assert r.returncode == 0 and "qemu-mps2-an500" in r.stdout and "nucleo-h743zi" in r.stdout
    generate(FIXTURES[0], tmp_path / "gen", "cortex-m7")
    r = fw("build", "--board", "qemu-mps2-an500", tmp_path / "gen")
    assert r.returncode == 0 and "weights+consts" in r.stdout
    elf = tmp_path / "gen" / "build-qemu-mps2-an500" / "fw.elf"
    r = fw("size", elf)
    assert r.returncode == 0 and "arena" in r.stdout
    r = fw("run", "--board", "qemu-mps2-an500", elf)
    assert r.returncode == 0 and "time:" in r.stdout and "instructions (QEMU)" in r.stdout
    r = fw("flash", "--board", "nucleo-h743zi", elf)   # a QEMU ELF: refused before any programmer
    assert r.returncode != 0 and "built for qemu-mps2-an500, not nucleo-h743zi" in r.stderr
    assert fw("build", "--board", "nucleo-h743zi", tmp_path / "gen").returncode == 0
    r = fw("flash", "--board", "nucleo-h743zi", tmp_path / "gen" / "build-nucleo-h743zi" / "fw.elf")
    assert r.returncode != 0 and "install one of" in r.stderr   # no programmer on this machine
    r = fw("build", "--board", "no-such-board", tmp_path / "gen")
    assert r.returncode != 0 and "firmware boards" in r.stderr


def _on_cortex_m7_equals_tflite(model: Path, tmp_path: Path) -> tuple[dict, np.ndarray]:
    """The model's output on QEMU's Cortex-M7 equals TFLite's; the manifest and that output."""
    from runtime.interpreter import ReferenceModel
    b = get_board("qemu-mps2-an500")
    man = generate(model, tmp_path / "gen", b.target)
    res = run_qemu(b, build_firmware(tmp_path / "gen", b).elf, timeout=60)
    assert res.returncode == 0, res.console
    want = ReferenceModel(model).invoke(deterministic_input(man["input"]["bytes"]))
    assert parse_bench(res.console)["output"] == want.reshape(-1).tolist()
    return man, want


# Shapes that take the optimized kernels' assembly and unrolled paths on a real core: an odd
# step count (in_c 12), an odd output-channel count, an odd pixel count, the RGB stem with an
# odd output width, the im2col convolution; a clamped activation takes the general output
# stage (the C channel loop around the assembly run).
ASM_CASES = [
    # k, stride, padding, in_c, out_c, h, w, act
    (1, 1, "VALID", 12, 7, 3, 5, "NONE"),
    (1, 1, "VALID", 8, 16, 4, 4, "RELU6"),
    (1, 1, "VALID", 16, 6, 5, 3, "NONE"),
    (3, 2, "SAME", 3, 8, 11, 9, "NONE"),
    (3, 2, "SAME", 3, 5, 8, 10, "RELU6"),
    (3, 1, "SAME", 12, 5, 5, 4, "NONE"),
    (3, 2, "SAME", 12, 6, 6, 7, "RELU6"),
]


@pytest.mark.parametrize("case", ASM_CASES, ids=lambda c: "k{}s{}-c{}-oc{}-{}x{}-{}".format(c[0], c[1], *c[3:]))
def test_optimized_kernels_on_cortex_m7(case, tmp_path, write_model):
    """The DSP kernels' assembly runs only on a core: QEMU's output equals TFLite's."""
    import zlib
    import opmodels
    k, stride, padding, in_c, out_c, h, w, act = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    model = write_model(opmodels.conv_model(rng, k=k, stride=stride, padding=padding, dilation=1,
                                            in_c=in_c, out_c=out_c, h=h, w=w, act=act,
                                            scale_span=(1e-4, 1e-1)))
    man, _ = _on_cortex_m7_equals_tflite(model, tmp_path)
    assert man["layers"][0]["kernel"].endswith(("_dsp", "_dsp_fast"))


@pytest.mark.parametrize("op", ["conv1x1", "depthwise3x3"])
def test_formula_channels_on_cortex_m7(op, tmp_path, write_model):
    """Channels whose multiplier needs a left shift are marked in their shift byte and take
    TFLite's formula, the others in the same layer the fast constants: decoded on a core.
    Small weights and biases keep the formula channels' outputs off the int8 limits, where a
    wrong shift would not show."""
    import opmodels
    rng = np.random.default_rng(5)
    small = dict(scale_span=(1e-3, 0.3), wmax=2, bmax=20)
    if op == "conv1x1":
        data = opmodels.conv_model(rng, k=1, stride=1, padding="VALID", dilation=1, in_c=12,
                                   out_c=9, h=3, w=5, out_scale=0.03, **small)
    else:
        data = opmodels.depthwise_model(rng, k=3, stride=1, padding="SAME", dilation=1, in_c=24,
                                        mult=1, h=6, w=7, out_scale=0.01, **small)
    model = write_model(data)
    step = compile_graph(model, kernels="dsp").steps[0]
    formula = next(c for c in step.consts if c.name.endswith("_rq_shift")).values >= 32
    assert step.kernel in ("mcuf_conv_1x1_s8_dsp", "mcuf_depthwise_conv_3x3_s8_dsp"), step.kernel
    assert formula.any() and not formula.all(), formula
    _, want = _on_cortex_m7_equals_tflite(model, tmp_path)
    y = want.reshape(-1, len(formula))
    assert (np.abs(y[:, formula].astype(int)) < 127).any()


@pytest.mark.parametrize("opt", ["-O0", "-Os", "-O3"])
def test_kernels_build_and_agree_at_every_optimization_level(opt, tmp_path, references):
    """Users pick -O0 to debug and -Os for flash: the kernels' inline assembly must still find
    its registers (it once asked for 14, which -Os could not give) and the bytes not change."""
    model = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"
    b = get_board("qemu-mps2-an500")
    generate(model, tmp_path / "gen", b.target)
    res = run_qemu(b, build_firmware(tmp_path / "gen", b, opt=opt).elf, timeout=120)
    assert res.returncode == 0, res.console
    assert parse_bench(res.console)["output"] == references[model.stem]


# One image per DSP board sweeps the kernels the "no cliff" work added: depthwise with depth
# multipliers 8, 2, 4, 3 on 1-, 3- and odd-channel inputs, kernels 1/3/5/7, strides 1/2; a 5x5
# depthwise over 15 channels (the K x K plane kernel, as the 5x5 / 7x7 multipliers and the 3x3 at
# stride 2; the HWC kernel's tails: tests/test_depthwise_dsp_qemu.py); grouped convolutions (1x1 and 3x3,
# channels per group not a multiple of 4, odd channels per group) and a 1x1 over 15 channels;
# MAX_POOL_2D with an odd channel tail; a broadcast ADD of a constant; a squaring MUL.
SWEEP_SHAPE = (1, 13, 11, 1)
SWEEP_LAYERS = [("dw", 3, 2, 8), ("conv", 1, 1, 3, 1), ("dw", 3, 1, 8), ("conv", 1, 1, 15, 3),
                ("dw", 5, 1, 1), ("conv", 1, 1, 15, 1), ("dw", 5, 2, 2), ("conv", 3, 1, 10, 5), ("dw", 7, 1, 4), ("conv", 1, 1, 12, 4),
                ("dw", 1, 1, 2), ("maxpool", 3, 2), ("dw", 3, 1, 3), ("conv", 1, 2, 14, 2),
                ("add_const",), ("mul_self",)]
DSP_QEMU_BOARDS = [b for b in QEMU_BOARDS if get_board(b).target in ("cortex-m7", "cortex-m4", "cortex-m33")]


@pytest.mark.parametrize("board", DSP_QEMU_BOARDS)
def test_no_cliff_kernels_sweep_on_qemu(board, tmp_path, write_model):
    """Every new DSP kernel on a core, in one firmware image: the device's output equals
    TFLite's, and the host build of the same C equals TFLite layer by layer."""
    from runtime.interpreter import ReferenceModel
    from codegen.verify import verify
    model = write_model(opmodels_chain())
    b = get_board(board)
    man = generate(model, tmp_path / "gen", b.target)
    # the HWC depthwise family: its 5x5 and 7x7 two-pixel runs have their own entry points
    kernels = {re.sub(r"_hwc_[57]x[57]_", "_hwc_", l["kernel"].removesuffix("_fast")) for l in man["layers"]}
    # (the grouped layers take the direct grouped kernel now; the im2col grouped kernel's deep
    # groups are swept on these cores by tests/test_conv_dsp_sweep.py)
    assert {"mcuf_conv_grouped_direct_packed_s8_dsp", "mcuf_depthwise_conv_3x3_s8_dsp",
            "mcuf_depthwise_conv_kxk_plane_s8_dsp", "mcuf_depthwise_conv_1x1_lut_s8_dsp",
            "mcuf_maxpool_s8_dsp", "mcuf_add_s8_dsp", "mcuf_mul_s8_dsp"} <= kernels, kernels
    assert not {"mcuf_conv_s8", "mcuf_conv_1x1_s8", "mcuf_depthwise_conv_s8"} & kernels, kernels
    res = run_qemu(b, build_firmware(tmp_path / "gen", b).elf, timeout=120)
    assert res.returncode == 0, res.console
    want = ReferenceModel(model).invoke(deterministic_input(man["input"]["bytes"]))
    assert parse_bench(res.console)["output"] == want.reshape(-1).tolist()
    if board == DSP_QEMU_BOARDS[0]:
        assert verify(model, tmp_path / "host", inputs=3, kernels="dsp").ok


# 3x3 depthwise layers the generator gives the HWC kernel's unrolled 3x3 path in assembly (>= 16
# channels at stride 2 or on <= 36-pixel planes, fast output stage): a channel tail (34), stride
# 2 with odd sizes, padding on every side, and 260 channels (wider than the path's stack
# zero-point row: borders take the general C path)
DW3_SHAPE = (1, 11, 9, 3)
DW3_LAYERS = [("conv", 1, 1, 34, 1), ("dw", 3, 2, 1), ("dw", 3, 2, 1), ("dw", 3, 1, 1),
              ("conv", 1, 1, 48, 1), ("dw", 3, 1, 1), ("conv", 1, 1, 260, 1), ("dw", 3, 1, 1),
              ("dw", 3, 2, 1)]


@pytest.mark.parametrize("board", DSP_QEMU_BOARDS)
def test_depthwise_3x3_hwc_path_on_qemu(board, tmp_path, write_model):
    """The HWC depthwise kernel's unrolled 3x3 path (inside and border pixels, channel tails,
    the wide-layer fallback) on a core: the device's output equals TFLite's, and the host
    build of the same C equals TFLite layer by layer."""
    from runtime.interpreter import ReferenceModel
    from codegen.verify import verify
    import opmodels
    model = write_model(opmodels.chain_model(np.random.default_rng(31), shape=DW3_SHAPE, layers=DW3_LAYERS))
    b = get_board(board)
    man = generate(model, tmp_path / "gen", b.target)
    dws = [l["kernel"] for l in man["layers"] if l["op"] == "DEPTHWISE_CONV_2D"]
    assert dws == ["mcuf_depthwise_conv_hwc_s8_dsp_fast"] * 6, dws
    res = run_qemu(b, build_firmware(tmp_path / "gen", b).elf, timeout=120)
    assert res.returncode == 0, res.console
    want = ReferenceModel(model).invoke(deterministic_input(man["input"]["bytes"]))
    assert parse_bench(res.console)["output"] == want.reshape(-1).tolist()
    if board == DSP_QEMU_BOARDS[0]:
        assert verify(model, tmp_path / "host", inputs=3, kernels="dsp").ok


def opmodels_chain() -> bytes:
    import opmodels
    return opmodels.chain_model(np.random.default_rng(22), shape=SWEEP_SHAPE, layers=SWEEP_LAYERS)


def small_model() -> bytes:
    """A 16x16 grayscale conv / depthwise / grouped-conv net whose arena fits in a few KB."""
    import opmodels
    return opmodels.chain_model(np.random.default_rng(3), shape=(1, 16, 16, 1), layers=[
        ("conv", 3, 2, 8, 1), ("dw", 3, 1, 1), ("conv", 1, 1, 12, 1), ("dw", 3, 2, 1),
        ("conv", 1, 1, 16, 4), ("dw", 3, 1, 2), ("maxpool", 2, 2), ("add_const",), ("mul_self",)])


@pytest.mark.parametrize("board", SMALL_QEMU_BOARDS)
def test_portable_kernels_on_cortex_m0(board, tmp_path, write_model, references):
    """The portable kernels on QEMU's Cortex-M0 (micro:bit, Armv6-M): a small model's output
    equals TFLite's; a fixture that needs more RAM than the board has is refused clearly."""
    from runtime.interpreter import ReferenceModel
    b = get_board(board)
    model = write_model(small_model())
    man = generate(model, tmp_path / "gen", b.target)
    assert all(not l["kernel"].endswith(("_dsp", "_dsp_fast")) for l in man["layers"])
    fw = build_firmware(tmp_path / "gen", b)
    res = run_qemu(b, fw.elf, timeout=120)
    assert res.returncode == 0, res.console
    bench = parse_bench(res.console)
    want = ReferenceModel(model).invoke(deterministic_input(man["input"]["bytes"]))
    assert bench["output"] == want.reshape(-1).tolist()
    assert bench["unit"] == "instructions (QEMU)" and bench["time"] > man["macs"]
    generate(FIXTURES[0], tmp_path / "big", b.target)
    with pytest.raises(DoesNotFit, match="RAM by"):
        build_firmware(tmp_path / "big", b)


def test_a_slow_build_shows_progress_on_a_terminal_only(tmp_path, monkeypatch, capsys):
    """`firmware build` of a MobileNet took 18 s on this loaded machine without a word (trial5's
    find); on a terminal, after PROGRESS_AFTER seconds, it counts the sources compiled, as the
    patch search does. Piped or captured stderr stays clean."""
    import io

    import firmware_tools.build as build
    from opmodels import add_model

    class Tty(io.StringIO):
        def isatty(self):
            return True
    path = tmp_path / "add.tflite"
    path.write_bytes(add_model(np.random.default_rng(2)))
    generate(path, tmp_path / "gen", "cortex-m7")
    board = get_board("qemu-mps2-an500")
    monkeypatch.setattr(build, "PROGRESS_AFTER", 0.0)
    build_firmware(tmp_path / "gen", board, tmp_path / "piped")
    assert "compiling" not in capsys.readouterr().err
    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    build_firmware(tmp_path / "gen", board, tmp_path / "tty")
    text = tty.getvalue()
    assert re.search(r"\rcompiling for qemu-mps2-an500: 1/\d+ sources", text), text
    assert re.search(r"\rcompiled (\d+) sources for qemu-mps2-an500 in \d+ s, linking\n$", text), text
