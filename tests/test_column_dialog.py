"""A predictions file whose columns do not map by themselves: the window asks, with a preview, and
the import then uses the chosen columns (and keeps them for the next re-import)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from labeler.core.importer import ImportCancelled, MissingColumns, import_predictions
from labeler.core.store import Project
from labeler.gui import loader
from labeler.gui.column_dialog import ColumnMappingDialog

CSV = "key,picture,truth,guess,note\nk1,a.png,cat,cat,x\nk2,b.png,dog,cat,y\nk3,c.png,dog,dog,z\n"


@pytest.fixture
def odd_csv(tmp_path):
    p = tmp_path / "odd.csv"
    p.write_text(CSV, encoding="utf-8")
    return p


def _answer(qtbot, choices: dict[str, str] | None, seen: list):
    """When the mapping dialog opens, note what it shows and answer it (None = cancel)."""

    def act():
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ColumnMappingDialog):
            QTimer.singleShot(20, act)
            return
        table = dialog.preview_table
        seen.append(([table.horizontalHeaderItem(c).text() for c in range(table.columnCount())],
                     [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())],
                     {role: box.currentText() for role, box in dialog.choosers.items()}))
        if choices is None:
            dialog.reject()
            return
        for role, column in choices.items():
            dialog.choosers[role].setCurrentText(column)
        dialog.accept()

    QTimer.singleShot(0, act)


def test_missing_columns_are_named_with_what_was_found(odd_csv, tmp_path):
    with pytest.raises(MissingColumns) as e:
        import_predictions(odd_csv, tmp_path / "p.labeler.db")
    assert set(e.value.missing) == {"label", "path or text", "pred or probabilities"}
    assert e.value.found == ["key", "picture", "truth", "guess", "note"]
    assert e.value.detected == {"id": "key"}
    assert not (tmp_path / "p.labeler.db").exists()


def test_dialog_previews_and_maps_columns(qtbot, odd_csv, tmp_path):
    seen: list = []
    _answer(qtbot, {"path": "picture", "label": "truth", "pred": "guess"}, seen)
    project, summary = loader.open_source(None, odd_csv)
    try:
        header, rows, prefilled = seen[0]
        assert header == ["key", "picture", "truth", "guess", "note"]
        assert rows == [line.split(",") for line in CSV.splitlines()[1:]]
        assert prefilled["id"] == "key" and prefilled["label"] == "(none)"
        assert summary.rows == 3
        assert project.example("k2")["label"] == "dog" and project.example("k2")["pred"] == "cat"
        assert project.example("k2")["meta"] == {"note": "y"}
        assert project.meta("columns") == {"id": "key", "path": "picture", "label": "truth", "pred": "guess"}
    finally:
        project.close()
    # a re-import remembers the mapping: no dialog this time
    again = import_predictions(odd_csv)
    assert again.updated == 3


def test_cancelling_the_dialog_imports_nothing(qtbot, odd_csv):
    seen: list = []
    _answer(qtbot, None, seen)
    with pytest.raises(ImportCancelled):
        loader.open_source(None, odd_csv)
    assert seen and not list(odd_csv.parent.glob("*.labeler.db*"))


def test_import_without_the_required_columns_says_what_is_missing_and_stays(qtbot, odd_csv):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel, QPushButton

    problem = MissingColumns(["label", "path or text", "pred or probabilities"],
                             ["key", "picture", "truth", "guess", "note"], {"id": "key"}, "missing")
    dialog = ColumnMappingDialog(None, odd_csv, problem)
    qtbot.addWidget(dialog)
    with qtbot.waitExposed(dialog):
        dialog.show()
    form_text = " ".join(w.text() for w in dialog.findChildren(QLabel))
    assert "* required" in form_text and "this or text required" in form_text and "this or probs required" in form_text
    import_button = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Import")
    qtbot.mouseClick(import_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.result() != ColumnMappingDialog.DialogCode.Accepted
    said = dialog.problem_label.text()
    assert "(label)" in said and "(path) or the texts (text)" in said and "(pred) or the probabilities" in said
    dialog.choosers["label"].setCurrentText("truth")
    dialog.choosers["path"].setCurrentText("truth")
    dialog.choosers["pred"].setCurrentText("guess")
    qtbot.mouseClick(import_button, Qt.MouseButton.LeftButton)
    assert "truth is chosen twice" in dialog.problem_label.text() and dialog.isVisible()
    dialog.choosers["path"].setCurrentText("picture")
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(import_button, Qt.MouseButton.LeftButton)
