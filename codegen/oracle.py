"""The reference `codegen verify` compares with, run in a child process.

TFLite's reference kernels (ai-edge-litert BUILTIN_REF, every intermediate kept) answer first.
Known converter quirks that make TFLite refuse a valid file are repaired in a copy handed to
it (`repair_quirks`). Where TFLite still refuses the file, TFLite Micro's host interpreter
(PyPI `tflite-micro`) answers instead. The child can abort (TFLite's SOFTMAX prepare calls
abort() on some models): that is one line of report, never the end of the parent.

Worker protocol (`python -m codegen.oracle --serve`, one per process, restarted after it
dies): one JSON line [backend, model, request.npz, result.npz] in, one line [status, message]
out (0: done, 3: the reference refused the model, with its complaint). The request holds
`in_<sample>_<tensor>` arrays (source tensor index) and `want` (tensor indices to return);
the result `t_<sample>_<tensor>`.
"""
from __future__ import annotations

import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BACKENDS = {"litert": "TFLite reference kernels (ai-edge-litert, BUILTIN_REF)",
            "tflm": "TFLite Micro host interpreter (tflite-micro)"}


class OracleRefused(Exception):
    """Every reference refused the model or died on it; the message is one line."""


@dataclass
class OracleAnswer:
    backend: str                          # key of BACKENDS
    tensors: list[dict[int, np.ndarray]]  # per sample: tensor index -> values
    notes: list[str]                      # what was repaired or which fallback answered


def repair_quirks(buf: bytes, log: list[str]) -> bytes:
    """Per-channel int32 bias tensors whose quantized_dimension is not 0 (older converters
    copy the depthwise filter's 3): TFLite's Prepare refuses them, though a 1-D tensor's only
    dimension is 0. Returns a copy with those fields set to 0 (and says so in `log`)."""
    import tflite
    model = tflite.Model.GetRootAsModel(buf, 0)
    out = bytearray(buf)
    fixed = []
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for i in range(sg.TensorsLength()):
            t = sg.Tensors(i)
            q = t.Quantization()
            if q is None or t.ShapeLength() != 1 or q.ScaleLength() < 2 or q.QuantizedDimension() == 0:
                continue
            o = q._tab.Offset(16)               # QuantizationParameters.quantized_dimension
            if o:
                struct.pack_into("<i", out, q._tab.Pos + o, 0)
                fixed.append((t.Name().decode("utf-8", "replace"), q.QuantizedDimension()))
    if fixed:
        names = ", ".join(f"'{n}'" for n, _ in fixed[:3]) + (" ..." if len(fixed) > 3 else "")
        log.append(f"{len(fixed)} per-channel bias tensor(s) ({names}) carry quantized_dimension "
                   f"{fixed[0][1]} (an older converter copied the depthwise filter's); TFLite refuses "
                   "that, so the reference was handed a copy with quantized_dimension 0")
    return bytes(out)


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return "; ".join(lines[-3:])[:400] if lines else "no message"


def ask(model: str | Path, feeds: list[dict[int, np.ndarray]], want: list[int],
        timeout: float = 600, repair: bool = True) -> OracleAnswer:
    """Run `feeds` (per sample: source input tensor index -> array) through the reference in
    a child process and return the `want` tensors of each sample (repair=False: hand TFLite
    the file as it is). Raises OracleRefused."""
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mcuforge-oracle-") as tmp:
        tmp = Path(tmp)
        buf = Path(model).read_bytes()
        repaired = repair_quirks(buf, notes) if repair else buf
        path = Path(model)
        if repaired != buf:
            path = tmp / "repaired.tflite"
            path.write_bytes(repaired)
        req = {f"in_{k}_{t}": a for k, f in enumerate(feeds) for t, a in f.items()}
        np.savez(tmp / "req.npz", want=np.asarray(want, np.int64), samples=np.int64(len(feeds)), **req)
        complaints = []
        for backend in BACKENDS:
            rc, err = _call(backend, str(path), str(tmp / "req.npz"), str(tmp / f"{backend}.npz"), timeout)
            if rc == 0:
                if complaints:
                    notes.append(f"the TFLite reference refused the model ({complaints[0]}); "
                                 f"compared with {BACKENDS[backend]} instead")
                res = np.load(tmp / f"{backend}.npz")
                tensors = [{t: res[f"t_{k}_{t}"] for t in want} for k in range(len(feeds))]
                return OracleAnswer(backend, tensors, notes)
            if rc < 0:
                try:
                    sig = signal.Signals(-rc).name
                except ValueError:
                    sig = f"signal {-rc}"
                why = (f"{BACKENDS[backend]} died with {sig}"
                       + (f": {_one_line(err)}" if err.strip() else " (it aborts on this model)"))
            else:
                why = f"{BACKENDS[backend]}: {_one_line(err)}"
            complaints.append(why)
        raise OracleRefused("no reference could run this model: " + " | ".join(complaints))


# --- the child: one worker process, started on first use and again after it dies ---

_worker: subprocess.Popen | None = None
_worker_log = None


def _call(backend: str, model: str, req: str, res: str, timeout: float) -> tuple[int, str]:
    """One request to the worker: (0, "") on success, (3, message) when the reference refused
    the model, (-signal or exit code, its last stderr) when the worker died on it."""
    global _worker, _worker_log
    if _worker is None or _worker.poll() is not None:
        _worker_log = tempfile.TemporaryFile(mode="w+")
        _worker = subprocess.Popen([sys.executable, "-m", "codegen.oracle", "--serve"], text=True,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=_worker_log,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    w = _worker
    try:
        _worker_log.seek(0)
        _worker_log.truncate()
        w.stdin.write(json.dumps([backend, model, req, res]) + "\n")
        w.stdin.flush()
        ready, _, _ = select.select([w.stdout], [], [], timeout)
        line = w.stdout.readline() if ready else ""
    except (BrokenPipeError, OSError):
        ready, line = True, ""
    if line:
        rc, msg = json.loads(line)
        return int(rc), msg
    _worker = None
    if not ready:                 # no answer in time
        w.kill()
        w.wait()
        return 4, f"no answer within {timeout:.0f} s"
    try:                          # the pipe closed: the worker is dying (an abort)
        w.wait(timeout=60)
    except subprocess.TimeoutExpired:
        w.kill()
        w.wait()
    _worker_log.seek(0)
    return w.returncode or 1, _worker_log.read()


def _litert(model: str, feeds, want):
    from runtime.interpreter import make_interpreter
    it = make_interpreter(model, reference=True, preserve_all_tensors=True)
    resized = False
    for d in it.get_input_details():      # a dynamic input compiled at an explicit size
        shape = np.shape(feeds[0][d["index"]])
        if tuple(shape) != tuple(d["shape"]) and np.size(feeds[0][d["index"]]) != np.prod(d["shape"]):
            it.resize_tensor_input(d["index"], list(shape), strict=True)
            resized = True
    if resized:
        it.allocate_tensors()
    out = []
    for feed in feeds:
        for d in it.get_input_details():
            it.set_tensor(d["index"], np.asarray(feed[d["index"]], d["dtype"]).reshape(d["shape"]))
        it.invoke()
        out.append({t: it.get_tensor(t).copy() for t in want})
    return out


def _tflm(model: str, feeds, want):
    from tflite_micro.python.tflite_micro import runtime
    size = Path(model).stat().st_size
    it = runtime.Interpreter.from_file(model, arena_size=max(64 * size, 4 << 20),
                                       intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    import tflite
    sg = tflite.Model.GetRootAsModel(Path(model).read_bytes(), 0).Subgraphs(0)
    inputs = [int(i) for i in sg.InputsAsNumpy()]     # TFLM takes inputs by position
    out = []
    for feed in feeds:
        for i, idx in enumerate(inputs):
            d = it.get_input_details(i)
            it.set_input(np.asarray(feed[idx], d["dtype"]).reshape(d["shape"]), i)
        it.invoke()
        out.append({t: np.asarray(it.GetTensor(t, 0)["tensor_data"]).copy() for t in want})
    return out


def _answer(backend: str, model: str, req_path: str, res_path: str) -> tuple[int, str]:
    req = np.load(req_path)
    want = [int(t) for t in req["want"]]
    feeds: list[dict[int, np.ndarray]] = [{} for _ in range(int(req["samples"]))]
    for key in req.files:
        if key.startswith("in_"):
            _, k, t = key.split("_")
            feeds[int(k)][int(t)] = req[key]
    try:
        out = (_litert if backend == "litert" else _tflm)(model, feeds, want)
    except Exception as e:   # noqa: BLE001 -- any refusal becomes the one line the parent reports
        return 3, f"{type(e).__name__}: {_one_line(str(e))}"
    np.savez(res_path, **{f"t_{k}_{t}": a for k, d in enumerate(out) for t, a in d.items()})
    return 0, ""


def _serve() -> int:
    """Answer one JSON request per line on stdin with one JSON line on stdout."""
    for line in sys.stdin:
        rc, msg = _answer(*json.loads(line))
        sys.stdout.write(json.dumps([rc, msg]) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_serve())
