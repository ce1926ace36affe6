"""Opening a project file: the checks made before SQLite touches it (an SQLite file? its tables? every
page sound?), the connections (a writer in WAL mode with synchronous=FULL; a reader that cannot write,
``immutable`` on a read-only share), and what a failure says (naming `labeler restore` when backups
exist). :class:`labeler.core.store.Project` uses them."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from . import backup, fileops
from .fileops import sqlite_uri
from .problems import ProjectError

SQLITE_MAGIC = b"SQLite format 3\x00"
WAL_SIZE_LIMIT = 4 * 2**20


def _check_file(path: Path) -> None:
    """Refuse anything that is not an SQLite file, before SQLite (which would write) touches it."""
    if path.is_dir():
        raise ProjectError(f"{path} is a directory, not a labeler project")
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise ProjectError(f"cannot read project {path}: {e.strerror}") from e
    if head != SQLITE_MAGIC:
        what = "an empty file" if not head else "not an SQLite database, or its header is corrupt"
        raise ProjectError(f"{path} is not a labeler project ({what}).{_restore_hint(path)}")


def _validate(conn: sqlite3.Connection, path: Path) -> None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = {"columnar", "decisions", "events", "meta"} - tables
    if missing:
        raise ProjectError(
            f"{path} is not a labeler project (missing tables: {', '.join(sorted(missing))}).{_restore_hint(path)}"
        )
    # Walk every page (b-trees, overflow chains, free list): a damaged file fails here, not
    # mid-review. ~0.15 s for a million examples, less than loading them.
    problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise ProjectError(
            f"{path} is damaged ({'; '.join(problems)}). It was not changed.{_restore_hint(path)}"
        )


def _restore_hint(path: Path) -> str:
    found = backup.list_backups(path)
    if not found:
        return ""
    return (f" {len(found)} backup(s) exist, the latest from {found[0].when}:"
            f" `labeler restore --project {path}` puts it back (the damaged file is kept aside).")


def _save_error(path: Path, e: sqlite3.Error) -> ProjectError:
    text = str(e)
    if "full" in text or "too large" in text or "I/O" in text:
        return ProjectError(
            f"could not save to {path}: the disk is full or the file too large ({text});"
            " this change was not saved, everything saved before is intact. Free some space and try again."
        )
    return ProjectError(f"could not save to {path}: {text}; this change was not saved")


def _unsaved_note(path: Path) -> str | None:
    """Decisions kept in a recovery file because this project's file was gone when they were made."""
    unsaved = fileops.unsaved_path(path)
    try:
        with open(unsaved, encoding="utf-8") as f:
            n = sum(1 for line in f if line.strip())
    except OSError:
        return None
    if not n:
        return None
    return (f"{unsaved} holds {n} decision{'' if n == 1 else 's'} made while {path.name} was gone and not saved"
            f" in it: `labeler restore --project {path} --unsaved {unsaved}` writes them in")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that cannot write. A project is in WAL mode, and SQLite reads one through its
    ``-shm`` index, which it creates beside the file: in a read-only folder (a mounted dataset, a
    share) it cannot, and the open fails. A project closed cleanly has no WAL, so it is then opened
    ``immutable`` (no index, no locks). One with changes still in its WAL cannot be read that way
    without missing them: that is said, not hidden."""
    kw = dict(uri=True, isolation_level=None, check_same_thread=False)
    conn = sqlite3.connect(sqlite_uri(path, mode="ro"), **kw)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the file (and the WAL)
        return conn
    except sqlite3.OperationalError:
        conn.close()
        if os.access(path.parent, os.W_OK):
            raise  # the folder is not the problem
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise ProjectError(
            f"{path} cannot be read here: its folder is read-only and {wal.name} beside it holds changes"
            " a writer had not yet put into the file (it was not closed cleanly). Open it once where the"
            " folder can be written (a copy of the project with its -wal file), then read it here"
        )
    return sqlite3.connect(sqlite_uri(path, mode="ro", immutable=1), **kw)


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        conn = _connect_readonly(path)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        # No checkpoint inside a decision's commit: Project.checkpoint() does it off the GUI thread.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        # Once a checkpoint has caught up, the next write starts the WAL over and cuts it to this.
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn
