"""Parquet, and any change of format on export (CSV or JSONL to Parquet, anything to CSV): both
directions, through Arrow.

Reading keeps what identifies things as exact strings by the rule of :mod:`.cells` (a categorical
label is its category's text, a timestamp id its ISO text, a bool ``true``/``false``) and float
columns as float64 for the probabilities. Rewriting replaces the label cells of the rows that change
and keeps every column's type: a categorical label column stays categorical, a bool column bool.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..problems import ExportCancelled, ExportProblem, ImportProblem
from . import FileKind, cells, jsonl, open_bytes
from .delimited import read_header, record, repeated
from .table import ArrowColumns, Table

# -- reading


def read(path: Path) -> Table:
    """A Parquet file for an import: list columns as they are, floats as float64, the rest as text."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise ImportProblem(f"{path}: not a readable Parquet file ({e})") from None
    names = table.schema.names
    dupes = repeated(names)
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
        else:
            columns.append(cells.text_array(col))
    frame = ArrowColumns(pa.table(columns, names=names))
    return Table(path, list(names), frame, first_line=0, float_columns=floats)


def preview(path: Path, rows: int) -> tuple[list[str], list[list[str]]]:
    """The column names and the first ``rows`` rows as text, for a column-mapping dialog."""
    f = pq.ParquetFile(path)
    if not f.num_row_groups:
        return [], []
    t = f.read_row_group(0).slice(0, rows)
    texts = [cells.text_array(c).to_pylist() for c in t.columns]
    return t.column_names, [list(r) for r in zip(*texts)]


def read_any(path: Path, kind: FileKind, delimiter: str | None) -> pa.Table:
    """The whole file as an Arrow table, for a change of format: Parquet with its types, text
    formats as exact strings."""
    try:
        if kind.name == "parquet":
            return pq.read_table(path)
        if kind.name == "jsonl":
            records = []
            with open_bytes(path, kind, ExportProblem) as f:
                for lineno, line in enumerate(f, start=1):
                    text = line.decode("utf-8-sig" if lineno == 1 else "utf-8")
                    if text.strip():
                        records.append(jsonl._json_loads(text, path, lineno))
            names: dict[str, None] = {}
            for r in records:
                names.update(dict.fromkeys(r))
            return pa.table({n: pa.array([jsonl.cell(r[n]) if n in r else None for r in records], pa.string())
                             for n in names})
        try:
            header, delim = read_header(path, kind, delimiter)
        except ImportProblem as e:
            raise ExportProblem(str(e)) from None
        with pa.input_stream(str(path), compression="gzip" if kind.gz else None) as stream:
            return pacsv.read_csv(
                stream,
                read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
                parse_options=pacsv.ParseOptions(delimiter=delim, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={h: pa.string() for h in header},
                    strings_can_be_null=False, quoted_strings_can_be_null=False,
                ),
            )
    except (pa.ArrowException, UnicodeDecodeError, OSError) as e:
        raise ExportProblem(f"{path}: cannot read the file ({str(e).splitlines()[0] if str(e) else e})") from None


def column_text(path: Path, column: str, problem) -> pa.Array:
    """One column of a Parquet file as exact strings, by the rule of :mod:`.cells`."""
    try:
        return cells.text_array(pq.read_table(path, columns=[column]).column(0))
    except (pa.ArrowException, OSError) as e:
        raise problem(f"{path}: cannot read column {column!r} ({e})") from None


# -- rewriting


def rewrite(path: Path, kind: FileKind, out, edit, *, out_kind: str, delimiter: str | None = None,
            progress=None, cancel: threading.Event | None = None) -> int:
    """Read ``path`` whole, change the rows ``edit`` decides (see
    :func:`labeler.core.formats.delimited.rewrite`), and write it to ``out`` as ``out_kind``
    ("parquet" or "csv"). Returns the number of rows read."""
    progress = progress or (lambda s, f: None)
    progress("training set", 0.0)
    table = read_any(path, kind, delimiter)
    roles = edit.begin(path, table.column_names)
    rows = table.num_rows
    table = _apply(path, table, edit, roles)
    if cancel is not None and cancel.is_set():
        raise ExportCancelled()
    if out_kind == "parquet":
        pq.write_table(table, out, compression=_parquet_compression(path) if kind.name == "parquet" else "snappy")
    else:
        _write_csv(table, out)
    progress("training set", 1.0)
    return rows


def _apply(path: Path, table: pa.Table, edit, roles) -> pa.Table:
    plan = edit.plan
    keys = cells.text_array(table.column(roles.key))
    if getattr(plan, "sample", None):
        plan.seen.update(keys.filter(pc.is_in(keys, value_set=plan.sample_array)).to_pylist())
    candidates = pc.is_in(keys, value_set=pa.array(sorted(plan.fast), pa.string()))
    if plan.role == "path":
        for pattern in ("./", "//"):
            candidates = pc.or_(candidates, pc.match_substring(keys, pattern))
        candidates = pc.or_(candidates, pc.starts_with(keys, "~"))
    idx = pc.indices_nonzero(candidates)
    if not len(idx):
        return table
    key_list = keys.take(idx).to_pylist()
    split_list = cells.text_array(table.column(roles.split)).take(idx).to_pylist() if roles.split else None
    label_list = cells.text_array(table.column(roles.label)).take(idx).to_pylist()
    keep = None
    relabel: dict[int, str] = {}
    for n, row in enumerate(idx.to_pylist()):
        verdict = edit.decide(key_list[n], split_list[n] if split_list else None, label_list[n])
        if verdict is None:
            continue
        if verdict == "drop":
            if keep is None:
                keep = [True] * table.num_rows
            keep[row] = False
        else:
            relabel[row] = verdict
    if relabel:
        i = table.schema.get_field_index(roles.label)
        col = table.column(i)
        try:
            new = _replace(col, relabel)
        except ValueError as e:
            raise ExportProblem(
                f"{path}: cannot write label {e.args[0]!r} into column {roles.label!r} of type {col.type}"
            ) from None
        table = table.set_column(i, table.schema.field(i), new)
    if keep is not None:
        table = table.filter(pa.array(keep))
    return table


def _replace(col: pa.ChunkedArray, values: dict[int, str]) -> pa.Array:
    """``col`` with the rows in ``values`` set to those labels, its type kept (a dictionary column is
    decoded, changed and encoded again, so a new class simply joins its categories)."""
    t = col.type
    if pa.types.is_dictionary(t):
        plain = _replace(pc.cast(col, t.value_type), values)
        return pc.dictionary_encode(plain).cast(pa.dictionary(t.index_type, t.value_type))
    rows = sorted(values)
    replacements = cells.from_text([values[r] for r in rows], t)  # in row order, as the mask takes them
    mask = pa.array(_mask(col.length(), rows))
    return pc.replace_with_mask(col.combine_chunks(), mask, replacements)


def _mask(n: int, rows: list[int]) -> list[bool]:
    out = [False] * n
    for r in rows:
        out[r] = True
    return out


def _write_csv(table: pa.Table, out) -> None:
    out.write(record(table.column_names).encode("utf-8"))
    texts = [cells.text_array(c).to_pylist() for c in table.columns]
    step = 65536
    for start in range(0, table.num_rows, step):
        chunk = "".join(record(r) for r in zip(*(c[start:start + step] for c in texts)))
        out.write(chunk.encode("utf-8"))


def _parquet_compression(path: Path) -> str:
    with contextlib.suppress(Exception):
        meta = pq.ParquetFile(path).metadata
        if meta.num_row_groups and meta.num_columns:
            c = meta.row_group(0).column(0).compression
            return "none" if c == "UNCOMPRESSED" else c.lower()
    return "snappy"

