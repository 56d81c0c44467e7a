"""Inline assembly that takes a label's address with ADR must word-align its section.

ADR computes Align(PC, 4) + offset, and the assembler resolves the offset of a label in the
same section at assembly time, assuming the section starts word aligned. gcc -Os aligns a
function (its own section under -ffunction-sections) to 2 bytes only, so without a
`.p2align 2` anywhere in the asm (which raises the section's alignment to 4) the address is 2 bytes
off whenever the linker places the function at 2 mod 4: a computed entry into an unrolled
chain then lands inside an instruction (a HardFault seen on the Cortex-M33 at -Os, where one
more function before the kernel moved it). Checked on the sources: every __asm__ statement of
codegen/kernels that uses ADR has a `.p2align 2` (or `.balign 4`)."""
import re
from pathlib import Path

KERNELS = Path(__file__).resolve().parents[1] / "codegen" / "kernels"


def _asm_statements(text: str):
    """The text of each __asm__ ( ... ) statement, parentheses matched."""
    for m in re.finditer(r"__asm__\s*(?:volatile\s*)?\(", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        yield text[m.end():i]


def test_every_asm_using_adr_word_aligns_its_section():
    bad = []
    for src in sorted(KERNELS.rglob("*.[ch]")):
        for asm in _asm_statements(src.read_text()):
            first_adr = re.search(r'"\s*adr(\.w)?\s', asm)
            if first_adr is None:
                continue
            if not re.search(r"\.(p2align\s+[2-9]|balign\s+(4|8|16)|align\s+[2-9])", asm):
                bad.append(f"{src.relative_to(KERNELS)}: ADR in an asm statement without .p2align 2")
    assert not bad, bad


def test_the_check_sees_the_kernels_adr_uses():
    """The check is not vacuous: the kernel sources do use ADR in inline assembly."""
    n = sum(bool(re.search(r'"\s*adr(\.w)?\s', asm)) for src in KERNELS.rglob("*.[ch]")
            for asm in _asm_statements(src.read_text()))
    assert n >= 4
