"""Valid but unusual graphs (found by the `attack4` review): compiled into C that builds with
-Wall -Wextra -Werror and is bit-exact, host and firmware, or refused in one line."""
from pathlib import Path

import numpy as np
from tflite_objects import pack as _pack   # an edited ModelT back to .tflite bytes

from conftest import FIXTURE_MODELS

MODEL = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"


def _edited(tmp_path: Path, name: str, edit) -> Path:
    from ai_edge_litert import schema_py_generated as schema
    m = schema.ModelT.InitFromPackedBuf(MODEL.read_bytes(), 0)
    edit(m.subgraphs[0])
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(_pack(m))
    return path


def test_a_graph_whose_output_is_its_input_compiles_and_is_bit_exact(tmp_path):
    """outputs = [the input]: every operator is dead, 0 layers. Was: `emit` accepted it, but
    the C failed -Werror ('unused parameter last' in model_invoke_until), so `codegen verify`
    ended in a BuildError traceback, and the validation firmware failed -Werror=type-limits
    (`last >= MODEL_NUM_LAYERS - 1` with 0 layers)."""
    from codegen.pipeline import generate
    from codegen.verify import verify
    from firmware_tools.boards import get_board
    from firmware_tools.build import build_firmware
    path = _edited(tmp_path, "output_is_input", lambda sg: setattr(sg, "outputs", np.asarray(sg.inputs)))
    res = verify(path, tmp_path / "host", inputs=3)
    assert res.ok and res.inputs == 3 and res.output_bytes_compared == 3 * 96 * 96 * 3
    board = get_board("qemu-mps2-an500")
    generate(path, tmp_path / "gen", board.target)
    c = (tmp_path / "gen" / "model.c").read_text()
    assert "(void)last;" in c and "{0u, 0u}," in c
    for app in ("validate", "bench"):
        assert build_firmware(tmp_path / "gen", board, tmp_path / f"fw-{app}", app=app).elf.exists()


def _chain_model(n: int) -> bytes:
    """n AVERAGE_POOL_2D (1x1 or 3x3 SAME, stride 1) in a chain on [1, 8, 8, 4] int8."""
    from ai_edge_litert import schema_py_generated as S
    m = S.ModelT()
    m.version, m.description = 3, b"chain"
    oc = S.OperatorCodeT()
    oc.builtinCode = oc.deprecatedBuiltinCode = S.BuiltinOperator.AVERAGE_POOL_2D
    oc.version = 1
    m.operatorCodes, m.buffers = [oc], [S.BufferT()]
    sg = S.SubGraphT()
    sg.tensors, sg.operators = [], []
    for i in range(n + 1):
        t = S.TensorT()
        t.shape, t.type, t.buffer, t.name = np.array([1, 8, 8, 4], np.int32), S.TensorType.INT8, 0, f"t{i}".encode()
        t.quantization = S.QuantizationParametersT()
        t.quantization.scale, t.quantization.zeroPoint = np.array([0.05], np.float32), np.array([-3], np.int64)
        sg.tensors.append(t)
    for i in range(n):
        op = S.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, np.array([i], np.int32), np.array([i + 1], np.int32)
        o = S.Pool2DOptionsT()
        o.padding, o.strideW, o.strideH = S.Padding.SAME, 1, 1
        o.filterWidth = o.filterHeight = 3 if i % 2 else 1
        op.builtinOptionsType, op.builtinOptions = S.BuiltinOptions.Pool2DOptions, o
        sg.operators.append(op)
    sg.inputs, sg.outputs = np.array([0], np.int32), np.array([n], np.int32)
    m.subgraphs = [sg]
    return _pack(m)


def test_the_planner_places_like_first_fit_over_every_buffer():
    """_place compares a unit only with the buffers alive with it (was: with every placed
    buffer, O(n^2) per ordering; a 5000-operator chain took 138 s to emit, now 5 s): the
    offsets must be those of the exhaustive first fit, on random lifetimes and in-place pairs."""
    import random
    from codegen.planner import Buffer, _lowest_base, _place

    def exhaustive(units):
        placed = []
        for unit in units:
            forbidden = [(p.offset - rel - b.size + 1, p.offset + p.size - rel)
                         for b, rel in unit for p in placed if p.first <= b.last and b.first <= p.last]
            base = _lowest_base(forbidden)
            for b, rel in unit:
                b.offset = base + rel
                placed.append(b)
        return max((b.offset + b.size for b in placed), default=0)

    rng = random.Random(1)
    for _ in range(200):
        spec = []
        for _ in range(rng.randrange(1, 40)):
            first = rng.randrange(-1, 30)
            last = first + rng.choice([0, 1, 2, 5, 30]) if rng.random() > 0.05 else first - 1
            unit = [(first, last, rng.randrange(1, 5000), 0)]
            if rng.random() < 0.3:      # an in-place pair: a second buffer at an offset inside
                unit.append((last, last + 1, rng.randrange(1, 3000), rng.randrange(0, 64)))
            spec.append(unit)
        got = [[(Buffer(0, size, f, l), rel) for f, l, size, rel in u] for u in spec]
        want = [[(Buffer(0, size, f, l), rel) for f, l, size, rel in u] for u in spec]
        assert _place(got) == exhaustive(want)
        assert [b.offset for u in got for b, _ in u] == [b.offset for u in want for b, _ in u]


def test_a_3000_operator_chain_compiles(tmp_path):
    from codegen.pipeline import compile_graph
    path = tmp_path / "chain.tflite"
    path.write_bytes(_chain_model(3000))
    c = compile_graph(path, "dsp")
    assert len(c.steps) == 3000 and c.plan.arena_bytes == 2 * 8 * 8 * 4


def test_a_depthwise_bias_omitted_as_minus_one_is_refused_and_two_inputs_are_bit_exact(tmp_path):
    """TFLite's DEPTHWISE_CONV_2D runs without a bias given as 2 inputs, and refuses a third
    input of -1 at prepare ('Tensor at index 2 was optional but was expected'): mcuforge
    compiled the -1 form, with no reference to be bit-exact with (attack4)."""
    import subprocess
    import sys
    from codegen.verify import verify

    def drop(sg, minus_one):
        op = sg.operators[1]
        op.inputs = np.asarray(list(op.inputs[:2]) + ([-1] if minus_one else []), np.int32)
    absent = _edited(tmp_path, "dw_bias_absent", lambda sg: drop(sg, True))
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "emit", "--target", "cortex-m7", str(absent),
                        "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "DEPTHWISE_CONV_2D" in ln]
    assert len(lines) == 1 and "input 2 is omitted (-1)" in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    missing = _edited(tmp_path, "dw_bias_missing", lambda sg: drop(sg, False))
    res = verify(missing, tmp_path / "host", inputs=2)
    assert res.ok and res.inputs == 2
