"""Slices: error rates by flag, property quartile, class and metadata, checked against scipy's
Fisher test, a Benjamini-Hochberg computation written here and the Wilson interval."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from scipy.stats import fisher_exact

from labeler.core.importer import import_predictions
from labeler.core.quality import scan as scanmod
from labeler.core.quality import slices as slicesmod
from labeler.core.stats import wilson
from labeler.core.store import Project
from quality_data import write_dataset


def _bh(p: list[float]) -> list[float]:
    """Benjamini-Hochberg by its definition: q_i = min over p_j >= p_i of p_j * m / rank_j."""
    m = len(p)
    ranked = sorted(p)
    return [min(1.0, min(ranked[j] * m / (j + 1) for j in range(m) if ranked[j] >= pi)) for pi in p]


def test_bh_qvalues_match_the_definition():
    rng = np.random.default_rng(1)
    p = list(rng.random(40) ** 3) + [0.01, 0.01, 1.0]
    assert slicesmod.bh_qvalues(np.array(p)) == pytest.approx(_bh(p))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slices")
    csv_path, problems = write_dataset(folder / "data", n=120)
    # a metadata column: the camera, one of three; and one with too many values to slice by
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    rows[0] += ["camera", "serial"]
    for i, r in enumerate(rows[1:]):
        r += [["A", "B", "C"][i % 3], f"s{i}"]
    with open(csv_path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    path = folder / "p.labeler.db"
    import_predictions(csv_path, path)
    with Project.open(path) as p:
        scanmod.scan(p)
    return path, problems, {r[0]: r for r in rows[1:]}


def test_every_slice_matches_a_direct_count_and_scipy(project):
    path, problems, rows = project
    with Project.open(path, readonly=True) as p:
        report = slicesmod.compute(p, "dev")
        ids = np.array(p.examples_table().column("id").to_pylist(), dtype=object)
        scanned = scanmod.load(p)
        flags, _ = scanmod.flags(scanned)
    dev = {i: r for i, r in rows.items() if r[2] == "dev"}
    wrong = {i: r[3] != r[4] for i, r in dev.items()}
    assert report.n == len(dev) and report.errors == sum(wrong.values())
    flagged = {name: set(scanned["id"][flags[name]]) for name in scanmod.FLAGS}

    def members(s):
        if s.kind == "flag":
            return {i for i in dev if i in flagged[s.slice]}
        if s.kind == "class":
            return {i for i, r in dev.items() if r[3] == s.slice.split("=", 1)[1]}
        if s.kind == "meta":
            col, val = s.slice.split("=", 1)
            return {i for i, r in dev.items() if r[5 if col == "camera" else 6] == val}
        return set(ids[s.rows])  # a quartile: checked on its own below

    names = [s.slice for s in report.slices]
    assert "blurry" in names and "class=cat" in names and "camera=A" in names
    assert len(names) == len(set(names))
    for s in report.slices:
        m = members(s)
        assert set(ids[s.rows]) == m, s.slice
        k = sum(wrong[i] for i in m)
        assert (s.n, s.errors) == (len(m), k)
        domain = set(dev) if s.kind in ("class", "meta") else {i for i in dev if i in set(scanned["id"])}
        rest = domain - m
        k_rest = sum(wrong[i] for i in rest)
        want_p = fisher_exact([[k, len(m) - k], [k_rest, len(rest) - k_rest]])[1] if rest else 1.0
        assert s.p_value == pytest.approx(want_p, rel=1e-12)
        assert s.ci95 == pytest.approx(wilson(k, len(m)))
        assert s.lift == pytest.approx((k / len(m)) / (report.errors / report.n))
        assert set(ids[s.error_rows]) == {i for i in m if wrong[i]}
    assert [s.q_value for s in report.slices] == pytest.approx(_bh([s.p_value for s in report.slices]))
    order = [(s.q_value, -s.lift) for s in report.slices]
    assert order == sorted(order)


def test_metadata_with_more_values_than_the_limit_is_not_sliced(project, monkeypatch):
    path, _, rows = project
    serials = len({r[6] for r in rows.values() if r[2] == "dev"})
    monkeypatch.setattr(slicesmod, "MAX_META_VALUES", serials - 1)
    with Project.open(path, readonly=True) as p:
        names = [s.slice for s in slicesmod.compute(p, "dev").slices]
    assert "camera=B" in names and not any(n.startswith("serial=") for n in names)
    monkeypatch.setattr(slicesmod, "MAX_META_VALUES", serials)
    with Project.open(path, readonly=True) as p:
        names = [s.slice for s in slicesmod.compute(p, "dev").slices]
    assert sum(n.startswith("serial=") for n in names) == serials


def test_quartiles_split_the_scanned_dev_images(project):
    path, _, rows = project
    with Project.open(path, readonly=True) as p:
        report = slicesmod.compute(p, "dev")
        scanned = scanmod.load(p).set_index("id")
        ids = np.array(p.examples_table().column("id").to_pylist(), dtype=object)
    quartiles = [s for s in report.slices if s.slice.startswith("sharpness Q")]
    assert len(quartiles) == 4
    together = np.concatenate([s.rows for s in quartiles])
    assert len(together) == len(set(together)) == report.scanned
    values = {s.slice: scanned.loc[list(ids[s.rows]), "sharpness"] for s in quartiles}
    ordered = sorted(quartiles, key=lambda s: s.slice)
    for a, b in zip(ordered, ordered[1:]):
        assert values[a.slice].max() <= values[b.slice].min()
    dev_sharp = scanned.loc[[i for i, r in rows.items() if r[2] == "dev"], "sharpness"]
    assert sum(s.n for s in quartiles) == len(dev_sharp)
    assert abs(max(s.n for s in quartiles) - min(s.n for s in quartiles)) <= 1


def test_blurry_images_stand_out(project):
    path, problems, _ = project
    with Project.open(path, readonly=True) as p:
        report = slicesmod.compute(p, "dev")
    blurry = report.get("blurry")
    # the model is wrong on every blurry dev image
    assert blurry.errors == blurry.n > 0 and blurry.lift > 1
    assert blurry.ci95[1] == 1.0


def test_no_scan_still_gives_class_and_metadata_slices(tmp_path):
    csv_path, _ = write_dataset(tmp_path / "d", n=20)
    path = tmp_path / "p.labeler.db"
    import_predictions(csv_path, path)
    with Project.open(path, readonly=True) as p:
        report = slicesmod.compute(p, "dev")
    assert report.scanned == 0
    assert {s.kind for s in report.slices} == {"class"}
    assert all(0 <= s.q_value <= 1 and not math.isnan(s.p_value) for s in report.slices)


def test_metadata_parsed_by_arrow_equals_the_python_parse():
    import pyarrow as pa

    meta = ['{"camera": "A", "site": "x"}', None, "", '{"camera": ""}', '{"site": "y", "camera": "B"}', '{"new": "z"}']
    fast = slicesmod._parse_meta_arrow(pa.chunked_array([pa.array(meta, pa.string())]))
    slow = slicesmod._parse_meta_python(meta)
    assert set(fast) == set(slow) == {"camera", "site", "new"}
    for name in slow:
        assert fast[name].tolist() == slow[name].tolist(), name
    with pytest.raises(ValueError):  # a number is not text: the exact string comes from the slow path
        slicesmod._parse_meta_arrow(pa.chunked_array([pa.array(['{"n": 1.50}'], pa.string())]))
