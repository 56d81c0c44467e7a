"""The operator and kernel registry: one record per TFLite operator, one per C kernel.

An operator record (`OpRecord`) says in one place what the generator accepts and how it
compiles it: its arity (which inputs may be omitted, i.e. -1), the element types of its
inputs and outputs, its shape function (TFLite's Prepare rules, see `codegen/ops/shapes.py`)
and its lowering (the operator -> `Step`s, calls into the kernel library). A kernel record
(`KernelRecord`) says what the planner and the cost model need to know about a C function:
its scratch size (the `*_get_buffer_size` of CMSIS-NN; defined only here, the C kernels take
the buffer as an argument), its weight layout and whether it may write its output over its
input pixel by pixel. Operator modules register both with `register_op` / `register_kernel`
at import; `codegen/ops/__init__.py` imports every family module.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..graph import Graph, Operator


@dataclass
class ConstArray:
    name: str
    ctype: str                  # "int8_t", "int16_t", "int32_t" or a struct (one row each)
    values: np.ndarray


@dataclass
class KernelRecord:
    """One C kernel (all its `_fast` twins share the record).

    name: the C function; scratch: params -> bytes of per-call working memory, planned in
    the arena like a tensor (None: the kernel takes no scratch); weight_layout: how the
    filter constant is laid out for it; pixel_ordered: it reads pixel p (and p+1) completely
    before writing pixel p's output, so the planner may place its input at the tail of its
    output (see codegen/planner.py); channel_planar: it reads channel c of its input (and
    nothing else of it) before writing channel c of its output, and writes only channel c's
    bytes, so at depth multiplier 1 its output may overwrite its input in place (TinyEngine's
    in-place depthwise); in_place: params -> whether, for that layer, the kernel reads every
    input byte it needs before it writes over it when its output starts at its input's address
    (the same use as channel_planar, for kernels that are safe only on some shapes)."""
    name: str
    scratch: Callable[[dict], int] | None = None
    weight_layout: str = ""
    pixel_ordered: bool = False
    family: str = ""
    channel_planar: bool = False
    in_place: Callable[[dict], bool] | None = None

    def writes_in_place(self, params: dict) -> bool:
        """channel_planar, or in_place(params): the planner may alias output and input."""
        return self.channel_planar or (self.in_place is not None and bool(self.in_place(params)))

    def scratch_bytes(self, params: dict) -> int:
        return 0 if self.scratch is None else int(self.scratch(params))


KERNELS: dict[str, KernelRecord] = {}


def register_kernel(name: str, *, scratch: Callable[[dict], int] | None = None, weight_layout: str = "",
                    pixel_ordered: bool = False, fast_twin: bool = False, family: str = "",
                    channel_planar: bool = False,
                    in_place: Callable[[dict], bool] | None = None) -> KernelRecord:
    """Declare a C kernel; fast_twin: a `<name>_fast` copy exists with the same contract."""
    rec = KernelRecord(name, scratch, weight_layout, pixel_ordered, family, channel_planar, in_place)
    for n in (name, name + "_fast") if fast_twin else (name,):
        if n in KERNELS:
            raise ValueError(f"kernel {n} registered twice")
        KERNELS[n] = rec
    return rec


def kernel(name: str) -> KernelRecord:
    """The record of a C kernel called by a step (KeyError: a kernel nobody declared)."""
    return KERNELS[name]


@dataclass
class Step:
    op: Operator
    kernel: str                 # C function called (a KERNELS key)
    params_type: str            # C struct type of the parameter block
    params: dict                # struct field -> value
    args: list                  # after &params: ("in", tensor) | ("out", tensor) | ("const", ConstArray) | ("null",) | ("scratch",)
    inputs: list[int]           # activation tensors read (source indices)
    output: int                 # activation tensor written (source index)
    macs: int = 0
    consts: list[ConstArray] = field(default_factory=list)
    scratch_bytes: int = field(init=False, default=0)   # from the kernel's record
    # a kernel called right after `kernel` on the bytes that call wrote (epilogue_c): the
    # fused activation's clamp after a _fast kernel, which saturates to [-128, 127] only
    epilogue: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.scratch_bytes = KERNELS[self.kernel].scratch_bytes(self.params)

    @property
    def weight_bytes(self) -> int:
        return sum(c.values.nbytes for c in self.consts)


def epilogue_c(step: Step, params: dict, out: str) -> str:
    """The C statement (indented, newline-terminated) of a step's epilogue on one call's output,
    "" if it has none: the clamp of the params' out_h * out_w * out_c bytes at `out` (a C
    pointer expression) to [act_min, act_max] -- exactly the bytes a convolution kernel writes,
    whole layer or patch (codegen/patch_schedule.py, codegen/line_buffer.py: each call's own
    params)."""
    if not step.epilogue:
        return ""
    n = params["out_h"] * params["out_w"] * params["out_c"]
    return f"    {step.epilogue}({out}, {n}u, {params['act_min']}, {params['act_max']});\n"


Shape = tuple[int, ...]
INT8 = ("int8",)
INDEX = ("int32", "int64")      # constant shape-like operands (axes, paddings, permutations)


@dataclass
class OpRecord:
    """One TFLite operator as the generator accepts it.

    inputs: (min, max) number of inputs, max -1 for any number (CONCATENATION);
    optional: input positions that may be -1 (omitted); outputs: (min, max), -1 for any;
    input_dtypes: allowed element types per input position (the last entry repeats for
    variadic operators); output_dtypes: allowed for every output;
    infer_shape: (graph, op) -> one shape per output, TFLite's Prepare rules; raises only
    codegen.ops.shapes.ShapeError; None for a structure-only record (an operator the passes
    fold or replace, codegen/ops/folded.py: its arity is checked before the passes by
    codegen/validate.py, nothing else); explain: (graph, op) -> the inputs/options the shape
    came from, for the error line; lower: (graph, op, kernels) -> Step or [Step], None for
    an operator that is only shape-checked (the passes turn it into something else);
    listed_as: the names `SUPPORTED_OPS` shows for it (default: its name); weights: the
    input positions whose constants count as the layer's parameters (`codegen inspect`);
    outputs_option: the option the number of outputs must equal (SPLIT's NumSplits)."""
    name: str
    inputs: tuple[int, int]
    input_dtypes: tuple[tuple[str, ...], ...]
    infer_shape: Callable[[Graph, Operator], list[Shape]] | None
    lower: Callable[..., object] | None
    optional: tuple[int, ...] = ()
    outputs: tuple[int, int] = (1, 1)
    output_dtypes: tuple[str, ...] = INT8
    explain: Callable[[Graph, Operator], str] | None = None
    listed_as: tuple[str, ...] | None = None
    family: str = ""
    weights: tuple[int, ...] = ()     # input positions holding trained parameters (filter, bias)
    # the option whose value the number of outputs must equal (TFLite's Prepare:
    # TF_LITE_ENSURE_EQ(NumOutputs(node), params->num_splits) in split.cc / split_v.cc)
    outputs_option: str | None = None


OPS: dict[str, OpRecord] = {}


def register_op(rec: OpRecord) -> OpRecord:
    if rec.name in OPS:
        raise ValueError(f"operator {rec.name} registered twice")
    OPS[rec.name] = rec
    return rec


def supported_ops() -> tuple[str, ...]:
    """The names of every operator the generator compiles (records with a lowering)."""
    return tuple(n for r in OPS.values() if r.lower is not None for n in (r.listed_as or (r.name,)))
