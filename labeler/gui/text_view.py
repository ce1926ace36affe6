"""The text of a text example, for reading: a centred column at a reading size that wraps.

`+`/`-`/`0` zoom (the size is kept from one example to the next), PgUp/PgDn scroll a long text;
the view never takes the keyboard focus, so the review keys keep working while it is shown.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QTextBrowser, QWidget

BASE_PT = 15.0  # a reading size, not the UI's 9-10 pt
COLUMN_EM = 38  # the column's width in em (about 70-80 characters a line)
ZOOM_STEP = 1.15


class TextView(QTextBrowser):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("textView")
        self.setOpenLinks(False)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setLineWrapMode(QTextBrowser.LineWrapMode.WidgetWidth)
        self.document().setDocumentMargin(18)
        self.zoom = 1.0
        self._apply_font()

    def set_text(self, text: str) -> None:
        self.setPlainText(text)
        self.verticalScrollBar().setValue(0)

    # -- zoom ------------------------------------------------------------------------------------
    def zoom_in(self) -> None:
        self.set_zoom(self.zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom / ZOOM_STEP)

    def zoom_reset(self) -> None:
        self.set_zoom(1.0)

    def set_zoom(self, zoom: float) -> None:
        self.zoom = min(4.0, max(0.5, zoom))
        self._apply_font()

    def point_size(self) -> float:
        return self.font().pointSizeF()

    def _apply_font(self) -> None:
        font = QFont(self.font())
        font.setPointSizeF(BASE_PT * self.zoom)
        self.setFont(font)
        self.document().setDefaultFont(font)
        self._centre()

    # -- scrolling -------------------------------------------------------------------------------
    def page(self, step: int) -> None:
        """PgDn (+1) / PgUp (-1): a screenful, less a line so the reader keeps their place."""
        bar = self.verticalScrollBar()
        bar.setValue(bar.value() + step * max(bar.pageStep() - self.fontMetrics().lineSpacing(), 1))

    # -- layout ----------------------------------------------------------------------------------
    def column_width(self) -> int:
        return round(COLUMN_EM * self.fontMetrics().averageCharWidth() * 1.9)

    def _centre(self) -> None:
        side = max(24, (self.width() - self.column_width()) // 2)
        self.setViewportMargins(side, 24, side, 24)

    def resizeEvent(self, event) -> None:  # noqa: N802
        self._centre()
        super().resizeEvent(event)
