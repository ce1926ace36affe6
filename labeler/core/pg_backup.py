"""Backups of a team project kept on its own server, and putting one back: the server side of
``labeler restore --project postgresql://...?project=NAME``.

Before a push changes a project that is on the server already, the server copies the project's
tables, inside the push's transaction, into a sibling schema ``NAME__backup_<UTC time>`` (the name
starts with at most 32 characters of NAME; a comment on the schema says whose backup it is, who
pushed, and in which transaction); the last :data:`KEEP` are kept, as the local backups
(:mod:`labeler.core.backup`). The examples' chunks are not copied: a push refuses other examples
(``pg_server.check_examples``), so they are the same in every backup of a project; a backup keeps
their checksums (table ``labeler_examples``) and a restore checks them.

The copy is made by a function the project's owner makes at the first push,
``NAME.labeler_backup(what)``, which runs with its owner's rights (``SECURITY DEFINER``): a reviewer,
who may not create schemas, still leaves a backup behind each push. It only ever copies the
project into a new schema, drops backups past the last :data:`KEEP`, or drops the backup made in the
caller's own transaction (a push that brought nothing new).

:func:`restore` runs as the project's owner, in one transaction under the lock pushes take: the
current tables are copied aside first into ``NAME__replaced_<UTC time>`` (never dropped by labeler),
then each table is emptied and filled from the backup. A restore is refused, nothing changed, for a
name that is not a backup of this project, or for a role that does not own it (a reviewer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import psycopg
from psycopg import sql

from . import pg_server
from .problems import TeamStoreError

KEEP = 5
FUNCTION = "labeler_backup"
EXAMPLES_TABLE = "labeler_examples"  # in a backup: the checksums of the examples' chunks
PREFIX = 32  # characters of the project's name that start a backup's schema name (63 at most in all)
_STAMP = "%Y%m%dT%H%M%S%fZ"


def _heading(kind: str, project: str) -> str:
    """The first line of a backup schema's comment: what it is, of which project."""
    return f"labeler {kind} of project {project}"


_BODY = """
DECLARE
    project constant text := {project};
    keep constant int := {keep};
    target text;
    heading text;
    t record;
BEGIN
    IF what = 'forget' THEN
        FOR t IN SELECT nspname FROM pg_namespace
                 WHERE obj_description(oid, 'pg_namespace') LIKE 'labeler backup of project ' || project || E'\\n%'
                   AND split_part(obj_description(oid, 'pg_namespace'), E'\\n', 3) = 'transaction ' || txid_current() LOOP
            EXECUTE format('DROP SCHEMA %I CASCADE', t.nspname);
        END LOOP;
        RETURN NULL;
    END IF;
    IF what NOT IN ('backup', 'replaced') THEN
        RAISE EXCEPTION 'labeler_backup(%): expected backup, replaced or forget', what;
    END IF;
    IF what = 'replaced' AND NOT pg_has_role(session_user, current_user, 'MEMBER') THEN
        RAISE insufficient_privilege USING MESSAGE = 'only the owner of project ' || project || ' may restore it';
    END IF;
    heading := 'labeler ' || what || ' of project ' || project;
    target := left(project, {prefix}) || '__' || what || '_'
              || to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISSUS"Z"');
    EXECUTE format('CREATE SCHEMA %I', target);
    EXECUTE format('COMMENT ON SCHEMA %I IS %L', target,
                   heading || E'\\nby ' || session_user || E'\\ntransaction ' || txid_current());
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = project ORDER BY tablename LOOP
        IF t.tablename = 'columnar' THEN
            EXECUTE format('CREATE TABLE %I.%I AS SELECT * FROM %I.%I WHERE name <> %L',
                           target, t.tablename, project, t.tablename, 'examples');
        ELSE
            EXECUTE format('CREATE TABLE %I.%I AS SELECT * FROM %I.%I', target, t.tablename, project, t.tablename);
        END IF;
    END LOOP;
    EXECUTE format('CREATE TABLE %I.{examples} AS SELECT chunk, crc, length(data) AS bytes FROM %I.columnar'
                   ' WHERE name = %L', target, project, 'examples');
    IF what = 'backup' THEN
        FOR t IN SELECT nspname FROM pg_namespace
                 WHERE split_part(obj_description(oid, 'pg_namespace'), E'\\n', 1) = heading
                 ORDER BY nspname DESC OFFSET keep LOOP
            EXECUTE format('DROP SCHEMA %I CASCADE', t.nspname);
        END LOOP;
    END IF;
    RETURN target;
END
"""


def install(pg: psycopg.Connection, schema: str) -> None:
    """Make the project's backup function (the project's owner, at its first push)."""
    body = _BODY.format(project=sql.Literal(schema).as_string(pg), keep=KEEP, prefix=PREFIX, examples=EXAMPLES_TABLE)
    pg.execute(sql.SQL("CREATE FUNCTION {}.{}(what text) RETURNS text LANGUAGE plpgsql SECURITY DEFINER"
                       " SET search_path = pg_catalog, pg_temp AS {}").format(
        sql.Identifier(schema), sql.Identifier(FUNCTION), sql.Literal(body)))


def _installed(pg: psycopg.Connection, schema: str) -> bool:
    return pg.execute("SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                      " WHERE n.nspname = %s AND p.proname = %s", (schema, FUNCTION)).fetchone() is not None


def _call(pg: psycopg.Connection, schema: str, what: str) -> str | None:
    return pg.execute(sql.SQL("SELECT {}.{}(%s)").format(sql.Identifier(schema), sql.Identifier(FUNCTION)),
                      (what,)).fetchone()[0]


def before_push(pg: psycopg.Connection, schema: str) -> tuple[str | None, str]:
    """Back the project up before a push changes it (inside the push's transaction): the backup's
    schema name, or None and why there is none (a project of an older labeler pushed to by a role
    that may not make the function)."""
    if not _installed(pg, schema):
        if not pg.execute("SELECT has_schema_privilege(%s, 'CREATE')", (schema,)).fetchone()[0]:
            return None, "the project has no backup function yet: push once as its owner"
        install(pg, schema)
    return _call(pg, schema, "backup"), ""


def forget(pg: psycopg.Connection, schema: str) -> None:
    """Drop the backup this transaction made (a push that brought nothing new)."""
    _call(pg, schema, "forget")


# -- listing and restoring ----------------------------------------------------------------------

@dataclass(frozen=True)
class ServerBackup:
    name: str  # the schema
    kind: str  # backup, or replaced (the state a restore replaced)
    by: str  # the role that pushed (or restored)
    size: int  # bytes on the server

    @property
    def when(self) -> str:
        t = datetime.strptime(self.name.rsplit("_", 1)[1], _STAMP).replace(tzinfo=timezone.utc)
        return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _snapshots(pg: psycopg.Connection, schema: str) -> list[ServerBackup]:
    """Every backup and replaced state of the project, newest first."""
    rows = pg.execute(
        "SELECT n.nspname, obj_description(n.oid, 'pg_namespace'),"
        " (SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
        "  WHERE c.relnamespace = n.oid AND c.relkind = 'r')"
        " FROM pg_namespace n WHERE obj_description(n.oid, 'pg_namespace') LIKE 'labeler %'"
        " ORDER BY n.nspname DESC").fetchall()
    out = []
    for name, comment, size in rows:
        lines = comment.split("\n")
        for kind in ("backup", "replaced"):
            if lines[0] == _heading(kind, schema):
                by = lines[1].removeprefix("by ") if len(lines) > 1 else ""
                out.append(ServerBackup(name, kind, by, int(size)))
    return out


def list_backups(url: str) -> list[ServerBackup]:
    """The server's backups of the project of ``url``, newest first (not the replaced states)."""
    where = pg_server.parse_url(url)
    with pg_server.connect(where) as pg:
        try:
            _require_project(pg, where)
            return [b for b in _snapshots(pg, where.project) if b.kind == "backup"]
        except psycopg.Error as e:
            raise pg_server._error(where, "could not list the backups of", e) from None


def _require_project(pg: psycopg.Connection, where: pg_server.ServerProject) -> None:
    if not pg.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'meta'",
                      (where.project,)).fetchone():
        raise TeamStoreError(f"there is no project {where.project!r} on {where.shown} (push one first)")


@dataclass(frozen=True)
class ServerRestored:
    where: str  # the redacted URL
    backup: str
    replaced: str  # the schema holding the state the restore replaced


def restore(url: str, which: str | None = None) -> ServerRestored:
    """Put a backup (the newest, or the backup or replaced state named ``which``) back into the
    project of ``url``, in one transaction under the lock pushes take; the current state is kept
    aside first in ``NAME__replaced_<UTC time>``. Only the project's owner may."""
    where = pg_server.parse_url(url)
    schema = where.project
    with pg_server.connect(where) as pg:
        try:
            with pg.transaction():
                pg.execute("SELECT pg_advisory_xact_lock(hashtext('labeler project ' || %s))", (schema,))
                _require_project(pg, where)
                user, owner, may = pg.execute(
                    "SELECT current_user, pg_get_userbyid(nspowner), pg_has_role(current_user, nspowner, 'MEMBER')"
                    " FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
                if not may:
                    raise TeamStoreError(f"{user} may not restore {where.shown}: only the project's owner ({owner}) may"
                                         " (a reviewer's role cannot)")
                found = _snapshots(pg, schema)
                if which is None:
                    backups = [b for b in found if b.kind == "backup"]
                    if not backups:
                        raise TeamStoreError(f"no backups of {where.shown} (the server makes one before each push"
                                             " that changes the project)")
                    source = backups[0].name
                elif which in {b.name for b in found}:
                    source = which
                else:
                    raise TeamStoreError(f"no backup {which} of {where.shown} (see labeler restore --project URL --list)")
                _check_examples(pg, schema, source, where)
                if not _installed(pg, schema):
                    install(pg, schema)
                replaced = _call(pg, schema, "replaced")
                _put_back(pg, schema, source)
        except psycopg.Error as e:
            raise pg_server._error(where, "could not restore", e) from None
    return ServerRestored(where.shown, source, replaced)


def _check_examples(pg: psycopg.Connection, schema: str, source: str, where) -> None:
    theirs = pg.execute(sql.SQL("SELECT chunk, crc, bytes FROM {} ORDER BY chunk").format(
        sql.Identifier(source, EXAMPLES_TABLE))).fetchall()
    mine = pg.execute(sql.SQL("SELECT chunk, crc, length(data) FROM {} WHERE name = 'examples' ORDER BY chunk").format(
        sql.Identifier(schema, "columnar"))).fetchall()
    if theirs != mine:
        raise TeamStoreError(f"{source} holds other examples than {where.shown}: it cannot be put back into it")


def _columns(pg: psycopg.Connection, schema: str) -> dict[str, list[str]]:
    rows = pg.execute("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s"
                      " ORDER BY table_name, ordinal_position", (schema,)).fetchall()
    out: dict[str, list[str]] = {}
    for t, c in rows:
        out.setdefault(t, []).append(c)
    return out


def _put_back(pg: psycopg.Connection, schema: str, source: str) -> None:
    """Each table of the project emptied and filled from ``source`` (the examples' chunks stay: they
    are the backup's). A table the backup lacks (a later labeler's) is emptied: it held nothing then."""
    live, saved = _columns(pg, schema), _columns(pg, source)
    for table, names in live.items():
        target = sql.Identifier(schema, table)
        keep = sql.SQL(" WHERE name <> 'examples'") if table == "columnar" else sql.SQL("")
        pg.execute(sql.SQL("DELETE FROM {}{}").format(target, keep))
        common = [n for n in names if n in saved.get(table, ())]
        if common:
            cols = sql.SQL(", ").join(map(sql.Identifier, common))
            pg.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
                target, cols, cols, sql.Identifier(source, table)))
