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
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HOOK_SOURCE = Path(__file__).parent / "host" / "trace_hook.c"
STRICT_CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]


class BuildError(RuntimeError):
    pass


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"host build failed:\n{' '.join(cmd)}\n{r.stderr}")


def _kernel_objects(generated_dir: Path, cc: str, cflags: list[str]) -> list[Path]:
    """The kernel library compiled once per content and flags, then reused: a test sweep
    builds hundreds of one-layer models and only their model.c differs."""
    sources = sorted((generated_dir / "mcuf" / "src").glob("*.c")) + [HOOK_SOURCE]
    headers = sorted((generated_dir / "mcuf" / "include").glob("*.h"))
    h = hashlib.sha256(" ".join([cc, *cflags]).encode())
    for f in headers + sources:
        h.update(f.name.encode() + f.read_bytes())
    cache = Path(os.environ.get("MCUF_CACHE", Path.home() / ".cache" / "mcuforge")) / f"host-{h.hexdigest()[:16]}"
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
    """The generated model, compiled for this machine."""

    def __init__(self, generated_dir: str | Path, name: str = "model", **build_args):
        self.dir = Path(generated_dir)
        self.manifest = json.loads((self.dir / f"{name}.json").read_text())
        self._lib = ctypes.CDLL(str(build_shared(self.dir, name, **build_args)))
        self._invoke = getattr(self._lib, f"{name}_invoke")
        for fn in (f"{name}_input", f"{name}_output"):
            getattr(self._lib, fn).restype = ctypes.POINTER(ctypes.c_int8)
        self._input = getattr(self._lib, f"{name}_input")
        self._output = getattr(self._lib, f"{name}_output")
        self.input_shape = tuple(self.manifest["input"]["shape"])
        self.output_shape = tuple(self.manifest["output"]["shape"])
        self._layers: dict[int, np.ndarray] | None = None
        self._cb = _CALLBACK(self._on_layer)  # keep a reference: C holds the pointer
        self._lib.mcuf_host_set_callback(self._cb)

    def _on_layer(self, layer, ptr, nbytes):
        if self._layers is not None and layer >= 0:
            self._layers[layer] = np.ctypeslib.as_array(ptr, shape=(nbytes,)).copy()

    def invoke(self, x: np.ndarray, trace: bool = False):
        x = np.ascontiguousarray(x, dtype=np.int8).reshape(-1)
        n = self.manifest["input"]["bytes"]
        if x.size != n:
            raise ValueError(f"input has {x.size} values, the model takes {n}")
        ctypes.memmove(self._input(), x.ctypes.data, n)
        self._layers = {} if trace else None
        self._invoke()
        out = np.ctypeslib.as_array(self._output(), shape=(self.manifest["output"]["bytes"],))
        out = out.copy().reshape(self.output_shape)
        if not trace:
            return out
        layers, self._layers = self._layers, None
        return out, layers
