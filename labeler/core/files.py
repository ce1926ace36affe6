"""Which example files exist: one directory listing per folder instead of one stat per file, so a
million paths are checked in well under a second. (Syncing files to disk is
:func:`labeler.core.fileops.sync`.)"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc


def missing_files(base_dir: str | os.PathLike, paths: pa.Array) -> pa.Array:
    """A boolean array: True where ``paths[i]`` (relative to ``base_dir`` unless absolute; ``~`` is
    the user's home, as the window resolves it) names no file. A folder, a broken symbolic link or
    anything else that is not a file counts as missing. Null paths (text examples) count as present."""
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
        folder = (Path(d).expanduser() if d.startswith("~") else base / d) if d else base
        try:
            with os.scandir(folder) as it:
                # is_file follows links: a link to a file counts, a broken one (or a folder) does not
                listed += [d + e.name for e in it if _is_file(e)]
        except (OSError, ValueError):  # (ValueError: a NUL byte in the name)
            pass  # a missing or unreadable folder: none of its files are there
    present = pc.is_in(pc.binary_join_element_wise(dirs, names, ""), value_set=pa.array(listed, pa.string()))
    return pc.and_(pc.invert(present), pc.is_valid(paths))


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False
