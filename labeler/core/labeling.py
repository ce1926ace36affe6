"""Labeling from scratch: the unlabeled examples of a project (a folder of images, or the empty label
cells of a file), labeled by a person with the model's suggestion at hand.

The queue is every unlabeled example (of every split, unless one is named), ordered for active
learning: ``uncertainty`` puts the smallest margin between the two most probable classes first
(``entropy``: the highest entropy first; ``least-confidence``: the lowest top probability first),
``random`` is seeded, ``file`` is the file order and ``pred`` groups the examples by their suggested
class. Keys 1-9 and 0 choose the 1st-10th class, ``P`` accepts the suggestion; each label is that
reviewer's own, stored with its time and whether it was typed (``human``) or the suggestion accepted
(``suggestion accepted``), never mixed up with a given label.
"""

from __future__ import annotations

import getpass
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import annotations
from . import frame as framemod
from .blind import SPLITS, OwnLabelSession
from .queue import random_keys
from .store import Project, ProjectError

ORDERS = ("uncertainty", "entropy", "least-confidence", "random", "file", "pred")
HUMAN = "human"
ACCEPTED = "suggestion accepted"


@dataclass(frozen=True)
class LabelSpec:
    split: str | None = None  # None: every split
    order: str = "uncertainty"
    seed: int = 0

    def describe(self) -> str:
        where = f"{self.split} " if self.split else ""
        return f"label the unlabeled {where}examples, by {self.order}"


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "me"


def ordered(frame: pd.DataFrame, probs: np.ndarray | None, spec: LabelSpec) -> list[str]:
    """The unlabeled examples of ``spec.split`` (every split if None) in ``spec.order``."""
    if spec.order not in ORDERS:
        raise ProjectError(f"unknown order {spec.order!r} (orders: {', '.join(ORDERS)})")
    mask = ~framemod.labeled(frame)
    if spec.split is not None:
        if spec.split not in SPLITS:
            raise ProjectError(f"unknown split {spec.split!r}")
        mask &= (frame["split"] == spec.split).to_numpy()
    part = frame[mask]
    rows = part["row"].to_numpy()
    order = spec.order
    if order in ("uncertainty", "entropy", "least-confidence") and probs is None:
        order = "file"  # no probabilities: nothing to be uncertain about
    if order == "random":
        idx = np.argsort(random_keys(part["id"], spec.seed), kind="stable")
    elif order == "file":
        idx = np.argsort(rows, kind="stable")
    elif order == "pred":
        idx = np.lexsort((rows, part["pred"].fillna("\uffff").astype(str).to_numpy()))
    else:
        p = np.asarray(probs)[rows]
        if order == "uncertainty":
            top2 = -np.partition(-p, 1, axis=1)[:, :2] if p.shape[1] > 1 else np.c_[p, np.zeros(len(p))]
            key = top2[:, 0] - top2[:, 1]  # smallest margin first
        elif order == "entropy":
            with np.errstate(divide="ignore", invalid="ignore"):
                key = np.nansum(np.where(p > 0, p * np.log(p), 0.0), axis=1)  # = -entropy: highest first
        else:
            key = p.max(axis=1)  # least confident first
        idx = np.lexsort((rows, key))
    return part["id"].to_numpy()[idx].tolist()


class LabelSession(OwnLabelSession):
    """Walks the unlabeled examples; ``P`` accepts the model's suggestion."""

    source = HUMAN

    def __init__(self, project: Project, spec: LabelSpec = LabelSpec(), reviewer: str | None = None,
                 *, clock=time.monotonic):
        frame = framemod.load(project)
        probs = project.probabilities()
        if not project.classes:
            raise ProjectError("the project has no classes to label with: import the folder with --classes a,b,c")
        items = ordered(frame, probs, spec)
        # what the keys need, for the queue's examples only (counted once: not on every key press)
        queued = frame.set_index("id").loc[items, ["row", "pred"]] if items else frame.iloc[:0].set_index("id")
        self._pred = dict(zip(items, queued["pred"].tolist()))
        self._prob = {}
        if probs is not None:
            index = {c: i for i, c in enumerate(project.classes)}
            self._prob = {eid: float(probs[r, index[p]]) for eid, r, p in zip(items, queued["row"], queued["pred"])
                          if isinstance(p, str) and p in index}
        self._given_counts = Counter(v for v in frame["label"].tolist() if isinstance(v, str))
        self._clock = clock
        self._times: list[float] = []
        super().__init__(project, spec, reviewer or default_reviewer(), items)
        self._suggested = Counter(self._suggested_of(e) for e in items)  # the queue per suggested class

    def suggestion(self, example_id: str | None = None) -> tuple[str, float | None] | None:
        """The model's suggested class and its probability, where there is a prediction."""
        eid = example_id if example_id is not None else self.current_id
        p = self._pred.get(eid)
        return (p, self._prob.get(eid)) if isinstance(p, str) else None

    def accept_suggestion(self) -> None:
        """P: the suggestion is the label; then the next example."""
        s = self.suggestion()
        if s is not None:
            self.pick(s[0], source=ACCEPTED)

    def accept_many(self, ids: list[str]) -> None:
        """P on a selection: each example gets its own suggestion; one transaction, one undo step."""
        labels = {eid: self._pred[eid] for eid in ids if isinstance(self._pred.get(eid), str)}
        if labels:
            self._apply(labels, record=True, source=ACCEPTED)

    def _apply(self, labels, *, record, source=None) -> None:
        super()._apply(labels, record=record, source=source)
        if record:
            now = self._clock()
            self._times += [now] * sum(label is not None for label in labels.values())

    def pace(self) -> float | None:
        """Labels a minute over the last 20."""
        t = self._times[-21:]
        return None if len(t) < 5 or t[-1] <= t[0] else 60 * (len(t) - 1) / (t[-1] - t[0])

    def progress(self) -> dict:
        """Per class, the examples labeled (given, or by this reviewer); per suggested class, the
        queue's examples still unlabeled; and how many of the queue are done."""
        labeled = self._given_counts + Counter(self._labels.values())  # (this reviewer's labels of the queue)
        unlabeled = self._suggested - Counter(self._suggested_of(e) for e in self._labels)
        return {"labeled": dict(labeled), "unlabeled": dict(unlabeled), "done": len(self._labels),
                "total": len(self.items)}

    def _suggested_of(self, eid: str) -> str:
        p = self._pred.get(eid)
        return p if isinstance(p, str) else ""
