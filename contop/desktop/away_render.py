"""Pictures of the Away Mode lock screen, drawn with Pillow: a static background and the changing centre panel.

No X here: the overlay puts these images on its windows. The background is drawn once per monitor size; the
panel (clock, title, PIN dots, message) is redrawn only when what it shows changes.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

TEXT = (241, 245, 249)
MUTED = (148, 163, 184)
ACCENT = (59, 130, 246)
ERROR = (248, 113, 113)
WARNING = (251, 191, 36)
TOP = np.array([15, 23, 42], dtype=np.float32)  # slate
BOTTOM = np.array([2, 6, 23], dtype=np.float32)
GLOW = np.array([30, 58, 138], dtype=np.float32)

TITLE = "This computer is locked"
SUBTITLE = "Contop Away Mode"
FOOTER = "Unlock with your PIN, your emergency PIN, or from your paired phone"

_FONT_FILES = {
    "light": ("DejaVu Sans:extralight", "/usr/share/fonts/truetype/dejavu/DejaVuSans-ExtraLight.ttf"),
    "regular": ("DejaVu Sans", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    "bold": ("DejaVu Sans:bold", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
}


@dataclass(frozen=True)
class LockView:
    """What the panel shows; equal views give equal pictures, so the overlay redraws only on a change."""

    clock: str  # "21:04"
    date: str  # "Saturday 21 November"
    digits: int = 0
    message: str = ""
    tone: Literal["info", "error", "warning"] = "info"


def view_at(
    now: datetime, digits: int = 0, message: str = "", tone: Literal["info", "error", "warning"] = "info"
) -> LockView:
    return LockView(
        now.strftime("%H:%M"), f"{now.strftime('%A')} {now.day} {now.strftime('%B')}", digits, message, tone
    )


@functools.cache
def _font_path(style: str) -> str | None:
    pattern, fallback = _FONT_FILES[style]
    if shutil.which("fc-match"):
        try:
            out = subprocess.run(
                ["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True, timeout=5, check=False
            ).stdout.strip()
            if out:
                return out
        except (OSError, subprocess.SubprocessError):
            pass
    return fallback


@functools.cache
def font(style: str, size: int) -> Font:
    path = _font_path(style)
    if path:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass
    return ImageFont.load_default(size)


class LockRenderer:
    """Draws the lock screen for one monitor of ``width`` x ``height`` pixels."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self._background: Image.Image | None = None

    def _px(self, value: float) -> int:
        return max(1, round(value * min(self.width / 1920, self.height / 1080)))

    @property
    def panel_box(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the region ``panel`` redraws."""
        w = min(self.width, self._px(1100))
        top = round(self.height * 0.12)
        bottom = round(self.height * 0.80)
        return ((self.width - w) // 2, top, w, bottom - top)

    def background(self) -> Image.Image:
        if self._background is None:
            self._background = self._draw_background()
        return self._background

    def _draw_background(self) -> Image.Image:
        # A vertical gradient with a soft glow behind the panel, computed small and scaled up (smooth, cheap).
        sw, sh = max(2, self.width // 8), max(2, self.height // 8)
        ys = np.linspace(0.0, 1.0, sh, dtype=np.float32)[:, None, None]
        base = TOP * (1 - ys) + BOTTOM * ys
        yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
        dx = (xx - sw / 2) / (sw * 0.45)
        dy = (yy - sh * 0.42) / (sh * 0.45)
        glow = np.clip(1.0 - np.sqrt(dx * dx + dy * dy), 0.0, 1.0)[:, :, None] ** 2 * 0.55
        pixels = base * (1 - glow) + GLOW * glow
        small = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
        image = small.resize((self.width, self.height), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(image)
        draw.text(
            (self.width // 2, self.height - self._px(60)),
            FOOTER,
            font=font("regular", self._px(20)),
            fill=MUTED,
            anchor="mm",
        )
        return image

    def panel(self, view: LockView) -> Image.Image:
        x0, y0, w, h = self.panel_box
        image = self.background().crop((x0, y0, x0 + w, y0 + h))
        draw = ImageDraw.Draw(image)
        cx = w // 2

        def y(fraction_of_screen: float) -> int:
            return round(self.height * fraction_of_screen) - y0

        draw.text((cx, y(0.21)), view.clock, font=font("light", self._px(150)), fill=TEXT, anchor="mm")
        draw.text((cx, y(0.305)), view.date, font=font("regular", self._px(30)), fill=MUTED, anchor="mm")
        self._lock_icon(image, cx, y(0.43))
        draw.text((cx, y(0.515)), TITLE, font=font("bold", self._px(44)), fill=TEXT, anchor="mm")
        draw.text((cx, y(0.56)), SUBTITLE, font=font("regular", self._px(26)), fill=ACCENT, anchor="mm")
        self._dots(draw, cx, y(0.635), view.digits)
        if view.message:
            colour = {"info": MUTED, "error": ERROR, "warning": WARNING}[view.tone]
            draw.text((cx, y(0.70)), view.message, font=font("regular", self._px(24)), fill=colour, anchor="mm")
        return image

    def _lock_icon(self, image: Image.Image, cx: int, cy: int) -> None:
        # Drawn 4x larger and scaled down: Pillow's arcs and rounded corners are not antialiased.
        k = 4
        size = self._px(110) * k
        icon = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        draw = ImageDraw.Draw(icon)
        c = size // 2
        bw, bh = self._px(66) * k, self._px(52) * k
        stroke = self._px(9) * k
        shackle = self._px(42) * k
        body_top = c - bh // 2 + self._px(14) * k
        arc_top = body_top - self._px(40) * k
        draw.arc((c - shackle // 2, arc_top, c + shackle // 2, arc_top + shackle), 180, 360, fill=TEXT, width=stroke)
        for sx in (c - shackle // 2, c + shackle // 2 - stroke):
            draw.rectangle((sx, arc_top + shackle // 2 - k, sx + stroke, body_top + k), fill=TEXT)
        draw.rounded_rectangle(
            (c - bw // 2, body_top, c + bw // 2, body_top + bh), radius=self._px(12) * k, fill=ACCENT
        )
        hole = (15, 23, 42, 255)
        r = self._px(7) * k
        hy = body_top + bh // 2 - self._px(4) * k
        draw.ellipse((c - r, hy - r, c + r, hy + r), fill=hole)
        draw.rectangle((c - self._px(3) * k, hy, c + self._px(3) * k, hy + self._px(14) * k), fill=hole)
        small = icon.resize((size // k, size // k), Image.Resampling.LANCZOS)
        image.paste(small, (cx - small.width // 2, cy - small.height // 2), small)

    def _dots(self, draw: ImageDraw.ImageDraw, cx: int, cy: int, digits: int) -> None:
        if digits == 0:
            draw.text(
                (cx, cy), "Type your PIN, then press Enter", font=font("regular", self._px(24)), fill=MUTED, anchor="mm"
            )
            return
        r = self._px(10)
        gap = self._px(38)
        x = cx - (digits - 1) * gap // 2
        for _ in range(digits):
            draw.ellipse((x - r, cy - r, x + r, cy + r), fill=TEXT)
            x += gap
