"""The dark theme: the check marks of the tags and error types set on an item are visible in the
Review menu (light marks on the dark menu), as they are in the light theme (dark on light)."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from labeler.gui import theme  # noqa: E402

from test_gui_review import open_window  # noqa: E402


def mark_contrast(menu, action) -> float:
    """The largest lightness difference between the check-mark area of ``action`` and the menu."""
    image = menu.grab().toImage()
    r = menu.actionGeometry(action)
    bg = image.pixelColor(r.right() - 4, r.center().y()).lightness()
    area = [image.pixelColor(x, y).lightness() for x in range(r.left(), r.left() + 28)
            for y in range(r.top() + 2, r.bottom() - 1)]
    return max(abs(v - bg) for v in area)


@pytest.mark.parametrize("name", ["dark", "light"])
def test_tag_check_marks_are_visible(qtbot, tmp_path, digits_project, name):
    app = QApplication.instance()
    before = theme.current()
    theme.apply(app, name)
    try:
        win = open_window(qtbot, tmp_path, digits_project)
        for k in (Qt.Key.Key_M, Qt.Key.Key_1):
            qtbot.keyClick(win.item_view.image_view, k)
        menu = next(a.menu() for a in win.menuBar().actions() if "Review" in a.text())
        menu.ensurePolished()
        menu.resize(menu.sizeHint())
        on, off = win.actions["mislabeled"], win.actions["ambiguous"]
        assert on.isChecked() and not off.isChecked()
        assert mark_contrast(menu, on) > 100  # a mark that stands out
        assert mark_contrast(menu, on) > mark_contrast(menu, off) + 40  # and says on, not off
        win.close()
    finally:
        theme.apply(app, before)
