"""The tally panel: the error categories of one split, with their shares, intervals, projections and
ceilings, updated as the reviewer works."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from labeler.core.stats import plural

from .. import theme
from ..bars import paint_bar
from .widgets import DISPLAY, MUTED, RAW, KeyTable, SplitPanel, muted, note_label, pct, set_color, split_box, table

if TYPE_CHECKING:
    from . import Analysis

class TallyModel(QAbstractTableModel):
    """The categories of a tally (``labeler.core.tally.tally``), one per row, in its order."""

    COLUMNS = ["Category", "Count", "Share", "95% interval", "Projected", "Ceiling (pts)"]
    TIPS = [
        "Error types of the taxonomy, and the built-in tags (italic). One example can be in several.",
        "Reviewed errors in this category",
        "Share of the reviewed errors, with its 95% interval (Wilson, finite-population corrected)",
        "95% interval of the share",
        "Share × all errors of the split: how many errors of this category there are (95% interval)",
        "Share × error rate: how many points of error rate fixing the whole category could remove at most",
    ]
    SHARE = 2

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._t: dict | None = None
        self._rows: list[dict] = []
        self.scale = 1.0  # the share at the right end of the bars

    def set_tally(self, t: dict | None) -> None:
        rows = list(t["categories"]) if t else []
        same = [(r["kind"], r["name"]) for r in rows] == [(r["kind"], r["name"]) for r in self._rows]
        self._t = t
        self.scale = max([r["ci95"][1] for r in rows if t and t["reviewed"]] + [r["share"] for r in rows] + [0.05])
        if same and rows:
            self._rows = rows
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(self.COLUMNS) - 1))
        else:
            self.beginResetModel()
            self._rows = rows
            self.endResetModel()

    def category(self, row: int) -> dict:
        return self._rows[row]

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=DISPLAY):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.COLUMNS):
            if role == DISPLAY:
                return self.COLUMNS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return self.TIPS[section]
        return None

    def text(self, row: int, col: int) -> str:
        c, t = self._rows[row], self._t
        none = not t["reviewed"]
        lo, hi = c["ci95"]
        if col == 0:
            return c["name"]
        if col == 1:
            return str(c["count"])
        if col == 2:
            return "" if none else pct(c["share"])
        if col == 3:
            return "" if none else f"{100 * lo:.1f}–{pct(hi)}"
        if col == 4:
            if c["projected_errors"] is None:
                return ""
            plo, phi = c["projected_ci95"]
            if t["exact"]:
                return f"{c['projected_errors']:.0f}"
            return f"{c['projected_errors']:.1f} ({plo:.1f}–{phi:.1f})"
        if col == 5:
            if c["ceiling"] is None:
                return ""
            clo, chi = c["ceiling_ci95"]
            if t["exact"]:
                return f"{100 * c['ceiling']:.2f}"
            return f"{100 * c['ceiling']:.2f} ({100 * clo:.2f}–{100 * chi:.2f})"
        return ""

    def data(self, index, role=DISPLAY):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row, col = index.row(), index.column()
        c = self._rows[row]
        if role == DISPLAY:
            return self.text(row, col)
        if role == RAW:
            if col == self.SHARE:
                return (c["share"], c["ci95"][0], c["ci95"][1], self.scale, bool(self._t["reviewed"]))
            return [c["name"], c["count"], c["share"], c["ci95"][0], c["projected_errors"], c["ceiling"]][col]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col == 0:
                return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            return muted() if c["count"] == 0 else None
        if role == Qt.ItemDataRole.FontRole and col == 0 and c["kind"] == "builtin":
            font = QFont(QApplication.font())
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            kind = "built-in tag" if c["kind"] == "builtin" else "error type"
            if c["name"] == "untagged" and c["kind"] == "builtin":
                kind = "reviewed errors with no tag, no error type and no corrected label"
            return f"{c['name']}: {kind}; {c['count']} of {plural(self._t['reviewed'], 'reviewed error')}"
        return None


class ShareBarDelegate(QStyledItemDelegate):
    """The share as a bar, its 95% interval as a whisker, the percentage to the right."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        raw = index.data(RAW)
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter, opt.widget)
        if not raw:
            return
        share, lo, hi, scale, reviewed = raw
        pal = opt.palette
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        text_color = pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        if not selected and isinstance(index.data(Qt.ItemDataRole.ForegroundRole), QColor):
            text_color = index.data(Qt.ItemDataRole.ForegroundRole)
        fm = QFontMetrics(opt.font)
        text_w = fm.horizontalAdvance("100.0%") + 6
        r = QRectF(opt.rect).adjusted(4, 0, -4, 0)
        track = QRectF(r.left(), r.center().y() - 5, max(10.0, r.width() - text_w), 10)
        # nothing reviewed: the empty track
        paint_bar(painter, track, share, scale, theme.ACCENT if reviewed else None, ci=(lo, hi), ink=text_color,
                  base=pal.color(QPalette.ColorRole.AlternateBase))
        if reviewed:
            painter.save()
            painter.setPen(text_color)
            painter.setFont(opt.font)
            painter.drawText(QRectF(track.right(), r.top(), text_w, r.height()),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, pct(share))
            painter.restore()

    def sizeHint(self, option, index) -> QSize:
        return QSize(150, super().sizeHint(option, index).height())


class TallyPanel(SplitPanel):
    """Why the model fails: the tally of error categories of one split, updated as the reviewer works."""

    def __init__(self, analysis: Analysis, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tallyPanel")
        self.analysis = analysis
        self.split = "dev"
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        top = QHBoxLayout()
        self.split_box = split_box(self.set_split)
        self.head = note_label()
        top.addWidget(self.split_box)
        top.addWidget(self.head, 1)
        lay.addLayout(top)
        self.note = note_label()
        lay.addWidget(self.note)
        self.model = TallyModel(self)
        self.view = table(KeyTable())
        self.view.setObjectName("tallyView")
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(TallyModel.SHARE, ShareBarDelegate(self.view))
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        h = self.view.horizontalHeader()
        h.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # the names take what the figures leave, elided in the middle: no horizontal scroll bar
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        h.setSectionResizeMode(TallyModel.SHARE, QHeaderView.ResizeMode.Fixed)
        h.resizeSection(TallyModel.SHARE, 96)
        h.setMinimumSectionSize(40)
        lay.addWidget(self.view, 1)
        self.foot = note_label()
        self.foot.setText("Ceiling: points of error rate that fixing the whole category could remove at most.")
        set_color(self.foot, MUTED)
        lay.addWidget(self.foot)
        analysis.changed.connect(self.refresh)
        analysis.frame_changed.connect(self._fill)
        self._fill()

    def refresh(self) -> None:
        t = self.analysis.tally(self.split)
        self.model.set_tally(t)
        if t is None:
            self.head.setText("No project open")
            self.note.setText("")
            return
        self.head.setText(f"{t['reviewed']} of {plural(t['errors'], 'error')} reviewed · error rate {pct(t['error_rate'], 2)}")
        self.note.setText(t["note"])
        set_color(self.note, theme.CORRECTED if t["reviewed"] and not t["random_sample"] else MUTED)
