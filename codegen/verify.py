"""`codegen verify`: the generated C, built for this machine, against TFLite's reference kernels."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .pipeline import generate


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

    @property
    def ok(self) -> bool:
        return self.output_bytes_differing == 0 and not self.mismatches


def deterministic_input(n: int) -> np.ndarray:
    """The anchor's benchmark input: input[i] = (int8)(((i*7 + 3) % 256) - 128)."""
    return (((np.arange(n) * 7 + 3) % 256) - 128).astype(np.int8)


def verify(model: str | Path, out_dir: str | Path, inputs: int = 20, seed: int = 0,
           log: Callable[[str], None] = lambda s: None,
           samples: np.ndarray | None = None, kernels: str = "reference",
           ram_limit: int | None = None, patches: tuple[int, int, int] | None = None) -> VerifyResult:
    """Compare `inputs` inputs: the anchor's deterministic pattern, then `samples` (real
    quantized inputs, if given), then uniformly random bytes. kernels='dsp' builds the
    optimized kernels for the host (their SIMD intrinsics emulated in C). ram_limit: as in
    `generate`; the layers inside a patch stage have no full output and are not compared (every
    layer from the stage's last one on is)."""
    from firmware_tools.host import HostModel
    from runtime.interpreter import ReferenceModel

    manifest = generate(model, out_dir, "host", kernels=kernels, ram_limit=ram_limit,
                        patches=patches)
    host = HostModel(out_dir)
    ref = ReferenceModel(model)
    n = manifest["input"]["bytes"]
    rng = np.random.default_rng(seed)
    res = VerifyResult()
    outputs = set()
    log(f"verifying {Path(model).name} ({kernels} kernels): {len(manifest['layers'])} layers, "
        f"{inputs} inputs, every layer compared with TFLite's reference kernels")
    for k in range(inputs):
        if k == 0:
            x = deterministic_input(n)
        elif samples is not None and k - 1 < len(samples):
            x = np.asarray(samples[k - 1], np.int8).reshape(-1)
        else:
            x = rng.integers(-128, 128, n, dtype=np.int8)
        got, layers = host.invoke(x, trace=True)
        want = ref.invoke(x)
        diff = int(np.count_nonzero(got.reshape(-1).view(np.uint8) != want.reshape(-1).view(np.uint8)))
        res.inputs += 1
        res.output_bytes_compared += got.size
        res.output_bytes_differing += diff
        outputs.add(want.tobytes())
        first = None
        for layer in manifest["layers"]:
            if layer.get("patch_stage"):
                continue
            a = layers[layer["index"]]
            if layer.get("reference", 0) is None:    # a generated tensor TFLite does not have
                continue
            source, xor = layer.get("reference", (layer["output"], 0))   # legacy uint8: shifted
            b = (ref.tensor(source).reshape(-1).view(np.uint8) ^ xor).view(np.int8)
            res.layers_compared += 1
            bad = int(np.count_nonzero(a != b))
            if bad and first is None:
                first = Mismatch(k, layer["index"], layer["op"], layer["output_name"], bad, a.size)
                res.mismatches.append(first)
        status = "ok" if diff == 0 and first is None else (
            f"{diff} output bytes differ; first differing layer {first.layer} ({first.op}, "
            f"{first.differing}/{first.total} bytes)" if first else f"{diff} output bytes differ")
        log(f"  input {k + 1:>3}/{inputs}: {status}")
    res.distinct_outputs = len(outputs)
    verdict = "BIT-EXACT" if res.ok else "MISMATCH"
    log(f"{verdict}: {res.output_bytes_differing} of {res.output_bytes_compared} output bytes differ; "
        f"{res.layers_compared} layer outputs compared; {res.distinct_outputs} distinct reference outputs")
    return res
