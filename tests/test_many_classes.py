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
