"""The review window on a team project: whether the server is there (and how many decisions wait in
the local journal when it is not), the shared queue's progress by reviewer, and the other reviewers'
decisions coming in. The link's threads report through Qt signals, so every change of the window
happens on its own thread."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from labeler.core.team_sync import Status, TeamLink


class _Bridge(QObject):
    status = Signal(object)
    remote = Signal(object)
    claimed = Signal(object)
    progress = Signal(object)


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
        self.bridge = _Bridge(window)
        self.label = QLabel("")
        self.label.setObjectName("team")
        window.statusBar().addPermanentWidget(self.label)
        self.panel = TeamPanel()
        self.dock = window.add_dock("Team", self.panel)
        self.bridge.status.connect(self.show_status)
        self.bridge.remote.connect(self._remote)
        self.bridge.claimed.connect(self._claimed)
        self.bridge.progress.connect(lambda p: self.panel.show_progress(p, link.reviewer))
        link.on_status = self.bridge.status.emit
        link.on_remote = self.bridge.remote.emit
        link.on_claimed = self.bridge.claimed.emit
        link.on_progress = self.bridge.progress.emit
        self.show_status(link.status)

    def show_status(self, status: Status) -> None:
        self.label.setText(("● " if status.online else "○ ") + status.describe())
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
        return self.link.close()

    def remove(self) -> None:
        """Take the team's status and panel out of the window."""
        self.window.statusBar().removeWidget(self.label)
        self.label.deleteLater()
        self.window.panels_menu.removeAction(self.dock.toggleViewAction())
        self.window.removeDockWidget(self.dock)
        self.window.docks.pop("Team", None)
        self.dock.deleteLater()
