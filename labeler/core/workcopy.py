"""``--project postgresql://...``: every command on a team project, through a working copy.

The command runs on a local copy of the server's project, pulled into a private temporary folder
(:func:`labeler.core.store_pg.pull`); when it ends, a copy it changed is pushed back
(:func:`labeler.core.store_pg.push`: decisions merge by example, newest wins, the events of both are
kept), and the folder is removed. A command that only reads pushes nothing. So every command works on
both stores with the same output. The review window on a team project is not this: it keeps a copy
per reviewer and sends each decision as it is made (:mod:`labeler.core.team_sync`).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .problems import TeamStoreError
from .urls import is_pg_url  # noqa: F401  (named here for the CLI)

NAME = "project.labeler.db"


def _stamp(path: Path) -> tuple:
    """What changes when a project is written: the file's size and time, and how much its WAL holds
    (a read-only open may leave an empty WAL behind: that is no change)."""
    def size(p: Path) -> int:
        try:
            return p.stat().st_size
        except OSError:
            return 0

    try:
        st = path.stat()
    except OSError:
        return ()
    return st.st_size, st.st_mtime_ns, size(path.with_name(path.name + "-wal"))


def _taxonomy(path: Path) -> list[str] | None:
    if not path.exists():
        return None
    from .store import Project

    with Project.open(path, readonly=True) as p:
        return p.error_types()


@contextlib.contextmanager
def working_copy(url: str, *, create: bool = False, pushed=None) -> Iterator[Path]:
    """The local path of ``url``'s project for the length of the block; ``create``: a project the
    server does not hold yet may be made (an import), and is pushed. ``pushed(result)`` is told of a
    push."""
    from . import store_pg

    folder = Path(tempfile.mkdtemp(prefix="labeler-team-"))
    path = folder / NAME
    try:
        try:
            store_pg.pull(url, path)
        except TeamStoreError as e:
            if not (create and "there is no project" in str(e)):
                raise
        before, taxonomy = _stamp(path), _taxonomy(path)
        yield path
        if path.exists() and _stamp(path) != before:
            # a taxonomy changed in the copy (renamed, replaced) is the project's new one
            result = store_pg.push(path, url, replace_taxonomy=taxonomy is not None and _taxonomy(path) != taxonomy)
            if pushed is not None:
                pushed(result)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
