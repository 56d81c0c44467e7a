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
from .validate import check_int8, check_plan, check_steps, validate_graph


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
    validate_graph(graph)              # before any pass: every problem, one line each
    convert_uint8_graph(graph)         # legacy uint8 graphs: stored as int8, exactly
    passes.fold_float_islands(graph)   # before the int8 check: these floats go away
    check_int8(graph)
    passes.run_all(graph)
    check_shapes(graph)                # every declared shape as TFLite's Prepare computes it
    return graph


def compile_graph(model_path: str | Path, kernels: str = "reference") -> Compiled:
    graph = load_graph(model_path)
    steps = lower(graph, kernels)
    check_steps(graph, steps)
    plan = plan_memory(graph, steps)
    check_plan(plan)
    return Compiled(graph, steps, plan)


def generate(model_path: str | Path, out_dir: str | Path, target: str = "host",
             name: str = "model", kernels: str = "auto", ram_limit: int | None = None,
             patches: tuple[int, int, int] | None = None,
             app: AppOptions | None = None) -> dict:
    """kernels: 'auto' (DSP-optimized where the target has SIMD), 'reference' or 'dsp'.
    ram_limit: arena bytes allowed; when the layer-by-layer arena exceeds it, the first stage runs
    patch by patch (codegen/patch_schedule.py: choose_schedule); RamLimitError (a CodegenError)
    naming the smallest reachable arena when no schedule fits. patches: (split, rows, cols) forces
    that patch schedule (experiments, tests); UnsupportedModelError if it cannot be built.
    app: labels, pixel range and arena placement for the application helpers (app_helpers.py)."""
    from .patch_schedule import LayerByLayer, choose_schedule
    kernels = resolve_kernels(target, kernels)
    compiled = compile_graph(model_path, kernels)
    if patches is not None:
        from .errors import UnsupportedModelError
        from .patch_schedule import build_schedule, candidate_splits
        sched = None
        if patches[0] in candidate_splits(compiled.graph, compiled.steps):
            sched = build_schedule(compiled.graph, compiled.steps, *patches)
        if sched is None:
            raise UnsupportedModelError(f"no patch schedule {patches[1]}x{patches[2]} after layer {patches[0]}")
    else:
        sched = choose_schedule(compiled.graph, compiled.steps, ram_limit)
    plan = compiled.plan
    if isinstance(sched, LayerByLayer):          # fits with in-place depthwise, no patches
        plan, sched = sched.plan, None
    return emit(compiled.graph, compiled.steps, plan, get_target(target), Path(out_dir),
                Path(model_path).name, model_sha256(model_path), name, kernels, app=app, patches=sched)
