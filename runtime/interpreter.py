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
# the tensor types on which XNNPACK's scale check was seen to crash (it checks int32 too: a bias
# scale of 1e-45 was refused there without a crash, and the model ran)
_XNNPACK_CHECKED = (np.int8, np.uint8)
FLOAT32_MIN_NORMAL = float(np.finfo(np.float32).tiny)     # 2^-126, about 1.18e-38


def _users(it, index: int) -> str:
    """'QUANTIZE #0' style names of the operators that read or write tensor `index` ('' if unknown)."""
    try:
        ops = it._get_ops_details()
    except Exception:        # a private helper of TFLite's Python wrapper: the message then names no operator
        return ""
    names = [f"{o['op_name']} #{o['index']}" for o in ops
             if index in list(o.get("inputs", ())) or index in list(o.get("outputs", ()))]
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def check_quantization(it, name: str, delegate: bool = True) -> None:
    """Raises DamagedModel (one line naming the operator(s), the tensor and the fix) for a model
    TFLite loads but then crashes the whole process on (SIGSEGV; no converter writes any of them):

    - an int8/uint8/int16 zero point outside its type's range (trial10, tests/fuzz_flatbuffer.py
      seed 1 #56: c12_uint8_io with 128 as the int8 zero point of its QUANTIZE output);
    - an int8/uint8/int16 scale that is not finite and positive (seed 4 #91: -1, 0, NaN, inf on
      c12_uint8_io's uint8 output);
    - with `delegate` (the default kernels, which apply the XNNPACK delegate): an int8/uint8
      scale below float32's smallest normal number 2^-126 (1e-45, 1e-38 on c12_uint8_io's QUANTIZE
      tensors). XNNPACK's CheckAffineQuantization (tensorflow/lite/delegates/xnnpack/
      xnnpack_delegate.cc, reached from GetXNNPackDatatype) refuses any scale for which
      std::isnormal(scale) && scale > 0 fails, but while it partitions the graph it reports that
      through a null TfLiteContext: ai-edge-litert 2.3.0 dies in CheckAffineQuantization reading
      context->ReportError (gdb, scales branch). Not the requantization multiplier: the reference
      kernels (no delegate) run the same model, and scales whose ratios are far out of
      QuantizeMultiplier's range (1e10, 1e30, 3e38) are refused by TFLite itself without a crash
      (tests/sweep_scales.py). Without `delegate` (BUILTIN_REF, the oracle of `codegen verify`)
      such a scale is left to TFLite.

    `it`: a loaded, not yet allocated Interpreter; `name`: how the model is named in the message."""
    for d in it.get_tensor_details():
        kind = np.dtype(d["dtype"]).type
        rng = _ZERO_POINT_RANGES.get(kind)
        q = d.get("quantization_parameters", {})
        zps, scales = q.get("zero_points"), q.get("scales")
        if rng is None or zps is None or scales is None or not len(scales):
            continue
        scales = np.asarray(scales, np.float64).reshape(-1)
        bad = [float(v) for v in scales if not (np.isfinite(v) and v > 0)]
        users = _users(it, d["index"]) if bad or scales.min(initial=1.0) < FLOAT32_MIN_NORMAL \
            or not all(rng[0] <= int(z) <= rng[1] for z in np.asarray(zps).reshape(-1)) else ""
        who = (f"{name}: {users + ': ' if users else ''}tensor {d['index']} '{d['name']}' "
               f"({np.dtype(d['dtype']).name})")
        if bad:
            raise DamagedModel(f"{who} has quantization scale {bad[0]!r}, not finite and positive, on which "
                               "TFLite's kernels crash: the file is damaged; re-export the model from the converter")
        tiny = [float(v) for v in scales if 0 < v < FLOAT32_MIN_NORMAL]
        if tiny and delegate and kind in _XNNPACK_CHECKED:
            raise DamagedModel(f"{who} has quantization scale {tiny[0]:.6g}, below float32's smallest normal "
                               f"number {FLOAT32_MIN_NORMAL:.6g}, on which TFLite's XNNPACK delegate crashes: the "
                               "file is damaged; re-export the model from the converter with a representative "
                               "dataset that gives realistic scales")
        bad = [int(z) for z in np.asarray(zps).reshape(-1) if not rng[0] <= int(z) <= rng[1]]
        if bad:
            raise DamagedModel(f"{who} has zero point {bad[0]}, outside [{rng[0]}, {rng[1]}], on which TFLite's "
                               "kernels crash: the file is damaged; re-export the model from the converter")


def check_prepare(it, buf: bytes, name: str, reference: bool) -> None:
    """Raises DamagedModel for a model whose scales make an operator's Prepare abort the whole
    process (SIGABRT, a TFLITE_CHECK) in allocate_tensors(); the rules are codegen's
    (codegen.quantization, by which codegen.validate refuses), so a model codegen compiles is
    never refused here:

    - an int8/uint8 ADD or SUB whose output multiplier 2*max(input scales)/(2^20*output scale)
      is not in (0, 1): QuantizeMultiplierSmallerThanOneExp's checks, in the reference and the
      default kernels (mobilenet_v3_small_a050_96_rgb with 1e-30 or 3e38 as the output scale of
      'expanded_conv_4_add_1': tests/sweep_scales.py);
    - with `reference` (BUILTIN_REF: `runtime classify --device`, `runtime hil validate`): an
      int8/uint8 SOFTMAX whose beta * input scale * 2^26 is not above 1: SoftmaxPrepare's
      PreprocessSoftmaxScaling -> QuantizeMultiplierGreaterThanOne
      (tests/fixtures/cases/hostile/softmax_beta_nan.tflite; the default kernels build a lookup
      table instead and load it).

    `it`: a loaded, not yet allocated Interpreter; `buf`: the model's bytes (TFLite verified them)."""
    from codegen.quantization import add_output_multiplier, smaller_than_one_exp_ok, softmax_params
    try:
        import tflite
        model = tflite.Model.GetRootAsModel(buf, 0)
        sg = model.Subgraphs(0)
        ops = [sg.Operators(i) for i in range(sg.OperatorsLength())]
    except Exception:          # TFLite read the file; an unreadable part here is left to it
        return
    details = {d["index"]: d for d in it.get_tensor_details()}
    quantized = (np.int8, np.uint8)

    def tensor(op, k, outputs=False):
        n = op.OutputsLength() if outputs else op.InputsLength()
        d = details.get(int(op.Outputs(k) if outputs else op.Inputs(k))) if k < n else None
        ok = d is not None and np.dtype(d["dtype"]).type in quantized and float(d["quantization"][0]) > 0
        return d if ok else None

    def who(d):
        return f"tensor {d['index']} '{d['name']}' (scale {float(d['quantization'][0]):.6g})"

    B = tflite.BuiltinOperator
    for i, op in enumerate(ops):
        try:
            oc = model.OperatorCodes(op.OpcodeIndex())
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            if code in (B.ADD, B.SUB):
                a, b, y = tensor(op, 0), tensor(op, 1), tensor(op, 0, outputs=True)
                if a is None or b is None or y is None:
                    continue
                real = add_output_multiplier(a["quantization"][0], b["quantization"][0], y["quantization"][0])
                if not smaller_than_one_exp_ok(real):
                    kind = "ADD" if code == B.ADD else "SUB"
                    raise DamagedModel(
                        f"{name}: {kind} #{i}: its output multiplier 2*max(input scales)/(2^20*output scale) is "
                        f"{real:.6g}, outside (0, 1), on which TFLite aborts (QuantizeMultiplierSmallerThanOneExp), "
                        f"{who(a)}, {who(b)} -> {who(y)}: re-export the model from the converter with a "
                        "representative dataset that gives realistic scales")
            elif code == B.SOFTMAX and reference:
                x = tensor(op, 0)
                if x is None:
                    continue
                beta = 1.0
                if op.BuiltinOptionsType() == tflite.BuiltinOptions.SoftmaxOptions:
                    t = op.BuiltinOptions()
                    o = tflite.SoftmaxOptions()
                    o.Init(t.Bytes, t.Pos)
                    beta = float(o.Beta())
                try:
                    softmax_params(beta, float(x["quantization"][0]))
                except (ValueError, TypeError, OverflowError):
                    raise DamagedModel(
                        f"{name}: SOFTMAX #{i}: beta {beta!r} x input scale x 2^26 is not above 1, on which "
                        f"TFLite's reference kernels abort (PreprocessSoftmaxScaling), input {who(x)}: the file "
                        "is damaged; re-export the model from the converter") from None
        except DamagedModel:
            raise
        except Exception:      # a part of the file this reader cannot follow: left to TFLite
            continue


PROBE_TIMEOUT = 120.0     # seconds for the child's load + one invoke (a MobileNet takes well under 1 s)
_PROBE = """
import sys
import numpy as np
try:
    from ai_edge_litert import interpreter as mod
except ImportError:
    from tflite_runtime import interpreter as mod
kw = {"experimental_op_resolver_type": mod.OpResolverType.BUILTIN_REF} if sys.argv[2] == "ref" else {}
if int(sys.argv[3]):
    kw["num_threads"] = int(sys.argv[3])
try:
    it = mod.Interpreter(model_path=sys.argv[1], **kw)
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    it.invoke()
except Exception:
    pass             # a refusal, not a crash: the caller's own load reports it in its words
"""


def probe_in_child(model: str | Path | bytes, name: str, reference: bool = False,
                   num_threads: int | None = None, timeout: float = PROBE_TIMEOUT) -> None:
    """Loads the model, allocates its tensors and runs one all-zero input in a child process
    with the same kernels; raises DamagedModel (one line) if the child dies of a signal (SIGKILL
    is named as memory running out, the OOM killer's signal) or
    hangs. The safety net for what the load rules (check_quantization, check_prepare) do not
    model: ai-edge-litert 2.3.0's XNNPACK delegate frees memory twice when it fails to create
    its runtime for scales out of its operators' ranges ("double free detected in tcache 2",
    SIGABRT: mobilevit_xxs_96_rgb with 1e10 on its input or 1e-30 on a CONV_2D output,
    tests/sweep_scales.py), which no TFLite function's preconditions describe. A Python-level
    refusal in the child is not reported here (the caller's own load gives it). Costs one
    Python start + model load + invoke: 0.10-0.25 s more per load here (mobilenet_v1_a025_96,
    mobilevit_xxs_96, c12_uint8_io; make_interpreter with and without probe, load average 7)."""
    import subprocess
    with tempfile.TemporaryDirectory(prefix="mcuforge-probe-") as tmp:
        path = Path(model) if not isinstance(model, (bytes, bytearray)) else Path(tmp) / "model.tflite"
        if isinstance(model, (bytes, bytearray)):
            path.write_bytes(bytes(model))
        try:
            r = subprocess.run([sys.executable, "-c", _PROBE, str(path), "ref" if reference else "default",
                                str(int(num_threads or 0))], capture_output=True, text=True, errors="replace",
                               timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DamagedModel(f"{name}: TFLite did not finish loading it and running one input within "
                               f"{timeout:g} s: the file is damaged or far too large; re-export the model "
                               "from the converter") from None
    if r.returncode < 0:
        import signal
        try:
            sig = signal.Signals(-r.returncode).name
        except ValueError:
            sig = f"signal {-r.returncode}"
        said = [ln.strip() for ln in r.stderr.splitlines()
                if ln.strip() and not ln.startswith("INFO:") and ln.strip() != XNNPACK_BANNER.decode()]
        why = f" ({said[-1][:160]})" if said else ""
        if sig == "SIGINT":      # Ctrl-C reached the child first: the user's interrupt, not a crash
            raise KeyboardInterrupt
        if sig == "SIGKILL":     # the kernel's OOM killer (or a user's kill -9), not the file's fault
            raise DamagedModel(f"{name}: the child process loading it and running one all-zero input "
                               "was killed (SIGKILL: most often the system ran out of memory); free some "
                               "memory (close other programs) or use a smaller model")
        kernels = "reference kernels" if reference else "kernels (XNNPACK delegate)"
        raise DamagedModel(f"{name}: TFLite's {kernels} crash on it with {sig}{why} while loading it and "
                           "running one all-zero input: the file is damaged (out-of-range quantization "
                           "scales, most often); re-export the model from the converter")


def make_interpreter(model: str | Path | bytes, reference: bool = False,
                     preserve_all_tensors: bool = False, num_threads: int | None = None,
                     probe: bool | None = None):
    """A TFLite Interpreter with its tensors allocated (TFLite's reference kernels if
    `reference`). Raises DamagedModel (one line) for a model TFLite would crash the process on:
    the load rules first (check_quantization, check_prepare), then, if `probe` (default: with
    the default kernels, whose XNNPACK delegate has crashes no rule describes), a load and one
    all-zero invoke in a child process (probe_in_child). Other load failures raise TFLite's
    ValueError/RuntimeError."""
    if probe is None:
        probe = not reference
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
        check_quantization(it, name, delegate=not reference)
        check_prepare(it, bytes(model) if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes(),
                      name, reference)
        if probe:
            probe_in_child(model, name, reference, num_threads)
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
