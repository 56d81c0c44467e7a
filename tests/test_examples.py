"""examples/classify_image: the generated library in an application built with CMake, on QEMU's
Cortex-M7. Two models in one firmware share one arena: both bit-exact with TFLite's reference on
the bundled image (through the pixel helper), the right label printed, and the firmware's RAM
holds the larger arena, not the sum."""
import re
import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURE_MODELS, ROOT
from firmware_tools.boards import get_board
from firmware_tools.qemu import run_qemu
from firmware_tools.size import size_report

EXAMPLE = ROOT / "examples" / "classify_image"
MODELS = {"shapes_v1": FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite",
          "shapes_v2": FIXTURE_MODELS / "mobilenet_v2_a035_96_rgb.tflite"}

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed (make setup)")


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert r.returncode == 0, f"{cmd}\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """Both models emitted into one folder by the CLI; the example built twice with CMake:
    with both models and with shapes_v1 alone."""
    tmp = tmp_path_factory.mktemp("example")
    out = tmp / "out"
    for name, model in MODELS.items():
        _run([sys.executable, "-m", "codegen.cli", "emit", "--target", "cortex-m7", "--name", name,
              "--arena", "external", "--labels", FIXTURE_MODELS / "shapes_labels.txt", model, "-o", out])
    elfs = {}
    for key, options in (("ON", ["-DCLASSIFY_TWO_MODELS=ON"]), ("OFF", ["-DCLASSIFY_TWO_MODELS=OFF"]),
                         ("PLACED", ["-DCLASSIFY_TWO_MODELS=ON", "-DCLASSIFY_PLACED=ON"])):
        build = tmp / f"build-{key}"
        _run(["cmake", "-S", EXAMPLE, "-B", build, f"-DMCUF_GENERATED={out}", *options,
              f"-DCMAKE_TOOLCHAIN_FILE={EXAMPLE / 'cortex-m7.cmake'}"])
        _run(["cmake", "--build", build, "-j2"])
        elfs[key] = build / "classify_image.elf"
    return out, elfs


def _reference(model):
    """TFLite's reference output for the bundled image, preprocessed by the Pi runtime."""
    import numpy as np
    from runtime.interpreter import ReferenceModel
    from runtime.preprocess import Preprocessor, input_spec
    data = (EXAMPLE / "triangle.ppm").read_bytes()
    m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", data)
    px = np.frombuffer(data[m.end():], np.uint8).reshape(int(m[2]), int(m[1]), 3)
    ref = ReferenceModel(model)
    return ref.invoke(Preprocessor(input_spec(ref.input))(px)).reshape(-1).tolist()


def test_two_models_share_one_arena_on_qemu(example):
    import json
    out, elfs = example
    board = get_board("qemu-mps2-an500")
    res = run_qemu(board, elfs["ON"], timeout=120)
    assert res.returncode == 0, res.console
    labels = (FIXTURE_MODELS / "shapes_labels.txt").read_text().split()
    arenas = {}
    for name, model in MODELS.items():
        man = json.loads((out / f"{name}.json").read_text())
        arenas[name] = man["arena_bytes"]
        got = re.search(rf"^{name} output: (.*)$", res.console, re.M)
        assert got, res.console
        want = _reference(model)
        assert [int(v) for v in got[1].split()] == want                 # bit-exact on the M7
        top = re.search(rf"^{name} top-1: (\w+) \((\d)\) score ([\d.]+) next: \w+ [\d.]+ "
                        r"time (\d+) instructions \(QEMU\)$", res.console, re.M)
        assert top, res.console
        best = max(range(4), key=lambda i: (want[i], -i))
        assert top[1] == labels[best] == "triangle" and int(top[2]) == best
        assert abs(float(top[3]) - man["output"]["scale"] * (want[best] - man["output"]["zero_point"])) < 6e-4
        assert int(top[4]) > man["macs"]                               # instructions of one inference
    assert res.console.rstrip().endswith("done")

    both, alone = size_report(elfs["ON"], board), size_report(elfs["OFF"], board)
    assert f"arena={max(arenas.values())} models=2" in res.console
    assert both.arena == max(arenas.values()) < sum(arenas.values())     # the larger, not the sum
    assert alone.arena == arenas["shapes_v1"]
    # the second model adds its weights to flash, and to RAM only its 4-byte arena pointer
    assert both.ram - alone.ram == arenas["shapes_v2"] - arenas["shapes_v1"] + 4
    assert both.other_ram - alone.other_ram == 4


def test_one_model_alone_on_qemu(example):
    _, elfs = example
    res = run_qemu(get_board("qemu-mps2-an500"), elfs["OFF"], timeout=120)
    assert res.returncode == 0, res.console
    assert "shapes_v1 top-1: triangle (2)" in res.console and "shapes_v2" not in res.console
    assert [int(v) for v in re.search(r"^shapes_v1 output: (.*)$", res.console, re.M)[1].split()] == \
        _reference(MODELS["shapes_v1"])


def test_placed_arena_and_weights_on_qemu(example):
    """CLASSIFY_PLACED: MCUF_WEIGHTS_SECTION puts every model array in .model_weights and the
    application's arena attribute puts the arena in QEMU's PSRAM (mps2-an500-placed.ld): the
    same output bytes, and the size report counts the arena outside the board's RAM."""
    _, elfs = example
    board = get_board("qemu-mps2-an500")
    placed = run_qemu(board, elfs["PLACED"], timeout=120)
    plain = run_qemu(board, elfs["ON"], timeout=120)
    assert placed.returncode == 0 and placed.console == plain.console, placed.console
    rep, ref = size_report(elfs["PLACED"], board), size_report(elfs["ON"], board)
    where = {name: (addr, size, region) for name, addr, size, region in rep.placed}
    assert where[".psram_arena"] == (0x60000000, ref.arena, "outside")
    assert where[".model_weights"][2] == "flash" and rep.weights_placed == where[".model_weights"][1]
    assert 0.99 * ref.weights < rep.weights_placed < ref.weights      # all but the params structs
    assert rep.arena == rep.arena_placed == ref.arena and rep.flash == ref.flash
    assert rep.ram == ref.ram - ref.arena
    assert "(outside the board's flash and RAM)" in rep.render()


def test_readme_example_block_is_what_the_firmware_prints(example):
    """README's classify_image walk-through is pasted, not scripted: it had gone stale (arena
    140,656 B, 11,667,960 and 20,587,440 instructions, weights 228.1 KiB, where the firmware now
    prints 138,288 B, 9,349,400 and 15,473,000). Its console lines and the arena figures of its
    two `firmware size` blocks must be what this build prints (instruction counts are exact)."""
    out, elfs = example
    board = get_board("qemu-mps2-an500")
    res = run_qemu(board, elfs["ON"], timeout=120)
    readme = (ROOT / "README.md").read_text()
    block = readme.split("$ firmware run --board qemu-mps2-an500 build/classify/classify_image.elf\n", 1)[1]
    block = block.split("\ndone\n", 1)[0].splitlines()
    console = [l for l in res.console.splitlines() if l.startswith(("classify_image ", "shapes_v"))]
    assert block == console, (block, console)
    both = size_report(elfs["ON"], board)
    for elf in ("build/classify/classify_image.elf", "build/placed/classify_image.elf"):
        size = readme.split(f"$ firmware size --board qemu-mps2-an500 {elf}\n", 1)[1].split("```", 1)[0]
        assert re.search(rf"^    arena +{both.arena:,} B$", size, re.M), size
        assert re.search(rf"^    \.psram_arena +{both.arena:,} B", size, re.M) or "classify/" in elf, size


def test_readme_example_figures_are_what_the_build_gives(example, tmp_path):
    """The walk-through's other figures were stale too (trial5's find: emit's 'weights 267.4
    KiB' where it prints 286.3, flash 961,264 B where `firmware size` says 1,030,692, the placed
    weights 904,296 B at 0x0000de90, '633,716 B of weights' for the second model): every line of
    its `firmware size` blocks must be a line of the report, its emit summary what emit prints
    (wall time aside), and the prose's RAM and flash differences what the two builds give."""
    _, elfs = example
    board = get_board("qemu-mps2-an500")
    readme = (ROOT / "README.md").read_text()
    for key, elf in (("ON", "build/classify/classify_image.elf"), ("PLACED", "build/placed/classify_image.elf")):
        shown = readme.split(f"$ firmware size --board qemu-mps2-an500 {elf}\n", 1)[1].split("```", 1)[0]
        report = size_report(elfs[key], board).render().splitlines()
        for line in shown.splitlines():
            assert line.strip() == "..." or line in report, (line, report)
    cmd = "$ codegen emit --target cortex-m7 --name shapes_v1 --arena external \\\n"
    shown = readme.split(cmd, 1)[1].split("\n$ ", 1)[0].splitlines()[1:]
    emitted = _run([sys.executable, "-m", "codegen.cli", "emit", "--target", "cortex-m7", "--name", "shapes_v1",
                    "--arena", "external", "--labels", FIXTURE_MODELS / "shapes_labels.txt", MODELS["shapes_v1"],
                    "-o", "out/"], cwd=tmp_path).stdout.splitlines()
    timeless = [re.sub(r" in \d+\.\d+ s$", "", ln) for ln in emitted]
    assert [re.sub(r" in \d+\.\d+ s$", "", ln) for ln in shown] == timeless, (shown, emitted)
    both, alone = size_report(elfs["ON"], board), size_report(elfs["OFF"], board)
    prose = " ".join(readme.split())
    assert f"needs {alone.ram:,} B of RAM" in prose
    assert f"the second model adds {both.ram - alone.ram:,} B of RAM" in prose
    assert f"its {both.weights - alone.weights:,} B of weights and constants to flash" in prose
