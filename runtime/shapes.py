"""A synthetic 'shapes' data set, made offline with numpy alone.

Four classes drawn on noisy, randomly tinted backgrounds: circle, square, triangle, line.
The bundled fixture models were trained on it, and the runtime's synthetic frame source
produces it, so a demo can show real, checkable classifications with no camera.
"""
from __future__ import annotations

import numpy as np

LABELS = ("circle", "square", "triangle", "line")


def draw_shape(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One float32 RGB image in [0, 1], shape (size, size, 3)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    bg = rng.uniform(0.0, 0.5, 3).astype(np.float32)
    fg = rng.uniform(0.55, 1.0, 3).astype(np.float32)
    if rng.random() < 0.5:
        bg, fg = fg, bg
    img = np.broadcast_to(bg, (size, size, 3)).copy()
    r = rng.uniform(0.18, 0.38) * size
    cy, cx = rng.uniform(r, size - r, 2)
    if kind == 0:    # circle
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    elif kind == 1:  # square, axis aligned
        mask = (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
    elif kind == 2:  # triangle, apex up
        top, bottom = cy - r, cy + r * 0.8
        half = (yy - top) / (bottom - top) * r
        mask = (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= half)
    else:            # thick line at a random angle
        a = rng.uniform(0, np.pi)
        d = np.abs((xx - cx) * np.sin(a) - (yy - cy) * np.cos(a))
        along = np.abs((xx - cx) * np.cos(a) + (yy - cy) * np.sin(a))
        mask = (d <= max(1.5, size * 0.04)) & (along <= r * 1.3)
    img[mask] = fg
    img += rng.normal(0, 0.06, img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0)


def make_dataset(count: int, size: int, channels: int = 3, seed: int = 0):
    """(images float32 [count, size, size, channels] in [0, 1], labels int64 [count])."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(LABELS), count)
    images = np.stack([draw_shape(int(k), size, rng) for k in labels])
    if channels == 1:
        images = images.mean(axis=-1, keepdims=True)
    return images.astype(np.float32), labels


def quantize_input(images: np.ndarray, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """Float [0, 1] pixels -> the model's quantized input (round half away from zero, saturate)."""
    info = np.iinfo(dtype)
    q = np.floor(images / scale + 0.5) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)
