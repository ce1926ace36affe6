"""Repaint the custom widgets and query the Python item models tens of thousands of times.

PySide6 6.12.0 on CPython 3.11 over-releases ``None`` on every call of a Python override
(``paintEvent``, a model's ``data`` returning None) and the process aborts with
``Fatal Python error: none_dealloc`` after a few thousand calls. This test is that workload.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QModelIndex, Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QHBoxLayout, QListView, QWidget  # noqa: E402

from labeler.gui import keymap as km  # noqa: E402
from labeler.gui.dialogs import ClassListModel  # noqa: E402
from labeler.gui.help_overlay import HelpOverlay  # noqa: E402
from labeler.gui.image_view import ImageView  # noqa: E402
from labeler.gui.panels import KeyList, ProbBars  # noqa: E402

CALLS = 20_000
ROLES = list(range(0, 16)) + [int(Qt.ItemDataRole.UserRole), int(Qt.ItemDataRole.UserRole) + 1]


def test_repaint_and_model_queries_do_not_crash(qtbot):
    host = QWidget()
    qtbot.addWidget(host)
    lay = QHBoxLayout(host)
    view = ImageView()
    pixels = np.random.default_rng(0).integers(0, 255, (8, 8), dtype=np.uint8)
    image = QImage(pixels.data, 8, 8, 8, QImage.Format.Format_Grayscale8).copy()
    view.set_image(image)
    bars = ProbBars()
    bars.set_rows([("6", 0.93, False, False), ("3", 0.02, True, False), ("0", 0.01, False, True)])
    tags = KeyList(columns=2)
    tags.set_rows([("M", "mislabeled", True), ("A", "ambiguous", False)])
    classes = [f"class {i}" for i in range(50)] + ["NA", "None"]
    model = ClassListModel(classes, given="NA", pred="class 3")
    listing = QListView()
    listing.setModel(model)
    for w in (view, bars, tags, listing):
        lay.addWidget(w)
    host.resize(900, 400)
    with qtbot.waitExposed(host):
        host.show()
    # The overlay is translucent: on top of the others it would repaint with each of them.
    overlay_host = QWidget()
    qtbot.addWidget(overlay_host)
    overlay = HelpOverlay(overlay_host)
    overlay.set_rows(km.help_rows(km.default_keymap(), ["blurry", "occluded"]))
    overlay_host.resize(900, 500)
    with qtbot.waitExposed(overlay_host):
        overlay_host.show()
    overlay.toggle()

    calls = 0
    start = time.monotonic()
    i = 0
    while calls < CALLS:
        i += 1
        view.repaint()
        bars.repaint()
        tags.repaint()
        listing.viewport().repaint()  # Qt calls model.data() from C++ for every visible row and role
        calls += 4
        if i % 10 == 0:
            overlay.repaint()
            model.set_filter("" if i % 20 else "class 1")
            calls += 2
        row = i % max(1, model.rowCount())
        index = model.index(row, 0)
        for role in ROLES:
            model.data(index, role)
        model.data(QModelIndex(), Qt.ItemDataRole.DisplayRole)
        model.rowCount()
        calls += len(ROLES) + 2
    elapsed = time.monotonic() - start
    assert calls >= CALLS
    assert elapsed < 20, f"{calls} calls took {elapsed:.1f} s"
