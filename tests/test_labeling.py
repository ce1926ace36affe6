"""Labeling from scratch: a folder of images as a project (the ImageFolder convention), predictions
added later, the label queue's orders (checked against margins, entropies and top probabilities
computed here), the keys, and what the labels are stored as."""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import snapshot
from labeler.cli import main
from labeler.core import mapping
from labeler.core.formats import folder as folderfmt
from labeler.core.importer import ImportProblem, import_predictions
from labeler.core.labeling import ACCEPTED, HUMAN, LabelSession, LabelSpec, ordered
from labeler.core.store import Project


def image(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    assert cv2.imwrite(str(path), rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))


@pytest.fixture
def tree(tmp_path) -> Path:
    """imgs/: cat and dog class folders, an unlabeled folder, a loose file, hidden files, non-images."""
    root = tmp_path / "my images #1"
    for i in range(3):
        image(root / "cat" / f"c{i}.png", i)
        image(root / "dog" / f"d{i}.jpg", 10 + i)
    for i in range(4):
        image(root / "unlabeled" / f"u{i}.jpeg", 20 + i)
    image(root / "loose.bmp", 30)
    image(root / "dog" / "deeper" / "d9.webp", 31)
    (root / "notes.txt").write_text("not an image")
    image(root / ".hidden" / "h.png", 40)
    (root / "cat" / ".DS_Store").write_bytes(b"\0")
    return root


def rows_of(db: Path) -> dict[str, dict]:
    with Project.open(db, readonly=True) as p:
        t = p.examples_table()
        return {r["id"]: r for r in t.select(["id", "path", "label", "split", "pred"]).to_pylist()}


def test_a_folder_is_a_project_by_the_imagefolder_convention(tree, tmp_path):
    db = tmp_path / "p.labeler.db"
    summary = import_predictions(tree, db)
    rows = rows_of(db)
    expected_labels = {**{f"cat/c{i}.png": "cat" for i in range(3)}, **{f"dog/d{i}.jpg": "dog" for i in range(3)},
                       "dog/deeper/d9.webp": "dog", **{f"unlabeled/u{i}.jpeg": None for i in range(4)},
                       "loose.bmp": None}
    assert {k: r["label"] for k, r in rows.items()} == expected_labels
    assert all(r["path"] == k and r["pred"] is None for k, r in rows.items())  # id = path relative to the folder
    assert summary.unlabeled == 5
    with Project.open(db, readonly=True) as p:
        assert p.classes == ["cat", "dog"]
        assert all(Path(p.resolve(r["path"])).is_file() for r in rows.values())
        assert [f.kind for f in mapping.files_of(p)] == ["folder"]
    assert snapshot(db)  # (a real project)


def test_split_folders_and_the_class_order(tmp_path):
    root = tmp_path / "data"
    image(root / "train" / "zebra" / "a.png", 1)
    image(root / "train" / "ant" / "b.png", 2)
    image(root / "val" / "zebra" / "c.png", 3)
    image(root / "test" / "unlabeled" / "d.png", 4)
    image(root / "test" / "e.png", 5)
    db = tmp_path / "p.labeler.db"
    import_predictions(root, db)
    rows = rows_of(db)
    assert {k: (r["split"], r["label"]) for k, r in rows.items()} == {
        "train/zebra/a.png": ("train", "zebra"), "train/ant/b.png": ("train", "ant"),
        "val/zebra/c.png": ("dev", "zebra"), "test/unlabeled/d.png": ("test", None), "test/e.png": ("test", None)}
    with Project.open(db, readonly=True) as p:
        assert p.classes == ["ant", "zebra"]  # sorted folder names, as torchvision's ImageFolder numbers them
    db2 = tmp_path / "q.labeler.db"
    import_predictions(root, db2, classes=["zebra", "ant", "bee"])  # --classes wins, and may add classes
    with Project.open(db2, readonly=True) as p:
        assert p.classes == ["zebra", "ant", "bee"]


def test_a_folder_without_classes_needs_them_and_writes_nothing(tmp_path):
    root = tmp_path / "raw"
    image(root / "a.png", 1)
    db = tmp_path / "p.labeler.db"
    with pytest.raises(ImportProblem, match="--classes"):
        import_predictions(root, db)
    assert not db.exists()
    r = CliRunner().invoke(main, ["import", str(root), "--classes", "x,y", "-p", str(db)])
    assert r.exit_code == 0, r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    r = CliRunner().invoke(main, ["import", str(empty), "-p", str(tmp_path / "e.labeler.db")])
    assert r.exit_code == 2 and "no images" in r.output


def write_preds(path: Path, ids: list[str], seed: int = 0, key: str = "id") -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    out = {}
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([key, "p_cat", "p_dog", "camera"])
        for i in ids:
            p = round(float(rng.random()), 4)
            out[i] = [p, round(1 - p, 4)]
            w.writerow([i, *out[i], "x"])
    return out


def test_predictions_added_later_join_the_folders_images(tree, tmp_path):
    db = tmp_path / "p.labeler.db"
    import_predictions(tree, db)
    ids = sorted(rows_of(db))
    probs = write_preds(tmp_path / "preds.csv", ids[::-1])  # any order, matched by id
    r = CliRunner().invoke(main, ["import", "--add", str(tmp_path / "preds.csv"), "-p", str(db)])
    assert r.exit_code == 0, r.output
    rows = rows_of(db)
    assert set(rows) == set(ids)  # no new examples
    assert {k: r["pred"] for k, r in rows.items()} == {k: ("cat" if p[0] > p[1] else "dog") for k, p in probs.items()}
    assert rows["cat/c0.png"]["label"] == "cat" and rows["loose.bmp"]["label"] is None  # the folder's labels stay
    with Project.open(db, readonly=True) as p:
        m = p.probabilities()
        row = {eid: i for i, eid in enumerate(p.examples_table().column("id").to_pylist())}
        assert all(list(m[row[k]]) == v for k, v in probs.items())
        assert [f.attached_to is not None for f in mapping.files_of(p)] == [False, True]
    import_predictions(tree, db)  # the folder again: its predictions stay attached
    assert {k: r["pred"] for k, r in rows_of(db).items()} == {k: r["pred"] for k, r in rows.items()}
    # predictions that leave images out are refused, nothing written
    before = snapshot(db)
    write_preds(tmp_path / "some.csv", ids[:-2], key="id")
    db2 = tmp_path / "q.labeler.db"
    import_predictions(tree, db2)
    with pytest.raises(ImportProblem, match="no prediction for 2 of the 12 images"):
        import_predictions([tmp_path / "some.csv"], db2, add=True)
    assert snapshot(db) == before


def _labeled_project(tree: Path, tmp_path: Path) -> tuple[Path, dict[str, list[float]]]:
    db = tmp_path / "p.labeler.db"
    import_predictions(tree, db)
    probs = write_preds(tmp_path / "preds.csv", sorted(rows_of(db)), seed=3)
    import_predictions(tmp_path / "preds.csv", db, add=True)
    return db, probs


@pytest.mark.parametrize("order", ["uncertainty", "entropy", "least-confidence", "file", "pred"])
def test_the_label_queue_orders(tree, tmp_path, order):
    db, probs = _labeled_project(tree, tmp_path)
    unlabeled = sorted(k for k, r in rows_of(db).items() if r["label"] is None)
    file_order = sorted(rows_of(db))  # the folder is read in sorted order

    def key(k):
        p = sorted(probs[k], reverse=True)
        return {"uncertainty": p[0] - p[1],
                "entropy": -(-sum(x * math.log(x) for x in probs[k] if x > 0)),
                "least-confidence": p[0],
                "file": file_order.index(k),
                "pred": ("cat" if probs[k][0] > probs[k][1] else "dog", file_order.index(k))}[order]

    if order == "entropy":
        expected = sorted(unlabeled, key=lambda k: (-(-sum(x * math.log(x) for x in probs[k] if x > 0)), file_order.index(k)))
    else:
        expected = sorted(unlabeled, key=lambda k: (key(k), file_order.index(k)))
    with Project.open(db, readonly=True) as p:
        from labeler.core import frame as framemod

        got = ordered(framemod.load(p), p.probabilities(), LabelSpec(order=order))
    assert got == expected


def test_keys_suggestion_skip_undo_and_what_is_stored(tree, tmp_path):
    db, probs = _labeled_project(tree, tmp_path)
    with Project.open(db) as p:
        s = LabelSession(p, LabelSpec(order="file"), "ann")
        items = list(s.items)
        sug = s.suggestion()
        assert sug[0] == ("cat" if probs[items[0]][0] > probs[items[0]][1] else "dog")
        assert sug[1] == pytest.approx(max(probs[items[0]]))
        s.accept_suggestion()  # P
        s.choose(2)  # key 2: dog
        s.skip()
        s.choose(1)  # key 1: cat
        s.choose(2)
        s.undo()
        assert s.position == 4 and s.label_of() is None
        assert s.progress()["done"] == 3
        s.close()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    stored = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT example_id, label, source FROM reviewer_labels")}
    conn.close()
    assert stored == {items[0]: (sug[0], ACCEPTED), items[1]: ("dog", HUMAN), items[3]: ("cat", HUMAN)}
    with Project.open(db, readonly=True) as p:
        assert p.decisions() == {}  # the given labels are untouched
        assert rows_of(db)[items[0]]["label"] is None


def test_listing_a_folder_reads_no_pixels(tmp_path):
    root = tmp_path / "many"
    for i in range(50):
        p = root / f"c{i % 3}" / f"{i:03d}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"not really a jpeg")  # listing goes by name: nothing is decoded
    assert folderfmt.images(root) == sorted(f"c{i % 3}/{i:03d}.jpg" for i in range(50))
    r = CliRunner().invoke(main, ["import", str(root), "-p", str(tmp_path / "m.labeler.db")])
    assert r.exit_code == 0, r.output
    out = json.loads(CliRunner().invoke(main, ["summary", "--json", "-p", str(tmp_path / "m.labeler.db")]).output)
    assert out["files"][0]["rows"] == 50


def test_export_of_a_folder_project_labels_csv_and_the_tree(tree, tmp_path):
    db, probs = _labeled_project(tree, tmp_path)
    with Project.open(db) as p:
        s = LabelSession(p, LabelSpec(order="file"), "ann")
        items = list(s.items)
        sug = s.suggestion()[0]
        s.accept_suggestion()
        s.choose(1)  # cat
        s.close()
    r = CliRunner().invoke(main, ["export", "-p", str(db), "--out", str(tmp_path / "out"), "--tree",
                                  str(tmp_path / "tree")])
    assert r.exit_code == 0, r.output
    with open(tmp_path / "out" / "labels.csv", newline="", encoding="utf-8") as f:
        got = {row["id"]: row for row in csv.DictReader(f)}
    assert set(got) == set(rows_of(db))
    assert (got[items[0]]["label"], got[items[0]]["source"], got[items[0]]["reviewer"]) == (sug, ACCEPTED, "ann")
    assert (got[items[1]]["label"], got[items[1]]["source"]) == ("cat", HUMAN)
    assert (got["cat/c1.png"]["label"], got["cat/c1.png"]["source"]) == ("cat", "folder")
    assert got["dog/deeper/d9.webp"]["label"] == "dog"
    unlabeled_left = [k for k, v in got.items() if v["label"] == ""]
    assert len(unlabeled_left) == 3 and all(v["source"] == "" for k, v in got.items() if v["label"] == "")
    # the tree: every labeled image under its label, the same bytes (a link or a copy)
    linked = sorted(str(p.relative_to(tmp_path / "tree")) for p in (tmp_path / "tree").rglob("*") if p.is_file())
    expected = sorted(f"{v['label']}/{Path(k).name}" for k, v in got.items() if v["label"])
    assert linked == expected
    for rel in linked:
        src = next(tree / k for k, v in got.items() if f"{v['label']}/{Path(k).name}" == rel)
        assert (tmp_path / "tree" / rel).read_bytes() == src.read_bytes()
    assert not (tmp_path / "out" / "my images #1.corrected").exists()  # a folder is never rewritten


def test_a_files_empty_label_cells_filled_in_a_labeled_copy(tmp_path):
    lines = ["id,path,label,pred\n", "a,a.png,cat,cat\n", "b,b.png,,dog\n", 'c,"c,1.png",,cat\n', "d,d.png,dog,cat\n"]
    src = tmp_path / "data.csv"
    src.write_text("".join(lines), encoding="utf-8")
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    with Project.open(db) as p:
        s = LabelSession(p, LabelSpec(order="file"), "ann")
        assert s.items == ["b", "c"]
        s.accept_suggestion()  # b: dog
        s.choose(1)  # c: cat
        s.close()
    r = CliRunner().invoke(main, ["export", "-p", str(db), "--out", str(tmp_path / "out"), "--split", "dev"])
    assert r.exit_code == 0, r.output
    got = (tmp_path / "out" / "data.labeled.csv").read_bytes()
    expected = "".join([lines[0], lines[1], "b,b.png,dog,dog\n", 'c,"c,1.png",cat,cat\n', lines[4]]).encode()
    assert got == expected  # only the empty label cells, by bytes
    assert (tmp_path / "out" / "data.corrected.csv").read_bytes() == src.read_bytes()  # no corrections made


def test_the_review_windows_mode_bar_opens_labeling_on_the_same_project(qtbot, tree, tmp_path):
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings, Qt

    from labeler.gui import keymap as keymapmod
    from labeler.gui import modes
    from labeler.gui.main_window import MainWindow

    db, probs = _labeled_project(tree, tmp_path)
    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap(), reviewer="ann")
    qtbot.addWidget(win)
    win.set_project(Project.open(db), None)
    with qtbot.waitExposed(win):
        win.show()
    controller = win.findChild(modes.ModeController)
    labeling = controller.open_labeling()
    assert labeling is not None and labeling.session.project is win.session.project  # one writer
    with qtbot.waitExposed(labeling):
        labeling.show()
    labeling.activateWindow()
    labeling.item_view.image_view.setFocus()
    first = labeling.session.current_id
    qtbot.keyClick(labeling.item_view.image_view, Qt.Key.Key_2)  # dog
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert dict(conn.execute("SELECT example_id, label FROM reviewer_labels")) == {first: "dog"}
    conn.close()
    labeling.close()
    assert win.session.project.conn is not None  # the review window keeps its project open
    win.close()


def test_a_folder_opened_in_the_review_window_opens_labeling(qtbot, tree, tmp_path, monkeypatch):
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings

    from labeler.gui import keymap as keymapmod
    from labeler.gui import modes
    from labeler.gui.blind_window import BlindWindow
    from labeler.gui.main_window import MainWindow

    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap(), reviewer="ann")
    qtbot.addWidget(win)
    with qtbot.waitExposed(win):
        win.show()
    assert win.open_path(tree)  # what File > Open and a drop of the folder do
    controller = win.findChild(modes.ModeController)
    qtbot.waitUntil(lambda: isinstance(getattr(controller, "labeling", None), BlindWindow))
    labeling = controller.labeling
    assert len(labeling.session.items) == 5 and labeling.session.project is win.session.project
    labeling.close()
    win.close()


def test_one_key_for_many_selected_is_one_transaction_and_one_undo_step(tree, tmp_path):
    db, _ = _labeled_project(tree, tmp_path)
    with Project.open(db) as p:
        s = LabelSession(p, LabelSpec(order="file"), "ann")
        chosen = s.items[1:4]
        events_before = len(p.events())
        s.pick_many(chosen, "dog")
        assert {e: s.label_of(e) for e in chosen} == {e: "dog" for e in chosen}
        assert len(p.events()) == events_before + 3  # one logged change per example...
        s.choose(1)  # (the current example, alone)
        s.undo()
        s.undo()  # ...and one step back for all three
        assert all(s.label_of(e) is None for e in s.items)
        s.redo()
        assert {e: s.label_of(e) for e in chosen} == {e: "dog" for e in chosen}
        s.close()
    with pytest.raises(Exception):
        with Project.open(db) as p:
            LabelSession(p, LabelSpec(), "ann").pick_many(["x"], "not a class")


def test_the_labeling_grid_labels_a_selection_with_one_key(qtbot, tree, tmp_path):
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings, Qt

    from labeler.gui.blind_window import BlindWindow

    db, probs = _labeled_project(tree, tmp_path)
    project = Project.open(db)
    session = LabelSession(project, LabelSpec(order="file"), "ann")
    win = BlindWindow(project, None, "ann", QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                      session=session)
    qtbot.addWidget(win)
    with qtbot.waitExposed(win):
        win.show()
    win.activateWindow()
    win.item_view.image_view.setFocus()
    items = list(session.items)
    qtbot.keyClick(win.item_view.image_view, Qt.Key.Key_G)
    assert win.grid_shown()
    grid = win.grid
    qtbot.keyClick(grid, Qt.Key.Key_Right)  # the grid's cursor: the second item
    qtbot.keyClick(grid, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(grid, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert grid.selected_ids() == items[1:4]
    qtbot.keyClick(grid, Qt.Key.Key_1)  # cat, for all three: one step
    assert {e: session.label_of(e) for e in items} == {**{e: None for e in items}, **{e: "cat" for e in items[1:4]}}
    qtbot.keyClick(grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert all(session.label_of(e) is None for e in items)
    qtbot.keyClick(grid, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(grid, Qt.Key.Key_P)  # every selected example takes its own suggestion
    assert {e: session.label_of(e) for e in items} == {e: session.suggestion(e)[0] for e in items}
    qtbot.keyClick(grid, Qt.Key.Key_Return)
    assert not win.grid_shown()
    win.grid.viewport().grab().save(str(tmp_path / "label_grid.png"))
    win.close()
