"""Reviewer agreement, human-level error and the bias/variance decomposition (issue: how good could
the model be?). Every figure is checked against an independent computation: scikit-learn's
cohen_kappa_score, Krippendorff's alpha from its pairwise definition, cleanlab called directly, and
Wilson and Newcombe intervals from scipy's binomial confidence interval."""

from __future__ import annotations

import csv
import itertools
import json
import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score

from conftest import read_digits_rows, snapshot
from labeler.cli import main
from labeler.core import agreement, annotations
from labeler.core.importer import ImportProblem
from labeler.core.store import Decision, Project

TRUE_ERROR = {"ann": 0.05, "bob": 0.25, "cy": 0.10}
COVER = {"ann": 1.0, "bob": 0.8, "cy": 0.5}


def wilson_scipy(k: int, n: int) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return ci.low, ci.high


def reviewer_files(folder: Path, seed: int = 7) -> dict[str, dict[str, str]]:
    """Three reviewers' labels of the digits dev split with known error rates against the given label;
    written as CSV files; returns what was written."""
    rng = random.Random(seed)
    dev = [r for r in read_digits_rows() if r["split"] == "dev"]
    out = {}
    for name in TRUE_ERROR:
        labs = {}
        for r in dev:
            if rng.random() < COVER[name]:
                wrong = rng.random() < TRUE_ERROR[name]
                labs[r["id"]] = str((int(r["label"]) + 1 + rng.randrange(9)) % 10) if wrong else r["label"]
        out[name] = labs
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["id", "label"])
            w.writerows(labs.items())
    return out


@pytest.fixture
def labeled(digits_project, tmp_path):
    written = reviewer_files(tmp_path)
    with Project.open(digits_project) as p:
        for name in written:
            annotations.import_file(p, tmp_path / f"{name}.csv", name)
    return digits_project, written


def test_reviewer_errors_against_the_reference_with_wilson_intervals(labeled):
    db, written = labeled
    given = {r["id"]: r["label"] for r in read_digits_rows()}
    with Project.open(db) as p:
        # one correction: the reference of that example is the corrected label from now on
        eid = next(iter(written["ann"]))
        corrected = str((int(given[eid]) + 5) % 10)
        p.write_decision(eid, Decision(), Decision(label=corrected, reviewed=True), "label")
        result = agreement.compute(p, "dev")
    reference = {**given, eid: corrected}
    by_name = {r["name"]: r for r in result.reviewers}
    assert sorted(by_name) == sorted(written)
    for name, labs in written.items():
        k = sum(lab != reference[e] for e, lab in labs.items())
        r = by_name[name]
        assert r["labeled"] == len(labs) and r["error_vs_reference"] == pytest.approx(k / len(labs))
        assert r["ci95"] == pytest.approx(wilson_scipy(k, len(labs)), abs=1e-9)
        # the measured rate is the known one up to sampling noise (within 3.3 standard errors: 99.9%)
        p_true = TRUE_ERROR[name]
        assert abs(k / len(labs) - p_true) <= 3.3 * math.sqrt(p_true * (1 - p_true) / len(labs))


def test_pairs_kappa_and_alpha_match_independent_computations(labeled):
    db, written = labeled
    with Project.open(db, readonly=True) as p:
        result = agreement.compute(p, "dev", consensus=False)
    pairs = {(x["a"], x["b"]): x for x in result.pairs}
    for a, b in itertools.combinations(sorted(written), 2):
        common = sorted(set(written[a]) & set(written[b]))
        la, lb = [written[a][e] for e in common], [written[b][e] for e in common]
        got = pairs[(a, b)]
        assert got["common"] == len(common)
        assert got["agreement"] == pytest.approx(np.mean([x == y for x, y in zip(la, lb)]))
        assert got["kappa"] == pytest.approx(cohen_kappa_score(la, lb))
    # Krippendorff's alpha from its pairwise definition: 1 - D_o / D_e, where D_o averages the
    # disagreement of the ordered pairs of values within each unit (weighted 1/(m_u - 1)) and D_e that
    # of all ordered pairs of the pairable values
    units = [[written[n][e] for n in written if e in written[n]] for e in {e for labs in written.values() for e in labs}]
    units = [u for u in units if len(u) >= 2]
    values = [v for u in units for v in u]
    n = len(values)
    d_o = sum(sum(x != y for i, x in enumerate(u) for j, y in enumerate(u) if i != j) / (len(u) - 1) for u in units) / n
    counts = pd.Series(values).value_counts()
    d_e = (n * n - (counts ** 2).sum()) / (n * (n - 1))
    assert result.alpha == pytest.approx(1 - d_o / d_e)


def test_known_alpha_values():
    # perfect agreement is 1; two raters who always disagree on two values, below 0
    assert agreement.krippendorff_alpha_nominal([["a", "a"], ["b", "b"], ["a", "a", "a"]]) == pytest.approx(1.0)
    assert agreement.krippendorff_alpha_nominal([["a", "b"], ["b", "a"]]) < 0
    assert agreement.krippendorff_alpha_nominal([["a"], ["b"]]) is None  # nothing pairable


def test_consensus_and_annotator_quality_are_cleanlabs(labeled):
    from cleanlab.multiannotator import get_label_quality_multiannotator

    db, written = labeled
    rows = read_digits_rows()
    dev_ids = [r["id"] for r in rows if r["split"] == "dev"]
    labeled_ids = [e for e in dev_ids if any(e in labs for labs in written.values())]
    probs = np.array([[float(r[f"p_{k}"]) for k in range(10)] for r in rows])
    row_of = {r["id"]: i for i, r in enumerate(rows)}
    names = sorted(written)
    matrix = pd.DataFrame({n: [float(written[n][e]) if e in written[n] else np.nan for e in labeled_ids] for n in names})
    direct = get_label_quality_multiannotator(matrix, probs[[row_of[e] for e in labeled_ids]], verbose=False)
    consensus = [str(int(c)) for c in direct["label_quality"]["consensus_label"]]
    given = {r["id"]: r["label"] for r in rows}
    differs = sum(c != given[e] for c, e in zip(consensus, labeled_ids))
    with Project.open(db, readonly=True) as p:
        result = agreement.compute(p, "dev")
    assert result.consensus["labeled"] == len(labeled_ids)
    assert result.consensus["differs_from_reference"] == differs
    quality = direct["annotator_stats"]["annotator_quality"]
    assert {r["name"]: r["quality"] for r in result.reviewers} == pytest.approx({n: float(quality[n]) for n in names})
    # human-level error: the lowest of the reviewers' errors and the consensus'
    best = min([r["error_vs_reference"] for r in result.reviewers] + [differs / len(labeled_ids)])
    assert result.human["error"] == pytest.approx(best)


def newcombe_direct(k1, n1, k2, n2):
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_scipy(k1, n1)
    l2, u2 = wilson_scipy(k2, n2)
    d = p1 - p2
    return d, d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


@pytest.mark.parametrize("train,dev,test,human,bottleneck", [
    ((300, 1000), (320, 1000), (330, 1000), (10, 500), "bias"),  # train 30% against human 2%
    ((20, 1000), (200, 1000), (210, 1000), (10, 500), "variance"),  # dev far above train
    ((20, 1000), (30, 1000), (200, 1000), (10, 500), "dev overfitting"),  # test far above dev
    ((30, 100), (40, 100), (50, 100), (5, 50), "unclear"),  # small samples: the intervals overlap
])
def test_decomposition_newcombe_intervals_and_the_bottleneck(train, dev, test, human, bottleneck):
    splits = {s: {"errors": k, "examples": n} for s, (k, n) in zip(("train", "dev", "test"), (train, dev, test))}
    hum = {"errors": human[0], "sample": human[1]}
    got = agreement.decomposition(splits, hum)
    expected = {"avoidable_bias": newcombe_direct(*train, *human), "variance": newcombe_direct(*dev, *train),
                "dev_test_gap": newcombe_direct(*test, *dev)}
    for name, (d, lo, hi) in expected.items():
        v = got["decomposition"][name]
        assert v["value"] == pytest.approx(d) and v["ci95"] == pytest.approx([lo, hi])
    assert got["bottleneck"] == bottleneck


def test_annotations_import_refuses_unknown_ids_and_classes_and_writes_nothing(digits_project, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\nd0000,0\nnope1,3\nnope2,4\nd0001,cat\n", encoding="utf-8")
    before = snapshot(digits_project)
    with Project.open(digits_project) as p, pytest.raises(ImportProblem) as e:
        annotations.import_file(p, bad, "zed")
    msg = str(e.value)
    assert "bad.csv" in msg and "2 rows name no example" in msg and "'nope1'" in msg and "'cat' (1)" in msg
    assert snapshot(digits_project) == before
    r = CliRunner().invoke(main, ["annotations", "import", str(bad), "--reviewer", "zed", "-p", str(digits_project)])
    assert r.exit_code == 2 and "nope1" in r.output and "Traceback" not in r.output
    assert snapshot(digits_project) == before


def test_annotations_by_path_with_named_columns_and_the_cli_json(digits_project, tmp_path):
    rows = [r for r in read_digits_rows() if r["split"] == "dev"][:40]
    f = tmp_path / "lab.jsonl"
    f.write_text("".join(json.dumps({"file": r["path"], "answer": r["label"]}) + "\n" for r in rows), encoding="utf-8")
    r = CliRunner().invoke(main, ["annotations", "import", str(f), "--reviewer", "dee", "--column", "path=file",
                                  "--column", "label=answer", "-p", str(digits_project)])
    assert r.exit_code == 0 and "40 labels" in r.output, r.output
    out = CliRunner().invoke(main, ["agreement", "--json", "-p", str(digits_project)])
    data = json.loads(out.output)
    (rev,) = data["reviewers"]
    assert {k: v for k, v in rev.items() if k != "ci95"} == {"name": "dee", "labeled": 40, "error_vs_reference": 0.0,
                                                            "quality": None}
    assert rev["ci95"] == pytest.approx(list(wilson_scipy(0, 40)))
    assert data["pairs"] == [] and data["alpha"] is None and data["consensus"] is None
    summary = json.loads(CliRunner().invoke(main, ["summary", "--json", "-p", str(digits_project)]).output)
    assert summary["human"]["error"] == 0.0 and summary["human"]["sample"] == 40
    assert set(summary["decomposition"]) == {"avoidable_bias", "variance", "dev_test_gap"}
    assert summary["bottleneck"] in {"bias", "variance", "dev overfitting", "unclear"}


def test_blind_labels_are_kept_apart_from_corrections_and_undone_by_removal(digits_project):
    with Project.open(digits_project) as p:
        assert annotations.set_label(p, "d0003", "eve", "7") is None
        assert annotations.set_label(p, "d0003", "eve", "8") == "7"
        assert p.decision("d0003").label is None  # a blind label is no correction
        assert annotations.labels(p) == {"eve": {"d0003": "8"}}
        assert annotations.set_label(p, "d0003", "eve", None) == "8"
        assert annotations.labels(p) == {}
        actions = [e["action"] for e in p.events("d0003")]
    assert actions == ["blind label"] * 3


def test_disagreements_queue(labeled):
    db, written = labeled
    given = {r["id"]: r["label"] for r in read_digits_rows()}
    dev = [r["id"] for r in read_digits_rows() if r["split"] == "dev"]
    expected = [e for e in dev if (labs := {w[e] for w in written.values() if e in w})
                and (len(labs) > 1 or labs != {given[e]})]
    with Project.open(db, readonly=True) as p:
        assert agreement.disagreements(p, "dev") == expected
    assert expected  # (not vacuous)


def test_export_writes_agreement_json_and_the_reviewers_labels_in_corrections(labeled, tmp_path):
    from labeler.core.export import export_all

    db, written = labeled
    eid = next(e for e in written["bob"] if e in written["ann"])
    with Project.open(db) as p:
        p.write_decision(eid, Decision(), Decision(label="3", reviewed=True), "label")
        direct = agreement.compute(p, "dev")
    with Project.open(db, readonly=True) as p:
        result = export_all(p, tmp_path / "out")
    out = tmp_path / "out"
    assert out / "agreement.json" in result.files
    data = json.loads((out / "agreement.json").read_text())
    assert [r["name"] for r in data["reviewers"]] == sorted(written)
    assert data["human"]["error"] == pytest.approx(direct.human["error"])
    assert data["bottleneck"] in {"bias", "variance", "dev overfitting", "unclear"}
    with open(out / "corrections.csv", newline="", encoding="utf-8") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    row = rows[eid]
    expected = ";".join(f"{n}={written[n][eid]}" for n in sorted(written) if eid in written[n])
    assert row["reviewer_labels"] == expected
    assert row["consensus_label"] == direct.consensus["labels"][eid]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "How good could the model be?" in html and "Human-level error" in html


def test_the_disagreements_queue_settles_into_corrections(labeled, tmp_path):
    from labeler.core.export import export_all
    from labeler.core.queue import QueueSpec
    from labeler.core.session import ReviewSession

    db, written = labeled
    with Project.open(db, readonly=True) as p:
        expected = agreement.disagreements(p, "dev")
    r = CliRunner().invoke(main, ["queue", "--scope", "disagreements", "--order", "file", "--json", "-p", str(db)])
    assert r.exit_code == 0, r.output
    assert [it["id"] for it in json.loads(r.output)] == expected
    with Project.open(db) as p:
        s = ReviewSession(p, QueueSpec(split="dev", order="file", scope="disagreements"))
        assert s.items == expected
        given = {r["id"]: r["label"] for r in read_digits_rows()}
        # one where ann says the given label is wrong, and she is right
        first = next(e for e in expected if written["ann"][e] != given[e])
        s.goto(s.items.index(first))
        final = written["ann"][first]
        s.set_label(final)
        s.close()
        result = export_all(p, tmp_path / "out", split="dev")
    with open(tmp_path / "out" / "corrections.csv", newline="", encoding="utf-8") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    assert rows[first]["corrected_label"] == final
    assert result.corrections >= 1


def test_the_windows_dashboard_says_what_summary_says(qtbot, labeled, tmp_path):
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings

    from labeler.gui import keymap as keymapmod
    from labeler.gui.analysis.dashboard_panel import DashboardPanel
    from labeler.gui.main_window import MainWindow

    db, _ = labeled
    out = CliRunner().invoke(main, ["summary", "-p", str(db)]).output
    cli_lines = out[out.index("Human-level error"):].strip().splitlines()
    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap())
    qtbot.addWidget(win)
    win.set_project(Project.open(db), None)
    with qtbot.waitExposed(win):
        win.show()
    panel = win.findChildren(DashboardPanel)[0]
    qtbot.waitUntil(lambda: panel.human.text() != "")
    assert panel.human.text().splitlines() == [line.strip() for line in cli_lines]
    win.close()
