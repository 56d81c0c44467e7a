"""Host check of every patch schedule in benchmarks/results_patches_*.json: `codegen verify`
(DSP kernels, intrinsics emulated on the host) at the same --ram-limit, every layer from the
stage's end on compared with TFLite's reference (BUILTIN_REF) over 4 inputs.

    .venv/bin/python benchmarks/patches_host_verify.py
"""
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from codegen.verify import verify  # noqa: E402

MODELS = {p.stem: p for d in ("tests/fixtures/models", "benchmarks/models") for p in (ROOT / d).glob("*.tflite")}
ok = True
for res in sorted((ROOT / "benchmarks").glob("results_patches_*.json")):
    for r in json.loads(res.read_text())["rows"]:
        if r["limit"] is None or r["model"] not in MODELS:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            v = verify(MODELS[r["model"]], tmp, inputs=4, seed=7, kernels="dsp", ram_limit=r["limit"])
            man = json.loads((Path(tmp) / "model.json").read_text())
        ok &= v.ok
        ps = man.get("patch_schedule")
        sched = "layer by layer" if ps is None else f"layers 0..{ps['split']}, {ps['grid'][0]}x{ps['grid'][1]}"
        print(f"| {r['model']} | {r['limit']:,} | {sched} | {man['arena_bytes']:,} | {v.layers_compared} | "
              f"{'BIT-EXACT' if v.ok else 'MISMATCH'} |", flush=True)
sys.exit(0 if ok else 1)
