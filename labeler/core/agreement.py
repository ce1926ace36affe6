"""How good could the model be? Reviewer agreement, human-level error and the bias/variance split.

Each reviewer's blind labels (:mod:`labeler.core.annotations`) are held against the *reference*
label of each example: the given label, or the corrected one where a decision corrected it. From them:

- per reviewer, the rate at which their labels differ from the reference (Wilson interval);
- per pair of reviewers, raw agreement and Cohen's kappa on the examples both labeled;
- Krippendorff's alpha (nominal) over all reviewers, missing labels allowed;
- a consensus label per example from cleanlab's multi-annotator method (CROWDLAB) with the model's
  probabilities, and each annotator's quality score;
- human-level error: the best reviewer's error against the reference (or the consensus', if lower);
- the decomposition the error-analysis loop decides on: avoidable bias = train error - human error,
  variance = dev error - train error, dev->test gap = test error - dev error, each with a 95%
  interval for a difference of independent proportions (Newcombe's hybrid score method), and the
  bottleneck named only when its interval lies above the other two's.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from . import annotations
from . import frame as framemod
from .stats import wilson
from .store import Project

BOTTLENECKS = {"avoidable_bias": "bias", "variance": "variance", "dev_test_gap": "dev overfitting"}


@dataclass
class Rate:
    """k of n, with a 95% Wilson interval."""

    k: int
    n: int

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def ci95(self) -> tuple[float, float] | None:
        return wilson(self.k, self.n) if self.n else None


def newcombe(a: Rate, b: Rate) -> tuple[float, tuple[float, float]] | None:
    """a - b with the 95% interval of Newcombe's hybrid score method (his method 10): the Wilson
    intervals of the two proportions combined."""
    if not a.n or not b.n:
        return None
    p1, p2 = a.value, b.value
    (l1, u1), (l2, u2) = a.ci95, b.ci95
    d = p1 - p2
    return d, (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def cohen_kappa(a: list[str], b: list[str]) -> float | None:
    """Cohen's kappa of two raters on the same items; None when chance agreement is certain."""
    n = len(a)
    if n == 0:
        return None
    po = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[c] * cb[c] for c in ca) / (n * n)
    return None if pe >= 1 else (po - pe) / (1 - pe)


def krippendorff_alpha_nominal(units: list[list[str]]) -> float | None:
    """Krippendorff's alpha for nominal data from the coincidence matrix; ``units`` holds each
    example's labels (any number; units with fewer than two are not pairable and left out)."""
    coincidence: Counter = Counter()
    for values in units:
        m = len(values)
        if m < 2:
            continue
        counts = Counter(values)
        for c, nc in counts.items():
            for k, nk in counts.items():
                pairs = nc * (nk - 1) if c == k else nc * nk
                if pairs:
                    coincidence[(c, k)] += pairs / (m - 1)
    n_c: Counter = Counter()
    for (c, _k), v in coincidence.items():
        n_c[c] += v
    n = sum(n_c.values())
    if n <= 1:
        return None
    observed = sum(v for (c, k), v in coincidence.items() if c != k)
    expected = (n * n - sum(v * v for v in n_c.values())) / (n - 1)
    if expected == 0:
        return None
    return 1 - observed / expected


@dataclass
class Agreement:
    """Everything ``labeler agreement`` reports, for one split."""

    split: str
    reviewers: list[dict] = field(default_factory=list)
    pairs: list[dict] = field(default_factory=list)
    alpha: float | None = None
    consensus: dict | None = None
    per_class: list[dict] = field(default_factory=list)
    human: dict | None = None

    def to_json(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        if not self.reviewers:
            return [f"No blind labels in the {self.split} split yet: `labeler review --blind --reviewer NAME`"
                    " or `labeler annotations import FILE --reviewer NAME`."]
        out = [f"{self.split}: labels of {len(self.reviewers)} reviewer{'s' if len(self.reviewers) != 1 else ''}"
               " against the reference (the given label, or the corrected one)", ""]
        out.append(f"{'reviewer':<16} {'labeled':>8} {'differ':>8}  95% interval   quality")
        for r in self.reviewers:
            lo, hi = r["ci95"] or (0, 0)
            q = "" if r.get("quality") is None else f"{r['quality']:.3f}"
            out.append(f"{r['name']:<16} {r['labeled']:>8} {_pct(r['error_vs_reference']):>8}  "
                       f"{_pct(lo)}-{_pct(hi):<8} {q:>7}")
        if self.pairs:
            out += ["", f"{'pair':<33} {'common':>7} {'agree':>7} {'kappa':>7}"]
            for p in self.pairs:
                kappa = "" if p["kappa"] is None else f"{p['kappa']:.3f}"
                agree = "" if p["agreement"] is None else _pct(p["agreement"])
                out.append(f"{p['a'] + ' / ' + p['b']:<33} {p['common']:>7} {agree:>7} {kappa:>7}")
        if self.alpha is not None:
            out.append(f"\nKrippendorff's alpha (nominal, all reviewers): {self.alpha:.3f}")
        if self.consensus:
            c = self.consensus
            out.append(f"Consensus (cleanlab CROWDLAB) of {c['labeled']} examples differs from the reference on"
                       f" {c['differs_from_reference']} ({_pct(c['error_vs_reference'])})")
        if self.human:
            lo, hi = self.human["ci95"]
            out.append(f"Human-level error: {_pct(self.human['error'])} ({_pct(lo)}-{_pct(hi)}),"
                       f" {self.human['source']} on {self.human['sample']} examples")
        confused = [(c["class"], p) for c in self.per_class for p in c["confused_with"]]
        if confused:
            top = sorted(confused, key=lambda x: -x[1]["count"])[:5]
            out.append("Most confused (reference -> reviewer label): "
                       + ", ".join(f"{c} -> {p['label']} ({p['count']})" for c, p in top))
        return out


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def reference_labels(frame: pd.DataFrame, decisions) -> dict[str, str]:
    """example id -> the reference label: the corrected label where a decision gives one, else the
    given label (unlabeled examples have none)."""
    ref = {}
    for eid, label in zip(frame["id"].tolist(), frame["label"].tolist()):
        d = decisions.get(eid)
        if d is not None and d.label is not None:
            ref[eid] = d.label
        elif label is not None and label == label:
            ref[eid] = label
    return ref


def compute(project: Project, split: str = "dev", *, frame: pd.DataFrame | None = None,
            consensus: bool = True) -> Agreement:
    """The agreement figures of ``split`` from the project's blind labels."""
    frame = frame if frame is not None else framemod.load(project)
    in_split = frame[frame["split"] == split]
    ids = in_split["id"].tolist()
    ref = reference_labels(in_split, project.decisions())
    by_reviewer = {name: {eid: lab for eid, lab in labs.items() if eid in ref}
                   for name, labs in sorted(annotations.labels(project).items())}
    by_reviewer = {name: labs for name, labs in by_reviewer.items() if labs}
    out = Agreement(split)
    for name, labs in by_reviewer.items():
        rate = Rate(sum(lab != ref[eid] for eid, lab in labs.items()), len(labs))
        out.reviewers.append({"name": name, "labeled": rate.n, "error_vs_reference": rate.value,
                              "ci95": rate.ci95, "quality": None})
    for a, b in itertools.combinations(by_reviewer, 2):
        common = [eid for eid in by_reviewer[a] if eid in by_reviewer[b]]
        la = [by_reviewer[a][e] for e in common]
        lb = [by_reviewer[b][e] for e in common]
        out.pairs.append({"a": a, "b": b, "common": len(common),
                          "agreement": (sum(x == y for x, y in zip(la, lb)) / len(common)) if common else None,
                          "kappa": cohen_kappa(la, lb)})
    labeled_ids = [eid for eid in ids if any(eid in labs for labs in by_reviewer.values())]
    out.alpha = krippendorff_alpha_nominal([[labs[eid] for labs in by_reviewer.values() if eid in labs]
                                            for eid in labeled_ids])
    out.per_class = _per_class(by_reviewer, ref, project.classes)
    if consensus and len(by_reviewer) >= 2:
        out.consensus = _consensus(project, frame, by_reviewer, labeled_ids, ref, out)
    out.human = _human(out)
    return out


def _per_class(by_reviewer: dict[str, dict[str, str]], ref: dict[str, str], classes: list[str]) -> list[dict]:
    seen: dict[str, Counter] = {}
    for labs in by_reviewer.values():
        for eid, lab in labs.items():
            seen.setdefault(ref[eid], Counter())[lab] += 1
    out = []
    for c in classes:
        counts = seen.get(c)
        if not counts:
            continue
        total = sum(counts.values())
        out.append({"class": c, "labels": total, "agreement": counts[c] / total,
                    "confused_with": [{"label": lab, "count": n} for lab, n in counts.most_common() if lab != c][:3]})
    return out


def _consensus(project: Project, frame: pd.DataFrame, by_reviewer, labeled_ids, ref, out: Agreement) -> dict | None:
    from cleanlab.multiannotator import get_label_quality_multiannotator

    probs = project.probabilities()
    if probs is None or not labeled_ids:
        return None
    classes = project.classes
    index = {c: i for i, c in enumerate(classes)}
    rows = frame["row"].to_numpy()[pd.Index(frame["id"].tolist()).get_indexer(labeled_ids)]
    names = list(by_reviewer)
    matrix = pd.DataFrame({name: [float(index[by_reviewer[name][eid]]) if eid in by_reviewer[name] else np.nan
                                  for eid in labeled_ids] for name in names})
    # cleanlab needs each annotator to have labeled something and each example a label: true here
    result = get_label_quality_multiannotator(matrix, np.asarray(probs)[rows], verbose=False)
    consensus = result["label_quality"]["consensus_label"].to_numpy()
    differs = sum(classes[int(c)] != ref[eid] for c, eid in zip(consensus, labeled_ids))
    rate = Rate(int(differs), len(labeled_ids))
    stats = result["annotator_stats"]
    for r in out.reviewers:
        if r["name"] in stats.index:
            r["quality"] = float(stats.loc[r["name"], "annotator_quality"])
    return {"labeled": rate.n, "differs_from_reference": rate.k, "error_vs_reference": rate.value,
            "ci95": rate.ci95,
            "labels": {eid: classes[int(c)] for eid, c in zip(labeled_ids, consensus)}}


def _human(out: Agreement) -> dict | None:
    """The best reviewer's error against the reference (or the consensus', if lower)."""
    candidates = [(r["error_vs_reference"], r["labeled"], f"reviewer {r['name']}", r["ci95"])
                  for r in out.reviewers if r["labeled"]]
    if out.consensus and out.consensus["labeled"]:
        c = out.consensus
        candidates.append((c["error_vs_reference"], c["labeled"], "the consensus", c["ci95"]))
    if not candidates:
        return None
    error, n, source, ci = min(candidates, key=lambda x: (x[0], -x[1]))
    return {"error": error, "ci95": ci, "reviewers": len(out.reviewers), "sample": n, "source": source,
            "errors": round(error * n)}


def decomposition(splits: dict, human: dict | None) -> dict:
    """avoidable bias, variance and the dev->test gap, each {value, ci95} (None when a figure is
    missing), and the bottleneck: the one whose interval lies wholly above the others', else "unclear"."""
    def rate(s: str) -> Rate | None:
        d = splits.get(s)
        return Rate(int(d["errors"]), int(d["examples"])) if d and d.get("examples") else None

    train, dev, test = rate("train"), rate("dev"), rate("test")
    hum = Rate(int(human["errors"]), int(human["sample"])) if human and human.get("sample") else None
    parts = {"avoidable_bias": (train, hum), "variance": (dev, train), "dev_test_gap": (test, dev)}
    out: dict = {}
    for name, (a, b) in parts.items():
        d = newcombe(a, b) if a is not None and b is not None else None
        out[name] = None if d is None else {"value": d[0], "ci95": list(d[1])}
    present = {k: v for k, v in out.items() if v is not None}
    bottleneck = "unclear"
    for name, v in present.items():
        others = [o for k, o in present.items() if k != name]
        if others and v["value"] > 0 and all(v["ci95"][0] > o["ci95"][1] for o in others):
            bottleneck = BOTTLENECKS[name]
    return {"decomposition": out, "bottleneck": bottleneck}


def decomposition_lines(human: dict | None, dec: dict) -> list[str]:
    """The decomposition in words, for ``labeler summary`` and the report."""
    if human is None:
        return ["Human-level error: no blind labels yet (`labeler review --blind --reviewer NAME`); avoidable"
                " bias cannot be separated from the error floor."]
    lo, hi = human["ci95"]
    out = [f"Human-level error: {_pct(human['error'])} ({_pct(lo)}-{_pct(hi)}), {human['source']} on"
           f" {human['sample']} blind-labeled examples."]
    names = {"avoidable_bias": "avoidable bias (train - human)", "variance": "variance (dev - train)",
             "dev_test_gap": "dev -> test gap (test - dev)"}
    for key, label in names.items():
        v = dec["decomposition"].get(key)
        if v is not None:
            out.append(f"  {label}: {100 * v['value']:+.1f} points ({100 * v['ci95'][0]:+.1f} to {100 * v['ci95'][1]:+.1f})")
    b = dec["bottleneck"]
    out.append("  bottleneck: " + {"bias": "bias: fit the training set better first",
                                   "variance": "variance: generalise better (more data, regularisation)",
                                   "dev overfitting": "the dev set is overfit: get a fresh dev set",
                                   "unclear": "unclear: the intervals overlap (label more, or review more)"}[b])
    return out


def disagreements(project: Project, split: str = "dev", *, frame: pd.DataFrame | None = None) -> list[str]:
    """Examples of ``split`` where reviewers disagree with each other or with the reference, in file order."""
    frame = frame if frame is not None else framemod.load(project)
    in_split = frame[frame["split"] == split]
    ref = reference_labels(in_split, project.decisions())
    labs = annotations.labels(project)
    out = []
    for eid in in_split["id"].tolist():
        given = {r[eid] for r in labs.values() if eid in r}
        if given and (len(given) > 1 or (eid in ref and given != {ref[eid]})):
            out.append(eid)
    return out
