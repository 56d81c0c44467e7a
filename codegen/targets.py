"""Targets the generator emits for, and the compiler flags each implies."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str
    cpu: str | None             # -mcpu for arm-none-eabi-gcc; None for the host compiler
    float_abi: str | None       # -mfloat-abi (the kernels use no floating point either way)
    fpu: str | None             # -mfpu; None where -mcpu implies it (gcc's default is 'auto', and
                                # clang 14 refuses -mfpu=auto)
    dsp: bool                   # has the DSP extension (SMLAD & co)
    description: str
    mve: bool = False           # has Helium (M-profile Vector Extension)

    @property
    def default_kernels(self) -> str:
        """'mve' (the Helium kernels, DSP ones where none fits) on Helium cores, 'dsp'
        (kernels/optimized/) where the core has SIMD, else 'reference'."""
        return "mve" if self.mve else "dsp" if self.dsp else "reference"

    @property
    def cflags(self) -> list[str]:
        if self.cpu is None:
            return []
        flags = [f"-mcpu={self.cpu}", "-mthumb"]
        if self.float_abi:
            flags.append(f"-mfloat-abi={self.float_abi}")
        if self.fpu:
            flags.append(f"-mfpu={self.fpu}")
        return flags


TARGETS = {t.name: t for t in (
    Target("cortex-m7", "cortex-m7", "hard", "fpv5-d16", True, "Armv7E-M, DSP, double-precision FPU"),
    Target("cortex-m4", "cortex-m4", "hard", "fpv4-sp-d16", True, "Armv7E-M, DSP, single-precision FPU"),
    Target("cortex-m33", "cortex-m33", "hard", "fpv5-sp-d16", True, "Armv8-M Mainline, DSP, single-precision FPU"),
    Target("cortex-m55", "cortex-m55", "hard", None, True, "Armv8.1-M, Helium (MVE)", mve=True),
    Target("cortex-m0plus", "cortex-m0plus", "soft", None, False, "Armv6-M, no DSP, no FPU"),
    Target("host", None, None, None, False, "the machine running codegen (tests, simulation)"),
)}


KERNEL_SETS = ("auto", "reference", "dsp", "mve")
DEFAULT_TARGET = "cortex-m7"   # codegen's default: a real MCU (the demo's), never the host


# Cores with no target of their own -> the target whose code runs on them (its instruction
# set is a subset of theirs) and why.
NEAREST_TARGET = {
    "cortex-m0": ("cortex-m0plus", "Armv6-M, the same instruction set"),
    "cortex-m1": ("cortex-m0plus", "Armv6-M, the same instruction set"),
    "cortex-m3": ("cortex-m0plus", "Armv7-M without the DSP extension: the portable kernels"),
    "cortex-m23": ("cortex-m0plus", "Armv8-M Baseline runs Armv6-M code: the portable kernels"),
    "cortex-m35p": ("cortex-m33", "Armv8-M Mainline with DSP, as the M33"),
    "cortex-m52": ("cortex-m55", "Armv8.1-M with Helium, as the M55"),
    "cortex-m85": ("cortex-m55", "Armv8.1-M with Helium, as the M55"),
}


def target_name(text: str) -> str:
    """argparse type of --target: the name as given when it is a target; raises
    argparse.ArgumentTypeError naming the target to use for a known core without one of its
    own (cortex-m3 -> cortex-m0plus) or for another spelling of a target (M7, Cortex-M7, cm7)."""
    import argparse
    if text in TARGETS:
        return text
    key = text.strip().lower().replace("_", "-")
    key = "cortex-" + key[len("cortex"):].lstrip("-") if key.startswith("cortex") else key
    key = "cortex-m" + key[2:] if key.startswith("cm") and key[2:3].isdigit() else key
    key = "cortex-" + key if key[:1] == "m" and key[1:2].isdigit() else key
    key = {"cortex-m0+": "cortex-m0plus", "cortex-m0-plus": "cortex-m0plus"}.get(key, key)
    if key in TARGETS:
        raise argparse.ArgumentTypeError(f"'{text}': the target is spelled {key}")
    if key in NEAREST_TARGET:
        use, why = NEAREST_TARGET[key]
        raise argparse.ArgumentTypeError(f"'{text}' has no target of its own; use --target {use} ({why})")
    return text   # argparse's choices check then lists the targets


def get_target(name: str) -> Target:
    """The Target record of `name` (one of TARGETS: cortex-m7, cortex-m4, cortex-m33, cortex-m55,
    cortex-m0plus, host): its CPU flags, kernel set and features. Raises ValueError listing the
    targets for any other name."""
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target '{name}'; choose one of: {', '.join(TARGETS)}") from None
