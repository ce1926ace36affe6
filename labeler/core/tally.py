"""The tally of error categories over the reviewed errors of a split, projected onto all its errors,
and the train/dev/test dashboard with the estimates the review makes possible.

Intervals: a category's share among the reviewed errors gets a 95% Wilson interval with a finite
population correction, because the reviewed errors are a sample drawn without replacement from the
split's errors: n reviewed of N errors count as n_eff = n (N - 1) / (N - n) independent draws. When every
error has been reviewed (n = N) the share is exact and the interval collapses onto it.

Projecting from the reviewed errors onto all errors is only sound when they are a random sample: a
queue ordered by loss, or filtered to one class or confusion cell, is not. Then the tally says so and
gives counts and shares of the reviewed errors only.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from .stats import Z95, diagnose, split_counts
from .store import BUILTIN_TAGS, Decision, Project


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
    return (max(0.0, centre - half), min(1.0, centre + half))


def categories_of(d: Decision, error_types: list[str]) -> list[str]:
    """The categories one reviewed example counts in."""
    out = []
    if d.label is not None or "mislabeled" in d.tags:
        out.append("mislabeled")
    out += [t for t in BUILTIN_TAGS[1:] if t in d.tags]
    out += [e for e in error_types if e in d.error_types]
    return out or ["untagged"]


def random_sample_ids(project: Project) -> set[str] | None:
    """Ids whose decisions were all made in an unfiltered, randomly ordered queue; None if no
    session is recorded."""
    rows = project.conn.execute(
        "SELECT e.example_id, s.queue FROM events e LEFT JOIN sessions s ON s.id = e.session_id"
    ).fetchall()
    if not rows:
        return None
    bad: set[str] = set()
    good: set[str] = set()
    for eid, queue in rows:
        q = json.loads(queue) if queue else {}
        ok = q.get("order") == "random" and q.get("label") is None and q.get("pred") is None
        (good if ok else bad).add(eid)
    return good - bad


def tally(
    frame: pd.DataFrame,
    decisions: dict[str, Decision],
    error_types: list[str],
    split: str = "dev",
    *,
    random_ids: set[str] | None = None,
) -> dict:
    """The tally of ``labeler tally --format json``. ``random_ids``: the ids reviewed in a random,
    unfiltered queue (None = treat every review as part of a random sample)."""
    part = frame[(frame["split"] == split) & frame["label"].notna()]
    labeled = int(len(part))
    error_ids = part.loc[part["wrong"].to_numpy(dtype=bool), "id"]
    errors = int(len(error_ids))
    reviewed_ids = [i for i in error_ids if i in decisions and decisions[i].reviewed]
    n = len(reviewed_ids)
    error_rate = errors / labeled if labeled else 0.0
    exact = n == errors and errors > 0
    random_sample = exact or random_ids is None or all(i in random_ids for i in reviewed_ids)

    counts: dict[str, int] = {name: 0 for name in (*BUILTIN_TAGS, *error_types, "untagged")}
    for i in reviewed_ids:
        for c in categories_of(decisions[i], error_types):
            counts[c] = counts.get(c, 0) + 1
    cats = []
    for name, k in counts.items():
        kind = "builtin" if name in BUILTIN_TAGS or name == "untagged" else "error_type"
        share = k / n if n else 0.0
        lo, hi = wilson_fpc(k, n, errors)
        entry = {"name": name, "kind": kind, "count": k, "share": share, "ci95": [lo, hi]}
        if random_sample:
            entry["projected_errors"] = share * errors
            entry["projected_ci95"] = [lo * errors, hi * errors]
            entry["ceiling"] = share * error_rate
            entry["ceiling_ci95"] = [lo * error_rate, hi * error_rate]
        else:
            entry["projected_errors"] = None
            entry["ceiling"] = None
        cats.append(entry)
    cats.sort(key=lambda c: (c["name"] == "untagged", -c["count"]))
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
        return f"None of the {errors} errors reviewed yet."
    if exact:
        return f"All {errors} errors reviewed: the figures are exact."
    if not random_sample:
        return (
            f"{n} of {errors} errors reviewed, not as a random sample (a queue ordered by loss or filtered):"
            " the shares describe the reviewed errors only and are not projected onto all errors."
        )
    return f"{n} of {errors} errors reviewed in random order: shares projected onto all {errors} errors, with 95% intervals."


def project_tally(project: Project, frame: pd.DataFrame, split: str = "dev") -> dict:
    return tally(frame, project.decisions(), project.error_types(), split, random_ids=random_sample_ids(project))


def dashboard(frame: pd.DataFrame, decisions: dict[str, Decision], dev_tally: dict) -> dict:
    """Train/dev/test error with intervals and gaps, the diagnosis, and two estimates from the review:
    the dev error once the labels marked wrong are corrected, and a rough floor on achievable error."""
    splits = split_counts(frame)
    out: dict = {"splits": splits, "diagnosis": diagnose(splits)}
    rates = {s: d["error_rate"] for s, d in splits.items()}
    out["gaps"] = {
        "train_to_dev": rates["dev"] - rates["train"] if "dev" in rates and "train" in rates else None,
        "dev_to_test": rates["test"] - rates["dev"] if "dev" in rates and "test" in rates else None,
    }
    t = dev_tally
    n, errors, rate = t["reviewed"], t["errors"], t["error_rate"]
    if n and t["random_sample"]:
        part = frame[(frame["split"] == t["split"]) & frame["wrong"].to_numpy(dtype=bool)]
        reviewed = [(i, p) for i, p in zip(part["id"], part["pred"]) if i in decisions and decisions[i].reviewed]
        # An error goes away once the label is corrected to what the model predicted.
        fixed = sum(1 for i, p in reviewed if decisions[i].label == p)
        lo, hi = wilson_fpc(fixed, n, errors)
        share = fixed / n
        out["dev_error_corrected"] = {
            "error_rate": rate * (1 - share), "ci95": [rate * (1 - hi), rate * (1 - lo)],
            "fixed_share": share,
        }
        hard = sum(
            1 for i, _ in reviewed
            if decisions[i].label is not None or decisions[i].tags & {"mislabeled", "ambiguous", "very hard"}
        )
        lo, hi = wilson_fpc(hard, n, errors)
        out["error_floor"] = {"error_rate": rate * hard / n, "ci95": [rate * lo, rate * hi]}
    else:
        out["dev_error_corrected"] = None
        out["error_floor"] = None
    return out
