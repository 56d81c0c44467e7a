"""Lowering: each operator becomes one call into the kernel library, with every constant
(requantization multipliers and shifts, padding, activation range, folded biases)
computed on the host, exactly as TFLite's Prepare() computes it.

A thin driver: the operators' rules and lowerings live in `codegen/ops/` (one module per
family, one record each, see docs/architecture.md)."""
from __future__ import annotations

from .errors import UnsupportedModelError
from .graph import Graph, Operator
from .ops import OPS, SUPPORTED_OPS, ConstArray, Step  # noqa: F401  (re-exported)


def lower_op(graph: Graph, op: Operator, kernels: str = "reference") -> list[Step]:
    """One operator's steps (a SPLIT makes one per output). kernels: 'reference' (portable C),
    'dsp' (optimized, chosen per layer where one fits) or 'mve' (Helium where one of its kernels
    fits, else as 'dsp': codegen/ops/mve.py). UnsupportedModelError: no record
    with a lowering, or the lowering refuses the operator."""
    rec = OPS.get(op.type)
    if rec is None or rec.lower is None:
        raise UnsupportedModelError("no kernel for this operator")
    step = rec.lower(graph, op, kernels)
    return step if isinstance(step, list) else [step]


def lower(graph: Graph, kernels: str = "reference") -> list[Step]:
    """All operators at once, so that every unsupported one is reported together."""
    steps, problems = [], []
    for op in graph.operators:
        try:
            steps.extend(lower_op(graph, op, kernels))
        except UnsupportedModelError as e:
            rec = OPS.get(op.type)
            known = rec is not None and rec.lower is not None
            problems.append(f"#{op.index} {op.type}" + (f" ({e})" if known else ""))
    if problems:
        raise UnsupportedModelError(
            f"{len(problems)} unsupported operator(s): {', '.join(problems)}. "
            f"Supported: {', '.join(SUPPORTED_OPS)}; run `codegen inspect` for details")
    return steps
