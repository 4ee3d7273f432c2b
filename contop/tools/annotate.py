"""Numbered boxes drawn over a screenshot, so a model can refer to elements by number."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

BOX_COLOR = (255, 0, 64)  # RGB; saturated magenta-red is rare on desktops, so boxes stand out
LABEL_TEXT = (255, 255, 255)


def annotate(
    image_bgra: npt.NDArray[np.uint8], boxes: Sequence[tuple[int, tuple[int, int, int, int]]], quality: int = 80
) -> bytes:
    """JPEG of ``image_bgra`` with each (number, (x, y, w, h)) drawn as a rectangle and a numbered tag."""
    from io import BytesIO

    from PIL import Image, ImageDraw, ImageFont

    rgb = np.ascontiguousarray(image_bgra[:, :, 2::-1])
    img = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=12)
    for number, (x, y, w, h) in boxes:
        draw.rectangle((x, y, x + w - 1, y + h - 1), outline=BOX_COLOR, width=2)
        tag = str(number)
        left, top, right, bottom = draw.textbbox((0, 0), tag, font=font)
        tw, th = right - left + 4, bottom - top + 4
        ty = y - th if y - th >= 0 else y
        draw.rectangle((x, ty, x + tw, ty + th), fill=BOX_COLOR)
        draw.text((x + 2 - left, ty + 2 - top), tag, fill=LABEL_TEXT, font=font)
    out = BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()
