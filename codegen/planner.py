"""Static memory planning: every activation tensor gets an offset in one arena.

Lifetimes come from the straight-line schedule: a tensor lives from the step that
writes it to the last step that reads it (the model input from the start, the model
output to the end). Placement is greedy by size, largest first, at the lowest offset
that does not collide with any tensor whose lifetime overlaps (TFLM's greedy planner
uses the same idea; it is within a few percent of optimal on chain-like graphs).
"""
from __future__ import annotations

from dataclasses import dataclass

from .graph import Graph
from .lowering import Step

ALIGN = 16


@dataclass
class Buffer:
    tensor: int                 # owning tensor (aliases resolved)
    size: int
    first: int                  # first step that needs it (-1: before invoke)
    last: int                   # last step that needs it (len(steps): after invoke)
    offset: int = -1


@dataclass
class Plan:
    buffers: dict[int, Buffer]
    arena_bytes: int

    def offset(self, graph: Graph, tensor: int) -> int:
        return self.buffers[graph.resolve(tensor)].offset

    def scratch_offset(self, step_index: int) -> int:
        return self.buffers[scratch_id(step_index)].offset


def scratch_id(step_index: int) -> int:
    return -1 - step_index


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_memory(graph: Graph, steps: list[Step]) -> Plan:
    buffers: dict[int, Buffer] = {}

    def touch(tensor: int, when: int) -> None:
        root = graph.resolve(tensor)
        t = graph.tensors[root]
        b = buffers.get(root)
        if b is None:
            buffers[root] = Buffer(root, t.nbytes, when, when)
        else:
            b.first, b.last = min(b.first, when), max(b.last, when)

    for i in graph.inputs:
        touch(i, -1)
    for s, step in enumerate(steps):
        for t in step.inputs:
            touch(t, s)
        touch(step.output, s)
        if step.scratch_bytes:   # lives during its step only: keyed by a negative id
            buffers[scratch_id(s)] = Buffer(scratch_id(s), step.scratch_bytes, s, s)
    for o in graph.outputs:
        touch(o, len(steps))

    placed: list[Buffer] = []
    for b in sorted(buffers.values(), key=lambda b: (-b.size, b.first)):
        overlapping = sorted((p for p in placed if p.first <= b.last and b.first <= p.last),
                             key=lambda p: p.offset)
        offset = 0
        for p in overlapping:
            if offset + b.size <= p.offset:
                break
            offset = max(offset, _align(p.offset + p.size))
        b.offset = offset
        placed.append(b)
    arena = max((b.offset + b.size for b in placed), default=0)
    return Plan(buffers, _align(arena))


def peak_live_bytes(plan: Plan, steps: int) -> list[int]:
    """Bytes live during each step: the lower bound any planner must respect."""
    return [sum(b.size for b in plan.buffers.values() if b.first <= s <= b.last)
            for s in range(steps)]
