"""Regenerate the screenshots in docs/img from the sample data (offscreen, no display needed).

    python scripts/screenshots.py [--out docs/img]

The sample predictions are imported into a temporary project; the window is driven with the same
keys a reviewer would press, then grabbed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPoint, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QColor, QPainter  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "sample_data" / "digits"


def wait_for(app: QApplication, condition, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there")
        app.processEvents()
        QTest.qWait(10)


def settle(app: QApplication, win) -> None:
    view = win.item_view.image_view
    wait_for(app, lambda: win.item_view._shown_id == win.session.current_id and view.image() is not None)
    QTest.qWait(250)  # past the resize debounce
    app.processEvents()


def with_dialog(win, dialog):
    """The window with ``dialog`` drawn centred over it, as a user sees them."""
    shot = win.grab()
    over = dialog.grab()
    painter = QPainter(shot)
    pos = QPoint((shot.width() - over.width()) // 2, (shot.height() - over.height()) // 3)
    for i in range(8, 0, -1):  # a soft shadow, as a window manager would draw
        painter.fillRect(over.rect().translated(pos).adjusted(-i, -i + 3, i, i + 3), QColor(0, 0, 0, 10))
    painter.drawPixmap(pos, over)
    painter.setPen(QColor(120, 120, 120))
    painter.drawRect(over.rect().translated(pos).adjusted(0, 0, -1, -1))
    painter.end()
    return shot


def label_issues_and_export(app: QApplication, win, out: Path) -> None:
    """The training-label-issues mode after a few verdicts, and the export dialog over it."""
    from labeler.gui import modes

    view = win.item_view.image_view
    win.activateWindow()  # the dialogs before took it; keys reach only the active window
    wait_for(app, win.isActiveWindow)
    ranked = []
    win.modes.ranked.connect(ranked.append)
    win.modes.set_mode(modes.LABEL_ISSUES)
    wait_for(app, lambda: ranked, timeout=120)
    settle(app, win)
    for keys in ([Qt.Key.Key_P], [Qt.Key.Key_P], [], [Qt.Key.Key_M]):  # 3 of the first 4 flagged labels judged wrong
        for k in keys:
            QTest.keyClick(view, k)
        QTest.qWait(2500)
        QTest.keyClick(view, Qt.Key.Key_Right)
    settle(app, win)
    win.grab().save(str(out / "label_issues.png"))

    dialog = win.exporter.open_dialog()
    dialog.out_dir.setText(str(DIGITS / "export"))
    dialog.train_file.setText(str(DIGITS / "train.csv"))
    app.processEvents()
    with_dialog(win, dialog).save(str(out / "export_dialog.png"))
    dialog.reject()


def grid(app: QApplication, win, out: Path) -> None:
    """The grid (G) after a range was selected and tagged with one key, in both themes."""
    from labeler.gui import theme

    win.activateWindow()  # the dialogs before took it; keys reach only the active window
    wait_for(app, win.isActiveWindow)
    win.item_view.image_view.setFocus()
    QTest.keyClick(win.item_view.image_view, Qt.Key.Key_G)
    wait_for(app, lambda: win.grid_mode.active)
    g = win.grid_mode.grid
    for k in (Qt.Key.Key_Right, Qt.Key.Key_Right):
        QTest.keyClick(g, k)
    for _ in range(3):
        QTest.keyClick(g, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    for k in (Qt.Key.Key_M, Qt.Key.Key_3):
        QTest.keyClick(g, k)
    wait_for(app, lambda: g.prefetcher.pending_count == 0 and g.prefetcher.cached_count > 0)
    QTest.qWait(100)
    app.processEvents()
    win.grab().save(str(out / "grid.png"))
    win.set_theme("dark")
    app.processEvents()
    QTest.qWait(100)
    win.grab().save(str(out / "grid_dark.png"))
    win.set_theme("light")
    theme.apply(app, "light")
    QTest.keyClick(g, Qt.Key.Key_G)
    settle(app, win)


def open_window(app: QApplication, project: Path, settings: Path):
    from labeler.core.store import Project
    from labeler.gui import keymap as keymapmod
    from labeler.gui.main_window import MainWindow

    win = MainWindow(settings=QSettings(str(settings), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap(), reviewer="docs")
    win.set_project(Project.open(project))
    win.resize(1280, 800)
    win.show()
    return win


def long_names(app: QApplication, tmp: Path, out: Path) -> None:
    """Class and error-type names as users write them (snake_case, Hebrew, Arabic, emoji, long) in
    the item panel and the top-5, on the sample's images."""
    import csv
    import random

    from labeler.core.importer import import_predictions
    from labeler.core.store import Project

    classes = ["positive_sentiment", "negative_sentiment", "שלום עולם", "مرحبا بالعالم", "🐶 dog", "dog",
               "a_really_long_class_name_that_goes_on_and_on"]
    rng = random.Random(1)
    src = tmp / "names.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "path", "label", "pred", *[f"p_{c}" for c in classes], "source"])
        for i, img in enumerate(sorted((DIGITS / "images").glob("*.png"))[:60]):
            given = classes[i % len(classes)]
            pred = classes[(i + 1 + rng.randrange(len(classes) - 1)) % len(classes)]
            ps = [rng.random() for _ in classes]
            ps[classes.index(pred)] += 3
            ps = [q / sum(ps) for q in ps]
            w.writerow([f"x{i:03d}", str(img), given, pred, *[f"{q:.4f}" for q in ps],
                        "scraped_from_a_very_long_source_name_with_no_spaces_at_all"])
    project = tmp / "names.labeler.db"
    import_predictions(src, project)
    with Project.open(project) as p:
        p.set_error_types(["a very long error type name that does not fit", "blurry", "occluded", "🙃 sarcasm",
                           "תווית שגויה", *[f"type {i}" for i in range(6, 12)]])
    win = open_window(app, project, tmp / "names.ini")
    settle(app, win)
    view = win.item_view.image_view
    while win.session.frame_row()["label"] != "שלום עולם":
        QTest.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    for k in (Qt.Key.Key_M, Qt.Key.Key_1, Qt.Key.Key_4):
        QTest.keyClick(view, k)
    settle(app, win)
    win.grab().save(str(out / "long_names.png"))
    QTest.keyClick(view, Qt.Key.Key_T)  # the panels: the confusion matrix numbers its columns
    dock = win.docks["Confusion matrix"]
    dock.raise_()
    wait_for(app, lambda: win.analysis.confusion.model.rowCount() > 0)
    QTest.qWait(300)
    app.processEvents()
    win.grab().save(str(out / "long_names_confusion.png"))
    win.close()


def text_example(app: QApplication, tmp: Path, out: Path) -> None:
    """A text example: a centred column at a reading size, the metadata in the panel."""
    import csv

    from labeler.core.importer import import_predictions
    from labeler.core.store import Project

    text = ("The pasta arrived cold and the waiter forgot our drinks twice, but honestly the tiramisu was the"
            " best I have had outside Italy and the owner came over to apologise and took the mains off the bill."
            " Would I go back? Probably, for dessert alone.\n\nThe room is loud on weekends; book a table by the"
            " window, and ask for the daily special: it is not on the menu.")
    src = tmp / "reviews.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "split", "label", "pred", "p_positive_sentiment", "p_negative_sentiment",
                    "source", "stars"])
        w.writerow(["r1", text, "dev", "positive_sentiment", "negative_sentiment", "0.31", "0.69", "yelp", "4"])
        w.writerow(["r2", "awful", "dev", "negative_sentiment", "positive_sentiment", "0.6", "0.4", "imdb", "1"])
    project = tmp / "reviews.labeler.db"
    import_predictions(src, project)
    with Project.open(project) as p:
        p.set_error_types(["sarcasm", "mixed sentiment", "off topic"])
    win = open_window(app, project, tmp / "reviews.ini")
    win.jump_to("r1")
    wait_for(app, lambda: win.item_view.currentWidget() is win.item_view.text_view)
    QTest.keyClick(win.item_view.image_view, Qt.Key.Key_2)
    QTest.qWait(100)
    app.processEvents()
    win.grab().save(str(out / "text_example.png"))
    win.close()


def column_mapping(app: QApplication, tmp: Path, out: Path) -> None:
    """The column-mapping dialog after Import was pressed with the required roles still missing."""
    from PySide6.QtWidgets import QPushButton

    from labeler.core.problems import MissingColumns
    from labeler.gui.column_dialog import ColumnMappingDialog

    src = tmp / "odd.csv"
    src.write_text("key,picture,truth,guess,note\nk1,images/a.png,cat,cat,blurry\nk2,images/b.png,dog,cat,\n"
                   "k3,images/c.png,dog,dog,night\n", encoding="utf-8")
    problem = MissingColumns(["label", "path or text", "pred or probabilities"],
                             ["key", "picture", "truth", "guess", "note"], {"id": "key"}, "")
    dialog = ColumnMappingDialog(None, src, problem)
    dialog.show()
    QTest.qWaitForWindowExposed(dialog)
    dialog.choosers["path"].setCurrentText("picture")
    next(b for b in dialog.findChildren(QPushButton) if b.text() == "Import").click()
    app.processEvents()
    dialog.grab().save(str(out / "column_mapping.png"))
    dialog.reject()


def analysis_panels(app: QApplication, win, out: Path) -> None:
    """The tally, the confusion matrix and the dashboard docks after about 20 reviewed dev errors."""
    view = win.item_view.image_view
    win.activateWindow()
    wait_for(app, win.isActiveWindow)
    view.setFocus()
    plan = [[Qt.Key.Key_P], [Qt.Key.Key_5], [Qt.Key.Key_H, Qt.Key.Key_1], [], [Qt.Key.Key_M, Qt.Key.Key_2],
            [Qt.Key.Key_A], [Qt.Key.Key_5, Qt.Key.Key_6], [Qt.Key.Key_3]]
    i = 0
    while win.analysis.analysis.live.tally("dev")["reviewed"] < 20 and i < 40:
        for k in plan[i % len(plan)] + [Qt.Key.Key_Right]:
            QTest.keyClick(view, k)
        i += 1
        app.processEvents()
    win.resize(1400, 860)
    docks = win.analysis.docks
    for dock in docks:  # (hidden by default: T shows them)
        dock.show()
    win.resizeDocks([docks[0]], [620], Qt.Orientation.Horizontal)
    for name, dock in zip(("tally", "confusion", "dashboard"), docks):
        dock.raise_()
        QTest.qWait(250)  # past the panels' debounce
        app.processEvents()
        dock.grab().save(str(out / f"{name}.png"))
    docks[0].raise_()
    win.resize(1280, 800)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from labeler.core.importer import import_predictions
    from labeler.core.store import Project
    from labeler.gui import keymap as keymapmod, theme
    from labeler.gui.app import application

    app = application()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "digits.labeler.db"
        import_predictions(DIGITS / "predictions.csv", project)
        with Project.open(project) as p:
            p.set_error_types((DIGITS / "taxonomy.txt").read_text(encoding="utf-8").splitlines())
        theme.apply(app, "light")
        from labeler.gui.main_window import MainWindow

        win = MainWindow(settings=QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat),
                         keymap=keymapmod.default_keymap(), reviewer="docs")
        win.set_project(Project.open(project))
        win.resize(1280, 800)
        win.show()
        view = win.item_view.image_view
        view.setFocus()
        settle(app, win)
        for _ in range(3):  # at a reviewer's pace, so the pace shown is a plausible one
            QTest.qWait(2500)
            QTest.keyClick(view, Qt.Key.Key_Right)
        for k in (Qt.Key.Key_M, Qt.Key.Key_5):
            QTest.keyClick(view, k)
        win.session.set_note("strokes close into a loop: reads as a 0")
        win._refresh({"decision"})
        settle(app, win)
        win.grab().save(str(args.out / "main_window.png"))

        win.set_theme("dark")
        settle(app, win)
        win.grab().save(str(args.out / "main_window_dark.png"))
        win.set_theme("light")

        QTest.keyClick(view, Qt.Key.Key_L)
        picker = QApplication.activeModalWidget()
        QTest.keyClicks(picker.filter, "")
        app.processEvents()
        with_dialog(win, picker).save(str(args.out / "label_picker.png"))
        picker.reject()

        win.toggle_help()
        app.processEvents()
        win.grab().save(str(args.out / "help_overlay.png"))
        win.help_overlay.hide()
        grid(app, win, args.out)
        analysis_panels(app, win, args.out)
        label_issues_and_export(app, win, args.out)
        win.close()
        long_names(app, Path(tmp), args.out)
        text_example(app, Path(tmp), args.out)
        column_mapping(app, Path(tmp), args.out)
    for name in ("main_window.png", "main_window_dark.png", "label_picker.png", "help_overlay.png",
                 "label_issues.png", "export_dialog.png", "tally.png", "confusion.png", "dashboard.png",
                 "grid.png", "grid_dark.png", "long_names.png", "long_names_confusion.png", "text_example.png",
                 "column_mapping.png"):
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
