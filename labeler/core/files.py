"""Which example files exist: one directory listing per folder instead of one stat per file, so a
million paths are checked in well under a second."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc


def missing_files(base_dir: str | os.PathLike, paths: pa.Array) -> pa.Array:
    """A boolean array: True where ``paths[i]`` (relative to ``base_dir`` unless absolute) names no
    file. Null paths (text examples) count as present."""
    if isinstance(paths, pa.ChunkedArray):
        paths = paths.combine_chunks()
    if len(paths) == 0:
        return pa.array([], pa.bool_())
    parts = pc.extract_regex(paths, r"^(?P<dir>(?:.*/)?)(?P<name>[^/]*)$")
    dirs, names = parts.field("dir"), parts.field("name")
    base = Path(base_dir)
    listed: list[str] = []
    for d in pc.unique(dirs).to_pylist():
        if d is None:
            continue
        folder = base / d if d else base
        try:
            with os.scandir(folder) as it:
                listed += [d + e.name for e in it if not e.is_dir()]
        except OSError:
            pass  # a missing or unreadable folder: none of its files are there
    present = pc.is_in(pc.binary_join_element_wise(dirs, names, ""), value_set=pa.array(listed, pa.string()))
    return pc.and_(pc.invert(present), pc.is_valid(paths))


def sync(path: str | os.PathLike, *, data_only: bool = False, strict: bool = True) -> None:
    """Make what was written to ``path`` durable: a file's data, or a folder's entries (after a
    rename). ``data_only``: fdatasync. Not ``strict``: an OSError (some filesystems refuse to sync a
    folder) is let go."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if strict:
            raise
        return
    try:
        (os.fdatasync if data_only else os.fsync)(fd)
    except OSError:
        if strict:
            raise
    finally:
        os.close(fd)
