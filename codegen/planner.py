"""Static memory planning: every activation tensor gets an offset in one arena.

Lifetimes come from the straight-line schedule: a tensor lives from the step that
writes it to the last step that reads it (the model input from the start, the model
output to the end). Placement is greedy first-fit: each tensor at the lowest offset that
does not collide with any tensor whose lifetime overlaps (TFLM's greedy planner uses the
same idea). First-fit depends on the order, so a few orders are tried (by size, by first
use, by lifetime, seeded shuffles) and the smallest arena wins; it is cheap at build time.

One overlap is allowed on purpose: an expanding 1x1 convolution (out_c >= in_c) walks its
pixels in order, so its input can sit at the tail of its output buffer. Writing the
output of pixels p, p+1 touches [p*OC, (p+2)*OC), which stays below the input bytes still
needed, [D + p*C, ...), as long as D >= N*(OC - C) + 2*C. The pair is then placed as one
block of OC*N + 2*C bytes instead of (OC + C)*N: in MobileNets that is the arena's peak.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .graph import Graph
from .ops import KERNELS, Step

ALIGN = 16


@dataclass
class Buffer:
    tensor: int                 # owning tensor (aliases resolved); negative: a step's scratch
    size: int
    first: int                  # first step that needs it (-1: before invoke)
    last: int                   # last step that needs it (len(steps): after invoke)
    offset: int = -1


@dataclass
class Plan:
    buffers: dict[int, Buffer]
    arena_bytes: int
    in_place: list[tuple[int, int]] = field(default_factory=list)   # (input, output) sharing bytes

    def offset(self, graph: Graph, tensor: int) -> int:
        return self.buffers[graph.resolve(tensor)].offset

    def scratch_offset(self, step_index: int) -> int:
        return self.buffers[scratch_id(step_index)].offset


def scratch_id(step_index: int) -> int:
    return -1 - step_index


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _lifetimes(graph: Graph, steps: list[Step]) -> dict[int, Buffer]:
    buffers: dict[int, Buffer] = {}

    def touch(tensor: int, when: int) -> None:
        root = graph.resolve(tensor)
        b = buffers.get(root)
        if b is None:
            buffers[root] = Buffer(root, graph.tensors[root].nbytes, when, when)
        else:
            b.first, b.last = min(b.first, when), max(b.last, when)

    for i in graph.inputs:
        touch(i, -1)
    for s, step in enumerate(steps):
        for t in step.inputs:
            touch(t, s)
        touch(step.output, s)
        if step.scratch_bytes:   # lives during its step only
            buffers[scratch_id(s)] = Buffer(scratch_id(s), step.scratch_bytes, s, s)
    for o in graph.outputs:
        touch(o, len(steps))
    return buffers


def _in_place_pairs(graph: Graph, steps: list[Step], buffers: dict[int, Buffer]) -> dict[int, tuple[int, int]]:
    """input buffer -> (output buffer, input's offset within the output's block)."""
    pairs: dict[int, tuple[int, int]] = {}
    used: set[int] = set()
    outputs = {graph.resolve(o) for o in graph.outputs}
    for s, step in enumerate(steps):
        rec = KERNELS.get(step.kernel)     # None: a patch stage (codegen/patch_schedule.py)
        if rec is None or not rec.pixel_ordered:   # reads pixel p (and p+1) before writing p's output
            continue
        src, dst = graph.resolve(step.inputs[0]), graph.resolve(step.output)
        bi, bo = buffers[src], buffers[dst]
        c, oc = step.params["in_c"], step.params["out_c"]
        pixels = step.params["out_h"] * step.params["out_w"]
        if (oc < c or bi.last != s or bo.first != s or src in outputs or src in used or dst in used
                or bi.size != pixels * c or bo.size != pixels * oc):
            continue
        pairs[src] = (dst, _align(pixels * (oc - c) + 2 * c))
        used |= {src, dst}
    return pairs


def plan_memory(graph: Graph, steps: list[Step], overlaps: dict[int, int] | None = None,
                in_place_depthwise: bool = False, no_pair_from: frozenset = frozenset()) -> Plan:
    """overlaps: {input tensor: offset of the next step's output inside the input's block},
    pairs a caller has proved safe (a patch stage writing its output over input rows no
    longer needed, codegen/patch_schedule.py). in_place_depthwise: a channel_planar kernel's
    output shares its input's bytes where the input dies at that step. Both are off by default
    (the default plan is unchanged). no_pair_from: tensors whose consumer's output is not written
    over them (a patch stage's output inside its input can leave more room that way)."""
    buffers = _lifetimes(graph, steps)
    pairs = {k: v for k, v in _in_place_pairs(graph, steps, buffers).items() if k not in no_pair_from}
    if overlaps or in_place_depthwise:
        units = _tree_units(graph, steps, buffers, pairs, overlaps or {}, in_place_depthwise)
    else:
        units = _pair_units(buffers, pairs)
    best = None
    for order in _orderings(units):
        arena = _place(order)
        if best is None or arena < best[0]:
            best = (arena, {id(b): b.offset for u in units for b, _ in u})
    offsets = best[1]
    for u in units:
        for b, _ in u:
            b.offset = offsets[id(b)]
    return Plan(buffers, _align(best[0]), [(src, dst) for src, (dst, _) in pairs.items()])


def _pair_units(buffers, pairs):
    """placement units: a buffer alone, or an output with its input at a fixed offset inside"""
    units: list[list[tuple[Buffer, int]]] = []
    grouped = {dst: src for src, (dst, _) in pairs.items()}
    for key, b in buffers.items():
        if key in pairs:
            continue                       # placed with its output
        unit = [(b, 0)]
        if key in grouped:
            src = grouped[key]
            unit.append((buffers[src], pairs[src][1]))
        units.append(unit)
    return units


def _tree_units(graph, steps, buffers, pairs, overlaps, in_place_depthwise):
    """Units as trees of (child -> parent, child offset - parent offset), each buffer with at
    most one parent: the in-place pairs, the overlaps, and in-place depthwise convolutions."""
    parent: dict[int, tuple[int, int]] = {src: (dst, rel) for src, (dst, rel) in pairs.items()}

    def root(k):
        while k in parent:
            k = parent[k][0]
        return k

    def members(r):
        out = []
        for k in buffers:
            rel, x = 0, k
            while x in parent:
                x, d = parent[x][0], parent[x][1]
                rel += d
            if x == r:
                out.append((k, rel))
        return out

    def clash(r):       # two members alive together on the same bytes that no link proved safe
        m = members(r)
        for i, (a, ra) in enumerate(m):
            for b, rb in m[i + 1:]:
                ba, bb = buffers[a], buffers[b]
                if parent.get(a, (None,))[0] == b or parent.get(b, (None,))[0] == a:
                    continue
                if ba.first <= bb.last and bb.first <= ba.last and ra < rb + bb.size and rb < ra + ba.size:
                    return True
        return False

    def link(a, b, rel):                   # offset(a) = offset(b) + rel
        if root(a) == root(b):
            return
        key = a if a not in parent else b if b not in parent else None
        if key is None:
            return
        parent[key] = (b, rel) if key == a else (a, -rel)
        if clash(root(key)):
            del parent[key]

    outputs = {graph.resolve(o) for o in graph.outputs}
    for src, rel in overlaps.items():
        src = graph.resolve(src)
        dst = next(graph.resolve(st.output) for st in steps if src in {graph.resolve(i) for i in st.inputs})
        link(dst, src, rel)
    if in_place_depthwise:
        for s, st in enumerate(steps):
            rec = KERNELS.get(st.kernel)
            if rec is None or not rec.writes_in_place(st.params) or st.params.get("out_c") != st.params.get("in_c"):
                continue                   # in place only at depth multiplier 1
            src, dst = graph.resolve(st.inputs[0]), graph.resolve(st.output)
            bi, bo = buffers[src], buffers[dst]
            if bi.last == s and bo.first == s and src not in outputs and bo.size <= bi.size:
                link(dst, src, 0)
    units: dict[int, list] = {}
    for key, b in buffers.items():
        rel, k = 0, key
        while k in parent:
            k, r = parent[k][0], parent[k][1]
            rel += r
        units.setdefault(k, []).append((b, rel))
    out = []
    for u in units.values():
        low = min(r for _, r in u)
        out.append([(b, r - low) for b, r in u])
    return out


def _orderings(units):
    """Greedy first-fit depends on the order; a few cheap ones, best result wins."""
    span = lambda u: max(r + b.size for b, r in u)                          # noqa: E731
    first = lambda u: min(b.first for b, _ in u)                            # noqa: E731
    life = lambda u: max(b.last for b, _ in u) - first(u)                    # noqa: E731
    yield sorted(units, key=lambda u: (-span(u), first(u)))
    yield sorted(units, key=lambda u: (first(u), -span(u)))
    yield sorted(units, key=lambda u: (-span(u) * (life(u) + 1), first(u)))
    yield sorted(units, key=lambda u: (-life(u), -span(u)))
    import random
    rng = random.Random(0)                                                  # deterministic
    base = sorted(units, key=lambda u: (-span(u), first(u)))
    for _ in range(32):
        order = base[:]
        rng.shuffle(order)
        yield order


def _lowest_base(forbidden: list[tuple[int, int]]) -> int:
    """The lowest aligned offset >= 0 outside every [lo, hi) of `forbidden` (first fit)."""
    base = 0
    for lo, hi in sorted(forbidden):
        if hi <= base:
            continue
        if lo > base:
            break
        base = _align(hi)
    return base


def _place(units) -> int:
    placed: list[Buffer] = []
    # placed buffers by the steps they live in: a unit meets only those alive with it (was: every
    # placed buffer, O(n^2) per ordering: a 5000-operator chain took 2 minutes to plan)
    alive: dict[int, list[Buffer]] = {}
    odd: list[Buffer] = []                 # first > last: compared with every unit, as before
    for unit in units:
        forbidden = []                     # base offsets [lo, hi) that would collide
        for b, rel in unit:
            if b.first <= b.last:
                seen: set[int] = set()
                near = [p for s in range(b.first, b.last + 1) for p in alive.get(s, ())
                        if id(p) not in seen and not seen.add(id(p))] + odd
            else:
                near = placed
            for p in near:
                if p.first <= b.last and b.first <= p.last:
                    forbidden.append((p.offset - rel - b.size + 1, p.offset + p.size - rel))
        base = _lowest_base(forbidden)
        for b, rel in unit:
            b.offset = base + rel
            placed.append(b)
            for s in range(b.first, b.last + 1):
                alive.setdefault(s, []).append(b)
            if b.first > b.last:
                odd.append(b)
    return max((b.offset + b.size for b in placed), default=0)


def peak_live_bytes(plan: Plan, steps: int) -> list[int]:
    """Bytes live during each step, an in-place pair counted as the block it occupies:
    the lower bound any placement of these blocks must respect."""
    partner = {src: dst for src, dst in plan.in_place}
    out = []
    for s in range(steps):
        total, seen = 0, set()
        for key, b in plan.buffers.items():
            if not b.first <= s <= b.last:
                continue
            dst = partner.get(key)
            if dst is not None and plan.buffers[dst].first <= s <= plan.buffers[dst].last:
                o = plan.buffers[dst]
                total += max(o.offset + o.size, b.offset + b.size) - o.offset - o.size  # the overhang
                continue
            total += b.size
            seen.add(key)
        out.append(total)
    return out
