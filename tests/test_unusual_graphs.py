"""Valid but unusual graphs (found by the `attack4` review): compiled into C that builds with
-Wall -Wextra -Werror and is bit-exact, host and firmware, or refused in one line."""
from pathlib import Path

import numpy as np
from fuzz_models import _pack   # an edited ModelT back to .tflite bytes

from conftest import FIXTURE_MODELS

MODEL = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"


def _edited(tmp_path: Path, name: str, edit) -> Path:
    from ai_edge_litert import schema_py_generated as schema
    m = schema.ModelT.InitFromPackedBuf(MODEL.read_bytes(), 0)
    edit(m.subgraphs[0])
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(_pack(m))
    return path


def test_a_graph_whose_output_is_its_input_compiles_and_is_bit_exact(tmp_path):
    """outputs = [the input]: every operator is dead, 0 layers. Was: `emit` accepted it, but
    the C failed -Werror ('unused parameter last' in model_invoke_until), so `codegen verify`
    ended in a BuildError traceback, and the validation firmware failed -Werror=type-limits
    (`last >= MODEL_NUM_LAYERS - 1` with 0 layers)."""
    from codegen.pipeline import generate
    from codegen.verify import verify
    from firmware_tools.boards import get_board
    from firmware_tools.build import build_firmware
    path = _edited(tmp_path, "output_is_input", lambda sg: setattr(sg, "outputs", np.asarray(sg.inputs)))
    res = verify(path, tmp_path / "host", inputs=3)
    assert res.ok and res.inputs == 3 and res.output_bytes_compared == 3 * 96 * 96 * 3
    board = get_board("qemu-mps2-an500")
    generate(path, tmp_path / "gen", board.target)
    c = (tmp_path / "gen" / "model.c").read_text()
    assert "(void)last;" in c and "{0u, 0u}," in c
    for app in ("validate", "bench"):
        assert build_firmware(tmp_path / "gen", board, tmp_path / f"fw-{app}", app=app).elf.exists()
