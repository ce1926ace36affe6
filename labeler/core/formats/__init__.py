"""The only code that parses or writes a user's file: one module per file family, each owning both
directions.

- :mod:`.delimited`: CSV, TSV and other delimited text, optionally gzipped;
- :mod:`.jsonl`: JSON lines, optionally gzipped;
- :mod:`.arrow`: Parquet, and any change of format on export;
- :mod:`.folder`: a folder of images (the ImageFolder convention), read only;
- :mod:`.cells`: the one rule for turning a typed value into the exact string labeler stores and
  matches, used by every reader and writer.

Each family reads a file into a :class:`~.table.Table` of exact strings (``read``) and rewrites the
label cells of a copy (``rewrite``); the importer and the export decide *which* cells, never *how*.
:func:`kind_of` says which family a file belongs to, from its name, and the import records it (see
:mod:`labeler.core.mapping`) so that an export reads the file the way the import did.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..problems import ImportProblem
from .table import ArrowColumns, Table

__all__ = ["ArrowColumns", "FileKind", "Table", "column_text", "kind_of", "open_bytes", "preview", "read_table"]

KINDS = ("csv", "tsv", "txt", "jsonl", "parquet", "folder")
_SUFFIXES = ((".parquet", "parquet"), (".pq", "parquet"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
             (".tsv", "tsv"), (".tab", "tsv"), (".csv", "csv"), (".txt", "txt"))
KNOWN = ".csv, .tsv, .txt, .parquet, .jsonl or .ndjson (text formats optionally .gz)"


@dataclass(frozen=True)
class FileKind:
    """A file's family and whether it is gzipped: ``FileKind("csv", True)`` for ``x.csv.gz``."""

    name: str  # one of KINDS
    gz: bool = False

    @property
    def delimited(self) -> bool:
        return self.name in ("csv", "tsv", "txt")


def kind_of(path: str | os.PathLike, problem: type[Exception] = ImportProblem) -> FileKind:
    """The family of ``path`` from its name; ``problem`` is raised for a name no family reads."""
    path = Path(path)
    if path.is_dir():
        return FileKind("folder")  # a folder of images (see .folder)
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    for ext, kind in _SUFFIXES:
        if name.endswith(ext):
            if kind == "parquet" and gz:
                break  # Parquet compresses inside the file
            return FileKind(kind, gz)
    raise problem(f"{path}: unknown file type (expected {KNOWN})")


def open_bytes(path: Path, kind: FileKind | None = None, problem: type[Exception] = ImportProblem):
    """The file's bytes, decompressed where it is gzipped."""
    gz = kind.gz if kind is not None else path.name.lower().endswith(".gz")
    try:
        return gzip.open(path, "rb") if gz else open(path, "rb")
    except OSError as e:
        raise problem(f"cannot read {path}: {e.strerror or e}") from None


def read_table(path: str | os.PathLike, *, float_columns: Callable[[list[str]], set[str]] | None = None,
               delimiter: str | None = None) -> Table:
    """Read ``path`` into a :class:`Table`. ``float_columns(header)`` names the columns to parse as
    numbers while reading (probabilities), which is much faster than converting strings later.
    ``delimiter``: the one a delimited file was read with before (a re-import), instead of sniffing."""
    from . import arrow, delimited, folder, jsonl

    path = Path(path)
    if not path.exists():
        raise ImportProblem(f"{path}: no such file")
    if path.is_dir():
        return folder.read(path)
    kind = kind_of(path)
    if os.path.getsize(path) == 0:
        raise ImportProblem(f"{path}: the file is empty (no header, no rows)")
    if kind.name == "parquet":
        return arrow.read(path)
    if kind.name == "jsonl":
        return jsonl.read(path, kind)
    return delimited.read(path, kind, float_columns, delimiter=delimiter)


def preview(path: str | os.PathLike, rows: int = 20) -> tuple[list[str], list[list[str]]]:
    """The header and the first ``rows`` rows as text, for a column-mapping dialog."""
    from . import arrow, delimited, jsonl

    path = Path(path)
    kind = kind_of(path)
    if kind.name == "parquet":
        return arrow.preview(path, rows)
    if kind.name == "jsonl":
        return jsonl.preview(path, kind, rows)
    return delimited.preview(path, kind, rows)


def column_text(path: Path, kind: FileKind, column: str, delimiter: str | None = None,
                problem: type[Exception] = ImportProblem):
    """One column of the file as exact strings (a pyarrow string array), read on its own."""
    from . import arrow, delimited, jsonl

    if kind.name == "parquet":
        return arrow.column_text(path, column, problem)
    if kind.name == "jsonl":
        return jsonl.column_text(path, kind, column, problem)
    return delimited.column_text(path, kind, column, delimiter, problem)
