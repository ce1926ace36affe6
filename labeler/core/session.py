"""What a reviewer can do: one plain function per key, with undo and redo.

A :class:`ReviewSession` walks a queue of examples. Every change is written to the project (one
transaction) before it returns, so what the window shows as saved is on disk. Listeners (the window's
panels) are told about every change and every move.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable, Mapping

import pandas as pd

from . import frame as framemod
from .queue import QueueSpec, build
from .store import BUILTIN_TAGS, Decision, Project, ProjectError


@dataclass(frozen=True)
class Change:
    """One recorded edit of one example's decision, which undo reverses."""

    example_id: str
    before: Decision
    after: Decision
    action: str


@dataclass(frozen=True)
class SessionEvent:
    kind: str  # "moved" | "decision" | "queue"
    example_id: str | None = None
    change: Change | None = None


Listener = Callable[[SessionEvent], None]


class ReviewSession:
    def __init__(
        self,
        project: Project,
        spec: QueueSpec = QueueSpec(),
        *,
        reviewer: str | None = None,
        frame: pd.DataFrame | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.project = project
        self.reviewer = reviewer
        self.frame = frame if frame is not None else framemod.load(project)
        self._decisions: dict[str, Decision] = project.decisions()
        self._undo: list[Change] = []
        self._redo: list[Change] = []
        self._listeners: list[Listener] = []
        self._clock = clock
        self._advances: deque[float] = deque(maxlen=21)
        self._started = clock()
        self.items_done = 0
        self.session_id = None if project.readonly else project.start_session(reviewer, spec.to_json())
        self.spec = spec
        self._row_of: dict[str, int] = {}
        self.items: list[str] = []
        self.position = 0
        self.set_queue(spec)

    # -- listeners -----------------------------------------------------------------------------
    def subscribe(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def _emit(self, event: SessionEvent) -> None:
        for fn in list(self._listeners):
            fn(event)

    # -- the queue -----------------------------------------------------------------------------
    def set_queue(self, spec: QueueSpec) -> None:
        """Switch to another queue; start at its first unreviewed item."""
        rows = build(self.frame, replace(spec, unreviewed=False))
        if self.session_id is not None and spec != self.spec:
            # each queue gets its own session row: the tally asks which queue each decision was
            # made in (a random, unfiltered queue is a random sample; a loss-ordered one is not)
            with contextlib.suppress(ProjectError):
                self.project.end_session(self.session_id, self.items_done)
            self.session_id = self.project.start_session(self.reviewer, spec.to_json())
        self.spec = spec
        self.items = rows["id"].tolist()
        # where each queued example sits in the project's file order (= the frame's rows)
        self._row_of.update(zip(self.items, rows["row"].tolist()))
        if spec.unreviewed:
            self.items = [i for i in self.items if not self.decision(i).reviewed]
        self.position = self.first_unreviewed()
        self._emit(SessionEvent("queue", self.current_id))

    def first_unreviewed(self) -> int:
        for i, eid in enumerate(self.items):
            if not self.decision(eid).reviewed:
                return i
        return max(0, len(self.items) - 1) if self.items else 0

    @property
    def current_id(self) -> str | None:
        return self.items[self.position] if self.items else None

    def decision(self, example_id: str) -> Decision:
        return self._decisions.get(example_id, Decision())

    def reload_decisions(self) -> None:
        """Re-read the decisions from the project, after a change made there directly (a renamed
        error type rewrites the decisions that carry it)."""
        self._decisions = self.project.decisions()

    def reviewed_count(self) -> int:
        """How many items of the queue are reviewed (walks the decisions, not the queue's items)."""
        if len(self._decisions) < len(self.items):
            queued = set(self.items)
            return sum(1 for eid, d in self._decisions.items() if d.reviewed and eid in queued)
        return sum(1 for i in self.items if self.decision(i).reviewed)

    def row_of(self, example_id: str) -> int | None:
        """The example's position in the project's file order."""
        row = self._row_of.get(example_id)
        if row is None:
            row = self.project.example_row(example_id)
            if row is not None:
                self._row_of[example_id] = row
        return row

    def path_of(self, example_id: str) -> str | None:
        """The example's file as the predictions file gives it (no other column is read)."""
        row = self.row_of(example_id)
        return None if row is None else self.project.path_at(row)

    def example(self, example_id: str | None = None, *, topk: bool = True) -> dict | None:
        eid = example_id if example_id is not None else self.current_id
        row = None if eid is None else self.row_of(eid)
        return None if row is None else self.project.example_at(row, topk=topk)

    # -- moving --------------------------------------------------------------------------------
    def goto(self, index: int) -> None:
        if not self.items:
            return
        index = max(0, min(index, len(self.items) - 1))
        if index != self.position:
            self.position = index
            self._emit(SessionEvent("moved", self.current_id))

    def next(self) -> None:
        """Space/Return/Right: record this item as reviewed (if nothing else was) and go on."""
        eid = self.current_id
        if eid is None:
            return
        if not self.decision(eid).reviewed:
            self._apply(eid, replace(self.decision(eid), reviewed=True), "reviewed")
        self._advances.append(self._clock())
        self.items_done += 1
        self.goto(self.position + 1)

    def prev(self) -> None:
        self.goto(self.position - 1)

    # -- deciding ------------------------------------------------------------------------------
    def _apply(self, eid: str, after: Decision, action: str, *, record: bool = True) -> Change:
        before = self.decision(eid)
        after = replace(after, reviewed=True)
        saved = self.project.write_decision(
            eid, before, after, action, reviewer=self.reviewer, session_id=self.session_id
        )
        self._decisions[eid] = saved
        change = Change(eid, before, saved, action)
        if record:
            self._undo.append(change)
            self._redo.clear()
        self._emit(SessionEvent("decision", eid, change))
        return change

    def suggested_label(self, example_id: str | None = None) -> str | None:
        """What P accepts: the suggested label in a label-quality queue, else the prediction."""
        ex = self.frame_row(example_id)
        if ex is None:
            return None
        if self.spec.order == "quality" and isinstance(ex.get("suggested"), str):
            return ex["suggested"]
        return ex["pred"]

    def frame_row(self, example_id: str | None = None) -> dict | None:
        eid = example_id if example_id is not None else self.current_id
        if eid is None:
            return None
        row = self.row_of(eid)
        return None if row is None else self.frame.iloc[row].to_dict()

    def accept_prediction(self) -> None:
        """P: the given label is wrong and the predicted (or suggested) label is right; again to undo."""
        eid = self.current_id
        if eid is None:
            return
        target = self.suggested_label(eid)
        row = self.frame_row(eid)
        d = self.decision(eid)
        if d.label == target:
            self._apply(eid, replace(d, label=None), "clear label")
        elif target is not None and target != row["label"]:
            self._apply(eid, replace(d, label=target), f"label {target}")

    def set_label(self, label: str | None) -> None:
        """L: the correct label is ``label`` (None clears the correction)."""
        eid = self.current_id
        if eid is None:
            return
        if label is not None and label not in self.project.classes:
            raise ValueError(f"{label!r} is not a class of this project")
        row = self.frame_row(eid)
        if label is not None and label == row["label"]:
            label = None  # "corrected" to the given label: nothing to correct
        d = self.decision(eid)
        if d.label != label or not d.reviewed:
            self._apply(eid, replace(d, label=label), f"label {label}" if label else "clear label")

    def toggle_tag(self, tag: str) -> None:
        """M, A, H, E: mislabeled, ambiguous, very hard, very easy."""
        if tag not in BUILTIN_TAGS:
            raise ValueError(f"unknown tag {tag!r}")
        eid = self.current_id
        if eid is None:
            return
        d = self.decision(eid)
        tags = set(d.tags) ^ {tag}
        opposite = {"very hard": "very easy", "very easy": "very hard"}.get(tag)
        if opposite and tag in tags:
            tags.discard(opposite)  # an example is not both very hard and very easy
        self._apply(eid, replace(d, tags=frozenset(tags)), ("+" if tag in tags else "-") + tag)

    def toggle_error_type(self, which: int | str) -> None:
        """1..9: toggle the error type at that position of the taxonomy (1-based), or by name."""
        eid = self.current_id
        if eid is None:
            return
        names = self.project.error_types()
        if isinstance(which, int):
            if not 1 <= which <= len(names):
                return
            name = names[which - 1]
        else:
            if which not in names:
                raise ValueError(f"no error type {which!r}")
            name = which
        d = self.decision(eid)
        ets = set(d.error_types) ^ {name}
        self._apply(eid, replace(d, error_types=frozenset(ets)), ("+" if name in ets else "-") + name)

    def set_note(self, note: str) -> None:
        """N: the note on this example (empty clears it)."""
        eid = self.current_id
        if eid is None:
            return
        d = self.decision(eid)
        note = note.strip()
        if note != d.note:
            self._apply(eid, replace(d, note=note), "note")

    # -- undo ----------------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def rename_in_history(self, renames: Mapping[str, str]) -> None:
        """Error types renamed in the project (old -> new): the undo and redo history follows, so
        undoing a change made before the rename does not bring an old name back."""

        def renamed(d: Decision) -> Decision:
            if not d.error_types & renames.keys():
                return d
            return replace(d, error_types=frozenset(renames.get(e, e) for e in d.error_types))

        for stack in (self._undo, self._redo):
            stack[:] = [replace(c, before=renamed(c.before), after=renamed(c.after)) for c in stack]

    def undo(self) -> None:
        """Ctrl+Z: put back the decision as it was before the last change, and show that item."""
        if not self._undo:
            return
        change = self._undo.pop()
        self._restore(change.example_id, change.before, "undo " + change.action)
        self._redo.append(change)

    def redo(self) -> None:
        """Ctrl+Shift+Z / Ctrl+Y."""
        if not self._redo:
            return
        change = self._redo.pop()
        self._restore(change.example_id, change.after, "redo " + change.action)
        self._undo.append(change)

    def _restore(self, eid: str, state: Decision, action: str) -> None:
        before = self.decision(eid)
        saved = self.project.write_decision(eid, before, state, action, reviewer=self.reviewer, session_id=self.session_id)
        self._decisions[eid] = saved
        if eid in self.items:
            self.goto(self.items.index(eid))
        self._emit(SessionEvent("decision", eid, Change(eid, before, saved, action)))

    # -- pace ----------------------------------------------------------------------------------
    def pace(self) -> tuple[float | None, float | None]:
        """Items per minute over the last 20 items, and over the whole session."""
        recent = None
        if len(self._advances) >= 2:
            span = self._advances[-1] - self._advances[0]
            if span > 0:
                recent = 60.0 * (len(self._advances) - 1) / span
        total = None
        elapsed = self._clock() - self._started
        if self.items_done and elapsed > 0:
            total = 60.0 * self.items_done / elapsed
        return recent, total

    def close(self) -> None:
        """End the session. Its bookkeeping (end time, item count) is not a decision: failing to
        write it (a full disk) must not keep the project from closing."""
        if self.session_id is not None:
            session_id, self.session_id = self.session_id, None
            with contextlib.suppress(ProjectError):
                self.project.end_session(session_id, self.items_done)
