"""The review window: it assembles the item view, the side panel, the menus and the keys, and passes
every key to one call of the review session. It holds no review state of its own."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QInputDialog,
    QSplitter,
    QStackedWidget,
    QWidget,
)

from labeler.core.importer import ImportCancelled, ImportProblem
from labeler.core.queue import ORDERS, QueueRefused, QueueSpec
from labeler.core.session import ReviewSession, SessionEvent
from labeler.core.store import ErrorTypesInUse, Project, ProjectError, ProjectGone, default_project_path
from labeler.core.urls import is_pg_url

from . import analysis, dialogs, keymap as keymapmod, loader, theme
from .help_overlay import HelpOverlay
from .image_view import ImageView
from .item_view import ItemView
from .panels import ItemPanel
from . import augment_view, export_dialog, grid_mode, modes, team_view

RECENT_MAX = 10
CHECKPOINT_IDLE_MS = 2000  # the WAL is checkpointed this long after the last decision
OPEN_FILTER = "Predictions or projects (*.csv *.tsv *.txt *.gz *.parquet *.pq *.jsonl *.ndjson *.db);;All files (*)"
OPEN_PROBLEMS = (ProjectError, ImportProblem, QueueRefused, OSError)
# what a project open read-only still lets the reviewer do (moving on marks nothing there)
READ_ONLY_CALLS = {"next", "prev", "skip", "goto", "set_queue", "next_unreviewed"}
READ_ONLY_NOTE = "Read-only: this project can be looked at, not changed; nothing is saved."


class MainWindow(QMainWindow):
    session_changed = Signal()

    def __init__(self, *, settings: QSettings | None = None, keymap: keymapmod.Keymap | None = None,
                 reviewer: str | None = None, spec: QueueSpec = QueueSpec(),
                 view_class: type[ImageView] = ImageView):
        super().__init__()
        self.settings = settings if settings is not None else QSettings()
        self.keymap = keymap if keymap is not None else keymapmod.load()
        self.reviewer, self.spec = reviewer, spec
        self.session: ReviewSession | None = None
        self.team = None  # a TeamView when the project is a team project on a server (open_team)
        self.error_types: list[str] = []
        self._reviewed = 0
        self._queue_ids: set[str] = set()
        self._in_call = False
        self._dirty: set[str] = set()
        self.docks: dict[str, QDockWidget] = {}

        self.item_view = ItemView(view_class=view_class)
        self.panel = ItemPanel()
        # a click on a tag or an error type toggles it (error types past the ninth have no key)
        self.panel.tags.clicked.connect(lambda tag: self._do("toggle_tag", tag))
        self.panel.error_types.clicked.connect(lambda name: self._do("toggle_error_type", name))
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("mainSplitter")
        self.center = QStackedWidget()  # the single item, or the grid of the queue (G)
        self.center.addWidget(self.item_view)
        split.addWidget(self.center)
        split.addWidget(self.panel)
        split.setStretchFactor(0, 3)  # a smaller window takes 3 px from the example for 1 from the panel
        split.setStretchFactor(1, 1)
        split.setCollapsible(0, False)
        split.setSizes([900, 340])
        self.setCentralWidget(split)
        self.saved_label = QLabel("")
        self.saved_label.setObjectName("saved")
        self.statusBar().addPermanentWidget(self.saved_label)

        self.grid_mode = grid_mode.install(self, self.center)
        self.actions = keymapmod.create_actions(self, self._handlers(), self.keymap)
        for name in ("mislabeled", "ambiguous", "very_hard", "very_easy", *[f"error_type_{i}" for i in range(1, 10)]):
            self.actions[name].setCheckable(True)
        self._build_menus()
        self.help_overlay = HelpOverlay(self)
        self.analysis = analysis.install(self)  # tally, confusion matrix, dashboard docks
        self.setAcceptDrops(True)
        self._pace_timer = QTimer(self, interval=5000)
        self._pace_timer.timeout.connect(self._show_progress)
        self._pace_timer.start()
        self._checkpoint_timer = QTimer(self, singleShot=True, interval=CHECKPOINT_IDLE_MS)
        self._checkpoint_timer.timeout.connect(self._checkpoint)
        self.modes = modes.install(self)  # the review-mode toolbar (dev errors, training label issues, ...)
        self.augment_preview = augment_view.install(self)  # V: the current image under each augmentation
        self.resize(1280, 820)
        if self.settings.value("window/geometry") is not None:
            self.restoreGeometry(self.settings.value("window/geometry"))
            self.restoreState(self.settings.value("window/state"))
        self._update_title()
        self._update_enabled()

    # -- keys -> session ------------------------------------------------------------------------
    def _handlers(self) -> dict:
        call = lambda name, *a: (lambda: self._do(name, *a))
        return {
            "next": lambda: self._move("next", +1), "prev": lambda: self._move("prev", -1),
            "skip": lambda: self._move("skip", +1), "jump": self.jump_dialog, "grid": self.grid_mode.toggle,
            "panels": self.toggle_panels,
            "accept_prediction": call("accept_prediction"),
            "choose_label": self.choose_label, "note": self.edit_note,
            **{k: call("toggle_tag", tag) for k, tag in keymapmod.TAGS.items()},
            **{f"error_type_{i}": call("toggle_error_type", i) for i in range(1, 10)},
            "undo": call("undo"), "redo": call("redo"),
            # zoom what is shown: the image, the text, or the grid's thumbnails
            "zoom_in": lambda: self.grid_mode.zoom(+1) or self.item_view.zoom_in(),
            "zoom_out": lambda: self.grid_mode.zoom(-1) or self.item_view.zoom_out(),
            "zoom_reset": lambda: self.grid_mode.zoom(0) or self.item_view.zoom_reset(),
            "page_down": lambda: self.item_view.page(+1), "page_up": lambda: self.item_view.page(-1),
            "help": self.toggle_help,
        }

    def _move(self, method: str, step: int) -> None:
        """Next or previous item: its image (decoded ahead) is painted first, then the session moves
        (writing "reviewed", one committed transaction) and the panels follow."""
        s = self.session
        if s is None or not 0 <= s.position + step < len(s.items):
            self._do(method)
            if s is not None and step > 0 and s.at_end:
                self._end_of_queue()
            return
        here = s.current_id
        shown = self.item_view.show_now(s.items[s.position + step])
        self._do(method)
        if shown and self.session is s and s.current_id == here:  # the move failed: show where we are
            self.item_view.refresh()

    def _do(self, method: str, *args) -> None:
        """Call one session function; redraw once afterwards; show "saved" only once it returned."""
        if self.session is None:
            return
        if self.session.project.readonly and method not in READ_ONLY_CALLS:
            self.statusBar().showMessage(READ_ONLY_NOTE, 5000)
            return
        self.help_overlay.hide()
        self._in_call, self._dirty = True, set()
        failed = False
        try:
            getattr(self.session, method)(*args, **self.grid_mode.call_kwargs(method))
        except ProjectGone as e:  # deleted or replaced under the window: say it once, then keep saying "NOT saved"
            failed = True
            self.saved_label.setText("NOT saved: the project file is gone")
            if getattr(self, "_gone_said", None) is not self.session.project:
                self._gone_said = self.session.project
                QMessageBox.critical(self, "labeler: not saved", f"{e}\n\nOr go on at once: File ▸ Save a copy of"
                                     " the project… writes everything, with these changes, into a new project file"
                                     " and reviews there.")
            else:
                self.statusBar().showMessage("NOT saved (the project file is gone); this change is kept in the"
                                             " recovery file the first message named", 10000)
        except ProjectError as e:
            failed = True
            self.saved_label.setText("NOT saved")
            QMessageBox.critical(self, "labeler: not saved", str(e))
        finally:
            self._in_call = False
            self._refresh(self._dirty)
        if "decision" in self._dirty and not failed:
            self.saved_label.setText(f"✓ saved {time.strftime('%H:%M:%S')}")
            self._checkpoint_timer.start()

    def _checkpoint(self) -> None:
        """When the reviewer pauses: the WAL into the project file, on a worker thread (a checkpoint
        inside a decision's commit would stall that key press)."""
        if self.session is not None and not self.session.project.readonly:
            QThreadPool.globalInstance().start(self.session.project.checkpoint)

    def _show_location_warnings(self, project: Project) -> None:
        """A project on a network or removable drive (BAD_INPUTS row 29): say so, without blocking."""
        if project.warnings:
            self.statusBar().showMessage(" ".join(project.warnings), 30000)
            box = QMessageBox(QMessageBox.Icon.Warning, "labeler: risky place for a project",
                              "\n\n".join(project.warnings), parent=self)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()

    def _on_event(self, event: SessionEvent) -> None:
        if event.kind == "decision" and event.change is not None and event.example_id in self._queue_ids:
            self._reviewed += int(event.change.after.reviewed) - int(event.change.before.reviewed)
        if event.kind == "queue":
            self._queue_ids = set(self.session.items)
            self._reviewed = self.session.reviewed_count()
        self._dirty.add(event.kind)
        if not self._in_call:  # a change that did not come through a key (e.g. a future panel's click)
            self._refresh({event.kind})

    def _refresh(self, kinds: set[str]) -> None:
        if not kinds or self.session is None:
            return
        if self.grid_mode.active:
            self.grid_mode.refresh(kinds)
        elif kinds & {"moved", "queue"}:
            self.item_view.refresh()
        self.panel.show_item(self.session, self.error_types)
        self._show_progress()
        self._update_enabled()
        if "queue" in kinds:
            self._update_title()
            self.order_actions[self.session.spec.order].setChecked(True)

    def _show_progress(self) -> None:
        if self.session is not None:
            self.panel.show_progress(self._reviewed, len(self.session.items), self.session.pace())

    def _update_enabled(self) -> None:
        s = self.session
        has_item = s is not None and s.current_id is not None
        for name, action in self.actions.items():
            if name.startswith(("zoom", "page_")) or name in ("help", "panels"):
                continue
            action.setEnabled(has_item)
        for name in grid_mode.GRID_KEYS:  # their keys move the grid's cursor there
            self.actions[name].setEnabled(has_item and not self.grid_mode.active)
        self.actions["undo"].setEnabled(s is not None and s.can_undo)
        self.actions["redo"].setEnabled(s is not None and s.can_redo)
        d = s.decision(s.current_id) if has_item else None
        for name, tag in keymapmod.TAGS.items():
            self.actions[name].setChecked(d is not None and tag in d.tags)
        self.more_types_menu.menuAction().setVisible(len(self.error_types) > 9)
        self.more_types_menu.menuAction().setEnabled(has_item)
        for i in range(1, 10):
            action = self.actions[f"error_type_{i}"]
            name = self.error_types[i - 1] if i <= len(self.error_types) else None
            action.setVisible(name is not None)
            action.setText(f"Error type {i}: {name}" if name else f"Error type {i}")
            action.setChecked(d is not None and name in d.error_types)

    # -- moving -----------------------------------------------------------------------------------
    def _end_of_queue(self) -> None:
        """Next on the last item: say so, and offer the items of this queue still unreviewed."""
        s = self.session
        left = s.unreviewed_left()
        if left == 0:
            self.statusBar().showMessage("End of the queue: every item in it is reviewed.", 10000)
            return
        items = f"{left} items in it are" if left != 1 else "1 item in it is"
        box = QMessageBox(QMessageBox.Icon.Information, "End of the queue",
                          f"This is the last item of the queue; {items} not reviewed yet.", parent=self)
        go = box.addButton(f"Review the {left} unreviewed", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Stay here", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(go)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.accepted.connect(lambda: self._do("next_unreviewed") if self.session is s else None)
        self.statusBar().showMessage(f"End of the queue: {left} unreviewed.", 10000)
        box.open()

    def jump_dialog(self) -> None:
        """Ctrl+G: go to an example of the queue by its id or its path (or the path's end)."""
        s = self.session
        if s is None:
            return
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Go to example")
        dialog.setLabelText("Id or path (or the end of a path, like 0042.png):")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(lambda text: self.jump_to(text) if self.session is s else None)
        dialog.open()

    def jump_to(self, query: str) -> bool:
        s = self.session
        i = s.find(query) if s is not None else None
        if i is None:
            self.statusBar().showMessage(f"No example {query.strip()!r} in this queue.", 8000)
            return False
        self._do("goto", i)
        if self.grid_mode.active:
            self.grid_mode.grid.select_row(i)
        return True

    # -- dialogs ----------------------------------------------------------------------------------
    def choose_label(self) -> None:
        """L: a label picker; what it returns goes to ``set_label`` for the item it was opened on."""
        s = self.session
        if s is None or s.current_id is None:
            return
        row = s.frame_row()
        picker = dialogs.LabelPicker(
            s.project.classes, current=s.decision(s.current_id).label, given=row["label"], pred=row["pred"], parent=self
        )
        self._open_modal(picker, lambda: self._do("set_label", picker.chosen()))

    def edit_note(self) -> None:
        """N: the note editor; Return saves through ``set_note``."""
        s = self.session
        if s is None or s.current_id is None:
            return
        editor = dialogs.NoteEditor(s.decision(s.current_id).note, s.current_id, self)
        self._open_modal(editor, lambda: self._do("set_note", editor.edit.text()))

    def _open_modal(self, dialog, on_accept) -> None:
        # open(), not exec(): no nested event loop inside a key's handler.
        eid = self.session.current_id
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.accepted.connect(lambda: on_accept() if self.session and self.session.current_id == eid else None)
        dialog.open()

    def edit_error_types(self) -> None:
        if self.session is None:
            return
        if self.team is not None:
            QMessageBox.information(self, "Error types", team_view.TAXONOMY_NOTE)
            return
        dialog = dialogs.ErrorTypeEditor(self.error_types, self)
        if dialog.exec() == dialogs.QDialog.DialogCode.Accepted:
            self.apply_error_types(*dialog.result_names())

    def apply_error_types(self, names: list[str], renames: dict[str, str]) -> None:
        """The taxonomy in a new order (digit keys follow it), with renames carried into decisions.
        Removing error types that decisions use asks first (No changes nothing)."""
        s = self.session
        if self.team is not None:  # the team's taxonomy is the server's; this copy's would not be sent
            QMessageBox.information(self, "Error types", team_view.TAXONOMY_NOTE)
            return
        force = False
        try:
            s.project.check_error_types(names, renames=renames)
        except ErrorTypesInUse as e:
            if not loader.confirm_dropping(self, e):
                return
            force = True
        except ProjectError as e:  # a name listed twice
            QMessageBox.warning(self, "Error types", str(e))
            return
        try:
            # Through temporary names, so that swapping two names works.
            temp = {old: f"\x00renaming {i}" for i, old in enumerate(renames)}
            for old, tmp in temp.items():
                s.project.rename_error_type(old, tmp)
            for old, tmp in temp.items():
                s.project.rename_error_type(tmp, renames[old])
            s.rename_in_history(renames)
            s.project.set_error_types(names, force=force)
        except ProjectError as e:
            QMessageBox.warning(self, "Error types", str(e))
        s.reload_decisions()
        self.error_types = s.project.error_types()
        self.help_overlay.set_rows(keymapmod.help_rows(self.keymap, self.error_types))
        self.analysis.analysis.refresh()  # the tally lists the new error types now, not at the next key
        self._refresh({"decision"})

    def toggle_help(self) -> None:
        self.help_overlay.set_rows(keymapmod.help_rows(self.keymap, self.error_types))
        self.help_overlay.toggle()

    # -- projects -------------------------------------------------------------------------------
    def set_project(self, project: Project, spec: QueueSpec | None = None) -> None:
        """Review ``project``; raises QueueRefused (the project is then not taken)."""
        if self.team is not None:
            from labeler.core.team_review import TeamReviewSession

            session = TeamReviewSession(project, spec or self.spec, link=self.team.link)
        else:
            session = ReviewSession(project, spec or self.spec, reviewer=self.reviewer)
        self.close_project()
        self.session, self.spec = session, session.spec
        self.error_types = project.error_types()
        self._queue_ids = set(session.items)
        self._reviewed = session.reviewed_count()
        session.subscribe(self._on_event)
        self.item_view.set_session(session)
        self._add_recent(self.team.url if self.team is not None else project.path)
        self._refresh({"queue"})
        self.saved_label.setText("read-only: nothing is saved" if project.readonly else "")
        self._show_location_warnings(project)
        if project.unsaved_note:  # decisions kept while its file was gone (see Project.unsaved_note)
            self.statusBar().showMessage(project.unsaved_note, 30000)
        self.session_changed.emit()

    def take_project(self, project: Project, spec: QueueSpec | None = None) -> str | None:
        """:meth:`set_project`, or (the queue refused, a stored chunk found damaged) close
        ``project`` and say why."""
        try:
            self.set_project(project, spec)
        except (QueueRefused, ProjectError) as e:
            project.close()
            return str(e)
        return None

    def close_project(self) -> None:
        self._checkpoint_timer.stop()  # closing checkpoints anyway
        if self.session is not None:
            session, self.session = self.session, None
            self.item_view.set_session(None)
            session.close()
            session.project.close()
            self.panel.show_item(None)
            self._update_enabled()
            self._update_title()

    def open_team(self, url: str, *, overlap: int | None = None) -> bool:
        """Review a team project on a server (``postgresql://...?project=NAME``) as this window's
        reviewer (asked for when the window has none): see labeler.core.team_sync."""
        from labeler.core.problems import TeamStoreError
        from labeler.core.team_sync import TeamLink

        reviewer = self.reviewer
        if not reviewer:
            reviewer, ok = QInputDialog.getText(self, "Team review", "Your name (stored with each decision):")
            if not ok or not reviewer.strip():
                return False
            self.reviewer = reviewer = reviewer.strip()
        try:
            link = TeamLink(url, reviewer, overlap=overlap)
            link.open()
            project = Project.open(link.path)
        except (TeamStoreError, ProjectError) as e:
            QMessageBox.critical(self, "labeler: cannot open the team project", str(e))
            return False
        self.close_project()
        self._leave_team()
        self.team = team_view.TeamView(self, link, url)
        problem = self.take_project(project, self.spec)
        if problem is not None:
            QMessageBox.critical(self, "labeler: cannot review this", problem)
            return False
        link.start()
        return True

    def _leave_team(self, *, closing: bool = False) -> None:
        """Another project comes in (or the window closes): the team project's link sends what is
        left and stops; its status and panel leave the window (left to the window when it closes)."""
        if self.team is not None:
            team, self.team = self.team, None
            team.close()
            if not closing:
                team.remove()

    def open_path(self, path: str | Path) -> bool:
        """Open a project or import a predictions file (File ▸ Open, Recent, drag and drop)."""
        if isinstance(path, str) and is_pg_url(path):
            return self.open_team(path)
        target = Path(path) if loader.is_project_file(path) else default_project_path(path)
        if self.session is not None and target.resolve() == self.session.project.path.resolve():
            self.close_project()  # this process holds its lock: let the import or the open take it
        try:
            found = loader.open_or_read_only(self, path)
        except ImportCancelled:
            self.statusBar().showMessage("Import cancelled; nothing was written.", 5000)
            return False
        except OPEN_PROBLEMS as e:
            QMessageBox.critical(self, "labeler: cannot open", str(e))
            return False
        if found is None:  # read-only was offered and declined
            return False
        project, summary = found
        self._leave_team()
        problem = self.take_project(project)
        if problem is not None:
            QMessageBox.critical(self, "labeler: cannot open", problem)
            return False
        if summary is not None:
            self.statusBar().showMessage(summary.lines()[0], 8000)
        if Path(path).is_dir() and not project.readonly:  # a folder of images (dropped, or opened): label it
            QTimer.singleShot(0, self.modes.open_labeling)
        return True

    def save_copy(self, target: str | Path | None = None) -> bool:
        """File ▸ Save a copy of the project…: everything the open project holds (also when its file
        was deleted or replaced meanwhile) and the changes kept since, into a new project file,
        which the window then reviews."""
        s = self.session
        if s is None:
            return False
        if target is None:
            target, _ = QFileDialog.getSaveFileName(self, "Save a copy of the project",
                                                    str(s.project.path.with_name(s.project.path.stem + "-copy.db")),
                                                    "labeler projects (*.db)")
            if not target:
                return False
        try:
            saved = s.project.save_copy(target)
        except ProjectError as e:
            QMessageBox.critical(self, "labeler: not copied", str(e))
            return False
        spec = s.spec
        self.close_project()
        self._leave_team()
        try:
            project = Project.open(saved)
        except ProjectError as e:
            QMessageBox.critical(self, "labeler: cannot open the copy", str(e))
            return False
        problem = self.take_project(project, spec)
        if problem is not None:
            QMessageBox.critical(self, "labeler: cannot open the copy", problem)
            return False
        self.statusBar().showMessage(f"Saved a copy as {saved}; reviewing there.", 10000)
        return True

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open predictions or a project", "", OPEN_FILTER)
        if path:
            self.open_path(path)

    def _add_recent(self, path: Path | str) -> None:
        # a team project is listed by its URL, never with a password (TeamLink keeps it redacted)
        entry = path if isinstance(path, str) and is_pg_url(path) else str(Path(path).resolve())
        recent = [entry] + [p for p in self._recent() if p != entry]
        self.settings.setValue("recent", recent[:RECENT_MAX])

    def _recent(self) -> list[str]:
        value = self.settings.value("recent") or []
        return [value] if isinstance(value, str) else list(value)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self._recent():
            self.recent_menu.addAction(p, lambda p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(self._recent()))

    def _set_order(self, order: str) -> None:
        if self.session is not None and order != self.session.spec.order:
            self._do("set_queue", replace(self.session.spec, order=order))

    # -- window ---------------------------------------------------------------------------------
    def add_dock(self, title: str, widget: QWidget, area=Qt.DockWidgetArea.RightDockWidgetArea) -> QDockWidget:
        """Add an analysis panel as a dock; the View ▸ Panels menu lists it, its place is remembered."""
        dock = QDockWidget(title, self)
        dock.setObjectName("dock_" + title.lower().replace(" ", "_"))
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.restoreDockWidget(dock)
        self.docks[title] = dock
        self.panels_menu.addAction(dock.toggleViewAction())
        self.panels_menu.menuAction().setVisible(True)
        return dock

    def toggle_panels(self) -> None:
        """T: hide the docked panels that are shown (the example takes the width), or show them again
        (the ones hidden last, else all), wide enough for the tally's columns (660 px) but at most half
        the window. Which are shown is remembered with the window's state."""
        docks = list(self.docks.values())
        shown = [d for d in docks if d.isVisible()]
        if shown:
            self._hidden_docks = shown
            for d in shown:
                d.hide()
            return
        again = [d for d in getattr(self, "_hidden_docks", []) if d in docks] or docks
        for d in again:
            d.show()
        if again:
            again[0].raise_()
            self._fit_docks()

    def _fit_docks(self) -> None:
        """The shown docks as wide as the tally's columns need (660 px), at most 40% of a window
        under 1100 px and half of a wider one: after the window shrank and grew again they grow back,
        and the example keeps its share."""
        shown = [d for d in self.docks.values() if d.isVisible() and not d.isFloating()]
        if shown:
            share = 0.5 if self.width() >= 1100 else 0.4
            self.resizeDocks([shown[0]], [min(660, int(share * self.width()))], Qt.Orientation.Horizontal)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            QTimer.singleShot(0, self._fit_docks)

    def _update_title(self) -> None:
        if self.session is None:
            self.setWindowTitle("labeler")
        else:
            ro = " (read-only)" if self.session.project.readonly else ""
            name = self.session.project.path.name
            if self.team is not None:  # the server's project, not the local copy's file name
                name = f"{self.team.link.where.project} on the team server, as {self.team.link.reviewer}"
            self.setWindowTitle(f"labeler — {name}{ro} — {self.session.spec.describe()}")

    def _build_menus(self) -> None:
        a, bar = self.actions, self.menuBar()
        file = bar.addMenu("&File")
        self._menu_action(file, "&Open predictions or project…", self._open_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.recent_menu.setEnabled(bool(self._recent()))
        self.exporter = export_dialog.install(self, file.addAction("&Export…"))
        file.addAction("Save a &copy of the project…", self.save_copy)
        file.addSeparator()
        self._menu_action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        review = bar.addMenu("&Review")
        for group in (["next", "prev", "skip", "jump"], ["accept_prediction", "choose_label", "note"],
                      ["mislabeled", "ambiguous", "very_hard", "very_easy"], [f"error_type_{i}" for i in range(1, 10)],
                      ["undo", "redo"]):
            review.addActions([a[n] for n in group])
            review.addSeparator()
        # error types past the ninth have no key: here (and a click in the item panel) sets them
        self.more_types_menu = review.addMenu("More error types")
        self.more_types_menu.aboutToShow.connect(self._fill_more_types)
        self.more_types_menu.menuAction().setVisible(False)
        review.addAction("Edit &error types…", self.edit_error_types)
        order_menu = review.addMenu("Queue &order")
        group = QActionGroup(self)
        self.order_actions: dict[str, QAction] = {}
        for order in ORDERS:
            act = order_menu.addAction(order, lambda o=order: self._set_order(o))
            act.setCheckable(True)
            act.setChecked(order == self.spec.order)
            group.addAction(act)
            self.order_actions[order] = act

        view = bar.addMenu("&View")
        view.addActions([a["grid"], a["panels"], a["zoom_in"], a["zoom_out"], a["zoom_reset"], a["page_down"],
                         a["page_up"]])
        view.addSeparator()
        themes = view.addMenu("&Theme")
        tgroup = QActionGroup(self)
        for name in theme.THEMES:
            act = themes.addAction(name.capitalize(), lambda n=name: self.set_theme(n))
            act.setCheckable(True)
            act.setChecked(name == theme.current())
            tgroup.addAction(act)
        self.panels_menu = view.addMenu("&Panels")
        self.panels_menu.menuAction().setVisible(False)

        helpm = bar.addMenu("&Help")
        helpm.addAction(a["help"])
        helpm.addAction("&About labeler", lambda: dialogs.about(self))

    def _fill_more_types(self) -> None:
        s, menu = self.session, self.more_types_menu
        menu.clear()
        d = s.decision(s.current_id) if s is not None and s.current_id is not None else None
        for name in self.error_types[9:]:
            act = menu.addAction(name, lambda n=name: self._do("toggle_error_type", n))
            act.setCheckable(True)
            act.setChecked(d is not None and name in d.error_types)

    def _menu_action(self, menu: QMenu, text: str, slot, shortcut) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        self.addAction(action)
        return action

    def set_theme(self, name: str) -> None:
        self.settings.setValue("theme", theme.apply(QApplication.instance(), name))
        if self.session is not None:
            self._refresh({"moved"})  # colours set for the old theme

    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = event.mimeData().urls()[0].toLocalFile()
        event.acceptProposedAction()
        QTimer.singleShot(0, lambda: self.open_path(path))  # not inside the drop: the import opens a dialog

    def closeEvent(self, event) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()
        self.item_view.prefetcher.shutdown()
        self.grid_mode.grid.shutdown()
        self.close_project()
        self._leave_team(closing=True)
        super().closeEvent(event)
