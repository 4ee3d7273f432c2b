"""Text on screen with RapidOCR (ONNX Runtime, bundled models): words and their boxes, cached per image content.

The engine loads once per process (about a second) and runs single-threaded: on a shared desktop its thread pool
would fight the user's applications. Recognition is blocking; callers run it in a worker thread.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from contop.core.errors import NotAvailableError

CACHE_SIZE = 16
MIN_SCORE = 0.5
DET_MAX_SIDE = 1280  # detection input is shrunk to this longest side; screen text stays readable at this size


@dataclass(frozen=True, slots=True)
class OcrWord:
    """A line of text and its box (x, y, width, height) in the pixels of the image that was read."""

    text: str
    box: tuple[int, int, int, int]
    score: float


class OcrEngine:
    def __init__(self) -> None:
        self._engine: Any = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[bytes, list[OcrWord]] = OrderedDict()

    def _load(self) -> Any:
        if self._engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:
                raise NotAvailableError(
                    "OCR needs rapidocr_onnxruntime: pip install 'contop[ocr]' (make run installs it)"
                ) from exc
            self._engine = RapidOCR(
                det_limit_type="max",
                det_limit_side_len=DET_MAX_SIDE,
                intra_op_num_threads=1,
                inter_op_num_threads=1,
            )
        return self._engine

    def recognize(self, image: npt.NDArray[np.uint8]) -> list[OcrWord]:
        """Text lines of a BGR or BGRA image, top to bottom; cached by the pixels' hash."""
        bgr = np.ascontiguousarray(image[:, :, :3])
        key = hashlib.blake2b(bgr.data, digest_size=16).digest() + bytes(str(bgr.shape), "ascii")
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            result, _elapsed = self._load()(bgr, use_cls=False)
            words = []
            for points, text, score in result or []:
                if float(score) < MIN_SCORE or not str(text).strip():
                    continue
                xs = [p[0] for p in points]
                ys = [p[1] for p in points]
                x0, y0 = int(min(xs)), int(min(ys))
                words.append(
                    OcrWord(str(text).strip(), (x0, y0, int(max(xs)) - x0 + 1, int(max(ys)) - y0 + 1), float(score))
                )
            words.sort(key=lambda w: (w.box[1], w.box[0]))
            self._cache[key] = words
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
            return words


_engine = OcrEngine()


def recognize(image: npt.NDArray[np.uint8]) -> list[OcrWord]:
    """Process-wide engine (the model is loaded once)."""
    return _engine.recognize(image)
