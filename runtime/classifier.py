"""One image classifier: a TFLite interpreter built once, its labels, and top-k.

The interpreter is the default (optimized) op resolver with XNNPACK, the threads given
explicitly -- tflite-runtime's default is one thread -- and built once, not per frame.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .interpreter import DamagedModel, InterpreterUnavailable, make_interpreter
from .preprocess import ModelInputError, Preprocessor, input_spec


MAX_THREADS = 64      # interpreter threads; a Raspberry Pi has 4 cores
TOP_BY_ARGMAX = 8     # Classifier.top: up to this k, k passes of argmax; beyond, one sort


class ModelLoadError(RuntimeError):
    pass


class LabelsError(ValueError):
    pass


class Prediction(NamedTuple):
    """One class of a top-k: its index in the output, its label, its score (dequantized).
    A NamedTuple (immutable, fields by name), not a frozen dataclass: top() makes k of them a
    frame on the caller's thread, and a frozen dataclass's __init__ took 0.8 us each here
    against 0.4."""
    index: int
    label: str
    score: float


def read_labels(path: str | Path) -> list[str]:
    """One label per line, read and split as codegen reads them (app_helpers.label_text and
    label_lines: positions kept, a leading index dropped when every line has one, as in the
    Coral and TF Hub label files), so the device's labels and the Pi's are the same list.
    Raises LabelsError (one line)."""
    from codegen.app_helpers import LabelFileTooLarge, label_lines, label_text
    try:
        text = label_text(path)
    except LabelFileTooLarge as e:
        raise LabelsError(f"labels file {path} is {e}: give the text file with one label per line "
                          "that came with the model") from None
    except OSError as e:
        raise LabelsError(f"labels file {path}: {e.strerror}; give the text file with one label per line "
                          "that came with the model") from None
    except UnicodeDecodeError:
        raise LabelsError(f"labels file {path} is not UTF-8 text: give a text file with one label per "
                          "line") from None
    bad = _CONTROL.search(text)
    if bad:
        # an ESC sequence in a label reached the terminal with every result naming it (b"\x1b[2J"
        # cleared it); a vertical tab, form feed, NEL or U+2028 split one line into two labels
        # (str.splitlines), shifting every label after it
        line = text.count("\n", 0, bad.start()) + 1
        raise LabelsError(f"labels file {path} line {line} holds the control character "
                          f"U+{ord(bad.group()):04X}: give plain text, one label per line")
    return label_lines(text)


# C0/C1 control characters but tab, CR and LF; the line and paragraph separators (splitlines splits there)
_CONTROL = re.compile("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def check_labels(labels: list[str], classes: int, path) -> None:
    if len(labels) == classes:
        return
    hint = ""
    if len(labels) == classes - 1:
        hint = (" The model has one more class than there are labels: TF-Slim MobileNets "
                "(mobilenet_v1_1.0_224_quant and friends) reserve class 0 for 'background'; add "
                "'background' as the first line.")
    elif len(labels) == classes + 1 and labels[0].lower() == "background":
        hint = " Drop the first line ('background'): this model has no background class."
    raise LabelsError(f"labels file {path} has {len(labels)} labels but the model has {classes} "
                      f"classes.{hint or ' Use the labels file that came with the model.'}")


def softmax_like(detail: dict) -> bool:
    """An output quantized as TFLite's int8/uint8 SOFTMAX must be (scale 1/256, the
    SoftmaxPrepare requirement of tensorflow/lite/kernels/activations.cc): class probabilities."""
    scale = (detail.get("quantization") or (0.0, 0))[0]
    return bool(scale) and abs(scale * 256 - 1) < 1e-6


def class_scores_output(details: list[dict]) -> int:
    """The position (in the interpreter's output order) of a classifier's class scores: 0,
    unless output 0 is not quantized like probabilities and exactly one other output is (a
    two-head model exported with its regression head first)."""
    if len(details) < 2 or softmax_like(details[0]):
        return 0
    like = [k for k, d in enumerate(details) if softmax_like(d)]
    return like[0] if len(like) == 1 else 0


class Classifier:
    def __init__(self, model: str | Path, labels: str | Path | None = None, threads: int | None = None,
                 input_range: str = "auto", reference: bool = False, output: int | None = None,
                 input_shape: list[int] | None = None):
        """reference: TFLite's reference kernels (BUILTIN_REF, single-threaded, slower), the
        oracle a board running mcuforge's generated C is bit-exact with; `runtime classify
        --device` uses them so the Pi's result and the board's can be compared byte for byte.
        output: which of the model's outputs holds the class scores (its position in the
        interpreter's output order); None picks it with class_scores_output (self.output_pos).
        input_shape: the size to run a model whose input has dynamic dimensions (shape_signature
        -1 past the batch) at, e.g. [1, 224, 224, 3] (Interpreter.resize_tensor_input); such a
        model is refused without it (TFLite would run it at its stored placeholder size, often
        1x1, and classify a one-pixel thumbnail of every frame).

        Raises ModelLoadError (no file, not a model, too many threads), ModelInputError (not a
        one-input classifier, output out of range, not a class vector), LabelsError."""
        self.model = Path(model)
        self.reference = reference
        if self.model.is_dir():   # was 'no such model file' of a folder that is there
            raise ModelLoadError(f"{model} is a folder, not a model file: give --model the .tflite file")
        if not self.model.is_file():
            raise ModelLoadError(f"{model}: no such model file")
        self.threads = threads or 1
        if self.threads > MAX_THREADS:   # each is a real thread: 99999 exhausted the host's and crashed
            raise ModelLoadError(f"--threads {self.threads}: at most {MAX_THREADS} (this machine has "
                                 f"{os.cpu_count()} cores; threads beyond the cores add no speed)")
        try:
            self.interpreter = make_interpreter(self.model, reference=reference,
                                                num_threads=None if reference else self.threads)
        except (InterpreterUnavailable, DamagedModel) as e:
            raise ModelLoadError(str(e)) from None
        except (ValueError, RuntimeError) as e:
            # a text file or a cut download: say which, as `codegen` and `hil validate` do (the
            # interpreter's own words were "mmap of size 0 requested.The model allocation is null")
            from codegen.errors import ModelFormatError
            from codegen.tflite_reader import read_model
            try:
                read_model(self.model)
            except ModelFormatError as fmt:
                raise ModelLoadError(str(fmt)) from None
            except Exception:     # noqa: BLE001 -- only a better message was sought
                pass
            # one line: TFLite's message holds newlines ("...version '1000'...\nRegistration failed.")
            raise ModelLoadError(f"{model}: the TFLite interpreter cannot load it ({' '.join(str(e).split())}); "
                                 "is it a .tflite file?") from None
        it = self.interpreter
        if len(it.get_input_details()) != 1:
            raise ModelInputError(f"{model} has {len(it.get_input_details())} inputs; a classifier has one")
        self._fix_input_shape(it, input_shape)
        self.input = input_spec(it.get_input_details()[0])
        self.preprocess = Preprocessor(self.input, input_range)
        details = it.get_output_details()
        if not details:   # was an IndexError traceback (and '0 outputs (0..-1)' with --output)
            raise ModelInputError(f"{model} has no outputs; a classifier has one (class scores): "
                                  "give an image classifier")
        if output is not None and not 0 <= output < len(details):
            raise ModelInputError(f"--output {output}: {model} has {len(details)} output"
                                  f"{'s' * (len(details) != 1)} (0..{len(details) - 1})")
        self.output_pos = class_scores_output(details) if output is None else output
        out = details[self.output_pos]
        self.output_index = out["index"]
        shape = [int(d) for d in out["shape"]]
        if not shape or any(d != 1 for d in shape[:-1]):   # [1,8,8,4] is a feature map, not 256 classes
            raise ModelInputError(f"{model}: output '{out['name']}' has shape {shape}, not a class vector "
                                  "([1, N] or [1, 1, 1, N] scores); give an image classifier")
        self.classes = shape[-1]
        self.out_dtype = np.dtype(out["dtype"])
        scale, zp = out.get("quantization", (0.0, 0))
        self.out_scale, self.out_zero = (float(scale), int(zp)) if scale else (1.0, 0)
        if self.out_dtype not in (np.int8, np.uint8, np.float32):
            raise ModelInputError(f"the model's output is {self.out_dtype.name}; int8, uint8 or float32 "
                                  "class scores are supported")
        if labels is not None:
            self.labels = read_labels(labels)
            fits = [i for i, d in enumerate(details) if i != self.output_pos
                    and int(np.prod(d["shape"])) == len(self.labels)]
            if len(details) > 1 and len(self.labels) != self.classes and fits:
                # --output 0 of the two-heads model (colour [1, 3]) with the 4 shapes labels said
                # "use the labels file that came with the model": the other output is the fix
                raise LabelsError(f"labels file {labels} has {len(self.labels)} labels but output "
                                  f"{self.output_pos} of {len(details)} has {self.classes} values; output "
                                  f"{fits[0]} has {len(self.labels)}: give --output {fits[0]}")
            check_labels(self.labels, self.classes, labels)
        else:
            self.labels = [f"class {i}" for i in range(self.classes)]

    def invoke(self, tensor: np.ndarray) -> np.ndarray:
        """The raw output (a copy) for one input tensor."""
        self.set_input(tensor)
        self.run()
        return self.output()

    # invoke() in three steps, for the pipeline, which wakes the caller's thread between them
    def set_input(self, tensor: np.ndarray) -> None:
        self.interpreter.set_tensor(self.input.index, tensor)

    def _fix_input_shape(self, it, input_shape: list[int] | None) -> None:
        """Resize a dynamic input to input_shape (dimensions the model fixes must match), or
        refuse a dynamic input left without one; raises ModelInputError (one line)."""
        d = it.get_input_details()[0]
        stored = [int(v) for v in d["shape"]]
        sig = [int(v) for v in d.get("shape_signature", d["shape"])] or stored
        free = ",".join("N" if v < 0 else str(v) for v in sig)
        if input_shape is None:
            if any(v < 0 for v in sig[1:]):
                raise ModelInputError(
                    f"{self.model}: its input has dynamic dimensions {sig} (stored as {stored}): pass "
                    f"--input-shape {free.replace('N', '1', 1) if sig[0] < 0 else free} with N the size "
                    "it was trained at (the size `codegen emit --input-shape` compiled for the board)")
            return
        if len(input_shape) != len(sig) or any(0 <= v != w for v, w in zip(sig, input_shape)):
            raise ModelInputError(f"--input-shape {','.join(map(str, input_shape))}: the model's input is "
                                  f"{free} (N: free), give {len(sig)} numbers with the fixed ones kept")
        if input_shape != stored:
            try:
                it.resize_tensor_input(d["index"], input_shape, strict=True)
                it.allocate_tensors()
            except (ValueError, RuntimeError) as e:
                raise ModelInputError(f"--input-shape {','.join(map(str, input_shape))}: TFLite cannot run "
                                      f"the model at that size ({str(e).strip().splitlines()[0]})") from None

    def load(self, staged: np.ndarray) -> None:
        """set_input for a body staged by self.preprocess.stage(): (H, W, C), or (C, H, W) for
        NCHW, in the input's dtype, C order -- or the same with its batch dimension (body[None]),
        which the pipeline makes once per body so that no view is made per frame. Copied into
        the interpreter's input buffer by TFLite's SetTensor (one memcpy); raises ValueError
        for another shape or dtype. SetTensor, not np.copyto into the buffer's
        Interpreter.tensor() view: with the interpreter's threads on both cores here, making the
        view, indexing it and copying took 80-90 us of CPU a frame against 40-55 us for
        set_tensor (200 frames of each, a second interpreter invoking meanwhile), and in the
        pipeline 45-55 against 25-35 (benchmarks/pipeline_ab.py --stages)."""
        self.interpreter.set_tensor(self.input.index, staged if staged.ndim == 4 else staged[None])

    def input_tensor(self) -> np.ndarray:
        """A copy of the input tensor as the interpreter holds it, (1, ...) in its dtype."""
        return self.interpreter.get_tensor(self.input.index)

    def run(self) -> None:
        """One inference on the input set. Raises ModelLoadError (one line) where TFLite's
        kernel refuses the model only when it runs (Eval, not Prepare: a SOFTMAX with a uint8
        input and an int8 output; trial10: a RuntimeError traceback from `runtime classify`)."""
        try:
            self.interpreter.invoke()
        except RuntimeError as e:
            first = " ".join(str(e).split()) or type(e).__name__
            raise ModelLoadError(f"{self.model}: TFLite cannot run the model ({first}): re-convert it, or "
                                 "check it with `codegen inspect`") from None

    def output(self, flat: bool = True) -> np.ndarray:
        """A copy of the class scores' output tensor, raw (quantized): (classes,), or as the
        interpreter shapes it ((1, classes) or (1, 1, 1, classes)) with flat=False -- for the
        pipeline's inference thread, which leaves the reshape to the caller's thread: right
        after invoke() the reshape alone took 7 us of CPU (cold caches), on the path from one
        invoke to the next."""
        raw = self.interpreter.get_tensor(self.output_index)    # get_tensor copies already
        return raw.reshape(-1) if flat else raw

    def scores(self, raw: np.ndarray) -> np.ndarray:
        """Dequantized class scores (probabilities when the model ends in a softmax)."""
        return (raw.astype(np.float64) - self.out_zero) * self.out_scale

    def top(self, raw: np.ndarray, k: int) -> list[Prediction]:
        """The k best classes, ties to the lower class index. raw: the output, (classes,).
        Quantized outputs are ranked on the raw integers (the scale is positive, so the order is
        the scores') and only the k winners are dequantized. Up to TOP_BY_ARGMAX classes are
        found by k passes of argmax over an int16 copy (argmax takes the first of equal
        values: ties to the lower index), each winner then set below any 8-bit score; more by
        a stable sort of ~raw (bitwise NOT: -raw - 1 for int8, 255 - raw for uint8, so
        descending without a wider copy), which numpy does as an 8-bit radix sort. In the
        pipeline this runs on a thread woken with cold caches, where fewer distinct numpy
        calls is what counts: top-5 of a 1000-class output, 2 interpreter threads on 2 cores
        (benchmarks/pipeline_ab.py chunks), 49 -> 34 us of the caller's CPU a frame, though
        warm the sort alone is 4-7 us."""
        if self.out_dtype == np.float32:
            s = self.scores(raw)
            order = np.argsort(-s, kind="stable")[:k]
            return [Prediction(int(i), self.labels[i], float(s[i])) for i in order]
        if k <= TOP_BY_ARGMAX:
            k = min(k, raw.size)
            work = raw.astype(np.int16)
            order = []
            for _ in range(k):
                i = int(work.argmax())
                order.append(i)
                work[i] = -32768
        else:
            order = np.argsort(~raw, kind="stable")[:k].tolist()
        zp, scale, labels = self.out_zero, self.out_scale, self.labels
        return [Prediction(i, labels[i], (raw.item(i) - zp) * scale) for i in order]
