"""The live pipeline's buffer paths: frames staged on the capture thread into reused bodies and
copied straight into a real ai-edge-litert interpreter's input buffer (Preprocessor.stage +
Classifier.load), the 256-entry quantization table applied with OpenCV's LUT (or numpy's take
without OpenCV), and top-k (k passes of argmax, or an 8-bit sort for k > 8). Every input byte is checked against the previous path (a fresh
tensor through set_tensor, re-implemented here as it was at a64f356) and against the
quantization formula evaluated pixel value by pixel value.
"""
import math

import numpy as np
import pytest

from codegen.tflite_writer import ModelBuilder
from conftest import FIXTURE_MODELS
from runtime import preprocess
from runtime.classifier import Classifier
from runtime.frames import Frame, FrameSource
from runtime.pipeline import Pipeline
from runtime.preprocess import (InputSpec, Preprocessor, apply_table, centre_crop, luma, pixel_table,
                                resize)

RGB96 = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"
NCHW96 = FIXTURE_MODELS / "torch_layout_96_nchw.tflite"

# (dtype, scale, zero point, --input-range): the tables models come with -- int8 [0, 1] (a bit
# flip), uint8 raw pixels (the identity), TF-Slim's uint8 [-1, 1], int8 [-1, 1] at 1/128 and at
# 2/255, odd scales that round and saturate, a float model
QUANTIZATIONS = [("int8", 1 / 255, -128, "auto"), ("uint8", 1.0, 0, "auto"),
                 ("uint8", 0.0078125, 128, "auto"), ("int8", 0.0078125, 0, "auto"),
                 ("int8", 2 / 255, -1, "auto"), ("int8", 0.0123, 7, "-1:1"), ("uint8", 0.9, 3, "0:255"),
                 ("int8", 0.02, -100, "0:1"), ("float32", None, None, "auto"), ("float32", None, None, "0:255")]
QIDS = [f"{d}-{s}-{z}-{r}" for d, s, z, r in QUANTIZATIONS]


def quantize_formula(p: int, dtype: str, scale, zp, lo: float, hi: float):
    """One pixel value through the input's normalisation and TFLite's QUANTIZE, in scalar
    Python: x = lo + p (hi - lo) / 255; q = round half away from zero (x / scale) + zp,
    saturated to the type."""
    x = lo + p * ((hi - lo) / 255.0)
    if dtype == "float32":
        return np.float32(x)
    v = x / np.float32(scale).item()
    q = math.copysign(math.floor(abs(v) + 0.5), v) + zp
    info = np.iinfo(dtype)
    return int(min(max(q, info.min), info.max))


def spec_of(dtype, scale, zp, h=24, w=32, c=3, layout="NHWC"):
    return InputSpec(0, h, w, c, np.dtype(dtype), float(np.float32(scale or 0.0)), int(zp or 0), layout)


@pytest.mark.parametrize("dtype, scale, zp, rng_choice", QUANTIZATIONS, ids=QIDS)
@pytest.mark.parametrize("opencv", [True, False], ids=["cv2.LUT", "numpy"])
def test_the_table_applied_with_opencv_or_numpy_is_the_formula_for_every_byte(dtype, scale, zp, rng_choice,
                                                                               opencv, monkeypatch):
    if not opencv:
        monkeypatch.setattr(preprocess, "_cv2", lambda: None)
    elif preprocess._cv2() is None:
        pytest.skip("OpenCV is not installed")
    spec = spec_of(dtype, scale, zp)
    pre = Preprocessor(spec, rng_choice)
    lo, hi = pre.range
    want = np.array([quantize_formula(p, dtype, scale, zp, lo, hi) for p in range(256)], dtype)
    np.testing.assert_array_equal(pre.table, want)
    # every byte value, in a frame, a strided crop of one, and a single-channel frame
    px = np.random.default_rng(1).permutation(np.tile(np.arange(256, dtype=np.uint8), 3 * 16)).reshape(32, 128, 3)
    for src in (px, px[4:28, 9:101], px[4:28, 9:101, 1:2]):
        out = np.full(src.shape, 77, want.dtype)
        assert apply_table(pre.table, src, out) is out
        np.testing.assert_array_equal(out, want[src])
        np.testing.assert_array_equal(out, np.take(pre.table, src))


def previous_path(pre: Preprocessor, px: np.ndarray) -> np.ndarray:
    """Preprocessor.__call__ as it was at a64f356: luma, crop, resize, replicate grey, then a
    fresh C-order tensor through numpy's take of the table."""
    s = pre.spec
    if s.channels == 1 and px.shape[2] == 3:
        px = luma(px)
    if px.shape[:2] != (s.height, s.width):
        px = centre_crop(px, s.width / s.height)
        if px.shape[:2] != (s.height, s.width):
            px = resize(px, s.width, s.height)
    if s.channels == 3 and px.shape[2] == 1:
        px = np.repeat(px, 3, axis=2)
    px = np.ascontiguousarray(px)
    if s.layout == "NCHW":
        px = np.ascontiguousarray(px.transpose(2, 0, 1))
    return np.take(pixel_table(s, *pre.range), px)[None]


def mean_model(write_model, dtype, scale, zp, h=24, w=32, c=3, layout="NHWC"):
    """A real .tflite: MEAN over the image of an input with this quantization ([1, C] 'class
    scores', a classifier's output shape)."""
    mb = ModelBuilder()
    q = {} if dtype == "float32" else {"scale": scale, "zero_point": zp}
    x = mb.tensor([1, c, h, w] if layout == "NCHW" else [1, h, w, c], dtype, **q)
    axes = mb.tensor([2], "int32", data=[2, 3] if layout == "NCHW" else [1, 2])
    y = mb.tensor([1, c], dtype, **q)
    mb.op("MEAN", [x, axes], [y], "ReducerOptions", KeepDims=False)
    return write_model(mb.build([x], [y]), f"mean_{dtype}_{layout}_{c}.tflite")


def frames_for(h, w):
    """4:3 and larger (crop + resize), the model's size, a strided crop of a wider frame at the
    model's size (a camera's headless main stream), a grey frame, a planar (non-C-order) one."""
    rng = np.random.default_rng(3)
    big = rng.integers(0, 256, (h * 2, w * 3, 3), dtype=np.uint8)
    wide = rng.integers(0, 256, (h, w + 10, 3), dtype=np.uint8)
    exact = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return [big, exact, wide[:, 5:5 + w], rng.integers(0, 256, (h, w, 1), dtype=np.uint8),
            np.ascontiguousarray(exact)[..., [2, 1, 0]], big[..., :1]]


def check_both_paths(clf: Classifier):
    """Each frame through stage + load into the interpreter's own buffer, and through the
    previous path (a fresh tensor, set_tensor): the same input bytes, the same output."""
    pre, it = clf.preprocess, clf.interpreter
    spare = pre.new_body()
    for px in frames_for(pre.spec.height, pre.spec.width):
        want = previous_path(pre, px)
        np.testing.assert_array_equal(pre(px), want)
        it.set_tensor(clf.input.index, want)
        it.invoke()
        want_out = it.get_tensor(clf.output_index)
        it.set_tensor(clf.input.index, np.zeros_like(want))       # no stale bytes left to find
        staged = pre.stage(px, spare)
        assert staged is spare
        clf.load(staged)
        got = clf.input_tensor()
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        clf.run()                 # would raise if load() had left a view into the interpreter
        np.testing.assert_array_equal(clf.output(), want_out.reshape(-1))


@pytest.mark.parametrize("dtype, scale, zp, rng_choice", QUANTIZATIONS, ids=QIDS)
def test_staged_frames_loaded_into_the_interpreter_match_the_previous_path(dtype, scale, zp, rng_choice,
                                                                           write_model):
    clf = Classifier(mean_model(write_model, dtype, scale, zp), input_range=rng_choice)
    check_both_paths(clf)


@pytest.mark.parametrize("layout, channels", [("NHWC", 1), ("NCHW", 3), ("NCHW", 1)])
@pytest.mark.parametrize("dtype, scale, zp", [("int8", 1 / 255, -128), ("uint8", 0.0078125, 128)])
def test_grey_and_channels_first_inputs_too(layout, channels, dtype, scale, zp, write_model):
    clf = Classifier(mean_model(write_model, dtype, scale, zp, c=channels, layout=layout))
    assert clf.input.layout == layout and clf.input.channels == channels
    check_both_paths(clf)


@pytest.mark.parametrize("model", [RGB96, NCHW96], ids=lambda p: p.stem)
def test_real_models_through_both_paths(model):
    check_both_paths(Classifier(model, threads=2))


def test_a_failed_load_leaves_no_view_into_the_interpreter():
    clf = Classifier(RGB96)
    with pytest.raises(ValueError) as failed:
        clf.load(np.zeros((5, 5, 3), np.uint8))          # not the input's shape
    assert failed.value.__traceback__ is not None       # the exception, kept, holds no view
    assert clf.interpreter._safe_to_run()
    clf.run()                                             # TFLite's _ensure_safe is satisfied
    clf.load(clf.preprocess.stage(np.zeros((96, 96, 3), np.uint8)))
    clf.run()
    assert clf.interpreter._safe_to_run()


def test_load_takes_the_body_with_or_without_its_batch_dimension():
    """The pipeline hands Classifier.load the body's batch view (body[None], made once per
    body); callers may give the body itself. Both load the same bytes."""
    clf = Classifier(RGB96)
    rng = np.random.default_rng(3)
    body = clf.preprocess.stage(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))
    for given in (body, body[None]):
        clf.load(np.zeros_like(body))
        clf.load(given)
        np.testing.assert_array_equal(clf.input_tensor(), body[None])
        clf.run()
    with pytest.raises(ValueError):
        clf.load(body[None, :, :48])                     # not the input's shape
    assert clf.interpreter._safe_to_run()


class Frames(FrameSource):
    """Fixed random frames (4:3, so cropped and resized), every one classified."""

    def __init__(self, n, live=False):
        self.n, self.live, self.i = n, live, 0
        self.rng = np.random.default_rng(11)

    def read(self):
        if self.i >= self.n:
            return None
        self.i += 1
        return Frame(self.i - 1, self.rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))


@pytest.mark.parametrize("dtype, scale, zp, rng_choice", [
    ("int8", 1 / 255, -128, "-1:1"), ("int8", 0.0123, 7, "-1:1"), ("uint8", 0.0078125, 128, "-1:1"),
    ("int8", 1 / 255, -128, "auto"), ("uint8", 1.0, 0, "auto")])
def test_the_pipeline_feeds_the_interpreter_the_previous_paths_bytes(dtype, scale, zp, rng_choice, write_model):
    """The pipeline, with the table, a bit flip and the identity: every
    input tensor as the previous path made it, every top-k as the interpreter's own output
    ranks it, and the bodies reused."""
    clf = Classifier(mean_model(write_model, dtype, scale, zp, h=96, w=96), threads=2, input_range=rng_choice)
    assert (clf.preprocess.shortcut is None) == (rng_choice != "auto")
    pipe = Pipeline(Frames(40), clf, top_k=3, keep_tensors=True)
    results = list(pipe.run())
    assert [r.frame.index for r in results] == list(range(40))
    oracle = Classifier(mean_model(write_model, dtype, scale, zp, h=96, w=96), input_range=rng_choice)
    for r in results:
        np.testing.assert_array_equal(r.tensor, previous_path(clf.preprocess, r.frame.pixels))
        raw = oracle.invoke(r.tensor)
        np.testing.assert_array_equal(r.raw, raw)
        order = sorted(range(raw.size), key=lambda i: (-int(raw[i]), i))[:3]
        assert [p.index for p in r.top] == order
        assert [p.score for p in r.top] == [(int(raw[i]) - clf.out_zero) * clf.out_scale for i in order]
    assert 0 < len(pipe._free) <= 6         # bodies reused, not one per frame


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_top_k_ranks_as_a_full_sort_with_ties_to_the_lower_index(dtype):
    clf = Classifier(RGB96)
    info = np.iinfo(dtype)
    rng = np.random.default_rng(5)
    clf.out_dtype = np.dtype(dtype)
    for n, spread in [(4, 3), (1000, 256), (1000, 4), (1001, 1), (7, 1)]:
        clf.labels = [f"c{i}" for i in range(n)]
        for _ in range(20):
            lo = int(rng.integers(info.min, info.max - spread + 2))
            raw = rng.integers(lo, lo + spread, n).astype(dtype)
            for k in sorted({1, 3, 5, n - 1, n} - {0}):
                order = sorted(range(n), key=lambda i: (-int(raw[i]), i))[:k]
                got = clf.top(raw, k)
                assert [p.index for p in got] == order, (n, spread, k)
                assert [p.score for p in got] == [(int(raw[i]) - clf.out_zero) * clf.out_scale for i in order]


def yuv_frame(h, w, seed=0):
    """A YUV420Frame over strided planes (crops of wider, padded ones, as the picamera2 adapter
    cuts them), at (h, w)."""
    from runtime.frames import YUV420Frame
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 256, (h, w + 40), dtype=np.uint8)[:, 20:20 + w]
    u, v = (rng.integers(0, 256, ((h + 1) // 2, (w + 1) // 2 + 16), dtype=np.uint8)[:, 10:10 + (w + 1) // 2]
            for _ in range(2))
    return YUV420Frame(seed, y, u, v)


@pytest.mark.parametrize("dtype, scale, zp, rng_choice", QUANTIZATIONS, ids=QIDS)
@pytest.mark.parametrize("layout, channels, size", [("NHWC", 3, (24, 32)), ("NHWC", 3, (23, 31)),
                                                     ("NHWC", 1, (24, 32)), ("NCHW", 3, (24, 32))])
def test_a_yuv420_frame_staged_straight_into_the_body_gives_the_bytes_of_its_pixels(
        dtype, scale, zp, rng_choice, layout, channels, size):
    """Preprocessor.stage_frame on a frame that makes its RGB on demand (the Pi 4 preview
    path): converted into the body and mapped in place where the input allows it, else through
    its pixels -- the same bytes as stage() of its pixels either way (the frame's own size,
    odd sizes, and a frame that must be cropped and resized), and without OpenCV too. Where it
    is converted into the body, the frame's own pixels are not made."""
    from runtime import frames
    pre = Preprocessor(spec_of(dtype, scale, zp, *size, c=channels, layout=layout), rng_choice)
    direct = layout == "NHWC" and channels == 3 and dtype != "float32"
    for opencv in (True, False):
        with pytest.MonkeyPatch.context() as mp:
            if not opencv:       # Pillow's conversion (within 1 of OpenCV's, not equal)
                mp.setattr(frames, "_cv2", lambda: None)
                mp.setattr(preprocess, "_cv2", lambda: None)     # numpy's take, in place
            check_yuv420_frame(pre, size, direct)


def check_yuv420_frame(pre, size, direct):
    from runtime import frames
    for shape, seed in ((size, 1), ((30, 48), 2)):
        frame = yuv_frame(*shape, seed=seed)
        body = np.full(pre.body_shape, 77, pre.table.dtype)
        assert pre.stage_frame(frame, body) is body
        assert (frame._pixels is None) == (direct and shape == size)
        rgb = frames.yuv420_to_rgb(*frame.planes)
        np.testing.assert_array_equal(frame.pixels, rgb)
        assert frame.shape == rgb.shape and frame.pixels.flags.c_contiguous
        np.testing.assert_array_equal(body, pre.stage(rgb))
        again = np.full(pre.body_shape, 77, pre.table.dtype)       # pixels made first: copied in
        np.testing.assert_array_equal(pre.stage_frame(frame, again), body)


def upsampled_yuv420_to_rgb(y, u, v):
    """OpenCV's conversion of the fully upsampled image (chroma replicated 2x2): the bytes
    yuv420_to_rgb must give (test_classify checks the equality on single calls)."""
    cv2 = pytest.importorskip("cv2")
    h, w = y.shape
    up = [np.ascontiguousarray(np.repeat(np.repeat(c, 2, 0), 2, 1)[:h, :w]) for c in (v, u)]
    return cv2.cvtColor(cv2.merge([np.ascontiguousarray(y), *up]), cv2.COLOR_YCrCb2RGB)


def test_yuv420_to_rgb_reuses_its_buffers_per_thread_and_size_without_mixing_them():
    """yuv420_to_rgb keeps its working buffers (upsampled chroma, the interleaved YCrCb)
    from one call to the next, per thread and per size: sizes alternating on one thread, and
    two threads converting different sizes at once, still give every frame's own bytes; the
    same size on the same thread reuses the buffers (another size replaces them), another
    thread has its own."""
    import threading
    from runtime import frames
    pytest.importorskip("cv2")
    rng = np.random.default_rng(5)

    def planes(h, w):
        ch, cw = (h + 1) // 2, (w + 1) // 2
        y, u, v = (rng.integers(0, 256, s, dtype=np.uint8) for s in [(h, w + 6), (ch, cw + 3), (ch, cw + 3)])
        return y[:, 2:2 + w], u[:, 1:1 + cw], v[:, 1:1 + cw]
    sizes = [(224, 224), (7, 5), (224, 224), (96, 128), (1, 1), (2, 3), (224, 224), (7, 5)]
    cases = [planes(*s) for s in sizes]
    wants = [upsampled_yuv420_to_rgb(*p) for p in cases]
    for p, want in zip(cases, wants):
        np.testing.assert_array_equal(frames.yuv420_to_rgb(*p), want)
    mine = frames._yuv420_scratch(7, 5, (4, 3))[0]
    assert frames._yuv420_scratch(7, 5, (4, 3))[0] is mine
    errors, theirs = [], []

    def convert(picks, rounds):
        try:
            for _ in range(rounds):
                for i in picks:
                    out = np.full((*sizes[i], 3), 9, np.uint8)
                    assert frames.yuv420_to_rgb(*cases[i], out=out) is out
                    np.testing.assert_array_equal(out, wants[i])
            theirs.append(frames._yuv420_scratch(7, 5, (4, 3))[0])
        except BaseException as e:      # noqa: BLE001 -- reported on the test's thread
            errors.append(e)
    threads = [threading.Thread(target=convert, args=(picks, 30)) for picks in ([0, 1], [3, 4, 5])]
    for t in threads:
        t.start()
    convert([2, 7], 30)
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(theirs) == 3 and len({id(b) for b in theirs}) == 3     # one set of buffers per thread


def test_the_output_is_flattened_on_the_callers_thread_and_predictions_are_named_tuples(write_model):
    """Classifier.output(): (classes,); output(flat=False) as the interpreter shapes it (what the
    pipeline's inference thread takes); every Result.raw is (classes,) all the same, and the
    top-k are immutable named (index, label, score) records."""
    clf = Classifier(mean_model(write_model, "int8", 1 / 255, -128, h=96, w=96), threads=2)
    clf.invoke(clf.preprocess(np.zeros((96, 96, 3), np.uint8)))
    assert clf.output().shape == (3,)
    assert clf.output(flat=False).shape == (1, 3) == tuple(clf.interpreter.get_output_details()[0]["shape"])
    results = list(Pipeline(Frames(12), clf, top_k=2, keep_tensors=True).run())
    assert len(results) == 12
    for r in results:
        assert r.raw.shape == (3,)
        p = r.top[0]
        assert (p.index, p.label, p.score) == tuple(p) and p.label == f"class {p.index}"
        with pytest.raises(AttributeError):
            p.score = 1.0
