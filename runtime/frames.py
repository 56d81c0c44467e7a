"""Where frames come from: one small interface, several sources.

A source yields `Frame`s of uint8 pixels, RGB (H, W, 3) or grey (H, W, 1). It is told the
model's input size and colour up front (`want`), so a source that can resize or convert for
free (a camera's ISP, the synthetic renderer) hands over frames ready for the model; the others
hand over what they have and preprocessing crops and resizes.

`live` sources (cameras) run at their own pace: the pipeline keeps only their newest frame.
File sources are read as fast as inference consumes them, and no frame is skipped.
"""
from __future__ import annotations

import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class SourceError(RuntimeError):
    """A frame source cannot be opened or read; the message says what to do."""


@dataclass(frozen=True)
class Want:
    """What the model takes: width, height, and whether it is a greyscale model."""
    width: int
    height: int
    gray: bool = False


@dataclass
class Frame:
    index: int
    pixels: np.ndarray            # uint8, (H, W, 3) RGB or (H, W, 1) grey
    timestamp: float = field(default_factory=time.perf_counter)
    name: str = ""                # file name, "synthetic #12", ...
    truth: str | None = None      # the true label when the source knows it

    @property
    def shape(self) -> tuple[int, ...]:
        """pixels.shape, (H, W, 3 | 1), without making the pixels of a frame that makes them
        on demand (YUV420Frame)."""
        return self.pixels.shape

    # fill(out) -> out: only on frames whose pixels are made on demand (YUV420Frame): writes
    # them into a C-contiguous uint8 array of their shape instead of a new one
    fill = None


class FrameSource:
    live = False
    description = "frames"

    def open(self, want: Want) -> None:
        self.want = want

    def read(self) -> Frame | None:
        """The next frame, or None at the end of the source."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def round_to_uint8(x: np.ndarray) -> np.ndarray:
    """Float pixel values -> uint8: round half up, saturate."""
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 1] -> uint8, as a camera would deliver them."""
    return round_to_uint8(img * 255.0)


class SyntheticSource(FrameSource):
    """The generated shapes the fixture models were trained on, rendered at the model's size.

    Each frame carries its true label, so a run reports accuracy with no camera and no files.
    """

    def __init__(self, seed: int = 0, count: int | None = None):
        self.seed, self.count = seed, count
        self.description = f"synthetic shapes (seed {seed})"

    def open(self, want: Want) -> None:
        super().open(want)
        from .shapes import LABELS, draw_shape
        self._draw, self._labels = draw_shape, LABELS
        self._rng = np.random.default_rng(self.seed)
        self._index = 0

    def read(self) -> Frame | None:
        if self.count is not None and self._index >= self.count:
            return None
        kind = int(self._rng.integers(0, len(self._labels)))
        size = max(self.want.width, self.want.height)
        img = to_uint8(self._draw(kind, size, self._rng))[:self.want.height, :self.want.width]
        frame = Frame(self._index, img, name=f"synthetic #{self._index}", truth=self._labels[kind])
        self._index += 1
        return frame


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".gif", ".webp", ".tif", ".tiff", ".npy"}


# Pillow's decompression-bomb threshold (Image.MAX_IMAGE_PIXELS, 89,478,485 pixels: 256 MB of
# RGB): above it Pillow only warns up to twice that, and a 12000 x 12000 PNG of 60 KB took 2 GB.
MAX_IMAGE_PIXELS = 89_478_485


def load_image(path: Path) -> np.ndarray:
    """Any image file -> uint8 RGB (H, W, 3). .npy arrays (H, W[, C]) of uint8 are read as is.

    16-bit greyscale (a 16-bit PNG) keeps its high byte, as Pillow reads 16-bit RGB. Raises SourceError
    (the caller skips the file) for a damaged file, no pixels, more than MAX_IMAGE_PIXELS
    pixels (a decompression bomb: the size is read from the header, before any decoding),
    32-bit integer or float pixels (no standard 0..255 range), or a .npy that is not uint8
    (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) (RGBA: alpha dropped)."""
    if path.suffix.lower() == ".npy":
        try:
            # memory-mapped: a header promising 30 GB in a 200-byte file is a ValueError here,
            # not an allocation (was: numpy's _ArrayMemoryError traceback)
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise SourceError(f"{path}: not a readable .npy array ({e})") from None
        # channels 1, 3 or 4 (RGBA) only: a sparse (1000, 1000, 100000) file passed as "C >= 3"
        # and its copy was a 93 GiB _ArrayMemoryError traceback (its first 3 channels alone:
        # a page of the map for every pixel, 19 GB resident)
        if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
            raise SourceError(f"{path}: a .npy frame must be a uint8 array (H, W), (H, W, 1) or (H, W, 3) "
                              f"(or RGBA (H, W, 4)), not {arr.dtype} {arr.shape}")
        _check_pixels(path, arr.shape[1], arr.shape[0])
        # only the 3 channels used leave the memory map: copying all of them first was a 93 GiB
        # _ArrayMemoryError traceback for a sparse (1000, 1000, 100000) file
        arr = np.array(arr[..., None] if arr.ndim == 2 else arr[..., :3])
        return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise SourceError("reading image files needs Pillow: pip install pillow") from None
    try:
        with warnings.catch_warnings():
            # Image.open warns (stderr) between 1x and 2x its limit: _check_pixels refuses it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            _check_pixels(path, *im.size)
            # Pillow reads 16-bit PNG and PGM (maxval over 255, scaled to 0..65535) as mode "I":
            # 16 bits in it (a 16-bit PGM was refused as '32-bit integer pixels')
            if im.mode in ("I", "F") and not (im.mode == "I" and im.format in ("PNG", "PPM")):
                raise SourceError(f"{path}: {'32-bit integer' if im.mode == 'I' else 'floating-point'} "
                                  "pixels have no standard 0..255 range; save it as an 8- or 16-bit image")
            # a phone photo is stored sideways with an EXIF Orientation tag (274) saying how to
            # turn it: the camera saw it upright, so classify it upright, as viewers show it
            if im.getexif().get(0x0112, 1) != 1:
                im = ImageOps.exif_transpose(im)
            if im.mode.startswith("I"):
                # 16-bit greyscale: convert("RGB") saturated every value above 255 (a nearly
                # white frame). Keep the high byte, as Pillow itself reads a 16-bit RGB PNG.
                v = np.clip(np.asarray(im, dtype=np.int64), 0, 65535) >> 8
                return np.repeat(v.astype(np.uint8)[..., None], 3, axis=2)
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        # PIL raises the first three on damaged files
        raise SourceError(f"{path}: not a readable image ({e})") from None


def _check_pixels(path: Path, w: int, h: int) -> None:
    if w * h == 0:
        raise SourceError(f"{path}: an image of {w} x {h} pixels has nothing to classify")
    if w * h > MAX_IMAGE_PIXELS:
        raise SourceError(f"{path}: {w} x {h} pixels is over {MAX_IMAGE_PIXELS:,} (a decompression bomb, "
                          "or too large to decode safely); downscale it first")


def _list_images(folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """(every image file under folder, sorted; (name, reason) of every sub-folder that cannot be
    listed). Symbolic links to folders are not followed (a link to its own folder is no loop).
    A sub-folder past PATH_MAX or without read permission was an OSError from Path.rglob that
    ended the whole run ('File name too long: ...'); now it is skipped like an unreadable image."""
    unlisted: list[tuple[str, str]] = []

    def failed(e: OSError) -> None:
        where = Path(e.filename) if e.filename else folder
        name = str(where.relative_to(folder)) if where != folder else str(folder)
        if where == folder:
            raise SourceError(f"{folder}: cannot list it ({e.strerror or e}); give a folder you can read")
        unlisted.append((name, f"{where}/: cannot list it ({e.strerror or e})"))
    files = []
    for top, _, names in os.walk(folder, onerror=failed):
        for n in names:
            p = Path(top, n)
            if p.suffix.lower() in IMAGE_SUFFIXES and _is(Path.is_file, p):
                files.append(p)
    return sorted(files), unlisted


SKIPPED_SHOWN = 20   # unreadable files a summary line names (100,000 empty files made a 1.2 MB line)


def skipped_names(skipped: list) -> tuple[str, int]:
    """A summary's view of (name, reason) skipped files: the first SKIPPED_SHOWN names,
    comma-separated, and how many more there are (0 or more)."""
    return ", ".join(n for n, _ in skipped[:SKIPPED_SHOWN]), max(len(skipped) - SKIPPED_SHOWN, 0)


class ImageFolderSource(FrameSource):
    """Every image under a folder, in sorted order. A file in a sub-folder named after a label
    (DIR/cat/1.jpg) carries that label as its truth.

    A file that cannot be read (a corrupt JPEG, a truncated PNG) is skipped, not fatal: it is
    listed in `skipped` as (name, reason) and reported through `warn` (a callable taking one
    line, or None) as it happens.
    """
    warn = None

    def __init__(self, folder: str | Path, labels: list[str] | None = None, given: str = "images:"):
        # given: how the user named the folder in errors ("images:" for --source, "--images "
        # for `hil validate --images`)
        self.folder = Path(folder)
        self.labels = set(labels or ())
        if _is(Path.exists, self.folder) and not _is(Path.is_dir, self.folder):
            raise SourceError(f"{given}{folder} is a file, not a folder: give the folder of images "
                              f"({given}{self.folder.parent}/ takes every image in it)")
        if not _is(Path.is_dir, self.folder):
            raise SourceError(f"{given}{folder}: no such folder; give a folder of images "
                              "(PNG, JPEG, ...; DIR/<label>/x.png carries a label)")
        self.files, self._unlisted = _list_images(self.folder)
        if not self.files:
            raise SourceError(f"{given}{folder}: no images found (looked for "
                              f"{', '.join(sorted(IMAGE_SUFFIXES))})")
        n = len(self.files)   # "1 images in DIR" read oddly (trial7)
        self.description = f"{n} image{'s' * (n != 1)} in {self.folder}"

    def open(self, want: Want) -> None:
        super().open(want)
        self._index = 0
        self._file = 0
        self.skipped: list[tuple[str, str]] = []
        self._said = False

    def truth_of(self, path: Path) -> str | None:
        parent = path.parent.name if path.parent != self.folder else None
        return parent if parent in self.labels else None

    def read(self) -> Frame | None:
        if not self._said:       # sub-folders that could not be listed: skipped like unreadable files
            self._said = True
            for name, why in self._unlisted:
                self.skipped.append((name, why))
                if self.warn:
                    self.warn(f"skipped {why}")
        while self._file < len(self.files):
            path = self.files[self._file]
            self._file += 1
            name = str(path.relative_to(self.folder))
            try:
                pixels = load_image(path)
            except SourceError as e:
                self.skipped.append((name, str(e)))
                if self.warn:
                    self.warn(f"skipped {e}")
                continue
            frame = Frame(self._index, pixels, name=name, truth=self.truth_of(path))
            self._index += 1
            return frame
        return None


def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, full_range: bool = True) -> np.ndarray:
    """BT.601 YCbCr planes (chroma at full resolution) -> uint8 RGB.

    full_range: JPEG/sYCC levels (what picamera2's default preview colour space delivers);
    otherwise studio levels (Y 16..235, C 16..240), the usual for video files.
    """
    y = y.astype(np.float32)
    cb = u.astype(np.float32) - 128.0
    cr = v.astype(np.float32) - 128.0
    if not full_range:
        y = (y - 16.0) * (255.0 / 219.0)
        cb *= 255.0 / 224.0
        cr *= 255.0 / 224.0
    r = y + 1.402 * cr
    g = y - 0.344136 * cb - 0.714136 * cr
    b = y + 1.772 * cb
    return round_to_uint8(np.stack([r, g, b], axis=-1))


def upsample_chroma(c: np.ndarray, h: int, w: int) -> np.ndarray:
    """4:2:0 chroma plane -> full resolution by pixel replication."""
    return np.repeat(np.repeat(c, 2, axis=0), 2, axis=1)[:h, :w]


def _cv2():
    """OpenCV's module, or None where it is not installed (it is optional: the `video` extra,
    or python3-opencv on Raspberry Pi OS)."""
    global _CV2
    if _CV2 is False:
        try:
            import cv2
        except ImportError:
            cv2 = None
        _CV2 = cv2
    return _CV2


_CV2 = False


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Full-range BT.601 (JPEG/sYCC) 4:2:0 planes -> uint8 RGB (H, W, 3), C order.

    y: uint8 (H, W); u, v: uint8 (ceil(H/2), ceil(W/2)); any of them may be a strided view
    (a crop of a padded camera buffer). out: None, or a C-contiguous uint8 (H, W, 3) array to
    write into (returned). Chroma is upsampled by pixel replication, then
    R = Y + 1.402 Cr, G = Y - 0.344136 Cb - 0.714136 Cr, B = Y + 1.772 Cb (ITU-T T.871, the
    JPEG/JFIF conversion) in the library's fixed point: within 1 of the exact formula
    (yuv_to_rgb on replicated chroma), tests/test_classify.py checks it.

    OpenCV's cv2.cvtColor COLOR_YCrCb2RGB (whose YCrCb is this full-range colour space) when it
    is installed, Pillow's (YCbCr image -> RGB) otherwise. Not OpenCV's COLOR_YUV2RGB_I420:
    that one is studio range (Y 16..235) and is off by up to 21 here. Four library calls: each
    chroma plane upsampled 2x2 by one numpy multiplication by 257 (a uint16 of two equal bytes
    repeats a sample across its row) broadcast over a repeated row axis (down the rows), into
    buffers kept for the next frame (_yuv420_scratch); one cv2.merge of Y, Cr, Cb; one cvtColor
    into `out`. The bytes are those of converting the fully upsampled image
    (tests/test_classify.py checks they are equal). A 224x224 crop with the int8 bit flip after
    it, caches evicted between frames as in the live pipeline (whose capture thread runs on
    cores the interpreter has just filled): 70 us of CPU here, against 80 converting the even
    and the odd rows separately (six calls, half the chroma buffer), itself 9 us less than
    with new buffers every frame."""
    h, w = y.shape
    cv2 = _cv2()
    if cv2 is None:
        rgb = yuv420_to_rgb_pil(y, u, v)
        if out is None:
            return rgb
        np.copyto(out, rgb)
        return out
    if out is None:
        out = np.empty((h, w, 3), np.uint8)
    chroma, cr, cb, ycc = _yuv420_scratch(h, w, u.shape)
    # (ch, 1, cw) uint8 * 257 -> (ch, 2, cw) uint16: each sample on two rows, twice on each
    np.multiply(v[:, None], _TWICE, out=chroma[0])
    np.multiply(u[:, None], _TWICE, out=chroma[1])
    got = cv2.cvtColor(cv2.merge([y, cr, cb], dst=ycc), cv2.COLOR_YCrCb2RGB, dst=out)
    if got is not out and not np.shares_memory(got, out):
        np.copyto(out, got)              # an OpenCV that would not write into `out`
    return out


_TWICE = np.uint16(257)
_SCRATCH = threading.local()


def _yuv420_scratch(h: int, w: int, chroma_shape: tuple[int, int]):
    """yuv420_to_rgb's working buffers for one frame size, per thread: made on a thread's first
    frame of that size and reused after (a new size replaces them). Returns (chroma: uint16
    (2, ch, 2, cw), the Cr and Cb planes upsampled; cr, cb: (h, w) uint8 views of it; ycc: uint8
    (h, w, 3), the interleaved Y, Cr, Cb). Kept because in the live pipeline new buffers
    cost 9 us of CPU a 224x224 frame more (caches evicted between frames)."""
    key = (h, w, chroma_shape)
    got = getattr(_SCRATCH, "yuv420", None)
    if got is None or got[0] != key:
        ch, cw = chroma_shape
        chroma = np.empty((2, ch, 2, cw), np.uint16)
        cr, cb = chroma.view(np.uint8).reshape(2, 2 * ch, 2 * cw)[:, :h, :w]
        got = _SCRATCH.yuv420 = (key, (chroma, cr, cb, np.empty((h, w, 3), np.uint8)))
    return got[1]


class YUV420Frame(Frame):
    """A camera frame kept as its full-range 4:2:0 planes (picamera2's YUV420 lores stream on
    a Pi 4): the RGB pixels (yuv420_to_rgb) are made on first use of `pixels` and kept, and
    fill(out) writes them straight into a caller's buffer -- the live pipeline's staged input
    (Preprocessor.stage_frame) --, so a frame nobody looks at is converted once, into the
    buffer the interpreter's input is copied from, with no array of its own.

    y: uint8 (H, W); u, v: uint8 (ceil(H/2), ceil(W/2)); views of an array that nothing
    writes into afterwards (picamera2's capture_array returns a copy of the camera's buffer)."""

    def __init__(self, index: int, y: np.ndarray, u: np.ndarray, v: np.ndarray, name: str = "",
                 truth: str | None = None):
        self.index, self.name, self.truth = index, name, truth
        self.timestamp = time.perf_counter()
        self.planes = (y, u, v)
        self._pixels = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.planes[0].shape, 3)

    @property
    def pixels(self) -> np.ndarray:
        """uint8 (H, W, 3) RGB, C order: yuv420_to_rgb of the planes, made on first use."""
        if self._pixels is None:
            self._pixels = yuv420_to_rgb(*self.planes)
        return self._pixels

    def fill(self, out: np.ndarray) -> np.ndarray:
        """The pixels' bytes written into out (C-contiguous uint8 (H, W, 3)); returns out."""
        if self._pixels is not None:
            np.copyto(out, self._pixels)
            return out
        return yuv420_to_rgb(*self.planes, out=out)


def yuv420_to_rgb_pil(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """yuv420_to_rgb in Pillow's C code (JPEG's YCbCr is exactly this colour space), for where
    OpenCV is not installed."""
    from PIL import Image
    h, w = y.shape
    ch, cw = u.shape
    # exactly 2x, then cut: resizing straight to an odd (w, h) samples chroma off the grid
    up = [Image.fromarray(np.ascontiguousarray(c)).resize((2 * cw, 2 * ch), Image.Resampling.NEAREST)
          .crop((0, 0, w, h)) for c in (u, v)]
    return np.asarray(Image.merge("YCbCr", (Image.fromarray(np.ascontiguousarray(y)), *up)).convert("RGB"))


Y4M_MAX_LINE = 4096     # a YUV4MPEG2 header or FRAME line; longer is damage, not a header


class Y4mSource(FrameSource):
    """A YUV4MPEG2 (.y4m) video, read with numpy alone. Any video converts to it with
    `ffmpeg -i clip.mp4 -pix_fmt yuv420p clip.y4m`."""

    warn = None   # a callable taking one line (a truncated last frame), or None

    def __init__(self, path: str | Path):
        from codegen.tflite_reader import open_for_reading
        self.path = Path(path)
        try:
            # open() of a named pipe waited forever for a writer; a pipe with one (ffmpeg ...
            # -f yuv4mpegpipe - | runtime classify --source video:/dev/stdin) still streams
            self._file = open_for_reading(self.path)
        except OSError as e:
            # was the bare strerror ("No such file or directory"): the fix too (trial7)
            raise SourceError(f"video:{path}: cannot open it ({e.strerror or e}); give a readable "
                              ".y4m file (or a named pipe a writer feeds)") from None
        try:
            self._read_header(path)
        except SourceError:
            self._file.close()
            raise
        self.description = f"{self.path.name}, {self.width}x{self.height} YUV4MPEG2 C{self.chroma}"

    def _read_header(self, path: str | Path) -> None:
        """Parses the header line into width, height, chroma and plane sizes; SourceError when
        it is damaged or unsupported (the caller closes the file)."""
        header = self._file.readline(Y4M_MAX_LINE)
        if not header and not self.path.is_file():
            raise SourceError(f"video:{path}: nothing to read (a named pipe reads as empty until something "
                              "writes to it); give a YUV4MPEG2 file or a pipe with a writer")
        if not header.startswith(b"YUV4MPEG2 "):
            raise SourceError(f"video:{path}: not a YUV4MPEG2 file (no 'YUV4MPEG2' header)")
        # every field checked: a bad one was a ValueError/UnicodeDecodeError/MemoryError traceback
        tags = {t[:1].decode("latin-1"): t[1:].decode("latin-1") for t in header.split()[1:]}
        w, h = tags.get("W", ""), tags.get("H", "")
        if not (header.endswith(b"\n") and (w + h).isascii() and w.isdigit() and h.isdigit()
                and 0 < int(w) * int(h) <= MAX_IMAGE_PIXELS):
            raise SourceError(f"video:{path}: damaged YUV4MPEG2 header (it needs W<width> H<height> of 1 to "
                              f"{MAX_IMAGE_PIXELS:,} pixels and a newline, got {header[:80]!r})")
        self.width, self.height = int(w), int(h)
        self.chroma = tags.get("C", "420jpeg")
        self.full_range = "XCOLORRANGE=FULL" in header.decode(errors="replace")
        letters = [t[:1] for t in header.split()[1:]]
        if max(letters.count(k) for k in (b"W", b"H", b"C")) > 1:
            # which one counts? (the last one did, and every frame was read at the wrong size)
            raise SourceError(f"video:{path}: damaged YUV4MPEG2 header: a W, H or C tag given twice "
                              f"({header[:80]!r})")
        if self.chroma in ("420", "420jpeg", "420paldv", "420mpeg2"):
            # 8-bit only: C420p10, C420p12, ... (2 bytes a sample) were read as 8-bit pixels
            cw, ch = (self.width + 1) // 2, (self.height + 1) // 2
        elif self.chroma == "444":
            cw, ch = self.width, self.height
        elif self.chroma == "mono":
            cw, ch = 0, 0
        else:
            raise SourceError(f"video:{path}: chroma format C{self.chroma} is not supported "
                              "(8-bit C420*, C444 and Cmono are; convert with ffmpeg -pix_fmt yuv420p)")
        self._plane = (self.height * self.width, ch * cw, (ch, cw))

    def open(self, want: Want) -> None:
        super().open(want)
        self._index = 0

    def read(self) -> Frame | None:
        marker = self._file.readline(Y4M_MAX_LINE)
        if not marker:
            return None
        if not (marker.startswith(b"FRAME") and marker.endswith(b"\n")):
            raise SourceError(f"video:{self.path}: frame {self._index} has no FRAME marker; "
                              "the file is damaged")
        ysize, csize, cshape = self._plane
        data = self._file.read(ysize + 2 * csize)
        if len(data) < ysize + 2 * csize:
            # a truncated last frame: the end of the video, said (a file of one short frame
            # was '0 frames' and exit 0, nothing said)
            if self.warn:
                self.warn(f"video:{self.path}: frame {self._index} is truncated ({len(data):,} of "
                          f"{ysize + 2 * csize:,} bytes): the video ends before it")
            return None
        y = np.frombuffer(data, np.uint8, ysize).reshape(self.height, self.width)
        if self.want.gray or csize == 0:
            px = y[..., None].copy()
        else:
            u = np.frombuffer(data, np.uint8, csize, ysize).reshape(cshape)
            v = np.frombuffer(data, np.uint8, csize, ysize + csize).reshape(cshape)
            if self.full_range and cshape != y.shape:
                px = yuv420_to_rgb(y, u, v)
            else:
                if cshape != y.shape:
                    u, v = upsample_chroma(u, *y.shape), upsample_chroma(v, *y.shape)
                px = yuv_to_rgb(y, u, v, self.full_range)
        frame = Frame(self._index, px, name=f"{self.path.name} #{self._index}")
        self._index += 1
        return frame

    def close(self) -> None:
        self._file.close()


class OpenCVSource(FrameSource):
    """A video file in any format OpenCV reads, or a USB webcam (`usb:0`). Optional: needs
    `pip install opencv-python-headless`."""

    def __init__(self, target: str | int, live: bool):
        try:
            import cv2
        except ImportError:
            what = f"usb:{target}" if live else f"video:{target}"
            hint = ("" if live else " -- or convert the video to YUV4MPEG2, which needs nothing: "
                    f"ffmpeg -i {target} -pix_fmt yuv420p clip.y4m")
            raise SourceError(f"{what} needs OpenCV: pip install opencv-python-headless{hint}") from None
        try:   # OpenCV's WARN lines (cap_v4l.cpp, cap_ffmpeg_impl.hpp) came above our one-line error
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        except AttributeError:
            pass
        self._cv2 = cv2
        self.live = live
        if not live and not _is(Path.is_file, target):
            raise SourceError(f"video:{target}: " + ("a folder, not a video file" if _is(Path.is_dir, target)
                                                    else "no such file"))
        self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            if live:
                raise SourceError(f"usb:{target}: OpenCV cannot open camera {target}; is a USB camera "
                                  "plugged in? (`ls /dev/video*` lists them; usb:N picks the Nth)")
            raise SourceError(f"video:{target}: OpenCV cannot decode it; is it a video? Convert it with "
                              f"`ffmpeg -i {target} -pix_fmt yuv420p clip.y4m` and give video:clip.y4m")
        w, h = (int(self._cap.get(p) or 0) for p in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT))
        if w * h > MAX_IMAGE_PIXELS:
            # the size its header declares, before a frame is decoded (16000 x 16000: 768 MB a frame)
            self._cap.release()
            raise SourceError(f"video:{target}: {w} x {h} pixels is over {MAX_IMAGE_PIXELS:,} a frame (a "
                              f"decompression bomb, or too large to decode safely); downscale it first "
                              f"(ffmpeg -i {target} -vf scale=1280:-2 small.mp4)")
        self.target = target
        self.description = f"OpenCV {'camera' if live else 'video'} {target}"

    def open(self, want: Want) -> None:
        super().open(want)
        self._index = 0

    def read(self) -> Frame | None:
        ok, bgr = self._cap.read()
        if not ok:
            if self.live:
                raise SourceError("the camera stopped delivering frames")
            if self._index == 0:
                # OpenCV opened it and decoded nothing (a damaged stream, a size FFmpeg refuses):
                # it was '0 frames', exit 0
                raise SourceError(f"video:{self.target}: OpenCV opened it but decodes no frame of it; is it "
                                  f"damaged? Try `ffmpeg -i {self.target} -pix_fmt yuv420p clip.y4m` and give "
                                  "video:clip.y4m")
            return None
        frame = Frame(self._index, np.ascontiguousarray(bgr[..., ::-1]), name=f"#{self._index}")
        self._index += 1
        return frame

    def close(self) -> None:
        self._cap.release()


SOURCE_HELP = """\
picamera2        the Raspberry Pi camera (low-resolution stream at the model's size)
synthetic[:SEED] generated shapes with known labels, no camera needed
images:DIR       every image under DIR (PNG, JPEG, ...); DIR/<label>/x.png carries a label;
                 a bare DIR means the same
video:FILE       a video: .y4m needs nothing, other formats need OpenCV
usb:N            a USB webcam through OpenCV"""


def _is(test, path) -> bool:
    """Path.is_dir/is_file that is False where the OS refuses the name: a spec over NAME_MAX
    (synthetic:<5000 digits>) was a bare 'File name too long' error."""
    try:
        return test(Path(str(path)))
    except (OSError, ValueError):
        return False


def open_source(spec: str, labels: list[str] | None = None, frames: int | None = None,
                preview: bool = False) -> FrameSource:
    """A source from its command-line spelling (see SOURCE_HELP). A bare folder is images:DIR."""
    if not spec:   # pathlib reads "" as ".": an unset shell variable classified every image below
        raise SourceError("--source is empty: give picamera2, synthetic, images:DIR, video:FILE or usb:N "
                          "(images:. for the current folder)")
    if _is(Path.is_dir, spec):
        return ImageFolderSource(spec, labels)
    kind, _, arg = spec.partition(":")

    def number(what: str, most: int | None = None) -> int:   # synthetic:SEED, usb:N, picamera2:N
        try:
            n = int(arg) if arg else 0
        except ValueError:
            n = -1
        if n < 0:
            raise SourceError(f"{spec}: the {what} must be an integer, 0 or more")
        if most is not None and n > most:   # usb:99999999999999999999 was OpenCV's TypeError traceback
            raise SourceError(f"{spec}: the {what} must be at most {most:,}; give the camera's number (0 is the first)")
        return n
    if kind == "synthetic":
        return SyntheticSource(number("seed"), frames)
    if kind == "images" and arg:
        return ImageFolderSource(arg, labels)
    if kind == "video" and arg:
        if Path(arg).suffix.lower() == ".y4m":
            return Y4mSource(arg)
        return OpenCVSource(arg, live=False)
    if kind == "usb":
        return OpenCVSource(number("camera number", 2**31 - 1), live=True)
    if kind == "picamera2":
        from .picamera import Picamera2Source
        return Picamera2Source(camera_num=number("camera number", 2**31 - 1), preview=preview)
    if kind in ("images", "video"):
        raise SourceError(f"{spec}: name the {'folder' if kind == 'images' else 'file'} after the colon, "
                          f"e.g. {kind}:{'photos/' if kind == 'images' else 'clip.y4m'}")
    if _is(Path.is_file, spec):
        raise SourceError(f"--source {spec} is a file: for images give their folder (images:DIR, or a bare "
                          f"DIR: {Path(spec).parent}/), for a video video:{spec}")
    raise SourceError(f"unknown source {spec!r}: use picamera2, synthetic[:SEED], images:DIR (or a bare DIR), "
                      "video:FILE or usb:N (`runtime classify --help` describes them)")
