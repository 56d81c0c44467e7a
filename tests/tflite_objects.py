"""A .tflite model as the TFLite schema's object tree (ai_edge_litert.schema_py_generated's
object API), for the tests, fuzzers and fixture scripts that damage or edit a real model:
unpack it, change fields, pack it again.

    m = unpack(path)                                  # schema ModelT
    m.subgraphs[0].tensors[2].quantization.scale = np.array([1e38], np.float32)
    path.write_bytes(pack(m))                         # or edited(path, edit_function)

Fields a file leaves at their default are written back explicitly (Pack writes every field),
so a default can be changed too, which an in-place byte edit cannot do.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable


def schema():
    """ai_edge_litert's generated schema module (the ModelT, BuiltinOperator, ... classes)."""
    from ai_edge_litert import schema_py_generated as s
    return s


def unpack(src: Path | str | bytes):
    """A .tflite file (path) or its bytes -> the schema's ModelT."""
    data = src if isinstance(src, (bytes, bytearray)) else Path(src).read_bytes()
    return schema().ModelT.InitFromPackedBuf(bytes(data), 0)


def pack(model) -> bytes:
    """A ModelT -> .tflite bytes (file identifier TFL3)."""
    import flatbuffers
    b = flatbuffers.Builder(1 << 16)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def edited(src: Path | str | bytes, edit: Callable) -> bytes:
    """unpack(src), edit(model) in place, pack: the edited model's bytes."""
    m = unpack(src)
    edit(m)
    return pack(m)
