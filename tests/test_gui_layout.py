"""The window's layout: the example is what the reviewer looks at (offscreen, a shown window).

At the default sizes it gets at least 60% of the width; the analysis panels are one key (T) away and
the window remembers whether they are shown; small windows keep a share for the example.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt  # noqa: E402

from labeler.core.store import Project  # noqa: E402
from labeler.gui import keymap as keymapmod  # noqa: E402
from labeler.gui.main_window import MainWindow  # noqa: E402


def shown(qtbot, settings_file, project_path, size):
    win = MainWindow(settings=QSettings(str(settings_file), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap())
    qtbot.addWidget(win)
    win.set_project(Project.open(project_path))
    win.resize(*size)
    with qtbot.waitExposed(win):
        win.show()
    win.item_view.image_view.setFocus()
    qtbot.waitUntil(lambda: win.width() == size[0])
    return win


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_the_example_gets_at_least_60_percent_of_the_width(qtbot, tmp_path, digits_project, size):
    win = shown(qtbot, tmp_path / "s.ini", digits_project, size)
    qtbot.waitUntil(lambda: win.item_view.width() >= 0.6 * size[0])
    win.close()


def test_t_shows_and_hides_the_panels_and_the_window_remembers(qtbot, tmp_path, digits_project):
    win = shown(qtbot, tmp_path / "s.ini", digits_project, (1280, 800))
    assert not any(d.isVisible() for d in win.docks.values())
    qtbot.keyClick(win.item_view.image_view, Qt.Key.Key_T)
    tally = win.docks["Tally"]
    qtbot.waitUntil(lambda: tally.isVisible())
    assert win.item_view.width() >= 0.25 * 1280  # beside the example, not over it
    win.close()
    win2 = shown(qtbot, tmp_path / "s.ini", digits_project, (1280, 800))
    qtbot.waitUntil(lambda: win2.docks["Tally"].isVisible())
    qtbot.keyClick(win2.item_view.image_view, Qt.Key.Key_T)
    qtbot.waitUntil(lambda: not any(d.isVisible() for d in win2.docks.values()))
    qtbot.waitUntil(lambda: win2.item_view.width() >= 0.6 * 1280)
    win2.close()


def test_a_small_window_keeps_a_share_for_the_example(qtbot, tmp_path, digits_project):
    win = shown(qtbot, tmp_path / "s.ini", digits_project, (640, 480))
    qtbot.waitUntil(lambda: win.item_view.width() >= 0.5 * win.width())
    win.resize(1280, 800)
    qtbot.waitUntil(lambda: win.item_view.width() >= 0.6 * 1280)
    win.close()


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_the_tally_columns_fit_without_a_horizontal_scroll_bar(qtbot, tmp_path, digits_project, size):
    win = shown(qtbot, tmp_path / "s.ini", digits_project, size)
    for k in (Qt.Key.Key_M, Qt.Key.Key_Right, Qt.Key.Key_1, Qt.Key.Key_Right):
        qtbot.keyClick(win.item_view.image_view, k)
    qtbot.keyClick(win.item_view.image_view, Qt.Key.Key_T)
    view = win.analysis.tally.view
    qtbot.waitUntil(lambda: view.isVisible() and view.model().rowCount() > 0)
    qtbot.waitUntil(lambda: view.horizontalScrollBar().maximum() == 0)
    assert view.columnWidth(0) >= 120  # the names keep room to be read (elided in the middle)
    win.close()


def test_with_the_panels_shown_a_small_window_keeps_a_share_and_the_docks_grow_back(qtbot, tmp_path, digits_project):
    win = shown(qtbot, tmp_path / "s.ini", digits_project, (1280, 800))
    qtbot.keyClick(win.item_view.image_view, Qt.Key.Key_T)
    tally = win.docks["Tally"]
    qtbot.waitUntil(lambda: tally.isVisible() and tally.width() >= 600)
    win.resize(640, 480)
    qtbot.waitUntil(lambda: win.width() == 640 and win.item_view.width() >= 0.2 * 640)
    win.resize(1280, 800)
    qtbot.waitUntil(lambda: win.width() == 1280 and tally.width() >= 600)  # grown back, tabs whole
    assert win.item_view.width() >= 0.25 * 1280
    win.close()
