"""The analysis panels in the review window (pytest-qt, offscreen): the numbers they show against
pandas on the sample data and the decisions in the project file, their updates as keys are pressed,
and the queues a click or Return on the confusion matrix and the per-class table opens.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QModelIndex, QSettings, Qt  # noqa: E402

from conftest import DIGITS_CSV  # noqa: E402
from labeler.core.queue import QueueSpec  # noqa: E402
from labeler.core.store import Project  # noqa: E402
from labeler.gui import analysis as analysismod  # noqa: E402
from labeler.gui import keymap as keymapmod  # noqa: E402
from labeler.gui.main_window import MainWindow  # noqa: E402
from test_tally import decisions_on_disk, expected_estimates, expected_tally  # noqa: E402

CLASSES = [str(k) for k in range(10)]


@pytest.fixture(scope="module")
def preds() -> pd.DataFrame:
    df = pd.read_csv(DIGITS_CSV, dtype=str, keep_default_na=False)
    probs = df[[f"p_{k}" for k in range(10)]].astype(float).to_numpy()
    df["loss"] = -np.log(probs[np.arange(len(df)), df["label"].astype(int).to_numpy()])
    df["wrong"] = df["label"] != df["pred"]
    df["row"] = np.arange(len(df))
    return df


@pytest.fixture
def win(qtbot, tmp_path, digits_project):
    w = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                   keymap=keymapmod.default_keymap())
    qtbot.addWidget(w)
    w.set_project(Project.open(digits_project))
    w.resize(1400, 900)
    with qtbot.waitExposed(w):
        w.show()
    w.activateWindow()
    w.item_view.image_view.setFocus()
    yield w
    w.close()


def panels(win) -> analysismod.AnalysisPanels:
    return win.analysis


def show_dock(qtbot, win, title: str):
    dock = win.docks[title]
    dock.show()  # (hidden at first: the example takes the width; T shows them)
    dock.raise_()
    qtbot.waitUntil(lambda: dock.widget().isVisible())
    return dock.widget()


def keys(qtbot, win, *ks):
    for k in ks:
        qtbot.keyClick(win.item_view.image_view, k)


def review_by_keys(qtbot, win, count: int) -> None:
    """A reviewer's keys on ``count`` items: tags, error types, accepting the prediction, nothing."""
    plan = [[Qt.Key.Key_P], [Qt.Key.Key_5], [Qt.Key.Key_H, Qt.Key.Key_1], [], [Qt.Key.Key_M, Qt.Key.Key_2],
            [Qt.Key.Key_A], [Qt.Key.Key_5, Qt.Key.Key_6], [Qt.Key.Key_E]]
    win.item_view.image_view.setFocus()
    for i in range(count):
        keys(qtbot, win, *plan[i % len(plan)], Qt.Key.Key_Right)


def cell_texts(model) -> list[list[str]]:
    return [[model.data(model.index(r, c)) for c in range(model.columnCount())] for r in range(model.rowCount())]


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


# ---------------------------------------------------------------------------------------------
# the tally panel


def test_tally_panel_shows_the_pandas_figures_and_follows_the_keys(qtbot, win, preds, digits_project):
    tally = show_dock(qtbot, win, "Tally")
    assert tally.head.text() == "0 of 39 errors reviewed · error rate 10.86%"
    review_by_keys(qtbot, win, 9)
    qtbot.waitUntil(lambda: tally.head.text().startswith("9 of 39"))
    review_by_keys(qtbot, win, 3)
    qtbot.waitUntil(lambda: tally.head.text().startswith("12 of 39"))

    exp = expected_tally(preds, decisions_on_disk(digits_project))
    N, n, rate = exp["errors"], exp["reviewed"], exp["error_rate"]
    assert n == 12
    rows = cell_texts(tally.model)
    assert len(rows) == len(exp["cats"])
    seen = set()
    for r, row in enumerate(rows):
        c = tally.model.category(r)
        e = exp["cats"][(c["kind"], c["name"])]
        seen.add((c["kind"], c["name"]))
        share = e["count"] / n
        from test_tally import wilson_roots

        lo, hi = wilson_roots(e["count"], n, N)
        assert row[0] == c["name"]
        assert row[1] == str(e["count"])
        assert row[2] == pct(share)
        assert row[3] == f"{100 * lo:.1f}–{pct(hi)}"
        assert row[4] == f"{share * N:.1f} ({lo * N:.1f}–{hi * N:.1f})"
        assert row[5] == f"{100 * share * rate:.2f} ({100 * lo * rate:.2f}–{100 * hi * rate:.2f})"
    assert seen == set(exp["cats"])
    counts = [int(r[1]) for r in rows[:-1]]
    assert counts == sorted(counts, reverse=True) and rows[-1][0] == "untagged"
    assert "random order" in tally.note.text()

    # one more key: the panel follows within the debounce
    before = int(rows[[r[0] for r in rows].index("very easy")][1])
    keys(qtbot, win, Qt.Key.Key_E)
    qtbot.waitUntil(lambda: int(cell_texts(tally.model)[[r[0] for r in cell_texts(tally.model)].index("very easy")][1])
                    == before + 1)


def test_tally_split_chooser(qtbot, win, preds):
    tally = show_dock(qtbot, win, "Tally")
    assert [tally.split_box.itemText(i) for i in range(tally.split_box.count())] == ["train", "dev", "test"]
    tally.split_box.setCurrentText("train")
    train = preds[preds["split"] == "train"]
    assert tally.head.text() == (f"0 of {int(train['wrong'].sum())} errors reviewed · error rate"
                                 f" {100 * train['wrong'].mean():.2f}%")
    assert "None of the" in tally.note.text()


def test_a_loss_ordered_queue_from_a_confusion_cell_is_not_projected(qtbot, win):
    review_by_keys(qtbot, win, 4)
    tally = show_dock(qtbot, win, "Tally")
    qtbot.waitUntil(lambda: tally.head.text().startswith("4 of 39"))
    assert tally.model.data(tally.model.index(0, 4)) != ""
    win.session.set_queue(QueueSpec(order="loss", label="8", pred="7"))
    win.item_view.image_view.setFocus()
    keys(qtbot, win, Qt.Key.Key_H, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: tally.head.text().startswith("5 of 39"))
    assert "not as a random sample" in tally.note.text()
    assert all(tally.model.data(tally.model.index(r, 4)) == "" for r in range(tally.model.rowCount()))


# ---------------------------------------------------------------------------------------------
# the confusion matrix and the per-class table


def test_confusion_matrix_cells_equal_a_pandas_crosstab(qtbot, win, preds):
    conf = show_dock(qtbot, win, "Confusion matrix")
    for split in ("dev", "train"):
        conf.split_box.setCurrentText(split)
        part = preds[preds["split"] == split]
        ct = pd.crosstab(part["label"], part["pred"]).reindex(index=CLASSES, columns=CLASSES, fill_value=0)
        want = [[str(v) if v else "·" for v in row] for row in ct.to_numpy()]
        assert cell_texts(conf.model) == want
        assert [conf.model.headerData(i, Qt.Orientation.Horizontal) for i in range(10)] == CLASSES


def test_clicking_a_confusion_cell_opens_that_pair_by_loss(qtbot, win, preds):
    conf = show_dock(qtbot, win, "Confusion matrix")
    index = conf.model.index(CLASSES.index("8"), CLASSES.index("7"))
    rect = conf.view.visualRect(index)
    assert conf.view.viewport().rect().contains(rect.center())
    qtbot.mouseClick(conf.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    dev = preds[preds["split"] == "dev"]
    want = dev[(dev["label"] == "8") & (dev["pred"] == "7")].sort_values(["loss", "row"], ascending=[False, True])
    assert len(want) == 5
    assert win.session.items == want["id"].tolist()
    assert (win.session.spec.label, win.session.spec.pred, win.session.spec.order) == ("8", "7", "loss")
    assert win.session.position == 0
    assert "given 8 → predicted 7" in win.windowTitle()
    assert win.item_view.image_view.hasFocus()  # the review keys act on the item again


def test_return_on_a_confusion_cell_opens_that_pair_and_does_not_move_on(qtbot, win, preds):
    conf = show_dock(qtbot, win, "Confusion matrix")
    index = conf.model.index(CLASSES.index("3"), CLASSES.index("8"))
    conf.view.setFocus()
    conf.view.setCurrentIndex(index)
    qtbot.keyClick(conf.view, Qt.Key.Key_Return)
    dev = preds[preds["split"] == "dev"]
    want = dev[(dev["label"] == "3") & (dev["pred"] == "8")].sort_values(["loss", "row"], ascending=[False, True])
    assert win.session.items == want["id"].tolist()
    assert win.session.position == 0 and not win.session.decision(win.session.items[0]).reviewed


def test_the_per_class_table_equals_pandas_and_sorts(qtbot, win, preds):
    conf = show_dock(qtbot, win, "Confusion matrix")
    dev = preds[preds["split"] == "dev"]
    rows = {}
    for c in CLASSES:
        support = int((dev["label"] == c).sum())
        tp = int(((dev["label"] == c) & (dev["pred"] == c)).sum())
        predicted = int((dev["pred"] == c).sum())
        p, r = tp / predicted, tp / support
        rows[c] = [c, str(support), str(support - tp), pct((support - tp) / support), f"{p:.3f}", f"{r:.3f}",
                   f"{2 * p * r / (p + r):.3f}"]
    shown = cell_texts(conf.proxy)
    assert sorted(shown) == sorted(rows.values())
    rates = [float(r[3].rstrip("%")) for r in shown]
    assert rates == sorted(rates, reverse=True)  # worst first
    conf.class_view.sortByColumn(1, Qt.SortOrder.AscendingOrder)
    supports = [int(r[1]) for r in cell_texts(conf.proxy)]
    assert supports == sorted(supports)


def test_return_on_a_class_filters_the_queue_to_it(qtbot, win, preds):
    conf = show_dock(qtbot, win, "Confusion matrix")
    proxy = conf.proxy
    row = next(r for r in range(proxy.rowCount()) if proxy.data(proxy.index(r, 0)) == "3")
    conf.class_view.setFocus()
    conf.class_view.setCurrentIndex(proxy.index(row, 0))
    qtbot.keyClick(conf.class_view, Qt.Key.Key_Return)
    dev = preds[preds["split"] == "dev"]
    want = dev[(dev["label"] == "3") & dev["wrong"]]
    assert sorted(win.session.items) == sorted(want["id"])
    assert (win.session.spec.label, win.session.spec.pred, win.session.spec.order) == ("3", None, "random")


def test_the_test_split_is_not_opened_for_review(qtbot, win):
    conf = show_dock(qtbot, win, "Confusion matrix")
    conf.split_box.setCurrentText("test")
    before = (win.session.spec, list(win.session.items))
    index = next(conf.model.index(i, j) for i in range(10) for j in range(10)
                 if i != j and conf.model.data(conf.model.index(i, j), analysismod.RAW))
    qtbot.mouseClick(conf.view.viewport(), Qt.MouseButton.LeftButton, pos=conf.view.visualRect(index).center())
    assert (win.session.spec, list(win.session.items)) == before
    assert conf.note.isVisible() and "test split is kept out of review" in conf.note.text()


def test_the_confusion_matrix_is_not_recounted_per_decision(qtbot, win, monkeypatch):
    conf = show_dock(qtbot, win, "Confusion matrix")
    assert conf.model.rowCount() == 10
    calls = []
    real = analysismod.stats.confusion
    monkeypatch.setattr(analysismod.stats, "confusion", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    tally = win.analysis.tally
    review_by_keys(qtbot, win, 6)
    qtbot.waitUntil(lambda: tally.head.text().startswith("6 of 39"))
    assert calls == []
    conf.split_box.setCurrentText("train")
    assert calls and set(calls) == {"train"}  # the matrix, and the per-class figures from it
    done = len(calls)
    conf.refresh()
    review_by_keys(qtbot, win, 2)
    qtbot.waitUntil(lambda: tally.head.text().startswith("8 of 39"))
    assert len(calls) == done


# ---------------------------------------------------------------------------------------------
# the dashboard


def test_dashboard_shows_the_pandas_figures(qtbot, win, preds, digits_project):
    dash = show_dock(qtbot, win, "Dashboard")
    assert "Review a random sample" in dash.corrected.text()
    review_by_keys(qtbot, win, 16)
    qtbot.waitUntil(lambda: "Dev error once" in dash.corrected.text())
    exp = expected_tally(preds, decisions_on_disk(digits_project))
    est = expected_estimates(exp)
    rows = {r[0]: r for r in dash.bars.rows()}
    for split, part in preds.groupby("split"):
        assert rows[split][1] == pytest.approx(part["wrong"].mean())
        assert rows[split][5].startswith(f"{100 * part['wrong'].mean():.2f}%")
        assert f"{int(part['wrong'].sum()):,} of {len(part):,}" in rows[split][5]
    c, f = est["dev_error_corrected"], est["error_floor"]
    assert rows["dev, corrected"][1:4] == pytest.approx((c["error_rate"], *c["ci95"]))
    assert rows["floor"][1:4] == pytest.approx((f["error_rate"], *f["ci95"]))
    assert f"{100 * c['error_rate']:.2f}%" in dash.corrected.text()
    assert f"{est['fixed']} of 16" in dash.corrected.text()
    assert f"{100 * f['error_rate']:.2f}%" in dash.floor.text() and f"({est['hard']} of 16)" in dash.floor.text()
    rates = {s: p["wrong"].mean() for s, p in preds.groupby("split")}
    assert f"train → dev: {100 * (rates['dev'] - rates['train']):+.2f} points" in dash.gaps.text()
    assert f"dev → test: {100 * (rates['test'] - rates['dev']):+.2f} points" in dash.gaps.text()
    assert dash.diagnosis.text().startswith("Bias")
    assert dash.warning.isVisible() and "(359 examples) is too small" in dash.warning.text()


def test_panels_after_the_project_is_closed(qtbot, win):
    tally = show_dock(qtbot, win, "Tally")
    win.close_project()
    win.analysis.analysis.refresh()
    assert tally.head.text() == "No project open" and tally.model.rowCount() == 0
    assert win.analysis.confusion.model.rowCount() == 0
    assert win.analysis.dashboard.bars.rows() == []


def test_the_confusion_matrix_is_counted_once_seen(qtbot, win):
    conf = win.analysis.confusion
    assert conf.model.rowCount() == 0  # its tab behind the tally's: not counted when the project opens
    show_dock(qtbot, win, "Confusion matrix")
    assert conf.model.rowCount() == 10


def test_models_answer_none_for_roles_they_do_not_handle(qtbot, win):
    show_dock(qtbot, win, "Confusion matrix")
    a = win.analysis
    models = [a.tally.model, a.confusion.model, a.confusion.class_model]
    handled = {int(Qt.ItemDataRole.DisplayRole), int(Qt.ItemDataRole.ToolTipRole), int(Qt.ItemDataRole.UserRole),
               int(Qt.ItemDataRole.TextAlignmentRole), int(Qt.ItemDataRole.ForegroundRole),
               int(Qt.ItemDataRole.BackgroundRole), int(Qt.ItemDataRole.FontRole)}
    for m in models:
        assert m.rowCount() > 0
        for role in range(0, 16):
            if role not in handled:
                assert m.data(m.index(0, 0), role) is None
        assert m.data(QModelIndex()) is None
        assert m.headerData(99, Qt.Orientation.Horizontal) is None
