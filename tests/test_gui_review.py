"""The review window driven by real key events, as a reviewer would use it (pytest-qt, offscreen)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.queue import QueueSpec  # noqa: E402
from labeler.core.store import Project  # noqa: E402
from labeler.gui import keymap as keymapmod  # noqa: E402
from labeler.gui.dialogs import LabelPicker, NoteEditor  # noqa: E402
from labeler.gui.main_window import MainWindow  # noqa: E402

DIGITS = Path(__file__).resolve().parents[1] / "sample_data" / "digits"
TAXONOMY = (DIGITS / "taxonomy.txt").read_text().splitlines()


@pytest.fixture
def project_path(digits_project) -> Path:
    """The sample data imported with its taxonomy (conftest), a private copy per test."""
    return digits_project


def open_window(qtbot, tmp_path, project_path, spec: QueueSpec | None = None) -> MainWindow:
    win = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap())
    qtbot.addWidget(win)
    win.set_project(Project.open(project_path), spec)
    win.resize(1100, 720)
    with qtbot.waitExposed(win):
        win.show()
    win.activateWindow()
    win.item_view.image_view.setFocus()
    view = win.item_view.image_view
    qtbot.waitUntil(lambda: view.image() is not None or view.placeholder() is not None)
    return win


@pytest.fixture
def win(qtbot, tmp_path, project_path):
    w = open_window(qtbot, tmp_path, project_path)
    yield w
    w.close()


def decisions_on_disk(path: Path) -> dict[str, dict]:
    """The decisions as a separate reader sees them (the app's writes must be committed)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT example_id, label, tags, error_types, note, reviewed FROM decisions").fetchall()
    finally:
        conn.close()
    return {
        r[0]: {"label": r[1], "tags": sorted(json.loads(r[2])), "error_types": sorted(json.loads(r[3])),
               "note": r[4], "reviewed": bool(r[5])}
        for r in rows
    }


def key(qtbot, win, k, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(win.item_view.image_view, k, modifier)


def test_a_whole_session_by_keys(qtbot, win, project_path):
    s = win.session
    items = list(s.items)
    row1 = s.frame_row(items[1])
    other = next(c for c in s.project.classes if c not in (row1["label"], row1["pred"]))

    key(qtbot, win, Qt.Key.Key_Right)
    assert s.position == 1
    assert win.panel.position_label.text() == f"Item 2 of {len(items)}"
    for k in (Qt.Key.Key_P, Qt.Key.Key_M, Qt.Key.Key_A, Qt.Key.Key_H, Qt.Key.Key_E, Qt.Key.Key_1, Qt.Key.Key_2):
        key(qtbot, win, k)
    assert win.saved_label.text().startswith("✓ saved")
    assert [name for _, name, on in win.panel.tags.rows() if on] == ["mislabeled", "ambiguous", "very easy"]
    assert [name for _, name, on in win.panel.error_types.rows() if on] == TAXONOMY[:2]

    key(qtbot, win, Qt.Key.Key_L)
    picker = QApplication.activeModalWidget()
    assert isinstance(picker, LabelPicker)
    qtbot.keyClicks(picker.filter, other)
    qtbot.keyClick(picker.filter, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: s.decision(items[1]).label == other)

    key(qtbot, win, Qt.Key.Key_N)
    editor = QApplication.activeModalWidget()
    assert isinstance(editor, NoteEditor)
    qtbot.keyClicks(editor.edit, "stroke half erased")
    qtbot.keyClick(editor.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: s.decision(items[1]).note == "stroke half erased")
    assert "stroke half erased" in win.panel.note_label.text()

    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert s.decision(items[1]).note == ""
    key(qtbot, win, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert s.decision(items[1]).note == "stroke half erased"

    key(qtbot, win, Qt.Key.Key_Left)
    assert s.position == 0
    key(qtbot, win, Qt.Key.Key_M)
    key(qtbot, win, Qt.Key.Key_Right)  # to item 1, reviewed already
    key(qtbot, win, Qt.Key.Key_Right)  # item 1 -> 2
    key(qtbot, win, Qt.Key.Key_Space)  # item 2 reviewed -> 3
    key(qtbot, win, Qt.Key.Key_Return)  # item 3 reviewed -> 4
    key(qtbot, win, Qt.Key.Key_P)
    key(qtbot, win, Qt.Key.Key_P)  # P again takes the correction back
    key(qtbot, win, Qt.Key.Key_Backspace)
    assert s.position == 3
    # Escape in a dialog changes nothing.
    key(qtbot, win, Qt.Key.Key_N)
    editor = QApplication.activeModalWidget()
    qtbot.keyClicks(editor.edit, "never saved")
    qtbot.keyClick(editor.edit, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None)

    plain = {"label": None, "tags": [], "error_types": [], "note": "", "reviewed": True}
    expected = {
        items[0]: {**plain, "tags": ["mislabeled"]},
        items[1]: {"label": other, "tags": ["ambiguous", "mislabeled", "very easy"],
                   "error_types": sorted(TAXONOMY[:2]), "note": "stroke half erased", "reviewed": True},
        items[2]: plain,
        items[3]: plain,
        items[4]: plain,
    }
    assert decisions_on_disk(project_path) == expected
    assert win.panel.reviewed_label.text() == f"Reviewed 5 of {len(items)} ({100 * 5 / len(items):.0f}%)"
    assert win.panel.progress.value() == 5
    assert "labeler" in win.windowTitle() and project_path.name in win.windowTitle()


def test_undo_redo_enabled_state_follows_the_session(qtbot, win):
    assert not win.actions["undo"].isEnabled()
    key(qtbot, win, Qt.Key.Key_M)
    assert win.actions["undo"].isEnabled() and not win.actions["redo"].isEnabled()
    assert win.actions["mislabeled"].isChecked()
    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.actions["redo"].isEnabled()
    assert not win.actions["mislabeled"].isChecked()
    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert win.actions["mislabeled"].isChecked()


def test_label_picker_filters_and_moves(qtbot, win):
    key(qtbot, win, Qt.Key.Key_L)
    picker = QApplication.activeModalWidget()
    assert picker.model.rowCount() == 10
    # Every role of every row answers (the model is queried by Qt in these ways).
    for row in range(picker.model.rowCount()):
        for role in range(0, 40):
            picker.model.data(picker.model.index(row, 0), role)
    qtbot.keyClicks(picker.filter, "9")
    assert picker.model.rowCount() == 1 and picker.chosen() == "9"
    qtbot.keyClick(picker.filter, Qt.Key.Key_Backspace)
    qtbot.keyClick(picker.filter, Qt.Key.Key_Down)
    assert picker.list.currentIndex().row() == 1
    qtbot.keyClick(picker.filter, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None)
    assert win.session.decision(win.session.current_id).label is None


def test_help_overlay_lists_the_keymap(qtbot, win):
    key(qtbot, win, Qt.Key.Key_F1)
    assert win.help_overlay.isVisible()
    texts = [t for _, rows in win.help_overlay.rows() for _, t in rows]
    assert TAXONOMY[0] in texts and keymapmod.DESCRIPTIONS["next"] in texts
    qtbot.keyClick(win.help_overlay, Qt.Key.Key_Escape)
    assert not win.help_overlay.isVisible()
    key(qtbot, win, Qt.Key.Key_Question)
    assert win.help_overlay.isVisible()
    key(qtbot, win, Qt.Key.Key_Question)
    assert not win.help_overlay.isVisible()


def test_zoom_keys(qtbot, win):
    view = win.item_view.image_view
    key(qtbot, win, Qt.Key.Key_Plus)
    assert view.zoom_factor() > 1
    key(qtbot, win, Qt.Key.Key_0)
    assert view.zoom_factor() == 1
    key(qtbot, win, Qt.Key.Key_Minus)
    assert view.zoom_factor() < 1


def test_a_missing_image_shows_a_placeholder_and_keys_still_work(qtbot, tmp_path):
    # A copy of the sample data with the first queued item's image gone.
    data = tmp_path / "digits"
    shutil.copytree(DIGITS, data)
    path = tmp_path / "copy.labeler.db"
    import_predictions(data / "predictions.csv", path)
    with Project.open(path) as p:
        from labeler.core.session import ReviewSession

        first = ReviewSession(p).current_id
        image = p.resolve(p.example(first)["path"])
    os.remove(image)
    win = open_window(qtbot, tmp_path, path)
    try:
        view = win.item_view.image_view
        qtbot.waitUntil(lambda: view.placeholder() is not None)
        reason, shown = view.placeholder()
        assert reason == "missing file" and shown == str(image)
        key(qtbot, win, Qt.Key.Key_M)
        key(qtbot, win, Qt.Key.Key_Right)
        qtbot.waitUntil(lambda: view.image() is not None)
        assert decisions_on_disk(path)[first]["tags"] == ["mislabeled"]
    finally:
        win.close()


class _PaintCounter(QObject):
    def __init__(self):
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def test_holding_right_keeps_the_event_loop_alive(qtbot, tmp_path, project_path):
    """Right pressed 200 times at 200 presses a second (faster than key repeat): the window keeps
    painting, timers keep firing, and every item passed is recorded as reviewed."""
    win = open_window(qtbot, tmp_path, project_path, QueueSpec(scope="all"))  # 359 dev examples
    view = win.item_view.image_view
    painted = _PaintCounter()
    view.installEventFilter(painted)
    beats: list[float] = []
    heartbeat = QTimer(interval=5)
    heartbeat.timeout.connect(lambda: beats.append(time.monotonic()))
    pressed = []

    def press():
        if len(pressed) < 200:
            qtbot.keyClick(view, Qt.Key.Key_Right)
            pressed.append(time.monotonic())

    presser = QTimer(interval=5)
    presser.timeout.connect(press)
    heartbeat.start()
    presser.start()
    try:
        qtbot.waitUntil(lambda: len(pressed) == 200, timeout=30_000)
    finally:
        presser.stop()
        heartbeat.stop()
        view.removeEventFilter(painted)
    s = win.session
    assert s.position == 200
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    # starved timers (the bug this guards against) stall for seconds; a loaded machine alone gave 0.30 s
    assert len(beats) > 50 and max(gaps) < 1.0, f"the event loop stalled for {max(gaps):.3f} s"
    assert painted.count > 20
    qtbot.waitUntil(lambda: view.image() is not None and win.item_view._shown_id == s.current_id)
    on_disk = decisions_on_disk(project_path)
    assert all(on_disk[i]["reviewed"] for i in s.items[:200])
    assert s.current_id not in on_disk
    win.close()


def test_screenshot(qtbot, win, tmp_path):
    key(qtbot, win, Qt.Key.Key_M)
    key(qtbot, win, Qt.Key.Key_1)
    out = tmp_path / "main_window.png"
    assert win.grab().save(str(out))
    assert out.stat().st_size > 10_000


def test_an_exception_in_a_slot_is_reported(qtbot, win, monkeypatch):
    # pytest-qt turns an exception inside a Qt slot into a test failure (BAD_INPUTS row 35).
    def boom():
        raise RuntimeError("boom")

    monkeypatch.setattr(win.session, "toggle_tag", lambda tag: boom())
    with qtbot.captureExceptions() as caught:
        key(qtbot, win, Qt.Key.Key_M)
    assert caught and "boom" in str(caught[0][1])


def test_error_types_renamed_reordered_and_removed(qtbot, win, project_path):
    s = win.session
    key(qtbot, win, Qt.Key.Key_1)  # TAXONOMY[0] on the first item
    first = s.current_id
    new_order = [TAXONOMY[1], "faint", *TAXONOMY[2:-1]]  # swap the first two, rename one, drop the last
    win.apply_error_types(new_order, {TAXONOMY[0]: "faint"})
    assert s.project.error_types() == new_order
    assert decisions_on_disk(project_path)[first]["error_types"] == ["faint"]
    assert [n for _, n, on in win.panel.error_types.rows() if on] == ["faint"]
    key(qtbot, win, Qt.Key.Key_1)  # the digit keys follow the new order
    assert decisions_on_disk(project_path)[first]["error_types"] == sorted(["faint", TAXONOMY[1]])
    assert not win.actions[f"error_type_{len(TAXONOMY)}"].isVisible()


def test_error_type_editor_dialog(qtbot):
    from labeler.gui.dialogs import ErrorTypeEditor

    dialog = ErrorTypeEditor(["a", "b", "c"])
    qtbot.addWidget(dialog)
    dialog.list.setCurrentRow(2)
    dialog.move(-1)
    dialog.list.item(0).setText("A")
    dialog.list.setCurrentRow(2)
    dialog.remove()
    dialog.add()
    dialog.list.item(2).setText("d")
    assert dialog.result_names() == (["A", "c", "d"], {"a": "A"})


def test_uncaught_exceptions_are_logged_and_shown(qtbot, tmp_path, monkeypatch):
    import sys
    import threading

    from labeler.gui import errors

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(errors, "log_path", lambda: tmp_path / "logs" / "errors.log")
    shown = []
    monkeypatch.setattr(errors, "show_error", lambda message, details, where: shown.append((message, where)))
    errors.install()
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    worker = threading.Thread(target=lambda: 1 / 0)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(shown) == 2)
    assert shown[0] == ("RuntimeError: boom in a slot", tmp_path / "logs" / "errors.log")
    assert shown[1][0].startswith("ZeroDivisionError")
    log = (tmp_path / "logs" / "errors.log").read_text()
    assert "boom in a slot" in log and "ZeroDivisionError" in log


def test_run_shows_a_bad_predictions_file_as_a_dialog(qtbot, tmp_path, monkeypatch):
    import sys
    import threading

    from labeler.gui import app as appmod

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(appmod, "QSettings", lambda: QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    monkeypatch.setattr(appmod.theme, "apply", lambda app, name: name)
    shown = []
    monkeypatch.setattr(appmod.QMessageBox, "critical", lambda parent, title, text: shown.append(text))
    bad = tmp_path / "preds.csv"
    bad.write_text("id,path,label,pred\n1,a.png,cat,cat\n1,b.png,dog,cat\n")  # duplicate ids (row 5)
    assert appmod.run(source=str(bad)) == appmod.EXIT_PROBLEM
    assert shown and str(bad) in shown[0]
    assert not (tmp_path / "preds.labeler.db").exists()


def test_import_runs_off_the_gui_thread_and_applies_the_taxonomy(qtbot, tmp_path, monkeypatch):
    import threading

    from labeler.gui import loader

    threads = []
    real = loader.import_predictions

    def spy(*args, **kw):
        threads.append(threading.current_thread())
        return real(*args, **kw)

    monkeypatch.setattr(loader, "import_predictions", spy)
    target = tmp_path / "p.labeler.db"
    project, summary = loader.open_source(None, DIGITS / "predictions.csv", target, DIGITS / "taxonomy.txt")
    try:
        assert threads and threads[0] is not threading.main_thread()
        assert summary.rows == 1797 and project.path == target
        assert project.error_types() == TAXONOMY
    finally:
        project.close()
    # Opening it again re-imports into the same project and keeps its reviews.
    with Project.open(target) as p:
        from labeler.core.session import ReviewSession

        ReviewSession(p).toggle_tag("mislabeled")
    project, summary = loader.open_source(None, DIGITS / "predictions.csv", target)
    try:
        assert summary.updated == 1797 and any(d.tags for d in project.decisions().values())
    finally:
        project.close()


def test_drop_a_predictions_file_and_recent_projects(qtbot, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    data = tmp_path / "data"
    shutil.copytree(DIGITS, data)
    win = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap())
    qtbot.addWidget(win)
    with qtbot.waitExposed(win):
        win.show()
    assert win.session is None and win.windowTitle() == "labeler"
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(data / "predictions.csv"))])
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    win.dropEvent(drop)
    qtbot.waitUntil(lambda: win.session is not None, timeout=20_000)
    assert win.session.project.path == data / "predictions.labeler.db"
    assert "predictions.labeler.db" in win.windowTitle()
    assert win._recent()[0] == str((data / "predictions.labeler.db").resolve())
    win.close()


def test_geometry_is_remembered(qtbot, tmp_path, project_path):
    win = open_window(qtbot, tmp_path, project_path)
    win.resize(700, 500)
    qtbot.waitUntil(lambda: win.width() == 700)
    win.close()
    again = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                       keymap=keymapmod.default_keymap())
    qtbot.addWidget(again)
    assert (again.width(), again.height()) == (700, 500)
    again.close()


def test_docks_are_listed_in_the_view_menu(qtbot, win):
    from PySide6.QtWidgets import QLabel

    dock = win.add_dock("Tally", QLabel("tally here"))
    assert win.docks["Tally"] is dock
    assert dock.toggleViewAction() in win.panels_menu.actions()
    assert win.panels_menu.menuAction().isVisible()


def test_text_examples_show_in_a_text_view(qtbot, tmp_path):
    csv = tmp_path / "texts.csv"
    csv.write_text("id,text,split,label,pred,confidence\n"
                   "t1,the service was fine,dev,pos,neg,0.8\n"
                   "t2,awful,dev,neg,neg,0.9\n")
    path = tmp_path / "texts.labeler.db"
    import_predictions(csv, path)
    win = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap())
    qtbot.addWidget(win)
    win.set_project(Project.open(path))
    with qtbot.waitExposed(win):
        win.show()
    assert win.item_view.currentWidget() is win.item_view.text_view
    assert win.item_view.text_view.toPlainText() == "the service was fine"
    qtbot.keyClick(win.item_view, Qt.Key.Key_M)
    assert win.session.decision("t1").tags == {"mislabeled"}
    win.close()


def test_the_next_image_is_painted_before_the_move_is_written(qtbot, win, monkeypatch):
    """Right: when the next image is decoded already, it is on screen before the "reviewed" write
    (one fsync'd transaction) and the panels; the session then moves as always."""
    s, view = win.session, win.item_view.image_view
    prefetcher = win.item_view.prefetcher
    painted = []
    monkeypatch.setattr(view, "paintEvent", lambda e, paint=view.paintEvent: (paint(e), painted.append(view.image().cacheKey() if view.image() else None)))
    seen_at_write = []
    real_write = s.project.write_decision
    monkeypatch.setattr(s.project, "write_decision", lambda *a, **k: (seen_at_write.append(list(painted)), real_write(*a, **k))[1])
    for _ in range(5):
        nxt = s.items[s.position + 1]
        path = win.item_view._path(nxt)
        qtbot.waitUntil(lambda: isinstance(prefetcher.get(path, win.item_view.decode_size()), type(view.image())))
        want = prefetcher.get(path, win.item_view.decode_size()).cacheKey()
        before = len(painted)
        key(qtbot, win, Qt.Key.Key_Right)
        assert want in seen_at_write[-1][before:]  # painted, then written
        assert s.current_id == nxt and view.image().cacheKey() == want
        assert win.panel.id_label.text().startswith(nxt)  # the panels follow the move


def test_a_move_that_cannot_be_written_shows_the_item_it_stays_on(qtbot, win, monkeypatch):
    from labeler.core.store import ProjectError

    s, view = win.session, win.item_view.image_view
    here = s.current_id
    qtbot.waitUntil(lambda: view.image() is not None)
    shown = view.image().cacheKey()
    nxt_path = win.item_view._path(s.items[1])
    qtbot.waitUntil(lambda: win.item_view.prefetcher.get(nxt_path, win.item_view.decode_size()) is not None)

    def refuse(*a, **k):
        raise ProjectError("disk full")

    monkeypatch.setattr(s.project, "write_decision", refuse)
    monkeypatch.setattr("labeler.gui.main_window.QMessageBox.critical", lambda *a: None)
    key(qtbot, win, Qt.Key.Key_Right)
    assert s.current_id == here
    assert view.image().cacheKey() == shown
    assert win.saved_label.text() == "NOT saved"


def test_zooming_in_shows_the_full_size_picture_in_place(qtbot, tmp_path):
    """Images are decoded to fit the view; zoomed in past that, the file is decoded whole and swapped
    in with the same zoom and the same part in view. The next item starts fitted again."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray((rng.random((1200, 1600, 3)) * 255).astype(np.uint8)).save(tmp_path / f"big{i}.png")
    src = tmp_path / "p.csv"
    src.write_text("id,path,label,pred\n" + "".join(f"b{i},big{i}.png,x,y\n" for i in range(3)), encoding="utf-8")
    path = tmp_path / "p.labeler.db"
    import_predictions(src, path)
    win = open_window(qtbot, tmp_path, path)
    try:
        view, item = win.item_view.image_view, win.item_view
        qtbot.waitUntil(lambda: view.image() is not None)
        fitted = view.image().width()
        assert fitted < 1600  # decoded to fit the view
        for _ in range(4):
            key(qtbot, win, Qt.Key.Key_Plus)
        zoom = view.zoom_factor()
        assert zoom > 2
        before = view._center.x() / view.image().width(), view._center.y() / view.image().height()
        qtbot.waitUntil(lambda: view.image().width() == 1600, timeout=10_000)
        assert view.image().height() == 1200
        assert view.zoom_factor() == zoom  # same zoom ...
        after = view._center.x() / 1600, view._center.y() / 1200
        assert after == pytest.approx(before, abs=1e-6)  # ... and the same place in the picture
        key(qtbot, win, Qt.Key.Key_Right)
        qtbot.waitUntil(lambda: view.image() is not None and item._shown_id == win.session.current_id)
        assert view.image().width() == fitted and view.zoom_factor() == 1.0
    finally:
        win.close()
