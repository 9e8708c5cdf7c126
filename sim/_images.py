"""The simulator's images: banned originals, their re-uploaded copies, and unrelated benign ones.

:func:`generated_image` draws a gradient and random shapes from a seed (the
banned originals and the benign posts' images); :func:`reupload_copy` makes
the transformed copy a re-upload carries, within what PDQ is built to
survive. Everything is a function of the seed: Pillow's encoders are
deterministic for one Pillow version.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont


def generated_image(seed: str, side: int) -> Image.Image:
    """A side x side RGB image of a colour gradient and 8 to 12 random shapes, from ``seed``."""
    rng = random.Random(seed)
    angle = rng.uniform(0, 2 * math.pi)
    rows, columns = np.mgrid[0:side, 0:side].astype(np.float32) / side
    ramp = math.cos(angle) * columns + math.sin(angle) * rows
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    first, second = (np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32) for _ in range(2))
    pixels = first * (1 - ramp[..., None]) + second * ramp[..., None]
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(8, 12)):
        colour = tuple(rng.randrange(256) for _ in range(3))
        x, y = rng.uniform(0, side), rng.uniform(0, side)
        size = rng.uniform(0.08, 0.4) * side
        shape = rng.choice(("ellipse", "rectangle", "polygon", "line"))
        if shape == "ellipse":
            draw.ellipse((x - size, y - size * rng.uniform(0.4, 1), x + size, y + size), fill=colour)
        elif shape == "rectangle":
            draw.rectangle((x, y, x + size, y + size * rng.uniform(0.3, 1.5)), fill=colour)
        elif shape == "polygon":
            corners = rng.randint(3, 6)
            draw.polygon(
                [
                    (
                        x + size * math.cos(2 * math.pi * k / corners + angle),
                        y + size * math.sin(2 * math.pi * k / corners + angle),
                    )
                    for k in range(corners)
                ],
                fill=colour,
            )
        else:
            draw.line((x, y, rng.uniform(0, side), rng.uniform(0, side)), fill=colour, width=max(4, int(size / 8)))
    return image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def jpeg_bytes(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def reupload_copy(original: Image.Image, rng: random.Random, overlay_texts: Sequence[str]) -> tuple[bytes, dict]:
    """A re-upload of ``original``: downscaled, brightness changed, one of ``overlay_texts``, JPEG-recompressed.

    The ranges stay inside what PDQ is built to survive: measured distances to the
    original are well under 31 bits (tests/test_simulator.py).
    """
    scale = rng.uniform(0.55, 0.9)
    brightness = rng.uniform(0.85, 1.15)
    quality = rng.randint(55, 90)
    overlay = rng.choice(overlay_texts)
    width, height = (max(64, round(side * scale)) for side in original.size)
    image = original.resize((width, height), Image.Resampling.LANCZOS)
    image = ImageEnhance.Brightness(image).enhance(brightness)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(10, height // 32))
    draw.text(
        (width * 0.03, height * 0.92), overlay, fill=(255, 255, 255), font=font, stroke_width=1, stroke_fill=(0, 0, 0)
    )
    return jpeg_bytes(image, quality), {
        "scale": round(scale, 4),
        "width": width,
        "height": height,
        "brightness": round(brightness, 4),
        "jpeg_quality": quality,
        "overlay": overlay,
    }
