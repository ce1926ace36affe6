"""The review queue: which examples, in which order, under which filters.

Expected sets and orders come from the CSV (read with pandas here) or from the queue's own documented
properties (stable across processes, relative order unchanged under filters), not from its output.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import DIGITS_CSV
from labeler.core import frame as framemod
from labeler.core import queue as queuemod
from labeler.core.queue import QueueRefused, QueueSpec, build
from labeler.core.store import Project


@pytest.fixture
def frame(digits_project):
    with Project.open(digits_project, readonly=True) as p:
        return framemod.load(p)


@pytest.fixture(scope="module")
def csv_frame():
    df = pd.read_csv(DIGITS_CSV, dtype=str, keep_default_na=False)
    probs = df[[f"p_{k}" for k in range(10)]].astype(float).to_numpy()
    df["p_given"] = probs[np.arange(len(df)), df["label"].astype(int).to_numpy()]
    df["conf"] = probs.max(axis=1)
    df["wrong"] = df["label"] != df["pred"]
    return df


def ids(rows) -> list[str]:
    return rows["id"].tolist()


def test_default_is_misclassified_dev_examples(frame, csv_frame):
    q = build(frame, QueueSpec())
    expected = set(csv_frame[(csv_frame.split == "dev") & csv_frame.wrong]["id"])
    assert len(q) == len(expected) == 39  # the sample data's README: 39 dev errors
    assert set(ids(q)) == expected
    assert len(set(ids(q))) == len(q)


def test_random_order_is_not_file_order_and_depends_on_seed(frame):
    a = ids(build(frame, QueueSpec(seed=0)))
    b = ids(build(frame, QueueSpec(seed=1)))
    c = ids(build(frame, QueueSpec(seed=-5)))
    assert sorted(a) == sorted(b) == sorted(c)
    assert a != sorted(a)
    assert a != b and a != c and b != c
    assert ids(build(frame, QueueSpec(seed=1))) == b  # same seed, same order


def test_random_order_is_roughly_uniform(frame):
    # over many seeds, each dev error is first about equally often: no bias towards early rows or ids
    q = build(frame, QueueSpec())
    firsts = [ids(build(frame, QueueSpec(seed=s)))[0] for s in range(250)]
    counts = pd.Series(firsts).value_counts()
    assert len(counts) > 0.6 * len(q)
    assert counts.max() < 0.1 * 250


def test_random_order_stable_across_restarts(digits_project, frame):
    """A new process (with another hash seed) reopening the project builds the same order."""
    code = (
        "import sys, json; from labeler.core.store import Project; from labeler.core import frame, queue;"
        "p = Project.open(sys.argv[1], readonly=True);"
        "print(json.dumps(queue.build(frame.load(p), queue.QueueSpec(seed=int(sys.argv[2])))['id'].tolist()))"
    )
    for seed, hashseed in ((7, "999"),):
        r = subprocess.run([sys.executable, "-c", code, str(digits_project), str(seed)], capture_output=True,
                           text=True, env={**os.environ, "PYTHONHASHSEED": hashseed}, check=True)
        assert json.loads(r.stdout) == ids(build(frame, QueueSpec(seed=seed)))


def test_random_order_does_not_depend_on_row_order(frame):
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert ids(build(shuffled, QueueSpec(seed=4))) == ids(build(frame, QueueSpec(seed=4)))


@pytest.mark.parametrize("seed", [0, 11])
def test_filters_keep_the_relative_order(frame, seed):
    base = ids(build(frame, QueueSpec(seed=seed)))
    lookup = frame.set_index("id")
    for label in ("3", "8", "5"):
        got = ids(build(frame, QueueSpec(seed=seed, label=label)))
        assert got == [i for i in base if lookup.loc[i, "label"] == label]
        assert got  # there are errors with these labels in the sample
    for pred in ("1", "7"):
        got = ids(build(frame, QueueSpec(seed=seed, pred=pred)))
        assert got == [i for i in base if lookup.loc[i, "pred"] == pred]
        assert got
    got = ids(build(frame, QueueSpec(seed=seed, label="8", pred="7")))
    assert got == [i for i in base if lookup.loc[i, "label"] == "8" and lookup.loc[i, "pred"] == "7"]
    assert len(got) == 5  # the dev confusion matrix of the sample data: 8 -> 7 five times
    reviewed = set(base[::3])
    got = ids(build(frame, QueueSpec(seed=seed, unreviewed=True), reviewed))
    assert got == [i for i in base if i not in reviewed]
    # unreviewed without any reviews: everything
    assert ids(build(frame, QueueSpec(seed=seed, unreviewed=True), set())) == base


def test_loss_order_highest_first(frame, csv_frame):
    q = build(frame, QueueSpec(order="loss"))
    dev_err = csv_frame[(csv_frame.split == "dev") & csv_frame.wrong].copy()
    dev_err["loss"] = -np.log(dev_err["p_given"])
    expected = dev_err.sort_values("loss", ascending=False, kind="stable")["loss"].tolist()
    got = [-math.log(csv_frame.set_index("id").loc[i, "p_given"]) for i in ids(q)]
    assert got == pytest.approx(expected)
    assert got == sorted(got, reverse=True)


def test_confidence_order_most_confident_mistakes_first(frame, csv_frame):
    q = build(frame, QueueSpec(order="confidence"))
    conf = csv_frame.set_index("id")["conf"]
    got = [conf[i] for i in ids(q)]
    assert got == sorted(got, reverse=True)
    assert set(ids(q)) == set(csv_frame[(csv_frame.split == "dev") & csv_frame.wrong]["id"])


def test_quality_order_lowest_first(frame):
    q = build(frame, QueueSpec(order="quality", scope="all", split="train"))
    labeled_train = frame[(frame.split == "train") & frame.label.notna()]
    assert len(q) == len(labeled_train)
    vals = q["quality"].tolist()
    assert vals == sorted(vals)


def test_file_order(frame):
    q = build(frame, QueueSpec(order="file"))
    assert q["row"].tolist() == sorted(q["row"].tolist())


def test_split_filter(frame, csv_frame):
    q = build(frame, QueueSpec(split="train"))
    assert set(ids(q)) == set(csv_frame[(csv_frame.split == "train") & csv_frame.wrong]["id"])
    assert len(q) == 131


def test_scope_all_includes_correct_examples(frame, csv_frame):
    q = build(frame, QueueSpec(scope="all"))
    assert set(ids(q)) == set(csv_frame[csv_frame.split == "dev"]["id"])


def test_test_split_is_refused_unless_allowed(frame, csv_frame):
    with pytest.raises(QueueRefused) as e:
        build(frame, QueueSpec(split="test"))
    msg = str(e.value)
    assert "test" in msg and "--allow-test" in msg and "unbiased" in msg
    q = build(frame, QueueSpec(split="test", allow_test=True))
    assert set(ids(q)) == set(csv_frame[(csv_frame.split == "test") & csv_frame.wrong]["id"])
    assert len(q) == 11


def test_unlabeled_examples_are_never_errors(tmp_path, write_csv):
    from labeler.core.importer import import_predictions

    src = write_csv("p.csv", ["id", "path", "label", "pred"], [["1", "a", "", "x"], ["2", "b", "x", "y"],
                                                               ["3", "c", "y", "y"]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    with Project.open(db, readonly=True) as p:
        f = framemod.load(p)
    assert ids(build(f, QueueSpec())) == ["2"]
    assert sorted(ids(build(f, QueueSpec(scope="all")))) == ["2", "3"]
    for order in queuemod.ORDERS:
        assert ids(build(f, QueueSpec(order=order))) == ["2"]


def test_orders_without_probabilities(tmp_path, write_csv):
    """No probability columns: loss and confidence are missing; every order still works."""
    from labeler.core.importer import import_predictions

    src = write_csv("p.csv", ["id", "path", "label", "pred"], [[str(i), "a", "x", "y"] for i in range(5)])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    with Project.open(db, readonly=True) as p:
        f = framemod.load(p)
    for order in queuemod.ORDERS:
        assert sorted(ids(build(f, QueueSpec(order=order)))) == ["0", "1", "2", "3", "4"]


def test_bad_spec(frame):
    with pytest.raises(ValueError):
        build(frame, QueueSpec(order="alphabetical"))
    with pytest.raises(ValueError):
        build(frame, QueueSpec(scope="some"))


def test_empty_project_frame(tmp_path):
    with Project.create(tmp_path / "e.labeler.db") as p:
        f = framemod.load(p)
    assert len(f) == 0
    for order in queuemod.ORDERS:
        assert len(build(f, QueueSpec(order=order))) == 0


def test_describe_and_json_round_trip():
    spec = QueueSpec(label="8", pred="7", order="loss", unreviewed=True)
    assert "8" in spec.describe() and "7" in spec.describe() and "loss" in spec.describe()
    assert QueueSpec(**spec.to_json()) == spec
    assert replace(spec, seed=3).to_json()["seed"] == 3


def test_frame_gives_none_for_missing_values(tmp_path, write_csv):
    """An unlabeled example's label is None, not the float nan (pandas 3 infers string dtypes)."""
    from labeler.core.importer import import_predictions

    src = write_csv("p.csv", ["id", "path", "label", "pred"], [["1", "a", "", "x"], ["2", "b", "x", "y"]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    with Project.open(db, readonly=True) as p:
        f = framemod.load(p)
    assert f["label"].tolist() == [None, "x"]
    assert f["suggested"].tolist() == [None, None]  # no probabilities: nothing suggested
    assert f["split"].tolist() == ["dev", "dev"] and f["pred"].tolist() == ["x", "y"]
    assert f["wrong"].tolist() == [False, True]
