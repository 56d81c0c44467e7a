"""`codegen verify`: the generated C, built for this machine, against TFLite's reference kernels."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .pipeline import generate

VERIFY_CHUNK = 50     # inputs per reference request (`codegen verify` takes up to 10,000)


@dataclass
class Mismatch:
    input_index: int
    layer: int
    op: str
    tensor: str
    differing: int
    total: int


@dataclass
class VerifyResult:
    inputs: int = 0
    output_bytes_compared: int = 0
    output_bytes_differing: int = 0
    layers_compared: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    distinct_outputs: int = 0
    reference: str = "litert"           # which reference answered (codegen.oracle.BACKENDS)

    @property
    def ok(self) -> bool:
        return self.output_bytes_differing == 0 and not self.mismatches


def deterministic_input(n: int) -> np.ndarray:
    """The anchor's benchmark input: input[i] = (int8)(((i*7 + 3) % 256) - 128)."""
    return (((np.arange(n) * 7 + 3) % 256) - 128).astype(np.int8)


def edge_inputs(info: dict, q: np.ndarray, rng: np.random.Generator, first: bool) -> np.ndarray:
    """What the source model's own input gets for int8 bytes q: q itself (int8), bytes (uint8),
    or floats (float32) -- with first (the deterministic input, real samples) the dequantized q
    (which QUANTIZE maps back to q), else values around every rounding boundary: q - zp plus a random fraction, exact
    halves (ties go away from zero), and a few beyond the int8 range (clamping)."""
    kind = info.get("type", "int8")
    if kind == "int8":
        return q
    if kind == "uint8":
        return q.view(np.uint8)
    scale, zp = np.float32(info["scale"]), info["zero_point"]
    r = q.astype(np.float64) - zp
    if not first:
        frac = rng.choice([0.0, 0.5, -0.5, 0.4999, -0.4999], r.size) + rng.uniform(-0.5, 0.5, r.size) * (
            rng.random(r.size) < 0.5)
        r = r + frac
        wide = rng.random(r.size) < 0.03
        r[wide] = rng.uniform(-400, 400, int(wide.sum()))
    return (r.astype(np.float32) * scale).astype(np.float32)


def reference_int8_outputs(model: str | Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """TFLite's reference (in this process) on int8 bytes for each input of the compiled
    graph; its int8 outputs, flat. An input with a float32/uint8 edge gets the value its
    QUANTIZE maps to those bytes, and an output's int8 tensor before its edge is returned: what
    the generated int8 API (and the bench firmware) computes."""
    from runtime.interpreter import ReferenceModel

    from .pipeline import load_graph
    g = load_graph(model)
    ref = ReferenceModel(model)
    feed = {}
    for idx, q in zip(g.inputs, inputs):
        t, e = g.tensors[idx], g.edges.get(idx)
        info = {"type": e.kind if e else "int8", "scale": t.quant.scale, "zero_point": t.quant.zero_point}
        feed[e.outer if e else idx] = edge_inputs(info, np.asarray(q, np.int8).reshape(-1), None, True)
    ref.run(feed)
    return [ref.tensor(o).reshape(-1).view(np.int8).copy() for o in g.outputs]


def verify(model: str | Path, out_dir: str | Path, inputs: int = 20, seed: int = 0,
           log: Callable[[str], None] = lambda s: None,
           samples: np.ndarray | None = None, kernels: str = "reference",
           input_shapes: list[list[int]] | None = None, ram_limit: int | None = None,
           patches: tuple[int, int, int] | None = None) -> VerifyResult:
    """Compare `inputs` inputs: the anchor's deterministic pattern, then `samples` (real
    quantized inputs of input 0, if given), then uniformly random bytes; every input and
    output of the model, every layer. Float32/uint8 edges are compared through the generated
    conversions (<name>_set_input_f32 ...): the int8 tensor they produce, and the float32 or
    uint8 output bit for bit. kernels='dsp' builds the optimized kernels for the host (their
    SIMD intrinsics emulated in C). The reference runs in a child process (codegen/oracle.py);
    raises CodegenError (one line) if no reference can run the model. input_shapes: sizes for
    dynamic inputs, as `codegen emit --input-shape` (the reference is resized to them).
    ram_limit / patches: as in `generate`; the layers inside a patch stage have no full output
    and are not compared (every layer from the stage's last one on is)."""
    from firmware_tools.host import HostModel

    from .errors import CodegenError
    from .oracle import BACKENDS, OracleRefused, ask

    if seed < 0:     # numpy's generators take non-negative seeds only (a ValueError traceback)
        raise CodegenError(f"--seed {seed}: give a seed of 0 or more")
    manifest = generate(model, out_dir, "host", kernels=kernels, input_shapes=input_shapes,
                        ram_limit=ram_limit, patches=patches)
    host = HostModel(out_dir)
    ins, outs = host.inputs, host.outputs
    rng = np.random.default_rng(seed)
    res = VerifyResult()
    outputs = set()
    log(f"verifying {Path(model).name} ({kernels} kernels): {len(manifest['layers'])} layers, "
        f"{len(ins)} input(s), {len(outs)} output(s); {inputs} random inputs (seed {seed}), every layer compared with "
        "TFLite's reference kernels")
    for k, info in enumerate(ins + outs):
        if info.get("edge"):
            role = f"input {k}" if k < len(ins) else f"output {k - len(ins)}"
            log(f"  {role} '{info['edge']['name']}' is {info['type']} in the model: converted by "
                f"{info['type']} entry points, compared bit for bit")
    want = sorted({l["output"] for l in manifest["layers"] if "reference" not in l}
                  | {l["reference"][0] for l in manifest["layers"] if l.get("reference")}
                  | {t["tensor"] for t in ins + outs} | {t["edge"]["tensor"] for t in outs if t.get("edge")})

    def make_feed(k: int):
        """Input k's feed (source tensor -> array); called for k = 0, 1, 2 ... in order, so the
        random stream is the same however the inputs are chunked."""
        feed = {}
        for i, info in enumerate(ins):
            n = info["bytes"]
            if k == 0:
                q = deterministic_input(n)
            elif i == 0 and samples is not None and k - 1 < len(samples):
                q = np.asarray(samples[k - 1], np.int8).reshape(-1)
            else:
                q = rng.integers(-128, 128, n, dtype=np.int8)
            sample = k == 0 or (i == 0 and samples is not None and k - 1 < len(samples))
            outer = info["edge"]["tensor"] if info.get("edge") else info["tensor"]
            feed[outer] = edge_inputs(info, q, rng, sample).reshape(info["shape"])
        return feed

    # The reference returns every layer's tensors: one request for all inputs held them all at
    # once (about 0.3 MB an input for the 96x96 fixture: 3 GB at --inputs 10000) and printed
    # nothing until the last was done. Requests of VERIFY_CHUNK inputs keep both bounded.
    answer, said, backends = None, set(), []
    for c0 in range(0, max(inputs, 1), VERIFY_CHUNK):   # one request even for no inputs, as before
        feeds = [make_feed(k) for k in range(c0, min(inputs, c0 + VERIFY_CHUNK))]
        try:
            answer = ask(model, feeds, want)
        except OracleRefused as e:
            raise CodegenError(str(e)) from None
        for note in answer.notes:     # each request may fall back on its own (an aborting SOFTMAX)
            if note not in said:
                said.add(note)
                log(f"  note: {note}")
        if answer.backend not in backends:
            backends.append(answer.backend)
            log(f"  reference: {BACKENDS[answer.backend]}" + (f" (from input {c0 + 1} on)" if c0 else ""))
        for k in range(c0, c0 + len(feeds)):
            ref = answer.tensors[k - c0]
            for i, info in enumerate(ins):
                outer = info["edge"]["tensor"] if info.get("edge") else info["tensor"]
                v = feeds[k - c0][outer]
                {"int8": host.set_input, "uint8": host.set_input_u8, "float32": host.set_input_f32}[
                    info.get("type", "int8")](i, v)
            edge_in = [host.input(i) for i, info in enumerate(ins) if info.get("edge")]
            layers = host.run(trace=True)
            diff, total, signature = 0, 0, b""
            for j, info in enumerate(outs):
                kind = info.get("type", "int8")
                got = host.output(j).reshape(-1)
                want_t = ref[info["tensor"]].reshape(-1)
                if kind == "float32":
                    got = host.get_output_f32(j).reshape(-1).view(np.uint32)
                    want_t = ref[info["edge"]["tensor"]].reshape(-1).astype(np.float32).view(np.uint32)
                elif kind == "uint8":
                    got = host.get_output_u8(j).reshape(-1)
                    want_t = ref[info["edge"]["tensor"]].reshape(-1)
                if got.dtype.itemsize == 1:   # int8, or a legacy graph's uint8 bytes
                    got, want_t = got.view(np.uint8), want_t.view(np.uint8)
                diff += int(np.count_nonzero(got != want_t))
                total += got.size
                signature += want_t.tobytes()
            res.inputs += 1
            res.output_bytes_compared += total
            res.output_bytes_differing += diff
            outputs.add(signature)
            first = None
            checks = [(-1, "QUANTIZE (input edge)", info["name"], a.reshape(-1),
                       (ref[info["tensor"]].reshape(-1).view(np.uint8) ^ info["edge"].get("reference", (0, 0))[1]).view(np.int8))
                      for a, info in zip(edge_in, [x for x in ins if x.get("edge")])]
            for l in manifest["layers"]:
                if l.get("patch_stage") or l.get("reference", 0) is None:
                    continue    # inside a patch stage, or a generated tensor TFLite does not have
                source, xor = l.get("reference", (l["output"], 0))   # legacy uint8: shifted
                b = (ref[source].reshape(-1).view(np.uint8) ^ xor).view(np.int8)
                checks.append((l["index"], l["op"], l["output_name"], layers[l["index"]], b))
            for index, op, name, a, b in checks:
                res.layers_compared += 1
                bad = int(np.count_nonzero(a != b.view(np.int8)))
                if bad and first is None:
                    first = Mismatch(k, index, op, name, bad, a.size)
                    res.mismatches.append(first)
            status = "ok" if diff == 0 and first is None else (
                f"{diff} output values differ; first differing layer {first.layer} ({first.op}, "
                f"{first.differing}/{first.total} bytes)" if first else f"{diff} output values differ")
            log(f"  input {k + 1:>3}/{inputs}: {status}")
    res.distinct_outputs = len(outputs)
    res.reference = backends[0]
    verdict = "BIT-EXACT" if res.ok else "MISMATCH"
    log(f"{verdict}: {res.output_bytes_differing} of {res.output_bytes_compared} output values differ; "
        f"{res.layers_compared} layer outputs compared; {res.distinct_outputs} distinct reference outputs "
        f"(reference: {'; '.join(BACKENDS[b] for b in backends)})")
    return res
