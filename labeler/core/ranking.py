"""Rank examples by how likely their given label is wrong (label-quality scores from cleanlab).

cleanlab needs out-of-sample probabilities (cross-validated for the training set); with in-sample
probabilities every label looks right, and :func:`in_sample_warning` says so.
"""

from __future__ import annotations

import warnings

import numpy as np


def score_split(labels: np.ndarray, probs: np.ndarray, *, with_issues: bool = True):
    """Label-quality scores (lower = likelier wrong), a boolean mask of likely label issues, and the
    most likely label index, for examples with integer ``labels`` (0..K-1) and ``probs`` (n x K)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    quality = get_label_quality_scores(labels, probs)
    suggested = probs.argmax(axis=1)
    flagged = np.zeros(len(labels), dtype=bool)
    if with_issues and len(labels) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                flagged = find_label_issues(labels, probs, n_jobs=1)
            except (ValueError, IndexError):
                # cleanlab needs every class among the labels; fall back to "the model disagrees"
                flagged = suggested != labels
    return quality, flagged, suggested


def score_examples(ex) -> tuple[list, list, list]:
    """Scores for every labeled example with probabilities, computed per split."""
    n = len(ex.ids)
    quality = np.full(n, np.nan)
    flagged: list = [None] * n
    suggested: list = [None] * n
    if ex.probs is None:
        return quality, flagged, suggested
    index = {c: i for i, c in enumerate(ex.classes)}
    label_idx = np.array([index[l] if l is not None else -1 for l in ex.label])
    split = np.asarray(ex.split)
    for s in ("train", "dev", "test"):
        rows = np.flatnonzero((split == s) & (label_idx >= 0))
        if len(rows) == 0:
            continue
        q, f, sug = score_split(label_idx[rows], ex.probs[rows])
        quality[rows] = q
        for r, ff, ss in zip(rows.tolist(), np.asarray(f).tolist(), sug.tolist()):
            flagged[r] = int(ff)
            suggested[r] = ex.classes[ss]
    return quality, flagged, suggested


def in_sample_warning(labels: np.ndarray, probs: np.ndarray) -> str | None:
    """A reason to distrust the probabilities as in-sample, or None."""
    if len(labels) == 0:
        return None
    acc = float((probs.argmax(axis=1) == labels).mean())
    conf = float(np.median(probs.max(axis=1)))
    if acc >= 0.995 and conf >= 0.98:
        return (
            f"the probabilities look in-sample: training accuracy {acc:.1%} and median confidence {conf:.3f};"
            " label-quality ranking needs out-of-sample (cross-validated) probabilities"
        )
    return None
