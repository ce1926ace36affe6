"""The one horizontal bar of the window, and rows of them.

:func:`paint_bar` draws a value as a bar on a track, with its 95% interval as a whisker when it has
one: the tally's share column (a delegate, inside a table cell), the item panel's top-5 probabilities
and the dashboard's error rates all go through it. :class:`BarRows` is a widget of labelled bars with a
text to their right: the top-5 probabilities (:class:`labeler.gui.panels.ProbBars`) and the
dashboard's rates (:class:`labeler.gui.analysis.RateBars`) are two settings of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

TRACK = 12  # the height of a bar in a row of BarRows
RADIUS = 2.0


def paint_bar(p: QPainter, track: QRectF, value: float, scale: float, color: QColor | None, *,
              ci: tuple[float, float] | None = None, ink: QColor, base: QColor) -> None:
    """``value`` (0..``scale``) as a bar filling ``track``, the interval ``ci`` as a whisker in
    ``ink``; ``base`` is the track's colour. ``color`` None: the empty track only."""
    x = lambda v: track.left() + track.width() * min(max(v / scale, 0.0), 1.0)
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(base)
    p.drawRoundedRect(track, RADIUS, RADIUS)
    if color is not None and value > 0:
        p.setBrush(color)
        p.drawRoundedRect(QRectF(track.left(), track.top(), max(2.0, x(value) - track.left()), track.height()),
                          RADIUS, RADIUS)
    if color is not None and ci is not None and ci[1] > ci[0]:
        lo, hi = x(ci[0]), x(ci[1])
        y, tick = track.center().y(), track.height() / 2 - 1
        p.setPen(ink)
        p.drawLine(lo, y, hi, y)
        p.drawLine(lo, y - tick, lo, y + tick)
        p.drawLine(hi, y - tick, hi, y + tick)
    p.restore()


def round_up(top: float) -> float:
    """A round number at or above ``top`` (the right end of a scale)."""
    step = 10 ** np.floor(np.log10(top))
    return float(np.ceil(top / step) * step)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    color: QColor
    text: str = ""
    ci: tuple[float, float] | None = None
    bold: bool = False  # the label in bold


class BarRows(QWidget):
    """Labelled bars, one a row, each with a text to its right.

    Settings: ``ROW`` (row height), ``SCALE`` (the value at the right end; None: a round number
    covering every bar and interval, with the scale drawn under the bars), ``LABEL_MAX`` (labels
    elided to this width), ``TEXT_MIN`` (the text column is at least as wide as this text),
    ``TEXT_ALIGN``, ``EMPTY`` (said when there are no bars). ``mark``: a value drawn as a dashed
    line across all the bars (e.g. the rate the bars are compared with), or None."""

    ROW = 24
    SCALE: float | None = None
    LABEL_MAX: int | None = None
    TEXT_MIN = ""
    TEXT_ALIGN = Qt.AlignmentFlag.AlignLeft
    EMPTY = ""
    WIDTH = 300  # the width hint
    AXIS = 16  # the height of the scale under the bars (with SCALE None)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._bars: list[Bar] = []
        self.mark: float | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.ROW)

    def set_bars(self, bars: list[Bar]) -> None:
        if bars != self._bars:
            self._bars = list(bars)
            self.setFixedHeight(max(1, len(bars)) * self.ROW + (self.AXIS if self.SCALE is None and bars else 0))
            self.update()

    def bars(self) -> list[Bar]:
        return list(self._bars)

    def sizeHint(self) -> QSize:
        return QSize(self.WIDTH, self.height())

    def scale(self) -> float:
        if self.SCALE is not None:
            return self.SCALE
        return round_up(max([b.ci[1] if b.ci else b.value for b in self._bars] + [0.01]))

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        pal = self.palette()
        muted = pal.color(QPalette.ColorRole.PlaceholderText)
        if not self._bars:
            p.setPen(muted)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.EMPTY)
            p.end()
            return
        fm = QFontMetrics(self.font())
        bold = QFont(self.font())
        bold.setBold(True)
        label_w = max(QFontMetrics(bold if b.bold else self.font()).horizontalAdvance(b.label) for b in self._bars) + 10
        if self.LABEL_MAX is not None:
            label_w = min(label_w, self.LABEL_MAX)
        label_w = min(label_w, max(40, int(0.42 * self.width())))  # a narrow panel keeps its bars and figures
        text_w = max([fm.horizontalAdvance(b.text) for b in self._bars] + [fm.horizontalAdvance(self.TEXT_MIN)]) + 10
        left, width = label_w, max(20, self.width() - label_w - text_w)
        scale = self.scale()
        ink, base = pal.color(QPalette.ColorRole.WindowText), pal.color(QPalette.ColorRole.AlternateBase)
        for i, b in enumerate(self._bars):
            y = i * self.ROW
            font = bold if b.bold else self.font()
            p.setFont(font)
            p.setPen(ink)
            label = QFontMetrics(font).elidedText(b.label, Qt.TextElideMode.ElideMiddle, label_w - 8)
            p.drawText(QRectF(0, y, label_w - 8, self.ROW), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
            track = QRectF(left, y + (self.ROW - TRACK) / 2, width, TRACK)
            paint_bar(p, track, b.value, scale, b.color, ci=b.ci, ink=ink, base=base)
            p.setFont(self.font())
            p.setPen(ink)
            p.drawText(QRectF(left + width + 8, y, text_w - 8, self.ROW), self.TEXT_ALIGN | Qt.AlignmentFlag.AlignVCenter, b.text)
        if self.mark is not None:
            pen = QPen(ink)
            pen.setStyle(Qt.PenStyle.DashLine)
            p.setPen(pen)
            mx = left + width * min(max(self.mark / scale, 0.0), 1.0)
            p.drawLine(QPointF(mx, 0), QPointF(mx, len(self._bars) * self.ROW))
        if self.SCALE is None:  # the scale under the bars
            y = len(self._bars) * self.ROW
            x = lambda v: left + width * v / scale
            p.setPen(muted)
            small = QFont(self.font())
            small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
            p.setFont(small)
            for v in (0.0, scale / 2, scale):
                p.drawText(QRectF(x(v) - 30, y, 60, self.AXIS), Qt.AlignmentFlag.AlignCenter,
                           f"{100 * v:.{0 if scale >= 0.05 else 1}f}%")
        p.end()
