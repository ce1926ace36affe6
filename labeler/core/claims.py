"""Team review of one queue: each item goes to one reviewer at a time, or to K reviewers.

A queue is posted to the server project once (its example ids, in the queue's order), with an
overlap K (1 by default): each item gets K slots, and K different reviewers review it (for the
agreement between reviewers). Reviewers then claim the next few free slots. A claim is ``SELECT
... FOR UPDATE SKIP LOCKED`` inside an UPDATE: reviewers claiming at the same instant never wait for
one another and never get the same slot. One claim gives distinct items, and never an item the
reviewer holds or has done in another slot (a unique index on (queue, item, reviewer) backs this on
the server). A claim holds a lease (server time): a reviewer who leaves (a closed laptop, a killed
window) holds nothing once it runs out, and the slot goes to the next reviewer who asks. A reviewer
renews the lease while working and marks items done when their decisions are saved.

All times are the server's (``now()``), so reviewers' clocks do not matter. Each call is one
transaction on its own connection. A project pushed before overlapping queues existed has a claims
table without slots: opening its queues (as the table's owner) or pushing it again upgrades the
table in place (every item keeps one slot); a reviewer's role cannot, and is told so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Sequence

import psycopg
from psycopg import sql

from .problems import TeamStoreError
from .pg_server import _error, _ident, connect, parse_url
from .store_pg import _server_columns, upgrade_claims

DEFAULT_LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class Progress:
    """Where a shared queue stands, in slots (a queue of N items posted with overlap K has K*N):
    done, held under a running lease, free to claim."""

    total: int
    done: int
    claimed: int
    free: int


def _overlap(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"overlap must be a whole number of reviewers per item, 1 or more (got {value!r})")
    return value


class TeamQueues:
    """The shared queues of one server project (``postgresql://...?project=NAME``)."""

    def __init__(self, url: str):
        self.where = parse_url(url)
        self.table = _ident(self.where.project, "claims")
        self._overlap: dict[str, int] = {}  # queue -> its overlap, fixed once it has items
        self.conn = connect(self.where, autocommit=True)
        try:
            columns = _server_columns(self.conn, self.where.project).get("claims")
            if columns is not None and "slot" not in columns:
                self._upgrade()
        except psycopg.Error as e:
            self.conn.close()
            raise _error(self.where, "cannot read", e) from None
        except BaseException:
            self.conn.close()
            raise
        if columns is None:
            self.conn.close()
            raise TeamStoreError(f"there is no project {self.where.project!r} on {self.where.shown} (push one first)")

    def _upgrade(self) -> None:
        try:
            with self.conn.transaction():
                upgrade_claims(self.conn, self.where.project)
        except psycopg.errors.InsufficientPrivilege:
            raise TeamStoreError(
                f"the shared queues of {self.where.shown} were made by an older labeler (no overlap slots):"
                " the project's owner upgrades them by pushing the project again or opening its queues once"
            ) from None

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

    def _lock(self, what: str, key: str) -> None:
        """A transaction lock on ``what`` and ``key`` in this project (two ints: apart from push's
        one-bigint lock)."""
        self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))",
                          (f"labeler {what} {self.where.project}", key))

    def post(self, queue: str, example_ids: Sequence[str], *, overlap: int = 1) -> int:
        """Add ``example_ids`` (in review order) to the shared queue ``queue``, after the items it
        holds, each with ``overlap`` slots (reviewed by that many different reviewers); ids it holds
        already keep their place. Returns how many items were added. A queue keeps the overlap it
        was first posted with: posting to it with another is refused, and nothing is added."""
        k = _overlap(overlap)
        ids = list(example_ids)
        try:
            with self.conn.transaction():
                self._lock("post", queue)  # posts to one queue take turns: one overlap per queue
                had = self._slots(queue)
                if had and had != k:
                    raise TeamStoreError(
                        f"queue {queue!r} of {self.where.shown} gives each item to {had} reviewer(s): it cannot"
                        f" take items with overlap {k} (post them as a new queue)")
                rows = self.conn.execute(sql.SQL(
                    "INSERT INTO {t} (queue, example_id, slot, position)"
                    " SELECT %s, u.id, s.slot, base.p + u.n"
                    " FROM unnest(%s::text[]) WITH ORDINALITY AS u(id, n)"
                    " CROSS JOIN generate_series(0, %s - 1) AS s(slot)"
                    " CROSS JOIN (SELECT COALESCE(MAX(position), -1) AS p FROM {t} WHERE queue = %s) AS base"
                    " ON CONFLICT (queue, example_id, slot) DO NOTHING RETURNING example_id").format(t=self.table),
                    (queue, ids, k, queue)).fetchall()
        except psycopg.Error as e:
            raise _error(self.where, "could not post a queue to", e) from None
        if had or rows:
            self._overlap[queue] = k
        return len({r[0] for r in rows})

    def claim(self, queue: str, reviewer: str, n: int, *, lease: timedelta = DEFAULT_LEASE) -> list[str]:
        """The next ``n`` distinct items of ``queue`` with a slot that is not done and not held
        under a running lease, and that ``reviewer`` neither holds nor has done in another slot; now
        held by ``reviewer`` until the lease runs out; in queue order. Slots others are claiming at
        this instant are passed over, not waited for (two claims of one reviewer take turns)."""
        if not reviewer:
            raise ValueError("a claim needs a reviewer's name")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"a claim takes a whole number of items, 0 or more (got {n!r})")
        try:
            with self.conn.transaction():
                k = self._slots(queue)
                if k > 1:  # one reviewer's two claims at once would both pass over another slot of theirs
                    self._lock(f"claim {queue}", reviewer)
                # up to n*k slots locked: at most k per item, so they hold n distinct items when
                # there are that many; the first slot of each item is taken. The reviewer's other
                # slots are looked up per row (a subplan, not an anti-join), so the scan walks the
                # queue in order and stops after n*k rows however long the queue.
                rows = self.conn.execute(sql.SQL(
                    "WITH free AS MATERIALIZED (SELECT c.example_id, c.slot, c.position FROM {t} c"
                    "   WHERE c.queue = %(q)s AND c.done_at IS NULL AND (c.reviewer IS NULL OR c.lease_until <= now())"
                    "   AND (SELECT count(*) FROM {t} o WHERE o.queue = c.queue AND o.example_id = c.example_id"
                    "        AND o.reviewer = %(r)s AND o.slot <> c.slot) = 0"
                    "   ORDER BY c.position, c.slot LIMIT %(lock)s FOR UPDATE OF c SKIP LOCKED),"
                    " one AS (SELECT DISTINCT ON (example_id) example_id, slot, position FROM free"
                    "   ORDER BY example_id, slot),"
                    " next AS (SELECT * FROM one ORDER BY position LIMIT %(n)s)"
                    " UPDATE {t} c SET reviewer = %(r)s, claimed_at = now(), lease_until = now() + %(lease)s"
                    " FROM next WHERE c.queue = %(q)s AND c.example_id = next.example_id AND c.slot = next.slot"
                    " RETURNING c.example_id, c.position").format(t=self.table),
                    {"q": queue, "r": reviewer, "n": n, "lock": n * max(k, 1), "lease": lease}).fetchall()
        except psycopg.Error as e:
            raise _error(self.where, "could not claim from", e) from None
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

    def held(self, queue: str, reviewer: str) -> list[str]:
        """The items of ``queue`` that ``reviewer`` holds under a running lease, in queue order
        (what a window reopened after a crash takes back first)."""
        return [r[0] for r in self._run("could not read", sql.SQL(
            "SELECT example_id FROM {t} WHERE queue = %s AND reviewer = %s AND done_at IS NULL"
            " AND lease_until > now() ORDER BY position").format(t=self.table), (queue, reviewer))]

    def overlap(self, queue: str) -> int:
        """How many reviewers each item of ``queue`` goes to (0 for a queue with no items)."""
        try:
            return self._slots(queue)
        except psycopg.Error as e:
            raise _error(self.where, "could not read", e) from None

    def _slots(self, queue: str) -> int:
        """The slots of one item of ``queue`` (every item has as many), 0 when it has none; a
        queue's is fixed once it has items, so it is read once."""
        k = self._overlap.get(queue)
        if k is None:
            k = self.conn.execute(sql.SQL(
                "SELECT count(*) FROM {t} WHERE queue = %s"
                " AND example_id = (SELECT example_id FROM {t} WHERE queue = %s LIMIT 1)").format(t=self.table),
                (queue, queue)).fetchone()[0]
            if k:
                self._overlap[queue] = k
        return k

    def progress(self, queue: str) -> Progress:
        """Where ``queue`` stands, counted in slots (K per item)."""
        total, done, claimed = self._run("could not read", sql.SQL(
            "SELECT count(*), count(done_at), count(*) FILTER (WHERE done_at IS NULL AND reviewer IS NOT NULL"
            " AND lease_until > now()) FROM {t} WHERE queue = %s").format(t=self.table), (queue,))[0]
        return Progress(total, done, claimed, total - done - claimed)

    def done_by(self, queue: str) -> dict[str, int]:
        """How many items of ``queue`` each reviewer has done."""
        return dict(self._run("could not read", sql.SQL(
            "SELECT done_by, count(*) FROM {t} WHERE queue = %s AND done_at IS NOT NULL"
            " GROUP BY done_by ORDER BY done_by").format(t=self.table), (queue,)))
