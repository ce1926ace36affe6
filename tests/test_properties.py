"""Property tests of the importer and the export (hypothesis): any small table of strings and
numbers, written as CSV (the csv module), JSONL or Parquet, either imports with every id, label and
prediction kept exactly, or is refused with a clear ImportProblem that names the file and writes
nothing; and import -> export gives back the training file with every cell as it was, except the
label cells of the corrected examples (BAD_INPUTS rows 6, 7, 15, 34).
"""

from __future__ import annotations

import csv
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
from labeler.core.importer import ImportProblem, import_predictions  # noqa: E402
from labeler.core.store import Decision, Project  # noqa: E402

# Strings that break naive readers: NA-like class names, numbers that are not numbers, separators,
# quotes, spaces, line breaks, unicode, spreadsheet formulas.
TRICKY = ["NA", "None", "null", "n/a", "nan", "NaN", "", " ", "000123", "1.0", "1e3", "-0", "+1", "0x1F",
          "a,b", 'say "hi"', "'q'", " lead", "trail ", "tab\tin", "line\nbreak", "cr\rhere", "é", "日本語",
          "emoji 🙂", "=1+1", "@sum", "-minus", "\\", "#hash", "TRUE", "[1, 2]", "{}"]
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)
CELL = st.one_of(st.sampled_from(TRICKY), TEXT)
NUMBER = st.one_of(st.integers(-10**6, 10**6), st.sampled_from([0.5, 1.0, -2.25, 1e-3, 123456.0]))

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def tables(draw, *, numbers: bool):
    """Rows of id, path, label, pred, split, note; with ``numbers`` ids, classes and notes may be
    numbers (JSON numbers in JSONL; their text in CSV and Parquet)."""
    n = draw(st.integers(1, 12))
    cell = st.one_of(CELL, NUMBER) if numbers else CELL
    ids = draw(st.lists(cell, min_size=n, max_size=n, unique_by=expected_text))
    classes = draw(st.lists(cell, min_size=1, max_size=4, unique_by=expected_text))
    rows = []
    for i in ids:
        rows.append({
            "id": i,
            "path": draw(CELL),
            "label": draw(st.one_of(st.sampled_from(classes), st.just(""))),  # "": unlabeled
            "pred": draw(st.sampled_from(classes)),
            "split": draw(st.sampled_from(["train", "train", "dev", "test"])),
            "note": draw(cell),
        })
    return rows


COLUMNS = ["id", "path", "label", "pred", "split", "note"]


def write(folder: Path, fmt: str, rows: list[dict]) -> Path:
    if fmt == "csv":
        path = folder / "preds.csv"
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            w.writerows([[expected_text(r[c]) for c in COLUMNS] for r in rows])
    elif fmt == "jsonl":
        path = folder / "preds.jsonl"
        with open(path, "w", encoding="utf-8", newline="") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    else:
        path = folder / "preds.parquet"
        cols = {c: [r[c] for r in rows] for c in COLUMNS}
        for c, values in cols.items():
            if all(isinstance(v, int) for v in values) and c != "label":
                cols[c] = pa.array(values, pa.int64())  # an integer column: its values' text
            else:
                cols[c] = pa.array([expected_text(v) for v in values], pa.string())
        pq.write_table(pa.table(cols), path)
    return path


def expected_text(value) -> str:
    """The string a value stands for: itself, or a number as the file spells it."""
    return value if isinstance(value, str) else json.dumps(value)


def label_text(value) -> str | None:
    return expected_text(value) or None  # an empty label cell: unlabeled


def check_import(rows: list[dict], fmt: str) -> str:
    folder = Path(tempfile.mkdtemp(prefix=f"prop-{fmt}-"))
    try:
        src = write(folder, fmt, rows)
        db = folder / "p.labeler.db"
        try:
            summary = import_predictions(src, db)
        except ImportProblem as e:
            msg = str(e)
            assert src.name in msg or "class" in msg, msg  # names the file (or the class list)
            assert not db.exists() and not [p for p in folder.iterdir() if ".db" in p.name]
            # and only for a real problem: an example without an id or without a prediction
            assert any(not expected_text(r[c]).strip() for r in rows for c in ("id", "pred")), msg
            return "refused"
        with Project.open(db, readonly=True) as p:
            got = p.examples_table().select(["id", "label", "pred", "split"]).to_pylist()
            assert [g["id"] for g in got] == [expected_text(r["id"]) for r in rows]
            assert [g["label"] for g in got] == [label_text(r["label"]) for r in rows]
            assert [g["pred"] for g in got] == [expected_text(r["pred"]) for r in rows]
            assert [g["split"] for g in got] == [r["split"] for r in rows]
            labels = {label_text(r["label"]) for r in rows} - {None} | {expected_text(r["pred"]) for r in rows}
            assert set(p.classes) == labels
            assert summary.unlabeled == sum(1 for r in rows if label_text(r["label"]) is None)
        return "imported"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@SETTINGS
@given(rows=tables(numbers=False))
def test_rows_6_7_15_csv_imports_exactly_or_refuses_clearly(rows):
    check_import(rows, "csv")


@SETTINGS
@given(rows=tables(numbers=True))
def test_rows_6_7_15_jsonl_imports_exactly_or_refuses_clearly(rows):
    check_import(rows, "jsonl")


@SETTINGS
@given(rows=tables(numbers=True))
def test_rows_6_7_15_parquet_imports_exactly_or_refuses_clearly(rows):
    check_import(rows, "parquet")


def test_the_property_tests_do_import_most_tables():
    """(The properties above would pass vacuously if everything were refused.)"""
    rows = [{"id": i, "path": "", "label": lab, "pred": "NA", "split": "train", "note": "x,\"y\""}
            for i, lab in (("000123", "NA"), ("1.0", ""), ("日本", "a,b"), (" 7", "line\nbreak"))]
    for fmt in ("csv", "jsonl", "parquet"):
        assert check_import([dict(r) for r in rows], fmt) == "imported"


def read_cells(path: Path, fmt: str) -> list[list[str]]:
    if fmt == "csv":
        with open(path, encoding="utf-8", newline="") as f:
            return list(csv.reader(f))
    if fmt == "jsonl":
        with open(path, encoding="utf-8") as f:
            return [[json.dumps(v, ensure_ascii=False) for v in json.loads(line).values()] for line in f]
    t = pq.read_table(path)
    return [t.column_names] + [[str(v) for v in row.values()] for row in t.to_pylist()]


def round_trip(rows: list[dict], fmt: str, pick) -> str:
    """Import ``rows``, correct the training labels ``pick(train rows, classes)`` chooses
    ({row: new label}), export, and compare the corrected file with the source cell by cell."""
    folder = Path(tempfile.mkdtemp(prefix=f"round-{fmt}-"))
    try:
        src = write(folder, fmt, rows)
        db = folder / "p.labeler.db"
        try:
            import_predictions(src, db)
        except ImportProblem:
            return "refused"
        train = [i for i, r in enumerate(rows) if r["split"] == "train"]
        if not train:
            return "no training rows"
        with Project.open(db) as p:
            fixes = {i: new for i, new in pick(train, p.classes).items() if new != rows[i]["label"]}
            for i, new in fixes.items():
                p.write_decision(rows[i]["id"], Decision(), Decision(label=new, reviewed=True), "label")
            export_all(p, folder / "out")
        out = next((folder / "out").glob("preds.corrected.*"))
        before, after = read_cells(src, fmt), read_cells(out, fmt)
        assert len(before) == len(after)
        label_col = COLUMNS.index("label")
        body = 0 if fmt == "jsonl" else 1  # (CSV and Parquet: a header row first)
        for n, (b, a) in enumerate(zip(before, after)):
            expected = list(b)
            if n - body in fixes:
                new = fixes[n - body]
                expected[label_col] = json.dumps(new, ensure_ascii=False) if fmt == "jsonl" else new
            assert a == expected, (n, b, a)
        if fmt == "csv" and not fixes:
            assert out.read_bytes() == src.read_bytes()
        return f"{len(fixes)} corrected"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@SETTINGS
@given(rows=tables(numbers=False), fmt=st.sampled_from(["csv", "jsonl", "parquet"]), data=st.data())
def test_row34_import_export_round_trip_keeps_every_cell(rows, fmt, data):
    """Import, correct a few training labels, export: the corrected training file is the source
    with those label cells changed and every other cell exactly as it was."""

    def pick(train, classes):
        chosen = data.draw(st.lists(st.sampled_from(train), unique=True, max_size=3))
        return {i: data.draw(st.sampled_from(classes)) for i in chosen}

    round_trip(rows, fmt, pick)


def test_row34_round_trip_with_corrections_is_not_vacuous():
    rows = [{"id": i, "path": "p", "label": lab, "pred": "NA", "split": "train", "note": note}
            for i, lab, note in (("000123", "NA", "=1+1"), ("1.0", "", "a,\"b\""), ("日本", "a,b", " "),
                                 ("x", "line\nbreak", "cr\rhere"))]
    for fmt in ("csv", "jsonl", "parquet"):
        assert round_trip([dict(r) for r in rows], fmt, lambda train, classes: {0: "a,b", 2: "NA"}) == "2 corrected"
        assert round_trip([dict(r) for r in rows], fmt, lambda train, classes: {}) == "0 corrected"
