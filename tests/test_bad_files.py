"""Prediction files that are not what their names say, or not what a reader expects (issue 13):
old-Mac CR-only line ends, a plain file named ``.gz``, a truncated ``.csv.gz``/``.jsonl.gz``, an
``.xlsx``, a gzip or a Parquet file named ``.csv``, a text file named ``.parquet``, a truncated
Parquet file, cells over 4 MB (read up to the documented 64 MB limit, refused above it with that
limit named). Each is read, or refused with a message naming the file and what it is, and nothing
is written; through the CLI that is ``Error: ...`` and exit code 2, never a traceback or a bare
"Aborted!".
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import DIGITS_CSV
from labeler.cli import main
from labeler.core import formats
from labeler.core.export import export_all
from labeler.core.formats import delimited
from labeler.core.importer import import_predictions
from labeler.core.problems import ExportProblem, ImportProblem
from labeler.core.store import Decision, Project

HEADER = ["id", "path", "label", "pred", "note"]


def rows(n: int = 40) -> list[list[str]]:
    labels = ["cat", "dog", "NA", "bird"]
    return [[f"{i:04d}", f"img/{i}.png", labels[i % 4], labels[(i + (i % 3 == 0)) % 4], f"note {i}"] for i in range(n)]


def csv_text(header, body, newline: str = "\n") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline)
    w.writerow(header)
    w.writerows(body)
    return buf.getvalue()


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(tmp_path, source: Path, *needles: str) -> str:
    """Import ``source`` through the CLI: exit 2, ``Error:`` naming the file and the needles, no
    traceback, and no project (nor any other file) left behind."""
    before = set(os.listdir(tmp_path))
    r = cli("import", source, "--project", tmp_path / "p.labeler.db")
    assert r.exit_code == 2, r.output + repr(r.exception)
    assert r.output.startswith("Error: ") and str(source) in r.output, r.output
    assert "Traceback" not in r.output and "Aborted" not in r.output
    for n in needles:
        assert n in r.output, r.output
    assert set(os.listdir(tmp_path)) == before
    with pytest.raises(ImportProblem):
        import_predictions(source, tmp_path / "q.labeler.db")
    assert set(os.listdir(tmp_path)) == before
    return r.output


# ---------------------------------------------------------------------------------------------
# line ends


def test_cr_only_csv_is_read(tmp_path):
    """Before: a csv.Error traceback ("new-line character seen in unquoted field")."""
    body = rows()
    body[5][4] = "a note, with a comma"
    body[6][4] = 'a "quoted" note'
    src = tmp_path / "old_mac.csv"
    src.write_bytes(csv_text(HEADER, body, "\r").encode())
    assert b"\n" not in src.read_bytes()
    s = import_predictions(src, tmp_path / "p.labeler.db")
    with Project.open(s.project, readonly=True) as p:
        t = p.examples_table()
        assert t.column("id").to_pylist() == [r[0] for r in body]
        assert t.column("label").cast("string").to_pylist() == [r[2] for r in body]
        assert t.column("pred").cast("string").to_pylist() == [r[3] for r in body]
        assert [json.loads(m)["note"] for m in t.column("meta").to_pylist()] == [r[4] for r in body]


def test_cr_only_csv_export_is_refused_naming_the_line_ends(tmp_path):
    src = tmp_path / "old_mac.csv"
    body = rows()
    src.write_bytes(csv_text(HEADER + ["split"], [r + ["train"] for r in body], "\r").encode())
    s = import_predictions(src, tmp_path / "p.labeler.db")
    out = tmp_path / "out"
    with Project.open(s.project) as p:
        p.write_decision("0001", Decision(), Decision(label="cat", reviewed=True), "label cat")
        with pytest.raises(ExportProblem, match="carriage return alone"):
            export_all(p, out, split="train")
    assert not out.exists() or not [n for n in os.listdir(out) if not n.startswith(".")]


# ---------------------------------------------------------------------------------------------
# files that are not what their names say


def test_plain_text_named_csv_gz(tmp_path):
    """Before: gzip.BadGzipFile traceback."""
    src = tmp_path / "preds.csv.gz"
    src.write_text(csv_text(HEADER, rows()), encoding="utf-8")
    refused(tmp_path, src, "not gzip-compressed", "plain text")


@pytest.mark.parametrize("name", ["preds.csv.gz", "preds.jsonl.gz"])
def test_truncated_gzip(tmp_path, name):
    """Before: EOFError, which click turns into a bare "Aborted!"."""
    if name.endswith(".jsonl.gz"):
        text = "".join(json.dumps(dict(zip(HEADER, r))) + "\n" for r in rows(400))
    else:
        text = csv_text(HEADER, rows(400))
    whole = gzip.compress(text.encode())
    src = tmp_path / name
    src.write_bytes(whole[: len(whole) // 2])
    refused(tmp_path, src, "truncated")


def test_damaged_gzip(tmp_path):
    whole = bytearray(gzip.compress(csv_text(HEADER, rows(400)).encode()))
    for i in range(40, len(whole) - 40, 7):
        whole[i] ^= 0x5A
    src = tmp_path / "preds.csv.gz"
    src.write_bytes(bytes(whole))
    refused(tmp_path, src, "gzip")


def _xlsx(path: Path) -> None:
    """A workbook as Excel lays one out (a zip of XML parts), with the predictions in sheet 1."""
    cells = "".join(f'<c t="inlineStr"><is><t>{h}</t></is></c>' for h in HEADER)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"/>')
        z.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook><sheets><sheet name="Sheet1" sheetId="1"/>'
                   "</sheets></workbook>")
        z.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0"?><worksheet><sheetData><row>{cells}</row>'
                   "</sheetData></worksheet>")


def test_xlsx_named_csv(tmp_path):
    """Before: "line 1 is not valid UTF-8 ... it looks like cp1252"."""
    src = tmp_path / "preds.csv"
    _xlsx(src)
    out = refused(tmp_path, src, "Excel workbook (.xlsx)", "save it from Excel as CSV")
    assert "cp1252" not in out


def test_parquet_named_csv(tmp_path):
    src = tmp_path / "preds.csv"
    pd.DataFrame(rows(), columns=HEADER).to_parquet(src)
    out = refused(tmp_path, src, "Parquet file", "rename it to .parquet")
    assert "cp1252" not in out


def test_gzip_named_csv(tmp_path):
    src = tmp_path / "preds.csv"
    src.write_bytes(gzip.compress(csv_text(HEADER, rows()).encode()))
    refused(tmp_path, src, "gzip-compressed", "preds.csv.gz")


def test_project_file_given_as_predictions(tmp_path, digits_project):
    src = tmp_path / "preds.jsonl"
    src.write_bytes(digits_project.read_bytes())
    digits_project.unlink()
    refused(tmp_path, src, "SQLite database")


def test_text_named_parquet_and_truncated_parquet(tmp_path):
    text = tmp_path / "preds.parquet"
    text.write_text(csv_text(HEADER, rows()), encoding="utf-8")
    refused(tmp_path, text, "not a Parquet file")
    text.unlink()
    whole = tmp_path / "whole.parquet"
    pd.DataFrame(rows(), columns=HEADER).to_parquet(whole)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(whole.read_bytes()[:-100])
    whole.unlink()
    refused(tmp_path, cut, "truncated")


def test_preview_of_a_bad_file_is_an_import_problem(tmp_path):
    """The window's column dialog previews the file: the same messages, no traceback."""
    src = tmp_path / "preds.csv"
    pd.DataFrame(rows(), columns=HEADER).to_parquet(src)
    with pytest.raises(ImportProblem, match="Parquet file"):
        formats.preview(src)
    gz = tmp_path / "t.csv.gz"
    whole = gzip.compress(csv_text(HEADER, rows(400)).encode())
    gz.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImportProblem, match="truncated"):
        formats.preview(gz, rows=10_000)


# ---------------------------------------------------------------------------------------------
# long cells


@pytest.mark.parametrize("mb", [5, 20])
def test_a_long_text_cell_is_read_and_rewritten(tmp_path, mb):
    """Before: 5 MB exported as "cannot rewrite this record safely" (the csv module's 128 KB field
    limit), 20 MB refused at import (Arrow's block size, then that limit, as "broken quoting")."""
    body = [r + ["train"] for r in rows()]
    long_text = ("a long, \"quoted\" text example\n" * (mb * 2**20 // 31 + 1))[: mb * 2**20]
    body[3][4] = long_text
    src = tmp_path / "long.csv"
    src.write_text(csv_text(HEADER + ["split"], body), encoding="utf-8", newline="")
    s = import_predictions(src, tmp_path / "p.labeler.db")
    with Project.open(s.project) as p:
        meta = json.loads(p.examples_table().column("meta")[3].as_py())
        assert meta["note"] == long_text
        eid = body[3][0]
        p.write_decision(eid, Decision(), Decision(label="bird", reviewed=True), "label bird")
        export_all(p, tmp_path / "out", split="train")
    expected = [r[:] for r in body]
    expected[3][2] = "bird"
    with open(tmp_path / "out" / "long.corrected.csv", newline="", encoding="utf-8") as f:
        got = list(csv.reader(f))
    assert got == [HEADER + ["split"], *expected]


def test_a_cell_over_the_limit_is_refused_naming_the_limit(tmp_path):
    body = rows()
    body[7][4] = "x" * (delimited.MAX_CELL_BYTES + 1000)
    src = tmp_path / "huge.csv"
    src.write_text(csv_text(HEADER, body), encoding="utf-8", newline="")
    out = refused(tmp_path, src, "64 MB", "'note'", "data row 8")
    assert "broken quoting" not in out


def test_ragged_line_after_a_long_cell_is_named_by_its_line(tmp_path):
    """Before: the careful second pass stopped at the long cell (128 KB field limit) and blamed it."""
    body = rows()
    body[3][4] = "y" * (9 * 2**20)
    lines = csv_text(HEADER, body).split("\n")
    lines[20] += ",extra"  # line 21 of the file
    src = tmp_path / "ragged.csv"
    src.write_text("\n".join(lines), encoding="utf-8", newline="")
    refused(tmp_path, src, "line 21 has 6 fields, the header has 5")


# ---------------------------------------------------------------------------------------------
# the CLI


def test_queue_refuses_a_negative_limit(digits_project):
    """Before: --limit -1 silently left out the last item (pandas head(-1))."""
    r = cli("queue", "--project", digits_project, "--limit", "-1")
    assert r.exit_code == 2 and "--limit" in r.output and "-1" in r.output
    full = json.loads(cli("queue", "--project", digits_project, "--json").output)
    assert len(json.loads(cli("queue", "--project", digits_project, "--json", "--limit", "0").output)) == 0
    assert len(json.loads(cli("queue", "--project", digits_project, "--json", "--limit", 10**6).output)) == len(full)
    assert len(full) == sum(1 for r in csv.DictReader(open(DIGITS_CSV, encoding="utf-8"))
                            if r["split"] == "dev" and r["label"] != r["pred"])


# ---------------------------------------------------------------------------------------------
# the other files a command reads


@pytest.mark.parametrize("option", ["--taxonomy", "--classes-file"])
def test_a_side_file_that_is_not_utf8_is_named_by_line(tmp_path, option):
    """Before: a UnicodeDecodeError traceback from `labeler import --taxonomy/--classes-file`."""
    src = tmp_path / "preds.csv"
    src.write_text(csv_text(HEADER, rows()), encoding="utf-8")
    side = tmp_path / "side.txt"
    side.write_bytes(b"cat\ndog\nbl\xe9 bird\n")
    before = set(os.listdir(tmp_path))
    r = cli("import", src, option, side)
    assert r.exit_code == 2 and r.output.startswith("Error: "), r.output
    assert f"{side}: line 3 is not UTF-8" in r.output and "0xe9" in r.output
    assert set(os.listdir(tmp_path)) == before


def test_the_window_names_a_taxonomy_that_is_not_utf8(tmp_path, digits_project):
    pytest.importorskip("pytestqt")
    from labeler.core.store import ProjectError
    from labeler.gui import loader

    side = tmp_path / "tax.txt"
    side.write_bytes(b"blurry\n\xff\n")
    with pytest.raises(ProjectError, match="line 2 is not UTF-8"):
        loader.open_source(None, digits_project, taxonomy=side)
    with Project.open(digits_project) as p:  # the project was closed again: it opens for writing
        assert p.error_types()


def test_a_workbook_by_its_own_name(tmp_path):
    src = tmp_path / "preds.xlsx"
    _xlsx(src)
    refused(tmp_path, src, "spreadsheet workbook", "save the sheet as CSV")
