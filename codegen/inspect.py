"""`codegen inspect`: what the generator will make of a model, layer by layer."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import UnsupportedModelError
from .graph import Graph
from .lowering import Step, lower_op
from .ops import OPS
from .pipeline import load_graph
from .planner import plan_memory
from .validate import check_plan, check_steps


@dataclass
class Report:
    name: str
    graph: Graph
    steps: list[Step]
    unsupported: list[tuple[int, str, str]] = field(default_factory=list)  # (op index, type, why)
    arena_bytes: int | None = None
    kernels: str = "reference"

    def as_dict(self) -> dict:
        """`codegen inspect --json`: the table's figures (bytes, MACs), the planned arena (None
        with unsupported operators) and each unsupported operator with what to do."""
        g = self.graph

        def io(idx):
            t = g.tensors[idx]
            return {"name": t.name, "shape": list(t.shape), "type": "uint8" if idx in g.uint8_edges else t.dtype}
        layers = [{"index": i, "op": s.op.type, "kernel": s.kernel, "output": list(g.tensors[s.output].shape),
                   "macs": int(s.macs), "params": int(params(g, s.op)), "flash_bytes": int(s.weight_bytes),
                   "activation_bytes": int(g.tensors[s.output].nbytes)} for i, s in enumerate(self.steps)]
        return {"model": self.name, "kernels": self.kernels, "inputs": [io(i) for i in g.inputs],
                "outputs": [io(o) for o in g.outputs], "layers": layers,
                "macs": sum(ly["macs"] for ly in layers), "params": sum(ly["params"] for ly in layers),
                "flash_bytes": sum(ly["flash_bytes"] for ly in layers), "arena_bytes": self.arena_bytes,
                "unsupported": [{"index": i, "op": t, "why": w} for i, t, w in self.unsupported]}

    def render(self) -> str:
        g = self.graph
        kw = max([31] + [len(s.kernel) + 1 for s in self.steps])   # the kernel column's width
        def io(idx):   # "[1, 96, 96, 3] int8", "(float32 edge)", "uint8 (legacy graph)"
            t, e = g.tensors[idx], g.edges.get(idx)
            if idx in g.uint8_edges:
                return f"{list(t.shape)} uint8 (legacy graph)"
            return f"{list(t.shape)} {t.dtype}" + (f" ({e.kind} edge)" if e else "")
        ins = ", ".join(io(i) for i in g.inputs)
        outs = ", ".join(io(o) for o in g.outputs)
        lines = [f"{self.name}: input{'s' * (len(g.inputs) > 1)} {ins} -> output{'s' * (len(g.outputs) > 1)} "
                 f"{outs}, {self.kernels} kernels",
                 "",
                 f"{'layer':>5}  {'op':<18} {'kernel':<{kw}} {'output':<16} {'MACs':>12} {'params':>9} "
                 f"{'flash B':>9} {'act. out':>9}"]
        for i, s in enumerate(self.steps):
            out = g.tensors[s.output]
            shape = "x".join(map(str, out.shape))
            lines.append(f"{i:>5}  {s.op.type:<18} {s.kernel:<{kw}} {shape:<16} {s.macs:>12,} "
                         f"{params(g, s.op):>9,} {s.weight_bytes:>9,} {out.nbytes:>9,}")
        macs = sum(s.macs for s in self.steps)
        wbytes = sum(s.weight_bytes for s in self.steps)
        nparams = sum(params(g, s.op) for s in self.steps)
        lines.append(f"{'':>5}  {'total':<18} {'':<{kw}} {'':<16} {macs:>12,} {nparams:>9,} {wbytes:>9,}")
        lines.append("(params: weights + biases; flash B: what the layer puts in flash -- weights, "
                     "biases and per-channel requantization constants, in the kernels' layout)")
        lines.append("")
        blocks = separable_blocks(g, self.steps)
        if blocks:
            lines.append("depthwise-separable blocks: MACs vs one standard KxK convolution "
                         "(1/N + 1/K^2, MobileNet's eq. 5)")
            for i, k, c, n, hw, ratio in blocks:
                lines.append(f"  layers {i:>2}+{i + 1:<2} {k}x{k} dw, {c:>4} -> {n:>4} channels at {hw}: "
                             f"{ratio:.3f} ({1 / ratio:.1f}x fewer MACs)")
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


def params(graph: Graph, op) -> int:
    """Weights + biases of a layer (the architecture papers' parameter count): the constants
    at the input positions its operator record lists as weights."""
    rec = OPS.get(op.type)
    positions = rec.weights if rec else ()
    return sum(graph.tensors[op.inputs[k]].size for k in positions
               if k < len(op.inputs) and op.inputs[k] >= 0 and graph.tensors[op.inputs[k]].is_constant)


def separable_blocks(graph: Graph, steps: list[Step]):
    """(layer, K, C, N, "HxW", cost ratio) for every depthwise conv feeding a 1x1 conv."""
    out = []
    for i in range(len(steps) - 1):
        dw, pw = steps[i].op, steps[i + 1].op
        if dw.type != "DEPTHWISE_CONV_2D" or pw.type != "CONV_2D":
            continue
        w = graph.tensors[pw.inputs[1]].shape          # [N, kh, kw, C]
        if w[1:3] != (1, 1) or graph.resolve(pw.inputs[0]) != graph.resolve(dw.outputs[0]):
            continue
        k = graph.tensors[dw.inputs[1]].shape[1]
        c, n = w[3], w[0]
        h, wd = graph.tensors[dw.outputs[0]].shape[1:3]
        out.append((i, k, c, n, f"{h}x{wd}", 1 / n + 1 / (k * k)))
    return out


def inspect_model(path: str | Path, kernels: str = "reference") -> Report:
    graph = load_graph(path)
    steps, unsupported = [], []
    for op in graph.operators:
        try:
            steps.extend(lower_op(graph, op, kernels))
        except UnsupportedModelError as e:
            unsupported.append((op.index, op.type, str(e)))
    report = Report(Path(path).name, graph, steps, unsupported, kernels=kernels)
    if not unsupported:
        check_steps(graph, steps)          # values that do not fit their C fields: refused
        plan = plan_memory(graph, steps)
        check_plan(plan)
        report.arena_bytes = plan.arena_bytes
    return report
