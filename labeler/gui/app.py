"""Start the review window: ``labeler review`` calls :func:`run`.

It opens the project (importing a predictions file first, off the GUI thread, with progress), applies
a taxonomy, shows the window and runs the event loop. Problems with the input are dialogs, not
tracebacks; anything unexpected is logged and shown (see :mod:`labeler.gui.errors`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox

from labeler.core.importer import ImportCancelled, ImportProblem
from labeler.core.queue import QueueSpec
from labeler.core.store import Project, ProjectError

from . import errors, keymap as keymapmod, loader, theme

ORGANIZATION = "labeler"
APP_NAME = "labeler"
EXIT_PROBLEM = 2


def application(argv: list[str] | None = None) -> QApplication:
    """The QApplication, named so QSettings and QStandardPaths find the app's folders."""
    # Image decoders run on worker threads. When the GUI thread wants the GIL back after a key
    # press, Python hands it over at the next switch interval: 5 ms by default, a visible share of
    # the 8 ms from key to image. 1 ms costs the workers next to nothing.
    sys.setswitchinterval(0.001)
    app = QApplication.instance()
    if app is None:
        QApplication.setOrganizationName(ORGANIZATION)
        QApplication.setApplicationName(APP_NAME)
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName("labeler")
    return app


def _find_project_here() -> Path | None:
    found = sorted(Path.cwd().glob(f"*{loader.PROJECT_SUFFIX}"))
    return found[0] if len(found) == 1 else None


def run(
    source: str | None = None,
    project: str | None = None,
    spec: QueueSpec = QueueSpec(),
    taxonomy: str | None = None,
    reviewer: str | None = None,
    readonly: bool = False,
    team: str | None = None,
    overlap: int | None = None,
) -> int:
    """Open the review window on ``source`` (predictions or project) or ``project``; the exit code.
    ``readonly``: look, save nothing (offered too when another labeler writes to the project)."""
    app = application()
    errors.install()
    settings = QSettings()
    theme.apply(app, str(settings.value("theme", "light")))
    try:
        keymap = keymapmod.load()
    except keymapmod.KeymapError as e:
        QMessageBox.warning(None, "labeler: keymap", f"{e}\n\nUsing the default keys.")
        keymap = keymapmod.default_keymap()

    from .main_window import MainWindow  # after the QApplication: widgets need it

    window = MainWindow(settings=settings, keymap=keymap, reviewer=reviewer, spec=spec)
    if team is not None:  # a team project on a server: reviewed live, as ``reviewer``
        if not window.open_team(team, overlap=overlap):
            return EXIT_PROBLEM
    elif source is None and project is None:
        project = _find_project_here()
    if team is None and (source is not None or project is not None):
        try:
            found = loader.open_or_read_only(None, source, project, taxonomy, readonly=readonly)
        except ImportCancelled:
            return EXIT_PROBLEM
        except (ProjectError, ImportProblem, OSError) as e:
            QMessageBox.critical(None, "labeler: cannot open", str(e))
            return EXIT_PROBLEM
        if found is None:  # read-only was offered and declined
            return EXIT_PROBLEM
        opened, summary = found
        problem = window.take_project(opened, spec)
        if problem is not None:
            QMessageBox.critical(None, "labeler: cannot review this", problem)
            return EXIT_PROBLEM
        if summary is not None:
            window.statusBar().showMessage(summary.lines()[0], 8000)
    window.show()
    window.item_view.image_view.setFocus()
    return app.exec()


def run_own_labels(project_path: str | Path, spec, reviewer: str | None, *, label: bool = False) -> int:
    """`labeler review --blind` (or ``label``: `labeler review --label`): open the project and the
    window; the exit code."""
    from .blind_window import BlindWindow

    app = application()
    errors.install()
    settings = QSettings()
    theme.apply(app, str(settings.value("theme", "light")))
    try:
        project = Project.open(project_path)
        if label:
            from labeler.core.labeling import LabelSession

            window = BlindWindow(project, spec, reviewer, settings, session=LabelSession(project, spec, reviewer))
        else:
            window = BlindWindow(project, spec, reviewer, settings)
    except ProjectError as e:
        QMessageBox.critical(None, "labeler: cannot open", str(e))
        return 2
    window.show()
    window.item_view.image_view.setFocus()
    return app.exec()
