"""The DSP depthwise kernels over a shape sweep on QEMU's Cortex-M7, M4 and M33: every single-op
model of DW_DSP_SWEEP built into one firmware image per core (tests/mve_sweep.py), every output
byte of two inputs equal to TFLite's reference kernels. The host build of the same models is
checked in tests/test_single_ops.py (test_depthwise_dsp_sweep); only the device build runs the
assembly (the two-pixel 3x3 and K x K paths of mcuf_depthwise_conv_hwc_s8_dsp_fast and its 5x5 / 7x7
entry points (5x5 / 7x7 at multiplier 1 on 16 channels or more, a multiple of 4; the others on
mcuf_depthwise_conv_kxk_plane_s8_dsp, tests/test_depthwise_kxk_plane_qemu.py); the stride-1 pair run of mcuf_depthwise_conv_3x3_s8_dsp[_fast], DW_PLANE_SWEEP; the
small-plane entry mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast, DW_HWCP_SWEEP)."""
import zlib

import numpy as np
import pytest

import opmodels
from mve_sweep import run_on_m55, sweep_input
from runtime.interpreter import ReferenceModel

NARROW = (1e-3, 1e-2)   # every channel on fast constants (the _fast entry, or the clamped pairs)
LEFT = dict(scale_span=(1e-3, 0.3), wmax=2, bmax=20, out_scale=0.01)   # left shifts, small bounds

DW_DSP_SWEEP = [
    # k, stride, padding, in_c, mult, h, w, act: the HWC kernel's two-pixel assembly (3x3 at
    # >= 16 channels on small planes or stride 2; every 5x5 and 7x7 at >= 4 channels), with
    # channel tails, borders, both paddings, odd plane widths and a zero-point row wider than
    # 256 channels; depth multipliers and 1- and 3-channel inputs on the kernels that take them
    (3, 1, "SAME", 16, 1, 6, 6, "RELU6"), (3, 2, "SAME", 19, 1, 9, 8, "NONE"),
    (3, 1, "SAME", 36, 1, 8, 8, "RELU"), (3, 2, "VALID", 20, 1, 10, 9, "NONE"),
    (3, 1, "SAME", 300, 1, 3, 3, "NONE"), (3, 2, "SAME", 16, 1, 2, 3, "RELU6"),
    (3, 1, "SAME", 20, 1, 7, 9, "NONE"), (3, 1, "VALID", 18, 1, 8, 10, "NONE"),
    (3, 1, "SAME", 64, 1, 6, 6, "NONE"), (3, 1, "SAME", 17, 1, 5, 8, "NONE"),
    (3, 2, "SAME", 10, 1, 9, 9, "NONE"), (3, 2, "SAME", 8, 1, 8, 8, "NONE"),
    (3, 2, "SAME", 24, 1, 11, 13, "NONE"), (3, 2, "VALID", 12, 1, 7, 12, "NONE"),
    (5, 1, "SAME", 8, 1, 7, 7, "RELU6"), (5, 2, "SAME", 13, 1, 9, 9, "NONE"),
    (5, 1, "VALID", 4, 1, 6, 7, "NONE"), (5, 2, "SAME", 24, 1, 5, 5, "RELU"),
    (5, 1, "SAME", 3, 1, 6, 6, "NONE"), (5, 1, "SAME", 40, 1, 3, 3, "NONE"),
    (7, 1, "SAME", 8, 1, 9, 9, "NONE"), (7, 2, "SAME", 6, 1, 11, 10, "RELU6"),
    (7, 1, "VALID", 5, 1, 8, 8, "NONE"), (7, 2, "SAME", 12, 1, 4, 4, "NONE"),
    (5, 2, "SAME", 16, 1, 9, 8, "NONE"), (7, 1, "SAME", 16, 1, 6, 7, "NONE"), (7, 2, "SAME", 20, 1, 9, 9, "NONE"),
    (7, 1, "VALID", 16, 1, 8, 9, "NONE"),
    (3, 1, "SAME", 1, 8, 7, 7, "NONE"), (3, 2, "SAME", 3, 4, 9, 9, "RELU6"),
    (3, 1, "SAME", 4, 2, 6, 5, "NONE"), (5, 2, "SAME", 2, 2, 9, 9, "RELU"),
    (5, 1, "SAME", 1, 4, 6, 6, "NONE"), (7, 1, "SAME", 3, 8, 8, 8, "NONE"),
    # 3x3 channel tails through the assembly's extra group over the last 4 channels, with an odd
    # plane width (the last column in pairs of rows)
    (3, 1, "SAME", 30, 1, 5, 5, "NONE"), (3, 2, "SAME", 22, 1, 9, 9, "NONE"),
    # a 3x3 output plane at stride 2 with a channel tail: border pairs, the last column's row
    # pair and the corner pixel with their outside taps as offsets to the zero-point row
    (3, 2, "SAME", 18, 1, 6, 6, "RELU6")]

# the plane kernel's stride-1 pair assembly (mcuf_depthwise_conv_3x3_s8_dsp[_fast]): every
# channel on fast constants (NARROW), full range and clamped, odd and even widths, 1 and 2
# output columns, depth multipliers, a plane over 256 pixels; stride 2 stays in C; one clamped
# layer with left-shift channels (the default span: formula channels in C beside the pairs);
# left-shift channels with small accumulators (LEFT: the pairs' left-shift output stage)
DW_PLANE_SWEEP = [
    (3, 1, "SAME", 8, 1, 7, 9, "RELU6", NARROW), (3, 1, "SAME", 8, 1, 6, 6, "NONE", NARROW),
    (3, 1, "VALID", 4, 1, 5, 4, "RELU", NARROW), (3, 1, "SAME", 5, 1, 4, 1, "NONE", NARROW),
    (3, 1, "SAME", 2, 3, 6, 7, "RELU6", NARROW), (3, 1, "SAME", 16, 1, 20, 17, "RELU6", NARROW),
    (3, 1, "VALID", 6, 1, 3, 10, "RELU"), (3, 2, "SAME", 6, 1, 9, 9, "NONE", NARROW),
    (3, 1, "SAME", 1, 8, 5, 6, "NONE", NARROW), (3, 1, "SAME", 12, 1, 2, 2, "RELU", NARROW),
    # left-shift channels (TFLite's formula) with small accumulators: the pairs' left-shift stage
    (3, 1, "SAME", 24, 1, 6, 7, "NONE", LEFT), (3, 1, "SAME", 10, 1, 5, 8, "RELU6", LEFT),
    (3, 1, "VALID", 8, 2, 6, 9, "NONE", dict(LEFT, out_scale=0.002)),
    # the packed entry (mcuf_depthwise_conv_3x3_packed_s8_dsp_fast: fast stage, <= 64 output
    # channels, <= 64 output pixels): one assembly call for the whole layer (even width, whole
    # words per plane row: 8x8x8 and 4x4x16 x2 as in small_gray16_chain, multiplier 8 of one
    # channel, VALID with 5 rows, a 3x4 plane), the per-plane calls with the gather in C (6 and
    # 10 columns), an odd width's last column in C, stride 2 all in C, 64 channels; 66 channels
    # and a 72-pixel plane take the _fast entry
    (3, 1, "SAME", 8, 1, 8, 8, "NONE", NARROW), (3, 1, "SAME", 16, 2, 4, 4, "NONE", NARROW),
    (3, 1, "SAME", 1, 8, 4, 8, "NONE", NARROW), (3, 1, "VALID", 3, 3, 5, 4, "NONE", NARROW),
    (3, 1, "SAME", 7, 1, 3, 4, "NONE", NARROW), (3, 1, "VALID", 5, 2, 4, 12, "NONE", NARROW),
    (3, 1, "SAME", 5, 1, 4, 7, "NONE", NARROW), (3, 2, "SAME", 4, 2, 7, 8, "NONE", NARROW),
    (3, 1, "SAME", 32, 2, 2, 4, "NONE", NARROW), (3, 1, "SAME", 33, 2, 4, 6, "NONE", NARROW),
    (3, 1, "SAME", 4, 2, 8, 9, "NONE", NARROW)]

# mcuf_depthwise_conv_hwc_s8_dsp_fast's own loop for 3x3 at stride_w 1-2 (hwc3_pairs_fast) with
# other vertical strides (stride_h, stride_w): an odd last column in pairs of rows through the
# column-major assembly at stride_h 1 and 2 (dw3x2v1/v2) and through the any-stride pair at 3,
# with and without a channel tail, borders on every side (planes over 64 pixels or over 16
# channels: smaller ones take the small-plane entry, DW_HWCP_SWEEP)
DW_ASYM_SWEEP = [
    (3, (3, 1), "SAME", 20, 1, 10, 9, "NONE", NARROW), (3, (1, 2), "SAME", 22, 1, 7, 9, "NONE", NARROW),
    (3, (2, 1), "VALID", 16, 1, 17, 11, "NONE", NARROW), (3, (3, 2), "SAME", 17, 1, 8, 10, "NONE", NARROW)]

# hwc3_pairs_fast's channel tails (C % 4, C > 16 so the generator picks the HWC kernel): 4k + 2
# channels at stride 2 on the two-lane tail pairs (dwt2s2: lanes C-2, C-1 only), 4k + 1 at stride 2
# on the one-lane pairs of mcuf_depthwise_conv_hwc_3x3_tail1_s8_dsp_fast (dwt1s2: lane C-1 only;
# 17, 25, 21, 13 channels and the last two rows: one output row, one output column), 4k + 3 and
# stride 1 on the four-lane group, in runs and border pairs, odd widths (the last column's row
# pairs keep the four-lane tail), tiny planes (one pair, one column, one row) and VALID
DW_TAIL_SWEEP = [
    (3, 2, "SAME", 30, 1, 8, 8, "NONE", NARROW), (3, 1, "SAME", 18, 1, 5, 6, "NONE", NARROW),
    (3, 2, "SAME", 17, 1, 7, 9, "NONE", NARROW), (3, 1, "SAME", 21, 1, 4, 7, "NONE", NARROW),
    (3, 1, "SAME", 22, 1, 3, 4, "NONE", NARROW), (3, 2, "VALID", 25, 1, 7, 7, "NONE", NARROW),
    (3, 2, "SAME", 19, 1, 6, 7, "NONE", NARROW), (3, 1, "SAME", 23, 1, 5, 5, "NONE", NARROW),
    (3, 2, "SAME", 26, 1, 2, 2, "NONE", NARROW), (3, 1, "SAME", 26, 1, 1, 3, "NONE", NARROW),
    (3, 1, "VALID", 18, 1, 3, 5, "NONE", NARROW), (3, 2, "SAME", 21, 1, 4, 3, "NONE", NARROW),
    (3, 2, "SAME", 18, 1, 9, 10, "NONE", NARROW), (3, 1, "SAME", 34, 1, 6, 6, "NONE", NARROW),
    # 9-15 channels at stride 2 (off the K x K plane kernel: tails of 1, 2 and 3 channels)
    (3, 2, "SAME", 13, 1, 17, 20, "NONE", NARROW), (3, 2, "VALID", 10, 1, 19, 21, "NONE", NARROW),
    (3, 2, "SAME", 11, 1, 18, 18, "NONE", NARROW),
    (3, 2, "SAME", 17, 1, 1, 9, "NONE", NARROW), (3, 2, "VALID", 29, 1, 8, 3, "NONE", NARROW)]

# mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast (3x3, multiplier 1, 4-16 channels, <= 64 output
# pixels, whole words per input row; the input copied into a zero-point padded scratch, every
# pair in one assembly call): small_gray16_chain's 8x8x12 at stride 2, odd channel counts (5, 7,
# 9, 13, 15: the last group over channels C-4..C-1), 4 channels (one group), strides 1 and 2 and
# (1, 2), (2, 1), (3, 2), SAME on even and odd sizes (pads after only, or on both sides), VALID,
# odd widths (phantom pairs: one column, 5 columns), rows with a word remainder (the copy's word
# ladder), one output pixel, biases near the bound of the doubled accumulator
DW_HWCP_SWEEP = [
    (3, 2, "SAME", 12, 1, 8, 8, "NONE", NARROW), (3, 2, "SAME", 5, 1, 8, 8, "NONE", NARROW),
    (3, 2, "SAME", 7, 1, 7, 4, "NONE", NARROW), (3, 2, "VALID", 13, 1, 9, 4, "NONE", NARROW),
    (3, 1, "SAME", 16, 1, 5, 5, "NONE", NARROW), (3, 1, "VALID", 16, 1, 6, 7, "NONE", NARROW),
    (3, 2, "SAME", 4, 1, 2, 2, "NONE", NARROW), (3, 2, "SAME", 9, 1, 4, 12, "NONE", NARROW),
    (3, 2, "SAME", 15, 1, 7, 8, "NONE", NARROW), (3, 2, "SAME", 6, 1, 9, 10, "NONE", NARROW),
    (3, (1, 2), "SAME", 8, 1, 6, 8, "NONE", NARROW), (3, (2, 1), "SAME", 12, 1, 8, 5, "NONE", NARROW),
    (3, (3, 2), "VALID", 10, 1, 10, 8, "NONE", NARROW), (3, 2, "SAME", 16, 1, 15, 16, "NONE", NARROW),
    (3, 2, "SAME", 12, 1, 8, 8, "NONE", dict(scale_span=NARROW, bmax=1 << 27, wmax=127)),
    (3, 2, "SAME", 11, 1, 5, 8, "NONE", dict(scale_span=NARROW, bmax=1 << 27, wmax=127))]
HWCP = "mcuf_depthwise_conv_hwc_3x3_packed_s8_dsp_fast"
# the same entry behind an explicit PAD folded into the layer (asymmetric pads of 0 to 2 rows and
# columns on each side): pads ((top, bottom), (left, right)), in_c, stride, h, w
DW_HWCP_PADS = [(((2, 0), (1, 2)), 12, 2, 7, 6), (((0, 2), (2, 0)), 16, 1, 5, 4),
                (((1, 2), (0, 1)), 7, 2, 6, 8), (((2, 1), (2, 2)), 8, 2, 4, 4)]


def hwcp_pad_model(case) -> bytes:
    pads, in_c, stride, h, w = case
    rng = np.random.default_rng(zlib.crc32(repr(("dw-hwcp-pad", case)).encode()))
    return opmodels.pad_then_depthwise_model(rng, pads=pads, in_c=in_c, stride=stride, h=h, w=w,
                                             scale_span=NARROW)

BOARDS = ["qemu-mps2-an500", "qemu-mps2-an386", "qemu-mps2-an505"]   # M7, M4, M33


def sweep_model(case) -> bytes:
    k, stride, padding, in_c, mult, h, w, act = case[:8]
    extra = case[8] if len(case) > 8 else (1e-4, 1e-1)   # default: some channels need left shifts
    kw = extra if isinstance(extra, dict) else dict(scale_span=extra)
    rng = np.random.default_rng(zlib.crc32(repr(("dw-sweep", case)).encode()))
    return opmodels.depthwise_model(rng, k=k, stride=stride, padding=padding, dilation=1, in_c=in_c,
                                    mult=mult, h=h, w=w, act=act, **kw)


def hwc3_entry(case) -> str:
    """The HWC kernel's entry for a 3x3 case on the fast stage: 4k + 1 channels at stride_w 2 on
    the one-lane tail's own entry point."""
    sw = case[1] if isinstance(case[1], int) else case[1][1]
    return ("mcuf_depthwise_conv_hwc_3x3_tail1_s8_dsp_fast" if sw == 2 and case[3] % 4 == 1
            else "mcuf_depthwise_conv_hwc_s8_dsp_fast")


@pytest.mark.parametrize("board", BOARDS)
def test_depthwise_dsp_sweep_on_qemu_equals_tflite(board, tmp_path):
    models = []
    cases = DW_DSP_SWEEP + DW_ASYM_SWEEP + DW_PLANE_SWEEP + DW_TAIL_SWEEP + DW_HWCP_SWEEP
    for i, case in enumerate(cases + DW_HWCP_PADS):
        path = tmp_path / f"case{i}.tflite"
        path.write_bytes(sweep_model(case) if i < len(cases) else hwcp_pad_model(case))
        models.append(path)
    cases = cases + DW_HWCP_PADS
    mans, outs = run_on_m55(models, tmp_path, kernels="dsp", board_name=board)
    kernels = [m["layers"][0]["kernel"] for m in mans]
    assert all(k.endswith(("_dsp", "_dsp_fast")) for k in kernels), kernels
    for case, kernel, man in zip(cases, kernels, mans):
        if isinstance(case[0], int) and case[0] > 3 and (case[4] > 1 or case[3] < 16 or case[3] % 4):   # K x K plane
            assert kernel.startswith("mcuf_depthwise_conv_kxk_plane_s8_dsp"), (case, kernel)
        elif case[4] == 1 and case[0] > 3 and case[3] >= 4:   # the K x K two-pixel assembly
            # a clamping activation: the _fast entry + the clamp epilogue where every channel is
            # exact, else the general entry (clamps in C)
            clamped = man["layers"][0].get("epilogue") == "mcuf_act_clamp_s8_dsp"
            want = (f"mcuf_depthwise_conv_hwc_{case[0]}x{case[0]}_s8_dsp_fast" if case[7] == "NONE" or clamped
                    else "mcuf_depthwise_conv_hwc_s8_dsp")
            assert kernel == want, (case, kernel)
    assert sum(k.startswith("mcuf_depthwise_conv_hwc_") and k.endswith("_fast") for k in kernels) >= 12, kernels
    asym = kernels[len(DW_DSP_SWEEP):len(DW_DSP_SWEEP) + len(DW_ASYM_SWEEP)]
    assert asym == [hwc3_entry(c) for c in DW_ASYM_SWEEP], asym
    hwcp = kernels[len(kernels) - len(DW_HWCP_SWEEP) - len(DW_HWCP_PADS):]
    assert hwcp == [HWCP] * len(hwcp), hwcp
    kernels = kernels[:len(kernels) - len(hwcp)]
    plane = kernels[len(DW_DSP_SWEEP) + len(DW_ASYM_SWEEP):len(kernels) - len(DW_TAIL_SWEEP)]
    tails = kernels[len(kernels) - len(DW_TAIL_SWEEP):]
    assert tails == [hwc3_entry(c) for c in DW_TAIL_SWEEP], tails
    assert tails.count("mcuf_depthwise_conv_hwc_3x3_tail1_s8_dsp_fast") >= 6, tails
    assert all(k.startswith(("mcuf_depthwise_conv_3x3_s8_dsp", "mcuf_depthwise_conv_3x3_packed_s8_dsp"))
               or (c[1] == 2 and k == "mcuf_depthwise_conv_kxk_plane_s8_dsp_fast")   # stride 2, fast stage
               for c, k in zip(DW_PLANE_SWEEP, plane)), plane
    assert {"mcuf_depthwise_conv_3x3_s8_dsp", "mcuf_depthwise_conv_3x3_s8_dsp_fast",
            "mcuf_depthwise_conv_3x3_packed_s8_dsp_fast"} <= set(plane), plane
    packed = [c for c, k in zip(DW_PLANE_SWEEP, plane) if k == "mcuf_depthwise_conv_3x3_packed_s8_dsp_fast"]
    assert len(packed) >= 9, packed
    bad = []
    for case, model, man, got_runs in zip(cases, models, mans, outs):
        ref = ReferenceModel(model)
        for r, got in enumerate(got_runs):
            want = ref.invoke(sweep_input(man["input"]["bytes"], r)).reshape(-1).tolist()
            if got != want:
                bad.append((case, r, sum(a != b for a, b in zip(got, want)), len(want)))
    assert not bad, bad


# the small-plane entry on planes over HWC3_PACKED_MAX_PIXELS, taken where the layer's input, output
# and padded copy fit in the graph's largest operator (hwc3_packed_room): a wider 1x1 before each
# depthwise gives the room. (input shape, 1x1 output channels, depthwise stride): 32x32x8 at
# stride 2 (legacy_uint8_v3_blocks' shape, 256 pixels), an odd width (phantom pairs, 195 pixels),
# 16 channels at stride 1 on 144 pixels (the HWC kernel's before), 7 channels (a channel tail)
HWCP_ROOM_CHAINS = [((1, 32, 32, 16), 8, 2), ((1, 30, 26, 24), 8, 2), ((1, 12, 12, 64), 16, 1),
                    ((1, 20, 20, 16), 7, 2)]


@pytest.mark.parametrize("board", ["qemu-mps2-an500", "qemu-mps2-an505"])
def test_hwc3_packed_large_planes_on_qemu_equals_tflite(board, tmp_path):
    models = []
    for i, (shape, c, stride) in enumerate(HWCP_ROOM_CHAINS):
        rng = np.random.default_rng(zlib.crc32(repr(("hwcp-room", i)).encode()))
        path = tmp_path / f"chain{i}.tflite"
        path.write_bytes(opmodels.chain_model(rng, shape=shape, layers=[("conv", 1, 1, c, 1), ("dw", 3, stride, 1)],
                                              scale_span=NARROW))
        models.append(path)
    mans, outs = run_on_m55(models, tmp_path, kernels="dsp", board_name=board)
    dws = [[l["kernel"] for l in m["layers"] if l["op"] == "DEPTHWISE_CONV_2D"] for m in mans]
    assert dws == [[HWCP]] * len(models), dws
    bad = []
    for i, (model, man) in enumerate(zip(models, mans)):
        ref = ReferenceModel(model)
        for r, got in enumerate(outs[i]):
            want = ref.invoke(sweep_input(man["input"]["bytes"], r)).reshape(-1).tolist()
            if got != want:
                bad.append((HWCP_ROOM_CHAINS[i], r, sum(a != b for a, b in zip(got, want))))
    assert not bad, bad


@pytest.mark.parametrize("board", BOARDS[:2])
@pytest.mark.parametrize("which", ["v2", "chain"])
def test_hwc_depthwise_in_place_on_qemu_equals_tflite(board, which, tmp_path):
    """The HWC kernel's stride-2 layers over an input larger than DW3_HWC_MAX_INPUT run in
    place under --ram-limit (the planner's in-place plan, output at the input's address): the
    device's output equals TFLite's. MobileNet V2's 48x48x48 layer (no padding; its arena peak:
    138,288 B layer by layer, 110,640 B with it in place), and a chain with a 65x65x18 input (top
    and left padding 1, a channel tail)."""
    from conftest import FIXTURE_MODELS
    from codegen.pipeline import compile_graph, generate
    from codegen.planner import plan_memory
    from codegen.verify import deterministic_input
    from firmware_tools.boards import get_board
    from firmware_tools.build import build_firmware
    from firmware_tools.qemu import parse_bench, run_qemu
    if which == "v2":
        model = FIXTURE_MODELS / "mobilenet_v2_a035_96_rgb.tflite"
    else:
        model = tmp_path / "chain.tflite"
        model.write_bytes(opmodels.chain_model(np.random.default_rng(60), shape=(1, 65, 65, 3), layers=[
            ("conv", 1, 1, 18, 1), ("dw", 3, 2, 1), ("conv", 1, 1, 8, 1)]))
    b = get_board(board)
    c = compile_graph(model, "dsp")
    plan = plan_memory(c.graph, c.steps, in_place_depthwise=True)
    assert plan.arena_bytes < c.plan.arena_bytes   # else --ram-limit keeps the layer-by-layer plan
    aliased = [st for st in c.steps if st.kernel.startswith("mcuf_depthwise_conv_hwc_s8_dsp")
               and plan.buffers[c.graph.resolve(st.inputs[0])].offset == plan.buffers[c.graph.resolve(st.output)].offset]
    assert aliased and all(st.params["stride_h"] == 2 for st in aliased), [st.kernel for st in c.steps]
    if which == "chain":
        assert (aliased[0].params["pad_top"], aliased[0].params["in_c"]) == (1, 18)
    man = generate(model, tmp_path / "gen", b.target, ram_limit=plan.arena_bytes)
    assert man["arena_bytes"] <= plan.arena_bytes and not man.get("patch_schedule")
    res = run_qemu(b, build_firmware(tmp_path / "gen", b).elf, timeout=120)
    assert res.returncode == 0, res.console
    want = ReferenceModel(model).invoke(deterministic_input(man["input"]["bytes"]))
    assert parse_bench(res.console)["output"] == want.reshape(-1).tolist()
