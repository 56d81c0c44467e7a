"""Patch-based execution of the memory-heavy first stage (MCUNetV2: Lin et al., "MCUNetV2:
Memory-Efficient Patch-based Inference for Tiny Deep Learning", NeurIPS 2021, section 3.1).

The first `split + 1` layers (the *stage*) run once per spatial patch of the stage's output
tensor S: each patch's receptive field is computed back through the stage, the input window it
needs is copied out of the model input into a small buffer, every layer of the stage runs on
patch-sized buffers with its own sizes and padding (the image border's padding where the patch
touches the border, none inside), and the patch's rows are copied into S. Only one patch's
intermediates are alive, in a sub-arena that the planner treats as the stage's scratch. Every
output value is the same arithmetic on the same inputs as layer-by-layer execution, so the result
is bit-exact by construction; the cost is recomputing the overlapping halos.

Regions are half-open [y0, y1) x [x0, x1) in a tensor's own coordinates. For a convolution or
pooling with stride s, (dilated) kernel extent e = (k - 1) * d + 1 and TFLite's padding P, output
rows [o0, o1) need input rows [o0 * s - P, (o1 - 1) * s - P + e), clipped to the tensor
(tensorflow/lite/kernels/internal/reference/conv.h: in_y = out_y * stride - pad + ky * dilation).
A patch's buffer holds the clipped window; its kernel call gets pad_top = window start - (o0 * s - P)
(the original padding at the image border, 0 inside) and the kernels' bounds checks
(in_y < in_h) supply the bottom/right border padding.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from .cost_model import CostModel, cost_key, layer_features
from .line_buffer import CALL_INSTR
from .errors import CodegenError
from .graph import Graph
from .ops import KERNELS, Step
from .ops.registry import epilogue_c
from .planner import ALIGN, Buffer, Plan, _orderings, _place, plan_memory

SPATIAL = ("mcuf_conv_params", "mcuf_pool_params")
PER_PIXEL = ("mcuf_add_s8", "mcuf_lut_s8", "mcuf_requantize_s8")   # flat `size`, same shape in/out
# (and kernels walking `out_dims` with stride1/stride2, e.g. mcuf_add_s8_dsp, on same-shape operands)
COPY_INSTR_PER_BYTE = 0.5     # a row copy (memcpy, word loads/stores) on the M7: ~2 instr / 4 bytes
COPY_INSTR_PER_ROW = 30
GRIDS = range(2, 17)           # patch rows tried
SQUARE = range(2, 9)           # n x n grids tried


@dataclass
class LayerByLayer:
    """No patches: layer by layer with the depthwise convolutions in place (plan)."""
    plan: Plan
    split: int = -1
    overhead: float = 0.0

    def describe(self) -> str:
        return (f"layer by layer, depthwise convolutions in place: arena {self.plan.arena_bytes:,} B, "
                "no recomputation")


class RamLimitError(CodegenError):
    """No schedule fits the RAM limit; the message names the smallest reachable arena.

    `smallest` is that arena in bytes and `how` the schedule reaching it (e.g. "layer by
    layer" or a patch schedule's label), for callers that word their own refusal
    (codegen/board_budget.py)."""

    def __init__(self, message: str, smallest: int, how: str):
        super().__init__(message)
        self.smallest, self.how = smallest, how


Region = tuple[int, int, int, int]     # y0, y1, x0, x1


def _area(r: Region) -> int:
    return (r[1] - r[0]) * (r[3] - r[2])


def _union(a: Region | None, b: Region) -> Region:
    return b if a is None else (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


def _need_1d(o0: int, o1: int, stride: int, pad: int, extent: int, size: int) -> tuple[int, int, int]:
    """(clipped start, clipped end, pad before) of the input rows that output rows [o0, o1) read."""
    r0, r1 = o0 * stride - pad, (o1 - 1) * stride - pad + extent
    c0, c1 = max(r0, 0), min(r1, size)
    return c0, c1, c0 - r0


def _spatial_need(p: dict, out: Region) -> tuple[Region, int, int]:
    eh = (p["k_h"] - 1) * p.get("dil_h", 1) + 1
    ew = (p["k_w"] - 1) * p.get("dil_w", 1) + 1
    y0, y1, pt = _need_1d(out[0], out[1], p["stride_h"], p["pad_top"], eh, p["in_h"])
    x0, x1, pl = _need_1d(out[2], out[3], p["stride_w"], p["pad_left"], ew, p["in_w"])
    return (y0, y1, x0, x1), pt, pl


def _channels(graph: Graph, t: int) -> int:
    return graph.tensors[t].shape[-1]


def _hw(graph: Graph, t: int) -> tuple[int, int]:
    s = graph.tensors[t].shape
    return s[1], s[2]


@dataclass
class PatchCall:
    """One kernel call inside one patch."""
    step: int                           # index into the layer-by-layer steps
    params: dict                        # the step's params with this patch's sizes and padding
    crops: list[tuple[int, Region, Region]] = field(default_factory=list)  # (input tensor, its buffer region, the region read)
    scratch_bytes: int = 0


@dataclass
class Patch:
    out: Region                         # region of the stage output S
    regions: dict[int, Region]          # tensor -> region held in its patch buffer (input X: the window)
    calls: list[PatchCall]


@dataclass
class PatchSchedule:
    split: int                          # last layer of the stage (inclusive)
    grid: int                           # patch rows of S
    cols: int                           # patch columns of S (1: full-width row bands, which read X
                                        # and write S in place: no window copies)
    input: int                          # stage input tensor (the model input)
    output: int                         # stage output tensor S
    patches: list[Patch]
    sub_offsets: dict                   # sub-arena: tensor -> offset, ("crop", step, k) / ("scratch", step) -> offset
    sub_bytes: int
    plan: Plan | None = None            # the arena plan of [stage] + the layers after it
    arena_bytes: int = 0
    macs: int = 0                       # MACs of the stage's calls, all patches
    base_macs: int = 0                  # the same layers layer by layer
    instructions: float = 0.0           # predicted, whole network
    base_instructions: float = 0.0
    stage_peak: int = 0                 # X + S + sub-arena
    shape: tuple = ()                   # S's shape
    lower_bound: int = 0                # of arena_bytes, before planning (_lower_bounds)
    output_in_input: int | None = None  # S placed at this offset inside X's bytes (input_reuse_offset)

    @property
    def overhead(self) -> float:
        return self.instructions / self.base_instructions - 1 if self.base_instructions else 0.0

    def describe(self) -> str:
        return (f"patch stage: layers 0..{self.split} in {self.grid}x{self.cols} patches of "
                f"{list(self.shape)}; sub-arena {self.sub_bytes:,} B; arena {self.arena_bytes:,} B; "
                f"stage MACs {self.macs:,} vs {self.base_macs:,} layer by layer "
                f"(+{(self.macs / max(self.base_macs, 1) - 1) * 100:.1f}%); predicted instructions "
                f"+{self.overhead * 100:.1f}% over layer by layer")


def candidate_splits(graph: Graph, steps: list[Step]) -> list[int]:
    """Layer indices k such that layers 0..k form a stage patch execution can run: every layer a
    convolution, pooling or per-pixel op on 4-D NHWC maps, the stage reading only the model
    input, and exactly one tensor (layer k's output) leaving the stage."""
    out: list[int] = []
    if len(graph.inputs) != 1:
        return out
    x = graph.resolve(graph.inputs[0])
    produced: set[int] = set()
    model_outputs = {graph.resolve(o) for o in graph.outputs}
    for k, s in enumerate(steps):
        ok = s.params_type in SPATIAL or ((s.kernel in PER_PIXEL or "out_dims" in s.params) and all(
            graph.tensors[i].shape == graph.tensors[s.output].shape for i in s.inputs)
            and not any(graph.tensors[i].is_constant for i in s.op.inputs if i >= 0))
        if not ok or len(graph.tensors[s.output].shape) != 4:
            break
        if any(a[0] not in ("in", "out", "const", "scratch") for a in s.args):
            break
        ins = {graph.resolve(i) for i in s.inputs}
        if not ins <= produced | {x}:
            break
        produced.add(graph.resolve(s.output))
        later = set()
        for t in steps[k + 1:]:
            later |= {graph.resolve(i) for i in t.inputs}
        leaving = (produced & later) | (produced & model_outputs)
        if leaving == {graph.resolve(s.output)} and graph.resolve(s.output) not in model_outputs \
                and any(steps[j].params_type in SPATIAL for j in range(k + 1)):
            out.append(k)
    return out


def _splits(n: int, parts: int) -> list[tuple[int, int]]:
    b = [n * i // parts for i in range(parts + 1)]
    return [(b[i], b[i + 1]) for i in range(parts)]


def _patch(graph: Graph, steps: list[Step], split: int, out: Region) -> Patch | None:
    """Receptive fields back through the stage; None if a layer would read a buffer laid out
    differently from the one its producer wrote (a convolution whose input is also needed
    elsewhere with a larger halo)."""
    res = graph.resolve
    S = res(steps[split].output)
    regions: dict[int, Region] = {S: out}
    for s in reversed(steps[:split + 1]):
        r = regions.get(res(s.output))
        if r is None:
            return None
        for i in s.inputs:
            need = _spatial_need(s.params, r)[0] if s.params_type in SPATIAL else r
            regions[res(i)] = _union(regions.get(res(i)), need)
    calls = []
    for j, s in enumerate(steps[:split + 1]):
        r = regions[res(s.output)]
        c = _channels(graph, s.output)
        p = dict(s.params)
        call = PatchCall(j, p)
        if s.params_type in SPATIAL:
            need, pt, pl = _spatial_need(s.params, r)
            if need != regions[res(s.inputs[0])] or _area(need) == 0:
                return None
            p.update(in_h=need[1] - need[0], in_w=need[3] - need[2], out_h=r[1] - r[0],
                     out_w=r[3] - r[2], pad_top=pt, pad_left=pl)
        else:
            if "size" in p:
                p["size"] = _area(r) * c
            if "out_dims" in p:       # the DSP elementwise walk: same-shape operands, contiguous
                dims = [1, r[1] - r[0], r[3] - r[2], c]
                p["out_dims"] = dims
                for k in ("stride1", "stride2"):
                    if k in p:
                        p[k] = [dims[1] * dims[2] * c, dims[2] * c, c, 1]
            for i in s.inputs:
                if regions[res(i)] != r:
                    call.crops.append((res(i), regions[res(i)], r))
        call.scratch_bytes = KERNELS[s.kernel].scratch_bytes(p)
        calls.append(call)
    return Patch(out, regions, calls)


def _a(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def build_schedule(graph: Graph, steps: list[Step], split: int, grid: int, cols: int = 0,
                   cost: CostModel | None = None, plan: bool = True) -> PatchSchedule | None:
    """The grid x cols (cols 0: grid x grid) patch schedule of layers 0..split, its sub-arena and its arena plan; None when
    the stage's output is smaller than the grid or a receptive field cannot be laid out."""
    res = graph.resolve
    S, X = res(steps[split].output), res(graph.inputs[0])
    H, W = _hw(graph, S)
    cols = cols or grid
    if H < grid or W < cols:
        return None
    direct = cols == 1      # full-width bands: X's rows and S's rows are the patch buffers
    patches = []
    for ys in _splits(H, grid):
        for xs in _splits(W, cols):
            p = _patch(graph, steps, split, (ys[0], ys[1], xs[0], xs[1]))
            if p is None:
                return None
            patches.append(p)
    # sub-arena: one buffer per stage tensor (its largest patch), crops and scratch, placed
    # over the per-patch timeline (0: the input window copy, j + 1: layer j, split + 2: copy out)
    when: dict = {}
    size: dict = {}

    def need(key, nbytes, t0, t1):
        size[key] = max(size.get(key, 0), nbytes)
        a, b = when.get(key, (t0, t1))
        when[key] = (min(a, t0), max(b, t1))

    for p in patches:
        for t, r in p.regions.items():
            if direct and t in (X, S):
                continue
            c = _channels(graph, t)
            need(t, _area(r) * c, 0, 0)
        for call in p.calls:
            j = call.step
            for k, (t, _, r) in enumerate(call.crops):
                need(("crop", j, k), _area(r) * _channels(graph, t), j + 1, j + 1)
            if call.scratch_bytes:
                need(("scratch", j), call.scratch_bytes, j + 1, j + 1)
    # tensor lifetimes from producers and consumers
    for t in [k for k in list(size) if not isinstance(k, tuple)]:
        if t not in size:
            continue
        first = 0 if t == X else 1 + next(j for j, s in enumerate(steps[:split + 1]) if res(s.output) == t)
        last = split + 2 if t == S else max(1 + j for j, s in enumerate(steps[:split + 1])
                                           if t in {res(i) for i in s.inputs})
        when[t] = (first, last)
    # in-place depthwise (channel_planar kernels) inside the patch: the output shares the
    # bytes of an input that dies at that layer (the output region is never larger)
    alias: dict = {}
    for j, st in enumerate(steps[:split + 1]):
        rec = KERNELS.get(st.kernel)
        src, dst = res(st.inputs[0]), res(st.output)
        if (rec is not None and rec.writes_in_place(st.params) and src in size and dst in size
                and st.params.get("out_c") == st.params.get("in_c")
                and src not in alias.values() and when[src][1] == j + 1
                and all(_area(p.regions[dst]) <= _area(p.regions[src]) for p in patches)):
            size[src] = max(size[src], size.pop(dst))
            when[src] = (when[src][0], when.pop(dst)[1])
            alias[dst] = src
    keys = list(size)
    bufs = {k: Buffer(i, size[k], when[k][0], when[k][1]) for i, k in enumerate(keys)}
    best = None
    for n, order in enumerate(_orderings([[(b, 0)] for b in bufs.values()])):
        if n == 8:                      # the deterministic orders and a few shuffles suffice here
            break
        total = _place(order)
        if best is None or total < best[0]:
            best = (total, {k: b.offset for k, b in bufs.items()})
    offsets = best[1]
    for dst, src in alias.items():
        offsets[dst] = offsets[src]
    sched = PatchSchedule(split, grid, cols, X, S, patches, offsets, _a(best[0]))
    sched.shape = tuple(graph.tensors[S].shape)
    if plan:
        plan_schedule(graph, steps, sched)
    xs = graph.tensors[X].nbytes
    # a lower bound of the stage's peak: X (with S inside it where input_reuse_offset allows) + sub-arena
    sched.stage_peak = max(xs, graph.tensors[S].nbytes) + sched.sub_bytes
    sched.base_macs = sum(s.macs for s in steps[:split + 1])
    cost = cost or CostModel.load()
    base = cost.predict(graph, steps)
    sched.base_instructions = sum(base)
    stage_instr = 0.0
    for p in patches:
        for call in p.calls:
            s = steps[call.step]
            f = _patch_features(graph, s, call, p)
            sched.macs += int(f[0])
            # the call's share of its layer's linear terms (not the fitted per-layer constant
            # again: that constant is the layer's, and counted once per patch it over-predicted
            # the patch overhead 2-3x) plus a kernel call's measured fixed cost
            c = cost.kernels.get(cost_key(s)) or cost.kernels.get(s.kernel)
            stage_instr += (cost.layer(cost_key(s), f[:3] + [0.0]) if c is not None
                            else cost.layer(cost_key(s), f)) + CALL_INSTR
            for t, _, r in call.crops:
                stage_instr += _copy_cost(_area(r) * _channels(graph, t), r[1] - r[0])
        if direct:
            continue
        win = p.regions[X]
        stage_instr += _copy_cost(_area(win) * _channels(graph, X), win[1] - win[0])
        stage_instr += _copy_cost(_area(p.out) * _channels(graph, S), p.out[1] - p.out[0])
    stage_instr += sum(base[:split + 1]) - sum(cost.layer(cost_key(s), layer_features(graph, s)[:3] + [0.0])
                                               for s in steps[:split + 1]) - CALL_INSTR * (split + 1)
    sched.instructions = sched.base_instructions - sum(base[:split + 1]) + stage_instr
    return sched


def plan_schedule(graph: Graph, steps: list[Step], sched: PatchSchedule) -> PatchSchedule:
    """The arena plan of [the stage (X -> S, the sub-arena as its scratch)] + the layers after."""
    stage = SimpleNamespace(kernel="patch_stage", params={}, inputs=[graph.inputs[0]],
                            output=steps[sched.split].output, scratch_bytes=sched.sub_bytes)
    d = input_reuse_offset(graph, steps, sched)
    reduced = [stage] + list(steps[sched.split + 1:])
    over = None if d is None else {sched.input: d}
    sched.plan = min((plan_memory(graph, reduced, over, dw, no) for dw in (False, True)
                      for no in ((frozenset(), frozenset({sched.output})) if over else (frozenset(),))),
                     key=lambda p: p.arena_bytes)
    sched.output_in_input = d
    sched.arena_bytes = sched.plan.arena_bytes
    return sched


def input_reuse_offset(graph: Graph, steps: list[Step], sched: PatchSchedule) -> int | None:
    """Where S may start relative to the input X's first byte (negative: before it) so that
    every patch row of S is written only below the input bytes that the patches from that
    row on still read: d = min over patch rows i of (first input byte read by rows >= i - end
    of S's bytes written in row i), rounded down to 16 (the planner places X and S as one
    block). None when X is still needed after the stage (a model output or a later layer's
    input)."""
    res = graph.resolve
    X, S = sched.input, sched.output
    if X in {res(o) for o in graph.outputs} or any(
            X in {res(i) for i in s.inputs} for s in steps[sched.split + 1:]):
        return None
    if getattr(sched, "kind", "") == "rows":      # codegen/line_buffer.py
        from .line_buffer import line_buffer_reuse_offset
        return line_buffer_reuse_offset(sched)
    xrow = _hw(graph, X)[1] * _channels(graph, X)
    srow = _hw(graph, S)[1] * _channels(graph, S)
    rows: dict[int, list[int]] = {}
    for p in sched.patches:
        e = rows.setdefault(p.out[0], [0, 1 << 62])
        e[0] = max(e[0], p.out[1] * srow)
        e[1] = min(e[1], p.regions[X][0] * xrow)
    d, suffix = 1 << 62, 1 << 62
    for y0 in sorted(rows, reverse=True):
        suffix = min(suffix, rows[y0][1])
        d = min(d, suffix - rows[y0][0])
    return d // ALIGN * ALIGN          # floor, also for negative d


def _copy_cost(nbytes: int, rows: int) -> float:
    return COPY_INSTR_PER_BYTE * nbytes + COPY_INSTR_PER_ROW * rows


def _patch_features(graph, s: Step, call: PatchCall, p: Patch) -> list[float]:
    """layer_features (codegen/cost_model.py) of a call on patch-sized buffers."""
    full = layer_features(graph, s)
    out_t = graph.tensors[s.output]
    r = p.regions[graph.resolve(s.output)]
    frac = _area(r) / max(out_t.shape[1] * out_t.shape[2], 1)
    ins = sum(_area(p.regions[graph.resolve(i)]) * _channels(graph, i) for i in s.inputs)
    return [full[0] * frac, full[1] * frac, float(ins), 1.0]


def _lower_bounds(graph: Graph, steps: list[Step], scheds: list[PatchSchedule]) -> None:
    """lower_bound = max(the stage's own peak, the largest live set of the layers after the
    stage, in-place pairs counted as their blocks: planner.peak_live_bytes)."""
    live = _live_after(graph, steps)
    for s in scheds:
        s.lower_bound = max([s.stage_peak] + live[s.split + 1:])


def _live_after(graph: Graph, steps: list[Step]) -> list[int]:
    """Per layer, the bytes its plan keeps live (planner.peak_live_bytes; with in-place
    depthwise, the union of the live buffers' byte ranges), the smaller of the two plans: the
    bound used to prune splits and order candidates."""
    from .planner import peak_live_bytes
    plain = peak_live_bytes(plan_memory(graph, steps), len(steps))
    dw = planned_live_bytes(plan_memory(graph, steps, in_place_depthwise=True), len(steps))
    return [min(a, b) for a, b in zip(plain, dw)]


def planned_live_bytes(plan: Plan, steps: int) -> list[int]:
    """Per step of `plan` (0..steps-1), the bytes of the arena its live buffers occupy: the
    union of their [offset, offset + size) ranges, so a buffer written over another (in-place
    depthwise, S over the consumed input rows) counts once. At most plan.arena_bytes."""
    out = []
    for i in range(steps):
        spans = sorted((b.offset, b.offset + b.size) for b in plan.buffers.values() if b.first <= i <= b.last)
        total, end = 0, -1
        for lo, hi in spans:
            if hi > end:
                total += hi - max(lo, end)
                end = hi
        out.append(total)
    return out


def smallest_schedule(graph: Graph, steps: list[Step], scheds: list[PatchSchedule]) -> PatchSchedule:
    """The schedule with the smallest planned arena (branch and bound on lower_bound)."""
    if not scheds[0].lower_bound:
        _lower_bounds(graph, steps, scheds)
    best = None
    for s in sorted(scheds, key=lambda s: (s.lower_bound, s.instructions)):
        if best is not None and s.lower_bound >= best.arena_bytes:
            break
        plan_schedule(graph, steps, s)
        if best is None or (s.arena_bytes, s.instructions) < (best.arena_bytes, best.instructions):
            best = s
    return best


def layer_by_layer_arena(graph: Graph, steps: list[Step]) -> int:
    return plan_memory(graph, steps).arena_bytes


def all_schedules(graph: Graph, steps: list[Step], cost: CostModel | None = None,
                  plan: bool = True, ram_limit: int | None = None) -> list[PatchSchedule]:
    """Every candidate split with line-buffer row bands (codegen/line_buffer.py, r input rows a
    step, r in RATES), n x n grids (n in SQUARE) and n x 1 row bands (n in GRIDS);
    with ram_limit, only splits after which the layers' live bytes fit it and stages whose
    resident input and output (a lower bound of their stage_peak) fit it. On a terminal, a
    search longer than 3 s shows its progress on stderr."""
    import sys
    import time
    cost = cost or CostModel.load()
    live = _live_after(graph, steps) if ram_limit else []
    out = []
    from .line_buffer import RATES, STRIPS, build_line_buffer
    xs = graph.tensors[graph.resolve(graph.inputs[0])].nbytes if graph.inputs else 0
    splits, t0, shown = candidate_splits(graph, steps), time.monotonic(), False
    for n_k, k in enumerate(splits):
        if sys.stderr.isatty() and time.monotonic() - t0 > 3:      # a long search: say where it is
            print(f"\rsearching patch schedules: split {n_k + 1}/{len(splits)} (layers 0..{k}), "
                  f"{len(out)} candidates", end="", file=sys.stderr, flush=True)
            shown = True
        if ram_limit and max(live[k + 1:], default=0) > ram_limit:
            continue
        # every stage keeps X and S resident (beside each other with column strips): a candidate
        # whose stage_peak (so lower_bound) cannot fit is not built (choose_schedule drops it anyway)
        ss = graph.tensors[graph.resolve(steps[k].output)].nbytes
        for r in RATES:               # row bands with cached halos (line buffers), full width
            for strips in STRIPS:     # or in column strips
                if ram_limit and (xs + ss if strips > 1 else max(xs, ss)) > ram_limit:
                    continue
                s = build_line_buffer(graph, steps, k, r, strips, cost, plan)
                if s is not None:
                    out.append(s)
        if ram_limit and max(xs, ss) > ram_limit:
            continue
        for n in GRIDS:
            for cols in ((1, n) if n in SQUARE else (1,)):
                s = build_schedule(graph, steps, k, n, cols, cost, plan)
                if s is not None:
                    out.append(s)
    if shown:
        print(f"\rsearched patch schedules: {len(splits)} splits, {len(out)} candidates in "
              f"{time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


def choose_schedule(graph: Graph, steps: list[Step], ram_limit: int | None,
                    cost: CostModel | None = None) -> PatchSchedule | None:
    """None (layer by layer, the default code) when ram_limit is None or the layer-by-layer
    arena fits; else the patch schedule whose arena fits ram_limit bytes with the fewest
    predicted instructions (codegen/cost_model.py). RamLimitError naming the smallest
    reachable arena when none fits."""
    if ram_limit is None:
        return None
    lbl = layer_by_layer_arena(graph, steps)
    if lbl <= ram_limit:
        return None
    in_place = plan_memory(graph, steps, in_place_depthwise=True)
    if in_place.arena_bytes <= ram_limit:      # no recomputation at all
        return LayerByLayer(in_place)
    scheds = all_schedules(graph, steps, cost, plan=False, ram_limit=ram_limit)
    _lower_bounds(graph, steps, scheds)
    # cheapest first; planned only where the lower bound fits
    for s in sorted(scheds, key=lambda s: (s.instructions, s.lower_bound)):
        if s.lower_bound <= ram_limit and plan_schedule(graph, steps, s).arena_bytes <= ram_limit:
            return s
    scheds = all_schedules(graph, steps, cost, plan=False)   # every split: the smallest reachable
    floor = min(lbl, in_place.arena_bytes)
    floor_how = "layer by layer" + (", depthwise in place" if floor < lbl else "")
    if not scheds:
        raise RamLimitError(
            f"--ram-limit {ram_limit:,} B: no schedule fits; the smallest reachable arena is {floor:,} B "
            f"({floor_how}); patch-based execution "
            "cannot lower it because the model does not start with a convolution or pooling layer; "
            f"raise --ram-limit to at least {floor:,} B", floor, floor_how)
    best = smallest_schedule(graph, steps, scheds)
    if best.arena_bytes >= floor:
        raise RamLimitError(
            f"--ram-limit {ram_limit:,} B: no schedule fits; the smallest reachable arena is {floor:,} B "
            f"({floor_how}: no patch schedule of the first stage lowers it; the peak is later in the "
            f"network); raise the limit to at least {floor:,} B", floor, floor_how)
    raise RamLimitError(
        f"--ram-limit {ram_limit:,} B: no schedule fits; the smallest reachable arena is "
        f"{best.arena_bytes:,} B ({schedule_label(best)}; "
        f"layer by layer: {lbl:,} B); raise the limit to at least {best.arena_bytes:,} B",
        best.arena_bytes, schedule_label(best))


def schedule_label(sched) -> str:
    """One line naming a stage schedule: 'layers 0..k in RxC patches' or its line-buffer form."""
    if hasattr(sched, "label"):
        return sched.label()
    return f"layers 0..{sched.split} in {sched.grid}x{sched.cols} patches"


PATCH_COPY_C = """
/* Copies `rows` rows of `row_bytes` between buffers of different row strides (patch windows). */
static void patch_copy(int8_t *dst, uint32_t dst_stride, const int8_t *src, uint32_t src_stride,
                       uint32_t rows, uint32_t row_bytes)
{
    for (uint32_t r = 0; r < rows; r++) {
        memcpy(dst + r * dst_stride, src + r * src_stride, row_bytes);
    }
}
"""


def render_patch_stage(graph: Graph, steps: list[Step], sched: PatchSchedule, struct_fn, value_fn,
                       x_off: int, s_off: int, sub_off: int, const_name=lambda n: n) -> tuple[str, str]:
    """C for the stage: (definitions: the const params structs, one per distinct patch shape of
    each layer, and patch_copy; body: the unrolled loop over patches). struct_fn/value_fn: the
    emitter's C renderers; x_off/s_off: arena offsets of the model input and of S; sub_off: the
    sub-arena's offset; const_name: a constant's name -> the array emitted with its contents."""
    if getattr(sched, "kind", "") == "rows":      # codegen/line_buffer.py
        from .line_buffer import render_line_buffer
        return render_line_buffer(graph, steps, sched, struct_fn, x_off, s_off, sub_off, const_name)
    res = graph.resolve
    X, S = sched.input, sched.output
    direct = sched.cols == 1
    defs, body = [], []
    names: dict = {}
    xw, xc = _hw(graph, X)[1], _channels(graph, X)
    sw, sc = _hw(graph, S)[1], _channels(graph, S)

    def buf(t, p: Patch) -> str:
        if t == X and direct:
            return f"arena + {x_off + p.regions[X][0] * xw * xc}"
        if t == S and direct:
            return f"arena + {s_off + p.out[0] * sw * sc}"
        return f"arena + {sub_off + sched.sub_offsets[t]}"

    for n, p in enumerate(sched.patches):
        body.append(f"    /* patch {n}: rows {p.out[0]}..{p.out[1] - 1}, columns {p.out[2]}..{p.out[3] - 1} "
                    f"of {'x'.join(map(str, graph.tensors[S].shape))} */\n")
        if not direct:
            w = p.regions[X]
            body.append(f"    patch_copy({buf(X, p)}, {(w[3] - w[2]) * xc}u, arena + {x_off + (w[0] * xw + w[2]) * xc}, "
                        f"{xw * xc}u, {w[1] - w[0]}u, {(w[3] - w[2]) * xc}u);\n")
        for call in p.calls:
            s = steps[call.step]
            key = (call.step, tuple((k, repr(v)) for k, v in call.params.items()))
            if key not in names:
                names[key] = f"op{s.op.index}_patch{sum(1 for k in names if k[0] == call.step)}_params"
                defs.append(struct_fn(SimpleNamespace(params_type=s.params_type, params=call.params),
                                      names[key]))
            crop_of = {}
            for k, (t, src, r) in enumerate(call.crops):
                c = _channels(graph, t)
                dst = f"arena + {sub_off + sched.sub_offsets[('crop', call.step, k)]}"
                body.append(f"    patch_copy({dst}, {(r[3] - r[2]) * c}u, "
                            f"{buf(t, p)} + {((r[0] - src[0]) * (src[3] - src[2]) + r[2] - src[2]) * c}, "
                            f"{(src[3] - src[2]) * c}u, {r[1] - r[0]}u, {(r[3] - r[2]) * c}u);\n")
                crop_of[t] = dst
            args = [f"&{names[key]}"]
            for a in s.args:
                if a[0] == "in":
                    args.append(crop_of.get(res(a[1])) or buf(res(a[1]), p))
                elif a[0] == "out":
                    args.append(buf(res(a[1]), p))
                elif a[0] == "const":
                    args.append(const_name(a[1].name))
                elif a[0] == "scratch":
                    args.append(f"(int16_t *)(void *)(arena + {sub_off + sched.sub_offsets[('scratch', call.step)]})")
                else:
                    args.append("0")
            body.append(f"    {s.kernel}({', '.join(args)});\n")
            out_arg = next((buf(res(a[1]), p) for a in s.args if a[0] == "out"), None)
            body.append(epilogue_c(s, call.params, out_arg))   # this patch's bytes only
        if not direct:
            o = p.out
            body.append(f"    patch_copy(arena + {s_off + (o[0] * sw + o[2]) * sc}, {sw * sc}u, {buf(S, p)}, "
                        f"{(o[3] - o[2]) * sc}u, {o[1] - o[0]}u, {(o[3] - o[2]) * sc}u);\n")
    body = "".join(body)
    if "patch_copy(" in body:
        defs.insert(0, PATCH_COPY_C)
    return "".join(defs), body


class StagePlan:
    """The emitter's view of a patch schedule's plan: layer i's scratch at the reduced plan's
    step i - split (the stage is step 0 there)."""

    def __init__(self, sched: PatchSchedule):
        self.sched, self.plan = sched, sched.plan
        self.arena_bytes = sched.plan.arena_bytes

    def offset(self, graph: Graph, tensor: int) -> int:
        return self.plan.offset(graph, tensor)

    def scratch_offset(self, step_index: int) -> int:
        if step_index == self.sched.split and not self.sched.sub_bytes:
            return 0   # a stage without a sub-arena (one layer, X -> S directly): no scratch buffer
        return self.plan.scratch_offset(step_index - self.sched.split)


def render_schedule(graph: Graph, steps: list[Step], sched: PatchSchedule | None, ram_limit: int) -> str:
    """`codegen inspect --ram-limit`: the schedule chosen, the peak per stage and the
    recomputation overhead (predicted instructions from codegen/cost_model.py)."""
    lbl = layer_by_layer_arena(graph, steps)
    lines = ["", f"schedule for --ram-limit {ram_limit:,} B (layer-by-layer arena {lbl:,} B):"]
    if sched is None:
        lines.append("  layer by layer (fits)")
        return "\n".join(lines)
    if isinstance(sched, LayerByLayer):
        lines.append(f"  {sched.describe()}")
        return "\n".join(lines)
    xs, ss = graph.tensors[sched.input].nbytes, graph.tensors[sched.output].nbytes
    live = planned_live_bytes(sched.plan, len(steps) - sched.split)   # step 0: the stage
    lines += [f"  {sched.describe()}",
              f"  stage: input {xs:,} B, stage output {ss:,} B "
              + (f"written over consumed input rows (offset {sched.output_in_input:,} in the input)"
                 if sched.output_in_input is not None else "beside the input")
              + f", one patch's buffers {sched.sub_bytes:,} B; arena in use during the stage "
              f"{live[0]:,} B",
              f"  after the stage (layers {sched.split + 1}..{len(steps) - 1}), arena in use at most "
              f"{max(live[1:], default=0):,} B (live buffers' byte ranges as planned)",
              f"  recomputation: {sched.macs - sched.base_macs:,} extra MACs; predicted instructions "
              f"{sched.instructions:,.0f} vs {sched.base_instructions:,.0f} layer by layer "
              f"(+{sched.overhead * 100:.1f}%)"]
    return "\n".join(lines)
