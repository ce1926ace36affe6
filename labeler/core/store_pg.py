"""The team store: a labeler project kept in PostgreSQL, one schema per project, so that a team can
share one project instead of passing a file around.

A project on a server is named by a URL: ``postgresql://[user@]host[:port]/dbname?project=NAME``.
``project`` names the schema; every other query parameter is libpq's and passes through. A password
belongs in libpq's password file (``~/.pgpass``) or ``PGPASSWORD``, never in the URL: where one is
given anyway it is used to connect but never shown (:func:`redact` is applied to every URL and every
server message this module puts into a message).

What this module does today (the first part of the team store):

- :func:`push` copies a local project file into the server's schema, in one transaction. The first
  push copies every table as it is (COPY). Pushing again (a pulled copy with new reviews) merges by
  example: the newer decision wins (``decided_at``), the newer reviewer label per (example,
  reviewer) wins (``labeled_at``), events and sessions not on the server yet are added (the log
  keeps both sides), error types the server lacks are added at the end of its taxonomy. Derived data
  (rankings, scans, meta) that differs is replaced by the pushed copy; examples that differ are
  refused (a re-imported project is a new project on the server).
- :func:`pull` makes a local project file from the server's copy; it opens with ``Project.open``
  and every command gives the same output on it as on the file that was pushed.
- :func:`grant_reviewer` makes a role that may write decisions, events, reviewer labels, sessions and
  reviews (and post and claim items of shared queues) but cannot change or delete the examples, the
  taxonomy or the project's meta.
- The first push also makes the tables only a server project has (:data:`SERVER_TABLES`: the claims
  of shared queues, see :mod:`labeler.core.claims`; each reviewer's own decisions, see
  :mod:`labeler.core.team_sync`); pull leaves them on the server.

The tables are read from the SQLite file itself (``sqlite_master``), so a table a later schema
migration adds is copied without a change here; merging it on a second push adds its rows that the
server does not hold (by primary key). Commands run on a local copy: ``--project URL`` pulls one,
runs the command and pushes back what changed (:mod:`labeler.core.workcopy`); the team review
window keeps a copy per reviewer and sends each decision as it is made (:mod:`labeler.core.team_sync`).
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from . import fileops
from .problems import TeamStoreError
from .store import Project
from .pg_server import (  # noqa: F401  (the URL, connection and error helpers, named here too)
    ServerProject, _error, _ident, check_examples, connect, is_pg_url, parse_url, redact)
MIGRATIONS_TABLE = "_sqlite_migrations"
# Merged by key on a second push: the row with the newer timestamp wins.
NEWER_WINS = {"decisions": (("example_id",), "decided_at"),
              "reviewer_labels": (("example_id", "reviewer"), "labeled_at")}
# Tables only a server project has (a local file has no use for them): they are made by the first
# push and never pulled. claims: who reviews which item of a shared queue (labeler.core.claims),
# one row per slot: a queue posted with overlap K has K slots per item, and a reviewer holds at most
# one slot of an item (the unique index; reviewer NULL, a free slot, never collides).
SERVER_TABLES = {
    "claims": """CREATE TABLE {t} (
        queue text NOT NULL,
        example_id text NOT NULL,
        slot integer NOT NULL DEFAULT 0,
        position bigint NOT NULL,
        reviewer text,
        claimed_at timestamptz,
        lease_until timestamptz,
        done_at timestamptz,
        done_by text,
        PRIMARY KEY (queue, example_id, slot)
    ); CREATE INDEX ON {t} (queue, position, slot) WHERE done_at IS NULL
    ; CREATE UNIQUE INDEX ON {t} (queue, example_id, reviewer)""",
}
# What a reviewer may write (grant_reviewer); everything else is read-only to them.
REVIEWER_WRITES = {"decisions": "INSERT, UPDATE", "events": "INSERT", "reviewer_labels": "INSERT, UPDATE, DELETE",
                   "sessions": "INSERT, UPDATE", "claims": "INSERT, UPDATE"}


def upgrade_claims(pg: psycopg.Connection, schema: str) -> bool:
    """Give a claims table made before overlapping queues (key (queue, example_id)) its ``slot``
    column, key and unique index, in the caller's transaction; every item it holds keeps one slot
    (0). Needs the table's owner (ALTER TABLE). Returns whether there was anything to do."""
    pg.execute("SELECT pg_advisory_xact_lock(hashtext('labeler project ' || %s))", (schema,))
    if "slot" in _server_columns(pg, schema).get("claims", ["slot"]):
        return False
    t = _ident(schema, "claims")
    key = pg.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
                     (f'"{schema}".claims',)).fetchone()
    pg.execute(sql.SQL("ALTER TABLE {} ADD COLUMN slot integer NOT NULL DEFAULT 0").format(t))
    if key:
        pg.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(t, sql.Identifier(key[0])))
    pg.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (queue, example_id, slot)").format(t))
    pg.execute(sql.SQL("CREATE UNIQUE INDEX ON {} (queue, example_id, reviewer)").format(t))
    return True


# reviews: each reviewer's newest decision on an example (labeler.core.team_sync): with overlapping
# queues several reviewers decide one item; ``decisions`` keeps the newest of them all.
SERVER_TABLES["reviews"] = """CREATE TABLE {t} (
        example_id text NOT NULL,
        label text,
        tags text NOT NULL DEFAULT '[]',
        error_types text NOT NULL DEFAULT '[]',
        note text NOT NULL DEFAULT '',
        reviewed bigint NOT NULL DEFAULT 0,
        reviewer text NOT NULL,
        decided_at text,
        PRIMARY KEY (example_id, reviewer)
    )"""
REVIEWER_WRITES["reviews"] = "INSERT, UPDATE"


# -- the tables of a project --------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    name: str
    type: str  # PostgreSQL's
    notnull: bool
    default: str | None  # an SQL literal, or None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # primary key columns
    serial: str | None  # the one integer primary key column SQLite numbers itself (events.seq)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


_LITERAL = re.compile(r"'(?:[^']|'')*'|-?\d+(?:\.\d+)?")


def _pg_type(declared: str) -> str:
    t = declared.upper()
    if "INT" in t:
        return "bigint"
    if "BLOB" in t or not t:
        return "bytea"
    if any(k in t for k in ("REAL", "FLOA", "DOUB")):
        return "double precision"
    return "text"


def sqlite_tables(conn: sqlite3.Connection) -> list[Table]:
    """The tables of a project file as they are (SQLite's own tables left out)."""
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
    out = []
    for name in names:
        info = conn.execute(f'PRAGMA table_info("{name}")').fetchall()  # cid, name, type, notnull, dflt, pk
        cols = tuple(Column(r[1], _pg_type(r[2] or ""), bool(r[3]),
                            r[4] if r[4] is not None and _LITERAL.fullmatch(str(r[4])) else None) for r in info)
        key = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        serial = key[0] if len(key) == 1 and next(c for c in cols if c.name == key[0]).type == "bigint" else None
        out.append(Table(name, cols, key, serial))
    return out


def _server_columns(pg: psycopg.Connection, schema: str) -> dict[str, list[str]]:
    rows = pg.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s"
        " ORDER BY table_name, ordinal_position", (schema,)).fetchall()
    out: dict[str, list[str]] = {}
    for t, c in rows:
        out.setdefault(t, []).append(c)
    return out


def _cols(names) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, names))


def _create_table(pg: psycopg.Connection, schema: str, t: Table) -> None:
    parts = []
    for c in t.columns:
        if c.name == t.serial:
            parts.append(sql.SQL("{} bigint GENERATED BY DEFAULT AS IDENTITY").format(sql.Identifier(c.name)))
            continue
        spec = sql.SQL("{} " + c.type).format(sql.Identifier(c.name))
        if c.default is not None:
            spec = sql.SQL("{} DEFAULT {}").format(spec, sql.SQL(c.default))
        if c.notnull:
            spec = sql.SQL("{} NOT NULL").format(spec)
        parts.append(spec)
    if t.key:
        parts.append(sql.SQL("PRIMARY KEY ({})").format(_cols(t.key)))
    pg.execute(sql.SQL("CREATE TABLE {} ({})").format(_ident(schema, t.name), sql.SQL(", ").join(parts)))
    for c in t.columns:
        if c.type == "bytea":
            # the blobs are compressed already (Arrow IPC, lz4) or raw floats that hardly compress:
            # PostgreSQL's default (pglz) spent a third of a 1M-row push failing to shrink them
            pg.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET STORAGE EXTERNAL").format(
                _ident(schema, t.name), sql.Identifier(c.name)))
    if t.name == "events":  # merging looks events up by example
        pg.execute(sql.SQL("CREATE INDEX ON {} (example_id, at)").format(_ident(schema, t.name)))


def _ensure_tables(pg: psycopg.Connection, schema: str, tables: list[Table]) -> dict[str, list[str]]:
    """Create what the server lacks: the schema, tables, columns (a later migration's). Only what is
    missing is created, so a role without CREATE rights (a reviewer) can push to a current schema."""
    have = _server_columns(pg, schema)
    if not have and not pg.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone():
        pg.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    for t in tables:
        if t.name not in have:
            _create_table(pg, schema, t)
            continue
        for c in t.columns:
            if c.name not in have[t.name]:
                default = sql.SQL(" DEFAULT " + c.default) if c.default is not None else sql.SQL("")
                pg.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} " + c.type + "{}").format(
                    _ident(schema, t.name), sql.Identifier(c.name), default))
    for name, ddl in SERVER_TABLES.items():
        if name not in have:
            for statement in ddl.split(";"):
                pg.execute(sql.SQL(statement).format(t=_ident(schema, name)))
    if "claims" in have:  # pushed by a labeler before overlapping queues: migrated here
        upgrade_claims(pg, schema)
    return _server_columns(pg, schema)


# PostgreSQL's types as psycopg names them for a binary COPY
_BINARY_TYPES = {"bigint": "int8", "double precision": "float8", "text": "text", "bytea": "bytea"}


def _as_type(pg_type: str):
    """What a value SQLite holds (it stores any type in any column) becomes in a binary COPY of a
    column of ``pg_type``: what a text COPY would have made of it, or the error it would have met."""
    kind = {"bigint": int, "double precision": float, "text": str, "bytea": bytes}[pg_type]

    def convert(v):
        if v is None or type(v) is kind:
            return v
        if kind is bytes:
            return str(v).encode()
        text = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        try:
            return kind(text)
        except ValueError:
            raise psycopg.DataError(f"invalid input syntax for type {pg_type}: {text[:40]!r}") from None

    return convert


def _copy_in(pg: psycopg.Connection, target: sql.Composable, names: list[str], rows, types: list[str] | None = None) -> int:
    """COPY ``rows`` (an iterator: streamed, never all held) into ``target``. A table with blobs
    (``types`` has a bytea) is copied in binary: a text COPY sends each blob as hex, twice its size,
    and the server decodes it again (a 1M-row project's 118 MB of chunks took 2 s instead of 0.4)."""
    binary = types is not None and "bytea" in types
    statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(target, _cols(names), sql.SQL(" (FORMAT BINARY)" if binary else ""))
    n = 0
    with pg.cursor().copy(statement) as copy:
        if binary:
            copy.set_types([_BINARY_TYPES[t] for t in types])
            convert = [_as_type(t) for t in types]
            rows = ([f(v) for f, v in zip(convert, row)] for row in rows)
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def _types(t: Table, names: list[str]) -> list[str]:
    of = {c.name: c.type for c in t.columns}
    return [of[n] for n in names]


def _sq(names) -> str:
    """SQLite's quoted column list (names come from the file's own schema)."""
    return ", ".join('"' + n.replace('"', '""') + '"' for n in names)


def _sqlite_rows(conn: sqlite3.Connection, t: Table, names: list[str]):
    order = f" ORDER BY {_sq(t.key)}" if t.key else ""
    return conn.execute(f"SELECT {_sq(names)} FROM {_sq([t.name])}{order}")


# -- push --------------------------------------------------------------------------------------

@dataclass
class PushResult:
    where: str  # the redacted URL
    new: bool  # the project did not exist on the server
    added: dict[str, int] = field(default_factory=dict)  # table -> rows added or replaced
    kept_newer: dict[str, int] = field(default_factory=dict)  # table -> rows where the server's was newer
    backup: str | None = None  # the schema holding the project as it was before (labeler.core.pg_backup)
    no_backup: str = ""  # why a merge left no backup

    def describe(self) -> str:
        what = "copied to" if self.new else "merged into"
        counts = ", ".join(f"{t} {n}" for t, n in self.added.items() if n) or "nothing new"
        out = f"{what} {self.where}: {counts}"
        kept = ", ".join(f"{t} {n}" for t, n in self.kept_newer.items() if n)
        if kept:
            out += f"; the server's newer rows were kept: {kept}"
        if self.backup:
            out += f"; the project as it was is kept on the server as {self.backup}"
        elif self.no_backup:
            out += f"; no backup kept on the server ({self.no_backup})"
        return out


def push(local: str | os.PathLike, url: str, *, replace_taxonomy: bool = False) -> PushResult:
    """Copy the local project file ``local`` into the project of ``url`` on a PostgreSQL server, in
    one transaction (all or nothing): a new project is copied as it is; an existing one merges
    (see the module's docstring). Two pushes to one project take turns (an advisory lock).
    ``replace_taxonomy``: the copy's error types replace the server's (a rename or a new list made in
    the copy), instead of joining them."""
    from . import pg_backup

    where = parse_url(url)
    schema = where.project
    with Project.open(local, readonly=True) as p:
        src = p.conn
        src.execute("BEGIN")  # one snapshot of every table, whatever a writer does meanwhile
        try:
            tables = sqlite_tables(src)
            with connect(where) as pg:
                try:
                    with pg.transaction():
                        pg.execute("SELECT pg_advisory_xact_lock(hashtext('labeler project ' || %s))", (schema,))
                        new = not _server_columns(pg, schema).get("meta")
                        if not new:
                            check_examples(pg, src, schema, where)
                            # the server keeps the project as it was (labeler.core.pg_backup)
                            backup, no_backup = pg_backup.before_push(pg, schema)
                        server = _ensure_tables(pg, schema, tables)
                        result = PushResult(where.shown, new)
                        if new:
                            pg_backup.install(pg, schema)
                        else:
                            result.backup, result.no_backup = backup, no_backup
                        # on a merge the reviews go first, then what a reviewer may not write
                        for t in sorted(tables, key=lambda t: not new and t.name in ("meta", "columnar", "error_types")):
                            names = [n for n in t.names if n in server[t.name]]
                            if new:
                                result.added[t.name] = _copy_in(pg, _ident(schema, t.name), names, _sqlite_rows(src, t, names),
                                                                _types(t, names))
                                if t.serial:
                                    _advance_serial(pg, schema, t)
                            else:
                                _merge_table(pg, src, schema, t, names, result, replace_taxonomy)
                        if new:
                            _record_reviews(pg, schema, _ident(schema, "decisions"))
                        if result.backup and not any(result.added.values()):
                            pg_backup.forget(pg, schema)  # nothing changed: no backup to rotate the others out
                            result.backup = None
                except psycopg.Error as e:
                    raise _error(where, "could not push to", e) from None
        finally:
            src.execute("ROLLBACK")
    return result


def _advance_serial(pg: psycopg.Connection, schema: str, t: Table) -> None:
    pg.execute(sql.SQL("SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX({c}), 0) + 1, false) FROM {t}").format(
        c=sql.Identifier(t.serial), t=_ident(schema, t.name)), (f'"{schema}"."{t.name}"', t.serial))


def _temp(pg: psycopg.Connection, schema: str, t: Table, names: list[str], src: sqlite3.Connection, rows=None) -> sql.Identifier:
    temp = sql.Identifier(f"incoming_{t.name}")
    pg.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(temp, _ident(schema, t.name)))
    _copy_in(pg, temp, names, _sqlite_rows(src, t, names) if rows is None else rows)
    return temp


def _merge_table(pg, src, schema: str, t: Table, names: list[str], result: PushResult,
                 replace_taxonomy: bool = False) -> None:
    target = _ident(schema, t.name)
    # Tables a reviewer cannot write (the migrations' record, the taxonomy, meta, columnar) are
    # written only when the push brings something new: a statement that would insert nothing
    # still needs the right to insert.
    if t.name == MIGRATIONS_TABLE:
        theirs = {tuple(r) for r in pg.execute(sql.SQL("SELECT migration_set, name FROM {}").format(target))}
        new = [r for r in src.execute(f"SELECT migration_set, name, applied_at FROM {MIGRATIONS_TABLE} ORDER BY id")
               if tuple(r[:2]) not in theirs]
        for row in new:
            pg.execute(sql.SQL("INSERT INTO {} (migration_set, name, applied_at) VALUES (%s, %s, %s)").format(target), row)
        result.added[t.name] = len(new)
    elif t.name in NEWER_WINS:
        key, stamp = NEWER_WINS[t.name]
        temp = _temp(pg, schema, t, names, src)
        total = pg.execute(sql.SQL("SELECT count(*) FROM {}").format(temp)).fetchone()[0]
        same = pg.execute(sql.SQL("SELECT count(*) FROM {i} i JOIN {t} s USING ({k}) WHERE ({c}) IS NOT DISTINCT FROM ({sc})").format(
            i=temp, t=target, k=_cols(key), c=sql.SQL(", ").join(sql.SQL("i.{}").format(sql.Identifier(n)) for n in names),
            sc=sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(n)) for n in names))).fetchone()[0]
        update = sql.SQL(", ").join(sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(n)) for n in names if n not in key)
        cur = pg.execute(sql.SQL(
            "INSERT INTO {t} ({c}) SELECT {c} FROM {i} ON CONFLICT ({k}) DO UPDATE SET {u}"
            " WHERE {t}.{s} IS NULL OR excluded.{s} > {t}.{s}").format(
            t=target, c=_cols(names), i=temp, k=_cols(key), u=update, s=sql.Identifier(stamp)))
        # a row is rewritten only when the pushed one is newer: rows identical on both sides count
        # as neither added nor kept
        result.added[t.name] = cur.rowcount
        result.kept_newer[t.name] = total - same - result.added[t.name]
        if t.name == "decisions":
            _record_reviews(pg, schema, temp)
    elif t.name == "sessions":
        _merge_sessions(pg, src, schema, t, names, result)
    elif t.name == "events":
        pass  # with the sessions, whose ids they refer to
    elif t.name == "error_types" and replace_taxonomy:
        mine = [r[0] for r in src.execute("SELECT name FROM error_types ORDER BY position")]
        pg.execute(sql.SQL("DELETE FROM {}").format(target))
        for i, name in enumerate(mine):
            pg.execute(sql.SQL("INSERT INTO {} (name, position) VALUES (%s, %s)").format(target), (name, i))
        result.added[t.name] = len(mine)
    elif t.name == "error_types":
        theirs = {r[0]: r[1] for r in pg.execute(sql.SQL("SELECT name, position FROM {}").format(target))}
        new = [r[0] for r in src.execute("SELECT name FROM error_types ORDER BY position") if r[0] not in theirs]
        last = max(theirs.values(), default=-1)
        for i, name in enumerate(new):
            pg.execute(sql.SQL("INSERT INTO {} (name, position) VALUES (%s, %s)").format(target), (name, last + 1 + i))
        result.added[t.name] = len(new)
    elif t.name in ("meta", "columnar"):
        _replace_differing(pg, src, schema, t, names, result)
    else:
        temp = _temp(pg, schema, t, names, src)
        if t.key:
            cur = pg.execute(sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {i} ON CONFLICT ({k}) DO NOTHING").format(
                t=target, c=_cols(names), i=temp, k=_cols(t.key)))
        else:
            cur = pg.execute(sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {i} EXCEPT SELECT {c} FROM {t}").format(
                t=target, c=_cols(names), i=temp))
        result.added[t.name] = cur.rowcount


def _record_reviews(pg, schema: str, decisions: sql.Composable) -> None:
    """Each reviewer's own newest decision (the server's ``reviews``, see SERVER_TABLES) from the
    pushed ``decisions``: where both sides hold one for the same example and reviewer, the newer
    wins, as in the team review's journal (labeler.core.team_sync)."""
    cols = "example_id, label, tags, error_types, note, reviewed, reviewer, decided_at"
    update = ", ".join(f"{c} = excluded.{c}" for c in cols.split(", ")[1:])
    pg.execute(sql.SQL(
        f"INSERT INTO {{r}} ({cols}) SELECT {cols} FROM {{d}} WHERE reviewer IS NOT NULL"
        f" ON CONFLICT (example_id, reviewer) DO UPDATE SET {update}"
        " WHERE {r}.decided_at IS NULL OR excluded.decided_at > {r}.decided_at").format(
        r=_ident(schema, "reviews"), d=decisions))


def _replace_differing(pg, src, schema: str, t: Table, names: list[str], result: PushResult) -> None:
    """meta (by key) and derived columnar data (by name: rankings, scans): the pushed copy's wins
    where it differs; the server's rows the copy does not have are left."""
    target = _ident(schema, t.name)
    if t.name == "meta":
        mine = dict(src.execute("SELECT key, value FROM meta").fetchall())
        theirs = dict(pg.execute(sql.SQL("SELECT key, value FROM {}").format(target)).fetchall())
        changed = [(k, v) for k, v in mine.items() if theirs.get(k, object()) != v]
        for k, v in changed:
            pg.execute(sql.SQL("INSERT INTO {} (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                       .format(target), (k, v))
        result.added[t.name] = len(changed)
        return
    sig = "SELECT name, chunk, crc, length(data) FROM {} ORDER BY name, chunk"
    mine: dict[str, list] = {}
    for name, *rest in src.execute(sig.format("columnar")).fetchall():
        mine.setdefault(name, []).append(tuple(rest))
    theirs: dict[str, list] = {}
    for name, *rest in pg.execute(sql.SQL(sig).format(target)).fetchall():
        theirs.setdefault(name, []).append(tuple(rest))
    replaced = 0
    for name, chunks in mine.items():
        if name == "examples" or theirs.get(name) == chunks:
            continue
        pg.execute(sql.SQL("DELETE FROM {} WHERE name = %s").format(target), (name,))
        rows = src.execute(f'SELECT {", ".join(names)} FROM columnar WHERE name = ? ORDER BY chunk', (name,))
        replaced += _copy_in(pg, target, names, rows, _types(t, names))
    result.added[t.name] = replaced


def _merge_sessions(pg, src, schema: str, t: Table, names: list[str], result: PushResult) -> None:
    """Sessions are the same when they started at the same instant for the same reviewer and queue;
    new ones get the server's next ids, and the pushed events are renumbered to match. Events the
    server holds already (same instant, example, action, before, after and reviewer) are not added
    again; the rest are appended in the order they happened."""
    target = _ident(schema, t.name)
    server = {(r[1], r[2], r[3]): r[0] for r in pg.execute(
        sql.SQL("SELECT id, started_at, reviewer, queue FROM {}").format(target))}
    ids: dict[int, int] = {}
    added = 0
    for sid, started, ended, reviewer, queue, items in src.execute(
            "SELECT id, started_at, ended_at, reviewer, queue, items FROM sessions ORDER BY id"):
        found = server.get((started, reviewer, queue))
        if found is None:
            found = pg.execute(sql.SQL("INSERT INTO {} (started_at, ended_at, reviewer, queue, items)"
                                       " VALUES (%s, %s, %s, %s, %s) RETURNING id").format(target),
                               (started, ended, reviewer, queue, items)).fetchone()[0]
            added += 1
        else:
            pg.execute(sql.SQL("UPDATE {} SET ended_at = GREATEST(ended_at, %s), items = GREATEST(items, %s)"
                               " WHERE id = %s AND (ended_at IS DISTINCT FROM GREATEST(ended_at, %s) OR items < %s)").format(target),
                       (ended, items, found, ended, items))
        ids[sid] = found
    result.added["sessions"] = added

    events = next(x for x in sqlite_tables(src) if x.name == "events")
    on_server = _server_columns(pg, schema)["events"]
    enames = [n for n in events.names if n in on_server]
    at = enames.index("session_id")
    rows = ([*r[:at], ids.get(r[at], r[at]) if r[at] is not None else None, *r[at + 1:]]
            for r in _sqlite_rows(src, events, enames))
    temp = _temp(pg, schema, events, enames, src, rows)
    # at, example_id and action are NOT NULL: compared with =, which the index on (example_id, at)
    # and a hash join can serve (IS NOT DISTINCT FROM on every column compared each pushed event
    # with every event on the server: 2.7 s of a push with 10,000 events, growing as their square)
    same = sql.SQL(" AND ").join(
        [sql.SQL("e.{c} = i.{c}").format(c=sql.Identifier(c)) for c in ("at", "example_id", "action")]
        + [sql.SQL("e.{c} IS NOT DISTINCT FROM i.{c}").format(c=sql.Identifier(c)) for c in ("before", "after", "reviewer")])
    insert = [n for n in enames if n != "seq"]
    cur = pg.execute(sql.SQL(
        "INSERT INTO {t} ({c}) SELECT {ic} FROM {i} i WHERE NOT EXISTS (SELECT 1 FROM {t} e WHERE {same})"
        " ORDER BY i.at, i.seq").format(
        t=_ident(schema, "events"), c=_cols(insert), i=temp, same=same,
        ic=sql.SQL(", ").join(sql.SQL("i.{}").format(sql.Identifier(n)) for n in insert)))
    result.added["events"] = cur.rowcount


# -- pull --------------------------------------------------------------------------------------

@dataclass
class PullResult:
    where: str
    path: Path
    rows: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        counts = ", ".join(f"{t} {n}" for t, n in self.rows.items() if n)
        return f"{self.path} made from {self.where}: {counts}"


def pull(url: str, local: str | os.PathLike) -> PullResult:
    """Make the local project file ``local`` from the project of ``url``: every table as the server
    holds it, read in one snapshot. Refuses to overwrite a file; the new file appears whole or not
    at all (built beside it under another name, then linked into place)."""
    where = parse_url(url)
    path = Path(local)
    if path.exists():
        raise TeamStoreError(f"{path} exists already: pull makes a new project file (push sends changes back)")
    lock = fileops.acquire_lock(path)
    scratch = path.with_name(f".{path.name}.pulling-{os.getpid()}")
    try:
        if path.exists():
            raise TeamStoreError(f"{path} exists already: pull makes a new project file")
        fileops.remove_db_files(scratch)
        result = PullResult(where.shown, path)
        with connect(where) as pg:
            pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            pg.read_only = True
            try:
                with pg.transaction():
                    _pull_into(pg, where, scratch, result)
            except psycopg.Error as e:
                raise _error(where, "could not pull from", e) from None
        try:
            os.link(scratch, path)  # never replaces a file that appeared meanwhile
        except FileExistsError:
            raise TeamStoreError(f"{path} exists already: pull makes a new project file") from None
        fileops.sync(path.parent, strict=False)
    finally:
        fileops.remove_db_files(scratch, strict=False)
        fileops.lock_path(scratch).unlink(missing_ok=True)
        fileops.release_lock(lock)
        fileops.lock_path(path).unlink(missing_ok=True)
    return result


def _pull_into(pg: psycopg.Connection, where: ServerProject, scratch: Path, result: PullResult) -> None:
    schema = where.project
    server = _server_columns(pg, schema)
    if "meta" not in server:
        raise TeamStoreError(f"there is no project {schema!r} on {where.shown} (push one first)")
    project = Project.create(scratch, scratch=True)
    try:
        local = {t.name: t for t in sqlite_tables(project.conn)}
        known = {r[0] for r in project.conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
        theirs = {r[0] for r in pg.execute(sql.SQL("SELECT name FROM {}").format(_ident(schema, MIGRATIONS_TABLE)))}
        newer = sorted(theirs - known) + sorted(f"{t}.{c}" for t in server for c in server[t]
                                                if t not in SERVER_TABLES and (t not in local or c not in local[t].names))
        if newer:
            raise TeamStoreError(f"{where.shown} was pushed by a newer labeler ({', '.join(newer[:5])}): upgrade labeler to pull it")
        with project.transaction() as c:
            for t in local.values():
                if t.name == MIGRATIONS_TABLE or t.name not in server:
                    continue
                names = [n for n in t.names if n in server[t.name]]
                c.execute(f"DELETE FROM {_sq([t.name])}")
                order = sql.SQL(" ORDER BY {}").format(_cols(t.key)) if t.key else sql.SQL("")
                if t.name == "events":
                    # the server numbers events as pushes arrive; the copy keeps them in the order
                    # they happened (undo and the tally read the log in order)
                    names = [n for n in names if n != "seq"]
                    order = sql.SQL(" ORDER BY at, seq")
                insert = f"INSERT INTO {_sq([t.name])} ({_sq(names)}) VALUES ({', '.join('?' * len(names))})"
                result.rows[t.name] = _copy_out(pg, c, insert, _ident(schema, t.name), names, _types(t, names), order)
        project.seal()
    except BaseException:
        project.close()
        raise


def _copy_out(pg: psycopg.Connection, into: sqlite3.Connection, insert: str, source: sql.Composable,
              names: list[str], types: list[str], order: sql.Composable) -> int:
    """Stream the rows of ``source`` into SQLite (``insert``) with a binary COPY: blobs arrive as
    they are (a cursor's text rows carry them as hex, decoded again here), and rows as they come.
    Each column is cast to the type the local file's table gives it, so the binary rows read
    right whatever type a server column has."""
    cast = sql.SQL(", ").join(sql.SQL("{}::" + t).format(sql.Identifier(n)) for n, t in zip(names, types))
    statement = sql.SQL("COPY (SELECT {} FROM {}{}) TO STDOUT (FORMAT BINARY)").format(cast, source, order)
    n = 0

    def rows():
        nonlocal n
        for row in copy.rows():
            n += 1
            yield row

    with pg.cursor().copy(statement) as copy:
        copy.set_types([_BINARY_TYPES[t] for t in types])
        into.executemany(insert, rows())
    return n


# -- the reviewer role -------------------------------------------------------------------------

def grant_reviewer(url: str, role: str, *, login: bool = True) -> list[str]:
    """Let ``role`` (made when missing, able to log in unless not ``login``; its password is set
    apart, e.g. ``\\password`` in psql) review the project of ``url``: read everything, write
    decisions, events, reviewer labels and sessions; never change or delete examples (the columnar
    chunks), the taxonomy or the project's meta. Returns the SQL statements it ran."""
    where = parse_url(url)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,62}", role):
        raise TeamStoreError(f"role name {role!r} must be 1-63 letters, digits, '_' or '-'")
    schema = sql.Identifier(where.project)
    r = sql.Identifier(role)
    ran: list[str] = []
    with connect(where) as pg:
        try:
            with pg.transaction():
                tables = _server_columns(pg, where.project)
                if "meta" not in tables:
                    raise TeamStoreError(f"there is no project {where.project!r} on {where.shown} (push one first)")
                statements = []
                if not pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    statements.append(sql.SQL("CREATE ROLE {} " + ("LOGIN" if login else "NOLOGIN")).format(r))
                statements += [
                    sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, r),
                    sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema, r),
                    sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, r),
                ]
                statements += [sql.SQL("GRANT " + rights + " ON {} TO {}").format(_ident(where.project, t), r)
                               for t, rights in REVIEWER_WRITES.items() if t in tables]
                for s in statements:
                    pg.execute(s)
                    ran.append(s.as_string(pg))
        except psycopg.Error as e:
            raise _error(where, "could not grant on", e) from None
    return ran
