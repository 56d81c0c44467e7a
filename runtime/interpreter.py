"""One way to get a TFLite interpreter, whichever package is installed.

ai-edge-litert is preferred (it works with numpy 2); tflite-runtime 2.14 is the fallback
(numpy < 2, Python <= 3.11). `reference=True` selects TFLite's reference kernels
(BUILTIN_REF): the oracle mcuforge is bit-exact with. The default optimized kernels differ
from it by a few LSB on some models.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np


class InterpreterUnavailable(RuntimeError):
    pass


def _module():
    try:
        from ai_edge_litert import interpreter as mod
        return mod
    except ImportError:
        pass
    try:
        from tflite_runtime import interpreter as mod
        return mod
    except ImportError:
        raise InterpreterUnavailable(
            "no TFLite interpreter: pip install ai-edge-litert (or tflite-runtime on Python <= 3.11 "
            "with numpy < 2)") from None


class DamagedModel(ValueError):
    """A model TFLite loads but whose kernels would crash the process on it (one line)."""


_ZERO_POINT_RANGES = {np.int8: (-128, 127), np.uint8: (0, 255), np.int16: (-32768, 32767)}


def check_quantization(it, name: str) -> None:
    """Raises DamagedModel for an int8/uint8/int16 tensor whose zero point lies outside its
    type's range, or whose scale is not finite and positive: TFLite loads and allocates such a
    model, then its kernels crash the whole process (SIGSEGV; trial10, tests/fuzz_flatbuffer.py
    seed 1 #56: c12_uint8_io with 128 as the int8 zero point of its QUANTIZE output; seed 4 #91:
    scale -1 (0, NaN, inf alike) on its uint8 output). No converter writes either. Not caught: a
    finite positive scale whose requantization multiplier TFLite cannot represent (1e-45 on that
    output also crashes TFLite's kernels)."""
    for d in it.get_tensor_details():
        rng = _ZERO_POINT_RANGES.get(np.dtype(d["dtype"]).type)
        q = d.get("quantization_parameters", {})
        zps, scales = q.get("zero_points"), q.get("scales")
        if rng is None or zps is None or scales is None or not len(scales):
            continue
        who = f"{name}: tensor {d['index']} '{d['name']}' ({np.dtype(d['dtype']).name})"
        bad = [float(v) for v in np.asarray(scales, np.float64).reshape(-1) if not (np.isfinite(v) and v > 0)]
        if bad:
            raise DamagedModel(f"{who} has quantization scale {bad[0]!r}, not finite and positive, on which "
                               "TFLite's kernels crash: the file is damaged; re-export the model from the converter")
        bad = [int(z) for z in np.asarray(zps).reshape(-1) if not rng[0] <= int(z) <= rng[1]]
        if bad:
            raise DamagedModel(f"{who} has zero point {bad[0]}, outside [{rng[0]}, {rng[1]}], on which TFLite's "
                               "kernels crash: the file is damaged; re-export the model from the converter")


def make_interpreter(model: str | Path | bytes, reference: bool = False,
                     preserve_all_tensors: bool = False, num_threads: int | None = None):
    mod = _module()
    kwargs = {}
    if reference:
        kwargs["experimental_op_resolver_type"] = mod.OpResolverType.BUILTIN_REF
    if preserve_all_tensors:
        kwargs["experimental_preserve_all_tensors"] = True
    if num_threads:
        kwargs["num_threads"] = num_threads
    quiet = _without_xnnpack_banner() if not reference else nullcontext()   # BUILTIN_REF: no delegate
    with quiet:
        if isinstance(model, (bytes, bytearray)):
            it = mod.Interpreter(model_content=bytes(model), **kwargs)
        else:
            it = mod.Interpreter(model_path=str(model), **kwargs)
        name = "the model" if isinstance(model, (bytes, bytearray)) else str(model)
        try:       # graph outputs [-1]: TFLite loads it, then these raised a ValueError traceback (trial10)
            it.get_input_details(), it.get_output_details()
        except ValueError as e:
            raise DamagedModel(f"{name}: its graph inputs or outputs name a tensor that does not exist "
                               f"({' '.join(str(e).split())}): the file is damaged; re-export the model "
                               "from the converter") from None
        check_quantization(it, name)
        it.allocate_tensors()
    return it


XNNPACK_BANNER = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
_STDERR_SWAP = threading.Lock()   # descriptor 2 is process-wide: one swap at a time


@contextmanager
def _without_xnnpack_banner():
    """TFLite's C++ logger writes XNNPACK_BANNER to file descriptor 2 whenever the default
    delegate is applied; it preceded every `runtime classify` line on stderr, errors included.
    Descriptor 2 is captured for the block and everything else it received is written back
    unchanged when the block ends (a real warning or error is kept, a line later)."""
    fd = 2                        # where the C++ logger writes, whatever sys.stderr is
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    with _STDERR_SWAP, tempfile.TemporaryFile() as tmp:
        saved = os.dup(fd)
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            kept = b"".join(line for line in tmp.read().splitlines(keepends=True)
                            if line.strip() != XNNPACK_BANNER)
            if kept:
                os.write(fd, kept)


class ReferenceModel:
    """TFLite's reference kernels on the host, with every intermediate tensor kept."""

    def __init__(self, model: str | Path | bytes):
        self.interpreter = make_interpreter(model, reference=True, preserve_all_tensors=True)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def invoke(self, x: np.ndarray) -> np.ndarray:
        it = self.interpreter
        it.set_tensor(self.input["index"], np.asarray(x, dtype=self.input["dtype"]).reshape(self.input["shape"]))
        it.invoke()
        return it.get_tensor(self.output["index"]).copy()

    def run(self, feed: dict[int, np.ndarray]) -> None:
        """Every input by source tensor index (a model with several inputs); read the results
        with tensor()."""
        it = self.interpreter
        for d in it.get_input_details():
            it.set_tensor(d["index"], np.asarray(feed[d["index"]], d["dtype"]).reshape(d["shape"]))
        it.invoke()

    def tensor(self, index: int) -> np.ndarray:
        return self.interpreter.get_tensor(index)
