"""Emits model.c / model.h / model.json for every bundled model into one folder, so that a
restructuring of the generator can be proved byte-identical:

    .venv/bin/python scripts/snapshot_c.py /tmp/snap_before     # on the old code
    .venv/bin/python scripts/snapshot_c.py /tmp/snap_after      # on the new code
    diff -r /tmp/snap_before /tmp/snap_after                    # must print nothing

Models: tests/fixtures/models/*.tflite and benchmarks/models/*.tflite. Configurations:
`--target host --kernels reference` and `--target cortex-m7 --kernels dsp`. Each goes to
OUT/<model stem>/<target>_<kernels>/, with `inspect.txt` (what `codegen inspect` prints). A model
the generator refuses gets an `error.txt` holding the message instead (so refusals are compared too).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codegen.errors import CodegenError  # noqa: E402
from codegen.inspect import inspect_model  # noqa: E402
from codegen.pipeline import generate  # noqa: E402

MODELS = sorted((ROOT / "tests/fixtures/models").glob("*.tflite")) + \
    sorted((ROOT / "benchmarks/models").glob("*.tflite"))
CONFIGS = (("host", "reference"), ("cortex-m7", "dsp"))
FILES = ("model.c", "model.h", "model.json")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="folder to write (created; existing snapshot files overwritten)")
    args = ap.parse_args()
    for model in MODELS:
        for target, kernels in CONFIGS:
            dst = args.out / model.stem / f"{target}_{kernels}"
            dst.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    generate(model, tmp, target, "model", kernels)
                except CodegenError as e:
                    (dst / "error.txt").write_text(f"{e}\n")
                    print(f"{model.stem} {target} {kernels}: refused")
                    continue
                for f in FILES:
                    shutil.copyfile(Path(tmp) / f, dst / f)
            (dst / "inspect.txt").write_text(inspect_model(model, kernels).render() + "\n")
            print(f"{model.stem} {target} {kernels}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
