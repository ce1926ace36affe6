"""Team review of one queue: each item goes to one reviewer at a time.

A queue is posted to the server project once (its example ids, in the queue's order); reviewers
then claim the next few unclaimed items. A claim is ``SELECT ... FOR UPDATE SKIP LOCKED`` inside an
UPDATE: reviewers claiming at the same instant never wait for one another and never get the same
item. A claim holds a lease (server time): a reviewer who leaves (a closed laptop, a killed window)
holds nothing once it runs out, and the item goes to the next reviewer who asks. A reviewer renews
the lease while working and marks items done when their decisions are saved.

All times are the server's (``now()``), so reviewers' clocks do not matter. Each call is one
transaction on its own connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Sequence

import psycopg
from psycopg import sql

from .problems import TeamStoreError
from .store_pg import _error, _ident, connect, parse_url

DEFAULT_LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class Progress:
    """Where a shared queue stands: its items, done, held under a running lease, free to claim."""

    total: int
    done: int
    claimed: int
    free: int


class TeamQueues:
    """The shared queues of one server project (``postgresql://...?project=NAME``)."""

    def __init__(self, url: str):
        self.where = parse_url(url)
        self.table = _ident(self.where.project, "claims")
        self.conn = connect(self.where, autocommit=True)
        try:
            found = self.conn.execute("SELECT to_regclass(%s)", (f'"{self.where.project}".claims',)).fetchone()[0]
        except psycopg.Error as e:
            self.conn.close()
            raise _error(self.where, "cannot read", e) from None
        if found is None:
            self.conn.close()
            raise TeamStoreError(f"there is no project {self.where.project!r} on {self.where.shown} (push one first)")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "TeamQueues":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self, doing: str, statement: sql.Composable, params: Sequence = ()) -> list[tuple]:
        try:
            with self.conn.transaction():
                cur = self.conn.execute(statement, params)
                return cur.fetchall() if cur.description else []
        except psycopg.Error as e:
            raise _error(self.where, doing, e) from None

    def post(self, queue: str, example_ids: Sequence[str]) -> int:
        """Add ``example_ids`` (in review order) to the shared queue ``queue``, after the items it
        holds; ids it holds already keep their place. Returns how many were added."""
        rows = self._run("could not post a queue to", sql.SQL(
            "INSERT INTO {t} (queue, example_id, position)"
            " SELECT %s, id, (SELECT COALESCE(MAX(position), -1) FROM {t} WHERE queue = %s) + n"
            " FROM unnest(%s::text[]) WITH ORDINALITY AS u(id, n)"
            " ON CONFLICT (queue, example_id) DO NOTHING RETURNING example_id").format(t=self.table),
            (queue, queue, list(example_ids)))
        return len(rows)

    def claim(self, queue: str, reviewer: str, n: int, *, lease: timedelta = DEFAULT_LEASE) -> list[str]:
        """The next ``n`` items of ``queue`` that are not done and not held under a running lease,
        now held by ``reviewer`` until the lease runs out; in queue order. Items others are claiming
        at this instant are passed over, not waited for."""
        if not reviewer:
            raise ValueError("a claim needs a reviewer's name")
        rows = self._run("could not claim from", sql.SQL(
            "WITH next AS (SELECT example_id FROM {t} WHERE queue = %s AND done_at IS NULL"
            "   AND (reviewer IS NULL OR lease_until <= now()) ORDER BY position LIMIT %s FOR UPDATE SKIP LOCKED)"
            " UPDATE {t} c SET reviewer = %s, claimed_at = now(), lease_until = now() + %s"
            " FROM next WHERE c.queue = %s AND c.example_id = next.example_id"
            " RETURNING c.example_id, c.position").format(t=self.table),
            (queue, n, reviewer, lease, queue))
        return [eid for eid, _ in sorted(rows, key=lambda r: r[1])]

    def renew(self, queue: str, reviewer: str, example_ids: Sequence[str], *,
              lease: timedelta = DEFAULT_LEASE) -> list[str]:
        """Extend ``reviewer``'s lease on those of ``example_ids`` they still hold (not run out, or
        run out and not claimed by anyone since); returns those."""
        return self._held("could not renew claims on", sql.SQL(
            "UPDATE {t} SET lease_until = now() + %s WHERE queue = %s AND reviewer = %s AND done_at IS NULL"
            " AND example_id = ANY(%s) RETURNING example_id").format(t=self.table),
            (lease, queue, reviewer, list(example_ids)))

    def finish(self, queue: str, reviewer: str, example_ids: Sequence[str]) -> list[str]:
        """Mark those of ``example_ids`` that ``reviewer`` holds as done (their decisions are saved);
        returns those. An item whose lease ran out and went to someone else is not theirs to finish."""
        return self._held("could not finish claims on", sql.SQL(
            "UPDATE {t} SET done_at = now(), done_by = reviewer, lease_until = NULL"
            " WHERE queue = %s AND reviewer = %s AND done_at IS NULL AND example_id = ANY(%s)"
            " RETURNING example_id").format(t=self.table), (queue, reviewer, list(example_ids)))

    def release(self, queue: str, reviewer: str, example_ids: Sequence[str] | None = None) -> list[str]:
        """Give back ``reviewer``'s claims (all of them in ``queue``, or ``example_ids``) at once,
        rather than when the lease runs out (the window closes cleanly)."""
        only = sql.SQL(" AND example_id = ANY(%s)") if example_ids is not None else sql.SQL("")
        params = [queue, reviewer] + ([list(example_ids)] if example_ids is not None else [])
        return self._held("could not release claims on", sql.SQL(
            "UPDATE {t} SET reviewer = NULL, claimed_at = NULL, lease_until = NULL"
            " WHERE queue = %s AND reviewer = %s AND done_at IS NULL{only} RETURNING example_id").format(
            t=self.table, only=only), params)

    def _held(self, doing: str, statement: sql.Composable, params: Sequence) -> list[str]:
        return sorted(r[0] for r in self._run(doing, statement, params))

    def progress(self, queue: str) -> Progress:
        total, done, claimed = self._run("could not read", sql.SQL(
            "SELECT count(*), count(done_at), count(*) FILTER (WHERE done_at IS NULL AND reviewer IS NOT NULL"
            " AND lease_until > now()) FROM {t} WHERE queue = %s").format(t=self.table), (queue,))[0]
        return Progress(total, done, claimed, total - done - claimed)
