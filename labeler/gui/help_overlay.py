"""F1 / ?: a translucent card over the window listing every key, read from the keymap."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import QWidget

from . import keymap as keymapmod

Rows = list[tuple[str, list[tuple[str, str]]]]


class HelpOverlay(QWidget):
    """Covers its parent; a click or Esc closes it. ``set_rows`` takes :func:`keymap.help_rows`."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self._rows: Rows = []
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        parent.installEventFilter(self)
        self.hide()

    def set_rows(self, rows: Rows) -> None:
        self._rows = rows
        self.update()

    def rows(self) -> Rows:
        return list(self._rows)

    def footer(self) -> str:
        """Where the keys are changed: the user's keymap file, which overrides single actions."""
        return (f"Change a key: {keymapmod.user_keymap_path()}, e.g. {{\"mislabeled\": [\"X\"]}}"
                " (actions and defaults: resources/keymap.json; a key bound twice is refused at start)")

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
        else:
            self.setGeometry(self.parentWidget().rect())
            self.show()
            self.raise_()
            self.setFocus()

    def eventFilter(self, obj, event) -> bool:
        if obj is self.parentWidget() and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.parentWidget().rect())
        return False

    def mousePressEvent(self, event) -> None:
        self.hide()

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_Q):
            self.hide()
        else:
            super().keyPressEvent(event)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.fillRect(self.rect(), QColor(0, 0, 0, 150))
        base = QFont(self.font())
        base.setPointSizeF(max(base.pointSizeF(), 10.0))
        bold = QFont(base)
        bold.setBold(True)
        title = QFont(base)
        title.setBold(True)
        title.setPointSizeF(base.pointSizeF() * 1.4)
        fm, fmb, fmt = QFontMetrics(base), QFontMetrics(bold), QFontMetrics(title)
        line = fm.height() + 6

        # Lay out groups in columns, each group kept whole.
        # (capped, so that two columns fit a 1280 px window and the card its height)
        key_w = min(max([fmb.horizontalAdvance(k) for _, items in self._rows for k, _ in items] + [40]) + 28, 200)
        text_w = min(max([fm.horizontalAdvance(t) for _, items in self._rows for _, t in items] + [120]) + 8, 380)
        col_w = key_w + text_w + 24
        ncols = max(1, min(3, int((self.width() - 80) // col_w)))
        heights = [line * (len(items) + 1) + 10 for _, items in self._rows]
        while ncols < 3 and sum(heights) / ncols > self.height() - 4 * line - 60:
            ncols += 1  # too tall for the window: another column, the texts narrower
        text_w = max(120, min(text_w, (self.width() - 80) / ncols - key_w - 24))
        col_w = key_w + text_w + 24
        target = sum(heights) / ncols
        columns: list[list[int]] = [[]]
        acc = 0.0
        for i, h in enumerate(heights):
            if acc + h / 2 > target and len(columns) < ncols and columns[-1]:
                columns.append([])
                acc = 0.0
            columns[-1].append(i)
            acc += h
        card_w = len(columns) * col_w + 40
        card_h = max(sum(heights[i] for i in col) for col in columns) + fmt.height() + 70 + line
        card = QRectF((self.width() - card_w) / 2, max(10.0, (self.height() - card_h) / 2), card_w, card_h)
        p.setPen(QColor(90, 90, 96))
        p.setBrush(QColor(32, 33, 36, 250))
        p.drawRoundedRect(card, 12, 12)

        p.setFont(title)
        p.setPen(QColor(240, 240, 240))
        p.drawText(QRectF(card.left() + 20, card.top() + 14, card_w - 40, fmt.height()), Qt.AlignmentFlag.AlignLeft, "Keys")
        p.setFont(base)
        p.setPen(QColor(150, 150, 155))
        p.drawText(
            QRectF(card.left() + 20, card.top() + 14, card_w - 40, fmt.height()),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            "Esc or a click closes this",
        )
        top = card.top() + 24 + fmt.height()
        for c, col in enumerate(columns):
            x = card.left() + 20 + c * col_w
            y = top
            for gi in col:
                group, items = self._rows[gi]
                p.setFont(bold)
                p.setPen(QColor(110, 168, 255))
                p.drawText(QRectF(x, y, col_w, line), Qt.AlignmentFlag.AlignVCenter, group.upper())
                y += line
                for keys, text in items:
                    box = QRectF(x, y + 2, key_w - 10, line - 4)
                    p.setPen(QColor(110, 110, 118))
                    p.setBrush(QColor(55, 56, 61))
                    p.drawRoundedRect(box, 4, 4)
                    p.setFont(bold)
                    p.setPen(QColor(245, 245, 245))
                    p.drawText(box, Qt.AlignmentFlag.AlignCenter, fmb.elidedText(keys, Qt.TextElideMode.ElideRight, int(box.width()) - 8))
                    p.setFont(base)
                    p.setPen(QColor(220, 220, 224))
                    shown = fm.elidedText(text, Qt.TextElideMode.ElideRight, int(text_w))
                    p.drawText(QRectF(x + key_w, y, text_w, line), Qt.AlignmentFlag.AlignVCenter, shown)
                    y += line
                y += 10
        p.setFont(base)
        p.setPen(QColor(150, 150, 155))
        foot = QRectF(card.left() + 20, card.bottom() - line - 14, card_w - 40, line)
        p.drawText(foot, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   fm.elidedText(self.footer(), Qt.TextElideMode.ElideMiddle, int(foot.width())))
        p.end()
