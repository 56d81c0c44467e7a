"""Validation on the device: N inputs through the board and through TFLite's reference, byte
for byte; on a mismatch, the first layer whose output differs; time per inference and per layer."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .link import HilLink, WrongModel


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

    @property
    def ok(self) -> bool:
        return self.bytes_differing == 0

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "layers"}
        d["layers"] = [l.__dict__ for l in self.layers]
        d["ok"] = self.ok
        return d

    def render(self) -> str:
        c = np.array(self.counts or [0])
        lines = [f"{self.model} on {self.board}: {self.inputs} inputs, "
                 f"{'BIT-EXACT' if self.ok else 'MISMATCH'}: {self.bytes_differing} of "
                 f"{self.bytes_compared} output bytes differ ({self.inputs_differing} inputs)",
                 f"time per inference: {int(c.min()):,} .. {int(c.max()):,} {self.unit} "
                 f"(mean {c.mean():,.0f})",
                 f"link: {self.payload_bytes:,} payload bytes in {self.seconds:.1f} s"]
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
    from codegen.tflite_reader import model_sha256
    want = model_sha256(model)
    info = link.info or link.hello()
    if info.model_sha256 != want:
        raise WrongModel(f"the device runs a different model (sha256 {info.model_sha256[:12]}...) than "
                         f"{Path(model).name} ({want[:12]}...): flash the firmware built from this model")


def _io(graph):
    """(inputs, outputs) of the compiled graph: (int8 tensor, source-model tensor, its info)."""
    def one(idx):
        t = graph.tensors[idx]
        e = graph.edges.get(idx)
        info = {"bytes": t.size, "type": e.kind if e else "int8", "scale": float(t.quant.scale),
                "zero_point": int(t.quant.zero_point)}
        return idx, (e.outer if e else idx), info
    return [one(i) for i in graph.inputs], [one(o) for o in graph.outputs]


def validate(link: HilLink, model: str | Path, inputs: int = 50, seed: int = 0, profile: bool = True,
             log: Callable[[str], None] = lambda s: None) -> ValidationReport:
    """`inputs` inputs through the device and TFLite's reference, every output byte compared;
    on a mismatch the first differing layer. The device computes on int8: an input with a
    float32/uint8 edge gets the int8 bytes TFLite's QUANTIZE made of the source-model input,
    and the int8 tensor before an output edge is compared (the edge conversions themselves are
    checked by `codegen verify` and the bench firmware)."""
    from codegen.pipeline import compile_graph
    from codegen.verify import deterministic_input, edge_inputs
    from runtime.interpreter import ReferenceModel

    info = link.hello()
    check_model(link, model)
    compiled = compile_graph(model, info.kernels)   # the device's layers and their tensors
    steps = compiled.steps
    ins, outs = _io(compiled.graph)
    ref = ReferenceModel(model)
    rep = ValidationReport(info.board, Path(model).name, info.unit)
    rng = np.random.default_rng(seed)
    t0 = time.monotonic()
    for k in range(inputs):
        feed = {}
        for inner, outer, i in ins:
            q = deterministic_input(i["bytes"]) if k == 0 else rng.integers(-128, 128, i["bytes"], dtype=np.int8)
            feed[outer] = edge_inputs(i, q, rng, True)
        ref.run(feed)
        xs = [ref.tensor(inner).reshape(-1).view(np.int8).copy() for inner, _, _ in ins]
        for j, x in enumerate(xs):
            link.write_input(x, j)
        res = link.invoke()
        diff = 0
        for j, (inner, _, o) in enumerate(outs):
            got = link.read_output(index=j)
            want = ref.tensor(inner).reshape(-1).view(np.int8)
            diff += int(np.count_nonzero(got != want))
            rep.bytes_compared += got.size
            rep.payload_bytes += got.size
        rep.inputs += 1
        rep.counts.append(res.count)
        rep.bytes_differing += diff
        rep.payload_bytes += sum(x.size for x in xs)
        if diff:
            rep.inputs_differing += 1
            if rep.first_bad_layer is None:
                rep.first_bad_layer = first_differing_layer(link, ref, steps, xs, k, feed)
        if (k + 1) % 10 == 0 or k + 1 == inputs:
            log(f"  {k + 1}/{inputs} inputs, {rep.bytes_differing} differing bytes so far, "
                f"last {res.count:,} {res.unit}")
    if profile:
        for j, (_, _, i) in enumerate(ins):
            link.write_input(deterministic_input(i["bytes"]), j)
        total = link.invoke().count
        counts = link.profile()
        rep.layers = [LayerTime(i, s.op.type, s.kernel, c) for i, (s, c) in enumerate(zip(steps, counts))]
        if sum(counts) != total:
            raise AssertionError(f"per-layer counts add up to {sum(counts)}, not {total}")
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
        link.invoke(last_layer=i)
        got = link.read_tensor(i)
        want = ref.tensor(s.output).reshape(-1).view(np.int8)
        bad = int(np.count_nonzero(got != want))
        if bad:
            return {"layer": i, "op": s.op.type, "kernel": s.kernel, "tensor": str(s.output),
                    "differing": bad, "bytes": int(want.size), "input": input_index}
    return None
