"""The grid (G) and moving without judging, driven by real key events on a shown window (offscreen).

A decision key in the grid applies to every selected example in one transaction and is undone with one
Ctrl+Z; Shift+Right moves without marking; Ctrl+G jumps; the end of the queue says so.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QMessageBox  # noqa: E402

from test_gui_review import decisions_on_disk, open_window  # noqa: E402

SHIFT, CTRL, NONE = Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.NoModifier


@pytest.fixture
def win(qtbot, tmp_path, digits_project):
    w = open_window(qtbot, tmp_path, digits_project)
    yield w
    w.close()


def press(qtbot, win, k, modifier=NONE):
    qtbot.keyClick(QApplication.focusWidget() or win, k, modifier)


def test_grid_selects_a_range_tags_it_with_one_key_and_undoes_it_with_one(qtbot, win, digits_project):
    s = win.session
    press(qtbot, win, Qt.Key.Key_G)
    grid = win.grid_mode.grid
    assert win.grid_mode.active and QApplication.focusWidget() is grid
    assert grid.model().rowCount() == len(s.items)
    press(qtbot, win, Qt.Key.Key_Right)  # moves the grid's cursor, marks nothing
    assert grid.currentIndex().row() == 1 and s.position == 1
    for _ in range(3):
        press(qtbot, win, Qt.Key.Key_Right, SHIFT)
    assert grid.selected_ids() == s.items[1:5]
    press(qtbot, win, Qt.Key.Key_M)
    on_disk = decisions_on_disk(digits_project)
    assert sorted(on_disk) == sorted(s.items[1:5])
    assert all(d["tags"] == ["mislabeled"] and d["reviewed"] for d in on_disk.values())
    press(qtbot, win, Qt.Key.Key_Z, CTRL)  # one undo step for the four
    on_disk = decisions_on_disk(digits_project)
    assert all(d["tags"] == [] and not d["reviewed"] for d in on_disk.values())
    press(qtbot, win, Qt.Key.Key_A, CTRL)  # all, then error type 1 on all
    press(qtbot, win, Qt.Key.Key_1)
    on_disk = decisions_on_disk(digits_project)
    assert len(on_disk) == len(s.items) and all(d["error_types"] == [win.error_types[0]] for d in on_disk.values())
    press(qtbot, win, Qt.Key.Key_End)
    assert grid.currentIndex().row() == len(s.items) - 1
    press(qtbot, win, Qt.Key.Key_Home)
    press(qtbot, win, Qt.Key.Key_Right)
    press(qtbot, win, Qt.Key.Key_Return)  # opens that one, alone
    assert not win.grid_mode.active and s.position == 1
    qtbot.waitUntil(lambda: win.item_view.image_view.image() is not None)


def test_grid_thumbnails_are_decoded_on_workers_and_shown(qtbot, win):
    press(qtbot, win, Qt.Key.Key_G)
    grid = win.grid_mode.grid
    qtbot.waitUntil(lambda: grid.prefetcher.cached_count > 0 and grid.prefetcher.pending_count == 0, timeout=10000)
    grid.viewport().repaint()
    assert len(grid._pixmaps) > 0


def test_shift_right_moves_without_marking_and_shift_left_goes_back(qtbot, win, digits_project):
    s = win.session
    press(qtbot, win, Qt.Key.Key_Right, SHIFT)
    press(qtbot, win, Qt.Key.Key_Right, SHIFT)
    assert s.position == 2 and decisions_on_disk(digits_project) == {}
    press(qtbot, win, Qt.Key.Key_Left, SHIFT)
    assert s.position == 1 and decisions_on_disk(digits_project) == {}


def test_ctrl_g_jumps_to_an_example_by_path(qtbot, win):
    s = win.session
    target = s.items[7]
    press(qtbot, win, Qt.Key.Key_G, CTRL)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QInputDialog))
    edit = QApplication.activeModalWidget().findChild(QLineEdit)
    qtbot.keyClicks(edit, s.path_of(target).rsplit("/", 1)[-1])
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: s.current_id == target)
    assert s.reviewed_count() == 0


def test_the_end_of_the_queue_says_so_and_offers_the_unreviewed(qtbot, win, digits_project):
    s = win.session
    s.goto(len(s.items) - 1)
    press(qtbot, win, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox))
    box = QApplication.activeModalWidget()
    assert f"{len(s.items) - 1} items in it are not reviewed" in box.text()
    qtbot.keyClick(box.defaultButton(), Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: s.position == 0)


def test_closing_the_project_under_the_grid_draws_nothing_and_raises_nothing(qtbot, win):
    press(qtbot, win, Qt.Key.Key_G)
    grid = win.grid_mode.grid
    qtbot.waitUntil(lambda: grid.prefetcher.cached_count > 0)
    win.close_project()
    grid.viewport().repaint()  # an exception in paint would fail the test (pytest-qt)
    assert grid.model().data(grid.model().index(0, 0), Qt.ItemDataRole.ToolTipRole) is None


def test_click_and_shift_click_select_and_l_labels_all_selected(qtbot, win, digits_project):
    from labeler.gui.dialogs import LabelPicker

    s = win.session
    press(qtbot, win, Qt.Key.Key_G)
    grid = win.grid_mode.grid
    rect = lambda row: grid.visualRect(grid.model().index(row, 0))
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=rect(1).center())
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, SHIFT, rect(3).center())
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, CTRL, rect(6).center())
    assert grid.selected_ids() == [s.items[i] for i in (1, 2, 3, 6)]
    target = next(c for c in s.project.classes if all(s.frame_row(s.items[i])["label"] != c for i in (1, 2, 3, 6)))
    press(qtbot, win, Qt.Key.Key_L)
    picker = QApplication.activeModalWidget()
    assert isinstance(picker, LabelPicker)
    qtbot.keyClicks(picker.filter, target)
    qtbot.keyClick(picker.filter, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: all(s.decision(s.items[i]).label == target for i in (1, 2, 3, 6)))
    on_disk = decisions_on_disk(digits_project)
    assert sorted(on_disk) == sorted(s.items[i] for i in (1, 2, 3, 6))
    assert all(d["label"] == target for d in on_disk.values())
