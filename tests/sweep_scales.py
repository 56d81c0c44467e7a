"""Every quantized tensor's scale set to each of SCALES, one at a time, through `runtime classify`.

    python tests/sweep_scales.py [--models PATH,...] [--limit-tensors N] [--reference]

(from the repository root, with the project's .venv python). The rule checked is the project's:
exit code 0, or 2 with one `runtime: error:` line; never a signal, a traceback or another code.
Prints one line per mutant that breaks it and the counts per outcome."""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCALES = (1e-45, 1e-38, 1e-30, 1e-20, 1e-10, 1e10, 1e20, 1e30, 3e38)
DEFAULT = ("tests/fixtures/cases/models/c12_uint8_io.tflite",
           "tests/fixtures/cases/models/c01_fc_filter_zero_point.tflite",
           "tests/fixtures/models/mobilenet_v1_a025_96_rgb.tflite")


def mutants(path: Path, limit: int | None):
    """(tensor index, name, scale, flatbuffer bytes) for each quantized tensor and scale."""
    import numpy as np
    from tflite_objects import pack, unpack
    raw = path.read_bytes()
    base = unpack(raw)
    idx = [i for i, t in enumerate(base.subgraphs[0].tensors)
           if t.quantization is not None and t.quantization.scale is not None and len(t.quantization.scale)]
    if limit and len(idx) > limit:      # spread over the graph: input, weights, intermediates, output
        idx = sorted({idx[round(k * (len(idx) - 1) / (limit - 1))] for k in range(limit)})
    for i in idx:
        for sc in SCALES:
            m = unpack(raw)
            t = m.subgraphs[0].tensors[i]
            t.quantization.scale = np.full(len(t.quantization.scale), sc, np.float32)
            yield i, t.name.decode(errors="replace"), sc, pack(m)


def verdict(path: Path, reference: bool = False) -> tuple[str, str]:
    # --device: the model is loaded with TFLite's reference kernels, then the (absent) device refuses
    extra = ["--device", "socket://127.0.0.1:9"] if reference else []
    r = subprocess.run([sys.executable, "-m", "runtime.cli", "classify", "--model", str(path), "--source",
                        "synthetic", "--frames", "2", *extra], capture_output=True, text=True, timeout=120, cwd=ROOT,
                       errors="replace")
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("runtime: error:")]
    if r.returncode < 0:
        return "crash", f"signal {-r.returncode}"
    if "Traceback" in r.stderr:
        return "traceback", r.stderr.strip().splitlines()[-1]
    if r.returncode == 0:
        return "accepted", ""
    if r.returncode == 2 and len(errs) == 1:
        return "refused", errs[0]
    return "bad-message", f"exit {r.returncode}: {r.stderr.strip().splitlines()[-1:]}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(DEFAULT))
    ap.add_argument("--limit-tensors", type=int, default=8, help="at most N tensors per model (0: all)")
    ap.add_argument("--reference", action="store_true",
                    help="load with TFLite's reference kernels (classify --device to a closed port)")
    ap.add_argument("-v", action="store_true", help="print every verdict")
    a = ap.parse_args(argv)
    counts, bad = Counter(), 0
    with tempfile.TemporaryDirectory() as work:
        for m in a.models.split(","):
            p = ROOT / m
            for i, name, sc, data in mutants(p, a.limit_tensors or None):
                f = Path(work) / "m.tflite"
                f.write_bytes(data)
                v, msg = verdict(f, a.reference)
                counts[v] += 1
                if v not in ("accepted", "refused"):
                    bad += 1
                if a.v or v not in ("accepted", "refused"):
                    print(f"{p.name} tensor {i} '{name[:40]}' scale {sc:g}: {v} {msg[:200]}", flush=True)
    print(f"{sum(counts.values())} mutants: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
