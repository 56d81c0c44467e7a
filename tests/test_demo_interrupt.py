"""`make demo` as a user stops it: Ctrl-C while it builds the firmware, or its output piped
into `head`. One line and exit code 130, or a quiet 141; it used to end in a
KeyboardInterrupt / BrokenPipeError traceback."""
import os
import signal
import subprocess
import sys

from conftest import FIXTURE_MODELS, ROOT

MODEL = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def test_demo_ctrl_c_during_the_build(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "firmware_tools.demo", str(MODEL)], cwd=tmp_path, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("== 3. firmware build"):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
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
