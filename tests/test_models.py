"""Whole models: the bundled fixtures and the two real benchmark models, every layer
compared with TFLite's reference kernels (BUILTIN_REF) over random inputs."""
import json

import numpy as np
import pytest

from conftest import BENCH_MODELS, FIXTURE_MODELS
from codegen.verify import verify

FIXTURES = sorted(FIXTURE_MODELS.glob("*.tflite"))
REAL = sorted(BENCH_MODELS.glob("*.tflite"))


def test_fixtures_are_bundled():
    names = {p.stem for p in FIXTURES}
    assert {"mobilenet_v1_a025_96_rgb", "mobilenet_v1_a025_128_gray", "mobilenet_v2_a035_96_rgb",
            "mobilenet_v3_small_a050_96_rgb", "mobilenet_v3_large_a025_96_rgb",
            "shufflenet_v1_g3_96_rgb", "shufflenet_v2_x05_96_rgb", "mobilevit_xxs_96_rgb",
            "torch_layout_96_nchw"} <= names
    for p in FIXTURES:
        assert p.stat().st_size < 1_000_000, f"{p.name} is over 1 MB"
    labels = (FIXTURE_MODELS / "shapes_labels.txt").read_text().split()
    assert labels == ["circle", "square", "triangle", "line"]


def shape_samples(model, count):
    """Real inputs for a fixture: quantized images of the shapes it was trained on."""
    from codegen.pipeline import load_graph
    from runtime.shapes import make_dataset, quantize_input
    g = load_graph(model)           # a float32 input's int8 tensor behind its QUANTIZE edge
    x = g.tensors[g.inputs[0]]
    nchw = x.shape[1] <= 4 < x.shape[3]          # a PyTorch-layout model
    images, _ = make_dataset(count, x.shape[2], x.shape[1] if nchw else x.shape[3], seed=99)
    if nchw:
        images = images.transpose(0, 3, 1, 2)
    return quantize_input(images, x.quant.scale, x.quant.zero_point)


@pytest.mark.parametrize("model", FIXTURES, ids=lambda p: p.stem)
def test_fixture_bit_exact_with_reference(model, tmp_path):
    res = verify(model, tmp_path / "gen", inputs=20, seed=1, samples=shape_samples(model, 16))  # all 4 classes
    assert res.inputs == 20
    assert res.output_bytes_differing == 0
    assert res.mismatches == [], f"first differing layer: {res.mismatches[0]}"
    # A trained model's reference output depends on its input; a collapsed one gives one
    # output for everything. A confident one saturates, so count at least one per class.
    assert res.distinct_outputs >= 4, "reference outputs barely change: is the fixture trained?"


@pytest.mark.parametrize("model", FIXTURES + REAL, ids=lambda p: p.stem)
def test_optimized_kernels_bit_exact(model, tmp_path):
    """The DSP kernels (what cortex-m4/m7/m55 builds use), intrinsics emulated on the host:
    every layer identical to the reference, hence to the portable kernels."""
    res = verify(model, tmp_path / "gen", inputs=8, seed=2, kernels="dsp")
    assert res.ok, f"first differing layer: {res.mismatches[:1]}"
    man = json.loads((tmp_path / "gen" / "model.json").read_text())
    assert any(l["kernel"].endswith(("_dsp", "_dsp_fast")) for l in man["layers"])


@pytest.mark.parametrize("model", REAL, ids=lambda p: p.stem)
def test_real_model_bit_exact_with_reference(model, tmp_path):
    res = verify(model, tmp_path / "gen", inputs=20, seed=1)
    assert res.output_bytes_differing == 0
    assert res.mismatches == [], f"first differing layer: {res.mismatches[0]}"
    assert res.distinct_outputs >= 3


def test_fixture_recognises_shapes(tmp_path):
    """The generated code of the default model classifies the shapes it was trained on."""
    from firmware_tools.host import HostModel
    from codegen.pipeline import generate
    from runtime.shapes import make_dataset, quantize_input
    model = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"
    man = generate(model, tmp_path, "host")
    host = HostModel(tmp_path)
    images, labels = make_dataset(100, 96, 3, seed=123)
    q = quantize_input(images, man["input"]["scale"], man["input"]["zero_point"])
    hits = sum(int(np.argmax(host.invoke(img)) == lab) for img, lab in zip(q, labels))
    assert hits >= 70, f"only {hits}/100 shapes recognised"


def test_keras3_shape_chain_is_folded(tmp_path):
    """mbnet128 ends in SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE (Keras 3): folded, aliased."""
    from codegen.pipeline import generate
    man = generate(BENCH_MODELS / "mbnet128_0.25_q.tflite", tmp_path, "host")
    ops = [l["op"] for l in man["layers"]]
    assert not {"SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE", "PAD"} & set(ops)
    assert man["aliases"], "the RESHAPE should have become an alias"
    assert ops.count("CONV_2D") == 15 and ops.count("DEPTHWISE_CONV_2D") == 13


def test_manifest_describes_the_model(tmp_path):
    from codegen.pipeline import generate
    from codegen.tflite_reader import model_sha256
    model = FIXTURE_MODELS / "mobilenet_v2_a035_96_rgb.tflite"
    generate(model, tmp_path, "cortex-m7")
    man = json.loads((tmp_path / "model.json").read_text())
    assert man["model"]["sha256"] == model_sha256(model)
    assert man["target"] == "cortex-m7"
    assert man["input"]["shape"] == [1, 96, 96, 3] and man["input"]["dtype"] == "int8"
    assert man["arena_bytes"] >= max(l["bytes"] for l in man["layers"])
    assert man["weight_bytes"] > 0 and man["macs"] == sum(l["macs"] for l in man["layers"])
    assert "ADD" in {l["op"] for l in man["layers"]}  # inverted residuals
