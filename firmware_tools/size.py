"""Flash and RAM use of a firmware image, read from its ELF, against the board's memories."""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .boards import Board

MODEL_SYMBOL = re.compile(r"^op\d+_")   # model.c's weight, bias and requantization arrays


class ElfError(RuntimeError):
    """The ELF file is missing or not one the binutils can read."""


def missing_elf_message(elf: str | Path, board: str | None = None) -> str:
    """One line for an ELF path that is not a file: a folder names the fw.elf files inside it
    (a generated folder's build-BOARD/fw.elf; a folder was reported as 'no such ELF file'),
    anything else says to build it."""
    path = Path(elf)
    if path.is_dir():
        found = sorted([*path.glob("fw.elf"), *path.glob(f"build-{board or '*'}/*.elf")])
        hint = (f"pass {' or '.join(map(str, found[:3]))}" if found else
                f"pass the fw.elf `firmware build` wrote (GENERATED_DIR/build-{board or 'BOARD'}/fw.elf)")
        return f"{elf} is a folder, not an ELF file: {hint}"
    build = f"firmware build --board {board} GENERATED_DIR" if board else "firmware build"
    return f"{elf}: no such ELF file; build it first (`{build}`)"


def _binutil(args: list[str], elf: Path) -> str:
    if not elf.is_file():
        raise ElfError(missing_elf_message(elf))
    r = subprocess.run(args, capture_output=True, text=True, errors="replace")
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["failed"])[-1]
        raise ElfError(f"{elf}: {Path(args[0]).name} cannot read it ({why})")
    return r.stdout


class DoesNotFit(RuntimeError):
    """The model and firmware need more memory than the board has."""

    @classmethod
    def from_overflow(cls, board: Board, overflow: dict[str, int], manifest: dict) -> "DoesNotFit":
        parts = []
        if "FLASH" in overflow:
            parts.append(f"flash by {overflow['FLASH']:,} bytes (it has {board.flash_bytes:,}; "
                         f"the model's weights alone are {manifest['weight_bytes']:,})")
        if "RAM" in overflow:
            parts.append(f"RAM by {overflow['RAM']:,} bytes (it has {board.ram_bytes:,}; "
                         f"the model's arena alone is {manifest['arena_bytes']:,})")
        for region in set(overflow) - {"FLASH", "RAM"}:
            parts.append(f"{region} by {overflow[region]:,} bytes")
        # RAM alone, emitted without a patch schedule: emit --board may fit it (a patch-based
        # first stage within the board's RAM) with the same model; the hint named only smaller models
        emit = (f"Re-emit with `codegen emit --board {board.name} MODEL -o DIR` (it runs the first layers "
                "in patches to fit the board's RAM, or says by how much it cannot), try "
                if "RAM" in overflow and "FLASH" not in overflow and not manifest.get("patch_schedule")
                else "Try ")
        return cls(f"the model does not fit {board.name}: it overflows {' and '.join(parts)}. "
                   f"{emit}a smaller width multiplier (alpha 0.25 or 0.35), a lower input resolution "
                   "(96 or 128), or a board with more memory (`firmware boards`).")


@dataclass
class SizeReport:
    board: Board
    sections: dict[str, int]
    code: int            # .text + vectors + exception tables
    weights: int         # model.c's constant arrays
    other_rodata: int
    data_init: int       # .data, stored in flash and copied to RAM
    arena: int
    stack: int           # reserved stack
    other_ram: int       # .data + .bss besides the arena
    # Sections the application placed itself (MODEL_WEIGHTS_SECTION, an arena section...):
    # (name, address, bytes, "flash" | "RAM" | "outside"), counted where their address is;
    # `weights` and `arena` above include the bytes of them they hold.
    placed: list = field(default_factory=list)
    weights_placed: int = 0
    arena_placed: int = 0

    def _placed_in(self, region: str) -> int:
        return sum(size for _, _, size, where in self.placed if where == region)

    @property
    def flash(self) -> int:
        return (self.code + self.weights - self.weights_placed + self.other_rodata + self.data_init
                + self._placed_in("flash"))

    @property
    def ram(self) -> int:
        return self.arena - self.arena_placed + self.stack + self.other_ram + self._placed_in("RAM")

    @property
    def fits(self) -> bool:
        return self.flash <= self.board.flash_bytes and self.ram <= self.board.ram_bytes

    def render(self) -> str:
        b = self.board

        def pct(n, total):
            return f"{100 * n / total:5.1f}%"
        rows = [
            f"memory use on {b.name} ({b.manifest['description']})",
            f"  flash {self.flash:>10,} B  {pct(self.flash, b.flash_bytes)} of {b.flash_bytes:,}",
            f"    code            {self.code:>10,} B",
            f"    weights+consts  {self.weights:>10,} B",
            f"    other rodata    {self.other_rodata:>10,} B",
            f"    .data init      {self.data_init:>10,} B",
            f"  RAM   {self.ram:>10,} B  {pct(self.ram, b.ram_bytes)} of {b.ram_bytes:,}",
            f"    arena           {self.arena:>10,} B",
            f"    stack (reserved){self.stack:>10,} B",
            f"    other data/bss  {self.other_ram:>10,} B",
        ]
        if self.placed:
            rows.append("  placed sections (in the totals by address; weights and arena above include them)")
            rows += [f"    {name:<16}{size:>10,} B  at 0x{addr:08x} "
                     + ("(outside the board's flash and RAM)" if where == "outside" else f"({where})")
                     for name, addr, size, where in self.placed]
        return "\n".join(rows)

    def as_dict(self) -> dict:
        return {"board": self.board.name, "flash": self.flash, "ram": self.ram, "code": self.code,
                "weights": self.weights, "other_rodata": self.other_rodata, "data_init": self.data_init,
                "arena": self.arena, "stack_reserved": self.stack, "other_ram": self.other_ram,
                "flash_capacity": self.board.flash_bytes, "ram_capacity": self.board.ram_bytes}


def _sections(elf: Path) -> dict[str, int]:
    out = _binutil([shutil.which("arm-none-eabi-size") or "arm-none-eabi-size", "-A", str(elf)], elf)
    sections = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].startswith(".") and parts[1].isdigit():
            sections[parts[0]] = int(parts[1])
    return sections


def _symbols(elf: Path) -> list[tuple[str, str, int]]:
    out = _binutil(["arm-none-eabi-nm", "-S", "-t", "d", str(elf)], elf)
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            syms.append((parts[3], parts[2], int(parts[1])))
    return syms


STANDARD_SECTIONS = {".isr_vector", ".text", ".rodata", ".ARM.exidx", ".data", ".bss", ".stack"}


def _placed_sections(elf: Path, board: Board) -> list[tuple[str, int, int, str]]:
    """Allocated sections beyond sections.ld's (a linker script's .dtcm, .qspi...): name,
    address, bytes and the board memory their address lies in."""
    out = subprocess.run(["arm-none-eabi-objdump", "-h", "-w", str(elf)], capture_output=True,
                         text=True, errors="replace", check=True).stdout
    found = []
    for line in out.splitlines():   # Idx Name Size VMA LMA File-off Algn Flags
        parts = line.split()
        if len(parts) >= 8 and parts[0].isdigit() and "ALLOC" in line and parts[1] not in STANDARD_SECTIONS:
            size, addr = int(parts[2], 16), int(parts[3], 16)
            if size:
                where = "outside"
                for region, key in (("flash", "flash"), ("RAM", "ram")):
                    origin = int(str(board.manifest[key]["origin"]), 0)
                    if origin <= addr < origin + board.manifest[key]["size"]:
                        where = region
                found.append((parts[1], addr, size, where))
    return found


def size_report(elf: str | Path, board: Board) -> SizeReport:
    """Flash and RAM use of `elf` on `board`, in bytes: code, weights and constants (the model's
    read-only symbols), other rodata, .data, the arena, the reserved stack and other data/bss,
    placed sections counted where their addresses lie (arm-none-eabi-size -A and nm). Raises
    ElfError (one line) when the ELF is missing or the tools cannot read it."""
    elf = Path(elf)
    s = _sections(elf)
    syms = _symbols(elf)
    weights = sum(size for name, kind, size in syms if kind in "rR" and MODEL_SYMBOL.match(name))
    # an application's linker script that puts *(.rodata*) into .text (nm: kind t) had them as code
    # and "weights+consts 0 B"; model.c has no function named op<N>_
    in_text = sum(size for name, kind, size in syms if kind in "tT" and MODEL_SYMBOL.match(name))
    arena = sum(size for name, kind, size in syms if kind in "bB" and name == "arena")
    code = s.get(".text", 0) + s.get(".isr_vector", 0) + s.get(".ARM.exidx", 0) - in_text
    rodata = s.get(".rodata", 0)
    data = s.get(".data", 0)
    placed = _placed_sections(elf, board) if set(s) - STANDARD_SECTIONS else []
    w_placed = a_placed = 0
    if placed:   # the model arrays' and the arena's bytes that lie in those sections
        spans = [(addr, addr + size) for _, addr, size, _ in placed]
        out = subprocess.run(["arm-none-eabi-nm", "-S", "-t", "d", str(elf)], capture_output=True,
                             text=True, errors="replace", check=True).stdout
        for line in out.splitlines():   # address size kind name
            parts = line.split()
            if len(parts) == 4 and any(lo <= int(parts[0]) < hi for lo, hi in spans):
                if parts[2] in "rR" and MODEL_SYMBOL.match(parts[3]):
                    w_placed += int(parts[1])
                elif parts[2] in "bB" and parts[3] == "arena":
                    a_placed += int(parts[1])
    return SizeReport(board, s, code, weights + in_text, rodata - (weights - w_placed), data, arena,
                      s.get(".stack", 0), data + s.get(".bss", 0) - (arena - a_placed),
                      placed, w_placed, a_placed)
