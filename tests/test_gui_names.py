"""The item panel with names as users write them: long snake_case, Hebrew, Arabic, emoji; error types
past the ninth; the error-type editor (offscreen, a shown window, a real project)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit  # noqa: E402

from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.store import Project  # noqa: E402
from labeler.gui import keymap as keymapmod  # noqa: E402
from labeler.gui.dialogs import ErrorTypeEditor  # noqa: E402
from labeler.gui.main_window import MainWindow  # noqa: E402

IMAGES = sorted((Path(__file__).resolve().parents[1] / "sample_data" / "digits" / "images").glob("*.png"))
HEBREW, ARABIC = "שלום עולם", "مرحبا بالعالم"
CLASSES = ["positive_sentiment_with_a_long_tail", HEBREW, ARABIC, "🐶 dog", "dog"]
LONG_SOURCE = "scraped_from_a_very_long_source_name_with_no_spaces_at_all_" * 2
TYPES = ["a very long error type name that does not fit the panel", *[f"type {i}" for i in range(2, 12)]]


@pytest.fixture
def project_path(tmp_path) -> Path:
    src = tmp_path / "preds.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "path", "label", "pred", "source"])
        for i, img in enumerate(IMAGES[:10]):
            w.writerow([f"x{i}", str(img), CLASSES[(i + 1) % 5], CLASSES[i % 5], LONG_SOURCE])
    db = tmp_path / "names.labeler.db"
    import_predictions(src, db)
    with Project.open(db) as p:
        p.set_error_types(TYPES)
    return db


@pytest.fixture
def win(qtbot, tmp_path, project_path):
    w = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                   keymap=keymapmod.default_keymap())
    qtbot.addWidget(w)
    w.set_project(Project.open(project_path))
    w.resize(1280, 800)
    with qtbot.waitExposed(w):
        w.show()
    w.item_view.image_view.setFocus()
    yield w
    w.close()


def ink_columns(label: QLabel) -> list[int]:
    """The x of every column of the label where something is drawn (not the background)."""
    image = label.grab().toImage()
    bg = image.pixelColor(image.width() - 1, 0)
    return [x for x in range(image.width()) if any(image.pixelColor(x, y) != bg for y in range(image.height()))]


def goto_given(qtbot, win, name: str) -> None:
    s = win.session
    while s.frame_row()["label"] != name:
        qtbot.keyClick(win.item_view.image_view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: win.panel.given_label.text() == name)


@pytest.mark.parametrize("name", [HEBREW, ARABIC, "🐶 dog", "positive_sentiment_with_a_long_tail"])
def test_every_given_label_is_drawn_from_the_left_and_fits(qtbot, win, name):
    goto_given(qtbot, win, name)
    label = win.panel.given_label
    shown = QLabel.text(label)
    assert shown and label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width()
    ink = ink_columns(label)
    assert ink, f"{name!r} is drawn as a blank"
    assert ink[0] < 20  # from the left edge, whatever the script
    body = win.panel.widget()
    right = label.mapTo(body, QPoint(label.width(), 0)).x()
    assert right <= win.panel.viewport().width()


def test_a_name_too_long_is_elided_in_the_middle_with_the_whole_in_the_tooltip(qtbot, win):
    win.panel.resize(300, win.panel.height())
    win.centralWidget().setSizes([980, 300])
    goto_given(qtbot, win, "positive_sentiment_with_a_long_tail")
    label = win.panel.given_label
    qtbot.waitUntil(lambda: QLabel.text(label) != label.text())
    shown = QLabel.text(label)
    assert "…" in shown and shown.startswith("pos") and shown.endswith("tail")
    assert label.toolTip() == "positive_sentiment_with_a_long_tail"


def test_metadata_and_notes_wrap_inside_the_panel(qtbot, win):
    meta = win.panel.meta_label
    assert meta.minimumSizeHint().width() <= win.panel.viewport().width()
    assert meta.text().replace("\u200b", "") == f"source: {LONG_SOURCE}"


def test_error_types_past_the_ninth_are_listed_and_set_with_a_click(qtbot, win, project_path):
    rows = win.panel.error_types.rows()
    assert [name for _, name, _ in rows] == TYPES
    eleventh = win.panel.error_types
    qtbot.mouseClick(eleventh, Qt.MouseButton.LeftButton, pos=QPoint(40, 10 * eleventh.ROW + eleventh.ROW // 2))
    eid = win.session.current_id
    qtbot.waitUntil(lambda: win.session.decision(eid).error_types == {"type 11"})
    with Project.open(project_path, readonly=True) as p:
        assert p.decisions()[eid].error_types == {"type 11"}
    qtbot.mouseClick(win.panel.tags, Qt.MouseButton.LeftButton, pos=QPoint(40, 10))
    qtbot.waitUntil(lambda: "mislabeled" in win.session.decision(eid).tags)


def test_the_tally_lists_new_error_types_as_soon_as_the_editor_closes(qtbot, win):
    win.analysis.analysis.tally("dev")  # figures computed for the old taxonomy
    win.apply_error_types([*TYPES, "glare"], {})
    assert win.analysis.analysis.live.error_types[-1] == "glare"  # no decision needed in between


def test_add_in_the_error_type_editor_selects_its_placeholder(qtbot):
    dialog = ErrorTypeEditor(["blurry"])
    qtbot.addWidget(dialog)
    with qtbot.waitExposed(dialog):
        dialog.show()
    dialog.add()
    qtbot.waitUntil(lambda: isinstance(QApplication.focusWidget(), QLineEdit)
                    and QApplication.focusWidget().selectedText() == "new error type")
    qtbot.keyClicks(QApplication.focusWidget(), "glare")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.list.item(1).text() == "glare")


def test_the_confusion_matrix_numbers_its_columns_when_names_are_long(qtbot, win):
    qtbot.keyClick(win.item_view.image_view, Qt.Key.Key_T)
    dock = win.docks["Confusion matrix"]
    dock.raise_()
    panel = win.analysis.confusion
    qtbot.waitUntil(lambda: panel.model.rowCount() == len(CLASSES))
    model, h, v = panel.model, Qt.Orientation.Horizontal, Qt.Orientation.Vertical
    assert model.numbered
    assert [model.headerData(i, h) for i in range(len(CLASSES))] == [str(i + 1) for i in range(len(CLASSES))]
    assert model.headerData(1, v) == f"2  {win.session.project.classes[1]}"  # the row is the legend
    assert model.headerData(1, h, Qt.ItemDataRole.ToolTipRole) == f"predicted {win.session.project.classes[1]}"
    assert panel.view.verticalHeader().width() <= 220
    assert "numbered as the rows" in panel.hint.text()


def test_tags_fall_back_to_one_column_when_the_panel_is_narrow(qtbot, win):
    tags = win.panel.tags
    win.centralWidget().setSizes([1280 - 220, 220])
    qtbot.waitUntil(lambda: tags.width() < 2 * tags.COLUMN_MIN)
    assert tags.columns() == 1 and tags.height() == 4 * tags.ROW  # each name on its own row, whole
    win.centralWidget().setSizes([900, 380])
    qtbot.waitUntil(lambda: tags.columns() == 2 and tags.height() == 2 * tags.ROW)


def test_error_types_past_the_ninth_are_in_the_review_menu(qtbot, win):
    menu = win.more_types_menu
    assert menu.menuAction().isVisible()
    menu.aboutToShow.emit()
    assert [a.text() for a in menu.actions()] == TYPES[9:]
    eid = win.session.current_id
    menu.actions()[0].trigger()
    qtbot.waitUntil(lambda: win.session.decision(eid).error_types == {TYPES[9]})
    menu.aboutToShow.emit()
    assert menu.actions()[0].isChecked() and not menu.actions()[1].isChecked()
