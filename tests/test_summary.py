"""Error rates, Wilson intervals, the diagnosis and the confusion matrix, checked against independent
computations: pandas on the CSV, the Wilson bounds as the roots of a quadratic (written here), scipy's
binomtest, and pandas.crosstab.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conftest import DIGITS_CLASSES, DIGITS_CSV
from labeler.core import frame as framemod
from labeler.core import stats
from labeler.core.store import Project

Z = 1.959963984540054  # the 97.5% normal quantile


def wilson_roots(k: int, n: int, z: float = Z) -> tuple[float, float]:
    """The Wilson interval as the two p with |p_hat - p| = z * sqrt(p (1 - p) / n), i.e. the roots of
    (n + z^2) p^2 - (2 k + z^2) p + k^2 / n = 0."""
    a = n + z * z
    b = -(2 * k + z * z)
    c = k * k / n
    disc = math.sqrt(b * b - 4 * a * c)
    return ((-b - disc) / (2 * a), (-b + disc) / (2 * a))


def test_wilson_roots_helper_is_right():
    # textbook value: 0 of 10 -> [0, 0.2775]; 5 of 10 -> [0.2366, 0.7634]
    lo, hi = wilson_roots(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_roots(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))


@pytest.mark.parametrize("k,n", [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (39, 359), (11, 360), (131, 1078),
                                 (1, 1_000_000), (500_000, 1_000_000)])
def test_wilson_against_independent_formulas(k, n):
    from scipy.stats import binomtest

    lo, hi = stats.wilson(k, n)
    rlo, rhi = wilson_roots(k, n)
    assert lo == pytest.approx(max(rlo, 0.0), abs=1e-12)
    assert hi == pytest.approx(min(rhi, 1.0), abs=1e-12)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert (lo, hi) == (pytest.approx(ci.low, abs=1e-12), pytest.approx(ci.high, abs=1e-12))
    assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_wilson_of_nothing_is_everything():
    assert stats.wilson(0, 0) == (0.0, 1.0)


@pytest.fixture
def frame(digits_project):
    with Project.open(digits_project, readonly=True) as p:
        return framemod.load(p)


@pytest.fixture(scope="module")
def csv():
    return pd.read_csv(DIGITS_CSV, dtype=str, keep_default_na=False)


def test_split_counts_match_pandas_on_the_csv(frame, csv):
    got = stats.split_counts(frame)
    assert list(got) == ["train", "dev", "test"]
    for split, part in csv.groupby("split"):
        n = len(part)
        k = int((part["label"] != part["pred"]).sum())
        d = got[split]
        assert d["examples"] == n and d["errors"] == k
        assert d["error_rate"] == pytest.approx(k / n)
        lo, hi = wilson_roots(k, n)
        assert d["ci95"] == [pytest.approx(lo), pytest.approx(hi)]
    # the sample data's README table
    assert [(got[s]["examples"], got[s]["errors"]) for s in ("train", "dev", "test")] == [(1078, 131), (359, 39),
                                                                                         (360, 11)]


def _frame(rows: list[tuple[str, str | None, str]]) -> pd.DataFrame:
    """A frame like frame.load() gives, from (split, label, pred) tuples."""
    df = pd.DataFrame(rows, columns=["split", "label", "pred"])
    df["label"] = df["label"].astype(object)
    df["wrong"] = df["label"].notna() & (df["label"] != df["pred"])
    df["id"] = [str(i) for i in range(len(df))]
    return df


def _rates(spec: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """{split: (n, errors)} -> a frame with that many examples and errors per split."""
    rows = []
    for split, (n, k) in spec.items():
        rows += [(split, "a", "b")] * k + [(split, "a", "a")] * (n - k)
    return _frame(rows)


def test_unlabeled_examples_are_not_counted():
    f = _frame([("dev", "a", "a"), ("dev", None, "b"), ("dev", "a", "b"), ("test", None, "a")])
    got = stats.split_counts(f)
    assert got["dev"]["examples"] == 2 and got["dev"]["errors"] == 1
    assert got["test"]["examples"] == 0 and got["test"]["errors"] == 0
    assert "train" not in got


def test_diagnosis_bias():
    d = stats.diagnose(stats.split_counts(_rates({"train": (40000, 6000), "dev": (40000, 6400)})))
    assert "Bias" in d and "Variance" not in d
    assert "too small" not in d


def test_diagnosis_variance():
    d = stats.diagnose(stats.split_counts(_rates({"train": (20000, 200), "dev": (20000, 2000)})))
    assert "Variance" in d and "Bias" not in d


def test_diagnosis_test_worse_than_dev():
    d = stats.diagnose(stats.split_counts(_rates({"train": (50000, 1000), "dev": (50000, 1100),
                                                  "test": (50000, 2500)})))
    assert "Test error" in d and "5.0%" in d and "2.2%" in d


def test_diagnosis_test_not_worse_beyond_chance():
    d = stats.diagnose(stats.split_counts(_rates({"train": (50000, 1000), "dev": (50000, 1100),
                                                  "test": (50000, 1120)})))
    assert "Test error" not in d


def test_diagnosis_dev_too_small_for_one_point():
    d = stats.diagnose(stats.split_counts(_rates({"train": (5000, 50), "dev": (300, 30)})))
    assert "too small" in d and "1-point" in d
    # how many it takes for a +-0.5 point interval at 10%: z^2 p (1-p) / 0.005^2
    need = math.ceil(Z * Z * 0.1 * 0.9 / 0.005 ** 2)
    assert f"{need:,}" in d


def test_diagnosis_dev_big_enough():
    # 1% error on 100k: the interval is about +-0.06 points
    d = stats.diagnose(stats.split_counts(_rates({"train": (100000, 900), "dev": (100000, 1000)})))
    assert "too small" not in d
    assert "Bias" not in d and "Variance" not in d


def test_diagnosis_dev_only_and_train_only():
    d = stats.diagnose(stats.split_counts(_rates({"dev": (1000, 100)})))
    assert "10.0%" in d and "training split" in d
    d = stats.diagnose(stats.split_counts(_rates({"train": (1000, 100)})))
    assert "dev split" in d


def test_diagnosis_of_the_sample_data(frame):
    d = stats.summary(frame, DIGITS_CLASSES)["diagnosis"]
    # train 12.2% >= the train-dev gap (-1.3 points): bias; 359 dev examples cannot tell 1 point apart
    assert "Bias" in d and "12.2%" in d
    assert "too small" in d and "359" in d
    assert "Test error" not in d  # test (3.1%) is better than dev


@pytest.mark.parametrize("split", ["dev", "train", "test"])
def test_confusion_matches_crosstab(frame, csv, split):
    m = stats.confusion(frame, DIGITS_CLASSES, split)
    part = csv[csv["split"] == split]
    ct = pd.crosstab(part["label"], part["pred"]).reindex(index=DIGITS_CLASSES, columns=DIGITS_CLASSES, fill_value=0)
    assert m.tolist() == ct.to_numpy().tolist()
    assert int(m.sum()) == len(part)
    assert int(m.sum() - np.trace(m)) == int((part["label"] != part["pred"]).sum())


def test_confusion_all_splits_and_unlabeled():
    f = _frame([("dev", "a", "b"), ("train", "b", "b"), ("dev", None, "a"), ("test", "b", "a")])
    assert stats.confusion(f, ["a", "b"], None).tolist() == [[0, 1], [1, 1]]
    assert stats.confusion(f, ["a", "b"], "dev").tolist() == [[0, 1], [0, 0]]
    # class order is the given order: rows = given label, columns = predicted
    assert stats.confusion(f, ["b", "a"], "dev").tolist() == [[0, 0], [1, 0]]


def test_per_class_against_crosstab(frame, csv):
    part = csv[csv["split"] == "dev"]
    rows = {r["class"]: r for r in stats.per_class(frame, DIGITS_CLASSES, "dev")}
    for c in DIGITS_CLASSES:
        given = part[part["label"] == c]
        predicted = part[part["pred"] == c]
        tp = int((given["pred"] == c).sum())
        assert rows[c]["support"] == len(given)
        assert rows[c]["errors"] == len(given) - tp
        assert rows[c]["recall"] == pytest.approx(tp / len(given))
        assert rows[c]["precision"] == pytest.approx(tp / len(predicted))


def test_summary_shape(frame):
    s = stats.summary(frame, DIGITS_CLASSES)
    assert set(s) == {"classes", "splits", "diagnosis"}
    assert s["classes"] == DIGITS_CLASSES
    for d in s["splits"].values():
        assert set(d) == {"examples", "errors", "error_rate", "ci95"}
        assert isinstance(d["examples"], int) and isinstance(d["errors"], int)
        assert len(d["ci95"]) == 2


def test_diagnosis_a_gap_that_could_be_chance_is_not_called_close():
    # train 1.0% of 10,000; dev 5.0% of 20: a 4-point gap, but z = 0.04 / sqrt(p(1-p)(1/10000 + 1/20))
    # with the pooled p = 101/10020 is about 1.78 < 1.96: not beyond chance
    p = 101 / 10020
    z = (1 / 20 - 0.01) / math.sqrt(p * (1 - p) * (1 / 10000 + 1 / 20))
    assert 1.5 < z < Z
    d = stats.diagnose(stats.split_counts(_rates({"train": (10000, 100), "dev": (20, 1)})))
    assert "low and close" not in d and "Variance" not in d and "Bias" not in d
    assert "could be chance" in d and "5.0%" in d and "1.0%" in d and "+4.0 points" in d
    # the same rates with a dev set big enough: variance
    d = stats.diagnose(stats.split_counts(_rates({"train": (10000, 100), "dev": (2000, 100)})))
    assert "Variance" in d and "could be chance" not in d


def test_diagnosis_low_and_close_when_it_is():
    d = stats.diagnose(stats.split_counts(_rates({"train": (10000, 100), "dev": (10000, 110)})))
    assert "low and close" in d and "could be chance" not in d
