"""The live pipeline at two commits, side by side: this checkout's runtime/ against another
commit's (extracted with `git archive` into a temporary folder and imported as a second
package), in alternating chunks, so that a loaded or drifting machine disturbs both alike.

    .venv/bin/python benchmarks/pipeline_ab.py --baseline main [--repeats 9] [--frames 100] [--stages]

Per configuration (interpreter threads x headless / Pi 4 + preview) and side, the medians over
the chunks of: the pipeline threads' CPU per frame outside invoke (capture thread + inference
thread outside invoke + caller, thread CPU clocks from runtime.pipeline.Timeline; the figure
least disturbed by other load), the process CPU per frame beyond a bare set_tensor + invoke +
get_tensor loop run just before, and the frames/s ratio to that loop. Model: MobileNet V1 1.0
224 (random weights), as in pipeline_throughput.py. Printed, not written.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

import pipeline_throughput as pt  # noqa: E402


def import_baseline(commit: str, into: Path) -> str:
    """commit's runtime/ as the package 'runtime_baseline'."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "runtime"], capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    path = into / "runtime"
    spec = importlib.util.spec_from_file_location("runtime_baseline", path / "__init__.py",
                                                  submodule_search_locations=[str(path)])
    mod = importlib.util.module_from_spec(spec)
    sys.modules["runtime_baseline"] = mod
    spec.loader.exec_module(mod)
    return "runtime_baseline"


# --stages: (name, from mark, to mark, to the next frame's mark?) -- thread CPU of each stage
STAGES = [("capture: read (capture_array, crop)", "capture.read", "capture.read_done", False),
          ("capture: preprocess (YUV420 -> RGB, quantize)", "capture.read_done", "capture.pre_done", False),
          ("capture: put", "capture.pre_done", "capture.put_done", False),
          ("inference: set_input", "inference.got", "inference.set_done", False),
          ("inference: output (get_tensor)", "inference.invoke_done", "inference.out_done", False),
          ("inference: put", "inference.out_done", "inference.put_done", False),
          ("inference: wait for the next frame", "inference.put_done", "inference.got", True),
          ("caller: top-k and Result", "caller.got", "caller.top_done", False),
          ("capture thread", "capture.read", "capture.read", True),
          ("inference thread outside invoke", "inference.invoke_done", "inference.set_done", True),
          ("caller thread", "caller.got", "caller.got", True)]


def chunk(pkg: str, clf, frames: int, platform: str, stages: dict | None = None) -> tuple[float, float, float]:
    """(frames/s, process CPU us per frame, pipeline threads' CPU us per frame outside invoke).
    stages: a dict to fill with each of STAGES' mean thread CPU per frame, us, and the median
    wall time the interpreter idles between two invokes ("interpreter idle (wall, median)")."""
    P, PC, F = (importlib.import_module(f"{pkg}.{m}") for m in ("pipeline", "picamera", "frames"))

    class Camera(PC.Picamera2Source):
        live = False            # on demand: no frame dropped (pipeline_throughput.OnDemandCamera)
    size = PC.lores_size(F.Want(clf.input.width, clf.input.height))
    warm, tl = 20, P.Timeline()
    pipe = P.Pipeline(Camera(module=pt.camera_module(size, platform), preview=platform == "vc4"), clf,
                      top_k=5, max_frames=frames + warm, timeline=tl)
    for r in pipe.run():
        if r.frame.index == warm - 1:
            c0, t0 = time.process_time(), time.perf_counter()
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    m = {k: {i: c for i, _, c in v if i >= warm} for k, v in tl.marks.items()}
    idx = sorted(set(m["inference.invoke_done"]) & set(m["caller.top_done"]) & set(m["capture.put_done"]))[:-1]

    def cpu_span(a, b, nxt=True):         # mean CPU from a(n) to b(n + 1) (or b(n)), us
        return 1e6 * float(np.mean([m[b][i + nxt] - m[a][i] for i in idx if i + nxt in m[b]]))
    own = (cpu_span("capture.read", "capture.read") + cpu_span("inference.invoke_done", "inference.set_done")
           + cpu_span("caller.got", "caller.got"))
    if stages is not None:
        for name, a, b, nxt in STAGES:
            stages[name] = cpu_span(a, b, nxt)
        w = {k: {i: t for i, t, _ in v} for k, v in tl.marks.items()}
        stages["interpreter idle (wall, median)"] = 1e6 * float(np.median(
            [w["inference.set_done"][i + 1] - w["inference.invoke_done"][i] for i in idx
             if i + 1 in w["inference.set_done"]]))
    return frames / wall, 1e6 * cpu / frames, own


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default="main", help="the commit to compare this checkout with")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--frames", type=int, default=100, help="frames per chunk")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--platforms", default="pisp,vc4", help="pisp: headless; vc4: Pi 4 + preview")
    ap.add_argument("--stages", action="store_true",
                    help="also each stage's thread CPU per frame (medians over the chunks, us; the stages of "
                         "pipeline_throughput.py --timeline) and the interpreter's idle wall time between invokes")
    args = ap.parse_args()
    from codegen.architectures import mobilenet_v1, to_tflite
    tmp = Path(tempfile.mkdtemp())
    base = import_baseline(args.baseline, tmp)
    model = tmp / "mobilenet_v1_1.0_224_random.tflite"
    model.write_bytes(to_tflite(mobilenet_v1(pt.PI_SIZED[1], pt.PI_SIZED[2], 1000)))
    for threads in map(int, args.threads.split(",")):
        sides = [(args.baseline, base), ("this checkout", "runtime")]
        clfs = {pkg: importlib.import_module(f"{pkg}.classifier").Classifier(model, threads=threads)
                for _, pkg in sides}
        for platform in args.platforms.split(","):
            rows: dict[str, list] = {name: [] for name, _ in sides}
            per_stage: dict[str, list] = {name: [] for name, _ in sides}
            for _ in range(args.repeats):
                for name, pkg in sides:
                    bare, bare_cpu = pt.bare_run(clfs[pkg], args.frames)
                    stages: dict = {}
                    fps, cpu, own = chunk(pkg, clfs[pkg], args.frames, platform, stages)
                    rows[name].append((own, cpu - 1e6 * bare_cpu, fps / bare))
                    per_stage[name].append(stages)
            config = (f"{threads} thread{'s' if threads > 1 else ''}, "
                      f"{'headless' if platform == 'pisp' else 'Pi 4 + preview':14s}")
            for name, _ in sides:
                own, extra, ratio = np.median(np.array(rows[name]), axis=0)
                print(f"{config} {name:14s}: pipeline threads' "
                      f"CPU outside invoke {own:6.1f} us/frame; process CPU beyond bare {extra:6.1f} us/frame; "
                      f"ratio {ratio:.3f}", flush=True)
            if args.stages:
                (a, _), (b, _) = sides
                print(f"  {config.rstrip()}, thread CPU us/frame (median of {args.repeats} chunks): {a} -> {b}")
                for stage in per_stage[a][0]:
                    va, vb = (float(np.median([s[stage] for s in per_stage[n]])) for n in (a, b))
                    print(f"    {stage:44s} {va:7.1f} -> {vb:7.1f} ({vb - va:+6.1f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
