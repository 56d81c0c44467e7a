"""uint8 frames -> the model's input tensor, exactly as the model expects it.

Three steps: fit the frame to the input size (centre crop to the model's aspect ratio, then
bilinear resize -- skipped when the source already delivered the right size), match the colour
(luma for greyscale models, replicate grey for colour ones), and map each pixel value to the
input tensor's type. The last step is a 256-entry table built once from the input's
normalisation and quantization, so per-frame quantization costs one lookup per byte.

The normalisation is read off the input's quantization: the float range an int8/uint8 input
can represent tells whether the model was trained on pixels in [0, 1], [-1, 1] or [0, 255]
(TF-Slim's uint8 MobileNets come out as "raw pixels", as they should). Float models cannot
say; they default to [-1, 1], the MobileNet family's convention.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .frames import _cv2

RANGES = {"0:1": (0.0, 1.0), "-1:1": (-1.0, 1.0), "0:255": (0.0, 255.0)}


class ModelInputError(ValueError):
    """The model's input is not something a camera frame can be turned into."""


@dataclass(frozen=True)
class InputSpec:
    index: int
    height: int
    width: int
    channels: int
    dtype: np.dtype
    scale: float
    zero_point: int
    layout: str = "NHWC"          # or "NCHW" (PyTorch exports): channels first

    @property
    def quantized(self) -> bool:
        return self.dtype != np.float32

    def describe(self) -> str:
        q = f", scale {self.scale:.6g}, zero point {self.zero_point}" if self.quantized else ""
        dims = ([self.channels, self.height, self.width] if self.layout == "NCHW"
                else [self.height, self.width, self.channels])
        return f"{np.dtype(self.dtype).name} [1, {', '.join(map(str, dims))}] {self.layout}{q}"


def input_spec(details: dict) -> InputSpec:
    shape = [int(d) for d in details["shape"]]
    dtype = np.dtype(details["dtype"])
    layout = "NHWC"
    if len(shape) == 4 and shape[0] == 1 and shape[3] not in (1, 3) and shape[1] in (1, 3):
        layout = "NCHW"            # PyTorch's layout, [1, C, H, W], as codegen accepts it
        shape = [1, shape[2], shape[3], shape[1]]
    if len(shape) != 4 or shape[0] != 1 or shape[3] not in (1, 3):
        raise ModelInputError(f"the model's input has shape {shape}; a camera frame feeds [1, H, W, 3] "
                              "(colour) or [1, H, W, 1] (greyscale) inputs, or [1, 3|1, H, W] (NCHW)")
    if dtype not in (np.int8, np.uint8, np.float32):
        raise ModelInputError(f"the model's input is {dtype.name}; frames can feed int8, uint8 or float32 "
                              "inputs (re-convert the model with one of those input types)")
    scale, zp = details.get("quantization", (0.0, 0))
    if dtype != np.float32 and not scale:
        raise ModelInputError(f"the model's {dtype.name} input has no quantization parameters")
    return InputSpec(int(details["index"]), shape[1], shape[2], shape[3], dtype, float(scale), int(zp), layout)


def resolve_range(spec: InputSpec, choice: str = "auto") -> tuple[float, float]:
    """The float range the pixel values 0..255 map onto."""
    if choice != "auto":
        if choice not in RANGES:
            raise ModelInputError(f"--input-range {choice}: choose one of auto, {', '.join(RANGES)}")
        return RANGES[choice]
    if not spec.quantized:
        return RANGES["-1:1"]
    info = np.iinfo(spec.dtype)
    lo = (info.min - spec.zero_point) * spec.scale
    hi = (info.max - spec.zero_point) * spec.scale
    # the standard range nearest to what the quantization can represent
    return min(RANGES.values(), key=lambda r: abs(r[0] - lo) / (hi - lo) + abs(r[1] - hi) / (hi - lo))


def pixel_table(spec: InputSpec, lo: float, hi: float) -> np.ndarray:
    """value[p] = the input tensor's value for pixel p: normalise, then quantize like TFLite's
    QUANTIZE (round half away from zero, saturate)."""
    x = lo + np.arange(256, dtype=np.float64) * ((hi - lo) / 255.0)
    if not spec.quantized:
        return x.astype(np.float32)
    info = np.iinfo(spec.dtype)
    v = x / spec.scale
    q = np.sign(v) * np.floor(np.abs(v) + 0.5)      # std::round: half away from zero
    return np.clip(q + spec.zero_point, info.min, info.max).astype(spec.dtype)


def crop_box(height: int, width: int, aspect: float) -> tuple[int, int, int, int]:
    """(x0, y0, w, h) of the largest centred window of width/height ratio `aspect` in a
    height x width frame; the whole frame when it already has that ratio (to half a pixel)."""
    if width > height * aspect + 0.5:
        cw = max(1, int(round(height * aspect)))
        return (width - cw) // 2, 0, cw, height
    if height > width / aspect + 0.5:
        ch = max(1, int(round(width / aspect)))
        return 0, (height - ch) // 2, width, ch
    return 0, 0, width, height


def centre_crop(px: np.ndarray, aspect: float) -> np.ndarray:
    """The largest centred window of width/height ratio `aspect`."""
    x0, y0, w, h = crop_box(px.shape[0], px.shape[1], aspect)
    return px[y0:y0 + h, x0:x0 + w]


def resize(px: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image
    mode = "L" if px.shape[2] == 1 else "RGB"
    img = Image.fromarray(px[..., 0] if mode == "L" else px, mode)
    out = np.asarray(img.resize((width, height), Image.Resampling.BILINEAR))
    return out[..., None] if mode == "L" else out


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma in integers, the same weights as a camera's Y plane."""
    r, g, b = (rgb[..., c].astype(np.uint16) for c in range(3))
    return ((77 * r + 150 * g + 29 * b + 128) >> 8).astype(np.uint8)[..., None]


def apply_table(table: np.ndarray, px: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out[...] = table[px]: a 256-entry table applied to every byte of a uint8 array.

    px: uint8, any shape and strides (a crop of a camera buffer); out: C-contiguous, px's shape,
    the table's dtype. In OpenCV's cv2.LUT when it is installed (44 us for a 224x224x3 frame
    here, against 120-140 us for numpy's take, the fallback); the same values either way
    (tests/test_runtime_buffers.py checks every byte value under several quantizations).
    Returns out."""
    cv2 = _cv2()
    if cv2 is not None and px.ndim >= 2:
        # two dimensions, single channel: any (rows, bytes) crop with unit inner stride is a Mat
        # view, and the table applies whatever the channel count
        src = px.reshape(px.shape[0], -1)
        dst = out.reshape(out.shape[0], -1)
        got = cv2.LUT(src, table, dst=dst)
        if got is not dst:              # OpenCV allocated instead (an unexpected dst): copy over
            np.copyto(dst, got.reshape(dst.shape))
        return out
    return np.take(table, px, out=out, mode="clip")


class Preprocessor:
    """Frames -> input tensors. Two ways in:

    - __call__(frame) -> a new tensor (1, H, W, C) (or (1, C, H, W) for NCHW);
    - stage(frame, out) on one thread, into a body reused frame after frame, which another
      copies into the interpreter's own input buffer (Classifier.load; the live pipeline):
      stage() reads the frame once -- crop (a view), colour where needed, and the pixel mapping
      (a bit flip, a copy or the 256-entry table) straight into `out` --, where the previous
      path copied the crop, mapped it into a new array and set_tensor copied that.
    The two ways give the same bytes (tests/test_runtime_buffers.py)."""

    def __init__(self, spec: InputSpec, input_range: str = "auto"):
        self.spec = spec
        self.range = resolve_range(spec, input_range)
        self.table = t = pixel_table(spec, *self.range)
        # the two tables most models have are a bit flip (int8, p - 128) and the identity
        # (uint8): no lookup needed
        ramp = np.arange(256)
        self.shortcut = ("flip" if t.dtype == np.int8 and (t.astype(np.int16) == ramp - 128).all() else
                         "same" if t.dtype == np.uint8 and (t == ramp).all() else None)
        h, w, c = spec.height, spec.width, spec.channels
        self.body_shape = (c, h, w) if spec.layout == "NCHW" else (h, w, c)

    def crop_of(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(x0, y0, w, h): the window of a height x width frame that fit() keeps."""
        if (height, width) == (self.spec.height, self.spec.width):
            return 0, 0, width, height
        return crop_box(height, width, self.spec.width / self.spec.height)

    def fit(self, px: np.ndarray) -> np.ndarray:
        """Crop, resize and colour-match a uint8 frame to the input's (H, W, C). A frame
        already at that size and colour comes back as is, a crop of one as a view: neither is
        copied, and either may be strided."""
        s = self.spec
        if px.dtype != np.uint8 or px.ndim != 3 or px.shape[2] not in (1, 3):
            raise ModelInputError(f"frames must be uint8 (H, W, 1|3), got {px.dtype} {px.shape}")
        if px.shape[:2] != (s.height, s.width):
            px = centre_crop(px, s.width / s.height)     # a view; luma per pixel commutes with it
        if s.channels == 1 and px.shape[2] == 3:
            px = luma(px)
        if px.shape[:2] != (s.height, s.width):
            px = resize(px, s.width, s.height)
        if s.channels == 3 and px.shape[2] == 1:
            px = np.repeat(px, 3, axis=2)
        return px

    def new_body(self) -> np.ndarray:
        """An uninitialised array for stage(out=): the tensor without its batch dimension."""
        return np.empty(self.body_shape, self.table.dtype)

    def stage(self, px: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The first half of preprocessing, for the capture thread: uint8 (H', W', 1|3) frame ->
        the tensor's body ((H, W, C), or (C, H, W) for NCHW, in the input's dtype) written into
        `out` (from new_body(); a new array when None), which is returned. Raises
        ModelInputError for other frames."""
        px = self.fit(px)
        out = self.new_body() if out is None else out
        if self.spec.layout == "NCHW":
            px = np.ascontiguousarray(px.transpose(2, 0, 1))
        if self.shortcut == "flip":
            np.bitwise_xor(px, np.uint8(0x80), out=out.view(np.uint8))
        elif self.shortcut == "same":
            np.copyto(out, px)
        else:
            apply_table(self.table, px, out)
        return out

    def stage_frame(self, frame, out: np.ndarray) -> np.ndarray:
        """stage(frame.pixels, out) for a runtime.frames.Frame, with the same bytes; a frame
        that makes its pixels on demand (YUV420Frame: fill) at the input's size, for a
        channels-last colour model with an 8-bit input, writes them straight into `out` (the
        RGB bytes, then the pixel mapping in place: a bit flip, nothing, or the table), so the
        frame's own pixels are never made and no frame-sized array is written beside `out`."""
        s = self.spec
        fill = frame.fill
        if (fill is None or s.layout != "NHWC" or s.channels != 3 or out.dtype.itemsize != 1
                or frame.shape != (s.height, s.width, 3)):
            return self.stage(frame.pixels, out)
        rgb = fill(out.view(np.uint8))
        if self.shortcut == "flip":
            np.bitwise_xor(rgb, np.uint8(0x80), out=rgb)
        elif self.shortcut is None:
            apply_table(self.table, rgb, out)
        return out

    def __call__(self, px: np.ndarray) -> np.ndarray:
        """uint8 (H', W', 1|3) frame -> a new input tensor, (1, H, W, C), or (1, C, H, W) for an
        NCHW model, in the input's dtype, C order (set_tensor copies anything else element by
        element). Raises ModelInputError for other frames."""
        return self.stage(px)[None]
