"""The review queue: which examples to look at, in which order.

The default is the misclassified dev examples in a seeded random order. The order comes from a
hash of (seed, id), so it is stable across restarts and does not change when a filter (such as
"unreviewed") removes items.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .frame import labeled

ORDERS = ("random", "loss", "confidence", "quality", "file")
SCOPES = ("errors", "all", "flagged", "disagreements", "slice", "duplicates")


class QueueRefused(ValueError):
    """The queue asked for is not allowed (reviewing the test split without --allow-test)."""


@dataclass(frozen=True)
class QueueSpec:
    split: str = "dev"
    order: str = "random"
    seed: int = 0
    # errors: misclassified only; all: every labeled example; flagged: likely label issues;
    # disagreements: where reviewers' blind labels disagree with each other or with the reference;
    # slice: the errors of the slice named by ``slice`` (labeler.core.quality.slices); duplicates:
    # the members of duplicate groups that leak across splits or have conflicting labels
    scope: str = "errors"
    label: str | None = None
    pred: str | None = None
    unreviewed: bool = False
    allow_test: bool = False
    slice: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        what = {"errors": "errors", "all": "examples", "flagged": "flagged label issues",
                "disagreements": "examples reviewers disagree on", "slice": f"errors in slice {self.slice}",
                "duplicates": "leaking or conflicting duplicates"}[self.scope]
        bits = [f"{self.split} {what}"]
        if self.label is not None and self.pred is not None:
            bits.append(f"given {self.label} → predicted {self.pred}")
        elif self.label is not None:
            bits.append(f"given {self.label}")
        elif self.pred is not None:
            bits.append(f"predicted {self.pred}")
        bits.append(f"by {self.order}" + (f" (seed {self.seed})" if self.order == "random" else ""))
        if self.unreviewed:
            bits.append("unreviewed")
        return ", ".join(bits)


TEST_REFUSAL = (
    "The test split is kept out of review: looking at test errors and acting on them turns the test set"
    " into a second dev set, and its error rate stops being an unbiased estimate. Review dev instead,"
    " or pass --allow-test if you really mean to."
)


def random_keys(ids: pd.Series, seed: int) -> np.ndarray:
    key = f"{seed & 0xFFFFFFFFFFFFFFFF:016x}"[:16]
    return pd.util.hash_pandas_object(ids, index=False, hash_key=key).to_numpy()


def build(frame: pd.DataFrame, spec: QueueSpec, reviewed: set[str] | None = None, *,
          only: set[str] | None = None) -> pd.DataFrame:
    """The rows of ``frame`` (see :func:`labeler.core.frame.load`) in queue order; ``only``: the ids
    of the "disagreements" scope (see :func:`labeler.core.agreement.disagreements`), or of the
    "slice" and "duplicates" scopes (see :func:`labeler.core.quality.queue_ids`)."""
    if spec.order not in ORDERS:
        raise ValueError(f"unknown order {spec.order!r} (orders: {', '.join(ORDERS)})")
    if spec.scope not in SCOPES:
        raise ValueError(f"unknown scope {spec.scope!r}")
    if spec.split == "test" and not spec.allow_test:
        raise QueueRefused(TEST_REFUSAL)
    mask = (frame["split"] == spec.split).to_numpy() & labeled(frame)
    if spec.scope == "errors":
        mask &= frame["wrong"].to_numpy(dtype=bool)
    elif spec.scope == "flagged":
        mask &= frame["flagged"].fillna(0).to_numpy(dtype=bool)
    elif spec.scope in ("disagreements", "slice", "duplicates"):
        mask &= frame["id"].isin(only or ()).to_numpy()
    if spec.label is not None:
        mask &= (frame["label"] == spec.label).to_numpy()
    if spec.pred is not None:
        mask &= (frame["pred"] == spec.pred).to_numpy()
    if spec.unreviewed and reviewed:
        mask &= ~frame["id"].isin(reviewed).to_numpy()
    part = frame[mask]
    if spec.order == "random":
        keys = random_keys(part["id"], spec.seed)
        idx = np.argsort(keys, kind="stable")
    elif spec.order == "loss":
        idx = np.lexsort((part["row"].to_numpy(), -part["loss"].fillna(-np.inf).to_numpy()))
    elif spec.order == "confidence":
        idx = np.lexsort((part["row"].to_numpy(), -part["confidence"].fillna(-np.inf).to_numpy()))
    elif spec.order == "quality":
        q = part["quality"].to_numpy(dtype=np.float64)
        if np.isnan(q).all():  # no probabilities: the loss from the confidence is the best we have
            q = -part["loss"].fillna(-np.inf).to_numpy()
        # the flagged first (cleanlab's flags need not be the lowest scores), each part by quality
        unflagged = ~part["flagged"].fillna(0).to_numpy(dtype=bool) if "flagged" in part else np.zeros(len(part), bool)
        idx = np.lexsort((part["row"].to_numpy(), np.nan_to_num(q, nan=np.inf), unflagged))
    else:
        idx = np.argsort(part["row"].to_numpy(), kind="stable")
    return part.iloc[idx]
