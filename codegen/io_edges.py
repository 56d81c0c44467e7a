"""Float and uint8 edges: the converter's default full-integer model takes float32 (or uint8)
and gives float32 (or uint8), with an int8 body between a leading QUANTIZE and a trailing
DEQUANTIZE (or QUANTIZE to uint8). Those edge operators leave the layer list and become
conversion functions of the generated API (`<name>_set_input_f32()`, `<name>_get_output_f32()`,
`<name>_set_input_u8()`, `<name>_get_output_u8()`); the int8 API stays as it was.

The conversions are TFLite's reference kernels, bit for bit
(tensorflow/lite/kernels/internal/reference/quantize.h, dequantize.h, requantize.h):
- QUANTIZE float32 -> int8 (AffineQuantize): q = clamp((int32)round(x / (float)scale) + zp),
  the division in float32, std::round (half away from zero);
- DEQUANTIZE int8 -> float32: y = (float)((double)scale * (q - zp)); (q - zp) has at most
  9 bits and scale 24, so the double product is exact and its one rounding to float32 is the
  float32 product: the device computes scale * (float)(q - zp) in single precision;
- QUANTIZE uint8 <-> int8 (Requantize): MultiplyByQuantizedMultiplier((v - zp_in), M, s) + zp_out,
  clamped, with M, s from input_scale / output_scale in double. One input byte gives one
  output byte, so it is a 256-entry table computed here.
"""
from __future__ import annotations

import numpy as np

from . import quantization as q
from .graph import Graph, IoEdge

EDGE_KINDS = ("float32", "uint8")


def _int8_per_tensor(t) -> bool:
    return t.dtype == "int8" and t.quant is not None and not t.quant.per_channel


def strip_io_edges(graph: Graph) -> None:
    """Graph inputs of type float32/uint8 read only by a QUANTIZE to int8, and graph outputs
    of type float32 (DEQUANTIZE of int8) or uint8 (QUANTIZE of int8), become edges: the
    operator is removed and the int8 tensor takes the tensor's place in graph.inputs/outputs.
    Anything else is left for check_int8 to refuse."""
    outputs = set(graph.outputs)
    for k, idx in enumerate(list(graph.inputs)):
        t = graph.tensors.get(idx)
        if t is None or t.dtype not in EDGE_KINDS or idx in outputs or (t.dtype == "uint8" and t.quant is None):
            continue
        users = graph.consumers(idx)
        if len(users) != 1 or users[0].type != "QUANTIZE" or users[0].inputs[0] != idx:
            continue
        op = users[0]
        inner = op.outputs[0] if op.outputs else -1
        if inner not in graph.tensors or not _int8_per_tensor(graph.tensors[inner]) or inner in outputs or inner in graph.edges:
            continue
        graph.edges[inner] = IoEdge(t.dtype, idx, inner, op.index)
        graph.inputs[k] = inner
        graph.operators.remove(op)
    for k, idx in enumerate(list(graph.outputs)):
        t = graph.tensors.get(idx)
        if t is None or t.dtype not in EDGE_KINDS or idx in graph.inputs or graph.consumers(idx):
            continue
        op = graph.producer(idx)
        want = "DEQUANTIZE" if t.dtype == "float32" else "QUANTIZE"
        if op is None or op.type != want or len(op.inputs) != 1:
            continue
        inner = op.inputs[0]
        if (inner not in graph.tensors or not _int8_per_tensor(graph.tensors[inner]) or inner in graph.outputs
                or inner in graph.edges or (t.dtype == "uint8" and t.quant is None)):
            continue
        graph.edges[inner] = IoEdge(t.dtype, idx, inner, op.index)
        graph.outputs[k] = inner
        graph.operators.remove(op)


# --- the conversions, in Python (the tests' and verify's model of TFLite and of the C) ---

def quantize_f32(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLite's reference QUANTIZE float32 -> int8 for an array of any shape: the float32
    quotient x / scale, rounded half away from zero, plus the zero point, clamped to int8.
    Finite inputs whose quotient fits int32 only (beyond that TFLite's cast is undefined)."""
    v = np.asarray(x, np.float32) / np.float32(scale)          # float32 division, as TFLite
    r = np.sign(v).astype(np.float64) * np.floor(np.abs(v.astype(np.float64)) + 0.5)
    return np.clip(r + zero_point, -128, 127).astype(np.int8)


def dequantize_f32(qv: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLite's reference DEQUANTIZE int8 -> float32: (float)(double(scale) * (q - zp))."""
    d = np.float64(np.float32(scale)) * (np.asarray(qv, np.int64) - zero_point)
    return d.astype(np.float32)


def requantize_table(in_dtype: str, in_scale: float, in_zp: int, out_dtype: str, out_scale: float,
                     out_zp: int) -> np.ndarray:
    """QUANTIZE between uint8 and int8 for each of the 256 input values (indexed by the input
    byte as unsigned: uint8 value v, or int8 value q at q & 0xFF), TFLite's Requantize with the
    multiplier of QuantizeMultiplier(double(in_scale) / double(out_scale))."""
    real = float(np.float32(in_scale)) / float(np.float32(out_scale))
    m, s = q.quantize_multiplier(real)
    lo, hi = (0, 255) if out_dtype == "uint8" else (-128, 127)
    values = np.arange(256) if in_dtype == "uint8" else np.arange(256).astype(np.uint8).view(np.int8)
    out = [min(max(q.multiply_by_quantized_multiplier(int(v) - in_zp, m, s) + out_zp, lo), hi)
           for v in values]
    return np.array(out, np.int64).astype(np.uint8 if out_dtype == "uint8" else np.int8)
