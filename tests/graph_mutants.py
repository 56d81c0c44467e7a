"""Garbage on parsed graphs, for the tests that check the generator lowers a damaged graph or
refuses it in one line (test_heads, test_legacy_uint8): one mutation stream and one outcome rule."""
from __future__ import annotations

import copy

from codegen import passes
from codegen.errors import CodegenError
from codegen.io_edges import strip_io_edges
from codegen.legacy_uint8 import convert_uint8_graph
from codegen.lowering import lower
from codegen.ops import check_shapes
from codegen.validate import check_int8

GARBAGE_INTS = [0, -1, -7, 1, 2, 3, 2**31]
GARBAGE_OPTS = [0, -2, None, "x", 1.5, True, 2**33, [1, 2]]


def mutate(g, rng, dtypes: list[str] | None = None) -> None:
    """Up to three operators of graph g each get one tensor damaged: a dimension replaced by a
    garbage int, the rank cut or padded with 1s, an option set to garbage, a constant's values
    replaced, (with dtypes) the dtype swapped for one of them, or the zero points replaced.
    In place; rng: numpy Generator (the stream each caller's seed fixes)."""
    for op in rng.choice(g.operators, min(3, len(g.operators))):
        tensors = [i for i in op.inputs + op.outputs if i >= 0]
        t = g.tensors[int(rng.choice(tensors))]
        kind = rng.integers(6 if dtypes else 5)
        if kind == 0:
            t.shape = tuple(int(rng.choice(GARBAGE_INTS)) if rng.random() < 0.3 else d for d in t.shape)
        elif kind == 1:
            t.shape = t.shape[:int(rng.integers(0, len(t.shape) + 1))] + (1,) * int(rng.integers(0, 3))
        elif kind == 2 and op.options:
            key = rng.choice(sorted(op.options))
            op.options[key] = GARBAGE_OPTS[int(rng.integers(len(GARBAGE_OPTS)))]
        elif kind == 3 and t.is_constant and t.data.dtype.kind in "iu":
            t.data = rng.integers(-5, 9, t.data.shape).astype(t.data.dtype)
        elif kind == 4 and dtypes:
            t.dtype = str(rng.choice(dtypes))
        elif t.quant is not None:
            t.quant.zero_points = rng.integers(-128, 256, t.quant.zero_points.shape)


def lowers_or_refuses(g, strip_edges: bool = False) -> bool:
    """Runs graph g through the generator's stages up to lowering (reference and dsp kernels):
    True when it lowers, False when it is refused with a CodegenError of one line (or one line
    per operator, the shape check's form); any other exception, or a longer message, fails."""
    try:
        if strip_edges:
            strip_io_edges(g)
        convert_uint8_graph(g)
        passes.fold_float_islands(g)
        check_int8(g)
        passes.run_all(g)
        check_shapes(g)
        for kernels in ("reference", "dsp"):
            lower(copy.deepcopy(g), kernels)
        return True
    except CodegenError as e:
        lines = str(e).splitlines()
        assert len(lines) == 1 or all(line.startswith("op #") for line in lines), str(e)
        return False
