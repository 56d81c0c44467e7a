"""`codegen inspect`: what the generator will make of a model, layer by layer."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import passes
from .errors import UnsupportedModelError
from .graph import Graph
from .lowering import Step, lower_op
from .planner import plan_memory
from .tflite_reader import read_model
from .validate import check_int8


@dataclass
class Report:
    name: str
    graph: Graph
    steps: list[Step]
    unsupported: list[tuple[int, str, str]] = field(default_factory=list)  # (op index, type, why)
    arena_bytes: int | None = None
    kernels: str = "reference"

    def render(self) -> str:
        g = self.graph
        x, y = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
        lines = [f"{self.name}: input {list(x.shape)} {x.dtype} -> output {list(y.shape)} {y.dtype}, "
                 f"{self.kernels} kernels",
                 "",
                 f"{'layer':>5}  {'op':<18} {'kernel':<31} {'output':<16} {'MACs':>12} {'weights':>9} {'act. out':>9}"]
        for i, s in enumerate(self.steps):
            out = g.tensors[s.output]
            shape = "x".join(map(str, out.shape))
            lines.append(f"{i:>5}  {s.op.type:<18} {s.kernel:<31} {shape:<16} {s.macs:>12,} "
                         f"{s.weight_bytes:>9,} {out.nbytes:>9,}")
        macs = sum(s.macs for s in self.steps)
        wbytes = sum(s.weight_bytes for s in self.steps)
        lines.append(f"{'':>5}  {'total':<18} {'':<31} {'':<16} {macs:>12,} {wbytes:>9,}")
        lines.append("")
        removed = len(g.aliases)
        if removed:
            lines.append(f"reshapes turned into aliases (no copy): {removed}")
        if self.arena_bytes is not None:
            lines.append(f"planned arena: {self.arena_bytes:,} bytes (all activations, one static array)")
        if self.unsupported:
            lines.append(f"unsupported operators ({len(self.unsupported)}):")
            for idx, typ, why in self.unsupported:
                lines.append(f"  #{idx} {typ}: {why}")
            lines.append("`codegen emit` will refuse this model until these are supported.")
        else:
            lines.append("all operators supported")
        return "\n".join(lines)


def inspect_model(path: str | Path, kernels: str = "reference") -> Report:
    graph = read_model(path)
    check_int8(graph)
    passes.run_all(graph)
    steps, unsupported = [], []
    for op in graph.operators:
        try:
            steps.append(lower_op(graph, op, kernels))
        except UnsupportedModelError as e:
            unsupported.append((op.index, op.type, str(e)))
    report = Report(Path(path).name, graph, steps, unsupported, kernels=kernels)
    if not unsupported:
        report.arena_bytes = plan_memory(graph, steps).arena_bytes
    return report
