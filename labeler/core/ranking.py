"""Rank examples by how likely their given label is wrong, with cleanlab's label-quality scores.

cleanlab needs out-of-sample probabilities (cross-validated for the training set); with in-sample
probabilities every label looks right, and :func:`in_sample_warning` says so. Without probabilities
the ranking falls back to the loss estimated from the prediction's confidence, which is weaker.

Ranking is on demand (``labeler rank``, or the window's "Training label issues" mode): importing
cleanlab alone takes seconds. :func:`compute` only reads the project, so it can run on a worker thread
with its own read-only connection; :func:`store` writes the result in one transaction, and
:func:`with_scores` puts it into an in-memory frame for a caller that must not write (``labeler queue``).
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from . import frame as framemod
from .queue import QueueSpec, build
from .store import Decision

Progress = Callable[[str, float], None]

CLEANLAB = "cleanlab"
CONFIDENCE = "confidence"  # no probabilities: the loss from the prediction's confidence


class RankCancelled(Exception):
    """The ranking was cancelled; nothing was stored."""


class RankProblem(ValueError):
    """The split cannot be ranked; the message says why."""


@dataclass
class RankResult:
    split: str
    ranked: int
    flagged: int
    method: str  # CLEANLAB | CONFIDENCE
    warnings: list[str] = field(default_factory=list)


@dataclass
class Scores:
    """Scores of the labeled examples of one split; ``rows`` are their positions in the frame."""

    split: str
    rows: np.ndarray
    quality: np.ndarray  # lower = likelier wrong
    flagged: np.ndarray  # bool: a likely label issue
    suggested: np.ndarray  # object: the most likely label
    method: str
    warnings: list[str] = field(default_factory=list)

    def result(self) -> RankResult:
        return RankResult(self.split, len(self.rows), int(self.flagged.sum()), self.method, list(self.warnings))


def score_split(labels: np.ndarray, probs: np.ndarray, suggested: np.ndarray | None = None,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str | None]:
    """Label-quality scores (lower = likelier wrong), a mask of likely label issues, the most likely
    label index (``suggested``, when the caller has it already), and a warning or None, for integer
    ``labels`` (0..K-1) and out-of-sample ``probs``.

    The quality is cleanlab's default score (``rank.get_label_quality_scores``, method
    "self_confidence"), computed by the function it delegates to after checking its inputs: that
    check walks the labels in Python (about 0.5 s per million); ours is vectorised."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_self_confidence_for_each_label

    labels = np.ascontiguousarray(labels, dtype=np.int64)
    probs = np.ascontiguousarray(probs, dtype=np.float64)
    _check(labels, probs)
    quality = get_self_confidence_for_each_label(labels, probs)
    if suggested is None:
        suggested = probs.argmax(axis=1)
    warning = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab warns about rare classes; the counts say enough
        try:
            flagged = np.asarray(find_label_issues(labels, probs, n_jobs=1), dtype=bool)
        except (ValueError, TypeError, IndexError, ZeroDivisionError) as e:
            flagged = suggested != labels
            warning = (f"cleanlab could not find label issues here ({e}); flagged instead: every example"
                       " whose most likely label is not the given one")
    return quality, flagged, suggested, warning


def _check(labels: np.ndarray, probs: np.ndarray) -> None:
    if probs.ndim != 2 or len(probs) != len(labels):
        raise RankProblem(f"{len(labels)} labels but probabilities of shape {probs.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise RankProblem("a label outside the classes of the probabilities")
    if not np.isfinite(probs).all() or (probs < 0).any() or (probs > 1).any():
        raise RankProblem("probabilities must be finite numbers between 0 and 1")


def in_sample_warning(labels: np.ndarray, probs: np.ndarray, top: np.ndarray | None = None) -> str | None:
    """A reason to distrust the probabilities as in-sample (accuracy near 100% on the given labels and
    confidence near 1 almost everywhere), or None. ``top``: ``probs.argmax(axis=1)`` if known."""
    if len(labels) == 0:
        return None
    top = probs.argmax(axis=1) if top is None else top
    acc = float((top == labels).mean())
    conf = float(np.median(np.take_along_axis(probs, top[:, None], axis=1)))
    return _in_sample_text(acc, conf)


def _in_sample_text(acc: float, conf: float) -> str | None:
    if acc >= 0.99 and conf >= 0.97:
        return (
            f"the probabilities look in-sample (accuracy {acc:.1%} on the given labels, median confidence"
            f" {conf:.3f}): cleanlab needs out-of-sample probabilities, e.g. cross-validated predictions"
            " for the training set; otherwise few label issues can be found"
        )
    return None


def weaker_text(project, loss: np.ndarray) -> str:
    why = ("the class probabilities were not kept at import (too many classes)" if project.meta("has_probs")
           else "no class probabilities in the predictions file")
    how = ("ranked by the loss estimated from the prediction's confidence" if not np.isnan(loss).all()
           else "no confidence either: the misclassified examples come first, in file order")
    return f"{why}: {how}, a weaker ranking than cleanlab's; every misclassified example counts as flagged"


def stored_warnings(project, frame: pd.DataFrame, split: str) -> list[str]:
    """The warnings :func:`compute` gave for the scores stored for ``split`` (the weaker fallback, or
    in-sample-looking predictions), from the frame alone: nothing to recompute."""
    rows = _labeled_rows(frame, split)
    if len(rows) == 0:
        return []
    loss = frame["loss"].to_numpy(dtype=np.float64)[rows]
    if project.meta("ranking", {}).get(split) == CONFIDENCE:
        return [weaker_text(project, loss)]
    return _frame_in_sample(frame, rows)


def _frame_in_sample(frame: pd.DataFrame, rows: np.ndarray) -> list[str]:
    """:func:`in_sample_warning` from the columns the import computed (no pass over the probabilities):
    the accuracy of the prediction on the given labels, and its median confidence. The prediction is
    the most likely class unless the predictions file said otherwise."""
    acc = 1.0 - float(frame["wrong"].to_numpy(dtype=bool)[rows].mean())
    conf = frame["confidence"].to_numpy(dtype=np.float64)[rows]
    text = None if np.isnan(conf).all() else _in_sample_text(acc, float(np.nanmedian(conf)))
    return [text] if text else []


def _labeled_rows(frame: pd.DataFrame, split: str) -> np.ndarray:
    return np.flatnonzero((frame["split"] == split).to_numpy() & framemod.labeled(frame))


def _label_codes(labels: np.ndarray, classes: list[str]) -> np.ndarray:
    """Class indices of text labels (-1: not a class). Arrow's hash lookup: about 5x faster than
    pandas' on a million Python strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    idx = pc.index_in(pa.array(labels, pa.string()), value_set=pa.array(classes, pa.string()))
    return idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def has_scores(frame: pd.DataFrame, split: str) -> bool:
    """Whether the labeled examples of ``split`` carry scores (a split with none counts as scored).
    Read from the scores themselves, not from the project's meta: a re-import drops the scores."""
    rows = _labeled_rows(frame, split)
    return len(rows) == 0 or not np.isnan(frame["quality"].to_numpy(dtype=np.float64)[rows]).all()


def compute(project, frame: pd.DataFrame, split: str = "train", *, progress: Progress | None = None,
            cancel: threading.Event | None = None) -> Scores:
    """Score every labeled example of ``split`` (``frame`` is :func:`labeler.core.frame.load` of
    ``project``). Only reads the project. Raises :class:`RankCancelled` or :class:`RankProblem`."""
    report = progress or (lambda stage, frac: None)

    def check_cancel() -> None:
        if cancel is not None and cancel.is_set():
            raise RankCancelled("ranking cancelled")

    classes = project.classes
    rows = _labeled_rows(frame, split)
    codes = _label_codes(frame["label"].to_numpy()[rows], classes)
    if (codes < 0).any():
        raise RankProblem(f"the label {frame['label'].iloc[rows[codes < 0][0]]!r} is not a class of this project")
    if len(rows) == 0:
        empty = np.zeros(0)
        return Scores(split, rows, empty, empty.astype(bool), empty.astype(object), CLEANLAB,
                      [f"no labeled {split} examples to rank"])
    report("reading", 0.0)
    probs = project.probabilities()
    check_cancel()
    notes: list[str] = []
    if probs is None and project.meta("ranking", {}).get(split) == CLEANLAB and has_scores(frame, split):
        # too many classes to keep the matrix: the import ranked with it, and that stands
        q = frame["quality"].to_numpy(dtype=np.float64)[rows]
        f = frame["flagged"].to_numpy()[rows].astype(bool)
        sug = frame["suggested"].to_numpy()[rows]
        return Scores(split, rows, q, f, sug, CLEANLAB, ["ranked at import (the probabilities are not kept)"])
    if probs is not None:
        if len(probs) != len(frame):
            raise RankProblem(f"{len(probs)} rows of probabilities for {len(frame)} examples")
        p = probs if len(rows) == len(probs) else probs[rows]
        del probs
        notes += _frame_in_sample(frame, rows)  # the import's confidence and errors: no pass over p
        report("scoring", 0.2)
        quality, flagged, sug, fallback = score_split(codes, p)
        if fallback:
            notes.append(fallback)
        suggested = np.asarray(classes, dtype=object)[sug]
        method = CLEANLAB
    else:
        loss = frame["loss"].to_numpy(dtype=np.float64)[rows]
        wrong = frame["wrong"].to_numpy(dtype=bool)[rows]
        # the estimated probability of the given label; with no confidence either, right or wrong
        quality = np.where(np.isnan(loss), np.where(wrong, 0.0, 1.0), np.exp(-loss))
        flagged = wrong
        suggested = frame["pred"].to_numpy()[rows]
        method = CONFIDENCE
        notes.append(weaker_text(project, loss))
    check_cancel()
    report("scored", 0.9)
    return Scores(split, rows, np.asarray(quality, dtype=np.float64), np.asarray(flagged, dtype=bool),
                  np.asarray(suggested, dtype=object), method, notes)


def store(project, scores: Scores) -> RankResult:
    """Write ``scores`` into the project (one transaction)."""
    project.store_scores(scores.split, scores.rows, scores.quality, scores.flagged, scores.suggested,
                         scores.method)
    return scores.result()


def rank(project, frame: pd.DataFrame, split: str = "train", *, progress: Progress | None = None,
         cancel: threading.Event | None = None) -> RankResult:
    """Score every labeled example of ``split`` and store the scores in the project."""
    scores = compute(project, frame, split, progress=progress, cancel=cancel)
    if cancel is not None and cancel.is_set():
        raise RankCancelled("ranking cancelled")
    result = store(project, scores)
    if progress is not None:
        progress("done", 1.0)
    return result


def with_scores(frame: pd.DataFrame, scores: Scores) -> pd.DataFrame:
    """A copy of ``frame`` carrying ``scores`` (as :func:`labeler.core.frame.load` would after :func:`store`)."""
    out = frame.copy()
    q = out["quality"].to_numpy(dtype=np.float64, copy=True)
    f = out["flagged"].to_numpy(dtype=object, copy=True)
    s = out["suggested"].to_numpy(dtype=object, copy=True)
    q[scores.rows] = scores.quality
    f[scores.rows] = scores.flagged
    s[scores.rows] = scores.suggested
    out["quality"], out["flagged"], out["suggested"] = q, pd.Series(f, dtype=object), pd.Series(s, dtype=object)
    return out


def ranked(frame: pd.DataFrame, split: str = "train") -> pd.DataFrame:
    """Every labeled example of ``split``, lowest quality (likeliest wrong) first."""
    return build(frame, QueueSpec(split=split, order="quality", scope="all", allow_test=True))


def records(rows: pd.DataFrame, decisions: Mapping[str, Decision] | None = None) -> list[dict]:
    """What ``labeler rank --json`` prints, one dict per row of :func:`ranked`. ``corrected``: the
    label a reviewer already corrected it to (None: not corrected), from ``decisions``."""
    quality = rows["quality"].to_numpy(dtype=np.float64)
    decisions = decisions or {}
    return [
        {"id": i, "given": g, "suggested": s, "quality": None if np.isnan(q) else float(q),
         "flagged": bool(f) if f is not None else False,
         "corrected": decisions[i].label if i in decisions else None}
        for i, g, s, q, f in zip(rows["id"].tolist(), rows["label"].tolist(), rows["suggested"].tolist(),
                                 quality.tolist(), rows["flagged"].tolist())
    ]


# -- how the flags hold up under review -------------------------------------------------------


@dataclass(frozen=True)
class FlagStats:
    """The flagged examples of a split, how many are reviewed, and how many of those the reviewer
    judged wrongly labeled (a corrected label or the mislabeled tag): the precision of the flags."""

    flagged: int = 0
    reviewed: int = 0
    wrong: int = 0

    @property
    def precision(self) -> float | None:
        return self.wrong / self.reviewed if self.reviewed else None

    def after(self, before, after) -> "FlagStats":
        """These figures once one flagged example's decision went from ``before`` to ``after``."""
        return FlagStats(
            self.flagged,
            self.reviewed + int(after.reviewed) - int(before.reviewed),
            self.wrong + int(after.reviewed and after.is_wrong_label) - int(before.reviewed and before.is_wrong_label),
        )

    def describe(self) -> str:
        if not self.reviewed:
            return f"{self.flagged} flagged, none reviewed yet"
        return (f"{self.flagged} flagged, {self.reviewed} reviewed, {self.wrong} wrong:"
                f" precision so far {self.precision:.0%}")


def flagged_ids(frame: pd.DataFrame, split: str) -> list[str]:
    mask = (frame["split"] == split).to_numpy() & frame["flagged"].fillna(False).to_numpy(dtype=bool)
    return frame["id"].to_numpy()[mask].tolist()


def flag_stats(frame: pd.DataFrame, decisions: Mapping | Callable, split: str = "train") -> FlagStats:
    """:class:`FlagStats` of ``split`` from the decisions: example id -> Decision, as a mapping or a
    function (e.g. ``ReviewSession.decision``)."""
    decision_of = decisions.get if isinstance(decisions, Mapping) else decisions
    ids = flagged_ids(frame, split)
    reviewed = wrong = 0
    for eid in ids:
        d = decision_of(eid)
        if d is not None and d.reviewed:
            reviewed += 1
            wrong += int(d.is_wrong_label)
    return FlagStats(len(ids), reviewed, wrong)
