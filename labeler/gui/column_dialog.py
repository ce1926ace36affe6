"""The column-mapping dialog: shown only when a predictions file's columns do not map by themselves.

It previews the first rows and offers one chooser per role, filled in with what was found; the
result is the ``--column ROLE=NAME`` overrides of the import.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from labeler.core.columns import ROLE_DESCRIPTIONS
from labeler.core.importer import MissingColumns, preview

NONE = "(none)"
ROLES = ("id", "path", "text", "label", "pred", "confidence", "split", "probs")
REQUIRED = {"label": "required", "path": "this or text required", "text": "this or path required"}


class ColumnMappingDialog(QDialog):
    def __init__(self, parent: QWidget | None, source: str | Path, problem: MissingColumns):
        super().__init__(parent)
        self.setWindowTitle("labeler: which column is which?")
        self.resize(900, 560)
        layout = QVBoxLayout(self)
        msg = QLabel(
            f"<b>{Path(source).name}</b>: labeler could not find a column for "
            + ", ".join(f"<b>{m}</b>" for m in problem.missing)
            + ". Choose them below (the first rows of the file are shown)."
        )
        msg.setWordWrap(True)
        layout.addWidget(msg)

        columns, rows = preview(source)
        table = QTableWidget(len(rows), len(columns))
        table.setHorizontalHeaderLabels(columns)
        for r, values in enumerate(rows):
            for c, v in enumerate(values[: len(columns)]):
                table.setItem(r, c, QTableWidgetItem(v))
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.resizeColumnsToContents()
        layout.addWidget(table, 1)
        self.preview_table = table

        form = QFormLayout()
        self.choosers: dict[str, QComboBox] = {}
        self.required = dict(REQUIRED)
        self.need_pred = any(m.startswith("pred") for m in problem.missing)  # no pred and no probabilities
        if self.need_pred:
            self.required.update(pred="this or probs required", probs="this or pred required")
        for role in ROLES:
            box = QComboBox()
            box.addItems([NONE, *problem.found])
            if role in problem.detected:
                box.setCurrentText(problem.detected[role])
            self.choosers[role] = box
            caption = QLabel(f"{role} ({ROLE_DESCRIPTIONS[role]})"
                             + (f" <b>* {self.required[role]}</b>" if role in self.required else ""))
            form.addRow(caption, box)
        row = QHBoxLayout()
        row.addLayout(form)
        row.addStretch(1)
        layout.addLayout(row)
        self.problem_label = QLabel("")  # what is still missing when Import is pressed
        self.problem_label.setObjectName("columnProblem")
        self.problem_label.setStyleSheet("color: #d64541; font-weight: bold;")
        self.problem_label.setWordWrap(True)
        layout.addWidget(self.problem_label)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def missing(self) -> list[str]:
        """What the choices still lack: the required roles without a column, a column chosen twice."""
        chosen = self.overrides()
        out = []
        if "label" not in chosen:
            out.append("choose the column with the given labels (label)")
        if "path" not in chosen and "text" not in chosen:
            out.append("choose the column with the image paths (path) or the texts (text)")
        if self.need_pred and "pred" not in chosen and "probs" not in chosen:
            out.append("choose the column with the predicted labels (pred) or the probabilities (probs)")
        columns = list(chosen.values())
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if twice:
            out.append("a column plays one role: " + ", ".join(twice) + " is chosen twice")
        return out

    def accept(self) -> None:
        """Import, once the choices are enough; otherwise say what is missing and stay."""
        missing = self.missing()
        if missing:
            self.problem_label.setText("Not yet: " + "; ".join(missing) + ".")
            return
        super().accept()

    def overrides(self) -> dict[str, str]:
        """role -> column for every role given a column."""
        return {role: box.currentText() for role, box in self.choosers.items() if box.currentText() != NONE}
