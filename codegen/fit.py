"""`codegen fit`: which MobileNet fits this board, and how fast it would run.

For every (family, width multiplier alpha, resolution rho) the architecture's layer table
(codegen/architectures.py) gives MACs and parameters; the same table, built as a real int8
.tflite with random weights, goes through the real compiler: the lowering gives the exact flash
bytes of weights and per-channel constants for the board's kernels, the memory planner the
exact arena, and the cost model (codegen/cost_model.py, fitted to QEMU measurements) the
instructions per inference, turned into milliseconds at the board's top clock. The firmware's
own code (kernel library, startup, console) is measured once per family by building real
firmware for the smallest configuration, when arm-none-eabi-gcc is installed.

Published ImageNet top-1 accuracies, where the papers give them (float models; int8 post-training
quantization costs about a point):
  MobileNet V1: Howard et al., "MobileNets", arXiv:1704.04861, table 6 (width) and table 7
  (resolution). MobileNet V2: Sandler et al., "MobileNetV2", arXiv:1801.04381, table 4.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .architectures import FAMILIES, Layer, to_tflite, totals
from .cost_model import CostModel

PUBLISHED_TOP1 = {
    ("mobilenet_v1", 1.0, 224): 70.6, ("mobilenet_v1", 0.75, 224): 68.4,
    ("mobilenet_v1", 0.5, 224): 63.7, ("mobilenet_v1", 0.25, 224): 50.6,
    ("mobilenet_v1", 1.0, 192): 69.1, ("mobilenet_v1", 1.0, 160): 67.2,
    ("mobilenet_v1", 1.0, 128): 64.4,
    ("mobilenet_v2", 1.0, 224): 72.0, ("mobilenet_v2", 1.4, 224): 74.7,
}
ACCURACY_SOURCE = {"mobilenet_v1": "Howard et al. 2017, tables 6-7",
                   "mobilenet_v2": "Sandler et al. 2018, table 4"}
# The firmware's code when it cannot be measured here: measured on the bench firmware for
# Cortex-M7 with the DSP kernels (benchmarks/results.md), rounded up.
CODE_BYTES_FALLBACK = {"mobilenet_v1": 10_240, "mobilenet_v2": 12_288}
STACK_MEASURED = 512      # the stack high-water mark on every bundled model is 340-376 B


@dataclass
class Candidate:
    family: str
    alpha: float
    resolution: int
    classes: int
    macs: int
    params: int
    flash_weights: int        # int8 weights + biases + per-channel constants, as emitted
    flash_code: int           # firmware code: kernels, startup, console
    arena: int                # the planned activation arena
    ram: int                  # arena + the board's reserved stack + the firmware's other RAM
    instructions: int         # predicted per inference
    ms: float                 # at the board's top clock, one instruction per cycle
    top1: float | None
    fits_flash: bool = False
    fits_ram: bool = False
    fits_latency: bool = True
    code_measured: bool = False
    patches: str | None = None  # with `--patches`: the patch schedule that makes it fit the RAM
    layers: list[dict] = field(default_factory=list)

    @property
    def flash(self) -> int:
        return self.flash_weights + self.flash_code

    @property
    def fits(self) -> bool:
        return self.fits_flash and self.fits_ram and self.fits_latency

    def as_dict(self, layers: bool = False) -> dict:
        d = asdict(self)
        d.update(flash=self.flash, fits=self.fits)
        if not layers:
            d.pop("layers")
        return d


def _write(layers: list[Layer], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_tflite(layers))
    return path


class Fitter:
    def __init__(self, board, kernels: str | None = None, cost: CostModel | None = None, cpi: float = 1.0,
                 measure_code: bool = True, log=lambda s: None, patches: bool = False):
        from .pipeline import resolve_kernels
        self.board = board
        self.kernels = resolve_kernels(board.target, kernels or "auto")   # CodegenError: no DSP for dsp/mve
        self.cost = cost or CostModel.load(target=board.target, kernels=self.kernels)
        self.cpi = cpi
        self.clock = board.clock_hz          # what boards/<name>/board.c sets up
        self.measure_code = measure_code and shutil.which("arm-none-eabi-gcc") is not None
        self._code: dict[str, tuple[int, int, bool]] = {}
        self.log = log
        self.patches = patches   # try patch-based execution (codegen/patch_schedule.py) where RAM is short

    def firmware_overhead(self, family: str) -> tuple[int, int, bool]:
        """(code bytes, other RAM bytes, measured?) of the firmware around the model."""
        if family not in self._code and self.measure_code:
            cached = self._cached_code(family)
            if cached is not None:
                self._code[family] = (cached[0], cached[1], True)
        if family not in self._code:
            if self.measure_code:
                from firmware_tools.build import DoesNotFit, build_firmware

                from .pipeline import generate
                self.log(f"measuring the firmware's code for {family} (arm-none-eabi-gcc) ...")
                with tempfile.TemporaryDirectory() as tmp:
                    work = Path(tmp)
                    model = _write(FAMILIES[family](0.25, 32, 2), work / "m" / "small.tflite")
                    generate(model, work / "gen", self.board.target, kernels=self.kernels)
                    try:
                        fw = build_firmware(work / "gen", self.board, work / "fw")
                        self._code[family] = (fw.size.code + fw.size.other_rodata + fw.size.data_init,
                                              fw.size.other_ram, True)
                        self._store_code(family, self._code[family][:2])
                    except DoesNotFit:
                        self._code[family] = (CODE_BYTES_FALLBACK[family], 0, False)
            else:
                self._code[family] = (CODE_BYTES_FALLBACK[family], 0, False)
        return self._code[family]

    def _code_cache_file(self, family: str) -> Path:
        """The measurement's cache file, keyed by everything that changes it: the sources of
        the generator, kernels, boards and apps, the compiler's version, board, kernels, family."""
        import hashlib
        import os
        import subprocess

        from firmware_tools.boards import BOARDS_DIR
        from firmware_tools.build import APPS_DIR
        h = hashlib.sha256()
        for root in (Path(__file__).parent, BOARDS_DIR, APPS_DIR):
            for f in sorted(root.rglob("*")):
                if f.suffix in (".py", ".c", ".h", ".ld", ".json") and "__pycache__" not in f.parts:
                    h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
        gcc = subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True).stdout
        h.update(f"{gcc}|{self.board.name}|{self.kernels}|{family}".encode())
        cache = Path(os.environ.get("MCUF_CACHE", Path.home() / ".cache" / "mcuforge"))
        return cache / f"fit-code-{h.hexdigest()[:24]}.json"

    def _cached_code(self, family: str) -> tuple[int, int] | None:
        import json
        try:
            code, other_ram = json.loads(self._code_cache_file(family).read_text())
            return int(code), int(other_ram)
        except (OSError, ValueError, TypeError):
            return None

    def _store_code(self, family: str, value: tuple[int, int]) -> None:
        import json
        f = self._code_cache_file(family)
        try:
            f.parent.mkdir(parents=True, exist_ok=True)
            tmp = f.with_suffix(f".{id(self)}.tmp")
            tmp.write_text(json.dumps(list(value)))
            tmp.replace(f)          # atomic: a concurrent reader sees all or nothing
        except OSError:
            pass                    # a read-only cache costs one rebuild next time, nothing else

    def evaluate(self, family: str, alpha: float, resolution: int, classes: int = 1000,
                 latency_ms: float | None = None, channels: int = 3) -> Candidate:
        layers = FAMILIES[family](alpha, resolution, classes, channels)
        macs, params = totals(layers)
        from .pipeline import compile_graph
        with tempfile.TemporaryDirectory() as tmp:
            c = compile_graph(_write(layers, Path(tmp) / "arch.tflite"), self.kernels)
        code, other_ram, measured = self.firmware_overhead(family)
        per_layer = self.cost.predict(c.graph, c.steps)
        weights = sum(s.weight_bytes for s in c.steps)
        instr = int(round(sum(per_layer)))
        ms = instr * self.cpi / self.clock * 1e3
        ram = c.plan.arena_bytes + int(self.board.manifest.get("stack_bytes", STACK_MEASURED)) + other_ram
        cand = Candidate(family, alpha, resolution, classes, macs, params, weights, code,
                         c.plan.arena_bytes, ram, instr, ms, PUBLISHED_TOP1.get((family, alpha, resolution)),
                         code_measured=measured)
        cand.fits_flash = cand.flash <= self.board.flash_bytes
        cand.fits_ram = ram <= self.board.ram_bytes
        if not cand.fits_ram and self.patches and not cand.fits_flash:
            # it fails on flash whatever the schedule: the patch search (tens of seconds on a
            # large candidate; `fit --patches` on the 256 KB micro:bit spent 10 min on them) is skipped
            cand.patches = "patches not tried: flash too small"
        elif not cand.fits_ram and self.patches:
            from .patch_schedule import LayerByLayer, RamLimitError, choose_schedule, schedule_label
            try:
                sched = choose_schedule(c.graph, c.steps, c.plan.arena_bytes - (ram - self.board.ram_bytes))
            except RamLimitError:
                sched = None
            if sched is not None:
                arena = sched.plan.arena_bytes
                cand.ram, cand.arena, cand.fits_ram = ram - c.plan.arena_bytes + arena, arena, True
                if not isinstance(sched, LayerByLayer):
                    cand.instructions = int(round(sched.instructions))
                    cand.ms = cand.instructions * self.cpi / self.clock * 1e3
                    cand.patches = schedule_label(sched)
                else:
                    cand.patches = "in-place depthwise"
        cand.fits_latency = latency_ms is None or cand.ms <= latency_ms
        # the table's layers are the compiled steps, one for one (tests/test_fit.py checks it)
        arch = layers if len(layers) == len(c.steps) else [None] * len(c.steps)
        cand.layers = [{"op": s.op.type, "kernel": s.kernel, "macs": int(s.macs),
                        "params": ly.params if ly else None,
                        "output": list(c.graph.tensors[s.output].shape),
                        "flash_bytes": int(s.weight_bytes), "instructions": int(round(n))}
                       for s, ly, n in zip(c.steps, arch, per_layer)]
        return cand


def _smaller(cands: list[Candidate]) -> str:
    """' (the smallest tried: alpha 0.25 at 96x96; e.g. --alpha 0.125 --resolution 48)': the
    flags one step below the grid, so 'try smaller' says what to type (32 is the least
    resolution `fit` takes)."""
    if not cands:
        return ""
    amin, rmin = min(c.alpha for c in cands), min(c.resolution for c in cands)
    flags = [f"--alpha {amin / 2:g}"] + ([f"--resolution {max(32, rmin // 2 // 16 * 16)}"] if rmin > 32 else [])
    return f" (the smallest tried: alpha {amin:g} at {rmin}x{rmin}; e.g. {' '.join(flags)})"


def render(cands: list[Candidate], board, fitter: Fitter, latency_ms: float | None, sort: str) -> str:
    key = {"accuracy": lambda c: (-(c.top1 or -1), -c.macs),
           "macs": lambda c: -c.macs}[sort]
    cands = sorted(cands, key=key)
    lim = (f"{board.name}: flash {board.flash_bytes / 1024:,.0f} KB, RAM {board.ram_bytes / 1024:,.0f} KB "
           f"(stack {int(board.manifest.get('stack_bytes', 0)) / 1024:g} KB reserved), "
           f"{fitter.clock / 1e6:g} MHz" + (f" ({board.clock_note})" if board.clock_note else "")
           + f", {fitter.kernels} kernels"
           + (f", latency budget {latency_ms:g} ms" if latency_ms else ""))
    head = (f"{'family':13s} {'alpha':>5s} {'res':>4s} {'MMACs':>7s} {'params':>7s} {'flash KB':>9s} "
            f"{'RAM KB':>7s} {'M instr':>8s} {'ms':>7s} {'top-1':>6s}  fits")
    out = [lim, "", head, "-" * len(head)]
    for c in cands:
        why = [w for w, ok in (("flash", c.fits_flash), ("RAM", c.fits_ram), ("latency", c.fits_latency)) if not ok]
        out.append(f"{c.family:13s} {c.alpha:5g} {c.resolution:4d} {c.macs / 1e6:7.1f} {c.params / 1e6:6.2f}M "
                   f"{c.flash / 1024:9,.0f} {c.ram / 1024:7,.0f} {c.instructions / 1e6:8.1f} {c.ms:7.1f} "
                   f"{(f'{c.top1:.1f}%' if c.top1 else '-'):>6s}  "
                   + ("yes" if c.fits else "no: " + ", ".join(why))
                   + (f" ({c.patches})" if c.patches else ""))
    fitting = [c for c in cands if c.fits]
    out.append("")
    if fitting:
        best = max(fitting, key=lambda c: ((c.top1 or 0), c.macs))
        out.append(f"best that fits: {best.family} alpha {best.alpha:g} at {best.resolution}x{best.resolution}"
                   f" ({best.macs / 1e6:.1f} M MACs, {best.flash / 1024:,.0f} KB flash, {best.ram / 1024:,.0f} KB RAM,"
                   f" ~{best.ms:.1f} ms)")
    else:
        ram_only = [c for c in cands if c.fits_flash and c.fits_latency and not c.fits_ram]
        out.append("nothing fits: " + (f"{len(ram_only)} fail on RAM alone: add --patches (a patch-based first "
                                       "stage, as `codegen emit --ram-limit`), or " if ram_only and not fitter.patches
                                       else "") + "try smaller alpha or resolution" + _smaller(cands)
                   + ", fewer classes, or a bigger board")
    code_note = ("measured by building firmware" if all(c.code_measured for c in cands)
                 else "estimated (arm-none-eabi-gcc not found)" if not fitter.measure_code
                 else "estimated for " + ", ".join(sorted({c.family for c in cands if not c.code_measured}))
                 + f": the smallest firmware that measures it does not fit {board.name}")
    out.append(f"flash = weights + per-channel constants (as emitted) + firmware code ({code_note}); "
               f"RAM = planned arena + reserved stack; ms = predicted instructions / clock (CPI {fitter.cpi:g}, "
               "cost model fitted on QEMU); top-1 = published ImageNet accuracy (float), "
               + "; ".join(f"{k}: {v}" for k, v in ACCURACY_SOURCE.items()))
    return "\n".join(out)


def plot(cands: list[Candidate], board, fitter: Fitter, latency_ms: float | None, path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install -e '.[plot]'") from None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.2))
    markers = {"mobilenet_v1": "o", "mobilenet_v2": "s"}
    for c in cands:
        color = "tab:green" if c.fits else "tab:red"
        label_y = c.top1 if c.top1 is not None else None
        ax2.scatter(c.flash / 1024, c.ram / 1024, marker=markers.get(c.family, "o"), color=color, alpha=0.8)
        ax2.annotate(f"{c.alpha:g}/{c.resolution}", (c.flash / 1024, c.ram / 1024), fontsize=6,
                     xytext=(2, 2), textcoords="offset points")
        if label_y is not None:
            ax1.scatter(c.ms, label_y, marker=markers.get(c.family, "o"), color=color, s=40)
            ax1.annotate(f"{c.family.split('_')[1]} {c.alpha:g}/{c.resolution}", (c.ms, label_y), fontsize=7,
                         xytext=(3, 3), textcoords="offset points")
    if latency_ms:
        ax1.axvline(latency_ms, color="gray", ls="--", label=f"latency budget {latency_ms:g} ms")
        ax1.legend(loc="lower right", fontsize=8)
    ax1.set_xscale("log")
    ax1.set_xlabel(f"predicted latency on {board.name} at {fitter.clock / 1e6:g} MHz (ms, log)")
    ax1.set_ylabel("published ImageNet top-1 (%)")
    ax1.set_title("accuracy vs latency (configurations with a published accuracy)")
    ax2.axvline(board.flash_bytes / 1024, color="gray", ls="--")
    ax2.axhline(board.ram_bytes / 1024, color="gray", ls="--")
    ax2.text(board.flash_bytes / 1024, board.ram_bytes / 1024, "  board limits", fontsize=8, va="bottom")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("flash (KB, log)")
    ax2.set_ylabel("RAM (KB, log)")
    ax2.set_title("every configuration (alpha/resolution); green fits")
    fig.suptitle(f"codegen fit --board {board.name}: o MobileNet V1, \u25a1 MobileNet V2")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
