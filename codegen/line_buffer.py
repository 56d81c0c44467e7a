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

from dataclasses import dataclass, field

from .cost_model import CostModel, cost_key, layer_features
from .graph import Graph
from .ops import KERNELS, Step
from .planner import ALIGN, Plan

RATES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)     # input rows per step tried
CALL_INSTR = 250            # a kernel call's fixed cost (arguments, prologue, loop setup), M7
CALL_INSTR_PER_CHANNEL = 12  # per output channel and call (per-channel setup of the DSP kernels)
MOVE_INSTR_PER_BYTE = 0.5   # memmove, word copies: ~2 instructions per 4 bytes
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
    params: dict                        # the layer's params for these rows
    reads: list[tuple[int, int]]        # per input: (tensor, first row read)
    scratch_bytes: int = 0


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


@dataclass
class LineBufferSchedule:
    """Duck-types codegen.patch_schedule.PatchSchedule for the planner, emitter and CLI."""
    split: int
    rate: int                           # input rows per step
    input: int
    output: int
    steps: list[RowStep]
    windows: dict                       # tensor -> (offset in the sub-arena, rows, row bytes)
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
    #                                          end, first X byte read from it on)
    calls: int = 0
    moved_bytes: int = 0

    @property
    def grid(self) -> int:              # for callers written for PatchSchedule
        return len(self.steps)

    @property
    def cols(self) -> int:
        return 1

    @property
    def overhead(self) -> float:
        return self.instructions / self.base_instructions - 1 if self.base_instructions else 0.0

    def label(self) -> str:
        return f"layers 0..{self.split} in {len(self.steps)} row bands ({self.rate} input rows each, halos cached)"

    def describe(self) -> str:
        return (f"line-buffer stage: {self.label()}, S {list(self.shape)}; windows + scratch "
                f"{self.sub_bytes:,} B; arena {self.arena_bytes:,} B; {self.calls} kernel calls, "
                f"{self.moved_bytes:,} B of halo rows moved, no recomputation "
                f"(stage MACs {self.macs:,} = layer by layer); predicted instructions "
                f"+{self.overhead * 100:.1f}% over layer by layer")


def build_line_buffer(graph: Graph, steps: list[Step], split: int, rate: int,
                      cost: CostModel | None = None, plan: bool = True) -> LineBufferSchedule | None:
    """The line-buffer schedule of layers 0..split reading `rate` input rows per step (shapes:
    NHWC, rows = H); None when rate >= the input's rows (that is layer by layer) or a stage
    layer is not a row-wise operator. Sizes in bytes, instructions predicted by `cost`
    (codegen/cost_model.py) for the MAC work plus CALL_INSTR-style constants per extra call and
    per moved byte (fitted to this schedule's QEMU measurements: benchmarks/results_patches_*.md)."""
    from .patch_schedule import SPATIAL, plan_schedule
    res = graph.resolve
    X, S = res(graph.inputs[0]), res(steps[split].output)
    stage = steps[:split + 1]
    H = {X: graph.tensors[X].shape[1]}
    row = {X: graph.tensors[X].shape[2] * graph.tensors[X].shape[3]}
    for s in stage:
        t = graph.tensors[res(s.output)]
        H[res(s.output)], row[res(s.output)] = t.shape[1], t.shape[2] * t.shape[3]
    if rate >= H[X]:
        return None
    consumers: dict[int, list[int]] = {}
    for j, s in enumerate(stage):
        for i in s.inputs:
            consumers.setdefault(res(i), []).append(j)

    def first_read(j: int, y: int) -> int:          # first input row output row y of layer j reads
        s = stage[j]
        if s.params_type in SPATIAL:
            st, pad, _, _ = _extent(s.params)
            return max(y * st - pad, 0)
        return y

    # rows a layer may add per step: the input rate scaled by the strides before it (so that
    # once the input is complete the remaining rows still stream instead of all at once)
    scale = {X: 1.0}
    for s in stage:
        st = s.params["stride_h"] if s.params_type in SPATIAL else 1
        scale[res(s.output)] = max(scale[res(i)] for i in s.inputs) * st
    done = {t: 0 for t in H}
    base_prev: dict[int, int] = {}
    out_steps: list[RowStep] = []
    cap: dict[int, int] = {}
    b = 0
    while done[S] < H[S]:
        avail_x = min(H[X], (b + 1) * rate)
        # first rows still read, from the rows done before this step
        base = {}
        for t in H:
            if t in (X, S):
                continue
            reads = [first_read(j, done[res(stage[j].output)]) for j in consumers.get(t, [])
                     if done[res(stage[j].output)] < H[res(stage[j].output)]]
            base[t] = min([done[t]] + reads)
        moves = []
        for t, b0 in base.items():
            shift = b0 - base_prev.get(t, 0)
            if shift > 0 and done[t] > b0:
                moves.append(Move(t, shift, done[t] - b0))
        avail = dict(done)
        avail[X] = avail_x
        calls = []
        for j, s in enumerate(stage):
            t = res(s.output)
            ins = [res(i) for i in s.inputs]
            if s.params_type in SPATIAL:
                st, pad, ext, in_h = _extent(s.params)
                a_in = avail[ins[0]]
                target = H[t] if a_in >= H[ins[0]] else max(0, (a_in + pad - ext) // st + 1)
            else:
                target = min(avail[i] for i in ins)
            target = min(max(target, done[t]), H[t], done[t] + max(1, -(-rate // int(scale[t]))))
            avail[t] = target
            if target == done[t]:
                continue
            a, c = done[t], target
            p = dict(s.params)
            reads = []
            if s.params_type in SPATIAL:
                st, pad, ext, in_h = _extent(p)
                r0, r1 = a * st - pad, (c - 1) * st - pad + ext
                y0, y1 = max(r0, 0), min(r1, in_h)
                assert y1 <= avail[ins[0]], (j, y1, avail[ins[0]])
                p.update(in_h=y1 - y0, out_h=c - a, pad_top=y0 - r0)
                reads.append((ins[0], y0))
            else:
                w, ch = graph.tensors[t].shape[2], graph.tensors[t].shape[3]
                if "size" in p:
                    p["size"] = (c - a) * w * ch
                if "out_dims" in p:
                    dims = [1, c - a, w, ch]
                    p["out_dims"] = dims
                    for k in ("stride1", "stride2"):
                        if k in p:
                            p[k] = [dims[1] * dims[2] * ch, dims[2] * ch, ch, 1]
                reads += [(i, a) for i in ins]
            call = RowCall(j, (a, c), p, reads, KERNELS[s.kernel].scratch_bytes(p))
            calls.append(call)
            done[t] = c
        for t in base:
            cap[t] = max(cap.get(t, 0), done[t] - base[t])
        done[X] = avail_x
        out_steps.append(RowStep(moves, calls, base))
        base_prev = base
        b += 1
        if b > 4 * H[X] + 8 * len(stage):      # no progress: a layer this schedule cannot stream
            return None
    windows, off = {}, 0
    for t in sorted(cap, key=lambda t: -cap[t] * row[t]):
        if cap[t] == 0:
            continue
        windows[t] = (off, cap[t], row[t])
        off += _a(cap[t] * row[t])
    scratch = max((c.scratch_bytes for st in out_steps for c in st.calls), default=0)
    sched = LineBufferSchedule(split, rate, X, S, out_steps, windows, off, _a(off + scratch))
    sched.shape = tuple(graph.tensors[S].shape)
    # S over X: per step, S's bytes written by its end and the first X byte read from it on
    s_end, x_first = 0, []
    for st in out_steps:
        xr = [y for c in st.calls for (t, y) in c.reads if t == X]
        x_first.append(min(xr) * row[X] if xr else 1 << 62)
    suffix = 1 << 62
    firsts = []
    for v in reversed(x_first):
        suffix = min(suffix, v)
        firsts.append(suffix)
    firsts.reverse()
    for st, f in zip(out_steps, firsts):
        for c in st.calls:
            if res(stage[c.step].output) == S:
                s_end = c.rows[1] * row[S]
        sched.reuse.append((s_end, f))
    sched.calls = sum(len(st.calls) for st in out_steps)
    sched.moved_bytes = sum(m.rows * row[m.tensor] for st in out_steps for m in st.moves)
    # cost: the layers' own predictions, plus what streaming adds
    cost = cost or CostModel.load()
    base_pred = cost.predict(graph, steps)
    sched.base_instructions = sum(base_pred)
    extra = 0.0
    for j, s in enumerate(stage):
        full = layer_features(graph, s)
        c = cost.kernels.get(cost_key(s)) or cost.kernels.get(s.kernel) or [0.0, 0.0, 0.0, 0.0]
        n, in_bytes = 0, 0.0
        for st in out_steps:
            for call in st.calls:
                if call.step != j:
                    continue
                n += 1
                if s.params_type in SPATIAL:
                    in_bytes += call.params["in_h"] * row[call.reads[0][0]]
                else:
                    in_bytes += (call.rows[1] - call.rows[0]) * row[res(s.output)] * len(s.inputs)
        extra += c[2] * (in_bytes - full[2])                # halo rows read again
        extra += (n - 1) * (CALL_INSTR + CALL_INSTR_PER_CHANNEL * graph.tensors[s.output].shape[3])
    extra += sum(MOVE_INSTR + MOVE_INSTR_PER_BYTE * m.rows * row[m.tensor]
                 for st in out_steps for m in st.moves)
    sched.instructions = sched.base_instructions + extra
    sched.base_macs = sched.macs = int(sum(s.macs for s in stage))
    sched.stage_peak = max(graph.tensors[X].nbytes, graph.tensors[S].nbytes) + sched.sub_bytes
    if plan:
        plan_schedule(graph, steps, sched)
    return sched


def line_buffer_reuse_offset(sched: LineBufferSchedule) -> int:
    """input_reuse_offset for a line-buffer stage: S may start d bytes after X's first byte
    when, at every step, S's bytes written by its end stay below the first X byte that step
    and the later ones read: d = min over steps (first X byte read - S bytes written), floored
    to ALIGN."""
    d = min(f - s for s, f in sched.reuse)
    return d // ALIGN * ALIGN


def render_line_buffer(graph: Graph, steps: list[Step], sched: LineBufferSchedule, struct_fn,
                       x_off: int, s_off: int, sub_off: int, const_name=lambda n: n) -> tuple[str, str]:
    """C for the stage (as patch_schedule.render_patch_stage): (definitions, body)."""
    from types import SimpleNamespace
    res = graph.resolve
    X, S = sched.input, sched.output
    defs, body = [], []
    names: dict = {}

    def rowbytes(t):
        sh = graph.tensors[t].shape
        return sh[2] * sh[3]

    def ptr(t, y, base):
        if t == X:
            return f"arena + {x_off + y * rowbytes(X)}"
        if t == S:
            return f"arena + {s_off + y * rowbytes(S)}"
        return f"arena + {sub_off + sched.windows[t][0] + (y - base[t]) * rowbytes(t)}"

    for n, st in enumerate(sched.steps):
        body.append(f"    /* step {n} */\n")
        for m in st.moves:
            w = sub_off + sched.windows[m.tensor][0]
            rb = rowbytes(m.tensor)
            body.append(f"    memmove(arena + {w}, arena + {w + m.shift * rb}, {m.rows * rb}u);\n")
        for call in st.calls:
            s = steps[call.step]
            key = (call.step, tuple((k, repr(v)) for k, v in call.params.items()))
            if key not in names:
                names[key] = f"op{s.op.index}_rows{sum(1 for k in names if k[0] == call.step)}_params"
                defs.append(struct_fn(SimpleNamespace(params_type=s.params_type, params=call.params),
                                      names[key]))
            reads = dict(call.reads)
            args = [f"&{names[key]}"]
            for a in s.args:
                if a[0] == "in":
                    t = res(a[1])
                    args.append(ptr(t, reads[t], st.base))
                elif a[0] == "out":
                    args.append(ptr(res(a[1]), call.rows[0], st.base))
                elif a[0] == "const":
                    args.append(const_name(a[1].name))
                elif a[0] == "scratch":
                    args.append(f"(int16_t *)(void *)(arena + {sub_off + sched.scratch_offset})")
                else:
                    args.append("0")
            body.append(f"    {s.kernel}({', '.join(args)});\n")
    return "".join(defs), "".join(body)
