"""Blind relabeling: a reviewer labels a seeded random sample of a split without seeing the given
label, the prediction, the probabilities or the loss. One plain function per key, with undo and redo.

The labels are that reviewer's own (:mod:`labeler.core.annotations`), kept apart from corrections of
the given label; :mod:`labeler.core.agreement` turns them into agreement and human-level error.
Keys 1-9 and 0 choose the 1st to 10th class in the project's class order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import annotations
from . import frame as framemod
from .store import Project, ProjectError

from .splits import SPLITS


@dataclass(frozen=True)
class BlindSpec:
    """Which examples: a seeded random sample of ``sample`` examples of ``split`` (all, if None)."""

    split: str = "dev"
    sample: int | None = None
    seed: int = 0

    def describe(self) -> str:
        what = f"a random sample of {self.sample}" if self.sample else "all"
        return f"blind labels: {what} {self.split} examples (seed {self.seed})"


@dataclass(frozen=True)
class BlindChange:
    example_id: str
    before: str | None
    after: str | None


Listener = Callable[[str, tuple], None]  # ("moved", ()) or ("labeled", the example ids labeled)


class OwnLabelSession:
    """Walks a list of examples giving each one the reviewer's own label (stored with
    :mod:`labeler.core.annotations`); every label is written (one transaction) before the call
    returns. :class:`BlindSession` and :class:`labeler.core.labeling.LabelSession` choose the list."""

    source = annotations.BLIND  # what the stored labels say they are

    def __init__(self, project: Project, spec, reviewer: str, items: list[str]):
        self.project = project
        self.spec = spec
        self.reviewer = reviewer.strip()
        self.classes = list(project.classes)
        self.items: list[str] = items
        table = project.examples_table()
        self._paths = dict(zip(table.column("id").to_pylist(), table.column("path").to_pylist()))
        mine = annotations.labels(project).get(self.reviewer, {})
        self._labels = {eid: mine[eid] for eid in self.items if eid in mine}
        self._undo: list[list[BlindChange]] = []  # one step: one key, one or many examples
        self._redo: list[list[BlindChange]] = []
        self._listeners: list[Listener] = []
        self.session_id = None if project.readonly else project.start_session(self.reviewer, {"own labels": spec.describe()})
        self.position = next((i for i, eid in enumerate(self.items) if eid not in self._labels), 0)


    # -- what the view asks ------------------------------------------------------------------
    @property
    def current_id(self) -> str | None:
        return self.items[self.position] if 0 <= self.position < len(self.items) else None

    def path_of(self, example_id: str) -> str | None:
        return self._paths.get(example_id)

    def example(self, example_id: str | None = None, *, topk: bool = False) -> dict | None:
        """Only what a blind reviewer may see: the id, the path or text, and the metadata."""
        eid = example_id if example_id is not None else self.current_id
        ex = self.project.example(eid, topk=False) if eid is not None else None
        if ex is None:
            return None
        return {k: ex.get(k) for k in ("id", "split", "path", "text", "meta")}

    def label_of(self, example_id: str | None = None) -> str | None:
        eid = example_id if example_id is not None else self.current_id
        return self._labels.get(eid)

    def labeled_count(self) -> int:
        return len(self._labels)

    def key_of(self, cls: str) -> str | None:
        """The key that chooses ``cls``: 1-9 and 0 for the first ten classes."""
        i = self.classes.index(cls)
        return str((i + 1) % 10) if i < 10 else None

    def subscribe(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def _emit(self, what: str, ids: tuple = ()) -> None:
        for fn in list(self._listeners):
            fn(what, ids)

    # -- keys --------------------------------------------------------------------------------
    def choose(self, key: int) -> None:
        """Keys 1-9 and 0: the 1st-10th class, then the next example."""
        index = (key - 1) % 10
        if index >= len(self.classes):
            return
        self.pick(self.classes[index])

    def pick(self, label: str, *, source: str | None = None) -> None:
        """Label the current example (``L`` chooses any class), then move on."""
        eid = self.current_id
        if eid is None:
            return
        if label not in self.classes:
            raise ProjectError(f"{label!r} is not a class of this project")
        self._set(eid, label, record=True, source=source)
        self.next()

    def pick_many(self, ids: list[str], label: str, *, source: str | None = None) -> None:
        """One label for several examples (a selection in a grid): one transaction, one undo step."""
        if label not in self.classes:
            raise ProjectError(f"{label!r} is not a class of this project")
        if ids:
            self._apply({eid: label for eid in ids}, record=True, source=source)

    def skip(self) -> None:
        """Shift+Right: the next example, without a label."""
        self.next()

    def next(self) -> None:
        if self.position < len(self.items):
            self.position += 1
            self._emit("moved")

    def prev(self) -> None:
        if self.position > 0:
            self.position -= 1
            self._emit("moved")

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> None:
        """Take back the last label and go back to its example."""
        self._replay(self._undo, self._redo, undo=True)

    def redo(self) -> None:
        self._replay(self._redo, self._undo, undo=False)

    def _replay(self, source: list[list[BlindChange]], target: list[list[BlindChange]], *, undo: bool) -> None:
        if not source:
            return
        step = source.pop()
        self._apply({c.example_id: c.before if undo else c.after for c in step}, record=False)
        target.append(step)
        self._goto(step[0].example_id)

    def close(self) -> None:
        if self.session_id is not None:
            self.project.end_session(self.session_id, len(self._labels))

    # -- internals ---------------------------------------------------------------------------
    def _set(self, eid: str, label: str | None, *, record: bool, source: str | None = None) -> None:
        self._apply({eid: label}, record=record, source=source)

    def _apply(self, labels: dict[str, str | None], *, record: bool, source: str | None = None) -> None:
        before = annotations.set_labels(self.project, labels, self.reviewer, session_id=self.session_id,
                                        source=source or self.source)
        for eid, label in labels.items():
            if label is None:
                self._labels.pop(eid, None)
            else:
                self._labels[eid] = label
        if record:
            self._undo.append([BlindChange(eid, before[eid], label) for eid, label in labels.items()])
            self._redo.clear()
        self._emit("labeled", tuple(labels))

    def _goto(self, eid: str) -> None:
        if eid in self.items:
            self.position = self.items.index(eid)
        self._emit("moved")


class BlindSession(OwnLabelSession):
    """Blind labels of a seeded random sample of a split."""

    def __init__(self, project: Project, spec: BlindSpec, reviewer: str):
        if not reviewer or not reviewer.strip():
            raise ProjectError("blind labeling needs --reviewer NAME: a blind label is one reviewer's label")
        if spec.split not in SPLITS:
            raise ProjectError(f"unknown split {spec.split!r}")
        if spec.sample is not None and spec.sample < 1:
            raise ProjectError(f"--sample {spec.sample}: give a positive number of examples")
        frame = framemod.load(project)
        ids = frame.loc[frame["split"] == spec.split, "id"].to_numpy()
        order = np.random.default_rng(spec.seed).permutation(len(ids))
        if spec.sample is not None:
            order = order[: spec.sample]
        super().__init__(project, spec, reviewer, [str(ids[i]) for i in order])
