"""The tally, its intervals and projections, and the dashboard's estimates, checked figure by figure
against a plain pandas computation: the sample CSV read with pandas, the decisions read straight from
the project's SQLite file, and the intervals worked out here another way (as the roots of the Wilson
quadratic, with the finite-population variance written out).

The project is reviewed through the session API, as the keys would: a random queue, a queue ordered by
loss (not a random sample), and every error (exact figures).
"""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import DIGITS, DIGITS_CSV
from labeler.cli import main
from labeler.core import frame as framemod
from labeler.core import tally as tallymod
from labeler.core import tally_format
from labeler.core.queue import QueueSpec
from labeler.core.session import ReviewSession
from labeler.core.store import Project

TAXONOMY = [t for t in (DIGITS / "taxonomy.txt").read_text(encoding="utf-8").splitlines() if t.strip()]
BUILTINS = ["mislabeled", "very hard", "very easy", "ambiguous"]
Z = NormalDist().inv_cdf(0.975)


# ---------------------------------------------------------------------------------------------
# the independent computation


@pytest.fixture(scope="module")
def preds() -> pd.DataFrame:
    df = pd.read_csv(DIGITS_CSV, dtype=str, keep_default_na=False)
    probs = df[[f"p_{k}" for k in range(10)]].astype(float).to_numpy()
    df["loss"] = -np.log(probs[np.arange(len(df)), df["label"].astype(int).to_numpy()])
    df["wrong"] = df["label"] != df["pred"]
    return df


def decisions_on_disk(path: Path) -> pd.DataFrame:
    """The decisions table as another reader sees it, tags and error types as Python sets."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        df = pd.read_sql_query("SELECT example_id, label, tags, error_types, reviewed FROM decisions", conn)
    finally:
        conn.close()
    df["tags"] = df["tags"].map(lambda s: set(json.loads(s)))
    df["error_types"] = df["error_types"].map(lambda s: set(json.loads(s)))
    df["reviewed"] = df["reviewed"].astype(bool)
    df["label"] = df["label"].astype(object).where(df["label"].notna(), None)
    return df


def wilson_roots(k: int, n: int, N: int) -> tuple[float, float]:
    """The 95% Wilson interval as the two p where the sampled share k/n is z standard errors away,
    with the standard error of sampling n of N without replacement: p(1-p)/n * (N-n)/(N-1)."""
    phat = k / n
    c = Z * Z * (N - n) / (n * (N - 1))
    lo, hi = sorted(np.roots([1 + c, -(2 * phat + c), phat * phat]).real)
    return max(0.0, lo), min(1.0, hi)


def expected_tally(preds: pd.DataFrame, dec: pd.DataFrame, split: str = "dev", taxonomy: list[str] = TAXONOMY) -> dict:
    part = preds[preds["split"] == split]
    errors = part[part["wrong"]]
    N, rate = len(errors), len(errors) / len(part)
    rev = dec[dec["reviewed"] & dec["example_id"].isin(errors["id"])]
    n = len(rev)
    member = {
        ("builtin", "mislabeled"): rev["label"].notna() | rev["tags"].map(lambda t: "mislabeled" in t),
        **{("builtin", t): rev["tags"].map(lambda s, t=t: t in s) for t in BUILTINS[1:]},
        **{("error_type", e): rev["error_types"].map(lambda s, e=e: e in s) for e in taxonomy},
    }
    anything = pd.concat(member.values(), axis=1).any(axis=1) if n else pd.Series(dtype=bool)
    member[("builtin", "untagged")] = ~anything
    cats = {}
    for key, m in member.items():
        k = int(m.sum())
        cats[key] = {"count": k, "share": k / n if n else 0.0}
    return {"errors": N, "examples": len(part), "error_rate": rate, "reviewed": n, "cats": cats, "rev": rev,
            "errors_frame": errors}


def check_tally(t: dict, exp: dict, *, random: bool) -> None:
    """Every figure of ``t`` against the pandas computation."""
    N, n, rate = exp["errors"], exp["reviewed"], exp["error_rate"]
    assert (t["errors"], t["reviewed"], t["examples"]) == (N, n, exp["examples"])
    assert t["error_rate"] == pytest.approx(rate, abs=1e-15)
    assert t["random_sample"] is random
    assert {(c["kind"], c["name"]) for c in t["categories"]} == set(exp["cats"])
    assert len(t["categories"]) == len(exp["cats"])
    for c in t["categories"]:
        e = exp["cats"][(c["kind"], c["name"])]
        assert c["count"] == e["count"], c["name"]
        assert c["share"] == pytest.approx(e["share"], abs=1e-12)
        lo, hi = c["ci95"]
        if n == N:
            assert lo == hi == pytest.approx(e["share"], abs=1e-15)
        else:
            want = wilson_roots(e["count"], n, N)
            assert lo == pytest.approx(want[0], abs=1e-9) and hi == pytest.approx(want[1], abs=1e-9), c["name"]
            assert lo <= c["share"] <= hi
        if random:
            assert c["projected_errors"] == pytest.approx(e["share"] * N, abs=1e-9)
            assert c["ceiling"] == pytest.approx(e["share"] * rate, abs=1e-12)
            assert c["projected_ci95"] == pytest.approx([lo * N, hi * N])
        else:
            assert c["projected_errors"] is None and c["ceiling"] is None
    # sorted by count, "untagged" last
    names = [c["name"] for c in t["categories"]]
    assert names[-1] == "untagged"
    counts = [c["count"] for c in t["categories"][:-1]]
    assert counts == sorted(counts, reverse=True)


# ---------------------------------------------------------------------------------------------
# reviewing through the session


def act(s: ReviewSession, i: int) -> None:
    """The i-th reviewed item's decision: a fixed mix of labels, tags and error types, several
    categories on some items, none on others; then on to the next item."""
    row = s.frame_row()
    if i % 5 == 0:
        s.accept_prediction()  # the label was wrong and the model right: mislabeled, and fixed
    elif i % 7 == 3:
        s.set_label(next(c for c in s.project.classes if c not in (row["label"], row["pred"])))
    if i % 3 == 0:
        s.toggle_tag("very hard")
    if i % 4 == 1:
        s.toggle_tag("ambiguous")
    if i % 6 == 2:
        s.toggle_error_type(1)
    if i % 6 in (3, 4):
        s.toggle_error_type(2)
    if i % 8 == 5:
        s.toggle_error_type(5)
    if i % 9 == 7:
        s.toggle_tag("mislabeled")
    if i % 10 == 8:
        s.toggle_tag("very easy")
    if i == 6:
        s.toggle_error_type(7)
        s.undo()
    s.next()


def review(s: ReviewSession, count: int, start: int = 0) -> list[str]:
    done = []
    for i in range(start, start + count):
        done.append(s.current_id)
        act(s, i)
    return done


@pytest.fixture
def project(digits_project):
    p = Project.open(digits_project)
    yield p
    if p.conn is not None:
        p.close()


def run(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output + repr(r.exception)
    return r.output


# ---------------------------------------------------------------------------------------------
# the interval


def test_wilson_fpc_against_the_quadratic_roots():
    for k, n, N in [(0, 5, 39), (1, 5, 39), (3, 20, 39), (20, 20, 39), (7, 38, 39), (12, 300, 30000), (1, 1, 10)]:
        lo, hi = tallymod.wilson_fpc(k, n, N)
        wlo, whi = wilson_roots(k, n, N)
        assert lo == pytest.approx(wlo, abs=1e-9) and hi == pytest.approx(whi, abs=1e-9), (k, n, N)
        assert lo <= k / n <= hi


def test_wilson_fpc_edges():
    # every error reviewed: exact, no interval
    assert tallymod.wilson_fpc(7, 39, 39) == (7 / 39, 7 / 39)
    # nothing reviewed: nothing known
    assert tallymod.wilson_fpc(0, 0, 39) == (0.0, 1.0)
    # one of N reviewed: n_eff = 1 (N-1)/(N-1) = 1, the plain Wilson interval for one draw
    lo, hi = tallymod.wilson_fpc(1, 1, 50)
    assert hi == 1.0 and lo == pytest.approx(1 / (1 + Z * Z), abs=1e-12)
    lo, hi = tallymod.wilson_fpc(0, 1, 50)
    assert lo == 0.0 and hi == pytest.approx(Z * Z / (1 + Z * Z), abs=1e-12)
    # k = 0 and k = n are exact at the end that cannot move
    assert tallymod.wilson_fpc(0, 10, 39)[0] == 0.0 and tallymod.wilson_fpc(10, 10, 39)[1] == 1.0
    # the correction only narrows the plain interval, and more so the larger the sampled fraction
    from labeler.core.stats import wilson

    widths = [np.subtract(*tallymod.wilson_fpc(5, 20, N)[::-1]) for N in (21, 40, 100, 10**6)]
    assert widths == sorted(widths)
    assert widths[-1] == pytest.approx(np.subtract(*wilson(5, 20)[::-1]), rel=1e-4)


@pytest.mark.parametrize("N,n", [(39, 10), (39, 20), (39, 30), (120, 25)])
def test_wilson_fpc_covers_the_share_about_95_percent_of_the_time(N, n):
    """Exact coverage over the hypergeometric distribution of the sampled count, for every true share
    K/N. Wilson's coverage wobbles around the nominal 95% (lowest near 0 and 1); on average it holds.
    Without the correction it would sit well above 95%: intervals wider than they need to be."""
    def coverage(interval, K):
        return sum(
            math.comb(K, k) * math.comb(N - K, n - k) / math.comb(N, n) * (interval(k)[0] - 1e-12 <= K / N <= interval(k)[1] + 1e-12)
            for k in range(max(0, n - (N - K)), min(n, K) + 1)
        )
    from labeler.core.stats import wilson

    fpc = [coverage(lambda k: tallymod.wilson_fpc(k, n, N), K) for K in range(N + 1)]
    plain = [coverage(lambda k: wilson(k, n), K) for K in range(N + 1)]
    assert min(fpc) >= 0.88 and 0.945 <= np.mean(fpc) < np.mean(plain)


# ---------------------------------------------------------------------------------------------
# tallies of reviewed projects


def test_random_queue_tally_projects_with_intervals(project, preds, digits_project):
    s = ReviewSession(project, QueueSpec(), reviewer="ann")
    reviewed = review(s, 20)
    s.close()
    t = tallymod.project_tally(project, framemod.load(project), "dev")
    dec = decisions_on_disk(digits_project)
    exp = expected_tally(preds, dec)
    assert exp["reviewed"] == 20 and set(exp["rev"]["example_id"]) == set(reviewed)
    check_tally(t, exp, random=True)
    assert t["exact"] is False and "random order" in t["note"]
    by = {c["name"]: c for c in t["categories"]}
    # several categories on one example: the shares add up to more than 1
    assert sum(c["share"] for c in t["categories"]) > 1
    assert by["untagged"]["count"] > 0 and by["mislabeled"]["count"] > 0
    assert 0 < by["mislabeled"]["ci95"][0] < by["mislabeled"]["share"] < by["mislabeled"]["ci95"][1] < 1


def test_loss_queue_is_not_projected(project, preds, digits_project):
    s = ReviewSession(project, QueueSpec(order="loss"), reviewer="ann")
    reviewed = review(s, 12)
    s.close()
    exp_order = preds[(preds["split"] == "dev") & preds["wrong"]].sort_values("loss", ascending=False, kind="stable")
    assert reviewed == exp_order["id"].tolist()[:12]
    t = tallymod.project_tally(project, framemod.load(project), "dev")
    check_tally(t, expected_tally(preds, decisions_on_disk(digits_project)), random=False)
    assert "not as a random sample" in t["note"] and "not projected" in t["note"]
    dash = tallymod.dashboard(framemod.load(project), project.decisions(), t)
    assert dash["dev_error_corrected"] is None and dash["error_floor"] is None
    out = json.loads(run("tally", "--project", digits_project, "--format", "json"))
    assert out["random_sample"] is False
    assert all(c["projected_errors"] is None and c["ceiling"] is None for c in out["categories"])


def test_one_loss_ordered_review_spoils_the_random_sample_but_a_later_edit_does_not(project, preds, digits_project):
    s = ReviewSession(project, QueueSpec(seed=3), reviewer="ann")
    picked = review(s, 8)
    s.close()
    # Edit an item picked at random from a loss-ordered queue: it was still picked at random.
    s = ReviewSession(project, QueueSpec(order="loss"), reviewer="ann")
    s.goto(s.items.index(picked[2]))
    s.toggle_tag("very easy")
    assert tallymod.random_sample_ids(project) == set(picked)
    t = tallymod.project_tally(project, framemod.load(project), "dev")
    check_tally(t, expected_tally(preds, decisions_on_disk(digits_project)), random=True)
    # Reviewing a new item from it makes the sample not random.
    s.goto(s.first_unreviewed())
    extra = s.current_id
    s.next()
    s.close()
    assert extra not in picked
    assert tallymod.random_sample_ids(project) == set(picked)
    t = tallymod.project_tally(project, framemod.load(project), "dev")
    check_tally(t, expected_tally(preds, decisions_on_disk(digits_project)), random=False)


@pytest.mark.parametrize("spec", [QueueSpec(label="3"), QueueSpec(pred="8"), QueueSpec(label="3", pred="8"),
                                  QueueSpec(scope="flagged"), QueueSpec(order="confidence")])
def test_filtered_or_ordered_queues_are_not_random(spec):
    assert not tallymod.is_random_queue(spec.to_json())


def test_unfiltered_random_queues_are_random():
    for spec in (QueueSpec(), QueueSpec(seed=9), QueueSpec(scope="all"), QueueSpec(unreviewed=True)):
        assert tallymod.is_random_queue(spec.to_json())


def test_every_error_reviewed_is_exact(project, preds, digits_project):
    s = ReviewSession(project, QueueSpec(order="loss"), reviewer="ann")
    review(s, len(s.items))
    s.close()
    t = tallymod.project_tally(project, framemod.load(project), "dev")
    exp = expected_tally(preds, decisions_on_disk(digits_project))
    assert exp["reviewed"] == exp["errors"] == 39
    # loss-ordered, but every error seen: nothing left to sample, the figures are exact
    check_tally(t, exp, random=True)
    assert t["exact"] is True and "exact" in t["note"]
    for c in t["categories"]:
        assert c["ci95"][0] == c["ci95"][1] == c["share"]
        assert c["projected_errors"] == pytest.approx(c["count"])
        assert c["ceiling"] == pytest.approx(c["count"] / exp["examples"])
    dash = tallymod.dashboard(framemod.load(project), project.decisions(), t)
    lo, hi = dash["dev_error_corrected"]["ci95"]
    assert lo == pytest.approx(hi) == pytest.approx(dash["dev_error_corrected"]["error_rate"])


def test_nothing_reviewed(project, preds):
    t = tallymod.project_tally(project, framemod.load(project), "dev")
    assert (t["reviewed"], t["errors"]) == (0, 39) and "None of the 39" in t["note"]
    assert all(c["count"] == 0 and c["projected_errors"] is None for c in t["categories"])
    train = tallymod.project_tally(project, framemod.load(project), "train")
    assert train["errors"] == int(preds[(preds["split"] == "train")]["wrong"].sum())
    dash = tallymod.dashboard(framemod.load(project), {}, t)
    assert dash["dev_error_corrected"] is None and dash["error_floor"] is None


# ---------------------------------------------------------------------------------------------
# the dashboard and summary


def expected_estimates(exp: dict) -> dict:
    rev, errs = exp["rev"], exp["errors_frame"].set_index("id")
    n, N, rate = exp["reviewed"], exp["errors"], exp["error_rate"]
    fixed = int((rev["label"].to_numpy() == errs.loc[rev["example_id"], "pred"].to_numpy()).sum())
    hard = int((rev["label"].notna() | rev["tags"].map(lambda t: bool(t & {"mislabeled", "ambiguous", "very hard"}))).sum())
    flo, fhi = wilson_roots(fixed, n, N)
    hlo, hhi = wilson_roots(hard, n, N)
    return {
        "dev_error_corrected": {"error_rate": rate * (1 - fixed / n), "ci95": [rate * (1 - fhi), rate * (1 - flo)]},
        "error_floor": {"error_rate": rate * hard / n, "ci95": [rate * hlo, rate * hhi]},
        "fixed": fixed, "hard": hard,
    }


def expected_splits(preds: pd.DataFrame) -> dict:
    out = {}
    for s, part in preds.groupby("split"):
        n, k = len(part), int(part["wrong"].sum())
        p = k / n
        centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
        half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
        out[s] = {"examples": n, "errors": k, "error_rate": p, "ci95": [centre - half, centre + half]}
    return out


def test_dashboard_and_summary_json(project, preds, digits_project):
    s = ReviewSession(project, QueueSpec(), reviewer="ann")
    review(s, 20)
    s.close()
    exp = expected_tally(preds, decisions_on_disk(digits_project))
    want = expected_estimates(exp)
    assert want["fixed"] > 0 and want["hard"] > want["fixed"]
    frame = framemod.load(project)
    dash = tallymod.dashboard(frame, project.decisions(), tallymod.project_tally(project, frame, "dev"))
    out = json.loads(run("summary", "--project", digits_project, "--json"))
    splits = expected_splits(preds)
    for got in (dash, out):
        for key in ("dev_error_corrected", "error_floor"):
            assert got[key]["error_rate"] == pytest.approx(want[key]["error_rate"], abs=1e-12), key
            assert got[key]["ci95"] == pytest.approx(want[key]["ci95"], abs=1e-9), key
        for sp, e in splits.items():
            assert got["splits"][sp]["examples"] == e["examples"] and got["splits"][sp]["errors"] == e["errors"]
            assert got["splits"][sp]["ci95"] == pytest.approx(e["ci95"], abs=1e-12)
    assert dash["gaps"]["train_to_dev"] == pytest.approx(splits["dev"]["error_rate"] - splits["train"]["error_rate"])
    assert dash["gaps"]["dev_to_test"] == pytest.approx(splits["test"]["error_rate"] - splits["dev"]["error_rate"])
    assert out["diagnosis"] == dash["diagnosis"]
    text = run("summary", "--project", digits_project)
    assert f"{100 * want['dev_error_corrected']['error_rate']:.2f}%" in text
    assert f"{100 * want['error_floor']['error_rate']:.2f}%" in text


def test_dashboard_says_when_the_dev_set_is_too_small(project, preds):
    dash = tallymod.dashboard(framemod.load(project), {}, tallymod.project_tally(project, framemod.load(project)))
    sp = expected_splits(preds)
    dv = sp["dev"]
    half = (dv["ci95"][1] - dv["ci95"][0]) / 2
    margin = lambda a, b: Z * math.sqrt(sum(d["error_rate"] * (1 - d["error_rate"]) / d["examples"] for d in (a, b)))
    warning = dash["dev_warning"]
    assert warning and "(359 examples) is too small" in warning
    # train -> dev (-1.3 points) is within chance, dev -> test (-7.8 points) is not
    assert abs(dv["error_rate"] - sp["train"]["error_rate"]) < margin(dv, sp["train"])
    assert abs(dv["error_rate"] - sp["test"]["error_rate"]) > margin(dv, sp["test"])
    assert "train → dev gap" in warning and "dev → test gap" not in warning
    tr = sp["train"]
    assert f"({100 * (dv['error_rate'] - tr['error_rate']):+.1f} ± {100 * margin(dv, tr):.1f} points)" in warning
    assert f"±{100 * half:.1f}" not in warning  # the gain from correcting labels is not shown: nothing reviewed


def test_the_error_index_counts_the_splits_as_stats_does(project, write_csv, tmp_path):
    from labeler.core.importer import import_predictions
    from labeler.core.stats import split_counts

    frame = framemod.load(project)
    assert tallymod.ErrorIndex(frame).split_counts == split_counts(frame)
    # unlabeled examples count in no split's examples or errors; a split with none is left out
    path = write_csv("p.csv", ["id", "text", "split", "label", "pred"],
                     [["a", "t", "dev", "x", "y"], ["b", "t", "dev", "", "y"], ["c", "t", "train", "y", "y"],
                      ["d", "t", "dev", "y", "y"]])
    import_predictions(path, tmp_path / "p.labeler.db", classes=["x", "y"])
    with Project.open(tmp_path / "p.labeler.db") as p:
        frame = framemod.load(p)
    index = tallymod.ErrorIndex(frame)
    assert index.split_counts == split_counts(frame)
    assert set(index.split_counts) == {"dev", "train"} and index.split_counts["dev"]["examples"] == 2
    assert (index.split("dev").examples, index.split("dev").pred) == (2, {"a": "y"})


def test_live_tally_equals_the_full_recount_after_every_change(project, preds, digits_project):
    s = ReviewSession(project, QueueSpec(), reviewer="ann")
    live = tallymod.LiveTally(project, s.frame)
    s.subscribe(lambda e: e.change and live.apply(e.example_id, e.change.before, e.change.after, s.spec.to_json()))
    for i in range(15):
        act(s, i)
        if i == 9:
            s.undo()
            s.undo()
            s.redo()
        assert live.tally() == tallymod.project_tally(project, s.frame, "dev")
    before = live.tally()
    assert before["random_sample"] is True
    s.set_queue(QueueSpec(order="loss"))
    s.goto(s.first_unreviewed())
    s.toggle_tag("ambiguous")
    t = live.tally()
    assert t["random_sample"] is False and t["reviewed"] == before["reviewed"] + 1
    assert live.dashboard() == tallymod.dashboard(s.frame, project.decisions(), t)
    s.close()


# ---------------------------------------------------------------------------------------------
# odd names and the text formats


def test_an_error_type_named_like_a_tag_is_its_own_category(project):
    project.set_error_types(["ambiguous", "untagged", "blurry"])
    s = ReviewSession(project, QueueSpec(), reviewer="ann")
    s.toggle_error_type("ambiguous")
    s.next()
    s.toggle_tag("ambiguous")
    s.toggle_error_type("untagged")
    s.next()
    s.next()
    s.close()
    t = tallymod.project_tally(project, framemod.load(project), "dev")
    got = {(c["kind"], c["name"]): c["count"] for c in t["categories"]}
    assert got[("error_type", "ambiguous")] == 1 and got[("builtin", "ambiguous")] == 1
    assert got[("error_type", "untagged")] == 1 and got[("builtin", "untagged")] == 1
    assert t["categories"][-1] == {**t["categories"][-1], "name": "untagged", "kind": "builtin"}


def test_cli_tally_formats_match_pandas(project, preds, digits_project):
    project.set_error_types(TAXONOMY + ["=HYPERLINK(1)", "carriage\rreturn", "pipe | here"])
    s = ReviewSession(project, QueueSpec(), reviewer="ann")
    review(s, 14)
    for name in ("=HYPERLINK(1)", "carriage\rreturn", "pipe | here"):
        s.toggle_error_type(name)
    s.next()
    s.close()
    exp = expected_tally(preds, decisions_on_disk(digits_project),
                         taxonomy=TAXONOMY + ["=HYPERLINK(1)", "carriage\rreturn", "pipe | here"])
    cats = exp["cats"]
    assert all(cats[("error_type", name)]["count"] == 1 for name in ("=HYPERLINK(1)", "carriage\rreturn", "pipe | here"))
    j = json.loads(run("tally", "--project", digits_project, "--format", "json"))
    assert j == json.loads(run("tally", "--project", digits_project, "--split", "dev", "--format", "json"))
    assert set(j) >= {"split", "errors", "reviewed", "error_rate", "random_sample", "categories"}
    assert j["split"] == "dev"
    for c in j["categories"]:
        assert set(c) >= {"name", "kind", "count", "share", "ci95", "projected_errors", "ceiling"}
        assert c["kind"] in ("builtin", "error_type")
        assert (c["count"], c["share"]) == (cats[(c["kind"], c["name"])]["count"],
                                            pytest.approx(cats[(c["kind"], c["name"])]["share"]))
    assert {c["name"] for c in j["categories"] if c["kind"] == "builtin"} == {*BUILTINS, "untagged"}

    text = run("tally", "--project", digits_project, "--format", "csv")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["category", "kind", "count", "share", "ci95_low", "ci95_high", "projected_errors", "ceiling"]
    assert len(rows) == 1 + len(j["categories"])
    for row, c in zip(rows[1:], j["categories"]):
        assert row[0] == ("'" + c["name"] if c["name"].startswith("=") else c["name"])
        assert (row[1], int(row[2])) == (c["kind"], c["count"])
        assert float(row[3]) == pytest.approx(c["share"], abs=1e-6)
        assert [float(row[4]), float(row[5])] == pytest.approx(c["ci95"], abs=1e-6)
        assert float(row[6]) == pytest.approx(c["projected_errors"], abs=1e-4)
        assert float(row[7]) == pytest.approx(c["ceiling"], abs=1e-6)
    assert "carriage\rreturn" in [r[0] for r in rows]
    # pandas reads it back with the same number of rows
    assert len(pd.read_csv(io.StringIO(text))) == len(j["categories"])

    md = run("tally", "--project", digits_project, "--format", "md")
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert len(table) == 2 + len(j["categories"])
    assert "pipe \\| here" in md
    for ln, c in zip(table[2:], j["categories"]):
        cells = [x.strip() for x in ln.strip("|").split(" | ")]
        assert cells[2] == str(c["count"]) and cells[3] == f"{100 * c['share']:.1f}%"
        assert cells[5] == f"{c['projected_errors']:.1f}" and cells[6] == f"{100 * c['ceiling']:.2f}"

    table = run("tally", "--project", digits_project, "--format", "table")
    lines = table.splitlines()
    assert f"{j['reviewed']} of {j['errors']} errors reviewed" in lines[0]
    body = lines[3:]
    assert len(body) == len(j["categories"])
    for ln, c in zip(body, j["categories"]):
        assert ln.startswith(c["name"].replace("\r", " ")) and f" {c['count']} " in ln


def test_csv_quotes_a_bare_carriage_return():
    t = {"split": "dev", "reviewed": 1, "errors": 2, "error_rate": 0.5, "note": "",
         "categories": [{"name": "a\rb", "kind": "error_type", "count": 1, "share": 1.0, "ci95": [0.2, 1.0],
                         "projected_errors": 2.0, "ceiling": 0.5}]}
    text = tally_format.render(t, "csv")
    assert '"a\rb"' in text and text.endswith("\n") and "\r\n" not in text
    assert list(csv.reader(io.StringIO(text, newline="")))[1][0] == "a\rb"
