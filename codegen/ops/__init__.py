"""Operators as modules: one module per operator family, each declaring one `OpRecord` per
operator and one `KernelRecord` per C kernel (see registry.py). Importing this package
registers them all; `codegen.lowering` drives the lowering from these records."""
from __future__ import annotations

from . import convolution, data_movement, elementwise, fully_connected, pooling, requantize, softmax, tables  # noqa: F401  (registration)
from . import heads, legacy  # noqa: F401  (registration: head operators, legacy uint8 kernels)
from . import folded  # noqa: F401  (registration: structure-only records of operators the passes fold)
from .registry import KERNELS, OPS, ConstArray, KernelRecord, OpRecord, Step, kernel, supported_ops  # noqa: F401
from .shapes import ShapeError, check_shapes, shape_problems  # noqa: F401

SUPPORTED_OPS = supported_ops()
