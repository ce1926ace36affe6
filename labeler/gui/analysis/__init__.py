"""The analysis panels of the review window: the tally of error categories, the confusion matrix with
the per-class table, and the train/dev/test dashboard.

They show what :mod:`labeler.core.tally` and :mod:`labeler.core.stats` return. One :class:`Analysis`
follows the window's review session: each decision updates the core's :class:`LiveTally` (no recount
of the examples) and, at most every ``DEBOUNCE_MS``, the tally and the dashboard are redrawn. The
confusion matrix and the per-class table do not change with decisions: they are computed when the
split shown changes or another project (or import) comes in.

Clicking a confusion cell (or Return on it) opens the review queue of that pair ordered by loss;
choosing a class in the per-class table (double-click or Return) filters the queue to it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QRectF,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from labeler.core import stats
from labeler.core.queue import QueueRefused, QueueSpec
from labeler.core.session import ReviewSession, SessionEvent
from labeler.core.tally import LiveTally

from . import theme

DEBOUNCE_MS = 100
DISPLAY = Qt.ItemDataRole.DisplayRole
RAW = Qt.ItemDataRole.UserRole  # the number behind a cell: sorting, bars


def _pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}%"


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved a fraction ``t`` towards ``b``."""
    t = min(max(t, 0.0), 1.0)
    return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * t, a.greenF() + (b.greenF() - a.greenF()) * t,
                           a.blueF() + (b.blueF() - a.blueF()) * t)


def _palette() -> QPalette:
    return QApplication.palette()


def _muted() -> QColor:
    return _palette().color(QPalette.ColorRole.PlaceholderText)


class Analysis(QObject):
    """The live tally and dashboard of the window's review session, shared by the panels."""

    changed = Signal()  # the tally and dashboard figures changed (after decisions, debounced)
    frame_changed = Signal()  # another session: the examples (so the confusion matrix) changed

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.session: ReviewSession | None = None
        self.live: LiveTally | None = None
        self._tallies: dict[str, dict] = {}
        self._dashboard: dict | None = None
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self.refresh)

    def set_session(self, session: ReviewSession | None) -> None:
        if session is self.session:
            return
        self.session = session
        self.live = LiveTally(session.project, session.frame) if session is not None else None
        if session is not None:
            session.subscribe(lambda event, s=session: self._on_event(s, event))
        self.frame_changed.emit()
        self.refresh()

    def _on_event(self, session: ReviewSession, event: SessionEvent) -> None:
        if session is not self.session or event.kind != "decision" or event.change is None:
            return
        c = event.change
        self.live.apply(c.example_id, c.before, c.after, session.spec.to_json())
        if not self._timer.isActive():  # at most one redraw per interval, however fast the keys come
            self._timer.start()

    def _alive(self) -> bool:
        if self.session is not None and self.session.project.conn is None:  # the window closed it
            self.session, self.live = None, None
            self.frame_changed.emit()
        return self.session is not None

    def refresh(self) -> None:
        """Forget the figures and tell the panels; they ask again for what they show."""
        self._timer.stop()
        if self._alive():
            types = self.session.project.error_types()
            if types != self.live.error_types:  # edited or renamed: renames rewrite the decisions
                self.live.reload(self.session.project)
        self._tallies, self._dashboard = {}, None
        self.changed.emit()

    def tally(self, split: str = "dev") -> dict | None:
        if not self._alive():
            return None
        if split not in self._tallies:
            self._tallies[split] = self.live.tally(split)
        return self._tallies[split]

    def dashboard(self) -> dict | None:
        if not self._alive():
            return None
        if self._dashboard is None:
            self._dashboard = self.live.dashboard(self.tally("dev"))
        return self._dashboard

    def splits(self) -> list[str]:
        """The splits with examples, in train/dev/test order."""
        return list(self.live.index.split_counts) if self._alive() else []


# ---------------------------------------------------------------------------------------------
# widgets shared by the panels


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


def _split_box(on_change) -> QComboBox:
    box = QComboBox()
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    box.setToolTip("Split")
    box.currentTextChanged.connect(lambda text: on_change(text) if text else None)
    return box


def _fill_splits(box: QComboBox, splits: list[str], default: str) -> None:
    current = box.currentText() or default
    box.blockSignals(True)
    box.clear()
    box.addItems(splits)
    box.setCurrentText(current if current in splits else (default if default in splits else (splits or [""])[0]))
    box.blockSignals(False)


def _note_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


MUTED = "muted"


def _set_color(label: QLabel, color: QColor | str | None) -> None:
    """A label's text colour: a colour, MUTED (the theme's placeholder colour, following a theme
    switch) or None (the theme's text colour)."""
    sheet = ("color: palette(placeholder-text);" if color == MUTED
             else f"color: {color.name()};" if isinstance(color, QColor) else "")
    if label.styleSheet() != sheet:
        label.setStyleSheet(sheet)


def _table(view: QTableView) -> QTableView:
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


# ---------------------------------------------------------------------------------------------
# the tally


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
            return "" if none else _pct(c["share"])
        if col == 3:
            return "" if none else f"{100 * lo:.1f}–{_pct(hi)}"
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
            return _muted() if c["count"] == 0 else None
        if role == Qt.ItemDataRole.FontRole and col == 0 and c["kind"] == "builtin":
            font = QFont(QApplication.font())
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            kind = "built-in tag" if c["kind"] == "builtin" else "error type"
            if c["name"] == "untagged" and c["kind"] == "builtin":
                kind = "reviewed errors with no tag, no error type and no corrected label"
            return f"{c['name']}: {kind}; {c['count']} of {self._t['reviewed']} reviewed errors"
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
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(pal.color(QPalette.ColorRole.AlternateBase))
        painter.drawRoundedRect(track, 2, 2)
        if reviewed:
            x = lambda v: track.left() + track.width() * min(max(v / scale, 0.0), 1.0)
            if share > 0:
                painter.setBrush(theme.ACCENT)
                painter.drawRoundedRect(QRectF(track.left(), track.top(), max(2.0, x(share) - track.left()), track.height()), 2, 2)
            if hi > lo:
                painter.setPen(text_color)
                y = track.center().y()
                painter.drawLine(x(lo), y, x(hi), y)
                painter.drawLine(x(lo), y - 4, x(lo), y + 4)
                painter.drawLine(x(hi), y - 4, x(hi), y + 4)
            painter.setPen(text_color)
            painter.setFont(opt.font)
            painter.drawText(QRectF(track.right(), r.top(), text_w, r.height()),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, _pct(share))
        painter.restore()

    def sizeHint(self, option, index) -> QSize:
        return QSize(150, super().sizeHint(option, index).height())


class _SplitPanel(QWidget):
    """A panel with a split chooser (``split_box``) that shows ``split`` and redraws in ``refresh``."""

    def _fill(self) -> None:
        _fill_splits(self.split_box, self.analysis.splits(), "dev")
        self.split = self.split_box.currentText() or "dev"
        self.refresh()

    def set_split(self, split: str) -> None:
        if split != self.split:
            self.split = split
            if self.split_box.currentText() != split:
                self.split_box.setCurrentText(split)
            self.refresh()


class TallyPanel(_SplitPanel):
    """Why the model fails: the tally of error categories of one split, updated as the reviewer works."""

    def __init__(self, analysis: Analysis, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tallyPanel")
        self.analysis = analysis
        self.split = "dev"
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        top = QHBoxLayout()
        self.split_box = _split_box(self.set_split)
        self.head = _note_label()
        top.addWidget(self.split_box)
        top.addWidget(self.head, 1)
        lay.addLayout(top)
        self.note = _note_label()
        lay.addWidget(self.note)
        self.model = TallyModel(self)
        self.view = _table(KeyTable())
        self.view.setObjectName("tallyView")
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(TallyModel.SHARE, ShareBarDelegate(self.view))
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        h = self.view.horizontalHeader()
        h.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)  # fitted to the names in refresh()
        h.setSectionResizeMode(TallyModel.SHARE, QHeaderView.ResizeMode.Fixed)
        h.resizeSection(TallyModel.SHARE, 116)
        h.setMinimumSectionSize(40)
        lay.addWidget(self.view, 1)
        self.foot = _note_label()
        self.foot.setText("Ceiling: points of error rate that fixing the whole category could remove at most.")
        _set_color(self.foot, MUTED)
        lay.addWidget(self.foot)
        analysis.changed.connect(self.refresh)
        analysis.frame_changed.connect(self._fill)
        self._fill()

    def refresh(self) -> None:
        t = self.analysis.tally(self.split)
        names = [(c["kind"], c["name"]) for c in t["categories"]] if t else []
        self.model.set_tally(t)
        if names != getattr(self, "_names", None):  # another taxonomy: fit the names, up to a point
            self._names = names
            self.view.resizeColumnToContents(0)
            self.view.setColumnWidth(0, min(self.view.columnWidth(0), 190))
        if t is None:
            self.head.setText("No project open")
            self.note.setText("")
            return
        self.head.setText(f"{t['reviewed']} of {t['errors']} errors reviewed · error rate {_pct(t['error_rate'], 2)}")
        self.note.setText(t["note"])
        _set_color(self.note, theme.CORRECTED if t["reviewed"] and not t["random_sample"] else MUTED)


# ---------------------------------------------------------------------------------------------
# the confusion matrix and the per-class table


class ConfusionModel(QAbstractTableModel):
    """Rows: given label; columns: predicted label; a count per cell, coloured by count (errors red,
    correct blue)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.classes: list[str] = []
        self.matrix = np.zeros((0, 0), dtype=np.int64)
        self._max_off = self._max_diag = 1

    def set_matrix(self, classes: list[str], matrix: np.ndarray) -> None:
        self.beginResetModel()
        self.classes, self.matrix = list(classes), np.asarray(matrix)
        k = len(self.classes)
        off = self.matrix[~np.eye(k, dtype=bool)] if k else np.zeros(0)
        self._max_off = int(off.max()) if off.size and off.max() > 0 else 1
        self._max_diag = int(np.diag(self.matrix).max()) if k and np.diag(self.matrix).max() > 0 else 1
        self.endResetModel()

    def pair(self, index: QModelIndex) -> tuple[str, str]:
        return self.classes[index.row()], self.classes[index.column()]

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.classes)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.classes)

    def headerData(self, section, orientation, role=DISPLAY):
        if not 0 <= section < len(self.classes):
            return None
        if role == DISPLAY:
            return self.classes[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return ("predicted " if orientation == Qt.Orientation.Horizontal else "given ") + self.classes[section]
        return None

    def _fill(self, i: int, j: int) -> tuple[QColor, float]:
        v = int(self.matrix[i, j])
        base = _palette().color(QPalette.ColorRole.Base)
        if v == 0:
            return base, 0.0
        if i == j:
            t = 0.15 + 0.55 * v / self._max_diag
            return _mix(base, theme.ACCENT, t), t
        t = 0.15 + 0.85 * v / self._max_off
        return _mix(base, theme.WRONG, t), t

    def data(self, index, role=DISPLAY):
        if not index.isValid():
            return None
        i, j = index.row(), index.column()
        if not (0 <= i < len(self.classes) and 0 <= j < len(self.classes)):
            return None
        v = int(self.matrix[i, j])
        if role == DISPLAY:
            return str(v) if v else "·"
        if role == RAW:
            return v
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._fill(i, j)[0]
        if role == Qt.ItemDataRole.ForegroundRole:
            fill, t = self._fill(i, j)
            if v == 0:
                return _muted()
            return QColor("white") if fill.lightnessF() < 0.55 else QColor("#1d1d1f")
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            given, pred = self.classes[i], self.classes[j]
            support = int(self.matrix[i].sum())
            share = f" ({100 * v / support:.1f}% of given {given})" if support else ""
            what = "review them by loss: click or Return" if i != j else "correct; click to review them by loss"
            return f"given {given}, predicted {pred}: {v}{share}\n{what}"
        return None


class PerClassModel(QAbstractTableModel):
    """Support, errors, error rate, precision, recall and F1 per class (``stats.per_class``)."""

    COLUMNS = [("class", "Class"), ("support", "Support"), ("errors", "Errors"), ("error_rate", "Error rate"),
               ("precision", "Precision"), ("recall", "Recall"), ("f1", "F1")]

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.rows: list[dict] = []

    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=DISPLAY):
        if orientation == Qt.Orientation.Horizontal and role == DISPLAY and 0 <= section < len(self.COLUMNS):
            return self.COLUMNS[section][1]
        return None

    def data(self, index, role=DISPLAY):
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        key = self.COLUMNS[index.column()][0]
        v = self.rows[index.row()][key]
        if role == DISPLAY:
            if key in ("class", "support", "errors"):
                return str(v)
            return _pct(v) if key == "error_rate" else f"{v:.3f}"
        if role == RAW:
            return v
        if role == Qt.ItemDataRole.TextAlignmentRole:
            side = Qt.AlignmentFlag.AlignLeft if key == "class" else Qt.AlignmentFlag.AlignRight
            return int(side | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and key == "class":
            return f"Double-click or Return: review the errors of given {v}"
        return None


class ConfusionPanel(_SplitPanel):
    """The confusion matrix of a split as a heat map, and the per-class figures; both open queues."""

    queue_opened = Signal()

    def __init__(self, analysis: Analysis, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("confusionPanel")
        self.analysis = analysis
        self.split = "dev"
        self._shown: tuple | None = None  # (frame, split) the models show
        self._seen = True
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        top = QHBoxLayout()
        self.split_box = _split_box(self.set_split)
        hint = _note_label()
        hint.setText("rows: given · columns: predicted · click or Return: review that pair by loss")
        _set_color(hint, MUTED)
        top.addWidget(self.split_box)
        top.addWidget(hint, 1)
        lay.addLayout(top)
        self.note = _note_label()
        _set_color(self.note, theme.CORRECTED)
        self.note.hide()
        lay.addWidget(self.note)

        self.model = ConfusionModel(self)
        self.view = KeyTable()
        self.view.setObjectName("confusionView")
        self.view.setModel(self.model)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setWordWrap(False)
        cell = max(30, QFontMetrics(self.view.font()).horizontalAdvance("0000") + 6)
        for header in (self.view.horizontalHeader(), self.view.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
            header.setDefaultSectionSize(cell)
            header.setHighlightSections(True)
        self.view.horizontalHeader().setMinimumSectionSize(cell)
        self.view.clicked.connect(self.open_pair)
        self.view.activated.connect(self.open_pair)

        self.class_model = PerClassModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.class_model)
        self.proxy.setSortRole(RAW)
        self.class_view = _table(KeyTable())
        self.class_view.setObjectName("perClassView")
        self.class_view.setModel(self.proxy)
        self.class_view.setSortingEnabled(True)
        self.class_view.sortByColumn(3, Qt.SortOrder.DescendingOrder)  # worst error rate first
        self.class_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.class_view.activated.connect(self.choose_class)

        self.splitter = splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.view)
        splitter.addWidget(self.class_view)
        splitter.setChildrenCollapsible(False)
        lay.addWidget(splitter, 1)
        analysis.frame_changed.connect(self._fill)
        self._fill()

    def set_seen(self, seen: bool) -> None:
        """In a dock: whether its tab is the one shown (a tab behind another is not hidden)."""
        self._seen = seen
        if seen:
            self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        """Recount, only if the examples or the split changed (decisions change neither), and only
        once the panel is seen: on a million examples a split takes a few hundred milliseconds."""
        if not (self.isVisible() and self._seen):
            return
        s = self.analysis.session if self.analysis._alive() else None
        key = (id(s.frame), self.split) if s is not None else None
        if key == self._shown:
            return
        self._shown = key
        self._frame_ref = s.frame if s is not None else None  # keeps id(frame) from being reused
        if s is None:
            self.model.set_matrix([], np.zeros((0, 0), dtype=np.int64))
            self.class_model.set_rows([])
            return
        classes = s.project.classes
        matrix = stats.confusion(s.frame, classes, self.split)
        self.model.set_matrix(classes, matrix)
        self.class_model.set_rows(stats.per_class(s.frame, classes, self.split, matrix=matrix))
        self.note.hide()
        # the whole matrix if it fits in two thirds of the panel, the per-class table below
        v = self.view
        need = v.horizontalHeader().height() + len(classes) * v.verticalHeader().defaultSectionSize() + 2 * v.frameWidth() + 2
        total = max(self.splitter.height(), 400)
        self.splitter.setSizes([min(need, 2 * total // 3), max(total - need, total // 3)])

    def _open(self, spec: QueueSpec) -> None:
        s = self.analysis.session
        if s is None:
            return
        if spec == s.spec:
            self.queue_opened.emit()
            return
        try:
            s.set_queue(spec)
        except QueueRefused as e:
            self.note.setText(str(e))
            self.note.show()
            return
        self.note.hide()
        self.queue_opened.emit()

    def open_pair(self, index: QModelIndex) -> None:
        """The review queue of one cell: given → predicted, highest loss first."""
        if not index.isValid() or self.analysis.session is None:
            return
        given, pred = self.model.pair(index)
        scope = "errors" if given != pred else "all"  # a diagonal cell: its correct predictions
        self._open(QueueSpec(split=self.split, order="loss", scope=scope, label=given, pred=pred,
                             seed=self.analysis.session.spec.seed))

    def choose_class(self, index: QModelIndex) -> None:
        """Filter the queue to the errors of one given class (the order stays)."""
        s = self.analysis.session
        if not index.isValid() or s is None:
            return
        cls = self.class_model.rows[self.proxy.mapToSource(index).row()]["class"]
        scope = s.spec.scope if s.spec.scope != "flagged" else "errors"
        self._open(replace(s.spec, split=self.split, label=cls, pred=None, scope=scope, unreviewed=False))


# ---------------------------------------------------------------------------------------------
# the dashboard


class RateBars(QWidget):
    """Error rates with their 95% intervals as bars on one scale: (name, rate, lo, hi, colour, text)."""

    ROW = 26

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._rows: list[tuple[str, float, float, float, QColor, str]] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.ROW)

    def set_rows(self, rows: list[tuple[str, float, float, float, QColor, str]]) -> None:
        if rows != self._rows:
            self._rows = rows
            self.setFixedHeight(max(1, len(rows)) * self.ROW + 16)
            self.update()

    def rows(self) -> list[tuple[str, float, float, float, QColor, str]]:
        return list(self._rows)

    def sizeHint(self) -> QSize:
        return QSize(360, self.height())

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pal = self.palette()
        fm = QFontMetrics(self.font())
        if not self._rows:
            p.setPen(_muted())
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "no project open")
            p.end()
            return
        name_w = max(fm.horizontalAdvance(r[0]) for r in self._rows) + 10
        text_w = max(fm.horizontalAdvance(r[5]) for r in self._rows) + 10
        left, width = name_w, max(20, self.width() - name_w - text_w)
        top = max([r[3] for r in self._rows] + [0.01])
        scale = 10 ** np.floor(np.log10(top))
        top = float(np.ceil(top / scale) * scale)  # a round number at the right end
        x = lambda v: left + width * min(max(v / top, 0.0), 1.0)
        text = pal.color(QPalette.ColorRole.WindowText)
        for i, (name, rate, lo, hi, color, right) in enumerate(self._rows):
            y = i * self.ROW
            p.setPen(text)
            p.drawText(QRectF(0, y, name_w - 8, self.ROW), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            track = QRectF(left, y + 7, width, self.ROW - 14)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(pal.color(QPalette.ColorRole.AlternateBase))
            p.drawRoundedRect(track, 2, 2)
            p.setBrush(color)
            p.drawRoundedRect(QRectF(left, track.top(), max(2.0, x(rate) - left), track.height()), 2, 2)
            cy = track.center().y()
            if hi > lo:
                p.setPen(text)
                p.drawLine(x(lo), cy, x(hi), cy)
                p.drawLine(x(lo), cy - 5, x(lo), cy + 5)
                p.drawLine(x(hi), cy - 5, x(hi), cy + 5)
            p.setPen(text)
            p.drawText(QRectF(left + width + 8, y, text_w, self.ROW), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, right)
        # the scale under the bars
        y = len(self._rows) * self.ROW
        p.setPen(_muted())
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
        p.setFont(small)
        for v in (0.0, top / 2, top):
            p.drawText(QRectF(x(v) - 30, y, 60, 16), Qt.AlignmentFlag.AlignCenter, _pct(v, 0 if top >= 0.05 else 1))
        p.end()


class DashboardPanel(QWidget):
    """Train, dev and test error with intervals, the gaps, the diagnosis and the review's estimates."""

    def __init__(self, analysis: Analysis, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("dashboardPanel")
        self.analysis = analysis
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 10)
        lay.setSpacing(6)
        title = _note_label()
        title.setText("Error rate by split, with 95% intervals")
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        lay.addWidget(title)
        self.bars = RateBars()
        lay.addWidget(self.bars)
        self.gaps = _note_label()
        lay.addWidget(self.gaps)
        est = _note_label()
        est.setText("From the reviewed dev errors")
        est.setFont(font)
        lay.addWidget(est)
        self.corrected = _note_label()
        self.floor = _note_label()
        lay.addWidget(self.corrected)
        lay.addWidget(self.floor)
        diag = _note_label()
        diag.setText("Diagnosis")
        diag.setFont(font)
        lay.addWidget(diag)
        self.diagnosis = _note_label()
        self.diagnosis.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.diagnosis)
        self.warning = _note_label()
        _set_color(self.warning, theme.CORRECTED)
        lay.addWidget(self.warning)
        lay.addStretch(1)
        analysis.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        d = self.analysis.dashboard()
        if d is None:
            self.bars.set_rows([])
            for w in (self.gaps, self.corrected, self.floor, self.diagnosis, self.warning):
                w.setText("")
            return
        rows = []
        for s, v in d["splits"].items():
            lo, hi = v["ci95"]
            rows.append((s, v["error_rate"], lo, hi, theme.WRONG,
                         f"{_pct(v['error_rate'], 2)}  ({_pct(lo)} – {_pct(hi)})  {v['errors']:,} of {v['examples']:,}"))
        for key, name in (("dev_error_corrected", "dev, corrected"), ("error_floor", "floor")):
            e = d.get(key)
            if e:
                lo, hi = e["ci95"]
                rows.append((name, e["error_rate"], lo, hi, theme.CORRECTED,
                             f"{_pct(e['error_rate'], 2)}  ({_pct(lo)} – {_pct(hi)})"))
        self.bars.set_rows(rows)
        gaps = []
        for key, what in (("train_to_dev", "train → dev"), ("dev_to_test", "dev → test")):
            g = d["gaps"].get(key)
            if g is not None:
                gaps.append(f"{what}: {100 * g:+.2f} points")
        self.gaps.setText("Gaps: " + " · ".join(gaps) if gaps else "")
        t = self.analysis.tally("dev")
        c, f = d.get("dev_error_corrected"), d.get("error_floor")
        if c and f:
            self.corrected.setText(
                f"Dev error once the labels marked wrong are corrected: {_pct(c['error_rate'], 2)}"
                f" ({_pct(c['ci95'][0], 2)} – {_pct(c['ci95'][1], 2)}); {c['fixed']} of {c['reviewed']} reviewed"
                " errors had their label corrected to the prediction.")
            self.floor.setText(
                f"Rough floor on achievable error: {_pct(f['error_rate'], 2)}"
                f" ({_pct(f['ci95'][0], 2)} – {_pct(f['ci95'][1], 2)}): the share of errors tagged mislabeled,"
                f" ambiguous or very hard ({f['count']} of {f['reviewed']}) × the dev error rate.")
        elif t is not None and t["reviewed"]:
            self.corrected.setText("The reviewed dev errors are not a random sample (a queue ordered by loss or"
                                   " filtered): review in a random queue to estimate the corrected error and the floor.")
            self.floor.setText("")
        else:
            self.corrected.setText("Review a random sample of the dev errors to estimate the dev error with"
                                   " corrected labels and a floor on achievable error.")
            self.floor.setText("")
        self.diagnosis.setText(d["diagnosis"])
        self.warning.setText(d.get("dev_warning") or "")
        self.warning.setVisible(bool(d.get("dev_warning")))


# ---------------------------------------------------------------------------------------------
# in the window


class AnalysisPanels:
    """The three panels, docked in a window, following its review session."""

    def __init__(self, window):
        self.analysis = Analysis(window)
        self.tally = TallyPanel(self.analysis)
        self.confusion = ConfusionPanel(self.analysis)
        self.dashboard = DashboardPanel(self.analysis)
        first_time = window.settings.value("window/state") is None
        docks = [window.add_dock("Tally", self.tally), window.add_dock("Confusion matrix", self.confusion),
                 window.add_dock("Dashboard", self.dashboard)]
        if first_time:
            window.tabifyDockWidget(docks[0], docks[1])
            window.tabifyDockWidget(docks[1], docks[2])
            docks[0].raise_()
            window.resizeDocks([docks[0]], [540], Qt.Orientation.Horizontal)
        self.docks = docks
        docks[1].visibilityChanged.connect(self.confusion.set_seen)
        self.confusion.set_seen(not docks[1].isHidden() and not window.tabifiedDockWidgets(docks[1]))
        window.session_changed.connect(lambda: self.analysis.set_session(window.session))
        # back to the item after opening a queue, so the review keys (Return: next) act on it
        self.confusion.queue_opened.connect(lambda: window.item_view.image_view.setFocus())
        if window.session is not None:
            self.analysis.set_session(window.session)


def install(window) -> AnalysisPanels:
    """Dock the tally, confusion and dashboard panels in ``window`` (a MainWindow)."""
    return AnalysisPanels(window)
