"""Rotating backups of a project, and putting one back (BAD_INPUTS row 30).

A clean close of a writer that changed something copies the project, through SQLite's backup API
(never a plain copy of a live file, which can catch it half-written), into
``<project>.backups/<UTC time>.labeler.db``; the last :data:`KEEP` are kept. :func:`restore` puts
one back after moving the current file (and its WAL) aside: it never deletes a project file.

This module never imports :mod:`labeler.core.store` (the store calls it when a project closes): it
is handed the path and the connection, and takes the project lock and the fsyncs from
:mod:`labeler.core.fileops`. An import-linter contract in pyproject.toml keeps it so.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import fileops
from .problems import ProjectError

KEEP = 5
SUFFIX = ".labeler.db"
_STAMP = "%Y%m%dT%H%M%S.%fZ"


@dataclass(frozen=True)
class Backup:
    path: Path
    when: str  # UTC, readable: 2025-01-31 12:34:56

    @property
    def size(self) -> int:
        return self.path.stat().st_size


@dataclass(frozen=True)
class Restored:
    project: Path
    backup: Path
    moved_aside: list[Path]  # the files that were in the way, renamed, never deleted


def backup_dir(project_path: str | os.PathLike) -> Path:
    p = Path(project_path)
    return p.with_name(p.name + ".backups")


def _when(name: str) -> str | None:
    try:
        t = datetime.strptime(name[: -len(SUFFIX)], _STAMP)
    except ValueError:
        return None
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def list_backups(project_path: str | os.PathLike) -> list[Backup]:
    """The backups of a project, newest first."""
    folder = backup_dir(project_path)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    out = [Backup(folder / n, w) for n in names if n.endswith(SUFFIX) and (w := _when(n)) is not None]
    return sorted(out, key=lambda b: b.path.name, reverse=True)


def _copy_database(src: sqlite3.Connection, dst_path: Path) -> None:
    """A consistent copy of ``src``'s database in ``dst_path`` (a new file), synced to disk."""
    dst = sqlite3.connect(str(dst_path))
    try:
        src.backup(dst)
        # The copy is a project file on its own: one file, no WAL beside it.
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
    fileops.sync(dst_path, strict=False)


def copy_to(conn: sqlite3.Connection, target: Path) -> Path:
    """A new project file at ``target`` holding what ``conn`` reads (also when its own file was
    deleted): written under a temporary name, synced, renamed into place. Refuses an existing file."""
    if target.exists():
        raise ProjectError(f"{target} exists already; choose a new name")
    tmp = target.with_name(f".{target.name}.copying-{os.getpid()}")
    fileops.remove_db_files(tmp, strict=False)
    try:
        _copy_database(conn, tmp)
        os.replace(tmp, target)
    except BaseException:
        fileops.remove_db_files(tmp, strict=False)
        raise
    fileops.sync(target.parent, strict=False)
    return target


def make_backup(project_path: Path, conn: sqlite3.Connection, *, keep: int = KEEP) -> Path:
    """Back the open project at ``project_path`` (``conn``: its connection) up into its backups
    folder; drop all but the newest ``keep``."""
    folder = backup_dir(project_path)
    folder.mkdir(exist_ok=True)
    name = datetime.now(timezone.utc).strftime(_STAMP) + SUFFIX
    final, tmp = folder / name, folder / (name + ".tmp")
    try:
        _copy_database(conn, tmp)
        os.replace(tmp, final)
    except BaseException:
        fileops.remove_db_files(tmp, strict=False)
        raise
    fileops.sync(folder, strict=False)
    for old in list_backups(project_path)[keep:]:
        fileops.remove_db_files(old.path, strict=False)
    for stale in folder.glob("*.tmp"):  # left by a backup that was killed
        if stale != tmp:
            fileops.remove_db_files(stale, strict=False)
    return final


def _check_backup(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            ok = f.read(16) == b"SQLite format 3\x00"
        if ok:
            conn = sqlite3.connect(fileops.sqlite_uri(path, mode="ro"), uri=True)
            try:
                ok = [r[0] for r in conn.execute("PRAGMA quick_check(1)")] == ["ok"]
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                ok = ok and {"columnar", "decisions", "events", "meta"} <= tables
            finally:
                conn.close()
    except (OSError, sqlite3.Error):
        ok = False
    if not ok:
        raise ProjectError(f"{path} is not a sound labeler project; choose another backup (labeler restore --list)")


def find_backup(project_path: str | os.PathLike, which: str | os.PathLike | None) -> Path:
    """``which``: None (the newest), a backup's file name in the backups folder, or any path."""
    if which is None:
        found = list_backups(project_path)
        if not found:
            raise ProjectError(f"no backups of {project_path} (they are made in {backup_dir(project_path)})")
        return found[0].path
    p = Path(which)
    if p.exists():
        return p
    in_folder = backup_dir(project_path) / p.name
    if in_folder.exists():
        return in_folder
    raise ProjectError(f"no backup {which} (see labeler restore --list)")


def restore(project_path: str | os.PathLike, which: str | os.PathLike | None = None) -> Restored:
    """Make the project at ``project_path`` a copy of a backup (the newest by default).

    The current file, damaged or not, and its WAL are renamed to ``<project>.replaced-<time>``
    first. Refused while another labeler writes to the project."""
    project_path = Path(project_path)
    source = find_backup(project_path, which)
    _check_backup(source)
    lock = fileops.acquire_lock(project_path)
    try:
        stamp = datetime.now(timezone.utc).strftime(_STAMP)
        aside = project_path.with_name(f"{project_path.name}.replaced-{stamp}")
        tmp = project_path.with_name(f".{project_path.name}.restoring")
        fileops.remove_db_files(tmp, strict=False)
        src = sqlite3.connect(fileops.sqlite_uri(source, mode="ro"), uri=True)
        try:
            _copy_database(src, tmp)
        except BaseException:
            fileops.remove_db_files(tmp, strict=False)
            raise
        finally:
            src.close()
        moved = []
        # The WAL and index go with their file: a stale WAL beside the restored file would be
        # read into it.
        for suffix in ("", "-wal", "-shm"):
            current = Path(f"{project_path}{suffix}")
            if current.exists():
                target = Path(f"{aside}{suffix}")
                os.replace(current, target)
                moved.append(target)
        os.replace(tmp, project_path)
        fileops.sync(project_path.parent, strict=False)
    finally:
        fileops.release_lock(lock)
    return Restored(project_path, source, moved)
