"""`runtime classify`: the live classification pipeline, with no camera.

Every reported top-k label and score is checked against the TFLite interpreter run directly
on the same input tensor, the input tensors against an independent preprocessing, and the
fixture models must recognise the shapes they were trained on. The picamera2 adapter runs
against tests/fake_picamera2.py, which refuses any call outside the adapter's contract.
"""
import json
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fake_picamera2
from conftest import FIXTURE_MODELS
from runtime.classifier import Classifier, LabelsError, ModelLoadError, read_labels
from runtime.frames import (Frame, FrameSource, ImageFolderSource, SourceError, SyntheticSource, Want,
                            Y4mSource, open_source, round_to_uint8)
from runtime.interpreter import make_interpreter
from runtime.picamera import Picamera2Source, lores_size, yuv420_planes
from runtime.pipeline import _END, Pipeline, Slot
from runtime.preprocess import ModelInputError, centre_crop, luma
from runtime.shapes import LABELS

LABELS_FILE = FIXTURE_MODELS / "shapes_labels.txt"
RGB96 = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"
GRAY128 = FIXTURE_MODELS / "mobilenet_v1_a025_128_gray.tflite"
V2 = FIXTURE_MODELS / "mobilenet_v2_a035_96_rgb.tflite"
# measured on 400 synthetic frames (seed 1): 86%, 95%, 97.5%
MIN_ACCURACY = {RGB96: 0.75, GRAY128: 0.88, V2: 0.88}


class Oracle:
    """The TFLite interpreter run directly: the same tensor in, the scores and top-k out,
    computed here without any runtime code."""

    def __init__(self, model):
        self.it = make_interpreter(model)
        self.inp = self.it.get_input_details()[0]
        self.out = self.it.get_output_details()[0]

    def top(self, tensor, k):
        self.it.set_tensor(self.inp["index"], tensor)
        self.it.invoke()
        raw = self.it.get_tensor(self.out["index"]).reshape(-1)
        scale, zp = self.out["quantization"]
        scores = [(int(q) - zp) * scale for q in raw]
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
        return [(LABELS[i], scores[i]) for i in order]


def check_results(results, model, k):
    oracle = Oracle(model)
    for r in results:
        assert [(p.label, p.score) for p in r.top] == oracle.top(r.tensor, k), f"frame {r.frame.index}"


def expected_tensor(pixels, gray_model):
    """The fixtures' input: pixels / 255 in [0, 1], scale 1/255, zero point -128 -> pixel - 128."""
    px = pixels.astype(np.int32)
    if gray_model and px.shape[2] == 3:
        px = (77 * px[..., 0] + 150 * px[..., 1] + 29 * px[..., 2] + 128) >> 8
        px = px[..., None]
    return (px - 128).astype(np.int8)[None]


def run(source, model, frames=None, k=4, threads=2):
    pipe = Pipeline(source, Classifier(model, LABELS_FILE, threads=threads), top_k=k,
                    max_frames=frames, keep_tensors=True)
    return list(pipe.run()), pipe.summary


@pytest.mark.parametrize("model", [RGB96, GRAY128, V2], ids=lambda p: p.stem)
def test_synthetic_source_matches_the_interpreter_and_recognises_the_shapes(model):
    results, summary = run(SyntheticSource(seed=1, count=160), model)
    assert len(results) == 160 and summary.frames == 160 and summary.dropped == 0
    assert [r.frame.index for r in results] == list(range(160))
    for r in results:
        np.testing.assert_array_equal(r.tensor, expected_tensor(r.frame.pixels, model == GRAY128))
    check_results(results, model, 4)
    assert summary.labelled == 160
    assert summary.accuracy >= MIN_ACCURACY[model], summary.accuracy


def write_image_folder(root, count=24, size=(160, 120)):
    """Shapes in label-named folders, as PNG, JPEG and .npy, larger than the model and 4:3."""
    from PIL import Image
    rng = np.random.default_rng(7)
    w, h = size
    for i in range(count):
        img, truth = fake_picamera2.shapes_scene(i, w, h, rng)
        folder = root / truth
        folder.mkdir(parents=True, exist_ok=True)
        kind = i % 3
        if kind == 0:
            Image.fromarray(img).save(folder / f"{i:03d}.png")
        elif kind == 1:
            Image.fromarray(img).save(folder / f"{i:03d}.jpg", quality=95)
        else:
            np.save(folder / f"{i:03d}.npy", img)
    (root / "notes.txt").write_text("not an image")
    return root


def test_image_folder_source_crops_resizes_and_matches_the_interpreter(tmp_path):
    folder = write_image_folder(tmp_path / "imgs")
    results, summary = run(ImageFolderSource(folder, list(LABELS)), RGB96)
    assert len(results) == 24 and summary.labelled == 24
    assert sorted(r.frame.name for r in results) == [r.frame.name for r in results]
    assert all(r.frame.pixels.shape == (120, 160, 3) for r in results)
    assert all(r.tensor.shape == (1, 96, 96, 3) for r in results)
    check_results(results, RGB96, 4)
    assert summary.accuracy >= 0.7, summary.accuracy


def test_preprocessing_pieces():
    px = np.arange(120 * 160 * 3, dtype=np.uint32).reshape(120, 160, 3).astype(np.uint8)
    np.testing.assert_array_equal(centre_crop(px, 1.0), px[:, 20:140])
    np.testing.assert_array_equal(centre_crop(px[:, :100], 1.0), px[10:110, :100])
    white = np.full((2, 2, 3), 255, np.uint8)
    assert luma(white).max() == 255 and luma(np.zeros_like(white)).max() == 0
    clf = Classifier(RGB96, LABELS_FILE)
    assert clf.preprocess.range == (0.0, 1.0)
    np.testing.assert_array_equal(clf.preprocess.table, np.arange(256) - 128)
    # a grey frame into a colour model is replicated, at the model size no resize happens
    g = np.random.default_rng(0).integers(0, 256, (96, 96, 1), dtype=np.uint8)
    np.testing.assert_array_equal(clf.preprocess(g), expected_tensor(np.repeat(g, 3, 2), False))
    # a planar frame (channels indexed with a list) still gives an interleaved, C-order tensor
    planar = np.ascontiguousarray(px[:96, :96])[..., [2, 1, 0]]
    assert not planar.flags.c_contiguous and clf.preprocess(planar).flags.c_contiguous
    np.testing.assert_array_equal(clf.preprocess(planar), expected_tensor(planar, False))


def test_labels_files(tmp_path):
    f = tmp_path / "l.txt"
    f.write_text("0 background\n1 cat\n2: dog\n\n")
    assert read_labels(f) == ["background", "cat", "dog"]
    f.write_text("7 dwarfs\nsnow white\n")
    assert read_labels(f) == ["7 dwarfs", "snow white"]


def test_errors_name_the_problem(tmp_path, write_model):
    labels = tmp_path / "three.txt"
    labels.write_text("circle\nsquare\ntriangle\n")
    with pytest.raises(LabelsError, match=r"has 3 labels but the model has 4 classes.*background"):
        Classifier(RGB96, labels)
    labels.write_text("a\nb\n")
    with pytest.raises(LabelsError, match="has 2 labels but the model has 4 classes"):
        Classifier(RGB96, labels)
    with pytest.raises(ModelLoadError, match="no such model file"):
        Classifier(tmp_path / "missing.tflite")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="is not a TFLite model"):   # was the interpreter's words
        Classifier(junk)
    from opmodels import fully_connected_model
    fc = write_model(fully_connected_model(np.random.default_rng(0), batches=1, in_depth=10,
                                           out_depth=4, per_channel=False))
    with pytest.raises(ModelInputError, match=r"input has shape \[1, 10\]"):
        Classifier(fc)
    from opmodels import conv_model        # a feature map [1, 8, 8, 4]: not 256 "classes"
    conv = write_model(conv_model(np.random.default_rng(0), k=3, stride=1, padding="SAME", dilation=1,
                                  in_c=3, out_c=4), "conv.tflite")
    with pytest.raises(ModelInputError, match=r"output '\w+' has shape \[1, 8, 8, 4\], not a class vector"):
        Classifier(conv)
    with pytest.raises(SourceError, match="unknown source 'webcam'"):
        open_source("webcam")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no images found"):
        open_source(f"images:{tmp_path / 'empty'}")
    with pytest.raises(SourceError, match="no such folder"):
        open_source(f"images:{tmp_path / 'nope'}")
    bad = tmp_path / "bad.y4m"
    bad.write_bytes(b"RIFF....")
    with pytest.raises(SourceError, match="not a YUV4MPEG2 file"):
        open_source(f"video:{bad}")
    with pytest.MonkeyPatch.context() as mp:      # OpenCV is in the test extra: hide it
        mp.setitem(sys.modules, "cv2", None)
        with pytest.raises(SourceError, match="needs OpenCV.*ffmpeg -i clip.mp4 -pix_fmt yuv420p"):
            open_source("video:clip.mp4")


def write_y4m(path, frames, full_range):
    h, w = frames[0].shape[:2]
    tag = " XCOLORRANGE=FULL" if full_range else ""
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg{tag}\n".encode())
        for rgb in frames:
            yuv = fake_picamera2.rgb_to_yuv420(rgb, w)              # full range, no padding
            if not full_range:                                      # studio levels
                y = yuv[:h].astype(np.float64) * 219 / 255 + 16
                c = (yuv[h:].astype(np.float64) - 128) * 224 / 255 + 128
                yuv = round_to_uint8(np.concatenate([y, c]))
            f.write(b"FRAME\n" + yuv.tobytes())


def jfif_yuv420_to_rgb(y, u, v):
    """ITU-T T.871 (JPEG/JFIF, sYCC) YCbCr -> RGB in float64, chroma replicated 2x2: written
    here without runtime code."""
    h, w = y.shape
    up = [np.repeat(np.repeat(c.astype(np.float64) - 128, 2, 0), 2, 1)[:h, :w] for c in (u, v)]
    f = y.astype(np.float64)
    rgb = np.stack([f + 1.402 * up[1], f - 0.344136 * up[0] - 0.714136 * up[1], f + 1.772 * up[0]], -1)
    return np.clip(np.floor(rgb + 0.5), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("impl", ["default", "pil"])
def test_yuv420_to_rgb_is_within_one_of_the_jfif_formula(impl):
    """The Pi 4 preview path's conversion (OpenCV when installed, Pillow otherwise) on every
    (Y, Cb, Cr) corner case the random planes reach, odd sizes and strided crops included."""
    from runtime import frames
    convert = frames.yuv420_to_rgb if impl == "default" else frames.yuv420_to_rgb_pil
    if impl == "default":
        assert frames._cv2() is not None, "opencv-python-headless (the test extra) is not installed"
    rng = np.random.default_rng(7)
    for h, w in [(224, 224), (96, 96), (7, 5), (2, 3), (1, 1)]:
        ch, cw = (h + 1) // 2, (w + 1) // 2
        y, u, v = (rng.integers(0, 256, s, dtype=np.uint8) for s in [(h, w + 9), (ch, cw + 5), (ch, cw + 5)])
        y, u, v = y[:, 4:4 + w], u[:, 2:2 + cw], v[:, 2:2 + cw]          # strided views, as cropped
        rgb = convert(y, u, v)
        assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
        err = np.abs(rgb.astype(int) - jfif_yuv420_to_rgb(y, u, v))
        assert err.max() <= 1, (h, w, err.max())



def test_yuv420_to_rgb_by_row_parity_equals_converting_the_upsampled_image_byte_for_byte(monkeypatch):
    """yuv420_to_rgb converts the even and the odd rows separately against half-height chroma
    replicated across the row (not a full-size upsampled image): per-pixel conversion, so the
    bytes must be exactly OpenCV's on the fully upsampled image -- checked here on random planes,
    odd sizes and strided crops, written into a given array (out=) and a new one."""
    cv2 = pytest.importorskip("cv2")
    from runtime import frames
    rng = np.random.default_rng(11)
    for h, w in [(224, 224), (96, 128), (7, 5), (2, 3), (1, 1), (3, 8)]:
        ch, cw = (h + 1) // 2, (w + 1) // 2
        y, u, v = (rng.integers(0, 256, s, dtype=np.uint8) for s in [(h, w + 9), (ch, cw + 5), (ch, cw + 5)])
        y, u, v = y[:, 4:4 + w], u[:, 2:2 + cw], v[:, 2:2 + cw]
        up = [np.ascontiguousarray(np.repeat(np.repeat(c, 2, 0), 2, 1)[:h, :w]) for c in (v, u)]
        want = cv2.cvtColor(cv2.merge([np.ascontiguousarray(y), *up]), cv2.COLOR_YCrCb2RGB)
        np.testing.assert_array_equal(frames.yuv420_to_rgb(y, u, v), want)
        out = np.full((h, w, 3), 7, np.uint8)
        assert frames.yuv420_to_rgb(y, u, v, out=out) is out
        np.testing.assert_array_equal(out, want)
    with monkeypatch.context() as mp:       # without OpenCV: Pillow's bytes, into out= too
        mp.setattr(frames, "_cv2", lambda: None)
        out = np.zeros((h, w, 3), np.uint8)
        assert frames.yuv420_to_rgb(y, u, v, out=out) is out
        np.testing.assert_array_equal(out, frames.yuv420_to_rgb_pil(y, u, v))


@pytest.mark.parametrize("full_range", [True, False])
def test_y4m_video_source(tmp_path, full_range):
    rng = np.random.default_rng(3)
    scenes = [fake_picamera2.shapes_scene(i, 128, 96, rng) for i in range(12)]
    path = tmp_path / "clip.y4m"
    write_y4m(path, [s[0] for s in scenes], full_range)
    src = open_source(f"video:{path}")
    src.open(Want(96, 96))
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    src.close()
    assert len(frames) == 12
    for f, (rgb, _) in zip(frames, scenes):
        err = np.abs(f.pixels.astype(int) - rgb.astype(int))
        assert f.pixels.shape == (96, 128, 3) and err.max() <= 3, err.max()
    results, summary = run(Y4mSource(path), V2)
    assert summary.frames == 12
    check_results(results, V2, 4)
    correct = sum(r.top[0].label == truth for r, (_, truth) in zip(results, scenes))
    assert correct >= 10


# --- picamera2 ---------------------------------------------------------------------------

def camera_frames(mod, want, n=6, preview=False):
    src = Picamera2Source(module=mod, preview=preview)
    src.open(want)
    frames = [src.read() for _ in range(n)]
    src.close()
    assert set(c.split(":")[0] for c in mod.log) <= mod.Picamera2.ALLOWED
    return src, frames


def rendered(mod, rng_seed, n, w, h):
    """The scenes the fake rendered, re-rendered from the same seed."""
    rng = np.random.default_rng(rng_seed)
    return [fake_picamera2.shapes_scene(i, w, h, rng)[0] for i in range(n)]


def test_picamera2_headless_reads_the_main_stream_at_the_model_size_on_any_pi():
    for platform in ("vc4", "pisp"):
        mod = fake_picamera2.make_module(platform)
        src, frames = camera_frames(mod, Want(96, 96))
        assert (src.stream, src.format, src.size) == ("main", "BGR888", (128, 96))
        assert src.size == lores_size(Want(96, 96)) and src.crop == (16, 96)   # centred square
        assert mod.log[:5] == ["global_camera_info", "__init__", "create_preview_configuration",
                               "configure", "start"]
        assert mod.log[-2:] == ["stop", "close"] and "capture_array:main" in mod.log
        for f, rgb in zip(frames, rendered(mod, 0, 6, 128, 96)):
            np.testing.assert_array_equal(f.pixels, rgb[:, 16:112])   # [R, G, B] as the ISP gave it
            # interleaved, as the input tensor, and not copied: the crop is a view of the frame
            # capture_array returned, which preprocessing reads once into the interpreter
            assert f.pixels.strides[1:] == (3, 1) and f.pixels.base is not None


def test_picamera2_preview_on_a_pi5_gets_rgb_lores():
    mod = fake_picamera2.make_module("pisp")
    src, frames = camera_frames(mod, Want(96, 96), preview=True)
    assert (src.stream, src.format, src.size) == ("lores", "BGR888", (128, 96))
    assert mod.log.count("configure") == 1 and "capture_array:lores" in mod.log
    for f, rgb in zip(frames, rendered(mod, 0, 6, 128, 96)):
        np.testing.assert_array_equal(f.pixels, rgb[:, 16:112])


@pytest.mark.parametrize("preview", [False, True])
def test_picamera2_without_bgr888_takes_rgb888_and_swaps_the_bytes(preview):
    mod = fake_picamera2.make_module("pisp", refuse=("BGR888",))
    src, frames = camera_frames(mod, Want(120, 90), preview=preview)     # 4:3 -> 120 wide
    assert src.format == "RGB888" and mod.log.count("configure") == 2 and src.crop == (0, 120)
    for f, rgb in zip(frames, rendered(mod, 0, 6, 120, 90)):
        np.testing.assert_array_equal(f.pixels, rgb)        # [B, G, R] turned into RGB, no padding
        assert f.pixels.flags.c_contiguous
    mod = fake_picamera2.make_module("pisp", refuse=("BGR888", "RGB888", "YUV420"))
    with pytest.raises(SourceError, match="camera refused the configuration"):
        Picamera2Source(module=mod, preview=preview).open(Want(96, 96))


def test_picamera2_preview_on_a_pi4_falls_back_to_yuv420_lores_and_converts():
    mod = fake_picamera2.make_module("vc4")
    src, frames = camera_frames(mod, Want(96, 96), preview=True)
    assert (src.stream, src.format) == ("lores", "YUV420")
    assert mod.log.count("configure") == 2                  # BGR888 refused, YUV420 accepted
    for f, rgb in zip(frames, rendered(mod, 0, 6, 128, 96)):
        err = np.abs(f.pixels.astype(int) - rgb[:, 16:112].astype(int))
        assert f.pixels.shape == (96, 96, 3)
        assert err.max() <= 2, err.max()


@pytest.mark.parametrize("preview", [False, True])
def test_picamera2_grey_model_reads_the_y_plane_without_the_stride_padding(preview):
    mod = fake_picamera2.make_module("vc4")
    src, frames = camera_frames(mod, Want(128, 128, gray=True), preview=preview)
    assert src.format == "YUV420" and src.size == (170, 128) and mod.log.count("configure") == 1
    assert src.stream == ("lores" if preview else "main") and src.crop == (20, 128)
    for f, rgb in zip(frames, rendered(mod, 0, 6, 170, 128)):
        yuv = fake_picamera2.rgb_to_yuv420(rgb, 192)        # stride 170 -> 192: 22 bytes of padding
        y, u, v = yuv420_planes(yuv, 170, 128)
        np.testing.assert_array_equal(f.pixels[..., 0], y[:, 20:148])
        assert GARBAGE_FREE(f.pixels) and u.shape == v.shape == (64, 85)


def GARBAGE_FREE(px):
    return not (px == fake_picamera2.GARBAGE).all(axis=0).any()


def test_picamera2_errors_say_how_to_fix_them(monkeypatch):
    with pytest.raises(SourceError, match="no camera found.*rpicam-hello --list-cameras"):
        Picamera2Source(module=fake_picamera2.make_module(cameras=0)).open(Want(96, 96))
    with pytest.raises(SourceError, match="there is no camera 1"):
        Picamera2Source(camera_num=1, module=fake_picamera2.make_module()).open(Want(96, 96))
    monkeypatch.setitem(sys.modules, "picamera2", None)     # makes `import picamera2` fail
    with pytest.raises(SourceError, match=r"apt install python3-picamera2.*--system-site-packages"):
        open_source("picamera2").open(Want(96, 96))


def test_the_fake_refuses_calls_outside_the_contract():
    cam = fake_picamera2.make_module().Picamera2()
    with pytest.raises(AssertionError, match="capture_request"):
        cam.capture_request()
    with pytest.raises(AssertionError, match="capture before start"):
        cam.capture_array("lores")


def test_camera_pipeline_matches_the_interpreter_draws_the_preview_and_keeps_only_fresh_frames():
    mod = fake_picamera2.make_module("vc4", seed=5)
    src = Picamera2Source(module=mod, preview=True)
    from runtime.annotate import caption, overlay
    pipe = Pipeline(src, Classifier(RGB96, LABELS_FILE, threads=2), top_k=4, max_frames=60,
                    keep_tensors=True)
    results = []
    for r in pipe.run():
        results.append(r)
        src.show(overlay(src.main_size, caption(r)))
    assert len(results) == 60 and "set_overlay" in mod.log
    assert all(o.shape == (480, 640, 4) and o[..., 3].any() for o in mod.overlays)
    check_results(results, RGB96, 4)
    idx = [r.frame.index for r in results]
    assert idx == sorted(idx) and len(set(idx)) == 60
    correct = sum(r.top[0].label == mod.truths[r.frame.index] for r in results)
    assert correct / 60 >= 0.7, correct


# --- the pipeline's hand-over -------------------------------------------------------------

def test_slot_keeps_only_the_newest_for_live_sources():
    s = Slot(1, latest=True)
    for i in range(5):
        assert s.put(i)
    assert s.get() == 4 and s.dropped == 4
    b = Slot(2, latest=False)
    b.put(1)
    b.put(2)
    t = threading.Thread(target=b.put, args=(3,))
    t.start()
    time.sleep(0.05)
    assert t.is_alive()                                     # full: the producer waits
    assert b.get() == 1
    t.join(1)
    assert [b.get(), b.get()] == [2, 3] and b.dropped == 0


def test_slot_hand_overs_without_the_lock_lose_nothing_and_wake_a_waiting_side():
    """A put or get that needs no wait skips the lock; a side that waits is still woken: by a
    put or get (wake=True), or by wake() after a deferred one (wake=False)."""
    s = Slot(3, latest=False)
    got, n = [], 3000

    def consume():
        while len(got) < n:
            got.append(s.get(wake=len(got) % 3 != 0))
            if len(got) % 7 == 0:
                time.sleep(0.0001)          # the producer finds the slot full and waits
    t = threading.Thread(target=consume)
    t.start()
    for i in range(n):
        assert s.put(i, wake=i % 2 == 0)
        if i % 2:
            s.wake()                        # the deferred wake
        if i % 11 == 0:
            time.sleep(0.0001)              # the consumer finds the slot empty and waits
    t.join(10)
    assert not t.is_alive() and got == list(range(n)) and s.waiting == 0 and s.dropped == 0
    waiting = threading.Thread(target=lambda: got.append(s.get()))
    waiting.start()
    time.sleep(0.05)
    assert waiting.is_alive() and s.waiting == 1        # counted before it sleeps
    s.put("late", wake=False)
    time.sleep(0.05)
    assert waiting.is_alive()                            # deferred: not woken yet
    s.wake()
    waiting.join(1)
    assert not waiting.is_alive() and got[-1] == "late"
    waiting = threading.Thread(target=lambda: got.append(s.get()))
    waiting.start()
    time.sleep(0.05)
    s.put("now")                                         # a put that finds room wakes it itself
    waiting.join(1)
    assert not waiting.is_alive() and got[-1] == "now"
    s.close()
    assert s.get() is _END and s.put(1) is False        # closed: the end marker, no more items


class FastCamera(FrameSource):
    """A live source far faster than inference: the pipeline must drop, not queue."""
    live = True

    def read(self):
        time.sleep(0.0002)
        self.n = getattr(self, "n", -1) + 1
        return Frame(self.n, np.full((96, 96, 3), self.n % 256, np.uint8))


class SlowClassifier(Classifier):
    def run(self):
        time.sleep(0.01)
        super().run()


def test_live_pipeline_drops_stale_frames_instead_of_lagging():
    pipe = Pipeline(FastCamera(), SlowClassifier(RGB96, LABELS_FILE), max_frames=15)
    results = list(pipe.run())
    assert len(results) == 15 and pipe.summary.dropped > 15
    assert max(r.latency_ms for r in results[3:]) < 50      # the frames classified are fresh


class CountingSource(FrameSource):
    """A file-like source (every frame classified) that counts the frames read."""
    live = False

    def read(self):
        self.n = getattr(self, "n", -1) + 1
        return Frame(self.n, np.full((96, 96, 3), self.n % 256, np.uint8))


def test_a_slow_caller_holds_the_pipeline_back_and_stopping_ends_its_threads():
    src = CountingSource()
    pipe = Pipeline(src, Classifier(RGB96, LABELS_FILE))
    seen = []
    for r in pipe.run():
        seen.append(r.frame.index)
        time.sleep(0.02)                    # a caller far slower than inference
        # bounded: 4 frames in the capture slot, 1 being classified, 4 results waiting,
        # and 1 read but not yet handed over
        assert src.n <= len(seen) + 10, (src.n, len(seen))
        if len(seen) == 10:
            break
    assert seen == list(range(10))
    time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name in ("capture", "inference")]


class BrokenCamera(FrameSource):
    def read(self):
        raise SourceError("the camera stopped delivering frames")


class FailingClassifier(Classifier):
    def run(self):
        raise RuntimeError("the interpreter failed")


@pytest.mark.parametrize("source, classifier, error, message", [
    (BrokenCamera, Classifier, SourceError, "stopped delivering"),
    (CountingSource, FailingClassifier, RuntimeError, "interpreter failed")], ids=["source", "interpreter"])
def test_a_failure_on_the_capture_or_inference_thread_surfaces_in_the_caller(source, classifier, error,
                                                                              message):
    with pytest.raises(error, match=message):
        list(Pipeline(source(), classifier(RGB96)).run())


# --- the command line -----------------------------------------------------------------------

def cli(*args):
    return subprocess.run([sys.executable, "-m", "runtime.cli", "classify", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_json_lines_and_annotated_frames(tmp_path):
    folder = write_image_folder(tmp_path / "imgs", count=6)
    out = tmp_path / "annotated"
    p = cli("--model", RGB96, "--labels", LABELS_FILE, "--source", f"images:{folder}", "--json",
            "--top-k", "2", "--save", out, "--threads", "1")
    assert p.returncode == 0, p.stderr
    lines = [json.loads(s) for s in p.stdout.splitlines()]
    assert [d["type"] for d in lines] == ["result"] * 6 + ["summary"]
    assert all(len(d["top"]) == 2 and d["truth"] in LABELS for d in lines[:-1])
    assert lines[-1]["frames"] == 6 and lines[-1]["labelled"] == 6
    # no rate from one result: null, not a measured-looking 0.0 (was 0.0 on the first frame)
    assert lines[0]["fps"] is None and all(d["fps"] > 0 for d in lines[1:-1])
    saved = sorted(out.glob("*.png"))
    assert len(saved) == 6 and saved[0].name.startswith("000000_")
    from PIL import Image
    assert Image.open(saved[0]).size == (480, 360)          # 160x120 scaled up (x3) for the caption


def test_cli_terminal_output_and_errors(tmp_path):
    p = cli("--model", GRAY128, "--labels", LABELS_FILE, "--source", "synthetic:4", "--frames", "20")
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.splitlines()) == 21 and "20 frames in" in p.stdout
    first, second = p.stdout.splitlines()[:2]
    assert "     - FPS" in first and " 0.0 FPS" not in first and re.search(r"\d\.\d FPS", second), first
    assert "top-1 accuracy" in p.stdout and "int8 [1, 128, 128, 1]" in p.stderr
    bad = tmp_path / "l.txt"
    bad.write_text("x\n")
    p = cli("--model", RGB96, "--labels", bad, "--source", "synthetic")
    assert p.returncode == 2 and "has 1 labels but the model has 4 classes" in p.stderr
    assert "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "runtime.cli", "classify", "--help"],
                       capture_output=True, text=True)
    assert "images:DIR" in p.stdout and "--threads" in p.stdout
