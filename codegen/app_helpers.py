"""The application side of the generated API: memory placement and helpers (issue #20, items 3-4).

The emitter (codegen/emitter.py) calls this module for three blocks of text:

- `placement_c(name, external)`: model.c's arena declaration and the section macros.
  `<NAME>_ARENA_SECTION` / `<NAME>_WEIGHTS_SECTION` (default: `MCUF_ARENA_SECTION` /
  `MCUF_WEIGHTS_SECTION` if defined, else nothing) are attributes placed on the arena and on
  every constant array, e.g. `-DMODEL_WEIGHTS_SECTION='__attribute__((section(".qspi")))'`.
  With `<NAME>_ARENA_EXTERNAL` (a `-D` or `codegen emit --arena external`) the arena is the
  application's, handed over by `<name>_init(buffer, bytes)`: two models that never run at
  once can then share one buffer of the larger `<NAME>_ARENA_SIZE`.
- `header(...)` / `source(...)`: the declarations and definitions of the helpers: pixels to
  input, dequantized output, top-1 / top-k, label strings, timing; documented in model.h.

With no option given, the generated code's behaviour is unchanged: the macros expand to
nothing and the arena is the same static array (same machine code, same instruction counts).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CodegenError

ARENA_ALIGN = 16   # the static arena's alignment (emitter.py); the kernels' scratch is int16
# Pixel ranges as float32 expressions of a uint8 pixel p, the usual Keras/TF preprocessing.
RANGES = {"0:1": "p / 255.0f", "-1:1": "p / 127.5f - 1.0f", "0:255": "(float)p"}


@dataclass
class AppOptions:
    """What `codegen emit` was told about the application side.

    labels: one string per output class (from --labels FILE), or None.
    input_range: "auto" or a key of RANGES: the float range the pixels 0..255 map onto.
    arena_external: write `#define <NAME>_ARENA_EXTERNAL 1` into the header."""
    labels: list[str] | None = None
    input_range: str = "auto"
    arena_external: bool = False
    extra: dict = field(default_factory=dict)


MAX_LABELS_BYTES = 16 << 20   # ImageNet's 1,001 labels are 11 KB; 21k classes about 300 KB


def label_lines(text: str) -> list[str]:
    """The labels of a label file's text, one per line, positions kept (an interior blank line
    is an unnamed class); trailing blank lines dropped; a leading index ("0 background",
    "7: cat") dropped when every line has one, numbered 0, 1, 2, ... as in the Coral and TF Hub
    label files. One rule for codegen's --labels and the runtime's."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    numbered = [re.match(r"\s*(\d+)\s*[:\s]\s*(.*)$", ln) for ln in lines]
    if lines and all(numbered) and [int(m.group(1)) for m in numbered] == list(range(len(lines))):
        return [m.group(2).strip() for m in numbered]
    return [ln.strip() for ln in lines]


class LabelFileTooLarge(ValueError):
    """A label file over MAX_LABELS_BYTES."""


def label_text(path: str | Path) -> str:
    """A label file's text (UTF-8, a byte-order mark dropped), read without blocking on a named
    pipe nobody writes to and at most MAX_LABELS_BYTES (/dev/zero read until a MemoryError).
    Raises OSError, UnicodeDecodeError or LabelFileTooLarge; codegen's and the runtime's
    read_labels name them in their own terms."""
    from .tflite_reader import open_for_reading
    with open_for_reading(path) as f:
        raw = f.read(MAX_LABELS_BYTES + 1)
    if len(raw) > MAX_LABELS_BYTES:
        raise LabelFileTooLarge(f"larger than {MAX_LABELS_BYTES >> 20} MiB")
    return raw.decode("utf-8-sig")   # utf-8-sig: Windows Notepad's byte-order mark is no label


def read_labels(path: str | Path) -> list[str]:
    """label_lines() of label_text(path); the emitter checks there is one per output class.
    Raises CodegenError (one line) when the file is unreadable or too large."""
    try:
        return label_lines(label_text(path))
    except LabelFileTooLarge as e:
        raise CodegenError(f"--labels {path} is {e}: give a UTF-8 text file with one label per line") from None
    except (OSError, UnicodeDecodeError) as e:
        # a folder read "(IsADirectoryError: [Errno 21] Is a directory: 3)", the descriptor's number (trial10)
        why = ("is a folder" if Path(path).is_dir() else "is not UTF-8 text" if isinstance(e, UnicodeDecodeError)
               else f"cannot read it ({e.strerror or e})")
        raise CodegenError(f"--labels {path} {why}: give a UTF-8 text file with one label per line") from None


def check_labels(labels: list[str] | None, output_shape: list[int]) -> None:
    """Raises CodegenError unless there is one label per class (the output's last dimension)."""
    classes = int(output_shape[-1]) if output_shape else 1
    if labels is not None and len(labels) != classes:
        raise CodegenError(f"--labels: {len(labels)} labels for a model whose output {list(output_shape)} "
                           f"has {classes} classes; give exactly one line per class (a blank line inside the "
                           "file is a class too)")
    nul = [i for i, label in enumerate(labels or []) if "\0" in label]
    if nul:   # a C string ends there: the device would print a cut label
        raise CodegenError(f"--labels: label {nul[0]} holds a NUL byte, which would end its C string; "
                           "give a text file (this one looks binary or UTF-16: save it as UTF-8)")


LIMITS = {"int8": (-128, 127), "uint8": (0, 255)}
CTYPES = {"int8": "int8_t", "uint8": "uint8_t"}


def pixel_range(scale: float, zero_point: int, choice: str = "auto", dtype: str = "int8") -> str:
    """The range key ("0:1", "-1:1" or "0:255") the pixels 0..255 map onto: `choice`, or for
    "auto" the standard range nearest to what the input's quantization represents over its
    type's values (int8, or uint8 for a legacy uint8 model; the same rule as
    runtime/preprocess.py: resolve_range)."""
    if choice != "auto":
        if choice not in RANGES:
            raise CodegenError(f"--input-range {choice}: choose one of auto, {', '.join(RANGES)}")
        return choice
    qmin, qmax = LIMITS[dtype]
    lo, hi = (qmin - zero_point) * scale, (qmax - zero_point) * scale
    spans = {"0:1": (0.0, 1.0), "-1:1": (-1.0, 1.0), "0:255": (0.0, 255.0)}
    return min(spans, key=lambda k: (abs(spans[k][0] - lo) + abs(spans[k][1] - hi)) / (hi - lo))


def pixel_floats(key: str) -> np.ndarray:
    """float32 [256]: the preprocessed value of each pixel p = 0..255, computed in float32 as
    the C expression RANGES[key] does."""
    p = np.arange(256, dtype=np.float32)
    if key == "0:1":
        return p / np.float32(255.0)
    if key == "-1:1":
        return p / np.float32(127.5) - np.float32(1.0)
    return p


def pixel_table(scale: float, zero_point: int, key: str, dtype: str = "int8") -> np.ndarray:
    """[256] of `dtype`: TFLite's QUANTIZE of pixel_floats(key) (reference_ops::AffineQuantize:
    round(x / (float)scale) half away from zero, + zero_point, saturated to the type).

    Where the quotient leaves int32 (an absurd scale such as 1e-30, or a subnormal one whose
    quotient is inf) TFLite's float-to-int cast is undefined (x86 gives INT32_MIN, so a bright
    pixel became -128): the table saturates towards the quotient's sign instead, and a NaN
    (scale 0) gives the zero point, as <name>_set_input_f32() does and as the Pi runtime's
    table (runtime/preprocess.py) does; no numpy warning."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        v = pixel_floats(key) / np.float32(scale)
        q = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))
    big = 2.0 ** 40         # far outside every dtype's range, exact in float32 and int64
    q = np.clip(np.nan_to_num(q, nan=0.0, posinf=big, neginf=-big), -big, big)
    return np.clip(q.astype(np.int64) + int(zero_point), *LIMITS[dtype]).astype(dtype)


@dataclass
class PixelConversion:
    """How <name>_input_from_pixels() turns a uint8 pixel into an input byte.
    key: the pixel range ("0:1", "-1:1", "0:255"); table: [256] int8 (uint8 for a legacy uint8
    model, whose input bytes are uint8); doc: model.h's sentence."""
    key: str
    table: np.ndarray
    doc: str

    @property
    def ctype(self) -> str:
        return CTYPES[self.table.dtype.name]


def pixel_conversion(scale: float, zero_point: int, choice: str = "auto",
                     dtype: str = "int8") -> PixelConversion:
    """The conversion for an input of this quantization and type (int8; uint8 for a legacy
    uint8 model): TFLite's QUANTIZE of the float preprocessing of the range `choice` (auto:
    read off the quantization, see pixel_range)."""
    key = pixel_range(scale, zero_point, choice, dtype)
    return PixelConversion(key, pixel_table(scale, zero_point, key, dtype),
                           f"exactly what TFLite gives for the float preprocessing x = {RANGES[key]} (pixels "
                           f"0..255 onto [{key.replace(':', ', ')}]) followed by the model's QUANTIZE (scale "
                           f"{scale!r}, zero point {zero_point}: round half away from zero, saturate)")


def pixel_expression(table: np.ndarray) -> tuple[str, str]:
    """(C expression of the uint8 `p` giving the input byte, how it is computed): integer
    arithmetic where the table is an offset (`p - 128` for most models), else a lookup table."""
    ramp = np.arange(256, dtype=np.int64)
    off = int(table[0])
    ctype = CTYPES[table.dtype.name]
    if ((ramp + off) == table.astype(np.int64)).all():
        if off == 0:
            return f"({ctype})p", "the identity: input = pixel"
        return f"({ctype})((int)p - {-off})" if off < 0 else f"({ctype})((int)p + {off})", \
            f"an offset: input = pixel {'-' if off < 0 else '+'} {abs(off)}"
    return "pixel_lut[p]", "a 256-entry table (the conversion is not an integer offset)"


def _wrap(text: str, width: int = 92) -> str:
    """A comment paragraph: ' * ' lines of at most `width` characters."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width - 3:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join(f" * {s}" for s in lines + [line])


def _c_string(s: str) -> str:
    out = []
    for ch in s:
        o = ord(ch)
        if ch in "\\\"":
            out.append("\\" + ch)
        elif 32 <= o < 127 and ch != "?":   # no trigraphs
            out.append(ch)
        else:
            out.extend(f"\\{b:03o}" for b in ch.encode("utf-8"))
    return '"' + "".join(out) + '"'


def placement_c(name: str, external: bool) -> str:
    """model.c's section macros and arena (replaces `static int8_t arena[...]`)."""
    up = name.upper()
    return f"""
/* Memory placement (see {name}.h): section attributes for the constant arrays and the arena,
 * empty unless defined; the arena is the application's with {up}_ARENA_EXTERNAL. */
#ifndef {up}_WEIGHTS_SECTION
#ifdef MCUF_WEIGHTS_SECTION
#define {up}_WEIGHTS_SECTION MCUF_WEIGHTS_SECTION
#else
#define {up}_WEIGHTS_SECTION
#endif
#endif
#ifndef {up}_ARENA_SECTION
#ifdef MCUF_ARENA_SECTION
#define {up}_ARENA_SECTION MCUF_ARENA_SECTION
#else
#define {up}_ARENA_SECTION
#endif
#endif

#ifdef {up}_ARENA_EXTERNAL
static int8_t *arena_ptr;   /* the application's buffer, set by {name}_init() */
#define arena arena_ptr     /* (named apart from the array: size reports count `arena` as the arena) */
#define ARENA_AT(off) (arena != 0 ? arena + (off) : (int8_t *)0)
#define RETURN_IF_NO_ARENA(v) do {{ if (arena == 0) {{ return (v); }} }} while (0)
#else
static int8_t arena[{up}_ARENA_SIZE] MCUF_ALIGNED({ARENA_ALIGN}) {up}_ARENA_SECTION;
#define ARENA_AT(off) (arena + (off))
#define RETURN_IF_NO_ARENA(v) ((void)0)
#endif
"""


def extend_header(header: str, section: str) -> str:
    """model.h with `section` added before its closing `extern "C"` block, and <stddef.h>."""
    head, sep, tail = header.rpartition("\n#ifdef __cplusplus\n}")
    if not sep:
        raise ValueError("model.h has no closing extern \"C\" block")
    head = head.replace("#include <stdint.h>\n", "#include <stddef.h>\n#include <stdint.h>\n", 1)
    return head + "\n" + section + sep + tail


def header(name: str, out_size: int, labels: list[str] | None, pixel_how: str,
           px: PixelConversion, external: bool) -> str:
    """The application section of model.h: placement, helpers, hook and timing."""
    up = name.upper()
    ext = f"#ifndef {up}_ARENA_EXTERNAL\n#define {up}_ARENA_EXTERNAL 1\n#endif\n" if external else ""
    lab = ""
    if labels is not None:
        lab = f"""
/* Labels (codegen emit --labels): {name}_label(i) is output i's name, 0 if i is out of range. */
#define {up}_HAS_LABELS 1
#define {up}_NUM_LABELS {len(labels)}
const char *{name}_label(int index);
"""
    return f"""
/* ---- Memory placement -------------------------------------------------------------------
 * The arena (activations and scratch, {up}_ARENA_SIZE bytes, aligned to {up}_ARENA_ALIGN) is by
 * default a static array in {name}.c. Build-time options (-D, the same for every file including it):
 *   {up}_ARENA_SECTION    attribute on that array, e.g. __attribute__((section(".dtcm")))
 *   {up}_WEIGHTS_SECTION  attribute on every weight/bias/constant array (e.g. ".qspi")
 *   MCUF_ARENA_SECTION, MCUF_WEIGHTS_SECTION: the same for every model that does not set its own
 *   {up}_ARENA_EXTERNAL   no static arena: the application passes one to {name}_init() before
 *                         anything else; {name}_input()/_output() return 0 and {name}_invoke()
 *                         returns {up}_ERR_NO_ARENA until then. Models that never run at the same
 *                         time can share one buffer of the larger ARENA_SIZE (the input lives in the
 *                         arena too: write it after the other model's last use of its output).
 * With the static arena, {name}_init(0, 0) returns {up}_OK (nothing to do), anything else
 * {up}_ERR_BAD_ARGUMENT. */
{ext}#define {up}_ARENA_ALIGN {ARENA_ALIGN}
#define {up}_OK 0
#define {up}_ERR_NO_ARENA (-1)          /* {name}_init() not called, or called with a null buffer */
#define {up}_ERR_ARENA_TOO_SMALL (-2)   /* bytes < {up}_ARENA_SIZE */
#define {up}_ERR_ARENA_MISALIGNED (-3)  /* buffer not a multiple of {up}_ARENA_ALIGN */
#define {up}_ERR_BAD_ARGUMENT (-4)
#define {up}_ERR_NO_COUNTER (-5)        /* {name}_counter_enable(): no cycle counter to enable */
int {name}_init(void *arena, size_t bytes);

/* ---- Application helpers ----------------------------------------------------------------
 * Pixels: {name}_input_from_pixels() writes {up}_INPUT_SIZE input bytes from as many 8-bit pixel
 * values (in the input's layout, e.g. HWC RGB). The conversion is
{_wrap(px.doc + f"; computed at generation time, it is {pixel_how}.")}
 * Returns {up}_OK, {up}_ERR_NO_ARENA or {up}_ERR_BAD_ARGUMENT (null pixels, count != INPUT_SIZE). */
#define {up}_INPUT_RANGE "{px.key}"
{px.ctype} {name}_quantize_pixel(uint8_t p);
int {name}_input_from_pixels(const uint8_t *pixels, uint32_t count);

/* Output: {name}_output_float(i) = {up}_OUTPUT_SCALE * (q[i] - {up}_OUTPUT_ZERO_POINT), 0.0f if i is out
 * of range; {name}_top1() the index of the largest output byte (the first of equals), -1 without an
 * arena; {name}_top_k(k, idx) writes the k (at most {out_size}) largest outputs' indices in descending
 * order (ties: lower index first) and returns how many it wrote. */
float {name}_output_float(int index);
int {name}_top1(void);
int {name}_top_k(int k, int *indices);
{lab}
/* ---- Per-layer hook and timing --------------------------------------------------------------
 * Hook: compile {name}.c with -D{up}_LAYER_HOOK=fn (this model) or -DMCUF_LAYER_HOOK=fn (every
 * model) and define  void fn(int layer, const int8_t *output, uint32_t bytes);  it is called with
 * layer -1 (output 0) before the first layer and with each layer's index and output (in the
 * arena, valid until a later layer reuses it) after that layer; e.g. read a counter in it to
 * profile per layer, as firmware_tools/apps/bench.c does with -DBENCH_PROFILE.
 * Timing: {name}_invoke_timed(&n) runs {name}_invoke() and stores the counter difference in n.
 * The counter is the function named by -DMCUF_COUNTER_READ=fn (uint32_t fn(void)); without it, on
 * Armv7-M/Armv8-M mainline cores, the DWT cycle counter CYCCNT, which {name}_counter_enable()
 * switches on (returns {up}_OK, or {up}_ERR_NO_COUNTER where the core has none: QEMU does not
 * model CYCCNT -- there use SysTick, which under -icount shift=0 counts instructions, see
 * boards/common/cortexm.c); elsewhere no counter ({name}_counter_enable() returns
 * {up}_ERR_NO_COUNTER, n = 0). */
int {name}_counter_enable(void);
int {name}_invoke_timed(uint32_t *elapsed);
"""


def source(name: str, out_size: int, labels: list[str] | None, table: np.ndarray, expr: str,
           x_off: int, y_off: int, out_dtype: str = "int8") -> str:
    """The definitions of header()'s functions, appended to model.c. The input bytes are of
    table's type, the output bytes of out_dtype (uint8 for a legacy uint8 model)."""
    up = name.upper()
    in_t, out_t = CTYPES[table.dtype.name], CTYPES[out_dtype]
    in_ptr = f"ARENA_AT({x_off})" if in_t == "int8_t" else f"(uint8_t *)ARENA_AT({x_off})"
    out_ptr = f"ARENA_AT({y_off})" if out_t == "int8_t" else f"(const uint8_t *)ARENA_AT({y_off})"
    lut = ""
    if expr.startswith("pixel_lut"):
        rows = [", ".join(str(int(v)) for v in table[i:i + 16]) for i in range(0, 256, 16)]
        lut = f"static const {in_t} pixel_lut[256] = {{\n    " + ",\n    ".join(rows) + ",\n};\n\n"
    lab = ""
    if labels is not None:
        strings = ",\n".join(f"    {_c_string(s)}" for s in labels)
        lab = f"""
static const char *const labels[{len(labels)}] = {{
{strings},
}};

const char *{name}_label(int index)
{{
    return (index >= 0 && index < {len(labels)}) ? labels[index] : (const char *)0;
}}
"""
    return f"""
/* ---- Memory placement and application helpers (see {name}.h) ---- */
int {name}_init(void *buffer, size_t bytes)
{{
#ifdef {up}_ARENA_EXTERNAL
    if (buffer == 0) {{
        return {up}_ERR_NO_ARENA;
    }}
    if (bytes < (size_t){up}_ARENA_SIZE) {{
        return {up}_ERR_ARENA_TOO_SMALL;
    }}
    if (((uintptr_t)buffer % {up}_ARENA_ALIGN) != 0) {{
        return {up}_ERR_ARENA_MISALIGNED;
    }}
    arena = (int8_t *)buffer;
    return {up}_OK;
#else
    return (buffer == 0 && bytes == 0) ? {up}_OK : {up}_ERR_BAD_ARGUMENT;
#endif
}}

{lut}{in_t} {name}_quantize_pixel(uint8_t p)
{{
    return {expr};
}}

int {name}_input_from_pixels(const uint8_t *pixels, uint32_t count)
{{
    RETURN_IF_NO_ARENA({up}_ERR_NO_ARENA);
    if (pixels == 0 || count != (uint32_t){up}_INPUT_SIZE) {{
        return {up}_ERR_BAD_ARGUMENT;
    }}
    {in_t} *in = {in_ptr};
    for (uint32_t i = 0; i < count; ++i) {{
        const uint8_t p = pixels[i];
        in[i] = {expr};
    }}
    return {up}_OK;
}}

float {name}_output_float(int index)
{{
    RETURN_IF_NO_ARENA(0.0f);
    if (index < 0 || index >= {out_size}) {{
        return 0.0f;
    }}
    const {out_t} *out = {out_ptr};
    return {up}_OUTPUT_SCALE * (float)((int32_t)out[index] - {up}_OUTPUT_ZERO_POINT);
}}

int {name}_top1(void)
{{
    int k = -1;
    return {name}_top_k(1, &k) == 1 ? k : -1;
}}

int {name}_top_k(int k, int *indices)
{{
    RETURN_IF_NO_ARENA(0);
    if (indices == 0 || k <= 0) {{
        return 0;
    }}
    if (k > {out_size}) {{
        k = {out_size};
    }}
    const {out_t} *out = {out_ptr};
    int n = 0;   /* indices[0..n) sorted: larger value first, then lower index */
    for (int i = 0; i < {out_size}; ++i) {{
        int j;
        if (n == k) {{
            if (out[i] <= out[indices[k - 1]]) {{
                continue;   /* not above the smallest kept (equals keep the lower index) */
            }}
            j = k - 1;
        }} else {{
            j = n++;
        }}
        while (j > 0 && out[indices[j - 1]] < out[i]) {{
            indices[j] = indices[j - 1];
            --j;
        }}
        indices[j] = i;
    }}
    return n;
}}
{lab}
#if !defined(MCUF_COUNTER_READ) && (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || \\
    defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__))
#define DWT_CTRL_REG (*(volatile uint32_t *)0xE0001000u)    /* bit 0 CYCCNTENA, bit 25 NOCYCCNT */
#define DWT_CYCCNT_REG (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR_REG (*(volatile uint32_t *)0xE0001FB0u)     /* Cortex-M7: 0xC5ACCE55 unlocks */
#define DEMCR_REG (*(volatile uint32_t *)0xE000EDFCu)       /* bit 24 TRCENA */
#define COUNTER_DWT 1
#define COUNTER() DWT_CYCCNT_REG
#elif defined(MCUF_COUNTER_READ)
uint32_t MCUF_COUNTER_READ(void);
#define COUNTER() MCUF_COUNTER_READ()
#else
#define COUNTER() 0u
#endif

int {name}_counter_enable(void)
{{
#if defined(COUNTER_DWT)
    DEMCR_REG |= 1u << 24;
    if ((DWT_CTRL_REG & (1u << 25)) != 0) {{
        return {up}_ERR_NO_COUNTER;   /* NOCYCCNT: this core has no cycle counter */
    }}
    DWT_LAR_REG = 0xC5ACCE55u;
    DWT_CYCCNT_REG = 0;
    DWT_CTRL_REG |= 1u;
    return (DWT_CTRL_REG & 1u) != 0 ? {up}_OK : {up}_ERR_NO_COUNTER;   /* QEMU: stays 0 */
#elif defined(MCUF_COUNTER_READ)
    return {up}_OK;
#else
    return {up}_ERR_NO_COUNTER;
#endif
}}

int {name}_invoke_timed(uint32_t *elapsed)
{{
    const uint32_t t0 = COUNTER();
    const int r = {name}_invoke();
    const uint32_t t1 = COUNTER();
    if (elapsed != 0) {{
        *elapsed = t1 - t0;
    }}
    return r;
}}
"""
