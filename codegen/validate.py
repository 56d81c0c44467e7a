"""Checks made before any work: is this a fully int8-quantized model we can compile?"""
from __future__ import annotations

from .errors import UnsupportedModelError
from .graph import Graph

FULL_INT8_ADVICE = (
    "convert with full-integer quantization: converter.optimizations = [tf.lite.Optimize.DEFAULT], "
    "a representative_dataset, converter.target_spec.supported_ops = "
    "[tf.lite.OpsSet.TFLITE_BUILTINS_INT8], inference_input_type = inference_output_type = tf.int8")


def check_int8(graph: Graph) -> None:
    """A float (or uint8, or hybrid) model is rejected with the conversion recipe."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedModelError(
            f"the model has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
            "mcuforge supports one of each")
    for role, idx in (("input", graph.inputs[0]), ("output", graph.outputs[0])):
        t = graph.tensors[idx]
        if t.dtype != "int8" or t.quant is None:
            kind = "a float model" if t.dtype.startswith("float") else f"{t.dtype} {role}"
            raise UnsupportedModelError(
                f"{role} '{t.name}' is {t.dtype} ({kind}); mcuforge needs int8 end to end: "
                + FULL_INT8_ADVICE)
    for op in graph.operators:
        for idx in op.inputs + op.outputs:
            if idx < 0:
                continue
            t = graph.tensors[idx]
            if t.dtype.startswith("float") and not t.is_constant:
                raise UnsupportedModelError(
                    f"operator #{op.index} {op.type} computes in {t.dtype} (tensor '{t.name}'): "
                    "the model is not fully integer-quantized; " + FULL_INT8_ADVICE)
