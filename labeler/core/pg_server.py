"""Where a team project lives on a PostgreSQL server and how to talk to it: the project URL
(``postgresql://[user@]host[:port]/dbname?project=NAME``), its redaction, the connection, the
server's errors as one redacted line, and the checks every server module shares. Used by
:mod:`labeler.core.store_pg` (push, pull), :mod:`labeler.core.pg_backup`, :mod:`labeler.core.claims`,
:mod:`labeler.core.team_sync` and :mod:`labeler.core.team_agreement`; imports none of them."""

from __future__ import annotations

import re
import sqlite3
import urllib.parse
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from .problems import TeamStoreError
from .urls import is_pg_url

# A schema name that needs no thought anywhere (psql, pg_dump -n, file names of backups).
PROJECT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,62}")


# -- URLs --------------------------------------------------------------------------------------

# user:password@ of any URL, to the last @ before a space (a password may hold an unescaped @, # or /)
_USERINFO_PASSWORD = re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/@?#\s]*):\S*@")
_PARAM_PASSWORD = re.compile(r"(?i)((?:^|[?&\s])password=)[^&\s'\"]*")


def redact(text: str) -> str:
    """``text`` (a URL, or a message holding URLs or ``password=`` parameters) with every password
    replaced by ``***``."""
    return _PARAM_PASSWORD.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1:***@", text))


def _shown(url: str) -> str:
    """One URL as messages show it: its user part runs to the last '@', so a password is hidden
    whatever it holds (a space too), and so is every ``password=`` parameter."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if sep and at and ":" in userinfo:
        url = f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"
    return redact(url)


@dataclass(frozen=True)
class ServerProject:
    """Where a project lives on a server. ``conninfo`` is for libpq only (it may hold a password);
    ``shown`` is what messages say."""

    conninfo: str = field(repr=False)
    project: str
    shown: str

    def __str__(self) -> str:
        return self.shown


def parse_url(url: str) -> ServerProject:
    """``postgresql://[user@]host[:port]/dbname?project=NAME[&libpq parameters]``."""
    shown = _shown(url)
    if not is_pg_url(url):
        raise TeamStoreError(f"not a PostgreSQL URL: {shown} (expected postgresql://[user@]host[:port]/dbname?project=NAME)")
    parts = urllib.parse.urlsplit(url)
    if "@" in parts.path or "@" in parts.fragment:  # user:pa/ss@host: libpq would read a host in the password
        raise TeamStoreError(f"{shown}: a '/' or '#' in the user or password part must be escaped (%2F, %23);"
                             " better, keep the password in ~/.pgpass or PGPASSWORD")
    params = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    names = [v for k, v in params if k == "project"]
    if len(names) != 1 or not names[0]:
        raise TeamStoreError(f"{shown}: name the project once, with ?project=NAME")
    name = names[0]
    if not PROJECT_NAME.fullmatch(name):
        raise TeamStoreError(f"{shown}: project name {name!r} must be 1-63 letters, digits, '_' or '-',"
                             " starting with a letter or '_'")
    if not parts.path.strip("/"):
        raise TeamStoreError(f"{shown}: name the database, postgresql://host/DBNAME?project={name}")
    rest = urllib.parse.urlencode([(k, v) for k, v in params if k != "project"])
    conninfo = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, rest, ""))
    return ServerProject(conninfo, name, shown)


def connect(where: ServerProject, **kwargs) -> psycopg.Connection:
    conninfo = where.conninfo
    parts = urllib.parse.urlsplit(conninfo)
    userinfo, _, host = parts.netloc.rpartition("@")
    if ":" in userinfo:  # the password goes to libpq apart, never in a URL it could quote back
        user, password = userinfo.split(":", 1)
        conninfo = urllib.parse.urlunsplit(parts._replace(netloc=f"{user}@{host}"))
        kwargs.setdefault("password", urllib.parse.unquote(password))
    try:
        return psycopg.connect(conninfo, application_name="labeler", **kwargs)
    except psycopg.Error as e:
        raise _error(where, "cannot connect to", e) from None


def _error(where: ServerProject, doing: str, e: Exception) -> TeamStoreError:
    # one line (libpq adds hints on lines of their own), and the password in none of its spellings
    text = "; ".join(line.strip() for line in str(e).splitlines() if line.strip())
    parts = urllib.parse.urlsplit(where.conninfo)
    given = [parts.password or ""] + [v for k, v in urllib.parse.parse_qsl(parts.query) if k == "password"]
    for password in sorted({f for p in given if p for f in (p, urllib.parse.unquote(p))}, key=len, reverse=True):
        text = text.replace(password, "***")
    return TeamStoreError(f"{doing} {where.shown}: {redact(text)}")


def _ident(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def check_examples(pg: psycopg.Connection, src: sqlite3.Connection, schema: str, where: ServerProject) -> None:
    mine = src.execute("SELECT chunk, crc, length(data) FROM columnar WHERE name = 'examples' ORDER BY chunk").fetchall()
    theirs = pg.execute(sql.SQL("SELECT chunk, crc, length(data) FROM {} WHERE name = 'examples' ORDER BY chunk").format(
        _ident(schema, "columnar"))).fetchall()
    if [tuple(r) for r in mine] != [tuple(r) for r in theirs]:
        raise TeamStoreError(
            f"{where.shown} holds other examples than this project (imported from another file, or imported"
            " again): push it under a new project name instead")
