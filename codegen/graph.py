"""The graph IR: typed tensors and operators, independent of the flatbuffer they came from."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Quantization:
    scales: np.ndarray          # float32, one per channel or a single value
    zero_points: np.ndarray     # int64, same length as scales
    axis: int = 0               # quantized dimension for per-channel tensors

    @property
    def scale(self) -> float:
        return float(self.scales[0])

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0])

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1


@dataclass
class Tensor:
    index: int                  # index in the source model's subgraph (kept for tracing)
    name: str
    shape: tuple[int, ...]
    dtype: str                  # numpy dtype name: "int8", "int32", "float32", ...
    quant: Quantization | None = None
    data: np.ndarray | None = None   # constant contents, already shaped
    shape_signature: tuple[int, ...] | None = None   # -1 marks a dynamic dimension

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


@dataclass
class Operator:
    index: int                  # position in the source model (stable name for reports)
    type: str                   # builtin name, e.g. "CONV_2D"
    inputs: list[int]           # tensor indices; -1 for an omitted optional input
    outputs: list[int]
    options: dict = field(default_factory=dict)


@dataclass
class IoEdge:
    """A graph input or output whose type is not int8 in the source model, converted at the
    edge: a leading QUANTIZE (float32 or uint8 -> int8) or a trailing DEQUANTIZE (int8 ->
    float32) or QUANTIZE (int8 -> uint8). The generated code computes on `inner` (int8) and
    converts at the API (`<name>_set_input_f32()` ...), exactly as that operator does."""
    kind: str                   # "float32" or "uint8": the source model's input/output type
    outer: int                  # that tensor (source index)
    inner: int                  # the int8 tensor the generated code reads or writes
    op: int                     # the QUANTIZE/DEQUANTIZE operator's index in the source model


@dataclass
class Graph:
    tensors: dict[int, Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    description: str = ""
    aliases: dict[int, int] = field(default_factory=dict)  # tensor -> tensor whose bytes it shares
    problems: list[str] = field(default_factory=list)      # found while reading (validate.py reports them)
    # op index -> (options table stored, the table TFLite reads for its type): the reader gave
    # that op the expected table's fields as 0 (TFLite's parser); validate.py refuses it
    wrong_options: dict[int, tuple[str, str]] = field(default_factory=dict)
    # tensors whose constant data the reader could not take (named in `problems`): constants
    # all the same, so that their readers are not also reported as reading unwritten tensors
    bad_constants: set[int] = field(default_factory=set)
    edges: dict[int, IoEdge] = field(default_factory=dict)  # inner int8 tensor -> its I/O edge
    # legacy uint8 graphs (codegen/legacy_uint8.py): IR tensor -> (source tensor, byte xor) it
    # is compared with (None: a generated tensor), and the graph inputs/outputs whose bytes are uint8
    reference_of: dict[int, tuple[int, int] | None] = field(default_factory=dict)
    uint8_edges: set[int] = field(default_factory=set)

    def resolve(self, tensor_index: int) -> int:
        """The tensor that owns the bytes of `tensor_index` (following reshape aliases).
        Raises UnsupportedModelError on a cycle of aliases (a reshape reading its own output)."""
        seen = set()
        while tensor_index in self.aliases:
            if tensor_index in seen:
                from .errors import UnsupportedModelError
                raise UnsupportedModelError(f"tensor {tensor_index} is its own source through reshapes "
                                            "(a cycle); re-export the model from the converter")
            seen.add(tensor_index)
            tensor_index = self.aliases[tensor_index]
        return tensor_index

    def producer(self, tensor_index: int) -> Operator | None:
        for op in self.operators:
            if tensor_index in op.outputs:
                return op
        return None

    def consumers(self, tensor_index: int) -> list[Operator]:
        return [op for op in self.operators if tensor_index in op.inputs]

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]


def shape4(shape) -> list[int]:
    """A graph edge's shape as the 4 dimensions of model.h's SHAPE macros and io_info: a lower
    rank padded with leading 1s, a higher one (5-D, 6-D) with its leading dimensions multiplied
    into the first (so the 4 still multiply to the tensor's size)."""
    dims = [int(d) for d in shape]
    if len(dims) > 4:
        lead = 1
        for d in dims[:-3]:
            lead *= d
        dims = [lead] + dims[-3:]
    return [1] * (4 - len(dims)) + dims
