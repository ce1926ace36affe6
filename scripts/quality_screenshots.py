"""Regenerate the screenshots of issue 17 in docs/img (offscreen): the Slices panel with the item
panel's image-quality flags, the duplicates view and the augmentation preview.

    python scripts/quality_screenshots.py [--out docs/img]

The digits of the sample data are 8 x 8 grey images with neither blur nor duplicates to show, so the
pictures come from a dataset made here: 200 "photos" with injected blur, darkness, brightness and
copies across splits (bench/quality_bench.py's generator, at 640 x 480), scanned, then reviewed.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from quality_bench import picture  # noqa: E402

from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.quality import scan as scanmod  # noqa: E402
from labeler.core.store import Project  # noqa: E402
from labeler.gui import keymap as keymapmod  # noqa: E402
from labeler.gui import modes, theme  # noqa: E402
from labeler.gui.main_window import MainWindow  # noqa: E402


def dataset(folder: Path, n: int = 200) -> dict[str, str]:
    """Images with problems; returns {id: problem}. The model errs on most blurry dev images."""
    rng = np.random.default_rng(17)
    (folder / "images").mkdir(parents=True)
    rows, problem, keep = [], {}, {}
    for i in range(n):
        img = cv2.resize(picture(rng), (640, 480), interpolation=cv2.INTER_AREA)
        kind = {1: "blurry", 2: "dark", 3: "bright"}.get(i % 10)
        if kind == "blurry":
            img = cv2.GaussianBlur(img, (0, 0), 3.5)
        elif kind == "dark":
            img = (img * 0.15).astype(np.uint8)
        elif kind == "bright":
            img = np.clip(img.astype(np.int16) + 150, 0, 255).astype(np.uint8)
        eid = f"p{i:03d}"
        problem[eid] = kind or ""
        keep[eid] = img
        cv2.imwrite(str(folder / "images" / f"{eid}.jpg"), img)
        split = "train" if i < n // 2 else "dev"
        label = ["cat", "dog", "fox"][i % 3]
        wrong = (kind == "blurry" and rng.random() < 0.8) or rng.random() < 0.15
        rows.append([eid, f"images/{eid}.jpg", split, label, ["cat", "dog", "fox"][(i + 1) % 3] if wrong else label])
    # a training picture again in dev, with another label: a leak and a conflict
    cv2.imwrite(str(folder / "images" / "p900.jpg"), keep["p004"])
    rows.append(["p900", "images/p900.jpg", "dev", "cat", "cat"])
    with open(folder / "predictions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "path", "split", "label", "pred"])
        w.writerows(rows)
    return problem


def settle(app: QApplication, win) -> None:
    """Until the current example's picture is shown (decoded off the GUI thread), past resizes."""
    view = win.item_view.image_view
    for _ in range(300):
        if win.item_view._shown_id == win.session.current_id and view.image() is not None:
            break
        QTest.qWait(20)
    QTest.qWait(300)
    app.processEvents()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = ap.parse_args(argv)
    app = QApplication.instance() or QApplication([])
    theme.apply(app, "light")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        problem = dataset(tmp / "data")
        db = tmp / "p.labeler.db"
        import_predictions(tmp / "data" / "predictions.csv", db)
        with Project.open(db) as p:
            scanmod.scan(p)
        win = MainWindow(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat),
                         keymap=keymapmod.default_keymap())
        win.set_project(Project.open(db))
        win.resize(1400, 860)
        win.show()
        dock = win.docks["Slices"]
        dock.show()
        dock.raise_()
        win.resizeDocks([dock], [620], Qt.Orientation.Horizontal)
        blurry = next(i for i in win.session.items if problem.get(i) == "blurry")
        settle(app, win)
        win.jump_to(blurry)
        settle(app, win)
        win.grab().save(str(args.out / "slices.png"))

        dock.hide()
        win.modes.set_mode(modes.DUPLICATES)
        win.jump_to("p900")
        settle(app, win)
        win.grab().save(str(args.out / "duplicates.png"))

        win.modes.set_mode(modes.DEV_ERRORS)
        plain = next(i for i in win.session.items if not problem.get(i))
        win.jump_to(plain)
        win.augment_preview.toggle()
        QTest.qWait(800)
        win.augment_preview.dialog.grab().save(str(args.out / "augment.png"))
        win.augment_preview.dialog.close()
        win.close()
    print("wrote slices.png, duplicates.png, augment.png into", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
