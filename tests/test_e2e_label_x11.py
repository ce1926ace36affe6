"""Labeling a folder from scratch end to end in a real X window: `labeler DIR` imports the folder and
opens the labeling window; number keys and P label, Shift+Right skips, Ctrl+Z undoes; then `labeler
export --tree` writes labels.csv and an ImageFolder tree, checked against the keys pressed."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from test_e2e_x11 import _poll, xserver  # noqa: F401  (the fixture)
from x11 import App


def _own(path: Path) -> dict[str, tuple[str, str]]:
    if not path.exists():
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return {r[0]: (r[1], r[2]) for r in conn.execute("SELECT example_id, label, source FROM reviewer_labels")}
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def test_label_a_folder_with_keys_in_a_real_window_then_export(xserver, tmp_path):  # noqa: F811
    root = tmp_path / "shots"
    rng = np.random.default_rng(0)
    for i in range(2):
        for cls in ("cat", "dog"):
            (root / cls).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / cls / f"{cls}{i}.png"), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
    (root / "unlabeled").mkdir()
    for i in range(5):
        cv2.imwrite(str(root / "unlabeled" / f"u{i}.png"), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
    # the model's predictions for every image, added to the project later: u0-u4 suggested dog
    preds = tmp_path / "preds.csv"
    with open(preds, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "p_cat", "p_dog"])
        for p in sorted(str(x.relative_to(root)).replace(os.sep, "/") for x in root.rglob("*.png")):
            w.writerow([p, 0.3, 0.7])
    db = tmp_path / "shots.labeler.db"
    run = lambda *a: subprocess.run([sys.executable, "-m", "labeler", *map(str, a)], capture_output=True, text=True)
    assert run("import", root).returncode == 0
    r = run("import", "--add", preds, "-p", db)
    assert r.returncode == 0, r.stderr

    # `labeler DIR`: the folder (imported again: its predictions stay attached), then the labeling window;
    # the queue in file order: unlabeled/u0 .. u4
    app = App(xserver, tmp_path, [root, "--label", "--order", "file", "--reviewer", "ann"], cwd=tmp_path)
    try:
        app.window("labeler: labeling")
        # u0: 1 (cat); u1: P (dog, the suggestion); u2: skipped; u3: 2 (dog); u4: 1, undone
        app.keys("1", "p", "shift+Right", "2", "1", "ctrl+z")
        expected = {"unlabeled/u0.png": ("cat", "human"), "unlabeled/u1.png": ("dog", "suggestion accepted"),
                    "unlabeled/u3.png": ("dog", "human")}
        _poll(lambda: _own(db) == expected, 20, f"the labels {expected}")
    finally:
        app.kill()
    assert _own(db) == expected
    out, tree = tmp_path / "out", tmp_path / "tree"
    r = run("export", "-p", db, "--out", out, "--tree", tree)
    assert r.returncode == 0, r.stderr
    with open(out / "labels.csv", newline="", encoding="utf-8") as f:
        got = {row["id"]: (row["label"], row["source"]) for row in csv.DictReader(f)}
    assert {k: v for k, v in got.items() if k.startswith("unlabeled/")} == {
        **expected, "unlabeled/u2.png": ("", ""), "unlabeled/u4.png": ("", "")}
    assert got["cat/cat0.png"] == ("cat", "folder")
    linked = sorted(str(p.relative_to(tree)).replace(os.sep, "/") for p in tree.rglob("*.png"))
    assert linked == sorted(["cat/cat0.png", "cat/cat1.png", "dog/dog0.png", "dog/dog1.png",
                             "cat/u0.png", "dog/u1.png", "dog/u3.png"])
