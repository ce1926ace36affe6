"""How well the reviewers of a team review agree where a shared queue gave one item to several of
them (``labeler review --project URL --overlap K``).

Each reviewer's own newest decision on an item is on the server (``reviews``, see
:mod:`labeler.core.team_sync`). Their *verdict* is the label they judged right: the label they
corrected it to, else the given label when they reviewed it without tagging it mislabeled; a
"mislabeled" tag without a label says only that the given one is wrong, and is no verdict. Over
the items with verdicts from two or more reviewers: each pair's raw agreement and Cohen's kappa,
and Krippendorff's alpha over all.

These reviewers saw the given label and the model's prediction, so their agreement is not that of
blind labels (``labeler review --blind``): it says how consistently the team judges, and is an
upper bound on what blind labels would show. It is reported beside the blind labels' figures,
never mixed into them (no human-level error is taken from it).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field

import pandas as pd
import psycopg
from psycopg import sql

from .agreement import cohen_kappa, krippendorff_alpha_nominal
from .pg_server import _error, _ident, connect, parse_url


def verdict(given: str | None, label: str | None, tags: list[str], reviewed: bool) -> str | None:
    """The label a reviewer judged right (see the module's docstring), or None."""
    if label is not None:
        return label
    if reviewed and "mislabeled" not in tags and given is not None:
        return given
    return None


@dataclass
class OverlapAgreement:
    items: int  # items with verdicts from two or more reviewers
    reviewers: list[str] = field(default_factory=list)
    pairs: list[dict] = field(default_factory=list)
    alpha: float | None = None

    def to_json(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"Team review overlap: {self.items} item{'' if self.items == 1 else 's'} judged by two or more of"
               f" {len(self.reviewers)} reviewers (not blind: they saw the given label and the prediction)"]
        for p in self.pairs:
            kappa = "" if p["kappa"] is None else f", kappa {p['kappa']:.3f}"
            out.append(f"  {p['a']} / {p['b']}: {p['common']} in common, agree on {p['agreement']:.1%}{kappa}")
        if self.alpha is not None:
            out.append(f"  Krippendorff's alpha (nominal): {self.alpha:.3f}")
        return out


def verdicts(url: str, frame: pd.DataFrame, split: str | None = None) -> dict[str, dict[str, str]]:
    """reviewer -> {example id -> verdict}, from the server's reviews (of ``split`` only, when given)."""
    where = parse_url(url)
    given = dict(zip(frame["id"].tolist(), frame["label"].tolist()))
    in_split = set(frame.loc[frame["split"] == split, "id"].tolist()) if split else None
    try:
        with connect(where) as pg:
            rows = pg.execute(sql.SQL("SELECT example_id, reviewer, label, tags, reviewed FROM {}").format(
                _ident(where.project, "reviews"))).fetchall()
    except psycopg.errors.UndefinedTable:
        return {}
    except psycopg.Error as e:
        raise _error(where, "could not read the reviews of", e) from None
    out: dict[str, dict[str, str]] = {}
    for eid, reviewer, label, tags, reviewed in rows:
        if eid not in given or (in_split is not None and eid not in in_split):
            continue
        g = given[eid]
        v = verdict(None if pd.isna(g) else str(g), label, json.loads(tags or "[]"), bool(reviewed))
        if v is not None:
            out.setdefault(reviewer, {})[eid] = v
    return out


def compute(by_reviewer: dict[str, dict[str, str]]) -> OverlapAgreement | None:
    """The agreement over items with two or more verdicts; None when there are none."""
    counts: dict[str, int] = {}
    for labels in by_reviewer.values():
        for eid in labels:
            counts[eid] = counts.get(eid, 0) + 1
    shared = sorted(e for e, n in counts.items() if n >= 2)
    if not shared:
        return None
    names = sorted(r for r, labels in by_reviewer.items() if any(e in labels for e in shared))
    result = OverlapAgreement(len(shared), names)
    for a, b in itertools.combinations(names, 2):
        common = [e for e in shared if e in by_reviewer[a] and e in by_reviewer[b]]
        if not common:
            continue
        la, lb = [by_reviewer[a][e] for e in common], [by_reviewer[b][e] for e in common]
        result.pairs.append({"a": a, "b": b, "common": len(common),
                             "agreement": sum(x == y for x, y in zip(la, lb)) / len(common),
                             "kappa": cohen_kappa(la, lb)})
    result.alpha = krippendorff_alpha_nominal([[by_reviewer[r][e] for r in names if e in by_reviewer[r]] for e in shared])
    return result
