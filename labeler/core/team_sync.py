"""A reviewer's window on a team project: ``labeler review --project postgresql://...?project=NAME
--reviewer NAME``.

The window reviews a local copy of the server's project, kept per project and reviewer under
``$XDG_DATA_HOME/labeler/team/`` (so it outlives the window). Every decision is committed to that copy
first (SQLite, WAL, ``synchronous=FULL``): the copy's event log is the **journal**. A sync thread sends
the journal to the server in order, one server transaction per batch: the events (an event the server
holds already is not added again: the same instant, example, action, before, after and reviewer), the
project's decision on each example (the newest wins), each reviewer's own newest decision (the
server's ``reviews`` table: with ``--overlap`` several reviewers decide one item), the shared queue's
claims marked done, and a notification (``NOTIFY``) to the other windows. Only then does it note in
``synced.json`` how far the journal is on the server. So:

- "saved" means committed to the journal, and so on the server or on its way there: a window killed
  at any instant loses nothing it showed as saved; a journal sent twice (killed between the server's
  commit and the note) adds nothing twice;
- when the server goes away the window says "offline" and goes on: decisions wait in the journal
  and are sent, in order, once the server is back (or at the next start);
- a listener thread (``LISTEN``) hears the other reviewers' decisions and reads just those rows
  (:meth:`TeamLink.remote`); on (re)connecting it reads what it missed once.

Items come from the server's shared queues (:mod:`labeler.core.claims`): the window claims a batch,
renews the lease while it is open, asks for more near the end, and gives back what it did not review
when it closes. Nothing here waits on the network on the window's thread except opening.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Callable, Iterable, Sequence

import psycopg
from psycopg import sql

from . import fileops
from .problems import ProjectError, ProjectLocked, TeamStoreError
from .store import UPSERT_DECISION, Decision, Project
from .pg_server import _error, _ident, connect, parse_url, redact
from .store_pg import pull

BATCH = 500  # journal events per server transaction
CLAIM_BATCH = 20  # items claimed at a time
TOP_UP = 5  # claim more when this few claimed items are left ahead
RETRY = 1.0  # seconds between attempts while offline
CONNECT_TIMEOUT = 3
EMPTY_WAIT = 10.0  # seconds before asking an empty shared queue for more again
NOTIFY_BYTES = 7000  # a NOTIFY payload must stay under 8000 bytes


def team_home() -> Path:
    return fileops.data_home() / "team"


def channel(project: str) -> str:
    """The NOTIFY channel of a project: an identifier, so at most 63 bytes (a long project name is
    hashed)."""
    name = f"labeler_{project}"
    return name if len(name.encode()) <= 63 else "labeler_" + hashlib.sha256(project.encode()).hexdigest()[:32]


def queue_name(spec_json: dict) -> str:
    """The shared queue a queue spec names: the same spec (split, order, seed, filters) is the same
    queue for every reviewer."""
    return json.dumps(spec_json, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Status:
    online: bool
    pending: int  # journaled decisions (events) not on the server yet
    problem: str | None = None  # why offline (redacted)
    refused: bool = False  # the server is there but refused them (a missing grant, say): retried

    def describe(self) -> str:
        if self.refused:
            waiting = f"{self.pending} decision{'' if self.pending == 1 else 's'} journaled here"
            return f"NOT saved on the server ({self.problem}) · {waiting}, sent again every few seconds"
        if self.online:
            return "online · all saved on the server" if not self.pending else f"online · sending {self.pending}"
        waiting = f"{self.pending} decision{'' if self.pending == 1 else 's'} journaled here" if self.pending else "nothing waiting"
        return f"offline · {waiting}, sent when the server is back"


def _connection_lost(e: BaseException) -> bool:
    return isinstance(e, (psycopg.OperationalError, psycopg.InterfaceError)) or (
        isinstance(e, TeamStoreError) and "cannot connect" in str(e))


class TeamLink:
    """One reviewer's tie to one server project (see the module's docstring)."""

    def __init__(self, url: str, reviewer: str, *, overlap: int | None = None, lease: timedelta = timedelta(minutes=10),
                 home: Path | None = None):
        """``overlap``: how many reviewers get each item of a queue this reviewer posts first (None:
        as the queue was posted, 1 for a new one)."""
        if not reviewer or not reviewer.strip():
            raise TeamStoreError("a team review needs --reviewer NAME: decisions and claims are made in a reviewer's name")
        if overlap is not None and overlap < 1:
            raise TeamStoreError(f"--overlap must be 1 or more, not {overlap}")
        self.where = parse_url(url)
        self.reviewer = reviewer.strip()
        self.overlap = overlap
        self.lease = lease
        key = hashlib.sha256(f"{self.where.shown}\n{self.reviewer}".encode()).hexdigest()[:16]
        self.folder = (home or team_home()) / f"{self.where.project}-{key}"
        self.path = self.folder / "project.labeler.db"
        self.state_path = self.folder / "synced.json"
        self.queue: str | None = None  # the shared queue the window reviews now
        self.queues: set[str] = set()  # every one it took items from (their claims finish with decisions)
        self.queue_overlap = 1  # how many reviewers get each item of it (as the server says)
        self.own_ready: dict[str, Decision] = {}  # own_reviews of items claimed on the sync thread
        self.held: list[str] = []  # items claimed and not yet reviewed (renewed while open)
        self.on_status: Callable[[Status], None] | None = None
        self.on_remote: Callable[[list[tuple[str, Decision]]], None] | None = None
        self.on_claimed: Callable[[list[str]], None] | None = None
        self.on_progress: Callable[[dict], None] | None = None
        self._status = Status(False, 0)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._want_more = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._pg: psycopg.Connection | None = None  # the sync thread's
        self._tq = None  # the sync thread's TeamQueues (_queues)
        self._empty_until = 0.0  # the shared queue gave nothing: no claim asked for until then
        self._sessions: dict[int, int] = {}  # local session id -> the server's
        self._last_renew = 0.0
        self._seen_at = ""  # the newest decided_at heard from others
        self._synced: int | None = None  # the journal's last event on the server (synced.json)

    # -- opening -------------------------------------------------------------------------------
    def open(self) -> Path:
        """Send what the journal holds from earlier windows, then refresh the local copy from the
        server; offline, the copy as it was (refused when there is none). Returns the copy's path."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TeamStoreError(f"cannot keep the local copy of {self.where.shown} in {self.folder}: {e.strerror}"
                                 " (set XDG_DATA_HOME to a folder you can write)") from None
        try:
            lock = fileops.acquire_lock(self.path)  # one window per reviewer and project on a machine
        except ProjectLocked:
            raise TeamStoreError(f"{self.reviewer} reviews {self.where.project} in another labeler window on this"
                                 " machine already: close it there, or review under another --reviewer name") from None
        except ProjectError as e:
            raise TeamStoreError(f"cannot keep the local copy of {self.where.shown}: {e}") from None
        try:
            return self._refresh()
        finally:
            fileops.release_lock(lock)

    def _refresh(self) -> Path:
        try:
            if self.path.exists():
                self.flush()
            fresh = self.folder / "fresh.labeler.db"
            fileops.remove_db_files(fresh, strict=False)
            pull(self._url(), fresh)
            self._write_state(_max_seq(fresh))
            fileops.remove_db_files(self.path, strict=False)
            os.replace(fresh, self.path)
            fileops.sync(self.folder, strict=False)
            self._set_status(Status(True, 0))
        except (psycopg.Error, TeamStoreError) as e:
            if not _connection_lost(e):
                raise
            if not self.path.exists():
                raise TeamStoreError(f"{self.where.shown} cannot be reached and there is no local copy of it here"
                                     f" to review offline: {_short(e)}") from None
            self._set_status(Status(False, self.pending(), _short(e)))
        return self.path

    def _url(self) -> str:
        # conninfo without the project, plus it: parse_url's inverse for pull
        return self.where.conninfo + ("&" if "?" in self.where.conninfo else "?") + f"project={self.where.project}"

    # -- the journal ---------------------------------------------------------------------------
    def _read_state(self) -> int:
        if self._synced is not None:
            return self._synced
        try:
            state = json.loads(self.state_path.read_text())
            self._synced = int(state["seq"])
            self.queues |= set(state.get("queues", []))
        except (OSError, ValueError, KeyError, TypeError):
            self._synced = 0
        return self._synced

    def _write_state(self, seq: int) -> None:
        """How far the journal is on the server, and the shared queues this reviewer took items
        from (a journal sent after a restart still finishes their claims). Replaced whole (rename),
        but not fsynced: a note lost in a crash only sends some events again, and the server adds
        none of them twice."""
        # (the window's thread and the sync thread may both write it: a name of each thread's own)
        tmp = self.state_path.with_name(f".{self.state_path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"seq": seq, "queues": sorted(self.queues)}))
        os.replace(tmp, self.state_path)
        self._synced = seq

    def _journal(self) -> sqlite3.Connection:
        conn = sqlite3.connect(fileops.sqlite_uri(self.path, mode="ro"), uri=True, timeout=10)
        conn.execute("PRAGMA query_only=1")
        return conn

    def pending(self) -> int:
        if not self.path.exists():
            return 0
        with contextlib.closing(self._journal()) as j:
            return j.execute("SELECT count(*) FROM events WHERE seq > ?", (self._read_state(),)).fetchone()[0]

    def flush(self) -> int:
        """Send the whole journal now, on this thread; returns how many events were sent. Raises
        on a lost connection (the journal keeps them)."""
        sent = 0
        with contextlib.closing(self._journal()) as j:
            while True:
                done = self._read_state()
                rows = j.execute("SELECT seq, at, example_id, action, before, after, reviewer, session_id FROM events"
                                 " WHERE seq > ? ORDER BY seq LIMIT ?", (done, BATCH)).fetchall()
                if not rows:
                    return sent
                sessions = {sid: j.execute("SELECT started_at, ended_at, reviewer, queue, items FROM sessions WHERE id = ?",
                                           (sid,)).fetchone() for sid in {r[7] for r in rows if r[7] is not None}}
                self._send(rows, sessions)
                self._write_state(rows[-1][0])
                sent += len(rows)

    def _conn(self) -> psycopg.Connection:
        if self._pg is None or self._pg.closed:
            self._pg = connect(self.where, connect_timeout=CONNECT_TIMEOUT)
        return self._pg

    def _queues(self):
        """The sync thread's TeamQueues (one connection for its claims and renewals)."""
        from .claims import TeamQueues

        if self._tq is None:
            self._tq = TeamQueues(self._url())
        return self._tq

    def _drop(self) -> None:
        for c in (self._pg, self._tq):
            if c is not None:
                with contextlib.suppress(Exception):
                    c.close()
        self._pg = self._tq = None

    def _send(self, rows: Sequence[tuple], sessions: dict) -> None:
        """One server transaction: the events, the decisions they leave, the reviews, the claims
        done, and a notification."""
        schema = self.where.project
        pg = self._conn()
        try:
            # pipelined: the statements go out together, one wait for the server instead of one each
            with pg.pipeline(), pg.transaction():
                # the journal forgets what the server acknowledged: the server must not lose it in a
                # crash, whatever its own setting (synchronous_commit=off loses the last commits)
                pg.execute("SET LOCAL synchronous_commit = on")
                server_sid = {sid: self._server_session(pg, sid, s) for sid, s in sessions.items() if s is not None}
                cur = pg.cursor()
                cur.executemany(sql.SQL(
                    "INSERT INTO {e} (at, example_id, action, before, after, reviewer, session_id)"
                    " SELECT %(at)s, %(eid)s, %(action)s, %(before)s, %(after)s, %(reviewer)s, %(sid)s"
                    " WHERE NOT EXISTS (SELECT 1 FROM {e} WHERE at = %(at)s AND example_id = %(eid)s AND action = %(action)s"
                    " AND before IS NOT DISTINCT FROM %(before)s AND after IS NOT DISTINCT FROM %(after)s"
                    " AND reviewer IS NOT DISTINCT FROM %(reviewer)s)").format(e=_ident(schema, "events")),
                    [dict(at=at, eid=eid, action=action, before=before, after=after, reviewer=reviewer,
                          sid=server_sid.get(sid)) for _, at, eid, action, before, after, reviewer, sid in rows])
                last: dict[str, tuple] = {}
                for _, at, eid, _, _, after, reviewer, _ in rows:
                    state = json.loads(after) if after else {}
                    if "reviewed" in state:  # a decision's event (a blind label's is logged, not decided)
                        last[eid] = (at, state, reviewer)
                values = [(eid, a.get("label"), json.dumps(sorted(a.get("tags", []))),
                           json.dumps(sorted(a.get("error_types", []))), a.get("note", ""), int(bool(a.get("reviewed"))),
                           who, at) for eid, (at, a, who) in last.items()]
                cols = "example_id, label, tags, error_types, note, reviewed, reviewer, decided_at"
                update = ("label = excluded.label, tags = excluded.tags, error_types = excluded.error_types,"
                          " note = excluded.note, reviewed = excluded.reviewed, reviewer = excluded.reviewer,"
                          " decided_at = excluded.decided_at")
                for table, key in (("decisions", "example_id"), ("reviews", "example_id, reviewer")):
                    cur.executemany(sql.SQL(
                        f"INSERT INTO {{t}} ({cols}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                        f" ON CONFLICT ({key}) DO UPDATE SET {update}"
                        " WHERE {t}.decided_at IS NULL OR excluded.decided_at > {t}.decided_at").format(
                        t=_ident(schema, table)), [v for v in values if table == "decisions" or v[6] is not None])
                # an item this reviewer decided is done in the shared queues this window took
                # items from (by the claims' key: queue, example, reviewer)
                done = [eid for eid, (_, a, who) in last.items() if a.get("reviewed") and who == self.reviewer]
                if done and self.queues:
                    pg.execute(sql.SQL(
                        "UPDATE {c} SET done_at = now(), done_by = reviewer, lease_until = NULL"
                        " WHERE queue = ANY(%s) AND example_id = ANY(%s) AND reviewer = %s AND done_at IS NULL").format(
                        c=_ident(schema, "claims")), (sorted(self.queues), done, self.reviewer))
                for payload in _payloads(self.reviewer, list(last)):
                    pg.execute("SELECT pg_notify(%s, %s)", (channel(schema), payload))
        except psycopg.Error as e:
            if _connection_lost(e) or pg.closed or pg.broken:
                self._drop()
                raise
            raise _error(self.where, "could not save decisions on", e) from None

    def _server_session(self, pg: psycopg.Connection, sid: int, s: tuple) -> int:
        started, ended, reviewer, queue, items = s
        t = _ident(self.where.project, "sessions")
        found = self._sessions.get(sid)
        if found is None:
            row = pg.execute(sql.SQL("SELECT id FROM {} WHERE started_at = %s AND reviewer IS NOT DISTINCT FROM %s"
                                     " AND queue IS NOT DISTINCT FROM %s").format(t), (started, reviewer, queue)).fetchone()
            found = row[0] if row else pg.execute(sql.SQL(
                "INSERT INTO {} (started_at, ended_at, reviewer, queue, items) VALUES (%s, %s, %s, %s, %s) RETURNING id").format(t),
                (started, ended, reviewer, queue, items)).fetchone()[0]
        pg.execute(sql.SQL("UPDATE {} SET ended_at = %s, items = GREATEST(items, %s) WHERE id = %s"
                           " AND ended_at IS DISTINCT FROM %s").format(t), (ended, items, found, ended))
        return found

    # -- claims --------------------------------------------------------------------------------
    def take(self, spec_json: dict, ids: Sequence[str]) -> list[str]:
        """The items of this reviewer's share of the queue ``ids`` (posted to the server's shared
        queue once): those held from before, then a new batch; in queue order. Offline: none (the
        session then reviews the items it claimed before, see labeler.core.team_review)."""
        from .claims import TeamQueues

        queue = queue_name(spec_json)
        try:
            with TeamQueues(self._url()) as q:
                with self._lock:
                    left = list(self.held)
                if self.queue is not None and self.queue != queue and left:
                    q.release(self.queue, self.reviewer, left)  # another queue: give the last one's back
                self.queue = queue
                if queue not in self.queues:
                    self.queues.add(queue)
                    self._write_state(self._read_state())
                # a queue keeps the overlap it was first posted with: without --overlap, take it
                q.post(self.queue, ids, overlap=self.overlap or q.overlap(self.queue) or 1)
                self.queue_overlap = q.overlap(self.queue) or 1
                held = q.held(self.queue, self.reviewer)
                more = q.claim(self.queue, self.reviewer, max(0, CLAIM_BATCH - len(held)), lease=self.lease)
                self._publish_progress(q)
        except (psycopg.Error, TeamStoreError) as e:
            if not _connection_lost(e):
                raise
            self._set_status(Status(False, self.pending(), _short(e)))
            return []
        order = {eid: i for i, eid in enumerate(ids)}
        mine = sorted(set(held) | set(more), key=lambda e: order.get(e, len(order)))
        with self._lock:
            self.held = list(mine)
        self._last_renew = time.monotonic()
        return mine

    def want_more(self) -> None:
        """Near the end of the claimed items: claim another batch on the sync thread (told through
        :attr:`on_claimed`)."""
        if time.monotonic() < self._empty_until:
            return
        self._want_more.set()
        self._wake.set()

    def reviewed(self, example_id: str) -> None:
        with self._lock:
            if example_id in self.held:
                self.held.remove(example_id)

    def _claim_more(self) -> None:
        if self.queue is None:
            return
        q = self._queues()
        got = q.claim(self.queue, self.reviewer, CLAIM_BATCH, lease=self.lease)
        self._publish_progress(q)
        if not got:  # the queue has nothing left to give: not asked again at every move for a while
            self._empty_until = time.monotonic() + EMPTY_WAIT
        if self.queue_overlap > 1:  # read here, so the window need not wait for them
            own = self.own_reviews(got)
            self.own_ready.update({eid: own.get(eid, Decision()) for eid in got})
        with self._lock:
            self.held += [e for e in got if e not in self.held]
        if self.on_claimed is not None:
            self.on_claimed(got)

    def _renew(self) -> None:
        with self._lock:
            held = list(self.held)
        if self.queue is None or not held:
            return
        self._queues().renew(self.queue, self.reviewer, held, lease=self.lease)
        self._last_renew = time.monotonic()

    def _publish_progress(self, q) -> None:
        if self.on_progress is None or self.queue is None:
            return
        p = q.progress(self.queue)
        by = q.done_by(self.queue)
        self.on_progress({"total": p.total, "done": p.done, "claimed": p.claimed, "free": p.free, "by": by})

    # -- threads -------------------------------------------------------------------------------
    def start(self) -> None:
        for target in (self._sync_loop, self._listen_loop):
            t = threading.Thread(target=target, name=f"labeler-team-{target.__name__}", daemon=True)
            t.start()
            self._threads.append(t)

    def wake(self) -> None:
        """A decision was journaled: send it soon."""
        self._wake.set()

    @property
    def status(self) -> Status:
        return self._status

    def _set_status(self, status: Status) -> None:
        if status != self._status:
            self._status = status
            if self.on_status is not None:
                self.on_status(status)

    def _sync_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(RETRY if not self._status.online else max(1.0, self.lease.total_seconds() / 6))
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.flush()
                if self._want_more.is_set():
                    self._want_more.clear()
                    self._claim_more()
                if time.monotonic() - self._last_renew > self.lease.total_seconds() / 3:
                    self._renew()
                self._set_status(Status(True, 0))
            except (psycopg.Error, TeamStoreError, OSError, sqlite3.Error) as e:
                self._drop()
                refused = isinstance(e, (psycopg.Error, TeamStoreError)) and not _connection_lost(e)
                self._set_status(Status(False, self._safe_pending(), _short(e), refused))
                if refused:
                    self._stop.wait(5 * RETRY)  # not at once again: the server said no

    def _safe_pending(self) -> int:
        try:
            return self.pending()
        except sqlite3.Error:
            return self._status.pending

    def _listen_loop(self) -> None:
        from .claims import TeamQueues

        listener: psycopg.Connection | None = None
        queues: TeamQueues | None = None
        while not self._stop.is_set():
            try:
                if listener is None:
                    listener = connect(self.where, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
                    listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel(self.where.project))))
                    queues = TeamQueues(self._url())
                    self._catch_up(listener)
                    if not self._status.online:
                        self._wake.set()  # back: send the journal now
                # (no query while the generator runs: it holds the connection)
                heard = [n.payload for n in listener.notifies(timeout=0.5, stop_after=50)]
                for payload in heard:
                    self._heard(listener, payload)
                if heard and self.on_progress is not None and self.queue is not None:
                    self._publish_progress(queues)  # once per batch heard, however many
            except (psycopg.Error, TeamStoreError) as e:
                for c in (listener, queues):
                    if c is not None:
                        with contextlib.suppress(Exception):
                            c.close()
                listener = queues = None
                self._set_status(Status(False, self._safe_pending(), _short(e)))
                self._stop.wait(RETRY)
        for c in (listener, queues):
            if c is not None:
                with contextlib.suppress(Exception):
                    c.close()

    def _heard(self, listener: psycopg.Connection, payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            return
        ids = message.get("ids") or []
        if ids and message.get("reviewer") != self.reviewer:
            self._deliver(self.remote(listener, ids))

    def remote(self, pg: psycopg.Connection, ids: Sequence[str]) -> list[tuple[str, Decision]]:
        """The server's decisions on ``ids`` (just those rows, by key)."""
        cur = pg.execute(sql.SQL("SELECT example_id, label, tags, error_types, note, reviewed, reviewer, decided_at"
                                 " FROM {} WHERE example_id = ANY(%s)").format(_ident(self.where.project, "decisions")),
                         (list(ids),))
        return [(r[0], _decision(r)) for r in cur.fetchall()]

    def own_reviews(self, ids: Sequence[str]) -> dict[str, Decision]:
        """This reviewer's own newest decisions on ``ids`` (the server's ``reviews``): what an item
        shared with other reviewers (overlap) shows this reviewer."""
        with connect(self.where, connect_timeout=CONNECT_TIMEOUT) as pg:
            cur = pg.execute(sql.SQL("SELECT example_id, label, tags, error_types, note, reviewed, reviewer, decided_at"
                                     " FROM {} WHERE reviewer = %s AND example_id = ANY(%s)").format(
                _ident(self.where.project, "reviews")), (self.reviewer, list(ids)))
            return {r[0]: _decision(r) for r in cur.fetchall()}

    def _catch_up(self, pg: psycopg.Connection) -> None:
        """After (re)connecting: the decisions others made since the newest one heard (the
        decisions table holds decided examples only)."""
        cur = pg.execute(sql.SQL("SELECT example_id, label, tags, error_types, note, reviewed, reviewer, decided_at"
                                 " FROM {} WHERE decided_at > %s AND reviewer IS DISTINCT FROM %s").format(
            _ident(self.where.project, "decisions")), (self._seen_at, self.reviewer))
        self._deliver([(r[0], _decision(r)) for r in cur.fetchall()])

    def _deliver(self, rows: list[tuple[str, Decision]]) -> None:
        rows = [(eid, d) for eid, d in rows if d.reviewer != self.reviewer]
        for _, d in rows:
            if d.decided_at and d.decided_at > self._seen_at:
                self._seen_at = d.decided_at
        if rows and self.on_remote is not None:
            self.on_remote(rows)

    # -- closing -------------------------------------------------------------------------------
    def close(self, *, timeout: float = 5.0) -> Status:
        """Stop the threads; send what is left and give back the unreviewed claims (when the server
        is there); what could not be sent stays journaled for the next start."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        try:
            self.flush()
            if self.queue is not None:
                from .claims import TeamQueues

                with self._lock:
                    held = list(self.held)
                if held:
                    with TeamQueues(self._url()) as q:
                        q.release(self.queue, self.reviewer, held)
            self._status = Status(True, 0)
        except (psycopg.Error, TeamStoreError, OSError, sqlite3.Error) as e:
            self._status = Status(False, self._safe_pending(), _short(e))
        finally:
            self._drop()
        return self._status


def _decision(r: tuple) -> Decision:
    return Decision(label=r[1], tags=frozenset(json.loads(r[2] or "[]")), error_types=frozenset(json.loads(r[3] or "[]")),
                    note=r[4] or "", reviewed=bool(r[5]), reviewer=r[6], decided_at=r[7])


def _payloads(reviewer: str, ids: list[str]) -> Iterable[str]:
    """The notifications of one transaction: the reviewer and the decided ids, split to fit."""
    chunk: list[str] = []
    size = len(reviewer) + 40
    for eid in ids:
        n = len(json.dumps(eid).encode()) + 1
        if chunk and size + n > NOTIFY_BYTES:
            yield json.dumps({"reviewer": reviewer, "ids": chunk})
            chunk, size = [], len(reviewer) + 40
        if n + len(reviewer) + 40 > NOTIFY_BYTES:  # one id too long to send: say "something changed"
            yield json.dumps({"reviewer": reviewer, "ids": []})
            continue
        chunk.append(eid)
        size += n
    if chunk:
        yield json.dumps({"reviewer": reviewer, "ids": chunk})


def _max_seq(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(fileops.sqlite_uri(path, mode="ro"), uri=True)) as conn:
        return conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]


def _short(e: BaseException) -> str:
    text = redact(str(e).strip()).splitlines()
    return text[0] if text else type(e).__name__


def apply_remote(project: Project, rows: list[tuple[str, Decision]]) -> list[str]:
    """Others' decisions into the local copy (newest wins; no event: the journal is this reviewer's
    own). Returns the ids that changed."""
    changed = []
    with project.transaction() as c:
        for eid, d in rows:
            cur = c.execute(
                UPSERT_DECISION + " WHERE decisions.decided_at IS NULL OR excluded.decided_at > decisions.decided_at",
                (eid, d.label, json.dumps(sorted(d.tags)), json.dumps(sorted(d.error_types)), d.note, int(d.reviewed),
                 d.reviewer, d.decided_at))
            if cur.rowcount:
                changed.append(eid)
    return changed
