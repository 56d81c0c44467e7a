"""`make demo` as a user stops it: Ctrl-C while it builds the firmware, or its output piped
into `head`. One line and exit code 130, or a quiet 141; it used to end in a
KeyboardInterrupt / BrokenPipeError traceback."""
import os
import subprocess
import sys

from conftest import FIXTURE_MODELS, ROOT, interrupt_when

MODEL = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def test_demo_ctrl_c_during_the_build(tmp_path):
    code, err = interrupt_when([sys.executable, "-m", "firmware_tools.demo", str(MODEL)],
                               lambda line: line.startswith("== 3. firmware build"), cwd=tmp_path, env=ENV)
    assert code == 130, err
    assert "Traceback" not in err and err.strip() == "demo: interrupted", err


def test_demo_into_a_closed_pipe(tmp_path):
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, "-m", "firmware_tools.demo", str(MODEL)], cwd=tmp_path, env=ENV,
                           stdout=w, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert p.returncode == 141 and p.stderr == "", p.stderr


def test_an_error_raised_while_ctrl_c_unwinds_reports_as_the_interrupt():
    """CPython's subprocess can turn a KeyboardInterrupt inside Popen into 'Bad file
    descriptor' (it closes a pipe twice): `make demo` stopped during the firmware build once
    ended 'demo: error: Bad file descriptor; check the path', exit 2. Inside interrupts_first
    any error raised after Ctrl-C arrived is the interrupt (KeyboardInterrupt, exit 130)."""
    import errno
    import signal
    import time

    import pytest
    from codegen import cli_main
    old = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt) as e:
            with cli_main.interrupts_first():
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(5)
                except KeyboardInterrupt:
                    raise OSError(errno.EBADF, "Bad file descriptor") from None
        assert isinstance(e.value.__cause__, OSError)
        with pytest.raises(OSError):          # no Ctrl-C this time: the error is the error
            with cli_main.interrupts_first():
                raise OSError(errno.ENOENT, "No such file or directory")
    finally:
        signal.signal(signal.SIGINT, old)
