"""The grid: thumbnails of the current queue, to look at and decide on many examples at once.

A QListView in icon mode over :class:`QueueModel`, a thin adapter of the session's queue. Thumbnails
are decoded on worker threads (an :class:`ImagePrefetcher` of their own, with a cache); the delegate
paints what is decoded (or "…" and asks for it) with the given and predicted labels and the marks of
the decision. Selection is the list view's own (Shift+arrows, Ctrl+A, click, Shift/Ctrl+click). The
window hands the selected ids to the session, which writes them in one transaction, one undo step.
"""

from __future__ import annotations

import os
from collections import OrderedDict

from PySide6.QtCore import QAbstractListModel, QModelIndex, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from labeler.core.images import Decoded
from labeler.core.session import ReviewSession

from . import theme
from .prefetch import ImagePrefetcher

THUMB = 144  # the thumbnail's box, in logical pixels
TEXT_ROWS = 2  # lines of labels under a thumbnail
PAD = 6
TAG_LETTERS = {"mislabeled": "M", "ambiguous": "A", "very hard": "H", "very easy": "E"}
ID_ROLE = Qt.ItemDataRole.UserRole + 1


class QueueModel(QAbstractListModel):
    """The session's queue as rows: the id (display), a tooltip; the delegate asks the rest."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.session: ReviewSession | None = None
        self.items: list[str] = []
        self._given: list[str | None] = []
        self._pred: list[str | None] = []
        self._row: dict[str, int] = {}
        self._paths: dict[str, str | None] = {}

    def set_session(self, session: ReviewSession | None) -> None:
        self.beginResetModel()
        self.session = session
        self.items = list(session.items) if session is not None else []
        self._row = {eid: i for i, eid in enumerate(self.items)}
        self._paths = {}
        if session is not None and self.items:
            rows = [session.row_of(eid) for eid in self.items]
            labels = session.frame["label"].tolist()
            preds = session.frame["pred"].tolist()
            self._given = [labels[r] if r is not None else None for r in rows]
            self._pred = [preds[r] if r is not None else None for r in rows]
        else:
            self._given, self._pred = [], []
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 (Qt's name)
        return 0 if parent.isValid() else len(self.items)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self.items):
            return None
        if self.session is None or self.session.project.conn is None:
            return None
        eid = self.items[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, ID_ROLE):
            return eid
        if role == Qt.ItemDataRole.ToolTipRole:
            given, pred = self.labels(index.row())
            return f"{eid}\ngiven: {given}\npredicted: {pred}\n{self.path(index.row()) or ''}".strip()
        return None

    def set_given(self, eid: str, label: str | None) -> None:
        """A new label under one thumbnail (labeling): that cell is redrawn, nothing is read again."""
        row = self._row.get(eid)
        if row is not None:
            self._given[row] = label
            index = self.index(row, 0)
            self.dataChanged.emit(index, index)

    def labels(self, row: int) -> tuple[str, str]:
        g, p = self._given[row], self._pred[row]
        return ("unlabeled" if g is None else str(g)), ("—" if p is None else str(p))

    def path(self, row: int) -> str | None:
        eid = self.items[row]
        if eid not in self._paths:
            s = self.session
            p = s.project.resolve(s.path_of(eid)) if s is not None else None
            self._paths[eid] = os.fspath(p) if p is not None else None
        return self._paths[eid]

    def row_of(self, eid: str) -> int | None:
        return self._row.get(eid)


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints one cell: the thumbnail (or the text's first lines), given → predicted, the marks."""

    def __init__(self, grid: "GridView"):
        super().__init__(grid)
        self.grid = grid

    def sizeHint(self, option, index) -> QSize:  # noqa: N802
        return self.grid.cell_size()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        model: QueueModel = self.grid.model_
        row = index.row()
        session = model.session
        if session is None or session.project.conn is None or row >= len(model.items):
            return  # (a project closed under the grid: nothing to draw from)
        eid = model.items[row]
        pal = option.palette
        r = option.rect.adjusted(2, 2, -2, -2)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.save()
        if selected:
            painter.fillRect(r, pal.color(QPalette.ColorRole.Highlight))
        thumb = self.grid.thumb
        box = QRect(r.x() + (r.width() - thumb) // 2, r.y() + PAD, thumb, thumb)
        painter.fillRect(box, QColor(24, 24, 24))
        path = model.path(row)
        if path is None:
            text = (session.example(eid, topk=False) or {}).get("text") or ""
            painter.setPen(QColor(230, 230, 230))
            painter.drawText(box.adjusted(6, 6, -6, -6), Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignTop, text[:240])
        else:
            pix = self.grid.pixmap(path)
            if isinstance(pix, QPixmap):
                # fitted to the box: a small image is scaled up without blurring, as in the single view
                size = pix.deviceIndependentSize().toSize().scaled(thumb, thumb, Qt.AspectRatioMode.KeepAspectRatio)
                painter.drawPixmap(QRect(box.x() + (thumb - size.width()) // 2, box.y() + (thumb - size.height()) // 2,
                                         size.width(), size.height()), pix)
            else:
                painter.setPen(QColor(190, 190, 190))
                painter.drawText(box.adjusted(4, 4, -4, -4), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                                 pix if isinstance(pix, str) else "…")
        # the decision's marks, on the thumbnail's top edge
        d = session.decision(eid)
        marks = [TAG_LETTERS[t] for t in sorted(d.tags) if t in TAG_LETTERS]
        names = self.grid.error_types
        marks += [str(names.index(e) + 1) if names.index(e) < 9 else e[:3] for e in sorted(d.error_types) if e in names]
        fm = QFontMetrics(option.font)
        x = box.x() + 3
        for m in (["✓"] if d.reviewed else []) + marks:
            w = fm.horizontalAdvance(m) + 8
            chip = QRect(x, box.y() + 3, w, fm.height() + 2)
            painter.fillRect(chip, theme.RIGHT if m == "✓" else theme.ACCENT)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, m)
            x += w + 2
        # given -> predicted (corrected), elided in the middle to the cell's width
        given, pred = model.labels(row)
        text_color = pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        line = QRect(r.x() + 4, box.bottom() + 4, r.width() - 8, fm.height())
        painter.setPen(text_color)
        painter.drawText(line, Qt.AlignmentFlag.AlignHCenter,
                         fm.elidedText(f"{given} → {pred}", Qt.TextElideMode.ElideMiddle, line.width()))
        line2 = line.translated(0, fm.height())
        if d.label is not None:
            painter.setPen(theme.CORRECTED)
            painter.drawText(line2, Qt.AlignmentFlag.AlignHCenter,
                             fm.elidedText(f"corrected: {d.label}", Qt.TextElideMode.ElideMiddle, line2.width()))
        else:
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(line2, Qt.AlignmentFlag.AlignHCenter,
                             fm.elidedText(eid, Qt.TextElideMode.ElideMiddle, line2.width()))
        if option.state & QStyle.StateFlag.State_HasFocus:
            painter.setPen(pal.color(QPalette.ColorRole.Highlight).lighter(130) if selected else theme.ACCENT)
            painter.drawRect(r.adjusted(0, 0, -1, -1))
        painter.restore()


class GridView(QListView):
    """Thumbnails of the queue. ``opened(row)``: Return or a double click on an item."""

    opened = Signal(int)
    current_moved = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("grid")
        self.thumb = THUMB
        self.error_types: list[str] = []
        self.model_ = QueueModel(self)
        self.setModel(self.model_)
        self.setItemDelegate(ThumbnailDelegate(self))
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSpacing(2)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.prefetcher = ImagePrefetcher(self, max_items=4096, max_bytes=256 * 1024 * 1024,
                                          threads=max(1, min(3, (os.cpu_count() or 2) - 1)))
        self.prefetcher.ready.connect(self._on_ready)
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()  # path -> thumbnail, made on this thread
        self._repaint = QTimer(self, singleShot=True, interval=30)  # thumbnails arriving: one repaint
        self._repaint.timeout.connect(self.viewport().update)
        self.doubleClicked.connect(lambda index: self.opened.emit(index.row()))
        self.selectionModel().currentChanged.connect(self._current_changed)

    # -- content ---------------------------------------------------------------------------------
    def set_session(self, session: ReviewSession | None, error_types: list[str] | None = None) -> None:
        self.error_types = list(error_types or [])
        if session is None or session.items != self.model_.items or session is not self.model_.session:
            self.model_.set_session(session)
        if session is not None and session.items:
            self.select_row(session.position)

    def select_row(self, row: int) -> None:
        index = self.model_.index(row, 0)
        self.setCurrentIndex(index)  # (selects it alone)
        self.scrollTo(index)

    def selected_ids(self) -> list[str]:
        """The selected examples in queue order; the current one when none is selected."""
        rows = sorted(i.row() for i in self.selectionModel().selectedIndexes())
        if not rows and self.currentIndex().isValid():
            rows = [self.currentIndex().row()]
        return [self.model_.items[r] for r in rows]

    def cell_size(self) -> QSize:
        fm = QFontMetrics(self.font())
        return QSize(self.thumb + 2 * PAD + 12, self.thumb + 2 * PAD + TEXT_ROWS * fm.height() + 6)

    def set_thumb(self, size: int) -> None:
        """Zoom: thumbnails of another size (decoded again at it)."""
        size = max(64, min(512, size))
        if size != self.thumb:
            self.thumb = size
            self._pixmaps.clear()
            self.scheduleDelayedItemsLayout()
            self.viewport().update()

    # -- thumbnails ------------------------------------------------------------------------------
    def _decode_box(self) -> tuple[int, int]:
        px = round(self.thumb * self.devicePixelRatioF())
        return px, px

    def pixmap(self, path: str) -> QPixmap | str | None:
        """The thumbnail of ``path``; else the reason it has none; else None (asked for, decoding)."""
        pix = self._pixmaps.get(path)
        if pix is not None:
            return pix
        hit = self.prefetcher.get(path, self._decode_box())
        if hit is None:
            self.prefetcher.request(path, self._decode_box())
            return None
        if isinstance(hit, Decoded):
            return hit.reason or "cannot show"
        assert isinstance(hit, QImage)
        pix = QPixmap.fromImage(hit)
        pix.setDevicePixelRatio(self.devicePixelRatioF())
        self._pixmaps[path] = pix
        if len(self._pixmaps) > 3000:
            self._pixmaps.popitem(last=False)
        return pix

    def _on_ready(self, _path: str) -> None:
        if not self._repaint.isActive():
            self._repaint.start()

    # -- keys ------------------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.opened.emit(self.currentIndex().row())
            return
        super().keyPressEvent(event)

    def _current_changed(self, current, _previous) -> None:
        if current.isValid():
            self.current_moved.emit(current.row())

    def shutdown(self) -> None:
        self.prefetcher.shutdown()
