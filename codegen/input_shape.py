"""`--input-shape`: compile a model whose input has dynamic dimensions (shape_signature -1,
stored as 1) at an explicit size. The input's shape is set, then every operator's output
shapes are recomputed in graph order with the operators' own shape functions (their
records' `infer_shape`, TFLite's Prepare rules, codegen/ops/), folding the SHAPE ->
STRIDED_SLICE -> PACK arithmetic on the way as the graph passes would, so that a RESHAPE
sees its new size. The TFLite reference is resized the same way (`resize_tensor_input`)."""
from __future__ import annotations

import numpy as np

from .errors import UnsupportedModelError
from .graph import Graph


def parse_shape(text: str) -> list[int]:
    """'1,96,96,3' -> [1, 96, 96, 3]; ValueError (one line: the expected form) unless positive integers."""
    try:
        dims = [int(v) for v in text.replace("x", ",").split(",") if v.strip()]
    except ValueError:       # 'nan', '96.5': int()'s own message names neither the option nor the form
        dims = []
    if not dims or any(d <= 0 for d in dims):
        raise ValueError(f"expected positive integers like 1,96,96,3, got {text!r}")
    return dims


def apply_input_shapes(graph: Graph, shapes: list[list[int]]) -> None:
    """Input k gets shapes[k]; dimensions the model fixes (shape_signature not -1) must match.
    Raises UnsupportedModelError (one line) where a shape cannot be re-inferred."""
    from . import passes
    from .ops import OPS
    if len(shapes) > len(graph.inputs):
        raise UnsupportedModelError(f"{len(shapes)} --input-shape given, the model has {len(graph.inputs)} input(s)")
    for k, shape in enumerate(shapes):
        t = graph.tensors[graph.inputs[k]]
        sig = t.shape_signature or t.shape
        if len(shape) != len(sig):
            free = [i for i, s in enumerate(sig) if s < 0]
            # the user's numbers in the free (-1) places when they are as many, else N there
            fill = iter(shape) if len(shape) == len(free) else iter(["N"] * len(free))
            example = ",".join(str(next(fill)) if s < 0 else str(s) for s in sig)
            raise UnsupportedModelError(f"--input-shape {','.join(map(str, shape))} has {len(shape)} dimensions, "
                                        f"input '{t.name}' has {len(sig)} ({list(sig)}): give all {len(sig)}, "
                                        f"e.g. --input-shape {example}")
        fixed = [i for i, (d, s) in enumerate(zip(shape, sig)) if s >= 0 and d != s]
        if fixed:
            example = ",".join(str(s if s >= 0 else d) for d, s in zip(shape, sig))
            raise UnsupportedModelError(
                f"--input-shape {','.join(map(str, shape))}: input '{t.name}' fixes dimension {fixed[0]} at "
                f"{sig[fixed[0]]} (signature {list(sig)}); only its -1 dimensions can be chosen: "
                f"--input-shape {example}")
        for idx in {t.index} | {e.outer for e in graph.edges.values() if e.inner == t.index}:
            graph.tensors[idx].shape = tuple(shape)
            graph.tensors[idx].shape_signature = tuple(shape)
    for op in list(graph.operators):
        folder = passes._FOLDERS.get(op.type)
        out = graph.tensors[op.outputs[0]] if op.outputs else None
        if folder is not None and out is not None and out.dtype == "int32":
            value = folder(graph, op)
            if value is not None:
                out.data = np.asarray(value, np.int32)
                out.shape = tuple(out.data.shape)
                graph.operators.remove(op)
                continue
        rec = OPS.get(op.type)
        if rec is None or rec.infer_shape is None:
            raise UnsupportedModelError(
                f"--input-shape: no shape function for #{op.index} {op.type}, so its output size at the new "
                "input size is unknown; re-convert the model with a fixed input size instead")
        try:
            computed = rec.infer_shape(graph, op)
        except UnsupportedModelError as e:
            raise UnsupportedModelError(f"--input-shape: #{op.index} {op.type} at the new size: {e}") from None
        for o, c in zip(op.outputs, computed):
            graph.tensors[o].shape = tuple(int(d) for d in c)
    for e in graph.edges.values():   # an output edge's tensor has its int8 tensor's shape
        graph.tensors[e.outer].shape = graph.tensors[e.inner].shape
