"""The whole generator in order: read -> check -> passes -> lower -> plan -> emit."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import passes
from .app_helpers import AppOptions
from .emitter import emit
from .graph import Graph
from .legacy_uint8 import convert_uint8_graph
from .lowering import Step, lower
from .ops import check_shapes
from .planner import Plan, plan_memory
from .targets import get_target
from .tflite_reader import model_sha256, read_model
from .validate import check_int8


@dataclass
class Compiled:
    graph: Graph
    steps: list[Step]
    plan: Plan


def resolve_kernels(target: str, kernels: str = "auto") -> str:
    return get_target(target).default_kernels if kernels == "auto" else kernels


def load_graph(model_path: str | Path) -> Graph:
    """The model read, checked to be int8, through the graph passes and shape-checked (every
    operator's output shapes recomputed, codegen/ops/shapes.py): ready to lower.
    Raises ModelFormatError / UnsupportedModelError (one line per problem)."""
    graph = read_model(model_path)
    convert_uint8_graph(graph)         # legacy uint8 graphs: stored as int8, exactly
    passes.fold_float_islands(graph)   # before the int8 check: these floats go away
    check_int8(graph)
    passes.run_all(graph)
    check_shapes(graph)                # every declared shape as TFLite's Prepare computes it
    return graph


def compile_graph(model_path: str | Path, kernels: str = "reference") -> Compiled:
    graph = load_graph(model_path)
    steps = lower(graph, kernels)
    return Compiled(graph, steps, plan_memory(graph, steps))


def generate(model_path: str | Path, out_dir: str | Path, target: str = "host",
             name: str = "model", kernels: str = "auto", app: AppOptions | None = None) -> dict:
    """kernels: 'auto' (DSP-optimized where the target has SIMD), 'reference' or 'dsp'.
    app: labels, pixel range and arena placement for the application helpers (app_helpers.py)."""
    kernels = resolve_kernels(target, kernels)
    compiled = compile_graph(model_path, kernels)
    return emit(compiled.graph, compiled.steps, compiled.plan, get_target(target), Path(out_dir),
                Path(model_path).name, model_sha256(model_path), name, kernels, app)
