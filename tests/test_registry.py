"""The operator/kernel registry (codegen/ops) and the shape validation stage.

Every supported operator has one record; every bundled fixture's declared shapes are what
the records' shape functions (TFLite's Prepare rules) compute; hand-made disagreements are
refused with one line naming both shapes; garbage never makes a shape function raise
anything but the one error; a kernel's scratch size has one definition (Python's)."""
import copy
import subprocess
import sys

import numpy as np
import pytest

from conftest import BENCH_MODELS, FIXTURE_MODELS, ROOT
import opmodels
from codegen import passes
from codegen.errors import UnsupportedModelError
from codegen.graph import Graph
from codegen.io_edges import strip_io_edges
from codegen.lowering import SUPPORTED_OPS, lower
from codegen.ops import KERNELS, OPS, shape_problems
from codegen.pipeline import load_graph
from codegen.tflite_reader import read_model
from codegen.tflite_writer import ModelBuilder
from codegen.validate import check_int8

MODELS = sorted(FIXTURE_MODELS.glob("*.tflite")) + sorted(BENCH_MODELS.glob("*.tflite"))


def test_every_supported_operator_has_one_record():
    listed = [n for r in OPS.values() if r.lower for n in (r.listed_as or (r.name,))]
    assert sorted(listed) == sorted(SUPPORTED_OPS) and len(set(listed)) == len(listed)
    for name in SUPPORTED_OPS:
        rec = OPS.get(name) or next(r for r in OPS.values() if r.listed_as and name in r.listed_as)
        assert rec.lower is not None and rec.infer_shape is not None
        assert rec.inputs[0] >= 1 and len(rec.input_dtypes) >= 1 and rec.family


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_fixture_shapes_are_what_the_records_compute(path):
    """Before the passes (PADs and reshapes still there; the int32 shape arithmetic the passes
    fold away left out) and after them (what load_graph checks)."""
    g = read_model(path)
    strip_io_edges(g)            # float32 I/O edges become API conversions, as in load_graph
    passes.fold_float_islands(g)
    check_int8(g)
    int8_ops = [op for op in g.operators if g.tensors[op.outputs[0]].dtype == "int8"]
    assert all(op.type in OPS for op in int8_ops)
    assert shape_problems(Graph(g.tensors, int8_ops, g.inputs, g.outputs)) == []
    passes.run_all(g)
    assert shape_problems(g) == []
    assert all(op.type in OPS for op in g.operators) and g.operators


# --- hand-made disagreements: one line each, naming both shapes ---

def declared_output(fn, out, **kw) -> bytes:
    """The model opmodels' `fn` builds, with its (first) output's declared shape replaced."""
    real_build = ModelBuilder.build

    def build(self, inputs, outputs):
        self.tensors[outputs[0]]["shape"] = list(out)
        return real_build(self, inputs, outputs)
    ModelBuilder.build = build
    try:
        return fn(np.random.default_rng(0), **kw)
    finally:
        ModelBuilder.build = real_build


def refusal(write_model, data: bytes) -> str:
    with pytest.raises(UnsupportedModelError) as e:
        load_graph(write_model(data))
    return str(e.value)


def test_depthwise_output_channels_refused_by_the_cli(write_model):
    data = declared_output(opmodels.depthwise_model, [1, 24, 24, 16], k=3, stride=2, padding="SAME",
                           dilation=1, in_c=8, mult=1, h=48, w=48)
    r = subprocess.run([sys.executable, "-m", "codegen.cli", "emit", str(write_model(data)),
                        "-o", str(write_model(b"", "unused").parent / "out")],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "codegen: error: op #0 DEPTHWISE_CONV_2D: declared output [1,24,24,16], computed [1,24,24,8] "
        "from input [1,48,48,8], stride 2, SAME, filter [1,3,3,8]; output tensor 3 't3': re-export the model from the converter"]


def test_avgpool_output_with_fewer_channels_refused(write_model):
    msg = refusal(write_model, declared_output(opmodels.pool_model, [1, 5, 5, 4], kind="AVERAGE_POOL_2D",
                                               k=2, stride=2, padding="SAME", c=5))
    assert msg == ("op #0 AVERAGE_POOL_2D: declared output [1,5,5,4], computed [1,5,5,5] "
                   "from input [1,9,9,5], filter 2x2, stride 2x2, SAME; output tensor 1 't1': re-export the model from the converter")


def test_pad_amounts_disagreeing_with_the_output_refused(write_model):
    pads = [[0, 0], [1, 2], [3, 0], [0, 0]]
    msg = refusal(write_model, declared_output(opmodels.pad_model, [1, 6, 8, 3], pads=pads))
    assert msg == ("op #0 PAD: declared output [1,6,8,3], computed [1,7,8,3] from input [1,4,5,3], "
                   "paddings [[0, 0], [1, 2], [3, 0], [0, 0]]; output tensor 2 't2': re-export the model from the converter")


def test_reduce_max_keep_dims_disagreeing_with_the_output_refused(write_model):
    msg = refusal(write_model, declared_output(opmodels.mean_model, [1, 6], keep_dims=True, same_quant=True,
                                               shape=(1, 5, 7, 6), axes=(1, 2), op="REDUCE_MAX"))
    assert msg == ("op #0 REDUCE_MAX: declared output [1,6], computed [1,1,1,6] from input [1,5,7,6], "
                   "axes [1, 2], keep_dims True; output tensor 2 't2': re-export the model from the converter")


def test_conv_stride_2_same_size_refused(write_model):
    msg = refusal(write_model, declared_output(opmodels.conv_model, [1, 4, 4, 6], k=3, stride=2,
                                               padding="SAME", dilation=1, in_c=3, out_c=6, h=9, w=9))
    assert msg == ("op #0 CONV_2D: declared output [1,4,4,6], computed [1,5,5,6] from input [1,9,9,3], "
                   "stride 2, SAME, filter [6,3,3,3]; output tensor 3 't3': re-export the model from the converter")


def test_concat_axis_sum_refused(write_model):
    msg = refusal(write_model, declared_output(opmodels.split_concat_model, [1, 4, 9, 3], shape=(1, 4, 6, 3),
                                               axis=2, sizes=(2, 4), split_v=True))
    assert msg == ("op #1 CONCATENATION: declared output [1,4,9,3], computed [1,4,6,3] "
                   "from inputs [1,4,4,3] + [1,4,2,3], axis 2; output tensor 5 't5': re-export the model from the converter")


def reshape_model(out_shape) -> bytes:
    mb = ModelBuilder()
    x = mb.tensor([1, 4, 4, 2], "int8", 0.05, 3)
    shape = mb.tensor([2], "int32", data=np.array(out_shape, np.int32))
    r = mb.tensor(out_shape, "int8", 0.05, 3)
    y = mb.tensor(out_shape, "int8", 0.05, 3)
    mb.op("RESHAPE", [x, shape], [r], "ReshapeOptions", NewShape=list(out_shape))
    mb.op("RELU", [r], [y])
    return mb.build([x], [y])


def test_reshape_element_count_refused(write_model):
    msg = refusal(write_model, reshape_model([1, 30]))
    assert msg == ("op #0 RESHAPE: reshape of [1,4,4,2] (32 elements) into [1,30] (30 elements, shape "
                   "tensor 't1'); TFLite's Prepare refuses it too (reshape_utils.h): re-export the model")
    load_graph(write_model(reshape_model([2, 16]), "ok.tflite"))   # the same count is an alias


def test_every_problem_is_listed_one_line_each(write_model):
    """Two bad operators: one error, one line per problem."""
    mb = ModelBuilder()
    x = mb.tensor([1, 9, 9, 4], "int8", 0.05, 0)
    a = mb.tensor([1, 5, 5, 3], "int8", 0.05, 0)
    y = mb.tensor([1, 2, 2, 4], "int8", 0.05, 0)
    mb.op("MAX_POOL_2D", [x], [a], "Pool2DOptions", Padding=0, StrideW=2, StrideH=2, FilterWidth=2,
          FilterHeight=2, FusedActivationFunction=0)
    mb.op("MAX_POOL_2D", [a], [y], "Pool2DOptions", Padding=1, StrideW=0, StrideH=2, FilterWidth=2,
          FilterHeight=2, FusedActivationFunction=0)
    lines = refusal(write_model, mb.build([x], [y])).splitlines()
    assert lines == ["op #0 MAX_POOL_2D: declared output [1,5,5,3], computed [1,5,5,4] "
                     "from input [1,9,9,4], filter 2x2, stride 2x2, SAME; output tensor 1 't1': re-export the model from the converter",
                     "op #1 MAX_POOL_2D: option StrideW is 0, must be >= 1: re-export the model from the converter"]


def test_shape_functions_survive_garbage():
    """Random dimensions, ranks, options and constants on every operator of two fixtures:
    shape_problems returns lines, never raises, and never hides a failure as a bug line."""
    rng = np.random.default_rng(17)
    graphs = []
    for name in ("mobilenet_v3_small_a050_96_rgb", "shufflenet_v1_g3_96_rgb", "mobilevit_xxs_96_rgb"):
        g = read_model(FIXTURE_MODELS / f"{name}.tflite")
        passes.fold_float_islands(g)
        passes.run_all(g)
        graphs.append(g)
    garbage_ints = [0, -1, -7, 1, 2, 3, 2**31, 2**40]
    garbage_opts = [0, -2, None, "x", 1.5, True, 2**33, [1, 2]]
    for trial in range(300):
        g = copy.deepcopy(graphs[trial % len(graphs)])
        for op in rng.choice(g.operators, 4):
            tensors = [i for i in op.inputs + op.outputs if i >= 0]
            t = g.tensors[int(rng.choice(tensors))]
            kind = rng.integers(4)
            if kind == 0:
                t.shape = tuple(int(rng.choice(garbage_ints)) if rng.random() < 0.3 else d for d in t.shape)
            elif kind == 1:
                t.shape = t.shape[:int(rng.integers(0, len(t.shape) + 1))] + (1,) * int(rng.integers(0, 3))
            elif kind == 2 and op.options:
                key = rng.choice(sorted(op.options))
                if rng.random() < 0.5:
                    del op.options[key]
                else:
                    op.options[key] = garbage_opts[int(rng.integers(len(garbage_opts)))]
            elif t.is_constant and t.data.dtype.kind in "iu":
                t.data = rng.integers(-5, 9, t.data.shape).astype(t.data.dtype)
        problems = shape_problems(g)
        assert isinstance(problems, list)
        assert not [p for p in problems if "cannot infer" in p], problems


def test_scratch_sizes_are_defined_once_in_python():
    """The C kernels take their scratch buffer as an argument and have no size function of
    their own, so the records' *_get_buffer_size functions are the one definition; every step
    passes a scratch buffer exactly when its kernel's record declares a size."""
    c = "".join(p.read_text() for p in (ROOT / "codegen/kernels").rglob("*.[ch]"))
    assert "buffer_size" not in c
    seen = set()
    for path in (FIXTURE_MODELS / "mobilenet_v2_a035_96_rgb.tflite",
                 FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"):
        for kernels in ("dsp", "reference"):
            for s in lower(load_graph(path), kernels):
                rec = KERNELS[s.kernel]
                assert (("scratch",) in s.args) == (rec.scratch is not None), s.kernel
                assert s.scratch_bytes == rec.scratch_bytes(s.params) > (0 if rec.scratch else -1)
                seen.add(s.kernel)
    assert {"mcuf_conv_1x1_s8_dsp_fast", "mcuf_depthwise_conv_3x3_s8_dsp_fast"} <= seen


def test_kernel_records_name_real_c_functions_and_the_cost_model_uses_them():
    """Every registered kernel is declared in mcuf_nn.h, and every kernel the cost model was
    fitted on is a registered one (a renamed kernel cannot silently fall back to a guess)."""
    import json
    header = (ROOT / "codegen/kernels/include/mcuf_nn.h").read_text()
    assert [k for k in KERNELS if f"{k}(" not in header] == []
    cores = json.loads((ROOT / "codegen/cost_model.json").read_text())["cores"]
    fitted = [k for c in cores.values() for k in c["coefficients"]]
    assert [k for k in fitted if k.split("/")[0] not in KERNELS] == []


def test_validation_takes_arity_and_optional_inputs_from_the_records(monkeypatch):
    """validate.py has no operator table of its own: change a record's arity or optional
    inputs and the validation stage (before any pass) follows, with its one-line message."""
    import codegen.validate as validate
    from codegen.errors import UnsupportedModelError
    from codegen.validate import validate_graph
    assert not hasattr(validate, "ARITY") and not hasattr(validate, "OPTIONAL_INPUTS")
    path = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"
    validate_graph(read_model(path))                        # as recorded: accepted
    monkeypatch.setattr(OPS["SOFTMAX"], "inputs", (2, 2))
    with pytest.raises(UnsupportedModelError, match=r"SOFTMAX: has 1 inputs, TFLite's SOFTMAX takes 2: re-export"):
        validate_graph(read_model(path))
    monkeypatch.undo()
    g = read_model(path)
    conv = next(op for op in g.operators if op.type == "CONV_2D")
    conv.inputs = [conv.inputs[0], conv.inputs[1], -1]      # bias omitted: TFLite allows it
    validate_graph(g)
    monkeypatch.setattr(OPS["CONV_2D"], "optional", ())
    with pytest.raises(UnsupportedModelError, match=r"CONV_2D: input 2 is omitted \(-1\); this input is required"):
        validate_graph(g)
    # structure-only records (the passes fold these): arity checked, never shape-checked
    for name in ("SHAPE", "DEQUANTIZE", "NEG", "TRANSPOSE_CONV"):
        assert OPS[name].infer_shape is None and OPS[name].lower is None and name not in SUPPORTED_OPS
    # PACK: its int32 shape arithmetic is folded by the passes, an int8 PACK is lowered
    assert OPS["PACK"].infer_shape is not None and OPS["PACK"].lower is not None and "PACK" in SUPPORTED_OPS
