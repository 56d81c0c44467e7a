"""The static arena: no two tensors that are alive at the same time may share bytes."""
import pytest

from conftest import BENCH_MODELS, FIXTURE_MODELS
from codegen.pipeline import compile_graph
from codegen.planner import peak_live_bytes

MODELS = sorted(FIXTURE_MODELS.glob("*.tflite")) + sorted(BENCH_MODELS.glob("*.tflite"))


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_live_tensors_never_overlap(model):
    c = compile_graph(model)
    bufs = list(c.plan.buffers.values())
    for i, a in enumerate(bufs):
        assert a.offset % 16 == 0
        assert a.offset + a.size <= c.plan.arena_bytes
        for b in bufs[i + 1:]:
            if a.first <= b.last and b.first <= a.last:
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_arena_is_close_to_the_lower_bound(model):
    """No planner can beat the largest set of simultaneously live tensors; stay within 25%."""
    c = compile_graph(model)
    bound = max(peak_live_bytes(c.plan, len(c.steps)))
    assert bound <= c.plan.arena_bytes <= 1.25 * bound + 64
