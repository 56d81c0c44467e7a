"""Patch-based execution of the first stage (codegen/patch_schedule.py, MCUNetV2) chosen by
`--ram-limit`: bit-exact with TFLite's reference on every layer from the stage's end on, and a
clear error naming the smallest reachable arena when nothing fits."""
import json
import re
import subprocess
import sys

from conftest import BENCH_MODELS, FIXTURE_MODELS
from codegen.pipeline import compile_graph, generate
from codegen.verify import verify

V2 = FIXTURE_MODELS / "mobilenet_v2_a035_96_rgb.tflite"
VWW = BENCH_MODELS / "vww96_q.tflite"


def test_model_too_big_layer_by_layer_fits_with_patches_bit_exact(tmp_path):
    """MobileNet V2, DSP kernels on patch buffers, 10% of the layer-by-layer arena spared."""
    limit = 50_000
    assert compile_graph(V2, "dsp").plan.arena_bytes > limit        # does not fit layer by layer
    res = verify(V2, tmp_path / "gen", inputs=4, seed=3, kernels="dsp", ram_limit=limit)
    man = json.loads((tmp_path / "gen" / "model.json").read_text())
    assert man["arena_bytes"] <= limit
    ps = man["patch_schedule"]
    assert ps["split"] >= 1 and ps["stage_macs"] > ps["stage_macs_layer_by_layer"]
    assert res.ok, f"first differing layer: {res.mismatches[:1]}"
    compared = sum(1 for l in man["layers"] if not l.get("patch_stage"))
    assert res.layers_compared == 4 * compared and compared > len(man["layers"]) // 2


def test_residual_add_inside_the_stage_bit_exact(tmp_path):
    """A stage through MobileNet V2's first residual ADD (its inputs cropped to the patch) in
    3x3 patches: window copies in and out, DSP kernels on patch buffers."""
    res = verify(V2, tmp_path / "gen", inputs=3, seed=5, kernels="dsp", patches=(9, 3, 3))
    man = json.loads((tmp_path / "gen" / "model.json").read_text())
    assert any(l["op"] == "ADD" and l.get("patch_stage") for l in man["layers"])
    assert "patch_copy(" in (tmp_path / "gen" / "model.c").read_text()
    assert res.ok, f"first differing layer: {res.mismatches[:1]}"


def test_row_band_schedule_reference_kernels_bit_exact(tmp_path):
    """A limit just under the layer-by-layer arena: full-width row bands read the input and
    write the stage output in place (no window copies)."""
    limit = compile_graph(V2, "reference").plan.arena_bytes - 16
    res = verify(V2, tmp_path / "gen", inputs=3, seed=4, ram_limit=limit)
    man = json.loads((tmp_path / "gen" / "model.json").read_text())
    assert man["arena_bytes"] <= limit and "patch_schedule" in man
    assert res.ok, f"first differing layer: {res.mismatches[:1]}"


def test_no_limit_or_a_fitting_limit_changes_nothing(tmp_path):
    a = generate(VWW, tmp_path / "a", "host")
    b = generate(VWW, tmp_path / "b", "host", ram_limit=a["arena_bytes"])
    assert "patch_schedule" not in b
    assert (tmp_path / "a" / "model.c").read_bytes() == (tmp_path / "b" / "model.c").read_bytes()


def test_unreachable_limit_names_the_smallest_reachable_arena(tmp_path):
    def emit(limit):
        return subprocess.run([sys.executable, "-m", "codegen.cli", "emit", str(VWW), "-o",
                               str(tmp_path / str(limit)), "--ram-limit", str(limit)],
                              capture_output=True, text=True, timeout=300)
    r = emit(20_000)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    m = re.search(r"smallest reachable arena is ([\d,]+) B", r.stderr)
    assert m, r.stderr
    smallest = int(m.group(1).replace(",", ""))
    assert 27_648 < smallest < compile_graph(VWW, "reference").plan.arena_bytes   # above the input alone
    ok = emit(smallest)                                                          # and it is reachable
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / str(smallest) / "model.json").read_text())["arena_bytes"] <= smallest


def test_in_place_depthwise_alone_when_it_fits_bit_exact(tmp_path):
    """Between the in-place-depthwise arena and the layer-by-layer one: no patches, no
    recomputation, each 3x3 depthwise output written over its input channel by channel."""
    from codegen.planner import plan_memory
    c = compile_graph(V2, "dsp")
    limit = plan_memory(c.graph, c.steps, in_place_depthwise=True).arena_bytes
    assert limit < c.plan.arena_bytes
    res = verify(V2, tmp_path / "gen", inputs=3, seed=6, kernels="dsp", ram_limit=limit)
    man = json.loads((tmp_path / "gen" / "model.json").read_text())
    assert "patch_schedule" not in man and man["arena_bytes"] <= limit
    shared = [l for l in man["layers"] if l["kernel"].startswith("mcuf_depthwise_conv_3x3")
              and man["layers"][l["index"] - 1]["offset"] == l["offset"]]
    assert shared, "no depthwise convolution runs in place"
    assert res.ok, f"first differing layer: {res.mismatches[:1]}"


def test_one_layer_stage_without_a_sub_arena_bit_exact(tmp_path):
    """A limit just below the layer-by-layer arena of ShuffleNet V1 (reference kernels) picks a
    one-layer stage (layer 0 in 2x1 patches, X -> S directly, no sub-arena): the emitter asked
    the plan for the stage's scratch buffer, which does not exist (KeyError: -1, a traceback
    from `codegen emit/verify --ram-limit 82943`; found by the `attack` review)."""
    from codegen.verify import verify
    model = FIXTURE_MODELS / "shufflenet_v1_g3_96_rgb.tflite"
    res = verify(model, tmp_path / "gen", inputs=1, kernels="reference", ram_limit=82_943)
    assert res.ok
