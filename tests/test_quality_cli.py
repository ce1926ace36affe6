"""The quality commands as a user runs them: labeler scan, slices, duplicates, augment."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from labeler.cli import main
from labeler.core.importer import import_predictions
from quality_data import write_dataset


def run(*args, ok: bool = True):
    r = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert r.exit_code == 0, r.output
    return r


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quality")
    csv_path, problems = write_dataset(folder / "data")
    project = folder / "p.labeler.db"
    import_predictions(csv_path, project)
    first = json.loads(run("scan", "-p", project, "--json").output)
    return project, problems, first


def test_scan_reports_counts_and_thresholds(scanned):
    project, problems, first = scanned
    assert first["measured"] == 63 and first["scanned_now"] == 63 and first["unchanged"] == 0
    assert first["flagged"]["blurry"] == len(problems["blurry"])
    assert first["flagged"]["dark"] == len(problems["dark"])
    assert set(first["rules"]) == set(first["flagged"])
    again = run("scan", "-p", project)
    assert "0 images measured now, 63 unchanged" in again.output
    assert "blurry" in again.output and "sharpness/contrast²" in again.output


def test_slices_json_and_table(scanned):
    project, problems, _ = scanned
    items = json.loads(run("slices", "-p", project, "--json").output)
    assert {"slice", "n", "errors", "error_rate", "ci95", "lift", "p_value", "q_value"} <= set(items[0])
    assert [i["q_value"] for i in items] == sorted(i["q_value"] for i in items)
    assert any(i["slice"] == "blurry" for i in items)
    table = run("slices", "-p", project, "--limit", "3").output.splitlines()
    assert len(table) == 2 + 3 and "Benjamini-Hochberg" in table[0]


def test_duplicates_json(scanned):
    project, problems, _ = scanned
    groups = json.loads(run("duplicates", "-p", project, "--json").output)
    exact = [sorted(m["id"] for m in g["members"]) for g in groups if g["kind"] == "exact"]
    assert exact == [sorted(problems["exact"]), sorted(problems["conflict"])]
    assert all(g["leak"] for g in groups)
    assert sum(g["conflict"] for g in groups) == 1
    assert {"id", "split", "label"} == set(groups[0]["members"][0])
    text = run("duplicates", "-p", project, "--max-distance", "0").output
    assert "LEAK" in text
    assert run("duplicates", "-p", project, "--max-distance", "40", ok=False).exit_code != 0


def test_augment_command_is_deterministic(scanned, tmp_path):
    project, problems, _ = scanned
    a = run("augment", "-p", project, "--slice", "blurry", "--ops", "blur,fog", "--seed", "5", "--out", tmp_path / "a")
    run("augment", "-p", project, "--slice", "blurry", "--ops", "blur,fog", "--seed", "5", "--out", tmp_path / "b")
    assert "augmented images" in a.output
    text = (tmp_path / "a" / "augmented.csv").read_text()
    assert text == (tmp_path / "b" / "augmented.csv").read_text() and text.count("\n") > 1
    bad = run("augment", "-p", project, "--category", "cat", "--ops", "sepia", "--out", tmp_path / "c", ok=False)
    assert bad.exit_code != 0 and "unknown augmentation sepia" in bad.output
