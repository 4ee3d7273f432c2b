"""The app's look: one palette, one font, one stylesheet."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QApplication

ACCENT = "#4f62d8"
ACCENT_DARK = "#3e50c2"
INK = "#1d2330"
MUTED = "#6b7385"
LINE = "#e3e6ee"
BACKGROUND = "#f4f5f9"
SIDEBAR = "#1b2030"
TABLE_CELL_PADDING = 6  # pixels on each side of a table cell's content, widgets in cells included

CHIP_COLORS: dict[str, tuple[str, str]] = {
    "ok": ("#e3f5ea", "#1c7a45"),
    "warn": ("#fdf1dc", "#9a5b00"),
    "bad": ("#fde6e6", "#b42323"),
    "idle": ("#eceef3", "#596073"),
    "info": ("#e6eafc", "#3443a8"),
}

_FONT_CHOICES = ("Inter", "Segoe UI", "SF Pro Text", "Cantarell", "Noto Sans", "Ubuntu", "DejaVu Sans")
_MONO_CHOICES = ("JetBrains Mono", "Cascadia Mono", "SF Mono", "Noto Sans Mono", "DejaVu Sans Mono")


def _first_family(choices: tuple[str, ...]) -> str:
    families = set(QFontDatabase.families())
    return next((name for name in choices if name in families), choices[-1])


def mono_font(size: int = 10) -> QFont:
    font = QFont(_first_family(_MONO_CHOICES))
    font.setPointSize(size)
    return font


def _stylesheet(chevron: str, check: str) -> str:
    return _STYLESHEET.replace("@CHEVRON@", chevron).replace("@CHECK@", check)


_STYLESHEET = f"""
QWidget {{ color: {INK}; font-size: 10pt; }}
QMainWindow, #content {{ background: {BACKGROUND}; }}
#sidebar {{ background: {SIDEBAR}; }}
#brand {{ color: white; font-size: 15pt; font-weight: 600; padding: 4px 6px; }}
#brandSub {{ color: #8d95aa; font-size: 9pt; padding: 0 6px; }}
#navList {{ background: transparent; border: none; outline: none; }}
#navList::item {{ color: #c4c9d6; padding: 9px 12px; margin: 2px 0; border-radius: 8px; }}
#navList::item:hover {{ background: #262c3f; }}
#navList::item:selected {{ background: {ACCENT}; color: white; }}
#sidebarFoot {{ color: #8d95aa; font-size: 9pt; }}
#pageTitle {{ font-size: 17pt; font-weight: 600; }}
#pageSubtitle {{ color: {MUTED}; }}
#card {{ background: white; border: 1px solid {LINE}; border-radius: 12px; }}
#cardTitle {{ font-size: 11.5pt; font-weight: 600; }}
#muted, QLabel[muted="true"] {{ color: {MUTED}; }}
#fieldError {{ color: #b42323; font-size: 9pt; }}
#note {{ color: #8a5a00; background: #fdf5e4; border: 1px solid #f1dfb5; border-radius: 8px; padding: 8px 10px; }}
#banner {{ background: #fde6e6; border: 1px solid #f2c2c2; border-radius: 10px; }}
#bannerText {{ color: #8f1c1c; font-weight: 600; }}
#infoBanner {{ background: #e6eafc; border: 1px solid #c9d1f5; border-radius: 10px; }}
#urlField {{ background: {BACKGROUND}; border: 1px solid {LINE}; border-radius: 8px; padding: 6px 8px; color: {INK}; }}
QPushButton {{
  background: white; border: 1px solid #cfd4df; border-radius: 8px; padding: 6px 14px; color: {INK};
}}
QPushButton:hover {{ background: #f0f2f7; }}
QPushButton:disabled {{ color: #a7adbb; background: #f5f6f9; border-color: {LINE}; }}
QPushButton[primary="true"] {{ background: {ACCENT}; border-color: {ACCENT}; color: white; font-weight: 600; }}
QPushButton[primary="true"]:hover {{ background: {ACCENT_DARK}; }}
QPushButton[primary="true"]:disabled {{ background: #aab3e6; border-color: #aab3e6; color: #eef0fb; }}
QPushButton[danger="true"] {{ color: #b42323; border-color: #efc4c4; }}
QPushButton[danger="true"]:hover {{ background: #fdf0f0; }}
QPushButton[danger="true"]:disabled {{ color: #a7adbb; background: #f5f6f9; border-color: {LINE}; }}
QLineEdit, QPlainTextEdit, QSpinBox, QComboBox, QListWidget {{
  background: white; border: 1px solid #cfd4df; border-radius: 8px; padding: 5px 8px;
  selection-background-color: {ACCENT};
}}
QLineEdit:focus, QPlainTextEdit:focus, QSpinBox:focus, QComboBox:focus {{ border-color: {ACCENT}; }}
QLineEdit:disabled, QSpinBox:disabled, QPlainTextEdit:disabled {{ background: #f5f6f9; color: #9aa0ad; }}
QListWidget::item {{ padding: 4px 2px; }}
QListWidget::item:selected {{ background: #e6eafc; color: {INK}; }}
QTableWidget {{ background: white; border: none; gridline-color: transparent; }}
QTableWidget::item {{ padding: {TABLE_CELL_PADDING}px; border-bottom: 1px solid #eef0f4; }}
QHeaderView::section {{
  background: white; color: {MUTED}; border: none; border-bottom: 1px solid {LINE};
  padding: 8px 6px; font-weight: 600; font-size: 9pt;
}}
QScrollArea {{ border: none; background: transparent; }}
QComboBox::drop-down {{ border: none; width: 26px; }}
QComboBox::down-arrow {{ image: url(@CHEVRON@); width: 12px; height: 12px; }}
QComboBox QAbstractItemView {{ background: white; border: 1px solid {LINE}; selection-background-color: #e6eafc;
  selection-color: {INK}; outline: none; padding: 4px; }}
QCheckBox::indicator {{ width: 16px; height: 16px; border: 1px solid #b9bfcc; border-radius: 5px; background: white; }}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; image: url(@CHECK@); }}
QCheckBox::indicator:disabled {{ background: #eceef3; border-color: {LINE}; }}
QScrollBar:vertical {{ background: transparent; width: 10px; margin: 2px; }}
QScrollBar:horizontal {{ background: transparent; height: 10px; margin: 2px; }}
QScrollBar::handle {{ background: #c3c8d4; border-radius: 3px; min-height: 30px; min-width: 30px; }}
QScrollBar::handle:hover {{ background: #a9afbd; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: transparent; }}
QCheckBox {{ spacing: 8px; }}
QToolTip {{ background: {SIDEBAR}; color: white; border: none; padding: 4px 8px; }}
"""


def _draw_glyphs(folder: Path) -> tuple[str, str]:
    """Stylesheets take images only from files: draw the combo-box chevron and the check mark once."""
    chevron, check = folder / "chevron.png", folder / "check.png"
    for path, color, points in (
        (chevron, MUTED, ((3.0, 6.0), (8.0, 11.0), (13.0, 6.0))),
        (check, "#ffffff", ((3.5, 8.5), (6.5, 11.5), (12.5, 4.5))),
    ):
        pix = QPixmap(32, 32)
        pix.fill(Qt.GlobalColor.transparent)
        p = QPainter(pix)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.scale(2, 2)
        p.setPen(QPen(QColor(color), 2.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        p.drawPolyline([QPointF(x, y) for x, y in points])
        p.end()
        pix.save(str(path), "PNG")
    return chevron.as_posix(), check.as_posix()


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")
    font = QFont(_first_family(_FONT_CHOICES))
    font.setPointSize(10)
    app.setFont(font)
    if not _glyph_dir:
        folder = tempfile.mkdtemp(prefix="contop-desktop-")
        atexit.register(shutil.rmtree, folder, True)
        _glyph_dir.append(Path(folder))
    app.setStyleSheet(_stylesheet(*_draw_glyphs(_glyph_dir[0])))


_glyph_dir: list[Path] = []  # one private folder per process, removed at exit


def app_icon(size: int = 64) -> QIcon:
    """A rounded accent square with a phone-shaped cut-out: drawn, so no image file ships."""
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(ACCENT))
    p.drawRoundedRect(QRectF(0, 0, size, size), size * 0.24, size * 0.24)
    p.setBrush(QColor("white"))
    w, h = size * 0.36, size * 0.58
    p.drawRoundedRect(QRectF((size - w) / 2, (size - h) / 2, w, h), size * 0.07, size * 0.07)
    p.setBrush(QColor(ACCENT))
    p.drawEllipse(QRectF(size / 2 - size * 0.04, (size + h) / 2 - size * 0.12, size * 0.08, size * 0.08))
    p.end()
    return QIcon(pix)
