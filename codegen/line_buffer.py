"""Line-buffer (sliding-window) execution of the first stage: full-width row bands, halos cached.

The first `split + 1` layers (the *stage*, as in codegen/patch_schedule.py) run in steps. At step
b the model input X's rows [0, min(H, (b + 1) * r)) count as available (r: input rows per step);
each stage layer in order then computes every output row it can from the rows its inputs have
made available so far: output rows [done, target) where target is the largest y1 with
(y1 - 1) * stride - pad + extent <= rows available (the whole map once its input is complete;
the row formula of tensorflow/lite/kernels/internal/reference/conv.h, in_y = out_y * stride -
pad + ky * dilation). Every intermediate tensor lives in a window buffer [rows][W][C] holding
only the rows its consumers still read (from the first input row of each consumer's next output
row on); before each step the rows still needed move to the window's top (memmove, the halo's
bytes), and the new rows are appended below them. A kernel call therefore sees an ordinary
contiguous buffer: in_h = the rows it reads, out_h = the rows it writes, pad_top = the image's
padding on the first band only (0 inside), the bottom padding by the kernels' in_y < in_h check
on the last band. No output value is computed twice: the overhead is the extra kernel calls,
the halo rows' re-reads and the moves. X is read and S (the stage output) written in place, S
over the input rows no longer read where that saves arena (input_reuse_offset).

This is the line-buffer / sliding-window schedule of streaming image pipelines (e.g. Halide's
`store_at`/`compute_at` with sliding windows: Ragan-Kelley et al., PLDI 2013, section 4) applied
to the MCUNetV2 first stage (Lin et al., NeurIPS 2021).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .cost_model import CostModel, cost_key, layer_features
from .graph import Graph
from .ops import KERNELS, Step
from .ops.registry import epilogue_c
from .planner import ALIGN, Plan

RATES = (1, 2, 4, 8, 16)    # input rows per step tried
STRIPS = (1, 2, 3)                          # column strips tried
# What streaming adds, fitted to QEMU M7 measurements (benchmarks/results_patches_real.md at
# r = 1, 4, 8 on vww96_q and mbnet128_0.25_q, layers 0..3, full width): ~2,000 instructions
# per extra kernel call and ~1.9 per byte of halo rows moved (the memmove and the kernels' re-reads
# of those rows); predicted vs measured within about 10% there.
CALL_INSTR = 2000
CALL_INSTR_PER_CHANNEL = 0
MOVE_INSTR_PER_BYTE = 1.9
MOVE_INSTR = 40


def _a(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _extent(p: dict) -> tuple[int, int, int, int]:
    """(stride, pad_top, extent, in_h) of a convolution/pooling's rows."""
    return p["stride_h"], p["pad_top"], (p["k_h"] - 1) * p.get("dil_h", 1) + 1, p["in_h"]


@dataclass
class RowCall:
    step: int                           # stage layer (index into the steps)
    rows: tuple[int, int]               # output rows [a, c)
    params: dict                        # the layer's params for these rows (full width)
    reads: list[tuple[int, int]]        # per input: (tensor, first row read)


@dataclass
class Move:
    tensor: int
    shift: int                          # rows the window's contents move up
    rows: int                           # rows moved


@dataclass
class RowStep:
    moves: list[Move]
    calls: list[RowCall]
    base: dict                          # tensor -> first row held in its window during the step
    x_rows: tuple[int, int] = (0, 0)    # input rows that arrive at this step


@dataclass
class Strip:
    """One column strip of S (all of it when strips == 1): each stage tensor's columns [x0, x1)."""
    cols: dict                          # tensor -> (x0, x1)
    params: dict                        # (step index in the row schedule, call index) -> params
    crops: dict                         # (row step, call index) -> [(input tensor, crop offset)]


@dataclass
class LineBufferSchedule:
    """Duck-types codegen.patch_schedule.PatchSchedule for the planner, emitter and CLI."""
    split: int
    rate: int                           # input rows per step
    strips: int                         # column strips of S (1: full-width bands)
    input: int
    output: int
    steps: list[RowStep]
    strip_list: list[Strip]
    windows: dict                       # tensor -> (offset in the sub-arena, rows, bytes of a row)
    crop_offset: int
    scratch_offset: int
    sub_bytes: int
    kind: str = "rows"
    plan: Plan | None = None
    arena_bytes: int = 0
    macs: int = 0
    base_macs: int = 0
    instructions: float = 0.0
    base_instructions: float = 0.0
    stage_peak: int = 0
    shape: tuple = ()
    lower_bound: int = 0
    output_in_input: int | None = None
    reuse: list[tuple[int, int]] = field(default_factory=list)   # per step: (S bytes written by its
    #                                          end, first X byte read from it on); [] when strips > 1
    calls: int = 0
    moved_bytes: int = 0

    @property
    def grid(self) -> int:              # for callers written for PatchSchedule
        return len(self.steps)

    @property
    def cols(self) -> int:
        return self.strips

    @property
    def overhead(self) -> float:
        return self.instructions / self.base_instructions - 1 if self.base_instructions else 0.0

    def label(self) -> str:
        return (f"layers 0..{self.split} in {len(self.steps)} row bands"
                + (f" x {self.strips} column strips" if self.strips > 1 else "")
                + f" ({self.rate} input rows each, halos cached)")

    def describe(self) -> str:
        return (f"line-buffer stage: {self.label()}, S {list(self.shape)}; sub-arena (windows + "
                f"scratch) {self.sub_bytes:,} B; arena {self.arena_bytes:,} B; {self.calls} kernel calls, "
                f"{self.moved_bytes:,} B of halo rows moved; stage MACs {self.macs:,} vs "
                f"{self.base_macs:,} layer by layer; predicted instructions "
                f"+{self.overhead * 100:.1f}% over layer by layer")


def _row_schedule(graph, stage, X, S, rate, spatial):
    """The steps (row calls, moves, window bases) and each window's rows; None if stuck."""
    res = graph.resolve
    H = {X: graph.tensors[X].shape[1]}
    for s in stage:
        H[res(s.output)] = graph.tensors[res(s.output)].shape[1]
    consumers: dict[int, list[int]] = {}
    for j, s in enumerate(stage):
        for i in s.inputs:
            consumers.setdefault(res(i), []).append(j)

    def first_read(j: int, y: int) -> int:          # first input row output row y of layer j reads
        s = stage[j]
        if s.params_type in spatial:
            st, pad, _, _ = _extent(s.params)
            return max(y * st - pad, 0)
        return y

    # rows a layer may add per step: the input rate scaled by the strides before it (so that
    # once the input is complete the remaining rows still stream instead of all at once)
    scale = {X: 1}
    for s in stage:
        st = s.params["stride_h"] if s.params_type in spatial else 1
        scale[res(s.output)] = max(scale[res(i)] for i in s.inputs) * st
    done = {t: 0 for t in H}
    base_prev: dict[int, int] = {}
    out_steps: list[RowStep] = []
    cap: dict[int, int] = {}
    b = 0
    while done[S] < H[S]:
        avail_x = min(H[X], (b + 1) * rate)
        base = {}
        for t in H:
            reads = [first_read(j, done[res(stage[j].output)]) for j in consumers.get(t, [])
                     if done[res(stage[j].output)] < H[res(stage[j].output)]]
            base[t] = min([done[t]] + reads)
        moves = []
        for t, b0 in base.items():
            shift = b0 - base_prev.get(t, 0)
            if shift > 0 and done[t] > b0:
                moves.append(Move(t, shift, done[t] - b0))
        x_rows = (done[X], avail_x)
        avail = dict(done)
        avail[X] = avail_x
        calls = []
        for j, s in enumerate(stage):
            t = res(s.output)
            ins = [res(i) for i in s.inputs]
            if s.params_type in spatial:
                st, pad, ext, in_h = _extent(s.params)
                a_in = avail[ins[0]]
                target = H[t] if a_in >= H[ins[0]] else max(0, (a_in + pad - ext) // st + 1)
            else:
                target = min(avail[i] for i in ins)
            target = min(max(target, done[t]), H[t], done[t] + max(1, -(-rate // scale[t])))
            avail[t] = target
            if target == done[t]:
                continue
            a, c = done[t], target
            p = dict(s.params)
            if s.params_type in spatial:
                st, pad, ext, in_h = _extent(p)
                r0, r1 = a * st - pad, (c - 1) * st - pad + ext
                y0, y1 = max(r0, 0), min(r1, in_h)
                if not base[ins[0]] <= y0 < y1 <= avail[ins[0]]:
                    return None             # rows this schedule does not hold (never seen)
                p.update(in_h=y1 - y0, out_h=c - a, pad_top=y0 - r0)
                reads = [(ins[0], y0)]
            else:
                reads = [(i, a) for i in ins]
            calls.append(RowCall(j, (a, c), p, reads))
            done[t] = c
        done[X] = avail_x
        for t in base:
            cap[t] = max(cap.get(t, 0), done[t] - base[t])
        out_steps.append(RowStep(moves, calls, base, x_rows))
        base_prev = base
        b += 1
        if b > 4 * H[X] + 8 * len(stage):      # no progress: a layer this schedule cannot stream
            return None
    return out_steps, cap


def _strip_cols(graph, stage, X, S, x0: int, x1: int, spatial) -> dict | None:
    """Columns [x0, x1) of every stage tensor that S's columns [x0, x1) need (union over
    consumers); None if a convolution's input would hold more columns than it reads."""
    res = graph.resolve
    cols = {S: (x0, x1)}
    for s in reversed(stage):
        r = cols.get(res(s.output))
        if r is None:
            return None
        for i in s.inputs:
            if s.params_type in spatial:
                p = s.params
                ew = (p["k_w"] - 1) * p.get("dil_w", 1) + 1
                r0, r1 = r[0] * p["stride_w"] - p["pad_left"], (r[1] - 1) * p["stride_w"] - p["pad_left"] + ew
                need = (max(r0, 0), min(r1, p["in_w"]))
            else:
                need = r
            old = cols.get(res(i))
            cols[res(i)] = need if old is None else (min(old[0], need[0]), max(old[1], need[1]))
    for s in stage:
        if s.params_type in spatial:
            p, r = s.params, cols[res(s.output)]
            ew = (p["k_w"] - 1) * p.get("dil_w", 1) + 1
            r0 = r[0] * p["stride_w"] - p["pad_left"]
            need = (max(r0, 0), min((r[1] - 1) * p["stride_w"] - p["pad_left"] + ew, p["in_w"]))
            if need != cols[res(s.inputs[0])]:
                return None
    return cols


def build_line_buffer(graph: Graph, steps: list[Step], split: int, rate: int, strips: int = 1,
                      cost: CostModel | None = None, plan: bool = True) -> LineBufferSchedule | None:
    """The line-buffer schedule of layers 0..split reading `rate` input rows per step, in
    `strips` column strips of S (1: full-width bands; more: each strip streams its columns'
    receptive field, copied out of the input row by row, its halo columns recomputed); shapes
    NHWC, rows = H. None when rate >= the input's rows (that is layer by layer), S is narrower
    than `strips`, or a layer cannot be streamed. Sizes in bytes; instructions predicted by
    `cost` (codegen/cost_model.py: the layers' linear terms scaled to each call) plus
    CALL_INSTR-style constants per extra call and per moved/copied byte."""
    from .patch_schedule import SPATIAL, _copy_cost, plan_schedule
    res = graph.resolve
    X, S = res(graph.inputs[0]), res(steps[split].output)
    stage = steps[:split + 1]
    HX, WX = graph.tensors[X].shape[1:3]
    W_S = graph.tensors[S].shape[2]
    if rate >= HX or W_S < strips:
        return None
    sch = _row_schedule(graph, stage, X, S, rate, SPATIAL)
    if sch is None:
        return None
    out_steps, cap = sch
    ch = {t: graph.tensors[t].shape[3] for t in cap}
    strip_list = []
    for k in range(strips):
        x0, x1 = W_S * k // strips, W_S * (k + 1) // strips
        cols = _strip_cols(graph, stage, X, S, x0, x1, SPATIAL)
        if cols is None:
            return None
        strip = Strip(cols, {}, {})
        for n, st in enumerate(out_steps):
            for m, call in enumerate(st.calls):
                s = stage[call.step]
                p = dict(call.params)
                t = res(s.output)
                oc = cols[t]
                w = oc[1] - oc[0]
                if s.params_type in SPATIAL:
                    ew = (p["k_w"] - 1) * p.get("dil_w", 1) + 1
                    r0 = oc[0] * p["stride_w"] - p["pad_left"]
                    ic = cols[res(s.inputs[0])]
                    p.update(in_w=ic[1] - ic[0], out_w=w, pad_left=ic[0] - r0)
                else:
                    rows = call.rows[1] - call.rows[0]
                    if "size" in p:
                        p["size"] = rows * w * ch[t]
                    if "out_dims" in p:
                        dims = [1, rows, w, ch[t]]
                        p["out_dims"] = dims
                        for key in ("stride1", "stride2"):
                            if key in p:
                                p[key] = [dims[1] * dims[2] * ch[t], dims[2] * ch[t], ch[t], 1]
                    crops = [(i, cols[i][0], oc[0]) for i, _ in call.reads if cols[i] != oc]
                    if crops:
                        strip.crops[(n, m)] = crops
                strip.params[(n, m)] = p
        strip_list.append(strip)
    windowed = [t for t in cap if strips > 1 or t not in (X, S)]
    width = {t: max(st.cols[t][1] - st.cols[t][0] for st in strip_list) for t in cap}
    windows, off = {}, 0
    for t in sorted(windowed, key=lambda t: -cap[t] * width[t] * ch[t]):
        if cap[t] == 0:
            continue
        windows[t] = (off, cap[t], width[t] * ch[t])
        off += _a(cap[t] * width[t] * ch[t])
    crop = 0
    for strip in strip_list:
        for (n, m), cs in strip.crops.items():
            call = out_steps[n].calls[m]
            t = res(stage[call.step].output)
            rows = call.rows[1] - call.rows[0]
            crop = max(crop, sum(_a(rows * (strip.cols[t][1] - strip.cols[t][0]) * ch[i]) for i, _, _ in cs))
    scratch = max((KERNELS[stage[call.step].kernel].scratch_bytes(strip.params[(n, m)])
                   for strip in strip_list for n, st in enumerate(out_steps)
                   for m, call in enumerate(st.calls)), default=0)
    sched = LineBufferSchedule(split, rate, strips, X, S, out_steps, strip_list, windows, off,
                               off + _a(crop), _a(off + _a(crop) + scratch))
    sched.shape = tuple(graph.tensors[S].shape)
    row = {t: graph.tensors[t].shape[2] * ch[t] for t in cap}
    if strips == 1:             # S over X: S's bytes written by each step vs the first X byte read
        s_end, x_first = 0, []
        for st in out_steps:
            xr = [y for c in st.calls for (t, y) in c.reads if t == X]
            x_first.append(min(xr) * row[X] if xr else 1 << 62)
        suffix, firsts = 1 << 62, []
        for v in reversed(x_first):
            suffix = min(suffix, v)
            firsts.append(suffix)
        firsts.reverse()
        for st, f in zip(out_steps, firsts):
            for c in st.calls:
                if res(stage[c.step].output) == S:
                    s_end = c.rows[1] * row[S]
            sched.reuse.append((s_end, f))
    sched.calls = strips * sum(len(st.calls) for st in out_steps)
    sched.moved_bytes = sum(m.rows * width[m.tensor] * ch[m.tensor] for st in out_steps for m in st.moves
                            if m.tensor in windows) * strips
    # cost: each call's share of its layer's linear terms, plus what streaming adds
    cost = cost or CostModel.load()
    base_pred = cost.predict(graph, steps)
    sched.base_instructions = sum(base_pred)
    stage_instr = sum(base_pred[:split + 1])
    macs = 0.0
    for j, s in enumerate(stage):
        full = layer_features(graph, s)
        c = cost.kernels.get(cost_key(s)) or cost.kernels.get(s.kernel) or [cost.fallback_per_mac, 20.0, 0.0, 0.0]
        t = res(s.output)
        n, f_mac, f_out, f_in = 0, 0.0, 0.0, 0.0
        for strip in strip_list:
            for (nn, m), p in strip.params.items():
                call = out_steps[nn].calls[m]
                if call.step != j:
                    continue
                n += 1
                frac = (call.rows[1] - call.rows[0]) * (strip.cols[t][1] - strip.cols[t][0]) / (
                    graph.tensors[t].shape[1] * graph.tensors[t].shape[2])
                f_mac += full[0] * frac
                f_out += full[1] * frac
                if s.params_type in SPATIAL:
                    f_in += p["in_h"] * p["in_w"] * graph.tensors[res(s.inputs[0])].shape[3]
                else:
                    f_in += full[2] * frac
                for i, _, _ in strip.crops.get((nn, m), []):
                    rows = call.rows[1] - call.rows[0]
                    stage_instr += _copy_cost(rows * (strip.cols[t][1] - strip.cols[t][0]) * ch[i], rows)
        macs += f_mac
        if strips > 1:      # the halo columns recomputed (the halo rows' re-reads: MOVE_INSTR_PER_BYTE)
            stage_instr += c[0] * (f_mac - full[0]) + c[1] * (f_out - full[1]) + c[2] * (f_in - full[2])
        stage_instr += (n - 1) * (CALL_INSTR + CALL_INSTR_PER_CHANNEL * ch[t])
    stage_instr += strips * sum(MOVE_INSTR + MOVE_INSTR_PER_BYTE * m.rows * width[m.tensor] * ch[m.tensor]
                                for st in out_steps for m in st.moves if m.tensor in windows)
    if strips > 1:      # input rows copied in, output rows copied out
        stage_instr += sum(_copy_cost(graph.tensors[X].shape[1] * (st.cols[X][1] - st.cols[X][0]) * ch[X],
                                      graph.tensors[X].shape[1]) for st in strip_list)
        stage_instr += _copy_cost(graph.tensors[S].nbytes, graph.tensors[S].shape[1] * strips)
    sched.instructions = sched.base_instructions - sum(base_pred[:split + 1]) + stage_instr
    sched.base_macs = int(sum(s.macs for s in stage))
    sched.macs = int(round(macs))
    sched.stage_peak = (max(graph.tensors[X].nbytes, graph.tensors[S].nbytes) if strips == 1 else
                        graph.tensors[X].nbytes + graph.tensors[S].nbytes) + sched.sub_bytes
    if plan:
        plan_schedule(graph, steps, sched)
    return sched


def streaming_input_bound(graph: Graph, steps: list[Step]) -> tuple[int, int, int] | None:
    """What a streaming input (camera rows arriving, the input never resident) would need:
    min over stage splits k and RATES of max(the stage's working set: the input rows its first
    layer still reads + the windows + the scratch + S, the live bytes of the layers after it
    (patch_schedule._live_after)) -> (bytes, split, rate); None without a stage. A bound before
    planning (alignment and placement add a little), not a schedule the generator emits."""
    from .patch_schedule import _live_after, candidate_splits
    live = _live_after(graph, steps)
    best = None
    for k in candidate_splits(graph, steps):
        for r in RATES:
            s = build_line_buffer(graph, steps, k, r, 1, plan=False)
            if s is None:
                continue
            x = s.input
            xrow = graph.tensors[x].shape[2] * graph.tensors[x].shape[3]
            xrows = max(st.x_rows[1] - st.base[x] for st in s.steps)
            need = max([s.sub_bytes + xrows * xrow + graph.tensors[s.output].nbytes] + live[k + 1:])
            if best is None or need < best[0]:
                best = (need, k, r)
    return best


def line_buffer_reuse_offset(sched: LineBufferSchedule) -> int | None:
    """input_reuse_offset for a line-buffer stage: S may start d bytes after X's first byte
    when, at every step, S's bytes written by its end stay below the first X byte that step
    and the later ones read: d = min over steps (first X byte read - S bytes written), floored
    to ALIGN. None with column strips (every strip reads the input from its top)."""
    if not sched.reuse:
        return None
    d = min(f - s for s, f in sched.reuse)
    return d // ALIGN * ALIGN


def render_line_buffer(graph: Graph, steps: list[Step], sched: LineBufferSchedule, struct_fn,
                       x_off: int, s_off: int, sub_off: int, const_name=lambda n: n) -> tuple[str, str]:
    """C for the stage (as patch_schedule.render_patch_stage): (definitions, body)."""
    from types import SimpleNamespace
    from .patch_schedule import PATCH_COPY_C
    res = graph.resolve
    X, S = sched.input, sched.output
    defs, chunks, body = [], [], None
    names: dict = {}
    shape = {t: graph.tensors[t].shape for t in (X, S)}

    for k, strip in enumerate(sched.strip_list):
        def rowbytes(t):
            return (strip.cols[t][1] - strip.cols[t][0]) * graph.tensors[t].shape[3]

        def ptr(t, y, base):
            if t not in sched.windows and t in (X, S):       # full-width bands: in place
                return f"arena + {(x_off if t == X else s_off) + y * shape[t][2] * shape[t][3]}"
            return f"arena + {sub_off + sched.windows[t][0] + (y - base[t]) * rowbytes(t)}"

        for n, st in enumerate(sched.steps):
            if not (st.calls or any(m.tensor in sched.windows for m in st.moves)
                    or (st.x_rows[1] > st.x_rows[0] and X in sched.windows)):
                continue                                    # nothing moves, arrives or is computed
            chunks.append([f"strip {k}, step {n}" if sched.strips > 1 else f"step {n}", ""])
            body = chunks[-1]
            for m in st.moves:
                if m.tensor not in sched.windows:
                    continue
                w = sub_off + sched.windows[m.tensor][0]
                rb = rowbytes(m.tensor)
                body[1] += (f"    memmove(arena + {w}, arena + {w + m.shift * rb}, {m.rows * rb}u);\n")
            if X in sched.windows and st.x_rows[1] > st.x_rows[0]:
                y0, y1 = st.x_rows
                c = shape[X][3]
                x0 = strip.cols[X][0]
                body[1] += (f"    patch_copy({ptr(X, y0, st.base)}, {rowbytes(X)}u, arena + "
                            f"{x_off + (y0 * shape[X][2] + x0) * c}, {shape[X][2] * c}u, {y1 - y0}u, {rowbytes(X)}u);\n")
            for m, call in enumerate(st.calls):
                s = steps[call.step]
                params = strip.params[(n, m)]
                key = (call.step, tuple((kk, repr(v)) for kk, v in params.items()))
                if key not in names:
                    names[key] = f"op{s.op.index}_rows{sum(1 for kk in names if kk[0] == call.step)}_params"
                    defs.append(struct_fn(SimpleNamespace(params_type=s.params_type, params=params), names[key]))
                reads = dict(call.reads)
                rows = call.rows[1] - call.rows[0]
                t_out = res(s.output)
                crop_of, at = {}, sub_off + sched.crop_offset
                for i, ix0, ox0 in strip.crops.get((n, m), []):
                    c = graph.tensors[i].shape[3]
                    w = strip.cols[t_out][1] - strip.cols[t_out][0]
                    body[1] += (f"    patch_copy(arena + {at}, {w * c}u, {ptr(i, reads[i], st.base)} + "
                                f"{(ox0 - ix0) * c}, {rowbytes(i)}u, {rows}u, {w * c}u);\n")
                    crop_of[i] = f"arena + {at}"
                    at += _a(rows * w * c)
                args = [f"&{names[key]}"]
                for a in s.args:
                    if a[0] == "in":
                        t = res(a[1])
                        args.append(crop_of.get(t) or ptr(t, reads[t], st.base))
                    elif a[0] == "out":
                        args.append(ptr(res(a[1]), call.rows[0], st.base))
                    elif a[0] == "const":
                        args.append(const_name(a[1].name))
                    elif a[0] == "scratch":
                        args.append(f"(int16_t *)(void *)(arena + {sub_off + sched.scratch_offset})")
                    else:
                        args.append("0")
                body[1] += (f"    {s.kernel}({', '.join(args)});\n")
                body[1] += epilogue_c(s, params, ptr(res(s.output), call.rows[0], st.base))   # these rows only
                if t_out == S and S in sched.windows:
                    c = shape[S][3]
                    x0 = strip.cols[S][0]
                    body[1] += (f"    patch_copy(arena + {s_off + (call.rows[0] * shape[S][2] + x0) * c}, "
                                f"{shape[S][2] * c}u, {ptr(S, call.rows[0], st.base)}, {rowbytes(S)}u, "
                                f"{rows}u, {rowbytes(S)}u);\n")
    body = loop_steady_state(chunks)
    if "patch_copy(" in body:
        defs.insert(0, PATCH_COPY_C)
    return "".join(defs), body


_NUM = re.compile(r"(?<![A-Za-z_0-9])(-?\d+)(u?)")     # a sign stays with its literal
LOOP_MIN = 3            # runs of identical steps shorter than this stay unrolled


def _skeleton(code: str) -> tuple[str, list[int]]:
    """(code with every integer literal replaced by a placeholder, the literals in order)."""
    nums = [int(m.group(1)) for m in _NUM.finditer(code)]
    return _NUM.sub(lambda m: "\0" + m.group(2), code), nums     # the suffix stays: 5u != 5


def _run(sk: list, i: int, period: int) -> tuple[int, list[int]]:
    """How many consecutive blocks of `period` chunks from chunk i share one skeleton with
    literals in arithmetic progression, and the progression's deltas."""
    def block(k):
        parts = sk[i + k * period:i + (k + 1) * period]
        return "".join(p[0] for p in parts), [v for p in parts for v in p[1]]
    n = (len(sk) - i) // period
    if n < 2:
        return 1, []
    s0, v0 = block(0)
    s1, v1 = block(1)
    if s1 != s0 or not v0:
        return 1, []
    delta = [b - a for a, b in zip(v0, v1)]
    k = 2
    while k < n:
        sk_k, vk = block(k)
        if sk_k != s0 or any(v != a + k * d for v, a, d in zip(vk, v0, delta)):
            break
        k += 1
    vk = block(k - 1)[1]
    if any(d and (a < 0 or v < 0) for a, d, v in zip(v0, delta, vk)):
        return 1, []                # an advancing negative literal: stays unrolled (unsigned loop)
    return k, delta


def loop_steady_state(chunks: list[list[str]], max_period: int = 8) -> str:
    """The stage's C body with runs of steps that repeat (a block of 1..max_period consecutive
    steps, the same calls, differing only in integer literals forming arithmetic progressions:
    row offsets, block k's value = first + k * delta) emitted as one `for` loop over the
    blocks; chunks: [comment, C of one step] in execution order. Every call is the same as
    unrolled (same kernels, params structs, pointers and sizes: only a literal that advances by
    the same amount at every block of the run becomes `first + delta * lb_step`); irregular
    steps (the first band's padding, the last band's short rows) stay unrolled."""
    out, i = [], 0
    sk = [_skeleton(c) for _, c in chunks]
    while i < len(chunks):
        best = (1, 1, [])                                   # (chunks covered, period, deltas)
        for period in range(1, max_period + 1):
            reps, delta = _run(sk, i, period)
            if reps >= LOOP_MIN and reps * period > best[0]:
                best = (reps * period, period, delta)
        covered, period, delta = best
        if covered == 1:
            out.append(f"    /* {chunks[i][0]} */\n{chunks[i][1]}")
            i += 1
            continue
        parts = "".join(sk[k][0] for k in range(i, i + period)).split("\0")
        v0 = [v for k in range(i, i + period) for v in sk[k][1]]
        code = [parts[0]]
        for a, d, p in zip(v0, delta, parts[1:]):       # p starts with the literal's suffix
            if d == 0:
                code.append(f"{a}{p}")
            else:
                code.append((f"({a}u + {d}u * lb_step)" if d > 0 else f"({a}u - {-d}u * lb_step)")
                            + (p[1:] if p.startswith("u") else p))
        loop = "".join("    " + ln + "\n" for ln in "".join(code).splitlines())
        j = i + covered
        out.append(f"    /* {chunks[i][0]} .. {chunks[j - 1][0]}: {covered // period} times the same "
                   f"{period} step(s), row offsets advancing */\n"
                   f"    for (uint32_t lb_step = 0; lb_step < {covered // period}u; lb_step++) {{\n{loop}    }}\n")
        i = j
    return "".join(out)
