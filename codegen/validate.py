"""Checks made before any work: is this a graph the generator can compile safely?

Three stages, each collecting every problem it finds (one line each, in the form
``op #12 CONV_2D: <what>, tensor '<name>' ...: <fix>``) and raising one
`UnsupportedModelError` whose message holds them all, one per line:

- `validate_graph` (before any pass): structure (indices in range, -1 only for optional
  inputs, every tensor written before it is read, no cycles, constant sizes, sizes within a
  32-bit address space), quantization as TFLite's Prepare() checks it (finite positive
  scales, zero points in the type's range, per-channel arrays as long as the channel count,
  LOGISTIC/SOFTMAX output quantization, effective multipliers the integer requantization can
  represent, accumulators that provably fit int32) and the padding and activation enums
  (strides, dilations, filter sizes and ranks are the shape check's, codegen/ops/shapes.py,
  run after the passes);
- `check_int8` (after float islands are folded): int8 end to end;
- `check_steps` / `check_plan` (after lowering / planning): every value a C parameter struct
  field holds fits its C type (refused, never truncated), and an arena inside a 32-bit
  address space.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import UnsupportedModelError
from .graph import Graph, Operator, Tensor, shape4
from .ops import OPS

FULL_INT8_ADVICE = (
    "convert with full-integer quantization: converter.optimizations = [tf.lite.Optimize.DEFAULT], "
    "a representative_dataset, converter.target_spec.supported_ops = "
    "[tf.lite.OpsSet.TFLITE_BUILTINS_INT8], inference_input_type = inference_output_type = tf.int8")

RECONVERT = "re-export the model from the converter"

# Largest object the 32-bit targets can address (sizes and offsets are int32/uint32 in C).
MAX_BYTES = 2**31 - 1

_INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767),
               "int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}
_ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6")
_PADDINGS = ("SAME", "VALID")


def _name(graph: Graph, idx: int) -> str:
    t = graph.tensors.get(idx)
    return f"tensor {idx} '{t.name}'" if t is not None else f"tensor {idx}"


def _where(op: Operator) -> str:
    return f"op #{op.index} {op.type}"


def _raise(problems: list[str]) -> None:
    if problems:
        seen, lines = set(), []
        for p in problems:             # one line each, duplicates once
            p = " ".join(p.split())
            if p not in seen:
                seen.add(p)
                lines.append(p)
        raise UnsupportedModelError("\n".join(lines))


# --- stage 1: the graph as read --------------------------------------------------------

def validate_graph(graph: Graph) -> None:
    """Refuse a graph the passes, the lowering or the kernels could not handle safely.

    Raises UnsupportedModelError with one line per problem (all of them). Runs on the graph
    as read (before any pass): structure first; the quantization and option checks only on
    operators whose tensors are all present (their messages would be noise otherwise)."""
    problems: list[str] = list(graph.problems)
    # hostile scales (signalling NaNs, 1e-45) make numpy warn on casts and divisions: every
    # such value is checked explicitly here, and a warning must not reach the user's terminal
    with np.errstate(all="ignore"):
        ok_tensors = _check_tensors(graph, problems)
        ok_ops = _check_structure(graph, problems, ok_tensors)
        for op in graph.operators:
            if op.index in ok_ops:
                _check_options(graph, op, problems)
                _check_op_quantization(graph, op, problems)
    _raise(problems)


def _shape_bytes(t: Tensor) -> int:
    """Exact byte size (Python integers: no int64 wrap-around on hostile shapes)."""
    n = 1
    for d in t.shape:
        n *= int(d)
    try:
        item = np.dtype(t.dtype).itemsize
    except TypeError:
        item = 1
    return n * item


def _check_tensors(graph: Graph, problems: list[str]) -> set[int]:
    """Shapes, sizes and quantization of every tensor; returns the tensors that passed."""
    ok = set()
    user: dict[int, Operator] = {}          # the first operator that reads or writes a tensor
    for op in graph.operators:
        for i in op.inputs + op.outputs:
            user.setdefault(i, op)
    for idx, t in graph.tensors.items():
        before = len(problems)
        if any(int(d) < 0 for d in t.shape):
            problems.append(f"{_name(graph, idx)} has shape {list(t.shape)} with a negative dimension "
                            "(a dynamic shape): export the model with a fixed input size")
        elif t.data is None and any(int(d) == 0 for d in t.shape) and (idx in user or idx in graph.inputs
                                                                       or idx in graph.outputs):
            problems.append(f"{_name(graph, idx)} has shape {list(t.shape)}, no elements: a model "
                            "computes on at least one value per tensor; check its shape")
        elif _shape_bytes(t) > MAX_BYTES:
            problems.append(f"{_name(graph, idx)} of shape {list(t.shape)} needs {_shape_bytes(t):,} bytes, "
                            f"more than a 32-bit target can address ({MAX_BYTES:,}): check its shape")
        if t.quant is not None:
            _check_quant(graph, t, problems)
        if len(problems) == before:
            ok.add(idx)
        elif idx in user:                   # the message form: op #N TYPE: ..., tensor ...
            problems[before:] = [f"{_where(user[idx])}: {p}" for p in problems[before:]]
    return ok


def _check_quant(graph: Graph, t: Tensor, problems: list[str]) -> None:
    """TFLite's quantization rules for one tensor (what Prepare() and the converter ensure)."""
    qn = t.quant
    scales = np.asarray(qn.scales, np.float64).reshape(-1)
    zps = np.asarray(qn.zero_points).reshape(-1)
    who = _name(graph, t.index)
    if len(zps) != len(scales):       # TFLite's InterpreterBuilder refuses it for every type
        problems.append(f"{who} has {len(scales)} scales but {len(zps)} zero points: " + RECONVERT)
        return
    rank = len(t.shape)
    if len(scales) == 1 and (qn.axis < 0 or (rank > 0 and qn.axis >= rank)):
        # InterpreterBuilder::ParseQuantization checks the dimension of every quantized tensor,
        # per-tensor ones too ("quantized_dimension must be in range [0, rank)"): TFLite refuses
        # the model (attack7: a LOG_SOFTMAX input [1, 10] with dimension 3 was compiled)
        problems.append(f"{who} has quantized_dimension {qn.axis} but rank {rank} (TFLite requires "
                        f"[0, {rank})): " + RECONVERT)
        return
    if t.dtype.startswith("float"):
        return                         # float tensors' quantization is unused
    if not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        bad = scales[~(np.isfinite(scales) & (scales > 0))][0]
        problems.append(f"{who} has quantization scale {float(bad)!r}; scales must be finite and positive: "
                        + RECONVERT)
    rng = _INT_RANGES.get(t.dtype)
    if rng is not None and len(zps) and (int(zps.min()) < rng[0] or int(zps.max()) > rng[1]):
        bad = int(zps.min()) if int(zps.min()) < rng[0] else int(zps.max())
        problems.append(f"{who} ({t.dtype}) has zero point {bad}, outside [{rng[0]}, {rng[1]}]: "
                        + RECONVERT)
    if len(scales) > 1:
        rank = len(t.shape)
        if rank == 1 and t.shape[0] == len(scales) and 0 <= qn.axis < 4:
            return    # a vector with one scale per element: an older converter copied the
            # depthwise filter's quantized_dimension (3) into its bias; the axis can only be 0.
            # Only a 4-D filter's dimension (0..3) is that quirk: -1 or 7 is damage, which
            # TFLite refuses too (ParseQuantization: "must be in range [0, 1)"), so it is refused
        if not 0 <= qn.axis < max(rank, 1):
            problems.append(f"{who} is quantized per channel along axis {qn.axis} but has rank {rank}: "
                            + RECONVERT)
        elif rank and t.shape[qn.axis] != len(scales):
            problems.append(f"{who} has {len(scales)} per-channel scales for {t.shape[qn.axis]} channels "
                            f"(axis {qn.axis} of {list(t.shape)}): " + RECONVERT)


def _check_structure(graph: Graph, problems: list[str], ok_tensors: set[int]) -> set[int]:
    """Indices, arity, write-before-read order; returns the operators that passed."""
    n = len(graph.tensors)
    if not graph.inputs or not graph.outputs:
        problems.append(f"the graph has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
                        "it needs at least one of each: " + RECONVERT)
    for role, lst in (("input", graph.inputs), ("output", graph.outputs)):
        for i in lst:
            if i not in graph.tensors:
                problems.append(f"graph {role} {i} is not a tensor (the model has {n}): " + RECONVERT)
    for i in graph.inputs:            # TFLite's set_tensor() wrote into its read-only weights
        if i in graph.tensors and graph.tensors[i].is_constant:   # (a segfault; TFLite Micro ran it)
            problems.append(f"graph input {_name(graph, i)} is a constant (it has data in the model); "
                            "the caller writes a graph input: " + RECONVERT)
    for i in graph.outputs:           # no layer writes it: its planned bytes held another tensor's
        if i in graph.tensors and graph.tensors[i].is_constant:   # (attack7: the input's first byte)
            problems.append(f"graph output {_name(graph, i)} is a constant (it has data in the model); "
                            "no operator computes it: drop it from the graph's outputs, or " + RECONVERT)
    written: set[int] = {i for i in graph.inputs if i in graph.tensors}
    written |= {i for i, t in graph.tensors.items() if t.is_constant} | graph.bad_constants
    producer: dict[int, int] = {}
    short: list[Tensor] = []     # first outputs of operators with fewer outputs than their option
    ok_ops = set()
    for op in graph.operators:
        before, quiet = len(problems), False
        where = _where(op)
        rec = OPS.get(op.type)     # arity and optional inputs: the operator's record (codegen/ops/)
        if rec is not None:
            (lo, hi), (olo, ohi) = rec.inputs, rec.outputs
            hi, ohi = (hi if hi >= 0 else 10**6), (ohi if ohi >= 0 else 10**6)   # -1: any number
            if not lo <= len(op.inputs) <= hi:
                want = f"{lo}" if lo == hi else f"{lo} to {hi}"
                problems.append(f"{where}: has {len(op.inputs)} inputs, TFLite's {op.type} takes {want}: "
                                + RECONVERT)
            if not olo <= len(op.outputs) <= ohi:
                problems.append(f"{where}: has {len(op.outputs)} outputs: " + RECONVERT)
            want_n = op.options.get(rec.outputs_option) if rec.outputs_option else None
            if want_n is not None and want_n != len(op.outputs):
                # before the read-before-write check: a dropped output otherwise surfaces as
                # its consumer reading an unwritten tensor, naming the wrong operator
                problems.append(f"{where}: has {len(op.outputs)} outputs but {rec.outputs_option} "
                                f"{want_n} (TFLite requires one output per split): " + RECONVERT)
                short.extend(graph.tensors[o] for o in op.outputs[:1] if o in graph.tensors)
        elif not op.outputs:
            problems.append(f"{where}: has no output: " + RECONVERT)
        optional = set(rec.optional) if rec is not None else set()
        for k, i in enumerate(op.inputs):
            if i == -1 and k in optional:
                continue
            if i not in graph.tensors:
                what = "omitted (-1)" if i == -1 else f"tensor {i}, which does not exist (the model has {n})"
                problems.append(f"{where}: input {k} is {what}; this input is required: " + RECONVERT)
            elif i not in written:
                cycle = i in op.outputs or i in producer or any(
                    i in later.outputs for later in graph.operators[graph.operators.index(op):])
                t = graph.tensors[i]
                if not cycle and any(tuple(t.shape) == tuple(s.shape) and t.dtype == s.dtype
                                     for s in short):
                    quiet = True     # most likely the output a SPLIT above dropped: reported there
                    continue
                problems.append(
                    f"{where}: input {k} {_name(graph, i)} is read before any operator writes it"
                    + (" (a cycle: it is written by this or a later operator)" if cycle else
                       " (no operator writes it and it is neither a graph input nor a constant)")
                    + ": " + RECONVERT)
        for k, o in enumerate(op.outputs):
            if o not in graph.tensors:
                problems.append(f"{where}: output {k} is tensor {o}, which does not exist "
                                f"(the model has {n}): " + RECONVERT)
                continue
            if o in producer or o in graph.inputs or graph.tensors[o].is_constant:
                kind = ("is also written by op #" + str(producer[o]) if o in producer else
                        "is a graph input" if o in graph.inputs else "is a constant")
                problems.append(f"{where}: output {_name(graph, o)} {kind}; every tensor is written "
                                "once: " + RECONVERT)
            producer.setdefault(o, op.index)
        written.update(o for o in op.outputs if o in graph.tensors)
        if len(problems) == before and not quiet and all(i in ok_tensors for i in op.inputs + op.outputs if i != -1):
            ok_ops.add(op.index)
    for o in graph.outputs:
        if o in graph.tensors and o not in written:
            problems.append(f"graph output {_name(graph, o)} is never written: " + RECONVERT)
    return ok_ops


def _check_options(graph: Graph, op: Operator, problems: list[str]) -> None:
    """Enumerated option values the lowering maps to kernel constants."""
    where, o = _where(op), op.options
    wrong = graph.wrong_options.get(op.index)
    if wrong:     # the reader gave the expected table's fields as 0, as TFLite's parser does
        problems.append(f"{where}: its options are a {wrong[0]} table, not the {wrong[1]} TFLite reads "
                        "for it (TFLite would run it with every option 0): " + RECONVERT)
    if "FusedActivationFunction" in o and o["FusedActivationFunction"] not in _ACTIVATIONS:
        problems.append(f"{where}: fused activation {o['FusedActivationFunction']!r} is not one of "
                        f"{', '.join(_ACTIVATIONS)} (TFLite refuses it for int8): " + RECONVERT)
    if "Padding" in o and o["Padding"] not in _PADDINGS:
        problems.append(f"{where}: padding {o['Padding']!r} is neither SAME nor VALID: " + RECONVERT)
    if op.type == "FULLY_CONNECTED" and o.get("WeightsFormat", 0) != 0:
        # 1 = SHUFFLED4x16INT8: TFLite's uint8-only layout with a second (workspace) output; any
        # other value its parser refuses. The weights were read as DEFAULT and compiled (trial9)
        problems.append(f"{where}: weights_format {o['WeightsFormat']!r} is not DEFAULT (0); mcuforge "
                        "reads DEFAULT [out, in] weights only (TFLite's shuffled format takes uint8 and "
                        "a second output): " + RECONVERT)
    # strides, dilations, filter sizes and ranks: the shape check (codegen/ops/shapes.py)
    # recomputes every output shape from them after the passes and lists what is wrong


def _real_scale(t: Tensor) -> float:
    return float(np.float32(t.quant.scale))


def _scales_ok(*ts: Tensor) -> bool:
    for t in ts:
        if t.quant is None or len(t.quant.scales) == 0:
            return False
        s = np.asarray(t.quant.scales, np.float64)
        if not np.all(np.isfinite(s)) or np.any(s <= 0):
            return False
    return True


def _effective(where: str, what: str, real: float, tensors: str, problems: list[str],
               smaller_than_one: bool = False) -> None:
    """Can TFLite's QuantizeMultiplier represent `real` (a Q31 multiplier and a shift whose
    left part stays below 31 bits, the range the int32 requantization is defined on)?
    Tiny multipliers are fine: TFLite turns them into 0 (shift below -31) and so do we."""
    if not math.isfinite(real):
        problems.append(f"{where}: {what} {real!r} is not finite, {tensors}: " + RECONVERT)
        return
    if smaller_than_one and real >= 1.0:
        problems.append(f"{where}: {what} is {real:.6g}, TFLite requires it below 1 "
                        f"(QuantizeMultiplierSmallerThanOneExp), {tensors}: check the output scale")
        return
    if real >= 2.0**30:
        problems.append(f"{where}: {what} is {real:.6g} (about 2^{math.frexp(real)[1]}), at least "
                        f"2^30: TFLite's int32 requantization overflows there (shift >= 31), {tensors}: "
                        "re-quantize the model with a representative dataset that gives realistic scales")


# the real bounds of each fused activation: CalculateActivationRangeQuantizedImpl quantizes them
_ACTIVATION_BOUNDS = {"RELU": (0.0,), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


def _check_fused_activation(op: Operator, y: Tensor, problems: list[str]) -> None:
    """tensorflow/lite/kernels/kernel_util.cc Quantize(): every bound of a fused activation,
    round(f / output scale) in float32, must lie in int32's range (no_integer_overflow_from_
    quantization), or the op's Prepare() fails: RELU6 with an output scale below 6 / 2^31
    (about 2.8e-9) has no TFLite reference, so it is refused rather than compiled. The same
    for a standalone RELU6 / RELU_N1_TO_1 (activations.cc QuantizedReluX casts
    roundf(bound / scale) to int32 unchecked: undefined beyond int32, INT_MIN on x86)."""
    standalone = op.type in ("RELU6", "RELU_N1_TO_1")   # activations.cc QuantizedReluX: the same
    act = op.type if standalone else op.options.get("FusedActivationFunction", "NONE")
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        for f in (_ACTIVATION_BOUNDS.get(act, ()) if isinstance(act, str) else ()):
            v = np.round(np.float32(f) / np.float32(y.quant.scale))
            # zero point + the cast: both in int32 (else the cast or the sum is undefined in C++)
            if not (np.float32(-2.0**31) <= v <= np.float32(2.0**31 - 1)) or \
                    not -2**31 <= int(v) + int(y.quant.zero_point) < 2**31:
                why = ("TFLite casts it to int32 unchecked (QuantizedReluX): no defined result" if standalone
                       else "TFLite's Prepare fails: no_integer_overflow_from_quantization")
                problems.append(f"{_where(op)}: {'its' if standalone else f'fused {act}: its'} bound {f:g} / "
                                f"output scale {_real_scale(y):.6g} of tensor '{y.name}' is {float(v):.6g} (zero point "
                                f"{y.quant.zero_point}), outside int32 ({why}): "
                                "re-quantize the model with a realistic output scale")
                return


def _check_op_quantization(graph: Graph, op: Operator, problems: list[str]) -> None:
    """The per-operator rules of TFLite's Prepare() for int8 kernels, and the accumulator
    range of the convolutions (bias + 255 * sum |w| must fit int32, or the int32
    accumulation overflows: undefined in C, refused here)."""
    where = _where(op)
    t = lambda k: graph.tensors[op.inputs[k]]        # noqa: E731
    y = graph.tensors[op.outputs[0]] if op.outputs else None
    if y is None or y.dtype not in ("int8", "uint8") or not _scales_ok(y):
        return
    _check_fused_activation(op, y, problems)
    if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        x, w = t(0), t(1)
        if (op.type != "FULLY_CONNECTED" and x.dtype == "uint8" and _scales_ok(x, w)
                and len(w.quant.scales) == 1):   # PopulateConvolutionQuantizationParams: legacy uint8
            _check_bias_scale(graph, op, _real_scale(x) * float(np.float32(w.quant.scales[0])),
                              _real_scale(y), problems)
        if not _scales_ok(x, w) or x.dtype != "int8" or w.dtype != "int8":
            return
        xs, ys = _real_scale(x), _real_scale(y)
        ws = np.asarray(w.quant.scales, np.float32).astype(np.float64).reshape(-1)
        reals = xs * ws / ys                   # in double from the float32 scales, as TFLite
        bad = np.flatnonzero(~(reals < 2.0**30))
        if len(bad):
            c = int(bad[0])
            _effective(where, "the effective scale input*filter/output", float(reals[c]),
                       f"tensors '{x.name}' (scale {xs:.6g}), '{w.name}' (channel {c}, scale "
                       f"{float(ws[c]):.6g}), '{y.name}' (scale {ys:.6g})", problems)
        if op.type == "FULLY_CONNECTED" and len(ws) == 1:
            _check_bias_scale(graph, op, xs * float(ws[0]), ys, problems)
        _check_accumulator(graph, op, problems)
    elif op.type in ("ADD", "SUB"):    # PrepareGeneralSubOp takes ADD's multipliers
        a, b = t(0), t(1)
        if not _scales_ok(a, b):
            return
        sa, sb, so = _real_scale(a), _real_scale(b), _real_scale(y)
        twice_max = float(np.float32(2 * np.float32(max(sa, sb))))
        with np.errstate(over="ignore"):   # (1 << 20) * output->params.scale: a float32 product
            den = float(np.float32(np.float32(1 << 20) * np.float32(so)))
        from .quantization import add_output_multiplier   # the rule runtime.interpreter checks too
        if math.isinf(den) and math.isfinite(twice_max):
            # the multiplier is then 0: QuantizeMultiplierSmallerThanOneExp's CHECK_GT(0) aborts
            problems.append(f"{where}: the output multiplier 2*max(input scales)/(2^20*output scale) is 0 "
                            f"(2^20 * output scale {so:.6g} overflows float32 in TFLite's Prepare, which then "
                            f"aborts), tensors '{a.name}', '{b.name}' -> '{y.name}': check the output scale")
        else:
            _effective(where, "the output multiplier 2*max(input scales)/(2^20*output scale)",
                       add_output_multiplier(sa, sb, so),
                       f"tensors '{a.name}', '{b.name}' -> '{y.name}'", problems, smaller_than_one=True)
    elif op.type in ("MUL", "BATCH_MATMUL"):
        a, b = t(0), t(1)
        if not _scales_ok(a, b):
            return
        _effective(where, "the effective scale input1*input2/output",
                   _real_scale(a) * _real_scale(b) / _real_scale(y),
                   f"tensors '{a.name}', '{b.name}' -> '{y.name}'", problems)
        if op.type == "BATCH_MATMUL" and len(a.shape) >= 2:
            depth = int(a.shape[-1])
            if depth * 255 * 255 > 2**31 - 1:
                problems.append(f"{where}: depth {depth} can overflow the int32 accumulator "
                                f"(255*255*depth), tensor '{a.name}': split the product")
    elif op.type in ("QUANTIZE", "RELU", "RELU6", "RELU_N1_TO_1", "MEAN", "SQUARED_DIFFERENCE"):
        x = t(0)
        if not _scales_ok(x) or x.dtype.startswith("float"):
            return
        _effective(where, "the effective scale input/output", _real_scale(x) / _real_scale(y),
                   f"tensors '{x.name}' (scale {_real_scale(x):.6g}) -> '{y.name}' "
                   f"(scale {_real_scale(y):.6g})", problems)
    elif op.type == "PRELU" and len(op.inputs) > 1 and _scales_ok(t(0), t(1)):
        # PreluPrepare's two multipliers (QuantizeMultiplier unchecked: a shift of 31 or more
        # is an undefined left shift in reference_ops::BroadcastPrelu4DSlow)
        x, al = t(0), t(1)
        xs, als, ys = _real_scale(x), _real_scale(al), _real_scale(y)
        names = f"tensors '{x.name}' (scale {xs:.6g}), '{al.name}' (scale {als:.6g}) -> '{y.name}' (scale {ys:.6g})"
        _effective(where, "the multiplier input/output", xs / ys, names, problems)
        _effective(where, "the multiplier input*alpha/output", xs * als / ys, names, problems)
    elif op.type in ("HARD_SWISH", "RSQRT") and _scales_ok(t(0)):
        # the multipliers their Prepare() quantizes (HardSwishPrepare; RsqrtPrepare's
        # 1 / (sqrt(input scale) * output scale)): finite and representable, or refused
        f32, xs, ys = np.float32, _real_scale(t(0)), _real_scale(y)
        if op.type == "HARD_SWISH":
            hires = float(f32(f32(1.0 / 128.0) * f32(xs)))
            reals = [("the output multiplier (input scale/128)/output scale", hires / ys),
                     ("the ReLU-ish multiplier (input scale/128)/(3/32768)", hires / (3.0 / 32768.0))]
        else:
            with np.errstate(under="ignore"):   # a denormal output scale: the float32 product is 0
                den = float(f32(np.sqrt(f32(xs)) * f32(ys)))
            reals = [("the multiplier 1/(sqrt(input scale)*output scale)", 1.0 / den if den > 0 else math.inf)]
        for what, real in reals:
            _effective(where, what, real, f"tensors '{t(0).name}' (scale {xs:.6g}) -> '{y.name}' "
                       f"(scale {ys:.6g})", problems)
    elif op.type == "SOFTMAX" and op.inputs and _scales_ok(t(0)):
        # PreprocessSoftmaxScaling: QuantizeMultiplierGreaterThanOne(beta * input scale * 2^26)
        # aborts TFLite unless it is > 1; a beta of nan, 0 or -1 was reported by the lowering as
        # an "unsupported operator" whose input scale was too small (trial9)
        from .quantization import softmax_params
        beta, x = op.options.get("Beta", 1.0), t(0)
        try:
            softmax_params(beta, x.quant.scale)
        except (ValueError, TypeError, OverflowError):
            problems.append(f"{where}: beta {beta!r} x input scale {_real_scale(x):.6g} of tensor '{x.name}' "
                            "x 2^26 is not above 1, which TFLite's int8 SOFTMAX needs (PreprocessSoftmaxScaling "
                            "aborts): " + RECONVERT)
    if op.type == "AVERAGE_POOL_2D" and len(t(0).shape) == 4:
        o = op.options
        window = min(int(o.get("FilterHeight", 1)), int(t(0).shape[1])) * \
            min(int(o.get("FilterWidth", 1)), int(t(0).shape[2]))
        if 128 * window > 2**31 - 1:
            problems.append(f"{where}: a {window}-element window can overflow the int32 sum "
                            f"(128 * window >= 2^31), tensor '{t(0).name}': use a smaller pooling window")
    if op.type == "MEAN" and 255 * t(0).size > 2**31 - 1:
        problems.append(f"{where}: the mean of up to {t(0).size} elements can overflow the int32 "
                        f"sum (255 * count >= 2^31), tensor '{t(0).name}': reduce fewer elements")
    if op.type in ("LOGISTIC", "SOFTMAX") and y.dtype == "int8":
        # activations.cc: int8 outputs of both are fixed to scale 1/256, zero point -128
        if y.quant.zero_point != -128 or abs(y.quant.scale - 1 / 256) > 1e-9:
            problems.append(f"{where}: output '{y.name}' has scale {y.quant.scale:.6g} and zero point "
                            f"{y.quant.zero_point}; TFLite's int8 {op.type} requires 1/256 and -128: "
                            + RECONVERT)


def _check_bias_scale(graph: Graph, op: Operator, product: float, ys: float, problems: list[str]) -> None:
    """tensorflow/lite/kernels/kernel_util.cc GetQuantizedConvolutionMultipler, which a
    FULLY_CONNECTED with a per-tensor filter calls in Prepare(), and CONV_2D /
    DEPTHWISE_CONV_2D with a uint8 input (PopulateConvolutionQuantizationParams, legacy uint8
    models: measured, a bias scale 0.021 of the output scale off input * filter is refused,
    0.019 prepares; an int8 input with a per-tensor filter is not checked): |input scale * filter scale -
    bias scale| / output scale <= 0.02, in double, with the bias's per-tensor scale (0 when it
    has one per channel: TFLite's legacy params). mcuforge requantizes from input * filter and
    never reads the bias scale, so a bias scale far from it compiled a model TFLite refuses
    (trial9: a bias scale of 3.4e38; measured with ai-edge-litert: 1% of the output scale
    prepares, 3% fails, a per-channel filter skips the check)."""
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return
    b = graph.tensors[op.inputs[2]]
    if b.quant is None or len(b.quant.scales) == 0:
        return
    bs = float(np.float32(b.quant.scales[0])) if len(b.quant.scales) == 1 else 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        ratio = abs(product - bs) / ys
    if not ratio <= 0.02:   # nan too
        problems.append(f"{_where(op)}: bias '{b.name}' has scale {bs:.6g}, input*filter scale is "
                        f"{product:.6g}: they differ by {ratio:.3g} of the output scale {ys:.6g}, TFLite "
                        "allows 0.02 (GetQuantizedConvolutionMultipler): re-export the model from the converter")


def _check_accumulator(graph: Graph, op: Operator, problems: list[str]) -> None:
    """|bias| + 256 * sum |w| < 2^31 for every output channel: then no partial sum of the
    int32 accumulation can overflow, whatever the int8 input (|x - zero point| <= 255, and
    the folded-bias forms add at most |zero point| * sum |w| to the bias)."""
    w = graph.tensors[op.inputs[1]]
    if w.data is None:
        return
    wd = np.asarray(w.data, np.int64)
    if wd.ndim < 2 or wd.size == 0:
        return                         # a malformed filter: the shape check names it
    if op.type == "DEPTHWISE_CONV_2D":
        sums = np.abs(wd).reshape(-1, wd.shape[-1]).sum(axis=0)
    else:
        sums = np.abs(wd).reshape(wd.shape[0], -1).sum(axis=1)
    bias = np.zeros(len(sums), np.int64)
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        b = graph.tensors[op.inputs[2]]
        if b.data is not None:
            bd = np.asarray(b.data).reshape(-1)
            if bd.dtype.kind not in "iu":
                return
            if len(bd) == len(sums):
                bias = bd.astype(np.int64)
            elif len(bd):
                problems.append(f"{_where(op)}: bias '{b.name}' has {len(bd)} values for {len(sums)} "
                                "output channels: " + RECONVERT)
                return
    bound = np.abs(bias) + 256 * sums
    bad = np.flatnonzero(bound > 2**31 - 1)
    if len(bad):
        c = int(bad[0])
        problems.append(f"{_where(op)}: output channel {c} can overflow the int32 accumulator "
                        f"(bias {int(bias[c])} + 256 * sum|w| {int(sums[c])} >= 2^31), tensor '{w.name}': "
                        "re-quantize the bias or the weights")


# --- stage 2: int8 end to end ----------------------------------------------------------

INT16X8_ADVICE = (
    "mcuforge's kernels are int8 only: re-convert with int8 activations "
    "(converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] instead of "
    "EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, and a representative_dataset)")

# Operators whose kernels compute one image (their parameters carry no batch): a batch > 1
# input is refused rather than computed for the first image only.
ONE_IMAGE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D")


def _ops(graph: Graph, ops) -> str:
    return ", ".join(f"#{op.index} {op.type}" for op in ops)


def check_int8(graph: Graph) -> None:
    """A model the int8 generator cannot compile exactly is refused in one line with the fix:
    float or hybrid models, int16-activation (16x8) models, float operators behind a DEQUANTIZE
    inside the graph, dynamic dimensions, zero-element tensors, batch > 1 into one-image
    kernels. Run after passes.strip_io_edges: float32/uint8 inputs and outputs behind a
    QUANTIZE/DEQUANTIZE edge are accepted (graph.edges) and are int8 here.
    Raises UnsupportedModelError."""
    if not graph.inputs or not graph.outputs:
        raise UnsupportedModelError(f"the model has {len(graph.inputs)} inputs and {len(graph.outputs)} "
                                    "outputs; it needs at least one of each: re-export it")
    activations = ({i for op in graph.operators for i in op.inputs + op.outputs
                    if i in graph.tensors and not graph.tensors[i].is_constant}
                   | {i for i in graph.inputs + graph.outputs if i in graph.tensors})
    int16 = sorted(i for i in activations if graph.tensors[i].dtype == "int16")
    if int16:
        t = graph.tensors[int16[0]]
        raise UnsupportedModelError(
            f"an int16-activation (16x8) quantized model: {len(int16)} tensor(s) such as '{t.name}' "
            f"are int16 with int8 weights; " + INT16X8_ADVICE)
    for role, ids in (("input", graph.inputs), ("output", graph.outputs)):
        for idx in ids:
            t = graph.tensors[idx]
            if any(d > 65535 for d in t.shape) or max(shape4(t.shape), default=0) > 65535:
                # model_io_info's uint16_t shape[4] (graph.shape4; attack6: a
                # 70,000-wide input gave C that did not compile)
                raise UnsupportedModelError(
                    f"{role} '{t.name}' has shape {list(t.shape)}: a graph {role}'s dimensions are "
                    "at most 65,535 (model.h describes them as uint16_t): reshape it in the model "
                    "(e.g. [1, 70000] as [1, 280, 250])")
            if t.dtype != "int8" or t.quant is None:
                if t.dtype.startswith("float") and role == "input" and graph.consumers(idx):
                    users = graph.consumers(idx)
                    if any(u.type != "QUANTIZE" for u in users):
                        kind = (f"a float model: {_ops(graph, users)} read(s) it as float; "
                                "an input with a float edge is read by one QUANTIZE to int8 only")
                    else:
                        kind = "a float model"
                else:
                    kind = "a float model" if t.dtype.startswith("float") else f"{t.dtype} {role}"
                raise UnsupportedModelError(
                    f"{role} '{t.name}' is {t.dtype} ({kind}); mcuforge needs int8 end to end: "
                    + FULL_INT8_ADVICE)
            if t.quant.per_channel:
                raise UnsupportedModelError(f"{role} '{t.name}' is quantized per channel; "
                                            "an activation needs one scale: re-convert the model")
    # a DEQUANTIZE inside the graph whose float result feeds float operators
    for op in graph.operators:
        if (op.type != "DEQUANTIZE" or not op.inputs or not op.outputs or op.inputs[0] not in graph.tensors
                or graph.tensors[op.inputs[0]].is_constant):
            continue
        users = graph.consumers(op.outputs[0])
        floats = [u for u in users if u.type != "QUANTIZE"] or users
        where = (f"inside the graph, feeding float operator(s) {_ops(graph, floats)}" if floats else
                 "as a float32 output beside other outputs of the same tensor")
        raise UnsupportedModelError(
            f"operator #{op.index} DEQUANTIZE turns '{graph.tensors[op.inputs[0]].name}' into float32 "
            f"{where}; mcuforge computes in int8 only (float32 edges: one QUANTIZE at an input, one "
            "DEQUANTIZE at an output): " + FULL_INT8_ADVICE)
    for op in graph.operators:
        for idx in op.inputs + op.outputs:
            if idx < 0:
                continue
            t = graph.tensors[idx]
            if t.dtype.startswith("float") and not t.is_constant:
                raise UnsupportedModelError(
                    f"operator #{op.index} {op.type} computes in {t.dtype} (tensor '{t.name}'): "
                    "the model is not fully integer-quantized; " + FULL_INT8_ADVICE)
    for idx in graph.inputs:
        t = graph.tensors.get(idx)
        sig = t.shape_signature if t is not None else None
        if sig is not None and any(d < 0 for d in sig[1:]):
            raise UnsupportedModelError(
                f"input '{t.name}' has dynamic dimensions {list(sig)} (stored as {list(t.shape)}); "
                "mcuforge plans memory for fixed shapes: compile it at one size with --input-shape "
                f"{','.join(str(d) if d >= 0 else 'N' for d in sig)} (N: your size), or re-convert with a fixed "
                "input size (keras.Input(shape, batch_size=1), or a concrete function with a fixed tf.TensorSpec)")
    for idx in sorted(activations):
        t = graph.tensors[idx]
        if t.size == 0:
            role = "output" if idx in graph.outputs else "tensor"
            made = graph.producer(idx)
            raise UnsupportedModelError(
                f"{role} '{t.name}' has 0 elements (shape {list(t.shape)})"
                + (f", made by #{made.index} {made.type}" if made else "")
                + "; a zero-size tensor cannot be computed or read: remove it from the model")
    batched = [op for op in graph.operators if op.type in ONE_IMAGE_OPS and op.inputs
               and op.inputs[0] in graph.tensors and len(graph.tensors[op.inputs[0]].shape) == 4
               and graph.tensors[op.inputs[0]].shape[0] > 1]
    if batched:
        n = graph.tensors[batched[0].inputs[0]].shape[0]
        raise UnsupportedModelError(
            f"batch {n}: {_ops(graph, batched)} compute one image per call in mcuforge's kernels; "
            "re-convert with batch size 1 (keras.Input(shape, batch_size=1)) and invoke once per image")


# --- stage 3: what the C will hold -----------------------------------------------------

_HEADER = Path(__file__).parent / "kernels" / "include" / "mcuf_nn.h"
_CTYPES = {"int8_t": (-2**7, 2**7 - 1), "uint8_t": (0, 2**8 - 1), "int16_t": (-2**15, 2**15 - 1),
           "uint16_t": (0, 2**16 - 1), "int32_t": (-2**31, 2**31 - 1), "uint32_t": (0, 2**32 - 1)}


@lru_cache(maxsize=1)
def struct_fields() -> dict[str, dict[str, str]]:
    """{struct type: {field: C type or nested struct type}} parsed from mcuf_nn.h, the one
    place the parameter blocks are declared."""
    text = re.sub(r"/\*.*?\*/", "", _HEADER.read_text(), flags=re.S)
    out: dict[str, dict[str, str]] = {}
    for body, name in re.findall(r"typedef\s+struct\s*\{(.*?)\}\s*(\w+)\s*;", text, flags=re.S):
        fields: dict[str, str] = {}
        for decl in body.split(";"):
            decl = decl.strip()
            if not decl:
                continue
            ctype, rest = decl.split(None, 1)
            for f in rest.split(","):
                fields[re.sub(r"\[.*\]", "", f).strip()] = ctype
        out[name] = fields
    return out


def _field_problems(struct: str, params: dict, prefix: str = "") -> list[str]:
    fields = struct_fields().get(struct)
    if fields is None:
        return []
    bad = []
    for key, value in params.items():
        ctype = fields.get(key)
        if ctype is None:
            continue
        if isinstance(value, dict):
            bad += _field_problems(ctype, value, prefix + key + ".")
            continue
        rng = _CTYPES.get(ctype)
        if rng is None or isinstance(value, str):
            continue
        for v in (value if isinstance(value, (list, tuple, np.ndarray)) else [value]):
            if not rng[0] <= int(v) <= rng[1]:
                bad.append(f"{prefix}{key} = {int(v)} does not fit {ctype}")
                break
    return bad


def check_steps(graph: Graph, steps) -> None:
    """Every parameter-struct value fits its C field, and every constant array its element
    type; else UnsupportedModelError, one line per layer (never a silent truncation)."""
    problems = []
    for step in steps:
        bad = _field_problems(step.params_type, step.params)
        for c in step.consts:
            rng = _CTYPES.get(c.ctype)
            if rng is not None and c.values.size and (int(c.values.min()) < rng[0]
                                                      or int(c.values.max()) > rng[1]):
                bad.append(f"constant {c.name} holds values outside {c.ctype}")
        if bad:
            out = graph.tensors.get(step.output)
            problems.append(f"{_where(step.op)}: {'; '.join(bad)} ({step.kernel}), tensor "
                            f"'{out.name if out else step.output}': the layer is too large for the "
                            "kernel's parameter block; reduce its size")
    _raise(problems)


def check_plan(plan, limit: int = MAX_BYTES) -> None:
    """The planned arena fits the 32-bit address space (or the given limit)."""
    if plan.arena_bytes > limit:
        raise UnsupportedModelError(
            f"the planned arena needs {plan.arena_bytes:,} bytes, more than {limit:,}: "
            "use a smaller input resolution or width multiplier")
