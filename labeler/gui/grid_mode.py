"""The grid mode of the review window: `G` swaps the single item for a grid of the queue.

In the grid, the arrows, Home/End, PgUp/PgDn, Shift+arrows and Ctrl+A belong to the grid (the move
actions are switched off so their keys reach it), a decision key goes to the session with the
selected ids (one transaction, one undo step), and `Return` opens the current item in the single view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QStackedWidget

from .grid_view import GridView

if TYPE_CHECKING:
    from .main_window import MainWindow

# session functions that act on the grid's selection (the others act on the current item)
ON_SELECTION = {"accept_prediction", "set_label", "toggle_tag", "toggle_error_type", "set_note"}
# actions whose keys the grid takes for itself while it is shown
GRID_KEYS = {"next", "prev", "skip", "page_down", "page_up"}


class GridMode:
    def __init__(self, window: "MainWindow", stack: QStackedWidget):
        self.window = window
        self.stack = stack
        self.grid = GridView()
        stack.addWidget(self.grid)
        self.grid.opened.connect(self.open_row)
        self.grid.current_moved.connect(self._follow)

    @property
    def active(self) -> bool:
        return self.stack.currentWidget() is self.grid

    def toggle(self) -> None:
        """G: the grid of the queue, or back to the single item."""
        if self.active:
            self.show_single()
        else:
            self.show_grid()

    def show_grid(self) -> None:
        w = self.window
        if w.session is None:
            return
        self.grid.set_session(w.session, w.error_types)
        self.stack.setCurrentWidget(self.grid)
        self.grid.setFocus()
        w._update_enabled()
        w.statusBar().showMessage(
            "Grid: arrows move, Shift+arrows and Ctrl+A select, a decision key applies to all selected,"
            " Return opens one, G goes back.", 8000)

    def show_single(self) -> None:
        w = self.window
        self.stack.setCurrentIndex(0)
        w.item_view.image_view.setFocus()
        w._update_enabled()
        if w.session is not None:
            w.item_view.refresh()

    def open_row(self, row: int) -> None:
        """Return (or a double click) on an item: that item, alone."""
        w = self.window
        if w.session is not None and 0 <= row < len(w.session.items):
            w.session.goto(row)
        self.show_single()

    def _follow(self, row: int) -> None:
        """The grid's cursor is the session's current item, so the side panel shows it (nothing marked)."""
        s = self.window.session
        if s is not None and s.items == self.grid.model_.items and row != s.position:
            s.goto(row)

    def zoom(self, step: int) -> bool:
        """+/-/0 in the grid: bigger or smaller thumbnails (0: the default size). False when the grid
        is not shown (the single view zooms)."""
        if not self.active:
            return False
        from .grid_view import THUMB

        self.grid.set_thumb(THUMB if step == 0 else round(self.grid.thumb * (1.25 if step > 0 else 0.8)))
        return True

    def call_kwargs(self, method: str) -> dict:
        """``ids=`` the selection, for a decision made while the grid is shown."""
        if self.active and method in ON_SELECTION:
            return {"ids": self.grid.selected_ids()}
        return {}

    def refresh(self, kinds: set[str]) -> None:
        """After a session change while the grid is shown: a new queue is a new grid; marks repaint."""
        if "queue" in kinds:
            self.grid.set_session(self.window.session, self.window.error_types)
        self.grid.error_types = list(self.window.error_types)
        self.grid.viewport().update()


def install(window: "MainWindow", stack: QStackedWidget) -> GridMode:
    return GridMode(window, stack)
