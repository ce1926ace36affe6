"""Review modes: which queue the window walks, chosen in a toolbar.

"Dev errors" (the default queue), "Training label issues" (the training set, likeliest wrong label
first, where P accepts the suggested label), "Confusion cell" (one given -> predicted pair),
"Duplicates and leaks" (dev images duplicated in train or with conflicting labels, the group side
by side in a dock) and "Custom filter" (split, scope, order, label, prediction, unreviewed). Each mode is a
:class:`~labeler.core.queue.QueueSpec` handed to the session; the window redraws from the session's
"queue" event.

A quality-ordered queue needs label-quality scores. When its split has none (ranking is on demand:
importing cleanlab alone takes seconds), :class:`RankTask` computes them on a worker thread with its
own read-only connection, while a progress bar in the toolbar can cancel it; the scores are stored
on the GUI thread, in one transaction, since decisions are written through the same connection.

In the training-label-issues mode the toolbar shows how many examples are flagged, how many of them
have been reviewed, and how many of those the reviewer judged wrongly labeled: the precision of the
flags so far, which tells the reviewer when going on stops paying. It also shows the warning of a
weaker ranking (no probabilities) or of probabilities that look in-sample.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QSizePolicy,
    QSpinBox,
    QToolBar,
    QToolButton,
    QWidget,
)

from labeler.core import ranking
from labeler.core.queue import ORDERS, SCOPES, QueueRefused, QueueSpec
from labeler.core.session import SessionEvent
from labeler.core.store import Project, ProjectError

from . import theme

DEV_ERRORS = "Dev errors"
LABEL_ISSUES = "Training label issues"
CONFUSION_CELL = "Confusion cell"
CUSTOM = "Custom filter"
DUPLICATES = "Duplicates and leaks"
LABEL_UNLABELED = "Label unlabeled"  # opens the labeling window on the same project
MODES = (DEV_ERRORS, LABEL_ISSUES, CONFUSION_CELL, CUSTOM, DUPLICATES, LABEL_UNLABELED)
REVIEW_SPLITS = ("dev", "train")  # the test split is kept out of review (labeler review --allow-test)
ANY = "(any)"
STAGES = {"reading": "Reading probabilities", "scoring": "Scoring labels (cleanlab)", "scored": "Storing scores"}


def mode_of(spec: QueueSpec) -> str:
    """The mode a queue belongs to."""
    if spec.scope == "duplicates":
        return DUPLICATES
    if spec.split == "train" and spec.order == "quality" and spec.label is None and spec.pred is None \
            and not spec.unreviewed:
        return LABEL_ISSUES
    if spec.split == "dev" and spec.scope == "errors" and spec.label is None and spec.pred is None \
            and not spec.unreviewed:
        return DEV_ERRORS
    if spec.label is not None and spec.pred is not None and not spec.unreviewed:
        return CONFUSION_CELL
    return CUSTOM


def dev_errors_spec(current: QueueSpec) -> QueueSpec:
    return QueueSpec(split="dev", order="random", seed=current.seed, scope="errors")


def duplicates_spec(current: QueueSpec) -> QueueSpec:
    """The examples of the split under review (dev, or train when reviewing the training set) whose
    image is in a duplicate group that leaks across splits or has conflicting labels (needs
    `labeler scan`), in file order; the group is shown side by side."""
    split = current.split if current.split in REVIEW_SPLITS else "dev"
    return QueueSpec(split=split, order="file", seed=current.seed, scope="duplicates")


def label_issues_spec(current: QueueSpec) -> QueueSpec:
    """Every labeled training example, likeliest wrong label first: the flagged ones come first, and
    the reviewer can go on past them while the precision of the flags stays worth it."""
    return QueueSpec(split="train", order="quality", seed=current.seed, scope="all")


def worst_cell(frame, split: str) -> tuple[str, str] | None:
    """The most frequent given -> predicted confusion of ``split``."""
    part = frame[(frame["split"] == split) & frame["wrong"]]
    if part.empty:
        return None
    counts = part.groupby(["label", "pred"], sort=True).size()
    return tuple(counts.idxmax())


# -- the worker --------------------------------------------------------------------------------


class _RankSignals(QObject):
    progress = Signal(str, float)
    finished = Signal(object, object)  # Scores | None, exception | None


class RankTask(QRunnable):
    """Compute the label-quality scores of one split on a worker thread. It reads the project through
    its own read-only connection and the frame it is given (which nobody changes); it writes nothing."""

    def __init__(self, path: Path, frame, split: str):
        super().__init__()
        self.path, self.frame, self.split = path, frame, split
        self.cancel = threading.Event()
        self.signals = _RankSignals()
        self.thread_id: int | None = None

    def run(self) -> None:
        self.thread_id = threading.get_ident()
        try:
            with Project.open(self.path, readonly=True) as p:
                scores = ranking.compute(p, self.frame, self.split, cancel=self.cancel,
                                         progress=lambda st, fr: self.signals.progress.emit(st, fr))
        except BaseException as e:  # handed to the GUI thread, which shows it
            self.signals.finished.emit(None, e)
        else:
            self.signals.finished.emit(scores, None)


# -- dialogs ----------------------------------------------------------------------------------


def _class_combo(classes: list[str], current: str | None, *, any_item: bool) -> QComboBox:
    box = QComboBox()
    if any_item:
        box.addItem(ANY, None)
    for c in classes:
        box.addItem(c, c)
    i = box.findData(current) if current is not None else 0
    box.setCurrentIndex(max(i, 0))
    return box


def _split_combo(current: str) -> QComboBox:
    box = QComboBox()
    for s in REVIEW_SPLITS:
        box.addItem(s, s)
    box.setCurrentIndex(max(box.findData(current), 0))
    box.setToolTip("The test split is kept out of review (labeler review --allow-test if you insist)")
    return box


class ConfusionCellDialog(QDialog):
    """One cell of the confusion matrix: given label -> predicted label, in a split."""

    def __init__(self, classes: list[str], given: str | None, pred: str | None, split: str = "dev",
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Review one confusion cell")
        self.setObjectName("confusionCellDialog")
        self.split = _split_combo(split)
        self.given = _class_combo(classes, given, any_item=False)
        self.pred = _class_combo(classes, pred, any_item=False)
        form = QFormLayout(self)
        form.addRow("Split", self.split)
        form.addRow("Given label", self.given)
        form.addRow("Predicted", self.pred)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        form.addRow(box)

    def spec(self, current: QueueSpec) -> QueueSpec:
        given, pred = self.given.currentData(), self.pred.currentData()
        return QueueSpec(split=self.split.currentData(), order="random", seed=current.seed,
                         scope="errors" if given != pred else "all", label=given, pred=pred)


class CustomFilterDialog(QDialog):
    """Any queue: split, scope, order, given label, prediction, unreviewed only."""

    def __init__(self, classes: list[str], current: QueueSpec, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Custom review queue")
        self.setObjectName("customFilterDialog")
        self.split = _split_combo(current.split)
        self.scope = QComboBox()
        for s, text in (("errors", "errors (misclassified)"), ("all", "all labeled examples"),
                        ("flagged", "flagged label issues"),
                        ("disagreements", "reviewers disagree (blind labels)")):
            self.scope.addItem(text, s)
        self.scope.setCurrentIndex(max(self.scope.findData(current.scope), 0))
        self.order = QComboBox()
        for o in ORDERS:
            self.order.addItem(o, o)
        self.order.setCurrentIndex(max(self.order.findData(current.order), 0))
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(current.seed)
        self.label = _class_combo(classes, current.label, any_item=True)
        self.pred = _class_combo(classes, current.pred, any_item=True)
        self.unreviewed = QCheckBox("Only examples not reviewed yet")
        self.unreviewed.setChecked(current.unreviewed)
        form = QFormLayout(self)
        form.addRow("Split", self.split)
        form.addRow("Examples", self.scope)
        form.addRow("Order", self.order)
        form.addRow("Seed (random order)", self.seed)
        form.addRow("Given label", self.label)
        form.addRow("Predicted", self.pred)
        form.addRow("", self.unreviewed)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        form.addRow(box)

    def spec(self) -> QueueSpec:
        assert self.scope.currentData() in SCOPES
        return QueueSpec(split=self.split.currentData(), order=self.order.currentData(), seed=self.seed.value(),
                         scope=self.scope.currentData(), label=self.label.currentData(),
                         pred=self.pred.currentData(), unreviewed=self.unreviewed.isChecked())


# -- the toolbar ---------------------------------------------------------------------------------


class FlagStatsWidget(QWidget):
    """Flagged, reviewed, judged wrong, precision so far; this item's score; the ranking's warning."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.stats_label = QLabel()
        self.stats_label.setObjectName("flagStats")
        self.stats_label.setTextFormat(Qt.TextFormat.RichText)
        self.item_label = QLabel()
        self.item_label.setObjectName("flagItem")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 0, 8, 0)
        lay.setSpacing(16)
        lay.addWidget(self.stats_label)
        lay.addWidget(self.item_label, 1)
        self.stats = ranking.FlagStats()

    def show_stats(self, stats: ranking.FlagStats) -> None:
        self.stats = stats
        prec = "—" if stats.precision is None else f"{stats.precision:.0%}"
        self.stats_label.setText(
            f"Flagged <b>{stats.flagged}</b> &nbsp;·&nbsp; reviewed <b>{stats.reviewed}</b>"
            f" &nbsp;·&nbsp; judged wrong <b>{stats.wrong}</b> &nbsp;·&nbsp; precision so far <b>{prec}</b>"
        )
        self.stats_label.setToolTip(
            "Flags: the training examples cleanlab finds likely mislabeled. Precision so far: of the flagged"
            " examples you have reviewed, the share you judged wrongly labeled (a corrected label or the"
            " mislabeled tag). When it drops, the rest of the list is mostly right."
        )

    def show_item(self, row: dict | None) -> None:
        if row is None or row.get("quality") is None or row["quality"] != row["quality"]:
            self.item_label.setText("")
            return
        flag = "flagged" if row.get("flagged") else "not flagged"
        self.item_label.setText(f"this one: {flag}, quality {row['quality']:.2g}, P accepts {row.get('suggested')}")



class RankWarning(QLabel):
    """Why the ranking deserves less trust (no probabilities, in-sample probabilities), in full: it
    says what to do about it, so it gets a line of its own under the mode bar."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("rankWarning")
        self.setWordWrap(True)
        self.setContentsMargins(8, 2, 8, 2)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.warnings: list[str] = []

    def show_warnings(self, warnings: list[str]) -> None:
        self.warnings = list(warnings)
        self.setText("\n".join(f"⚠ {w[0].upper()}{w[1:]}." for w in warnings))
        self.setToolTip("Label-quality scores are only as good as the probabilities they come from.")
        pal = self.palette()
        pal.setColor(self.foregroundRole(), theme.CORRECTED)
        self.setPalette(pal)


class ModeController(QObject):
    """The mode selector and the label-issue figures of a :class:`~labeler.gui.main_window.MainWindow`.

    It talks to the window's session only: ``set_queue`` to switch, its events to follow along."""

    ranked = Signal(object)  # RankResult, once scores are stored
    rank_failed = Signal(str)
    mode_changed = Signal(str)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.task: RankTask | None = None
        self._task_session = None
        self._pending: QueueSpec | None = None  # the queue to show once the ranking is stored
        self._tried: set[tuple[int, str]] = set()  # (session, split) already ranked or failed: no loop
        self._flagged: set[str] = set()
        self._session = None
        self._warnings: dict[str, list[str]] = {}
        self.dialog: QDialog | None = None
        self.last_rank_thread: int | None = None

        self.toolbar = QToolBar("Review mode", window)
        self.toolbar.setObjectName("modeToolbar")
        self.toolbar.setMovable(False)
        self.combo = QComboBox()
        self.combo.setObjectName("modeCombo")
        self.combo.addItems(MODES)
        self.combo.setToolTip("Which examples to review, in which order")
        self.combo.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # keys belong to the review
        self.combo.setEnabled(False)
        self.combo.activated.connect(lambda i: self.set_mode(MODES[i]))
        caption = QLabel(" Mode ")
        self.toolbar.addWidget(caption)
        self.toolbar.addWidget(self.combo)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("Ranking… %p%")
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.clicked.connect(self.cancel_ranking)
        self.stats = FlagStatsWidget()
        self.stats.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._progress_action = self.toolbar.addWidget(self.progress)
        self._cancel_action = self.toolbar.addWidget(self.cancel_button)
        self._stats_action = self.toolbar.addWidget(self.stats)
        for a in (self._progress_action, self._cancel_action, self._stats_action):
            a.setVisible(False)
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)
        self.warning = RankWarning()
        self.warning_bar = QToolBar("Ranking warning", window)
        self.warning_bar.setObjectName("rankWarningToolbar")
        self.warning_bar.setMovable(False)
        self.warning_bar.addWidget(self.warning)
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.warning_bar)
        window.insertToolBarBreak(self.warning_bar)  # a line of its own, under the mode bar
        self.warning_bar.setVisible(False)
        window.session_changed.connect(self._on_session_changed)
        window.installEventFilter(self)
        self._on_session_changed()

    # -- the session ------------------------------------------------------------------------------
    @property
    def session(self):
        return self.window.session

    def _on_session_changed(self) -> None:
        s = self.session
        self.combo.setEnabled(s is not None)
        if s is None or s is self._session:
            return
        self._session = s
        self._warnings = {}
        s.subscribe(lambda e, s=s: self._on_event(s, e))
        self._follow_queue()

    def _on_event(self, session, event: SessionEvent) -> None:
        if session is not self.session:
            return
        if event.kind == "queue":
            self._follow_queue()
        elif event.kind == "decision" and event.change is not None and event.example_id in self._flagged:
            self.stats.show_stats(self.stats.stats.after(event.change.before, event.change.after))
        if event.kind in ("moved", "queue", "decision"):
            self._show_item()
        if event.kind == "moved":
            self._show_duplicates()

    def _follow_queue(self) -> None:
        """The combo box, the figures and (for a quality order without scores) a ranking follow the
        session's queue, however it was chosen (this toolbar, the Queue order menu, the command line)."""
        s = self.session
        if s is None:
            return
        mode = mode_of(s.spec)
        self.combo.setCurrentIndex(MODES.index(mode))
        self._show_duplicates(reload=True)
        self.window.actions["accept_prediction"].setText(
            "Accept the suggested label (again: undo it)" if s.spec.order == "quality"
            else "Accept the prediction as the label (again: undo it)")
        needs_scores = s.spec.order == "quality" or s.spec.scope == "flagged"
        if needs_scores and not ranking.has_scores(s.frame, s.spec.split) \
                and (id(s), s.spec.split) not in self._tried:
            self._start_ranking(s.spec)
        self._update_stats()

    def _update_stats(self) -> None:
        s = self.session
        show = s is not None and s.spec.order == "quality" and ranking.has_scores(s.frame, s.spec.split)
        self._stats_action.setVisible(show)
        if not show:
            self._flagged = set()
            self.warning_bar.setVisible(False)
            return
        split = s.spec.split
        self._flagged = set(ranking.flagged_ids(s.frame, split))
        self.stats.show_stats(ranking.flag_stats(s.frame, s.decision, split))
        if split not in self._warnings:
            self._warnings[split] = ranking.stored_warnings(s.project, s.frame, split)
        self.warning.show_warnings(self._warnings[split])
        self.warning_bar.setVisible(bool(self._warnings[split]))
        self._show_item()

    def _show_duplicates(self, *, reload: bool = False) -> None:
        """In the duplicates mode, the current example's group side by side in a dock of its own
        (made the first time)."""
        s = self.session
        if s is None or s.spec.scope != "duplicates":
            if getattr(self, "duplicates_dock", None) is not None:
                self.duplicates_dock.hide()
            return
        if getattr(self, "duplicates_dock", None) is None:
            from .duplicates_view import DuplicatesView

            self.duplicates_view = DuplicatesView()
            self.duplicates_dock = self.window.add_dock("Duplicates", self.duplicates_view,
                                                        Qt.DockWidgetArea.BottomDockWidgetArea)
            self.window.resizeDocks([self.duplicates_dock], [self.duplicates_view.minimumSizeHint().height() + 40],
                                    Qt.Orientation.Vertical)
        self.duplicates_dock.show()
        self.duplicates_view.show_current(s, reload=reload)

    def _show_item(self) -> None:
        s = self.session
        if s is not None and self._stats_action.isVisible():
            self.stats.show_item(s.frame_row())

    # -- switching ----------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """Switch to ``mode``; the confusion cell and the custom filter ask first (Cancel keeps the queue)."""
        s = self.session
        if s is None:
            return
        if mode == LABEL_UNLABELED:
            self.open_labeling()
            self.combo.setCurrentIndex(MODES.index(mode_of(s.spec)))  # the review's queue stays
            return
        if mode == DEV_ERRORS:
            self.apply(dev_errors_spec(s.spec))
        elif mode == LABEL_ISSUES:
            self.apply(label_issues_spec(s.spec))
        elif mode == DUPLICATES:
            self.apply(duplicates_spec(s.spec))
        elif mode == CONFUSION_CELL:
            row = s.frame_row()
            if row is not None and row["label"] is not None and row["label"] != row["pred"]:
                given, pred, split = row["label"], row["pred"], row["split"]
            else:
                split = s.spec.split if s.spec.split in REVIEW_SPLITS else "dev"
                given, pred = worst_cell(s.frame, split) or (None, None)
            dialog = ConfusionCellDialog(s.project.classes, given, pred,
                                         split if split in REVIEW_SPLITS else "dev", self.window)
            self._ask(dialog, lambda: dialog.spec(s.spec))
        else:
            dialog = CustomFilterDialog(s.project.classes, s.spec, self.window)
            self._ask(dialog, dialog.spec)
        self._restore_focus()

    def open_labeling(self):
        """The labeling window on the review's project (its connection and lock: one writer): the
        unlabeled examples, with the model's suggestion. Returns it (None when there is nothing to label)."""
        from labeler.core.labeling import LabelSession, LabelSpec
        from labeler.core.store import ProjectError

        from .blind_window import BlindWindow

        s = self.session
        if getattr(self.window, "team", None) is not None:
            from .team_view import LABELING_NOTE

            QMessageBox.information(self.window, "labeler: labeling", LABELING_NOTE)
            return None
        try:
            session = LabelSession(s.project, LabelSpec(), s.reviewer)
        except ProjectError as e:
            QMessageBox.information(self.window, "labeler: labeling", str(e))
            return None
        if not session.items:
            session.close()
            QMessageBox.information(self.window, "labeler: labeling", "Every example of this project has a label.")
            return None
        self.labeling = BlindWindow(s.project, None, session.reviewer, self.window.settings, session=session,
                                    owns_project=False)
        self.labeling.show()
        return self.labeling

    def _ask(self, dialog: QDialog, make_spec) -> None:
        # open(), not exec(): no nested event loop; Cancel puts the combo box back.
        self.dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.accepted.connect(lambda: self.apply(make_spec()))
        dialog.rejected.connect(self._follow_queue)
        dialog.finished.connect(self._dialog_closed)
        dialog.open()

    def _dialog_closed(self, _result: int) -> None:
        self.dialog = None
        self.window.activateWindow()  # a window manager does this; offscreen nothing does
        self._restore_focus()

    def apply(self, spec: QueueSpec) -> None:
        """Show the queue ``spec``; a quality order whose split has no scores is ranked first."""
        s = self.session
        if s is None:
            return
        if spec.order == "quality" or spec.scope == "flagged":
            if not ranking.has_scores(s.frame, spec.split):
                self._tried.discard((id(s), spec.split))  # chosen again: try again
                self.combo.setCurrentIndex(MODES.index(mode_of(spec)))
                self._start_ranking(spec)
                return
        self._set_queue(spec)

    def _set_queue(self, spec: QueueSpec) -> None:
        try:
            self.session.set_queue(spec)
        except (QueueRefused, ValueError) as e:
            QMessageBox.warning(self.window, "labeler: cannot review this", str(e))
            self._follow_queue()
            return
        self.mode_changed.emit(mode_of(spec))
        self._restore_focus()

    def _restore_focus(self) -> None:
        view = getattr(getattr(self.window, "item_view", None), "image_view", None)
        if view is not None and self.dialog is None:
            view.setFocus()

    # -- ranking ------------------------------------------------------------------------------------
    def _start_ranking(self, spec: QueueSpec) -> None:
        s = self.session
        self._pending = spec
        if self.task is not None and self._task_session is s and self.task.split == spec.split:
            return  # already on its way
        self.cancel_ranking()
        task = RankTask(s.project.path, s.frame, spec.split)
        task.setAutoDelete(False)
        task.signals.progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        task.signals.finished.connect(lambda scores, error, t=task: self._on_ranked(t, scores, error),
                                      Qt.ConnectionType.QueuedConnection)
        self.task, self._task_session = task, s
        self.progress.setValue(0)
        self.progress.setFormat(f"Ranking {spec.split} labels… %p%")
        self._progress_action.setVisible(True)
        self._cancel_action.setVisible(True)
        self.window.statusBar().showMessage(f"Ranking the {spec.split} labels with cleanlab…")
        self.pool.start(task)

    def cancel_ranking(self) -> None:
        if self.task is not None:
            self.task.cancel.set()

    def _on_progress(self, stage: str, frac: float) -> None:
        self.progress.setValue(int(100 * frac))
        self.progress.setToolTip(STAGES.get(stage, stage))

    def _on_ranked(self, task: RankTask, scores, error) -> None:
        self.last_rank_thread = task.thread_id
        if task is not self.task:
            return  # replaced by a later one
        self.task = None
        self._progress_action.setVisible(False)
        self._cancel_action.setVisible(False)
        s, pending, self._pending = self.session, self._pending, None
        if s is None or s is not self._task_session:
            return  # the project was closed or replaced meanwhile
        self._tried.add((id(s), task.split))
        if isinstance(error, ranking.RankCancelled):
            self.window.statusBar().showMessage("Ranking cancelled; the queue is as it was.", 5000)
            self._follow_queue()
            return
        if error is None:
            try:  # a project open read-only keeps the scores for this session only
                result = scores.result() if s.project.readonly else ranking.store(s.project, scores)
            except ProjectError as e:
                error = e
        if error is not None:
            message = f"Cannot rank the {task.split} labels: {error}"
            self.window.statusBar().showMessage(message, 10000)
            box = QMessageBox(QMessageBox.Icon.Warning, "labeler: ranking", message, parent=self.window)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
            self._follow_queue()
            self.rank_failed.emit(message)
            return
        s.frame = ranking.with_scores(s.frame, scores)
        self._warnings[task.split] = list(result.warnings)
        self.window.statusBar().showMessage(
            f"{result.ranked} {task.split} examples ranked ({result.method}); {result.flagged} flagged", 8000)
        if pending is not None and pending.split == task.split:
            self._set_queue(pending)
        else:
            self._follow_queue()
        self.ranked.emit(result)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.window and event.type() == QEvent.Type.Close:
            self.cancel_ranking()
            self.pool.waitForDone(5000)
        elif obj is self.window and event.type() == QEvent.Type.Show:
            # restoreState shows the warning bar as it was when the window last closed
            if self.session is None:
                self.warning_bar.setVisible(False)
            else:
                self._update_stats()
        return False


def install(window) -> ModeController:
    """The mode toolbar of ``window`` (a MainWindow)."""
    return ModeController(window)


__all__ = ["MODES", "ModeController", "RankTask", "install", "mode_of"]
