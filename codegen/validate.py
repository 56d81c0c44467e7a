"""Checks made before any work: is this a fully int8-quantized model we can compile?"""
from __future__ import annotations

from .errors import UnsupportedModelError
from .graph import Graph

FULL_INT8_ADVICE = (
    "convert with full-integer quantization: converter.optimizations = [tf.lite.Optimize.DEFAULT], "
    "a representative_dataset, converter.target_spec.supported_ops = "
    "[tf.lite.OpsSet.TFLITE_BUILTINS_INT8], inference_input_type = inference_output_type = tf.int8")

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
