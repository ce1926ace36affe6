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


def test_analysis_panels_repaint_and_answer_without_crashing(qtbot):
    """The tally (with its bar delegate), confusion and per-class models and the dashboard's bars."""
    from PySide6.QtWidgets import QTableView

    from labeler.gui.analysis import (
        ConfusionModel, PerClassModel, RateBars, ShareBarDelegate, TallyModel, theme,
    )

    cats = [{"name": n, "kind": "builtin" if i < 4 else "error_type", "count": 4 - i % 5, "share": (4 - i % 5) / 20,
             "ci95": [0.01, 0.4], "projected_errors": 3.0, "projected_ci95": [1.0, 8.0], "ceiling": 0.02,
             "ceiling_ci95": [0.01, 0.04]} for i, n in enumerate(["mislabeled", "very hard", "very easy", "ambiguous",
                                                                  "blurry", "occluded", "untagged"])]
    tally = TallyModel()
    tally.set_tally({"reviewed": 20, "errors": 39, "exact": False, "categories": cats})
    rng = np.random.default_rng(1)
    confusion = ConfusionModel()
    confusion.set_matrix([str(k) for k in range(10)], rng.integers(0, 30, (10, 10)))
    per_class = PerClassModel()
    per_class.set_rows([{"class": str(k), "support": 40, "errors": k, "error_rate": k / 40, "precision": 0.9,
                         "recall": 0.8, "f1": 0.85} for k in range(10)])
    host = QWidget()
    qtbot.addWidget(host)
    lay = QHBoxLayout(host)
    views = []
    for model in (tally, confusion, per_class):
        v = QTableView()
        v.setModel(model)
        lay.addWidget(v)
        views.append(v)
    views[0].setItemDelegateForColumn(TallyModel.SHARE, ShareBarDelegate(views[0]))
    bars = RateBars()
    bars.set_rows([("train", 0.12, 0.10, 0.14, theme.WRONG, "12%"), ("dev", 0.11, 0.08, 0.15, theme.WRONG, "11%")])
    lay.addWidget(bars)
    host.resize(1400, 400)
    with qtbot.waitExposed(host):
        host.show()
    calls, start, i = 0, time.monotonic(), 0
    while calls < CALLS // 2:
        i += 1
        for v in views:
            v.viewport().repaint()  # data() for every visible cell and role; the delegate's paint()
        bars.repaint()
        calls += 4
        for model in (tally, confusion, per_class):
            index = model.index(i % model.rowCount(), i % model.columnCount())
            for role in ROLES:
                model.data(index, role)
            model.data(QModelIndex(), Qt.ItemDataRole.DisplayRole)
            model.headerData(i % 12, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
            calls += len(ROLES) + 2
    elapsed = time.monotonic() - start
    assert elapsed < 10, f"{calls} calls took {elapsed:.1f} s"
