"""The models users bring (issue 18, shared cases): float32 and uint8 edges, several outputs,
and the kinds of model refused in one line with the fix -- dynamic shapes, zero-element
outputs, int16x8 models, LOGISTIC's output scale, batch > 1 -- and `codegen verify` answering
in one line (or through a repaired copy, or TFLite Micro) where TFLite refuses a file."""
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codegen.errors import CodegenError
from codegen.io_edges import dequantize_f32, quantize_f32, requantize_table
from codegen.verify import verify

CASES = Path(__file__).parent / "fixtures" / "cases" / "models"


def run_codegen(*args):
    return subprocess.run([sys.executable, "-m", "codegen.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("case", ["c16_float_io", "c12_uint8_io", "c11_two_outputs"])
def test_shared_case_bit_exact(case, kernels, tmp_path):
    """Every layer, every output (float32/uint8 ones bit for bit), 20 inputs, both kernel sets."""
    res = verify(CASES / f"{case}.tflite", tmp_path / "gen", inputs=20, seed=3, kernels=kernels)
    assert res.ok, res.mismatches[:3]
    assert res.inputs == 20 and res.reference == "litert"
    assert res.distinct_outputs == 20          # the outputs depend on the input
    assert res.output_bytes_compared == 20 * {"c16_float_io": 4, "c12_uint8_io": 4, "c11_two_outputs": 7}[case]


REFUSED = {
    "c10_dynamic_hw": ["dynamic dimensions [1, -1, -1, 3]", "--input-shape 1,N,N,3",
                       "re-convert with a fixed input size"],
    "c13b_zero_size_output": ["op #0 SLICE: tensor 3 't3' has shape [1, 4, 4, 0], no elements"],
    "c16b_int16x8": ["int16-activation (16x8)", "TFLITE_BUILTINS_INT8"],
    "c05_logistic_out_scale": ["#0 LOGISTIC", "1/256 and -128"],
    "c20_batch2": ["batch 2", "#0 CONV_2D", "batch size 1"],
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_shared_case_refused_in_one_line(case, tmp_path):
    for cmd in (["emit", CASES / f"{case}.tflite", "-o", tmp_path / "out"],
                ["verify", CASES / f"{case}.tflite", "--inputs", "2"]):
        r = run_codegen(*cmd)
        assert r.returncode == 2 and "Traceback" not in r.stderr + r.stdout
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        for needle in REFUSED[case]:
            assert needle in lines[0], lines[0]


def test_manifest_and_header_describe_every_edge_and_output(tmp_path):
    from codegen.pipeline import generate
    man = generate(CASES / "c16_float_io.tflite", tmp_path / "f")
    assert [m["type"] for m in man["inputs"] + man["outputs"]] == ["float32", "float32"]
    assert man["inputs"][0]["edge"]["name"] == "serving_default_keras_tensor:0"
    assert [layer["op"] for layer in man["layers"]] == ["CONV_2D", "MEAN", "FULLY_CONNECTED"]
    h = (tmp_path / "f" / "model.h").read_text()
    assert "#define MODEL_INPUT_0_TYPE MCUF_IO_FLOAT32" in h and "model_set_input_f32" in h
    man = generate(CASES / "c11_two_outputs.tflite", tmp_path / "two")
    assert len(man["outputs"]) == 2 and [o["shape"] for o in man["outputs"]] == [[1, 4], [1, 3]]
    h = (tmp_path / "two" / "model.h").read_text()
    assert "#define MODEL_NUM_OUTPUTS 2" in h and "#define MODEL_OUTPUT_1_SIZE 3" in h


def test_edge_entry_points_refuse_the_wrong_index(tmp_path):
    from codegen.pipeline import generate
    from firmware_tools.host import HostModel
    generate(CASES / "c11_two_outputs.tflite", tmp_path / "g")
    host = HostModel(tmp_path / "g")
    with pytest.raises(ValueError, match="no f32 edge"):
        host.set_input_f32(0, np.zeros(768, np.float32))
    assert host._lib.model_input_at(1) is not None and not host._lib.model_input_at(1)   # NULL


def test_float_conversions_against_tflite_single_ops(tmp_path):
    """The Python model of QUANTIZE/DEQUANTIZE (which the tests' expectations use) against
    TFLite's reference kernels on exact ties, their neighbours, clamping and every int8 value;
    and the generated C (host build of c16) against it."""
    from runtime.interpreter import make_interpreter
    from codegen.tflite_writer import ModelBuilder
    for scale, zp in ((0.1, 0), (0.007843138, -1), (1 / 3, 5), (2.5e-4, -128)):
        mb = ModelBuilder()
        x = mb.tensor([1, 2048], "float32")
        q = mb.tensor([1, 2048], "int8", scale, zp)
        y = mb.tensor([1, 2048], "float32")
        mb.op("QUANTIZE", [x], [q])
        mb.op("DEQUANTIZE", [q], [y])
        it = make_interpreter(mb.build([x], [y]), reference=True, preserve_all_tensors=True)
        rng = np.random.default_rng(0)
        r = np.concatenate([np.arange(-200, 200) + 0.5, np.arange(-200, 200) - 0.5,
                            rng.uniform(-300, 300, 2048 - 800)])
        xs = (r.astype(np.float32) * np.float32(scale)).astype(np.float32)
        xs[:3] = [np.float32(scale) * np.float32(0.5), -np.float32(scale) * np.float32(2.5), np.float32(scale) * np.float32(1e6)]
        it.set_tensor(it.get_input_details()[0]["index"], xs.reshape(1, -1))
        it.invoke()
        want_q = it.get_tensor(q).reshape(-1)
        assert np.array_equal(quantize_f32(xs, scale, zp), want_q)
        want_y = it.get_tensor(it.get_output_details()[0]["index"]).reshape(-1)
        assert np.array_equal(dequantize_f32(want_q, scale, zp).view(np.uint32), want_y.view(np.uint32))
    # uint8 <-> int8 tables: same scale is the XOR with 0x80, other scales requantize
    assert np.array_equal(requantize_table("uint8", 0.5, 128, "int8", 0.5, 0),
                          (np.arange(256) ^ 0x80).astype(np.uint8).view(np.int8))
    assert requantize_table("int8", 0.5, 0, "uint8", 1.0, 128)[0] == 128



def _quirk_model() -> bytes:
    """A depthwise convolution whose per-channel int32 bias carries quantized_dimension 3 (the
    depthwise filter's), as older converters wrote it: TFLite refuses the file."""
    from codegen.tflite_writer import ModelBuilder
    from opmodels import depthwise_model
    orig = ModelBuilder.tensor

    def tensor(self, shape, dtype="int8", scale=None, zero_point=None, data=None, axis=0, **kw):
        if dtype == "int32" and len(shape) == 1 and np.size(scale) > 1:
            axis = 3
        return orig(self, shape, dtype, scale, zero_point, data, axis, **kw)
    ModelBuilder.tensor = tensor
    try:
        return depthwise_model(np.random.default_rng(0), k=3, stride=1, padding="SAME", dilation=1,
                               in_c=8, mult=1)
    finally:
        ModelBuilder.tensor = orig


def test_verify_repairs_the_bias_quirk_and_falls_back_to_tflite_micro(tmp_path, write_model):
    from codegen.oracle import ask
    from runtime.interpreter import make_interpreter
    path = write_model(_quirk_model())
    with pytest.raises(ValueError, match="quantized_dimension"):
        make_interpreter(path, reference=True)
    r = run_codegen("verify", path, "--inputs", "5")
    assert r.returncode == 0 and "BIT-EXACT" in r.stdout and "quantized_dimension 0" in r.stdout
    # without the repair TFLite refuses; TFLite Micro answers, and says so, with the same bytes
    feeds = [{0: np.random.default_rng(k).integers(-128, 128, (1, 8, 8, 8)).astype(np.int8)} for k in range(3)]
    direct = ask(path, feeds, [2 + 1], repair=False)
    assert direct.backend == "tflm" and "refused" in direct.notes[0] and "compared with TFLite Micro" in direct.notes[0]
    repaired = ask(path, feeds, [3])
    assert repaired.backend == "litert"
    for a, b in zip(direct.tensors, repaired.tensors):
        assert np.array_equal(a[3], b[3])


def test_verify_survives_a_reference_that_aborts(tmp_path, write_model):
    """TFLite's int8 SOFTMAX aborts the process on a flat head over 1000 classes: one line."""
    from opmodels import softmax_model
    path = write_model(softmax_model(np.random.default_rng(0), outer=1, depth=1000, input_scale=1e-5))
    r = run_codegen("verify", path, "--inputs", "2")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no reference could run this model" in lines[0] and "SIGABRT" in lines[0]


def bench_edge_input(info: dict) -> np.ndarray:
    """What bench.c writes through input `info`'s edge (see run_edges there), in float32/uint8."""
    from codegen.verify import deterministic_input
    p = deterministic_input(info["bytes"])
    if info["type"] == "uint8":
        return p.view(np.uint8)
    i = np.arange(info["bytes"])
    frac = ((i % 5) - 2).astype(np.float32) / np.float32(4)
    return (((p.astype(np.int32) - info["zero_point"]).astype(np.float32) + frac)
            * np.float32(info["scale"])).astype(np.float32)


FIXTURES = Path(__file__).parent / "fixtures" / "models"


@pytest.mark.parametrize("case", ["c16_float_io", "c12_uint8_io", "c11_two_outputs",
                                  "mobilenet_v1_a025_96_float_io", "mobilenet_v1_a025_96_two_heads"])
def test_edges_and_outputs_on_cortex_m7(case, tmp_path):
    """QEMU's Cortex-M7 (single-precision FPU, hard-float ABI): every int8 output of the bench
    input, and the float32/uint8 outputs of the pattern fed through the float32/uint8 entry
    points, equal TFLite's reference, bit for bit."""
    from codegen.oracle import ask
    from codegen.pipeline import generate
    from codegen.verify import deterministic_input
    from firmware_tools.boards import get_board
    from firmware_tools.build import build_firmware
    from firmware_tools.host import HostModel
    from firmware_tools.qemu import parse_bench, run_qemu
    b = get_board("qemu-mps2-an500")
    model = CASES / f"{case}.tflite" if case.startswith("c") else FIXTURES / f"{case}.tflite"
    man = generate(model, tmp_path / "gen", b.target)
    res = run_qemu(b, build_firmware(tmp_path / "gen", b).elf, timeout=60)
    assert res.returncode == 0, res.console
    bench = parse_bench(res.console)
    # int8 body: the deterministic int8 input; the host build (verified above) gives the same
    generate(model, tmp_path / "host", "host")
    host = HostModel(tmp_path / "host")
    for k, info in enumerate(man["inputs"]):
        host.set_input(k, deterministic_input(info["bytes"]))
    host.run()
    assert bench["outputs"] == [host.output(k).reshape(-1).tolist() for k in range(len(man["outputs"]))]
    # through the edges, against TFLite
    feed = {(i["edge"]["tensor"] if i.get("edge") else i["tensor"]): bench_edge_input(i) if i.get("edge")
            else deterministic_input(i["bytes"]) for i in man["inputs"]}
    outer = [o["edge"]["tensor"] if o.get("edge") else o["tensor"] for o in man["outputs"]]
    ref = ask(model, [feed], outer).tensors[0]
    for k, o in enumerate(man["outputs"]):
        want = ref[outer[k]].reshape(-1)
        if o["type"] == "float32":
            assert np.array_equal(bench["outputs_f32"][k].view(np.uint32), want.astype(np.float32).view(np.uint32))
        elif o["type"] == "uint8":
            assert bench["outputs_u8"][k] == want.tolist()
        else:
            assert bench["outputs"][k] == want.tolist()
    assert bool(bench["outputs_f32"] or bench["outputs_u8"]) == (case not in ("c11_two_outputs", "mobilenet_v1_a025_96_two_heads"))


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
def test_dynamic_input_compiled_at_an_explicit_size(kernels, tmp_path):
    """c10 (shape_signature [1,-1,-1,3], stored 1x1) at 40x24 with --input-shape: shapes
    re-inferred through every operator, TFLite resized the same way, bit-exact every layer."""
    res = verify(CASES / "c10_dynamic_hw.tflite", tmp_path / "gen", inputs=20, seed=4, kernels=kernels,
                 input_shapes=[[1, 40, 24, 3]])
    assert res.ok and res.inputs == 20, res.mismatches[:3]
    import json
    man = json.loads((tmp_path / "gen" / "model.json").read_text())
    assert man["input"]["shape"] == [1, 40, 24, 3] and man["layers"][0]["output_shape"] == [1, 20, 12, 8]
    r = run_codegen("emit", CASES / "c10_dynamic_hw.tflite", "--input-shape", "2,40,24,3", "-o", tmp_path / "x")
    assert r.returncode == 2 and "fixes dimension 0 at 1" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("given,want", [
    ("2,40,24,3", "only its -1 dimensions can be chosen: --input-shape 1,40,24,3"),
    ("40,24", "has 4 ([1, -1, -1, 3]): give all 4, e.g. --input-shape 1,40,24,3"),
    ("1,40,24", "give all 4, e.g. --input-shape 1,N,N,3"),
])
def test_input_shape_refusals_show_the_shape_to_give(given, want, tmp_path):
    """A wrong --input-shape said what was wrong ('has 2 dimensions, input ... has 4') but not
    what to type: the line now ends in a shape the model takes."""
    r = run_codegen("emit", CASES / "c10_dynamic_hw.tflite", "--input-shape", given, "-o", tmp_path / "x")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().endswith(want), r.stderr


def test_dequantize_inside_the_graph_names_the_float_operators(tmp_path, write_model):
    """int8 -> DEQUANTIZE -> float ADD/TANH -> QUANTIZE: refused, naming the float operators."""
    from codegen.tflite_writer import ModelBuilder
    mb = ModelBuilder()
    x = mb.tensor([1, 8], "int8", 0.05, 0)
    f = mb.tensor([1, 8], "float32")
    g = mb.tensor([1, 8], "float32")
    h = mb.tensor([1, 8], "float32")
    y = mb.tensor([1, 8], "int8", 0.05, 0)
    mb.op("DEQUANTIZE", [x], [f])
    mb.op("TANH", [f], [g])
    mb.op("ADD", [g, f], [h], "AddOptions", FusedActivationFunction=0)
    mb.op("QUANTIZE", [h], [y])
    r = run_codegen("emit", write_model(mb.build([x], [y])), "-o", tmp_path / "out")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "#0 DEQUANTIZE" in r.stderr and "#1 TANH, #2 ADD" in r.stderr, r.stderr


@pytest.mark.parametrize("core", ["qemu-mps2-an386", "qemu-mps3-an547", "cortex-m0plus-soft"])
def test_float_edges_on_other_cores(core, tmp_path):
    """The float32 entry points with a single-precision FPU (M4: fpv4-sp-d16), on the M55, and
    with soft float: code built for the Cortex-M0+ (ARMv6-M, -mfloat-abi=soft: libgcc's
    __aeabi_fdiv/__aeabi_fmul, no VFP instruction in the ELF) runs on QEMU's Cortex-M7 model,
    whose instruction set contains ARMv6-M's. Every core's float bits equal TFLite's."""
    import dataclasses
    from codegen.oracle import ask
    from codegen.pipeline import generate
    from firmware_tools.boards import get_board
    from firmware_tools.build import build_firmware
    from firmware_tools.qemu import parse_bench, run_qemu
    soft = core == "cortex-m0plus-soft"
    board = get_board("qemu-mps2-an500" if soft else core)
    build_board = dataclasses.replace(board, manifest={**board.manifest, "target": "cortex-m0plus"}) if soft else board
    model = CASES / "c16_float_io.tflite"
    man = generate(model, tmp_path / "gen", build_board.target)
    fw = build_firmware(tmp_path / "gen", build_board)
    if soft:
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(fw.elf)], capture_output=True, text=True).stdout
        assert "__aeabi_fdiv" in dis and not any(f"\t{i}" in dis for i in ("vdiv", "vmul", "vcvt"))
    res = run_qemu(board, fw.elf, timeout=60)
    assert res.returncode == 0, res.console
    got = parse_bench(res.console)["outputs_f32"][0]
    i = man["inputs"][0]
    ref = ask(model, [{i["edge"]["tensor"]: bench_edge_input(i).reshape(i["shape"])}],
              [man["outputs"][0]["edge"]["tensor"]]).tensors[0]
    assert np.array_equal(got.view(np.uint32), ref[man["outputs"][0]["edge"]["tensor"]].reshape(-1).view(np.uint32))


def two_inputs_model() -> bytes:
    """Input 0 int8, input 1 float32 (a QUANTIZE edge); output 0 ADD (int8), output 1 MUL
    behind a DEQUANTIZE (float32)."""
    from codegen.tflite_writer import ModelBuilder
    mb = ModelBuilder()
    a = mb.tensor([1, 5, 3, 4], "int8", 0.04, -3)
    bf = mb.tensor([1, 5, 3, 4], "float32")
    b = mb.tensor([1, 5, 3, 4], "int8", 0.03, 7)
    s = mb.tensor([1, 5, 3, 4], "int8", 0.07, 2)
    m = mb.tensor([1, 5, 3, 4], "int8", 0.002, -10)
    mf = mb.tensor([1, 5, 3, 4], "float32")
    mb.op("QUANTIZE", [bf], [b])
    mb.op("ADD", [a, b], [s], "AddOptions", FusedActivationFunction=0)
    mb.op("MUL", [a, b], [m], "MulOptions", FusedActivationFunction=0)
    mb.op("DEQUANTIZE", [m], [mf])
    return mb.build([a, bf], [s, mf])


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
def test_two_inputs_two_outputs_mixed_edges(kernels, tmp_path, write_model):
    path = write_model(two_inputs_model())
    res = verify(path, tmp_path / "gen", inputs=20, seed=5, kernels=kernels)
    assert res.ok, res.mismatches[:3]
    assert res.output_bytes_compared == 20 * 2 * 60 and res.distinct_outputs == 20
    import json
    man = json.loads((tmp_path / "gen" / "model.json").read_text())
    assert [t["type"] for t in man["inputs"]] == ["int8", "float32"]
    assert [t["type"] for t in man["outputs"]] == ["int8", "float32"]
    h = (tmp_path / "gen" / "model.h").read_text()
    assert "#define MODEL_NUM_INPUTS 2" in h and "#define MODEL_INPUT_1_TYPE MCUF_IO_FLOAT32" in h


def test_two_inputs_on_cortex_m7_and_over_hil(tmp_path, write_model):
    """The bench firmware fills both inputs (input 1 through its float entry point) and prints
    both outputs; the HIL validator writes both inputs and reads both outputs: TFLite's bytes."""
    from codegen.oracle import ask
    from codegen.pipeline import generate
    from codegen.verify import deterministic_input
    from firmware_tools.boards import get_board
    from firmware_tools.build import build_firmware
    from firmware_tools.qemu import QemuSerial, parse_bench, run_qemu
    from runtime.hil.link import HilLink
    from runtime.hil.validate import validate
    path = write_model(two_inputs_model())
    b = get_board("qemu-mps2-an500")
    man = generate(path, tmp_path / "gen", b.target)
    res = run_qemu(b, build_firmware(tmp_path / "gen", b).elf, timeout=60)
    bench = parse_bench(res.console)
    i0, i1 = man["inputs"]
    feed = {i0["tensor"]: deterministic_input(i0["bytes"]).reshape(i0["shape"]),
            i1["edge"]["tensor"]: bench_edge_input(i1).reshape(i1["shape"])}
    o0, o1 = man["outputs"]
    ref = ask(path, [feed], [o0["tensor"], o1["edge"]["tensor"]]).tensors[0]
    assert np.array_equal(bench["outputs_f32"][1].view(np.uint32), ref[o1["edge"]["tensor"]].reshape(-1).view(np.uint32))
    generate(path, tmp_path / "hil", b.target)
    elf = build_firmware(tmp_path / "hil", b, tmp_path / "fw", app="validate").elf
    with QemuSerial(b, elf) as q, HilLink(q.url) as link:
        rep = validate(link, path, inputs=5)
        assert len(link.info.inputs) == 2 and [t.type for t in link.info.inputs] == ["int8", "float32"]
    assert rep.ok and rep.bytes_compared == 5 * 120, rep.render()


def test_hostile_tensor_names_stay_inside_comments_and_strings(tmp_path, write_model):
    from codegen.tflite_writer import ModelBuilder
    mb = ModelBuilder()
    x = mb.tensor([1, 8], "float32", name='in */ #error x "\\\n??=')
    q = mb.tensor([1, 8], "int8", 0.05, 0)
    y = mb.tensor([1, 8], "int8", 0.05, 0, name="out */ int bad;")
    mb.op("QUANTIZE", [x], [q])
    mb.op("RELU", [q], [y])
    res = verify(write_model(mb.build([x], [y])), tmp_path / "gen", inputs=3)   # gcc -Werror builds it
    assert res.ok
    h = (tmp_path / "gen" / "model.h").read_text()
    assert "*/ #error" not in h and "*/ int bad" not in h
