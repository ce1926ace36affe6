"""Text examples are read, not squinted at: a reading size, a centred column that wraps, +/-/0 zoom
and PgUp/PgDn, by real keys on a shown window (offscreen)."""

from __future__ import annotations

import csv

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt  # noqa: E402

from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.store import Project  # noqa: E402
from labeler.gui import keymap as keymapmod  # noqa: E402
from labeler.gui.main_window import MainWindow  # noqa: E402

LONG = " ".join(f"Sentence {i} of a long review that goes on about the food and the service." for i in range(120))


@pytest.fixture
def win(qtbot, tmp_path):
    src = tmp_path / "texts.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "split", "label", "pred", "confidence", "source"])
        w.writerow(["t1", LONG, "dev", "positive_sentiment", "negative_sentiment", "0.8", "yelp"])
        w.writerow(["t2", "awful", "dev", "negative_sentiment", "positive_sentiment", "0.9", "imdb"])
    db = tmp_path / "texts.labeler.db"
    import_predictions(src, db)
    w = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                   keymap=keymapmod.default_keymap())
    qtbot.addWidget(w)
    w.set_project(Project.open(db))
    w.resize(1280, 800)
    with qtbot.waitExposed(w):
        w.show()
    w.item_view.image_view.setFocus()
    assert w.jump_to("t1")
    qtbot.waitUntil(lambda: w.item_view.currentWidget() is w.item_view.text_view)
    yield w
    w.close()


def key(qtbot, win, k):
    qtbot.keyClick(win.item_view.image_view, k)


def test_text_is_a_centred_column_at_a_reading_size(qtbot, win):
    view = win.item_view.text_view
    assert view.toPlainText() == LONG
    assert view.point_size() >= 14
    m = view.viewportMargins()
    assert m.left() == m.right() and m.left() > 100  # a column in the middle of a 900 px pane
    assert view.horizontalScrollBar().maximum() == 0  # wrapped
    assert win.panel.meta_label.text().replace("\u200b", "") == "source: yelp"  # the metadata stays in view


def test_plus_minus_and_zero_zoom_the_text(qtbot, win):
    view = win.item_view.text_view
    base = view.point_size()
    key(qtbot, win, Qt.Key.Key_Plus)
    key(qtbot, win, Qt.Key.Key_Plus)
    assert view.point_size() > base * 1.25
    key(qtbot, win, Qt.Key.Key_Minus)
    assert base < view.point_size() < base * 1.25
    key(qtbot, win, Qt.Key.Key_0)
    assert view.point_size() == base


def test_page_down_and_up_scroll_a_long_text_and_the_review_keys_still_work(qtbot, win):
    bar = win.item_view.text_view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    key(qtbot, win, Qt.Key.Key_PageDown)
    assert bar.value() > 0
    key(qtbot, win, Qt.Key.Key_PageUp)
    assert bar.value() == 0
    key(qtbot, win, Qt.Key.Key_M)
    assert win.session.decision("t1").tags == {"mislabeled"}
