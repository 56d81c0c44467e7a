"""Labels drawn on pictures: annotated frames for --save, and the RGBA overlay picamera2 draws
over its preview."""
from __future__ import annotations

from pathlib import Path

import numpy as np

MIN_SIDE = 256      # small model-sized frames are scaled up (nearest) so the text stays legible


def caption(result) -> list[str]:
    best = result.top[0]
    lines = [f"{best.label} {best.score:.2f}"]
    lines += [f"{p.label} {p.score:.2f}" for p in result.top[1:3]]
    lines.append((f"{result.fps:.1f} FPS  " if result.fps else "") + f"{result.infer_ms:.1f} ms")
    return lines


def _draw_text(img, lines: list[str], scale: int = 1):
    from PIL import ImageDraw, ImageFont
    try:
        font = ImageFont.load_default(size=11 * scale)
    except TypeError:                      # Pillow < 10.1 has one bitmap size
        font = ImageFont.load_default()
    draw = ImageDraw.Draw(img, "RGBA")
    pad, line_h = 4 * scale, 14 * scale
    width = max(draw.textlength(s, font=font) for s in lines) + 2 * pad
    draw.rectangle([0, 0, width, len(lines) * line_h + 2 * pad], fill=(0, 0, 0, 160))
    for i, s in enumerate(lines):
        draw.text((pad, pad + i * line_h), s, fill=(255, 255, 255, 255) if i else (255, 220, 0, 255), font=font)
    return img


def annotated_frame(pixels: np.ndarray, lines: list[str], crop: tuple[int, int, int, int] | None = None):
    """The frame (scaled up if small) with the caption in its top-left corner, as a PIL image.

    crop: (x0, y0, w, h) in frame pixels, the window the model sees (Preprocessor.crop_of).
    When it is not the whole frame, what lies outside it is dimmed and the window is outlined
    in yellow, so a saved frame shows what the label is about."""
    from PIL import Image, ImageDraw
    px = np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels
    if crop is not None and crop != (0, 0, px.shape[1], px.shape[0]):
        x0, y0, w, h = crop
        dim = (px.astype(np.uint16) * 2 // 5).astype(np.uint8)
        dim[y0:y0 + h, x0:x0 + w] = px[y0:y0 + h, x0:x0 + w]
        px = dim
    else:
        crop = None
    img = Image.fromarray(px, "RGB")
    k = max(1, -(-MIN_SIDE // min(img.size)))
    if k > 1:
        img = img.resize((img.width * k, img.height * k), Image.Resampling.NEAREST)
    if crop is not None:
        x0, y0, w, h = (v * k for v in crop)
        ImageDraw.Draw(img).rectangle([x0, y0, x0 + w - 1, y0 + h - 1], outline=(255, 220, 0), width=max(1, k))
    return _draw_text(img, lines)


def save_annotated(result, folder: Path, crop: tuple[int, int, int, int] | None = None,
                   lines: list[str] | None = None, prefix: str = "") -> Path:
    """Write the frame of `result`, annotated (see annotated_frame), as
    folder/<prefix><frame index>_<label>.png; returns the path. Raises OSError if unwritable."""
    folder.mkdir(parents=True, exist_ok=True)
    # at most 64 characters: a long label (a labels file line of 300) was 'File name too long'
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in result.top[0].label)[:64]
    path = folder / f"{prefix}{result.frame.index:06d}_{safe}.png"
    annotated_frame(result.frame.pixels, lines or caption(result), crop).save(path)
    return path


def overlay(size: tuple[int, int], lines: list[str]) -> np.ndarray:
    """A transparent (height, width, 4) RGBA image with the caption, for Picamera2.set_overlay."""
    from PIL import Image
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    return np.asarray(_draw_text(img, lines, scale=2))
