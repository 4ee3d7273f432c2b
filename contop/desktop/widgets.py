"""Small building blocks shared by the pages: cards, status chips, notes, editable string lists."""

from __future__ import annotations

import html
import unicodedata

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIntValidator, QWheelEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from contop.desktop.forms import validate_entries
from contop.desktop.style import CHIP_COLORS

NAME_LIMIT = 48
# Characters that change the direction of the text around them (LRM, RLM, ALM, embeddings, overrides, isolates).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
FIRST_STRONG_ISOLATE, POP_ISOLATE = "\u2068", "\u2069"


def shown_name(text: object, limit: int = NAME_LIMIT) -> str:
    """A name a phone or the server chose, as the app shows it: direction controls and control characters (new
    lines included) written out as ``\\u202e``, so they can neither turn the app's own text around nor hide, and
    cut to ``limit`` characters, so a long name cannot push a dialog's buttons off the screen."""
    shown = "".join(
        f"\\u{ord(c):04x}" if c in BIDI_CONTROLS or unicodedata.category(c) == "Cc" else c for c in str(text)
    )
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def in_sentence(text: object, limit: int = NAME_LIMIT) -> str:
    """``shown_name`` for a place inside the app's sentences. A name with right-to-left letters (Arabic, Hebrew) is
    isolated (U+2068 … U+2069): it keeps its own direction without reordering the words and numbers around it.
    Other names need no isolation once their direction controls are written out, and stay as typed."""
    shown = shown_name(text, limit)
    if any(unicodedata.bidirectional(c) in ("R", "AL") for c in shown):
        return f"{FIRST_STRONG_ISOLATE}{shown}{POP_ISOLATE}"
    return shown


def rich_safe(text: str) -> str:
    """Text for a Qt widget that guesses the format (QMessageBox.question, tool tips): always read as rich text
    (the first tag decides) and escaped, so tags in a name are shown as typed, never drawn or loaded."""
    return "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"


def plain(label: QLabel) -> QLabel:
    """Plain text only: a QLabel guesses rich text from a tag, and a name or a server message is not markup."""
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


class Chip(QLabel):
    """A rounded status label: ``set_state("ok" | "warn" | "bad" | "idle" | "info", text)``."""

    def __init__(self, text: str = "", kind: str = "idle", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        plain(self)
        self.kind = kind
        self.set_state(kind, text)
        # As wide as its text: a layout short of room must not cut "Connected" to "Connecte".
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def set_state(self, kind: str, text: str) -> None:
        self.kind = kind
        bg, fg = CHIP_COLORS.get(kind, CHIP_COLORS["idle"])
        self.setText(f"● {text}")
        self.setStyleSheet(
            f"background:{bg}; color:{fg}; border-radius:11px; padding:0 10px; font-size:9pt; font-weight:600;"
        )
        self.setFixedHeight(22)


def button(text: str, *, primary: bool = False, danger: bool = False) -> QPushButton:
    btn = QPushButton(text)
    btn.setCursor(Qt.CursorShape.PointingHandCursor)
    if primary:
        btn.setProperty("primary", True)
    if danger:
        btn.setProperty("danger", True)
    return btn


def muted(text: str = "", *, wrap: bool = True) -> QLabel:
    label = plain(QLabel(text))
    label.setObjectName("muted")
    label.setWordWrap(wrap)
    return label


def note(text: str = "") -> QLabel:
    label = plain(QLabel(text))
    label.setObjectName("note")
    label.setWordWrap(True)
    return label


def field_error() -> QLabel:
    label = plain(QLabel(""))
    label.setObjectName("fieldError")
    label.setWordWrap(True)
    label.hide()
    return label


def show_error(label: QLabel, text: str) -> None:
    label.setText(text)
    label.setVisible(bool(text))


class ComboBox(QComboBox):
    """A combo box that leaves the mouse wheel to the page unless the user clicked into it: scrolling a form
    must not change a value that the next save would write."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # not WheelFocus: the wheel alone never focuses it

    def wheelEvent(self, e: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(e)
        else:
            e.ignore()  # goes on to the parents: the scroll area scrolls


class NumberField(QLineEdit):
    """A whole-number field with a range and an optional unit (a spin box without the arrows).

    The validator lets half-typed text through (an empty field, "0" on the way to "3456", "99999" when the top is
    65535), so what it holds is checked again when it is used: ``value()`` is None unless the text is a number in
    range, and ``problem()`` says why. The field's border turns red while the text is unusable.
    """

    def __init__(self, low: int, high: int, value: int, suffix: str = "") -> None:
        super().__init__()
        self._validator = QIntValidator(low, high, self)
        self.setValidator(self._validator)
        self.suffix = suffix
        self.textChanged.connect(lambda _text: self._mark())
        self.setValue(value)
        if suffix:
            self.setToolTip(f"{low} to {high} {suffix}")

    def setRange(self, low: int, high: int) -> None:
        self._validator.setRange(low, high)
        self._mark()

    def setMaximum(self, high: int) -> None:
        self._validator.setTop(high)
        self._mark()

    def setValue(self, value: int) -> None:
        self.setText(str(value))

    def problem(self) -> str | None:
        """Why the text is not a usable value (empty, not a number, out of range), or None when it is."""
        return number_problem(self.text(), self._validator.bottom(), self._validator.top(), self.suffix)

    def value(self) -> int | None:
        """The number typed, or None when ``problem()`` has something to say: never a stand-in such as the
        minimum, which a save would store as if the user had chosen it."""
        return None if self.problem() else int(self.text().strip())

    def _mark(self) -> None:
        problem = self.problem()
        self.setStyleSheet("border-color: #b42323;" if problem else "")
        self.setAccessibleDescription(problem or "")


def number_problem(text: str, low: int, high: int, unit: str = "") -> str | None:
    """Why ``text`` is not a whole number from ``low`` to ``high``, or None."""
    span = f"a whole number from {low} to {high}" + (f" {unit}" if unit else "")
    text = text.strip()
    if not text:
        return f"empty: enter {span}"
    try:
        number = int(text)
    except ValueError:
        return f"not a number: enter {span}"
    if not low <= number <= high:
        return f"{number} is out of range: enter {span}"
    return None


class Card(QFrame):
    """White rounded panel with an optional title and subtitle; add content to ``body``."""

    def __init__(self, title: str = "", subtitle: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(20, 18, 20, 18)
        outer.setSpacing(10)
        self.header = QHBoxLayout()
        self.header.setSpacing(10)
        if title:
            heading = QVBoxLayout()
            heading.setSpacing(2)
            t = QLabel(title)
            t.setObjectName("cardTitle")
            heading.addWidget(t)
            if subtitle:
                heading.addWidget(muted(subtitle))
            self.header.addLayout(heading, 1)
            outer.addLayout(self.header)
        self.body = QVBoxLayout()
        self.body.setSpacing(10)
        outer.addLayout(self.body, 1)


class Page(QWidget):
    """A page of the main window: title, subtitle, then content in ``body``."""

    def __init__(self, title: str, subtitle: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("content")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 26, 32, 26)
        layout.setSpacing(18)
        t = QLabel(title)
        t.setObjectName("pageTitle")
        s = QLabel(subtitle)
        s.setObjectName("pageSubtitle")
        s.setWordWrap(True)
        head = QVBoxLayout()
        head.setSpacing(4)
        head.addWidget(t)
        head.addWidget(s)
        layout.addLayout(head)
        self.body = QVBoxLayout()
        self.body.setSpacing(16)
        layout.addLayout(self.body, 1)

    def scrolling_content(self, right_margin: int = 0) -> QVBoxLayout:
        """A layout in ``body`` that scrolls up and down when the window is too short for it (its minimum size, a
        large font, long status lines): squeezed by the layout instead, labels were cut or drawn over each other.
        ``right_margin`` leaves room for the scroll bar."""
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget()
        inner.setObjectName("content")
        content = QVBoxLayout(inner)
        content.setContentsMargins(0, 0, right_margin, 0)
        content.setSpacing(16)
        scroll.setWidget(inner)
        self.body.addWidget(scroll, 1)
        return content


class ListEditor(QWidget):
    """An editable list of strings (add, edit in place, remove) that reports whether its entries are valid."""

    changed = Signal()

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.list = QListWidget()
        self.list.setMinimumHeight(120)
        self.list.setMaximumHeight(170)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.itemChanged.connect(lambda _item: self._on_change())
        layout.addWidget(self.list)
        row = QHBoxLayout()
        row.setSpacing(6)
        self.input = QLineEdit()
        self.input.setPlaceholderText(placeholder)
        self.input.returnPressed.connect(self.add_from_input)
        add = button("Add")
        add.clicked.connect(self.add_from_input)
        self.remove_btn = button("Remove", danger=True)
        self.remove_btn.clicked.connect(self.remove_selected)
        row.addWidget(self.input, 1)
        row.addWidget(add)
        row.addWidget(self.remove_btn)
        layout.addLayout(row)
        self.error = field_error()
        layout.addWidget(self.error)

    def _item(self, text: str) -> QListWidgetItem:
        item = QListWidgetItem(text)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        return item

    def set_values(self, values: list[str]) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for value in values:
            self.list.addItem(self._item(value))
        self.list.blockSignals(False)
        show_error(self.error, "")

    def values(self) -> list[str]:
        return [self.list.item(i).text().strip() for i in range(self.list.count())]

    def add_from_input(self) -> None:
        text = self.input.text().strip()
        if not text:
            show_error(self.error, "type an entry first")
            return
        if text in self.values():
            show_error(self.error, f"already in the list: {text}")
            return
        self.list.addItem(self._item(text))
        self.input.clear()
        self._on_change()

    def remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self._on_change()

    def validate(self) -> str | None:
        problem = validate_entries(self.values())
        show_error(self.error, problem or "")
        return problem

    def _on_change(self) -> None:
        self.validate()
        self.changed.emit()
