"""The item panel's "Image quality" section: the scan's flags for the current example, highlighted,
and its measurements (:mod:`labeler.core.quality.scan`). The scan of a project is read once, when
the project is first shown."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy

from labeler.core.quality import scan as scanmod

from . import theme

NOT_SCANNED = "not scanned (labeler scan)"


class QualityLabel(QLabel):
    """Flags in the error colour, then the measurements; "not scanned" when there are none."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._project = None
        self._table = None
        self.flags: list[str] = []

    def forget(self) -> None:
        """The project's scan changed (a scan from the window): read it again when next shown."""
        self._project = None
        self._table = None

    def show_example(self, project, example_id: str | None) -> None:
        if project is None or example_id is None:
            self.flags = []
            self.setText("—")
            return
        if project is not self._project:
            self._project = project
            self._table = scanmod.by_id(project)
        table = self._table
        if table is None or example_id not in table.index:
            self.flags = []
            self.setText(f"<span style='color:{self.palette().placeholderText().color().name()}'>{NOT_SCANNED}</span>")
            return
        self.flags, text = scanmod.describe(table.loc[example_id])
        flags = " ".join(
            f"<span style='background:{theme.WRONG.name()}; color:white'>&nbsp;{html.escape(f)}&nbsp;</span>"
            for f in self.flags)
        self.setText((flags + "<br>" if flags else "") + html.escape(text))
