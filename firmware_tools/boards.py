"""Board definitions: each folder under boards/ with a board.json manifest."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


def _boards_dir() -> Path:
    """Where the board folders are: inside the installed package (a wheel carries the
    repository's top-level boards/ as firmware_tools/board_files, see setup.py), else the
    checkout's top-level boards/ (running from the repository, editable installs)."""
    here = Path(__file__).resolve().parent
    packaged = here / "board_files"
    return packaged if packaged.is_dir() else here.parent / "boards"


BOARDS_DIR = _boards_dir()


class BoardError(ValueError):
    pass


@dataclass
class Board:
    name: str
    dir: Path
    manifest: dict = field(repr=False)

    @property
    def target(self) -> str:
        return self.manifest["target"]

    @property
    def flash_bytes(self) -> int:
        return int(self.manifest["flash"]["size"])

    @property
    def ram_bytes(self) -> int:
        return int(self.manifest["ram"]["size"])

    @property
    def clock_hz(self) -> int:
        return int(self.manifest["clock_hz"])

    @property
    def clock_note(self) -> str:
        """'' when the board's startup code runs the core at its rated clock; else what
        `firmware boards` adds: it runs at the reset clock (clock_hz) and the part's max_clock_hz."""
        top = int(self.manifest.get("max_clock_hz", 0))
        return f"reset clock, not raised by board.c; max {top / 1e6:g} MHz" if top > self.clock_hz else ""

    @property
    def target_note(self) -> str:
        """'' when the board's CPU is the codegen target's; else what `firmware boards` adds,
        e.g. QEMU's microbit is a Cortex-M0 (nRF51) that runs the cortex-m0plus target's code
        (both Armv6-M)."""
        return "" if self.manifest["cpu"] == self.target else f"runs the {self.target} target's code"

    @property
    def cpu_and_target(self) -> str:
        """The CPU, and the codegen target when it differs: 'cortex-m0, runs the cortex-m0plus
        target's code' or 'cortex-m7'."""
        note = self.target_note
        return f"{self.manifest['cpu']}" + (f", {note}" if note else "")

    @property
    def qemu(self) -> dict | None:
        return self.manifest.get("qemu")

    @property
    def counter_unit(self) -> str:
        return self.manifest["counter"]["unit"]

    def cflags(self) -> list[str]:
        from codegen.targets import get_target
        flags = get_target(self.target).cflags
        if "fpu_flag" in self.manifest:   # e.g. a single-precision FPU on a Cortex-M7 part
            flags = [f for f in flags if not f.startswith("-mfpu=")] + [f"-mfpu={self.manifest['fpu_flag']}"]
        return flags


def list_boards() -> list[Board]:
    """Every board folder under boards/ (one Board per `*/board.json`), sorted by name."""
    out = []
    for f in sorted(BOARDS_DIR.glob("*/board.json")):
        out.append(Board(f.parent.name, f.parent, json.loads(f.read_text())))
    return out


def get_board(name: str) -> Board:
    """The Board named `name` (a folder of boards/). Raises BoardError listing the boards for an
    unknown name."""
    for b in list_boards():
        if b.name == name:
            return b
    raise BoardError(f"unknown board '{name}'; `firmware boards` lists them: "
                     + ", ".join(b.name for b in list_boards()))
