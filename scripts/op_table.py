"""Writes the README's model-family x operator table from the models themselves.

    .venv/bin/python scripts/op_table.py          # rewrites the table in README.md
    .venv/bin/python scripts/op_table.py --check  # exit 1 if README.md is out of date (the tests run this)

Every bundled fixture and shared model is read and put through the generator's passes; the
table lists the operators left in its graph (after folding and aliasing), each marked
supported or not, and whether the whole model compiles.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codegen import passes  # noqa: E402
from codegen.errors import CodegenError  # noqa: E402
from codegen.io_edges import strip_io_edges  # noqa: E402
from codegen.lowering import lower  # noqa: E402
from codegen.ops import SUPPORTED_OPS  # noqa: E402  (the registry: one record per operator)
from codegen.tflite_reader import read_model  # noqa: E402

BEGIN, END = "<!-- op-table:begin (scripts/op_table.py) -->", "<!-- op-table:end -->"
MODELS = sorted((ROOT / "tests/fixtures/models").glob("*.tflite")) + sorted((ROOT / "benchmarks/models").glob("*.tflite"))


def family(stem: str) -> str:
    for key, name in (("two_heads", "MobileNet V1, two heads (classes, colour)"),
                      ("shufflenet_v1", "ShuffleNet V1"), ("shufflenet_v2", "ShuffleNet V2"),
                      ("mobilevit", "MobileViT"), ("torch_layout", "PyTorch layout (NCHW, explicit PAD)"),
                      ("v3_small", "MobileNet V3 Small"), ("v3_large", "MobileNet V3 Large"),
                      ("v2", "MobileNet V2"), ("v1", "MobileNet V1"), ("mbnet", "MobileNet V1 (ImageNet)"),
                      ("vww", "MobileNet V1 (visual wake words)")):
        if key in stem:
            return name
    return "?"


def row(path: Path) -> str:
    g = read_model(path)
    ops_before = Counter(op.type for op in g.operators)
    strip_io_edges(g)
    edges = sorted({e.kind for e in g.edges.values()})
    passes.fold_float_islands(g)
    passes.run_all(g)
    ops = Counter(op.options.get("_from", op.type) for op in g.operators)
    folded = sorted(set(ops_before) - {t for name in ops for t in name.split("->")})
    try:
        lower(g)
        status = "compiles; bit-exact in tests"
    except CodegenError as e:
        status = f"not yet: {e}".split(". Supported")[0]
    cells = ", ".join(f"{t} x{n}" + ("" if t in SUPPORTED_OPS else " (missing)") for t, n in sorted(ops.items()))
    folded = [t for t in folded if not (edges and t in ("QUANTIZE", "DEQUANTIZE") and t not in ops)]
    note = f" (folded away: {', '.join(folded)})" if folded else ""
    if edges:
        note += f"; {' and '.join(edges)} I/O edges (QUANTIZE in, DEQUANTIZE out) as API conversions"
    if len(g.outputs) > 1:
        note += f"; {len(g.outputs)} outputs"
    return f"| {family(path.stem)} | `{path.stem}` | {cells}{note} | {status} |"


def table() -> str:
    lines = [BEGIN, "| family | model | operators after the generator's passes | status |", "|---|---|---|---|"]
    lines += [row(p) for p in MODELS]
    lines.append(END)
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    readme = ROOT / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        print(f"README.md has no {BEGIN} ... {END} block", file=sys.stderr)
        return 2
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + table() + tail
    if args.check:
        if new != text:
            print("README.md's operator table is out of date: run scripts/op_table.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new)
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
