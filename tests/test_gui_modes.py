"""Review modes and File ▸ Export… in the window (pytest-qt, offscreen, real key events on a shown
window): "Training label issues" ranks off the GUI thread and walks the training set in quality
order, P accepts the suggested label, the precision of the flags matches a hand count; the confusion
cell and custom filter dialogs; the export dialog writes what the core promises.

Expected orders and counts come from the project read back through a separate read-only connection
and pandas, not from the window.
"""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QRunnable, QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from conftest import DIGITS  # noqa: E402
from labeler.core import frame as framemod  # noqa: E402
from labeler.core import ranking  # noqa: E402
from labeler.core.queue import QueueSpec  # noqa: E402
from labeler.core.store import Project  # noqa: E402
from labeler.gui import keymap as keymapmod  # noqa: E402
from labeler.gui import modes  # noqa: E402
from labeler.gui.main_window import MainWindow  # noqa: E402

OUTPUTS = ["corrections.csv", "tally.csv", "tally.md", "tally.json", "summary.json", "report.html"]
RANK_TIMEOUT = 60_000  # ms; importing cleanlab alone takes seconds on a loaded machine


def open_window(qtbot, tmp_path, project_path, spec: QueueSpec | None = None) -> MainWindow:
    win = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap())
    qtbot.addWidget(win)
    win.set_project(Project.open(project_path), spec)
    win.resize(1200, 760)
    with qtbot.waitExposed(win):
        win.show()
    win.activateWindow()
    view = win.item_view.image_view
    view.setFocus()
    if win.session.items:
        qtbot.waitUntil(lambda: view.image() is not None or view.placeholder() is not None)
    return win


@pytest.fixture
def win(qtbot, tmp_path, digits_project):
    w = open_window(qtbot, tmp_path, digits_project)
    yield w
    w.close()


def key(qtbot, win, k, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(win.item_view.image_view, k, modifier)


def on_disk(path: Path) -> tuple[pd.DataFrame, dict]:
    """The examples (with stored scores) and decisions, as a separate reader sees them."""
    with Project.open(path, readonly=True) as p:
        return framemod.load(p), p.decisions()


def quality_order(frame: pd.DataFrame, split: str = "train") -> list[str]:
    part = frame[(frame["split"] == split) & frame["label"].notna()]
    part = part.assign(unflagged=~part["flagged"].fillna(0).astype(bool))  # the flagged first
    return part.sort_values(["unflagged", "quality", "row"], kind="stable")["id"].tolist()


def choose_mode_by_keys(qtbot, win, mode: str) -> None:
    """Down/Up on the mode box, as a keyboard user would pick it."""
    combo = win.modes.combo
    combo.setFocus()
    qtbot.waitUntil(combo.hasFocus)
    target = modes.MODES.index(mode)
    while combo.currentIndex() != target:
        qtbot.keyClick(combo, Qt.Key.Key_Down if combo.currentIndex() < target else Qt.Key.Key_Up)


def switch_to_label_issues(qtbot, win) -> ranking.RankResult:
    with qtbot.waitSignal(win.modes.ranked, timeout=RANK_TIMEOUT) as blocker:
        choose_mode_by_keys(qtbot, win, modes.LABEL_ISSUES)
        # the ranking is on its way and the window is not waiting for it
        assert win.modes.task is not None and win.modes._progress_action.isVisible()
        assert win.session.spec.split == "dev"
    qtbot.waitUntil(lambda: win.item_view.image_view.hasFocus())
    return blocker.args[0]


# ---------------------------------------------------------------------------------------------
# training label issues


def test_label_issues_rank_off_thread_and_follow_the_stored_quality_order(qtbot, win, digits_project):
    assert win.modes.combo.currentText() == modes.DEV_ERRORS
    assert not ranking.has_scores(on_disk(digits_project)[0], "train")
    result = switch_to_label_issues(qtbot, win)
    assert win.modes.last_rank_thread not in (None, threading.get_ident())  # a worker thread did it
    assert result.method == "cleanlab" and result.ranked == 1078 and result.flagged > 0
    assert not win.modes._progress_action.isVisible()
    s = win.session
    assert (s.spec.split, s.spec.order, s.spec.scope) == ("train", "quality", "all")
    assert win.modes.combo.currentText() == modes.LABEL_ISSUES
    frame, _ = on_disk(digits_project)  # stored, not only in memory
    assert s.items == quality_order(frame)
    assert s.current_id == s.items[0]
    assert "Accept the suggested label" in win.actions["accept_prediction"].text()
    # P on the shown window accepts the suggested label, and the figures follow
    first = frame.set_index("id").loc[s.current_id]
    assert first["suggested"] != first["label"]
    key(qtbot, win, Qt.Key.Key_P)
    frame, decisions = on_disk(digits_project)
    assert decisions[s.items[0]].label == first["suggested"]
    assert f"Flagged <b>{len(ranking.flagged_ids(frame, 'train'))}</b>" in win.modes.stats.stats_label.text()
    assert "reviewed <b>1</b>" in win.modes.stats.stats_label.text()


def test_precision_of_the_flags_matches_a_hand_count(qtbot, win, digits_project):
    switch_to_label_issues(qtbot, win)
    # corrected, tagged mislabeled, right, right, corrected then undone, right
    for keys in ([Qt.Key.Key_P, Qt.Key.Key_Space], [Qt.Key.Key_M, Qt.Key.Key_Space], [Qt.Key.Key_Space],
                 [Qt.Key.Key_Space], [Qt.Key.Key_P]):
        for k in keys:
            key(qtbot, win, k)
    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    key(qtbot, win, Qt.Key.Key_Space)
    frame, decisions = on_disk(digits_project)
    flagged = set(frame.loc[(frame["split"] == "train") & frame["flagged"].fillna(False).astype(bool), "id"])
    reviewed = [i for i in flagged if i in decisions and decisions[i].reviewed]
    wrong = [i for i in reviewed if decisions[i].label is not None or "mislabeled" in decisions[i].tags]
    assert len(reviewed) >= 4 and len(wrong) == 2  # the top four of the ranking are flagged
    shown = win.modes.stats.stats
    assert (shown.flagged, shown.reviewed, shown.wrong) == (len(flagged), len(reviewed), len(wrong))
    text = win.modes.stats.stats_label.text()
    assert f"precision so far <b>{len(wrong) / len(reviewed):.0%}</b>" in text
    # recomputing from scratch gives the same as the running count
    assert ranking.flag_stats(win.session.frame, win.session.decision, "train") == shown


def test_a_quality_queue_from_the_command_line_is_ranked_when_the_window_opens(qtbot, tmp_path, digits_project):
    spec = QueueSpec(split="train", order="quality", scope="all")  # labeler review --split train --order quality
    w = open_window(qtbot, tmp_path, digits_project, spec)
    try:
        assert w.modes.combo.currentText() == modes.LABEL_ISSUES
        qtbot.waitUntil(lambda: ranking.has_scores(w.session.frame, "train") and w.modes.task is None,
                        timeout=RANK_TIMEOUT)
        frame, _ = on_disk(digits_project)
        assert w.session.items == quality_order(frame)
        assert w.modes._stats_action.isVisible()
    finally:
        w.close()


def test_no_probabilities_shows_the_weaker_ranking_warning(qtbot, tmp_path):
    from labeler.core.importer import import_predictions

    src = tmp_path / "p.csv"
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "path", "split", "label", "pred", "confidence"])
        for i in range(40):
            w.writerow([f"x{i}", f"{i}.png", "train" if i < 30 else "dev", "ab"[i % 2], "ab"[(i // 3) % 2],
                        0.5 + i / 100])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    win = open_window(qtbot, tmp_path, db)
    try:
        switch_to_label_issues(qtbot, win)
        assert "weaker ranking" in win.modes.warning.text() and win.modes.warning_bar.isVisible()
    finally:
        win.close()


def test_in_sample_probabilities_are_warned_about_in_the_window(qtbot, tmp_path):
    from labeler.core.importer import import_predictions

    src = tmp_path / "p.csv"
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "path", "split", "label", "p_a", "p_b"])
        for i in range(60):
            a = i % 2 == 0
            w.writerow([f"x{i}", f"{i}.png", "train" if i < 50 else "dev", "a" if a else "b",
                        0.995 if a else 0.005, 0.005 if a else 0.995])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    win = open_window(qtbot, tmp_path, db)
    try:
        switch_to_label_issues(qtbot, win)
        assert "in-sample" in win.modes.warning.text() and win.modes.warning_bar.isVisible()
        # stored scores: the warning comes back when the mode is chosen again later
        choose_mode_by_keys(qtbot, win, modes.DEV_ERRORS)
        assert not win.modes._stats_action.isVisible() and not win.modes.warning_bar.isVisible()
        choose_mode_by_keys(qtbot, win, modes.LABEL_ISSUES)
        assert win.session.spec.split == "train" and "in-sample" in win.modes.warning.text()
        assert win.modes.warning_bar.isVisible()
    finally:
        win.close()  # saves the window state with the warning bar shown
    again = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                       keymap=keymapmod.default_keymap())  # the same settings; no project yet
    qtbot.addWidget(again)
    with qtbot.waitExposed(again):
        again.show()
    assert again.modes.toolbar.isVisible() and not again.modes.warning_bar.isVisible()
    again.close()


# ---------------------------------------------------------------------------------------------
# confusion cell and custom filter


def test_confusion_cell_and_custom_filter_dialogs(qtbot, win, digits_project):
    frame, _ = on_disk(digits_project)
    choose_mode_by_keys(qtbot, win, modes.CONFUSION_CELL)
    dialog = win.modes.dialog
    assert isinstance(dialog, modes.ConfusionCellDialog)
    row = frame.set_index("id").loc[win.session.current_id]
    assert (dialog.given.currentData(), dialog.pred.currentData()) == (row["label"], row["pred"])
    dialog.given.setCurrentIndex(dialog.given.findData("8"))
    dialog.pred.setCurrentIndex(dialog.pred.findData("1"))
    qtbot.keyClick(dialog, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: win.modes.dialog is None)
    cell = frame[(frame["split"] == "dev") & (frame["label"] == "8") & (frame["pred"] == "1")]
    assert set(win.session.items) == set(cell["id"]) and win.session.items
    assert win.modes.combo.currentText() == modes.CONFUSION_CELL
    assert "given 8 → predicted 1" in win.windowTitle()

    # Cancel keeps the queue and puts the mode back
    before = list(win.session.items)
    choose_mode_by_keys(qtbot, win, modes.CUSTOM)
    win.modes.dialog.reject()
    qtbot.waitUntil(lambda: win.modes.dialog is None)
    assert win.session.items == before and win.modes.combo.currentText() == modes.CONFUSION_CELL

    # flagged training examples by quality: ranked first, then only the flagged ones
    choose_mode_by_keys(qtbot, win, modes.CUSTOM)
    d = win.modes.dialog
    d.split.setCurrentIndex(d.split.findData("train"))
    d.scope.setCurrentIndex(d.scope.findData("flagged"))
    d.order.setCurrentIndex(d.order.findData("quality"))
    d.label.setCurrentIndex(d.label.findData(None))
    d.pred.setCurrentIndex(d.pred.findData(None))
    with qtbot.waitSignal(win.modes.ranked, timeout=RANK_TIMEOUT):
        d.accept()
    frame, _ = on_disk(digits_project)
    flagged = frame[(frame["split"] == "train") & frame["flagged"].fillna(False).astype(bool)]
    assert win.session.items == flagged.sort_values(["quality", "row"])["id"].tolist()
    assert win.modes.combo.currentText() == modes.LABEL_ISSUES  # train by quality is that mode
    assert "flagged label issues" in win.windowTitle()

    choose_mode_by_keys(qtbot, win, modes.DEV_ERRORS)
    dev_errors = frame[(frame["split"] == "dev") & frame["wrong"]]
    assert set(win.session.items) == set(dev_errors["id"])


# ---------------------------------------------------------------------------------------------
# File > Export...


def _close_message(qtbot, win) -> str:
    qtbot.waitUntil(lambda: win.exporter.message is not None)
    box = win.exporter.message
    text = box.text()
    box.done(0)
    qtbot.waitUntil(lambda: win.exporter.message is None and win.isActiveWindow()
                    and win.item_view.image_view.hasFocus())
    return text


def test_export_from_the_window_writes_the_corrected_training_set(qtbot, win, digits_project, tmp_path):
    switch_to_label_issues(qtbot, win)
    accepted = {}
    for _ in range(3):
        accepted[win.session.current_id] = win.session.frame_row()["suggested"]
        key(qtbot, win, Qt.Key.Key_P)
        key(qtbot, win, Qt.Key.Key_Space)
    key(qtbot, win, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)  # File > Export...
    qtbot.waitUntil(lambda: win.exporter.dialog is not None)
    dialog = win.exporter.dialog
    assert dialog.train_file.text() == str((DIGITS / "predictions.csv").resolve())  # registered at import
    out = tmp_path / "export out"
    dialog.out_dir.setText(str(out))
    dialog.train_file.setText(str(DIGITS / "train.csv"))
    assert "train.corrected.csv" in dialog.note.text()
    with qtbot.waitSignal(win.exporter.finished, timeout=60_000) as blocker:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    result, message = blocker.args
    assert result is not None and str(out.resolve()) in message
    assert str(out.resolve()) in _close_message(qtbot, win)
    for name in OUTPUTS + ["train.corrected.csv"]:
        assert (out / name).is_file(), name
    src = pd.read_csv(DIGITS / "train.csv", dtype=str, keep_default_na=False)
    got = pd.read_csv(out / "train.corrected.csv", dtype=str, keep_default_na=False)
    expected = src["label"].where(~src["id"].isin(accepted), src["id"].map(accepted))
    assert got["label"].tolist() == expected.tolist() and got["id"].tolist() == src["id"].tolist()
    assert (out / "train.corrected.csv").read_bytes().count(b"\n") == (DIGITS / "train.csv").read_bytes().count(b"\n")
    corrections = pd.read_csv(out / "corrections.csv", dtype=str, keep_default_na=False)
    assert dict(zip(corrections["id"], corrections["corrected_label"])) == accepted
    assert json.loads((out / "summary.json").read_text())["export"]["relabelled"] == len(accepted)
    # the training file chosen in the dialog is now the project's, as `labeler export --train-file` does
    with Project.open(digits_project, readonly=True) as p:
        assert p.meta("train_file") == str((DIGITS / "train.csv").resolve())
    # and the review goes on: keys still reach the session
    before = win.session.position
    key(qtbot, win, Qt.Key.Key_Space)
    assert win.session.position == before + 1


def test_export_problems_are_dialogs_and_nothing_is_written(qtbot, win, tmp_path):
    not_a_folder = tmp_path / "a file"
    not_a_folder.write_text("x")
    dialog = win.exporter.open_dialog()
    dialog.out_dir.setText(str(not_a_folder))
    with qtbot.waitSignal(win.exporter.finished, timeout=60_000) as blocker:
        dialog.accept()
    assert blocker.args[0] is None and "is a file" in blocker.args[1]
    assert win.exporter.message.icon() == QMessageBox.Icon.Critical
    assert "Nothing was exported" in _close_message(qtbot, win)
    assert not_a_folder.read_text() == "x"


def test_export_cancelled_leaves_nothing(qtbot, win, tmp_path):
    gate = threading.Event()

    class Hold(QRunnable):
        def run(self):
            gate.wait(30)

    hold = Hold()
    win.exporter.pool.start(hold)  # the export waits behind it, so the cancel lands before it starts
    dialog = win.exporter.open_dialog()
    out = tmp_path / "cancelled"
    dialog.out_dir.setText(str(out))
    with qtbot.waitSignal(win.exporter.finished, timeout=60_000) as blocker:
        dialog.accept()
        win.exporter.progress.canceled.emit()  # what its Cancel button does
        gate.set()
    assert blocker.args[0] is None and "cancelled" in blocker.args[1]
    assert not out.exists() or not any(out.iterdir())
    assert "cancelled" in win.statusBar().currentMessage()


def test_the_item_panel_names_the_suggested_label_where_p_accepts_it(qtbot, tmp_path):
    """A prediction column that is not the probabilities' argmax: in a label-quality queue P accepts
    cleanlab's suggestion, and the panel shows it next to the prediction."""
    import numpy as np

    from labeler.core.importer import import_predictions

    rng = np.random.default_rng(4)
    rows = []
    for i in range(90):
        label = int(rng.integers(0, 3))
        p = np.full(3, 0.1)
        p[label if i % 7 else (label + 1) % 3] = 0.8  # every 7th: the model disagrees with the label
        pred = (int(p.argmax()) + 1) % 3 if i % 5 == 0 else int(p.argmax())  # every 5th: pred is not argmax
        rows.append([f"x{i:02d}", f"{i}.png", "train", f"c{label}", f"c{pred}", *p.round(2)])
    src = tmp_path / "p.csv"
    with open(src, "w", newline="") as f:
        csv.writer(f).writerows([["id", "path", "split", "label", "pred", "p_c0", "p_c1", "p_c2"], *rows])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    with Project.open(db) as p:
        ranking.store(p, ranking.compute(p, framemod.load(p), "train"))
    win = open_window(qtbot, tmp_path, db, QueueSpec(split="train", order="quality", scope="all"))
    s, panel = win.session, win.panel
    by_id = {r[0]: r for r in rows}
    shown_differ = 0
    for i in range(len(s.items)):
        s.goto(i)
        win._refresh({"moved"})
        r = by_id[s.current_id]
        argmax = f"c{int(np.argmax(r[5:]))}"
        assert panel.suggested_label.isVisible() == (argmax != r[4])
        if argmax != r[4]:
            assert panel.suggested_label.text().startswith(argmax)
            shown_differ += 1
        assert panel.pred_label.text() == r[4]
        p_pred = r[5 + int(r[4][1:])]  # the prediction's own probability, even where it is not the top one
        assert panel.conf_label.text() == f"{100 * p_pred:.1f}%"
    assert shown_differ >= 10
    s.set_queue(QueueSpec(split="train", order="loss", scope="all"))
    win._refresh({"queue"})
    assert not panel.suggested_label.isVisible()  # in other queues P accepts the prediction
    win.close()
