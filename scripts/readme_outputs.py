"""Writes the command outputs pasted in README.md by running the commands.

    .venv/bin/python scripts/readme_outputs.py                 # rewrites every block in README.md
    .venv/bin/python scripts/readme_outputs.py emit boards     # only these blocks
    .venv/bin/python scripts/readme_outputs.py --check         # exit 1 if a quick block is stale
    .venv/bin/python scripts/readme_outputs.py --list

A block is the text between `<!-- readme-output:NAME:begin (scripts/readme_outputs.py) -->` and
`<!-- readme-output:NAME:end -->`: a fenced code block with the command line(s) and their output,
abridged where marked `...`. The commands run in a scratch directory (the repository's tests/
and benchmarks/ linked in), as a user would type them. --check compares every quick block after
masking what a run cannot repeat (wall-clock times, the TCP port); the `codegen fit` grids take
a minute each, so --check leaves them out (tests/test_readme_outputs.py checks sampled rows).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "tests/fixtures/models/mobilenet_v1_a025_96_rgb.tflite"
PORT = 4321   # the port the README shows; the real one is whatever was free
TOOLS = {"codegen": "codegen.cli", "firmware": "firmware_tools.cli", "runtime": "runtime.cli"}
TIMINGS = [r"in \d+\.\d+ s\b", r"after \d+\.\d+ s\b", r"took \d+\.\d+ s\b", r"\d+\.\d+ s\)", r"socket://127\.0\.0\.1:\d+", r"link \d+\.\d+ ms"]


def marker(name: str, end: bool = False) -> str:
    return f"<!-- readme-output:{name}:end -->" if end else \
        f"<!-- readme-output:{name}:begin (scripts/readme_outputs.py) -->"


def mask(text: str) -> str:
    """The block without what differs run to run: wall-clock times and the TCP port."""
    for pat in TIMINGS:
        text = re.sub(pat, "<varies>", text)
    return text


class Runner:
    """Runs mcuforge commands in a scratch directory with tests/ and benchmarks/ linked in."""

    def __init__(self, work: Path):
        self.work = work
        for d in ("tests", "benchmarks"):
            (work / d).symlink_to(ROOT / d)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(self, cmd: str, ok=(0,), stderr: bool = False) -> str:
        """`cmd` as typed ("codegen emit ..."); returns its stdout (and stderr if asked)."""
        args = cmd.split()
        argv = [sys.executable, "-m", TOOLS[args[0]], *args[1:]] if args[0] in TOOLS else args
        r = subprocess.run(argv, cwd=self.work, env=self.env, capture_output=True, text=True, timeout=1800)
        if r.returncode not in ok:
            raise RuntimeError(f"`{cmd}` exited with {r.returncode}:\n{r.stdout}\n{r.stderr}")
        return (r.stdout + (r.stderr if stderr else "")).rstrip("\n")


def abridge_inspect(text: str) -> str:
    """The layer table's first and last four rows, the first and last depthwise block."""
    out, groups = [], {"rows": [], "blocks": []}
    for ln in text.splitlines():
        kind = ("rows" if re.match(r"^\s+\d+\s+[A-Z_]", ln) else
                "blocks" if re.match(r"^\s+layers\s+\d+\+\d+", ln) else None)
        if kind is None:
            out.append(ln)
            continue
        if f"<{kind}>" not in out:
            out.append(f"<{kind}>")
        groups[kind].append(ln)
    rows, blocks = groups["rows"], groups["blocks"]
    res = []
    for ln in out:
        if ln == "<rows>":
            res += rows[:4] + ["  ..."] + rows[-4:] if len(rows) > 8 else rows
        elif ln == "<blocks>":
            res += [blocks[0], "  ...", blocks[-1]] if len(blocks) > 2 else blocks
        else:
            res.append(ln)
    return "\n".join(res)


def block_emit(r: Runner) -> str:
    cmd = f"codegen emit --target cortex-m7 {MODEL} -o out/"
    return f"$ {cmd}\n{r.run(cmd)}"


def block_inspect(r: Runner) -> str:
    cmd = f"codegen inspect --target cortex-m7 {MODEL}"
    return f"$ {cmd}\n{abridge_inspect(r.run(cmd))}"


def block_boards(r: Runner) -> str:
    return f"$ firmware boards\n{r.run('firmware boards')}"


def block_demo(r: Runner) -> str:
    """`make demo`'s step 4: the firmware on QEMU's Cortex-M7 against the reference."""
    text = r.run(f"{sys.executable} -m firmware_tools.demo {MODEL}")
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("== 4."))
    end = next(i for i, ln in enumerate(lines) if " per inference " in ln)
    return "\n".join(lines[start:end + 1])


def block_build_run(r: Runner) -> str:
    r.run(f"codegen emit --target cortex-m7 {MODEL} -o out/")
    b = "firmware build --board qemu-mps2-an500 out/"
    run = "firmware run --board qemu-mps2-an500 out/build-qemu-mps2-an500/fw.elf"
    return f"$ {b}\n{r.run(b)}\n$ {run}\n{r.run(run, stderr=True)}"


def block_hil(r: Runner) -> str:
    """The HIL walk-through on QEMU: serve the validation firmware, validate 5 inputs."""
    from firmware_tools.qemu import free_tcp_port
    r.run(f"codegen emit --target cortex-m7 {MODEL} -o out/")
    r.run("firmware build --board qemu-mps2-an500 --app validate out/")
    elf = "out/build-qemu-mps2-an500/fw.elf"
    port = free_tcp_port()
    serve = subprocess.Popen([sys.executable, "-m", "firmware_tools.cli", "serve", "--board", "qemu-mps2-an500",
                              "--port", str(port), elf], cwd=r.work, env=r.env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        served = [serve.stdout.readline().rstrip("\n"), serve.stdout.readline().rstrip("\n")]
        url = f"socket://127.0.0.1:{port}"
        info = r.run(f"runtime hil info --port {url}")
        val = r.run(f"runtime hil validate --port {url} --model {MODEL} --inputs 5")
    finally:
        serve.send_signal(signal.SIGINT)   # as Ctrl-C: serve stops QEMU
        serve.wait(timeout=20)
    vl = val.splitlines()
    layers = next(i for i, ln in enumerate(vl) if ln.startswith("per layer"))
    val = "\n".join(vl[:layers + 4] + ["  ..."])
    text = (f"$ firmware serve --board qemu-mps2-an500 --port {PORT} {elf}\n" + "\n".join(served) + "\n"
            f"$ runtime hil info --port socket://127.0.0.1:{PORT}\n{info}\n"
            f"$ runtime hil validate --port socket://127.0.0.1:{PORT} --model {MODEL} --inputs 5\n{val}")
    return text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{PORT}")


@contextlib.contextmanager
def _validation_served(r: Runner):
    """The URL of `firmware serve` running MODEL's validation firmware (built once per run, in
    hilv/: out/ holds the bench build), stopped as Ctrl-C stops it."""
    from firmware_tools.qemu import free_tcp_port
    elf = "hilv/build-qemu-mps2-an500/fw.elf"
    if not (r.work / elf).exists():
        r.run(f"codegen emit --target cortex-m7 {MODEL} -o hilv/")
        r.run("firmware build --board qemu-mps2-an500 --app validate hilv/")
    port = free_tcp_port()
    serve = subprocess.Popen([sys.executable, "-m", "firmware_tools.cli", "serve", "--board", "qemu-mps2-an500",
                              "--port", str(port), elf], cwd=r.work, env=r.env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        serve.stdout.readline()            # "... its UART is at socket://...": QEMU listens
        yield f"socket://127.0.0.1:{port}"
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=20)


IMAGES = "tests/fixtures/images/shapes"
LABELS = "tests/fixtures/models/shapes_labels.txt"


def block_hil_images(r: Runner) -> str:
    """`hil validate --images --labels` on QEMU: the report up to the first layer's time."""
    with _validation_served(r) as url:
        val = r.run(f"runtime hil validate --port {url} --model {MODEL} --images {IMAGES} --labels {LABELS}")
    vl = val.splitlines()
    layers = next(i for i, ln in enumerate(vl) if ln.startswith("per layer"))
    return (f"$ runtime hil validate --port socket://127.0.0.1:{PORT} --model {MODEL} \\\n"
            f"      --images {IMAGES} --labels {LABELS}\n" + "\n".join(vl[:layers + 2] + ["  ..."]))


def block_classify_device(r: Runner) -> str:
    """`runtime classify --device` on QEMU: the first frame's line and the device summary."""
    with _validation_served(r) as url:
        out = r.run(f"runtime classify --model {MODEL} --labels {LABELS} --source images:{IMAGES} --device {url}")
    lines = out.splitlines()
    return (f"$ runtime classify --model {MODEL} \\\n      --labels {LABELS} --source images:{IMAGES} \\\n"
            f"      --device socket://127.0.0.1:{PORT}\n...\n{lines[0]}\n...\n"
            + next(ln for ln in lines if ln.startswith("device: ")))


def _test_models():
    """The bad and oversized models the tests build (tests/test_errors.py, test_firmware.py)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_errors import float_model, unsupported_model
    from test_firmware import oversized_model
    return float_model, unsupported_model, oversized_model


def block_errors(r: Runner) -> str:
    float_model, unsupported_model, _ = _test_models()
    (r.work / "float_model.tflite").write_bytes(float_model())
    (r.work / "two_unsupported.tflite").write_bytes(unsupported_model())
    (r.work / "notes.txt").write_text("not a model\n")
    shutil.copy(ROOT / "tests" / "fixtures" / "cases" / "models" / "c10_dynamic_hw.tflite", r.work)
    out = []
    for f in ("float_model.tflite", "c10_dynamic_hw.tflite", "two_unsupported.tflite", "notes.txt"):
        cmd = f"codegen emit {f} -o out/"
        out += [f"$ {cmd}", r.run(cmd, ok=(2,), stderr=True)]
    return "\n".join(out)


def block_does_not_fit(r: Runner) -> str:
    _, _, oversized_model = _test_models()
    (r.work / "big.tflite").write_bytes(oversized_model())
    r.run("codegen emit --target cortex-m7 big.tflite -o big/")
    cmd = "firmware build --board stm32f746g-disco big/"
    return f"$ {cmd}\n{r.run(cmd, ok=(2,), stderr=True)}"


def block_fit_f746(r: Runner) -> str:
    cmd = "codegen fit --board stm32f746g-disco"
    return r.run(cmd)


def block_fit_h743(r: Runner) -> str:
    return r.run("codegen fit --board nucleo-h743zi --latency-ms 1000")


BLOCKS = {"emit": block_emit, "inspect": block_inspect, "errors": block_errors, "does-not-fit": block_does_not_fit,
          "boards": block_boards, "demo": block_demo,
          "build-run": block_build_run, "hil": block_hil, "hil-images": block_hil_images,
          "classify-device": block_classify_device,
          "fit-stm32f746g-disco": block_fit_f746, "fit-nucleo-h743zi": block_fit_h743}
SLOW = {"fit-stm32f746g-disco", "fit-nucleo-h743zi"}


def readme_block(text: str, name: str) -> str | None:
    """The fenced text of block `name` in README text, without the fences; None if absent."""
    m = re.search(re.escape(marker(name)) + r"\n```[^\n]*\n(.*?)\n```\n" + re.escape(marker(name, True)),
                  text, re.S)
    return m.group(1) if m else None


def replace_block(text: str, name: str, body: str) -> str:
    pat = re.escape(marker(name)) + r".*?" + re.escape(marker(name, True))
    new = f"{marker(name)}\n```\n{body}\n```\n{marker(name, True)}"
    return re.sub(pat, lambda _: new, text, flags=re.S)


def generate(names: list[str]) -> dict[str, str]:
    with tempfile.TemporaryDirectory(prefix="mcuforge-readme-") as tmp:
        r = Runner(Path(tmp))
        return {n: BLOCKS[n](r) for n in names}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("blocks", nargs="*", help="block names (default: all; with --check: all quick ones)")
    ap.add_argument("--check", action="store_true", help="exit 1 if a block differs (timings masked)")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        print("\n".join(f"{n}{' (slow)' if n in SLOW else ''}" for n in BLOCKS))
        return 0
    bad = [n for n in args.blocks if n not in BLOCKS]
    if bad:
        print(f"unknown block(s) {', '.join(bad)}; --list shows them", file=sys.stderr)
        return 2
    readme = ROOT / "README.md"
    text = readme.read_text()
    names = args.blocks or [n for n in BLOCKS if not (args.check and n in SLOW)]
    missing = [n for n in names if readme_block(text, n) is None]
    if missing:
        print(f"README.md has no block(s) {', '.join(missing)}", file=sys.stderr)
        return 2
    fresh = generate(names)
    if args.check:
        stale = [n for n in names if mask(fresh[n]) != mask(readme_block(text, n))]
        for n in stale:
            print(f"README.md's `{n}` output is out of date: run scripts/readme_outputs.py {n}", file=sys.stderr)
        return 1 if stale else 0
    for n, body in fresh.items():
        text = replace_block(text, n, body)
    readme.write_text(text)
    print(f"rewrote {', '.join(names)} in README.md")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
