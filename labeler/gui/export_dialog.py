"""File ▸ Export…: write the corrected training set, the corrections, the tallies, the summary and the
report (:func:`labeler.core.export.export_all`) from the window.

A small dialog asks for the output folder, the training-set file, whether to leave out the rows
tagged ambiguous, and the format of the corrected copy. The export runs on a worker thread, through
a read-only connection of its own, while a window-modal progress dialog (which also keeps review keys
from writing meanwhile) can cancel it; export_all then leaves any earlier export as it was. A problem
is a dialog with the core's message; success is a message naming the output folder.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QWidget,
)

from labeler.core.export import ExportCancelled, ExportProblem, corrected_name, export_all
from labeler.core.store import Project, ProjectError

FORMATS = (("same", "Same as the training file"), ("csv", "CSV"), ("parquet", "Parquet"))
TRAIN_FILTER = "Training sets (*.csv *.tsv *.txt *.gz *.parquet *.pq *.jsonl *.ndjson);;All files (*)"
STAGES = {"corrections": "Collecting corrections", "training set": "Writing the corrected training set",
          "tally": "Writing the tallies", "report": "Writing the report", "writing": "Moving files into place",
          "done": "Done"}


def default_out_dir(project_path: Path) -> Path:
    """``data/digits.labeler.db`` -> ``data/digits-export``."""
    name = project_path.name
    stem = name[: -len(".labeler.db")] if name.endswith(".labeler.db") else project_path.stem
    return project_path.with_name(f"{stem}-export")


class ExportDialog(QDialog):
    """What to export, and where. The window runs the export; this only asks."""

    def __init__(self, *, out_dir: Path, train_file: str | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export corrected labels")
        self.setObjectName("exportDialog")
        self.registered = train_file
        self.out_dir = QLineEdit(str(out_dir))
        self.out_dir.setObjectName("outDir")
        self.train_file = QLineEdit(train_file or "")
        self.train_file.setObjectName("trainFile")
        self.train_file.setPlaceholderText("none registered: corrections.csv and the report only")
        self.drop_ambiguous = QCheckBox("Leave out the rows tagged ambiguous")
        self.format = QComboBox()
        for key, text in FORMATS:
            self.format.addItem(text, key)
        self.note = QLabel()
        self.note.setWordWrap(False)  # wrapped labels leave a dialog taller than its contents
        self.note.setObjectName("exportNote")
        form = QFormLayout(self)
        form.addRow("Output folder", self._with_browse(self.out_dir, self._browse_out))
        form.addRow("Training file", self._with_browse(self.train_file, self._browse_train))
        form.addRow("Corrected copy", self.format)
        form.addRow("", self.drop_ambiguous)
        form.addRow(self.note)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = box.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setDefault(True)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        form.addRow(box)
        for signal in (self.out_dir.textChanged, self.train_file.textChanged, self.format.currentIndexChanged):
            signal.connect(self._update_note)
        self._update_note()
        self.setMinimumWidth(640)

    @staticmethod
    def _with_browse(edit: QLineEdit, slot) -> QWidget:
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.setAutoDefault(False)
        button.clicked.connect(slot)
        lay.addWidget(button)
        return row

    def _browse_out(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export into", self.out_dir.text())
        if path:
            self.out_dir.setText(path)

    def _browse_train(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "The training-set file", self.train_file.text(), TRAIN_FILTER)
        if path:
            self.train_file.setText(path)

    def _update_note(self, *_args) -> None:
        out = self.out_dir.text().strip()
        train = self.train_file.text().strip()
        if train:
            try:
                copy = corrected_name(Path(train), self.format.currentData())
            except Exception:  # an odd name: the export itself will say what is wrong
                copy = "the corrected copy"
            what = f"{copy}, corrections.csv, tally.csv/.md/.json, summary.json, report.html"
        else:
            what = "corrections.csv, tally.csv/.md/.json, summary.json, report.html (no training file)"
        self.note.setText(f"Writes {what}.\nSource files are never written; an earlier export in that folder is"
                          " replaced\nonly once every file of this one is written.")
        self.export_button.setEnabled(bool(out))

    def options(self) -> dict:
        """Keyword arguments for :func:`export_all` (``train_file`` only when it differs from the one
        registered, which export_all then registers)."""
        train = self.train_file.text().strip()
        changed = train and (self.registered is None or Path(train).expanduser().resolve() != Path(self.registered))
        return {"out_dir": Path(self.out_dir.text().strip()).expanduser(),
                "train_file": train if changed else None,
                "drop_ambiguous": self.drop_ambiguous.isChecked(),
                "fmt": self.format.currentData()}


class _Signals(QObject):
    progress = Signal(str, float)
    finished = Signal(object, object)  # ExportResult | None, exception | None


class ExportTask(QRunnable):
    """export_all on a worker thread, through a read-only connection of its own."""

    def __init__(self, project_path: Path, options: dict):
        super().__init__()
        self.project_path, self.options = project_path, options
        self.cancel = threading.Event()
        self.signals = _Signals()

    def run(self) -> None:
        try:
            with Project.open(self.project_path, readonly=True) as p:
                result = export_all(p, **self.options, cancel=self.cancel,
                                    progress=lambda st, fr: self.signals.progress.emit(st, fr))
        except BaseException as e:  # shown by the GUI thread
            self.signals.finished.emit(None, e)
        else:
            self.signals.finished.emit(result, None)


class ExportController(QObject):
    """File ▸ Export… of a :class:`~labeler.gui.main_window.MainWindow`."""

    finished = Signal(object, str)  # ExportResult | None, message

    def __init__(self, window, action):
        super().__init__(window)
        self.window, self.action = window, action
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.dialog: ExportDialog | None = None
        self.progress: QProgressDialog | None = None
        self.message: QMessageBox | None = None
        self.task: ExportTask | None = None
        action.setShortcut(QKeySequence("Ctrl+E"))
        action.setEnabled(True)
        action.triggered.connect(lambda _checked=False: self.open_dialog())
        for menu in action.associatedObjects():
            if hasattr(menu, "aboutToShow"):
                menu.aboutToShow.connect(lambda: action.setEnabled(self.window.session is not None))

    def open_dialog(self) -> ExportDialog | None:
        s = self.window.session
        if s is None:
            self.window.statusBar().showMessage("Open a project first: there is nothing to export.", 5000)
            return None
        if self.task is not None:
            return None
        p = s.project
        last = self.window.settings.value(f"export/{p.path.resolve()}")
        dialog = ExportDialog(out_dir=Path(last) if last else default_out_dir(p.path),
                              train_file=p.meta("train_file"), parent=self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.accepted.connect(lambda: self.start(dialog.options()))
        dialog.finished.connect(self._dialog_closed)
        self.dialog = dialog
        dialog.open()
        return dialog

    def _dialog_closed(self, result: int) -> None:
        self.dialog = None
        if result != QDialog.DialogCode.Accepted:
            self._back_to_review()

    def start(self, options: dict) -> None:
        s = self.window.session
        if s is None or self.task is not None:
            return
        self.window.settings.setValue(f"export/{s.project.path.resolve()}", str(options["out_dir"]))
        task = ExportTask(s.project.path, options)
        task.setAutoDelete(False)
        progress = QProgressDialog("Exporting…", "Cancel", 0, 1000, self.window)
        progress.setWindowTitle("labeler: export")
        progress.setWindowModality(Qt.WindowModality.WindowModal)  # no decisions while it reads them
        progress.setMinimumDuration(300)
        progress.setAutoClose(False)
        progress.setAutoReset(False)
        progress.setValue(0)
        progress.canceled.connect(task.cancel.set)
        task.signals.progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        task.signals.finished.connect(lambda result, error: self._on_finished(task, options, result, error),
                                      Qt.ConnectionType.QueuedConnection)
        self.task, self.progress = task, progress
        self.pool.start(task)

    def _on_progress(self, stage: str, frac: float) -> None:
        if self.progress is not None and not self.progress.wasCanceled():
            self.progress.setLabelText(f"{STAGES.get(stage, stage.capitalize())}…")
            self.progress.setValue(int(1000 * min(max(frac, 0.0), 1.0)))

    def _on_finished(self, task: ExportTask, options: dict, result, error) -> None:
        self.task = None
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
            self.progress = None
        if isinstance(error, ExportCancelled):
            message = "Export cancelled; the files of any earlier export are as they were."
            self.window.statusBar().showMessage(message, 8000)
            self._back_to_review()
            self.finished.emit(None, message)
            return
        if error is not None:
            message = str(error) if isinstance(error, (ExportProblem, ProjectError, OSError)) else \
                f"{type(error).__name__}: {error}"
            box = self._message(QMessageBox.Icon.Critical, "labeler: export failed", f"Nothing was exported.\n\n{message}")
            box.addButton(QMessageBox.StandardButton.Ok)
            box.open()
            self.finished.emit(None, message)
            return
        warnings = self._register(options, result)
        out = result.out_dir.resolve()
        lines = result.lines()[1:]
        box = self._message(QMessageBox.Icon.Information, "labeler: exported",
                            f"Exported to {out}\n\n" + "\n".join(line.strip() for line in lines + warnings))
        open_button = box.addButton("Open folder", QMessageBox.ButtonRole.ActionRole)
        open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(out))))
        box.addButton(QMessageBox.StandardButton.Ok)
        box.open()
        self.window.statusBar().showMessage(f"Exported to {out}", 10000)
        self.finished.emit(result, f"Exported to {out}")

    def _register(self, options: dict, result) -> list[str]:
        """The training file chosen in the dialog becomes the project's (as `labeler export
        --train-file` does); the export ran read-only, so the window writes it."""
        train = options.get("train_file")
        s = self.window.session
        if not train or s is None or s.project.readonly:
            return []
        target = str(Path(train).expanduser().resolve())
        result.warnings[:] = [w for w in result.warnings if not w.startswith(f"{target} was used but not registered")]
        try:
            s.project.set_meta("train_file", target)
        except ProjectError as e:
            return [f"warning: {target} was used but could not be registered: {e}"]
        return []

    def _message(self, icon, title: str, text: str) -> QMessageBox:
        """A window-modal message, opened by the caller once its buttons are in (no nested event loop)."""
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.NoButton, self.window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.finished.connect(self._message_closed)
        self.message = box
        return box

    def _message_closed(self, _result: int) -> None:
        self.message = None
        self._back_to_review()

    def _back_to_review(self) -> None:
        """Keys go to the review again (a window manager re-activates the window; offscreen nothing does)."""
        self.window.activateWindow()
        view = getattr(getattr(self.window, "item_view", None), "image_view", None)
        if view is not None:
            view.setFocus()


def install(window, action) -> ExportController:
    """Make ``action`` (File ▸ Export…) of ``window`` export."""
    return ExportController(window, action)


__all__ = ["ExportController", "ExportDialog", "default_out_dir", "install"]
