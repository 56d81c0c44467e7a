"""Flashing a real board: only an ELF built for it, with pyocd's Python API or a programmer's CLI.

Before anything touches a probe, check_elf_for_board() checks that the ELF was built for this
board: the board name `firmware build` records (the `.mcuforge_board` section, or the build
record `fw.json` beside the ELF) and the ELF's load addresses, which must all fall in the
board's flash (a QEMU ELF is linked at 0x0, an STM32 one at 0x08000000).
"""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

from .boards import Board

BOARD_SECTION = ".mcuforge_board"


class FlashError(RuntimeError):
    pass


def _elf32(elf: Path) -> bytes:
    data = elf.read_bytes()
    if len(data) < 6 or data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:   # a 4-byte file: IndexError
        raise FlashError(f"{elf} is not a 32-bit little-endian ELF file (a Cortex-M firmware from "
                         "`firmware build`)")
    return data


def _damaged(elf: Path, data: bytes) -> FlashError:
    """A truncated or damaged ELF (an interrupted link, a partial copy): its headers point past
    its end. Was a struct.error traceback from `firmware run` / `firmware flash`."""
    return FlashError(f"{elf} is truncated or damaged (its headers point past its {len(data):,} bytes): "
                      "rebuild it with `firmware build`")


def elf_board(elf: Path) -> str | None:
    """The board name recorded in the ELF's `.mcuforge_board` section, or None.
    ELF32 layout: System V ABI, ch. 4 (section header table at e_shoff, e_shentsize each).
    Raises FlashError for a file that is no 32-bit little-endian ELF or is truncated."""
    data = _elf32(elf)
    try:
        return _elf_board(data)
    except (struct.error, ValueError, IndexError):
        raise _damaged(elf, data) from None


def _elf_board(data: bytes) -> str | None:
    e_shoff, = struct.unpack_from("<I", data, 0x20)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    if not e_shoff or e_shstrndx >= e_shnum:
        return None
    headers = [struct.unpack_from("<IIIIIIIIII", data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
    strtab = headers[e_shstrndx]
    for sh in headers:
        start = strtab[4] + sh[0]
        name = data[start:data.index(b"\0", start)].decode(errors="replace")
        if name == BOARD_SECTION:
            return data[sh[4]:sh[4] + sh[5]].decode(errors="replace").strip("\0 \n")
    return None


def load_segments(elf: Path) -> list[tuple[int, int]]:
    """(physical address, file size) of the ELF's PT_LOAD segments with bytes in them: what a
    programmer writes (ELF32 program headers, System V ABI ch. 5)."""
    data = _elf32(elf)
    try:
        return _load_segments(data)
    except (struct.error, IndexError):
        raise _damaged(elf, data) from None


def _load_segments(data: bytes) -> list[tuple[int, int]]:
    e_phoff, = struct.unpack_from("<I", data, 0x1C)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 0x2A)
    out = []
    for i in range(e_phnum):
        p_type, p_offset, _vaddr, p_paddr, p_filesz = struct.unpack_from("<IIIII", data, e_phoff + i * e_phentsize)
        if p_type == 1 and p_offset + p_filesz > len(data):   # the bytes to load are not all there
            raise IndexError(p_offset + p_filesz)
        if p_type == 1 and p_filesz:
            out.append((p_paddr, p_filesz))
    return out


def check_elf_file(board: Board, elf: Path) -> None:
    """Raises FlashError unless `elf` is an existing 32-bit little-endian ELF file (checked even
    with --force, which skips only the board checks: trial10, a missing file or a folder was
    reported as "no programmer found", and would be handed to one)."""
    if not elf.exists():
        raise FlashError(f"{elf} does not exist: build it with `firmware build --board {board.name} GENERATED_DIR`")
    if elf.is_dir():
        from .size import missing_elf_message
        raise FlashError(missing_elf_message(elf, board.name))
    _elf32(elf)


def check_elf_for_board(board: Board, elf: str | Path) -> None:
    """Raises FlashError unless `elf` was built for `board` and loads into its flash only."""
    elf = Path(elf)
    check_elf_file(board, elf)
    built_for = elf_board(elf)
    record = elf.with_suffix(".json")
    if built_for is None and record.exists():
        from .build import read_json
        try:
            built_for = read_json(record).get("board")
        except (ValueError, AttributeError):   # not JSON, or JSON that is not an object
            built_for = None
    if built_for is None:
        raise FlashError(f"{elf} carries no board record (not built by `firmware build`?): rebuild it with "
                         f"`firmware build --board {board.name}`, or pass --force if you are sure")
    if built_for != board.name:
        raise FlashError(f"{elf} was built for {built_for}, not {board.name}: refusing to flash it; "
                         f"build for this board with `firmware build --board {board.name} GENERATED_DIR`")
    lo = int(board.manifest["flash"]["origin"], 0)
    hi = lo + board.flash_bytes
    for addr, size in load_segments(elf):
        if not (lo <= addr and addr + size <= hi):
            raise FlashError(f"{elf} loads {size} bytes at 0x{addr:08x}, outside {board.name}'s flash "
                             f"(0x{lo:08x}..0x{hi:08x}): refusing to flash it")


def flash_commands(board: Board, elf: Path) -> list[tuple[str, list[str]]]:
    tools = board.manifest.get("flash_tools", {})
    hexf = elf.with_suffix(".hex")
    binf = elf.with_suffix(".bin")
    cmds = []
    if "pyocd" in tools:
        cmds.append(("pyocd", ["pyocd", "flash", "--target", tools["pyocd"], str(hexf)]))
    if "openocd" in tools:
        cmds.append(("openocd", ["openocd", "-f", tools["openocd"], "-c",
                                 f"program {elf} verify reset exit"]))
    if "st-flash" in tools:
        cmds.append(("st-flash", ["st-flash", "--reset", "write", str(binf), tools["st-flash"]]))
    return cmds


def _flash_with_pyocd_api(board: Board, elf: Path) -> bool:
    """pyocd's Python API (`pip install mcuforge[flash]`): ConnectHelper picks the probe,
    FileProgrammer writes the ELF's loadable segments, then a reset. False if pyocd is not
    installed; FlashError if no probe answers or programming fails."""
    try:
        from pyocd.core.helpers import ConnectHelper
        from pyocd.flash.file_programmer import FileProgrammer
    except ImportError:
        return False
    target = board.manifest.get("flash_tools", {}).get("pyocd")
    try:
        # listed first: with no probe, session_with_chosen_probe prints its own red line before
        # ours; with several, it asks on stdin which one (a hang without a terminal)
        probes = ConnectHelper.get_all_connected_probes(blocking=False, print_wait_message=False)
        if not probes:
            raise FlashError(f"pyocd found no debug probe: connect {board.name}'s ST-LINK USB port "
                             "(the one marked ST-LINK / USB PWR) to this machine; `pyocd list` shows "
                             "the probes it sees (on Linux, a probe it cannot open needs ST's or "
                             "pyocd's udev rules)")
        if len(probes) > 1:
            raise FlashError(f"{len(probes)} debug probes are connected ("
                             + ", ".join(f"{p.description} {p.unique_id}" for p in probes)
                             + f"); leave only {board.name}'s connected")
        session = ConnectHelper.session_with_chosen_probe(blocking=False, target_override=target,
                                                          unique_id=probes[0].unique_id)
        if session is None:
            raise FlashError(f"pyocd found no debug probe: connect {board.name}'s ST-LINK USB port")
        with session:
            FileProgrammer(session).program(str(elf), file_format="elf")
            session.target.reset()
    except FlashError:
        raise
    except Exception as e:   # pyocd's own exceptions (probe, target, transfer errors)
        raise FlashError(f"pyocd failed to flash {elf} to {board.name}: {e}") from None
    return True


def flash(board: Board, elf: str | Path, force: bool = False) -> str:
    """Flash `elf` to `board`; returns the tool used. Raises FlashError (wrong board, QEMU
    board, no programmer, programmer failure)."""
    elf = Path(elf)
    if board.qemu:
        raise FlashError(f"{board.name} runs under QEMU: use `firmware run --board {board.name} {elf}` "
                         f"(or `firmware serve` for the validation firmware)")
    if force:
        check_elf_file(board, elf)
    else:
        check_elf_for_board(board, elf)
    if "pyocd" in board.manifest.get("flash_tools", {}) and _flash_with_pyocd_api(board, elf):
        return "pyocd (Python API)"
    cmds = flash_commands(board, elf)
    for tool, cmd in cmds:
        if shutil.which(tool):
            r = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
            if r.returncode != 0:
                raise FlashError(f"{tool} failed ({' '.join(cmd)}):\n{r.stdout}{r.stderr}")
            return tool
    names = ", ".join(t for t, _ in cmds) or "a programmer"
    raise FlashError(f"no programmer found for {board.name}: install one of {names} "
                     "(`pip install 'mcuforge[flash]'` for pyocd, or `apt-get install openocd` / `stlink-tools`)")
