"""mcuf_act_clamp_s8_dsp (the fused activation's clamp after a _fast convolution kernel,
codegen/kernels/optimized/) and the portable mcuf_act_clamp_s8, single-op: every length 1..67
and 0, at every alignment 0..3 of the start, under a lower-only, an upper-only, a two-sided and
the full (no-op) range, in one firmware per core -- QEMU's Cortex-M7 and M4 (-O2) and M33
(-Os) -- and on the host (the portable C, ASan/UBSan). Each case clamps inside a buffer of
guard bytes and prints a hash of the whole buffer; numpy computes the expected bytes (guards
unchanged, the range clamped), so a byte written out of range or clamped wrong fails.
The firmware also counts the instructions of large calls (the cost model's mcuf_act_clamp_s8_dsp
coefficients: benchmarks/cliff_sweep.py's clamping layers pay this after their kernel)."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from firmware_tools.boards import get_board
from firmware_tools.build import BOARDS_DIR
from firmware_tools.qemu import run_qemu
from mve_sweep import bare_elf

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
KERNELS = ROOT / "codegen" / "kernels"
RANGES = [(-20, 127), (-128, 19), (-3, 90), (-128, 127), (5, 5)]
LENGTHS = list(range(0, 68))
GUARD = 8
BUF = GUARD + 3 + 67 + GUARD


def _fill(case: int) -> np.ndarray:
    i = np.arange(BUF, dtype=np.int64)
    return (((i * 37 + 11 + case * 101) % 256) - 128).astype(np.int8)


def _fnv(b: np.ndarray) -> int:
    h = 2166136261
    for v in b.view(np.uint8).tolist():
        h = ((h ^ v) * 16777619) & 0xFFFFFFFF
    return h


def _cases():
    return [(n, off, lo, hi) for lo, hi in RANGES for off in range(4) for n in LENGTHS]


def _expected() -> list[int]:
    out = []
    for k, (n, off, lo, hi) in enumerate(_cases()):
        b = _fill(k)
        s = slice(GUARD + off, GUARD + off + n)
        b[s] = np.clip(b[s], lo, hi)
        out.append(_fnv(b))
    return out


def _main_c(fn: str, bench: bool) -> str:
    rows = ",\n".join(f"    {{{n}, {off}, {lo}, {hi}}}" for n, off, lo, hi in _cases())
    bench_c = ""
    if bench:   # instructions of 64 calls over 4,096 aligned bytes and of 1,000 calls over 16
        bench_c = f"""
    static int8_t big[4096] __attribute__((aligned(4)));
    for (int r = 0; r < 5; ++r) {{
        const int32_t lo = r < 2 ? -20 : -128, hi = r == 1 ? 100 : (r == 2 ? 19 : 127);
        for (uint32_t i = 0; i < sizeof big; ++i) big[i] = (int8_t)(i * 13u + 5u);
        board_counter_start();
        for (int k = 0; k < 64; ++k) {fn}(big, sizeof big, lo, hi);
        const uint64_t t = board_counter_read();
        board_counter_start();
        for (int k = 0; k < 1000; ++k) {fn}(big + 1, 16, lo, hi);
        const uint64_t s = board_counter_read();
        console_puts("bench "); console_put_int(r); console_puts(" ");
        console_put_uint(t); console_puts(" "); console_put_uint(s); console_puts("\\n");
    }}"""
    if bench:
        include, init, done = '#include "board.h"', "    board_init();", '    console_puts("done\\n");'
        put = '        console_puts("h "); console_put_uint(fnv()); console_puts("\\n");'
    else:
        include, init, done = "#include <stdio.h>", "", '    printf("done\\n");'
        put = '        printf("h %u\\n", (unsigned)fnv());'
    return f"""#include <stdint.h>
#include "mcuf_nn.h"
{include}
static const int16_t cases[][4] = {{
{rows}
}};
static int8_t buf[{BUF}] __attribute__((aligned(4)));
static uint32_t fnv(void)
{{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < sizeof buf; ++i) h = (h ^ (uint8_t)buf[i]) * 16777619u;
    return h;
}}
int main(void)
{{
{init}
    for (uint32_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {{
        for (uint32_t i = 0; i < sizeof buf; ++i) buf[i] = (int8_t)(((i * 37u + 11u + k * 101u) % 256u) - 128u);
        {fn}(buf + {GUARD} + cases[k][1], (uint32_t)cases[k][0], cases[k][2], cases[k][3]);
{put}
    }}{bench_c}
{done}
    return 0;
}}
"""


def _hashes(console: str) -> list[int]:
    return [int(m) for m in re.findall(r"^h (\d+)$", console, re.M)]


@pytest.mark.parametrize("board,opt", [("qemu-mps2-an500", "-O2"), ("qemu-mps2-an386", "-O2"),
                                       ("qemu-mps2-an505", "-Os")])
def test_act_clamp_dsp_on_qemu(board, opt, tmp_path):
    b = get_board(board)
    (tmp_path / "main.c").write_text(_main_c("mcuf_act_clamp_s8_dsp", bench=True))
    sources = [KERNELS / "optimized" / "mcuf_act_clamp_s8_dsp.c", *sorted((BOARDS_DIR / "common").glob("*.c")),
               b.dir / "board.c", tmp_path / "main.c"]
    elf = bare_elf(b, sources, [KERNELS / "include"], opt, tmp_path / "clamp.elf")
    res = run_qemu(b, elf, timeout=120)
    assert res.returncode == 0 and "done" in res.console, res.console[-2000:]
    got, want = _hashes(res.console), _expected()
    assert len(got) == len(want)
    bad = [c for c, g, w in zip(_cases(), got, want) if g != w]
    assert bad == [], bad[:10]
    bench = {int(m[1]): (int(m[2]), int(m[3])) for m in re.finditer(r"^bench (\d) (\d+) (\d+)$", res.console, re.M)}
    assert bench[3][0] < 64 * 100, bench   # the full range: returns at once
    print(board, {r: (t / (64 * 4096), s / 1000) for r, (t, s) in bench.items()})


@pytest.mark.parametrize("fn", ["mcuf_act_clamp_s8", "mcuf_act_clamp_s8_dsp"])
def test_act_clamp_on_host_sanitized(fn, tmp_path):
    (tmp_path / "main.c").write_text(_main_c(fn, bench=False))
    src = KERNELS / ("reference" if fn == "mcuf_act_clamp_s8" else "optimized") / f"{fn}.c"
    exe = tmp_path / "clamp"
    r = subprocess.run(["gcc", "-O1", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
                        "-fno-sanitize-recover=all", f"-I{KERNELS / 'include'}", str(src), str(tmp_path / "main.c"),
                        "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "done" in out.stdout, out.stderr[-2000:]
    assert _hashes(out.stdout) == _expected()
