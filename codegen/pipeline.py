"""The whole generator in order: read -> check -> passes -> lower -> plan -> emit."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import passes
from .app_helpers import AppOptions
from .build_files import check_output_folder, write_build_files
from .emitter import emit
from .errors import CodegenError
from .graph import Graph
from .input_shape import apply_input_shapes
from .io_edges import strip_io_edges
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
    """The kernel set for `target`: 'auto' gives the target's default. Raises CodegenError for
    the DSP kernels, or the Helium set (which falls back to them), on a core without the DSP
    extension (they would not compile there; the host runs them with the intrinsics emulated).
    'mve' on a core without Helium is the _mve kernels' plain-C build (include/mcuf_mve.h)."""
    t = get_target(target)
    if kernels == "auto":
        return t.default_kernels
    if kernels == "dsp" and t.cpu is not None and not t.dsp:
        raise CodegenError(f"--kernels dsp needs the DSP extension, which {target} does not have: "
                           "use --kernels reference (or auto)")
    if kernels == "mve" and t.cpu is not None and not t.dsp:   # its fallback is the DSP set
        raise CodegenError(f"--kernels mve falls back to the DSP kernels where no Helium one fits, and they "
                           f"need the DSP extension, which {target} does not have: use --kernels reference (or auto)")
    return kernels


C_KEYWORDS = set("auto break case char const continue default do double else enum extern float for goto "
                 "if inline int long register restrict return short signed sizeof static struct switch "
                 "typedef union unsigned void volatile while _Bool _Complex _Imaginary".split())


def check_name(name: str) -> None:
    """Raises CodegenError unless `name` can prefix C identifiers and name files (C99 6.4.2)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in C_KEYWORDS:
        raise CodegenError(f"--name '{name}' is not a C identifier (letters, digits and '_', not starting "
                           "with a digit, not a C keyword): it prefixes the generated functions, e.g. "
                           "--name person_detect")


def load_graph(model_path: str | Path, input_shapes: list[list[int]] | None = None) -> Graph:
    """The model read, checked to be int8, through the graph passes and shape-checked (every
    operator's output shapes recomputed, codegen/ops/shapes.py): ready to lower.
    input_shapes: the size of each dynamic input (`--input-shape`, codegen/input_shape.py).
    Raises ModelFormatError / UnsupportedModelError (one line per problem)."""
    graph = read_model(model_path)
    validate_graph(graph)              # before any pass: every problem, one line each
    strip_io_edges(graph)              # float/uint8 inputs and outputs become API conversions
    if input_shapes:
        apply_input_shapes(graph, input_shapes)
    convert_uint8_graph(graph)         # legacy uint8 graphs: stored as int8, exactly
    passes.fold_float_islands(graph)   # before the int8 check: these floats go away
    check_int8(graph)
    passes.run_all(graph)
    check_shapes(graph)                # every declared shape as TFLite's Prepare computes it
    return graph


def compile_graph(model_path: str | Path, kernels: str = "reference",
                  input_shapes: list[list[int]] | None = None) -> Compiled:
    graph = load_graph(model_path, input_shapes)
    steps = lower(graph, kernels)
    check_steps(graph, steps)
    plan = plan_memory(graph, steps)
    check_plan(plan)
    return Compiled(graph, steps, plan)


def generate(model_path: str | Path, out_dir: str | Path, target: str = "host",
             name: str = "model", kernels: str = "auto", layout: str = "plain", ram_limit: int | None = None,
             patches: tuple[int, int, int] | None = None,
             input_shapes: list[list[int]] | None = None, app: AppOptions | None = None) -> dict:
    """kernels: 'auto' (the target's default: Helium on cortex-m55, DSP where it has SIMD),
    'reference', 'dsp' or 'mve'.
    ram_limit: arena bytes allowed; when the layer-by-layer arena exceeds it, the first stage runs
    patch by patch (codegen/patch_schedule.py: choose_schedule); RamLimitError (a CodegenError)
    naming the smallest reachable arena when no schedule fits. patches: (split, rows, cols) forces
    that patch schedule, (split, "rows", r) the line-buffer one (codegen/line_buffer.py) (experiments, tests); UnsupportedModelError if it cannot be built.
    input_shapes: sizes for dynamic inputs (see load_graph).
    app: labels, pixel range and arena placement for the application helpers (app_helpers.py)."""
    from .patch_schedule import LayerByLayer, choose_schedule
    check_name(name)
    kernels = resolve_kernels(target, kernels)
    check_output_folder(out_dir, name, layout, target, kernels)   # the user's files, the other models'
    compiled = compile_graph(model_path, kernels, input_shapes)
    if patches is not None:
        from .errors import UnsupportedModelError
        from .patch_schedule import build_schedule, candidate_splits
        sched = None
        if patches[0] in candidate_splits(compiled.graph, compiled.steps):
            if patches[1] == "rows":        # (split, "rows", input rows a step[, strips]): line buffers
                from .line_buffer import build_line_buffer
                sched = build_line_buffer(compiled.graph, compiled.steps, patches[0], *patches[2:])
            else:
                sched = build_schedule(compiled.graph, compiled.steps, *patches)
        if sched is None:
            raise UnsupportedModelError(f"no patch schedule {patches[1]}x{patches[2]} after layer {patches[0]}")
    else:
        sched = choose_schedule(compiled.graph, compiled.steps, ram_limit)
    plan = compiled.plan
    if isinstance(sched, LayerByLayer):          # fits with in-place depthwise, no patches
        plan, sched = sched.plan, None
    manifest = emit(compiled.graph, compiled.steps, plan, get_target(target), Path(out_dir),
                    Path(model_path).name, model_sha256(model_path), name, kernels, app=app,
                    patches=sched)
    write_build_files(out_dir, name, layout)   # CMakeLists.txt, mcuforge.mk, --layout's files
    return manifest
