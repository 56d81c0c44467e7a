"""Frame sources fed hostile files (attack8): a YUV4MPEG2 header whose samples are not 8-bit
or whose W/H/C tags are given twice, a truncated last frame, a sideways (EXIF-rotated) JPEG,
thousands of unreadable files. Refused with one line naming the fix, or skipped/ended with a
warning -- never a frame read at the wrong size or bit depth without a word."""
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import FIXTURE_MODELS
from runtime.frames import SourceError, Want, Y4mSource, load_image

MODEL = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"


def _frame(n: int) -> bytes:
    return b"FRAME\n" + bytes([0x80]) * n


@pytest.mark.parametrize("chroma", [b"420p10", b"420p12", b"444p16", b"mono16", b"422", b"444alpha"])
def test_y4m_chroma_that_is_not_8_bit_420_444_or_mono_is_refused(tmp_path, chroma):
    # was: C420p10 (2 bytes a sample) passed the `startswith("420")` test: its first frame was
    # classified from misread bytes, then "frame 1 has no FRAME marker"
    path = tmp_path / "clip.y4m"
    path.write_bytes(b"YUV4MPEG2 W16 H16 C" + chroma + b"\n" + _frame(16 * 16 * 6))
    with pytest.raises(SourceError, match=f"C{chroma.decode()} is not supported.*8-bit C420.*pix_fmt yuv420p"):
        Y4mSource(path)


@pytest.mark.parametrize("chroma, size", [(b"420jpeg", 384), (b"420mpeg2", 384), (b"420paldv", 384),
                                          (b"420", 384), (b"444", 768), (b"mono", 256)])
def test_y4m_8_bit_chroma_formats_still_read(tmp_path, chroma, size):
    path = tmp_path / "clip.y4m"
    path.write_bytes(b"YUV4MPEG2 W16 H16 F25:1 Ip A1:1 C" + chroma + b"\n" + _frame(size))
    with Y4mSource(path) as src:
        src.open(Want(16, 16))
        assert src.read().shape[:2] == (16, 16) and src.read() is None


@pytest.mark.parametrize("header", [b"YUV4MPEG2 W16 H16 W32\n", b"YUV4MPEG2 W16 H16 H8\n",
                                    b"YUV4MPEG2 W16 H16 C420 C444\n"])
def test_y4m_tag_given_twice_is_refused(tmp_path, header):
    # was: the last W counted, every frame was read 32 wide, the first came out truncated:
    # '0 frames', exit 0
    path = tmp_path / "clip.y4m"
    path.write_bytes(header + _frame(384))
    with pytest.raises(SourceError, match="given twice"):
        Y4mSource(path)


def test_y4m_truncated_last_frame_ends_the_video_with_a_warning(tmp_path):
    path = tmp_path / "clip.y4m"
    path.write_bytes(b"YUV4MPEG2 W16 H16\n" + _frame(384) + _frame(10))
    said = []
    with Y4mSource(path) as src:
        src.warn = said.append
        src.open(Want(16, 16))
        assert src.read() is not None and src.read() is None
    assert said == [f"video:{path}: frame 1 is truncated (10 of 384 bytes): the video ends before it"]


def test_exif_rotated_jpeg_is_read_upright(tmp_path):
    # was: read as stored -- a phone photo (Orientation 6: turn 90 degrees clockwise) reached
    # the model on its side
    from PIL import Image
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = (255, 0, 0)            # left half red, as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(img).save(tmp_path / "phone.jpg", quality=95, exif=exif.tobytes())
    px = load_image(tmp_path / "phone.jpg")
    assert px.shape == (40, 20, 3)        # upright: 20 wide, 40 high
    assert px[5, 10, 0] > 200 and px[35, 10, 0] < 50   # stored left half is now on top


def test_thousands_of_unreadable_files_are_warned_each_and_summed_up_in_one_short_line(tmp_path):
    # was: the summary named all of them on one line (100,000 empty files: 1.2 MB)
    for i in range(300):
        (tmp_path / f"{i:04d}.png").write_bytes(b"")
    from PIL import Image
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    r = subprocess.run([sys.executable, "-m", "runtime.cli", "classify", "--model", str(MODEL),
                        "--source", f"images:{tmp_path}"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("warning: skipped") == 300
    summary = [l for l in r.stdout.splitlines() if "unreadable" in l]
    assert len(summary) == 1 and len(summary[0]) < 600, summary
    assert summary[0].startswith("300 unreadable files skipped: 0000.png, ") and "and 280 more" in summary[0]


def _classify(*args):
    return subprocess.run([sys.executable, "-m", "runtime.cli", "classify", "--model", str(MODEL),
                           "--source", "synthetic", "--frames", "1", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("text, code", [("a\x1b[2J\nb\nc\nd\n", "U+001B"),      # ESC reached the terminal
                                        ("a\u2028b\nc\nd\n", "U+2028"),         # split into 2 labels
                                        ("a\nb\x0bc\nd\n", "U+000B")])
def test_labels_with_control_characters_are_refused_naming_the_line(tmp_path, text, code):
    from runtime.classifier import LabelsError, read_labels
    f = tmp_path / "labels.txt"
    f.write_text(text, encoding="utf-8")
    line = 2 if "\x0b" in text else 1
    with pytest.raises(LabelsError, match=re.escape(f"line {line} holds the control character {code}")):
        read_labels(f)


def test_labels_with_crlf_tabs_and_a_bom_still_read(tmp_path):
    from runtime.classifier import read_labels
    f = tmp_path / "labels.txt"
    f.write_bytes(b"\xef\xbb\xbf0\ta\r\n1\tb\r\n2\tc c\r\n3\td\r\n")
    assert read_labels(f) == ["a", "b", "c c", "d"]


def test_duplicated_labels_are_one_warning_line(tmp_path):
    f = tmp_path / "labels.txt"
    f.write_text("a\nb\na\na\n")
    r = _classify("--labels", f)
    assert r.returncode == 0, r.stderr
    warns = [l for l in r.stderr.splitlines() if l.startswith("warning:")]
    assert warns == [f"warning: labels file {f} names several classes alike ('a' x3): results cannot tell "
                     "them apart and an image in DIR/<label>/ counts as right for any of them"]


def test_save_folder_name_too_long_is_one_line_naming_save(tmp_path):
    # was: "runtime: error: File name too long: ..." (Path.exists raised inside the handler)
    r = _classify("--save", tmp_path / ("x" * 300))
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("runtime: error: --save ") and "cannot be written (File name too long)" in r.stderr


def test_y4m_named_pipe_without_a_writer_is_one_line_not_a_hang(tmp_path):
    # was: open() waited forever for a writer (`timeout 10` killed it)
    import os
    import threading
    fifo = tmp_path / "clip.y4m"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="nothing to read .*named pipe"):
        Y4mSource(fifo)
    # a pipe with a writer still streams
    clip = b"YUV4MPEG2 W16 H16\n" + _frame(384) * 2

    def write():
        with open(fifo, "wb") as f:
            f.write(clip)
    w = threading.Thread(target=write)
    w.start()
    import time
    time.sleep(0.2)       # the writer's open() is waiting: a reader opening now finds it
    with Y4mSource(fifo) as src:
        src.open(Want(16, 16))
        assert src.read() is not None and src.read() is not None and src.read() is None
    w.join(10)


def test_npy_with_thousands_of_channels_is_skipped_not_a_memory_error(tmp_path):
    # was: a sparse 100 GB (1000, 1000, 100000) uint8 .npy passed "C >= 3": numpy's
    # _ArrayMemoryError traceback (93.1 GiB) ended the whole run
    from numpy.lib import format as npformat
    with open(tmp_path / "big.npy", "wb") as f:
        npformat.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (1000, 1000, 100000)})
        f.truncate(f.tell() + 10**11)
    with pytest.raises(SourceError, match=r"\(H, W, 1\) or \(H, W, 3\) \(or RGBA \(H, W, 4\)\), not uint8 \(1000, 1000, 100000\)"):
        load_image(tmp_path / "big.npy")
    rgba = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.save(tmp_path / "rgba.npy", rgba)
    assert np.array_equal(load_image(tmp_path / "rgba.npy"), rgba[..., :3])


@pytest.mark.parametrize("spec, words", [
    ("synthetic:" + "9" * 5000, "the seed must be an integer"),   # was: 'File name too long: synthetic:999...'
    ("images:" + "x" * 5000, "no such folder"),                    # was: the same, from Path.exists
    ("x" * 5000, "unknown source"),
])
def test_source_spec_over_the_file_name_limit_is_refused_in_its_own_terms(spec, words):
    from runtime.frames import open_source
    with pytest.raises(SourceError, match=words):
        open_source(spec)


def test_video_folder_says_folder(tmp_path):
    from runtime.frames import open_source
    try:
        import cv2  # noqa: F401
    except ImportError:
        pytest.skip("video:FILE other than .y4m needs OpenCV")
    with pytest.raises(SourceError, match="a folder, not a video file"):
        open_source(f"video:{tmp_path}")


def test_16_bit_pgm_reads_as_its_8_bit_and_rgb_equivalents(tmp_path):
    # was: refused as "32-bit integer pixels" (Pillow reads a PGM of maxval > 255 as mode I)
    w, h = 8, 4
    (tmp_path / "g16.pgm").write_bytes(b"P5 8 4 65535\n" + np.full(w * h, 40000, ">u2").tobytes())
    (tmp_path / "rgb16.ppm").write_bytes(b"P6 8 4 65535\n" + np.full(w * h * 3, 40000, ">u2").tobytes())
    (tmp_path / "g1000.pgm").write_bytes(b"P5 8 4 1000\n" + np.full(w * h, 500, ">u2").tobytes())
    (tmp_path / "g100.pgm").write_bytes(b"P5 8 4 100\n" + bytes([50] * (w * h)))
    assert np.array_equal(load_image(tmp_path / "g16.pgm"), load_image(tmp_path / "rgb16.ppm"))
    assert load_image(tmp_path / "g16.pgm")[0, 0, 0] == 40000 >> 8
    assert np.array_equal(load_image(tmp_path / "g1000.pgm"), load_image(tmp_path / "g100.pgm"))


def test_save_failing_mid_run_is_one_line_naming_save(tmp_path):
    """A full disk mid-run said "No space left on device; check the path". A file-size limit
    (RLIMIT_FSIZE, SIGXFSZ ignored: writes past it fail with EFBIG) stands in for the full disk."""
    import resource
    import signal

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    r = subprocess.run([sys.executable, "-m", "runtime.cli", "classify", "--model", str(MODEL), "--source",
                        "synthetic", "--frames", "3", "--save", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert [l for l in r.stderr.splitlines() if not l.startswith(("model ", "labels ", "source "))] == \
        r.stderr.strip().splitlines()[-1:], r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"runtime: error: --save {tmp_path / 'out'}: saving frame 0 failed (File too large)"), last


def _mjpeg_avi(path, w, h):
    """A 3-frame 64x48 MJPEG AVI (OpenCV's writer), its header and every JPEG's SOF0 then made
    to declare w x h."""
    import struct
    cv2 = pytest.importorskip("cv2")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    if not writer.isOpened():
        pytest.skip("this OpenCV cannot write MJPEG AVI")
    for i in range(3):
        writer.write(np.full((48, 64, 3), i * 80, np.uint8))
    writer.release()
    d = bytearray(path.read_bytes())
    i = 0
    while (i := d.find(b"\xff\xc0", i)) >= 0:
        d[i + 5:i + 9] = struct.pack(">HH", h, w)
        i += 2
    j = d.find(b"avih")
    d[j + 40:j + 48] = struct.pack("<II", w, h)
    j = d.find(b"strf")
    d[j + 12:j + 20] = struct.pack("<ii", w, h)
    path.write_bytes(d)


@pytest.mark.parametrize("w, h, words", [
    (16000, 16000, "16000 x 16000 pixels is over 89,478,485 a frame"),   # was: '0 frames', exit 0
    (30000, 30000, "OpenCV opened it but decodes no frame"),              # FFmpeg refuses the size
])
def test_opencv_video_declaring_a_huge_size_is_refused(tmp_path, w, h, words):
    _mjpeg_avi(tmp_path / "clip.avi", w, h)
    r = subprocess.run([sys.executable, "-m", "runtime.cli", "classify", "--model", str(MODEL), "--source",
                        f"video:{tmp_path / 'clip.avi'}"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and words in r.stderr.strip().splitlines()[-1], r.stderr


def test_a_sub_folder_past_path_max_is_skipped_not_the_whole_folder(tmp_path):
    # was: "runtime: error: File name too long: ..." from Path.rglob: no image classified
    import os
    from PIL import Image
    import io
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    fd = os.open(tmp_path, os.O_RDONLY)
    for _ in range(100):                     # 100 x 51 characters: past PATH_MAX (4096)
        os.mkdir("a" * 50, dir_fd=fd)
        nxt = os.open("a" * 50, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    out = os.open("deep.png", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(out, png.getvalue())
    os.close(out)
    os.close(fd)
    from runtime.frames import ImageFolderSource
    src = ImageFolderSource(tmp_path)
    said = []
    src.warn = said.append
    src.open(Want(8, 8))
    assert src.read().name == "ok.png" and src.read() is None
    assert len(src.skipped) == 1 and "cannot list it (File name too long)" in src.skipped[0][1]
    assert said and said[0].startswith("skipped ")


@pytest.mark.parametrize("kind", ["images", "video"])
def test_a_source_that_gives_no_frame_at_all_is_an_error_not_0_frames(tmp_path, kind):
    # trial7: every image unreadable, or a .y4m with a header and one truncated frame, ended
    # with '0 frames in 0.00 s: 0.0 FPS ...' and exit 0
    if kind == "images":
        (tmp_path / "a.png").write_bytes(b"not a png")
        spec, why = f"images:{tmp_path}", "every image is unreadable (skipped above)"
    else:
        (tmp_path / "clip.y4m").write_bytes(b"YUV4MPEG2 W16 H16 C420jpeg\n" + _frame(10))
        spec, why = f"video:{tmp_path / 'clip.y4m'}", "it gave no whole frame"
    r = subprocess.run([sys.executable, "-m", "runtime.cli", "classify", "--model", str(MODEL),
                        "--source", spec], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"runtime: error: no frame classified from {spec} (") and why in last, r.stderr
    assert last.endswith("give a source with at least one readable frame"), r.stderr


def test_a_y4m_that_cannot_be_opened_names_the_fix(tmp_path):
    # trial7: 'video:clip.y4m: No such file or directory', nothing to do
    for path, why in [(tmp_path / "none.y4m", "No such file or directory"), (tmp_path, "Is a directory")]:
        with pytest.raises(SourceError) as e:
            Y4mSource(path)
        assert str(e.value) == (f"video:{path}: cannot open it ({why}); give a readable .y4m file "
                                "(or a named pipe a writer feeds)")
