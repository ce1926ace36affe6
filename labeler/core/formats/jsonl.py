"""JSON lines (one object per line), optionally gzipped: both directions.

Numbers are read as the text they are written with (``1.0`` stays ``1.0``, ``000123`` in a string
stays a string), a key named twice on a line is refused (``json.loads`` would keep the last), and a
rewrite changes nothing but the label value of the lines that change: every other byte, key order and
spacing included, is copied.
"""

from __future__ import annotations

import codecs
import json
import io
import os
import re
import threading
from pathlib import Path

import pandas as pd

from ..problems import ExportCancelled, ExportProblem, ImportProblem
from . import FileKind, open_bytes
from .table import Table


# -- reading


def read(path: Path, kind: FileKind) -> Table:
    """Every line an object; keys in the order first seen; values as :func:`cell` makes them (lists
    kept as lists, for a probabilities column). A malformed line is refused with its number."""
    records = []
    seen: dict[str, None] = {}
    with open_bytes(path, kind) as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError:
                raise ImportProblem(f"{path}: line {lineno} is not valid UTF-8") from None
            if not line.strip():
                continue
            try:
                obj = _READER.decode(line)
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
            vals.append(v if isinstance(v, list) else cell(v))
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




_READER = json.JSONDecoder(parse_int=str, parse_float=str, object_pairs_hook=_unique_keys)


def preview(path: Path, kind: FileKind, rows: int) -> tuple[list[str], list[list[str]]]:
    """The keys and the first ``rows`` objects as text, for a column-mapping dialog."""
    out: list[dict] = []
    with open_bytes(path, kind) as f:
        for raw in f:
            if raw.strip():
                try:
                    obj = _READER.decode(raw.decode("utf-8-sig", errors="replace"))
                except (json.JSONDecodeError, _DuplicateKey):
                    break
                if isinstance(obj, dict):
                    out.append(obj)
            if len(out) >= rows:
                break
    cols = list(dict.fromkeys(k for o in out for k in o))
    return cols, [[cell(o.get(c)) for c in cols] for o in out]


def column_text(path: Path, kind: FileKind, column: str, problem):
    """One key's values, line by line, as exact strings."""
    import pyarrow as pa

    out = []
    with open_bytes(path, kind, problem) as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError:
                raise problem(f"{path}: line {lineno} is not valid UTF-8") from None
            if line.strip():
                try:
                    obj = _READER.decode(line)
                except (json.JSONDecodeError, _DuplicateKey):
                    raise problem(f"{path}: line {lineno} is not valid JSON") from None
                out.append(cell(obj.get(column)) if isinstance(obj, dict) else "")
    return pa.array(out, pa.string())


# -- rewriting

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


def cell(v) -> str:
    """A JSON value (numbers kept as their text) as the exact string of a cell: null is empty,
    bools are ``true``/``false``, lists and objects their JSON text. Reading and rewriting both use it."""
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


def rewrite(path: Path, kind: FileKind, out, edit, *, progress=None, cancel: threading.Event | None = None) -> int:
    """Copy ``path`` into ``out`` line by line; a line changes only where ``edit`` (see
    :func:`labeler.core.formats.delimited.rewrite`) decides, and then only its label value. Returns
    the number of records."""
    progress = progress or (lambda s, f: None)
    total = os.path.getsize(path)
    rows = 0
    plan = decide = roles = None
    sample = ()
    with open_bytes(path, kind, ExportProblem) as raw:
        f = io.BufferedReader(raw, 1 << 20) if not kind.gz else raw
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
                roles = edit.begin(path, list(obj))
                plan, decide = edit.plan, edit.decide
                sample = getattr(plan, "sample", ())
            rows += 1
            key = cell(obj.get(roles.key))
            if key in sample:
                plan.seen.add(key)
            verdict = None
            if plan.maybe(key.encode("utf-8")):
                split_cell = cell(obj.get(roles.split)) if roles.split else None
                has_label = roles.label in obj
                verdict = decide(key, split_cell, cell(obj.get(roles.label)) if has_label else None)
                if verdict not in (None, "drop") and not has_label:
                    raise ExportProblem(f"{path}: line {lineno} has no {roles.label!r} field to correct")
            if verdict is None:
                out.write(bom + line)
            elif verdict != "drop":
                start, end = _json_spans(text)[roles.label]
                old = text[start:end]
                if _JSON_NUMBER.fullmatch(old) and _JSON_NUMBER.fullmatch(verdict):
                    new = verdict  # a number stays a number
                elif old in ("true", "false") and verdict in ("true", "false"):
                    new = verdict  # and a bool a bool
                else:
                    new = json.dumps(verdict, ensure_ascii=text.isascii())
                out.write(bom + (text[:start] + new + text[end:]).encode("utf-8"))
    if roles is None:
        raise ExportProblem(f"{path}: no rows")
    return rows


