"""A fixed slice of the convolution shape fuzzer (tests/fuzz_conv.py): SEED's first COUNT random
CONV_2D / DEPTHWISE_CONV_2D models (one or two layers; grouped, non-square, unequal strides,
dilations, depth multipliers, extreme zero points, scales and biases) either refused cleanly by
`codegen emit` or bit-exact with TFLite's reference kernels on the host (DSP kernels under
ASan/UBSan, two random inputs) and on QEMU's Cortex-M7 (one firmware image). The wider sweep:
`tests/fuzz_conv.py --seed 1 --count 300`."""
import numpy as np

from fuzz_conv import _compare, case_model, describe, draw_case, fuzz, host_input

SEED, COUNT = 20261130, 12


def test_fuzz_conv_slice_is_bit_exact_on_host_and_cortex_m7(tmp_path):
    failures, counts, items = fuzz(SEED, list(range(COUNT)), ["cortex-m7"], runs=2, work=tmp_path,
                                   log=lambda s: None)
    assert not failures, "\n".join(failures)
    assert counts["accepted"] >= COUNT // 2, counts
    assert counts["refused"] >= 1, counts      # the clean-refusal check ran (`codegen emit` exit 2)
    kinds = {L["kind"] for it in items for L in it["case"]["layers"]}
    assert kinds == {"CONV_2D", "DEPTHWISE_CONV_2D"}, kinds
    assert all(it.get("kernels_on", {}).get("cortex-m7") for it in items)    # every one ran on the M7


def test_fuzz_conv_draw_is_reproducible_and_covers_the_space():
    assert describe(draw_case(3, 41)) == describe(draw_case(3, 41))
    assert case_model(draw_case(3, 41)) == case_model(draw_case(3, 41))
    layers = [L for i in range(300) for L in draw_case(9, i)["layers"]]
    seen = lambda f: any(f(L) for L in layers)   # noqa: E731
    assert seen(lambda L: L["groups"] > 1 and L["kind"] == "CONV_2D")
    assert seen(lambda L: L["kh"] == L["kw"] == 1 and L["groups"] > 1 and L["c"] // L["groups"] == 2)
    assert seen(lambda L: L["kind"] == "DEPTHWISE_CONV_2D" and L["mult"] == 8)
    assert seen(lambda L: L["kh"] != L["kw"]) and seen(lambda L: L["sh"] != L["sw"])
    assert seen(lambda L: L["dh"] == 2) and seen(lambda L: L["bias"] == "absent")
    assert seen(lambda L: L["h"] < L["kh"]) and seen(lambda L: max(L["h"], L["w"]) > 40)
    assert seen(lambda L: L["c"] == 40) and seen(lambda L: L["c"] == 1)
    assert seen(lambda L: not L["per_channel"]) and seen(lambda L: L["act"] == "RELU_N1_TO_1")
    assert any(len(draw_case(9, i)["layers"]) == 2 for i in range(300))


def test_fuzz_conv_comparison_catches_one_wrong_byte(tmp_path):
    """The checker itself: one output byte off is a failure line, the reference's bytes are not."""
    from codegen.verify import reference_int8_outputs
    case = draw_case(SEED, 0)
    path = tmp_path / "m.tflite"
    path.write_bytes(case_model(case))
    L = case["layers"][0]
    x = host_input(L["h"] * L["w"] * L["c"], 12345)
    want = reference_int8_outputs(path, [x])[0].astype(int).tolist()
    got = []
    it = dict(case=case, path=path)
    _compare(it, "host", [want], [x], lambda it, where, what: got.append(what))
    assert got == []
    bad = list(want)
    bad[-1] = bad[-1] + 1 if bad[-1] < 127 else 126
    _compare(it, "host", [" ".join(map(str, bad))], [x], lambda it, where, what: got.append(what))
    assert len(got) == 1 and "1/" in got[0], got
    assert np.array_equal(host_input(7, 1), host_input(7, 1))
