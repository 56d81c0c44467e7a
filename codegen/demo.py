"""`make demo`: the main job on one model, end to end, with a readable report.

inspect -> emit C for Cortex-M7 -> cross-compile it with arm-none-eabi-gcc -> build the same C
for this machine and check it, layer by layer, against TFLite's reference kernels.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .errors import CodegenError
from .inspect import inspect_model
from .pipeline import generate
from .targets import get_target
from .verify import verify


def cross_compile(out: Path, target: str) -> str:
    gcc = shutil.which("arm-none-eabi-gcc")
    if not gcc:
        return "arm-none-eabi-gcc not found (run `make setup`)"
    objs = []
    for src in [out / "model.c", *sorted((out / "mcuf" / "src").glob("*.c"))]:
        obj = out / "build-arm" / (src.stem + ".o")
        obj.parent.mkdir(exist_ok=True)
        cmd = [gcc, *get_target(target).cflags, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
               "-ffunction-sections", "-fdata-sections", f"-I{out}", f"-I{out / 'mcuf' / 'include'}",
               "-c", str(src), "-o", str(obj)]
        subprocess.run(cmd, check=True)
        objs.append(str(obj))
    size = subprocess.run(["arm-none-eabi-size", "-t", *objs], capture_output=True, text=True, check=True)
    total = size.stdout.strip().splitlines()[-1].split()
    return (f"compiled warning-free for {target}: text {int(total[0]):,} B (code + weights), "
            f"data {int(total[1]):,} B, bss {int(total[2]):,} B (arena)")


def main(argv: list[str]) -> int:
    model = Path(argv[0] if argv else "tests/fixtures/models/mobilenet_v1_a025_96_rgb.tflite")
    out = Path("out")
    try:
        print(f"== 1. inspect {model}")
        print(inspect_model(model).render())
        print("\n== 2. codegen emit --target cortex-m7")
        man = generate(model, out / "cortex-m7", "cortex-m7")
        print(f"wrote {out / 'cortex-m7'}/: model.h model.c model.json mcuf/  "
              f"(arena {man['arena_bytes']:,} B, weights {man['weight_bytes']:,} B)")
        print(cross_compile(out / "cortex-m7", "cortex-m7"))
        print("\n== 3. the same C built for this machine vs TFLite's reference kernels")
        res = verify(model, out / "host", inputs=20, log=print)
    except CodegenError as e:
        print(f"demo: error: {e}", file=sys.stderr)
        return 2
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
