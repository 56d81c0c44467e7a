"""The detection-style fixture (tests/fixtures/make_detection.py): RESIZE_NEAREST_NEIGHBOR
and CONCATENATION of differently quantized branches (requantized by QUANTIZE, as the
converter writes it), two heads. Bit-exact with TFLite's reference kernels, every layer."""
import sys
from pathlib import Path

import pytest

from codegen.verify import verify

FIXTURES = Path(__file__).parent / "fixtures"
DETECTION = FIXTURES / "detection" / "detection_fpn_32.tflite"
sys.path.insert(0, str(FIXTURES))


@pytest.mark.parametrize("kernels", ["reference", "dsp", "mve"])
@pytest.mark.parametrize("output", [0, 1], ids=["objectness", "box"])
def test_detection_head_bit_exact(write_model, tmp_path, output, kernels):
    """Each head as a single-output model (the same weights, the other head dropped)."""
    from make_detection import build
    model = write_model(build((output,)))
    res = verify(model, tmp_path / "gen", inputs=20, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"
    assert res.distinct_outputs == 20
    import json
    kernels_used = {layer["kernel"] for layer in json.loads((tmp_path / "gen" / "model.json").read_text())["layers"]}
    # each input's requantization: mcuf_requantize_s8 (or its _mve twin), or on the DSP set the
    # same arithmetic as a 256-entry table (ops/requantize.py)
    for ks in (("mcuf_resize_nearest_s8",), ("mcuf_concat_s8",), ("mcuf_requantize_s8", "mcuf_lut_s8")):
        assert any(u.startswith(ks) for u in kernels_used), (ks, kernels_used)


def test_fixture_is_the_generator_output():
    from make_detection import build
    assert DETECTION.read_bytes() == build()


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
def test_detection_two_outputs_bit_exact(tmp_path, kernels):
    """Both outputs at once, every layer, through the indexed multi-output API."""
    res = verify(DETECTION, tmp_path / "gen", inputs=20, kernels=kernels)
    assert res.ok, f"{res.output_bytes_differing} output bytes differ; {res.mismatches[:1]}"


@pytest.mark.parametrize("output", [0, 1], ids=["objectness", "box"])
def test_detection_head_on_cortex_m7(write_model, tmp_path, output):
    """Each head's bytes on QEMU's Cortex-M7 equal TFLite's reference."""
    import numpy as np
    from make_detection import build
    from codegen.pipeline import generate
    from codegen.verify import deterministic_input
    from firmware_tools.boards import get_board
    from firmware_tools.build import build_firmware
    from firmware_tools.qemu import parse_bench, run_qemu
    from runtime.interpreter import ReferenceModel
    model = write_model(build((output,)))
    b = get_board("qemu-mps2-an500")
    man = generate(model, tmp_path / "gen", b.target)
    res = run_qemu(b, build_firmware(tmp_path / "gen", b).elf, timeout=120)
    assert res.returncode == 0, res.console
    want = ReferenceModel(model).invoke(deterministic_input(man["input"]["bytes"])).reshape(-1)
    assert parse_bench(res.console)["output"] == np.asarray(want, np.int64).tolist()
