"""The static arena: no two tensors that are alive at the same time may share bytes."""
import pytest

from conftest import BENCH_MODELS, FIXTURE_MODELS
from codegen.pipeline import compile_graph
from codegen.planner import peak_live_bytes

MODELS = sorted(FIXTURE_MODELS.glob("*.tflite")) + sorted(BENCH_MODELS.glob("*.tflite"))


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_live_tensors_never_overlap(model):
    c = compile_graph(model)
    allowed = {frozenset(p) for p in c.plan.in_place}
    bufs = list(c.plan.buffers.values())
    for i, a in enumerate(bufs):
        assert a.offset % 16 == 0
        assert a.offset + a.size <= c.plan.arena_bytes
        for b in bufs[i + 1:]:
            if frozenset((a.tensor, b.tensor)) in allowed:
                continue
            if a.first <= b.last and b.first <= a.last:
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_in_place_pairs_are_safe(model):
    """An expanding 1x1 conv's input sits at the tail of its output, with the slack the
    kernels need: writing pixels p, p+1 never reaches input bytes not yet read."""
    for kernels in ("reference", "dsp"):
        c = compile_graph(model, kernels)
        for src, dst in c.plan.in_place:
            step = next(s for s in c.steps if c.graph.resolve(s.output) == dst)
            n = step.params["out_h"] * step.params["out_w"]
            ci, co = step.params["in_c"], step.params["out_c"]
            i, o = c.plan.buffers[src], c.plan.buffers[dst]
            d = i.offset - o.offset
            assert d >= n * (co - ci) + 2 * ci and i.last == o.first
            for p in range(n - 1):   # the 2-pixel block of the DSP kernel
                assert (p + 2) * co <= d + p * ci


def test_in_place_shrinks_the_peak():
    c = compile_graph(BENCH_MODELS / "vww96_q.tflite")
    assert c.plan.in_place, "the expanding 1x1 convolutions should run in place"
    assert c.plan.arena_bytes <= 48 * 1024


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_arena_is_close_to_the_lower_bound(model):
    """No planner can beat the largest set of simultaneously live tensors; stay within 25%."""
    c = compile_graph(model)
    bound = max(peak_live_bytes(c.plan, len(c.steps)))
    assert bound <= c.plan.arena_bytes <= 1.25 * bound + 64
