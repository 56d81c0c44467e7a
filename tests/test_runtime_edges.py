"""The runtime's rough edges, as a new user meets them: what the text output says about an
image folder, corrupt files, bare folders, saved frames that show the crop, NCHW models, and
the HIL commands' wording and options."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import FIXTURE_MODELS, TESTS
from runtime.classifier import Classifier
from runtime.frames import ImageFolderSource, open_source
from runtime.hil.validate import ValidationReport
from runtime.interpreter import make_interpreter
from runtime.pipeline import Pipeline

RGB96 = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"
NCHW = FIXTURE_MODELS / "torch_layout_96_nchw.tflite"
LABELS_FILE = FIXTURE_MODELS / "shapes_labels.txt"
IMAGES = TESTS / "fixtures" / "images" / "shapes"


def runtime(*args):
    return subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_text_output_for_an_image_folder_names_the_file_and_the_true_label():
    p = runtime("classify", "--model", RGB96, "--labels", LABELS_FILE, "--source", f"images:{IMAGES}",
                "--threads", "1")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 13
    for line, name in zip(lines, sorted(str(f.relative_to(IMAGES)) for f in IMAGES.rglob("*.png"))):
        truth = name.split("/")[0]
        assert f" {name} " in line and f"[truth {truth} " in line, line
        label = line.split("]")[1].split()[0]
        assert line.split("[truth ")[1].split("]")[0].endswith(" ok" if label == truth else " MISS")


def test_a_corrupt_jpeg_is_reported_and_counted_not_fatal(tmp_path):
    folder = tmp_path / "imgs"
    shutil.copytree(IMAGES, folder)
    (folder / "circle" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))   # a JPEG header, then junk
    (folder / "square" / "empty.png").write_bytes(b"")
    p = runtime("classify", "--model", RGB96, "--labels", LABELS_FILE, "--source", folder, "--threads", "1")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert "12 frames in" in p.stdout
    assert "2 unreadable files skipped: circle/broken.jpg, square/empty.png" in p.stdout
    assert "warning: skipped" in p.stderr and "broken.jpg" in p.stderr
    p = runtime("classify", "--model", RGB96, "--labels", LABELS_FILE, "--source", folder, "--json",
                "--threads", "1")
    summary = json.loads(p.stdout.splitlines()[-1])
    assert summary["frames"] == 12 and [s["name"] for s in summary["skipped"]] == ["circle/broken.jpg",
                                                                                  "square/empty.png"]
    # and `hil validate --images` loads the same way (no device needed for loading)
    from runtime.hil.validate import load_images
    items, skipped = load_images(RGB96, folder, LABELS_FILE).read()
    assert len(list(items)) == 12 and len(skipped) == 2


def test_a_bare_folder_is_an_image_source(tmp_path):
    src = open_source(str(IMAGES), ["circle", "square", "triangle", "line"])
    assert isinstance(src, ImageFolderSource) and len(src.files) == 12
    p = runtime("classify", "--model", RGB96, "--labels", LABELS_FILE, "--source", IMAGES, "--threads", "1",
                "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.splitlines()[-1])["labelled"] == 12


def test_a_folder_of_one_image_says_1_image(tmp_path):
    # "source  1 images in DIR" (trial7)
    shutil.copy(IMAGES / "circle" / "00.png", tmp_path / "one.png")
    assert ImageFolderSource(str(tmp_path)).description == f"1 image in {tmp_path}"
    assert open_source(str(IMAGES), None).description == f"12 images in {IMAGES}"


def test_saved_frames_show_the_centre_crop(tmp_path):
    """Saved frames keep the whole picture, dim what the centre crop cuts away and outline the
    window the model saw: a 128x96 image shows its middle 96x96."""
    from PIL import Image
    p = runtime("classify", "--model", RGB96, "--labels", LABELS_FILE, "--source", IMAGES, "--threads", "1",
                "--frames", "1", "--save", tmp_path)
    assert p.returncode == 0, p.stderr
    saved = Image.open(next(tmp_path.glob("000000_*.png"))).convert("RGB")
    orig = np.asarray(Image.open(IMAGES / "circle" / "00.png").convert("RGB"))
    k = 3                                   # 96 rows -> 288 (at least 256 for the caption)
    img = np.asarray(saved)
    assert img.shape == (96 * k, 128 * k, 3)
    # inside the window (below the caption): the frame as is
    np.testing.assert_array_equal(img[60 * k:90 * k:k, 20 * k:108 * k:k], orig[60:90, 20:108])
    # outside: dimmed to 2/5
    np.testing.assert_array_equal(img[60 * k:90 * k:k, 2 * k:14 * k:k],
                                  (orig[60:90, 2:14].astype(np.uint16) * 2 // 5).astype(np.uint8))
    # the outline, yellow, on the crop's left and right edges (x = 16 and 111)
    assert (img[70 * k, 16 * k] == (255, 220, 0)).all() and (img[70 * k, 112 * k - 1] == (255, 220, 0)).all()


def test_classify_accepts_the_nchw_model_codegen_accepts():
    clf = Classifier(NCHW, LABELS_FILE, threads=1)
    assert clf.input.layout == "NCHW" and (clf.input.height, clf.input.width, clf.input.channels) == (96, 96, 3)
    pipe = Pipeline(ImageFolderSource(IMAGES, clf.labels), clf, top_k=4, keep_tensors=True)
    results = list(pipe.run())
    it = make_interpreter(NCHW)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    for r in results:
        # the tensor is the NHWC preprocessing, channels moved first
        nhwc = Classifier(RGB96, LABELS_FILE, threads=1).preprocess(r.frame.pixels)
        np.testing.assert_array_equal(r.tensor, nhwc.transpose(0, 3, 1, 2))
        it.set_tensor(inp["index"], r.tensor)
        it.invoke()
        np.testing.assert_array_equal(r.raw, it.get_tensor(out["index"]).reshape(-1))
    assert pipe.summary.accuracy >= 0.5
    p = runtime("classify", "--model", NCHW, "--labels", LABELS_FILE, "--source", "synthetic", "--frames", "5")
    assert p.returncode == 0 and "int8 [1, 3, 96, 96] NCHW" in p.stderr, p.stderr


def test_hil_validate_report_never_says_0_inputs():
    rep = ValidationReport("board", "m.tflite", "cycles", inputs=3, bytes_compared=12, counts=[5, 6, 7],
                           source="random, seed 0")
    text = rep.render()
    assert "3 inputs (random, seed 0), BIT-EXACT: 0 of 12 output bytes differ\n" in text + "\n"
    assert "(0 inputs)" not in text
    rep.bytes_differing, rep.inputs_differing = 2, 1
    assert "MISMATCH: 2 of 12 output bytes differ, in 1 of 3 inputs" in rep.render()
    assert "time per inference: 5 .. 7 cycles (mean 6)\n" in text
    # one input, or every run equal: one figure (trial7: '9,040,920 .. 9,040,920 (mean 9,040,920)')
    rep.counts = [9_040_920]
    assert "time per inference: 9,040,920 cycles\n" in rep.render()


@pytest.mark.parametrize("action,absent,present", [
    ("info", ["--model", "--inputs", "--seed", "--images"], ["--port", "--place", "--timeout"]),
    ("profile", ["--inputs", "--seed", "--images"], ["--model", "--port", "--place"]),
    ("validate", [], ["--model", "--inputs", "--seed", "--images", "--labels", "--place"]),
])
def test_hil_commands_offer_only_options_that_do_something(action, absent, present):
    p = runtime("hil", action, "--help")
    assert p.returncode == 0
    for opt in absent:
        assert opt not in p.stdout, (action, opt)
    for opt in present:
        assert opt in p.stdout, (action, opt)
    p = runtime("hil", "info", "--port", "socket://127.0.0.1:1", "--seed", "3")
    assert p.returncode == 2 and "unrecognized arguments: --seed" in p.stderr


def test_the_pipeline_timeline_records_every_stage_of_every_frame_in_causal_order():
    from runtime.frames import SyntheticSource
    from runtime.pipeline import Timeline
    tl = Timeline()
    pipe = Pipeline(SyntheticSource(seed=3, count=20), Classifier(RGB96, LABELS_FILE, threads=1), timeline=tl)
    assert len(list(pipe.run())) == 20
    order = ["capture.read_done", "capture.pre_done", "capture.put_done", "inference.got", "inference.set_done",
             "inference.invoke_done", "inference.out_done", "inference.put_done", "caller.got", "caller.top_done"]
    marks = {k: {i: (w, c) for i, w, c in tl.marks[k]} for k in order}
    for k in order:
        assert sorted(marks[k]) == list(range(20)), k
    # a hand-over's put_done may be marked after the other side took the frame: not in the chain
    chain = [k for k in order if not k.endswith("put_done")]
    for i in range(20):
        walls = [marks[k][i][0] for k in chain]
        assert walls == sorted(walls), (i, walls)
        assert marks["capture.put_done"][i][0] >= marks["capture.pre_done"][i][0]
        assert marks["inference.put_done"][i][0] >= marks["inference.out_done"][i][0]
    # read is marked with the index the frame will get (one more: the read that found the end)
    reads = {i: w for i, w, _ in tl.marks["capture.read"]}
    assert sorted(reads) == list(range(21))
    assert all(reads[i] <= marks["capture.read_done"][i][0] for i in range(20))
    # thread CPU time only grows along one thread's stages
    assert all(marks["inference.invoke_done"][i][1] >= marks["inference.set_done"][i][1] for i in range(20))
    # and without a timeline nothing is recorded (the default costs one test per stage)
    assert Pipeline(SyntheticSource(count=1), Classifier(RGB96, LABELS_FILE, threads=1)).tl is None


def test_without_labels_the_truth_is_shown_but_not_judged():
    # "class 1" is no verdict on "square": ok/MISS only when the labels name the truth
    import numpy as np

    from runtime.cli import result_line
    from runtime.frames import Frame
    from runtime.pipeline import Result
    from runtime.classifier import Prediction

    class Clf:
        labels = [f"class {i}" for i in range(4)]
    r = Result(Frame(0, np.zeros((2, 2, 3), np.uint8), name="synthetic #0", truth="square"),
               [Prediction(1, "class 1", 1.0)], 0.1, 0.2, None, 0)
    assert "[truth square]  class 1" in result_line(r, clf=Clf)
    # the synthetic source without --labels names a 4-class model's classes with the shapes'
    # names (runtime/cli._synthetic_labels), so its lines are judged
    p = runtime("classify", "--model", RGB96, "--source", "synthetic", "--frames", "4", "--threads", "1")
    assert p.returncode == 0, p.stderr
    assert all(ln.split("]")[0].endswith((" ok", " MISS")) for ln in p.stdout.splitlines() if ln.startswith("#"))
    p = runtime("classify", "--model", RGB96, "--labels", LABELS_FILE, "--source", "synthetic", "--frames", "4",
                "--threads", "1")
    assert all(ln.split("]")[0].endswith((" ok", " MISS")) for ln in p.stdout.splitlines() if ln.startswith("#"))


def test_classify_reads_the_class_head_of_a_two_head_model():
    """classify read output 0. The bundled two-heads fixture lists its colour regression
    [1, 3] first and the SOFTMAX classes [1, 4] second: its colour was shown as '3 classes'.
    The output quantized like probabilities is read and named; --output N picks another;
    a one-output model says nothing."""
    two = FIXTURE_MODELS / "mobilenet_v1_a025_96_two_heads.tflite"
    r = runtime("classify", "--model", two, "--source", TESTS / "fixtures/images/shapes", "--frames", "1")
    assert r.returncode == 0, r.stderr
    assert "4 classes" in r.stderr and "output  1 'StatefulPartitionedCall_1:0' [1, 4] of 2" in r.stderr, r.stderr
    r = runtime("classify", "--model", two, "--source", TESTS / "fixtures/images/shapes", "--frames", "1",
                "--output", "0")
    assert r.returncode == 0 and "3 classes" in r.stderr and "of 2: chosen by --output 0;" in r.stderr, r.stderr
    # the 4 shapes labels on the 3-value head: the fix is the other output (trial7; was "use the
    # labels file that came with the model")
    r = runtime("classify", "--model", two, "--labels", LABELS_FILE, "--source", "synthetic", "--frames", "1",
                "--output", "0")
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == (
        f"runtime: error: labels file {LABELS_FILE} has 4 labels but output 0 of 2 has 3 values; "
        "output 1 has 4: give --output 1"), r.stderr
    r = runtime("classify", "--model", two, "--source", TESTS / "fixtures/images/shapes", "--frames", "1",
                "--output", "2")
    assert r.returncode == 2 and "--output 2: " in r.stderr and "has 2 outputs (0..1)" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    r = runtime("classify", "--model", two, "--source", "synthetic", "--frames", "1", "--output", "-1")
    assert r.returncode == 2 and "expected an output's position" in r.stderr, r.stderr
    r = runtime("classify", "--model", RGB96, "--source", TESTS / "fixtures/images/shapes", "--frames", "1")
    assert r.returncode == 0 and "output  " not in r.stderr, r.stderr


def test_classify_a_model_with_no_outputs_or_hundreds(tmp_path):
    """A model with no outputs was an IndexError traceback (and '0 outputs (0..-1)' with
    --output); one with 300 [1, 1, 1, 3] SOFTMAX heads reads --output 299 and refuses 300."""
    from codegen.tflite_writer import ModelBuilder
    mb = ModelBuilder()
    x, y = mb.tensor([1, 8, 8, 3], "int8", 0.02, 0), mb.tensor([1, 8, 8, 3], "int8", 0.02, 0)
    mb.op("RELU", [x], [y])
    none = tmp_path / "no_outputs.tflite"
    none.write_bytes(mb.build([x], []))
    for extra in ([], ["--output", "0"]):
        r = runtime("classify", "--model", none, "--source", "synthetic", "--frames", "1", *extra)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "has no outputs" in r.stderr, r.stderr
    mb = ModelBuilder()
    x = mb.tensor([1, 1, 1, 3], "int8", 0.02, 0)
    heads = [mb.tensor([1, 1, 1, 3], "int8", 1 / 256, -128) for _ in range(300)]
    for h in heads:
        mb.op("SOFTMAX", [x], [h], "SoftmaxOptions", Beta=1.0)
    many = tmp_path / "many_outputs.tflite"
    many.write_bytes(mb.build([x], heads))
    r = runtime("classify", "--model", many, "--source", "synthetic", "--frames", "2", "--output", "299")
    assert r.returncode == 0 and "output  299 " in r.stderr and "of 300: chosen by --output" in r.stderr, r.stderr
    r = runtime("classify", "--model", many, "--source", "synthetic", "--frames", "1", "--output", "300")
    assert r.returncode == 2 and "has 300 outputs (0..299)" in r.stderr, r.stderr


DYNAMIC = TESTS / "fixtures" / "cases" / "models" / "c10_dynamic_hw.tflite"   # [1, -1, -1, 3], stored 1x1


def test_a_dynamic_input_is_refused_without_input_shape_and_run_at_it_with():
    """trial9: `runtime classify` ran c10 at its stored 1x1 placeholder (every frame shrunk to
    one pixel) without a word. Now one line naming --input-shape; with it, the interpreter runs
    at that size, as the C `codegen emit --input-shape` compiles (the same bytes per frame)."""
    r = runtime("classify", "--model", DYNAMIC, "--source", "synthetic", "--frames", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "dynamic dimensions [1, -1, -1, 3] (stored as [1, 1, 1, 3])" in lines[0] \
        and "--input-shape 1,N,N,3" in lines[0], lines
    for bad in ("1,32,32,4", "32,32", "2,32,32,3"):
        r = runtime("classify", "--model", DYNAMIC, "--source", "synthetic", "--frames", "1", "--input-shape", bad)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "1,N,N,3" in r.stderr, (bad, r.stderr)
    clf = Classifier(DYNAMIC, input_shape=[1, 40, 24, 3], reference=True)
    assert [int(v) for v in clf.interpreter.get_input_details()[0]["shape"]] == [1, 40, 24, 3]
    x = clf.preprocess(np.random.default_rng(3).integers(0, 256, (40, 24, 3), dtype=np.uint8))
    ref = make_interpreter(DYNAMIC, reference=True)
    ref.resize_tensor_input(ref.get_input_details()[0]["index"], [1, 40, 24, 3], strict=True)
    ref.allocate_tensors()
    outs = []
    for it in (clf.interpreter, ref):
        it.set_tensor(it.get_input_details()[0]["index"], x.reshape(1, 40, 24, 3))
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]))
    assert np.array_equal(*outs)
    r = runtime("classify", "--model", DYNAMIC, "--source", "synthetic", "--frames", "2", "--input-shape", "1,32,32,3")
    assert r.returncode == 0 and r.stdout.count("#") == 2, r.stderr
