"""`runtime classify` / `runtime hil validate` with the inputs users get wrong: a --source with
a negative or non-numeric seed or camera number, a source kind without its argument, an
unknown source, a labels file that is not text, a negative --seed (`hil validate`, and
`codegen verify` beside it). One line naming the problem, exit code 2, never a traceback (a
negative seed reached numpy, a non-numeric camera number int(), a binary labels file the UTF-8
decoder: tracebacks all)."""
import subprocess
import sys

import warnings

import pytest

from conftest import FIXTURE_MODELS, ROOT
from runtime.classifier import LabelsError, read_labels
from runtime.frames import SourceError, open_source

MODEL = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"


@pytest.mark.parametrize("spec, words", [
    ("synthetic:-1", ["synthetic:-1", "seed", "0 or more"]),
    ("synthetic:x", ["synthetic:x", "seed"]),
    ("usb:abc", ["usb:abc", "camera number"]),
    ("usb:-2", ["usb:-2", "camera number"]),
    # attack5: OpenCV's TypeError traceback ("Python int too large to convert to C long")
    ("usb:99999999999999999999", ["usb:99999999999999999999", "at most 2,147,483,647"]),
    ("picamera2:x", ["picamera2:x", "camera number"]),
    ("images:", ["images:", "folder"]),
    ("video:", ["video:", "file"]),
    ("webcam", ["unknown source 'webcam'", "synthetic[:SEED]", "usb:N"]),
])
def test_bad_sources_are_one_line(spec, words):
    with pytest.raises(SourceError) as e:
        open_source(spec)
    msg = str(e.value)
    assert "\n" not in msg, msg
    for w in words:
        assert w in msg, msg


def test_synthetic_seed_zero_and_positive_still_open():
    assert open_source("synthetic").seed == 0
    assert open_source("synthetic:5").seed == 5


def test_binary_labels_file(tmp_path):
    bad = tmp_path / "labels.bin"
    bad.write_bytes(bytes(range(256)))
    with pytest.raises(LabelsError, match="not UTF-8 text"):
        read_labels(bad)


def run(*args):
    return subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def one_line_error(r, *words):
    assert r.returncode == 2, (r.stdout, r.stderr)
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("runtime")]
    assert "Traceback" not in r.stderr and len(errs) == 1, r.stderr
    for w in words:
        assert w in errs[0], r.stderr


def test_classify_cli_bad_seed_and_labels(tmp_path):
    one_line_error(run("classify", "--model", MODEL, "--source", "synthetic:-1", "--frames", 1), "synthetic:-1")
    bad = tmp_path / "labels.bin"
    bad.write_bytes(b"\xd9\xff\x00\x80" * 16)
    one_line_error(run("classify", "--model", MODEL, "--labels", bad, "--source", "synthetic", "--frames", 1),
                   "not UTF-8 text")


def test_negative_seed_is_one_line_not_numpys_traceback():
    from runtime.hil.link import HilError
    from runtime.hil.validate import validate
    with pytest.raises(HilError, match="--seed -1: give a seed of 0 or more"):
        validate(None, MODEL, inputs=1, seed=-1)        # refused before the link is used
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "verify", "--seed", "-1", "--inputs", "1", MODEL],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.strip() == "codegen: error: --seed -1: give a seed of 0 or more", r.stderr


def test_absurd_thread_count_is_refused_before_any_thread_starts():
    """--threads 99999 made the interpreter start 99999 threads: the host ran out, the pipeline
    could not start its own (a RuntimeError traceback), and the process crashed (SIGSEGV)."""
    r = run("classify", "--model", MODEL, "--source", "synthetic", "--frames", 1, "--threads", 99999)
    one_line_error(r, "--threads 99999", "at most 64")


def test_a_file_where_a_folder_or_source_is_expected_names_the_fix(tmp_path):
    """images:FILE said 'no such folder' (it is there: a file), a bare file path 'unknown source',
    a video OpenCV cannot decode 'cannot open video X with OpenCV' with no fix: each now names what
    the path is and what to give instead."""
    f = tmp_path / "notes.txt"
    f.write_text("hello\n")
    for spec, words in [(f"images:{f}", ["is a file, not a folder", f"images:{tmp_path}/"]),
                        (f"images:{tmp_path / 'nope'}", ["no such folder", "give a folder of images"]),
                        (str(f), ["is a file", "images:DIR", f"video:{f}"])]:
        with pytest.raises(SourceError) as e:
            open_source(spec)
        assert "\n" not in str(e.value) and all(w in str(e.value) for w in words), str(e.value)
    pytest.importorskip("cv2")
    with pytest.raises(SourceError) as e:
        open_source(f"video:{f}")
    assert "OpenCV cannot decode it" in str(e.value) and "ffmpeg -i" in str(e.value), str(e.value)


def test_hil_validate_images_errors_name_the_option_given(tmp_path):
    """`hil validate --images X` said 'images:X: no such folder' (classify's --source spelling,
    which the user never typed); each line now names --images as given."""
    from runtime.hil.validate import load_images
    f = tmp_path / "notes.txt"
    f.write_text("hello\n")
    for folder, words in [(tmp_path / "nope", [f"--images {tmp_path / 'nope'}: no such folder"]),
                          (f, [f"--images {f} is a file, not a folder", f"--images {tmp_path}/"]),
                          (tmp_path, [f"--images {tmp_path}: no images found"])]:
        with pytest.raises(SourceError) as e:
            load_images(MODEL, folder)
        assert "\n" not in str(e.value) and "images:" not in str(e.value), str(e.value)
        assert all(w in str(e.value) for w in words), str(e.value)


def test_hil_validate_images_are_read_as_used_not_held(tmp_path):
    """`hil validate --images` held every preprocessed tensor at once (1.5 GB for 10,000
    224x224 images; attack8's find): ImageInputs now reads a file when its turn comes, each
    pass afresh, --inputs N reads only N; unreadable files are listed as met, and the text
    report names at most SKIPPED_SHOWN of them."""
    import shutil

    import numpy as np

    from runtime.frames import SKIPPED_SHOWN
    from runtime.hil.validate import ImageInputs, ValidationReport, load_images
    folder = tmp_path / "imgs"
    shutil.copytree(ROOT / "tests" / "fixtures" / "images" / "shapes", folder)
    (folder / "circle" / "00_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    images = load_images(MODEL, folder, FIXTURE_MODELS / "shapes_labels.txt", limit=3)
    assert isinstance(images, ImageInputs) and not hasattr(images, "items")
    calls = []
    pre = images._pre
    images._pre = lambda px: calls.append(1) or pre(px)
    items, skipped = images.read()
    got = list(items)
    assert len(got) == 3 and len(calls) == 3 and images.count == 3 and images.files == 13
    assert [s[0] for s in skipped] == ["circle/00_broken.png"]
    name, x, truth = got[0]
    assert name == "circle/00.png" and x.dtype == np.int8 and x.size == 96 * 96 * 3 and truth == 0
    assert [n for n, _, _ in images] == [n for n, _, _ in got]     # a second pass, the same files
    rep = ValidationReport("b", "m", "u", skipped=[(f"f{i}.png", "bad") for i in range(SKIPPED_SHOWN + 5)])
    line = [ln for ln in rep.render().splitlines() if "skipped" in ln][0]
    assert line.startswith(f"{SKIPPED_SHOWN + 5} unreadable image files skipped: f0.png, ")
    assert f"f{SKIPPED_SHOWN - 1}.png, and 5 more (--json lists every one)" in line
    assert len(rep.as_dict()["skipped"]) == SKIPPED_SHOWN + 5


def test_a_folder_for_the_model_or_labels_says_what_to_give(tmp_path):
    """`classify --model DIR` said 'no such model file' of a folder that is there, `--labels DIR`
    'Is a directory' with no fix."""
    r = run("classify", "--model", tmp_path, "--source", "synthetic", "--frames", "1")
    one_line_error(r, f"{tmp_path} is a folder, not a model file", "give --model the .tflite file")
    r = run("classify", "--model", MODEL, "--source", "synthetic", "--frames", "1", "--labels", tmp_path)
    one_line_error(r, f"labels file {tmp_path}: Is a directory", "one label per line")


# --- found by the `attack4` review: hostile image, video and labels files ---

def _png_header(w, h):
    """A PNG whose IHDR promises w x h RGB pixels and whose data is empty (a header-only bomb)."""
    import struct
    import zlib

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def _npy_header(shape):
    import struct
    hdr = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {shape}, }}"
    hdr = hdr.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + bytes(100)


@pytest.mark.parametrize("name, data, why", [
    # was: PIL.Image.DecompressionBombError traceback (not an OSError)
    ("bomb.png", _png_header(100_000, 100_000), "exceeds limit of 178956970 pixels"),
    # between Pillow's warning and error limits: decoded, 2 GB for a 60 KB file
    ("bomb2.png", _png_header(12_000, 12_000), "12000 x 12000 pixels is over 89,478,485"),
    # was: numpy _ArrayMemoryError traceback (27.9 GiB for a 220-byte file)
    ("huge.npy", _npy_header((100000, 100000, 3)), "not a readable .npy"),
    ("empty.npy", None, "0 x 0 pixels has nothing to classify"),   # was: classified
    ("two.npy", None, "(H, W, 1) or (H, W, 3)"),     # was: a fatal error for the whole folder
    ("float.tif", None, "floating-point pixels have no standard 0..255 range"),   # was: saturated
])
def test_hostile_image_files_are_skipped_with_the_reason(tmp_path, name, data, why):
    import numpy as np
    from PIL import Image
    from runtime.frames import load_image
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    elif name == "empty.npy":
        np.save(path, np.zeros((0, 0, 3), np.uint8))
    elif name == "two.npy":
        np.save(path, np.zeros((4, 4, 2), np.uint8))
    else:
        Image.fromarray(np.full((4, 4), 1000.0, np.float32)).save(path)
    with pytest.raises(SourceError) as e, warnings.catch_warnings():
        warnings.simplefilter("error")      # and no warning on the way (Pillow's bomb warning was one)
        load_image(path)
    assert why in str(e.value) and "\n" not in str(e.value)


def test_16_bit_greyscale_keeps_its_range(tmp_path):
    # was: convert("RGB") saturated every value above 255: a 16-bit PNG became nearly white
    import numpy as np
    from PIL import Image
    from runtime.frames import load_image
    v = np.array([[0, 255, 256, 32896], [40000, 65535, 1000, 5000]], np.uint16)
    Image.fromarray(v).save(tmp_path / "a.png")
    px = load_image(tmp_path / "a.png")
    assert px.dtype == np.uint8 and px.shape == (2, 4, 3)
    assert px[..., 0].tolist() == (v >> 8).tolist() and (px[..., 1] == px[..., 0]).all()


@pytest.mark.parametrize("header", [
    b"YUV4MPEG2 Wabc H10\n",                 # was: ValueError: invalid literal for int()
    b"YUV4MPEG2 W\xff\xfe H10\n",            # was: UnicodeDecodeError
    b"YUV4MPEG2 W99999999 H99999999\n",      # was: MemoryError
    b"YUV4MPEG2 W-8 H10\n",                  # was: ValueError: read length must be non-negative
    b"YUV4MPEG2 W0 H0\n",                    # was: a 0 x 0 frame classified
    b"YUV4MPEG2 W8 H8" + b"\x01" * 100_000,  # no newline: was read whole, then int() traceback
])
def test_damaged_y4m_header_is_one_line(tmp_path, header):
    from runtime.frames import Y4mSource
    path = tmp_path / "clip.y4m"
    path.write_bytes(header + b"FRAME\n" + bytes(200))
    with pytest.raises(SourceError, match="damaged YUV4MPEG2 header") as e:
        Y4mSource(path)
    assert "\n" not in str(e.value)


def test_empty_source_is_refused_not_the_current_folder():
    # was: pathlib reads "" as ".", so `--source "$UNSET"` classified every image below the cwd
    with pytest.raises(SourceError, match="--source is empty"):
        open_source("")


def test_labels_file_with_a_byte_order_mark(tmp_path):
    # was: the BOM stayed in the first label ('\ufeffcircle'), and a numbered file kept its numbers
    p = tmp_path / "labels.txt"
    p.write_bytes("\ufeff0 background\n1 circle\n".encode())
    assert read_labels(p) == ["background", "circle"]


def test_save_with_a_long_label_names_the_file_within_the_limit(tmp_path):
    # was: a 300-character label made `--save DIR` fail with 'File name too long ...; check the path'
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(["x" * 300] * 4) + "\n")
    r = run("classify", "--model", MODEL, "--labels", labels, "--source", "synthetic", "--frames", "2",
            "--save", tmp_path / "saved")
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "saved").iterdir())
    assert len(names) == 2 and all(n.endswith("_" + "x" * 64 + ".png") for n in names), names


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="named pipes are POSIX")
def test_labels_from_a_named_pipe_or_a_device_are_refused_not_read_forever(tmp_path):
    """attack5: `classify --labels fifo` hung in open(); `--labels /dev/zero` grew until the
    kernel killed it. A pipe nobody writes to reads as empty; a device stops at 16 MiB."""
    import os
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read_labels(fifo) == []
    with pytest.raises(LabelsError, match="larger than 16 MiB"):
        read_labels("/dev/zero")


def test_codegen_and_the_runtime_read_a_label_file_alike(tmp_path):
    """One rule for both (codegen.app_helpers.label_lines): a byte-order mark, an interior blank
    line (an unnamed class: positions kept), trailing blank lines, a numbered file. The device's
    labels (codegen --labels) and the Pi's (runtime --labels) were counted differently."""
    from codegen.app_helpers import read_labels as codegen_labels
    cases = {"bom.txt": ("\ufeffcat\n\ndog\n\n\n", ["cat", "", "dog"]),
             "numbered.txt": ("0 background\n1: cat\n2  dog\n", ["background", "cat", "dog"]),
             "plain.txt": ("  a b \nc\n", ["a b", "c"])}
    for name, (text, want) in cases.items():
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        assert read_labels(p) == codegen_labels(p) == want, name


def test_a_model_tflite_refuses_only_when_it_runs_is_one_line(tmp_path):
    """c12_uint8_io with its first operator (uint8 input, int8 output) turned into a SOFTMAX:
    TFLite loads and allocates it, then its Eval refuses ("Only uint8_t and int16_t outputs are
    supported with uint8_t inputs"); `runtime classify` ended in a RuntimeError traceback (trial10,
    tests/fuzz_flatbuffer.py seed 1 mutant 292)."""
    from tflite_objects import pack
    from ai_edge_litert import schema_py_generated as s
    m = s.ModelT.InitFromPackedBuf((ROOT / "tests/fixtures/cases/models/c12_uint8_io.tflite").read_bytes(), 0)
    softmax = [max(o.builtinCode, o.deprecatedBuiltinCode) for o in m.operatorCodes].index(s.BuiltinOperator.SOFTMAX)
    m.subgraphs[0].operators[0].opcodeIndex = softmax
    bad = tmp_path / "softmax_u8_to_s8.tflite"
    bad.write_bytes(pack(m))
    r = subprocess.run([sys.executable, "-m", "runtime.cli", "classify", "--model", bad, "--source", "synthetic",
                        "--frames", "2"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("runtime: error:")]
    assert len(errors) == 1 and "TFLite cannot run the model" in errors[0] and "SOFTMAX" in errors[0], r.stderr
    assert r.stderr.strip().splitlines()[-1] == errors[0]


def test_a_zero_point_outside_its_type_is_refused_before_tflite_crashes_on_it(tmp_path):
    """c12_uint8_io with 128 as the int8 zero point of its QUANTIZE output: TFLite loads and
    allocates it, then `runtime classify` died of SIGSEGV in its kernels (trial10,
    tests/fuzz_flatbuffer.py seed 1 #56). Refused at load, one line naming the tensor."""
    from tflite_objects import pack
    import numpy as np
    from ai_edge_litert import schema_py_generated as s
    from runtime.classifier import Classifier, ModelLoadError
    m = s.ModelT.InitFromPackedBuf((ROOT / "tests/fixtures/cases/models/c12_uint8_io.tflite").read_bytes(), 0)
    t = next(t for t in m.subgraphs[0].tensors if t.name == b"tfl.quantize")
    t.quantization.zeroPoint = np.array([128])
    bad = tmp_path / "zp128.tflite"
    bad.write_bytes(pack(m))
    for reference in (False, True):
        with pytest.raises(ModelLoadError) as e:
            Classifier(bad, reference=reference)
        msg = str(e.value)
        assert "\n" not in msg and "'tfl.quantize' (int8) has zero point 128, outside [-128, 127]" in msg, msg


def test_a_graph_output_naming_no_tensor_is_one_line(tmp_path):
    """c16_float_io whose graph output is -1: TFLite loads and allocates it, then
    get_output_details() raised a ValueError traceback (trial10, fuzz_flatbuffer seed 1 #91)."""
    from tflite_objects import pack
    import numpy as np
    from ai_edge_litert import schema_py_generated as s
    from runtime.classifier import Classifier, ModelLoadError
    m = s.ModelT.InitFromPackedBuf((ROOT / "tests/fixtures/cases/models/c16_float_io.tflite").read_bytes(), 0)
    m.subgraphs[0].outputs = np.array([-1], np.int32)
    bad = tmp_path / "output_minus_1.tflite"
    bad.write_bytes(pack(m))
    with pytest.raises(ModelLoadError) as e:
        Classifier(bad)
    assert "graph inputs or outputs name a tensor that does not exist" in str(e.value) and "\n" not in str(e.value)


def _edited(tmp_path, name, edit, src="c12_uint8_io.tflite"):
    from tflite_objects import edited
    (tmp_path / name).write_bytes(edited(ROOT / "tests/fixtures/cases/models" / src, edit))
    return tmp_path / name


@pytest.mark.parametrize("scale", [-1.0, 0.0, float("nan")])
def test_an_output_scale_tflite_crashes_on_is_refused_at_load(tmp_path, scale):
    """c12_uint8_io with scale -1 (0, NaN) on its uint8 output: SIGSEGV in TFLite's kernels
    (trial10, fuzz_flatbuffer seed 4 #91)."""
    import numpy as np
    from runtime.classifier import Classifier, ModelLoadError

    def edit(m):
        m.subgraphs[0].tensors[10].quantization.scale = np.array([scale], np.float32)
    with pytest.raises(ModelLoadError) as e:
        Classifier(_edited(tmp_path, "scale.tflite", edit))
    assert "tensor 10 'StatefulPartitionedCall_1:0' (uint8) has quantization scale" in str(e.value), str(e.value)


def test_tflites_multiline_refusal_is_one_line(tmp_path):
    """CONV_2D version 1000: TFLite's message ends '...newer model?\\nRegistration failed.',
    which reached the terminal as two 'runtime: error:' lines (trial10, fuzz_flatbuffer seed 4 #2)."""
    from runtime.classifier import Classifier, ModelLoadError

    def edit(m):
        for oc in m.operatorCodes:
            if max(oc.builtinCode, oc.deprecatedBuiltinCode) == 3:     # CONV_2D
                oc.version = 1000
    with pytest.raises(ModelLoadError) as e:
        Classifier(_edited(tmp_path, "v1000.tflite", edit))
    assert "\n" not in str(e.value) and "version '1000'" in str(e.value) and "Registration failed" in str(e.value)


@pytest.mark.parametrize("tensor, scale", [(10, 1e-45), (5, 1e-38), (0, 1e-40)])
def test_a_subnormal_scale_xnnpack_crashes_on_is_refused_at_load(tmp_path, tensor, scale):
    """c12_uint8_io with a positive subnormal scale (below 2^-126) on a tensor of a QUANTIZE:
    `runtime classify` died of SIGSEGV in allocate_tensors(), inside the XNNPACK delegate's
    CheckAffineQuantization (it reports the scale it refuses through a null TfLiteContext; the
    scales branch, gdb). Refused at load in one line naming the operator and the tensor; the
    reference kernels (no delegate, `codegen verify`'s oracle) still load it."""
    import numpy as np
    from runtime.classifier import Classifier, ModelLoadError
    from runtime.interpreter import make_interpreter

    def edit(m):
        m.subgraphs[0].tensors[tensor].quantization.scale = np.array([scale], np.float32)
    bad = _edited(tmp_path, "subnormal.tflite", edit)
    with pytest.raises(ModelLoadError) as e:
        Classifier(bad)
    msg = str(e.value)
    assert "\n" not in msg and "QUANTIZE #" in msg and f"tensor {tensor} " in msg, msg
    assert "below float32's smallest normal number" in msg and "re-export the model" in msg, msg
    make_interpreter(bad, reference=True)          # BUILTIN_REF: no delegate, no crash, not refused


def test_classify_cli_subnormal_output_scale_is_one_line_not_sigsegv(tmp_path):
    import numpy as np

    def edit(m):
        m.subgraphs[0].tensors[10].quantization.scale = np.array([1e-45], np.float32)
    r = run("classify", "--model", _edited(tmp_path, "o1e45.tflite", edit), "--source", "synthetic", "--frames", 1)
    one_line_error(r, "QUANTIZE #5: tensor 10 'StatefulPartitionedCall_1:0' (uint8) has quantization scale 1.4013e-45")


@pytest.mark.parametrize("qdim, accepted", [(3, True), (-1, False), (7, False)])
def test_a_rank1_per_channel_bias_quantized_dimension_outside_a_filters_axes_is_refused(capsys, tmp_path, qdim,
                                                                                       accepted):
    """c12_uint8_io's per-channel CONV_2D bias (int32 [8], 8 scales) with quantized_dimension 3 is
    the documented converter quirk (an older converter copied the depthwise filter's dimension;
    `codegen verify` repairs it to 0 for TFLite and was bit-exact): still compiled. -1 and 7 are
    no filter's dimension: TFLite refuses them ("must be in range [0, 1)") and so does codegen now,
    in one line naming the operator and the tensor (trial10 left them accepted)."""
    from codegen.cli import main

    def edit(m):
        m.subgraphs[0].tensors[3].quantization.quantizedDimension = qdim
    model = _edited(tmp_path, f"qdim{qdim}.tflite", edit)
    code = main(["emit", str(model), "--target", "host", "-o", str(tmp_path / "out")])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    if accepted:
        assert code == 0, lines
        return
    assert code == 2 and len(lines) == 1, lines
    assert "CONV_2D" in lines[0] and f"'arith.constant' is quantized per channel along axis {qdim} but has rank 1" \
        in lines[0], lines


@pytest.mark.parametrize("scale", [1e-30, 3e38])
def test_an_add_output_scale_tflite_aborts_on_is_refused_at_load(tmp_path, scale):
    """mobilenet_v3_small_a050_96_rgb with 1e-30 (3e38) as the output scale of ADD #36: its
    output multiplier 2*max(input scales)/(2^20*output scale) leaves (0, 1) and TFLite's
    QuantizeMultiplierSmallerThanOneExp aborts the process (SIGABRT; tests/sweep_scales.py).
    Refused at load by codegen's rule (codegen.quantization.add_output_multiplier), both kernels."""
    import numpy as np
    from runtime.classifier import Classifier, ModelLoadError

    def edit(m):
        t = next(t for t in m.subgraphs[0].tensors if t.name == b"MobileNetV3Small_1/expanded_conv_4_add_1/Add")
        t.quantization.scale = np.array([scale], np.float32)
    bad = _edited(tmp_path, "add.tflite", edit, src="../../models/mobilenet_v3_small_a050_96_rgb.tflite")
    for reference in (False, True):
        with pytest.raises(ModelLoadError) as e:
            Classifier(bad, reference=reference)
        msg = str(e.value)
        assert "\n" not in msg and "ADD #36: its output multiplier" in msg and "outside (0, 1)" in msg, msg
        assert "'MobileNetV3Small_1/expanded_conv_4_add_1/Add'" in msg, msg
    # `hil validate --images` loads the reference before it connects: was a DamagedModel traceback
    r = run("hil", "validate", "--port", "socket://127.0.0.1:9", "--model", bad, "--inputs", 1,
            "--images", ROOT / "tests/fixtures/images/shapes")
    one_line_error(r, "ADD #36: its output multiplier")


def test_a_softmax_beta_the_reference_kernels_abort_on_is_refused_with_them(tmp_path):
    """hostile/softmax_beta_nan: the default kernels load it (a lookup table), TFLite's reference
    kernels (`runtime classify --device`, `runtime hil validate`) aborted the process in
    PreprocessSoftmaxScaling (SIGABRT, exit 134). One line now, naming SOFTMAX and its input."""
    model = ROOT / "tests/fixtures/cases/hostile/softmax_beta_nan.tflite"
    r = run("classify", "--model", model, "--device", "socket://127.0.0.1:9", "--source", "synthetic",
            "--frames", 1)
    one_line_error(r, "SOFTMAX #4: beta nan", "PreprocessSoftmaxScaling", "tensor 9 'functional_1/cls_1/MatMul1'")


def test_a_model_the_xnnpack_delegate_crashes_on_is_refused_not_a_crash(tmp_path):
    """mobilevit_xxs_96_rgb with 1e10 as its input scale: TFLite's XNNPACK delegate fails to
    create its runtime and frees memory twice ("double free detected in tcache 2", SIGABRT in
    allocate_tensors(); tests/sweep_scales.py). No rule describes that: the load and one
    all-zero invoke run in a child process first (probe_in_child), and its death is one line."""
    import numpy as np

    def edit(m):
        m.subgraphs[0].tensors[0].quantization.scale = np.array([1e10], np.float32)
    bad = _edited(tmp_path, "vit.tflite", edit, src="../../models/mobilevit_xxs_96_rgb.tflite")
    r = run("classify", "--model", bad, "--source", "synthetic", "--frames", 1)
    one_line_error(r, "TFLite's kernels (XNNPACK delegate) crash on it with SIGABRT", "re-export the model")


def test_probe_killed_by_sigkill_blames_memory_not_the_file(monkeypatch, tmp_path):
    """The probe's child killed with SIGKILL (the OOM killer on a small Pi: the child allocates
    the model's tensors) was 'TFLite's kernels crash on it with SIGKILL ... the file is damaged
    (out-of-range quantization scales, most often)'; it is one line naming memory."""
    import subprocess as sp
    from runtime import interpreter
    monkeypatch.setattr(sp, "run", lambda *a, **k: sp.CompletedProcess(a[0], -9, "", ""))
    with pytest.raises(interpreter.DamagedModel) as e:
        interpreter.probe_in_child(b"not read", "m.tflite")
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and "SIGKILL" in msg and "out of memory" in msg, msg
    assert "damaged" not in msg, msg


def test_probe_child_stopped_by_ctrl_c_is_the_interrupt_not_a_crash(monkeypatch):
    """Ctrl-C goes to the whole foreground process group: when the probe's child dies of it
    before the parent's handler runs, that is KeyboardInterrupt (`runtime: interrupted`, exit
    130), not 'TFLite's kernels crash on it with SIGINT ... the file is damaged'."""
    import subprocess as sp
    from runtime import interpreter
    monkeypatch.setattr(sp, "run", lambda *a, **k: sp.CompletedProcess(a[0], -2, "", "KeyboardInterrupt"))
    with pytest.raises(KeyboardInterrupt):
        interpreter.probe_in_child(b"not read", "m.tflite")
