"""Error rates by slice of a split: where do the errors concentrate?

A slice is a set of examples of the split named by what they share: a scan flag (``blurry``), a
quartile of a scanned property (``sharpness Q1 [3.2, 41]``), a given class (``class=cat``), or a
value of a metadata column with at most :data:`MAX_META_VALUES` values (``camera=X``). For each:
the labeled examples, the errors among them, the error rate with its Wilson 95% interval, the lift
(the slice's error rate over the split's), Fisher's exact test (two-sided) of the slice against the
rest of the split, and Benjamini-Hochberg q-values over all the slices listed, so that "this slice
is worse" can be read at a known false discovery rate although many slices are tested.

The rest of the split is the examples where the slice's question has an answer: for a flag or a
property, the other images the scan measured; for a class or a metadata column, every other
labeled example of the split. Sorted by q-value, then by lift (highest first).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
from scipy.stats import fisher_exact

from .. import frame as framemod
from ..stats import wilson
from ..store import Project
from . import scan as scanmod

__all__ = ["Slice", "SliceReport", "compute", "bh_qvalues", "MAX_META_VALUES"]

MAX_META_VALUES = 50
BINNED = ("sharpness", "brightness", "contrast", "dark_frac", "bright_frac", "entropy", "width", "height", "aspect")


@dataclass(frozen=True)
class Slice:
    """One slice's figures; ``rows`` are its labeled examples' positions in the project's file
    order and ``error_rows`` those the model gets wrong (what a click on the slice queues)."""

    slice: str
    kind: str  # "flag" | "property" | "class" | "meta"
    n: int
    errors: int
    error_rate: float
    ci95: tuple[float, float]
    lift: float | None
    p_value: float
    q_value: float = 1.0
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False, compare=False)
    error_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False, compare=False)

    def to_json(self) -> dict:
        return {"slice": self.slice, "kind": self.kind, "n": self.n, "errors": self.errors,
                "error_rate": self.error_rate, "ci95": list(self.ci95), "lift": self.lift,
                "p_value": self.p_value, "q_value": self.q_value}


@dataclass
class SliceReport:
    """The slices of one split, sorted by q-value then lift."""

    split: str
    n: int
    errors: int
    slices: list[Slice]
    scanned: int  # labeled examples of the split with scan results

    @property
    def error_rate(self) -> float:
        return self.errors / self.n if self.n else 0.0

    def get(self, name: str) -> Slice | None:
        return next((s for s in self.slices if s.slice == name), None)

    def to_json(self) -> list[dict]:
        return [s.to_json() for s in self.slices]

    def lines(self, limit: int | None = None) -> list[str]:
        out = [f"{self.split}: {self.n} labeled examples, {self.errors} errors ({100 * self.error_rate:.1f}%);"
               f" {self.scanned} with scan results; {len(self.slices)} slices, q = Benjamini-Hochberg over all"]
        out.append(f"{'slice':<34}{'n':>7}{'errors':>8}{'rate':>8}  {'95% interval':<15}{'lift':>6}{'p':>10}{'q':>10}")
        for s in self.slices[:limit]:
            lift = f"{s.lift:.2f}" if s.lift is not None else "-"
            out.append(f"{s.slice[:33]:<34}{s.n:>7}{s.errors:>8}{100 * s.error_rate:>7.1f}%"
                       f"  {f'{100 * s.ci95[0]:.1f}-{100 * s.ci95[1]:.1f}%':<15}{lift:>6}{s.p_value:>10.2g}{s.q_value:>10.2g}")
        return out


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (adjusted p-values) of ``p``, in the same order."""
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def _slice(name: str, kind: str, members: np.ndarray, domain: np.ndarray, wrong: np.ndarray,
           rows: np.ndarray, split_rate: float) -> Slice | None:
    """``members`` and ``domain`` are masks over the split's labeled examples (members within domain)."""
    n = int(members.sum())
    if n == 0:
        return None
    k = int(wrong[members].sum())
    rest = domain & ~members
    n_rest, k_rest = int(rest.sum()), int(wrong[rest].sum())
    if n_rest == 0:
        p = 1.0
    else:
        p = float(fisher_exact([[k, n - k], [k_rest, n_rest - k_rest]], alternative="two-sided")[1])
    rate = k / n
    return Slice(name, kind, n, k, rate, wilson(k, n), rate / split_rate if split_rate > 0 else None,
                 min(p, 1.0), rows=rows[members], error_rows=rows[members & wrong])


def _edges_name(prop: str, i: int, lo: float, hi: float) -> str:
    return f"{prop} Q{i + 1} [{lo:.3g}, {hi:.3g}]"


def compute(project: Project, split: str = "dev", *, frame: pd.DataFrame | None = None) -> SliceReport:
    """Every slice of ``split`` (see the module's docstring) with its statistics."""
    frame = framemod.load(project) if frame is None else frame
    in_split = (frame["split"] == split).to_numpy() & framemod.labeled(frame)
    part = frame[in_split]
    rows = part["row"].to_numpy(np.int64)
    wrong = part["wrong"].to_numpy(bool)
    n, errors = len(part), int(wrong.sum())
    split_rate = errors / n if n else 0.0
    everything = np.ones(n, bool)
    found: list[Slice] = []

    def add(s: Slice | None) -> None:
        if s is not None:
            found.append(s)

    scanned = scanmod.load(project)
    flags, _ = scanmod.flags(scanned)
    measured = 0
    if len(scanned):
        ok = scanned["error"].isna().to_numpy()
        table = scanned[ok].reset_index(drop=True)
        flagged = flags[ok].reset_index(drop=True)  # (a column "grayscale" in both)
        at = pd.Index(table["id"]).get_indexer(part["id"].astype(object))
        domain = at >= 0
        measured = int(domain.sum())
        if measured:
            for flag in scanmod.FLAGS:
                values = flagged[flag].to_numpy(bool)
                members = domain & np.where(domain, values[np.maximum(at, 0)], False)
                add(_slice(flag, "flag", members, domain, wrong, rows, split_rate))
            for prop in BINNED:
                values = np.where(domain, table[prop].to_numpy(float)[np.maximum(at, 0)], np.nan)
                edges = np.unique(np.nanquantile(values[domain], [0, .25, .5, .75, 1]))
                if len(edges) < 3:  # one bin would be the whole split
                    continue
                bins = np.clip(np.searchsorted(edges, values, side="left") - 1, 0, len(edges) - 2)
                for i in range(len(edges) - 1):
                    add(_slice(_edges_name(prop, i, edges[i], edges[i + 1]), "property", domain & (bins == i),
                               domain, wrong, rows, split_rate))

    labels = part["label"].to_numpy(object)
    for c in project.classes:
        add(_slice(f"class={c}", "class", labels == c, everything, wrong, rows, split_rate))

    for col, values in _meta_columns(project, rows).items():
        for v in pd.unique(values[pd.notna(values)]):
            add(_slice(f"{col}={v}", "meta", values == v, everything, wrong, rows, split_rate))

    q = bh_qvalues(np.array([s.p_value for s in found]))
    found = [Slice(**{**s.__dict__, "q_value": float(qi)}) for s, qi in zip(found, q)]
    found.sort(key=lambda s: (s.q_value, -(s.lift if s.lift is not None else 0.0), s.slice))
    return SliceReport(split, n, errors, found, measured)


def _meta_columns(project: Project, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Metadata columns of the examples at ``rows`` with 2 to MAX_META_VALUES values, as text."""
    table = project.examples_table()
    if "meta" not in table.column_names:
        return {}
    col = table.column("meta").take(rows)
    try:
        columns = _parse_meta_arrow(col)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError, TypeError):
        columns = _parse_meta_python(col.to_pylist())
    out = {}
    for name, values in columns.items():
        distinct = pd.unique(values[pd.notna(values)])
        if 2 <= len(distinct) <= MAX_META_VALUES:
            out[name] = values
    return out


def _parse_meta_arrow(col) -> dict[str, np.ndarray]:
    """The metadata JSON parsed by Arrow (800,000 rows: 0.25 s, against 1.3 s one by one); a column
    that is not all text is refused (ValueError), so the exact strings come from the slow path."""
    col = pc.if_else(pc.or_kleene(pc.is_null(col), pc.equal(col, "")), "{}", col)
    data = "\n".join(col.to_pylist()).encode("utf-8")
    parsed = pajson.read_json(io.BytesIO(data), parse_options=pajson.ParseOptions(unexpected_field_behavior="infer"))
    if parsed.num_rows != len(col):
        raise ValueError("metadata rows do not line up")
    out = {}
    for name in parsed.column_names:
        values = parsed.column(name)
        if pa.types.is_null(values.type):
            continue
        if not pa.types.is_string(values.type):
            raise ValueError(f"metadata column {name!r} is not text")
        arr = np.array(values.to_pylist(), dtype=object)
        arr[arr == ""] = None
        out[name] = arr
    return out


def _parse_meta_python(meta: list) -> dict[str, np.ndarray]:
    parsed = [json.loads(m) if m else {} for m in meta]
    names: dict[str, None] = {}
    for d in parsed:
        for k in d:
            names.setdefault(k, None)
    return {name: np.array([None if d.get(name) in (None, "") else str(d[name]) for d in parsed], dtype=object)
            for name in names}
