"""The slices panel: where the errors of a split concentrate (:mod:`labeler.core.quality.slices`),
as bars of error rate with their 95% intervals, the split's own rate marked; a click on a slice
opens the review queue of that slice's errors, highest loss first.

Slices do not change with decisions (an error is the model's), so they are computed when the
examples or the split change, and only once the panel is seen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QMenu, QScrollArea, QVBoxLayout, QWidget

from labeler.core.queue import QueueRefused, QueueSpec
from labeler.core.quality import slices as slicesmod

from .. import theme
from ..bars import Bar, BarRows
from .widgets import MUTED, fill_splits, mix, muted, note_label, set_color, split_box

if TYPE_CHECKING:
    from . import Analysis

SHOWN = 30  # slices listed, most significant first
SIGNIFICANT = 0.05  # q-value under which a slice's bar is drawn in the error colour


class SliceBars(BarRows):
    """One bar per slice: error rate and interval; ``clicked(name)`` on a click, and a context menu
    that also offers the slice as an error type (``offered(name)``)."""

    ROW = 24
    LABEL_MAX = 220
    TEXT_MIN = "n 1,000  lift 10.0  q 0.001"
    EMPTY = "no slices"
    WIDTH = 520
    clicked = Signal(str)
    offered = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setMouseTracking(True)

    def row_at(self, y: float) -> int | None:
        i = int(y // self.ROW)
        return i if 0 <= i < len(self.bars()) else None

    def mousePressEvent(self, event) -> None:
        i = self.row_at(event.position().y())
        if i is not None and event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.bars()[i].label)
        super().mousePressEvent(event)

    def contextMenuEvent(self, event) -> None:
        i = self.row_at(event.pos().y())
        if i is None:
            return
        name = self.bars()[i].label
        menu = QMenu(self)
        menu.addAction(f"Review the errors of {name}", lambda: self.clicked.emit(name))
        menu.addAction(f"Add “{name}” as an error type", lambda: self.offered.emit(name))
        menu.exec(event.globalPos())


class SlicesPanel(QWidget):
    """Error rate by slice (flags, property quartiles, classes, metadata) of one split."""

    queue_opened = Signal()
    error_type_offered = Signal(str)  # the window adds it to the taxonomy (and its key)

    def __init__(self, analysis: Analysis, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("slicesPanel")
        self.analysis = analysis
        self.split = "dev"
        self.report: slicesmod.SliceReport | None = None
        self._shown: tuple | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 10)
        top = QHBoxLayout()
        self.split_box = split_box(self.set_split)
        self.summary = note_label()
        top.addWidget(self.split_box)
        top.addWidget(self.summary, 1)
        lay.addLayout(top)
        hint = note_label()
        hint.setText("error rate with 95% interval; dashed: the split's rate; red: q < 0.05."
                     " Click a slice to review its errors; right-click to add it as an error type.")
        set_color(hint, MUTED)
        lay.addWidget(hint)
        self.note = note_label()
        set_color(self.note, theme.CORRECTED)
        self.note.hide()
        lay.addWidget(self.note)
        self.bars = SliceBars()
        self.bars.clicked.connect(self.open_slice)
        self.bars.offered.connect(self.error_type_offered)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        holder = QWidget()
        inner = QVBoxLayout(holder)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(self.bars)
        inner.addStretch(1)
        scroll.setWidget(holder)
        lay.addWidget(scroll, 1)
        analysis.frame_changed.connect(self.refresh)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()

    def set_split(self, split: str) -> None:
        self.split = split
        self.refresh()

    def refresh(self) -> None:
        if not self.isVisible():
            return
        s = self.analysis.session if self.analysis._alive() else None
        key = (id(s.frame), self.split) if s is not None else None
        if key == self._shown:
            return
        self._shown = key
        self._frame_ref = s.frame if s is not None else None
        if s is None:
            self.report = None
            self.bars.set_bars([])
            self.summary.setText("")
            return
        fill_splits(self.split_box, [x for x in ("dev", "train", "test") if x in self.analysis.splits()], "dev")
        self.split = self.split_box.currentText() or self.split
        self.report = slicesmod.compute(s.project, self.split, frame=s.frame)
        self.show_report(self.report)

    def show_report(self, report: slicesmod.SliceReport) -> None:
        scanned = (f"{report.scanned:,} scanned" if report.scanned else
                   "not scanned: `labeler scan` adds image-quality slices")
        self.summary.setText(f"{report.split}: {report.errors:,} errors in {report.n:,}"
                             f" ({100 * report.error_rate:.1f}%); {scanned}")
        quiet = mix(muted(), QColor(theme.ACCENT), 0.35)
        bars = []
        for sl in report.slices[:SHOWN]:
            lift = f"{sl.lift:.1f}" if sl.lift is not None else "-"
            bars.append(Bar(sl.slice, sl.error_rate, theme.WRONG if sl.q_value < SIGNIFICANT else quiet,
                            f"n {sl.n:,}  lift {lift}  q {sl.q_value:.2g}", ci=sl.ci95, bold=sl.kind == "flag"))
        self.bars.mark = report.error_rate  # the split's rate, dashed
        self.bars.set_bars(bars)
        self.bars.update()

    def open_slice(self, name: str) -> None:
        s = self.analysis.session
        if s is None:
            return
        spec = QueueSpec(split=self.split, order="loss", scope="slice", slice=name, seed=s.spec.seed,
                         allow_test=s.spec.allow_test)
        try:
            s.set_queue(spec)
        except QueueRefused as e:
            self.note.setText(str(e))
            self.note.show()
            return
        self.note.hide()
        self.queue_opened.emit()
