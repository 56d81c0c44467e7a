"""Writes real .tflite flatbuffers with the `tflite` schema package, no TensorFlow needed.

Two users: the tests build their one-op models here and run them through TFLite's own
reference interpreter (every shape, stride, padding and quantization corner can be swept
without a converter), and `codegen fit` builds whole architectures (codegen/architectures.py)
with random weights, to put them through the real compiler and planner.
"""
from __future__ import annotations

import flatbuffers
import numpy as np
import tflite

_TYPES = {"int8": tflite.TensorType.INT8, "int32": tflite.TensorType.INT32,
          "float32": tflite.TensorType.FLOAT32, "uint8": tflite.TensorType.UINT8,
          "int16": tflite.TensorType.INT16, "int64": tflite.TensorType.INT64}


class ModelBuilder:
    def __init__(self):
        self.tensors: list[dict] = []
        self.ops: list[dict] = []
        self.versions: dict[str, int] = {}   # operator code version, 1 unless set (int8 ELU: 2)

    def tensor(self, shape, dtype="int8", scale=None, zero_point=None, data=None, axis=0,
               name=None) -> int:
        if scale is not None:
            scale = np.atleast_1d(np.asarray(scale, np.float32))
            zp = np.atleast_1d(np.asarray(0 if zero_point is None else zero_point, np.int64))
            if zp.size == 1 and scale.size > 1:
                zp = np.repeat(zp, scale.size)
            zero_point = zp
        self.tensors.append(dict(shape=list(shape), dtype=dtype, scale=scale, zero_point=zero_point,
                                 data=None if data is None else np.asarray(data, dtype=dtype),
                                 axis=axis, name=name or f"t{len(self.tensors)}"))
        return len(self.tensors) - 1

    def op(self, name: str, inputs, outputs, options: str | None = None, **fields) -> None:
        self.ops.append(dict(name=name, inputs=list(inputs), outputs=list(outputs),
                             options=options, fields=fields))

    # --- serialization ---

    @staticmethod
    def _aligned_bytes(b: flatbuffers.Builder, raw: bytes) -> int:
        b.StartVector(1, len(raw), 16)
        b.head = b.head - len(raw)
        b.Bytes[b.head:b.head + len(raw)] = raw
        b.vectorNumElems = len(raw)
        return b.EndVector()

    def build(self, inputs, outputs) -> bytes:
        b = flatbuffers.Builder(1024)
        # buffers: 0 is the empty sentinel; each constant gets its own
        buffer_of = {}
        buffer_data = [None]
        for i, t in enumerate(self.tensors):
            if t["data"] is not None:
                buffer_of[i] = len(buffer_data)
                buffer_data.append(t["data"].tobytes())
        buffer_offsets = []
        for raw in buffer_data:
            vec = self._aligned_bytes(b, raw) if raw else None
            tflite.BufferStart(b)
            if vec is not None:
                tflite.BufferAddData(b, vec)
            buffer_offsets.append(tflite.BufferEnd(b))

        tensor_offsets = []
        for i, t in enumerate(self.tensors):
            name = b.CreateString(t["name"])
            shape = b.CreateNumpyVector(np.asarray(t["shape"], np.int32))
            quant = None
            if t["scale"] is not None:
                sc = b.CreateNumpyVector(t["scale"])
                zp = b.CreateNumpyVector(t["zero_point"])
                tflite.QuantizationParametersStart(b)
                tflite.QuantizationParametersAddScale(b, sc)
                tflite.QuantizationParametersAddZeroPoint(b, zp)
                tflite.QuantizationParametersAddQuantizedDimension(b, t["axis"])
                quant = tflite.QuantizationParametersEnd(b)
            tflite.TensorStart(b)
            tflite.TensorAddShape(b, shape)
            tflite.TensorAddType(b, _TYPES[t["dtype"]])
            tflite.TensorAddBuffer(b, buffer_of.get(i, 0))
            tflite.TensorAddName(b, name)
            if quant is not None:
                tflite.TensorAddQuantization(b, quant)
            tensor_offsets.append(tflite.TensorEnd(b))

        codes = []
        for o in self.ops:
            if o["name"] not in codes:
                codes.append(o["name"])
        code_offsets = []
        for name in codes:
            code = getattr(tflite.BuiltinOperator, name)
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddVersion(b, self.versions.get(name, 1))
            code_offsets.append(tflite.OperatorCodeEnd(b))

        op_offsets = []
        for o in self.ops:
            opts = None
            if o["options"]:
                vectors = {k: b.CreateNumpyVector(np.asarray(v, np.int32))
                           for k, v in o["fields"].items() if isinstance(v, (list, tuple))}
                getattr(tflite, f"{o['options']}Start")(b)
                for k, v in o["fields"].items():
                    getattr(tflite, f"{o['options']}Add{k}")(b, vectors.get(k, v))
                opts = getattr(tflite, f"{o['options']}End")(b)
            ins = b.CreateNumpyVector(np.asarray(o["inputs"], np.int32))
            outs = b.CreateNumpyVector(np.asarray(o["outputs"], np.int32))
            tflite.OperatorStart(b)
            tflite.OperatorAddOpcodeIndex(b, codes.index(o["name"]))
            tflite.OperatorAddInputs(b, ins)
            tflite.OperatorAddOutputs(b, outs)
            if opts is not None:
                tflite.OperatorAddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, o["options"]))
                tflite.OperatorAddBuiltinOptions(b, opts)
            op_offsets.append(tflite.OperatorEnd(b))

        def vector(start, items):
            start(b, len(items))
            for it in reversed(items):
                b.PrependUOffsetTRelative(it)
            return b.EndVector()

        tensors_vec = vector(tflite.SubGraphStartTensorsVector, tensor_offsets)
        ops_vec = vector(tflite.SubGraphStartOperatorsVector, op_offsets)
        in_vec = b.CreateNumpyVector(np.asarray(inputs, np.int32))
        out_vec = b.CreateNumpyVector(np.asarray(outputs, np.int32))
        sg_name = b.CreateString("main")
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, tensors_vec)
        tflite.SubGraphAddInputs(b, in_vec)
        tflite.SubGraphAddOutputs(b, out_vec)
        tflite.SubGraphAddOperators(b, ops_vec)
        tflite.SubGraphAddName(b, sg_name)
        sg = tflite.SubGraphEnd(b)

        subgraphs = vector(tflite.ModelStartSubgraphsVector, [sg])
        opcodes = vector(tflite.ModelStartOperatorCodesVector, code_offsets)
        buffers = vector(tflite.ModelStartBuffersVector, buffer_offsets)
        desc = b.CreateString("mcuforge single-op test")
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, opcodes)
        tflite.ModelAddSubgraphs(b, subgraphs)
        tflite.ModelAddDescription(b, desc)
        tflite.ModelAddBuffers(b, buffers)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())
