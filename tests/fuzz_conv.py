"""A random shape fuzzer for the CONV_2D / DEPTHWISE_CONV_2D kernel routes: from a seed, draws
single-layer (and two-layer) int8 models over the whole space the router sees, and checks
every one the generator accepts against TFLite's reference kernels.

The space (draw_case): CONV_2D with kernels 1..7 per axis (non-square included), strides 1..3
per axis (unequal included), dilation 1/2, SAME/VALID, 1..40 input and output channels, grouped
(filter depth in_c / groups; a fifth of the routed draws 1x1 over 2-4 channels per group,
the few-channel kernels); DEPTHWISE_CONV_2D with multipliers 1..8 on 1..40 channels; planes
1x1..60x60 (odd sizes, planes narrower or lower than the kernel, VALID windows that do not fit);
per-tensor and per-channel weight scales; input/output zero points at -128, 127, 0 or random;
effective multipliers from 1e-6 to 4 (right and left shifts); NONE/RELU/RELU6/RELU_N1_TO_1;
bias ordinary, large, at the accumulator bound codegen accepts (|bias| + 256 sum|w| < 2^31) or
over it, absent (DEPTHWISE_CONV_2D; TFLite's int8 CONV_2D needs one); weights at -128/127 or all zero in some channels; a
quarter of the cases are two layers (the first one's output, with its own quantization, feeds
the second). Each case is a pure function of (seed, index).

For each model:
  0. TFLite's reference must run it (else it is counted as `tflite-refuses`, not a failure);
  1. `codegen emit` must accept it, or refuse it cleanly: `codegen emit` exits 2 with one
     `codegen: error: ...` line per problem (no traceback, hang or crash);
  2. host: the C generated with the DSP kernels (intrinsics emulated in C), built with
     gcc -O1 -fsanitize=address,undefined -fno-sanitize-recover=all (tests/fuzz_models.CFLAGS),
     on RUNS random inputs gives exactly TFLite's reference int8 outputs
     (codegen/verify.reference_int8_outputs); many models run in one executable;
  2b. host: each model alone with every arena byte outside the running layer's planned
     buffers poisoned (tests/fuzz_models.Sanitized; --no-poison skips it);
  3. QEMU's Cortex-M7 (qemu-mps2-an500, --kernels dsp, -O2), and each `--targets` core (M55:
     --kernels mve), gives
     the reference's bytes too: many models in one firmware image (tests/mve_sweep.run_on_m55),
     batches split in half when one does not build or run.

One line per failure: `FAIL seed=S index=I [check] shape -> kernel(s): what`; reproduce one with
`--seed S --index I` (add --keep DIR to keep its .tflite and generated C). Exit 1 on any failure.

    .venv/bin/python tests/fuzz_conv.py --seed 1 --count 300
    .venv/bin/python tests/fuzz_conv.py --seed 1 --index 17 --keep /tmp/case17
    .venv/bin/python tests/fuzz_conv.py --seed 5 --count 100 --targets cortex-m4,cortex-m33,cortex-m55
"""
from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codegen.tflite_writer import ModelBuilder  # noqa: E402
from opmodels import ACT, PAD, _out_size  # noqa: E402

ACTS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
BOARDS = {"cortex-m7": "qemu-mps2-an500", "cortex-m4": "qemu-mps2-an386", "cortex-m33": "qemu-mps2-an505",
          "cortex-m55": "qemu-mps3-an547"}
KERNELS = {"cortex-m55": "mve"}            # the others: dsp
MAX_MACS = 6_000_000                        # per layer: keeps one QEMU image within its timeout
BATCH_MACS = 40_000_000                     # per firmware image / host executable
BATCH_ARENA = 1_500_000                     # arena bytes per firmware image (4 MB of RAM on mps2)
BATCH_MODELS = 40


# --- the draw --------------------------------------------------------------------------

def _layer(rng: np.random.Generator, in_c: int | None, h: int | None, w: int | None) -> dict:
    pick = lambda xs: xs[int(rng.integers(len(xs)))]   # noqa: E731 (plain Python values)
    route = -1
    kind = "DEPTHWISE_CONV_2D" if rng.random() < 0.45 else "CONV_2D"
    kh = pick([1, 1, 2, 3, 3, 3, 4, 5, 5, 6, 7, 7])
    kw = kh if rng.random() < 0.75 else pick([1, 2, 3, 4, 5, 6, 7])
    sh = pick([1, 1, 1, 2, 2, 3])
    sw = sh if rng.random() < 0.75 else pick([1, 2, 3])
    d = 2 if rng.random() < 0.12 else 1
    dh, dw = (d, d) if rng.random() < 0.8 else (pick([1, 2]), pick([1, 2]))
    c = in_c if in_c is not None else pick([1, 1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 40,
                                            int(rng.integers(1, 41))])
    if in_c is None and rng.random() < 0.25:  # the shapes the newest routes are for, more often
        route = int(rng.integers(5))
        if route == 0:      # 1x1 at stride 2 (or 3, unequal)
            kind, kh, kw, dh, dw = "CONV_2D", 1, 1, 1, 1
            sh, sw = pick([(2, 2), (2, 2), (3, 3), (2, 1), (1, 2)])
        elif route == 1:    # one input channel 1x1 (a table look-up per output channel)
            kind, kh, kw, c = "CONV_2D", 1, 1, 1
            sh = sw = pick([1, 1, 2])
        elif route == 2:    # KxK depthwise with a multiplier
            kind = "DEPTHWISE_CONV_2D"
            kw = kh
        elif route == 3:    # grouped direct convolution
            kind = "CONV_2D"
            c = pick([4, 6, 8, 12, 16, 24, 32, 36, 40])
        else:               # 1x1 over 2-4 channels per group (the few-channel kernels)
            kind, kh, kw, dh, dw = "CONV_2D", 1, 1, 1, 1
            c = pick([2, 3, 4, 4, 6, 8, 9, 12, 16, 24, 32])
    L = dict(kind=kind, kh=kh, kw=kw, sh=sh, sw=sw, dh=dh, dw=dw, c=c, groups=1, mult=1,
             padding=pick(["SAME", "VALID"]), act=pick(ACTS), per_channel=bool(rng.random() < 0.75),
             bias=pick(["normal", "normal", "normal", "absent", "extreme", "big"]),
             wfill=pick(["random", "random", "random", "extreme", "dead"]),
             mult_span=pick(["typical", "typical", "small", "left", "wide"]),
             out_zp=pick(["-128", "127", "0", "rand", "rand"]))
    if kind == "CONV_2D":
        if L["bias"] == "absent":            # TFLite's int8 CONV_2D requires one (conv.cc has_bias)
            L["bias"] = "normal"
        L["out_c"] = pick([1, 2, 3, 4, 5, 8, 9, 16, 17, 24, 32, 33, 40, int(rng.integers(1, 41))])
        divs = [g for g in range(2, c + 1) if c % g == 0]
        if route == 4:                       # 2, 3 or 4 channels per group (groups 1: dense)
            divs = [g for g in range(1, c + 1) if c % g == 0 and c // g in (2, 3, 4)]
            L["act"] = pick(["NONE", "NONE", L["act"]])            # their fast output stage:
            L["mult_span"] = pick(["typical", "small", L["mult_span"]])   # right shifts, no clamp
        if divs and rng.random() < (0.9 if route in (3, 4) else 0.25):     # grouped: filter depth c / g, out_c a multiple of g
            g = pick(divs)
            L["groups"] = g
            L["out_c"] = g * max(1, min(40 // g, int(rng.integers(1, 5))))
    else:
        L["mult"] = pick([2, 3, 4, 8] if route == 2 else [1, 1, 1, 2, 3, 4, 5, 8, int(rng.integers(1, 9))])
        L["out_c"] = c * L["mult"]
    if h is None:
        r = rng.random()
        if r < 0.3:      # around the kernel's extent: smaller, equal, one more
            h = max(1, (kh - 1) * dh + 1 + int(rng.integers(-3, 3)))
            w = max(1, (kw - 1) * dw + 1 + int(rng.integers(-3, 3)))
        elif r < 0.85:
            h, w = int(rng.integers(1, 21)), int(rng.integers(1, 21))
        else:
            h, w = int(rng.integers(1, 61)), int(rng.integers(1, 61))
    L["h"], L["w"] = h, w
    if L["padding"] == "VALID" and (h < (kh - 1) * dh + 1 or w < (kw - 1) * dw + 1) and rng.random() < 0.8:
        L["padding"] = "SAME"                # else: a VALID window that does not fit (empty output)
    return L


def _out_hw(L: dict) -> tuple[int, int]:
    return (_out_size(L["padding"], L["h"], L["kh"], L["sh"], L["dh"]),
            _out_size(L["padding"], L["w"], L["kw"], L["sw"], L["dw"]))


def _macs(L: dict) -> int:
    oh, ow = _out_hw(L)
    fic = 1 if L["kind"] == "DEPTHWISE_CONV_2D" else L["c"] // L["groups"]
    return max(oh, 0) * max(ow, 0) * L["out_c"] * L["kh"] * L["kw"] * fic


def draw_case(seed: int, index: int) -> dict:
    """Case `index` of `seed`: {'seed', 'index', 'layers': [layer dict, ...], 'model_seed'}, a pure
    function of (seed, index). Planes are shrunk until every layer is under MAX_MACS."""
    rng = np.random.default_rng([seed, index])
    layers = [_layer(rng, None, None, None)]
    while _macs(layers[0]) > MAX_MACS:
        layers[0]["h"] = max(1, layers[0]["h"] * 2 // 3)
        layers[0]["w"] = max(1, layers[0]["w"] * 2 // 3)
    oh, ow = _out_hw(layers[0])
    if rng.random() < 0.25 and oh > 0 and ow > 0:
        second = _layer(rng, layers[0]["out_c"], oh, ow)
        if _macs(second) <= MAX_MACS:
            layers.append(second)
    return dict(seed=seed, index=index, layers=layers, model_seed=int(rng.integers(1 << 31)))


def describe(case: dict) -> str:
    """One short line: per layer op, plane x channels, kernel, stride, dilation, padding, groups or
    multiplier, activation, quantization details."""
    parts = []
    for L in case["layers"]:
        op = "dw" if L["kind"] == "DEPTHWISE_CONV_2D" else "conv"
        extra = f" m{L['mult']}" if op == "dw" else (f" g{L['groups']}" if L["groups"] > 1 else "")
        parts.append(f"{op} {L['h']}x{L['w']}x{L['c']}->{L['out_c']} k{L['kh']}x{L['kw']} s{L['sh']}x{L['sw']}"
                     f" d{L['dh']}x{L['dw']} {L['padding']}{extra} {L['act']}"
                     f" {'pc' if L['per_channel'] else 'pt'} b:{L['bias']} w:{L['wfill']}"
                     f" q:{L['mult_span']} ozp:{L['out_zp']}")
    return " | ".join(parts)


def case_model(case: dict) -> bytes:
    """The .tflite bytes of a draw_case (weights, scales, biases from its model_seed), built with
    codegen.tflite_writer.ModelBuilder."""
    rng = np.random.default_rng(case["model_seed"])
    mb = ModelBuilder()
    first = case["layers"][0]
    xs = float(np.exp(rng.uniform(np.log(1e-3), np.log(1.0))))
    xzp = int(rng.choice([-128, 127, 0, int(rng.integers(-128, 128))]))
    x = mb.tensor([1, first["h"], first["w"], first["c"]], "int8", xs, xzp)
    inp = cur = x
    for L in case["layers"]:
        dw = L["kind"] == "DEPTHWISE_CONV_2D"
        oc, kh, kw = L["out_c"], L["kh"], L["kw"]
        fic = L["c"] // L["groups"]
        wshape = (1, kh, kw, oc) if dw else (oc, kh, kw, fic)
        n_scales = oc if L["per_channel"] else 1
        lo, hi = sorted(np.exp(rng.uniform(np.log(1e-5), np.log(0.5), 2)))
        if rng.random() < 0.5:
            hi = lo * float(rng.choice([1.0, 2.0, 10.0]))
        wscales = np.exp(rng.uniform(np.log(lo), np.log(hi) + 1e-9, n_scales)).astype(np.float32)
        if L["wfill"] == "extreme":
            wdata = rng.choice([-128, -127, 127], wshape)
        else:
            wdata = rng.integers(-127, 128, wshape)
        if L["wfill"] == "dead":
            dead = rng.random(oc) < 0.3
            np.moveaxis(wdata, 3 if dw else 0, 0)[dead] = 0
        wt = mb.tensor(list(wshape), "int8", wscales, 0, wdata, axis=3 if dw else 0)
        bscale = (np.float32(xs) * wscales).astype(np.float32)
        bmax = {"normal": 3000, "big": 1 << 24, "extreme": (1 << 31) - 1}.get(L["bias"], 1)
        bdata = rng.integers(-bmax, bmax, oc)
        if L["bias"] == "extreme":     # at the largest |bias| codegen/validate.py accepts, 2^30, or beyond
            sums = np.abs(np.moveaxis(wdata, 3 if dw else 0, 0)).reshape(oc, -1).sum(axis=1).astype(np.int64)
            edge = (1 << 31) - 1 - 256 * sums
            sign = rng.choice([-1, 1], oc)
            bdata = np.where(rng.random(oc) < 0.6, sign * edge, np.where(rng.random(oc) < 0.5, bdata,
                                                                           sign * (1 << 30)))
            if rng.random() < 0.1:
                bdata[int(rng.integers(oc))] = (1 << 31) - 1       # over the bound: a clean refusal
            bdata = np.clip(bdata, -(1 << 31), (1 << 31) - 1)
        bias = [] if L["bias"] == "absent" else [mb.tensor([oc], "int32", bscale, 0, bdata)]   # absent: 2 inputs
        # the output scale from the effective multiplier xs * ws / ys wanted
        span = {"typical": (1e-4, 3e-2), "small": (1e-6, 1e-4), "left": (0.3, 4.0), "wide": (1e-6, 4.0)}[
            L["mult_span"]]
        m = float(np.exp(rng.uniform(np.log(span[0]), np.log(span[1]))))
        ys = xs * float(np.median(wscales)) / m
        if L["act"] == "RELU6" and rng.random() < 0.3:
            ys = 6.0 / 255
        yzp = {"-128": -128, "127": 127, "0": 0}.get(L["out_zp"], int(rng.integers(-128, 128)))
        oh, ow = _out_hw(L)
        y = mb.tensor([1, oh, ow, oc], "int8", ys, yzp)
        common = dict(Padding=PAD[L["padding"]], StrideW=L["sw"], StrideH=L["sh"],
                      FusedActivationFunction=ACT[L["act"]], DilationWFactor=L["dw"], DilationHFactor=L["dh"])
        if dw:
            mb.op("DEPTHWISE_CONV_2D", [cur, wt, *bias], [y], "DepthwiseConv2DOptions", DepthMultiplier=L["mult"],
                  **common)
        else:
            mb.op("CONV_2D", [cur, wt, *bias], [y], "Conv2DOptions", **common)
        cur, xs = y, ys
    return mb.build([inp], [cur])


# --- the checks ------------------------------------------------------------------------

def host_input(n: int, key: int) -> np.ndarray:
    """The host harness's input bytes: a 32-bit mix of (i + key) (the C in _host_main)."""
    x = (np.arange(n, dtype=np.uint64) + np.uint64(key)) & np.uint64(0xFFFFFFFF)
    x = (x * np.uint64(0x9E3779B1)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x85EBCA77)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(13)
    return (x >> np.uint64(24)).astype(np.uint8).view(np.int8)


def _host_main(items: list[dict], runs: int) -> str:
    c = ['#include <stdint.h>', '#include <stdio.h>', '#include <stdlib.h>']
    c += [f'#include "m{i}.h"' for i in range(len(items))]
    c += ["static void run(int8_t *in, uint32_t n, int (*invoke)(void), const int8_t *(*out)(void), uint32_t m,",
          "                int tag, int r, uint32_t key)",
          "{",
          "    for (uint32_t i = 0; i < n; ++i) {",
          "        uint32_t x = (i + key) * 0x9E3779B1u; x ^= x >> 15; x *= 0x85EBCA77u; x ^= x >> 13;",
          "        in[i] = (int8_t)(uint8_t)(x >> 24);",
          "    }",
          "    if (invoke() != 0) { printf(\"m%d.%d: invoke-failed\\n\", tag, r); return; }",
          "    const int8_t *o = out();",
          "    printf(\"m%d.%d:\", tag, r);",
          "    for (uint32_t i = 0; i < m; ++i) printf(\" %d\", o[i]);",
          "    printf(\"\\n\");",
          "    fflush(stdout);",
          "}",
          "int main(int argc, char **argv)", "{",
          "    int from = argc > 1 ? atoi(argv[1]) : 0, only = argc > 2 ? atoi(argv[2]) : -1;"]
    for i, it in enumerate(items):
        u = f"M{i}"
        c.append(f"    if (from <= {i} && (only < 0 || only == {i})) {{")
        for r in range(runs):
            c.append(f"        run(m{i}_input(), {u}_INPUT_SIZE, m{i}_invoke, m{i}_output, {u}_OUTPUT_SIZE, {i}, {r},"
                     f" {it['keys'][r]}u);")
        c.append("    }")
    c += ["    printf(\"done\\n\");", "    return 0;", "}"]
    return "\n".join(c) + "\n"


def _host_batch(items: list[dict], work: Path, runs: int, fail) -> None:
    """Generate (host, dsp) every item in one folder, build one ASan/UBSan executable, run it;
    a sanitizer report names the model that was running, the rest run again after it."""
    from codegen.pipeline import generate
    from fuzz_models import CFLAGS, Sanitized, _sanitizer_summary
    gen = work / "host"
    shutil.rmtree(gen, ignore_errors=True)
    gen.mkdir(parents=True)
    for i, it in enumerate(items):
        generate(it["path"], gen, "host", name=f"m{i}", kernels="dsp")
    (gen / "main.c").write_text(_host_main(items, runs))
    exe = gen / "fuzz_host"
    cache = Path(tempfile.gettempdir()) / "mcuf-fuzz-conv-cache"     # the ASan kernel library, by source hash
    cache.mkdir(exist_ok=True)
    lib = Sanitized(cache, timeout=600)._library(gen / "mcuf")
    srcs = [*map(str, sorted(gen.glob("m[0-9]*.c"))), str(gen / "main.c")]
    r = subprocess.run(["gcc", *CFLAGS, f"-I{gen}", f"-I{gen / 'mcuf' / 'include'}", *srcs, str(lib), "-o", str(exe)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        if len(items) == 1:
            fail(items[0], "host", "build error: " + (r.stderr.strip().splitlines() or ["?"])[0][:200])
            return
        half = len(items) // 2
        _host_batch(items[:half], work, runs, fail)
        _host_batch(items[half:], work, runs, fail)
        return
    env = {"ASAN_OPTIONS": "detect_leaks=0:exitcode=66", "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
           "PATH": "/usr/bin:/bin"}
    start = 0
    while start < len(items):
        try:
            p = subprocess.run([str(exe), str(start)], capture_output=True, text=True, env=env, timeout=600)
            out, err, code = p.stdout, p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out, err, code = (e.stdout or b"").decode(errors="replace"), "timeout (600 s)", -1
        got = {(int(m[1]), int(m[2])): m[3] for m in re.finditer(r"^m(\d+)\.(\d+):(.*)$", out, re.M)}
        done = code == 0 and "done" in out
        for i in range(start, len(items)):
            if not all((i, r) in got for r in range(runs)):
                if done:
                    fail(items[i], "host", "no output printed")
                    continue
                fail(items[i], "host", _sanitizer_summary(err, code) if err != "timeout (600 s)" else err)
                start = i + 1
                break
            _compare(items[i], "host", [got[i, r] for r in range(runs)],
                     [host_input(items[i]["in_bytes"], k) for k in items[i]["keys"][:runs]], fail)
        else:
            start = len(items)


def _compare(it: dict, where: str, lines: list, inputs: list[np.ndarray], fail) -> None:
    from codegen.verify import reference_int8_outputs
    for r, (line, x) in enumerate(zip(lines, inputs)):
        if isinstance(line, str) and "invoke-failed" in line:
            fail(it, where, f"input {r}: invoke() returned an error")
            return
        got = np.array(line.split() if isinstance(line, str) else line, np.int64)
        want = reference_int8_outputs(it["path"], [x])[0].astype(np.int64)
        if got.shape != want.shape or (got != want).any():
            n = int((got != want).sum()) if got.shape == want.shape else -1
            first = int(np.argmax(got != want)) if n > 0 else -1
            fail(it, where, f"input {r}: {n}/{want.size} output bytes differ"
                 + (f" (first at {first}: got {got[first]} want {want[first]})" if n > 0 else
                    f" (got {got.size} bytes)"))
            return


def _qemu_batch(items: list[dict], work: Path, target: str, fail, opt: str = "-O2") -> None:
    from mve_sweep import run_on_m55, sweep_input
    board = BOARDS[target]
    sub = work / f"q-{target}"
    shutil.rmtree(sub, ignore_errors=True)
    try:
        mans, outs = run_on_m55([it["path"] for it in items], sub, kernels=KERNELS.get(target, "dsp"), runs=2,
                                board_name=board, opt=opt)
    except Exception as e:          # a build error, a crash or a timeout in one of them: split
        if len(items) == 1:
            fail(items[0], target, f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e) else ''}")
            return
        half = len(items) // 2
        _qemu_batch(items[:half], work, target, fail, opt)
        _qemu_batch(items[half:], work, target, fail, opt)
        return
    for it, man, out in zip(items, mans, outs):
        it.setdefault("kernels_on", {})[target] = [l["kernel"] for l in man["layers"]]
        _compare(it, target, out, [sweep_input(man["input"]["bytes"], r) for r in range(2)], fail)


def _poisoned(it: dict, work: Path, fail) -> None:
    """One model alone under tests/fuzz_models.Sanitized: every arena byte outside the running
    layer's planned input, output and scratch poisoned (an over-read past a row or a plane that
    stays inside the arena is caught too), one input."""
    from codegen.pipeline import generate
    from fuzz_models import Sanitized
    out = work / f"poison{it['case']['index']}"
    shutil.rmtree(out, ignore_errors=True)
    generate(it["path"], out, "host", kernels="dsp")
    cache = Path(tempfile.gettempdir()) / "mcuf-fuzz-conv-cache"
    cache.mkdir(exist_ok=True)
    outcome, msg = Sanitized(cache, timeout=300).run(out)
    if outcome != "accepted":
        fail(it, "host-poisoned", f"{outcome}: {msg}")
    shutil.rmtree(out, ignore_errors=True)


def _batches(items: list[dict]):
    batch, macs, arena = [], 0, 0
    for it in items:
        if batch and (len(batch) >= BATCH_MODELS or macs + it["macs"] > BATCH_MACS
                      or arena + it["arena"] > BATCH_ARENA):
            yield batch
            batch, macs, arena = [], 0, 0
        batch.append(it)
        macs += it["macs"]
        arena += it["arena"]
    if batch:
        yield batch


def _prepare(case: dict, work: Path, counts, fail) -> dict | None:
    """Write the model; None if TFLite refuses it or codegen refuses it cleanly (a failure is
    reported when the refusal is not clean); else the item to run."""
    from codegen.errors import CodegenError
    from codegen.pipeline import generate
    from runtime.interpreter import ReferenceModel
    from fuzz_models import _run_forked
    d = work / f"case{case['index']}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    path = d / "model.tflite"
    path.write_bytes(case_model(case))
    it = dict(case=case, path=path, kernels=[], macs=sum(_macs(L) for L in case["layers"]))
    L0 = case["layers"][0]
    try:
        ReferenceModel(path).invoke(np.zeros((1, L0["h"], L0["w"], L0["c"]), np.int8))
    except (RuntimeError, ValueError) as e:
        counts["tflite-refuses"] += 1
        why = " ".join(str(e).split())[:160] or type(e).__name__
        counts["tflite: " + re.sub(r"\d+", "N", why)[:90]] += 1
        return None
    try:
        man = generate(path, d / "probe", "host", kernels="dsp")
    except CodegenError as e:
        how, code, err = _run_forked(["emit", str(path), "--target", "cortex-m7", "--kernels", "dsp",
                                      "-o", str(d / "cli")], 300, d)
        lines = [l for l in err.splitlines() if l.strip()]
        if how != "exit" or code != 2 or not lines or any(not l.startswith("codegen: error: ") for l in lines):
            fail(it, "emit", f"unclean refusal ({how} {code}): {lines[:2]}")
        else:
            counts["refused"] += 1
            counts["codegen: " + re.sub(r"\d+", "N", str(e).splitlines()[0])[:110]] += 1
        return None
    except Exception as e:          # noqa: BLE001 (a traceback is the failure being looked for)
        fail(it, "emit", f"{type(e).__name__} in generate(): {str(e)[:200]}")
        return None
    it["kernels"] = [l["kernel"] for l in man["layers"]]
    it["arena"] = int(man["arena_bytes"])
    it["in_bytes"] = int(man["input"]["bytes"])
    it["keys"] = [zlib.crc32(f"{case['seed']}:{case['index']}:{r}".encode()) for r in range(4)]
    shutil.rmtree(d / "probe", ignore_errors=True)
    return it


def fuzz(seed: int, indices: list[int], targets: list[str], runs: int = 2, host: bool = True,
         poison: bool = True, work: Path | None = None, log=print, opt: str = "-O2") -> tuple[list[str], collections.Counter, list[dict]]:
    """Run the cases (seed, i) for i in indices. Returns (failure lines, outcome counts, the
    accepted items with their kernels). log gets progress and failure lines."""
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="fuzz-conv-")) if own else work
    failures: list[str] = []
    counts: collections.Counter = collections.Counter()

    def fail(it, where, what):
        c = it["case"]
        ks = ",".join(it.get("kernels_on", {}).get(where) or it.get("kernels") or ["?"])
        line = f"FAIL seed={c['seed']} index={c['index']} [{where}] {describe(c)} -> {ks}: {what}"
        failures.append(line)
        counts["fail-" + where] += 1
        log(line)

    items = []
    for i in indices:
        it = _prepare(draw_case(seed, i), work, counts, fail)
        if it is not None:
            items.append(it)
    counts["accepted"] = len(items)
    log(f"{len(indices)} drawn: {len(items)} accepted, {counts['refused']} refused cleanly, "
        f"{counts['tflite-refuses']} refused by TFLite's reference")
    if host:
        t0 = time.time()
        for b in _batches(items):
            _host_batch(b, work, runs, fail)
        log(f"host (ASan/UBSan, -O1, dsp kernels, {runs} random inputs each): {time.time() - t0:.0f} s")
    if poison:
        t0 = time.time()
        for it in items:
            _poisoned(it, work, fail)
        log(f"host, arena poisoned outside each layer's buffers (tests/fuzz_models.Sanitized): {time.time() - t0:.0f} s")
    for tgt in targets:
        t0 = time.time()
        for b in _batches(items):
            _qemu_batch(b, work, tgt, fail, opt)
        log(f"{tgt} on {BOARDS[tgt]} ({KERNELS.get(tgt, 'dsp')} kernels, {opt}, 2 inputs each): {time.time() - t0:.0f} s")
    if own:
        shutil.rmtree(work, ignore_errors=True)
    return failures, counts, items


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="tests/fuzz_conv.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n")[0].replace("\n", " "),
        epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--seed", type=int, default=1, help="the draw's seed (default 1)")
    ap.add_argument("--count", type=int, default=100, help="models to draw: indices start..start+count-1")
    ap.add_argument("--start", type=int, default=0, help="first index (default 0)")
    ap.add_argument("--index", type=int, action="append", default=None,
                    help="run only this index (repeatable): the reproducer of a FAIL line")
    ap.add_argument("--targets", default="",
                    help="more QEMU cores to run on besides cortex-m7, comma separated, of "
                         + ", ".join(t for t in BOARDS if t != "cortex-m7"))
    ap.add_argument("--no-qemu", action="store_true", help="no QEMU run at all (the host checks only)")
    ap.add_argument("--runs", type=int, default=2, choices=range(1, 5), help="random inputs per model on the host")
    ap.add_argument("--no-host", action="store_true", help="skip the ASan/UBSan host run")
    ap.add_argument("--no-poison", action="store_true",
                    help="skip the per-model run with the arena poisoned outside each layer's buffers")
    ap.add_argument("--opt", default="-O2", choices=["-O0", "-O1", "-O2", "-O3", "-Os"],
                    help="the firmware images' optimisation level, written --opt=-Os (default -O2)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the models and generated C in this folder")
    ap.add_argument("--list", action="store_true", help="print each case's shape (and the kernels chosen)")
    a = ap.parse_args(argv)
    if a.seed < 0 or a.count < 0 or a.start < 0:
        ap.error("--seed, --count and --start take 0 or more")
    targets = [] if a.no_qemu else list(dict.fromkeys(["cortex-m7", *(t for t in a.targets.split(",") if t)]))
    bad = [t for t in targets if t not in BOARDS]
    if bad:
        ap.error(f"--targets: unknown {', '.join(bad)} (choose from {', '.join(BOARDS)})")
    indices = a.index if a.index else list(range(a.start, a.start + a.count))
    work = None
    if a.keep:
        a.keep.mkdir(parents=True, exist_ok=True)
        work = a.keep
    t0 = time.time()
    failures, counts, items = fuzz(a.seed, indices, targets, runs=a.runs, host=not a.no_host,
                                   poison=not (a.no_host or a.no_poison), work=work, opt=a.opt)
    if a.list:
        for it in items:
            print(f"seed={a.seed} index={it['case']['index']} {describe(it['case'])} -> {','.join(it['kernels'])}")
    if a.list:
        for k, n in sorted(counts.items()):
            if k.startswith(("tflite: ", "codegen: ")):
                print(f"refused x{n}: {k}")
    kernels = collections.Counter(k for it in items for k in it["kernels"])
    print(f"kernels reached (host dsp routing): {dict(kernels.most_common())}")
    print(f"{len(indices)} models, {counts['accepted']} accepted, {counts['refused']} refused, "
          f"{counts['tflite-refuses']} TFLite-refused, {len(failures)} failures, {time.time() - t0:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
