"""Property tests of the write-back: random files of every format (CSV, TSV, gzipped CSV, JSONL,
gzipped JSONL, Parquet with typed columns), with and without an id column, with the label in a column
named by ``--column`` beside a decoy ``label`` column, go through import -> decisions -> export, and
the corrected file differs from the source only in the label cells of the corrected rows: by bytes
for the text formats, by value and type for Parquet.

The expected file is built here, from the rows the test drew, by rules stated in this file (a
replaced CSV cell keeps the old cell's quotes and is quoted where it must be; a JSONL value is the
JSON text of the new label), never by labeler's own code.
"""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from labeler.core.export import export_all  # noqa: E402
from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.store import Decision, Project  # noqa: E402

WORDS = ["NA", "None", "nan", "000123", "1.0", "a,b", 'say "hi"', " lead", "tab\tin", "é", "日本", "=1+1",
         "-1", "x;y", "line\nbreak", "#h"]
TEXT = st.one_of(st.sampled_from(WORDS), st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                                                 max_size=6))
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def datasets(draw):
    n = draw(st.integers(2, 10))
    classes = draw(st.lists(TEXT.filter(lambda s: s.strip() == s and "\n" not in s and "\r" not in s),
                            min_size=2, max_size=4, unique=True))
    with_id = draw(st.booleans())
    label_col = draw(st.sampled_from(["label", "tag", "y_true"]))
    ids = draw(st.lists(TEXT.filter(lambda s: s.strip() == s and s), min_size=n, max_size=n, unique=True))
    rows = []
    for i in range(n):
        row = {}
        if with_id:
            row["id"] = ids[i]
        row["path"] = f"img/{i}_{draw(st.sampled_from(['a', 'b c', 'd,e']))}.png"  # unique: the key without ids
        row["split"] = "train" if i == 0 else draw(st.sampled_from(["train", "train", "dev"]))  # a training file
        row[label_col] = draw(st.sampled_from(classes))
        if label_col != "label":
            row["label"] = draw(st.sampled_from(["decoy", "x"]))  # a column that is not the label
        row["pred"] = draw(st.sampled_from(classes))
        row["note"] = draw(TEXT)
        rows.append(row)
    seen = sorted({r[label_col] for r in rows} | {r["pred"] for r in rows})  # the project's classes
    fixes = draw(st.dictionaries(st.sampled_from(range(n)), st.sampled_from(seen), max_size=3))
    return rows, label_col, fixes


def _needs_quotes(cell: str, delim: str) -> bool:
    return any(ch in cell for ch in (delim, '"', "\n", "\r"))


def _quote(cell: str, delim: str, force: bool) -> str:
    return '"' + cell.replace('"', '""') + '"' if force or _needs_quotes(cell, delim) else cell


def delimited_bytes(rows, delim: str, newline: str, quote_all: bool, bom: bool, fixes=None, label_col=None) -> bytes:
    """The file as this test writes it; with ``fixes`` (row -> new label), as the export must write it:
    the same bytes except the label cell, which keeps the old cell's quotes."""
    header = list(rows[0])
    out = ["\ufeff" if bom else "", delim.join(_quote(h, delim, quote_all) for h in header), newline]
    for i, r in enumerate(rows):
        cells = []
        for c in header:
            old = _quote(r[c], delim, quote_all)
            if fixes and i in fixes and c == label_col:
                cells.append(_quote(fixes[i], delim, old.startswith('"')))
            else:
                cells.append(old)
        out += [delim.join(cells), newline]
    return "".join(out).encode("utf-8")


def jsonl_bytes(rows, ascii_only: bool, fixes=None, label_col=None) -> bytes:
    lines = []
    for i, r in enumerate(rows):
        obj = dict(r)
        line = json.dumps(obj, ensure_ascii=ascii_only)
        if fixes and i in fixes:
            obj[label_col] = fixes[i]
            line = json.dumps(obj, ensure_ascii=line.isascii())
        lines.append(line + "\n")
    return "".join(lines).encode("utf-8")


def run(tmp: Path, src: Path, rows, label_col, fixes) -> Path:
    db = tmp / "p.labeler.db"
    import_predictions(src, db, columns={"label": label_col} if label_col != "label" else None)
    with Project.open(db) as p:
        t = p.examples_table()
        ids = t.column("id").to_pylist()
        for i, new in fixes.items():
            p.write_decision(ids[i], Decision(), Decision(label=new, reviewed=True), "label")
    train_fixes = {i: new for i, new in fixes.items() if rows[i]["split"] == "train"}
    with Project.open(db, readonly=True) as p:
        result = export_all(p, tmp / "out", split="train")
    assert result.relabelled == sum(1 for i, new in train_fixes.items() if rows[i][label_col] != new), result.lines()
    assert not result.unmatched and not result.label_changed, result.lines()
    return next((tmp / "out").glob(f"{src.name.split('.')[0]}.corrected.*"))


def through_export(name: str, raw: bytes, gz: bool, rows, label_col, fixes) -> bytes:
    """Write ``raw`` as ``name`` (gzipped if ``gz``), import, correct, export: the corrected file's bytes."""
    tmp = Path(tempfile.mkdtemp(prefix="wb-text-"))
    try:
        src = tmp / (name + (".gz" if gz else ""))
        src.write_bytes(gzip.compress(raw) if gz else raw)
        got = run(tmp, src, rows, label_col, fixes).read_bytes()
        return gzip.decompress(got) if gz else got
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _train_only(fixes, rows):
    return {i: new for i, new in fixes.items() if rows[i]["split"] == "train"}


@SETTINGS
@given(data=datasets(), delim=st.sampled_from([",", "\t", ";"]), newline=st.sampled_from(["\n", "\r\n"]),
       quote_all=st.booleans(), bom=st.booleans(), gz=st.booleans())
def test_delimited_files_differ_only_in_the_corrected_label_cells(data, delim, newline, quote_all, bom, gz):
    rows, label_col, fixes = data
    ext = {",": ".csv", "\t": ".tsv", ";": ".txt"}[delim]  # (a .txt file's delimiter is sniffed)
    raw = delimited_bytes(rows, delim, newline, quote_all, bom)
    got = through_export(f"preds{ext}", raw, gz, rows, label_col, fixes)
    assert got == delimited_bytes(rows, delim, newline, quote_all, bom, _train_only(fixes, rows), label_col)


@SETTINGS
@given(data=datasets(), ascii_only=st.booleans(), gz=st.booleans())
def test_jsonl_files_differ_only_in_the_corrected_label_values(data, ascii_only, gz):
    rows, label_col, fixes = data
    got = through_export("preds.jsonl", jsonl_bytes(rows, ascii_only), gz, rows, label_col, fixes)
    assert got == jsonl_bytes(rows, ascii_only, _train_only(fixes, rows), label_col)


@SETTINGS
@given(data=datasets(), categorical=st.booleans(), int_ids=st.booleans())
def test_parquet_files_differ_only_in_the_corrected_label_values_and_keep_their_types(data, categorical, int_ids):
    rows, label_col, fixes = data
    tmp = Path(tempfile.mkdtemp(prefix="wb-parquet-"))
    try:
        cols = {c: [r[c] for r in rows] for c in rows[0]}
        arrays = {}
        for c, values in cols.items():
            if c == "id" and int_ids:
                arrays[c] = pa.array(range(100, 100 + len(values)), pa.int64())
            elif c == label_col and categorical:
                arrays[c] = pa.array(values, pa.string()).dictionary_encode()
            else:
                arrays[c] = pa.array(values, pa.string())
        arrays["weight"] = pa.array([0.5 + i for i in range(len(rows))], pa.float32())  # other typed columns
        arrays["flag"] = pa.array([i % 2 == 0 for i in range(len(rows))])
        src = tmp / "preds.parquet"
        source = pa.table(arrays)
        pq.write_table(source, src)
        out = run(tmp, src, rows, label_col, fixes)
        got = pq.read_table(out)
        assert got.schema.types == source.schema.types and got.column_names == source.column_names
        train_fixes = _train_only(fixes, rows)
        for name in source.column_names:
            want = source.column(name).to_pylist()
            if name == label_col:
                want = [train_fixes.get(i, v) for i, v in enumerate(want)]
            assert got.column(name).to_pylist() == want, name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_write_back_properties_correct_something():
    """(The properties above would pass vacuously if no example were ever corrected.)"""
    rows = [{"id": "000123", "path": "img/0.png", "split": "train", "tag": "a,b", "label": "decoy", "pred": "c",
             "note": "=1+1"},
            {"id": "1.0", "path": "img/1.png", "split": "train", "tag": "c", "label": "x", "pred": "c", "note": "n"}]
    tmp = Path(tempfile.mkdtemp(prefix="wb-check-"))
    try:
        src = tmp / "preds.csv"
        src.write_bytes(delimited_bytes(rows, ",", "\r\n", False, True))
        out = run(tmp, src, rows, "tag", {0: "c", 1: "a,b"})
        assert out.read_bytes() == delimited_bytes(rows, ",", "\r\n", False, True, {0: "c", 1: "a,b"}, "tag")
        assert out.read_bytes() != src.read_bytes()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
