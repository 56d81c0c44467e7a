"""Kernel choice for the Helium (MVE) kernel set (`--kernels mve`, the default on cortex-m55).

Each function returns the layer's Step on an `_mve` kernel (codegen/kernels/optimized/*_mve.c)
where one fits, or None: the caller then lowers the layer as for the DSP set, whose kernels
run on a Helium core too. The MVE kernels take TFLite's own per-channel multipliers and
shifts (their output stage is CMSIS-NN's arm_requantize_mve, equal to TFLite's
MultiplyByQuantizedMultiplier: `quantization.mve_requantize`, tests/test_quantization.py) and
the input offset folded into the bias.
"""
from __future__ import annotations

import numpy as np


def _shifts_ok(shift) -> tuple[bool, bool]:
    """(usable, fast): every shift in [-31, 30] (what the kernels' VSHL/VRSHL take), and every
    shift in [-31, -1] (the _fast copies: no left shift, the rounding correction always)."""
    s = shift.values
    return bool(((s >= -31) & (s <= 30)).all()), bool(((s >= -31) & (s <= -1)).all())


def lower_conv(op, x, y, p: dict, mult, shift, rows: np.ndarray, folded, pointwise: bool,
               grouped: bool, macs: int):
    """CONV_2D: mcuf_conv_1x1_s8_mve (pointwise, filter rows as they are) or mcuf_conv_s8_mve
    (any other ungrouped convolution, rows padded with zero weights to a multiple of 16,
    scratch 4 im2col rows). rows: [OC][k_h*k_w*in_c] int8; folded: the folded bias or None."""
    from .lowering import ConstArray, Step
    usable, fast = _shifts_ok(shift)
    if folded is None or grouped or not usable:
        return None
    n = op.index
    b = ConstArray(f"op{n}_bias", "int32_t", folded)
    if pointwise:
        filt = ConstArray(f"op{n}_filter", "int8_t", rows.reshape(-1))
        return Step(op, "mcuf_conv_1x1_s8_mve" + "_fast" * fast, "mcuf_conv_params", p,
                    [("in", x.index), ("const", filt), ("const", b), ("const", mult), ("const", shift),
                     ("out", y.index)], [x.index], y.index, macs, [filt, b, mult, shift])
    k = rows.shape[1]
    k16 = (k + 15) // 16 * 16
    padded = np.zeros((rows.shape[0], k16), np.int8)
    padded[:, :k] = rows
    filt = ConstArray(f"op{n}_filter", "int8_t", padded.reshape(-1))
    return Step(op, "mcuf_conv_s8_mve" + "_fast" * fast, "mcuf_conv_params", p,
                [("in", x.index), ("const", filt), ("const", b), ("const", mult), ("const", shift),
                 ("out", y.index), ("scratch",)], [x.index], y.index, macs, [filt, b, mult, shift],
                4 * k16)


def depthwise_plane_bytes(p: dict) -> int:
    """Scratch of mcuf_depthwise_conv_3x3_s8_mve: one channel's padded plane and the
    4 * stride_w bytes the last vector of a row may read past it."""
    return (((p["out_h"] - 1) * p["stride_h"] + 3) * ((p["out_w"] - 1) * p["stride_w"] + 3)
            + 4 * p["stride_w"])


def lower_depthwise(op, x, y, p: dict, mult, shift, taps: np.ndarray, folded, macs: int):
    """DEPTHWISE_CONV_2D 3x3, depth multiplier 1, no dilation: mcuf_depthwise_conv_3x3_s8_mve
    (filter in TFLite's [3][3][C] layout). taps: [9][C] int8."""
    from .lowering import ConstArray, Step
    usable, fast = _shifts_ok(shift)
    if (folded is None or not usable or p["depth_multiplier"] != 1
            or (p["k_h"], p["k_w"], p["dil_h"], p["dil_w"]) != (3, 3, 1, 1)):
        return None
    n = op.index
    filt = ConstArray(f"op{n}_filter", "int8_t", np.ascontiguousarray(taps).reshape(-1))
    b = ConstArray(f"op{n}_bias", "int32_t", folded)
    return Step(op, "mcuf_depthwise_conv_3x3_s8_mve" + "_fast" * fast, "mcuf_conv_params", p,
                [("in", x.index), ("const", filt), ("const", b), ("const", mult), ("const", shift),
                 ("out", y.index), ("scratch",)], [x.index], y.index, macs, [filt, b, mult, shift],
                depthwise_plane_bytes(p))
