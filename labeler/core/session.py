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
from typing import Callable, Iterable, Mapping

import pandas as pd

from . import frame as framemod
from .queue import QueueSpec, build
from .store import BUILTIN_TAGS, Decision, Project, ProjectError, ProjectGone


@dataclass(frozen=True)
class Change:
    """One recorded edit of one example's decision, which undo reverses."""

    example_id: str
    before: Decision
    after: Decision
    action: str


@dataclass(frozen=True)
class Batch:
    """One decision key applied to many selected examples (the grid): one transaction, one undo step."""

    changes: tuple[Change, ...]
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
        self._undo: list[Change | Batch] = []
        self._redo: list[Change | Batch] = []
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
        only = None
        if spec.scope == "disagreements":  # settled with L: the final label becomes a correction
            from .agreement import disagreements

            only = set(disagreements(self.project, spec.split, frame=self.frame))
        elif spec.scope in ("slice", "duplicates"):
            from .quality import queue_ids

            only = queue_ids(self.project, spec, frame=self.frame)
        rows = build(self.frame, replace(spec, unreviewed=False), only=only)
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
        self.items = self._share(spec, self.items)
        if spec.unreviewed:
            self.items = [i for i in self.items if not self.decision(i).reviewed]
        self.position = self.first_unreviewed()
        self._emit(SessionEvent("queue", self.current_id))

    def _share(self, spec: QueueSpec, items: list[str]) -> list[str]:
        """This reviewer's part of the queue ``items``: all of it, reviewing alone (a team review
        takes the items it claims from the server's shared queue: labeler.core.team_review)."""
        return items

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
        if not self.decision(eid).reviewed and not self.project.readonly:  # read-only: just look
            self._apply(eid, replace(self.decision(eid), reviewed=True), "reviewed")
        self._advances.append(self._clock())
        self.items_done += 1
        self.goto(self.position + 1)

    def prev(self) -> None:
        """Left/Backspace (and Shift+Left): the previous item; nothing is marked."""
        self.goto(self.position - 1)

    def skip(self) -> None:
        """Shift+Right: the next item without marking this one reviewed (browsing is not reviewing)."""
        self.goto(self.position + 1)

    @property
    def at_end(self) -> bool:
        """On the queue's last item (a Next there has nowhere to go)."""
        return bool(self.items) and self.position == len(self.items) - 1

    def unreviewed_left(self) -> int:
        return len(self.items) - self.reviewed_count()

    def next_unreviewed(self) -> bool:
        """Go to the next unreviewed item after this one (from the start once past the end); False
        when every item of the queue is reviewed."""
        n = len(self.items)
        for k in range(1, n + 1):
            i = (self.position + k) % n
            if not self.decision(self.items[i]).reviewed:
                self.goto(i)
                return True
        return False

    def find(self, query: str) -> int | None:
        """Ctrl+G: where in the queue the example is whose id is ``query``, else whose path is it or
        ends with it (``images/003.png``, ``003.png``); None when the queue has none."""
        query = query.strip()
        if not query:
            return None
        if query in self._row_of and query in self.items:
            return self.items.index(query)
        tail = "/" + query.lstrip("/")
        for i, eid in enumerate(self.items):
            if eid == query:
                return i
            path = self.path_of(eid)
            if path is not None and (path == query or path.replace("\\", "/").endswith(tail)):
                return i
        return None

    def jump(self, query: str) -> bool:
        """Ctrl+G: go to that example (see :meth:`find`); nothing is marked."""
        i = self.find(query)
        if i is None:
            return False
        self.goto(i)
        return True

    # -- deciding ------------------------------------------------------------------------------
    # Every decision key takes ``ids``: the examples selected in the grid. Without it, the current
    # item. Many at once are written in one transaction and undone with one Ctrl+Z.
    def _targets(self, ids: Iterable[str] | None) -> list[str]:
        if ids is None:
            return [] if self.current_id is None else [self.current_id]
        return [eid for eid in dict.fromkeys(ids) if self.row_of(eid) is not None]

    def _apply(self, eid: str, after: Decision, action: str, *, record: bool = True) -> Change:
        before = self.decision(eid)
        after = replace(after, reviewed=True)
        try:
            saved = self.project.write_decision(
                eid, before, after, action, reviewer=self.reviewer, session_id=self.session_id
            )
        except ProjectGone:
            # the project file is gone: the decision stays on screen (and in the recovery file the
            # store wrote), and the window says it is not saved
            self._decisions[eid] = after
            self._emit(SessionEvent("decision", eid, Change(eid, before, after, action)))
            raise
        self._decisions[eid] = saved
        change = Change(eid, before, saved, action)
        if record:
            self._undo.append(change)
            self._redo.clear()
        self._emit(SessionEvent("decision", eid, change))
        return change

    def _apply_all(self, edits: list[tuple[str, Decision, str]], action: str) -> None:
        """Write ``(example_id, after, action)`` for each; one item is one Change, more are a Batch."""
        if len(edits) == 1:
            self._apply(*edits[0])
            return
        if not edits:
            return
        rows = [(eid, self.decision(eid), replace(after, reviewed=True), act) for eid, after, act in edits]
        saved = self.project.write_decisions(rows, reviewer=self.reviewer, session_id=self.session_id)
        changes = []
        for (eid, before, _, act), s in zip(rows, saved):
            self._decisions[eid] = s
            changes.append(Change(eid, before, s, act))
        self._undo.append(Batch(tuple(changes), f"{action} ({len(changes)} examples)"))
        self._redo.clear()
        for change in changes:
            self._emit(SessionEvent("decision", change.example_id, change))

    def suggested_label(self, example_id: str | None = None) -> str | None:
        """What P accepts: the suggested label in a label-quality queue, else the prediction."""
        eid = example_id if example_id is not None else self.current_id
        row = None if eid is None else self.row_of(eid)
        if row is None:
            return None
        # two cells, not the whole row: the panel asks on every key
        if self.spec.order == "quality" and "suggested" in self.frame.columns:
            suggested = self.frame["suggested"].iat[row]
            if isinstance(suggested, str):
                return suggested
        return self.frame["pred"].iat[row]

    def frame_row(self, example_id: str | None = None) -> dict | None:
        eid = example_id if example_id is not None else self.current_id
        if eid is None:
            return None
        row = self.row_of(eid)
        return None if row is None else self.frame.iloc[row].to_dict()

    def accept_prediction(self, *, ids: Iterable[str] | None = None) -> None:
        """P: the given label is wrong and the predicted (or suggested) label is right; again to undo.
        On many: each takes its own prediction; when all have it already, all are cleared."""
        targets = [(eid, self.suggested_label(eid), self.frame_row(eid)["label"]) for eid in self._targets(ids)]
        targets = [(eid, target, given) for eid, target, given in targets if target is not None]
        if targets and all(self.decision(eid).label == target for eid, target, _ in targets):
            self._apply_all([(eid, replace(self.decision(eid), label=None), "clear label") for eid, _, _ in targets],
                            "clear label")
            return
        self._apply_all([(eid, replace(self.decision(eid), label=target), f"label {target}")
                         for eid, target, given in targets
                         if target != given and self.decision(eid).label != target], "accept prediction")

    def set_label(self, label: str | None, *, ids: Iterable[str] | None = None) -> None:
        """L: the correct label is ``label`` (None clears the correction)."""
        if label is not None and label not in self.project.classes:
            raise ValueError(f"{label!r} is not a class of this project")
        edits = []
        for eid in self._targets(ids):
            # "corrected" to the given label: nothing to correct
            mine = None if label is not None and label == self.frame_row(eid)["label"] else label
            d = self.decision(eid)
            if d.label != mine or not d.reviewed:
                edits.append((eid, replace(d, label=mine), f"label {mine}" if mine else "clear label"))
        self._apply_all(edits, f"label {label}" if label else "clear label")

    def toggle_tag(self, tag: str, *, ids: Iterable[str] | None = None) -> None:
        """M, A, H, E: mislabeled, ambiguous, very hard, very easy. On many: added to all, or, when
        all have it, taken from all."""
        if tag not in BUILTIN_TAGS:
            raise ValueError(f"unknown tag {tag!r}")
        targets = self._targets(ids)
        adding = not all(tag in self.decision(eid).tags for eid in targets)
        opposite = {"very hard": "very easy", "very easy": "very hard"}.get(tag)
        edits = []
        for eid in targets:
            d = self.decision(eid)
            tags = set(d.tags) | {tag} if adding else set(d.tags) - {tag}
            if opposite and adding:
                tags.discard(opposite)  # an example is not both very hard and very easy
            edits.append((eid, replace(d, tags=frozenset(tags)), ("+" if adding else "-") + tag))
        self._apply_all(edits, ("+" if adding else "-") + tag)

    def toggle_error_type(self, which: int | str, *, ids: Iterable[str] | None = None) -> None:
        """1..9: toggle the error type at that position of the taxonomy (1-based), or by name. On
        many: added to all, or, when all have it, taken from all."""
        names = self.project.error_types()
        if isinstance(which, int):
            if not 1 <= which <= len(names):
                return
            name = names[which - 1]
        else:
            if which not in names:
                raise ValueError(f"no error type {which!r}")
            name = which
        targets = self._targets(ids)
        adding = not all(name in self.decision(eid).error_types for eid in targets)
        edits = []
        for eid in targets:
            d = self.decision(eid)
            ets = set(d.error_types) | {name} if adding else set(d.error_types) - {name}
            edits.append((eid, replace(d, error_types=frozenset(ets)), ("+" if adding else "-") + name))
        self._apply_all(edits, ("+" if adding else "-") + name)

    def set_note(self, note: str, *, ids: Iterable[str] | None = None) -> None:
        """N: the note on this example (empty clears it)."""
        note = note.strip()
        self._apply_all([(eid, replace(self.decision(eid), note=note), "note")
                         for eid in self._targets(ids) if note != self.decision(eid).note], "note")

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

        def change(c: Change) -> Change:
            return replace(c, before=renamed(c.before), after=renamed(c.after))

        for stack in (self._undo, self._redo):
            stack[:] = [replace(c, changes=tuple(map(change, c.changes))) if isinstance(c, Batch) else change(c)
                        for c in stack]

    def undo(self) -> None:
        """Ctrl+Z: put back the decision as it was before the last change, and show that item."""
        if not self._undo:
            return
        change = self._undo.pop()
        if isinstance(change, Batch):
            self._restore_all([(c.example_id, c.before) for c in change.changes], "undo " + change.action)
        else:
            self._restore(change.example_id, change.before, "undo " + change.action)
        self._redo.append(change)

    def redo(self) -> None:
        """Ctrl+Shift+Z / Ctrl+Y."""
        if not self._redo:
            return
        change = self._redo.pop()
        if isinstance(change, Batch):
            self._restore_all([(c.example_id, c.after) for c in change.changes], "redo " + change.action)
        else:
            self._restore(change.example_id, change.after, "redo " + change.action)
        self._undo.append(change)

    def _restore(self, eid: str, state: Decision, action: str) -> None:
        before = self.decision(eid)
        saved = self.project.write_decision(eid, before, state, action, reviewer=self.reviewer, session_id=self.session_id)
        self._decisions[eid] = saved
        if eid in self.items:
            self.goto(self.items.index(eid))
        self._emit(SessionEvent("decision", eid, Change(eid, before, saved, action)))

    def _restore_all(self, states: list[tuple[str, Decision]], action: str) -> None:
        """Undo or redo of a Batch: every example back, in one transaction; the cursor stays."""
        rows = [(eid, self.decision(eid), state, action) for eid, state in states]
        saved = self.project.write_decisions(rows, reviewer=self.reviewer, session_id=self.session_id)
        for (eid, before, _, _), s in zip(rows, saved):
            self._decisions[eid] = s
            self._emit(SessionEvent("decision", eid, Change(eid, before, s, action)))

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
