"""Validation on the device: N inputs through the board and through TFLite's reference, byte
for byte; on a mismatch, the first layer whose output differs; time per inference and per layer."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .link import HilError, HilLink, MalformedReply, WrongModel


@dataclass
class LayerTime:
    index: int
    op: str
    kernel: str
    count: int


@dataclass
class ValidationReport:
    board: str
    model: str
    unit: str
    inputs: int = 0
    bytes_compared: int = 0
    bytes_differing: int = 0
    inputs_differing: int = 0
    first_bad_layer: dict | None = None
    counts: list[int] = field(default_factory=list)
    layers: list[LayerTime] = field(default_factory=list)
    seconds: float = 0.0
    payload_bytes: int = 0
    source: str = "random"              # "random (seed S)" or "N images in DIR"
    labelled: int = 0                   # inputs with a known true class
    device_correct: int = 0             # of those, top-1 right on the device
    reference_correct: int = 0          # ... and on the TFLite reference
    top1_disagree: int = 0              # inputs whose top-1 differs between device and reference
    skipped: list = field(default_factory=list)   # unreadable image files: (name, reason)

    @property
    def ok(self) -> bool:
        return self.bytes_differing == 0

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k not in ("layers", "skipped")}
        d["layers"] = [l.__dict__ for l in self.layers]
        d["skipped"] = [{"name": n, "reason": why} for n, why in self.skipped]
        d["ok"] = self.ok
        d["device_accuracy"], d["reference_accuracy"] = self.device_accuracy, self.reference_accuracy
        return d

    @property
    def device_accuracy(self) -> float | None:
        return self.device_correct / self.labelled if self.labelled else None

    @property
    def reference_accuracy(self) -> float | None:
        return self.reference_correct / self.labelled if self.labelled else None

    def render(self) -> str:
        c = np.array(self.counts or [0])
        where = (f", in {self.inputs_differing} of {self.inputs} input{'s' * (self.inputs != 1)}"
                 if self.inputs_differing else "")
        lines = [f"{self.model} on {self.board}: {self.inputs} input{'s' * (self.inputs != 1)} ({self.source}), "
                 f"{'BIT-EXACT' if self.ok else 'MISMATCH'}: {self.bytes_differing} of "
                 f"{self.bytes_compared} output bytes differ{where}",
                 # one figure when every run took the same ('9,040,920 .. 9,040,920 (mean 9,040,920)')
                 f"time per inference: {int(c.min()):,} {self.unit}" if c.min() == c.max() else
                 f"time per inference: {int(c.min()):,} .. {int(c.max()):,} {self.unit} "
                 f"(mean {c.mean():,.0f})",
                 f"link: {self.payload_bytes:,} payload bytes in {self.seconds:.1f} s"]
        if self.labelled:
            lines.append(f"top-1 accuracy on {self.labelled} labelled input{'s' * (self.labelled != 1)}: "
                         f"device {self.device_accuracy:.1%} ({self.device_correct}), "
                         f"reference {self.reference_accuracy:.1%} ({self.reference_correct})"
                         + (f"; top-1 differs on {self.top1_disagree}" if self.top1_disagree else ""))
        if self.skipped:
            from runtime.frames import skipped_names
            names, more = skipped_names(self.skipped)
            lines.append(f"{len(self.skipped)} unreadable image file{'s' * (len(self.skipped) > 1)} skipped: "
                         + names + (f", and {more} more (--json lists every one)" if more else ""))
        if self.first_bad_layer:
            b = self.first_bad_layer
            lines.append(f"first differing layer: {b['layer']} ({b['op']}, {b['kernel']}, tensor "
                         f"'{b['tensor']}'): {b['differing']} of {b['bytes']} bytes differ on input {b['input']}")
        if self.layers:
            total = sum(l.count for l in self.layers)
            lines.append(f"per layer ({self.unit}, sum {total:,}):")
            for l in self.layers:
                lines.append(f"  {l.index:>3} {l.op:<18} {l.kernel:<36} {l.count:>12,} {100 * l.count / max(total, 1):5.1f}%")
        return "\n".join(lines)


def check_model(link: HilLink, model: str | Path) -> None:
    """Compare the sha256 of `model` with the one the device's INFO reports (asking for INFO if the
    link has none yet). Raises WrongModel naming both (and the fix: flash the firmware built from
    this model), HilError subclasses when the link fails, OSError when the file cannot be read."""
    from codegen.tflite_reader import model_sha256
    want = model_sha256(model)
    info = link.info or link.hello()
    if info.model_sha256 != want:
        raise WrongModel(f"the device runs a different model (sha256 {info.model_sha256[:12]}...) than "
                         f"{Path(model).name} ({want[:12]}...): flash the firmware built from this model")


class ImageInputs:
    """Validation inputs made from image files by the model's own preprocessing, read one at a
    time as they are used (a folder of 10,000 224x224 images held as tensors was 1.5 GB).

    Iterating gives (file name, int8 tensor, true class index or None) for the first `limit`
    readable images in sorted order; each pass (read()) lists and reads the folder afresh
    (several places validating one model each take their own). `files`: the image files found;
    `count`: an upper bound of the items (`files`, at most `limit`)."""

    def __init__(self, folder, make_source, want, pre, names, limit: int | None = None):
        """make_source() -> a new runtime.frames.ImageFolderSource of `folder` (its refusals,
        SourceError, are raised here); want: the Want it is opened with; pre: the Preprocessor;
        names: the labels (or None)."""
        self.folder = str(folder)
        self._make_source, self._want, self._pre, self._names = make_source, want, pre, names
        self.files = len(make_source().files)
        self.limit = limit

    @property
    def count(self) -> int:
        return self.files if self.limit is None else min(self.files, self.limit)

    def read(self):
        """A fresh pass: (iterator of items, the list its unreadable files are added to as met)."""
        src = self._make_source()
        src.open(self._want)

        def items():
            n = 0
            while (self.limit is None or n < self.limit) and (f := src.read()) is not None:
                n += 1
                truth = self._names.index(f.truth) if self._names and f.truth is not None else None
                yield f.name, self._pre(f.pixels), truth
        return items(), src.skipped

    def __iter__(self):
        return self.read()[0]


def load_images(model: str | Path, folder: str | Path, labels: str | Path | None = None,
                input_range: str = "auto", limit: int | None = None) -> ImageInputs:
    """Every image under `folder` (sorted; the first `limit` readable ones), turned into the
    model's input tensor by the same preprocessing `runtime classify` applies (centre crop,
    bilinear resize, colour, quantize) as it is used: the ImageInputs reads the files lazily.

    The labelled-folder convention (as `runtime classify --source images:DIR`): an image in a
    sub-folder named after a class (DIR/circle/001.png) has that class as its truth; `labels`
    is the labels file, one class name per line in class-index order. Without it, or for files
    not in such a folder, the truth is unknown (no accuracy). Unreadable files are skipped and
    listed. Raises SourceError (no folder / no images / none readable: checked here, reading
    up to the first readable file), LabelsError (bad labels file), ModelInputError (an input
    frames cannot feed).
    """
    from runtime.classifier import check_labels, read_labels
    from runtime.frames import ImageFolderSource, SourceError, Want
    from runtime.interpreter import make_interpreter
    from runtime.preprocess import Preprocessor, input_spec
    it = make_interpreter(model, reference=True)
    spec = input_spec(it.get_input_details()[0])
    names = None
    if labels is not None:
        names = read_labels(labels)
        check_labels(names, int(np.prod(it.get_output_details()[0]["shape"])), labels)
    pre = Preprocessor(spec, input_range)
    images = ImageInputs(folder, lambda: ImageFolderSource(folder, names, given="--images "),
                         Want(spec.width, spec.height, gray=spec.channels == 1), pre, names, limit)
    if next(iter(images), None) is None:
        raise SourceError(f"{folder}: none of the {images.files} image files could be read")
    return images


def _io(graph):
    """(inputs, outputs) of the compiled graph: (int8 tensor, source-model tensor, its info)."""
    def one(idx):
        t = graph.tensors[idx]
        e = graph.edges.get(idx)
        info = {"bytes": t.size, "type": e.kind if e else "int8", "scale": float(t.quant.scale),
                "zero_point": int(t.quant.zero_point)}
        return idx, (e.outer if e else idx), info
    return [one(i) for i in graph.inputs], [one(o) for o in graph.outputs]


def _check_io(info, ins, outs, name: str) -> None:
    """The device's INFO lists as many inputs and outputs as the compiled model, of the same
    sizes, else MalformedReply: a firmware built from another mcuforge version (the sha256
    matched). Was: an output INFO gave as 2^32-1 bytes had the host ask ~4 million chunks of
    it, and an output INFO did not list was a ValueError traceback."""
    for role, dev, ours in (("input", info.inputs, ins), ("output", info.outputs, outs)):
        if len(dev) != len(ours):
            raise MalformedReply(f"the device lists {len(dev)} {role}(s), {name} has {len(ours)}: "
                                 "is the firmware built from this mcuforge version?")
        for j, (t, (_, _, i)) in enumerate(zip(dev, ours)):
            if t.bytes != i["bytes"]:
                raise MalformedReply(f"the device gives {t.bytes} bytes of {role} {j}, {name} has "
                                     f"{i['bytes']}: is the firmware built from this mcuforge version?")


def validate(link: HilLink, model: str | Path, inputs: int = 50, seed: int = 0, profile: bool = True,
             log: Callable[[str], None] = lambda s: None, images: ImageInputs | None = None) -> ValidationReport:
    """Run inputs on the device and on TFLite's reference kernels and compare every output
    byte: `inputs` random int8 tensors (the first the anchor's deterministic input), or the
    image tensors of `images` (load_images), with top-1 accuracy on both sides for labelled
    ones. Every input and output of the model: the device computes on int8, so an input with a
    float32/uint8 edge gets the int8 bytes TFLite's QUANTIZE made of the source-model input (an
    image tensor for input 0, random bytes dequantized otherwise), and the int8 tensor before an
    output's edge is compared (the conversions themselves are checked by `codegen verify` and the
    bench firmware); accuracy is on output 0. Raises WrongModel when the device runs another
    model, HilError on link failures."""
    from codegen.pipeline import compile_graph
    from codegen.verify import deterministic_input, edge_inputs
    from runtime.interpreter import ReferenceModel

    if seed < 0:     # numpy's generators take non-negative seeds only (a ValueError traceback)
        raise HilError(f"--seed {seed}: give a seed of 0 or more")
    info = link.hello()
    check_model(link, model)
    compiled = compile_graph(model, info.kernels)   # the device's layers and their tensors
    steps = compiled.steps
    ins, outs = _io(compiled.graph)
    _check_io(info, ins, outs, Path(model).name)
    ref = ReferenceModel(model)
    rep = ValidationReport(info.board, Path(model).name, info.unit)
    rng = np.random.default_rng(seed)
    if images is not None:
        inputs = images.count      # an upper bound: unreadable files are skipped as met
        pending, skipped = images.read()
    else:
        rep.source = f"random, seed {seed}"
    t0 = time.monotonic()
    for k in range(inputs):
        truth = None
        feed = {}
        if images is not None:
            item = next(pending, None)
            if item is None:
                break
        for j, (inner, outer, i) in enumerate(ins):
            if j == 0 and images is not None:
                _, x, truth = item
                x = np.ascontiguousarray(x).reshape(-1)
                if x.size != i["bytes"]:
                    raise HilError(f"the model's input tensor has {x.size} values; the device takes {i['bytes']}")
                feed[outer] = x
                continue
            q = deterministic_input(i["bytes"]) if k == 0 else rng.integers(-128, 128, i["bytes"], dtype=np.int8)
            feed[outer] = edge_inputs(i, q, rng, True)
        ref.run(feed)
        xs = [ref.tensor(inner).reshape(-1).view(np.int8).copy() for inner, _, _ in ins]
        for j, x in enumerate(xs):
            link.write_input(x, j)
        res = link.invoke()
        diff = 0
        for j, (inner, _, o) in enumerate(outs):
            g = link.read_output(index=j)
            w = ref.tensor(inner).reshape(-1).view(np.int8)
            if g.size != w.size:   # INFO's output size disagrees with the model it names
                raise MalformedReply(f"the device returned {g.size} bytes of output {j}, {Path(model).name} "
                                     f"has {w.size}: is the firmware built from this mcuforge version?")
            diff += int(np.count_nonzero(g != w))
            rep.bytes_compared += g.size
            rep.payload_bytes += g.size
            if j == 0:
                got, want = g, w
        rep.inputs += 1
        rep.counts.append(res.count)
        rep.bytes_differing += diff
        rep.payload_bytes += sum(x.size for x in xs)
        if truth is not None:
            top_dev, top_ref = int(np.argmax(got)), int(np.argmax(want))   # ties: the lower index
            rep.labelled += 1
            rep.device_correct += top_dev == truth
            rep.reference_correct += top_ref == truth
        if images is not None and int(np.argmax(got)) != int(np.argmax(want)):
            rep.top1_disagree += 1
        if diff:
            rep.inputs_differing += 1
            if rep.first_bad_layer is None:
                rep.first_bad_layer = first_differing_layer(link, ref, steps, xs, k, feed)
        if (k + 1) % 10 == 0 or k + 1 == inputs:
            log(f"  {k + 1}/{inputs} inputs, {rep.bytes_differing} differing bytes so far, "
                f"last {res.count:,} {res.unit}")
    if images is not None:
        rep.source = f"{rep.inputs} image{'s' * (rep.inputs != 1)} in {images.folder}"
        rep.skipped = list(skipped)
    if profile:
        for j, (_, _, i) in enumerate(ins):
            link.write_input(deterministic_input(i["bytes"]), j)
        total = link.invoke().count
        counts = link.profile()
        rep.layers = [LayerTime(i, s.op.type, s.kernel, c) for i, (s, c) in enumerate(zip(steps, counts))]
        if sum(counts) != total:
            raise MalformedReply(f"PROFILE: per-layer counts add up to {sum(counts)}, not the "
                                 f"INVOKE's {total}: is the firmware built from this mcuforge version?")
    rep.seconds = time.monotonic() - t0
    return rep


def first_differing_layer(link: HilLink, ref, steps, xs: list[np.ndarray], input_index: int,
                          feed: dict) -> dict | None:
    """Re-run the input layer by layer (an intermediate tensor only survives until the next
    layer overwrites the arena) and compare each with the reference's tensor."""
    ref.run(feed)
    for i, s in enumerate(steps):
        for j, x in enumerate(xs):
            link.write_input(x, j)
        if link.invoke(last_layer=i).layers_run <= i:
            continue        # inside a patch-based first stage: the device stops before it, no tensor
        got = link.read_tensor(i)
        want = ref.tensor(s.output).reshape(-1).view(np.int8)
        if got.size == 0:
            continue        # the last layer of a patch-based first stage: not kept whole either
        if got.size != want.size:
            raise MalformedReply(f"READ_TENSOR of layer {i} ({s.op.type}) gave {got.size} bytes, the "
                                 f"model's tensor has {want.size}: is the firmware built from this "
                                 "mcuforge version?")
        bad = int(np.count_nonzero(got != want))
        if bad:
            return {"layer": i, "op": s.op.type, "kernel": s.kernel, "tensor": str(s.output),
                    "differing": bad, "bytes": int(want.size), "input": input_index}
    return None
