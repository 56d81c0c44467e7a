"""Legacy uint8 graphs (asymmetric uint8 activations and weights, the TFLite 1.x
quantization of the hosted `mobilenet_v1_*_quant.tflite`), compiled exactly.

Why a shift by 128 is exact: TFLite's uint8 reference kernels compute on differences
value - zero point (and filter + filter_offset), never on raw values, so storing every
uint8 tensor as int8 (u - 128, zero point - 128) leaves all of their arithmetic unchanged.
The exceptions are handled here:
- weights keep a zero point (about 128 in uint8, so near but rarely exactly 0 in int8):
  CONV_2D and DEPTHWISE_CONV_2D get the `_wzp` kernels, which add filter_offset to every
  weight as reference_ops::Conv / reference_ops::DepthwiseConv do; FULLY_CONNECTED's kernel
  takes the same offset (reference_ops::FullyConnected);
- AVERAGE_POOL_2D rounds the non-negative uint8 sum half up ((sum + n/2) / n), where the
  int8 kernel rounds half away from zero: mcuf_avgpool_u8 mirrors the uint8 one;
- RESIZE_BILINEAR interpolates the raw uint8 bytes in float32 (int8: 10-bit fixed point):
  mcuf_resize_bilinear_u8 mirrors the uint8 one;
- float32 edges (QUANTIZE float32 -> uint8 in, DEQUANTIZE out) become the int8 edges'
  API conversions (io_edges), the same bytes after the shift;
- the graph's uint8 input and output stay uint8 bytes: a first layer turns the input bytes
  into the shifted int8 ones (x ^ 0x80, a 256-entry table), a last one turns the result
  back. The generated API's input and output are then the model's own uint8 bytes.
Operators whose uint8 arithmetic is not known to equal the shifted int8 one are refused.
"""
from __future__ import annotations

import numpy as np

from . import quantization as q
from .errors import UnsupportedModelError
from .graph import Graph, Operator, Quantization, Tensor
from .io_edges import strip_io_edges

# uint8 operators compiled through the shift (each checked against TFLite's uint8 kernels,
# every layer, in tests/test_legacy_uint8.py). Why each one is exact (TFLite's kernels/*.cc):
# - MUL, SUB: the uint8 and int8 reference kernels are the same arithmetic on x + offset
#   (reference_ops::MulElementwise / SubElementwise and their broadcast twins, one Prepare);
# - HARD_SWISH, MEAN, PAD, PADV2, RESIZE_NEAREST_NEIGHBOR, MAXIMUM, MINIMUM: one template
#   for both types (reference_ops::HardSwish<T> on x - zero point; QuantizedMeanOrSum<T> on
#   sum - zero point * count; the pad value the output zero point or a constant of the
#   output's quantization; a copy; a comparison, which the shift keeps in order);
# - LOGISTIC, TANH: both types look x up in a table LUTPopulate<T> fills from
#   scale * (x - zero point); the uint8 output quantization 1/256, 0 (TANH 1/128, 128) is
#   the int8 one shifted;
# - RELU, RELU6, RELU_N1_TO_1, QUANTIZE (uint8 or int8 to uint8 or int8): QuantizedReluX<T>
#   / Requantize<T> requantize x - zero point and clamp to the type's range (the clamp
#   bounds shift with it);
# - LEAKY_RELU, PRELU: one template for both types (reference_ops::QuantizeLeakyRelu<T>,
#   BroadcastPrelu4DSlow<T> / Prelu<T>) on x - zero point, clamped to the type's range;
# - LOG_SOFTMAX: the uint8 reference_ops::LogSoftmax and the int8 LogSoftmaxQuantized are the
#   same fixed-point steps on x - max of the row, output + 255 (int8: + 127, the zero point
#   LogSoftmaxPrepare requires of each) clamped, the type's minimum below the cut-off;
# - TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V: copies of bytes;
# - RESIZE_BILINEAR is not a shift apart (uint8 interpolates the raw bytes in float and
#   rounds with + 0.5, int8 in 10-bit fixed point on signed values): its own kernel,
#   mcuf_resize_bilinear_u8, mirrors the uint8 one.
# Refused: every operator not listed.
SHIFTABLE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D",
                 "MAX_POOL_2D", "SOFTMAX", "RESHAPE", "SQUEEZE", "ADD", "CONCATENATION",
                 "MUL", "SUB", "HARD_SWISH", "LOGISTIC", "TANH", "MEAN", "PAD", "PADV2",
                 "RELU", "RELU6", "RELU_N1_TO_1", "QUANTIZE", "RESIZE_NEAREST_NEIGHBOR",
                 "MAXIMUM", "MINIMUM", "RESIZE_BILINEAR", "LEAKY_RELU", "PRELU", "LOG_SOFTMAX",
                 "TRANSPOSE", "SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V")

# byte x (read as int8) -> byte x ^ 0x80 (as int8): uint8 u <-> int8 u - 128
XOR80_TABLE = np.array([(x + 128) if x < 0 else (x - 128) for x in range(-128, 128)], np.int8)


def is_legacy_uint8(graph: Graph) -> bool:
    """A graph that computes in uint8: some operator other than a QUANTIZE / DEQUANTIZE edge
    reads or writes a quantized uint8 tensor; a QUANTIZE uint8 -> uint8 (a requantization)
    counts. (uint8 input/output QUANTIZE edges around an int8 body, what the converter
    writes for inference_input_type=tf.uint8, are not legacy graphs: the edges keep their
    own handling.)"""
    for op in graph.operators:
        ts = [graph.tensors.get(i) for i in op.inputs + op.outputs if i >= 0]
        if op.type in ("QUANTIZE", "DEQUANTIZE") and not all(t is not None and t.dtype == "uint8" for t in ts):
            continue        # an edge; a uint8 -> uint8 requantization is a legacy operator
        for t in ts:
            if t is not None and t.dtype == "uint8" and t.quant is not None:
                return True
    return False


# uint8 outputs TFLite's Prepare fixes (activations.cc, SigmoidPrepare: exactly 1/256 and 0,
# as quantization.logistic_table checks the int8 1/256 and -128): op type -> (scale, zero point)
FIXED_UINT8_OUTPUTS = {"LOGISTIC": (1 / 256, 0)}


def _check_fixed_outputs(graph: Graph) -> None:
    """Refuse, in the model's own uint8 terms (before the shift turns 0 into -128), a uint8
    LOGISTIC whose output quantization TFLite's Prepare refuses.
    Raises UnsupportedModelError, one line per such operator."""
    problems = []
    for op in graph.operators:
        if op.type not in FIXED_UINT8_OUTPUTS or not op.outputs:
            continue
        y = graph.tensors.get(op.outputs[0])
        if y is None or y.dtype != "uint8" or y.quant is None or len(y.quant.scales) != 1:
            continue
        scale, zp = FIXED_UINT8_OUTPUTS[op.type]
        if float(np.float32(y.quant.scale)) != scale or int(y.quant.zero_point) != zp:
            problems.append(f"op #{op.index} {op.type}: output '{y.name}' has scale {float(y.quant.scale):.6g} "
                            f"and zero point {int(y.quant.zero_point)}; TFLite's uint8 {op.type} requires "
                            f"1/256 and {zp} (its Prepare refuses this "
                            "model): re-convert it")
    if problems:
        raise UnsupportedModelError("\n".join(problems))


def _check_mixed_types(graph: Graph) -> None:
    """Refuse an operator other than QUANTIZE / DEQUANTIZE that reads or writes both uint8 and
    int8 tensors: TFLite's kernels dispatch on one of them and reinterpret the other's bytes
    (attack6: a RESIZE_BILINEAR uint8 -> int8 read its uint8 input as int8), or fail in
    Prepare (ADD); after the shift both would be int8 and the difference lost.
    Raises UnsupportedModelError, one line per such operator."""
    problems = []
    for op in graph.operators:
        if op.type in ("QUANTIZE", "DEQUANTIZE"):
            continue
        ts = [graph.tensors.get(i) for i in op.inputs + op.outputs if i >= 0]
        u8 = [t for t in ts if t is not None and t.dtype == "uint8"]
        i8 = [t for t in ts if t is not None and t.dtype == "int8"]
        if u8 and i8:
            problems.append(f"op #{op.index} {op.type}: mixes uint8 tensor '{u8[0].name}' and int8 tensor "
                            f"'{i8[0].name}'; TFLite reads one as the other: re-convert the model with one "
                            "type, or put a QUANTIZE between them")
    if problems:
        raise UnsupportedModelError("\n".join(problems))


def convert_uint8_graph(graph: Graph) -> None:
    """Store every quantized uint8 tensor of the graph as int8 (values and zero points minus
    128), add the x ^ 0x80 layers at uint8 graph inputs and outputs, and mark each operator
    `_legacy_uint8` so lowering picks the uint8 variants. Records in graph.reference_of which
    source tensor (and byte xor) each IR tensor is compared with, and graph.uint8_edges;
    float32 edges (_float_edge) are stripped as io_edges does for int8 bodies.
    Raises UnsupportedModelError naming every operator not in SHIFTABLE_OPS (and every
    QUANTIZE / DEQUANTIZE from or to float32 that is not such an edge), in one line."""
    if not is_legacy_uint8(graph):
        return
    bad = [op for op in graph.operators if op.type not in SHIFTABLE_OPS and not _float_edge(graph, op)]
    bad += [op for op in graph.operators if op.type == "QUANTIZE" and op not in bad and not _float_edge(graph, op)
            and any(t is not None and t.dtype.startswith("float")
                    for t in (graph.tensors.get(i) for i in op.inputs + op.outputs))]
    if bad:
        raise UnsupportedModelError(
            "legacy uint8 graph with operator(s) "
            + ", ".join(f"#{op.index} {op.type}" for op in bad)
            + f" that mcuforge compiles only in int8 (uint8 supports {', '.join(SHIFTABLE_OPS)}); "
            "re-convert with full-integer int8 quantization")
    _check_mixed_types(graph)
    _check_fixed_outputs(graph)
    for t in graph.tensors.values():
        if t.dtype != "uint8" or t.quant is None:
            continue
        t.dtype = "int8"
        t.quant = Quantization(t.quant.scales, t.quant.zero_points - 128, t.quant.axis)
        if t.data is not None:
            t.data = (t.data.astype(np.int16) - 128).astype(np.int8)
        graph.reference_of[t.index] = (t.index, 0x80)
    for op in graph.operators:
        op.options["_legacy_uint8"] = True
    strip_io_edges(graph)     # float edges (QUANTIZE float -> uint8 in, DEQUANTIZE out), now int8
    _requantize_concat_inputs(graph)
    next_index = max(graph.tensors) + 1
    next_op = max((op.index for op in graph.operators), default=-1) + 1   # names op<N>_*
    for pos, idx in enumerate(list(graph.inputs)):
        if graph.reference_of.get(idx) != (idx, 0x80) or idx in graph.edges:
            continue
        edge = graph.tensors[idx]
        inner = Tensor(next_index, edge.name + "_int8", edge.shape, "int8", edge.quant)
        graph.tensors[next_index] = inner
        graph.reference_of[next_index] = (idx, 0x80)
        for op in graph.operators:
            op.inputs = [next_index if i == idx else i for i in op.inputs]
        _restore_edge(graph, edge)
        graph.operators.insert(0, Operator(next_op, "LUT", [idx], [next_index],
                                           {"_table": XOR80_TABLE, "_from": "uint8 input ^ 0x80"}))
        next_index += 1
        next_op += 1
    for pos, idx in enumerate(list(graph.outputs)):
        if graph.reference_of.get(idx) != (idx, 0x80) or idx in graph.edges:
            continue
        edge = graph.tensors[idx]
        inner = Tensor(next_index, edge.name + "_int8", edge.shape, "int8", edge.quant)
        graph.tensors[next_index] = inner
        graph.reference_of[next_index] = (idx, 0x80)
        for op in graph.operators:
            op.outputs = [next_index if o == idx else o for o in op.outputs]
            # an output read inside the graph too (a squeeze-excite MEAN that is also a head):
            # its readers take the int8 twin, not the uint8 bytes the last LUT writes (attack7:
            # the MUL read them before they were written, with the uint8 zero point; 416/432 off)
            op.inputs = [next_index if i == idx else i for i in op.inputs]
        for k, v in list(graph.aliases.items()):
            if v == idx:
                graph.aliases[k] = next_index
        _restore_edge(graph, edge)
        graph.operators.append(Operator(next_op, "LUT", [next_index], [idx],
                                        {"_table": XOR80_TABLE, "_from": "int8 ^ 0x80 -> uint8 output"}))
        next_index += 1
        next_op += 1


def _float_edge(graph: Graph, op: Operator) -> bool:
    """A QUANTIZE float32 -> uint8 reading a graph input (its only reader), or a DEQUANTIZE
    uint8 -> float32 writing a graph output: after the shift these are the float edges
    io_edges.strip_io_edges turns into API conversions (AffineQuantize's round(x / scale) +
    zero point clamped to [0, 255] is the int8 one with zero point - 128, clamped to
    [-128, 127]; Dequantize's scale * (q - zero point) is unchanged by the shift)."""
    if op.type not in ("QUANTIZE", "DEQUANTIZE") or len(op.inputs) != 1 or len(op.outputs) != 1:
        return False
    x, y = graph.tensors.get(op.inputs[0]), graph.tensors.get(op.outputs[0])
    if x is None or y is None:
        return False
    if op.type == "QUANTIZE":
        return (x.dtype == "float32" and y.dtype == "uint8" and y.quant is not None
                and x.index in graph.inputs and len(graph.consumers(x.index)) == 1)
    return (x.dtype == "uint8" and x.quant is not None and y.dtype == "float32"
            and y.index in graph.outputs and not graph.consumers(y.index))


def concat_rescale_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """reference_ops::ConcatenationWithScaling for one uint8 input whose quantization differs
    from the output's, as a table over the shifted byte: scale = in_scale * (1 / out_scale),
    bias = -in_zp * scale, out = round(u * scale + bias) + out_zp clamped to [0, 255], all in
    float32 as there; stored shifted (- 128). Zero points given in uint8 terms."""
    f32 = np.float32
    scale = f32(f32(in_scale) * f32(f32(1.0) / f32(out_scale)))
    bias = f32(f32(-in_zp) * scale)
    out = []
    for s in range(-128, 128):
        u = s + 128
        v = q.tflite_round(float(f32(f32(f32(u) * scale) + bias))) + out_zp
        out.append(min(max(v, 0), 255) - 128)
    return np.array(out, np.int8)


def _requantize_concat_inputs(graph: Graph) -> None:
    """A uint8 CONCATENATION rescales each input quantized unlike its output (float per
    element in TFLite's ConcatenationWithScaling, a function of one byte): a table layer is
    put in front of each such input, and the concatenation becomes a copy."""
    for op in list(graph.operators):
        if op.type != "CONCATENATION":
            continue
        y = graph.tensors[op.outputs[0]]
        for k, i in enumerate(op.inputs):
            x = graph.tensors[i]
            if x.quant is None or (x.quant.scale == y.quant.scale and x.quant.zero_point == y.quant.zero_point):
                continue
            idx = max(graph.tensors) + 1
            graph.tensors[idx] = Tensor(idx, f"{x.name}_rescaled", x.shape, "int8", y.quant)
            graph.reference_of[idx] = None          # not in the source model: not compared
            table = concat_rescale_table(x.quant.scale, x.quant.zero_point + 128, y.quant.scale,
                                         y.quant.zero_point + 128)
            lut = Operator(max(o.index for o in graph.operators) + 1, "LUT", [i], [idx],
                           {"_table": table, "_from": "uint8 CONCATENATION rescaling", "_legacy_uint8": True})
            graph.operators.insert(graph.operators.index(op), lut)
            op.inputs[k] = idx


def _restore_edge(graph: Graph, edge: Tensor) -> None:
    """The API tensor keeps the model's uint8 quantization; its bytes are the model's own."""
    edge.quant = Quantization(edge.quant.scales, edge.quant.zero_points + 128, edge.quant.axis)
    graph.reference_of[edge.index] = (edge.index, 0)
    graph.uint8_edges.add(edge.index)
