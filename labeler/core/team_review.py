"""A review session on a team project: the items are this reviewer's claims on the server's shared
queue, every decision wakes the journal's sender, and the other reviewers' decisions come in as they
are made (:mod:`labeler.core.team_sync`)."""

from __future__ import annotations

import json
from dataclasses import replace

from .queue import QueueSpec
from .session import Change, ReviewSession, SessionEvent
from .store import Decision, Project
from .team_sync import TOP_UP, TeamLink, apply_remote, queue_name


class TeamReviewSession(ReviewSession):
    def __init__(self, project: Project, spec: QueueSpec, *, link: TeamLink, **kwargs):
        self.link = link
        kwargs.setdefault("reviewer", link.reviewer)
        super().__init__(project, spec, **kwargs)

    def _share(self, spec: QueueSpec, items: list[str]) -> list[str]:
        mine = self.link.take(spec.to_json(), items)
        if mine or self.link.status.online:
            _remember(self.link, spec, mine)
            if self.shared:
                self._show_own(mine)
            return mine
        return [e for e in _remembered(self.link, spec) if e in set(items)]  # offline: what was claimed before

    @property
    def shared(self) -> bool:
        """Each item goes to several reviewers (overlap): each sees and decides it on their own."""
        return self.link.queue_overlap > 1

    def _show_own(self, ids: list[str]) -> None:
        """An item shared with others shows this reviewer's own decision (none yet: undecided), not
        the project's, which may be another reviewer's."""
        ready = self.link.own_ready
        own = {e: ready.pop(e) for e in ids if e in ready}
        if len(own) < len(ids):
            own.update(self.link.own_reviews([e for e in ids if e not in own]))
        for eid in ids:
            self._decisions[eid] = own.get(eid, Decision())

    def _emit(self, event: SessionEvent) -> None:
        if event.kind == "decision" and event.change is not None and event.change.action != "remote":
            if event.change.after.reviewed:
                self.link.reviewed(event.example_id)
            self.link.wake()
        super()._emit(event)

    def goto(self, index: int) -> None:
        super().goto(index)
        if self.items and len(self.items) - 1 - self.position < TOP_UP:
            self.link.want_more()

    def add_claimed(self, ids: list[str]) -> list[str]:
        """Items newly claimed on the server join the end of the queue; returns those added."""
        have = set(self.items)
        new = [e for e in ids if e not in have and self.row_of(e) is not None]
        if new and self.shared:
            self._show_own(new)
        if new:
            self.items = self.items + new
            _remember(self.link, self.spec, self.items)
            self._emit(SessionEvent("queue", self.current_id))
        return new

    def apply_remote(self, rows: list[tuple[str, Decision]]) -> list[str]:
        """Others' decisions into the local copy and onto the screen (they are not this reviewer's
        to undo); returns the ids that changed."""
        if self.shared:  # another reviewer's decision on an item this one decides too stays theirs
            mine = set(self.items)
            rows = [(eid, d) for eid, d in rows if eid not in mine]
        changed = set(apply_remote(self.project, rows))
        for eid, d in rows:
            if eid in changed:
                before = self.decision(eid)
                self._decisions[eid] = d
                self._emit(SessionEvent("decision", eid, Change(eid, before, replace(d), "remote")))
        return sorted(changed)


def _held_path(link: TeamLink):
    return link.folder / "held.json"


def _remember(link: TeamLink, spec: QueueSpec, ids: list[str]) -> None:
    from . import fileops

    try:
        held = json.loads(_held_path(link).read_text())
    except (OSError, ValueError):
        held = {}
    held[queue_name(spec.to_json())] = list(ids)
    fileops.write_json(_held_path(link), held)


def _remembered(link: TeamLink, spec: QueueSpec) -> list[str]:
    try:
        return list(json.loads(_held_path(link).read_text()).get(queue_name(spec.to_json()), []))
    except (OSError, ValueError, AttributeError):
        return []
