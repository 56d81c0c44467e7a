"""Build generated C for this machine as a shared library and run it through ctypes.

This is how tests and `codegen verify` compare the generated code with the TFLite
reference: the same C the device runs, compiled with the host's gcc under the strictest
warnings, with a layer hook that hands every intermediate tensor back to Python.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

HOOK_SOURCE = Path(__file__).parent / "host" / "trace_hook.c"
STRICT_CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]


class BuildError(RuntimeError):
    """The host compiler failed; the message holds the command and its whole stderr."""
    def __init__(self, message: str, compiler: str = "cc", stderr: str = ""):
        super().__init__(message)
        self.compiler, self.stderr = compiler, stderr

    def summary(self) -> str:
        """The compiler's error lines (at most 10), one problem per line, and the fix."""
        lines = [l.strip() for l in self.stderr.splitlines() if "error" in l.lower()][:10] or \
                [l.strip() for l in self.stderr.splitlines() if l.strip()][:3] or ["no output"]
        return "\n".join(f"the host build ({self.compiler}) failed: {l}" for l in lines) + \
            f"\nthe host build ({self.compiler}) failed: check that `{self.compiler} --version` works in " \
            "this environment (PATH), and keep the code with -o DIR to build it by hand"


def _run(cmd: list[str]) -> None:
    # no PATH at all (`env -i`): Python still finds gcc on os.defpath, but gcc then found
    # neither cc1 nor ld ("cannot execute 'cc1'"); give it the same default search path
    env = None if os.environ.get("PATH") else {**os.environ, "PATH": os.defpath}
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=env)
    if r.returncode != 0:
        raise BuildError(f"host build failed:\n{' '.join(cmd)}\n{r.stderr}", cmd[0], r.stderr)


def _cache_root() -> Path:
    """$MCUF_CACHE, else ~/.cache/mcuforge; a temporary folder of this user's when that cannot
    be written (HOME=/proc or a read-only home: `codegen verify` stopped with "No such file or
    directory: /proc/.cache")."""
    root = Path(os.environ.get("MCUF_CACHE", Path.home() / ".cache" / "mcuforge"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        if os.access(root, os.W_OK | os.X_OK):
            return root
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"mcuforge-cache-{getattr(os, 'getuid', lambda: 0)()}"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def _kernel_objects(generated_dir: Path, cc: str, cflags: list[str]) -> list[Path]:
    """The kernel library compiled once per content and flags, then reused: a test sweep
    builds hundreds of one-layer models and only their model.c differs."""
    sources = sorted((generated_dir / "mcuf" / "src").glob("*.c")) + [HOOK_SOURCE]
    headers = sorted((generated_dir / "mcuf" / "include").glob("*.h"))
    h = hashlib.sha256(" ".join([cc, *cflags]).encode())
    for f in headers + sources:
        h.update(f.name.encode() + f.read_bytes())
    cache = _cache_root() / f"host-{h.hexdigest()[:16]}"
    objects = [cache / (f.stem + ".o") for f in sources]
    if not all(o.exists() for o in objects):
        tmp = Path(tempfile.mkdtemp(prefix="build-", dir=cache.parent if cache.parent.exists() else None))
        for src in sources:
            _run([cc, *cflags, "-fPIC", f"-I{generated_dir / 'mcuf' / 'include'}", "-c", str(src),
                  "-o", str(tmp / (src.stem + ".o"))])
        cache.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp.rename(cache)   # atomic: concurrent builders either win or reuse
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return objects


def build_shared(generated_dir: Path, name: str = "model", cc: str = "gcc",
                 extra_cflags: list[str] | None = None) -> Path:
    generated_dir = Path(generated_dir)
    cflags = [*STRICT_CFLAGS, *(extra_cflags or [])]
    objects = _kernel_objects(generated_dir, cc, cflags)
    # Named by content: dlopen() returns an already-loaded library for a path it has seen,
    # so re-generating into the same directory in one process must give a new file name.
    digest = hashlib.sha256((generated_dir / f"{name}.c").read_bytes() + " ".join(cflags).encode())
    lib = generated_dir / "build-host" / f"lib{name}-{digest.hexdigest()[:12]}.so"
    lib.parent.mkdir(exist_ok=True)
    _run([cc, *cflags, "-shared", "-fPIC", "-DMCUF_LAYER_HOOK=mcuf_host_hook",
          f"-I{generated_dir}", f"-I{generated_dir / 'mcuf' / 'include'}",
          str(generated_dir / f"{name}.c"), *map(str, objects), "-o", str(lib)])
    return lib


_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.POINTER(ctypes.c_int8), ctypes.c_uint32)


class HostModel:
    """The generated model, compiled for this machine. invoke() is input 0 -> output 0;
    set_input()/run()/output() reach every input and output by index, and the *_f32/*_u8
    methods call the generated float32/uint8 edge conversions."""

    def __init__(self, generated_dir: str | Path, name: str = "model", **build_args):
        self.dir = Path(generated_dir)
        self.manifest = json.loads((self.dir / f"{name}.json").read_text())
        self._lib = ctypes.CDLL(str(build_shared(self.dir, name, **build_args)))
        self._invoke = getattr(self._lib, f"{name}_invoke")
        for fn in (f"{name}_input", f"{name}_output", f"{name}_input_at", f"{name}_output_at"):
            getattr(self._lib, fn).restype = ctypes.POINTER(ctypes.c_int8)
        self._input = getattr(self._lib, f"{name}_input")
        self._output = getattr(self._lib, f"{name}_output")
        self._input_at = getattr(self._lib, f"{name}_input_at")
        self._output_at = getattr(self._lib, f"{name}_output_at")
        self._edges = {k: getattr(self._lib, f"{name}_{k}") for k in
                       ("set_input_f32", "get_output_f32", "set_input_u8", "get_output_u8")}
        self.inputs = self.manifest.get("inputs", [self.manifest["input"]])
        self.outputs = self.manifest.get("outputs", [self.manifest["output"]])
        self.input_shape = tuple(self.manifest["input"]["shape"])
        self.output_shape = tuple(self.manifest["output"]["shape"])
        self._layers: dict[int, np.ndarray] | None = None
        self._error: BaseException | None = None
        self._cb = _CALLBACK(self._on_layer)  # keep a reference: C holds the pointer
        self._lib.mcuf_host_set_callback(self._cb)

    def _on_layer(self, layer, ptr, nbytes):
        # ctypes prints and drops an exception raised in a callback, and C carries on: a Ctrl-C
        # landing here was lost and the layer left out of the trace (`codegen verify` then
        # ended in a KeyError traceback). run() defers Ctrl-C while C runs; any other exception
        # raised here is kept (the first) and raised by run() once C returns.
        try:
            self._record(layer, ptr, nbytes)
        except BaseException as e:   # KeyboardInterrupt included
            if self._error is None:
                self._error = e

    def _record(self, layer, ptr, nbytes):
        if self._layers is not None and layer >= 0:
            self._layers[layer] = np.ctypeslib.as_array(ptr, shape=(nbytes,)).copy()

    def set_input(self, i: int, x: np.ndarray) -> None:
        """Input i's int8 bytes (its manifest "bytes" values; ValueError otherwise)."""
        x = np.ascontiguousarray(x, dtype=np.int8).reshape(-1)
        n = self.inputs[i]["bytes"]
        if x.size != n:
            raise ValueError(f"input {i} has {x.size} values, the model takes {n}")
        ctypes.memmove(self._input_at(i), x.ctypes.data, n)

    def input(self, i: int) -> np.ndarray:
        """Input i's int8 bytes as they are in the arena now (shape of the tensor)."""
        n = self.inputs[i]["bytes"]
        return np.ctypeslib.as_array(self._input_at(i), shape=(n,)).copy().reshape(self.inputs[i]["shape"])

    def output(self, i: int) -> np.ndarray:
        n = self.outputs[i]["bytes"]
        return np.ctypeslib.as_array(self._output_at(i), shape=(n,)).copy().reshape(self.outputs[i]["shape"])

    def set_input_f32(self, i: int, x: np.ndarray) -> None:
        """<name>_set_input_f32: float32 values -> input i through the model's QUANTIZE edge."""
        self._set_edge("set_input_f32", i, np.ascontiguousarray(x, np.float32).reshape(-1))

    def set_input_u8(self, i: int, x: np.ndarray) -> None:
        self._set_edge("set_input_u8", i, np.ascontiguousarray(x, np.uint8).reshape(-1))

    def get_output_f32(self, i: int) -> np.ndarray:
        """<name>_get_output_f32: output i through the model's DEQUANTIZE edge, as float32."""
        return self._get_edge("get_output_f32", i, np.float32)

    def get_output_u8(self, i: int) -> np.ndarray:
        return self._get_edge("get_output_u8", i, np.uint8)

    def _set_edge(self, fn: str, i: int, x: np.ndarray) -> None:
        if x.size != self.inputs[i]["bytes"]:
            raise ValueError(f"input {i} has {x.size} values, the model takes {self.inputs[i]['bytes']}")
        if self._edges[fn](ctypes.c_int(i), ctypes.c_void_p(x.ctypes.data)) != 0:
            raise ValueError(f"input {i} has no {fn[-3:]} edge")

    def _get_edge(self, fn: str, i: int, dtype) -> np.ndarray:
        y = np.zeros(self.outputs[i]["bytes"], dtype)
        if self._edges[fn](ctypes.c_int(i), ctypes.c_void_p(y.ctypes.data)) != 0:
            raise ValueError(f"output {i} has no {fn[-3:]} edge")
        return y.reshape(self.outputs[i]["shape"])

    def run(self, trace: bool = False) -> dict[int, np.ndarray] | None:
        """<name>_invoke() on the inputs as they are; with trace, every layer's output bytes."""
        self._layers = {} if trace else None
        self._error = None
        # A Ctrl-C while C runs is noted and raised once it returns: raised in the callback it
        # could land before any `try` there (at the call's first instruction) and be dropped.
        old, noted = signal.getsignal(signal.SIGINT), []
        defer = callable(old) and threading.current_thread() is threading.main_thread()
        if defer:
            signal.signal(signal.SIGINT, lambda signum, frame: noted.append(frame))
        try:
            self._invoke()
        finally:
            if defer:
                signal.signal(signal.SIGINT, old)
        layers, self._layers = self._layers, None
        error, self._error = self._error, None
        if noted:
            old(signal.SIGINT, noted[0])   # Python's handler: KeyboardInterrupt
        if error is not None:       # raised in the layer callback: raise it here
            raise error
        return layers

    def invoke(self, x: np.ndarray, trace: bool = False):
        """Input 0 -> output 0 (int8), and with trace every layer's output bytes."""
        self.set_input(0, x)
        layers = self.run(trace)
        out = self.output(0)
        return (out, layers) if trace else out
