"""Delimited text (CSV, TSV, .txt with a sniffed delimiter), optionally gzipped: both directions.

Reading: the whole file through Arrow's CSV reader in parallel blocks, every cell an exact string
(``000123`` stays ``000123``, a class ``NA`` is a class), probability columns parsed as float64;
when Arrow fails, a careful pass with the csv module finds the line and says what is wrong.

Rewriting: the file is streamed in large blocks and copied verbatim; only the records that change are
parsed and spliced, so every other byte (quoting, line ends, a BOM, ``1.0``, ``=1+1``) comes out
exactly as it went in. A changed record is read back before it is written: never a record that
would not read as intended.
"""

from __future__ import annotations

import codecs
import gzip
import csv
import io
import itertools
import os
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..problems import ExportCancelled, ExportProblem, ImportProblem
from . import FileKind, open_bytes
from .table import ArrowColumns, Table

CSV_BLOCK_BYTES = 1 << 22  # parsed in parallel, block by block
BLOCK = 1 << 22  # bytes read at a time when a file is rewritten
# The longest record (and so the longest cell) labeler reads or rewrites: far above any label or
# path, room for a long text example. Arrow needs a block that holds a whole record; the csv module
# refuses fields over 128 KB unless told otherwise (a process-wide setting, only ever raised here).
MAX_CELL_BYTES = 64 << 20
MAX_CELL_TEXT = "64 MB"
csv.field_size_limit(max(csv.field_size_limit(), MAX_CELL_BYTES))


# -- reading


def _delimiter(kind: FileKind, text: str, first: str) -> str:
    """The delimiter of a file whose start is ``text``: by kind, or sniffed for .txt."""
    if kind.name == "tsv":
        return "\t"
    if kind.name == "csv":
        return ","
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=",\t;|").delimiter
    except csv.Error:
        return "\t" if first.count("\t") > first.count(",") else ","


def read_header(path: Path, kind: FileKind, delimiter: str | None = None) -> tuple[list[str], str]:
    """The header and the delimiter (given, from the kind, or sniffed for .txt). Refuses UTF-16,
    non-UTF-8 text, an empty first line, blank and repeated column names."""
    with open_bytes(path, kind) as f:
        sample = f.read(1 << 16)
        while b"\n" not in sample and b"\r" not in sample:  # a very wide header (thousands of probability columns)
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
    # the header ends at the first line break: \n, \r\n, or \r alone (old Mac files, which Arrow reads too)
    first = text.split("\n", 1)[0].split("\r", 1)[0]
    delim = delimiter or _delimiter(kind, text, first)
    header = next(csv.reader([first], delimiter=delim), [])
    if not header or all(not h.strip() for h in header):
        raise ImportProblem(f"{path}: the first line is empty; expected a header naming the columns")
    dupes = repeated(header)
    if dupes:
        raise ImportProblem(f"{path}: duplicate column names in the header: {', '.join(dupes)}")
    blank = [i + 1 for i, h in enumerate(header) if not h.strip()]
    if blank:
        raise ImportProblem(f"{path}: column {blank[0]} of the header has no name")
    return header, delim


def repeated(names: list[str]) -> list[str]:
    """The names that occur more than once (linear: files can have thousands of columns)."""
    seen: set[str] = set()
    return sorted({n for n in names if n in seen or seen.add(n)})


def read(path: Path, kind: FileKind, float_columns, *, delimiter: str | None = None) -> Table:
    """The whole file through Arrow's CSV reader: every cell an exact string, except the columns
    ``float_columns(header)`` names, parsed as float64."""
    header, delim = read_header(path, kind, delimiter)
    floats = set(float_columns(header)) if float_columns else set()
    types = {c: (pa.float64() if c in floats else pa.string()) for c in header}

    block = CSV_BLOCK_BYTES

    def read(newlines_in_values: bool) -> pa.Table:
        with pa.input_stream(str(path), compression="gzip" if kind.gz else None) as stream:
            return pacsv.read_csv(
                stream,
                read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, use_threads=True,
                                               block_size=block),
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
        except pa.ArrowInvalid as e:
            if "straddl" in str(e):  # a record longer than a block (a long text cell): blocks that hold one
                block = MAX_CELL_BYTES + (1 << 20)
            try:
                table = read(True)
            except pa.ArrowInvalid as e2:
                if "straddl" not in str(e2) or block != CSV_BLOCK_BYTES:
                    raise
                block = MAX_CELL_BYTES + (1 << 20)
                table = read(True)
            if block != CSV_BLOCK_BYTES:
                _check_cell_lengths(path, table)
    except (pa.ArrowInvalid, UnicodeDecodeError) as e:
        raise _diagnose_delimited(path, header, delim, floats, e) from None
    if table.num_rows == 0:
        raise ImportProblem(f"{path}: no rows (the file has a header only)")
    return Table(path, header, ArrowColumns(table), first_line=2, float_columns=floats,
                 find_lines=lambda: _record_lines(path, delim, table.num_rows), delimiter=delim)


def _check_cell_lengths(path: Path, table: pa.Table) -> None:
    """Refuse a cell longer than :data:`MAX_CELL_BYTES`, naming its row and column: an export could
    not rewrite its record (the limit is the same both ways)."""
    for name, col in zip(table.column_names, table.columns):
        if not pa.types.is_string(col.type):
            continue
        lengths = pc.binary_length(col)
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > MAX_CELL_BYTES:
            row = pc.index(lengths, longest).as_py()
            raise ImportProblem(
                f"{path}: data row {row + 1}, column {name!r}: a cell of {longest / 2**20:.0f} MB; labeler reads cells"
                f" of up to {MAX_CELL_TEXT}")


def _record_lines(path: Path, delim: str, rows: int) -> list[int] | None:
    """The file line each data row starts on, for messages; None when row N is simply line N + 2.
    Blank lines and quoted line breaks make them differ. Only computed when a message needs it."""
    with open_bytes(path) as f:
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
    with open_bytes(path) as f:
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
        if "field limit" in str(e):
            return ImportProblem(f"{path}: line {start}: a cell is longer than {MAX_CELL_TEXT}, the longest labeler"
                                 " reads (or an unclosed quote runs on to the end of the file)")
        return ImportProblem(f"{path}: line {start}: broken quoting or field ({e})")
    if records == 0:
        return ImportProblem(f"{path}: no rows (the file has a header only)")
    msg = str(err).splitlines()[0] if str(err) else type(err).__name__
    if "quote" in msg.lower() or "eof" in msg.lower():
        return ImportProblem(f"{path}: broken quoting near the end of the file ({msg})")
    return ImportProblem(f"{path}: cannot parse the file: {msg}")



def preview(path: Path, kind: FileKind, rows: int) -> tuple[list[str], list[list[str]]]:
    """The header and the first ``rows`` records, for a column-mapping dialog."""
    header, delim = read_header(path, kind)
    with open_bytes(path, kind) as f:
        text = f.read(1 << 20).decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    next(reader, None)
    body = []
    for r in reader:
        body.append(r)
        if len(body) >= rows:
            break
    return header, body




def column_text(path: Path, kind: FileKind, column: str, delimiter: str | None, problem) -> pa.Array:
    """One column as exact strings, parsed in parallel without the others."""
    try:
        header, delim = read_header(path, kind, delimiter)
    except ImportProblem as e:
        raise problem(str(e)) from None
    try:
        with pa.input_stream(str(path), compression="gzip" if kind.gz else None) as stream:
            table = pacsv.read_csv(
                stream,
                read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=CSV_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(delimiter=delim, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(include_columns=[column], column_types={column: pa.string()},
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
    except (pa.ArrowException, OSError) as e:
        raise problem(f"{path}: cannot read the file ({str(e).splitlines()[0] if str(e) else e})") from None
    return table.column(0).combine_chunks()


# -- rewriting


def rewrite(path: Path, kind: FileKind, out, edit, *, delimiter: str | None = None, progress=None,
            cancel: threading.Event | None = None) -> int:
    """Copy ``path`` into the binary stream ``out``, changing only the label cells (or dropping the
    rows) that ``edit`` decides; returns the number of records. Every other byte is copied as it is.

    ``edit`` is the export's row editor: ``edit.begin(path, header)`` returns the roles (``key``,
    ``label``, ``split`` column names) and sets up ``edit.plan`` (``fast``/``fast_bytes``: the key
    cells that may change, ``maybe(cell)``, ``role``); ``edit.decide(key, split, label)`` gives None
    (keep), "drop" or the new label."""
    with open_bytes(path, kind, ExportProblem) as f:
        sample = f.read(1 << 16).decode("utf-8-sig", errors="replace")
    if "\r" in sample and "\n" not in sample:
        raise ExportProblem(
            f"{path}: its lines end in a carriage return alone (as old Mac files do). labeler reads such a"
            " file but rewrites only files with LF or CRLF line ends, byte for byte: save it with those"
            " (any editor's line-ending setting), or export with --format parquet")
    delim = delimiter or _delimiter(kind, sample, sample.split("\n", 1)[0])
    return _Copy(path, kind, out, delim, edit, progress or (lambda s, f: None), cancel,
                 os.path.getsize(path)).run()



def quote(value: str, delim: str, always: bool) -> str:
    if always or any(ch in value for ch in (delim, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


def record(values, delim: str = ",") -> str:
    """One CSV record of exact cells. csv.writer with a "\\n" line end leaves a bare "\\r" unquoted,
    which other readers take for a line break; this quotes it."""
    return delim.join(quote(v, delim, False) for v in values) + "\n"


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


class _Copy:
    """Copy a delimited file, changing only the label cells (or rows) the plan names.

    A block without a quote character holds one record per line: the key cell of each line is found
    with ``bytes.split``. A block with quotes is parsed by Arrow's CSV reader for its key column; if
    that shows a record spanning lines, the csv module reads the block record by record instead,
    pulling in further lines when a record runs past the block, and ``reader.line_num`` says which
    raw lines each record came from. Either way a block without a planned row is written out as it
    was read, and a changed record is re-read with the csv module before it is spliced."""

    def __init__(self, path: Path, kind: FileKind, out, delim: str, edit, progress, cancel: threading.Event | None,
                 total: int):
        self.path = path
        self.kind = kind
        self.out = out
        self.delim = delim
        self.d = delim.encode()
        self.edit = edit
        self.rows = 0
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

    def run(self) -> int:
        with open_bytes(self.path, self.kind, ExportProblem) as f:
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
            roles = self.edit.begin(self.path, header)
            self.plan = self.edit.plan
            self.decide = self.edit.decide
            self.ncols = len(header)
            self.ik = header.index(roles.key)
            self.il = header.index(roles.label)
            self.isp = header.index(roles.split) if roles.split else None
            fast = set(self.plan.fast_bytes)
            if self.ik == self.ncols - 1:  # CRLF files: the last cell carries the \r
                fast |= {k + b"\r" for k in fast}
            self.fast = fast
            # the plan's sample of the project's keys: which of them the file holds is counted on the way
            sample = set(getattr(self.plan, "sample_bytes", ()))
            if self.ik == self.ncols - 1:
                sample |= {k + b"\r" for k in sample}
            self.sample = sample
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
        return self.rows

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
        self.rows += len(cells) - cells.count(None)
        if self.sample:
            self.plan.seen.update(c.rstrip(b"\r").decode("utf-8", "replace") for c in self.sample.intersection(cells))
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
        if self.sample:
            self.plan.seen.update(keys.filter(pc.is_in(keys, value_set=self.plan.sample_array)).to_pylist())
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
        self.rows += table.num_rows
        return True

    def _scan_csv(self, i: int, edits: dict) -> None:
        """Every record of the block through the csv module, which handles quotes and line breaks."""
        fast = {k.decode("utf-8") for k in self.plan.fast_bytes}
        sample = getattr(self.plan, "sample", ())
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
                if key in sample:
                    self.plan.seen.add(key)
                if key in fast or (path_role and maybe(key.encode("utf-8"))):
                    self._apply(start, end, fields, edits)
            start = end
        self.rows += rows

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
        new = text[:a] + quote(verdict, self.delim, text[a:b].startswith('"')) + text[b:]
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


