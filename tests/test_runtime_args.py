"""Bad arguments to `runtime`: refused at once in one line, exit code 2 (found by the `attack`
review: --timeout nan waited forever for an answer, --inputs 0 / --frames 0 ran nothing and
exited 0, --threads -1 blamed the model file, a missing --model cost a 10 s link timeout)."""
import subprocess
import sys
import time

import pytest

from conftest import FIXTURE_MODELS, ROOT

MODEL = str(FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite")


def runtime(*args):
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("argv,opt", [
    (["hil", "info", "--port", "loop://", "--timeout", "nan"], "--timeout"),
    (["hil", "validate", "--port", "loop://", "--model", MODEL, "--inputs", "0"], "--inputs"),
    (["hil", "validate", "--port", "loop://", "--model", MODEL, "--timeout", "-1"], "--timeout"),
    (["classify", "--model", MODEL, "--source", "synthetic", "--frames", "0"], "--frames"),
    (["classify", "--model", MODEL, "--source", "synthetic", "--threads", "-1"], "--threads"),
    (["classify", "--model", MODEL, "--source", "synthetic", "--top-k", "0"], "--top-k"),
])
def test_bad_numbers_are_refused_before_any_work(argv, opt):
    p = runtime(*argv)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert f"argument {opt}: " in p.stderr.strip().splitlines()[-1], p.stderr


def test_a_missing_model_is_named_before_the_link_is_tried():
    t0 = time.monotonic()
    p = runtime("hil", "validate", "--port", "loop://", "--model", "/nonexistent.tflite")
    assert p.returncode == 2 and p.stderr.strip() == "runtime: error: /nonexistent.tflite: no such model file"
    assert time.monotonic() - t0 < 8     # was: NoAnswer after the 10 s timeout


@pytest.mark.parametrize("cmd", [["hil"], ["hil", "info"], ["hil", "validate"], ["hil", "profile"]])
def test_hil_help_teaches_with_examples_that_parse(cmd, capsys):
    """`runtime hil [ACTION] --help` ends in examples (it had none); each example is a command
    line this parser accepts, so the help cannot drift from the options."""
    import shlex

    from runtime.cli import build_parser
    with pytest.raises(SystemExit):
        build_parser().parse_args([*cmd, "--help"])
    out = capsys.readouterr().out
    examples = [l.strip() for l in out.split("examples:", 1)[1].splitlines() if l.startswith("  runtime ")]
    assert examples and all(e.split()[1:3] == cmd[:2] or len(cmd) == 1 for e in examples), out
    for e in examples:
        args = build_parser().parse_args(shlex.split(e)[1:])
        assert args.fn and (args.port or args.place), e
    assert "socket://" in out and "--place" in out


def test_classify_help_examples_parse_and_the_bundled_ones_run(capsys):
    """`runtime classify --help` had no examples (only `runtime --help` did). Each one parses;
    those on the bundled fixtures run as typed from the checkout's root."""
    import shlex

    from runtime.cli import build_parser
    with pytest.raises(SystemExit):
        build_parser().parse_args(["classify", "--help"])
    out = capsys.readouterr().out.split("examples:", 1)[1].split("\n\n", 1)[0]
    examples = [shlex.split(e)[1:] for e in out.replace("\\\n", " ").splitlines() if e.strip()]
    assert len(examples) >= 3 and all(e[0] == "classify" for e in examples), out
    for e in examples:
        assert build_parser().parse_args(e).model, e
        if "tests/fixtures/models/mobilenet_v1_a025_96_rgb.tflite" in e:
            p = subprocess.run([sys.executable, "-m", "runtime.cli", *e[:e.index("--source") + 2], "--frames", "3"],
                               capture_output=True, text=True, timeout=60, cwd=ROOT)   # as typed, three frames
            assert p.returncode == 0 and "3 frames in" in p.stdout, (e, p.stderr)


@pytest.mark.parametrize("content,expect", [
    (b"hello\n", "is not a TFLite model"),
    (None, "is corrupt or truncated"),          # the bundled model cut to 5,000 bytes
    (b"", "is not a TFLite model"),
    ("dir", "is a folder, not a model file"),
])
@pytest.mark.parametrize("action", ["validate", "profile", "classify"])
def test_a_model_that_is_not_tflite_is_named_before_the_link(tmp_path, content, expect, action):
    """A text file or a truncated model given to `hil validate/profile` was reported as 'the
    device runs a different model' (its sha256 compared first); now the file's problem, in one
    line, before the port is opened (loop:// would answer nothing). `classify` gave the
    interpreter's words ('mmap of size 0 requested.The model allocation is null/empty'); now the
    same line as the others."""
    if content == "dir":
        m = tmp_path
    else:
        m = tmp_path / "m.tflite"
        m.write_bytes(content if content is not None else open(MODEL, "rb").read()[:5000])
    if action == "classify":
        p = runtime("classify", "--model", str(m), "--source", "synthetic", "--frames", "1")
    else:
        p = runtime("hil", action, "--port", "loop://", "--model", str(m))
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and expect in lines[0], p.stderr
    assert lines[0].startswith(f"runtime: error: {m}")


def _free_tcp_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]   # closed again: nothing listens there


@pytest.mark.parametrize("url,expect", [
    ("/dev/ttyMCUF_NOPE", "no such serial port; is the board plugged in?"),
    (__file__, "it is not a serial port"),
    ("socket://127.0.0.1:{free}", "nothing listens on 127.0.0.1:{free}; start the firmware there"),
    # `firmware serve --port 4321` takes a number, `runtime --port` a URL: the number is pointed at it
    ("{free}", "a TCP port (QEMU under `firmware serve`) is given as a URL: --port socket://127.0.0.1:{free}"),
    ("localhost:{free}", "is given as a URL: --port socket://localhost:{free}"),
])
def test_a_port_that_cannot_be_opened_says_why_and_what_to_do(url, expect):
    """pyserial's text repeated the path and errno ('could not open port X: [Errno 2] No such file
    or directory: 'X'') and gave no fix; each case is now one line naming the port and the fix."""
    free = _free_tcp_port()
    url, expect = url.format(free=free), expect.format(free=free)
    p = runtime("hil", "info", "--port", url)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert lines[0].startswith(f"runtime: error: cannot open {url}: "), lines[0]
    assert expect in lines[0] and "Errno" not in lines[0], lines[0]


def test_a_port_name_with_a_newline_is_one_error_line():
    """attack5: --port 'a\nb' printed two `runtime: error:` lines for one problem."""
    p = runtime("hil", "info", "--port", "/dev/ttyMCUF\nNOPE")
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert lines[0].startswith("runtime: error: cannot open '/dev/ttyMCUF\\nNOPE': no such serial port"), lines[0]


def test_no_answer_names_the_timeout_given():
    """`hil info --timeout 0.0001` against a peer that never answers said 'within 0.0 s'."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        p = runtime("hil", "info", "--port", f"socket://127.0.0.1:{s.getsockname()[1]}", "--timeout", "0.0001")
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and "within 0.0001 s" in lines[0], p.stderr


def test_inputs_with_images_takes_the_first_n_images(monkeypatch):
    """`hil validate --images DIR --inputs 3` validated all 12 images: --inputs was silently
    ignored beside --images. It now takes the first N images (sorted by path); without --inputs
    every image, and random inputs still default to 50."""
    from runtime import cli
    from runtime.hil import validate as hv
    seen = {}

    class Link:
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    def fake_validate(link, model, inputs, seed, log, images):
        seen["inputs"], seen["images"] = inputs, images and [n for n, _, _ in images]

        class Rep:
            ok = True

            def render(self):
                return ""
        return Rep()
    monkeypatch.setattr("runtime.hil.link.HilLink", Link)
    monkeypatch.setattr(hv, "validate", fake_validate)
    from conftest import ROOT
    images = str(ROOT / "tests" / "fixtures" / "images" / "shapes")
    base = ["hil", "validate", "--port", "loop://", "--model", MODEL]
    assert cli.main([*base, "--images", images, "--inputs", "3"]) == 0
    assert seen["images"] == ["circle/00.png", "circle/01.png", "circle/02.png"]   # sorted by path
    assert cli.main([*base, "--images", images]) == 0 and len(seen["images"]) == 12
    assert cli.main(base) == 0 and seen["inputs"] == 50 and seen["images"] is None


SHAPES = str(FIXTURE_MODELS / "mobilenet_v2_a035_96_rgb.tflite")   # trained on runtime/shapes.py


def test_seed_with_images_is_refused(tmp_path):
    """`hil validate --images DIR --seed 3` ignored --seed silently (the images are the inputs)."""
    (tmp_path / "a.npy").write_bytes(b"")
    p = runtime("hil", "validate", "--port", "loop://", "--model", MODEL, "--images", str(tmp_path), "--seed", "3")
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and "--seed" in lines[0] and "--images" in lines[0], p.stderr
    assert "drop --seed" in lines[0]


def test_labels_without_images_is_refused():
    """`hil validate --labels FILE` without --images ran 50 random inputs and printed no
    accuracy, the labels silently ignored (they score the images of --images DIR)."""
    labels = str(FIXTURE_MODELS / "shapes_labels.txt")
    p = runtime("hil", "validate", "--port", "loop://", "--model", MODEL, "--labels", labels)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert f"--labels {labels}" in lines[0] and "give --images DIR with it" in lines[0], p.stderr


def test_seed_defaults_to_zero_for_random_inputs():
    from runtime.cli import build_parser
    args = build_parser().parse_args(["hil", "validate", "--port", "loop://", "--model", MODEL])
    assert args.seed is None       # unset: cmd_validate passes 0 to validate()


def test_classify_timeout_without_device_is_refused():
    """`classify --timeout 5` without --device was accepted silently: nothing waits."""
    p = runtime("classify", "--model", SHAPES, "--source", "synthetic", "--frames", "1", "--timeout", "5")
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert "--timeout 5" in lines[0] and "--device" in lines[0] and "drop --timeout" in lines[0]
    assert "XNNPACK" not in p.stderr


def test_synthetic_without_labels_names_the_shapes_and_reports_accuracy():
    """--source synthetic without --labels printed "class 1" beside "[truth square]" and no
    accuracy; the shapes' own class names are used for a model with that many classes."""
    p = runtime("classify", "--model", SHAPES, "--source", "synthetic:1", "--frames", "40", "--no-preview")
    assert p.returncode == 0, p.stderr
    assert "labels  circle, square, triangle, line" in p.stderr
    assert "class " not in p.stdout and "top-1 accuracy" in p.stdout, p.stdout
    assert " ok]" in p.stdout
    # the fixtures' recorded class order is the one used (tests/fixtures/models/fixtures.json)
    import json
    from runtime.shapes import LABELS
    meta = json.loads((FIXTURE_MODELS / "fixtures.json").read_text())
    assert list(LABELS) == meta["mobilenet_v2_a035_96_rgb"]["classes"]


def test_synthetic_with_another_class_count_warns_and_keeps_class_numbers(capsys):
    import io

    from runtime.cli import _synthetic_labels

    class Clf:
        classes, labels = 10, [f"class {i}" for i in range(10)]
    err = io.StringIO()
    _synthetic_labels(Clf, err)
    line = err.getvalue().strip()
    assert line.count("\n") == 0 and line.startswith("warning: the synthetic shapes are 4 classes")
    assert "has 10" in line and "--labels" in line and Clf.labels[1] == "class 1"


@pytest.mark.parametrize("argv,expect", [
    (["--source", "bogus"], "unknown source"),
    (["--source", "synthetic", "--labels", "/nonexistent_labels.txt"], "labels file"),
    (["--source", "synthetic", "--device", "socket://nohost"], "--device"),
    (["--source", "images:/nonexistent_dir"], "no such folder"),
])
def test_classify_argument_errors_come_before_the_interpreter(argv, expect):
    """TFLite's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." preceded every
    classify error: the arguments and files are checked before the interpreter is made."""
    p = runtime("classify", "--model", SHAPES, "--frames", "1", "--no-preview", *argv)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and expect in lines[0], p.stderr
    assert "XNNPACK" not in p.stderr


def test_only_the_xnnpack_banner_is_dropped_from_stderr(capfd):
    """The banner TFLite's C++ logger writes to descriptor 2 is dropped; anything else written
    there meanwhile (a real warning or error) is kept."""
    import os

    from runtime.interpreter import XNNPACK_BANNER, _without_xnnpack_banner
    with _without_xnnpack_banner():
        os.write(2, XNNPACK_BANNER + b"\nERROR: a real problem\n")
    assert capfd.readouterr().err == "ERROR: a real problem\n"
    p = runtime("classify", "--model", SHAPES, "--source", "synthetic", "--frames", "1", "--no-preview")
    assert p.returncode == 0 and "XNNPACK" not in p.stderr and p.stderr.startswith("labels  "), p.stderr
