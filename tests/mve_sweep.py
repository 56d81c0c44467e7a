"""Many single-op models in one Cortex-M55 firmware image: each is generated under its own C
prefix (m0_invoke(), m1_invoke(), ...) with the Helium kernel set, one main() runs them all
on the bench input and prints every output, and the bytes come back per model. One build and
one QEMU run for a whole shape sweep instead of one per shape."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from codegen.pipeline import generate
from firmware_tools.boards import get_board
from firmware_tools.build import BOARDS_DIR, CC, link_flags
from firmware_tools.qemu import run_qemu

BOARD = "qemu-mps3-an547"


def bare_elf(board, sources: list[Path], include_dirs: list[Path], opt: str, elf: Path) -> Path:
    """One arm-none-eabi-gcc call compiling and linking `sources` (C files: kernels, the boards'
    common code, board.c and a test main) into `elf` for `board` at `opt`, warnings as errors,
    with include_dirs and the boards' headers (link options: firmware_tools.build.link_flags).
    Fails the test with gcc's stderr if it does not build."""
    cmd = [CC, *board.cflags(), opt, "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections",
           "-fdata-sections", *[f"-I{d}" for d in include_dirs], f"-I{BOARDS_DIR / 'include'}",
           f"-I{BOARDS_DIR / 'common'}", *link_flags(board), *map(str, sources), "-o", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    return elf


def sweep_input(n: int, run: int) -> np.ndarray:
    """The inputs main() writes: input[i] = (int8)(((i*7 + 3 + 101*run) % 256) - 128)."""
    return (((np.arange(n) * 7 + 3 + 101 * run) % 256) - 128).astype(np.int8)


def run_on_m55(models: list[Path], work: Path, kernels: str = "mve", opt: str = "-O2",
               runs: int = 2, board_name: str = BOARD) -> tuple[list[dict], list[list[list[int]]]]:
    """models -> (manifests, for each model the output bytes of each run on QEMU's Cortex-M55
    (or board_name's core), run r on sweep_input(size, r))."""
    board = get_board(board_name)
    gen = work / "gen"
    gen.mkdir(parents=True, exist_ok=True)
    mans = [generate(m, gen, board.target, name=f"m{i}", kernels=kernels) for i, m in enumerate(models)]
    main = ['#include "board.h"']
    main += [f'#include "m{i}.h"' for i in range(len(models))]
    main += ["static void run(int8_t *in, uint32_t n, int (*invoke)(void), const int8_t *(*out)(void),",
             "                uint32_t m, const char *tag, uint32_t r)",
             "{",
             "    for (uint32_t i = 0; i < n; ++i) in[i] = (int8_t)(((i * 7u + 3u + 101u * r) % 256u) - 128u);",
             "    invoke();",
             "    const int8_t *o = out();",
             "    console_puts(tag);",
             "    for (uint32_t i = 0; i < m; ++i) { console_puts(\" \"); console_put_int(o[i]); }",
             "    console_puts(\"\\n\");",
             "}",
             "int main(void)", "{", "    board_init();"]
    for i in range(len(models)):
        u = f"M{i}"
        for r in range(runs):
            main.append(f'    run(m{i}_input(), {u}_INPUT_SIZE, m{i}_invoke, m{i}_output, {u}_OUTPUT_SIZE, '
                        f'"m{i}.{r}:", {r});')
    main += ['    console_puts("done\\n");', "    return 0;", "}"]
    (gen / "sweep_main.c").write_text("\n".join(main) + "\n")
    sources = [*sorted(gen.glob("m*.c")), *sorted((gen / "mcuf" / "src").glob("*.c")),
               *sorted((BOARDS_DIR / "common").glob("*.c")), board.dir / "board.c", gen / "sweep_main.c"]
    elf = bare_elf(board, sources, [gen, gen / "mcuf" / "include"], opt, gen / "sweep.elf")
    res = run_qemu(board, elf, timeout=120)
    assert res.returncode == 0 and "done" in res.console, res.console[-2000:]
    outs = {(int(m[1]), int(m[2])): [int(v) for v in m[3].split()]
            for m in re.finditer(r"^m(\d+)\.(\d+):(.*)$", res.console, re.M)}
    return mans, [[outs[i, r] for r in range(runs)] for i in range(len(models))]


def differences(cases: list, models: list[Path], mans: list[dict], outs: list[list[list[int]]]) -> list[tuple]:
    """For run_on_m55's results: (case, kernel, run, bytes differing) of every run whose output
    is not TFLite's reference kernels' on the same input (runtime.interpreter.ReferenceModel on
    sweep_input); [] when every model's every run is bit-exact."""
    from runtime.interpreter import ReferenceModel
    bad = []
    for case, path, man, runs in zip(cases, models, mans, outs):
        ref = ReferenceModel(path)
        for r, got in enumerate(runs):
            want = ref.invoke(sweep_input(man["input"]["bytes"], r)).reshape(-1)
            if got != want.tolist():
                kernel = man["layers"][0]["kernel"] if man["layers"] else None
                bad.append((case, kernel, r, int((np.array(got) != want).sum())))
    return bad
