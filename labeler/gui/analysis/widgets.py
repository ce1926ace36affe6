"""What the analysis panels share: the table that keeps the review keys, the split chooser, note
labels, colours and the model roles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPalette
from PySide6.QtWidgets import QAbstractItemView, QApplication, QComboBox, QLabel, QSizePolicy, QTableView, QWidget

from labeler.core.dashboard import pct

if TYPE_CHECKING:
    from . import Analysis

__all__ = ["DISPLAY", "MUTED", "RAW", "KeyTable", "SplitPanel", "fill_splits", "mix", "muted", "note_label",
           "palette", "pct", "set_color", "split_box", "table"]

DISPLAY = Qt.ItemDataRole.DisplayRole
RAW = Qt.ItemDataRole.UserRole  # the number behind a cell: sorting, bars


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved a fraction ``t`` towards ``b``."""
    t = min(max(t, 0.0), 1.0)
    return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * t, a.greenF() + (b.greenF() - a.greenF()) * t,
                           a.blueF() + (b.blueF() - a.blueF()) * t)


def palette() -> QPalette:
    return QApplication.palette()


def muted() -> QColor:
    return palette().color(QPalette.ColorRole.PlaceholderText)


class KeyTable(QTableView):
    """A table that keeps Return and the arrow keys while it has the focus: the window binds them to
    review keys (Return: next item), which would otherwise win."""

    KEYS = {Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_Left,
            Qt.Key.Key_Right, Qt.Key.Key_Home, Qt.Key.Key_End, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown}

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in self.KEYS:
            mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
            if mods == Qt.KeyboardModifier.NoModifier:
                event.accept()
                return True
        return super().event(event)


def split_box(on_change) -> QComboBox:
    box = QComboBox()
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    box.setToolTip("Split")
    box.currentTextChanged.connect(lambda text: on_change(text) if text else None)
    return box


def fill_splits(box: QComboBox, splits: list[str], default: str) -> None:
    current = box.currentText() or default
    box.blockSignals(True)
    box.clear()
    box.addItems(splits)
    box.setCurrentText(current if current in splits else (default if default in splits else (splits or [""])[0]))
    box.blockSignals(False)


def note_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


MUTED = "muted"


def set_color(label: QLabel, color: QColor | str | None) -> None:
    """A label's text colour: a colour, MUTED (the theme's placeholder colour, following a theme
    switch) or None (the theme's text colour)."""
    sheet = ("color: palette(placeholder-text);" if color == MUTED
             else f"color: {color.name()};" if isinstance(color, QColor) else "")
    if label.styleSheet() != sheet:
        label.setStyleSheet(sheet)


def table(view: QTableView) -> QTableView:
    view.setAlternatingRowColors(False)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(QFontMetrics(view.font()).height() + 8)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.horizontalHeader().setHighlightSections(False)
    return view


class SplitPanel(QWidget):
    """A panel with a split chooser (``split_box``) that shows ``split`` and redraws in ``refresh``."""

    analysis: Analysis
    split: str
    split_box: QComboBox

    def _fill(self) -> None:
        fill_splits(self.split_box, self.analysis.splits(), "dev")
        self.split = self.split_box.currentText() or "dev"
        self.refresh()

    def set_split(self, split: str) -> None:
        if split != self.split:
            self.split = split
            if self.split_box.currentText() != split:
                self.split_box.setCurrentText(split)
            self.refresh()

    def refresh(self) -> None:
        raise NotImplementedError


def open_queue(session, spec, note: QLabel) -> bool:
    """A panel's click that opens a review queue: the session takes ``spec`` (True), or ``note`` says
    why it is refused (the test split without --allow-test)."""
    from labeler.core.queue import QueueRefused

    if spec != session.spec:
        try:
            session.set_queue(spec)
        except QueueRefused as e:
            note.setText(str(e))
            note.show()
            return False
    note.hide()
    return True
