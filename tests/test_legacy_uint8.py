"""Legacy uint8 graphs against TFLite's uint8 reference kernels, every layer: the values
stored shifted to int8, weight zero points applied per tap, uint8 average-pool rounding."""
from pathlib import Path

import numpy as np
import pytest

import opmodels
from codegen.verify import verify
from test_single_ops import seed

LAYERS = [  # kind, options
    ("CONV_2D", dict(k=3, stride=1, padding="SAME")),
    ("CONV_2D", dict(k=3, stride=2, padding="VALID", act="RELU6", w_zp=140)),
    ("CONV_2D", dict(k=1, stride=1, padding="SAME", in_zp=0, w_zp=255)),
    ("CONV_2D", dict(k=1, stride=1, padding="SAME", in_zp=255, w_zp=0)),
    ("DEPTHWISE_CONV_2D", dict(k=3, stride=1, padding="SAME", w_zp=97)),
    ("DEPTHWISE_CONV_2D", dict(k=3, stride=2, padding="SAME", act="RELU6", in_zp=3)),
    ("FULLY_CONNECTED", dict(w_zp=133)),
    ("FULLY_CONNECTED", dict(w_zp=0, in_zp=250)),
    ("AVERAGE_POOL_2D", dict(k=2, stride=2, padding="VALID")),
    ("AVERAGE_POOL_2D", dict(k=3, stride=1, padding="SAME", in_zp=7)),
    ("AVERAGE_POOL_2D", dict(k=7, stride=1, padding="VALID", in_zp=255)),
    ("MAX_POOL_2D", dict(k=3, stride=2, padding="SAME")),
    ("SOFTMAX", dict(in_zp=200)),
]


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("kind,options", LAYERS, ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}{x}" for k, x in v.items()))
def test_uint8_layer(write_model, tmp_path, kind, options, kernels):
    model = write_model(opmodels.uint8_layer_model(seed("u8", kind, options), kind, **options))
    res = verify(model, tmp_path / "gen", inputs=8, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.distinct_outputs > 1


LEGACY_MOBILENET = Path(__file__).parent / "fixtures" / "legacy" / "legacy_uint8_mobilenet_v1_a025_64.tflite"


@pytest.mark.parametrize("kernels", ["reference", "dsp", "mve"])
def test_uint8_mobilenet_bit_exact_every_layer(tmp_path, kernels):
    """The legacy uint8 MobileNet V1 (tests/fixtures/make_uint8_mobilenet.py): 32 layers
    (x ^ 0x80 in, 27 convolutions, average pool, softmax, x ^ 0x80 out), 20 inputs."""
    res = verify(LEGACY_MOBILENET, tmp_path / "gen", inputs=20, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.layers_compared == 20 * 32 and res.distinct_outputs == 20


def test_uint8_mobilenet_on_cortex_m7(tmp_path):
    """The same bytes as TFLite's uint8 reference on QEMU's Cortex-M7 (DSP kernels where
    they apply, the _wzp kernels for the weight offsets)."""
    from codegen.pipeline import generate
    from codegen.verify import deterministic_input
    from firmware_tools.boards import get_board
    from firmware_tools.build import build_firmware
    from firmware_tools.qemu import parse_bench, run_qemu
    from runtime.interpreter import ReferenceModel
    b = get_board("qemu-mps2-an500")
    man = generate(LEGACY_MOBILENET, tmp_path / "gen", b.target)
    assert man["input"]["dtype"] == man["output"]["dtype"] == "uint8"
    res = run_qemu(b, build_firmware(tmp_path / "gen", b).elf, timeout=120)
    assert res.returncode == 0, res.console
    x = deterministic_input(man["input"]["bytes"])
    want = ReferenceModel(LEGACY_MOBILENET).invoke(x).reshape(-1)
    got = np.array(parse_bench(res.console)["output"], np.int64) % 256     # bytes, as uint8
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
@pytest.mark.parametrize("kind", ["ADD", "CONCATENATION"])
def test_uint8_add_and_concatenation(write_model, tmp_path, kind, kernels):
    """uint8 ADD (the int8 arithmetic on shifted values) and CONCATENATION of inputs with
    three quantizations (ConcatenationWithScaling's float rescaling as a table per input)."""
    model = write_model(opmodels.uint8_add_concat_model(seed("u8", kind), kind))
    res = verify(model, tmp_path / "gen", inputs=20, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.distinct_outputs > 1
