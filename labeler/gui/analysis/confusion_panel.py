"""The confusion panel: the confusion matrix of a split as a heat map and the per-class figures.

Clicking a confusion cell (or Return on it) opens the review queue of that pair ordered by loss;
choosing a class in the per-class table (double-click or Return) filters the queue to it. Neither
changes with decisions: both are counted when the split shown changes or another project (or
import) comes in, and only once the panel is seen.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, QObject, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPalette
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QHeaderView, QLineEdit, QSplitter, QVBoxLayout, QWidget

from labeler.core import stats
from labeler.core.queue import QueueSpec

from .. import theme
from .widgets import (
    DISPLAY,
    MUTED,
    RAW,
    KeyTable,
    SplitPanel,
    mix,
    muted,
    note_label,
    open_queue,
    palette,
    pct,
    set_color,
    split_box,
    table,
)

if TYPE_CHECKING:
    from . import Analysis

class ConfusionModel(QAbstractTableModel):
    """Rows: given label; columns: predicted label; a count per cell, coloured by count (errors red,
    correct blue)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.classes: list[str] = []
        self.matrix = np.zeros((0, 0), dtype=np.int64)
        self._max_off = self._max_diag = 1
        # names wider than a cell: columns are numbered and each row says its number, the legend
        self.numbered = False

    def set_matrix(self, classes: list[str], matrix: np.ndarray) -> None:
        self.beginResetModel()
        self.classes, self.matrix = list(classes), np.asarray(matrix)
        k = len(self.classes)
        # the largest count off the diagonal, without a K x K mask or copy (5,000 classes: 200 MB each)
        flat = self.matrix.ravel()
        nz = np.flatnonzero(flat)
        off = flat[nz[nz // k != nz % k]] if k else np.zeros(0, dtype=np.int64)
        self._max_off = int(off.max()) if off.size else 1
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
            if not self.numbered:
                return self.classes[section]
            if orientation == Qt.Orientation.Horizontal:
                return str(section + 1)
            return f"{section + 1}  {self.classes[section]}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return ("predicted " if orientation == Qt.Orientation.Horizontal else "given ") + self.classes[section]
        return None

    def _fill(self, i: int, j: int) -> tuple[QColor, float]:
        v = int(self.matrix[i, j])
        base = palette().color(QPalette.ColorRole.Base)
        if v == 0:
            return base, 0.0
        if i == j:
            t = 0.15 + 0.55 * v / self._max_diag
            return mix(base, theme.ACCENT, t), t
        t = 0.15 + 0.85 * v / self._max_off
        return mix(base, theme.WRONG, t), t

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
                return muted()
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
            return pct(v) if key == "error_rate" else f"{v:.3f}"
        if role == RAW:
            return v
        if role == Qt.ItemDataRole.TextAlignmentRole:
            side = Qt.AlignmentFlag.AlignLeft if key == "class" else Qt.AlignmentFlag.AlignRight
            return int(side | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and key == "class":
            return f"{v}\nDouble-click or Return: review the errors of given {v}"
        return None


class TopCellsModel(QAbstractTableModel):
    """The largest off-diagonal cells of the matrix, most first: with many classes the heat map is
    too big to read at a glance, this list is where to start."""

    COLUMNS = ["Given", "Predicted", "Count", "Of given"]

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.cells: list[tuple[str, str, int, float]] = []

    def set_cells(self, classes: list[str], matrix: np.ndarray, limit: int) -> None:
        self.beginResetModel()
        m = np.asarray(matrix)
        k = len(classes)
        cells: list[tuple[str, str, int, float]] = []
        if k:
            flat = m.ravel()
            nz = np.flatnonzero(flat)  # (at most one per example: cheap; no copy of the K x K matrix)
            nz = nz[nz // k != nz % k]  # off the diagonal
            idx = nz[np.lexsort((nz, -flat[nz]))][:limit]  # most first; ties in class order
            if idx.size:
                support = m.sum(axis=1)
                for code in idx.tolist():
                    i, j = divmod(code, k)
                    cells.append((classes[i], classes[j], int(flat[code]), float(flat[code] / support[i])))
        self.cells = cells
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.cells)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=DISPLAY):
        if orientation == Qt.Orientation.Horizontal and role == DISPLAY and 0 <= section < len(self.COLUMNS):
            return self.COLUMNS[section]
        return None

    def data(self, index, role=DISPLAY):
        if not index.isValid() or not 0 <= index.row() < len(self.cells):
            return None
        given, pred, count, share = self.cells[index.row()]
        col = index.column()
        if role == DISPLAY:
            return (given, pred, str(count), pct(share))[col]
        if role == RAW:
            return (given, pred, count, share)[col]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            side = Qt.AlignmentFlag.AlignLeft if col < 2 else Qt.AlignmentFlag.AlignRight
            return int(side | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"given {given}, predicted {pred}: {count}\nDouble-click or Return: review them by loss"
        return None


class FindBox(QLineEdit):
    """A search field that keeps Return (the window binds it to "next item")."""

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            return True
        return super().event(event)


TOP_CELLS = 30  # the largest confusions listed
TOP_CELLS_FROM = 20  # classes from which the list is shown (a small matrix is read at a glance)
HINT = "rows: given · columns: predicted · click or Return: review that pair by loss"
NUMBERED_HINT = ("rows: given · columns: predicted, numbered as the rows (a name is whole on hover)"
                 " · click or Return: review that pair by loss")
ROW_HEADER_MAX = 220  # the given labels' column: longer names are elided in the middle


class ConfusionPanel(SplitPanel):
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
        self.split_box = split_box(self.set_split)
        self.hint = hint = note_label()
        hint.setText(HINT)
        set_color(hint, MUTED)
        top.addWidget(self.split_box)
        top.addWidget(hint, 1)
        # many classes: find one by name (the matrix scrolls to its row and column)
        self.find = FindBox()
        self.find.setObjectName("findClass")
        self.find.setPlaceholderText("Find a class…")
        self.find.setClearButtonEnabled(True)
        self.find.setMaximumWidth(220)
        self.find.setToolTip("Type part of a class name: the matrix goes to the first class that holds it;"
                             " Return: the next one")
        self.find.textEdited.connect(lambda text: self.find_class(text))  # as you type
        self.find.returnPressed.connect(lambda: self.find_class(self.find.text(), after=self._found))
        self._found = -1
        top.addWidget(self.find)
        lay.addLayout(top)
        self.note = note_label()
        set_color(self.note, theme.CORRECTED)
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
        self._cell = cell
        self.view.verticalHeader().setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.verticalHeader().setMaximumWidth(ROW_HEADER_MAX)
        self.view.clicked.connect(self.open_pair)
        self.view.activated.connect(self.open_pair)

        self.class_model = PerClassModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.class_model)
        self.proxy.setSortRole(RAW)
        self.class_view = table(KeyTable())
        self.class_view.setObjectName("perClassView")
        self.class_view.setModel(self.proxy)
        self.class_view.setSortingEnabled(True)
        self.class_view.sortByColumn(3, Qt.SortOrder.DescendingOrder)  # worst error rate first
        # the class names take what the figures leave, elided in the middle (whole on hover)
        self.class_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.class_view.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.class_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.class_view.activated.connect(self.choose_class)

        self.top_model = TopCellsModel(self)
        self.top_view = table(KeyTable())
        self.top_view.setObjectName("topCellsView")
        self.top_view.setModel(self.top_model)
        self.top_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.top_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.top_view.activated.connect(self.open_top_cell)
        self.top_view.hide()

        self.splitter = splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.view)
        splitter.addWidget(self.top_view)
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
            self.top_model.set_cells([], np.zeros((0, 0), dtype=np.int64), TOP_CELLS)
            self.top_view.hide()
            return
        classes = s.project.classes
        matrix = stats.confusion(s.frame, classes, self.split)
        fm = QFontMetrics(self.view.horizontalHeader().font())
        self.model.numbered = any(fm.horizontalAdvance(c) > self._cell - 8 for c in classes)
        self.hint.setText(NUMBERED_HINT if self.model.numbered else HINT)
        self.model.set_matrix(classes, matrix)
        self.class_model.set_rows(stats.per_class(s.frame, classes, self.split, matrix=matrix))
        many = len(classes) >= TOP_CELLS_FROM
        self.top_model.set_cells(classes, matrix, TOP_CELLS)
        self.top_view.setVisible(many)
        self.note.hide()
        # the whole matrix if it fits in two thirds of the panel (half, beside the largest
        # confusions), the per-class table below
        v = self.view
        need = v.horizontalHeader().height() + len(classes) * v.verticalHeader().defaultSectionSize() + 2 * v.frameWidth() + 2
        total = max(self.splitter.height(), 400)
        if many:
            self.splitter.setSizes([min(need, total // 2), total // 4, total // 4])
        else:
            self.splitter.setSizes([min(need, 2 * total // 3), 0, max(total - need, total // 3)])

    def find_class(self, text: str, *, after: int = -1) -> bool:
        """Go to a class: its row and column of the matrix (its diagonal cell, centred) and its row
        of the per-class table. The class named ``text`` exactly, else the first whose name holds
        it (any case) after position ``after`` (Return: the next one, round to the start). False,
        with a note, when none does."""
        text = text.strip()
        classes = self.model.classes
        if not text or not classes:
            return False
        low = text.lower()
        k = len(classes)
        i = next((n for n, c in enumerate(classes) if c == text), None) if after < 0 else None
        if i is None:
            order = [(after + 1 + n) % k for n in range(k)]
            i = next((n for n in order if low in classes[n].lower()), None)
        if i is None:
            self.note.setText(f"No class is named like {text!r}.")
            self.note.show()
            return False
        self.note.hide()
        self._found = i
        cell = self.model.index(i, i)
        self.view.setCurrentIndex(cell)
        self.view.scrollTo(cell, QAbstractItemView.ScrollHint.PositionAtCenter)
        row = self.proxy.mapFromSource(self.class_model.index(i, 0))
        self.class_view.setCurrentIndex(row)
        self.class_view.scrollTo(row, QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def open_top_cell(self, index: QModelIndex) -> None:
        """A row of the largest confusions: the queue of that pair, by loss (as its matrix cell)."""
        if not index.isValid() or self.analysis.session is None:
            return
        given, pred = self.top_model.cells[index.row()][:2]
        self._open(QueueSpec(split=self.split, order="loss", scope="errors", label=given, pred=pred,
                             seed=self.analysis.session.spec.seed))

    def _open(self, spec: QueueSpec) -> None:
        s = self.analysis.session
        if s is not None and open_queue(s, spec, self.note):
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
