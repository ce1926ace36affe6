"""Open what the user asked for: a project, or a predictions file that is imported first.

The import runs on a worker thread with a progress dialog that can cancel it (BAD_INPUTS row 19);
the GUI thread only waits in its event loop, so the window keeps painting. Errors are raised to the
caller, which shows them in a dialog.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QEventLoop, QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

from labeler.core.importer import ImportCancelled, ImportSummary, MissingColumns, import_predictions
from labeler.core.store import (SQLITE_MAGIC, ErrorTypesInUse, Project, ProjectError, ProjectLocked, ProjectReadOnly,
                                default_project_path)

PROJECT_SUFFIX = ".labeler.db"
STAGES = {"reading": "Reading", "checking": "Checking", "ranking": "Ranking labels", "writing": "Writing", "done": "Done"}


def is_project_file(path: str | Path) -> bool:
    """A labeler project is an SQLite file; anything else is a predictions file to import."""
    p = Path(path)
    if p.name.endswith(PROJECT_SUFFIX):
        return True
    try:
        with open(p, "rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


class _Signals(QObject):
    progress = Signal(str, float)
    finished = Signal(object, object)  # summary, exception


def import_with_progress(
    parent: QWidget | None, source: str | Path, project_path: str | Path | None = None,
    columns: dict[str, str] | None = None,
) -> ImportSummary:
    """Import ``source`` on a worker thread while a progress dialog shows the stage; raises what the
    import raised (ImportProblem, ProjectError, ImportCancelled)."""
    cancel = threading.Event()
    signals = _Signals()
    dialog = QProgressDialog(f"Importing {Path(source).name}…", "Cancel", 0, 1000, parent)
    dialog.setWindowTitle("labeler: import")
    dialog.setWindowModality(Qt.WindowModality.WindowModal if parent else Qt.WindowModality.ApplicationModal)
    dialog.setMinimumDuration(400)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.canceled.connect(cancel.set)
    loop = QEventLoop()
    outcome: dict = {}

    def on_progress(stage: str, frac: float) -> None:
        dialog.setLabelText(f"{STAGES.get(stage, stage)} {Path(source).name}…")
        dialog.setValue(int(1000 * min(max(frac, 0.0), 1.0)))

    def on_finished(summary, error) -> None:
        outcome["summary"], outcome["error"] = summary, error
        loop.quit()

    signals.progress.connect(on_progress, Qt.ConnectionType.QueuedConnection)
    signals.finished.connect(on_finished, Qt.ConnectionType.QueuedConnection)

    def work() -> None:
        try:
            summary = import_predictions(
                source, project_path, columns=columns,
                progress=lambda st, fr: signals.progress.emit(st, fr), cancel=cancel,
            )
        except BaseException as e:  # handed to the GUI thread, which raises it there
            signals.finished.emit(None, e)
        else:
            signals.finished.emit(summary, None)

    thread = threading.Thread(target=work, name="labeler-import", daemon=True)
    thread.start()
    if "summary" not in outcome:
        loop.exec()
    thread.join()
    dialog.close()
    dialog.deleteLater()
    if outcome.get("error") is not None:
        raise outcome["error"]
    return outcome["summary"]


def confirm_dropping(parent: QWidget | None, problem: ErrorTypesInUse) -> bool:
    """Ask (Yes/No, No by default) whether to drop error types that decisions use anyway."""
    text = str(problem)
    answer = QMessageBox.question(
        parent, "labeler: error types in use",
        f"{text[:1].upper()}{text[1:]}.\n\nThose decisions keep the names, but the tally would count them as"
        " untagged. Rename an error type instead to keep its decisions (Review ▸ Edit error types…).\n\n"
        "Drop them anyway? No keeps the error types as they are.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def open_source(
    parent: QWidget | None,
    source: str | Path | None,
    project: str | Path | None = None,
    taxonomy: str | Path | None = None,
    *,
    readonly: bool = False,
) -> tuple[Project, ImportSummary | None]:
    """Open a project, importing ``source`` into it first if that is a predictions file.

    Re-importing the predictions file of an existing project updates it and keeps its reviews. A
    ``taxonomy`` that drops error types in use is applied only if the user says so (else the
    project keeps its own). ``readonly``: nothing is imported or written; a predictions file opens
    the project made from it."""
    summary = None
    if readonly:
        project_path = target_project(source, project)
        if not project_path.exists():
            raise ProjectError(f"cannot open {source or project} read-only: there is no project {project_path} yet"
                               " (import the predictions first, where the folder can be written)")
        return Project.open(project_path, readonly=True), None
    if source is not None and not is_project_file(source):
        columns = None
        while True:
            try:
                summary = import_with_progress(parent, source, project or default_project_path(source), columns)
                break
            except MissingColumns as problem:
                # the columns did not map by themselves: ask, with a preview of the first rows
                from .column_dialog import ColumnMappingDialog

                dialog = ColumnMappingDialog(parent, source, problem)
                if dialog.exec() != ColumnMappingDialog.DialogCode.Accepted:
                    raise ImportCancelled() from None
                columns = dialog.overrides()
        project_path = summary.project
    else:
        project_path = Path(source if source is not None else project)
    opened = Project.open(project_path)
    if taxonomy is not None:
        try:
            try:
                names = Path(taxonomy).read_text(encoding="utf-8-sig").splitlines()
            except UnicodeDecodeError as e:
                line = Path(taxonomy).read_bytes()[: e.start].count(b"\n") + 1
                raise ProjectError(f"{taxonomy}: line {line} is not UTF-8 text (byte 0x{e.object[e.start]:02x});"
                                   " save it as UTF-8") from None
            try:
                opened.set_error_types(names)
            except ErrorTypesInUse as e:
                if confirm_dropping(parent, e):
                    opened.set_error_types(names, force=True)
        except BaseException:
            opened.close()
            raise
    return opened, summary


def target_project(source: str | Path | None, project: str | Path | None = None) -> Path:
    """The project that ``source`` (a project or a predictions file) or ``project`` names."""
    if source is not None and not is_project_file(source):
        return Path(project) if project else default_project_path(source)
    return Path(source if source is not None else project)


def offer_read_only(parent: QWidget | None, problem: ProjectError) -> bool:
    """Another labeler writes to the project, or its folder cannot be written: ask (Yes/No, Yes by
    default) whether to open it read-only: everything can be looked at, nothing is saved."""
    answer = QMessageBox.question(
        parent, "labeler: open read-only?",
        f"{problem}\n\nOpen it read-only? You can look at every item and panel, but no decision is saved.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes,
    )
    return answer == QMessageBox.StandardButton.Yes


def open_or_read_only(
    parent: QWidget | None,
    source: str | Path | None,
    project: str | Path | None = None,
    taxonomy: str | Path | None = None,
    *,
    readonly: bool = False,
) -> tuple[Project, ImportSummary | None] | None:
    """:func:`open_source`; when the project cannot be written (another labeler holds it, or a
    read-only folder) but exists, offer to open it read-only. None: the user said no."""
    try:
        return open_source(parent, source, project, taxonomy, readonly=readonly)
    except (ProjectLocked, ProjectReadOnly) as problem:
        if readonly or not target_project(source, project).exists():
            raise
        if not offer_read_only(parent, problem):
            return None
        return open_source(parent, source, project, readonly=True)


__all__ = ["ImportCancelled", "confirm_dropping", "import_with_progress", "is_project_file", "offer_read_only",
           "open_or_read_only", "open_source", "target_project"]
