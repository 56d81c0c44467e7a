"""Legacy uint8 graphs against TFLite's uint8 reference kernels, every layer: the values
stored shifted to int8, weight zero points applied per tap, uint8 average-pool rounding."""
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
