"""The dashboard panel: train, dev and test error with intervals, and what
:class:`labeler.core.dashboard.Dashboard` says about them (the same sentences as ``labeler summary``
and report.html)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QVBoxLayout, QWidget

from labeler.core import agreement, annotations
from labeler.core import dashboard as dashmod

from .. import theme
from ..bars import Bar, BarRows
from .widgets import note_label, set_color

if TYPE_CHECKING:
    from . import Analysis

HUMAN = "How good could the model be?"


class RateBars(BarRows):
    """Error rates with their 95% intervals as bars on one scale: (name, rate, lo, hi, colour, text)."""

    ROW = 26
    EMPTY = "no project open"
    WIDTH = 360

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._rows: list[tuple[str, float, float, float, QColor, str]] = []

    def set_rows(self, rows: list[tuple[str, float, float, float, QColor, str]]) -> None:
        if rows != self._rows:
            self._rows = rows
            self.set_bars([Bar(name, rate, color, text, ci=(lo, hi)) for name, rate, lo, hi, color, text in rows])

    def rows(self) -> list[tuple[str, float, float, float, QColor, str]]:
        return list(self._rows)


class DashboardPanel(QWidget):
    """Train, dev and test error with intervals, the gaps, the diagnosis and the review's estimates."""

    def __init__(self, analysis: Analysis, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("dashboardPanel")
        self.analysis = analysis
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 10)
        lay.setSpacing(6)

        def heading(text: str):
            label = note_label()
            label.setText(text)
            font = label.font()
            font.setBold(True)
            label.setFont(font)
            lay.addWidget(label)

        heading(dashmod.TITLE)
        self.bars = RateBars()
        lay.addWidget(self.bars)
        self.gaps = note_label()
        lay.addWidget(self.gaps)
        heading(dashmod.ESTIMATES)
        self.corrected = note_label()
        self.floor = note_label()
        lay.addWidget(self.corrected)
        lay.addWidget(self.floor)
        heading(dashmod.DIAGNOSIS)
        self.diagnosis = note_label()
        self.diagnosis.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.diagnosis)
        self.warning = note_label()
        set_color(self.warning, theme.CORRECTED)
        lay.addWidget(self.warning)
        heading(HUMAN)
        self.human = note_label()
        self.human.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.human)
        self._human_of: tuple[object, dict | None] | None = None  # (project, its human-level error)
        lay.addStretch(1)
        analysis.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        d = self.analysis.dashboard()
        if d is None:
            self.bars.set_rows([])
            for w in (self.gaps, self.corrected, self.floor, self.diagnosis, self.warning, self.human):
                w.setText("")
            return
        dash = dashmod.Dashboard.of(d, self.analysis.tally("dev"))
        self.bars.set_rows([(r.name, r.error_rate, *r.ci95, theme.CORRECTED if r.estimate else theme.WRONG, r.text())
                            for r in dash.rates])
        self.gaps.setText(dash.gaps)
        self.corrected.setText(dash.corrected)
        self.floor.setText(dash.floor)
        self.diagnosis.setText(dash.diagnosis)
        self.warning.setText(dash.warning)
        self.warning.setVisible(bool(dash.warning))
        human = self._human()
        self.human.setText("\n".join(line.strip() for line in
                                      agreement.decomposition_lines(human, agreement.decomposition(d["splits"], human))))

    def _human(self) -> dict | None:
        """The human-level error from the reviewers' blind labels: computed once per project (blind
        labels are given in the blind-labeling window, not here)."""
        project = self.analysis.session.project if self.analysis.session is not None else None
        if self._human_of is None or self._human_of[0] is not project:
            human = None
            if project is not None and annotations.labels(project):
                human = agreement.compute(project, "dev", frame=self.analysis.session.frame).human
            self._human_of = (project, human)
        return self._human_of[1]
