"""Flashing a real board with whichever programmer is installed."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .boards import Board


class FlashError(RuntimeError):
    pass


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


def flash(board: Board, elf: str | Path) -> str:
    elf = Path(elf)
    if board.qemu:
        raise FlashError(f"{board.name} runs under QEMU: use `firmware run --board {board.name} {elf}`")
    cmds = flash_commands(board, elf)
    for tool, cmd in cmds:
        if shutil.which(tool):
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise FlashError(f"{tool} failed ({' '.join(cmd)}):\n{r.stdout}{r.stderr}")
            return tool
    names = ", ".join(t for t, _ in cmds) or "a programmer"
    raise FlashError(f"no programmer found for {board.name}: install one of {names} "
                     "(e.g. `pip install pyocd`, or `apt-get install openocd` / `stlink-tools`)")
