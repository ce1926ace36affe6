"""The confusion panel with 1,000 classes (issue 13): it fills in well under a few seconds, scrolls,
finds a class typed in its search box (real key events), and lists the largest confusions, whose
Return opens that pair's queue. Expected cells are counted here with collections.Counter."""

from __future__ import annotations

import time
from collections import Counter

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt  # noqa: E402

from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.store import Project  # noqa: E402
from labeler.gui import keymap as keymapmod  # noqa: E402
from labeler.gui.analysis import confusion_panel  # noqa: E402
from labeler.gui.main_window import MainWindow  # noqa: E402
from test_report_many_classes import _write  # noqa: E402


def test_confusion_panel_with_1000_classes(qtbot, tmp_path):
    src, rows = _write(tmp_path, 1000, 20_000)
    import_predictions(src, tmp_path / "p.labeler.db")
    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap())
    qtbot.addWidget(win)
    win.set_project(Project.open(tmp_path / "p.labeler.db"))
    win.resize(1400, 900)
    with qtbot.waitExposed(win):
        win.show()
    dock = win.docks["Confusion matrix"]
    t0 = time.perf_counter()
    dock.show()
    dock.raise_()
    panel = dock.widget()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1000)
    assert time.perf_counter() - t0 < 5.0

    # the largest confusions, most first, as counted from the rows written
    off = Counter((g, p) for _, g, p in rows if g != p)
    expected = sorted(off.items(), key=lambda kv: (-kv[1], kv[0]))[: confusion_panel.TOP_CELLS]
    assert panel.top_view.isVisible()
    got = [(g, p, n) for g, p, n, _ in panel.top_model.cells]
    assert got == [(g, p, n) for (g, p), n in expected]

    # scrolling to the far corner works and paints
    panel.view.scrollToBottom()
    panel.view.horizontalScrollBar().setValue(panel.view.horizontalScrollBar().maximum())
    qtbot.wait(50)
    last = panel.model.index(999, 999)
    assert panel.view.viewport().rect().intersects(panel.view.visualRect(last))

    # find a class by typing part of its name
    panel.find.setFocus()
    qtbot.keyClicks(panel.find, "0050")  # as it is typed: the first class holding it
    cur = panel.view.currentIndex()
    assert (cur.row(), cur.column()) == (50, 50)
    qtbot.keyClick(panel.find, Qt.Key.Key_Return)  # the next one
    cur = panel.view.currentIndex()
    assert (cur.row(), cur.column()) == (500, 500)
    assert panel.view.viewport().rect().intersects(panel.view.visualRect(cur))
    row = panel.proxy.mapToSource(panel.class_view.currentIndex()).row()
    assert panel.class_model.rows[row]["class"] == "class 00500"
    assert panel.find_class("no such class") is False and "No class" in panel.note.text()

    # Return on the first of the largest confusions opens its queue
    panel.top_view.setFocus()
    panel.top_view.setCurrentIndex(panel.top_model.index(0, 0))
    qtbot.keyClick(panel.top_view, Qt.Key.Key_Return)
    spec = win.session.spec
    assert (spec.label, spec.pred, spec.order) == (expected[0][0][0], expected[0][0][1], "loss")
    assert len(win.session.items) == expected[0][1]
    win.grab().save(str(tmp_path / "confusion_1000.png"))
    win.close()
