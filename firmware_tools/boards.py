"""Board definitions: each folder under boards/ (and under the folders $MCUFORGE_BOARDS names)
with a board.json manifest, board.c and linker.ld."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from codegen.errors import CodegenError


def _boards_dir() -> Path:
    """Where the board folders are: inside the installed package (a wheel carries the
    repository's top-level boards/ as firmware_tools/board_files, see setup.py), else the
    checkout's top-level boards/ (running from the repository, editable installs)."""
    here = Path(__file__).resolve().parent
    packaged = here / "board_files"
    return packaged if packaged.is_dir() else here.parent / "boards"


BOARDS_DIR = _boards_dir()


BOARDS_ENV = "MCUFORGE_BOARDS"


class BoardError(CodegenError, ValueError):
    """A board that does not exist or whose folder is not a valid board definition: the
    CLIs print the message as one line and exit 2."""


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


def board_dirs() -> list[Path]:
    """The folders searched for board folders: those named in $MCUFORGE_BOARDS (separated by
    os.pathsep, ':' on Linux; your own boards, outside mcuforge), then the built-in boards/.
    Raises BoardError for a $MCUFORGE_BOARDS entry that is not a folder."""
    extra = []
    for entry in filter(None, os.environ.get(BOARDS_ENV, "").split(os.pathsep)):
        d = Path(entry).expanduser()
        if not d.is_dir():
            raise BoardError(f"${BOARDS_ENV} names {entry}, which is not a folder; it should list "
                             "folders that hold board folders (each with board.json, board.c, linker.ld)")
        extra.append(d)
    return [*extra, BOARDS_DIR]


def _board_folders() -> dict[str, Path]:
    """Board name (its folder's name) -> folder, over board_dirs(). Raises BoardError when two
    folders define the same name (a copy of a built-in board not renamed)."""
    found: dict[str, Path] = {}
    for root in board_dirs():
        for f in sorted(root.glob("*/board.json")):
            name = f.parent.name
            if name in found:
                raise BoardError(f"board '{name}' is defined twice: {found[name]} and {f.parent}; "
                                 "rename your folder (and its board.json \"name\") to a name of its own")
            found[name] = f.parent
    return dict(sorted(found.items()))


_SIZE_SUFFIX = {"": 1, "K": 1024, "M": 1024 * 1024}


def _linker_memory(text: str) -> dict[str, tuple[int, int]]:
    """linker.ld's MEMORY regions: name -> (origin, length in bytes); lengths as 4M, 512K or a
    plain number. Regions written otherwise (expressions) are left out."""
    out = {}
    for m in re.finditer(r"(\w+)\s*\([^)]*\)\s*:\s*ORIGIN\s*=\s*(0x[0-9a-fA-F]+|\d+)\s*,\s*"
                         r"LENGTH\s*=\s*(0x[0-9a-fA-F]+|\d+)\s*([KM]?)\s*(?:\n|$|\})", text):
        out[m.group(1)] = (int(m.group(2), 0), int(m.group(3), 0) * _SIZE_SUFFIX[m.group(4)])
    return out


def _problems(folder: Path, manifest) -> list[str]:
    """What is wrong with a board folder: board.json's fields (the ones the tools read), the
    files beside it, and linker.ld's FLASH/RAM regions and __stack_size against board.json
    (a mismatch made `firmware build` report an overflow of a memory board.json says is free)."""
    from codegen.targets import TARGETS
    if not isinstance(manifest, dict):
        return ["board.json must be one JSON object ({...})"]
    bad = []

    def need(key, kind, what, where=manifest, prefix=""):
        v = where.get(key)
        if not isinstance(v, kind) or isinstance(v, bool) or (kind is int and v <= 0):
            bad.append(f'"{prefix}{key}": {what}' + ("" if key in where else " (missing)"))
            return None
        return v

    if "name" in manifest and manifest["name"] != folder.name:
        bad.append(f'"name" is {manifest["name"]!r} but the folder is {folder.name!r}: they must be equal')
    need("description", str, "a one-line description (a string)")
    target = need("target", str, f"the codegen target, one of {', '.join(TARGETS)}")
    if target is not None and target not in TARGETS:
        bad.append(f'"target": {target!r} is no codegen target; one of {", ".join(TARGETS)}')
    need("cpu", str, 'the CPU (a string, e.g. "cortex-m33")')
    need("clock_hz", int, "the core clock in Hz (a whole number > 0)")
    for mem in ("flash", "ram"):
        region = need(mem, dict, '{"origin": "0x...", "size": BYTES}')
        if region is not None:
            origin = need("origin", str, 'the start address as a string, e.g. "0x08000000"', region, f"{mem}.")
            if origin is not None:
                try:
                    int(origin, 0)
                except ValueError:
                    bad.append(f'"{mem}.origin": {origin!r} is not an address; write it as "0x08000000"')
            need("size", int, "its size in bytes (a whole number > 0)", region, f"{mem}.")
    counter = need("counter", dict, '{"kind": "dwt" or "systick", "unit": "cycles" or "instructions (QEMU)"}')
    if counter is not None:
        need("unit", str, 'what the time counter counts, e.g. "cycles"', counter, "counter.")
    if "stack_bytes" in manifest:
        need("stack_bytes", int, "the stack reserved in bytes (linker.ld's __stack_size)")
    if "qemu" in manifest:
        q = need("qemu", dict, '{"machine": "mps2-an505", "cpu": "cortex-m33"} (leave it out for hardware)')
        if q is not None:
            need("machine", str, "QEMU's -M machine name", q, "qemu.")
            need("cpu", str, "QEMU's -cpu name", q, "qemu.")
    missing = [f for f in ("board.c", "linker.ld") if not (folder / f).is_file()]
    if missing:
        bad.append(f"no {' or '.join(missing)} beside board.json (copy them from a built-in board and adapt)")
    if bad or missing:
        return bad
    ld = (folder / "linker.ld").read_text(errors="replace")
    regions = _linker_memory(ld)
    for mem, region in (("flash", "FLASH"), ("ram", "RAM")):
        if region in regions:
            origin, length = regions[region]
            want = (int(manifest[mem]["origin"], 0), manifest[mem]["size"])
            if (origin, length) != want:
                bad.append(f"linker.ld's {region} region is {length:,} B at {origin:#010x} but board.json's "
                           f"\"{mem}\" says {want[1]:,} B at {want[0]:#010x}: make them equal")
    stack = re.search(r"__stack_size\s*=\s*(0x[0-9a-fA-F]+|\d+)\s*([KM]?)\s*;", ld)
    if stack and "stack_bytes" in manifest:
        n = int(stack.group(1), 0) * _SIZE_SUFFIX[stack.group(2)]
        if n != manifest["stack_bytes"]:
            bad.append(f"linker.ld's __stack_size is {n:,} B but board.json's \"stack_bytes\" is "
                       f"{manifest['stack_bytes']:,}: make them equal")
    return bad


def load_board(folder: Path) -> Board:
    """The Board in `folder` (board.json, board.c, linker.ld), checked. Raises BoardError with
    one line naming the file, the field and the fix."""
    f = folder / "board.json"
    try:
        manifest = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise BoardError(f"{f}: not valid JSON ({e.msg}, line {e.lineno} column {e.colno}); fix the file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BoardError(f"{f}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    bad = _problems(folder, manifest)
    if bad:
        raise BoardError(f"{f}: " + "; ".join(bad))
    return Board(folder.name, folder, manifest)


def list_boards() -> list[Board]:
    """Every board (one Board per `*/board.json` under board_dirs()), sorted by name. Raises
    BoardError for a board folder that is not valid (load_board)."""
    return [load_board(d) for d in _board_folders().values()]


def get_board(name: str) -> Board:
    """The Board named `name` (a folder under board_dirs()). Raises BoardError listing the
    boards for an unknown name, or naming what is wrong with that board's folder."""
    folders = _board_folders()
    if name in folders:
        return load_board(folders[name])
    raise BoardError(f"unknown board '{name}'; `firmware boards` lists them: " + ", ".join(folders)
                     + f" (your own: a folder of board folders in ${BOARDS_ENV})")
