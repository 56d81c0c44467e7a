"""The camera pipeline meets the board: `runtime classify --device` and `runtime hil validate
--images`, against the validation firmware on QEMU's Cortex-M7 (UART on a loopback TCP port),
over the bundled labelled images (tests/fixtures/images, made by tests/fixtures/make_images.py).
"""
import json
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import FIXTURE_MODELS, TESTS
from firmware_tools.boards import get_board
from firmware_tools.qemu import QemuSerial
from runtime.classifier import Classifier
from runtime.frames import Frame, FrameSource
from runtime.hil.device import DeviceRunner
from runtime.hil.link import HilLink
from runtime.pipeline import Pipeline
from test_hil import BOARD, firmware  # noqa: F401  (the module-scoped firmware cache)

RGB96 = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"
NCHW = FIXTURE_MODELS / "torch_layout_96_nchw.tflite"
LABELS_FILE = FIXTURE_MODELS / "shapes_labels.txt"
IMAGES = TESTS / "fixtures" / "images" / "shapes"
pytestmark = pytest.mark.skipif("config.getoption('--port') or config.getoption('--place')",
                                reason="builds its own firmware for QEMU")


def runtime(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("model", [RGB96, NCHW], ids=lambda p: p.stem)
def test_classify_device_top_k_equals_the_reference_on_every_frame(firmware, model, tmp_path):
    """Every bundled image, preprocessed once, runs on the Pi (TFLite reference kernels) and on
    the board; the board's output bytes, hence its top-k, equal the Pi's on every frame."""
    with QemuSerial(get_board(BOARD), firmware(model)) as q:
        p = runtime("classify", "--model", model, "--labels", LABELS_FILE, "--source", IMAGES,
                    "--device", q.url, "--json", "--top-k", "4")
    assert p.returncode == 0, p.stderr
    lines = [json.loads(s) for s in p.stdout.splitlines()]
    results, summary = lines[:-1], lines[-1]
    assert len(results) == 12 and summary["type"] == "summary" and summary["frames"] == 12
    for r in results:
        d = r["device"]
        assert d["top"] == r["top"] and d["bit_exact"] and d["differing_bytes"] == 0, r
        assert d["unit"] == "instructions (QEMU)" and d["count"] > 1_000_000
        assert 0 < d["link_ms"] <= d["round_trip_ms"]
    assert summary["device"]["differing_frames"] == 0 and summary["device"]["frames"] == 12
    assert summary["labelled"] == 12 and summary["accuracy"] >= 0.5


def test_classify_device_compares_the_class_head_of_a_two_head_model(firmware):
    """The two-heads fixture lists a colour regression [1, 3] first and the SOFTMAX classes
    [1, 4] second: classify reads output 1 (said on stderr), on the Pi and on the board (its
    READ_OUTPUT of output 1), equal on every frame; --output 0 reads the regression head."""
    two = FIXTURE_MODELS / "mobilenet_v1_a025_96_two_heads.tflite"
    with QemuSerial(get_board(BOARD), firmware(two)) as q:
        p = runtime("classify", "--model", two, "--labels", LABELS_FILE, "--source", IMAGES,
                    "--frames", "3", "--device", q.url, "--json")
        assert p.returncode == 0, p.stderr
        assert "output  1 'StatefulPartitionedCall_1:0' [1, 4] of 2: the one quantized like probabilities" in p.stderr
        lines = [json.loads(s) for s in p.stdout.splitlines()]
        assert len(lines) == 4 and all(r["device"]["bit_exact"] and r["device"]["top"] == r["top"]
                                       for r in lines[:3]), lines
        p = runtime("classify", "--model", two, "--source", IMAGES, "--frames", "2", "--device", q.url,
                    "--output", "0", "--json")
    assert p.returncode == 0, p.stderr
    assert "output  0 'StatefulPartitionedCall_1:1' [1, 3] of 2: chosen by --output 0;" in p.stderr, p.stderr
    lines = [json.loads(s) for s in p.stdout.splitlines()]
    assert all(r["device"]["bit_exact"] and len(r["top"]) == 3 for r in lines[:2]), lines


def test_classify_device_flags_a_perturbed_layer_on_the_first_frame(firmware, tmp_path):
    """The test-only HIL_PERTURB_LAYER=5 build flips one bit of layer 5's output: the very first
    frame is flagged, layer 5 named, and the frame saved (PNG) with its exact input (.npy)."""
    elf = firmware(RGB96, ["HIL_PERTURB_LAYER=5"])
    with QemuSerial(get_board(BOARD), elf) as q:
        p = runtime("classify", "--model", RGB96, "--labels", LABELS_FILE, "--source", IMAGES,
                    "--device", q.url, "--frames", "2", "--save", tmp_path / "out")
    assert p.returncode == 1, p.stderr
    first = p.stdout.splitlines()[0]
    assert first.startswith("#0 ") and "DIFFERS" in first and "first differing layer 5" in first, p.stdout
    saved = sorted((tmp_path / "out").glob("mismatch_000000_*"))
    assert [s.suffix for s in saved] == [".npy", ".png"], saved
    x = np.load(saved[0])
    assert x.dtype == np.int8 and x.shape == (1, 96, 96, 3)
    assert "differ from the Pi's TFLite reference" in p.stdout


class FastCamera(FrameSource):
    """A live source faster than the board: a new frame every 2 ms, for `seconds`."""
    live = True
    description = "fast camera"

    def __init__(self, seconds: float):
        self.seconds, self.reads = seconds, 0

    def open(self, want):
        super().open(want)
        self.t0 = time.perf_counter()

    def read(self):
        time.sleep(0.002)
        if time.perf_counter() - self.t0 > self.seconds:
            return None
        rng = np.random.default_rng(self.reads)
        self.reads += 1
        return Frame(self.reads - 1, rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))


def test_a_board_slower_than_the_camera_drops_frames_instead_of_queueing(firmware):
    clf = Classifier(RGB96, LABELS_FILE, reference=True)
    cam = FastCamera(seconds=4.0)
    pipe = Pipeline(cam, clf, top_k=2, keep_tensors=True)
    exact = []
    with QemuSerial(get_board(BOARD), firmware(RGB96)) as q, HilLink(q.url) as link:
        runner = DeviceRunner(link, RGB96)
        for r in pipe.run():
            dev = runner.run(r.tensor, r.raw, r.frame.index)
            exact.append(dev.exact)
    # the camera kept its pace (about 2 ms a frame) while the board took ~1 s a frame: all but
    # a handful of frames were dropped, never queued
    assert cam.reads > 500 and 1 <= len(exact) < 20, (cam.reads, len(exact))
    assert pipe.summary.dropped >= cam.reads - len(exact) - 4
    assert all(exact)


def test_hil_validate_images_same_accuracy_on_device_and_reference(firmware):
    with QemuSerial(get_board(BOARD), firmware(RGB96)) as q:
        p = runtime("hil", "validate", "--port", q.url, "--model", RGB96, "--images", IMAGES,
                    "--labels", LABELS_FILE, "--json")
        text = runtime("hil", "validate", "--port", q.url, "--model", RGB96, "--images", IMAGES,
                       "--labels", LABELS_FILE)
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["ok"] and rep["inputs"] == 12 and rep["bytes_differing"] == 0
    assert rep["labelled"] == 12 and rep["device_correct"] == rep["reference_correct"]
    assert rep["device_accuracy"] == rep["reference_accuracy"] >= 0.5
    # the reference's accuracy, computed here independently: TFLite's reference kernels on the
    # images run through the same preprocessing as `runtime classify`
    clf = Classifier(RGB96, LABELS_FILE, reference=True)
    from runtime.frames import ImageFolderSource, Want
    src = ImageFolderSource(IMAGES, clf.labels)
    src.open(Want(96, 96))
    correct = 0
    while (f := src.read()) is not None:
        correct += clf.top(clf.invoke(clf.preprocess(f.pixels)), 1)[0].label == f.truth
    assert rep["reference_correct"] == correct
    assert text.returncode == 0, text.stderr
    assert "12 inputs (12 images in" in text.stdout and "BIT-EXACT" in text.stdout
    assert f"device {correct / 12:.1%} ({correct}), reference {correct / 12:.1%} ({correct})" in text.stdout
    assert "(0 inputs)" not in text.stdout
