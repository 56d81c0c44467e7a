"""A fixed slice of tests/fuzz_flatbuffer.py in the default suite: one mutant of each edit kind
(operator version, buffer offset, subgraphs, shape, scale, zero point, opcode, type, graph I/O,
option, quantized dimension) through `codegen emit --target cortex-m4` in a forked child: exit
code 0, or 2 with one `codegen: error:` line per problem; never a traceback, signal or hang.
The long runs (3 targets, `--verify`, TFLite's verdict) are by hand:
python -m tests.fuzz_flatbuffer --count 300 --seed 1 --verify."""
from fuzz_flatbuffer import make_mutant, run_one

# seed 1: (index, edit kind, expected outcome) -- one of each kind, found with --count 300
SLICE = [(11, "version", "refused"), (30, "buffer", "refused"), (2, "subgraphs", "accepted"),
         (61, "shape", "refused"), (17, "scale", "refused"), (36, "zero_point", "refused"),
         (3, "opcode", "refused"), (4, "type", "refused"), (48, "io", "accepted"),
         (8, "option", "accepted"), (37, "qdim", "refused")]


def test_mutants_are_reproducible_from_seed_and_index():
    a, b = make_mutant(1, 11), make_mutant(1, 11)
    assert a.data == b.data and a.kind == b.kind == "version"
    assert make_mutant(2, 11).data != a.data


def test_one_mutant_of_each_kind(tmp_path):
    for index, kind, expect in SLICE:
        m = make_mutant(1, index)
        assert m.kind == kind, (index, m.kind)
        rec = run_one(m, tmp_path, timeout=60, verify=False, oracle=False, targets=("cortex-m4",))
        assert rec["outcome"] == expect, (index, m.detail, rec)
