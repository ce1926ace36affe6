"""Duplicates and leakage: the multi-index search against all pairs, and the groups against
duplicates injected across splits."""

from __future__ import annotations

import numpy as np
import pytest

from labeler.core.importer import import_predictions
from labeler.core.quality import duplicates as dupmod
from labeler.core.quality import scan as scanmod
from labeler.core.store import Project
from quality_data import write_dataset


@pytest.mark.parametrize("max_distance", [0, 3, 6, 10])
def test_near_pairs_equal_the_brute_force_pairs(max_distance):
    rng = np.random.default_rng(max_distance)
    base = rng.integers(-2**63, 2**63 - 1, size=60, dtype=np.int64)
    # copies of the first 30 with 0 to 12 bits flipped: pairs at every distance around the limit
    flips = [np.bitwise_or.reduce((np.uint64(1) << rng.choice(64, k, replace=False).astype(np.uint64)), initial=np.uint64(0))
             for k in rng.integers(0, 13, size=30)]
    copies = (base[:30].view(np.uint64) ^ np.array(flips, np.uint64)).view(np.int64)
    hashes = np.concatenate([base, copies, base[:3]])
    i, j, d = dupmod.near_pairs(hashes, max_distance)
    got = set(zip(i.tolist(), j.tolist(), d.tolist()))
    want = set()
    for a in range(len(hashes)):
        for b in range(a + 1, len(hashes)):
            dist = bin(int(hashes[a].view(np.uint64)) ^ int(hashes[b].view(np.uint64))).count("1")
            if dist <= max_distance:
                want.add((a, b, dist))
    assert got == want
    assert len(want) >= 3  # the three exact copies at least


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dups")
    csv_path, problems = write_dataset(folder / "data")
    path = folder / "p.labeler.db"
    import_predictions(csv_path, path)
    with Project.open(path) as p:
        scanmod.scan(p)
        return dupmod.find(p), problems


def _group(report, ids):
    found = [g for g in report.groups if {m.id for m in g.members} & ids]
    assert len(found) == 1, found
    return found[0]


def test_injected_duplicates_are_grouped_and_nothing_else(report):
    report, problems = report
    exact = _group(report, problems["exact"])
    assert {m.id for m in exact.members} == problems["exact"]
    assert exact.kind == "exact" and exact.leak and not exact.conflict and exact.distance == 0
    assert [m.id for m in exact.leaking] == ["x900"]
    near = _group(report, problems["near"])
    assert {m.id for m in near.members} == problems["near"]
    assert near.kind == "near" and near.leak and 0 < near.distance <= dupmod.DEFAULT_MAX_DISTANCE
    conflict = _group(report, problems["conflict"])
    assert {m.id for m in conflict.members} == problems["conflict"]
    assert conflict.conflict and conflict.leak
    assert len(report.groups) == 3  # the other scenes are all different pictures
    assert {m.split for m in near.members} == {"train", "test"}


def test_max_distance_zero_finds_only_identical_hashes(tmp_path):
    csv_path, problems = write_dataset(tmp_path / "data", n=20)
    path = tmp_path / "p.labeler.db"
    import_predictions(csv_path, path)
    with Project.open(path) as p:
        scanmod.scan(p)
        strict = dupmod.find(p, max_distance=0)
        with pytest.raises(ValueError):
            dupmod.find(p, max_distance=40)
    ids = [{m.id for m in g.members} for g in strict.groups]
    assert problems["exact"] in ids and problems["near"] not in ids


@pytest.mark.parametrize("n,max_distance", [(3000, 8), (3000, 12), (300, 2)])
def test_near_pairs_on_many_hashes_equal_all_pairs(n, max_distance):
    # clustered hashes, as real pictures give: copies of a few hundred with 0-14 bits flipped
    rng = np.random.default_rng(n + max_distance)
    base = rng.integers(-2**63, 2**63 - 1, size=n // 3, dtype=np.int64).view(np.uint64)
    picks = rng.integers(0, len(base), size=n - len(base))
    flips = np.zeros(len(picks), np.uint64)
    for k, bits in enumerate(rng.integers(0, 15, size=len(picks))):
        for b in rng.choice(64, bits, replace=False):
            flips[k] |= np.uint64(1) << np.uint64(b)
    hashes = np.concatenate([base, base[picks] ^ flips]).view(np.int64)
    i, j, d = dupmod.near_pairs(hashes, max_distance)
    h = hashes.view(np.uint64)
    all_d = np.bitwise_count(h[:, None] ^ h[None, :])
    a, b = np.nonzero(np.triu(all_d <= max_distance, 1))
    assert set(zip(i.tolist(), j.tolist())) == set(zip(a.tolist(), b.tolist()))
    assert (d == all_d[i, j]).all() and len(a) > 40


def _fake_scan(ids, phashes, sizes, pixel_hashes=None):
    import pandas as pd

    n = len(ids)
    return pd.DataFrame({
        "id": ids, "error": [None] * n, "phash": np.array(phashes, dtype=np.uint64).view(np.int64),
        "pixel_hash": np.array(pixel_hashes if pixel_hashes is not None else range(n), dtype=np.int64),
        "width": [s for s in sizes], "height": [s for s in sizes],
    })


def test_groups_do_not_chain_and_tiny_images_join_exact_groups_only(tmp_path, monkeypatch):
    csv_path, _ = write_dataset(tmp_path / "data", n=20)
    path = tmp_path / "p.labeler.db"
    import_predictions(csv_path, path)
    bits = lambda k: (1 << k) - 1  # the lowest k bits set
    # a chain: x000 -5- x001 -5- x002 (x000 to x002: 10 bits); x003, x004 tiny and 1 bit apart;
    # x005 and x006 tiny with the same pixels
    ids = ["x000", "x001", "x002", "x003", "x004", "x005", "x006"]
    ph = [0, bits(5), bits(10), 1 << 40, (1 << 40) | 1, 1 << 50, 1 << 50]
    sizes = [640, 640, 640, 16, 16, 16, 16]
    px = [1, 2, 3, 4, 5, 6, 6]
    monkeypatch.setattr(scanmod, "load", lambda project: _fake_scan(ids, ph, sizes, px))
    with Project.open(path, readonly=True) as p:
        report = dupmod.find(p, max_distance=6)
    got = sorted(sorted(m.id for m in g.members) for g in report.groups)
    # x001 is within 5 bits of both ends: it takes them (the star), no chain beyond max_distance
    assert got == [["x000", "x001", "x002"], ["x005", "x006"]]
    star = next(g for g in report.groups if len(g.members) == 3)
    assert star.kind == "near" and star.distance == 10  # the ends are 10 bits apart, each 5 from x001
    assert next(g for g in report.groups if len(g.members) == 2).kind == "exact"
    ph[1] = bits(3)  # now x000 -3- x001 -7- x002: x002 is 7 bits from x001 and 10 from x000
    with Project.open(path, readonly=True) as p:
        report = dupmod.find(p, max_distance=6)
    assert sorted(sorted(m.id for m in g.members) for g in report.groups) == [["x000", "x001"], ["x005", "x006"]]


def test_a_long_chain_is_cut(tmp_path, monkeypatch):
    csv_path, _ = write_dataset(tmp_path / "data", n=20)
    path = tmp_path / "p.labeler.db"
    import_predictions(csv_path, path)
    bits = lambda k: (1 << k) - 1
    ids = ["x000", "x001", "x002", "x003", "x004"]  # 0, 5, 10, 15, 20 bits: 5 apart one to the next
    monkeypatch.setattr(scanmod, "load", lambda project: _fake_scan(ids, [bits(5 * k) for k in range(5)], [640] * 5))
    with Project.open(path, readonly=True) as p:
        report = dupmod.find(p, max_distance=6)
    groups = [sorted(m.id for m in g.members) for g in report.groups]
    # one linked set of five; cut into stars, none reaching further than 6 bits from its centre
    assert sum(len(g) for g in groups) <= 5 and len(groups) >= 2
    assert all(g.distance <= 12 for g in report.groups)
