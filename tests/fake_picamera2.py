"""A stand-in for the `picamera2` module, strict about the calls it accepts.

libcamera cannot run here, so the adapter in runtime/picamera.py is exercised against this
object. It implements exactly the picamera2 calls the adapter is allowed to make, with the
signatures and checks of picamera2 itself (even sizes, lores no larger than main, "lores stream
must be YUV" on a Pi 4's VC4 ISP), and returns capture_array() arrays in the shapes and byte
orders picamera2 documents (Picamera2 manual, appendix A):
  RGB888  (h, w, 3), pixels ordered [B, G, R]
  BGR888  (h, w, 3), pixels ordered [R, G, B]
          both with rows padded to a multiple of 64 bytes in the buffer, which picamera2 slices
          away: the array is a view, not C-contiguous when there is padding
  YUV420  (h * 3 // 2, stride), stride = width aligned up to 64; Y rows, then half-size U and V
          rows packed two per array row; padding bytes carry garbage (0xAA here)
Anything else the adapter touches raises AssertionError, which fails the test. Its method
signatures are held to the real picamera2's source by tests/test_picamera2_contract.py.
"""
from __future__ import annotations

import numpy as np

from runtime.frames import round_to_uint8, to_uint8
from runtime.shapes import LABELS, draw_shape

GARBAGE = 0xAA
STREAM_KEYS = {"format", "size", "stride", "framesize", "preserve_ar"}


def rgb_to_yuv420(rgb: np.ndarray, stride: int) -> np.ndarray:
    """Full-range BT.601 (sYCC, picamera2's default preview colour space), chroma 2x2-averaged,
    laid out as picamera2's YUV420 array."""
    h, w = rgb.shape[:2]
    f = rgb.astype(np.float64)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 + (-0.168736 * r - 0.331264 * g + 0.5 * b)
    cr = 128 + (0.5 * r - 0.418688 * g - 0.081312 * b)
    sub = lambda c: c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))   # noqa: E731
    buf = np.full(h * stride * 3 // 2, GARBAGE, np.uint8)
    ys = buf[:h * stride].reshape(h, stride)
    ys[:, :w] = round_to_uint8(y)
    for k, c in enumerate((cb, cr)):
        plane = buf[h * stride + k * (h // 2) * (stride // 2):][: (h // 2) * (stride // 2)]
        plane.reshape(h // 2, stride // 2)[:, :w // 2] = round_to_uint8(sub(c))
    return buf.reshape(h * 3 // 2, stride)


def shapes_scene(index: int, w: int, h: int, rng: np.random.Generator):
    """What the camera looks at: one of the training shapes, square, centred, the sides filled
    with the edge colour. Returns (RGB uint8 (h, w, 3), true label). h must be even."""
    kind = int(rng.integers(0, len(LABELS)))
    img = to_uint8(draw_shape(kind, h, rng))
    # constant over 2x2 blocks, so 4:2:0 chroma loses nothing and colour round trips are exact
    # to rounding
    img = np.repeat(np.repeat(img[::2, ::2], 2, axis=0), 2, axis=1)
    left = (w - h) // 2
    return np.pad(img, ((0, 0), (left, w - h - left), (0, 0)), mode="edge"), LABELS[kind]


def rgb_array(img: np.ndarray, order: str) -> np.ndarray:
    """An RGB888 ([B, G, R]) or BGR888 ([R, G, B]) array as picamera2 hands it out: a view of a
    buffer whose rows are padded to 64 bytes (the padding carries garbage)."""
    h, w = img.shape[:2]
    stride = (w * 3 + 63) // 64 * 64
    buf = np.full((h, stride), GARBAGE, np.uint8)
    view = buf[:, :w * 3].reshape(h, w, 3)
    view[...] = img[..., ::-1] if order == "RGB888" else img
    return view


def make_module(platform: str = "vc4", cameras: int = 1, scene=shapes_scene, seed: int = 0,
                refuse: tuple = ()):
    """A fresh fake `picamera2` module: `module.Picamera2` plus `module.log` (calls made) and
    `module.truths` (the true label of each captured frame, in order). `refuse`: formats
    configure() turns down, as a libcamera build without them would."""

    class Module:
        pass

    mod = Module()
    mod.log, mod.truths, mod.overlays = [], [], []
    rng = np.random.default_rng(seed)

    class Picamera2:
        ALLOWED = {"global_camera_info", "__init__", "create_preview_configuration", "configure",
                   "start", "capture_array", "set_overlay", "stop", "close"}

        @staticmethod
        def global_camera_info() -> list:
            mod.log.append("global_camera_info")
            return [{"Model": "imx219", "Location": 2, "Rotation": 0,
                     "Id": f"/base/soc/i2c0mux/i2c@1/imx219@{i}", "Num": i} for i in range(cameras)]

        def __init__(self, camera_num=0, verbose_console=None, tuning=None, allocator=None):
            mod.log.append("__init__")
            if camera_num >= cameras:
                raise IndexError("list index out of range")     # what picamera2 raises
            self._config = None
            self._started = False
            self._preview = False

        # picamera2's own signature, mutable defaults included (never mutated here: copied)
        def create_preview_configuration(self, main={}, lores=None, raw={}, transform=None,  # noqa: B006
                                         colour_space=None, buffer_count=4, controls={},  # noqa: B006
                                         display="main", encode="main", queue=True, sensor={},  # noqa: B006
                                         use_case="preview") -> dict:
            mod.log.append("create_preview_configuration")

            def stream(defaults, given):
                if given is None:
                    return None
                bad = set(given) - STREAM_KEYS
                assert not bad, f"bad stream configuration keys {bad}"
                s = dict(defaults)
                s.update(given)
                return s

            main = stream({"format": "XBGR8888", "size": (640, 480), "preserve_ar": True}, main)
            lores = stream({"format": "YUV420", "size": main["size"], "preserve_ar": False}, lores)
            config = {"use_case": use_case, "buffer_count": buffer_count, "queue": queue, "main": main,
                      "lores": lores, "raw": raw, "controls": controls, "display": display,
                      "encode": encode}
            if display is not None:
                assert config.get(display) is not None, f"Display stream {display} was not defined"
            return config

        def configure(self, camera_config=None) -> None:
            mod.log.append("configure")
            # picamera2 configures its default preview when given nothing; the adapter always
            # passes its own configuration
            assert camera_config is not None, "configure() without a configuration"
            config = camera_config
            for name in ("main", "lores"):
                s = config[name]
                if s is None:
                    continue
                size = s["size"]
                if type(size) is not tuple or len(size) != 2:
                    raise RuntimeError("size in " + name + " stream should be (width, height)")
                if size[0] % 2 or size[1] % 2:
                    raise RuntimeError("width and height should be even")
                if s["format"] not in ("XBGR8888", "XRGB8888", "RGB888", "BGR888", "YUV420", "YVU420"):
                    raise RuntimeError("Bad format " + s["format"] + " in stream " + name)
                if s["format"] in refuse:
                    raise RuntimeError(f"failed to configure stream {name} as {s['format']}")
            lores = config["lores"]
            if lores is not None:
                (mw, mh), (lw, lh) = config["main"]["size"], lores["size"]
                if lw > mw or lh > mh:
                    raise RuntimeError("lores stream dimensions may not exceed main stream")
                if platform == "vc4" and lores["format"] not in ("YUV420", "YVU420"):
                    raise RuntimeError("lores stream must be YUV")
            self._config = config

        def start(self, config=None, show_preview=False) -> None:
            mod.log.append("start")
            if config is not None:
                self.configure(config)
            assert self._config is not None, "Camera has not been configured"
            self._started = True
            self._preview = bool(show_preview)

        def capture_array(self, name="main", wait=None, signal_function=None):
            mod.log.append(f"capture_array:{name}")
            assert signal_function is None and wait in (None, True), "the adapter captures synchronously"
            assert self._started, "capture before start"
            s = self._config[name]
            assert s is not None, f"stream {name} is not configured"
            w, h = s["size"]
            img, truth = scene(len(mod.truths), w, h, rng)
            mod.truths.append(truth)
            if s["format"] in ("RGB888", "BGR888"):
                return rgb_array(img, s["format"])
            if s["format"] == "YUV420":
                return rgb_to_yuv420(img, (w + 63) // 64 * 64)
            raise AssertionError(f"the fake does not render {s['format']}")

        def set_overlay(self, overlay) -> None:
            mod.log.append("set_overlay")
            assert self._preview, "set_overlay needs a running preview"
            if overlay is not None and (overlay.ndim != 3 or overlay.shape[2] != 4):
                raise RuntimeError("Overlay must be a 4-channel image")
            mod.overlays.append(overlay)

        def stop(self) -> None:
            mod.log.append("stop")
            self._started = False

        def close(self) -> None:
            mod.log.append("close")

        def __getattr__(self, name):
            raise AssertionError(f"the adapter used Picamera2.{name}, which the contract does not allow")

    mod.Picamera2 = Picamera2
    return mod
