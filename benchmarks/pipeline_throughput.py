"""Live-classification pipeline throughput vs bare invoke() throughput (run by hand; the table
goes in README and benchmarks/results_pipeline.md).

    .venv/bin/python benchmarks/pipeline_throughput.py [--frames 500] [--repeats 9]

bare      set_tensor + invoke + get_tensor on one prepared tensor, in a loop: the ceiling.
pipeline  runtime.pipeline.Pipeline, frames from the picamera2 adapter (runtime/picamera.py)
          driven by the test fake, at the model's height and 4:3 -- centre crop, colour
          conversion where needed and quantization on the capture thread, top-k on the
          caller's, overlapped with inference. The fake hands out pre-rendered frames, like a
          camera's DMA buffers, and on demand (never dropped), so the figure is the pipeline's
          own ceiling, not the camera's frame rate.
Goal: pipeline / bare >= 0.95. Measured for both configurations of the adapter: headless
(BGR888 main stream, any Pi) and a Pi 4 with a preview (YUV420 lores, converted here).

This machine's speed drifts by 10-20% from one second to the next (a shared VM), so the three
runs alternate in short chunks and each ratio is the median of the per-chunk ratios. The CPU
the pipeline spends beyond inference (process CPU time per frame, pipeline minus bare) is
reported too: it is what needs a core of its own, so with N interpreter threads the pipeline
keeps up only on a machine with more than N cores.
"""
from __future__ import annotations

import argparse
import functools
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import fake_picamera2  # noqa: E402
from runtime.classifier import Classifier  # noqa: E402
from runtime.picamera import Picamera2Source  # noqa: E402
from runtime.pipeline import Pipeline  # noqa: E402

MODELS = [ROOT / "tests/fixtures/models/mobilenet_v1_a025_96_rgb.tflite",
          ROOT / "benchmarks/models/vww96_q.tflite",
          ROOT / "benchmarks/models/mbnet128_0.25_q.tflite"]
# The size of model people run on a Pi (mobilenet_v1_1.0_224_quant), built here with random
# weights -- speed does not depend on them -- since nothing may be downloaded.
PI_SIZED = ("mobilenet_v1 1.0 224 (random weights)", 1.0, 224)


class OnDemandCamera(Picamera2Source):
    """The picamera2 adapter, read on demand (not live) so no frame is dropped."""
    live = False


@functools.lru_cache(maxsize=None)
def frame_bank(size, platform):
    """Pre-encoded frames, as a camera's buffers arrive already encoded: the fake's own
    RGB->YUV work is the ISP's, not ours. vc4: YUV420 (a Pi 4's lores stream, used with a
    preview); pisp: BGR888 (the main stream headless, or a Pi 5's lores)."""
    rng = np.random.default_rng(0)
    scenes = [fake_picamera2.shapes_scene(i, *size, rng)[0] for i in range(32)]
    if platform == "vc4":
        return [fake_picamera2.rgb_to_yuv420(img, (size[0] + 63) // 64 * 64) for img in scenes]
    return [fake_picamera2.rgb_array(img, "BGR888") for img in scenes]


def camera_module(size, platform="vc4"):
    """The fake picamera2, handing out the bank's frames in turn."""
    bank = frame_bank(size, platform)
    mod = fake_picamera2.make_module(platform)
    count = iter(range(1 << 62))

    def capture_array(self, name="main", wait=None):
        assert self._started
        return bank[next(count) % len(bank)]
    mod.Picamera2.capture_array = capture_array
    return mod


def bare_run(clf: Classifier, frames: int) -> tuple[float, float]:
    """(frames per second, CPU seconds per frame) of set_tensor + invoke + get_tensor."""
    x = clf.preprocess(np.zeros((clf.input.height, clf.input.width, 3), np.uint8))
    for _ in range(20):
        clf.invoke(x)
    t, c = time.perf_counter(), time.process_time()
    for _ in range(frames):
        clf.invoke(x)
    return frames / (time.perf_counter() - t), (time.process_time() - c) / frames


def pipeline_run(clf: Classifier, frames: int, platform: str = "vc4") -> tuple[float, float]:
    """vc4: the adapter as on a Pi 4 with a preview (YUV420 lores converted to RGB here);
    pisp: as headless on any Pi (BGR888 main stream at the model's size)."""
    from runtime.frames import Want
    from runtime.picamera import lores_size
    size = lores_size(Want(clf.input.width, clf.input.height))
    warm = 20
    pipe = Pipeline(OnDemandCamera(module=camera_module(size, platform), preview=platform == "vc4"), clf,
                    top_k=5, max_frames=frames + warm)
    for r in pipe.run():
        if r.frame.index == warm - 1:
            t, c = time.perf_counter(), time.process_time()
    return frames / (time.perf_counter() - t), (time.process_time() - c) / frames


def timeline_run(clf: Classifier, frames: int, platform: str) -> dict:
    """Per-stage means over `frames` frames (after 20 warm-up), in microseconds: wall time of
    each stage, CPU time of each thread per frame, and the interpreter's idle time between two
    invokes broken down (runtime.pipeline.Timeline)."""
    from runtime.frames import Want
    from runtime.picamera import lores_size
    from runtime.pipeline import Timeline
    size = lores_size(Want(clf.input.width, clf.input.height))
    warm = 20
    tl = Timeline()
    pipe = Pipeline(OnDemandCamera(module=camera_module(size, platform), preview=platform == "vc4"), clf,
                    top_k=5, max_frames=frames + warm, timeline=tl)
    for r in pipe.run():
        if r.frame.index == warm - 1:
            c0 = time.process_time()
    cpu = time.process_time() - c0
    m = {k: {i: (w, c) for i, w, c in v if i >= warm} for k, v in tl.marks.items()}
    idx = sorted(set(m["inference.invoke_done"]) & set(m["inference.put_done"]) & set(m["caller.top_done"])
                 & set(m["capture.put_done"]))[:-1]

    def span(a, b, k=0, nxt=False):
        """mean of b(n [+1]) - a(n): wall (k=0) or CPU (k=1), in us."""
        return 1e6 * float(np.mean([m[b][i + nxt][k] - m[a][i][k] for i in idx if (i + nxt) in m[b]]))
    stages = [("capture", "read: capture_array, crop", "capture.read", "capture.read_done", 0),
              ("capture", "preprocess: YUV420 -> RGB (Pi 4 preview), quantize", "capture.read_done", "capture.pre_done", 0),
              ("capture", "put (incl. waiting for room)", "capture.pre_done", "capture.put_done", 0),
              ("inference", "set_input (set_tensor)", "inference.got", "inference.set_done", 0),
              ("inference", "invoke", "inference.set_done", "inference.invoke_done", 0),
              ("inference", "output (get_tensor)", "inference.invoke_done", "inference.out_done", 0),
              ("inference", "put", "inference.out_done", "inference.put_done", 0),
              ("inference", "wait for the next frame", "inference.put_done", "inference.got", 1),
              ("caller", "top-k and Result", "caller.got", "caller.top_done", 0)]
    got = sorted(w for w, _ in m["caller.got"].values())     # results after the warm-up
    out = {"frames/s": (len(got) - 1) / (got[-1] - got[0]), "stages": [(th, name, span(a, b, 0, nxt), span(a, b, 1, nxt))
                                                 for th, name, a, b, nxt in stages]}
    out.update({
        "process CPU per frame (all threads)": 1e6 * cpu / frames,
        "interpreter idle between invokes (wall)": span("inference.invoke_done", "inference.set_done", nxt=True),
        "capture thread CPU per frame": span("capture.read", "capture.read", k=1, nxt=True),
        "inference thread CPU per frame outside invoke": span("inference.invoke_done", "inference.set_done",
                                                               k=1, nxt=True),
        "caller thread CPU per frame": span("caller.got", "caller.got", k=1, nxt=True),
    })
    # the pipeline's own work: its threads' CPU outside invoke (thread CPU clocks, so unlike
    # process CPU it leaves out the interpreter's worker threads, whose spinning and cache
    # misses vary with the machine's load)
    out["pipeline threads' CPU per frame outside invoke"] = (
        out["capture thread CPU per frame"] + out["inference thread CPU per frame outside invoke"]
        + out["caller thread CPU per frame"])
    return out


def timeline_table(model: Path, name: str, frames: int, repeats: int) -> list[str]:
    """Markdown: each stage's wall and CPU time per frame (medians of `repeats` timeline runs)
    for 1 and 2 interpreter threads, headless and Pi 4 + preview, and what it implies."""
    cols, cells, notes = [], {}, []
    for threads in (1, 2):
        clf = Classifier(model, threads=threads)
        for platform_ in ("pisp", "vc4"):
            col = f"{threads} thread{'s' if threads > 1 else ''}, {'headless' if platform_ == 'pisp' else 'Pi 4 + preview'}"
            cols.append(col)
            runs = []
            for _ in range(repeats):
                bare, bare_cpu = bare_run(clf, frames)
                t = timeline_run(clf, frames, platform_)
                runs.append((bare, bare_cpu, t))
            med = lambda f: float(np.median([f(r) for r in runs]))    # noqa: E731
            for i, (th, stage, _, _) in enumerate(runs[0][2]["stages"]):
                cells[(th, stage, col)] = (med(lambda r: r[2]["stages"][i][2]), med(lambda r: r[2]["stages"][i][3]))
            for k in runs[0][2]:
                if k != "stages":
                    cells[("", k, col)] = (med(lambda r: r[2][k]), None)
            cells[("", "bare loop: frames/s", col)] = (med(lambda r: r[0]), None)
            cells[("", "bare loop: process CPU per frame", col)] = (med(lambda r: 1e6 * r[1]), None)
            cells[("", "ratio (this run)", col)] = (med(lambda r: r[2]["frames/s"] / r[0]), None)
            # estimates from CPU times, which a loaded machine disturbs far less than wall times:
            # T = the bare loop's CPU per frame / threads (its invoke keeps `threads` cores busy);
            # a spare core leaves on the interpreter's path only the inference thread's own work
            # beyond the bare loop's (which does set_tensor and get_tensor too); with no spare core
            # all the CPU the pipeline spends beyond the bare loop comes out of the interpreter's
            # cores (a bound: XNNPACK's threads wait for each other when one is preempted)
            T = cells[("", "bare loop: process CPU per frame", col)][0] / threads
            own = (cells[("", "inference thread CPU per frame outside invoke", col)][0]
                   - cells[("inference", "set_input (set_tensor)", col)][1]
                   - cells[("inference", "output (get_tensor)", col)][1])
            extra = cells[("", "process CPU per frame (all threads)", col)][0] - T * threads
            cells[("", "pipeline CPU per frame beyond the bare loop's", col)] = (extra, None)
            cells[("", "estimate, cores to spare: T / (T + own work outside invoke)", col)] = (T / (T + max(own, 0)), None)
            # from the extra CPU shared out over the interpreter's threads (the best case) to the
            # extra CPU taken whole from the frame time (XNNPACK's other threads wait at the end of
            # each operator for the one preempted). Not a bound: at da0de79 the quiet 2-thread Pi 4
            # preview run lost 556 us a frame (0.822) for 265 us of extra CPU on a 2,571 us invoke
            cells[("", "estimate, as many cores as threads: T / (T + extra) .. T / (T + extra / threads)",
                   col)] = ((T / (T + max(extra, 0)), T / (T + max(extra, 0) / threads)), None)
    rows = list(dict.fromkeys((th, st) for th, st, _ in cells))
    lines = [f"### {name}: where a frame's time goes", "",
             "Wall / CPU time of each stage per frame, us (median of "
             f"{repeats} run{'s' if repeats > 1 else ''} of {frames} frames; CPU: the stage's own "
             "thread, so invoke's CPU leaves out the interpreter's worker thread). "
             "`benchmarks/pipeline_throughput.py --timeline`.", "",
             "| thread | stage | " + " | ".join(cols) + " |", "|---|---|" + "---:|" * len(cols)]
    for th, st in rows:
        vals = []
        for col in cols:
            w, c = cells[(th, st, col)]
            vals.append(f"{w[0]:.3f} .. {w[1]:.3f}" if isinstance(w, tuple) else
                        f"{w:,.3f}" if "ratio" in st or "estimate" in st else f"{w:,.1f}" if c is None else f"{w:,.1f} / {c:,.1f}")
        lines.append(f"| {th} | {st} | " + " | ".join(vals) + " |")
    return lines


def machine() -> str:
    """CPU model, the interpreter package and whether XNNPACK is applied, the load average."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor() or "?") if Path("/proc/cpuinfo").exists() else "?"
    from importlib import metadata
    try:
        pkg = f"ai-edge-litert {metadata.version('ai-edge-litert')}"
    except metadata.PackageNotFoundError:
        pkg = f"tflite-runtime {metadata.version('tflite-runtime')}"
    return f"{cpu}, {pkg}"


def delegate_applied(clf: Classifier) -> bool:
    """Whether the interpreter runs (part of) the model in a delegate (XNNPACK, the default one):
    a DELEGATE node appears in its execution plan."""
    return any(op["op_name"] == "DELEGATE" for op in clf.interpreter._get_ops_details())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=500, help="frames per chunk (a tenth for the 224 model)")
    ap.add_argument("--repeats", type=int, default=9, help="alternating chunks per figure (medians reported)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results_pipeline.md")
    ap.add_argument("--timeline", action="store_true",
                    help="instead: where each frame's time goes, stage by stage (printed, not written)")
    ap.add_argument("--models", default="",
                    help="only the models whose name contains this (e.g. 224); the table is then printed, "
                         "not written")
    ap.add_argument("--no-opencv", action="store_true",
                    help="hide OpenCV: the YUV420 -> RGB conversion falls back to Pillow, as on a Pi without it")
    args = ap.parse_args()
    if args.no_opencv:
        sys.modules["cv2"] = None       # makes `import cv2` fail
    from codegen.architectures import mobilenet_v1, to_tflite
    big = Path(tempfile.mkdtemp()) / "mobilenet_v1_1.0_224_random.tflite"
    big.write_bytes(to_tflite(mobilenet_v1(PI_SIZED[1], PI_SIZED[2], 1000)))
    todo = [(m, m.name, args.frames) for m in MODELS] + [(big, PI_SIZED[0], args.frames // 10)]
    todo = [t for t in todo if args.models in t[1]]
    if args.timeline:
        for model, name, frames in todo:
            lines = timeline_table(model, name, frames, max(1, args.repeats // 3))
            print("\n".join(lines), flush=True)
        return 0
    rows = []
    med = lambda v: float(np.median(v))          # noqa: E731
    load0, delegated, invoke_cpu = os.getloadavg(), set(), {}
    for model, name, frames in todo:
        for threads in (1, 2):
            clf = Classifier(model, threads=threads)
            delegated.add(delegate_applied(clf))
            runs = [(bare_run(clf, frames), pipeline_run(clf, frames, "vc4"), pipeline_run(clf, frames, "pisp"))
                    for _ in range(args.repeats)]
            bare = med([b[0] for b, _, _ in runs])
            # the bare loop's CPU per frame and interpreter thread: its invoke time on a quiet
            # machine, which a loaded one does not inflate as it does wall time
            cpu_ms = 1e3 * med([b[1] for b, _, _ in runs]) / threads
            invoke_cpu[name] = max(invoke_cpu.get(name, 0.0), cpu_ms / 1e3)
            row = [name, threads, bare, cpu_ms]
            for k in (1, 2):        # Pi 4 + preview, headless
                ratio = med([r[k][0] / r[0][0] for r in runs])
                extra_cpu = med([r[k][1] - r[0][1] for r in runs])
                row += [bare * ratio, ratio, extra_cpu * 1e6]
            rows.append(row)
            print(f"{name:40s} threads {threads}: bare {bare:8.1f}/s ({1e3 / bare:.3f} ms); "
                  f"Pi 4 + preview {row[4]:8.1f}/s ({row[5]:.3f}, +{row[6]:.0f} us CPU); "
                  f"headless {row[7]:8.1f}/s ({row[8]:.3f}, +{row[9]:.0f} us CPU)", flush=True)
    load1 = os.getloadavg()
    timelines = []
    for model, name, frames in todo:
        if invoke_cpu.get(name, 0.0) >= 1e-3:     # models whose invoke takes 1 ms or more
            timelines += [""] + timeline_table(model, name, frames, max(1, args.repeats // 3))
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    lines = ["# Live-classification pipeline throughput", "",
             f"Measured at commit {commit} on {platform.machine()} ({os.cpu_count()} cores), Python "
             f"{platform.python_version()}: {args.repeats} alternating chunks of {args.frames} frames "
             f"({args.frames // 10} for the 224 model) per figure, ratios as medians of the per-chunk "
             "ratios (`benchmarks/pipeline_throughput.py`). Pipeline frames: the picamera2 adapter, "
             "cropped, colour-converted and quantized on the capture thread, top-5 on the caller's. "
             "Headless (any Pi): the BGR888 main stream at the model's size; Pi 4 with a preview: "
             "YUV420 lores, converted to RGB on the capture thread (a Pi 5 gives RGB lores, as "
             "headless). CPU: the process CPU time per frame the pipeline spends beyond the bare "
             "loop's. CPU ms: the bare loop's CPU time per frame and interpreter thread, what its "
             "invoke takes on an idle machine (a loaded one stretches the wall-clock ms beside it).", "",
             f"Machine: {machine()}; load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end "
             f"(other work shared the {os.cpu_count()} cores). Interpreter: the bare loop and the pipeline "
             "use the same Interpreter object (default op resolver, "
             + ("XNNPACK delegate applied" if delegated == {True} else
                "XNNPACK delegate NOT applied" if delegated == {False} else "XNNPACK delegate on some models")
             + ", `num_threads` as in the table).", "",
             "| model | threads | bare invoke/s | ms | CPU ms | Pi 4 + preview frames/s | ratio | CPU us | "
             "headless frames/s | ratio | CPU us |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {m} | {t} | {b:,.1f} | {1e3 / b:.3f} | {cm:.3f} | {p:,.1f} | {pr:.3f} | {pc:,.0f} | {h:,.1f} | "
              f"{hr:.3f} | {hc:,.0f} |" for m, t, b, cm, p, pr, pc, h, hr, hc in rows]
    lines += timelines
    if args.models:
        print("\n".join(lines))
        return 0
    args.out.write_text("\n".join(lines) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
