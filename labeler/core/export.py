"""Export the results of a review: the corrected labels written back into a copy of the training-set
file, the list of corrections, the tally, a summary and a self-contained HTML report.

The corrected copy is the source file byte for byte except the label cells of the corrected examples
(and, with ``drop_ambiguous``, the rows tagged ambiguous). Delimited text is streamed in large blocks
and copied verbatim; only the records that change are parsed and spliced, so ids like ``000123``,
numbers like ``1.0``, a class called ``NA`` and a cell like ``=1+1`` come out exactly as they went in.
JSONL lines are spliced the same way; Parquet goes through Arrow with its column types kept.

Nothing is written in place. Every file goes to a temporary name in the output folder, is flushed and
fsynced, and only when all of them are written are they moved into place with ``os.replace``. A failure
(disk full, a cancel, any exception) leaves the previous export as it was and no temporary file behind.
Source files are only opened for reading, and an output that would land on a source is refused.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import errno
import gzip
import io
import itertools
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import columns as colmod
from . import files
from . import frame as framemod
from . import stats
from . import tally as tallymod
from . import tally_format
from .importer import SPLIT_VALUES
from .store import Decision, Project, now_iso

Progress = Callable[[str, float], None]

FORMATS = ("same", "csv", "parquet")
EXPORT_SPLITS = ("train", "dev", "test")
WRONG_TAGS = frozenset({"mislabeled", "ambiguous"})
CORRECTIONS_FILE = "corrections.csv"
REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"
TALLY_FILES = {"tally.csv": "csv", "tally.md": "md", "tally.json": "json"}
BLOCK = 1 << 22  # bytes read at a time when streaming a delimited file
SHOWN = 10  # unmatched ids named in messages


class ExportProblem(Exception):
    """The export cannot be done; the message names the file, line or column and what is wrong.
    Nothing of the previous export has been replaced."""


class ExportCancelled(Exception):
    """The export was cancelled; nothing of the previous export has been replaced."""


# --------------------------------------------------------------------------------------------
# what was corrected


@dataclass(frozen=True)
class Correction:
    """One example the reviewer judged wrongly or ambiguously labeled."""

    id: str
    split: str | None  # None: the example is no longer in the project (removed by a re-import)
    row: int | None
    path: str | None
    text: str | None
    given: str | None
    decision: Decision

    @property
    def label(self) -> str | None:
        """The corrected label, when the reviewer knows it."""
        return self.decision.label

    @property
    def ambiguous(self) -> bool:
        return "ambiguous" in self.decision.tags


def collect_corrections(project: Project) -> list[Correction]:
    """Every example with a corrected label or tagged mislabeled or ambiguous, all splits, in file order."""
    wanted = {
        eid: d for eid, d in project.decisions().items() if d.label is not None or d.tags & WRONG_TAGS
    }
    out = []
    for eid, d in wanted.items():
        ex = project.example(eid, topk=False)
        if ex is None:  # removed by a re-import; its review is kept
            out.append(Correction(eid, None, None, None, None, None, d))
        else:
            out.append(Correction(eid, ex["split"], ex["row"], ex.get("path"), ex.get("text"), ex.get("label"), d))
    out.sort(key=lambda c: (c.row is None, c.row if c.row is not None else 0, c.id))
    return out


def corrections_csv(corrections: list[Correction]) -> str:
    """corrections.csv: one row per correction, every cell safe to open in a spreadsheet."""
    with_path = any(c.path for c in corrections) or not any(c.text for c in corrections)
    with_text = any(c.text for c in corrections)
    header = ["id", "split"] + (["path"] if with_path else []) + (["text"] if with_text else [])
    header += ["given_label", "corrected_label", "tags", "error_types", "note", "reviewer", "decided_at"]
    lines = [_csv_row(header)]
    for c in corrections:
        d = c.decision
        row = [c.id, c.split or ""]
        if with_path:
            row.append(c.path or "")
        if with_text:
            row.append(c.text or "")
        row += [c.given or "", d.label or "", ";".join(sorted(d.tags)), ";".join(sorted(d.error_types)),
                d.note, d.reviewer or "", d.decided_at or ""]
        lines.append(_csv_row([tally_format.spreadsheet_safe(v) for v in row]))
    return "".join(lines)


def _csv_row(values, delim: str = ",") -> str:
    """One CSV record. csv.writer with a "\\n" line end leaves a bare "\\r" unquoted, which other
    readers take for a line break; this quotes it."""
    return delim.join(_quote(v, delim, False) for v in values) + "\n"


# --------------------------------------------------------------------------------------------
# matching rows of a file to corrections


def _split_of(value: str) -> str | None:
    return SPLIT_VALUES.get(value.strip().lower())


class _Plan:
    """Which rows of one file change: corrected labels and rows to drop, keyed by the cell of the
    column that identifies an example (id, else path, else text)."""

    def __init__(self, role: str, corrections: list[Correction], split: str, drop_ambiguous: bool,
                 project: Project, file_dir: Path):
        self.role = role
        self.split = split
        self.file_dir = os.path.normpath(os.path.abspath(file_dir))
        self.by_key: dict[str, Correction] = {}
        self.conflicts: list[str] = []
        self.without_label = 0
        mine = [c for c in corrections if c.split == split]
        for c in mine:
            drop = drop_ambiguous and c.ambiguous
            if c.label is None and not drop:
                self.without_label += "mislabeled" in c.decision.tags
                continue
            key = self._project_key(c, project)
            if key is None:
                continue
            other = self.by_key.get(key)
            if other is not None and (other.label, other.ambiguous) != (c.label, c.ambiguous):
                self.conflicts.append(key)
            self.by_key.setdefault(key, c)
        for key in self.conflicts:  # two examples with one path and different verdicts: not guessed
            self.by_key.pop(key, None)
        self.drop = {k for k, c in self.by_key.items() if drop_ambiguous and c.ambiguous}
        # Cells that identify a planned row exactly as a file may write them; checked in the fast loop.
        self.fast: set[str] = set(self.by_key)
        if role == "path":
            for key in self.by_key:
                self.fast.add(os.path.relpath(key, self.file_dir))
        self.fast_bytes = {k.encode("utf-8") for k in self.fast}
        self.matched: set[str] = set()

    def _project_key(self, c: Correction, project: Project) -> str | None:
        if self.role == "id":
            return c.id
        if self.role == "text":
            return c.text
        p = project.resolve(c.path)
        return None if p is None else os.path.normpath(os.path.abspath(p))

    def maybe(self, cell: bytes) -> bool:
        """Could this raw cell name a planned row? (cheap; False for nearly every row)"""
        if cell in self.fast_bytes:
            return True
        return self.role == "path" and (b"./" in cell or b"//" in cell or cell.startswith(b"~"))

    def find(self, cell: str) -> tuple[str, Correction] | None:
        """The planned correction a cell names, with its key."""
        key = cell
        if self.role == "path" and cell not in self.by_key:
            key = os.path.normpath(os.path.join(self.file_dir, os.path.expanduser(cell)))
        c = self.by_key.get(key)
        return None if c is None else (key, c)

    def unmatched(self) -> list[Correction]:
        return [c for k, c in self.by_key.items() if k not in self.matched]


@dataclass
class _Outcome:
    """What happened to one file."""

    rows: int = 0
    relabelled: int = 0
    dropped: int = 0
    already_correct: int = 0
    label_changed: list[str] = field(default_factory=list)  # ids whose cell differs from the import


class _Decide:
    """The verdict on one row whose key cell may name a correction: None (keep it as it is),
    "drop", or the new label."""

    def __init__(self, plan: _Plan, outcome: _Outcome):
        self.plan = plan
        self.outcome = outcome

    def __call__(self, key_cell: str, split_cell: str | None, label_cell: str | None):
        hit = self.plan.find(key_cell)
        if hit is None:
            return None
        if split_cell is not None and _split_of(split_cell) != self.plan.split:
            return None  # the same id in another split of a predictions file
        key, c = hit
        self.plan.matched.add(key)
        if label_cell is not None and label_cell != (c.given or ""):
            self.outcome.label_changed.append(c.id)
        if key in self.plan.drop:
            self.outcome.dropped += 1
            return "drop"
        if label_cell == c.label:
            self.outcome.already_correct += 1
            return None
        self.outcome.relabelled += 1
        return c.label


# --------------------------------------------------------------------------------------------
# file kinds


def file_kind(path: Path) -> tuple[str, bool]:
    """("csv" | "tsv" | "txt" | "jsonl" | "parquet", gzipped)."""
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    for ext, kind in ((".parquet", "parquet"), (".pq", "parquet"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
                      (".tsv", "tsv"), (".tab", "tsv"), (".csv", "csv"), (".txt", "txt")):
        if name.endswith(ext):
            if kind == "parquet" and gz:
                break
            return kind, gz
    raise ExportProblem(
        f"{path}: unknown file type (expected .csv, .tsv, .txt, .parquet, .jsonl or .ndjson, optionally .gz)"
    )


def _split_name(path: Path) -> tuple[str, str]:
    """``train.csv.gz`` -> ("train", ".csv.gz")."""
    name = path.name
    low = name.lower()
    cut = len(name) - len(Path(name[:-3]).suffix) - 3 if low.endswith(".gz") else len(name) - len(path.suffix)
    return name[:cut], name[cut:]


def corrected_name(source: Path, fmt: str = "same") -> str:
    """``train.csv`` -> ``train.corrected.csv`` (``.parquet`` / ``.csv`` with another format)."""
    stem, ext = _split_name(source)
    kind, _ = file_kind(source)
    if fmt == "csv" and kind != "csv":
        ext = ".csv"
    elif fmt == "parquet" and kind != "parquet":
        ext = ".parquet"
    return f"{stem}.corrected{ext}"


def _open_source(path: Path, gz: bool):
    try:
        return gzip.open(path, "rb") if gz else open(path, "rb", buffering=0)
    except OSError as e:
        raise ExportProblem(f"cannot read {path}: {e.strerror or e}") from None


def _sniff_delimiter(path: Path, kind: str, gz: bool) -> str:
    if kind == "tsv":
        return "\t"
    if kind == "csv":
        return ","
    with _open_source(path, gz) as f:
        sample = f.read(1 << 16).decode("utf-8-sig", errors="replace")
    try:
        return csv.Sniffer().sniff(sample[:8192], delimiters=",\t;|").delimiter
    except csv.Error:
        first = sample.split("\n", 1)[0]
        return "\t" if first.count("\t") > first.count(",") else ","


@dataclass
class _Roles:
    header: list[str]
    key: str  # the column that identifies an example
    role: str  # its role: id, path or text
    label: str
    split: str | None


def _roles(path: Path, header: list[str]) -> _Roles:
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ExportProblem(f"{path}: duplicate column names: {', '.join(dupes)}")
    cmap = colmod.detect(header)
    roles = cmap.roles
    if "label" not in roles:
        raise ExportProblem(
            f"{path}: no label column to correct (looked for label, ground_truth, target, y_true, class, ...);"
            f" columns found: {', '.join(header)}"
        )
    for role in ("id", "path", "text"):
        if role in roles:
            return _Roles(header, roles[role], role, roles["label"], roles.get("split"))
    raise ExportProblem(
        f"{path}: no id, path or text column to match the corrections by; columns found: {', '.join(header)}"
    )


# --------------------------------------------------------------------------------------------
# delimited text, streamed


def _quote(value: str, delim: str, always: bool) -> str:
    if always or any(ch in value for ch in (delim, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


def _field_spans(text: str, delim: str) -> list[tuple[int, int]]:
    """Start and end of every field of one CSV record (quotes kept), as the csv module splits it."""
    spans = []
    i, n = 0, len(text)
    while True:
        start = i
        if i < n and text[i] == '"':
            i += 1
            while True:
                j = text.find('"', i)
                if j < 0:
                    raise ValueError("unterminated quoted field")
                if j + 1 < n and text[j + 1] == '"':
                    i = j + 2
                    continue
                i = j + 1
                break
        k = text.find(delim, i)
        spans.append((start, n if k < 0 else k))
        if k < 0:
            return spans
        i = k + 1


class _Blocks:
    """A binary stream read as blocks of whole lines."""

    def __init__(self, f, path: Path):
        self.f = f
        self.path = path
        self.carry = b""
        self.done = False
        self.bytes_read = 0

    def read(self) -> bytes | None:
        """The next block of whole lines (the last one may lack its newline); None at the end."""
        while not self.done:
            try:
                data = self.f.read(BLOCK)
            except (OSError, EOFError, gzip.BadGzipFile) as e:
                raise ExportProblem(f"cannot read {self.path}: {getattr(e, 'strerror', None) or e}") from None
            if not data:
                self.done = True
                block, self.carry = self.carry, b""
                return block or None
            self.bytes_read += len(data)
            data = self.carry + data if self.carry else data
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                self.carry = data
                continue
            if cut == len(data):
                self.carry = b""
                return data
            self.carry = data[cut:]
            return data[:cut]
        return None


class _DelimitedCopy:
    """Copy a delimited file, changing only the label cells (or rows) the plan names.

    A block without a quote character holds one record per line: the key cell of each line is found
    with ``bytes.split``. A block with quotes is parsed by Arrow's CSV reader for its key column; if
    that shows a record spanning lines, the csv module reads the block record by record instead,
    pulling in further lines when a record runs past the block, and ``reader.line_num`` says which
    raw lines each record came from. Either way a block without a planned row is written out as it
    was read, and a changed record is re-read with the csv module before it is spliced."""

    def __init__(self, path: Path, gz: bool, out, delim: str, make_plan, decide_factory,
                 progress: Progress, cancel: threading.Event | None, total: int):
        self.path = path
        self.gz = gz
        self.out = out
        self.delim = delim
        self.d = delim.encode()
        self.make_plan = make_plan
        self.decide_factory = decide_factory
        self.progress = progress
        self.cancel = cancel
        self.total = max(total, 1)
        self.lines: list[bytes] = []
        self.parts: list[bytes] = []
        self.has_quote = False
        self.terminated = True
        self.line0 = 1  # file line number of self.lines[0]

    # -- reading -------------------------------------------------------------------------------
    def _extend(self) -> bool:
        block = self.blocks.read()
        if block is None:
            return False
        self.parts.append(block)
        self.has_quote = self.has_quote or b'"' in block
        new = block.split(b"\n")
        self.terminated = block.endswith(b"\n")
        if self.terminated:
            new.pop()
        self.lines.extend(new)
        return True

    def _next_block(self) -> bool:
        self.line0 += len(self.lines)
        self.lines, self.parts, self.has_quote = [], [], False
        return self._extend()

    def _text_lines(self, i: int, *, bom: bool = False):
        """Lines from index i on as text with their newline, for the csv module; reads further
        blocks when a record goes past the end of this one."""
        j = i
        while True:
            if j >= len(self.lines) and not self._extend():
                return
            raw = self.lines[j]
            if bom and j == 0 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                yield raw.decode("utf-8") + "\n"
            except UnicodeDecodeError as e:
                raise ExportProblem(
                    f"{self.path}: line {self.line0 + j} is not valid UTF-8 (byte 0x{raw[e.start]:02x})"
                ) from None
            j += 1

    def run(self) -> _Outcome:
        with _open_source(self.path, self.gz) as f:
            self.blocks = _Blocks(f, self.path)
            if not self._next_block():
                raise ExportProblem(f"{self.path}: the file is empty")
            reader = csv.reader(self._text_lines(0, bom=True), delimiter=self.delim, strict=True)
            try:
                header = next(reader, [])
            except csv.Error as e:
                raise ExportProblem(f"{self.path}: line 1: broken quoting in the header ({e})") from None
            if not header or all(not h.strip() for h in header):
                raise ExportProblem(f"{self.path}: the first line is empty; expected a header")
            start = reader.line_num
            roles = _roles(self.path, header)
            self.plan = self.make_plan(roles)
            self.outcome = _Outcome()
            self.decide = self.decide_factory(self.plan, self.outcome)
            self.ncols = len(header)
            self.ik = header.index(roles.key)
            self.il = header.index(roles.label)
            self.isp = header.index(roles.split) if roles.split else None
            fast = set(self.plan.fast_bytes)
            if self.ik == self.ncols - 1:  # CRLF files: the last cell carries the \r
                fast |= {k + b"\r" for k in fast}
            self.fast = fast
            while True:
                edits: dict[int, bytes | None] = {}
                if self.has_quote:
                    self._scan_quoted(start, edits)
                else:
                    self._scan_plain(start, edits)
                self._emit(edits)
                if self.cancel is not None and self.cancel.is_set():
                    raise ExportCancelled()
                self.progress("training set", min(1.0, self.blocks.bytes_read / self.total))
                if not self._next_block():
                    break
                start = 0
        return self.outcome

    # -- scanning ------------------------------------------------------------------------------
    def _scan_plain(self, i: int, edits: dict) -> None:
        """The fast path: no quote anywhere in the block, so one line is one record."""
        lines = self.lines
        d, ik = self.d, self.ik
        seps = self.ncols - 1
        cells = None
        if sum(part.count(d) for part in self.parts) == seps * len(lines):
            # every line (very likely) has the header's number of fields: just take the key cells
            try:
                cells = [line.split(d, ik + 1)[ik] for line in lines[i:]]
            except IndexError:
                cells = None
        if cells is None:
            cells = self._checked_cells(i)
        self.outcome.rows += len(cells) - cells.count(None)
        fast = self.fast
        if self.plan.role == "path":
            maybe = self.plan.maybe
            hits = [n for n, c in enumerate(cells) if c is not None and (c in fast or maybe(c.rstrip(b"\r")))]
        elif fast.isdisjoint(cells):
            return
        else:
            hits = [n for n, c in enumerate(cells) if c in fast]
        for n in hits:
            j = i + n
            try:
                fields = lines[j].rstrip(b"\r").decode("utf-8").split(self.delim)
            except UnicodeDecodeError:
                raise ExportProblem(f"{self.path}: line {self.line0 + j} is not valid UTF-8") from None
            if len(fields) != self.ncols:
                raise ExportProblem(
                    f"{self.path}: line {self.line0 + j} has {len(fields)} fields, the header has {self.ncols}"
                )
            self._apply(j, j + 1, fields, edits)

    def _checked_cells(self, i: int) -> list[bytes | None]:
        """Key cells line by line, checking each line's field count (None for a blank line)."""
        d, ik, seps = self.d, self.ik, self.ncols - 1
        out: list[bytes | None] = []
        for j in range(i, len(self.lines)):
            line = self.lines[j]
            if line.count(d) != seps:
                if not line.strip(b"\r"):  # a blank line is no record (the importer skips them too)
                    out.append(None)
                    continue
                raise ExportProblem(
                    f"{self.path}: line {self.line0 + j} has {line.count(d) + 1} fields, the header has {self.ncols}"
                )
            out.append(line.split(d, ik + 1)[ik])
        return out

    def _scan_quoted(self, i: int, edits: dict) -> None:
        if not self._scan_arrow(i, edits):
            self._scan_csv(i, edits)

    def _scan_arrow(self, i: int, edits: dict) -> bool:
        """A quoted block in which (as nearly always) every record is one line: the key cells come
        from Arrow's CSV parser, and only the lines that may change are read again with the csv
        module, strictly. False (nothing done) when the block is not like that."""
        lines = self.lines
        n = len(lines)
        if i >= n:
            return True
        rest = lines[i:]
        blank = rest.count(b"") + rest.count(b"\r")
        data = b"\n".join(rest) + b"\n"
        names = [f"c{k}" for k in range(self.ncols)]
        try:
            table = pacsv.read_csv(
                io.BytesIO(data),
                read_options=pacsv.ReadOptions(column_names=names, block_size=len(data) + 1),
                parse_options=pacsv.ParseOptions(delimiter=self.delim, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in names}, include_columns=[names[self.ik]],
                    strings_can_be_null=False, quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowException, ValueError):
            return False
        if table.num_rows != n - i - blank:
            return False  # some record spans lines: read it record by record
        keys = table.column(0)
        candidates = pc.is_in(keys, value_set=pa.array(sorted(self.plan.fast), pa.string()))
        if self.plan.role == "path":
            for pattern in ("./", "//"):
                candidates = pc.or_(candidates, pc.match_substring(keys, pattern))
            candidates = pc.or_(candidates, pc.starts_with(keys, "~"))
        hits = pc.indices_nonzero(candidates).to_pylist()
        if hits and blank:
            rows = [j for j in range(i, n) if lines[j] not in (b"", b"\r")]
            hits = [rows[k] for k in hits]
        else:
            hits = [i + k for k in hits]
        local: dict[int, bytes | None] = {}
        for j in hits:
            try:
                fields = next(csv.reader(io.StringIO(lines[j].decode("utf-8") + "\n", newline="\n"),
                                         delimiter=self.delim, strict=True))
            except (csv.Error, UnicodeDecodeError, StopIteration):
                return False
            if len(fields) != self.ncols:
                return False
            self._apply(j, j + 1, fields, local)
        edits.update(local)
        self.outcome.rows += table.num_rows
        return True

    def _scan_csv(self, i: int, edits: dict) -> None:
        """Every record of the block through the csv module, which handles quotes and line breaks."""
        fast = {k.decode("utf-8") for k in self.plan.fast_bytes}
        maybe = self.plan.maybe
        path_role = self.plan.role == "path"
        ik, ncols = self.ik, self.ncols
        n = len(self.lines)
        try:
            text = b"\n".join(self.lines[i:]).decode("utf-8") + "\n"
        except UnicodeDecodeError:
            text = None
        # The block's lines at C speed; the generator only runs for a record that goes past the block.
        source = itertools.chain(io.StringIO(text, newline="\n"), self._text_lines(n)) if text is not None \
            else self._text_lines(i)
        reader = csv.reader(source, delimiter=self.delim, strict=True)
        start = i
        rows = 0
        while start < len(self.lines):  # a record that runs past the block pulls in the next one
            try:
                fields = next(reader, None)
            except csv.Error as e:
                raise ExportProblem(f"{self.path}: line {self.line0 + start}: broken quoting ({e})") from None
            if fields is None:
                break
            end = i + reader.line_num
            if fields:
                if len(fields) != ncols:
                    raise ExportProblem(
                        f"{self.path}: line {self.line0 + start} has {len(fields)} fields, the header has {ncols}"
                    )
                rows += 1
                key = fields[ik]
                if key in fast or (path_role and maybe(key.encode("utf-8"))):
                    self._apply(start, end, fields, edits)
            start = end
        self.outcome.rows += rows

    def _apply(self, start: int, end: int, fields: list[str], edits: dict) -> None:
        """Decide on the record at lines [start, end) and, if it changes, splice its label cell."""
        verdict = self.decide(fields[self.ik], None if self.isp is None else fields[self.isp], fields[self.il])
        if verdict is None:
            return
        for j in range(start + 1, end):
            edits[j] = None
        if verdict == "drop":
            edits[start] = None
            return
        text = b"\n".join(self.lines[start:end]).decode("utf-8")
        cr = text.endswith("\r")
        if cr:
            text = text[:-1]
        try:
            a, b = _field_spans(text, self.delim)[self.il]
        except (ValueError, IndexError):
            raise ExportProblem(f"{self.path}: line {self.line0 + start}: cannot rewrite this record safely") from None
        new = text[:a] + _quote(verdict, self.delim, text[a:b].startswith('"')) + text[b:]
        try:
            check = next(csv.reader(io.StringIO(new + "\n", newline=""), delimiter=self.delim, strict=True))
        except csv.Error:
            check = None
        expected = list(fields)
        expected[self.il] = verdict
        if check != expected:  # never write a record that would not read back as intended
            raise ExportProblem(f"{self.path}: line {self.line0 + start}: cannot rewrite this record safely")
        edits[start] = (new + ("\r" if cr else "")).encode("utf-8")

    # -- writing -------------------------------------------------------------------------------
    def _emit(self, edits: dict) -> None:
        if not edits:
            for part in self.parts:
                self.out.write(part)
            return
        lines = self.lines
        kept: list[bytes] = []
        prev = 0
        for j in sorted(edits):
            kept += lines[prev:j]
            if edits[j] is not None:
                kept.append(edits[j])
            prev = j + 1
        kept += lines[prev:]
        self.out.write(b"\n".join(kept))
        if self.terminated and kept:
            self.out.write(b"\n")


# --------------------------------------------------------------------------------------------
# JSONL, streamed line by line

_WS = re.compile(r"[ \t\n\r]*")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_DECODER = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)


def _json_spans(s: str) -> dict[str, tuple[int, int]]:
    """Where each top-level value of the JSON object ``s`` starts and ends."""
    i = _WS.match(s, 0).end()
    if s[i:i + 1] != "{":
        raise ValueError("not an object")
    i = _WS.match(s, i + 1).end()
    spans: dict[str, tuple[int, int]] = {}
    if s[i:i + 1] == "}":
        return spans
    while True:
        if s[i:i + 1] != '"':
            raise ValueError("expected a key")
        key, i = json.decoder.scanstring(s, i + 1)
        i = _WS.match(s, i).end()
        if s[i:i + 1] != ":":
            raise ValueError("expected ':'")
        i = _WS.match(s, i + 1).end()
        _, end = _DECODER.raw_decode(s, i)
        spans[key] = (i, end)
        i = _WS.match(s, end).end()
        if s[i:i + 1] == ",":
            i = _WS.match(s, i + 1).end()
            continue
        if s[i:i + 1] == "}":
            return spans
        raise ValueError("expected ',' or '}'")


def _json_cell(v) -> str:
    """A JSON value as the importer reads it into a cell."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


def _json_loads(line: str, path: Path, lineno: int) -> dict:
    try:
        obj = _DECODER.decode(line)
    except json.JSONDecodeError as e:
        raise ExportProblem(f"{path}: line {lineno} is not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise ExportProblem(f"{path}: line {lineno} is not a JSON object")
    return obj


def _copy_jsonl(path: Path, gz: bool, out, make_plan, decide_factory, progress, cancel, total) -> _Outcome:
    outcome = _Outcome()
    plan = decide = roles = None
    with _open_source(path, gz) as raw:
        f = io.BufferedReader(raw, 1 << 20) if not gz else raw
        done = 0
        for lineno, line in enumerate(f, start=1):
            done += len(line)
            if lineno % 65536 == 0:
                if cancel is not None and cancel.is_set():
                    raise ExportCancelled()
                progress("training set", min(1.0, done / max(total, 1)))
            bom = b""
            if lineno == 1 and line.startswith(codecs.BOM_UTF8):
                bom, line = codecs.BOM_UTF8, line[len(codecs.BOM_UTF8):]
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raise ExportProblem(f"{path}: line {lineno} is not valid UTF-8") from None
            if not text.strip():
                out.write(bom + line)
                continue
            obj = _json_loads(text, path, lineno)
            if roles is None:
                roles = _roles(path, list(obj))
                plan = make_plan(roles)
                decide = decide_factory(plan, outcome)
            outcome.rows += 1
            key = _json_cell(obj.get(roles.key))
            verdict = None
            if plan.maybe(key.encode("utf-8")):
                split_cell = _json_cell(obj.get(roles.split)) if roles.split else None
                has_label = roles.label in obj
                verdict = decide(key, split_cell, _json_cell(obj.get(roles.label)) if has_label else None)
                if verdict not in (None, "drop") and not has_label:
                    raise ExportProblem(f"{path}: line {lineno} has no {roles.label!r} field to correct")
            if verdict is None:
                out.write(bom + line)
            elif verdict != "drop":
                start, end = _json_spans(text)[roles.label]
                old = text[start:end]
                if _JSON_NUMBER.fullmatch(old) and _JSON_NUMBER.fullmatch(verdict):
                    new = verdict  # a number stays a number
                else:
                    new = json.dumps(verdict, ensure_ascii=text.isascii())
                out.write(bom + (text[:start] + new + text[end:]).encode("utf-8"))
    if roles is None:
        raise ExportProblem(f"{path}: no rows")
    return outcome


# --------------------------------------------------------------------------------------------
# Arrow: Parquet, and any change of format


def _arrow_cells(col: pa.ChunkedArray) -> pa.ChunkedArray | list[str]:
    """A column as the strings the importer stored for it (floats as Python writes them)."""
    t = col.type
    if pa.types.is_floating(t):
        return ["" if v is None else repr(float(v)) for v in col.to_pylist()]
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_struct(t) or pa.types.is_map(t):
        return ["" if v is None else json.dumps(v) for v in col.to_pylist()]
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        col = pc.cast(col, pa.string())
    return pc.fill_null(col, "")


def _read_arrow(path: Path, kind: str, gz: bool, delim: str | None) -> pa.Table:
    """The whole file as an Arrow table: Parquet with its types, text formats as exact strings."""
    try:
        if kind == "parquet":
            return pq.read_table(path)
        if kind == "jsonl":
            records = []
            with _open_source(path, gz) as f:
                for lineno, line in enumerate(f, start=1):
                    text = line.decode("utf-8-sig" if lineno == 1 else "utf-8")
                    if text.strip():
                        records.append(_json_loads(text, path, lineno))
            names: dict[str, None] = {}
            for r in records:
                names.update(dict.fromkeys(r))
            return pa.table({n: pa.array([_json_cell(r[n]) if n in r else None for r in records], pa.string())
                             for n in names})
        with _open_source(path, gz) as f:
            head = f.read(1 << 16).decode("utf-8-sig", errors="replace")
        header = next(csv.reader([head.split("\n", 1)[0].rstrip("\r")], delimiter=delim), [])
        with pa.input_stream(str(path), compression="detect") as stream:
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


def _apply_arrow(path: Path, table: pa.Table, plan: _Plan, roles: _Roles, decide: _Decide) -> pa.Table:
    keys = _arrow_cells(table.column(roles.key))
    keys_arr = pa.chunked_array([pa.array(keys, pa.string())]) if isinstance(keys, list) else keys
    candidates = pc.is_in(keys_arr, value_set=pa.array(sorted(plan.fast), pa.string()))
    if plan.role == "path":
        for pattern in ("./", "//"):
            candidates = pc.or_(candidates, pc.match_substring(keys_arr, pattern))
        candidates = pc.or_(candidates, pc.starts_with(keys_arr, "~"))
    idx = pc.indices_nonzero(candidates).to_pylist()
    key_list = keys_arr.take(idx).to_pylist() if idx else []
    split_list = None
    if roles.split and idx:
        split_list = pa.chunked_array([pa.array(_as_list(_arrow_cells(table.column(roles.split))), pa.string())]).take(idx).to_pylist()
    label_cells = _arrow_cells(table.column(roles.label))
    label_list = (pa.chunked_array([pa.array(label_cells, pa.string())]) if isinstance(label_cells, list)
                  else label_cells).take(idx).to_pylist() if idx else []
    keep = None
    relabel_rows, relabel_values = [], []
    for n, row in enumerate(idx):
        verdict = decide(key_list[n], split_list[n] if split_list else None, label_list[n])
        if verdict is None:
            continue
        if verdict == "drop":
            if keep is None:
                keep = [True] * table.num_rows
            keep[row] = False
        else:
            relabel_rows.append(row)
            relabel_values.append(verdict)
    if relabel_rows:
        i = table.schema.get_field_index(roles.label)
        col = table.column(i)
        try:
            values = pa.array(relabel_values, pa.string()).cast(col.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = relabel_values[0]
            raise ExportProblem(
                f"{path}: cannot write label {bad!r} into column {roles.label!r} of type {col.type}"
            ) from None
        mask = [False] * table.num_rows
        for r in relabel_rows:
            mask[r] = True
        # replace_with_mask takes the replacements in row order
        order = sorted(range(len(relabel_rows)), key=lambda k: relabel_rows[k])
        values = values.take(pa.array(order, pa.int64()))
        new = pc.replace_with_mask(col.combine_chunks(), pa.array(mask), values)
        table = table.set_column(i, table.schema.field(i), new)
    if keep is not None:
        table = table.filter(pa.array(keep))
    return table


def _as_list(cells) -> list[str]:
    return cells if isinstance(cells, list) else cells.to_pylist()


def _write_arrow(table: pa.Table, out, kind: str, compression: str | None) -> None:
    if kind == "parquet":
        pq.write_table(table, out, compression=compression or "snappy")
        return
    out.write(_csv_row(table.column_names).encode("utf-8"))
    cols = [_as_list(_arrow_cells(c)) for c in table.columns]
    step = 65536
    for start in range(0, table.num_rows, step):
        chunk = "".join(_csv_row(r) for r in zip(*(c[start:start + step] for c in cols)))
        out.write(chunk.encode("utf-8"))


def _parquet_compression(path: Path) -> str | None:
    with contextlib.suppress(Exception):
        meta = pq.ParquetFile(path).metadata
        if meta.num_row_groups and meta.num_columns:
            c = meta.row_group(0).column(0).compression
            return None if c == "UNCOMPRESSED" else c.lower()
    return None


# --------------------------------------------------------------------------------------------
# staged, atomic writes


_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$")


class _Staged:
    """Files written under temporary names in the output folder and moved into place together."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.pending: list[tuple[Path, Path]] = []
        self.current: Path | None = None

    @contextlib.contextmanager
    def open(self, name: str, *, gz: bool = False):
        final = self.out_dir / name
        self.current = final
        fd, tmp = tempfile.mkstemp(dir=self.out_dir, prefix=f".{name}.{os.getpid()}.", suffix=".tmp")
        tmp = Path(tmp)
        self.pending.append((tmp, final))
        with os.fdopen(fd, "wb") as f:
            if gz:
                with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as z:
                    yield z
            else:
                yield f
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o666 & ~_umask())

    def write_text(self, name: str, text: str) -> None:
        with self.open(name) as f:
            f.write(text.encode("utf-8"))

    def commit(self) -> list[Path]:
        done = []
        while self.pending:
            tmp, final = self.pending[0]
            self.current = final
            os.replace(tmp, final)
            self.pending.pop(0)
            done.append(final)
        files.sync(self.out_dir, strict=False)
        return done

    def discard(self) -> None:
        for tmp, _ in self.pending:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self.pending.clear()


def _umask() -> int:
    """The process umask, read without setting it (os.umask would race with other threads)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    return 0o022


def _remove_stale_temps(out_dir: Path) -> None:
    """Temporary files an export killed outright (kill -9, power cut) left behind; their process is gone."""
    with contextlib.suppress(OSError):
        for p in out_dir.iterdir():
            m = _TEMP.match(p.name)
            if not m or int(m["pid"]) == os.getpid():
                continue
            try:
                os.kill(int(m["pid"]), 0)
            except ProcessLookupError:
                with contextlib.suppress(OSError):
                    p.unlink()
            except (PermissionError, OverflowError):
                pass


def _write_failure(e: OSError, target: Path | None, out_dir: Path) -> ExportProblem:
    where = target or out_dir
    if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        why = ("the disk is full" if e.errno == errno.ENOSPC else
               "a file-size limit was reached (or the disk is full)" if e.errno == errno.EFBIG else
               "the disk quota is used up")
        return ExportProblem(
            f"could not write {where}: {why} ({os.strerror(e.errno)}). Nothing was replaced: the files of any"
            f" earlier export in {out_dir} are as they were. Free some space and export again."
        )
    return ExportProblem(
        f"could not write {where}: {e.strerror or e}. Nothing was replaced: the files of any earlier export"
        f" in {out_dir} are as they were."
    )


# --------------------------------------------------------------------------------------------
# the export


@dataclass
class ExportResult:
    """What an export wrote and what it could not do."""

    out_dir: Path
    split: str
    files: list[Path] = field(default_factory=list)
    corrections: int = 0  # rows in corrections.csv
    source_file: Path | None = None
    corrected_file: Path | None = None
    match_by: str | None = None  # the column the corrections were matched by
    rows: int = 0  # rows in the source file
    relabelled: int = 0
    dropped: int = 0
    already_correct: int = 0
    without_label: int = 0  # tagged mislabeled in this split but no corrected label given
    unmatched: list[str] = field(default_factory=list)
    label_changed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        return {
            "split": self.split,
            "corrections": self.corrections,
            "source_file": None if self.source_file is None else str(self.source_file),
            "corrected_file": None if self.corrected_file is None else str(self.corrected_file),
            "match_by": self.match_by,
            "rows": self.rows,
            "relabelled": self.relabelled,
            "dropped_ambiguous": self.dropped,
            "already_correct": self.already_correct,
            "mislabeled_without_label": self.without_label,
            "unmatched": {"count": len(self.unmatched), "examples": self.unmatched[:SHOWN]},
            "label_changed_since_import": {"count": len(self.label_changed), "examples": self.label_changed[:SHOWN]},
            "conflicting_paths": self.conflicts[:SHOWN],
            "warnings": list(self.warnings),
        }

    def lines(self) -> list[str]:
        out = [f"Exported to {self.out_dir}:"]
        out += [f"  {p.name}" for p in self.files]
        out.append(f"  {self.corrections} corrections (all splits) in {CORRECTIONS_FILE}")
        if self.corrected_file is not None:
            out.append(
                f"  {self.corrected_file.name}: {self.relabelled} {self.split} labels corrected"
                + (f", {self.dropped} ambiguous {self.split} rows left out" if self.dropped else "")
                + f" ({self.rows} rows in {self.source_file.name}; matched by column {self.match_by!r})"
            )
        if self.already_correct:
            out.append(f"  {self.already_correct} rows already carried the corrected label")
        if self.without_label:
            out.append(f"  {self.without_label} {self.split} examples are tagged mislabeled without a corrected"
                       " label: left as they are")
        if self.unmatched:
            shown = ", ".join(self.unmatched[:SHOWN]) + (" ..." if len(self.unmatched) > SHOWN else "")
            out.append(f"  warning: {len(self.unmatched)} corrections match no row of {self.source_file}"
                       f" and were not applied: {shown}")
        if self.label_changed:
            shown = ", ".join(self.label_changed[:SHOWN]) + (" ..." if len(self.label_changed) > SHOWN else "")
            out.append(f"  warning: {len(self.label_changed)} rows had a different label in the file than at"
                       f" import: {shown}")
        out += [f"  warning: {w}" for w in self.warnings]
        return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def export_all(
    project: Project,
    out_dir: str | os.PathLike,
    *,
    train_file: str | os.PathLike | None = None,
    drop_ambiguous: bool = False,
    fmt: str = "same",
    split: str = "train",
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ExportResult:
    """Write corrections.csv, the corrected copy of the training-set file (or of the dev file with
    ``split="dev"``), tally.csv/.md/.json, summary.json and report.html into ``out_dir``.

    ``train_file``: the file to correct instead of the one registered at import (with
    ``split="train"`` it is also registered for later exports). Raises :class:`ExportProblem` with a
    clear message (nothing replaced) or :class:`ExportCancelled`."""
    report = progress or (lambda stage, frac: None)
    if fmt not in FORMATS:
        raise ExportProblem(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")
    if split not in EXPORT_SPLITS:
        raise ExportProblem(f"unknown split {split!r} (splits: {', '.join(EXPORT_SPLITS)})")
    out_dir = Path(out_dir).expanduser()
    result = ExportResult(out_dir=out_dir, split=split)

    registered = project.meta("train_file") if split == "train" else project.meta("source")
    target = Path(train_file).expanduser().resolve() if train_file else (Path(registered) if registered else None)
    if target is not None:
        if not target.exists():
            raise ExportProblem(f"the {split} file {target} does not exist"
                                + ("" if train_file else "; pass --train-file PATH"))
        if target.is_dir():
            raise ExportProblem(f"the {split} file {target} is a folder")
        kind, gz = file_kind(target)
    else:
        result.warnings.append(
            "no training-set file is registered for this project: corrected labels were not written back"
            " (import with --train-file, or export with --train-file PATH)"
        )

    names = [CORRECTIONS_FILE, *TALLY_FILES, SUMMARY_FILE, REPORT_FILE]
    if target is not None:
        names.insert(1, corrected_name(target, fmt))
    sources = [project.path, project.path.with_name(project.path.name + "-wal"),
               project.path.with_name(project.path.name + "-shm"), project.path.with_name(project.path.name + ".lock")]
    sources += [Path(p) for p in (project.meta("source"), project.meta("train_file"), target) if p]
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportProblem(f"--out {out_dir} is a file, not a folder" +
                            (" (it is one of the project's sources)" if any(_same_file(out_dir, s) for s in sources) else ""))
    for name in names:
        for src in sources:
            if _same_file(out_dir / name, src):
                raise ExportProblem(
                    f"refusing to export: {out_dir / name} would overwrite the source file {src}; choose another --out folder"
                )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportProblem(f"cannot create the output folder {out_dir}: {e.strerror or e}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ExportProblem(f"the output folder {out_dir} is not writable")
    _remove_stale_temps(out_dir)

    def check_cancel():
        if cancel is not None and cancel.is_set():
            raise ExportCancelled()

    report("corrections", 0.0)
    corrections = collect_corrections(project)
    result.corrections = len(corrections)
    frame = framemod.load(project)
    decisions = project.decisions()
    summary = stats.summary(frame, project.classes)
    dev_tally = tallymod.project_tally(project, frame, "dev")
    dash = tallymod.dashboard(frame, decisions, dev_tally)
    check_cancel()

    staged = _Staged(out_dir)
    try:
        staged.write_text(CORRECTIONS_FILE, corrections_csv(corrections))
        if target is not None:
            _write_corrected(project, target, kind, gz, names[1], staged, corrections, result,
                             split=split, drop_ambiguous=drop_ambiguous, fmt=fmt,
                             progress=lambda s, f: report(s, 0.05 + 0.75 * f), cancel=cancel)
        check_cancel()
        report("tally", 0.8)
        for name, tfmt in TALLY_FILES.items():
            staged.write_text(name, tally_format.render(dev_tally, tfmt))
        result.files = [out_dir / n for n in names]
        report("report", 0.85)
        from . import report as reportmod

        html = reportmod.build(project, frame, decisions, tally=dev_tally, dashboard=dash,
                               summary=summary, export=result.counts(), cancel=cancel)
        check_cancel()
        full = {"generated_at": now_iso(), "project": str(project.path), "summary": summary,
                "dashboard": dash, "export": result.counts()}
        staged.write_text(SUMMARY_FILE, json.dumps(full, indent=2, default=_json_default) + "\n")
        staged.write_text(REPORT_FILE, html)
        check_cancel()
        report("writing", 0.98)
        staged.commit()
    except OSError as e:
        staged.discard()
        raise _write_failure(e, staged.current, out_dir) from None
    except BaseException:
        staged.discard()
        raise
    if train_file and split == "train" and str(target) != project.meta("train_file"):
        if project.readonly:
            result.warnings.append(f"{target} was used but not registered: the project is open read-only")
        else:
            project.set_meta("train_file", str(target))
    report("done", 1.0)
    return result


def _write_corrected(project, target: Path, kind: str, gz: bool, name: str, staged: _Staged,
                     corrections: list[Correction], result: ExportResult, *, split, drop_ambiguous, fmt,
                     progress, cancel) -> None:
    out_kind = kind if fmt == "same" else fmt
    delim = _sniff_delimiter(target, kind, gz) if kind in ("csv", "tsv", "txt") else None
    plans: list[_Plan] = []

    def make_plan(roles: _Roles) -> _Plan:
        plan = _Plan(roles.role, corrections, split, drop_ambiguous, project, target.parent)
        plans.append(plan)
        result.match_by = roles.key
        return plan

    total = os.path.getsize(target)
    result.source_file = target
    if out_kind == kind and kind in ("csv", "tsv", "txt"):
        with staged.open(name, gz=gz) as out:
            outcome = _DelimitedCopy(target, gz, out, delim, make_plan, _Decide, progress, cancel, total).run()
    elif out_kind == kind == "jsonl":
        with staged.open(name, gz=gz) as out:
            outcome = _copy_jsonl(target, gz, out, make_plan, _Decide, progress, cancel, total)
    else:
        progress("training set", 0.0)
        table = _read_arrow(target, kind, gz, delim)
        roles = _roles(target, table.column_names)
        plan = make_plan(roles)
        outcome = _Outcome(rows=table.num_rows)
        table = _apply_arrow(target, table, plan, roles, _Decide(plan, outcome))
        if cancel is not None and cancel.is_set():
            raise ExportCancelled()
        compression = _parquet_compression(target) if kind == "parquet" else None
        with staged.open(name) as out:
            _write_arrow(table, out, "parquet" if out_kind == "parquet" else "csv", compression)
        progress("training set", 1.0)
    plan = plans[0]
    result.corrected_file = staged.out_dir / name
    result.rows = outcome.rows
    result.relabelled = outcome.relabelled
    result.dropped = outcome.dropped
    result.already_correct = outcome.already_correct
    result.label_changed = outcome.label_changed
    result.without_label = plan.without_label
    result.unmatched = [c.id for c in plan.unmatched()]
    result.conflicts = list(plan.conflicts)
    if plan.conflicts:
        result.warnings.append(
            f"{len(plan.conflicts)} paths belong to several reviewed examples with different verdicts; not applied"
        )


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"{type(o).__name__} is not JSON serializable")
