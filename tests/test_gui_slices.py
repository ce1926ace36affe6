"""The slices panel in the review window (pytest-qt, offscreen): its bars are the core's slices,
and a click on one queues that slice's errors."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QSettings, Qt  # noqa: E402

from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.quality import scan as scanmod  # noqa: E402
from labeler.core.quality import slices as slicesmod  # noqa: E402
from labeler.core.store import Project  # noqa: E402
from labeler.gui import keymap as keymapmod  # noqa: E402
from labeler.gui.analysis import slices_panel  # noqa: E402
from labeler.gui.main_window import MainWindow  # noqa: E402
from quality_data import write_dataset  # noqa: E402


@pytest.fixture(scope="module")
def scanned_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gui_slices")
    csv_path, problems = write_dataset(folder / "data", n=120)
    path = folder / "p.labeler.db"
    import_predictions(csv_path, path)
    with Project.open(path) as p:
        scanmod.scan(p)
    return path, problems


@pytest.fixture
def win(qtbot, tmp_path, scanned_template):
    template, _ = scanned_template
    path = tmp_path / "p.labeler.db"  # a copy: the tests write decisions and error types
    shutil.copyfile(template, path)
    w = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                   keymap=keymapmod.default_keymap())
    qtbot.addWidget(w)
    w.set_project(Project.open(path))
    w.resize(1400, 900)
    with qtbot.waitExposed(w):
        w.show()
    yield w
    w.close()


def test_slices_panel_shows_the_core_slices_and_a_click_queues_a_slice(qtbot, win, tmp_path):
    dock = win.docks["Slices"]
    dock.show()
    dock.raise_()
    panel = dock.widget()
    qtbot.waitUntil(lambda: panel.isVisible() and panel.report is not None)
    want = slicesmod.compute(win.session.project, "dev", frame=win.session.frame)
    shown = panel.bars.bars()
    assert [b.label for b in shown] == [s.slice for s in want.slices[:slices_panel.SHOWN]]
    assert [b.value for b in shown] == [s.error_rate for s in want.slices[:slices_panel.SHOWN]]
    assert [b.ci for b in shown] == [s.ci95 for s in want.slices[:slices_panel.SHOWN]]
    assert panel.bars.mark == pytest.approx(want.error_rate)
    win.grab().save(str(tmp_path / "slices.png"))

    row = [b.label for b in shown].index("blurry")
    y = int(row * panel.bars.ROW + panel.bars.ROW / 2)
    qtbot.mouseClick(panel.bars, Qt.MouseButton.LeftButton, pos=QPoint(panel.bars.width() // 2, y))
    s = win.session
    assert s.spec.scope == "slice" and s.spec.slice == "blurry" and s.spec.order == "loss"
    ids = s.project.examples_table().column("id")
    assert set(s.items) == set(ids.take(want.get("blurry").error_rows).to_pylist())
    assert len(s.items) == want.get("blurry").errors > 0
    assert "errors in slice blurry" in win.windowTitle()


def test_item_panel_shows_the_scan_flags_of_the_current_item(qtbot, win, scanned_template):
    _, problems = scanned_template
    s = win.session
    blurry = next(i for i in s.items if i in problems["blurry"])  # every blurry dev image is an error
    win.jump_to(blurry)
    label = win.panel.quality_label
    assert label.flags == ["blurry"]
    assert "sharpness" in label.text() and "blurry" in label.text()
    plain = next(i for i in s.items if not any(i in ids for ids in problems.values()))
    win.jump_to(plain)
    assert label.flags == []
    assert "blurry" not in label.text() and "640 × 480" in label.text()


def test_duplicates_mode_queues_leaks_and_shows_the_group_side_by_side(qtbot, win, scanned_template, tmp_path):
    from labeler.gui import modes

    _, problems = scanned_template
    win.modes.set_mode(modes.DUPLICATES)
    s = win.session
    assert s.spec.scope == "duplicates" and s.spec.split == "dev"
    assert set(s.items) == {"x900", "x902"}  # the dev members of the leaking groups
    assert win.modes.combo.currentText() == modes.DUPLICATES
    dock = win.docks["Duplicates"]
    qtbot.waitUntil(dock.isVisible)
    view = win.modes.duplicates_view
    win.jump_to("x900")
    assert {m.id for m in view.group.members} == problems["exact"]
    cards = [view.row_layout.itemAt(i).widget() for i in range(view.row_layout.count())]
    cards = [c for c in cards if c is not None]
    assert [c.member.id for c in cards] == ["x004", "x900"]
    assert all(c.image.pixmap() is not None and not c.image.pixmap().isNull() for c in cards)
    assert "leaks across splits" in view.title.text()
    win.jump_to("x902")
    assert {m.id for m in view.group.members} == problems["conflict"]
    assert "conflicting labels" in view.title.text()
    win.grab().save(str(tmp_path / "duplicates.png"))
    win.modes.set_mode(modes.DEV_ERRORS)
    assert not dock.isVisible()


def test_key_v_previews_the_current_image_under_each_augmentation(qtbot, win, tmp_path):
    from labeler.core.quality import augment as augmod
    from labeler.gui import augment_view

    win.activateWindow()
    win.item_view.image_view.setFocus()
    qtbot.keyClick(win.item_view.image_view, Qt.Key.Key_V)
    dialog = win.augment_preview.dialog
    qtbot.waitUntil(lambda: dialog is not None and dialog.isVisible())
    s = win.session
    img = augment_view.preview_image(s.project.resolve(s.example()["path"]))
    want = augmod.preview(img, seed=0, source_id=s.current_id)
    assert [t[0] for t in dialog.tiles] == ["original", *augmod.OPS]
    for (op, pixels, params), (op2, pixels2, params2) in zip(dialog.tiles[1:], want):
        assert op == op2 and params == params2 and (pixels == pixels2).all()
    assert dialog.grid.count() == 1 + len(augmod.OPS)
    dialog.grab().save(str(tmp_path / "augment.png"))
    qtbot.keyClick(dialog, Qt.Key.Key_V)
    qtbot.waitUntil(lambda: not dialog.isVisible())


def test_a_slice_offered_as_an_error_type_joins_the_taxonomy(qtbot, win):
    dock = win.docks["Slices"]
    dock.show()
    panel = dock.widget()
    qtbot.waitUntil(lambda: panel.report is not None)
    before = win.session.project.error_types()
    panel.bars.offered.emit("blurry")
    assert win.session.project.error_types() == before + ["blurry"]
    assert win.error_types[-1] == "blurry"
    panel.bars.offered.emit("blurry")  # offered again: not listed twice
    assert win.session.project.error_types().count("blurry") == 1


@pytest.fixture
def unscanned_win(qtbot, tmp_path):
    csv_path, problems = write_dataset(tmp_path / "data", n=60)
    path = tmp_path / "p.labeler.db"
    import_predictions(csv_path, path)
    w = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                   keymap=keymapmod.default_keymap())
    qtbot.addWidget(w)
    w.set_project(Project.open(path))
    with qtbot.waitExposed(w):
        w.show()
    dock = w.docks["Slices"]
    dock.show()
    qtbot.waitUntil(lambda: dock.widget().report is not None)
    yield w, dock.widget(), problems
    w.close()


def test_scan_from_the_window_stores_batches_and_shows_the_flags(qtbot, unscanned_win, monkeypatch):
    win, panel, problems = unscanned_win
    monkeypatch.setattr(scanmod, "BATCH", 8)
    assert panel.report.scanned == 0 and panel.scan_button.text() == "Scan images"
    assert "not scanned" in win.panel.quality_label.text()
    with qtbot.waitSignal(panel.scanned, timeout=60000):
        qtbot.mouseClick(panel.scan_button, Qt.MouseButton.LeftButton)
    assert panel.task is None and not panel.scan_progress.isVisible()
    qtbot.waitUntil(lambda: panel.report.scanned > 0)  # the slices are computed again, off the GUI thread
    assert panel.report.get("blurry") is not None
    assert len(scanmod.load(win.session.project)) == 63
    current = win.session.current_id
    assert ("blurry" in win.panel.quality_label.flags) == (current in problems["blurry"])
    assert "sharpness" in win.panel.quality_label.text()


def test_cancelled_scan_from_the_window_keeps_what_it_stored(qtbot, unscanned_win, monkeypatch):
    win, panel, _ = unscanned_win
    monkeypatch.setattr(scanmod, "BATCH", 4)
    stored = []
    original = scanmod.store

    def store_then_cancel(project, rows):
        original(project, rows)
        stored.append(len(rows))
        panel.cancel_scan()

    monkeypatch.setattr(scanmod, "store", store_then_cancel)
    with qtbot.waitSignal(panel.scanned, timeout=60000):
        panel.start_scan()
    kept = len(scanmod.load(win.session.project))
    assert 0 < kept < 63 and kept == sum(stored)
    assert "cancelled" in panel.note.text()
    monkeypatch.setattr(scanmod, "store", original)
    with qtbot.waitSignal(panel.scanned, timeout=60000):
        panel.start_scan()  # resumes: only the rest is measured
    assert len(scanmod.load(win.session.project)) == 63
    qtbot.waitUntil(lambda: panel.scan_button.text() == "Scan new or changed images")


def test_duplicates_mode_on_the_training_split_queues_its_members(qtbot, win):
    from labeler.gui import modes

    win.session.set_queue(replace(win.session.spec, split="train", scope="all", order="file"))
    win.modes.set_mode(modes.DUPLICATES)
    s = win.session
    assert s.spec.split == "train" and s.spec.scope == "duplicates"
    assert set(s.items) == {"x004", "x005", "x006"}  # the training side of the three leaking groups


def test_a_leak_marked_not_a_leak_in_the_duplicates_view(qtbot, win):
    from labeler.core.quality import duplicates as dupmod
    from labeler.gui import modes

    win.modes.set_mode(modes.DUPLICATES)
    win.jump_to("x900")
    view = win.modes.duplicates_view
    assert view.keep.isVisible() and not view.keep.isChecked()
    qtbot.mouseClick(view.keep, Qt.MouseButton.LeftButton, pos=QPoint(8, view.keep.height() // 2))
    assert dupmod.kept(win.session.project) == {"x900"}
    win.jump_to("x902")
    assert not view.keep.isChecked()
    win.jump_to("x900")
    assert view.keep.isChecked()  # read back from the project
    qtbot.mouseClick(view.keep, Qt.MouseButton.LeftButton, pos=QPoint(8, view.keep.height() // 2))
    assert dupmod.kept(win.session.project) == set()


def test_slices_are_computed_off_the_gui_thread(qtbot, win, monkeypatch):
    import threading

    dock = win.docks["Slices"]
    dock.show()
    panel = dock.widget()
    qtbot.waitUntil(lambda: panel.report is not None)
    threads = []
    original = slicesmod.compute

    def recording(*args, **kwargs):
        threads.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(slicesmod, "compute", recording)
    with qtbot.waitSignal(panel.computed, timeout=30000):
        panel.split_box.setCurrentText("train")
    assert panel.report.split == "train"
    assert threads and threading.get_ident() not in threads
