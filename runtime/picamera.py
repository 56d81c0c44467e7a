"""The Raspberry Pi camera through picamera2 -- deliberately thin.

The camera's ISP resizes for free, so the stream the model reads is configured close to the
model's input: the model's height, and the width that keeps the main stream's aspect ratio,
so a centre crop (not a stretch) gives the square the model wants. Headless, that is the main
stream. With a preview, the main stream feeds the display (the label drawn as an overlay) and
the model reads the low-resolution ("lores") stream.

Formats, as picamera2 documents them for capture_array() (the names are DRM's, which list a
little-endian pixel's components from its most significant byte, so the last letter comes first
in memory):
  BGR888  (h, w, 3), bytes in [R, G, B] order -- the model's order, asked for first -- and
  RGB888  (h, w, 3), bytes in [B, G, R] order        -- main on any Pi, lores on a Pi 5 (PiSP)
  YUV420  (h * 3 // 2, stride): h rows of Y, then U and V at half size, rows padded to the
          stride -- the only lores format on a Pi 4 and earlier (VC4); its Y plane is exactly
          what a greyscale model wants.
The default preview colour space is sYCC (full-range BT.601), which yuv420_to_rgb expects
(a YUV420Frame converts on use, straight into the model's staged input; in OpenCV when installed -- python3-opencv on Raspberry Pi OS, or the `video` extra --, 6x
less CPU than the Pillow fallback: the capture thread shares the Pi's cores with inference).
The frame handed on is already cropped to the model's aspect ratio, before any conversion.

The calls made here are the whole contract with picamera2 (the tests hold the adapter to it):
Picamera2.global_camera_info, Picamera2(n), create_preview_configuration, configure, start,
capture_array, set_overlay, stop, close.
"""
from __future__ import annotations

import numpy as np

from .frames import Frame, FrameSource, SourceError, Want, YUV420Frame

INSTALL_HINT = ("picamera2 is not installed. On Raspberry Pi OS: sudo apt install python3-picamera2, "
                "and make the venv with `python3 -m venv --system-site-packages .venv` so it can see "
                "it (picamera2 comes from apt, not pip, to match the system's libcamera)")
NO_CAMERA_HINT = ("no camera found. Check the ribbon cable (contacts facing the right way, both ends "
                  "latched), run `rpicam-hello --list-cameras`, and make sure the legacy camera "
                  "stack is disabled in raspi-config")
MAIN_SIZE = (640, 480)


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def lores_size(want: Want, main: tuple[int, int] = MAIN_SIZE) -> tuple[int, int]:
    """The model's height at the main stream's aspect ratio (even sizes, never above main)."""
    h = _even(want.height)
    w = max(_even(h * main[0] / main[1]), _even(want.width))
    return min(w, main[0]), min(h, main[1])


def yuv420_planes(arr: np.ndarray, w: int, h: int):
    """Split picamera2's YUV420 array (h*3/2 rows of `stride` bytes) into Y, U, V planes.

    The U rows are half width, two of them packed per array row (likewise V), and every row
    carries the stride padding, which must not leak into the image.
    """
    stride = arr.shape[1]
    flat = arr.reshape(-1)
    ch, cs = h // 2, stride // 2
    y = arr[:h, :w]
    u = flat[h * stride:h * stride + ch * cs].reshape(ch, cs)[:, :w // 2]
    v = flat[h * stride + ch * cs:h * stride + 2 * ch * cs].reshape(ch, cs)[:, :w // 2]
    return y, u, v


class Picamera2Source(FrameSource):
    live = True

    def __init__(self, camera_num: int = 0, preview: bool = False, main_size=MAIN_SIZE, module=None):
        self.camera_num, self.preview, self.main_size = camera_num, preview, tuple(main_size)
        self._module = module
        self._cam = None
        self.description = f"Raspberry Pi camera {camera_num}"

    def _import(self):
        if self._module is not None:
            return self._module
        try:
            import picamera2
        except ImportError:
            raise SourceError(INSTALL_HINT) from None
        return picamera2

    def open(self, want: Want) -> None:
        super().open(want)
        Picamera2 = self._import().Picamera2
        if len(Picamera2.global_camera_info()) <= self.camera_num:
            raise SourceError(NO_CAMERA_HINT if self.camera_num == 0
                              else f"there is no camera {self.camera_num}: {NO_CAMERA_HINT}")
        cam = self._cam = Picamera2(self.camera_num)
        self.size = lores_size(want, self.main_size)
        # Grey models read the Y plane of YUV420. Colour models ask for BGR888, bytes already in
        # the model's [R, G, B] order, and take RGB888 ([B, G, R], swapped here) where a
        # libcamera build lacks it. Without a preview the main stream itself is configured at
        # the model's size: the ISP resizes and converts on every Pi. With a preview the main
        # stream feeds the display and the model reads the lores stream, which only a Pi 5's
        # ISP can make RGB -- on a Pi 4 configure() refuses, and YUV is converted here.
        formats = ["YUV420"] if want.gray else ["BGR888", "RGB888", "YUV420"]
        while True:
            self.format = formats.pop(0)
            if self.preview:
                self.stream = "lores"
                config = cam.create_preview_configuration(
                    main={"size": self.main_size}, lores={"size": self.size, "format": self.format},
                    display="main")
            else:
                self.stream = "main"
                config = cam.create_preview_configuration(main={"size": self.size, "format": self.format},
                                                          display=None)
            try:
                cam.configure(config)
                break
            except RuntimeError as e:
                if "YUV" in str(e):         # a Pi 4's lores stream: YUV only
                    formats = [f for f in formats if f == "YUV420"]
                if not formats:
                    raise SourceError(f"the camera refused the configuration: {e}") from None
        cam.start(show_preview=self.preview)
        # the centred window of the model's aspect ratio, cut before any conversion (even
        # offsets, so 4:2:0 chroma stays aligned)
        w, h = self.size
        cw = min(w, _even(h * want.width / want.height))
        self.crop = ((w - cw) // 4 * 2, cw)
        self.description = (f"Raspberry Pi camera {self.camera_num}, {self.stream} stream "
                            f"{self.size[0]}x{self.size[1]} {self.format}" + (", preview" if self.preview else ""))
        self._index = 0

    def read(self) -> Frame:
        # capture_array blocks until the next frame; with the preview's frame queue it can be one
        # frame old, which the pipeline's keep-the-newest slot makes irrelevant.
        arr = self._cam.capture_array(self.stream)
        w, h = self.size
        x0, cw = self.crop
        if self.format == "YUV420":
            y, u, v = yuv420_planes(arr, w, h)
            y = y[:, x0:x0 + cw]
            if not self.want.gray:
                # converted to RGB where it is used: into the staged input (Preprocessor.stage_frame),
                # and into an array of its own only if the frame's pixels are asked for
                frame = YUV420Frame(self._index, y, u[:, x0 // 2:(x0 + cw) // 2],
                                    v[:, x0 // 2:(x0 + cw) // 2], name=f"camera #{self._index}")
                self._index += 1
                return frame
            px = y[..., None].copy()
        elif self.format == "BGR888":
            # [R, G, B] already: crop only, a view (capture_array's array is the frame's own,
            # a copy of the camera's buffer); preprocessing reads it once, into the interpreter
            px = arr[:h, x0:x0 + cw]
        else:
            # [B, G, R] -> RGB, a strided copy per channel: 4x faster than copying through a
            # reversed view (numpy's inner loop would be 3 long), and unlike indexing the
            # channels with a list, the result is interleaved (C order) as the input tensor is;
            # a planar array cost set_tensor 50 us more than it saved here
            bgr = arr[:h, x0:x0 + cw]
            px = np.empty(bgr.shape, np.uint8)
            for c in range(3):
                px[..., c] = bgr[..., 2 - c]
        frame = Frame(self._index, px, name=f"camera #{self._index}")
        self._index += 1
        return frame

    def show(self, overlay: np.ndarray) -> None:
        """Draw an RGBA overlay (main stream size) over the preview."""
        if self.preview and self._cam is not None:
            self._cam.set_overlay(overlay)

    def close(self) -> None:
        if self._cam is not None:
            cam, self._cam = self._cam, None
            try:
                cam.stop()
            finally:
                cam.close()
