"""The side panel: what the reviewer needs to judge the item on screen, and where the session is.

It only shows what the review session returns: the given and predicted labels, the top-5
probabilities, loss and metadata, the current decision (corrected label, tags, error types, note)
and the progress and pace of the session.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from labeler.core.session import ReviewSession
from labeler.core.store import Decision

from . import theme
from .bars import Bar, BarRows
from .quality_view import QualityLabel

TAG_KEYS = [("M", "mislabeled"), ("A", "ambiguous"), ("H", "very hard"), ("E", "very easy")]


def _muted(widget: QWidget) -> QColor:
    return widget.palette().color(QPalette.ColorRole.PlaceholderText)


class ProbBars(BarRows):
    """The top-k probabilities as horizontal bars, best first; the given label is marked."""

    ROW = 22
    SCALE = 1.0
    LABEL_MAX = 150  # positive_sentiment whole; longer names are elided in the middle
    TEXT_MIN = "100.0%"
    TEXT_ALIGN = Qt.AlignmentFlag.AlignRight
    EMPTY = "no probabilities"
    WIDTH = 280

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._rows: list[tuple[str, float, bool, bool]] = []  # class, p, is given, is the correction
        self.setFixedHeight(5 * self.ROW)

    def set_rows(self, rows: list[tuple[str, float, bool, bool]]) -> None:
        if rows != self._rows:
            self._rows = rows
            bars = []
            for i, (name, prob, given, corrected) in enumerate(rows):
                color = theme.RIGHT if given else (theme.CORRECTED if corrected else theme.ACCENT)
                if i == 0 and not given:
                    color = theme.WRONG
                bars.append(Bar(name, min(max(prob, 0.0), 1.0), color, f"{100 * prob:.1f}%", bold=given or corrected))
            self.set_bars(bars)

    def rows(self) -> list[tuple[str, float, bool, bool]]:
        return list(self._rows)


class KeyList(QWidget):
    """Rows of (key, name, on): the tags or error types and the keys that toggle them. A click on a
    row says ``clicked(name)`` (error types past the ninth have no key: a click sets them). Names
    too long for the column are elided in the middle, whole in the row's tooltip."""

    ROW = 24
    clicked = Signal(str)

    def __init__(self, columns: int = 1, parent: QWidget | None = None):
        super().__init__(parent)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self._columns = columns
        self._rows: list[tuple[str, str, bool]] = []
        self._empty = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.ROW)

    def set_rows(self, rows: list[tuple[str, str, bool]], empty: str = "") -> None:
        if rows != self._rows or empty != self._empty:
            self._rows = rows
            self._empty = empty
            self._fit_height()
            self.update()

    def rows(self) -> list[tuple[str, str, bool]]:
        return list(self._rows)

    def sizeHint(self) -> QSize:
        return QSize(280, self.height())

    def row_at(self, x: float, y: float) -> int | None:
        cols = self.columns()
        r, c = int(y // self.ROW), int(x // (self.width() / cols))
        i = r * cols + c
        return i if 0 <= c < cols and 0 <= i < len(self._rows) else None

    COLUMN_MIN = 130  # narrower than this, the columns become one (names stay readable)

    def columns(self) -> int:
        return max(1, min(self._columns, self.width() // self.COLUMN_MIN)) if self.width() > 0 else self._columns

    def _fit_height(self) -> None:
        self.setFixedHeight(max(1, math.ceil(len(self._rows) / self.columns())) * self.ROW)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.height() != max(1, math.ceil(len(self._rows) / self.columns())) * self.ROW:
            self._fit_height()

    def mousePressEvent(self, event) -> None:
        i = self.row_at(event.position().x(), event.position().y())
        if i is not None and event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self._rows[i][1])

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            i = self.row_at(event.pos().x(), event.pos().y())
            if i is None:
                QToolTip.hideText()
            else:
                key, name, _ = self._rows[i]
                how = f"key {key}" if key.strip() and key != "·" else "click to set or clear"
                QToolTip.showText(event.globalPos(), f"{name}  ({how})", self)
            return True
        return super().event(event)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pal = self.palette()
        if not self._rows:
            p.setPen(_muted(self))
            p.drawText(self.rect().adjusted(2, 0, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self._empty)
        cols = self.columns()
        col_w = self.width() / cols
        bold = QFont(self.font())
        bold.setBold(True)
        for i, (key, name, on) in enumerate(self._rows):
            r, c = divmod(i, cols)
            cell = QRectF(c * col_w + 1, r * self.ROW + 2, col_w - 4, self.ROW - 4)
            if on:
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(pal.color(QPalette.ColorRole.Highlight))
                p.drawRoundedRect(cell, 4, 4)
            keybox = QRectF(cell.left() + 3, cell.top() + 2, 18, cell.height() - 4)
            p.setPen(pal.color(QPalette.ColorRole.HighlightedText) if on else pal.color(QPalette.ColorRole.Mid))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(keybox, 3, 3)
            p.setFont(bold)
            p.drawText(keybox, Qt.AlignmentFlag.AlignCenter, key)
            p.setFont(bold if on else self.font())
            p.setPen(pal.color(QPalette.ColorRole.HighlightedText) if on else pal.color(QPalette.ColorRole.WindowText))
            text_rect = QRectF(keybox.right() + 6, cell.top(), cell.right() - keybox.right() - 8, cell.height())
            text = QFontMetrics(p.font()).elidedText(name, Qt.TextElideMode.ElideMiddle, int(text_rect.width()))
            p.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
        p.end()


class ProgressLine(QWidget):
    """How much of the queue is reviewed, as a thin bar.

    Not a QProgressBar: its ``setValue`` repaints synchronously whenever the bar grows by a pixel,
    which cost ~5 ms on every key press; this one waits for the next paint like any widget.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._value, self._maximum = 0, 1
        self.setFixedHeight(8)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def setRange(self, minimum: int, maximum: int) -> None:
        if maximum != self._maximum:
            self._maximum = max(1, maximum)
            self.update()

    def setValue(self, value: int) -> None:
        if value != self._value:
            self._value = value
            self.update()

    def value(self) -> int:
        return self._value

    def maximum(self) -> int:
        return self._maximum

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pal = self.palette()
        track = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(pal.color(QPalette.ColorRole.Mid))
        p.setBrush(pal.color(QPalette.ColorRole.Base))
        p.drawRoundedRect(track, 3, 3)
        frac = min(max(self._value / self._maximum, 0.0), 1.0)
        if frac > 0:
            fill = QRectF(track)
            fill.setWidth(max(4.0, track.width() * frac))
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(pal.color(QPalette.ColorRole.Highlight))
            p.drawRoundedRect(fill, 3, 3)
        p.end()


class ElidedLabel(QLabel):
    """One line that fits its width: elided in the middle (``positive_…_sentiment``), the whole
    text in the tooltip; aligned left whatever the script (a Hebrew or Arabic name does not jump
    to the right edge). ``text()`` is the whole text."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignAbsolute | Qt.AlignmentFlag.AlignVCenter)

    def text(self) -> str:  # noqa: D102 (the whole text, not the elided one shown)
        return self._full

    def setText(self, text: str) -> None:  # noqa: N802
        self._full = text
        self._elide()
        if self.sizePolicy().horizontalPolicy() != QSizePolicy.Policy.Ignored:
            self.updateGeometry()  # (a label sized by its text; the others keep the panel's layout)

    def sizeHint(self) -> QSize:  # noqa: N802
        m = self.contentsMargins()
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + m.left() + m.right() + 2,
                     super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(self.fontMetrics().horizontalAdvance("x…x"), super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = self.contentsRect().width()
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle, width) if width > 0 else self._full
        if shown != super().text():
            super().setText(shown)
        self.setToolTip(self._full if shown != self._full else "")


def _breakable(text: str) -> str:
    """Long runs without spaces (file names, snake_case) get places to wrap: after _ / - . and
    every 24 characters, so a wrapping label shows them whole instead of cutting them off."""
    out, run = [], 0
    for ch in text:
        out.append(ch)
        run = 0 if ch.isspace() else run + 1
        if ch in "_/-." or run >= 24:
            out.append("\u200b")
            run = 0
    return "".join(out)


def _heading(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setProperty("role", "heading")
    font = label.font()
    font.setBold(True)
    font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
    label.setFont(font)
    label.setContentsMargins(0, 8, 0, 0)
    return label


def _label(parent_font: QFont, *, scale: float = 1.0, bold: bool = False, wrap: bool = False) -> QLabel:
    """A plain-text label. Plain text and a width that ignores the text keep a new item from
    re-laying out the whole panel: only the labels whose text changed repaint."""
    label = QLabel() if wrap else ElidedLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    font = QFont(parent_font)
    if scale != 1.0:
        font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(bold)
    label.setFont(font)
    label.setWordWrap(wrap)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(0)
    return label


_KEEP = object()


def _set(label: QLabel, text: str, color: QColor | None | object = _KEEP) -> None:
    """Set what changed only. ``color`` None means the theme's text colour."""
    if label.text() != text:
        label.setText(text)
    if color is _KEEP:
        return
    # Compare with the palette itself: a theme switch (style sheet repolish) may have reset it.
    if isinstance(color, QColor):
        if label.palette().color(QPalette.ColorRole.WindowText) != color:
            pal = QPalette()  # only the role set here overrides what the label inherits
            pal.setColor(QPalette.ColorRole.WindowText, color)
            label.setPalette(pal)
    elif label.testAttribute(Qt.WidgetAttribute.WA_SetPalette):
        label.setPalette(QPalette())


class ItemPanel(QScrollArea):
    """Everything about the current item except its pixels."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("itemPanel")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        body = QWidget()
        body.setObjectName("itemPanelBody")
        lay = QVBoxLayout(body)
        lay.setContentsMargins(12, 8, 12, 12)
        lay.setSpacing(4)
        base = self.font()

        self.position_label = _label(base, scale=1.35, bold=True)
        self.queue_label = _label(base, wrap=True)
        self.id_label = _label(base)
        self.id_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for w in (self.position_label, self.queue_label, self.id_label):
            lay.addWidget(w)

        lay.addWidget(_heading("Labels"))
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        self.given_label = _label(base, scale=1.25, bold=True)
        self.pred_label = _label(base, scale=1.25, bold=True)
        self.conf_label = _label(base)
        self.corrected_label = _label(base, scale=1.25, bold=True)
        self.loss_label = _label(base)
        pred_row = QHBoxLayout()
        pred_row.setSpacing(10)
        pred_row.addWidget(self.pred_label)
        pred_row.addWidget(self.conf_label, 1)
        self.pred_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.conf_label.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)  # the name elides first
        # In a label-quality queue P accepts cleanlab's suggested label, which need not be the prediction
        self.suggested_label = _label(base, scale=1.25, bold=True)
        rows = [("Given", self.given_label), ("Predicted", pred_row), ("Suggested", self.suggested_label),
                ("Corrected", self.corrected_label), ("Loss", self.loss_label)]
        for row, (name, item) in enumerate(rows):
            caption = QLabel(name)
            if name == "Corrected":
                caption.setToolTip("P accepts the prediction (the suggested label in a label-quality queue),"
                                   " L chooses a label")
            if name == "Suggested":
                caption.setToolTip("cleanlab's suggested label: what P accepts in this queue")
                self.suggested_caption = caption
            grid.addWidget(caption, row, 0)
            grid.addLayout(item, row, 1) if isinstance(item, QHBoxLayout) else grid.addWidget(item, row, 1)
        grid.setColumnStretch(1, 1)
        lay.addLayout(grid)

        lay.addWidget(_heading("Top-5 probabilities"))
        self.bars = ProbBars()
        lay.addWidget(self.bars)
        lay.addWidget(_heading("Tags"))
        self.tags = KeyList(columns=2)
        lay.addWidget(self.tags)
        lay.addWidget(_heading("Error types"))
        self.error_types = KeyList(columns=1)
        lay.addWidget(self.error_types)
        lay.addWidget(_heading("Note  (N)"))
        self.note_label = _label(base, wrap=True)
        lay.addWidget(self.note_label)
        lay.addWidget(_heading("Metadata"))
        self.meta_label = _label(base, wrap=True)
        self.meta_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.meta_label)
        lay.addWidget(_heading("Image quality"))
        self.quality_label = QualityLabel()
        lay.addWidget(self.quality_label)

        lay.addWidget(_heading("Progress"))
        self.reviewed_label = _label(base)
        self.progress = ProgressLine()
        self.pace_label = _label(base, wrap=True)
        lay.addWidget(self.reviewed_label)
        lay.addWidget(self.progress)
        lay.addWidget(self.pace_label)
        lay.addStretch(1)
        for w in body.findChildren(QWidget):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setWidget(body)
        self.setMinimumWidth(220)  # (a small window: the example keeps its share)
        self.show_item(None)

    # -- what the session says ---------------------------------------------------------------
    def show_item(self, session: ReviewSession | None, error_types: list[str] | None = None) -> None:
        """Show the current item of ``session`` (labels, probabilities, metadata, decision)."""
        text = None  # the theme's
        ex = session.example() if session is not None else None
        _set(self.queue_label, session.spec.describe() if session is not None else "")
        if ex is None:
            _set(self.position_label, "Nothing to review" if session is not None else "No project open")
            _set(self.id_label, "")
            for w in (self.given_label, self.pred_label, self.conf_label, self.loss_label, self.meta_label):
                _set(w, "—", text)
            self.suggested_caption.hide()
            self.suggested_label.hide()
            self.bars.set_rows([])
            self.quality_label.show_example(None, None)
            self.show_decision(None, None, error_types or [])
            return
        _set(self.position_label, f"Item {session.position + 1} of {len(session.items)}")
        where = ex.get("path") or (ex.get("text") or "")[:60]
        _set(self.id_label, f"{ex['id']} · {ex['split']} · {where}")
        self.id_label.setToolTip(str(where))
        given, pred = ex.get("label"), ex.get("pred")
        _set(self.given_label, given if given is not None else "unlabeled", text)
        _set(self.pred_label, str(pred) if pred is not None else "—",
             theme.WRONG if (given is not None and pred != given) else theme.RIGHT)
        suggested = session.suggested_label(ex["id"])
        differs = suggested is not None and session.spec.order == "quality" and suggested != pred
        self.suggested_caption.setVisible(differs)
        self.suggested_label.setVisible(differs)
        if differs:
            _set(self.suggested_label, f"{suggested}  (P)", theme.RIGHT)
        conf = ex.get("confidence")
        classes = session.project.classes
        topk = ex.get("topk") or []
        if topk and pred is not None:
            # the prediction's own probability: the file's prediction need not be the most probable
            conf = next((p for c, p in topk if 0 <= c < len(classes) and classes[c] == pred), None)
        _set(self.conf_label, f"{100 * conf:.1f}%" if conf is not None else "")
        loss = ex.get("loss")
        _set(self.loss_label, "—" if loss is None else f"{loss:.3f}")
        decision = session.decision(ex["id"])
        rows = []
        for cls_index, prob in ex.get("topk") or []:
            name = classes[cls_index] if isinstance(cls_index, int) and 0 <= cls_index < len(classes) else str(cls_index)
            rows.append((name, float(prob), name == given, name == decision.label))
        self.bars.set_rows(rows)
        _set(self.meta_label, _meta_text(ex.get("meta") or {}))
        self.quality_label.show_example(session.project, ex["id"] if ex.get("path") else None)
        self.show_decision(ex, decision, error_types if error_types is not None else session.project.error_types())

    def show_decision(self, ex: dict | None, decision: Decision | None, error_types: list[str]) -> None:
        d = decision or Decision()
        muted = _muted(self)
        if ex is not None and d.label is not None:
            _set(self.corrected_label, d.label, theme.CORRECTED)
        else:
            _set(self.corrected_label, "—", muted)
        self.tags.set_rows([(k, t, t in d.tags) for k, t in TAG_KEYS])
        # past the ninth: no key, a click sets them
        named = [(str(i + 1) if i < 9 else " ", n, n in d.error_types) for i, n in enumerate(error_types)]
        extra = sorted(set(d.error_types) - set(error_types))
        named += [("·", n, True) for n in extra]  # removed from the taxonomy, still on this decision
        self.error_types.set_rows(named, empty="none defined: Review ▸ Edit error types…")
        if d.note:
            _set(self.note_label, _breakable(d.note), None)
        else:
            _set(self.note_label, "no note", muted)

    def show_progress(self, reviewed: int, total: int, pace: tuple[float | None, float | None]) -> None:
        pct = 100.0 * reviewed / total if total else 0.0
        _set(self.reviewed_label, f"Reviewed {reviewed} of {total} ({pct:.0f}%)")
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(reviewed)
        recent, overall = pace
        fmt = lambda v: "—" if v is None else f"{v:.1f}"
        _set(self.pace_label, f"Pace: {fmt(recent)}/min (last 20) · {fmt(overall)}/min (session)")


def _meta_text(meta: dict) -> str:
    if not meta:
        return "—"
    lines = []
    for k, v in list(meta.items())[:30]:
        text = str(v)
        lines.append(_breakable(f"{k}: {text[:200] + '…' if len(text) > 200 else text}"))
    if len(meta) > 30:
        lines.append(f"… {len(meta) - 30} more")
    return "\n".join(lines)
