"""The emitted folder is a library: its CMakeLists.txt builds with the host compiler and, with
an arm-none-eabi toolchain file, into Cortex-M7 firmware that runs on QEMU; its Make fragment
builds; the Arduino, PlatformIO and Zephyr metadata parse and name the right sources; the
kernels and a generated model compile with LLVM clang for Cortex-M7, M4, M33 and M55."""
import configparser
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURE_MODELS, ROOT
from codegen.build_files import inventory
from codegen.pipeline import generate
from codegen.targets import get_target
from codegen.verify import deterministic_input

MODEL = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"
BOARDS = ROOT / "boards"
KERNELS = ROOT / "codegen" / "kernels"

# The application: the bench's input pattern, then the output bytes on one line.
HOST_MAIN = """#include <stdio.h>
#include "{name}.h"
int main(void)
{{
    int8_t *in = {name}_input();
    for (int i = 0; i < {up}_INPUT_SIZE; i++) {{
        in[i] = (int8_t)(((i * 7 + 3) % 256) - 128);
    }}
    {name}_invoke();
    const int8_t *out = {name}_output();
    for (int i = 0; i < {up}_OUTPUT_SIZE; i++) {{
        printf("%d ", out[i]);
    }}
    printf("\\n");
    return 0;
}}
"""


@pytest.fixture(scope="module")
def want():
    from runtime.interpreter import ReferenceModel
    ref = ReferenceModel(MODEL)
    return ref.invoke(deterministic_input(int(np.prod(ref.input["shape"])))).reshape(-1).tolist()


def need(tool: str) -> None:
    if not shutil.which(tool):
        pytest.fail(f"{tool} not installed: scripts/setup.sh installs it")


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def outputs(stdout: str) -> list[int]:
    return [int(v) for v in stdout.split()]


def cmake_build(project: Path, build: Path, *extra) -> None:
    run(["cmake", "-S", project, "-B", build, "-DCMAKE_BUILD_TYPE=Release", *extra])
    run(["cmake", "--build", build, "-j2"])


def test_cmake_host_build(tmp_path, want):
    need("cmake")
    generate(MODEL, tmp_path / "gen", "host")
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.c").write_text(HOST_MAIN.format(name="model", up="MODEL"))
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(app C)\n"
        f"add_subdirectory({(tmp_path / 'gen').as_posix()} mcuforge)\n"
        "add_executable(app main.c)\ntarget_link_libraries(app PRIVATE mcuforge::model)\n")
    cmake_build(app, tmp_path / "build")
    assert outputs(run([tmp_path / "build" / "app"])) == want


def test_cmake_two_models_share_the_kernel_library(tmp_path, want):
    need("cmake")
    gen = tmp_path / "gen"
    generate(MODEL, gen, "host", name="first")
    generate(FIXTURE_MODELS / "mobilenet_v1_a025_128_gray.tflite", gen, "host", name="second")
    text = (gen / "CMakeLists.txt").read_text()
    assert text.count("add_library(mcuforge_kernels ") == 1
    assert "mcuforge::first" in text and "mcuforge::second" in text
    app = tmp_path / "app"
    app.mkdir()
    main = HOST_MAIN.format(name="first", up="FIRST").replace('#include "first.h"',
                                                               '#include "first.h"\n#include "second.h"')
    (app / "main.c").write_text(main.replace("first_invoke();", "second_invoke();\n    first_invoke();"))
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(app C)\n"
        f"add_subdirectory({gen.as_posix()} mcuforge)\n"
        "add_executable(app main.c)\ntarget_link_libraries(app PRIVATE mcuforge::first mcuforge::second)\n")
    cmake_build(app, tmp_path / "build")
    assert outputs(run([tmp_path / "build" / "app"])) == want


def test_cmake_cross_build_for_cortex_m7_runs_on_qemu(tmp_path, want):
    """add_subdirectory() with a plain arm-none-eabi toolchain file, linked with the board
    support of qemu-mps2-an500 and the bench app; the firmware's output is TFLite's."""
    need("cmake")
    from firmware_tools.boards import get_board
    from firmware_tools.qemu import parse_bench, run_qemu
    generate(MODEL, tmp_path / "gen", "cortex-m7")
    flags = " ".join(get_target("cortex-m7").cflags)
    (tmp_path / "arm-none-eabi.cmake").write_text(
        "set(CMAKE_SYSTEM_NAME Generic)\nset(CMAKE_SYSTEM_PROCESSOR arm)\n"
        "set(CMAKE_C_COMPILER arm-none-eabi-gcc)\n"
        "set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)\n"
        f'set(CMAKE_C_FLAGS_INIT "{flags}")\n')
    board = BOARDS / "qemu-mps2-an500"
    app = tmp_path / "fw"
    app.mkdir()
    (app / "CMakeLists.txt").write_text(f"""cmake_minimum_required(VERSION 3.13)
project(fw C)
add_subdirectory({(tmp_path / 'gen').as_posix()} mcuforge)
file(GLOB COMMON {BOARDS.as_posix()}/common/*.c)
add_executable(fw.elf ${{COMMON}} {board.as_posix()}/board.c {(ROOT / 'firmware_tools/apps/bench.c').as_posix()})
target_include_directories(fw.elf PRIVATE {BOARDS.as_posix()}/include {BOARDS.as_posix()}/common)
target_link_libraries(fw.elf PRIVATE mcuforge::model)
target_link_options(fw.elf PRIVATE -nostartfiles --specs=nano.specs --specs=nosys.specs
    -T{board.as_posix()}/linker.ld -L{BOARDS.as_posix()}/common -Wl,--gc-sections)
""")
    cmake_build(app, tmp_path / "build", f"-DCMAKE_TOOLCHAIN_FILE={tmp_path / 'arm-none-eabi.cmake'}")
    elf = tmp_path / "build" / "fw.elf"
    assert (tmp_path / "build" / "mcuforge" / "libmcuforge_kernels.a").exists()
    res = run_qemu(get_board("qemu-mps2-an500"), elf, timeout=120)
    assert res.returncode == 0, res.console
    assert parse_bench(res.console)["output"] == want


def test_make_fragment_builds(tmp_path, want):
    generate(MODEL, tmp_path / "gen", "host")
    (tmp_path / "main.c").write_text(HOST_MAIN.format(name="model", up="MODEL"))
    (tmp_path / "Makefile").write_text(
        "include gen/mcuforge.mk\n"
        "SRCS := main.c $(MODEL_SRCS) $(MCUF_KERNEL_SRCS)\n"
        "CFLAGS := -O2 -Wall -Wextra -Werror $(MCUF_CFLAGS) $(MODEL_CPU_FLAGS)\n"
        "app: $(SRCS)\n\t$(CC) $(CFLAGS) $^ -o $@\n")
    run(["make", "-s", "-C", tmp_path, "app"])
    assert outputs(run([tmp_path / "app"])) == want


def test_make_fragment_cross_compiles_for_cortex_m7(tmp_path):
    generate(MODEL, tmp_path / "gen", "cortex-m7")
    (tmp_path / "Makefile").write_text(
        "include gen/mcuforge.mk\n"
        "CC := arm-none-eabi-gcc\n"
        "OBJS := $(patsubst %.c,%.o,$(MODEL_SRCS) $(MCUF_KERNEL_SRCS))\n"
        "CFLAGS := -O2 -Wall -Wextra -Werror $(MCUF_CFLAGS) $(MODEL_CPU_FLAGS)\n"
        "libmodel.a: $(OBJS)\n\tarm-none-eabi-ar rcs $@ $^\n")
    run(["make", "-s", "-j2", "-C", tmp_path, "libmodel.a"])
    members = run(["arm-none-eabi-ar", "t", tmp_path / "libmodel.a"]).split()
    assert "model.o" in members and "mcuf_conv_1x1_s8_dsp.o" in members


def test_arduino_layout(tmp_path):
    """library.properties (Arduino library specification 1.5) and every source flat in src/,
    which compiles with src/ as the only include directory (what the Arduino builder does)."""
    out = tmp_path / "lib"
    generate(MODEL, out, "cortex-m7", layout="arduino")
    props = configparser.ConfigParser()
    props.read_string("[lib]\n" + (out / "library.properties").read_text())
    lib = props["lib"]
    for key in ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url",
                "architectures"):
        assert lib.get(key), key
    assert re.fullmatch(r"[A-Za-z0-9_.\- ]+", lib["name"])
    # the url is a stand-in (a generated library has no page): a comment line says to replace it
    text = (out / "library.properties").read_text().splitlines()
    assert text[text.index(f"url={lib['url']}") - 1].startswith("# url: ") and "put your project's page" in \
        text[text.index(f"url={lib['url']}") - 1]
    assert lib["includes"] == "model.h" and (out / "src" / "model.h").exists()
    assert not (out / "mcuf").exists() and not (out / "model.c").exists()
    srcs = sorted((out / "src").glob("*.c"))
    assert {s.name for s in srcs} >= {"model.c", "mcuf_conv_1x1_s8_dsp.c", "mcuf_softmax_s8.c"}
    objs = tmp_path / "obj"
    objs.mkdir()
    for s in srcs:
        run(["arm-none-eabi-gcc", *get_target("cortex-m7").cflags, "-std=c99", "-O2", "-Wall", "-Wextra",
             "-Werror", f"-I{out / 'src'}", "-c", s, "-o", objs / (s.stem + ".o")])
    # the generic build files follow the flat layout
    inv = inventory(out)
    assert inv.model_sources == {"model": "src/model.c"} and inv.include_dirs == ["src"]
    assert "src/mcuf_softmax_s8.c" in (out / "CMakeLists.txt").read_text()


def test_platformio_layout(tmp_path):
    out = tmp_path / "lib"
    generate(MODEL, out, "cortex-m7", layout="platformio")
    meta = json.loads((out / "library.json").read_text())
    assert meta["name"] and meta["version"] and meta["frameworks"] == "*"
    src = out / meta["build"]["srcDir"]
    assert (out / meta["build"]["includeDir"] / "model.h").exists()
    assert meta["headers"] == ["model.h"]
    assert {f.name for f in src.glob("*.c")} >= {"model.c", "mcuf_conv_1x1_s8_dsp.c"}


def test_zephyr_module(tmp_path, want):
    """zephyr/module.yml as Zephyr's module schema reads it, and zephyr/CMakeLists.txt built by
    CMake with Zephyr's three library functions defined as their plain-CMake equivalents: it
    names every source and include directory, and the result runs."""
    need("cmake")
    out = tmp_path / "mod"
    generate(MODEL, out, "host", layout="zephyr")
    yml = (out / "zephyr" / "module.yml").read_text()
    fields = dict(re.findall(r"^\s*(\w+):\s*(\S*)\s*$", yml, re.M))
    assert fields["name"] == "mcuforge_model" and fields["cmake"] == "zephyr"
    assert fields["kconfig"] == "zephyr/Kconfig"
    kconfig = (out / "zephyr" / "Kconfig").read_text()
    symbol = re.search(r"^config (\w+)$", kconfig, re.M).group(1)
    assert symbol == "MCUFORGE_MODEL" and "\tbool " in kconfig
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.c").write_text(HOST_MAIN.format(name="model", up="MODEL"))
    (app / "CMakeLists.txt").write_text(f"""cmake_minimum_required(VERSION 3.13)
project(app C)
set(CONFIG_{symbol} y)
add_library(zephyr_interface INTERFACE)   # what Zephyr gives every library and the app
macro(zephyr_library_named name)
  set(ZEPHYR_CURRENT_LIBRARY ${{name}})
  add_library(${{name}} STATIC)
  target_link_libraries(${{name}} PRIVATE zephyr_interface)
endmacro()
macro(zephyr_library_sources)
  target_sources(${{ZEPHYR_CURRENT_LIBRARY}} PRIVATE ${{ARGN}})
endmacro()
macro(zephyr_include_directories)
  target_include_directories(zephyr_interface INTERFACE ${{ARGN}})
endmacro()
add_subdirectory({(out / 'zephyr').as_posix()} zephyr_module)
add_executable(app main.c)
target_link_libraries(app PRIVATE mcuforge_model zephyr_interface)
""")
    cmake_build(app, tmp_path / "build")
    assert outputs(run([tmp_path / "build" / "app"])) == want


CLANG_TARGETS = ["cortex-m7", "cortex-m4", "cortex-m33", "cortex-m55"]


@pytest.mark.parametrize("target", CLANG_TARGETS)
def test_kernels_and_model_compile_with_clang(target, tmp_path):
    """LLVM clang (Debian's), bare-metal Arm, newlib's headers: every kernel and a generated
    model, under -std=c99 -pedantic -Wall -Wextra -Werror (the kernels' long inline-assembly
    strings and compile-time checks are C99 that clang's -pedantic accepts)."""
    need("clang")
    gen = tmp_path / "gen"
    generate(MODEL, gen, target)
    cpu = get_target(target).cflags   # the very flags the generated files name, for gcc and clang
    flags = ["--target=arm-none-eabi", *cpu, "-isystem", "/usr/lib/arm-none-eabi/include",
             "-std=c99", "-pedantic", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{KERNELS / 'include'}",
             f"-I{gen}"]
    srcs = [*sorted((KERNELS / "reference").glob("*.c")), *sorted((KERNELS / "optimized").glob("*.c")),
            gen / "model.c"]
    for s in srcs:
        run(["clang", *flags, "-c", s, "-o", tmp_path / (s.stem + ".o")])
    attrs = run(["arm-none-eabi-readelf", "-A", tmp_path / "mcuf_conv_1x1_s8_dsp.o"])
    arch = {"cortex-m33": "v8-M.mainline", "cortex-m55": "v8.1-M.mainline"}.get(target, "v7E-M")
    assert f"Tag_CPU_arch: {arch}" in attrs and "Tag_THUMB_ISA_use" in attrs, attrs


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-m55", "cortex-m0plus"])
def test_arduino_architectures_star_is_explained_and_holds(tmp_path, target):
    """architectures=* with the DSP/Helium kernels inside: true because their sources fall back
    to plain C off Arm (compiled here with the host's gcc, no emulation define) and stop with an
    #error naming the fix on an Arm core without DSP; library.properties says so in a comment."""
    out = tmp_path / "lib"
    generate(MODEL, out, target, layout="arduino")
    text = (out / "library.properties").read_text()
    props = configparser.ConfigParser()
    props.read_string("[lib]\n" + text)
    assert props["lib"]["architectures"] == "*"
    note = [ln for ln in text.splitlines() if ln.startswith("# architectures=*: ")]
    assert len(note) == 1, text
    fast = sorted((out / "src").glob("*_dsp.c")) + sorted((out / "src").glob("*_mve.c"))
    if target == "cortex-m0plus":
        assert not fast and "portable C99" in note[0]
        return
    assert fast and "plain C on other processors" in note[0] and "--kernels reference" in note[0]
    for s in fast:
        run(["gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{out / 'src'}", "-c", s,
             "-o", tmp_path / "x.o"])
    r = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m0plus", "-mthumb", "-std=c99", f"-I{out / 'src'}",
                        "-c", str(fast[0]), "-o", str(tmp_path / "m0.o")], capture_output=True, text=True)
    assert r.returncode != 0 and "--kernels reference" in r.stderr
