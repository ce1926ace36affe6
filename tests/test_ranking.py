"""Label-quality ranking (labeler.core.ranking, `labeler rank`): on the sample data, whose injected
label noise is known (noise.csv), the flagged set and the top of the ranking are at least as good as
cleanlab called directly on the same columns; the JSON of `labeler rank`; the fallback without
probabilities; the in-sample warning; and corrections made in a quality-ordered session reaching the
corrected training set.

The reference figures come from the CSV read here with pandas and cleanlab called directly, not
from the tool.
"""

from __future__ import annotations

import csv
import json
import threading
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import DIGITS, DIGITS_CSV
from labeler.cli import main
from labeler.core import frame as framemod
from labeler.core import ranking
from labeler.core.export import export_all
from labeler.core.importer import import_predictions
from labeler.core.queue import QueueSpec, build
from labeler.core.session import ReviewSession
from labeler.core.store import Decision, Project

TOP = 50


def run(*args, ok: bool = True):
    r = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert r.exit_code == 0, r.output + repr(r.exception)
    return r


@pytest.fixture(scope="module")
def direct():
    """cleanlab on the train rows of predictions.csv, read with pandas: ids, labels, probabilities,
    quality, flagged, and the noisy ids from noise.csv."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    df = pd.read_csv(DIGITS_CSV, dtype={"id": str, "label": str, "split": str})
    train = df[df["split"] == "train"].reset_index(drop=True)
    labels = train["label"].astype(int).to_numpy()
    probs = train[[f"p_{k}" for k in range(10)]].to_numpy(dtype=np.float64)
    quality = get_label_quality_scores(labels, probs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flagged = find_label_issues(labels, probs, n_jobs=1)  # n_jobs changes the speed, not the result
    noise = pd.read_csv(DIGITS / "noise.csv", dtype=str)
    noisy = set(noise.loc[noise["split"] == "train", "id"])
    return {"ids": train["id"].to_numpy(), "labels": labels, "probs": probs, "quality": quality,
            "flagged": flagged, "noisy": noisy}


def figures(flagged_ids: set[str], ranked_ids: list[str], noisy: set[str]) -> dict[str, float]:
    hits = len(flagged_ids & noisy)
    return {
        "precision": hits / len(flagged_ids),
        "recall": hits / len(noisy),
        f"precision@{TOP}": len(set(ranked_ids[:TOP]) & noisy) / TOP,
    }


def direct_figures(direct) -> dict[str, float]:
    # cleanlab's flagged examples first, each part by quality, ties in file order, as the tool does
    order = np.lexsort((np.arange(len(direct["quality"])), direct["quality"], ~direct["flagged"]))
    return figures(set(direct["ids"][direct["flagged"]]), direct["ids"][order].tolist(), direct["noisy"])


# ---------------------------------------------------------------------------------------------
# quality against the known noise


def test_flags_and_ranking_at_least_as_good_as_cleanlab_directly(digits_project, direct):
    with Project.open(digits_project) as p:
        result = ranking.rank(p, framemod.load(p), "train")
        frame = framemod.load(p)
        assert p.meta("ranking") == {"train": "cleanlab"}
    assert result.method == "cleanlab" and result.warnings == []
    train = frame[frame["split"] == "train"]
    ranked_ids = build(frame, QueueSpec(split="train", order="quality", scope="all"))["id"].tolist()
    flagged_ids = set(train.loc[train["flagged"].astype(bool), "id"])
    ours, theirs = figures(flagged_ids, ranked_ids, direct["noisy"]), direct_figures(direct)
    for name in theirs:
        assert ours[name] >= theirs[name], (name, ours, theirs)
    # nothing lost on the way: the same scores, flags and most likely labels as cleanlab's own
    q = train.set_index("id")["quality"]
    np.testing.assert_array_equal(q[direct["ids"]].to_numpy(), direct["quality"])
    assert flagged_ids == set(direct["ids"][direct["flagged"]])
    assert result.ranked == len(direct["ids"]) and result.flagged == int(direct["flagged"].sum())
    sug = train.set_index("id")["suggested"][direct["ids"]].to_numpy()
    assert (sug == direct["probs"].argmax(axis=1).astype(str)).all()
    # the sample data's noise is found at all (the figures docs/benchmarks.md quotes)
    assert ours["precision"] > 0.5 and ours["recall"] > 0.5 and ours[f"precision@{TOP}"] > 0.7, ours


def test_in_sample_check_is_quiet_on_the_sample_data(direct, digits_project):
    assert ranking.in_sample_warning(direct["labels"], direct["probs"]) is None
    with Project.open(digits_project) as p:
        ranking.rank(p, framemod.load(p), "train")
        assert ranking.stored_warnings(p, framemod.load(p), "train") == []


# ---------------------------------------------------------------------------------------------
# labeler rank


def test_rank_cli_json_shape_and_order(digits_project, direct):
    r = run("rank", "--project", digits_project, "--json")
    items = json.loads(r.stdout)
    assert r.stderr == ""
    assert len(items) == len(direct["ids"])
    assert all(list(it) == ["id", "given", "suggested", "quality", "flagged", "corrected"] for it in items)
    assert all(isinstance(it["quality"], float) and isinstance(it["flagged"], bool) for it in items)
    # the flagged first, each part by quality
    assert [(not it["flagged"], it["quality"]) for it in items] == sorted((not it["flagged"], it["quality"]) for it in items)
    by_id = {i: k for k, i in enumerate(direct["ids"])}
    assert {it["id"] for it in items} == set(direct["ids"])
    for it in items:
        k = by_id[it["id"]]
        assert it["given"] == str(direct["labels"][k])
        assert it["suggested"] == str(int(direct["probs"][k].argmax()))
        assert it["quality"] == direct["quality"][k]
        assert it["flagged"] == bool(direct["flagged"][k])
    # ties keep file order
    for a, b in zip(items, items[1:]):
        if a["quality"] == b["quality"] and a["flagged"] == b["flagged"]:
            assert by_id[a["id"]] < by_id[b["id"]]
    head = json.loads(run("rank", "-p", digits_project, "--json", "--limit", "5").stdout)
    assert head == items[:5]
    text = run("rank", "-p", digits_project, "--limit", "3").stdout.splitlines()
    assert text[0].startswith(f"{len(items)} train examples ranked (cleanlab); {int(direct['flagged'].sum())} flagged")
    assert text[1].split()[0] == items[0]["id"] and len(text) == 4
    # the stored ranking is what the quality queue serves
    queue = json.loads(run("queue", "-p", digits_project, "--split", "train", "--order", "quality", "--json").stdout)
    assert [q["id"] for q in queue] == [it["id"] for it in items]
    assert all(q["suggested"] == it["suggested"] and q["flagged"] == it["flagged"] for q, it in zip(queue, items))


def test_queue_ranks_in_memory_without_writing(digits_project):
    from conftest import snapshot

    before = snapshot(digits_project)
    r = run("queue", "-p", digits_project, "--split", "train", "--order", "quality", "--json", "--limit", "10")
    assert "not stored" in r.stderr
    items = json.loads(r.stdout)
    assert [i["quality"] for i in items] == sorted(i["quality"] for i in items) and items[0]["flagged"] is True
    assert snapshot(digits_project) == before  # read-only: nothing written
    ranked = json.loads(run("rank", "-p", digits_project, "--json", "--limit", "10").stdout)
    assert [i["id"] for i in items] == [i["id"] for i in ranked]
    flagged = json.loads(run("queue", "-p", digits_project, "--split", "train", "--scope", "flagged",
                             "--order", "quality", "--json").stdout)
    assert flagged and all(i["flagged"] for i in flagged)


def test_rank_refuses_while_a_window_holds_the_project(digits_project):
    with Project.open(digits_project):
        r = run("rank", "-p", digits_project, ok=False)
    assert r.exit_code != 0 and "open for writing" in r.output


# ---------------------------------------------------------------------------------------------
# without probabilities; in-sample probabilities


def _write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_without_probabilities_ranks_by_confidence_loss_and_says_it_is_weaker(tmp_path):
    # (id, given, pred, confidence): a confident mistake is the likeliest wrong label
    rows = [("a", "cat", "cat", 0.9), ("b", "cat", "dog", 0.99), ("c", "dog", "cat", 0.6),
            ("d", "dog", "dog", 0.55), ("e", "cat", "dog", 0.8)]
    src = _write(tmp_path / "p.csv", ["id", "path", "split", "label", "pred", "confidence"],
                 [[i, f"{i}.png", "train", g, pr, c] for i, g, pr, c in rows])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    r = run("rank", "-p", db, "--json")
    assert "weaker ranking" in r.stderr and "no class probabilities" in r.stderr
    items = json.loads(r.stdout)
    # the estimated probability of the given label: conf if right, 1 - conf if wrong
    est = {i: (c if g == pr else 1 - c) for i, g, pr, c in rows}
    assert [it["id"] for it in items] == sorted(est, key=lambda i: est[i]) == ["b", "e", "c", "d", "a"]
    assert all(it["quality"] == pytest.approx(est[it["id"]]) for it in items)
    assert {it["id"] for it in items if it["flagged"]} == {"b", "c", "e"}  # the misclassified ones
    assert {it["id"]: it["suggested"] for it in items} == {i: pr for i, _, pr, _ in rows}
    with Project.open(db, readonly=True) as p:
        assert p.meta("ranking") == {"train": "confidence"}
        assert "weaker ranking" in " ".join(ranking.stored_warnings(p, framemod.load(p), "train"))
    # queue --order quality says the same before anything is stored
    db2 = tmp_path / "q.labeler.db"
    import_predictions(src, db2)
    q = run("queue", "-p", db2, "--split", "train", "--order", "quality", "--json")
    assert "weaker ranking" in q.stderr
    assert [i["id"] for i in json.loads(q.stdout)] == ["b", "e", "c", "d", "a"]


def test_in_sample_probabilities_are_warned_about(tmp_path):
    rng = np.random.default_rng(1)
    n, k = 300, 3
    labels = rng.integers(0, k, n)
    probs = np.full((n, k), 0.002)
    probs[np.arange(n), labels] = 1 - 0.002 * (k - 1)  # the model fitted these labels: ~100% and ~1.0
    header = ["id", "path", "split", "label"] + [f"p_{c}" for c in "abc"]
    src = _write(tmp_path / "p.csv", header,
                 [[f"x{i}", f"{i}.png", "train", "abc"[labels[i]], *probs[i]] for i in range(n)])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    r = run("rank", "-p", db, "--json")
    assert "look in-sample" in r.stderr and "out-of-sample" in r.stderr and "100.0%" in r.stderr
    assert len(json.loads(r.stdout)) == n
    with Project.open(db, readonly=True) as p:  # the same warning later, from the stored scores alone
        assert "in-sample" in " ".join(ranking.stored_warnings(p, framemod.load(p), "train"))
    assert "in-sample" in ranking.in_sample_warning(labels, probs)
    # a few disagreements and less confidence: no warning
    soft = probs.copy()
    soft[:, :] = 0.2
    soft[np.arange(n), labels] = 0.6
    assert ranking.in_sample_warning(labels, soft) is None


# ---------------------------------------------------------------------------------------------
# the parts the window uses


def test_compute_only_reads_and_cancel_stores_nothing(digits_project):
    from conftest import snapshot

    before = snapshot(digits_project)
    with Project.open(digits_project, readonly=True) as p:
        frame = framemod.load(p)
        assert not ranking.has_scores(frame, "train")
        stages = []
        scores = ranking.compute(p, frame, "train", progress=lambda s, f: stages.append(s))
        assert stages[0] == "reading" and "scoring" in stages
        moved = ranking.with_scores(frame, scores)
        assert ranking.has_scores(moved, "train") and not ranking.has_scores(moved, "dev")
        assert not ranking.has_scores(frame, "train")  # the input frame is left as it was
        cancel = threading.Event()
        cancel.set()
        with pytest.raises(ranking.RankCancelled):
            ranking.compute(p, frame, "train", cancel=cancel)
    assert snapshot(digits_project) == before
    with Project.open(digits_project) as p:
        ranking.store(p, scores)
        stored = framemod.load(p)
    pd.testing.assert_frame_equal(stored, moved, check_dtype=False)


def test_a_reimport_drops_the_scores_of_changed_predictions_and_has_scores_sees_it(tmp_path):
    import csv

    src = tmp_path / "preds.csv"
    src.write_bytes(DIGITS_CSV.read_bytes())
    db = tmp_path / "d.labeler.db"
    import_predictions(src, db)
    run("rank", "-p", db)
    with Project.open(db, readonly=True) as p:
        assert ranking.has_scores(framemod.load(p), "train")
    import_predictions(src, db)  # the same predictions again: the ranking stands
    with Project.open(db, readonly=True) as p:
        assert ranking.has_scores(framemod.load(p), "train")
    with open(src, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    pred = rows[0].index("pred")
    for r in rows[1:]:  # a new model: every training prediction changes
        if r[rows[0].index("split")] == "train":
            r[pred] = str((int(r[pred]) + 1) % 10)
    with open(src, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    import_predictions(src, db)
    with Project.open(db, readonly=True) as p:
        assert not ranking.has_scores(framemod.load(p), "train")


def test_flag_stats_count_reviewed_flags_judged_wrong(digits_project):
    with Project.open(digits_project) as p:
        ranking.rank(p, framemod.load(p), "train")
        frame = framemod.load(p)
    flagged = ranking.flagged_ids(frame, "train")
    d = {
        flagged[0]: Decision(label="3", reviewed=True),
        flagged[1]: Decision(tags=frozenset({"mislabeled"}), reviewed=True),
        flagged[2]: Decision(reviewed=True),  # the given label is right after all
        flagged[3]: Decision(tags=frozenset({"very hard"}), reviewed=True),
        flagged[4]: Decision(note="not looked at yet"),  # not reviewed: not counted
    }
    stats = ranking.flag_stats(frame, d, "train")
    assert (stats.flagged, stats.reviewed, stats.wrong) == (len(flagged), 4, 2) and stats.precision == 0.5
    assert "precision so far 50%" in stats.describe()
    after = stats.after(d[flagged[2]], Decision(label="1", reviewed=True))
    assert (after.reviewed, after.wrong) == (4, 3)
    after = stats.after(Decision(), Decision(reviewed=True))
    assert (after.reviewed, after.wrong) == (5, 2)
    assert ranking.FlagStats(10).precision is None and "none reviewed" in ranking.FlagStats(10).describe()


def test_an_empty_split_ranks_nothing(digits_project):
    with Project.open(digits_project) as p:
        frame = framemod.load(p)
        frame = frame.assign(split=frame["split"].where(frame["split"] != "train", "dev"))
        result = ranking.rank(p, frame, "train")
    assert result.ranked == 0 and result.flagged == 0


# ---------------------------------------------------------------------------------------------
# corrections made in quality order reach the corrected training set


def test_p_in_quality_order_accepts_the_suggested_label_into_the_export(digits_project, tmp_path, direct):
    with Project.open(digits_project) as p:
        ranking.rank(p, framemod.load(p), "train")
        s = ReviewSession(p, QueueSpec(split="train", order="quality", scope="all"), reviewer="t")
        accepted = {}
        for _ in range(6):
            eid = s.current_id
            row = s.frame_row()
            assert row["suggested"] != row["label"]  # the top of the ranking disagrees with its label
            s.accept_prediction()
            accepted[eid] = row["suggested"]
            s.next()
        s.next()  # looked at, label right: reviewed without a correction
        s.close()
        out = tmp_path / "out"
        result = export_all(p, out, train_file=DIGITS / "train.csv")
    assert result.relabelled == len(accepted)
    src = pd.read_csv(DIGITS / "train.csv", dtype=str, keep_default_na=False)
    got = pd.read_csv(out / "train.corrected.csv", dtype=str, keep_default_na=False)
    assert list(got["id"]) == list(src["id"])
    expected = src["label"].where(~src["id"].isin(accepted), src["id"].map(accepted))
    assert got["label"].tolist() == expected.tolist()
    assert (got.drop(columns="label") == src.drop(columns="label")).all().all()
    # the suggested labels are cleanlab's most likely labels
    k = {i: n for n, i in enumerate(direct["ids"])}
    assert all(lab == str(direct["probs"][k[i]].argmax()) for i, lab in accepted.items())
    corrections = pd.read_csv(out / "corrections.csv", dtype=str, keep_default_na=False)
    assert dict(zip(corrections["id"], corrections["corrected_label"])) == accepted


def test_p_takes_the_suggested_label_not_the_prediction_in_quality_order(tmp_path):
    """Where the file's prediction is not the most likely class, P in quality order takes cleanlab's."""
    header = ["id", "path", "split", "label", "pred", "p_a", "p_b", "p_c"]
    rows = [["x0", "0.png", "train", "a", "c", 0.05, 0.9, 0.05]]  # suggested b, predicted c
    rows += [[f"y{i}", f"{i}.png", "train", "abc"[i % 3], "abc"[i % 3],
              *[0.8 if j == i % 3 else 0.1 for j in range(3)]] for i in range(30)]
    db = tmp_path / "p.labeler.db"
    import_predictions(_write(tmp_path / "p.csv", header, rows), db)
    with Project.open(db) as p:
        ranking.rank(p, framemod.load(p), "train")
        s = ReviewSession(p, QueueSpec(split="train", order="quality", scope="all"))
        assert s.current_id == "x0"
        s.accept_prediction()
        assert s.decision("x0").label == "b"
        s.close()


def test_the_label_issue_queue_puts_every_flagged_example_first(digits_project):
    with Project.open(digits_project) as p:
        ranking.rank(p, framemod.load(p), "train")
        frame = framemod.load(p)
    rows = build(frame, QueueSpec(split="train", order="quality", scope="all"))
    flags = rows["flagged"].fillna(0).astype(bool).to_numpy()
    n = int(flags.sum())
    assert 0 < n < len(rows) and flags[:n].all() and not flags[n:].any()
    for part in (rows[:n], rows[n:]):  # each part lowest quality first
        assert (np.diff(part["quality"].to_numpy()) >= 0).all()


def test_rank_and_queue_json_say_which_examples_are_corrected(digits_project):
    import json

    from click.testing import CliRunner

    from labeler.cli import main
    from labeler.core.session import ReviewSession

    runner = CliRunner()
    first = json.loads(runner.invoke(main, ["rank", "--project", str(digits_project), "--json"]).output)
    assert all(r["corrected"] is None for r in first)
    target = first[0]
    with Project.open(digits_project) as p:
        s = ReviewSession(p, QueueSpec(split="train", order="quality", scope="all"))
        assert s.current_id == target["id"]
        s.accept_prediction()
        s.close()
    again = {r["id"]: r for r in json.loads(runner.invoke(main, ["rank", "--project", str(digits_project), "--json"]).output)}
    assert again[target["id"]]["corrected"] == target["suggested"]
    queue = json.loads(runner.invoke(main, ["queue", "--project", str(digits_project), "--split", "train",
                                            "--order", "quality", "--scope", "all", "--json"]).output)
    assert {q["id"]: q["corrected"] for q in queue}[target["id"]] == target["suggested"]
    assert sum(q["corrected"] is not None for q in queue) == 1
