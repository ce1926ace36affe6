"""The tally of error categories over the reviewed errors of a split, projected onto all its errors,
and the train/dev/test dashboard with the estimates the review makes possible.

Intervals: a category's share among the reviewed errors gets a 95% Wilson interval with a finite
population correction, because the reviewed errors are a sample drawn without replacement from the
split's errors: n reviewed of N errors count as n_eff = n (N - 1) / (N - n) independent draws. When every
error has been reviewed (n = N) the share is exact and the interval collapses onto it.

Projecting from the reviewed errors onto all errors is only sound when they are a random sample: a
queue ordered by loss, or filtered to one class or confusion cell, is not. Then the tally says so and
gives counts and shares of the reviewed errors only.

What changes with a decision is small: :class:`ErrorIndex` holds what the examples say (per split, the
labeled examples and the errors with their predictions), computed once per frame; :class:`LiveTally`
keeps the decisions and the random sample up to date from the session's changes, so a refresh after
one decision costs the reviewed errors, not the examples.
"""

from __future__ import annotations

import json
import math
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from . import frame as framemod
from .stats import SPLITS, Z95, diagnose, examples_for_halfwidth, gap_margin, plural, wilson
from .store import BUILTIN_TAGS, Decision, Project

UNTAGGED = "untagged"
# Tags whose errors no model fix removes: the rough floor on achievable error (with corrected labels).
FLOOR_TAGS = frozenset({"mislabeled", "ambiguous", "very hard"})


def wilson_fpc(k: int, n: int, population: int, z: float = Z95) -> tuple[float, float]:
    """Wilson interval for k of n, sampled without replacement from ``population``."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    if population <= n:
        return (p, p)
    n_eff = n * (population - 1) / (population - n)
    denom = 1 + z * z / n_eff
    centre = (p + z * z / (2 * n_eff)) / denom
    half = z * math.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff * n_eff)) / denom
    # at k = 0 or k = n one bound is exactly 0 or 1; rounding must not leave the share outside
    lo = 0.0 if k <= 0 else max(0.0, min(p, centre - half))
    hi = 1.0 if k >= n else min(1.0, max(p, centre + half))
    return (lo, hi)


def _categories(d: Decision, error_types: Iterable[str]) -> list[tuple[str, str]]:
    """(kind, name) of the categories one reviewed example counts in."""
    out = []
    if d.is_wrong_label:  # a corrected label, or tagged M
        out.append(("builtin", "mislabeled"))
    out += [("builtin", t) for t in BUILTIN_TAGS[1:] if t in d.tags]
    out += [("error_type", e) for e in error_types if e in d.error_types]
    return out or [("builtin", UNTAGGED)]


def categories_of(d: Decision, error_types: list[str]) -> list[str]:
    """The categories one reviewed example counts in."""
    return [name for _, name in _categories(d, error_types)]


def is_random_queue(queue: Mapping | None) -> bool:
    """Is a queue (``QueueSpec.to_json()``) a random sample of a split's errors? Only an unfiltered
    queue in random order is: not one ordered by loss, filtered to a class or a confusion cell, or
    made of flagged label issues."""
    q = queue or {}
    return (q.get("order") == "random" and q.get("label") is None and q.get("pred") is None
            and q.get("scope", "errors") in ("errors", "all"))


def _reviewed(state) -> bool:
    return bool(state.reviewed) if isinstance(state, Decision) else bool((state or {}).get("reviewed"))


def random_sample_ids(project: Project) -> set[str] | None:
    """Ids picked for review by a random, unfiltered queue: the change that last made the example
    reviewed was made in such a queue (a later edit from another queue does not un-pick it). None if
    no change is recorded at all."""
    rows = project.conn.execute(
        "SELECT e.example_id, e.before, e.after, s.queue FROM events e"
        " LEFT JOIN sessions s ON s.id = e.session_id WHERE e.action != 'blind label' ORDER BY e.seq"
    ).fetchall()
    if not rows:
        return None
    picked: dict[str, bool] = {}
    queues: dict[str | None, bool] = {}
    for eid, before, after, queue in rows:
        if not _reviewed(json.loads(before) if before else None) and _reviewed(json.loads(after) if after else None):
            if queue not in queues:
                queues[queue] = is_random_queue(json.loads(queue) if queue else None)
            picked[eid] = queues[queue]
    return {eid for eid, ok in picked.items() if ok}


class SplitErrors:
    """One split's labeled examples and its errors (id -> predicted label)."""

    __slots__ = ("examples", "pred")

    def __init__(self, examples: int, pred: dict[str, str]):
        self.examples = examples
        self.pred = pred

    @property
    def errors(self) -> int:
        return len(self.pred)


class ErrorIndex:
    """What the tally and the dashboard need from the examples, computed once per frame: a decision
    changes none of it."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self._split = frame["split"]  # categorical (frame.load): comparisons are of codes
        labeled = framemod.labeled(frame)
        self._labeled = labeled
        self._wrong = frame["wrong"].to_numpy(dtype=bool) & labeled
        self._by_split: dict[str, SplitErrors] = {}
        self._masks: dict[str, np.ndarray] = {}
        self._split_counts: dict | None = None

    @classmethod
    def of(cls, source: "pd.DataFrame | ErrorIndex") -> "ErrorIndex":
        return source if isinstance(source, ErrorIndex) else cls(source)

    def _mask(self, name: str) -> np.ndarray:
        if name not in self._masks:
            self._masks[name] = (self._split == name).to_numpy(dtype=bool)
        return self._masks[name]

    def split(self, name: str) -> SplitErrors:
        if name not in self._by_split:
            mask = self._mask(name)
            wrong = mask & self._wrong
            # only the errors' ids become Python strings (the id column may be Arrow-backed)
            ids = self.frame["id"][wrong].tolist()
            preds = self.frame["pred"].to_numpy(dtype=object)[wrong]
            self._by_split[name] = SplitErrors(int(np.count_nonzero(mask & self._labeled)), dict(zip(ids, preds)))
        return self._by_split[name]

    @property
    def split_counts(self) -> dict[str, dict]:
        """What :func:`labeler.core.stats.split_counts` returns, from the masks (ten times faster on
        a million rows than filtering the frame per split)."""
        if self._split_counts is None:
            out = {}
            for s in SPLITS:
                mask = self._mask(s)
                if not mask.any():
                    continue
                n = int(np.count_nonzero(mask & self._labeled))
                k = int(np.count_nonzero(mask & self._wrong))
                lo, hi = wilson(k, n)
                out[s] = {"examples": n, "errors": k, "error_rate": (k / n) if n else 0.0, "ci95": [lo, hi]}
            self._split_counts = out
        return self._split_counts


def tally(
    frame: "pd.DataFrame | ErrorIndex",
    decisions: Mapping[str, Decision],
    error_types: list[str],
    split: str = "dev",
    *,
    random_ids: set[str] | None = None,
) -> dict:
    """The tally of ``labeler tally --format json``. ``frame``: the examples (or their
    :class:`ErrorIndex`). ``random_ids``: the ids picked for review by a random, unfiltered queue
    (None = treat every review as part of a random sample).

    Categories are sorted by count (ties in taxonomy order); "untagged" (reviewed errors in no
    category) comes last."""
    part = ErrorIndex.of(frame).split(split)
    labeled, errors = part.examples, part.errors
    reviewed_ids = [i for i, d in decisions.items() if d.reviewed and i in part.pred]
    n = len(reviewed_ids)
    error_rate = errors / labeled if labeled else 0.0
    exact = n == errors and errors > 0
    random_sample = exact or random_ids is None or all(i in random_ids for i in reviewed_ids)

    keys = [("builtin", t) for t in BUILTIN_TAGS] + [("error_type", e) for e in error_types] + [("builtin", UNTAGGED)]
    counts = dict.fromkeys(keys, 0)
    for i in reviewed_ids:
        for key in _categories(decisions[i], error_types):
            counts[key] += 1
    project = bool(random_sample and n)
    cats = []
    for (kind, name), k in counts.items():
        share = k / n if n else 0.0
        lo, hi = wilson_fpc(k, n, errors)
        entry = {"name": name, "kind": kind, "count": k, "share": share, "ci95": [lo, hi]}
        if project:
            entry["projected_errors"] = share * errors
            entry["projected_ci95"] = [lo * errors, hi * errors]
            entry["ceiling"] = share * error_rate
            entry["ceiling_ci95"] = [lo * error_rate, hi * error_rate]
        else:
            entry["projected_errors"] = None
            entry["ceiling"] = None
        cats.append(entry)
    cats.sort(key=lambda c: (c["name"] == UNTAGGED and c["kind"] == "builtin", -c["count"]))
    return {
        "split": split,
        "examples": labeled,
        "errors": errors,
        "reviewed": n,
        "error_rate": error_rate,
        "random_sample": bool(random_sample),
        "exact": exact,
        "note": _note(n, errors, random_sample, exact),
        "categories": cats,
    }


def _note(n: int, errors: int, random_sample: bool, exact: bool) -> str:
    if errors == 0:
        return "No errors in this split."
    if n == 0:
        return f"None of the {errors} errors reviewed yet." if errors != 1 else "The one error is not reviewed yet."
    if exact:
        return (f"All {errors} errors reviewed: the figures are exact." if errors != 1
                else "The one error is reviewed: the figures are exact.")
    if not random_sample:
        return (
            f"{n} of {plural(errors, 'error')} reviewed, not as a random sample (a queue ordered by loss or filtered):"
            " the shares describe the reviewed errors only and are not projected onto all errors."
        )
    return (f"{n} of {plural(errors, 'error')} reviewed in random order: shares projected onto all {errors} errors,"
            " with 95% intervals.")


def project_tally(project: Project, frame: pd.DataFrame, split: str = "dev") -> dict:
    return tally(frame, project.decisions(), project.error_types(), split, random_ids=random_sample_ids(project))


_gap_margin = gap_margin


def dashboard(frame: "pd.DataFrame | ErrorIndex", decisions: Mapping[str, Decision], dev_tally: dict) -> dict:
    """Train/dev/test error with intervals and gaps, the diagnosis, and two estimates from the review:
    the dev error once the labels marked wrong are corrected, and a rough floor on achievable error.
    ``dev_warning`` says when the dev set is too small for the differences shown (else None)."""
    index = ErrorIndex.of(frame)
    splits = index.split_counts
    out: dict = {"splits": splits, "diagnosis": diagnose(splits)}
    rates = {s: d["error_rate"] for s, d in splits.items()}
    out["gaps"] = {
        "train_to_dev": rates["dev"] - rates["train"] if "dev" in rates and "train" in rates else None,
        "dev_to_test": rates["test"] - rates["dev"] if "dev" in rates and "test" in rates else None,
    }
    t = dev_tally
    n, errors, rate = t["reviewed"], t["errors"], t["error_rate"]
    if n and t["random_sample"]:
        part = index.split(t["split"])
        reviewed = [(i, part.pred[i]) for i, d in decisions.items() if d.reviewed and i in part.pred]
        # An error goes away once the label is corrected to what the model predicted.
        fixed = sum(1 for i, p in reviewed if decisions[i].label == p)
        lo, hi = wilson_fpc(fixed, n, errors)
        share = fixed / n
        out["dev_error_corrected"] = {
            "error_rate": rate * (1 - share), "ci95": [rate * (1 - hi), rate * (1 - lo)],
            "fixed_share": share, "fixed": fixed, "reviewed": n,
        }
        hard = sum(1 for i, _ in reviewed if decisions[i].is_wrong_label or decisions[i].tags & FLOOR_TAGS)
        lo, hi = wilson_fpc(hard, n, errors)
        out["error_floor"] = {"error_rate": rate * hard / n, "ci95": [rate * lo, rate * hi],
                              "share": hard / n, "count": hard, "reviewed": n}
    else:
        out["dev_error_corrected"] = None
        out["error_floor"] = None
    out["dev_warning"] = _dev_warning(splits, out)
    return out


def _dev_warning(splits: dict, dash: dict) -> str | None:
    """The differences shown that the dev set is too small to tell from chance (None: none, or the
    dev set pins its error rate to ±0.5 points or better)."""
    dv = splits.get("dev")
    if not dv or not dv["examples"]:
        return None
    lo, hi = dv["ci95"]
    half = (hi - lo) / 2
    if half <= 0.005:
        return None
    within = []
    for other, key, what in (("train", "train_to_dev", "train → dev gap"), ("test", "dev_to_test", "dev → test gap")):
        gap = dash["gaps"].get(key)
        if gap is not None and abs(gap) < _gap_margin(dv, splits[other]):
            within.append(f"the {what} ({100 * gap:+.1f} ± {100 * _gap_margin(dv, splits[other]):.1f} points)")
    corrected = dash.get("dev_error_corrected")
    if corrected and dv["error_rate"] - corrected["error_rate"] < half:
        gain = dv["error_rate"] - corrected["error_rate"]
        within.append(f"the gain from correcting labels ({100 * gain:.1f} points, under the dev error's ±{100 * half:.1f})")
    if not within:
        return None
    need = examples_for_halfwidth(dv["error_rate"], 0.005)
    return (f"The dev set ({plural(dv['examples'], 'example')}) is too small for " + " and ".join(within)
            + f": differences that size are within chance. About {need:,} dev examples would pin its error"
            " rate to ±0.5 points.")


class LiveTally:
    """The tally and the dashboard of one project, kept current from the review session's changes.

    The examples are indexed once (:class:`ErrorIndex`); each change updates one decision and, when it
    makes an example reviewed, whether that example was picked by a random queue. A refresh then
    costs the reviewed errors only."""

    def __init__(self, project: Project, frame: pd.DataFrame):
        self.index = ErrorIndex(frame)
        self.index.split_counts, self.index.split("dev")  # the dashboard's, counted now rather than at the first key
        self.error_types = project.error_types()
        self.decisions: dict[str, Decision] = project.decisions()
        picked = random_sample_ids(project)
        # no change recorded: whatever is reviewed counts as random, as in project_tally
        self.random_ids = set(picked) if picked is not None else {i for i, d in self.decisions.items() if d.reviewed}

    def apply(self, example_id: str, before: Decision, after: Decision, queue: Mapping | None) -> None:
        """One change, made while reviewing ``queue`` (``QueueSpec.to_json()``)."""
        self.decisions[example_id] = after
        if not before.reviewed and after.reviewed:
            if is_random_queue(queue):
                self.random_ids.add(example_id)
            else:
                self.random_ids.discard(example_id)

    def reload(self, project: Project) -> None:
        """After a change made to the project directly (a renamed error type rewrites decisions)."""
        self.error_types = project.error_types()
        self.decisions = project.decisions()

    def tally(self, split: str = "dev") -> dict:
        return tally(self.index, self.decisions, self.error_types, split, random_ids=self.random_ids)

    def dashboard(self, dev_tally: dict | None = None) -> dict:
        return dashboard(self.index, self.decisions, dev_tally if dev_tally is not None else self.tally("dev"))
