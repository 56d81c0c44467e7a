"""Operator versions (schema.fbs OperatorCode.version): a version TFLite's reference resolver
does not register (CONV_2D 1000, SOFTMAX 0) is refused in one line naming the operator, its
version and the highest one known, as TFLite's InterpreterBuilder refuses it; every table
entry (codegen/op_versions.py) is re-measured on the installed ai-edge-litert."""
import subprocess
import sys

import pytest

from conftest import ROOT
from codegen.errors import UnsupportedModelError
from codegen.op_versions import MAX_VERSION
from codegen.ops import OPS
from codegen.tflite_reader import parse_model
from codegen.validate import validate_graph

s = pytest.importorskip("ai_edge_litert.schema_py_generated")
CODES = {k: v for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
SMALL = ROOT / "tests/fixtures/cases/models/c16_float_io.tflite"


def _pack(m) -> bytes:
    from tflite_objects import pack
    return pack(m)


def _only_code(code: int, version: int) -> bytes:
    """A model with one int8 tensor (input = output), no operator and one operator code:
    TFLite resolves every code of the model, used or not."""
    m = s.ModelT()
    m.version = 3
    oc = s.OperatorCodeT()
    oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), version
    t = s.TensorT()
    t.shape, t.type, t.buffer, t.name = [1, 4], s.TensorType.INT8, 0, b"x"
    sg = s.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators = [t], [0], [0], []
    m.operatorCodes, m.subgraphs, m.buffers = [oc], [sg], [s.BufferT()]
    return _pack(m)


def _with_version(path, op: str, version: int) -> bytes:
    m = s.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    for oc in m.operatorCodes:
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == CODES[op]:
            oc.version = version
    return _pack(m)


def test_every_compiled_builtin_has_a_max_version():
    assert {op for op in OPS if op in CODES} <= set(MAX_VERSION)


def test_table_is_what_tflite_reference_resolver_registers():
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    def resolved(op, v):
        try:
            Interpreter(model_content=_only_code(CODES[op], v),
                        experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
            return True
        except Exception as e:          # ValueError: "Didn't find op for builtin opcode ..."
            assert "Didn't find op" in str(e), str(e)
            return False
    wrong = {op: top for op, top in MAX_VERSION.items() if not (resolved(op, top) and not resolved(op, top + 1))}
    assert not wrong, wrong
    assert not resolved("CONV_2D", 0)


@pytest.mark.parametrize("op,version,expect", [
    ("CONV_2D", 1000, "CONV_2D version 1000, but TFLite's reference kernels know CONV_2D versions 1 to 8"),
    ("QUANTIZE", 7, "QUANTIZE version 7, but TFLite's reference kernels know QUANTIZE versions 1 to 6"),
    ("DEQUANTIZE", 0, "DEQUANTIZE version 0; operator versions start at 1"),
])
def test_unknown_version_refused_in_one_line(op, version, expect):
    with pytest.raises(UnsupportedModelError) as e:
        validate_graph(parse_model(_with_version(SMALL, op, version), "v.tflite"))
    lines = str(e.value).splitlines()
    assert len(lines) == 1 and expect in lines[0] and f"op #" in lines[0] and "tensor" in lines[0], lines


def test_highest_known_version_accepted():
    validate_graph(parse_model(_with_version(SMALL, "CONV_2D", MAX_VERSION["CONV_2D"]), "v.tflite"))


def test_cli_refusal_exit_code(tmp_path):
    bad = tmp_path / "v.tflite"
    bad.write_bytes(_with_version(SMALL, "CONV_2D", 1000))
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "emit", bad, "-o", tmp_path / "out"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "version 1000" in r.stderr and "at most version 8" in r.stderr


def test_version_only_the_default_kernels_know_is_not_called_refused_by_tflite():
    """DEPTHWISE_CONV_2D 7 (int4 weights in TFLite's op_version.cc) loads in TFLite's default
    interpreter (runtime classify runs it): the refusal names the reference kernels, not TFLite
    as a whole, and its fix is a full-integer int8 conversion (was 're-convert with a converter
    whose DEPTHWISE_CONV_2D is at most version 6': a newer converter writes the same versions)."""
    from ai_edge_litert.interpreter import Interpreter
    model = _with_version(ROOT / "tests/fixtures/models/mobilenet_v1_a025_96_rgb.tflite", "DEPTHWISE_CONV_2D", 7)
    Interpreter(model_content=model)            # the default resolver registers version 7
    with pytest.raises(UnsupportedModelError) as e:
        validate_graph(parse_model(model, "v.tflite"))
    line = str(e.value)
    assert "TFLite's reference interpreter refuses the model" in line and "(TFLite refuses" not in line, line
    assert "full-integer quantization" in line and "at most version 6" in line, line
