"""Blind relabeling: the core session (seeded sample, number keys, skip, undo) and the window, which
must never draw the given label, the prediction or a probability."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import read_digits_rows
from labeler.core import annotations
from labeler.core.blind import BlindSession, BlindSpec
from labeler.core.store import Project, ProjectError


def blind_labels(path: Path, reviewer: str) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT example_id, label FROM reviewer_labels WHERE reviewer = ?", (reviewer,)))
    finally:
        conn.close()


def test_the_sample_is_seeded_and_drawn_from_the_whole_split(digits_project):
    dev = [r["id"] for r in read_digits_rows() if r["split"] == "dev"]
    with Project.open(digits_project) as p:
        a = BlindSession(p, BlindSpec("dev", sample=25, seed=3), "ann")
        b = BlindSession(p, BlindSpec("dev", sample=25, seed=3), "bob")
        c = BlindSession(p, BlindSpec("dev", sample=25, seed=4), "cy")
        whole = BlindSession(p, BlindSpec("dev"), "dee")
    assert a.items == b.items != c.items and len(a.items) == 25 and set(a.items) <= set(dev)
    expected = [dev[i] for i in np.random.default_rng(3).permutation(len(dev))[:25]]
    assert a.items == expected  # the documented order: numpy's seeded permutation of the file order
    assert sorted(whole.items) == sorted(dev)  # all examples, not only the errors


def test_number_keys_label_skip_and_undo(digits_project):
    with Project.open(digits_project) as p:
        s = BlindSession(p, BlindSpec("dev", sample=6, seed=1), "ann")
        items, classes = s.items, s.classes
        s.choose(3)  # key 3: the third class
        s.choose(10)  # key 0: the tenth
        s.skip()
        s.pick(classes[5])  # L
        assert s.position == 4
        s.undo()  # takes back the L label and goes back to it
        assert s.position == 3 and s.label_of() is None
        s.redo()
        s.undo()
        s.close()
    assert blind_labels(digits_project, "ann") == {items[0]: classes[2], items[1]: classes[9]}
    with Project.open(digits_project, readonly=True) as p:
        assert p.decisions() == {}  # blind labels are no corrections
    with Project.open(digits_project) as p:  # a new session starts at the first example still unlabeled
        assert BlindSession(p, BlindSpec("dev", sample=6, seed=1), "ann").position == 2


def test_a_reviewer_name_is_required(digits_project):
    with Project.open(digits_project) as p, pytest.raises(ProjectError, match="--reviewer"):
        BlindSession(p, BlindSpec(), " ")


pytest.importorskip("pytestqt")


def test_the_window_draws_no_given_label_prediction_or_probability(qtbot, digits_project, tmp_path):
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QLabel, QListWidget

    from labeler.gui.blind_window import BlindWindow

    rows = {r["id"]: r for r in read_digits_rows()}
    project = Project.open(digits_project)
    win = BlindWindow(project, BlindSpec("dev", sample=8, seed=2), "ann",
                      QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    with qtbot.waitExposed(win):
        win.show()
    win.activateWindow()
    win.item_view.image_view.setFocus()
    items, classes = win.session.items, win.session.classes
    view = win.item_view.image_view

    def drawn_texts() -> list[str]:
        texts = [w.text() for w in win.findChildren(QLabel) if w.isVisible()]
        for lst in win.findChildren(QListWidget):
            texts += [lst.item(i).text() for i in range(lst.count())]
        return texts + [win.windowTitle()]

    for step, k in enumerate([Qt.Key.Key_2, Qt.Key.Key_7]):
        eid = items[step]
        qtbot.waitUntil(lambda: view.image() is not None or view.placeholder() is not None)
        texts = " | ".join(drawn_texts())
        row = rows[eid]
        probs = [row[f"p_{c}"] for c in classes]
        assert "given" not in texts.lower() and "predict" not in texts.lower()
        assert not any(p in texts for p in probs), texts  # no probability, to the digit
        assert "loss" not in texts.lower() and "confidence" not in texts.lower()
        qtbot.keyClick(view, k)
    qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)  # skip
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the 7
    assert win.session.position == 1
    assert blind_labels(digits_project, "ann") == {items[0]: classes[1]}
    assert win.panel.list.selectedItems() == []
    qtbot.keyClick(view, Qt.Key.Key_1)
    assert blind_labels(digits_project, "ann") == {items[0]: classes[1], items[1]: classes[0]}
    assert win.panel.progress.text().startswith("2 of 8 labeled")
    win.grab().save(str(tmp_path / "blind.png"))
    win.close()
