"""Run by tests/test_e2e_blind_x11.py on a real X display: the blind-labeling window of a project, as
`labeler review --blind` shows it, which writes every text it draws (labels, list items, the title)
with the example on screen to a JSON-lines file, ten times a second, until it is closed or killed.

    python tests/x11_probe_blind.py PROJECT OUT.jsonl
"""

from __future__ import annotations

import json
import sys

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QLabel, QListWidget

from labeler.core.blind import BlindSpec
from labeler.core.store import Project
from labeler.gui.app import application
from labeler.gui.blind_window import BlindWindow


def main(project: str, out: str) -> int:
    app = application()
    window = BlindWindow(Project.open(project), BlindSpec("dev", sample=6, seed=5), "ann", QSettings())
    log = open(out, "a", encoding="utf-8")

    def texts() -> None:
        drawn = [w.text() for w in window.findChildren(QLabel) if w.isVisible() and w.text()]
        for lst in window.findChildren(QListWidget):
            drawn += [lst.item(i).text() for i in range(lst.count())]
        log.write(json.dumps({"example": window.session.current_id, "texts": drawn + [window.windowTitle()]}) + "\n")
        log.flush()

    timer = QTimer(interval=100, timeout=texts)
    timer.start()
    window.show()
    window.item_view.image_view.setFocus()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
