"""The validation firmware answers on every QEMU board, not only the Cortex-M7 the HIL suite
(tests/test_hil.py) runs on: a small model, built with `--app validate`, served with its UART
on a TCP port, INFO and three inputs compared byte for byte with TFLite's reference.

trial5's find: on qemu-mps2-an505 (Cortex-M33) `runtime hil info` got no answer. Its board.c
enabled NVIC IRQ 0 for the UART's receive interrupt, as on the mps2 machines, but QEMU's
mps2-tz.c wires the AN505's UART0 RX to IRQ 32, so the firmware's WFI never woke."""
import numpy as np
import pytest

from codegen.pipeline import generate
from firmware_tools.boards import get_board, list_boards
from firmware_tools.build import build_firmware
from firmware_tools.qemu import QemuSerial
from opmodels import add_model
from runtime.hil.link import HilLink
from runtime.hil.validate import validate

QEMU_BOARDS = [b.name for b in list_boards() if b.qemu]


@pytest.mark.parametrize("board", QEMU_BOARDS)
def test_validation_firmware_answers_and_is_bit_exact_on_every_qemu_board(board, tmp_path):
    b = get_board(board)
    path = tmp_path / "add.tflite"
    path.write_bytes(add_model(np.random.default_rng(5)))
    generate(path, tmp_path / "gen", b.target)
    elf = build_firmware(tmp_path / "gen", b, tmp_path / "fw", app="validate").elf
    with QemuSerial(b, elf) as q, HilLink(q.url, timeout=20) as link:
        assert link.hello().board == board
        rep = validate(link, path, inputs=3)
    assert rep.ok and rep.bytes_compared == 3 * 180, rep.render()
