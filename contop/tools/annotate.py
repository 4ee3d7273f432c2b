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
    import cv2

    from contop.platform.capture import encode_jpeg

    img = np.ascontiguousarray(image_bgra).copy()
    color = (*BOX_COLOR[::-1], 255)  # BGRA
    white = (*LABEL_TEXT[::-1], 255)
    for number, (x, y, w, h) in boxes:
        cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), color, 2)
        tag = str(number)
        (tw, th), base = cv2.getTextSize(tag, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        tw, th = tw + 4, th + base + 4
        ty = y - th if y - th >= 0 else y
        cv2.rectangle(img, (x, ty), (x + tw, ty + th), color, -1)
        cv2.putText(img, tag, (x + 2, ty + th - base - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.4, white, 1, cv2.LINE_AA)
    return encode_jpeg(img, quality)
