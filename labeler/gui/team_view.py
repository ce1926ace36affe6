"""The review window on a team project: whether the server is there (and how many decisions wait in
the local journal when it is not), the shared queue's progress by reviewer, and the other reviewers'
decisions coming in. The link's threads put what they report into a queue that a timer on the
window's thread empties (no Qt object is touched from another thread), so every change of the window
happens on its own thread."""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

if TYPE_CHECKING:  # the window imports this module at start: psycopg only once a team project opens
    from labeler.core.team_sync import Status, TeamLink


DRAIN_MS = 100  # how often the window takes in what the link's threads reported
# what a team window refuses, and what to do instead
TAXONOMY_NOTE = ("The error types of a team project are the server's, the same for every reviewer: change"
                 " them with `labeler taxonomy set|rename ... --project URL`, then reopen the window.")
LABELING_NOTE = ("Labeling from scratch is not shared live in a team review yet: run `labeler review"
                 " --project URL --label --reviewer NAME` (a working copy, pushed back when it closes).")


class TeamPanel(QWidget):
    """The shared queue: its items done, held and free, and how many each reviewer has done."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["reviewer", "done"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)

    def show_progress(self, p: dict, me: str) -> None:
        total, done, held, free = p["total"], p["done"], p["claimed"], p["free"]
        self.summary.setText(f"Shared queue: {done} of {total} done, {held} held by reviewers, {free} free")
        by = sorted(p.get("by", {}).items(), key=lambda kv: (-kv[1], kv[0]))
        self.table.setRowCount(len(by))
        for i, (who, n) in enumerate(by):
            name = QTableWidgetItem(f"{who} (you)" if who == me else who)
            count = QTableWidgetItem(str(n))
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(i, 0, name)
            self.table.setItem(i, 1, count)


class TeamView:
    """Wires a :class:`TeamLink` into a MainWindow."""

    def __init__(self, window, link: TeamLink, url: str):
        from labeler.core.urls import without_password

        self.window, self.link = window, link
        self.url = without_password(url)  # what Recent keeps
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.label = QLabel("")
        self.label.setObjectName("team")
        window.statusBar().addPermanentWidget(self.label)
        self.panel = TeamPanel()
        self._progress: dict | None = None
        self._status = link.status
        self.dock = window.add_dock("Team", self.panel)
        if window.settings.value("window/state") is None or not window.restoreDockWidget(self.dock):
            # with the analysis panels, one key (T) or View ▸ Panels away: the example keeps the width
            docks = getattr(getattr(window, "analysis", None), "docks", [])
            if docks:
                window.tabifyDockWidget(docks[-1], self.dock)
            self.dock.hide()
        handlers = {"on_status": self.show_status, "on_remote": self._remote, "on_claimed": self._claimed,
                    "on_progress": self._show_progress}
        for name, handler in handlers.items():
            setattr(link, name, lambda value, h=handler: self._inbox.put((h, value)))
        self._timer = QTimer(window, interval=DRAIN_MS)
        self._timer.timeout.connect(self._drain)
        self._timer.start()
        self.show_status(link.status)

    def _drain(self) -> None:
        while True:
            try:
                handler, value = self._inbox.get_nowait()
            except queue.Empty:
                return
            handler(value)

    def _show_progress(self, p: dict) -> None:
        self._progress = p
        self.panel.show_progress(p, self.link.reviewer)
        self.show_status(self._status)

    def show_status(self, status: Status) -> None:
        self._status = status
        queue = f" · shared queue {self._progress['done']}/{self._progress['total']} done" if self._progress else ""
        self.label.setText(("● " if status.online else "○ ") + status.describe() + queue)
        self.label.setToolTip(status.problem or f"{self.link.where.shown} as {self.link.reviewer}")
        self.label.setStyleSheet("" if status.online else "color: #c0392b; font-weight: bold")

    def _remote(self, rows) -> None:
        s = self.window.session
        if s is not None and hasattr(s, "apply_remote") and s.project.conn is not None:
            s.apply_remote(rows)

    def _claimed(self, ids) -> None:
        s = self.window.session
        if s is not None and hasattr(s, "add_claimed") and ids:
            s.add_claimed(list(ids))

    def close(self) -> Status:
        """Send what is left and give the unreviewed claims back (the window is closing)."""
        for name in ("on_status", "on_remote", "on_claimed", "on_progress"):
            setattr(self.link, name, None)
        self._timer.stop()
        return self.link.close()

    def remove(self) -> None:
        """Take the team's status and panel out of the window."""
        self.window.statusBar().removeWidget(self.label)
        self.label.deleteLater()
        self.window.panels_menu.removeAction(self.dock.toggleViewAction())
        self.window.removeDockWidget(self.dock)
        self.window.docks.pop("Team", None)
        self.dock.deleteLater()
