"""The embedded engineer's path, from scratch: `codegen emit --target cortex-m33` into a firmware
of one's own (its own vector table, linker script and semihosting console; none of boards/ or
firmware_tools/apps), built through out/mcuforge.mk under -Wall -Wextra -Werror -pedantic with
model.h included from C++98 too, with arm-none-eabi-gcc or with clang (linked by
arm-none-eabi-gcc against newlib), run on QEMU's mps2-an505 (Cortex-M33): the output is
TFLite's reference output, byte for byte (README, Integrating into your project / Toolchains)."""
import shutil
import subprocess

import numpy as np
import pytest

from conftest import FIXTURE_MODELS
from codegen.pipeline import generate
from codegen.verify import deterministic_input

MODEL = FIXTURE_MODELS / "mobilenet_v1_a025_96_rgb.tflite"

STARTUP = r"""#include <stdint.h>
extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
int main(void);
void Reset_Handler(void);
void Fault_Handler(void);
void sh_exit(int code);
typedef void (*vec_t)(void);
__attribute__((section(".vectors"), used)) static const vec_t vectors[16] = {
    (vec_t)(uintptr_t)&__stack_top, Reset_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, 0, 0, 0, 0,
    Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler};
void Fault_Handler(void) { sh_exit(99); }
void Reset_Handler(void)
{
    uint32_t *s = &__data_load, *d = &__data_start;
    while (d < &__data_end) *d++ = *s++;
    for (d = &__bss_start; d < &__bss_end;) *d++ = 0;
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;   /* CPACR: the FPU on (-mfloat-abi=hard) */
    __asm volatile("dsb\n\tisb");
    sh_exit(main());
}
static int sh_call(int op, void *arg)
{
    register int r0 __asm("r0") = op;
    register void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
void sh_puts(const char *s) { sh_call(0x04, (void *)(uintptr_t)s); }   /* SYS_WRITE0 */
void sh_exit(int code)
{
    uint32_t args[2] = {0x20026u, (uint32_t)code};   /* ADP_Stopped_ApplicationExit, exit code */
    sh_call(0x20, args);                                                /* SYS_EXIT_EXTENDED */
    for (;;) {}
}
"""

MAIN = r"""#include <stdint.h>
#include "model.h"
void sh_puts(const char *s);
int probe_from_cpp(void);
static void put_int(int v)
{
    char b[8], *p = b + sizeof b;
    unsigned u = (unsigned)(v < 0 ? -v : v);
    *--p = 0;
    do { *--p = (char)('0' + u % 10u); u /= 10u; } while (u);
    if (v < 0) *--p = '-';
    sh_puts(p);
    sh_puts(" ");
}
int main(void)
{
    int8_t *in = model_input();
    const int8_t *out;
    uint32_t i;
    for (i = 0; i < MODEL_INPUT_SIZE; i++) in[i] = (int8_t)((int)((i * 7u + 3u) % 256u) - 128);
    if (model_invoke() != MODEL_OK) return 1;
    out = model_output();
    sh_puts("output: ");
    for (i = 0; i < MODEL_OUTPUT_SIZE; i++) put_int(out[i]);
    sh_puts("\n");
    return probe_from_cpp() == MODEL_OUTPUT_SIZE ? 0 : 2;
}
"""

CPP = r"""#include "model.h"
extern "C" int probe_from_cpp(void);
extern "C" int probe_from_cpp(void) { return model_output() != 0 ? MODEL_OUTPUT_SIZE : -1; }
"""

LINKER = """MEMORY { FLASH (rx) : ORIGIN = 0x10000000, LENGTH = 4M
         RAM (rwx) : ORIGIN = 0x38000000, LENGTH = 4M }
SECTIONS {
  .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) . = ALIGN(4); } > FLASH
  .ARM.exidx : { __exidx_start = .; *(.ARM.exidx*) __exidx_end = .; } > FLASH
  __data_load = .;
  .data : AT(__data_load) { __data_start = .; *(.data*) . = ALIGN(4); __data_end = .; } > RAM
  .bss (NOLOAD) : { __bss_start = .; *(.bss*) *(COMMON) . = ALIGN(4); __bss_end = .; } > RAM
  __stack_top = ORIGIN(RAM) + LENGTH(RAM);
}
"""

# The README's recipe (Integrating into your project, Make), with the warnings a firmware
# project turns on; clang: the README's flags (Toolchains).
MAKEFILE = """include gen/mcuforge.mk
WARN := -Wall -Wextra -Werror -pedantic
CLANG := --target=arm-none-eabi -isystem /usr/lib/arm-none-eabi/include -Wno-overlength-strings
ifeq ($(COMPILER),clang)
CC := clang $(CLANG)
CXX := clang++ $(CLANG)
else
CC := arm-none-eabi-gcc
CXX := arm-none-eabi-g++
endif
SRCS := main.c startup.c $(MODEL_SRCS) $(MCUF_KERNEL_SRCS)
OBJS := $(patsubst %.c,%.o,$(SRCS)) probe.o
CFLAGS := -O2 $(WARN) $(MCUF_CFLAGS) $(MODEL_CPU_FLAGS)
app.elf: $(OBJS)
\tarm-none-eabi-gcc $(MODEL_CPU_FLAGS) -T app.ld -nostartfiles --specs=nano.specs --specs=nosys.specs \\
\t    -Wl,--gc-sections -Wl,--no-warn-mismatch -o $@ $^
probe.o: probe.cpp
\t$(CXX) -std=c++98 -fno-exceptions -fno-rtti -O2 $(WARN) $(MCUF_INCLUDES) $(MODEL_CPU_FLAGS) -c $< -o $@
"""


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_own_firmware_on_cortex_m33(tmp_path, compiler):
    from runtime.interpreter import ReferenceModel
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm", *(["clang"] if compiler == "clang" else [])):
        if not shutil.which(tool):
            pytest.fail(f"{tool} not installed: scripts/setup.sh installs it")
    generate(MODEL, tmp_path / "gen", "cortex-m33")
    for name, text in {"startup.c": STARTUP, "main.c": MAIN, "probe.cpp": CPP, "app.ld": LINKER,
                       "Makefile": MAKEFILE}.items():
        (tmp_path / name).write_text(text)
    r = subprocess.run(["make", "-s", "-j2", "-C", str(tmp_path), f"COMPILER={compiler}", "app.elf"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["qemu-system-arm", "-M", "mps2-an505", "-cpu", "cortex-m33", "-nographic",
                        "-semihosting", "-kernel", str(tmp_path / "app.elf")],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    console = r.stdout + r.stderr   # QEMU writes semihosting output to stderr
    assert "output:" in console, console
    got = [int(v) for v in console.split("output:")[1].split()]
    ref = ReferenceModel(MODEL)
    want = ref.invoke(deterministic_input(int(np.prod(ref.input["shape"])))).reshape(-1).tolist()
    assert got == want
    # `firmware size` on this ELF, whose linker script puts .rodata into .text: the weights are
    # still weights (they were counted as code: "weights+consts 0 B")
    import json
    import sys
    r = subprocess.run([sys.executable, "-m", "firmware_tools.cli", "size", "--board", "qemu-mps2-an505", "--json",
                        str(tmp_path / "app.elf")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    size = json.loads(r.stdout)
    manifest = json.loads((tmp_path / "gen" / "model.json").read_text())
    assert size["weights"] >= manifest["weight_bytes"] > size["code"], size
