"""CSV cells for people (corrections.csv, tally.csv) are safe to open in a spreadsheet (OWASP CSV
injection: a cell starting with = + - @ tab or CR gets a quote in front), but a signed number is a
number, not a formula: "-1" stays "-1". The expected cells are written out by hand.
"""

from __future__ import annotations

import csv
import io

import pytest

from conftest import read_digits_rows
from labeler.core.export import export_all
from labeler.core.store import Decision, Project
from labeler.core.tally_format import spreadsheet_safe

CASES = [
    # signed numbers: written as they are
    ("-1", "-1"),
    ("+3.5", "+3.5"),
    ("-0.25", "-0.25"),
    ("-1e5", "-1e5"),
    ("+2.5E-3", "+2.5E-3"),
    ("-.5", "-.5"),
    ("-7.", "-7."),
    ("+0", "+0"),
    ("-1E+10", "-1E+10"),
    # formulas and anything else that starts with a trigger: guarded
    ("-cmd", "'-cmd"),
    ("=1+1", "'=1+1"),
    ("+A1", "'+A1"),
    ("@SUM(1)", "'@SUM(1)"),
    ("-1+2", "'-1+2"),
    ("\t1", "'\t1"),
    ("\r1", "'\r1"),
    ("-", "'-"),
    ("+", "'+"),
    ("-.", "'-."),
    ("-e5", "'-e5"),
    ("-1e", "'-1e"),
    ("-1e5.0", "'-1e5.0"),
    ("--1", "'--1"),
    ("+-1", "'+-1"),
    ("- 1", "'- 1"),
    ("-1 ", "'-1 "),
    ("-1\n", "'-1\n"),
    ("-1\r", "'-1\r"),
    ("-1,5", "'-1,5"),
    ("-1_000", "'-1_000"),
    ("-inf", "'-inf"),
    ("+nan", "'+nan"),
    ("-Infinity", "'-Infinity"),
    ("-0x1F", "'-0x1F"),
    ("-١", "'-١"),  # an Arabic-Indic digit: not an ASCII number
    ("-1%", "'-1%"),
    ("=-1", "'=-1"),
    ("@-1", "'@-1"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    # no trigger at the start: as they are (numbers without a sign, text, a leading space)
    ("1", "1"),
    ("1e5", "1e5"),
    (" -2", " -2"),
    ("a-1", "a-1"),
    ("", ""),
]


@pytest.mark.parametrize("cell, expected", CASES)
def test_spreadsheet_safe_cells(cell, expected):
    assert spreadsheet_safe(cell) == expected


def test_spreadsheet_safe_leaves_other_values_alone():
    assert spreadsheet_safe(-1) == -1
    assert spreadsheet_safe(-1.5) == -1.5
    assert spreadsheet_safe(None) is None


def test_exported_corrections_keep_signed_numbers(digits_project, tmp_path):
    rows = {r["id"]: r for r in read_digits_rows()}
    ids = list(rows)[:4]
    made = {  # id: (corrected label, tags, note)
        ids[0]: ("-1", frozenset(), "-1"),
        ids[1]: (None, frozenset({"mislabeled"}), "+3.5"),
        ids[2]: ("7", frozenset(), "-cmd"),
        ids[3]: ("=1+1", frozenset({"ambiguous"}), "-1e5"),
    }
    with Project.open(digits_project) as p:
        for eid, (label, tags, note) in made.items():
            p.write_decision(eid, Decision(), Decision(label=label, tags=tags, note=note, reviewed=True), "relabel",
                             reviewer="-me")
    with Project.open(digits_project, readonly=True) as p:
        export_all(p, tmp_path / "out")
    text = (tmp_path / "out" / "corrections.csv").read_text(encoding="utf-8")
    got = {r["id"]: r for r in csv.DictReader(io.StringIO(text, newline=""))}
    assert set(got) == set(ids)
    expected = {  # id: (corrected_label, tags, note, reviewer) as the file must hold them
        ids[0]: ("-1", "", "-1", "'-me"),
        ids[1]: ("", "mislabeled", "+3.5", "'-me"),
        ids[2]: ("7", "", "'-cmd", "'-me"),
        ids[3]: ("'=1+1", "ambiguous", "-1e5", "'-me"),
    }
    for eid, (label, tags, note, reviewer) in expected.items():
        r = got[eid]
        assert (r["corrected_label"], r["tags"], r["note"], r["reviewer"]) == (label, tags, note, reviewer)
        assert (r["split"], r["given_label"], r["path"]) == (rows[eid]["split"], rows[eid]["label"], rows[eid]["path"])
    # the raw line of the first: the number cells with no quote in front
    line = next(ln for ln in text.splitlines() if ln.startswith(ids[0] + ","))
    assert ",-1,,,-1,'-me," in line
