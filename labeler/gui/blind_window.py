"""The blind-labeling window: the example and the classes, nothing else. No given label, prediction,
probability or loss is drawn anywhere in it; the reviewer's own label is all it shows.

Keys (data, below): 1-9 and 0 choose the 1st-10th class and advance, L picks any class, Shift+Right
skips, Left goes back, Ctrl+Z / Ctrl+Shift+Z undo and redo. Each is one call into
:class:`labeler.core.blind.BlindSession`.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMainWindow,
                               QMessageBox, QStackedWidget, QVBoxLayout, QWidget)

import pandas as pd

from labeler.core.blind import BlindSession
from labeler.core.store import Decision, Project, ProjectError

from .dialogs import LabelPicker
from .item_view import ItemView

# key -> what it does; the digits are added below
KEYS = {
    "L": "pick",
    "Shift+Right": "skip",
    "Right": "skip",
    "Left": "prev",
    "Ctrl+Z": "undo",
    "Ctrl+Shift+Z": "redo",
    "Ctrl+Y": "redo",
    "P": "accept",  # labeling from scratch only: the model's suggestion
    "G": "grid",  # labeling from scratch only: a grid of the queue, keys act on the selection
    "Return": "single",
}


class GridQueue:
    """What the review window's grid (:class:`labeler.gui.grid_view.GridView`) asks of a session, from
    a labeling session: each thumbnail says "unlabeled -> suggestion", or "label -> suggestion" once
    labeled here."""

    def __init__(self, session):
        self.session = session
        self.project = session.project
        self.items = session.items
        # read by the grid once; a label given later reaches it through QueueModel.set_given
        self.frame = pd.DataFrame({"label": [session.label_of(e) for e in self.items],
                                   "pred": [(session.suggestion(e) or (None,))[0] for e in self.items]}, dtype=object)
        self._row = {eid: i for i, eid in enumerate(self.items)}

    @property
    def position(self) -> int:
        return self.session.position

    def row_of(self, eid: str) -> int | None:
        return self._row.get(eid)

    def path_of(self, eid: str) -> str | None:
        return self.session.path_of(eid)

    def example(self, eid: str, *, topk: bool = False) -> dict | None:
        return self.session.example(eid)

    def decision(self, eid: str) -> Decision:
        return Decision()  # no review marks: labeling has none


class ClassPanel(QWidget):
    """The classes with their keys, the reviewer's label of the current example marked."""

    def __init__(self, session: BlindSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.title = QLabel(f"<b>Blind labels</b> · {session.reviewer}")
        self.progress = QLabel()
        self.progress.setWordWrap(True)
        self.current = QLabel()
        self.current.setWordWrap(True)
        self.list = QListWidget()
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.list.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        for cls in session.classes:
            key = session.key_of(cls)
            item = QListWidgetItem(f"[{key}]   {cls}" if key else f"       {cls}")
            item.setToolTip(cls)
            self.list.addItem(item)
        self.list.itemClicked.connect(lambda item: session.pick(session.classes[self.list.row(item)]))
        self.suggestion = QLabel()  # labeling from scratch: the model's suggestion, large
        self.suggestion.setObjectName("suggestion")
        self.suggestion.setWordWrap(True)
        font = self.suggestion.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.suggestion.setFont(font)
        self.suggestion.setVisible(hasattr(session, "suggestion"))
        self.hint = QLabel("1–9, 0: class and next · L: any class · Shift+→: skip · ←: back · Ctrl+Z: undo")
        self.hint.setWordWrap(True)
        self.hint.setObjectName("hint")
        lay = QVBoxLayout(self)
        if hasattr(session, "suggestion"):
            self.title.setText(f"<b>Labeling</b> · {session.reviewer}")
            self.hint.setText("1–9, 0: class and next · P: accept the suggestion · L: any class · Shift+→: skip"
                              " · ←: back · Ctrl+Z: undo · G: grid (select many, one key labels them all)")
        for w in (self.title, self.progress, self.current, self.suggestion, self.list, self.hint):
            lay.addWidget(w)
        self.refresh()

    def refresh(self) -> None:
        s = self.session
        self.progress.setText(f"{s.labeled_count()} of {len(s.items)} labeled · {s.spec.describe()}")
        if hasattr(s, "suggestion"):
            done = s.progress()
            pace = s.pace()
            per_class = " · ".join(f"{c}: {n}" for c, n in sorted(done["labeled"].items()))
            self.progress.setText(f"{done['done']} of {done['total']} labeled"
                                  + (f" · {pace:.0f} a minute" if pace else "") + f"\nlabeled per class: {per_class}")
            sug = s.suggestion()
            self.suggestion.setText("" if sug is None else
                                    f"{sug[0]}" + ("" if sug[1] is None else f"  {100 * sug[1]:.0f}%") + "  (P)")
        eid = s.current_id
        if eid is None:
            self.current.setText("End of the sample: every example has been shown.")
            self.list.clearSelection()
            return
        self.current.setText(f"example {s.position + 1} of {len(s.items)}: {eid}")
        mine = s.label_of()
        if mine is None:
            self.list.clearSelection()
        else:
            self.list.setCurrentRow(s.classes.index(mine))

    def texts(self) -> list[str]:
        """Every text the panel draws (what a test checks for leaks of the given label)."""
        return [self.title.text(), self.progress.text(), self.current.text(), self.hint.text(), self.suggestion.text(),
                *[self.list.item(i).text() for i in range(self.list.count())]]


class BlindWindow(QMainWindow):
    """The window of a reviewer's own labels: blind (a :class:`BlindSession`), or labeling from scratch
    with the model's suggestion (a :class:`labeler.core.labeling.LabelSession`, ``P`` accepts it)."""

    def __init__(self, project: Project, spec, reviewer: str, settings: QSettings | None = None, *,
                 session=None, owns_project: bool = True):
        super().__init__()
        self.owns_project = owns_project  # False: opened from the review window, which keeps the project
        self.settings = settings or QSettings()
        self.project = project
        self.session = session if session is not None else BlindSession(project, spec, reviewer)
        what = "labeling" if hasattr(self.session, "suggestion") else "blind labels"
        self.setWindowTitle(f"labeler: {what} ({self.session.reviewer}) · {project.path.name}")
        self.item_view = ItemView(self)
        self.item_view.set_session(self.session)  # (it reads only the id, the path or the text)
        self.panel = ClassPanel(self.session, self)
        self.panel.setMinimumWidth(220)
        self.panel.setMaximumWidth(320)
        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.item_view)
        self.grid = None  # made on the first G (labeling from scratch)
        lay.addWidget(self.stack, 1)
        lay.addWidget(self.panel)
        self.setCentralWidget(central)
        self.resize(1280, 800)
        self.session.subscribe(self._changed)
        self._bind()
        self.item_view.refresh()

    def _bind(self) -> None:
        actions = {"pick": self.pick, "skip": self.session.skip, "prev": self.session.prev,
                   "undo": self.session.undo, "redo": self.session.redo, "accept": self._accept,
                   "grid": self.toggle_grid, "single": self._open_current}
        self._moves: list[QShortcut] = []  # arrow keys: the grid's own while it is shown
        for key, what in KEYS.items():
            shortcut = QShortcut(QKeySequence(key), self, activated=actions[what],
                                 context=Qt.ShortcutContext.WindowShortcut)
            if what in ("skip", "prev", "single"):
                self._moves.append(shortcut)
        for digit in range(10):
            QShortcut(QKeySequence(str(digit)), self, activated=lambda d=digit: self._choose(d),
                      context=Qt.ShortcutContext.WindowShortcut)

    def _choose(self, digit: int) -> None:
        try:
            if self.grid_shown():
                index = (digit - 1) % 10
                if index < len(self.session.classes):
                    self.session.pick_many(self.grid.selected_ids(), self.session.classes[index])
            else:
                self.session.choose(10 if digit == 0 else digit)
        except ProjectError as e:
            QMessageBox.critical(self, "labeler: not saved", str(e))

    def _accept(self) -> None:
        if not hasattr(self.session, "accept_suggestion"):
            return
        if self.grid_shown():
            self.session.accept_many(self.grid.selected_ids())
        else:
            self.session.accept_suggestion()

    # -- the grid (labeling from scratch) ------------------------------------------------------
    def grid_shown(self) -> bool:
        return self.grid is not None and self.stack.currentWidget() is self.grid

    def toggle_grid(self) -> None:
        """G: thumbnails of the queue; select many (Shift+arrows, Ctrl+A, clicks) and press one key."""
        if not hasattr(self.session, "suggestion"):
            return
        if self.grid_shown():
            self._open_current()
            return
        if self.grid is None:
            from .grid_view import GridView

            self.grid = GridView()
            self.stack.addWidget(self.grid)
            self.grid.opened.connect(self._open_row)
            self.grid.current_moved.connect(self._grid_moved)
        self.queue = GridQueue(self.session)
        self.grid.set_session(self.queue)
        self.stack.setCurrentWidget(self.grid)
        for shortcut in self._moves:
            shortcut.setEnabled(False)
        self.grid.setFocus()

    def _grid_moved(self, row: int) -> None:
        if 0 <= row < len(self.session.items) and row != self.session.position:
            self.session.position = row
            self.panel.refresh()

    def _open_row(self, row: int) -> None:
        self.session.position = row
        self._open_current()

    def _open_current(self) -> None:
        if self.grid_shown():
            for shortcut in self._moves:
                shortcut.setEnabled(True)
            self.stack.setCurrentWidget(self.item_view)
            self.item_view.refresh()
            self.item_view.image_view.setFocus()
            self.panel.refresh()

    def pick(self) -> None:
        if self.session.current_id is None:
            return
        dialog = LabelPicker(self.session.classes, current=self.session.label_of(), parent=self)
        dialog.setWindowTitle("Your label")
        dialog.accepted.connect(lambda: self.session.pick(dialog.chosen()))
        self.picker = dialog
        dialog.open()

    def _changed(self, what: str, ids: tuple) -> None:
        self.panel.refresh()
        if self.grid_shown():
            for eid in ids:  # the labels under those thumbnails
                self.grid.model_.set_given(eid, self.session.label_of(eid))
            self.grid.select_row(self.session.position)
        elif what == "moved":
            self.item_view.refresh()

    def closeEvent(self, event) -> None:
        self.session.close()
        self.item_view.prefetcher.shutdown()
        if self.grid is not None:
            self.grid.shutdown()
        if self.owns_project:
            self.project.close()
        super().closeEvent(event)


__all__ = ["BlindWindow", "ClassPanel", "KEYS"]
