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

import contextlib
import gzip
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa

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
    if name.endswith((".xlsx", ".xlsm", ".xls", ".ods")):
        raise problem(f"{path}: a spreadsheet workbook; labeler reads {KNOWN}: save the sheet as CSV (UTF-8)")
    raise problem(f"{path}: unknown file type (expected {KNOWN})")


def open_bytes(path: Path, kind: FileKind | None = None, problem: type[Exception] = ImportProblem):
    """The file's bytes, decompressed where it is gzipped."""
    gz = kind.gz if kind is not None else path.name.lower().endswith(".gz")
    try:
        return gzip.open(path, "rb") if gz else open(path, "rb")
    except OSError as e:
        raise problem(f"cannot read {path}: {e.strerror or e}") from None


# What a file holds, from its first bytes, when that is not what its name says.
_MAGIC = ((b"PAR1", "a Parquet file"), (b"PK\x03\x04", "a zip archive"), (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) workbook"),
          (b"SQLite format 3\x00", "an SQLite database (a labeler project?)"), (b"\x1f\x8b", "gzip-compressed"),
          (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"%PDF", "a PDF document"))
_GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


def _what_it_is(head: bytes, path: Path) -> str | None:
    for magic, what in _MAGIC:
        if head.startswith(magic):
            if magic.startswith(b"PK"):
                with contextlib.suppress(OSError, zipfile.BadZipFile):
                    with zipfile.ZipFile(path) as z:
                        if any(n.startswith("xl/") for n in z.namelist()):
                            return "an Excel workbook (.xlsx)"
            return what
    return None


def check_content(path: Path, kind: FileKind, problem: type[Exception] = ImportProblem) -> None:
    """Refuse a file whose bytes are not what its name says, naming what it is: an .xlsx or a Parquet
    file named .csv, a plain file named .gz, a text file named .parquet. (Otherwise it would be read
    as text and called "cp1252", or fail deep inside a reader.)"""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise problem(f"cannot read {path}: {e.strerror or e}") from None
    what = _what_it_is(head, path)
    if kind.gz:
        if not head.startswith(b"\x1f\x8b"):
            text = all(32 <= b < 127 or b in (9, 10, 13) for b in head)
            looks = what or ("plain text" if text else "not gzip data")
            raise problem(f"{path}: named .gz but not gzip-compressed (it is {looks}): rename it without .gz")
        return
    if kind.name == "parquet":
        if not head.startswith(b"PAR1"):
            raise problem(f"{path}: named .parquet but not a Parquet file (it is {what or 'something else, perhaps text'})")
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 4))
            if f.read(4) != b"PAR1":
                raise problem(f"{path}: a Parquet file cut short (truncated: its end, where Parquet keeps the"
                              " schema, is missing); copy or write it again")
        return
    if what is not None:
        hint = {"a Parquet file": "rename it to .parquet", "gzip-compressed": f"rename it to {path.name}.gz",
                "an Excel workbook (.xlsx)": "save it from Excel as CSV (UTF-8)",
                "an old Excel (.xls) workbook": "save it from Excel as CSV (UTF-8)"}.get(what, "")
        raise problem(f"{path}: this is {what}, not {kind.name.upper()} text" + (f"; {hint}" if hint else ""))


def gzip_problem(path: Path, e: BaseException, problem: type[Exception] = ImportProblem) -> Exception:
    """A truncated or damaged .gz, said as such (EOFError would reach click as a bare "Aborted!")."""
    why = "it ends before the compressed data does (truncated)" if isinstance(e, EOFError) else f"damaged ({e})"
    return problem(f"{path}: cannot decompress this gzip file: {why}")


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
    check_content(path, kind)
    try:
        if kind.name == "parquet":
            return arrow.read(path)
        if kind.name == "jsonl":
            return jsonl.read(path, kind)
        return delimited.read(path, kind, float_columns, delimiter=delimiter)
    except _GZIP_ERRORS as e:
        raise gzip_problem(path, e) from None
    except (OSError, pa.ArrowInvalid) as e:
        if kind.gz and ("gzip" in str(e).lower() or "zlib" in str(e).lower() or "compress" in str(e).lower()):
            raise gzip_problem(path, e) from None
        raise


def preview(path: str | os.PathLike, rows: int = 20) -> tuple[list[str], list[list[str]]]:
    """The header and the first ``rows`` rows as text, for a column-mapping dialog."""
    from . import arrow, delimited, jsonl

    path = Path(path)
    kind = kind_of(path)
    check_content(path, kind)
    try:
        if kind.name == "parquet":
            return arrow.preview(path, rows)
        if kind.name == "jsonl":
            return jsonl.preview(path, kind, rows)
        return delimited.preview(path, kind, rows)
    except _GZIP_ERRORS as e:
        raise gzip_problem(path, e) from None


def column_text(path: Path, kind: FileKind, column: str, delimiter: str | None = None,
                problem: type[Exception] = ImportProblem):
    """One column of the file as exact strings (a pyarrow string array), read on its own."""
    from . import arrow, delimited, jsonl

    if kind.name == "parquet":
        return arrow.column_text(path, column, problem)
    if kind.name == "jsonl":
        return jsonl.column_text(path, kind, column, problem)
    return delimited.column_text(path, kind, column, delimiter, problem)
