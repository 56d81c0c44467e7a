"""Lowering: each operator becomes one call into the kernel library, with every constant
(requantization multipliers and shifts, padding, activation range, folded biases)
computed on the host, exactly as TFLite's Prepare() computes it.

A thin driver: the operators' rules and lowerings live in `codegen/ops/` (one module per
family, one record each, see docs/architecture.md)."""
from __future__ import annotations

import numpy as np

from .errors import UnsupportedModelError
from .graph import Graph, Operator
from .ops import OPS, SUPPORTED_OPS, ConstArray, Step  # noqa: F401  (re-exported)


# Supported operators that stand in for unsupported ones (README: "refused | why | fix").
INSTEAD = {"ELU": "with RELU6 or LEAKY_RELU in its place (TFLite's reference resolver, the oracle, has no int8 ELU)"}


def lower_op(graph: Graph, op: Operator, kernels: str = "reference") -> list[Step]:
    """One operator's steps (a SPLIT makes one per output). kernels: 'reference' (portable C),
    'dsp' (optimized, chosen per layer where one fits) or 'mve' (Helium where one of its kernels
    fits, else as 'dsp': codegen/ops/mve.py). UnsupportedModelError: no record
    with a lowering, or the lowering refuses the operator."""
    rec = OPS.get(op.type)
    if rec is None or rec.lower is None:
        # `codegen emit` sends the user here "for details": say what to do, not only what is missing
        instead = INSTEAD.get(op.type, "without it (README, Supported operators, lists what compiles)")
        raise UnsupportedModelError(f"no kernel for this operator; re-export the model {instead}, or add a "
                                    "kernel (docs/architecture.md: Adding an operator)")
    try:
        step = None
        if op.options.get("_legacy_uint8"):     # uint8 variants (codegen/legacy_uint8.py)
            from .ops.legacy import lower_legacy
            step = lower_legacy(graph, op, kernels)
        if step is None:
            step = rec.lower(graph, op, kernels)
    except (ValueError, IndexError, KeyError, TypeError, AttributeError, ZeroDivisionError,
            OverflowError, AssertionError) as e:
        # the last line of defence: a model validate.py let through but this lowering cannot
        # take is refused in one line, never a traceback (the fuzzer counts these apart)
        raise UnsupportedModelError(f"internal error ({type(e).__name__}: {e}); this model "
                                    "is malformed in a way mcuforge does not check yet") from None
    steps = step if isinstance(step, list) else [step]
    for s in steps:
        _check_constant_inputs(graph, s)
        _check_shifts(graph, s)
    return steps


def _check_constant_inputs(graph: Graph, step: Step) -> None:
    """An arena input ("in") that is a constant tensor: the emitted C would read its arena
    bytes, which nothing writes (attack6: GATHER, TRANSPOSE, EXP, REDUCE_MAX, DEPTH_TO_SPACE,
    UNPACK of a constant gave garbage). Operands that may be constant take the ("const", ...)
    form (ops.common._operand); this operator's data input may not: refused in one line."""
    for a in step.args:
        if a[0] == "in" and isinstance(a[1], (int, np.integer)):
            t = graph.tensors.get(graph.resolve(a[1])) or graph.tensors.get(a[1])
            if t is not None and (t.is_constant or graph.tensors[a[1]].is_constant):
                raise UnsupportedModelError(
                    f"its data input '{graph.tensors[a[1]].name}' is a constant; mcuforge computes it only "
                    "on activations: fold it into a constant when converting (TFLite's converter "
                    "folds an operator whose inputs are all constant), or feed it an activation")


MAX_LEFT_SHIFT = 30   # x * (1 << shift) in TFLite's MultiplyByQuantizedMultiplier: 31 overflows
# Params that hold the optimized output stage's encoded shift byte (quantization.FORMULA_SHIFT),
# not TFLite's shift: their lowering refuses the DSP stage for shifts above MAX_LEFT_SHIFT first.
ENCODED_SHIFT_PARAMS = {"mcuf_elementwise_dsp_params": ("shift",), "mcuf_mean_dsp_params": ("shift",)}


def _check_shifts(graph: Graph, step: Step) -> None:
    """A requantization multiplier of 2^31 or more (an activation scale like 1e36) makes
    TFLite's integer arithmetic undefined (its 1 << shift overflows; x86 and Arm then
    differ): refused, so the host and the device never disagree."""
    encoded = ENCODED_SHIFT_PARAMS.get(step.params_type, ())   # a kernel's packed stage byte
    shifts = [v for k, v in step.params.items()
              if k.endswith("shift") and "left" not in k and k not in encoded
              and isinstance(v, (int, np.integer))]
    shifts += [int(c.values.max()) for c in step.consts
               if c.name.endswith("_shift") and c.ctype == "int32_t" and c.values.size]
    if shifts and max(shifts) > MAX_LEFT_SHIFT:
        scales = ", ".join(f"'{graph.tensors[i].name}' {graph.tensors[i].quant.scale:.3g}"
                           for i in step.op.inputs + step.op.outputs
                           if i >= 0 and graph.tensors[i].quant is not None
                           and graph.tensors[i].data is None)
        raise UnsupportedModelError(
            f"its requantization multiplier is about 2^{max(shifts)} (activation scales {scales}): "
            "TFLite's integer arithmetic overflows for 2^31 and more; re-quantize the model "
            "with a representative dataset that gives realistic scales")


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
