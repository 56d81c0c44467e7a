"""Structure-aware .tflite mutator across targets, with the verdict TFLite itself gives.

    python -m tests.fuzz_flatbuffer --count 200 --seed 1                # emit for 3 targets
    python -m tests.fuzz_flatbuffer --count 50 --seed 1 --verify        # + `codegen verify` of accepted ones
    python -m tests.fuzz_flatbuffer --count 50 --seed 1 --runtime       # + `runtime classify` of every one
    python -m tests.fuzz_flatbuffer --seed 1 --start 17 --count 1 --keep /tmp/m   # replay one, keep its file

(from the repository root, with the project's .venv python). Complements tests/fuzz_models.py
(which runs each accepted mutant's host C under ASan/UBSan): here every mutant goes through
`codegen emit` for several targets (default cortex-m4, cortex-m55, cortex-m0plus) and, with
--verify, `codegen verify --target cortex-m4` (host build of the same kernels vs TFLite's
reference kernels). The rule checked is the project's: exit code 0, or 2 with one
`codegen: error:` line per problem; never a traceback, a signal, a hang or another exit code;
the same verdict on every target except where a target's own limits (RAM, kernels) differ; an
accepted mutant is bit-exact under `verify`. TFLite's own verdict (ai-edge-litert
InterpreterBuilder + AllocateTensors, in a child process) is recorded beside ours: a mutant
TFLite refuses but mcuforge compiles is listed as `accepted-tflite-refuses` for a look.

A mutant is a pure function of (seed, index) (`make_mutant`), so a finding replays by index.
Edits, one to three per mutant, on the schema's object tree (ai_edge_litert.schema_py_generated):
  shape      a dimension -> 0, -1, -7, 2^31-1, 2^40, 65536, or the rank cut / padded
  scale      a quantization scale -> nan, inf, -inf, 0, -1, 1e-45, 1e38
  zero_point a zero point -> -129, 128, 255, 300, -2^40; or the array emptied / lengthened
  qdim       quantized_dimension -> -1, 3, 7, 2^31-1
  option     one builtin option field of one operator -> 0, -1, 2^31-1, -2^31, nan, 1e30, 255
  buffer     a constant's Buffer -> offset/size past the end, size 0, offset 1, data cut
  subgraphs  none, the first twice, an empty one first, 100 copies
  version    an operator code's version -> 0, -1, max+1, 1000, 2^31-1
  opcode     an operator's opcode index -> out of range, another code
  type       a tensor's type -> float32, uint8, int16, int32, int64, bool, 99
  io         graph inputs/outputs -> empty, -1, out of range, repeated, an intermediate
"""
from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from fuzz_models import Mutant                  # noqa: E402  (seed, index, fixture, kind, detail, data)
from tflite_objects import pack, schema, unpack  # noqa: E402

# models mcuforge compiles (a mutant of a refused one mostly meets the same refusal)
FIXTURES = [ROOT / "tests/fixtures/cases/models" / f for f in (
    "c01_fc_filter_zero_point.tflite", "c11_two_outputs.tflite", "c12_uint8_io.tflite",
    "c12b_legacy_uint8.tflite", "c16_float_io.tflite")] + [
    ROOT / "tests/fixtures/models/mobilenet_v1_a025_96_two_heads.tflite"]
TARGETS = ("cortex-m4", "cortex-m55", "cortex-m0plus")
KINDS = ("shape", "scale", "zero_point", "qdim", "option", "buffer", "subgraphs", "version",
         "opcode", "type", "io")


def _edit(rng: random.Random, m, kind: str) -> str:
    """One edit of `kind` on model tree m (in place); returns what it did."""
    import numpy as np
    s = schema()
    if not m.subgraphs:                  # an earlier edit removed them all
        return "noop"
    sg = m.subgraphs[0]
    ts, ops = sg.tensors or [], sg.operators or []
    ti = rng.randrange(len(ts)) if ts else 0
    t = ts[ti] if ts else None
    if kind == "shape" and t is not None and t.shape is not None and len(t.shape):
        shape = list(t.shape)
        if rng.random() < 0.25:
            shape = shape[:rng.randrange(len(shape))] if rng.random() < 0.5 else shape + [1] * rng.randint(1, 3)
        else:
            shape[rng.randrange(len(shape))] = rng.choice([0, -1, -7, 2**31 - 1, 2**40, 65536])
        try:
            t.shape = np.asarray(shape, np.int32)
        except OverflowError:
            t.shape = np.asarray([d if -2**31 <= d < 2**31 else 2**31 - 1 for d in shape], np.int32)
        return f"tensor {ti} shape -> {list(t.shape)}"
    q = t.quantization if t is not None else None
    if kind == "scale" and q is not None and q.scale is not None and len(q.scale):
        sc = np.asarray(q.scale, np.float32).copy()
        sc[rng.randrange(len(sc))] = rng.choice([math.nan, math.inf, -math.inf, 0.0, -1.0, 1e-45, 1e38])
        q.scale = sc
        return f"tensor {ti} scale -> {sc[:4].tolist()}"
    if kind == "zero_point" and q is not None and q.zeroPoint is not None and len(q.zeroPoint):
        zp = np.asarray(q.zeroPoint, np.int64).copy()
        r = rng.random()
        if r < 0.15:
            q.zeroPoint = zp[:0]
        elif r < 0.3:
            q.zeroPoint = np.concatenate([zp, zp])
        else:
            zp[rng.randrange(len(zp))] = rng.choice([-129, 128, 255, 300, -2**40])
            q.zeroPoint = zp
        return f"tensor {ti} zero points -> {list(q.zeroPoint)[:4]}"
    if kind == "qdim" and q is not None and q.scale is not None and len(q.scale):
        q.quantizedDimension = rng.choice([-1, 3, 7, 2**31 - 1])
        return f"tensor {ti} quantized_dimension -> {q.quantizedDimension}"
    if kind == "option" and ops:
        oi = rng.randrange(len(ops))
        opt = ops[oi].builtinOptions
        fields = [k for k, v in vars(opt).items() if isinstance(v, (int, float))] if opt is not None else []
        if fields:
            f = rng.choice(fields)
            cur = getattr(opt, f)
            val = rng.choice([math.nan, -1.0, 1e30, 0.0] if isinstance(cur, float) and not isinstance(cur, bool)
                             else [0, -1, 2**31 - 1, -2**31, 255, 7])
            setattr(opt, f, val)
            return f"op {oi} option {f} -> {val}"
    if kind == "buffer":
        consts = [(i, x) for i, x in enumerate(ts) if 0 < x.buffer < len(m.buffers or [])
                  and m.buffers[x.buffer].data is not None and len(m.buffers[x.buffer].data)]
        if consts:
            i, x = rng.choice(consts)
            b = m.buffers[x.buffer]
            n = len(b.data)
            r = rng.randrange(4)
            if r == 0:
                b.data = b.data[:rng.randrange(n)]
                return f"tensor {i} buffer cut to {len(b.data)} of {n} bytes"
            b.data, b.offset, b.size = None, *rng.choice([(2**40, n), (16, 2**40), (1, n), (8, 0), (2**63, 1)])
            return f"tensor {i} buffer offset {b.offset} size {b.size}"
    if kind == "subgraphs":
        r = rng.randrange(4)
        if r == 0:
            m.subgraphs = []
        elif r == 1:
            m.subgraphs = [m.subgraphs[0], m.subgraphs[0]]
        elif r == 2:
            m.subgraphs = [s.SubGraphT()] + list(m.subgraphs)
        else:
            m.subgraphs = [m.subgraphs[0]] * 100
        return f"subgraphs -> {len(m.subgraphs)} (variant {r})"
    if kind == "version" and m.operatorCodes:
        from codegen.op_versions import MAX_VERSION
        names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
        ci = rng.randrange(len(m.operatorCodes))
        oc = m.operatorCodes[ci]
        top = MAX_VERSION.get(names.get(max(oc.builtinCode, oc.deprecatedBuiltinCode)), 1)
        oc.version = rng.choice([0, -1, top, top + 1, 1000, 2**31 - 1])
        return f"operator code {ci} version -> {oc.version} (max {top})"
    if kind == "opcode" and ops:
        oi = rng.randrange(len(ops))
        ops[oi].opcodeIndex = rng.choice([len(m.operatorCodes or []), 2**31 - 1,
                                          rng.randrange(max(1, len(m.operatorCodes or [])))])
        return f"op {oi} opcode_index -> {ops[oi].opcodeIndex}"
    if kind == "type" and t is not None:
        t.type = rng.choice([s.TensorType.FLOAT32, s.TensorType.UINT8, s.TensorType.INT16,
                             s.TensorType.INT32, s.TensorType.INT64, s.TensorType.BOOL, 99])
        return f"tensor {ti} type -> {t.type}"
    if kind == "io":
        which = rng.choice(["inputs", "outputs"])
        cur = list(getattr(sg, which) if getattr(sg, which) is not None else [])
        new = rng.choice([[], [-1], [len(ts) + 5], cur + cur, [rng.randrange(max(1, len(ts)))]])
        setattr(sg, which, np.asarray(new, np.int32))
        return f"graph {which} {cur} -> {new}"
    return "noop"


def make_mutant(seed: int, index: int) -> Mutant:
    """The index-th mutant of a seed (same bytes on every machine): a fixture, 1-3 edits."""
    rng = random.Random(f"mcuforge-fuzz-flatbuffer:{seed}:{index}")
    path = FIXTURES[rng.randrange(len(FIXTURES))]
    for _attempt in range(5):
        m = unpack(path)
        kinds, details = [], []
        for _ in range(rng.choice([1, 1, 2, 3])):
            k = rng.choice(KINDS)
            kinds.append(k)
            details.append(_edit(rng, m, k))
        try:
            return Mutant(seed, index, path.name, "+".join(kinds), "; ".join(details), pack(m))
        except Exception:        # a value the packer cannot encode (e.g. 2^40 into an int32)
            continue
    return Mutant(seed, index, path.name, "unpackable", "", path.read_bytes())


def tflite_verdict(path: Path, timeout: float = 60) -> str:
    """'ok' if TFLite's reference interpreter loads and allocates the model, else the first line
    of its refusal ('crash' if the child dies: TFLite aborts on some hostile files)."""
    import subprocess
    code = ("import sys\nfrom ai_edge_litert.interpreter import Interpreter, OpResolverType\n"
            "i = Interpreter(model_path=sys.argv[1], experimental_op_resolver_type=OpResolverType.BUILTIN_REF)\n"
            "i.allocate_tensors()\nprint('ok')\n")
    try:
        r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "hang"
    if r.returncode == 0 and r.stdout.strip() == "ok":
        return "ok"
    if r.returncode < 0:
        return f"crash (signal {-r.returncode})"
    lines = [l for l in r.stderr.splitlines() if l.strip() and not l.startswith(("INFO", "WARNING"))]
    return "refused: " + (lines[-1][:160] if lines else f"exit {r.returncode}")


BAD = ("hang", "crash", "traceback", "bad-message", "internal", "not-bit-exact")


def runtime_verdict(path: Path, timeout: float) -> tuple[str, str]:
    """`runtime classify --model path --source synthetic --frames 2` in a subprocess (TFLite runs
    the model in that process: a crash there is the runtime's): its outcome and first error."""
    import subprocess
    try:
        r = subprocess.run([sys.executable, "-m", "runtime.cli", "classify", "--model", str(path), "--source",
                            "synthetic", "--frames", "2"], capture_output=True, text=True, timeout=timeout,
                           cwd=ROOT, errors="replace")
    except subprocess.TimeoutExpired:
        return "hang", "runtime classify: no exit within the timeout"
    errs = [l for l in r.stderr.splitlines() if l.startswith("runtime: error:")]
    if r.returncode < 0:
        return "crash", f"runtime classify: killed by signal {-r.returncode}"
    if "Traceback" in r.stderr:
        return "traceback", "runtime classify: " + r.stderr.strip().splitlines()[-1]
    if r.returncode == 0:
        return "accepted", ""
    if r.returncode == 2 and len(errs) == 1:
        return "refused", errs[0]
    return "bad-message", f"runtime classify: exit {r.returncode}: {r.stderr.strip().splitlines()[-1:]}"


def run_one(mutant: Mutant, work: Path, timeout: float, verify: bool, oracle: bool,
            targets=TARGETS, runtime: bool = False) -> dict:
    """Runs `codegen emit` for each target (and verify, TFLite's verdict); returns a record:
    outcome per target, the worst outcome, the first message."""
    import codegen.cli, codegen.pipeline, codegen.patch_schedule  # noqa: F401,E401 (imported once: forked children inherit them)
    from fuzz_models import _classify_cli, _run_forked
    path = work / f"m{mutant.index}.tflite"
    path.write_bytes(mutant.data)
    rec = {"index": mutant.index, "fixture": mutant.fixture, "kind": mutant.kind, "detail": mutant.detail,
           "targets": {}, "message": ""}
    for t in targets:
        out = work / f"out-{t}"
        shutil.rmtree(out, ignore_errors=True)
        how, code, err = _run_forked(["emit", "--target", t, str(path), "-o", str(out)], timeout, work)
        outcome, msg = _classify_cli("emit", how, code, err)
        if outcome == "refused" and code != 2:
            outcome, msg = "crash", f"emit: exit code {code}: {msg}"
        rec["targets"][t] = outcome
        if msg and not rec["message"]:
            rec["message"] = f"{t}: {msg}"
    accepted = [t for t, o in rec["targets"].items() if o == "accepted"]
    if verify and accepted:
        how, code, err = _run_forked(["verify", "--target", accepted[0], str(path), "--inputs", "2"],
                                     timeout * 3, work)
        outcome, msg = _classify_cli("verify", how, code, err)
        if outcome == "refused" and "differ" in err and "0 of" not in err:
            outcome = "not-bit-exact"
        rec["verify"] = outcome
        if outcome in BAD:
            rec["message"] = rec["message"] or msg or err.strip().splitlines()[-1:]
    if runtime:
        rec["runtime"], msg = runtime_verdict(path, timeout)
        if rec["runtime"] in BAD and not rec["message"]:
            rec["message"] = msg
    if oracle:
        rec["tflite"] = tflite_verdict(path)
    if len(set(rec["targets"].values())) > 1:   # targets disagree: worth a look (RAM, kernels?)
        rec["message"] = "targets disagree " + str(rec["targets"]) + "; " + str(rec["message"])
    outs = list(rec["targets"].values()) + [rec[k] for k in ("verify", "runtime") if k in rec]
    bad = [o for o in outs if o in BAD]
    rec["outcome"] = bad[0] if bad else ("accepted" if accepted else "refused")
    if rec["outcome"] == "accepted" and oracle and not rec["tflite"].startswith("ok"):
        rec["outcome"] = "accepted-tflite-refuses"
    return rec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=120, help="seconds per command")
    ap.add_argument("--verify", action="store_true", help="also `codegen verify` each accepted mutant")
    ap.add_argument("--no-oracle", action="store_true", help="skip TFLite's own verdict")
    ap.add_argument("--runtime", action="store_true",
                    help="also `runtime classify --source synthetic` each mutant (TFLite runs it in-process)")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--keep", metavar="DIR", help="write each mutant's .tflite into DIR")
    a = ap.parse_args(argv)
    counts: dict[str, int] = {}
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-fb-") as tmp:
        for i in range(a.start, a.start + a.count):
            mu = make_mutant(a.seed, i)
            if a.keep:
                Path(a.keep).mkdir(parents=True, exist_ok=True)
                (Path(a.keep) / f"mutant_{a.seed}_{i}.tflite").write_bytes(mu.data)
            rec = run_one(mu, Path(tmp), a.timeout, a.verify, not a.no_oracle, tuple(a.targets.split(",")),
                          runtime=a.runtime)
            counts[rec["outcome"]] = counts.get(rec["outcome"], 0) + 1
            flag = "!!" if rec["outcome"] in BAD or rec["outcome"] == "accepted-tflite-refuses" else "  "
            print(f"{flag} #{i:<5} {rec['outcome']:<24} {rec['fixture']:<36} {rec['kind']:<22} "
                  f"{rec['detail'][:90]} | {rec.get('tflite', '')[:70]} | {str(rec['message'])[:160]}", flush=True)
    print(f"{a.count} mutants in {time.monotonic() - t0:.0f} s: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 1 if any(counts.get(b) for b in BAD) else 0


if __name__ == "__main__":
    sys.exit(main())
