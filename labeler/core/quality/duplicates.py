"""Exact and near duplicates among the scanned images, and the two ways they hurt: leakage (a
picture in the training set and again in dev or test, which makes dev and test look better than
they are) and conflict (the same picture with different given labels).

Exact duplicates share the scan's pixel hash. Near duplicates are pictures whose 64-bit perceptual
hashes differ in at most ``max_distance`` bits (Hamming distance). They are found without comparing
all pairs, by multi-index hashing: cut the 64 bits into m bands (about log2(n) + 2 bits each); two
hashes within D bits differ in at most D // m bits of some band (pigeonhole), so each hash is looked
up, band by band, under every value within D // m bits of its own band's value, and only the hashes
found there are compared. Linked images are grouped without chains: in each linked set, the
picture with the most others within D bits takes them as its group, then the next among the rest
(so every member of a near group is within D bits of one picture of it). Images under 32 pixels on
a side (e.g. 8 x 8 digits, whose hashes say little) join exact groups only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..store import Project
from . import scan as scanmod

__all__ = ["DEFAULT_MAX_DISTANCE", "Member", "Group", "DuplicateReport", "near_pairs", "find", "hamming"]

DEFAULT_MAX_DISTANCE = 8
MAX_MAX_DISTANCE = 31
MIN_NEAR_SIDE = 32  # images smaller than this on a side join exact groups only
STAR_MAX = 2000  # a linked set of more images is kept whole (its distances would take too long)


@dataclass(frozen=True)
class Member:
    id: str
    split: str | None
    label: str | None
    row: int = field(compare=False)  # position in the project's file order

    def to_json(self) -> dict:
        return {"id": self.id, "split": self.split, "label": self.label}


@dataclass(frozen=True)
class Group:
    """Pictures that are the same (``exact``: identical pixels) or nearly so (``near``)."""

    kind: str
    members: tuple[Member, ...]
    leak: bool  # spans train and dev or test
    conflict: bool  # members have different given labels
    distance: int  # the largest Hamming distance between two members' perceptual hashes (from the
    # first member, in a group of more than 500)

    @property
    def leaking(self) -> tuple[Member, ...]:
        """The dev and test members of a leaking group (what --drop-leaks leaves out)."""
        return tuple(m for m in self.members if m.split in ("dev", "test")) if self.leak else ()

    def to_json(self) -> dict:
        return {"kind": self.kind, "members": [m.to_json() for m in self.members], "leak": self.leak,
                "conflict": self.conflict, "distance": self.distance}


@dataclass
class DuplicateReport:
    groups: list[Group]
    scanned: int
    max_distance: int

    @property
    def leaks(self) -> list[Group]:
        return [g for g in self.groups if g.leak]

    @property
    def conflicts(self) -> list[Group]:
        return [g for g in self.groups if g.conflict]

    def to_json(self) -> list[dict]:
        return [g.to_json() for g in self.groups]

    def lines(self) -> list[str]:
        exact = sum(g.kind == "exact" for g in self.groups)
        out = [f"{len(self.groups)} groups of duplicates among {self.scanned} scanned images ({exact} exact,"
               f" {len(self.groups) - exact} near: perceptual hashes within {self.max_distance} bits);"
               f" {len(self.leaks)} leak across splits, {len(self.conflicts)} have conflicting labels"]
        for g in self.groups:
            what = ", ".join(w for w, on in (("LEAK", g.leak), ("CONFLICT", g.conflict)) if on)
            out.append(f"{g.kind:<6}{len(g.members):>3} {what:<14} "
                       + "  ".join(f"{m.id} ({m.split}, {m.label})" for m in g.members))
        return out


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(np.bitwise_xor(a.view(np.uint64), b.view(np.uint64))).astype(np.int64)


def _bands(n: int, max_distance: int) -> list[tuple[int, int]]:
    """(shift, width) of the bands the 64 bits are cut into, widths differing by at most 1: about
    log2(n) + 2 bits each, so that a band's value holds a handful of hashes."""
    width = int(np.clip(np.ceil(np.log2(max(n, 2))) + 2, 8, 32))
    m = max(1, min(64 // width, max_distance + 1))
    widths = [64 // m + (1 if i < 64 % m else 0) for i in range(m)]
    starts = np.cumsum([0] + widths[:-1])
    return list(zip(starts.tolist(), widths))


def _probes(width: int, radius: int) -> np.ndarray:
    """Every ``width``-bit value with at most ``radius`` bits set (the XOR masks to look up)."""
    masks = [0]
    frontier = [0]
    for _ in range(radius):
        nxt = {f | (1 << b) for f in frontier for b in range(width) if not f >> b & 1}
        frontier = sorted(nxt)
        masks += frontier
    return np.array(masks, dtype=np.uint64)


def near_pairs(hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, distance) for every pair i < j of ``hashes`` (int64 or uint64) within ``max_distance``
    bits, each pair once, without comparing all pairs (multi-index hashing): with the 64 bits cut
    into m bands, two hashes within D bits differ in at most D // m bits of some band, so each
    hash is looked up, band by band, under every value within D // m bits of its own."""
    h = np.ascontiguousarray(hashes).view(np.uint64)
    n = len(h)
    found_i, found_j = [], []
    bands = _bands(n, max_distance)
    radius = max_distance // len(bands)
    every = np.arange(n)
    for shift, width in bands:
        key = (h >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        for probe in _probes(width, radius):
            q = key ^ probe
            lo = np.searchsorted(sorted_key, q, side="left")
            count = np.searchsorted(sorted_key, q, side="right") - lo
            total = int(count.sum())
            if total == 0:
                continue
            i = np.repeat(every, count)
            start = np.repeat(np.cumsum(count) - count, count)
            j = order[np.repeat(lo, count) + (np.arange(total) - start)]
            keep = i < j
            found_i.append(i[keep])
            found_j.append(j[keep])
    if not found_i:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    i = np.concatenate(found_i).astype(np.int64)
    j = np.concatenate(found_j).astype(np.int64)
    pairs = np.unique(i * n + j)
    i, j = pairs // n, pairs % n
    d = hamming(h[i], h[j])
    keep = d <= max_distance
    return i[keep], j[keep], d[keep]


def find(project: Project, *, max_distance: int = DEFAULT_MAX_DISTANCE) -> DuplicateReport:
    """The groups of exact and near duplicates among the project's scanned images, leaking and
    conflicting groups first, then the largest."""
    if not 0 <= max_distance <= MAX_MAX_DISTANCE:
        raise ValueError(f"max distance must be between 0 and {MAX_MAX_DISTANCE} bits, not {max_distance}")
    scanned = scanmod.load(project)
    scanned = scanned[scanned["error"].isna()].reset_index(drop=True) if len(scanned) else scanned
    table = project.examples_table()
    at = pd.Index(table.column("id").to_pylist()).get_indexer(scanned["id"].astype(object)) if len(scanned) else []
    scanned = scanned[np.asarray(at) >= 0].reset_index(drop=True) if len(scanned) else scanned
    n = len(scanned)
    if n < 2:
        return DuplicateReport([], n, max_distance)
    rows = pd.Index(table.column("id").to_pylist()).get_indexer(scanned["id"].astype(object))
    splits = table.column("split").to_pylist()
    labels = table.column("label").to_pylist()

    # nodes: distinct perceptual hashes; links: equal pixel hashes, and hashes within max_distance.
    # A hash of an image under MIN_NEAR_SIDE pixels says little (an 8 x 8 digit's hash is close to
    # those of most other digits of its class): such images join exact groups only.
    ph = scanned["phash"].to_numpy(np.int64)
    px = scanned["pixel_hash"].to_numpy(np.int64)
    eligible = np.minimum(scanned["width"].to_numpy(float), scanned["height"].to_numpy(float)) >= MIN_NEAR_SIDE
    e_idx = np.flatnonzero(eligible)
    uniq, node = np.unique(ph[e_idx], return_inverse=True)
    i, j, _ = near_pairs(uniq, max_distance)
    _, px_node = np.unique(px, return_inverse=True)
    # graph over images (0..n-1), phash nodes (n..n+U-1) and pixel-hash nodes after them
    u = len(uniq)
    src = np.concatenate([e_idx, np.arange(n), i + n])
    dst = np.concatenate([node + n, px_node + n + u, j + n])
    size = n + u + int(px_node.max()) + 1
    graph = coo_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(size, size))
    _, comp = connected_components(graph, directed=False)
    comp = comp[:n]
    counts = np.bincount(comp)
    groups = []

    def emit(idx: np.ndarray) -> None:
        members = tuple(Member(str(scanned["id"][k]), splits[rows[k]], labels[rows[k]], int(rows[k])) for k in idx)
        group_splits = {m.split for m in members}
        given = {m.label for m in members if m.label is not None}
        hashes = ph[idx]
        if len(idx) <= 500:
            dist = int(hamming(hashes[:, None], hashes[None, :]).max())
        else:  # (a quarter of a million pairs at most: a bigger group says its spread from the first)
            dist = int(hamming(hashes[:1], hashes).max())
        exact = len(set(px[idx].tolist())) == 1
        groups.append(Group("exact" if exact else "near", members,
                            "train" in group_splits and bool(group_splits & {"dev", "test"}), len(given) > 1, dist))

    for c in np.flatnonzero(counts > 1):
        idx = np.flatnonzero(comp == c)
        if len(idx) <= 2 or len(idx) > STAR_MAX or not eligible[idx[0]]:
            emit(idx)
            continue
        # no chains: a picture, every picture within max_distance of it, then again with the rest
        near = hamming(ph[idx][:, None], ph[idx][None, :]) <= max_distance
        left = np.ones(len(idx), bool)
        while left.any():
            degree = np.where(left, (near & left[None, :]).sum(axis=1), -1)
            centre = int(np.argmax(degree))
            take = near[centre] & left
            left &= ~take
            if take.sum() > 1:
                emit(idx[take])
    groups.sort(key=lambda g: (not (g.leak or g.conflict), -len(g.members), g.members[0].row))
    return DuplicateReport(groups, n, max_distance)


# -- the reviewer's word on a leak -------------------------------------------------------------
KEPT_META = "duplicates_kept"


def kept(project: Project) -> set[str]:
    """The dev/test examples a reviewer judged not to be a leak (not the same picture, or meant to be
    there): `export --drop-leaks` keeps their rows."""
    return set(project.meta(KEPT_META, []))


def set_kept(project: Project, example_id: str, keep: bool) -> None:
    """Record (one transaction) that ``example_id`` stays in its split whatever its duplicates."""
    ids = kept(project)
    ids = ids | {example_id} if keep else ids - {example_id}
    project.set_meta(KEPT_META, sorted(ids))
