"""`codegen emit --board NAME`: the target and the arena budget a board definition implies.

A board's RAM (boards/<name>/board.json `ram.size`, the linker script's RAM region) holds the
arena and everything else the firmware keeps in RAM: the reserved stack (board.json
`stack_bytes`, the linker script's `__stack_size`) and the firmware's other .data/.bss, as
`firmware size` counts them (firmware_tools/size.py: RAM = arena + stack + other data/bss). The
arena budget is what is left; `codegen fit --board` uses the same three terms (codegen/fit.py)."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import CodegenError
from .patch_schedule import RamLimitError


@dataclass
class BoardBudget:
    """RAM of a board and what the firmware around the model takes from it, in bytes."""
    board: object            # firmware_tools.boards.Board
    ram: int                 # the board's RAM (board.json ram.size)
    stack: int               # reserved stack (board.json stack_bytes = linker.ld __stack_size)
    other: int               # the firmware's .data + .bss besides the arena (measured, else 0)
    measured: bool           # other was measured on a built firmware (needs arm-none-eabi-gcc)

    @property
    def arena(self) -> int:
        """The arena budget: ram - stack - other (bytes; may be <= 0 on a tiny board)."""
        return self.ram - self.stack - self.other

    def describe(self) -> str:
        other = (f"{self.other:,} B other data/bss" if self.measured
                 else "other data/bss not measured (no arm-none-eabi-gcc)")
        return (f"{self.board.name}: {self.ram:,} B RAM - {self.stack:,} B stack - {other} "
                f"= {self.arena:,} B for the arena")


def board_target(board_name: str, target: str | None) -> tuple[object, str]:
    """(Board, target) for `--board NAME [--target T]`. Raises CodegenError (one line) for an
    unknown board, or a --target other than the board's CPU."""
    from firmware_tools.boards import BoardError, get_board
    try:
        board = get_board(board_name)
    except BoardError as e:
        raise CodegenError(f"--board: {e}") from None
    if target is not None and target != board.target:
        raise CodegenError(f"--target {target} conflicts with --board {board.name} ("
                           f"{board.cpu_and_target}): drop --target (the board sets {board.target}) or drop --board")
    return board, board.target


def board_budget(board, kernels: str) -> BoardBudget:
    """The arena budget on `board` with `kernels` ('reference', 'dsp' or 'mve'). The firmware's
    other RAM is measured as `codegen fit` measures it (the bench firmware around a small
    MobileNet V1, built with arm-none-eabi-gcc; cached in ~/.cache/mcuforge or $MCUF_CACHE)."""
    import sys

    from .fit import STACK_MEASURED, Fitter

    def log(_line: str) -> None:
        # the first use of a board builds firmware (~15 s, then cached), whose compile progress
        # alone did not say why `codegen emit` compiles firmware: say so on a terminal (as the
        # patch search does); pipes and the tests' one-line errors stay unchanged
        if sys.stderr.isatty():
            print(f"codegen: measuring {board.name}'s RAM outside the arena with a firmware build "
                  "(once for this board and compiler, then cached)", file=sys.stderr, flush=True)
    fitter = Fitter(board, kernels, log=log)
    _, other, measured = fitter.firmware_overhead("mobilenet_v1")
    stack = int(board.manifest.get("stack_bytes", STACK_MEASURED))
    return BoardBudget(board, board.ram_bytes, stack, int(other), measured)


def for_board(board_name: str, target: str | None, kernels: str) -> tuple[str, BoardBudget]:
    """(target, budget) for `codegen emit --board NAME [--target T] [--kernels K]`: CodegenError
    (one line) as board_target, or for kernels the board's CPU lacks."""
    from .pipeline import resolve_kernels
    board, target = board_target(board_name, target)
    return target, board_budget(board, resolve_kernels(target, kernels))


def does_not_fit(budget: BoardBudget, err: RamLimitError) -> CodegenError:
    """The one-line refusal when no schedule fits the board's arena budget: the board, its RAM,
    the smallest reachable peak (arena + stack + other data/bss) and the fix, from the patch
    scheduler's RamLimitError (its smallest reachable arena and the schedule reaching it)."""
    arena = err.smallest
    peak = arena + budget.stack + budget.other
    how = f", {err.how}" if err.how else ""
    return CodegenError(
        f"--board {budget.board.name}: the model does not fit its {budget.ram:,} B of RAM even with "
        f"patches: the smallest reachable peak is {peak:,} B (arena {arena:,} B{how}, + "
        f"{budget.stack:,} B stack + {budget.other:,} B other data/bss); use a smaller model (lower "
        f"width or resolution: `codegen fit --board {budget.board.name} --patches`) or a board with "
        f"at least {peak:,} B of RAM")
