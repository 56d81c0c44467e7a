"""Cross-compiles generated model code + a board + an app into firmware (ELF, BIN, HEX, map)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from codegen.build_files import generated_sources

from .boards import BOARDS_DIR, Board
from .flash import BOARD_SECTION
from .size import DoesNotFit, SizeReport, size_report

APPS_DIR = Path(__file__).parent / "apps"
# Apps: bench (runs once, prints a report) and validate (the HIL protocol loop).
APP_SUPPORT = {"validate": [APPS_DIR / "hil_protocol.c"]}
APP_DEFINES = {"validate": ["MCUF_LAYER_HOOK=hil_layer_hook"]}
CC = "arm-none-eabi-gcc"
PROGRESS_AFTER = 3.0   # seconds of compiling before a terminal sees progress (as the patch search)


class FirmwareBuildError(RuntimeError):
    pass


@dataclass
class Firmware:
    elf: Path
    bin: Path
    hex: Path
    map: Path
    board: Board
    size: SizeReport


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise FirmwareBuildError(f"{name} not found: install gcc-arm-none-eabi and "
                                 "libnewlib-arm-none-eabi (`make setup` does it)")
    return path


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace")


def _check_writable(folder: Path, gen: Path, given: bool) -> None:
    """Create `folder` and write a probe file in it, so that a read-only place (a generated
    folder on a read-only mount, a copy without write permission) is refused in one line
    before the compiler runs, not by the assembler's "can't create ...o" after it.
    Raises FirmwareBuildError naming the folder and the fix."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        fix = ("give a writable -o OUT" if given else
               f"build into a writable folder with -o OUT (e.g. -o /tmp/fw), or copy {gen} somewhere writable")
        raise FirmwareBuildError(f"cannot write the build into {folder} ({e.strerror or e}): {fix}") from None


MAX_JSON_BYTES = 64 << 20   # a manifest of the largest model is a few hundred KB


def read_json(path: Path):
    """A JSON file's value. Raises OSError (unreadable) or ValueError (not JSON, not UTF-8,
    larger than MAX_JSON_BYTES). A named pipe nobody writes to reads as empty (a ValueError)
    instead of blocking in open() (attack5: `firmware build` hung on a FIFO model.json)."""
    from codegen.tflite_reader import open_for_reading
    with open_for_reading(path) as f:
        raw = f.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise ValueError(f"larger than {MAX_JSON_BYTES >> 20} MiB")
    return json.loads(raw.decode("utf-8"))


def _named_manifests(gen: Path) -> list[str]:
    """The --name of every model `codegen emit` wrote into `gen` (its NAME.json manifest)."""
    names = []
    for f in gen.glob("*.json") if gen.is_dir() else []:
        try:
            m = read_json(f)
        except (OSError, ValueError):
            continue
        if isinstance(m, dict) and m.get("name") == f.stem and "layers" in m and "target" in m:
            names.append(f.stem)
    return names


def list_apps() -> list[str]:
    """Names of the firmware apps `firmware build --app` takes (one `apps/NAME.c` with a main())."""
    return sorted(p.stem for p in APPS_DIR.glob("*.c") if p.stem not in
                  {q.stem for v in APP_SUPPORT.values() for q in v})


def link_flags(board: Board) -> list[str]:
    """arm-none-eabi-gcc's link options of a bare-metal image on `board`: our startup code (no
    crt0), newlib-nano with the nosys stubs, the board's linker script (boards/<name>/linker.ld)
    and boards/common on the library path, unused sections dropped."""
    return ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", f"-T{board.dir / 'linker.ld'}",
            f"-L{BOARDS_DIR / 'common'}", "-Wl,--gc-sections"]


def build_firmware(generated_dir: str | Path, board: Board, out_dir: str | Path | None = None,
                   app: str = "bench", opt: str = "-O2", lto: bool = False,
                   defines: list[str] | None = None, extra_sources: list[Path] | None = None,
                   name: str = "fw") -> Firmware:
    """Cross-compile the folder `codegen emit` wrote, with firmware app `app` (bench, validate, ...),
    for `board` into out_dir (default generated_dir/build-BOARD): NAME.elf/.bin/.hex/.map and the
    size report (bytes of flash and RAM by section). opt: a gcc -O flag; defines: extra -D values;
    extra_sources: more C files to link. Raises FirmwareBuildError (one line with the fix) for a
    missing or foreign folder, a target the board's CPU cannot run, or a compiler failure, and
    DoesNotFit when the link overflows the board's flash or RAM."""
    gen = Path(generated_dir)
    if not (APPS_DIR / f"{app}.c").is_file():
        raise FirmwareBuildError(f"unknown app {app!r}: the apps are {', '.join(list_apps())}")
    if gen.is_file():   # was "has no model.json: run codegen emit ... -o model.tflite"
        raise FirmwareBuildError(f"{gen} is a file, not the folder `codegen emit` writes: run `codegen emit "
                                 f"--target {board.target} {gen if gen.suffix == '.tflite' else 'MODEL'} -o out/` "
                                 "and build out/")
    if not (gen / "model.json").exists():
        named = sorted(_named_manifests(gen))
        if named:   # emitted with --name: the apps call model_invoke() and friends
            raise FirmwareBuildError(
                f"{gen} holds {', '.join(f'{n}.json' for n in named)} (emitted with --name "
                f"{named[0]}), but the firmware apps call the model named `model`: emit it without "
                f"--name into a folder of its own (`codegen emit --target {board.target} MODEL -o "
                f"out/`) to build firmware; the named folder goes into your own build "
                "(its CMakeLists.txt or mcuforge.mk)")
        raise FirmwareBuildError(f"{gen} has no model.json: run `codegen emit --target {board.target} "
                                 f"MODEL -o {gen}` first")
    why = "no target or model entry"
    try:
        manifest = read_json(gen / "model.json")
    except ValueError as e:       # was a JSONDecodeError / KeyError / AttributeError traceback
        manifest, why = None, f"not JSON: {' '.join(str(e).split())[:80]}"
    if not (isinstance(manifest, dict) and isinstance(manifest.get("target"), str)
            and isinstance(manifest.get("model"), dict)):
        raise FirmwareBuildError(f"{gen / 'model.json'} is not the manifest `codegen emit` writes ({why}): "
                                 f"re-run `codegen emit --target {board.target} MODEL -o {gen}`")
    if manifest.get("arena_external"):   # the apps below use the model's own arena
        raise FirmwareBuildError(f"{gen} was emitted with --arena external, but the {app} firmware uses "
                                 "the model's static arena: re-emit without --arena external (an "
                                 "application passes its arena to model_init(), see examples/classify_image)")
    if manifest["target"] != board.target:   # host output would run, slowly, on the portable kernels
        raise FirmwareBuildError(f"{gen} was generated for {manifest['target']}, but {board.name} ("
                                 f"{board.cpu_and_target}) needs {board.target}: re-run "
                                 f"`codegen emit --target {board.target}`")
    out = Path(out_dir) if out_dir else gen / f"build-{board.name}"
    obj_dir = out / "obj"
    _check_writable(obj_dir, gen, given=out_dir is not None)
    cc = _tool(CC)
    model_sources, model_includes = generated_sources(gen)
    sources = [*model_sources, *sorted((BOARDS_DIR / "common").glob("*.c")), board.dir / "board.c",
               APPS_DIR / f"{app}.c", *APP_SUPPORT.get(app, []), *(extra_sources or [])]
    defines = [*APP_DEFINES.get(app, []), *(defines or [])]
    cflags = [*board.cflags(), opt, "-g", "-std=c99", "-Wall", "-Wextra", "-Werror",
              "-ffunction-sections", "-fdata-sections", *(["-flto"] if lto else []),
              *[f"-D{d}" for d in defines],
              *[f"-I{d}" for d in model_includes], f"-I{BOARDS_DIR / 'include'}",
              f"-I{BOARDS_DIR / 'common'}"]

    def compile_one(src: Path) -> Path:
        obj = obj_dir / f"{src.parent.name}__{src.stem}.o"   # folder prefix: board.c clashes
        r = _run([cc, *cflags, "-c", str(src), "-o", str(obj)])
        if r.returncode != 0:
            raise FirmwareBuildError(f"compiling {src} failed:\n{r.stderr}")
        return obj

    objects, t0, shown = [], time.monotonic(), False
    with ThreadPoolExecutor(max_workers=2) as pool:
        for obj in pool.map(compile_one, sources):
            objects.append(obj)
            if sys.stderr.isatty() and time.monotonic() - t0 > PROGRESS_AFTER:   # a slow build: say where it is
                print(f"\rcompiling for {board.name}: {len(objects)}/{len(sources)} sources", end="",
                      file=sys.stderr, flush=True)
                shown = True
    if shown:
        print(f"\rcompiled {len(sources)} sources for {board.name} in {time.monotonic() - t0:.0f} s, linking",
              file=sys.stderr, flush=True)

    elf, mapf = out / f"{name}.elf", out / f"{name}.map"
    r = _run([cc, *board.cflags(), opt, *(["-flto"] if lto else []), *link_flags(board),
              f"-Wl,-Map={mapf}", *map(str, objects), "-o", str(elf)])
    if r.returncode != 0:
        overflow = {m[0]: int(m[1]) for m in re.findall(r"region `(\w+)' overflowed by (\d+) bytes", r.stderr)}
        if overflow:
            raise DoesNotFit.from_overflow(board, overflow, manifest)
        raise FirmwareBuildError(f"linking failed:\n{r.stderr}")
    objcopy = _tool("arm-none-eabi-objcopy")
    # The board the ELF is for, in a non-loaded section (not in .bin/.hex): `firmware flash` checks it.
    tag = out / f"{name}.board"
    tag.write_text(board.name)
    r = _run([objcopy, f"--add-section={BOARD_SECTION}={tag}", f"--set-section-flags={BOARD_SECTION}=readonly",
              str(elf)])
    tag.unlink()
    if r.returncode != 0:
        raise FirmwareBuildError(f"objcopy failed:\n{r.stderr}")
    binf, hexf = out / f"{name}.bin", out / f"{name}.hex"
    for fmt, dst in (("binary", binf), ("ihex", hexf)):
        r = _run([objcopy, "-O", fmt, str(elf), str(dst)])
        if r.returncode != 0:
            raise FirmwareBuildError(f"objcopy failed:\n{r.stderr}")
    (out / f"{name}.json").write_text(json.dumps(
        {"board": board.name, "app": app, "opt": opt, "lto": lto, "defines": defines,
         "model": manifest["model"],
         "generated_dir": str(gen)}, indent=1) + "\n")
    return Firmware(elf, binf, hexf, mapf, board, size_report(elf, board))
