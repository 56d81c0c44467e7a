"""Grouped legacy uint8 CONV_2D (filter depth in_c / groups): TFLite's uint8 reference Conv
takes groups, so the generator runs them on mcuf_conv_wzp_s8 (its _dsp twins take one group
only) instead of refusing them (it did: 'grouped uint8 convolution', no fix named). Host
verify for every kernel set (every layer), one Cortex-M7 image for the sweep, and a filter
groups that do not divide the outputs refused in one line."""
import numpy as np
import pytest

import opmodels
from codegen.errors import CodegenError
from codegen.pipeline import generate
from codegen.verify import verify
from mve_sweep import run_on_m55, sweep_input
from runtime.interpreter import ReferenceModel
from test_single_ops import seed

# h, w, c, out_c, k, stride, padding, groups, act, in_zp, w_zp
GROUPED = [
    (6, 6, 8, 8, 3, 1, "SAME", 2, "NONE", 128, 120),
    (7, 5, 12, 6, 3, 2, "VALID", 3, "NONE", 10, 140),
    (4, 4, 8, 16, 1, 1, "VALID", 4, "NONE", 255, 0),
    (5, 5, 6, 12, 3, 1, "SAME", 6, "RELU", 100, 97),     # every input channel its own group
    (1, 1, 4, 2, 3, 1, "SAME", 2, "NONE", 128, 128),
]


def grouped_model(case) -> bytes:
    h, w, c, out_c, k, stride, padding, groups, act, in_zp, w_zp = case
    return opmodels.uint8_layer_model(seed("u8grouped", case), "CONV_2D", in_zp=in_zp, w_zp=w_zp, h=h, w=w,
                                      c=c, out_c=out_c, k=k, stride=stride, padding=padding, act=act,
                                      groups=groups)


@pytest.mark.parametrize("kernels", ["reference", "dsp", "mve"])
@pytest.mark.parametrize("case", GROUPED, ids=lambda c: "-".join(map(str, c)))
def test_grouped_uint8_conv_bit_exact_on_host(write_model, tmp_path, case, kernels):
    res = verify(write_model(grouped_model(case)), tmp_path / "gen", inputs=4, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.distinct_outputs > 1


def test_grouped_uint8_conv_on_cortex_m7(tmp_path):
    models = []
    for i, case in enumerate(GROUPED):
        path = tmp_path / f"g{i}.tflite"
        path.write_bytes(grouped_model(case))
        models.append(path)
    mans, outs = run_on_m55(models, tmp_path, kernels="dsp", runs=2, board_name="qemu-mps2-an500")
    for model, man, out in zip(models, mans, outs):
        assert [l["kernel"] for l in man["layers"] if l["op"] == "CONV_2D"] == ["mcuf_conv_wzp_s8"]
        for r in range(2):
            x = sweep_input(man["input"]["bytes"], r)
            want = ReferenceModel(model).invoke(x.view(np.uint8)).reshape(-1).astype(np.int64)
            assert (np.array(out[r], np.int64) % 256).tolist() == want.tolist()


def test_grouped_uint8_conv_whose_groups_do_not_divide_the_outputs_is_refused(write_model, tmp_path):
    from codegen.tflite_writer import ModelBuilder
    mb = ModelBuilder()
    x = mb.tensor([1, 4, 4, 8], "uint8", 0.02, 128)
    wt = mb.tensor([5, 3, 3, 4], "uint8", 0.005, 120, np.full((5, 3, 3, 4), 130))   # 2 groups, 5 outputs
    b = mb.tensor([5], "int32", 0.0001, 0, np.zeros(5, np.int64))
    y = mb.tensor([1, 4, 4, 5], "uint8", 0.1, 128)
    mb.op("CONV_2D", [x, wt, b], [y], "Conv2DOptions", Padding=0, StrideW=1, StrideH=1,
          FusedActivationFunction=0, DilationWFactor=1, DilationHFactor=1)
    with pytest.raises(CodegenError) as e:
        generate(write_model(mb.build([x], [y])), tmp_path / "gen", "host", kernels="dsp")
    msg = str(e.value)
    assert "\n" not in msg and "CONV_2D" in msg and "5" in msg, msg
