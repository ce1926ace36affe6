"""The analysis panels of the review window: the tally of error categories, the confusion matrix with
the per-class table, and the train/dev/test dashboard.

They show what :mod:`labeler.core.tally`, :mod:`labeler.core.stats` and
:mod:`labeler.core.dashboard` return. One :class:`Analysis` follows the window's review session: each
decision updates the core's :class:`LiveTally` (no recount of the examples) and, at most every
``DEBOUNCE_MS``, the tally and the dashboard are redrawn. The confusion matrix and the per-class table
do not change with decisions: they are computed when the split shown changes or another project (or
import) comes in.

The panels are in :mod:`.tally_panel`, :mod:`.confusion_panel` and :mod:`.dashboard_panel`, what they
share in :mod:`.widgets`; the bars they draw are :mod:`labeler.gui.bars`'s.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from labeler.core import stats
from labeler.core.session import ReviewSession, SessionEvent
from labeler.core.tally import LiveTally

from .. import theme
from .confusion_panel import ConfusionModel, ConfusionPanel, PerClassModel
from .dashboard_panel import DashboardPanel, RateBars
from .slices_panel import SliceBars, SlicesPanel
from .tally_panel import ShareBarDelegate, TallyModel, TallyPanel
from .widgets import DISPLAY, RAW, KeyTable

__all__ = ["DEBOUNCE_MS", "DISPLAY", "RAW", "Analysis", "AnalysisPanels", "ConfusionModel", "ConfusionPanel",
           "DashboardPanel", "KeyTable", "PerClassModel", "RateBars", "ShareBarDelegate", "SliceBars", "SlicesPanel", "TallyModel",
           "TallyPanel", "install", "stats", "theme"]

DEBOUNCE_MS = 100


class Analysis(QObject):
    """The live tally and dashboard of the window's review session, shared by the panels."""

    changed = Signal()  # the tally and dashboard figures changed (after decisions, debounced)
    frame_changed = Signal()  # another session: the examples (so the confusion matrix) changed

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.session: ReviewSession | None = None
        self.live: LiveTally | None = None
        self._tallies: dict[str, dict] = {}
        self._dashboard: dict | None = None
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self.refresh)

    def set_session(self, session: ReviewSession | None) -> None:
        if session is self.session:
            return
        self.session = session
        self.live = LiveTally(session.project, session.frame) if session is not None else None
        if session is not None:
            session.subscribe(lambda event, s=session: self._on_event(s, event))
        self.frame_changed.emit()
        self.refresh()

    def _on_event(self, session: ReviewSession, event: SessionEvent) -> None:
        if session is not self.session or event.kind != "decision" or event.change is None:
            return
        c = event.change
        self.live.apply(c.example_id, c.before, c.after, session.spec.to_json())
        if not self._timer.isActive():  # at most one redraw per interval, however fast the keys come
            self._timer.start()

    def _alive(self) -> bool:
        if self.session is not None and self.session.project.conn is None:  # the window closed it
            self.session, self.live = None, None
            self.frame_changed.emit()
        return self.session is not None

    def refresh(self) -> None:
        """Forget the figures and tell the panels; they ask again for what they show."""
        self._timer.stop()
        if self._alive():
            types = self.session.project.error_types()
            if types != self.live.error_types:  # edited or renamed: renames rewrite the decisions
                self.live.reload(self.session.project)
        self._tallies, self._dashboard = {}, None
        self.changed.emit()

    def tally(self, split: str = "dev") -> dict | None:
        if not self._alive():
            return None
        if split not in self._tallies:
            self._tallies[split] = self.live.tally(split)
        return self._tallies[split]

    def dashboard(self) -> dict | None:
        if not self._alive():
            return None
        if self._dashboard is None:
            self._dashboard = self.live.dashboard(self.tally("dev"))
        return self._dashboard

    def splits(self) -> list[str]:
        """The splits with examples, in train/dev/test order."""
        return list(self.live.index.split_counts) if self._alive() else []


class AnalysisPanels:
    """The analysis panels, docked in a window, following its review session."""

    def __init__(self, window):
        self.analysis = Analysis(window)
        self.tally = TallyPanel(self.analysis)
        self.confusion = ConfusionPanel(self.analysis)
        self.dashboard = DashboardPanel(self.analysis)
        self.slices = SlicesPanel(self.analysis)
        first_time = window.settings.value("window/state") is None
        docks = [window.add_dock("Tally", self.tally), window.add_dock("Confusion matrix", self.confusion),
                 window.add_dock("Dashboard", self.dashboard), window.add_dock("Slices", self.slices)]
        if first_time:
            window.tabifyDockWidget(docks[0], docks[1])
            window.tabifyDockWidget(docks[1], docks[2])
            window.tabifyDockWidget(docks[2], docks[3])
            docks[0].raise_()
            window.resizeDocks([docks[0]], [540], Qt.Orientation.Horizontal)
            for dock in docks:  # the example gets the width; T (View ▸ Analysis panels) shows them
                dock.hide()
        self.docks = docks
        docks[1].visibilityChanged.connect(self.confusion.set_seen)
        self.confusion.set_seen(not docks[1].isHidden() and not window.tabifiedDockWidgets(docks[1]))
        window.session_changed.connect(lambda: self.analysis.set_session(window.session))
        # back to the item after opening a queue, so the review keys (Return: next) act on it
        self.confusion.queue_opened.connect(lambda: window.item_view.image_view.setFocus())
        self.slices.queue_opened.connect(lambda: window.item_view.image_view.setFocus())
        self.slices.scanned.connect(lambda: window.panel.quality_label.forget()
                                    or (window.panel.show_item(window.session, window.error_types)
                                        if window.session is not None else None))
        # a slice where errors concentrate (blurry, class=fox) offered as an error type to tag with
        self.slices.error_type_offered.connect(
            lambda name: window.apply_error_types(window.error_types + [name], {})
            if window.session is not None and name not in window.error_types else None)
        if window.session is not None:
            self.analysis.set_session(window.session)


def install(window) -> AnalysisPanels:
    """Dock the tally, confusion, dashboard and slices panels in ``window`` (a MainWindow)."""
    return AnalysisPanels(window)
