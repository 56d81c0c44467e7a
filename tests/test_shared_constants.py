"""Constant buffers shared by several operators are stored once in flash (issue #18 item 7)."""
import re

import pytest

import opmodels
from codegen.verify import verify
from test_single_ops import seed


@pytest.mark.parametrize("kernels", ["reference", "dsp"])
def test_tied_weights_stored_once(write_model, tmp_path, kernels):
    """Three convolutions share one weight tensor: the generated C holds each distinct
    constant array once, the manifest says how many bytes that saved, and the output stays
    bit-exact with TFLite's reference."""
    model = write_model(opmodels.tied_conv_model(seed("tied"), repeats=3, c=16))
    res = verify(model, tmp_path / "gen", inputs=6, kernels=kernels)
    assert res.ok, res.mismatches[:1]
    import json
    man = json.loads((tmp_path / "gen" / "model.json").read_text())
    src = (tmp_path / "gen" / "model.c").read_text()
    arrays = re.findall(r"static const \w+ (op\d+_filter)\[(\d+)\]", src)
    assert len(arrays) == 1, arrays                       # one filter array for three layers
    filt = int(arrays[0][1]) * (2 if "int16_t op" in src.split(arrays[0][0])[0][-40:] else 1)
    assert man["weight_bytes_shared"] >= 2 * filt
    per_layer = sum(layer["weight_bytes"] for layer in man["layers"])
    assert man["weight_bytes"] + man["weight_bytes_shared"] == per_layer
    assert man["weight_bytes"] <= per_layer / 3 + 64
