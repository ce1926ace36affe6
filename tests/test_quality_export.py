"""Duplicates in the export: leakage.csv lists the leaking and conflicting groups, --drop-leaks
leaves the leaking dev rows out of the corrected copy and nothing else changes."""

from __future__ import annotations

import csv
import io

import pytest

from labeler.core.export import export_all
from labeler.core.importer import import_predictions
from labeler.core.problems import ExportProblem
from labeler.core.quality import scan as scanmod
from labeler.core.store import Decision, Project
from quality_data import write_dataset


@pytest.fixture
def scanned(tmp_path):
    csv_path, problems = write_dataset(tmp_path / "data", n=40)
    path = tmp_path / "p.labeler.db"
    import_predictions(csv_path, path)
    return path, problems, csv_path


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_drop_leaks_needs_a_scan(scanned, tmp_path):
    path, _, _ = scanned
    with Project.open(path, readonly=True) as p:
        with pytest.raises(ExportProblem, match="labeler scan"):
            export_all(p, tmp_path / "out", split="dev", drop_leaks=True)
        result = export_all(p, tmp_path / "out", split="dev")  # without: no leakage.csv, nothing dropped
    assert not (tmp_path / "out" / "leakage.csv").exists() and result.dropped_leaks == 0


def test_leakage_csv_and_drop_leaks(scanned, tmp_path):
    path, problems, csv_path = scanned
    with Project.open(path) as p:
        scanmod.scan(p)
        x902 = Decision(label="cat", reviewed=True)  # the conflicting copy relabelled by the reviewer
        p.write_decision("x902", Decision(), x902, "set_label")
        kept = export_all(p, tmp_path / "kept", split="dev")
        dropped = export_all(p, tmp_path / "dropped", split="dev", drop_leaks=True)
    leakage = _rows(tmp_path / "dropped" / "leakage.csv")
    members = {r["id"]: r for r in leakage}
    assert set(members) == problems["exact"] | problems["near"] | problems["conflict"]
    assert members["x902"]["corrected_label"] == "cat" and members["x902"]["conflict"] == "true"
    assert {i for i, r in members.items() if r["dropped"] == "true"} == {"x900", "x902"}  # the dev members
    assert _rows(tmp_path / "kept" / "leakage.csv") == [dict(r, dropped="false") for r in leakage]
    assert kept.dropped_leaks == 0 and dropped.dropped_leaks == 2 and dropped.leaking_groups == 3

    source = _rows(csv_path)
    without = _rows(dropped.corrected_file)
    assert [r["id"] for r in without] == [r["id"] for r in source if r["id"] not in ("x900", "x902")]
    # the test member of a leaking group stays (this is the dev copy) and x902's correction is moot
    assert "x901" in {r["id"] for r in without}
    with_all = _rows(kept.corrected_file)
    assert len(with_all) == len(source)
    assert next(r for r in with_all if r["id"] == "x902")["label"] == "cat"
    assert "2 dev rows that duplicate training images left out" in "\n".join(dropped.lines())


def test_a_leak_judged_no_leak_keeps_its_row(scanned, tmp_path):
    from labeler.core.quality import duplicates as dupmod

    path, problems, csv_path = scanned
    with Project.open(path) as p:
        scanmod.scan(p)
        dupmod.set_kept(p, "x900", True)
        dupmod.set_kept(p, "x902", True)
        dupmod.set_kept(p, "x902", False)  # changed their mind
        assert dupmod.kept(p) == {"x900"}
        result = export_all(p, tmp_path / "out", split="dev", drop_leaks=True)
    assert result.dropped_leaks == 1
    ids = {r["id"] for r in _rows(result.corrected_file)}
    assert "x900" in ids and "x902" not in ids
    leakage = {r["id"]: r for r in _rows(tmp_path / "out" / "leakage.csv")}
    assert leakage["x900"]["kept_by_reviewer"] == "true" and leakage["x900"]["dropped"] == "false"
    assert leakage["x902"]["kept_by_reviewer"] == "false" and leakage["x902"]["dropped"] == "true"
