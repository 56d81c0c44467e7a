"""Flash taken by constants shared by several operators, before and after the emitter
stores each distinct constant array once (issue #18 item 7).

For each model: the manifest's per-layer constant bytes (every layer's own copy: what the
emitter wrote before), the bytes stored once (`weight_bytes`), and the .rodata of model.o
built with arm-none-eabi-gcc -Os for the Cortex-M7 (DSP kernels, the target's default).

    .venv/bin/python benchmarks/shared_constants.py [MODEL.tflite ...]

Without arguments: a 3x3 convolution applied three times with one weight tensor (built
with tests/opmodels.py's tied_conv_model), mobilevit_xxs_96_rgb and c12b_legacy_uint8.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from codegen.pipeline import generate  # noqa: E402


def rodata_bytes(out: Path) -> int:
    obj = out / "model.o"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m7", "-mthumb", "-Os", "-c", f"-I{out}",
                    f"-I{out / 'mcuf' / 'include'}", str(out / "model.c"), "-o", str(obj)], check=True)
    text = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True, text=True,
                          check=True).stdout
    return sum(int(line.split()[1]) for line in text.splitlines() if line.startswith(".rodata"))


def main(models: list[str]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shared-constants-"))
    if not models:
        import opmodels
        tied = tmp / "tied_conv_x3.tflite"
        tied.write_bytes(opmodels.tied_conv_model(np.random.default_rng(zlib.crc32(repr(("tied",)).encode())),
                                                  repeats=3, c=16))
        models = [str(tied), str(ROOT / "tests/fixtures/models/mobilevit_xxs_96_rgb.tflite"),
                  str(ROOT / "tests/fixtures/cases/models/c12b_legacy_uint8.tflite")]
    print(f"{'model':<28} {'per-layer B':>12} {'stored once B':>14} {'saved B':>8} {'model.o .rodata B':>18}")
    for m in models:
        out = tmp / Path(m).stem
        man = generate(m, out, "cortex-m7")
        per_layer = man["weight_bytes"] + man["weight_bytes_shared"]
        print(f"{Path(m).stem:<28} {per_layer:>12,} {man['weight_bytes']:>14,} "
              f"{man['weight_bytes_shared']:>8,} {rodata_bytes(out):>18,}")


if __name__ == "__main__":
    main(sys.argv[1:])
