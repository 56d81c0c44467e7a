"""The application side of the generated API (codegen/app_helpers.py): pixel conversion
checked against TFLite's own QUANTIZE, output helpers and labels against the reference,
the application-provided arena and its errors, section macros, and symbol prefixes of two
models in one image."""
import ctypes
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURE_MODELS, ROOT
from codegen.app_helpers import RANGES, AppOptions, pixel_floats, pixel_table
from codegen.pipeline import generate
from codegen.tflite_writer import ModelBuilder
from firmware_tools.host import HostModel

RGB96 = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"
LABELS = FIXTURE_MODELS / "shapes_labels.txt"
IMAGE = ROOT / "examples" / "classify_image" / "triangle.ppm"


def read_ppm(path: Path) -> np.ndarray:
    data = path.read_bytes()
    m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", data)
    w, h = int(m[1]), int(m[2])
    return np.frombuffer(data[m.end():], np.uint8).reshape(h, w, 3)


def quantize_model(scale: float, zero_point: int) -> bytes:
    """float32 [1, 256] -> QUANTIZE -> int8 with the given parameters: TFLite's own QUANTIZE."""
    mb = ModelBuilder()
    x = mb.tensor([1, 256], "float32")
    y = mb.tensor([1, 256], "int8", scale, zero_point)
    mb.op("QUANTIZE", [x], [y])
    return mb.build([x], [y])


def relu_model(scale: float, zero_point: int) -> bytes:
    """int8 [1, 4, 4, 3] with the given input quantization -> RELU: a model to emit."""
    mb = ModelBuilder()
    x = mb.tensor([1, 4, 4, 3], "int8", scale, zero_point)
    y = mb.tensor([1, 4, 4, 3], "int8", scale, zero_point)
    mb.op("RELU", [x], [y])
    return mb.build([x], [y])


# (scale, zero point, range): the fixtures' [0, 1] input, the usual [-1, 1] and raw-pixel ones,
# and odd ones that need the lookup table (and saturate).
QUANTS = [(1 / 255, -128, "0:1"), (1 / 127.5, 0, "-1:1"), (0.0078125, -1, "-1:1"), (1.0, -128, "0:255"),
          (0.0123, 5, "0:1"), (0.9, -100, "0:255"), (0.01, 3, "-1:1")]


@pytest.mark.parametrize("scale,zp,key", QUANTS)
def test_pixel_conversion_is_tflite_quantize(scale, zp, key, tmp_path, write_model):
    """<name>_quantize_pixel(p) for all 256 pixels == TFLite's QUANTIZE (reference kernels) of
    the float preprocessing the header names, and <name>_input_from_pixels writes the same."""
    from runtime.interpreter import ReferenceModel
    want = ReferenceModel(quantize_model(scale, zp)).invoke(pixel_floats(key)[None]).reshape(-1)
    assert (pixel_table(scale, zp, key) == want).all()

    generate(write_model(relu_model(scale, zp)), tmp_path / "gen", "host", app=AppOptions(input_range=key))
    header = (tmp_path / "gen" / "model.h").read_text()
    assert f"x = {RANGES[key]}" in header
    host = HostModel(tmp_path / "gen")     # kept: the C library calls its layer callback
    lib = host._lib
    lib.model_quantize_pixel.restype = ctypes.c_int8
    got = np.array([lib.model_quantize_pixel(ctypes.c_uint8(p)) for p in range(256)], np.int8)
    assert (got == want).all()
    is_offset = (want.astype(int) - np.arange(256) == int(want[0])).all()
    assert ("pixel_lut[p]" in (tmp_path / "gen" / "model.c").read_text()) == (not is_offset)

    px = np.arange(48, dtype=np.uint8) * 5
    assert lib.model_input_from_pixels(px.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint32(48)) == 0
    lib.model_input.restype = ctypes.POINTER(ctypes.c_int8)
    assert np.ctypeslib.as_array(lib.model_input(), (48,)).tolist() == want[px].tolist()


def test_auto_range_matches_the_runtime_preprocessor():
    """The range `auto` picks is the Pi runtime's (runtime/preprocess.py), and so is the table,
    except by 1 where the exact quotient is a tie: the runtime computes in float64, TFLite's
    QUANTIZE in float32 (for scale 1/127.5, half the pixels: p - 127.5 exactly)."""
    from codegen.app_helpers import pixel_range
    from runtime.preprocess import InputSpec, pixel_table as runtime_table, resolve_range
    for scale, zp, _ in QUANTS:
        # a .tflite stores the scale as float32: the runtime reads that value
        spec = InputSpec(0, 4, 4, 3, np.dtype(np.int8), float(np.float32(scale)), zp)
        lo, hi = resolve_range(spec)
        key = pixel_range(scale, zp)
        assert key == f"{lo:g}:{hi:g}"
        ours, theirs = pixel_table(scale, zp, key), runtime_table(spec, lo, hi)
        exact = (lo + np.arange(256) * (hi - lo) / 255) / spec.scale
        differ = ours != theirs
        assert (np.abs(ours.astype(int) - theirs) <= 1).all()
        assert (np.abs(np.abs(exact[differ]) % 1 - 0.5) < 1e-4).all()


@pytest.mark.parametrize("scale", [1e-30, 1e-40, 1e-45])
def test_pixel_table_saturates_for_absurd_input_scales(scale):
    """A scale whose quotient leaves int32 (1e-30; 1e-45 is subnormal, the quotient inf) warned
    'invalid value encountered in cast' and put -128 at every bright pixel of a [0, 1] input
    (the undefined cast's INT32_MIN): it saturates towards the sign now, with no warning, and
    equals the Pi runtime's table (float64, where the quotient stays finite)."""
    import warnings
    from runtime.preprocess import InputSpec, pixel_table as runtime_table
    spec = InputSpec(0, 4, 4, 3, np.dtype(np.int8), scale, 5)
    for key, (lo, hi) in (("0:1", (0.0, 1.0)), ("-1:1", (-1.0, 1.0)), ("0:255", (0.0, 255.0))):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = pixel_table(scale, 5, key)
        want = np.sign(pixel_floats(key).astype(np.float64))
        want = np.where(want > 0, 127, np.where(want < 0, -128, 5))
        assert table.tolist() == want.tolist(), key
        assert table.tolist() == runtime_table(spec, lo, hi).tolist(), key


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """The shapes classifier emitted with labels, built for the host; the image's reference."""
    from runtime.interpreter import ReferenceModel
    from runtime.preprocess import Preprocessor, input_spec
    gen = tmp_path_factory.mktemp("shapes") / "gen"
    labels = LABELS.read_text().split()
    generate(RGB96, gen, "host", name="shapes", app=AppOptions(labels=labels))
    ref = ReferenceModel(RGB96)
    px = read_ppm(IMAGE)
    x = Preprocessor(input_spec(ref.input))(px)
    return HostModel(gen, name="shapes"), px, ref.invoke(x).reshape(-1), labels, ref.output


def test_helpers_on_the_host(shapes):
    model, px, want, labels, out_details = shapes
    lib = model._lib
    flat = np.ascontiguousarray(px.reshape(-1))
    assert lib.shapes_input_from_pixels(flat.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint32(flat.size)) == 0
    assert lib.shapes_invoke() == 0
    lib.shapes_output.restype = ctypes.POINTER(ctypes.c_int8)
    got = np.ctypeslib.as_array(lib.shapes_output(), (4,)).copy()
    assert got.tolist() == want.tolist()                   # bit-exact with TFLite, from pixels

    assert lib.shapes_top1() == int(np.argmax(want)) == labels.index("triangle")
    order = sorted(range(4), key=lambda i: (-int(want[i]), i))
    idx = (ctypes.c_int * 4)(-1, -1, -1, -1)
    for k in (1, 2, 4, 9):
        n = lib.shapes_top_k(k, idx)
        assert n == min(k, 4) and list(idx)[:n] == order[:n]
    assert lib.shapes_top_k(0, idx) == 0 and lib.shapes_top_k(2, None) == 0

    lib.shapes_output_float.restype = ctypes.c_float
    scale, zp = out_details["quantization"]
    for i in range(4):
        assert lib.shapes_output_float(i) == np.float32(scale) * np.float32(int(want[i]) - zp)
    assert lib.shapes_output_float(-1) == 0.0 and lib.shapes_output_float(4) == 0.0

    lib.shapes_label.restype = ctypes.c_char_p
    assert [lib.shapes_label(i).decode() for i in range(4)] == labels
    assert lib.shapes_label(-1) is None and lib.shapes_label(4) is None

    # bad arguments are refused, nothing written
    assert lib.shapes_input_from_pixels(flat.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint32(flat.size - 1)) == -4
    assert lib.shapes_input_from_pixels(None, ctypes.c_uint32(flat.size)) == -4
    # a static arena: init(0, 0) is a no-op, anything else an error
    assert lib.shapes_init(None, ctypes.c_size_t(0)) == 0
    assert lib.shapes_init(flat.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(flat.size)) == -4


def test_external_arena(tmp_path):
    """--arena external: nothing runs before <name>_init(); init refuses null, short and
    misaligned buffers; then the output is bit-exact with the arena anywhere in memory."""
    from runtime.interpreter import ReferenceModel
    from codegen.verify import deterministic_input
    man = generate(RGB96, tmp_path / "gen", "host", app=AppOptions(arena_external=True))
    header = (tmp_path / "gen" / "model.h").read_text()
    assert "#define MODEL_ARENA_EXTERNAL 1" in header
    # the header's word on model_invoke() (it said "Returns 0." whatever the arena)
    doc = header[:header.index("int model_invoke(void);")].rsplit("/*", 1)[1]
    assert "MODEL_ERR_NO_ARENA" in doc and "model_init()" in doc, doc
    assert man["arena_external"] and man["arena_align"] == 16
    model = HostModel(tmp_path / "gen")
    lib = model._lib
    size = man["arena_bytes"]
    assert lib.model_invoke() == -1 and lib.model_invoke_until(3) == -1
    assert not model._input() and not model._output() and lib.model_top1() == -1
    raw = ctypes.create_string_buffer(size + 64)
    base = (ctypes.addressof(raw) + 15) // 16 * 16
    assert lib.model_init(None, ctypes.c_size_t(size)) == -1
    assert lib.model_init(ctypes.c_void_p(base), ctypes.c_size_t(size - 1)) == -2
    assert lib.model_init(ctypes.c_void_p(base + 4), ctypes.c_size_t(size)) == -3
    assert not model._input()
    from firmware_tools.boards import get_board
    from firmware_tools.build import FirmwareBuildError, build_firmware
    with pytest.raises(FirmwareBuildError, match="emitted with --arena external"):
        build_firmware(tmp_path / "gen", get_board("qemu-mps2-an500"))   # the bench has no arena to give
    ref = ReferenceModel(RGB96)
    x = deterministic_input(man["input"]["bytes"])
    for offset in (0, 48):            # two placements: the model works wherever its arena is
        assert lib.model_init(ctypes.c_void_p(base + offset), ctypes.c_size_t(size)) == 0
        assert ctypes.cast(model._input(), ctypes.c_void_p).value == base + offset + man["input"]["offset"]
        assert model.invoke(x).reshape(-1).tolist() == ref.invoke(x).reshape(-1).tolist()


def _arm_object(gen: Path, name: str, defines: list[str], out: Path) -> Path:
    from codegen.targets import get_target
    cmd = ["arm-none-eabi-gcc", *get_target("cortex-m7").cflags, "-O2", "-std=c99", "-Wall", "-Wextra",
           "-Werror", "-ffunction-sections", "-fdata-sections", *[f"-D{d}" for d in defines],
           f"-I{gen}", f"-I{gen / 'mcuf' / 'include'}", "-c", str(gen / f"{name}.c"), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


def _section_sizes(obj: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True, text=True, check=True).stdout
    sizes: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = sizes.get(parts[0], 0) + int(parts[1])
    return sizes


def test_section_macros_place_weights_and_arena(tmp_path):
    """<NAME>_WEIGHTS_SECTION / <NAME>_ARENA_SECTION (or the MCUF_ fallbacks) move every constant
    array and the arena into the named sections; without them nothing is in such sections."""
    man = generate(RGB96, tmp_path / "gen", "cortex-m7")
    plain = _section_sizes(_arm_object(tmp_path / "gen", "model", [], tmp_path / "plain.o"))
    placed = _section_sizes(_arm_object(tmp_path / "gen", "model", [
        'MODEL_WEIGHTS_SECTION=__attribute__((section(".qspi_weights")))',
        'MODEL_ARENA_SECTION=__attribute__((section(".dtcm_arena")))'], tmp_path / "placed.o"))
    shared = _section_sizes(_arm_object(tmp_path / "gen", "model", [
        'MCUF_WEIGHTS_SECTION=__attribute__((section(".qspi_weights")))',
        'MCUF_ARENA_SECTION=__attribute__((section(".dtcm_arena")))'], tmp_path / "shared.o"))
    assert ".qspi_weights" not in plain and ".dtcm_arena" not in plain
    for s in (placed, shared):
        assert s[".dtcm_arena"] == man["arena_bytes"]
        # every weight, bias and requantization array: the manifest's weight bytes less the
        # per-layer parameter structs, which stay in .rodata
        assert 0.99 * man["weight_bytes"] < s[".qspi_weights"] <= man["weight_bytes"]
        assert s[".qspi_weights"] + sum(v for k, v in s.items() if k.startswith(".rodata")) == \
            sum(v for k, v in plain.items() if k.startswith(".rodata"))


def test_two_models_prefix_every_public_symbol(tmp_path):
    """Two models emitted into one folder: every global symbol a model defines starts with its
    --name, both share one identical kernel library copy, and the objects link together."""
    from codegen.targets import get_target
    gen = tmp_path / "gen"
    generate(RGB96, gen, "cortex-m7", name="net_a", app=AppOptions(arena_external=True))
    kernels_a = {f.name: f.read_bytes() for f in (gen / "mcuf").rglob("*") if f.is_file()}
    generate(FIXTURE_MODELS / "mobilenet_v2_a035_96_rgb.tflite", gen, "cortex-m7", name="net_b",
             app=AppOptions(arena_external=True))
    assert kernels_a == {f.name: f.read_bytes() for f in (gen / "mcuf").rglob("*") if f.is_file()}
    objs = []
    for name in ("net_a", "net_b"):
        obj = _arm_object(gen, name, [], tmp_path / f"{name}.o")
        syms = subprocess.run(["arm-none-eabi-nm", "-g", "--defined-only", str(obj)],
                              capture_output=True, text=True, check=True).stdout.split("\n")
        names = [line.split()[-1] for line in syms if line.strip()]
        assert names and all(n.startswith(f"{name}_") for n in names), names
        objs.append(obj)
    # a relocatable link of both models and one copy of the kernels: no duplicate symbols
    kobjs = []
    for src in sorted((gen / "mcuf" / "src").glob("*.c")):
        o = tmp_path / f"k_{src.stem}.o"
        subprocess.run(["arm-none-eabi-gcc", *get_target("cortex-m7").cflags, "-O2", "-std=c99",
                        f"-I{gen / 'mcuf' / 'include'}", "-c", str(src), "-o", str(o)], check=True)
        kobjs.append(o)
    r = subprocess.run(["arm-none-eabi-ld", "-r", *map(str, objs + kobjs), "-o", str(tmp_path / "all.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _emit(*args):
    return subprocess.run([sys.executable, "-m", "codegen.cli", "emit", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_labels_option(tmp_path):
    odd = tmp_path / "odd.txt"
    odd.write_text('a "quoted" one\nback\\slash\nnaïve ??=\nlast\n\n', encoding="utf-8")
    r = _emit("--target", "host", "--labels", odd, "--name", "odd", RGB96, "-o", tmp_path / "gen")
    assert r.returncode == 0, r.stderr
    model = HostModel(tmp_path / "gen", name="odd")
    model._lib.odd_label.restype = ctypes.c_char_p
    assert [model._lib.odd_label(i).decode() for i in range(4)] == \
        ['a "quoted" one', "back\\slash", "naïve ??=", "last"]
    short = tmp_path / "short.txt"
    short.write_text("circle\nsquare\ntriangle\n")
    gap = tmp_path / "gap.txt"   # an interior blank line is a class (positions kept, as the runtime reads it)
    gap.write_text("circle\n\nsquare\ntriangle\nstar\n")
    nul = tmp_path / "nul.txt"
    nul.write_text("circle\nsq\0uare\ntriangle\nstar\n")
    for bad, msg in ((short, "3 labels for a model whose output [1, 4] has 4 classes"),
                     (gap, "5 labels for a model whose output [1, 4] has 4 classes"),
                     (nul, "label 1 holds a NUL byte"),
                     (tmp_path / "missing.txt", "cannot read it"),
                     (tmp_path, "is a folder")):     # was "(IsADirectoryError: ... Is a directory: 3)"
        r = _emit("--target", "host", "--labels", bad, RGB96, "-o", tmp_path / "bad")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr, r.stderr


def test_per_model_layer_hook_takes_precedence(tmp_path):
    """-D<NAME>_LAYER_HOOK=fn hooks one model even when MCUF_LAYER_HOOK names another function,
    which is then never referenced; MCUF_LAYER_HOOK alone still works as before."""
    generate(RGB96, tmp_path / "gen", "host", name="net")

    def undefined(*defines):
        obj = tmp_path / "net.o"
        subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", *[f"-D{d}" for d in defines],
                        f"-I{tmp_path / 'gen'}", f"-I{tmp_path / 'gen' / 'mcuf' / 'include'}", "-c",
                        str(tmp_path / "gen" / "net.c"), "-o", str(obj)], check=True)
        out = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True, check=True).stdout
        return {line.split()[-1] for line in out.splitlines() if line.strip()}
    assert {"model_hook", "any_hook"} & undefined() == set()
    assert "any_hook" in undefined("MCUF_LAYER_HOOK=any_hook")
    both = undefined("NET_LAYER_HOOK=model_hook", "MCUF_LAYER_HOOK=any_hook")
    assert "model_hook" in both and "any_hook" not in both


def test_helpers_on_a_legacy_uint8_model(tmp_path):
    """A legacy uint8 model (codegen/legacy_uint8.py) keeps uint8 input and output bytes: the
    pixel helper writes TFLite's float32 QUANTIZE to uint8, the output helpers read uint8;
    bit-exact with TFLite's uint8 reference kernels on the Pi runtime's preprocessing."""
    from runtime.interpreter import ReferenceModel
    from runtime.preprocess import Preprocessor, input_spec
    model = FIXTURE_MODELS.parent / "legacy" / "legacy_uint8_mobilenet_v1_a025_64.tflite"
    man = generate(model, tmp_path / "gen", "host")
    i, o = man["input"], man["output"]
    assert i["dtype"] == o["dtype"] == "uint8" and man["input_range"] == "-1:1"
    want_table = ReferenceModel(quantize_model_u8(i["scale"], i["zero_point"])).invoke(
        pixel_floats("-1:1")[None]).reshape(-1)
    host = HostModel(tmp_path / "gen")     # kept: the C library calls its layer callback
    lib = host._lib
    lib.model_quantize_pixel.restype = ctypes.c_uint8
    assert [lib.model_quantize_pixel(ctypes.c_uint8(p)) for p in range(256)] == want_table.tolist()

    ref = ReferenceModel(model)
    px = read_ppm(IMAGE)[16:80, 16:80]                  # a 64x64 crop of the bundled image
    want = ref.invoke(Preprocessor(input_spec(ref.input))(px)).reshape(-1)
    flat = np.ascontiguousarray(px.reshape(-1))
    assert lib.model_input_from_pixels(flat.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint32(flat.size)) == 0
    assert lib.model_invoke() == 0
    lib.model_output.restype = ctypes.POINTER(ctypes.c_uint8)
    got = np.ctypeslib.as_array(lib.model_output(), (o["bytes"],)).copy()
    assert got.tolist() == want.tolist()
    assert lib.model_top1() == int(np.argmax(want))
    idx = (ctypes.c_int * 4)()
    assert lib.model_top_k(4, idx) == 4 and list(idx) == sorted(range(4), key=lambda k: (-int(want[k]), k))
    lib.model_output_float.restype = ctypes.c_float
    assert [lib.model_output_float(k) for k in range(4)] == \
        [np.float32(o["scale"]) * np.float32(int(v) - o["zero_point"]) for v in want]


def quantize_model_u8(scale: float, zero_point: int) -> bytes:
    """float32 [1, 256] -> QUANTIZE -> uint8: TFLite's own QUANTIZE to a legacy uint8 input."""
    mb = ModelBuilder()
    x = mb.tensor([1, 256], "float32")
    y = mb.tensor([1, 256], "uint8", scale, zero_point)
    mb.op("QUANTIZE", [x], [y])
    return mb.build([x], [y])


def test_header_shape_comment_says_what_the_shape_macros_say(tmp_path, write_model):
    # was: "output shape [1, 4] (NHWC)" right above MODEL_OUTPUT_SHAPE {1, 1, 1, 4}
    from opmodels import fully_connected_model
    generate(write_model(fully_connected_model(np.random.default_rng(0), batches=1, in_depth=10, out_depth=4,
                                               per_channel=False)), tmp_path / "gen", "host")
    h = (tmp_path / "gen" / "model.h").read_text()
    comment = re.search(r"/\* Input shape (\[[\d, ]+\]), output shape (\[[\d, ]+\]) \(NHWC(.*)\)\. \*/", h)
    macros = [re.search(rf"#define MODEL_{io}_SHAPE \{{([\d, ]+)\}}", h).group(1) for io in ("INPUT", "OUTPUT")]
    assert comment and [comment.group(1), comment.group(2)] == [f"[{m}]" for m in macros], h
    assert macros == ["1, 1, 1, 10", "1, 1, 1, 4"]
    assert "the model's input is [1, 10] and output is [1, 4], padded with leading 1s" in comment.group(3)
    assert "/* output 0: 't3', shape [1, 1, 1, 4] (the model's [1, 4]), int8 */\n" in h    # beside MODEL_OUTPUT_0_SHAPE


def test_shape_macros_of_a_5d_edge_fold_its_leading_dimensions(tmp_path, write_model):
    """A rank-5 graph input/output: the 4 SHAPE entries multiply to its size (the leading
    dimensions folded into the first; they kept only the last 4, attack6), and the comment says so."""
    from opmodels import mean_model
    generate(write_model(mean_model(np.random.default_rng(1), keep_dims=True, same_quant=True, shape=(2, 3, 4, 5, 6),
                                    axes=(-2,), op="REDUCE_MAX")), tmp_path / "gen", "host")
    h = (tmp_path / "gen" / "model.h").read_text()
    macros = [re.search(rf"#define MODEL_{io}_SHAPE \{{([\d, ]+)\}}", h).group(1) for io in ("INPUT", "OUTPUT")]
    assert macros == ["6, 4, 5, 6", "6, 4, 1, 6"], macros
    assert "its leading dimensions multiplied into the first" in h
