"""Load a predictions file (CSV/TSV, gzipped CSV, Parquet, JSONL) into a project, all or nothing.

Values that identify things (ids, labels, paths) are read as exact strings: ``000123`` stays
``000123`` and a class called ``NA`` is a class. Anything wrong with the file is an
:class:`ImportProblem` naming the file, the line or column and what is wrong; nothing is written then.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import columns as colmod
from . import columnar, files
from . import store as store_mod
from .store import TOPK, Project, ProjectError, default_project_path, now_iso

SUM_TOLERANCE = 1e-3
CSV_BLOCK_BYTES = 1 << 22  # parsed in parallel, block by block
SPLITS = ("train", "dev", "test")
SPLIT_VALUES = {
    "train": "train", "training": "train", "trn": "train",
    "dev": "dev", "val": "dev", "valid": "dev", "validation": "dev", "development": "dev",
    "test": "test", "testing": "test", "tst": "test",
}

Progress = Callable[[str, float], None]


class ImportProblem(ValueError):
    """The predictions file cannot be imported; the message says where and why."""


class MissingColumns(ImportProblem):
    """Some roles have no column: the window asks for them, the CLI names them."""

    def __init__(self, missing: list[str], found: list[str], detected: dict[str, str], message: str):
        super().__init__(message)
        self.missing = missing  # e.g. ["label", "path or text"]
        self.found = found  # every column of the file
        self.detected = detected  # role -> column, for the roles that were found


class ImportCancelled(Exception):
    """The user cancelled the import; nothing was written."""


class ArrowColumns:
    """The columns of an Arrow table, as pandas Series converted only when first asked for: an
    import reads most columns straight from Arrow and never pays for their conversion."""

    def __init__(self, table: pa.Table):
        self._table = table
        self._series: dict[str, pd.Series] = {}

    def __len__(self) -> int:
        return self._table.num_rows

    def __getitem__(self, key):
        if isinstance(key, list):
            return pd.DataFrame({k: self[k] for k in key})
        if key not in self._series:
            self._series[key] = self._table.column(key).to_pandas()
        return self._series[key]

    def strings(self, name: str) -> pa.Array | None:
        """The column as one Arrow string array, if it is one (exact text, no nulls)."""
        col = self._table.column(name)
        if col.type != pa.string() or col.null_count:
            return None
        return col.combine_chunks()

    def float_chunks(self, name: str) -> list[np.ndarray]:
        """A float64 column's chunks as numpy (views where there are no nulls; null = NaN)."""
        return [c.to_numpy(zero_copy_only=False) for c in self._table.column(name).chunks]

    def floats(self, name: str) -> np.ndarray:
        """A float64 column as numpy (null = NaN)."""
        return np.asarray(self._table.column(name).to_numpy(), dtype=np.float64)


@dataclass
class Table:
    """A predictions file as read: every column as exact strings, or lists for list columns."""

    path: Path
    columns: list[str]
    frame: pd.DataFrame | ArrowColumns
    first_line: int  # the file line of frame row 0, for messages (None-like 0 for Parquet)
    float_columns: set[str] = field(default_factory=set)  # already parsed as float64
    lines: list[int] | None = None  # the file line of every row, where rows and lines do not match
    find_lines: Callable[[], list[int] | None] | None = None  # computes ``lines`` when first needed

    def where(self, row: int) -> str:
        if self.find_lines is not None:
            self.lines, self.find_lines = self.find_lines(), None
        if self.lines is not None:
            return f"line {self.lines[row]}"
        return f"line {row + self.first_line}" if self.first_line else f"row {row + 1}"


@dataclass
class ImportSummary:
    project: Path
    source: Path
    rows: int
    splits: dict[str, int]
    classes: list[str]
    unlabeled: int = 0
    added: int = 0
    updated: int = 0
    removed: list[str] = field(default_factory=list)
    removed_with_reviews: int = 0
    warnings: list[str] = field(default_factory=list)
    missing_files: int | None = None  # None: not checked (a very large file)
    missing_examples: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"Imported {self.rows} examples from {self.source} into {self.project}",
            "  splits: " + ", ".join(f"{k} {v}" for k, v in self.splits.items()),
            f"  classes ({len(self.classes)}): " + ", ".join(self.classes[:20]) + (" ..." if len(self.classes) > 20 else ""),
        ]
        if self.updated:
            out.append(f"  {self.added} new, {self.updated} updated (their reviews kept)")
        if self.unlabeled:
            out.append(f"  {self.unlabeled} examples have no label (empty label cell): kept as unlabeled")
        if self.removed:
            shown = ", ".join(self.removed[:10]) + (" ..." if len(self.removed) > 10 else "")
            out.append(
                f"  {len(self.removed)} examples of the previous import are gone ({shown});"
                f" {self.removed_with_reviews} of them had reviews, which are kept"
            )
        if self.missing_files:
            shown = ", ".join(self.missing_examples[:3])
            out.append(f"  {self.missing_files} example files do not exist (e.g. {shown}): they show a"
                       " placeholder and can still be reviewed")
        elif self.missing_files is None:
            out.append(f"  example files not checked at import ({self.rows} rows): `labeler summary` counts missing ones")
        out += [f"  warning: {w}" for w in self.warnings]
        return out


# --------------------------------------------------------------------------------------------
# reading


def _fmt_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")):
        return "jsonl"
    if name.endswith((".tsv", ".tsv.gz", ".tab")):
        return "tsv"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".txt", ".txt.gz")):
        return "txt"
    raise ImportProblem(
        f"{path}: unknown file type (expected .csv, .tsv, .txt, .csv.gz, .parquet, .jsonl or .ndjson)"
    )


def _open_text_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def preview(path: str | os.PathLike, rows: int = 20) -> tuple[list[str], list[list[str]]]:
    """The header and the first ``rows`` rows as text, for a column-mapping dialog."""
    path = Path(path)
    kind = _fmt_kind(path)
    if kind == "parquet":
        t = pq.ParquetFile(path).read_row_group(0).slice(0, rows) if pq.ParquetFile(path).num_row_groups else None
        if t is None:
            return [], []
        cols = t.column_names
        return cols, [["" if v is None else str(v) for v in r.values()] for r in t.to_pylist()]
    if kind == "jsonl":
        out: list[dict] = []
        with _open_text_bytes(path) as f:
            for raw in f:
                if raw.strip():
                    try:
                        obj = json.loads(raw)
                    except json.JSONDecodeError:
                        break
                    if isinstance(obj, dict):
                        out.append(obj)
                if len(out) >= rows:
                    break
        cols = list(dict.fromkeys(k for o in out for k in o))
        return cols, [["" if o.get(c) is None else str(o.get(c)) for c in cols] for o in out]
    header, delim = _read_header(path, kind)
    with _open_text_bytes(path) as f:
        text = f.read(1 << 20).decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    next(reader, None)
    body = []
    for r in reader:
        body.append(r)
        if len(body) >= rows:
            break
    return header, body


def read_table(path: str | os.PathLike, *, float_columns: Callable[[list[str]], set[str]] | None = None) -> Table:
    """Read ``path`` into a :class:`Table`. ``float_columns(header)`` names the columns to parse as
    numbers while reading (probabilities), which is much faster than converting strings later."""
    path = Path(path)
    if not path.exists():
        raise ImportProblem(f"{path}: no such file")
    if path.is_dir():
        raise ImportProblem(f"{path} is a folder, not a predictions file")
    kind = _fmt_kind(path)
    if os.path.getsize(path) == 0:
        raise ImportProblem(f"{path}: the file is empty (no header, no rows)")
    if kind == "parquet":
        return _read_parquet(path)
    if kind == "jsonl":
        return _read_jsonl(path)
    return _read_delimited(path, kind, float_columns)


def _read_header(path: Path, kind: str) -> tuple[list[str], str]:
    with _open_text_bytes(path) as f:
        sample = f.read(1 << 16)
        while b"\n" not in sample:  # a very wide header (thousands of probability columns)
            more = f.read(1 << 20)
            if not more:
                break
            sample += more
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportProblem(f"{path}: the file is UTF-16 (as Excel saves \"Unicode text\"); save it as UTF-8")
    try:
        text = sample.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if e.start < len(sample) - 4:  # not just a character cut at the end of the sample
            line = sample[: e.start].count(b"\n") + 1
            raise ImportProblem(
                f"{path}: line {line} is not valid UTF-8 (byte 0x{sample[e.start]:02x});"
                " save the file as UTF-8 (it looks like cp1252/Latin-1)"
            ) from None
        text = sample[: e.start].decode("utf-8-sig")
    first = text.split("\n", 1)[0].rstrip("\r")
    if kind == "tsv":
        delim = "\t"
    elif kind == "csv":
        delim = ","
    else:
        try:
            delim = csv.Sniffer().sniff(text[:8192], delimiters=",\t;|").delimiter
        except csv.Error:
            delim = "\t" if first.count("\t") > first.count(",") else ","
    header = next(csv.reader([first], delimiter=delim), [])
    if not header or all(not h.strip() for h in header):
        raise ImportProblem(f"{path}: the first line is empty; expected a header naming the columns")
    dupes = _repeated(header)
    if dupes:
        raise ImportProblem(f"{path}: duplicate column names in the header: {', '.join(dupes)}")
    blank = [i + 1 for i, h in enumerate(header) if not h.strip()]
    if blank:
        raise ImportProblem(f"{path}: column {blank[0]} of the header has no name")
    return header, delim


def _repeated(names: list[str]) -> list[str]:
    """The names that occur more than once (linear: files can have thousands of columns)."""
    seen: set[str] = set()
    return sorted({n for n in names if n in seen or seen.add(n)})


def _read_delimited(path: Path, kind: str, float_columns) -> Table:
    header, delim = _read_header(path, kind)
    floats = set(float_columns(header)) if float_columns else set()
    types = {c: (pa.float64() if c in floats else pa.string()) for c in header}
    gz = path.name.lower().endswith(".gz")  # Arrow's "detect" misses an upper-case .GZ

    def read(newlines_in_values: bool) -> pa.Table:
        with pa.input_stream(str(path), compression="gzip" if gz else None) as stream:
            return pacsv.read_csv(
                stream,
                read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, use_threads=True,
                                               block_size=CSV_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(delimiter=delim, newlines_in_values=newlines_in_values),
                convert_options=pacsv.ConvertOptions(
                    column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False,
                ),
            )

    try:
        try:
            # Blocks cut at any line break parse in parallel. A quoted value holding a line break
            # that a cut falls into makes Arrow stop ("parser got out of sync with chunker"): then
            # the file is read again with blocks cut between records only, which is serial.
            table = read(False)
        except pa.ArrowInvalid:
            table = read(True)
    except (pa.ArrowInvalid, UnicodeDecodeError) as e:
        raise _diagnose_delimited(path, header, delim, floats, e) from None
    if table.num_rows == 0:
        raise ImportProblem(f"{path}: no rows (the file has a header only)")
    return Table(path, header, ArrowColumns(table), first_line=2, float_columns=floats,
                 find_lines=lambda: _record_lines(path, delim, table.num_rows))


def _record_lines(path: Path, delim: str, rows: int) -> list[int] | None:
    """The file line each data row starts on, for messages; None when row N is simply line N + 2.
    Blank lines and quoted line breaks make them differ. Only computed when a message needs it."""
    with _open_text_bytes(path) as f:
        raw = f.read()
    newlines = raw.count(b"\n")
    if newlines - (1 if raw.endswith(b"\n") else 0) == rows and b"\n\n" not in raw and b"\n\r\n" not in raw:
        return None
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig", errors="replace"), newline=""), delimiter=delim)
    out: list[int] = []
    end = 0
    for i, row in enumerate(reader):
        start, end = end + 1, reader.line_num
        if i > 0 and row:
            out.append(start)
    return out if len(out) == rows else None


def _diagnose_delimited(path: Path, header: list[str], delim: str, floats: set[str], err: Exception) -> ImportProblem:
    """The fast reader failed: find the exact line and problem with a careful (slow) pass."""
    with _open_text_bytes(path) as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        return ImportProblem(
            f"{path}: line {line} is not valid UTF-8 (byte 0x{raw[e.start]:02x});"
            " save the file as UTF-8 (it looks like cp1252/Latin-1)"
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    idx = {c: i for i, c in enumerate(header)}
    start = 1  # the line the record being read starts on (a quoted field may span lines)
    records = 0
    try:
        next(reader)
        while True:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                break
            if not row:
                continue
            records += 1
            if len(row) != len(header):
                return ImportProblem(
                    f"{path}: line {start} has {len(row)} fields, the header has {len(header)}"
                )
            for c in floats:
                v = row[idx[c]].strip()
                if v == "":
                    return ImportProblem(f"{path}: line {start}, column {c!r}: empty probability")
                try:
                    float(v)
                except ValueError:
                    return ImportProblem(
                        f"{path}: line {start}, column {c!r}: {v!r} is not a number"
                    )
    except csv.Error as e:
        return ImportProblem(f"{path}: line {start}: broken quoting or field ({e})")
    if records == 0:
        return ImportProblem(f"{path}: no rows (the file has a header only)")
    msg = str(err).splitlines()[0] if str(err) else type(err).__name__
    if "quote" in msg.lower() or "eof" in msg.lower():
        return ImportProblem(f"{path}: broken quoting near the end of the file ({msg})")
    return ImportProblem(f"{path}: cannot parse the file: {msg}")


def _read_parquet(path: Path) -> Table:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise ImportProblem(f"{path}: not a readable Parquet file ({e})") from None
    names = table.schema.names
    dupes = _repeated(names)
    if dupes:
        raise ImportProblem(f"{path}: duplicate column names: {', '.join(dupes)}")
    if table.num_rows == 0:
        raise ImportProblem(f"{path}: no rows")
    columns, floats = [], set()
    for name, col in zip(names, table.columns):
        t = col.type
        if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            columns.append(col)
        elif pa.types.is_floating(t):
            columns.append(col.cast(pa.float64()))
            floats.add(name)
        elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t) or pa.types.is_dictionary(t):
            # exact text without a Python object per value (Arrow writes integers as str() does)
            columns.append(pc.fill_null(col.cast(pa.string()), ""))
        else:
            columns.append(pa.array([("" if v is None else str(v)) for v in col.to_pylist()], pa.string()))
    frame = ArrowColumns(pa.table(columns, names=names))
    return Table(path, list(names), frame, first_line=0, float_columns=floats)


def _read_jsonl(path: Path) -> Table:
    records = []
    seen: dict[str, None] = {}
    with _open_text_bytes(path) as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError:
                raise ImportProblem(f"{path}: line {lineno} is not valid UTF-8") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line, parse_int=str, parse_float=str, object_pairs_hook=_unique_keys)
            except json.JSONDecodeError as e:
                raise ImportProblem(f"{path}: line {lineno} is not valid JSON ({e.msg} at column {e.colno})") from None
            except _DuplicateKey as e:
                # json.loads would silently keep the last value, like pandas renaming CSV columns
                raise ImportProblem(f"{path}: line {lineno} names the key {e.args[0]!r} twice") from None
            if not isinstance(obj, dict):
                raise ImportProblem(f"{path}: line {lineno} is not a JSON object")
            for k in obj:
                seen.setdefault(k, None)
            records.append((lineno, obj))
    if not records:
        raise ImportProblem(f"{path}: no rows")
    cols = list(seen)
    data = {}
    for c in cols:
        vals = []
        for _, obj in records:
            v = obj.get(c)
            if v is None:
                v = ""
            elif isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, list):
                pass
            elif isinstance(v, dict):
                v = json.dumps(v)
            vals.append(v)
        data[c] = vals
    frame = pd.DataFrame(data)
    # JSONL line numbers: map rows back to their lines (blank lines are skipped)
    t = Table(path, cols, frame, first_line=records[0][0])
    if records[-1][0] - records[0][0] != len(records) - 1:
        t.lines = [lineno for lineno, _ in records]  # blank lines in between
    return t


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


# --------------------------------------------------------------------------------------------
# building examples


class ProbColumns:
    """n x K class probabilities as K float64 columns, each a list of chunks: numpy views of the
    reader's Arrow buffers. Checks and derived figures go column by column, and the project's
    blocks are cut from the columns directly: no n x K copy is made unless :meth:`matrix` is asked
    for (ranking at import, top-k of very many classes)."""

    REFILL_BYTES = 8 << 20

    def __init__(self, columns: list[list[np.ndarray]]):
        self.columns = columns
        self.starts = [np.cumsum([0] + [len(c) for c in chunks]) for chunks in columns]
        self.shape = (int(self.starts[0][-1]) if columns else 0, len(columns))
        self._matrix: np.ndarray | None = None

    @classmethod
    def from_matrix(cls, m: np.ndarray) -> "ProbColumns":
        m = np.asfortranarray(m, dtype=np.float64)
        out = cls([[m[:, k]] for k in range(m.shape[1])])
        out._matrix = m
        return out

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    def reorder(self, order: list[int]) -> "ProbColumns":
        return ProbColumns([self.columns[j] for j in order])

    def chunks(self, k: int):
        """(first row, values) of each chunk of column ``k``."""
        return zip(self.starts[k][:-1].tolist(), self.columns[k])

    def _fill(self, out: np.ndarray, start: int, stop: int) -> None:
        """Rows ``start:stop`` into ``out``, a K x (stop - start) array."""
        for k, chunks in enumerate(self.columns):
            st = self.starts[k]
            first = int(np.searchsorted(st, start, side="right")) - 1
            at = start
            for j in range(first, len(chunks)):
                if at >= stop:
                    break
                part = chunks[j][at - st[j] : stop - st[j]]
                out[k, at - start : at - start + len(part)] = part
                at += len(part)

    def blocks(self, rows: int):
        """Rows in runs of ``rows``, each a K x rows array. They are views of one buffer, refilled
        a few MB at a time: use each before asking for the next."""
        n, k = self.shape
        per = max(1, self.REFILL_BYTES // (8 * k * rows)) * rows  # rows per refill: whole runs
        buf = np.empty((k, min(per, n)))
        for a in range(0, n, per):
            b = min(a + per, n)
            self._fill(buf[:, : b - a], a, b)
            for start in range(0, b - a, rows):
                yield buf[:, start : min(start + rows, b - a)]

    def gather(self, k: int, rows: np.ndarray) -> np.ndarray:
        """Column ``k`` at ``rows`` (ascending)."""
        out = np.empty(len(rows))
        st = self.starts[k]
        cut = np.searchsorted(rows, st)
        for j, chunk in enumerate(self.columns[k]):
            sel = rows[cut[j] : cut[j + 1]]
            out[cut[j] : cut[j + 1]] = chunk[sel - st[j]]
        return out

    def matrix(self) -> np.ndarray:
        """The n x K matrix (column-major), made on first use."""
        if self._matrix is None:
            m = np.empty(self.shape, order="F")
            for k in range(self.shape[1]):
                for start, chunk in self.chunks(k):
                    m[start : start + len(chunk), k] = chunk
            self._matrix = m
        return self._matrix

    def valid(self) -> bool:
        """Every value is a number from 0 to 1 (NaN fails both comparisons)."""
        return all(len(c) == 0 or (c.min() >= 0 and c.max() <= 1) for chunks in self.columns for c in chunks)

    def row_sums(self) -> np.ndarray:
        out = np.zeros(self.shape[0])
        for k in range(self.shape[1]):
            for start, chunk in self.chunks(k):
                out[start : start + len(chunk)] += chunk
        return out

    def row_max(self) -> np.ndarray:
        out = np.full(self.shape[0], -np.inf)
        for k in range(self.shape[1]):
            for start, chunk in self.chunks(k):
                np.maximum(out[start : start + len(chunk)], chunk, out=out[start : start + len(chunk)])
        return out

    def argmax(self) -> np.ndarray:
        """Each row's most probable column (the first, on ties, as numpy's argmax)."""
        best = np.full(self.shape[0], -np.inf)
        arg = np.zeros(self.shape[0], dtype=np.int64)
        for k in range(self.shape[1]):
            for start, chunk in self.chunks(k):
                b = best[start : start + len(chunk)]
                higher = chunk > b
                np.copyto(b, chunk, where=higher)
                np.copyto(arg[start : start + len(chunk)], k, where=higher)
        return arg

    def at_columns(self, cols: np.ndarray) -> np.ndarray:
        """Each row's value in column ``cols[row]`` (0 <= cols < K)."""
        out = np.empty(self.shape[0])
        if self.shape[1] <= 32 and all(np.array_equal(st, self.starts[0]) for st in self.starts):
            # the columns are cut alike (as a reader cuts them): one pass per chunk
            for j, start in enumerate(self.starts[0][:-1].tolist()):
                stop = start + len(self.columns[0][j])
                np.choose(cols[start:stop], [c[j] for c in self.columns], out=out[start:stop])
            return out
        if self.shape[1] <= 64:  # one pass of compares per column
            for k in range(self.shape[1]):
                mine = cols == k
                for start, chunk in self.chunks(k):
                    np.copyto(out[start : start + len(chunk)], chunk, where=mine[start : start + len(chunk)])
            return out
        order = np.argsort(cols, kind="stable")  # many columns: the rows of each, once
        cut = np.searchsorted(cols[order], np.arange(self.shape[1] + 1))
        for k in range(self.shape[1]):
            rows = order[cut[k] : cut[k + 1]]
            out[rows] = self.gather(k, rows)
        return out

@dataclass
class Examples:
    """Everything derived from a table, column-wise, ready to store."""

    ids: pa.Array  # exact strings
    split: pa.DictionaryArray  # over SPLITS
    path: pa.Array | None
    text: pa.Array | None
    label: pa.DictionaryArray  # over classes; null = unlabeled
    pred: pa.DictionaryArray  # over classes
    confidence: np.ndarray
    p_label: np.ndarray
    loss: np.ndarray
    wrong: np.ndarray
    meta: list[str | None]
    classes: list[str]
    probs: ProbColumns | None
    unlabeled: int
    warnings: list[str]


def _natural_key(s: str):
    """Numbers first in numeric order, then the rest as text. Only finite numbers count: "nan" would
    make the order depend on the order the classes were seen in (NaN compares false both ways)."""
    try:
        v = float(s)
    except ValueError:
        return (1, 0.0, s)
    return (0, v, s) if math.isfinite(v) else (1, 0.0, s)


def _problem_rows(table: Table, mask: np.ndarray, limit: int = 5) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(table.where(int(r)) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"{shown}{more}"


def _strings(frame: pd.DataFrame, col: str) -> list[str]:
    s = frame[col]
    if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object and not s.hasnans:
        return s.tolist()  # already exact strings (CSV/TSV): no per-value checks needed
    if s.dtype == object:
        return [v if isinstance(v, str) else ("" if v is None else json.dumps(v) if isinstance(v, list) else str(v)) for v in s.tolist()]
    # numeric columns (Parquet): a null is an empty cell, not the text "nan"
    return [("" if v != v else repr(float(v))) if isinstance(v, float) else str(v) for v in s.tolist()]


def _string_array(frame: pd.DataFrame, col: str) -> pa.Array:
    """A column as exact strings in Arrow (no per-value Python work for CSV/TSV columns)."""
    if isinstance(frame, ArrowColumns):
        arr = frame.strings(col)
        if arr is not None:
            return arr
    s = frame[col]
    if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object and not s.hasnans:
        arr = pa.array(s)
        return arr.cast(pa.string()) if arr.type != pa.string() else arr
    return pa.array(_strings(frame, col), pa.string())


def _encode(arr: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Codes into the distinct values, and those values: hashing once per row, in Arrow."""
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary.to_pylist()


def _float_chunks(table: Table, col: str, what: str) -> list[np.ndarray]:
    """A column as float64 chunks: views of Arrow's buffers where it parsed them already."""
    if col in table.float_columns and isinstance(table.frame, ArrowColumns):
        return table.frame.float_chunks(col)
    return [_floats(table, col, what)]


def _floats(table: Table, col: str, what: str) -> np.ndarray:
    """A column as float64, refused where a value is not a number."""
    if col in table.float_columns and isinstance(table.frame, ArrowColumns):
        return table.frame.floats(col)
    s = table.frame[col]
    if col in table.float_columns:
        return s.to_numpy(dtype=np.float64)
    vals = pd.to_numeric(s.replace("", np.nan) if s.dtype == object else s, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(vals) & ~(s.astype(str).str.strip().str.lower().isin(["nan"])).to_numpy()
    if bad.any():
        raise ImportProblem(
            f"{table.path}: column {col!r} ({what}) is not a number at {_problem_rows(table, bad)}"
        )
    return vals


def _refuse_unknown(table: Table, idx: np.ndarray, codes: np.ndarray, values: list, classes: list[str], what: str) -> None:
    """An error naming the values (and rows) that are not classes: ``idx`` is -2 there."""
    bad = idx == -2
    if bad.any():
        unknown = sorted({values[codes[i]] for i in np.flatnonzero(bad)})[:5]
        raise ImportProblem(
            f"{table.path}: {what} not among the classes"
            f" ({', '.join(classes[:10])}{' ...' if len(classes) > 10 else ''}): "
            f"{', '.join(repr(u) for u in unknown)} at {_problem_rows(table, bad)}"
        )


def build_examples(
    table: Table,
    cmap: colmod.ColumnMap,
    *,
    classes: list[str] | None = None,
    split: str | None = None,
) -> Examples:
    """Check ``table`` and derive what the project stores. The ids are checked on a second thread
    while this one reads the probabilities (Arrow and numpy let go of the GIL): their problems are
    still reported in the order the checks come in."""
    ids = _string_array(table.frame, cmap.roles["id"]) if "id" in cmap.roles else None
    with ThreadPoolExecutor(2, thread_name_prefix="labeler-check") as pool:
        checked = pool.submit(_check_ids, table, ids) if ids is not None else None
        encoded = {role: pool.submit(lambda c: _encode(_string_array(table.frame, c)), cmap.roles[role])
                   for role in ("pred", "split") if role in cmap.roles}
        reached_ids = threading.Event()
        try:
            ex = _build_examples(table, cmap, ids, reached_ids, encoded, classes=classes, split=split)
        except ImportProblem:
            if checked is not None and reached_ids.is_set():
                checked.result()  # an id problem comes before the later checks'
            raise
        if checked is not None:
            checked.result()
    return ex


def _check_ids(table: Table, ids: pa.Array) -> None:
    n = len(ids)
    empty = pc.or_(pc.equal(pc.utf8_length(ids), 0), pc.utf8_is_space(ids)).to_numpy(zero_copy_only=False)
    if empty.any():
        raise ImportProblem(f"{table.path}: empty id at {_problem_rows(table, empty)}")
    if n > 1 and pc.all(pc.greater(ids.slice(1), ids.slice(0, n - 1))).as_py():
        return  # strictly increasing (ids written in order, as they often are): all distinct
    if len(pc.unique(ids)) != n:  # (unique hashes twice as fast as count_distinct)
        ser = pd.Series(ids.to_pylist(), dtype=object)
        dup = ser.duplicated(keep=False).to_numpy()
        names = list(dict.fromkeys(ser[dup].tolist()))
        raise ImportProblem(
            f"{table.path}: {len(names)} ids appear more than once, e.g. "
            + ", ".join(repr(x) for x in names[:5])
            + f" (first at {_problem_rows(table, dup, 3)})"
        )


def _build_examples(
    table: Table,
    cmap: colmod.ColumnMap,
    ids: pa.Array | None,
    reached_ids: threading.Event,
    encoded: dict,  # role -> a future of _encode(that column)
    *,
    classes: list[str] | None,
    split: str | None,
) -> Examples:
    path, frame, n = table.path, table.frame, len(table.frame)
    roles = cmap.roles
    warnings: list[str] = []

    # -- probabilities: a list column, or one column per class
    probs = None
    prob_classes: list[str] | None = None
    list_col = roles.get("probs")
    if list_col is not None:
        cells = frame[list_col].tolist()
        parsed = []
        for i, v in enumerate(cells):
            if isinstance(v, str):
                try:
                    v = json.loads(v) if v.strip() else None
                except json.JSONDecodeError:
                    v = None
            if not isinstance(v, (list, tuple, np.ndarray)):
                # every row needs its list (an empty cell or null is not "no probabilities")
                raise ImportProblem(
                    f"{path}: column {list_col!r} should hold a list of probabilities; {table.where(i)} does not"
                )
            parsed.append(v)
        lengths = np.fromiter((len(v) for v in parsed), dtype=np.int64, count=len(parsed))
        if len(set(lengths.tolist())) != 1:
            odd = lengths != lengths[0]
            raise ImportProblem(
                f"{path}: the probability lists in {list_col!r} have different lengths"
                f" ({int(lengths[0])} at {table.where(0)}, other lengths at {_problem_rows(table, odd)})"
            )
        try:
            probs = np.asarray(parsed, dtype=np.float64)
        except (TypeError, ValueError):
            probs = None
        if probs is None or probs.ndim != 2:
            raise ImportProblem(f"{path}: column {list_col!r} holds values that are not numbers")
        probs = ProbColumns.from_matrix(probs)
    elif cmap.prob_columns:
        prob_classes = list(cmap.prob_columns)
        probs = ProbColumns([_float_chunks(table, c, f"probability of class {name!r}")
                             for name, c in cmap.prob_columns.items()])

    # -- missing roles
    missing = []
    if "label" not in roles:
        missing.append("label (the given label: label, ground_truth, target, y_true, ...)")
    if "path" not in roles and "text" not in roles:
        missing.append("path or text (the example: path, filepath, image, ... or text, sentence, ...)")
    if "pred" not in roles and probs is None:
        missing.append("pred or probabilities (pred, prediction, y_pred, ... or p_<class> columns)")
    if missing:
        raise MissingColumns(
            [m.split(" (")[0] for m in missing], list(table.columns), dict(roles),
            f"{path}: cannot find the columns for: " + "; ".join(missing)
            + f". Columns found: {', '.join(table.columns)}. Name them with --column ROLE=NAME."
        )

    # -- ids: checked by build_examples' second thread; from here on, its problems come first
    reached_ids.set()
    if ids is None:
        ids = pc.cast(pa.array(np.arange(n)), pa.string())

    # labels and predictions: distinct values are looked up once, not once per row
    label_codes, label_values = _encode(_string_array(frame, roles["label"]))
    label_values = [v if v != "" else None for v in label_values]  # an empty cell = unlabeled
    unlabeled = int(np.isin(label_codes, [i for i, v in enumerate(label_values) if v is None]).sum())

    pred_codes = pred_values = None
    if "pred" in roles:
        pred_codes, pred_values = encoded["pred"].result()
    preds = None  # a list, only where the classes must be inferred from it

    # -- classes
    if classes is not None:
        classes = [str(c) for c in classes]
        if len(set(classes)) != len(classes):
            twice = sorted({c for c in classes if classes.count(c) > 1})
            raise ImportProblem(f"the class list names a class twice: {', '.join(repr(c) for c in twice)}")
        if probs is not None and probs.shape[1] != len(classes):
            raise ImportProblem(
                f"{path}: {probs.shape[1]} probability columns but {len(classes)} classes were given"
            )
        if prob_classes is not None:
            if set(prob_classes) != set(classes):
                raise ImportProblem(
                    f"{path}: the probability columns are for classes {prob_classes}, the class list is {classes}"
                )
            order = [prob_classes.index(c) for c in classes]
            probs = probs.reorder(order)
    elif prob_classes is not None:
        classes = prob_classes
    elif probs is not None:
        if pred_codes is not None:
            preds = np.array(pred_values, dtype=object)[pred_codes].tolist()
        classes = _infer_list_order(path, probs.matrix(), preds)
    else:
        seen = {v for v in label_values if v is not None} | set(pred_values or [])
        seen.discard("")
        classes = sorted(seen, key=_natural_key)
    index = {c: i for i, c in enumerate(classes)}

    label_idx = np.array([-1 if v is None else index.get(v, -2) for v in label_values] + [-1], dtype=np.int64)[label_codes]
    _refuse_unknown(table, label_idx, label_codes, label_values, classes, f"column {roles['label']!r}: labels")

    # -- probabilities: check, then predictions from them where needed
    if probs is not None:
        if not probs.valid():
            m = probs.matrix()
            bad_cells = ~((m >= 0) & (m <= 1))  # NaN fails both comparisons, and an infinity one
            bad = bad_cells.any(axis=1)
            if prob_classes is not None:
                cols = [cmap.prob_columns[classes[j]] for j in np.flatnonzero(bad_cells.any(axis=0))]
            else:
                cols = [list_col]
            first = int(np.flatnonzero(bad)[0])
            value = float(m[first][bad_cells[first]][0])
            raise ImportProblem(
                f"{path}: probabilities must be between 0 and 1 (no NaN or inf); column"
                f"{'s' if len(cols) > 1 else ''} {', '.join(repr(c) for c in cols[:5])} at {_problem_rows(table, bad)}"
                f" (e.g. {value!r} at {table.where(first)})"
            )
        off = np.abs(probs.row_sums() - 1.0) > SUM_TOLERANCE
        if off.any():
            warnings.append(
                f"{int(off.sum())} rows have probabilities that do not sum to 1 (beyond {SUM_TOLERANCE:g}),"
                f" e.g. {_problem_rows(table, off, 3)}; the values are kept as they are"
            )
    if pred_codes is None:
        pred_idx = probs.argmax()
    else:
        # -3: an empty cell, the argmax of the probabilities where there are any
        pred_idx = np.array([-3 if v == "" else index.get(v, -2) for v in pred_values], dtype=np.int64)[pred_codes]
        empty_pred = pred_idx == -3
        if probs is not None and empty_pred.any():
            pred_idx = np.where(empty_pred, probs.argmax(), pred_idx)
        elif empty_pred.any():
            raise ImportProblem(f"{path}: empty prediction at {_problem_rows(table, empty_pred)}")
    if pred_codes is not None:
        _refuse_unknown(table, pred_idx, pred_codes, pred_values, classes, f"column {roles['pred']!r}: predictions")

    # -- split
    if "split" in roles:
        codes, uniques = encoded["split"].result()
        mapped = [SPLIT_VALUES.get(str(v).strip().lower()) for v in uniques]
        split_idx = np.array([-1 if m is None else SPLITS.index(m) for m in mapped], dtype=np.int64)[codes]
        bad = split_idx < 0
        if bad.any():
            values = sorted({uniques[codes[i]] for i in np.flatnonzero(bad)})[:5]
            raise ImportProblem(
                f"{path}: unknown split values {', '.join(repr(v) for v in values)} at {_problem_rows(table, bad)}"
                " (expected train/training, dev/val/valid/validation, test/testing)"
            )
    else:
        s = SPLIT_VALUES.get((split or "dev").lower())
        if s is None:
            raise ImportProblem(f"--split {split!r}: expected train, dev or test")
        split_idx = np.full(n, SPLITS.index(s), dtype=np.int64)

    # -- derived figures (the top-k is derived when it is stored: see _write)
    labeled = label_idx >= 0
    if probs is not None:
        confidence = probs.row_max()
        p_label = probs.at_columns(np.maximum(label_idx, 0))
        p_label[~labeled] = np.nan
        loss = np.where(labeled, -np.log(np.clip(p_label, 1e-12, None)), np.nan)
    else:
        confidence = np.full(n, np.nan)
        p_label = np.full(n, np.nan)
        loss = np.full(n, np.nan)
    if "confidence" in roles:
        confidence = _floats(table, roles["confidence"], "confidence")
        bad = ~np.isfinite(confidence) | (confidence < 0) | (confidence > 1)
        if bad.any():
            raise ImportProblem(f"{path}: confidence must be between 0 and 1: {_problem_rows(table, bad)}")
        if probs is None:
            # Without probabilities the given label's probability is unknown; the loss is estimated
            # from the confidence of the prediction (a weaker ranking).
            right = labeled & (label_idx == pred_idx)
            est = np.where(right, confidence, 1.0 - confidence)
            loss = np.where(labeled, -np.log(np.clip(est, 1e-12, None)), np.nan)
    wrong = labeled & (label_idx != pred_idx)

    paths = _string_array(frame, roles["path"]) if "path" in roles else None
    texts = _string_array(frame, roles["text"]) if "text" in roles else None
    used = cmap.used  # a property that builds a set: once, not per column
    extra = [c for c in table.columns if c not in used]
    if extra:
        sub = frame[extra]
        # one JSON object per line; split on "\n" only: splitlines() also splits at U+2028, U+0085
        # and other separators that JSON leaves unescaped inside strings, which shifted rows
        meta = sub.to_json(orient="records", lines=True, force_ascii=False).rstrip("\n").split("\n")
        if len(meta) != n:
            raise AssertionError(f"metadata of {len(meta)} rows for {n} examples")
    else:
        meta = None
    return Examples(
        ids=ids, split=_dictionary(split_idx, list(SPLITS)), path=paths, text=texts,
        label=_dictionary(label_idx, classes), pred=_dictionary(pred_idx, classes),
        confidence=confidence, p_label=p_label, loss=loss, wrong=wrong,
        meta=meta, classes=classes, probs=probs, unlabeled=unlabeled, warnings=warnings,
    )


def _dictionary(codes: np.ndarray, words: list[str]) -> pa.DictionaryArray:
    """Codes (-1 = no value) over ``words`` as an Arrow dictionary array."""
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(words, pa.string()))


def _infer_list_order(path: Path, probs: np.ndarray, preds: list[str] | None) -> list[str]:
    """A list column does not say which class each position is. Infer it from pred = argmax where
    that is unambiguous; otherwise ask for --classes."""
    k = probs.shape[1]
    if preds is None:
        raise ImportProblem(
            f"{path}: a list column of probabilities needs --classes to say which class each position is"
        )
    argmax = probs.argmax(axis=1)
    mapping: dict[int, str] = {}
    for a, p in zip(argmax.tolist(), preds):
        if p == "":
            continue
        if mapping.setdefault(a, p) != p:
            raise ImportProblem(
                f"{path}: cannot tell which class each probability position is (position {a} is the argmax for"
                f" both {mapping[a]!r} and {p!r}); give the order with --classes"
            )
    if len(mapping) != k or len(set(mapping.values())) != k:
        raise ImportProblem(
            f"{path}: cannot tell which class each of the {k} probability positions is from the predictions;"
            " give the order with --classes"
        )
    return [mapping[i] for i in range(k)]


# --------------------------------------------------------------------------------------------
# writing


def import_predictions(
    source: str | os.PathLike,
    project_path: str | os.PathLike | None = None,
    *,
    columns: dict[str, str] | None = None,
    classes: list[str] | None = None,
    split: str | None = None,
    train_file: str | os.PathLike | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ImportSummary:
    """Read ``source`` and store its examples in the project (created if needed), in one transaction."""
    source = Path(source).resolve()
    project_path = Path(project_path) if project_path else default_project_path(source)
    report = progress or (lambda stage, frac: None)

    def check_cancel():
        if cancel is not None and cancel.is_set():
            raise ImportCancelled()

    report("reading", 0.0)
    if columns is None and project_path.exists():
        # a re-import uses the column names the user gave the first time
        with contextlib.suppress(ProjectError):
            with Project.open(project_path, readonly=True) as old:
                columns = old.meta("columns")
    overrides = dict(columns or {})

    def float_cols(header: list[str]) -> set[str]:
        try:
            cmap = colmod.detect(header, overrides)
        except ValueError as e:
            raise ImportProblem(f"{source}: {e}") from None
        out = set(cmap.prob_columns.values())
        if "confidence" in cmap.roles:
            out.add(cmap.roles["confidence"])
        return out

    table = read_table(source, float_columns=float_cols)
    check_cancel()
    try:
        cmap = colmod.detect(table.columns, overrides)
    except ValueError as e:
        raise ImportProblem(f"{source}: {e}") from None
    cmap._explicit = set(overrides)  # type: ignore[attr-defined]
    if "probs" in cmap.roles and "probs" not in overrides:
        first = table.frame[cmap.roles["probs"]].iloc[0]
        if not isinstance(first, (list, np.ndarray)) and not (isinstance(first, str) and first.strip().startswith("[")):
            del cmap.roles["probs"]  # a column called "scores" that holds no lists is metadata
            cmap = colmod.ColumnMap(cmap.roles, colmod.detect(table.columns, overrides).prob_columns)
    report("checking", 0.3)
    ex = build_examples(table, cmap, classes=classes, split=split)
    check_cancel()
    report("writing", 0.55)
    return _write(project_path, source, ex, train_file, report, check_cancel, overrides)


def examples_table(ex: Examples, *, with_topk: bool = False) -> pa.Table:
    """The examples as the Arrow table the project stores (see :mod:`labeler.core.columnar`).
    ``with_topk``: add the top-k classes and probabilities, for when the full matrix is not kept."""
    n = len(ex.ids)
    columns = {
        "id": ex.ids,
        "split": ex.split,
        "path": ex.path if ex.path is not None else pa.nulls(n, pa.string()),
        "text": ex.text if ex.text is not None else pa.nulls(n, pa.string()),
        "label": ex.label,
        "pred": ex.pred,
        "confidence": pa.array(ex.confidence, pa.float64(), from_pandas=True),
        "p_label": pa.array(ex.p_label, pa.float64(), from_pandas=True),
        "wrong": pa.array(ex.wrong, pa.bool_()),
        "meta": pa.array(ex.meta, pa.string()) if ex.meta is not None else pa.nulls(n, pa.string()),
    }
    if ex.probs is None:  # (with probabilities it is -log p(given label): derived when read)
        columns["loss"] = pa.array(ex.loss, pa.float64(), from_pandas=True)
    if with_topk and ex.probs is not None:
        top, top_p = _topk(ex.probs.matrix(), TOPK)
        columns["topk_idx"] = _fixed_lists(top.astype(np.int32), pa.int32())
        columns["topk_p"] = _fixed_lists(top_p, pa.float64())
    return pa.table(columns)


def _topk(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` largest probabilities and their columns, best first; ties go to the lower
    column (as a stable sort of the whole row would order them)."""
    k = min(k, probs.shape[1])
    if k < probs.shape[1]:
        # the k-th largest value of each row; every column above it is in, and at it, the lowest first
        kth = -np.partition(-probs, k - 1, axis=1)[:, k - 1 : k]
        above = probs > kth
        at = (probs == kth) & (np.cumsum(probs == kth, axis=1) <= k - above.sum(axis=1, keepdims=True))
        cand = np.nonzero(above | at)[1].reshape(len(probs), k)
    else:
        cand = np.broadcast_to(np.arange(k), probs.shape)
    cand_p = np.take_along_axis(probs, cand, axis=1)
    order = np.argsort(-cand_p, axis=1, kind="stable")  # candidates are in column order: ties stay so
    top = np.take_along_axis(cand, order, axis=1)
    return top, np.take_along_axis(probs, top, axis=1)
def _scores_now(ex: Examples) -> pa.Table:
    """Label-quality scores of every labeled example, per split, as the project stores them."""
    from .ranking import score_split

    n = len(ex.ids)
    labels = ex.label.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    splits = ex.split.indices.to_numpy(zero_copy_only=False)
    quality = np.full(n, np.nan)
    flagged = np.zeros(n, dtype=bool)
    suggested = np.full(n, -1, dtype=np.int64)
    for s in range(len(SPLITS)):
        rows = np.flatnonzero((splits == s) & (labels >= 0))
        if len(rows):
            q, f, sug, _ = score_split(labels[rows], ex.probs.matrix()[rows])
            quality[rows], flagged[rows], suggested[rows] = q, f, sug
    ranked = labels >= 0
    return pa.table({
        "quality": pa.array(quality, pa.float64(), from_pandas=True),
        "flagged": pa.array(flagged, pa.bool_(), mask=~ranked),
        "suggested": _dictionary(np.where(ranked, suggested, -1), ex.classes).cast(pa.string()),
    })


def _fixed_lists(m: np.ndarray, type_: pa.DataType) -> pa.Array:
    values = pa.array(np.ascontiguousarray(m).ravel(), type_)
    return pa.FixedSizeListArray.from_arrays(values, m.shape[1])


# Larger files are not checked for missing example files at import (about 1 s per million paths).
CHECK_FILES_UP_TO = 200_000

# Above this size the full probability matrix is not kept (top-k and p(given) are): 1,000 classes
# must not make a project of gigabytes. Ranking then needs the predictions file again.
MAX_STORED_PROBS = 256 * 2**20


@dataclass
class _Target:
    """Where an import writes: the project itself, or for a first import a scratch file renamed into
    place at the end, while the final name's lock is held."""

    project: Project
    path: Path
    new_file: bool
    final_lock: int | None


def _open_target(project_path: Path) -> _Target:
    new_file = not project_path.exists()
    final_lock = None
    if new_file:
        # Hold the final name's lock while building, so two first imports cannot both rename a new
        # project into place (the second would replace one the first already writes to).
        final_lock = store_mod._acquire_lock(project_path)
        if project_path.exists():  # another import finished first: update its project instead
            store_mod._release_lock(final_lock)
            final_lock, new_file = None, False
    target = project_path.with_name(f".{project_path.name}.importing-{os.getpid()}") if new_file else project_path
    if new_file:
        _clear_stale_imports(project_path)
        _remove_db_files(target)  # a dead import with our pid: its WAL must not meet a new file
    try:
        project = Project.create(target, scratch=True) if new_file else Project.open(project_path)
    except BaseException:
        _release_final_lock(final_lock, project_path)
        raise
    return _Target(project, target, new_file, final_lock)


def _release_final_lock(final_lock: int | None, project_path: Path) -> None:
    if final_lock is not None:
        # leave nothing behind: a later writer (and a refused one, which re-checks that the
        # project exists once it has the lock) makes its own lock file
        store_mod._release_lock(final_lock)
        store_mod._lock_path(project_path).unlink(missing_ok=True)


def _finish_target(t: _Target, project_path: Path, *, failed: bool) -> None:
    """Close ``t``; a failed first import leaves no file behind."""
    try:
        if failed:
            t.project.close()
            if t.new_file:
                _remove_db_files(t.path)
    finally:
        if t.new_file:
            t.path.with_name(t.path.name + ".lock").unlink(missing_ok=True)
        _release_final_lock(t.final_lock, project_path)


def _write(project_path, source, ex: Examples, train_file, report, check_cancel, columns: dict) -> ImportSummary:
    # Work handed to other threads (Arrow encoding, the file listing, an early flush: all let go of
    # the GIL) while this one writes. A pool per import: no threads outlive it, none cross a fork.
    with ThreadPoolExecutor(2, thread_name_prefix="labeler-import") as pool:
        return _write_using(pool, project_path, source, ex, train_file, report, check_cancel, columns)


def _write_using(pool: ThreadPoolExecutor, project_path, source, ex: Examples, train_file, report, check_cancel,
                 columns: dict) -> ImportSummary:
    n = len(ex.ids)
    keep_probs = ex.probs is not None and ex.probs.size * 8 <= MAX_STORED_PROBS
    # encoded on a second thread while the project is made and the matrix written
    encoding = pool.submit(columnar.encode, examples_table(ex, with_topk=not keep_probs))
    listing = None
    if ex.path is not None and n <= CHECK_FILES_UP_TO:
        listing = pool.submit(files.missing_files, source.parent, ex.path)
    scores = None
    if ex.probs is not None and not keep_probs:
        # the matrix will not be kept, so rank now, while it is here
        report("ranking", 0.5)
        scores = _scores_now(ex)
        check_cancel()
    target = _open_target(project_path)
    project, new_file = target.project, target.new_file
    summary = ImportSummary(
        project=project_path, source=source, rows=n,
        splits={s: c for s, c in zip(SPLITS, np.bincount(ex.split.indices.to_numpy(zero_copy_only=False), minlength=3).tolist()) if c},
        classes=ex.classes, unlabeled=ex.unlabeled, warnings=list(ex.warnings),
    )
    if ex.path is None:
        summary.missing_files = 0
    if scores is not None:
        summary.warnings.append(
            f"{ex.probs.shape[1]} classes x {n} rows: only the top-{TOPK} probabilities and the given label's"
            " are kept in the project; the label-quality ranking was computed now"
        )
    try:
        with project.transaction() as c:
            with project.intact():
                old = columnar.read(c, "examples", columns=["id"])
            if old is not None and old.num_rows:
                old_ids = set(old.column("id").to_pylist())
                new_ids = set(ex.ids.to_pylist())
                removed = sorted(old_ids - new_ids)
                summary.removed = removed
                summary.updated = len(old_ids & new_ids)
                if removed:
                    reviewed = {r[0] for r in c.execute("SELECT example_id FROM decisions")}
                    summary.removed_with_reviews = len(reviewed & set(removed))
            summary.added = n - summary.updated

            def chunk_written(done: int) -> None:
                report("writing", 0.55 + 0.4 * done / max(n, 1))
                check_cancel()

            flushing = None
            if keep_probs:
                k = ex.probs.shape[1]
                columnar.write_matrix(c, "probs", ex.probs.blocks(columnar.matrix_chunk_rows(k)))
                if new_file:  # the bulk of a new project is on its way to the disk while the rest is written
                    flushing = pool.submit(files.sync, target.path, data_only=True)
            else:
                columnar.delete(c, "probs")
            columnar.write_encoded(c, "examples", encoding.result(), progress=chunk_written)
            if listing is not None:
                missing = listing.result()
                summary.missing_files = missing.true_count
                if summary.missing_files:
                    summary.missing_examples = ex.path.filter(missing).slice(0, 3).to_pylist()
            if scores is not None:
                columnar.write(c, "scores", scores)
                project.set_meta("ranking", {s: "cleanlab" for s in summary.splits}, conn=c)
            else:
                columnar.delete(c, "scores")  # rankings belong to the previous predictions
                project.set_meta("ranking", {}, conn=c)
            project.set_meta("classes", ex.classes, conn=c)
            project.set_meta("source", str(source), conn=c)
            project.set_meta("base_dir", str(source.parent), conn=c)
            project.set_meta("has_probs", ex.probs is not None, conn=c)
            project.set_meta("probs_layout", store_mod.PROBS_LAYOUT if keep_probs else "", conn=c)
            project.set_meta("columns", columns or {}, conn=c)
            if train_file is not None:
                project.set_meta("train_file", str(Path(train_file).resolve()), conn=c)
            elif "train" in summary.splits and project.meta("train_file") is None:
                project.set_meta("train_file", str(source), conn=c)
            history = list(project.meta("imports", []))
            history.append({"source": str(source), "rows": n, "at": now_iso()})
            project.set_meta("imports", history, conn=c)
        if flushing is not None:
            flushing.result()
        if new_file:
            project.seal()
        else:
            project.close()
        if new_file:
            os.replace(target.path, project_path)
            files.sync(project_path.parent, strict=False)  # the rename itself survives a power cut
    except BaseException:
        _finish_target(target, project_path, failed=True)
        raise
    _finish_target(target, project_path, failed=False)
    report("done", 1.0)
    return summary


def _remove_db_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _clear_stale_imports(project_path: Path) -> None:
    """Remove the temporary files of imports into ``project_path`` that were killed (kill -9, power
    cut): their lock is free. An import still running holds its lock and is left alone."""
    import fcntl
    import re

    pattern = re.compile(re.escape(f".{project_path.name}.importing-") + r"\d+")
    try:
        names = os.listdir(project_path.parent)
    except OSError:
        return
    for name in names:
        if not pattern.fullmatch(name):
            continue
        stale = project_path.with_name(name)
        lock = stale.with_name(name + ".lock")
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # still importing
            _remove_db_files(stale)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
