"""The side panel: what the reviewer needs to judge the item on screen, and where the session is.

It only shows what the review session returns: the given and predicted labels, the top-5
probabilities, loss and metadata, the current decision (corrected label, tags, error types, note)
and the progress and pace of the session.
"""

from __future__ import annotations

import html
import math

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from labeler.core.session import ReviewSession
from labeler.core.store import Decision

from . import theme

TAG_KEYS = [("M", "mislabeled"), ("A", "ambiguous"), ("H", "very hard"), ("E", "very easy")]


def _muted(widget: QWidget) -> QColor:
    return widget.palette().color(QPalette.ColorRole.PlaceholderText)


class ProbBars(QWidget):
    """The top-k probabilities as horizontal bars, best first; the given label is marked."""

    ROW = 22

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._rows: list[tuple[str, float, bool, bool]] = []  # class, p, is given, is the correction
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(5 * self.ROW)

    def set_rows(self, rows: list[tuple[str, float, bool, bool]]) -> None:
        if rows != self._rows:
            self._rows = rows
            self.setFixedHeight(max(1, len(rows)) * self.ROW)
            self.update()

    def rows(self) -> list[tuple[str, float, bool, bool]]:
        return list(self._rows)

    def sizeHint(self) -> QSize:
        return QSize(280, max(1, len(self._rows)) * self.ROW)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pal = self.palette()
        fm = QFontMetrics(self.font())
        name_w = min(max([fm.horizontalAdvance(r[0]) for r in self._rows] + [fm.horizontalAdvance("0")]) + 10, 110)
        pct_w = fm.horizontalAdvance("100.0%") + 6
        bar_x = name_w
        bar_w = max(10, self.width() - name_w - pct_w)
        if not self._rows:
            p.setPen(_muted(self))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "no probabilities")
        for i, (name, prob, given, corrected) in enumerate(self._rows):
            y = i * self.ROW
            track = QRectF(bar_x, y + 5, bar_w, self.ROW - 10)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(pal.color(QPalette.ColorRole.AlternateBase))
            p.drawRoundedRect(track, 3, 3)
            fill = QRectF(track)
            fill.setWidth(max(2.0, bar_w * min(max(prob, 0.0), 1.0)))
            color = theme.RIGHT if given else (theme.CORRECTED if corrected else theme.ACCENT)
            if i == 0 and not given:
                color = theme.WRONG
            p.setBrush(color)
            p.drawRoundedRect(fill, 3, 3)
            font = QFont(self.font())
            font.setBold(given or corrected)
            p.setFont(font)
            p.setPen(pal.color(QPalette.ColorRole.WindowText))
            elided = QFontMetrics(font).elidedText(name, Qt.TextElideMode.ElideRight, name_w - 8)
            p.drawText(QRectF(0, y, name_w - 6, self.ROW), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, elided)
            p.setFont(self.font())
            p.drawText(
                QRectF(bar_x + bar_w, y, pct_w, self.ROW),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{100 * prob:.1f}%",
            )
        p.end()


class KeyList(QWidget):
    """Rows of (key, name, on): the tags or error types and the keys that toggle them."""

    ROW = 24

    def __init__(self, columns: int = 1, parent: QWidget | None = None):
        super().__init__(parent)
        self._columns = columns
        self._rows: list[tuple[str, str, bool]] = []
        self._empty = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.ROW)

    def set_rows(self, rows: list[tuple[str, str, bool]], empty: str = "") -> None:
        if rows != self._rows or empty != self._empty:
            self._rows = rows
            self._empty = empty
            self.setFixedHeight(max(1, math.ceil(len(rows) / self._columns)) * self.ROW)
            self.update()

    def rows(self) -> list[tuple[str, str, bool]]:
        return list(self._rows)

    def sizeHint(self) -> QSize:
        return QSize(280, self.height())

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pal = self.palette()
        if not self._rows:
            p.setPen(_muted(self))
            p.drawText(self.rect().adjusted(2, 0, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self._empty)
        col_w = self.width() / self._columns
        bold = QFont(self.font())
        bold.setBold(True)
        for i, (key, name, on) in enumerate(self._rows):
            r, c = divmod(i, self._columns)
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
            text = QFontMetrics(p.font()).elidedText(name, Qt.TextElideMode.ElideRight, int(text_rect.width()))
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


def _heading(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setProperty("role", "heading")
    font = label.font()
    font.setBold(True)
    font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
    label.setFont(font)
    label.setContentsMargins(0, 8, 0, 0)
    return label


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

        self.position_label = QLabel("No project")
        font = self.position_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.position_label.setFont(font)
        self.queue_label = QLabel("")
        self.queue_label.setWordWrap(True)
        self.id_label = QLabel("")
        self.id_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.id_label.setWordWrap(True)
        lay.addWidget(self.position_label)
        lay.addWidget(self.queue_label)
        lay.addWidget(self.id_label)

        lay.addWidget(_heading("Labels"))
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        self.given_label, self.pred_label, self.loss_label, self.corrected_label = (QLabel() for _ in range(4))
        big = QFont(self.font())
        big.setPointSizeF(big.pointSizeF() * 1.25)
        big.setBold(True)
        for row, (name, widget) in enumerate(
            [("Given", self.given_label), ("Predicted", self.pred_label),
             ("Corrected", self.corrected_label), ("Loss", self.loss_label)]
        ):
            caption = QLabel(name)
            caption.setProperty("role", "caption")
            grid.addWidget(caption, row, 0)
            grid.addWidget(widget, row, 1)
            if row < 3:
                widget.setFont(big)
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
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        lay.addWidget(self.note_label)

        lay.addWidget(_heading("Metadata"))
        self.meta_label = QLabel()
        self.meta_label.setWordWrap(True)
        self.meta_label.setTextFormat(Qt.TextFormat.RichText)
        self.meta_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.meta_label)

        lay.addWidget(_heading("Progress"))
        self.reviewed_label = QLabel()
        self.progress = ProgressLine()
        self.pace_label = QLabel()
        self.pace_label.setWordWrap(True)
        lay.addWidget(self.reviewed_label)
        lay.addWidget(self.progress)
        lay.addWidget(self.pace_label)
        lay.addStretch(1)
        for w in body.findChildren(QWidget):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setWidget(body)
        self.setMinimumWidth(300)
        self.show_item(None)

    # -- what the session says ---------------------------------------------------------------
    def show_item(self, session: ReviewSession | None, error_types: list[str] | None = None) -> None:
        """Show the current item of ``session`` (labels, probabilities, metadata, decision)."""
        ex = session.example() if session is not None else None
        if ex is None:
            self.position_label.setText("Nothing to review" if session is not None else "No project open")
            self.id_label.setText("")
            self.queue_label.setText(session.spec.describe() if session is not None else "")
            for w in (self.given_label, self.pred_label, self.loss_label, self.corrected_label, self.meta_label):
                w.setText("—")
            self.bars.set_rows([])
            self.show_decision(None, None, error_types or [])
            return
        n = len(session.items)
        self.position_label.setText(f"Item {session.position + 1} of {n}")
        self.queue_label.setText(session.spec.describe())
        where = ex.get("path") or (ex.get("text") or "")[:60]
        self.id_label.setText(f"{ex['id']} · {ex['split']} · {where}")
        given, pred = ex.get("label"), ex.get("pred")
        self.given_label.setText(html.escape(given) if given is not None else "<i>unlabeled</i>")
        color = theme.WRONG if (given is not None and pred != given) else theme.RIGHT
        conf = ex.get("confidence")
        conf_txt = f"&nbsp;&nbsp;<span style='font-weight:normal'>{100 * conf:.1f}%</span>" if conf is not None else ""
        self.pred_label.setText(
            f"<span style='color:{color.name()}'>{html.escape(str(pred)) if pred is not None else '—'}</span>{conf_txt}"
        )
        loss = ex.get("loss")
        self.loss_label.setText("—" if loss is None else f"{loss:.3f}")
        classes = session.project.classes
        decision = session.decision(ex["id"])
        rows = []
        for cls_index, prob in ex.get("topk") or []:
            name = classes[cls_index] if isinstance(cls_index, int) and 0 <= cls_index < len(classes) else str(cls_index)
            rows.append((name, float(prob), name == given, name == decision.label))
        self.bars.set_rows(rows)
        self.meta_label.setText(_meta_html(ex.get("meta") or {}))
        self.show_decision(ex, decision, error_types if error_types is not None else session.project.error_types())

    def show_decision(self, ex: dict | None, decision: Decision | None, error_types: list[str]) -> None:
        d = decision or Decision()
        if ex is None:
            self.corrected_label.setText("—")
        elif d.label is not None:
            self.corrected_label.setText(f"<span style='color:{theme.CORRECTED.name()}'>{html.escape(d.label)}</span>")
        else:
            self.corrected_label.setText(
                f"<span style='font-weight:normal; font-size:small; color:{_muted(self).name()}'>none (P or L to correct)</span>"
            )
        self.tags.set_rows([(k, t, t in d.tags) for k, t in TAG_KEYS])
        named = [(str(i + 1), n, n in d.error_types) for i, n in enumerate(error_types[:9])]
        extra = sorted(set(d.error_types) - set(error_types[:9]))
        named += [("·", n, True) for n in extra]  # removed from the taxonomy, still on this decision
        self.error_types.set_rows(named, empty="none defined: Review ▸ Edit error types…")
        if d.note:
            self.note_label.setText(html.escape(d.note))
        else:
            self.note_label.setText(f"<span style='color:{_muted(self).name()}'>no note</span>")

    def show_progress(self, reviewed: int, total: int, pace: tuple[float | None, float | None]) -> None:
        pct = 100.0 * reviewed / total if total else 0.0
        self.reviewed_label.setText(f"Reviewed {reviewed} of {total} ({pct:.0f}%)")
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(reviewed)
        recent, overall = pace
        fmt = lambda v: "—" if v is None else f"{v:.1f}"
        self.pace_label.setText(f"Pace: {fmt(recent)}/min (last 20) · {fmt(overall)}/min (session)")


def _meta_html(meta: dict) -> str:
    if not meta:
        return "<span>—</span>"
    rows = []
    for k, v in list(meta.items())[:30]:
        text = html.escape(str(v))
        if len(text) > 200:
            text = text[:200] + "…"
        rows.append(f"<tr><td style='padding-right:8px'><b>{html.escape(str(k))}</b></td><td>{text}</td></tr>")
    more = f"<p>… {len(meta) - 30} more</p>" if len(meta) > 30 else ""
    return "<table cellspacing='0'>" + "".join(rows) + "</table>" + more
