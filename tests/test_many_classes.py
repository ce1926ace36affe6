"""Issue 7: probabilities for very many classes are not all kept (the project would grow by 8 bytes
per class per example); the import then ranks while it has them, and the ranking equals cleanlab's
on the same matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores

from labeler.core import frame as framemod, importer, ranking
from labeler.core.store import Project


def test_matrix_over_the_limit_is_ranked_at_import_and_not_kept(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    n, k = 600, 12
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probs = np.round(probs, 6)
    df = pd.DataFrame({"id": [f"x{i}" for i in range(n)], "path": [f"{i}.png" for i in range(n)],
                       "split": "train", "label": [f"c{v}" for v in labels]})
    for j in range(k):
        df[f"p_c{j}"] = probs[:, j]
    src = tmp_path / "many.csv"
    df.to_csv(src, index=False)
    monkeypatch.setattr(importer, "MAX_STORED_PROBS", n * k * 8 - 1)  # just too big to keep
    summary = importer.import_predictions(src)
    assert any("ranking was computed now" in w for w in summary.warnings)
    with Project.open(tmp_path / "many.labeler.db") as p:
        assert p.probabilities() is None
        frame = framemod.load(p)
        result = ranking.rank(p, frame, "train")  # keeps the import's scores, not a weaker fallback
        assert result.method == "cleanlab"
        frame = framemod.load(p)
    got = frame.set_index("id")
    want_q = get_label_quality_scores(labels, probs)
    want_f = find_label_issues(labels, probs)
    assert np.allclose(got.loc[df["id"], "quality"].to_numpy(dtype=float), want_q)
    assert got.loc[df["id"], "flagged"].to_numpy(dtype=bool).tolist() == want_f.tolist()
    assert got.loc[df["id"], "suggested"].tolist() == [f"c{j}" for j in probs.argmax(axis=1)]


def test_top_k_is_kept_when_the_matrix_is_not(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    n, k = 300, 40
    probs = np.round(rng.dirichlet(np.ones(k) * 0.3, n), 2)  # rounded: many ties
    df = pd.DataFrame({"id": [f"x{i}" for i in range(n)], "path": "a.png", "split": "dev",
                       "label": [f"c{v}" for v in rng.integers(0, k, n)]})
    for j in range(k):
        df[f"p_c{j}"] = probs[:, j]
    src = tmp_path / "many.csv"
    df.to_csv(src, index=False)
    monkeypatch.setattr(importer, "MAX_STORED_PROBS", 1)
    importer.import_predictions(src)
    with Project.open(tmp_path / "many.labeler.db", readonly=True) as p:
        assert p.probabilities() is None
        for i in range(n):
            want = sorted(range(k), key=lambda c: (-probs[i, c], c))[:5]  # ties: the first class first
            assert p.example_at(i)["topk"] == [[c, probs[i, c]] for c in want]


def test_top_k_of_a_matrix_orders_ties_as_a_stable_sort():
    rng = np.random.default_rng(8)
    for k in (1, 2, 5, 7, 30):
        m = rng.integers(0, 4, (500, k)).astype(float) / 4  # few distinct values: ties everywhere
        top, top_p = importer._topk(np.asfortranarray(m), 5)
        want = np.argsort(-m, axis=1, kind="stable")[:, : min(5, k)]
        assert (top == want).all()
        assert (top_p == np.take_along_axis(m, want, axis=1)).all()
