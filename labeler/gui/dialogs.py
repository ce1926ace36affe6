"""The small dialogs of the review window: the label picker (L), the note editor (N), the error-type
editor and the about box. Each returns what the user chose; the window passes it to the session."""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtGui import QFont, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

import labeler

ORIGINAL = Qt.ItemDataRole.UserRole  # the error type's name when the dialog opened (None: added)


class ClassListModel(QAbstractListModel):
    """The project's classes, filtered by what the user typed: exact match first, then names that
    start with it, then names that contain it (case-insensitive)."""

    def __init__(self, classes: list[str], *, given: str | None = None, pred: str | None = None, parent=None):
        super().__init__(parent)
        self._classes = list(classes)
        self._lower = [c.casefold() for c in self._classes]
        self._given, self._pred = given, pred
        self._shown = list(range(len(self._classes)))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._shown)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._shown):
            return None
        name = self._classes[self._shown[index.row()]]
        if role == Qt.ItemDataRole.DisplayRole:
            hints = [h for h, c in (("given", self._given), ("predicted", self._pred)) if c == name]
            return f"{name}    ({', '.join(hints)})" if hints else name
        if role in (Qt.ItemDataRole.UserRole, Qt.ItemDataRole.EditRole):
            return name
        if role == Qt.ItemDataRole.ToolTipRole:
            return name
        if role == Qt.ItemDataRole.FontRole and name in (self._given, self._pred):
            font = QFont()
            font.setBold(True)
            return font
        return None

    def set_filter(self, text: str) -> None:
        t = text.strip().casefold()
        self.beginResetModel()
        if not t:
            self._shown = list(range(len(self._classes)))
        else:
            exact = [i for i, c in enumerate(self._lower) if c == t]
            prefix = [i for i, c in enumerate(self._lower) if c.startswith(t) and c != t]
            inner = [i for i, c in enumerate(self._lower) if t in c and not c.startswith(t)]
            self._shown = exact + prefix + inner
        self.endResetModel()

    def row_of(self, name: str | None) -> int:
        for row, i in enumerate(self._shown):
            if self._classes[i] == name:
                return row
        return -1

    def name_at(self, row: int) -> str | None:
        return self._classes[self._shown[row]] if 0 <= row < len(self._shown) else None


class LabelPicker(QDialog):
    """L: type to filter the classes, Up/Down to move, Return to choose, Esc to cancel."""

    def __init__(self, classes: list[str], *, current: str | None = None, given: str | None = None,
                 pred: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Choose the correct label")
        self.setObjectName("labelPicker")
        self.model = ClassListModel(classes, given=given, pred=pred, parent=self)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Type to filter; Return chooses, Esc cancels")
        self.filter.setClearButtonEnabled(True)
        self.list = QListView()
        self.list.setModel(self.model)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.setUniformItemSizes(True)
        self.list.setSpacing(2)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.list.doubleClicked.connect(lambda _i: self.accept())
        hint = QLabel(f"given: <b>{given}</b> &nbsp; predicted: <b>{pred}</b>" if given is not None else "")
        lay = QVBoxLayout(self)
        lay.addWidget(self.filter)
        lay.addWidget(self.list)
        lay.addWidget(hint)
        self.filter.textChanged.connect(self._filtered)
        self.filter.returnPressed.connect(self.accept)
        self.filter.installEventFilter(self)
        self._select(self.model.row_of(current if current is not None else pred))
        row_h = self.list.sizeHintForRow(0) + 4 if classes else 24
        self.resize(380, min(480, 110 + row_h * max(len(classes), 5)))

    def chosen(self) -> str | None:
        return self.model.name_at(self.list.currentIndex().row())

    def _select(self, row: int) -> None:
        row = row if 0 <= row < self.model.rowCount() else (0 if self.model.rowCount() else -1)
        if row >= 0:
            index = self.model.index(row, 0)
            self.list.setCurrentIndex(index)
            self.list.scrollTo(index)

    def _filtered(self, text: str) -> None:
        self.model.set_filter(text)
        self._select(0)

    def eventFilter(self, obj, event) -> bool:
        # Up/Down/PageUp/PageDown typed into the filter move through the list.
        if obj is self.filter and isinstance(event, QKeyEvent) and event.type() == QKeyEvent.Type.KeyPress:
            moves = {Qt.Key.Key_Up: -1, Qt.Key.Key_Down: 1, Qt.Key.Key_PageUp: -10, Qt.Key.Key_PageDown: 10}
            if event.key() in moves:
                row = self.list.currentIndex().row() + moves[event.key()]
                self._select(min(max(row, 0), self.model.rowCount() - 1))
                return True
        return super().eventFilter(obj, event)

    def accept(self) -> None:
        if self.chosen() is not None:
            super().accept()

    @classmethod
    def choose(cls, parent: QWidget, classes: list[str], **kw) -> tuple[bool, str | None]:
        dialog = cls(classes, parent=parent, **kw)
        ok = dialog.exec() == QDialog.DialogCode.Accepted
        return ok, dialog.chosen() if ok else None


class NoteEditor(QDialog):
    """N: one line of note; Return saves, Esc cancels, an empty note clears it."""

    def __init__(self, note: str, example_id: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Note on {example_id}")
        self.edit = QLineEdit(note)
        self.edit.setPlaceholderText("What is going on with this example? (empty clears the note)")
        self.edit.selectAll()
        self.edit.returnPressed.connect(self.accept)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Note on <b>{example_id}</b> &nbsp; (Return saves, Esc cancels)"))
        lay.addWidget(self.edit)
        self.resize(460, self.sizeHint().height())

    @classmethod
    def ask(cls, parent: QWidget, note: str, example_id: str) -> str | None:
        dialog = cls(note, example_id, parent)
        return dialog.edit.text() if dialog.exec() == QDialog.DialogCode.Accepted else None


class ErrorTypeEditor(QDialog):
    """Add, rename, reorder and remove error types. The order is the digit keys: the first is 1."""

    def __init__(self, names: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Error types")
        self.list = QListWidget()
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        for name in names:
            self._add_item(name, name)
        buttons = QVBoxLayout()
        for text, slot in (("Add", self.add), ("Rename", self.rename), ("Move up", lambda: self.move(-1)),
                           ("Move down", lambda: self.move(1)), ("Remove", self.remove)):
            b = QPushButton(text)
            b.setAutoDefault(False)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.list, 1)
        row.addLayout(buttons)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        self.info = QLabel(
            "Keys 1–9 toggle the first nine, in this order. Renaming changes the decisions that use the type;"
            " removing one leaves it on the decisions that already have it."
        )
        self.info.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.info)
        lay.addWidget(box)
        self.list.model().rowsMoved.connect(self._renumber)
        self._renumber()
        self.resize(460, 400)

    def _add_item(self, name: str, original: str | None) -> QListWidgetItem:
        item = QListWidgetItem(name)
        item.setData(ORIGINAL, original)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        self.list.addItem(item)
        return item

    def _renumber(self, *args) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            item.setToolTip(f"key {i + 1}" if i < 9 else "no key: set it with a click in the item panel")

    def add(self) -> None:
        item = self._add_item("new error type", None)
        self.list.setCurrentItem(item)
        self.list.editItem(item)
        for editor in self.list.viewport().findChildren(QLineEdit):  # typing replaces the placeholder
            QTimer.singleShot(0, editor.selectAll)  # (after the view has set it up and focused it)
        self._renumber()

    def rename(self) -> None:
        if self.list.currentItem() is not None:
            self.list.editItem(self.list.currentItem())

    def move(self, step: int) -> None:
        row = self.list.currentRow()
        if row < 0 or not 0 <= row + step < self.list.count():
            return
        item = self.list.takeItem(row)
        self.list.insertItem(row + step, item)
        self.list.setCurrentRow(row + step)
        self._renumber()

    def remove(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.list.takeItem(row)
            self._renumber()

    def result_names(self) -> tuple[list[str], dict[str, str]]:
        """The new order, and the renames (old name -> new name)."""
        names, renames = [], {}
        for i in range(self.list.count()):
            item = self.list.item(i)
            name, original = item.text().strip(), item.data(ORIGINAL)
            if not name:
                continue
            names.append(name)
            if original is not None and original != name:
                renames[original] = name
        return names, renames

    def accept(self) -> None:
        names, _ = self.result_names()
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            QMessageBox.warning(self, "Error types", "Listed twice: " + ", ".join(dupes))
            return
        super().accept()


def about(parent: QWidget) -> None:
    version = getattr(labeler, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as _v

            version = _v("labeler")
        except Exception:
            version = "?"
    QMessageBox.about(
        parent,
        "About labeler",
        f"<h3>labeler {version}</h3><p>Review a classifier's mistakes with the keyboard, tally why it fails,"
        " and fix the labels.</p><p>Press F1 or ? for the keys.</p>",
    )
