"""Rank examples by how likely their given label is wrong, with cleanlab's label-quality scores.

cleanlab needs out-of-sample probabilities (cross-validated for the training set); with in-sample
probabilities every label looks right, and :func:`in_sample_warning` says so. Without probabilities
the ranking falls back to the loss estimated from the prediction's confidence, which is weaker.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class RankResult:
    split: str
    ranked: int
    flagged: int
    method: str  # "cleanlab" | "confidence"
    warnings: list[str] = field(default_factory=list)


def score_split(labels: np.ndarray, probs: np.ndarray):
    """Label-quality scores (lower = likelier wrong), a mask of likely label issues and the most
    likely label index, for integer ``labels`` (0..K-1) and out-of-sample ``probs`` (n x K)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    quality = get_label_quality_scores(labels, probs)
    suggested = probs.argmax(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            flagged = np.asarray(find_label_issues(labels, probs, n_jobs=1), dtype=bool)
        except (ValueError, IndexError, ZeroDivisionError):
            # cleanlab needs every class among the labels; fall back to "the model disagrees"
            flagged = suggested != labels
    return quality, flagged, suggested


def in_sample_warning(labels: np.ndarray, probs: np.ndarray) -> str | None:
    """A reason to distrust the probabilities as in-sample, or None."""
    if len(labels) == 0:
        return None
    acc = float((probs.argmax(axis=1) == labels).mean())
    conf = float(np.median(probs.max(axis=1)))
    if acc >= 0.99 and conf >= 0.97:
        return (
            f"the probabilities look in-sample (accuracy {acc:.1%} on the given labels, median confidence"
            f" {conf:.3f}): cleanlab needs out-of-sample probabilities, e.g. cross-validated predictions"
            " for the training set; otherwise few label issues can be found"
        )
    return None


def rank(project, frame: pd.DataFrame, split: str = "train", *, cancel: threading.Event | None = None) -> RankResult:
    """Score every labeled example of ``split`` and store the scores in the project."""
    classes = project.classes
    mask = (frame["split"] == split).to_numpy() & frame["label"].notna().to_numpy()
    rows = np.flatnonzero(mask)
    labels = frame["label"].to_numpy()[rows]
    index = {c: i for i, c in enumerate(classes)}
    label_idx = np.array([index[v] for v in labels], dtype=np.int64)
    probs = project.probabilities()
    result_warnings: list[str] = []
    if probs is not None and len(rows):
        p = probs[rows].astype(np.float64)
        warn = in_sample_warning(label_idx, p)
        if warn:
            result_warnings.append(warn)
        quality, flagged, sug = score_split(label_idx, p)
        suggested = np.asarray(classes, dtype=object)[sug]
        method = "cleanlab"
    else:
        loss = frame["loss"].to_numpy(dtype=np.float64)[rows]
        quality = np.exp(-np.nan_to_num(loss, nan=0.0))  # the estimated probability of the given label
        flagged = frame["wrong"].to_numpy(dtype=bool)[rows]
        suggested = frame["pred"].to_numpy()[rows]
        method = "confidence"
        result_warnings.append(
            "no class probabilities in the predictions file: ranked by the loss estimated from the"
            " prediction's confidence, a weaker ranking than cleanlab's"
        )
    if cancel is not None and cancel.is_set():
        raise InterruptedError("ranking cancelled")
    project.store_scores(split, rows, np.asarray(quality, dtype=np.float64), np.asarray(flagged, dtype=bool),
                         [str(s) for s in suggested], method)
    return RankResult(split, len(rows), int(np.sum(flagged)), method, result_warnings)


def score_examples(ex) -> tuple[np.ndarray, list, list]:
    """Scores for every labeled example with probabilities, computed per split at import."""
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
        for r, ff, ss in zip(rows.tolist(), f.tolist(), sug.tolist()):
            flagged[r] = int(ff)
            suggested[r] = ex.classes[ss]
    return quality, flagged, suggested
