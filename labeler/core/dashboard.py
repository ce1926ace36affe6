"""The train/dev/test dashboard as the user reads it: its rates and the sentences that say what they
mean, composed once here and shown as they are by ``labeler summary``, the window's dashboard panel
and the export's report.html.

The figures come from :func:`labeler.core.tally.dashboard` (the dict that summary.json keeps) and the
dev tally (:func:`labeler.core.tally.tally`): whether the reviewed dev errors are a random sample
decides what the estimates say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .stats import gap_margin, plural

TITLE = "Error rate by split, with 95% intervals"
ESTIMATES = "From the reviewed dev errors"
DIAGNOSIS = "Diagnosis"
# the short names of the two estimates, next to the splits' rates
CORRECTED = "dev, corrected"
FLOOR = "floor"


def pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}%"


@dataclass(frozen=True)
class Rate:
    """One error rate with its 95% interval: a split's (with its errors and examples) or an estimate
    from the review (``examples`` None)."""

    name: str
    error_rate: float
    ci95: tuple[float, float]
    errors: int | None = None
    examples: int | None = None

    @property
    def estimate(self) -> bool:
        return self.examples is None

    def text(self) -> str:
        """The rate, its interval and, for a split, how many of its examples are errors."""
        lo, hi = self.ci95
        out = f"{pct(self.error_rate, 2)}  ({pct(lo)} – {pct(hi)})"
        return out if self.estimate else f"{out}  {self.errors:,} of {self.examples:,}"


@dataclass(frozen=True)
class Dashboard:
    """The rates and the sentences of the dashboard. A sentence with nothing to say is ""."""

    rates: tuple[Rate, ...]
    gaps: str  # the train → dev and dev → test gaps
    corrected: str  # the dev error with corrected labels, or what it takes to estimate it
    floor: str  # the rough floor on achievable error
    diagnosis: str  # what to work on next (stats.diagnose)
    warning: str  # the differences the dev set is too small to tell from chance

    @classmethod
    def of(cls, figures: Mapping, dev_tally: Mapping | None) -> "Dashboard":
        """From :func:`labeler.core.tally.dashboard`'s figures and the dev tally they were made with
        (None: no dev split, nothing to estimate from). ``figures`` may be a summary (splits and
        diagnosis only)."""
        rates = [Rate(s, v["error_rate"], tuple(v["ci95"]), v["errors"], v["examples"])
                 for s, v in figures["splits"].items()]
        c, f = figures.get("dev_error_corrected"), figures.get("error_floor")
        for name, e in ((CORRECTED, c), (FLOOR, f)):
            if e:
                rates.append(Rate(name, e["error_rate"], tuple(e["ci95"])))
        gaps = []
        splits = figures["splits"]
        for key, a, b in (("train_to_dev", "train", "dev"), ("dev_to_test", "dev", "test")):
            g = (figures.get("gaps") or {}).get(key)
            if g is not None:
                gaps.append(gap_text(g, gap_margin(splits[a], splits[b]), a, b))
        floor = ""
        if c and f:
            corrected = (f"Dev error once the labels marked wrong are corrected: {pct(c['error_rate'], 2)}"
                         f" ({pct(c['ci95'][0], 2)} – {pct(c['ci95'][1], 2)}); {c['fixed']} of"
                         f" {plural(c['reviewed'], 'reviewed error')} had {'its' if c['reviewed'] == 1 else 'their'}"
                         " label corrected to the prediction.")
            floor = (f"Rough floor on achievable error: {pct(f['error_rate'], 2)}"
                     f" ({pct(f['ci95'][0], 2)} – {pct(f['ci95'][1], 2)}): the share of errors tagged mislabeled,"
                     f" ambiguous or very hard ({f['count']} of {f['reviewed']}) × the dev error rate.")
        elif dev_tally is None:
            corrected = ""
        elif dev_tally["reviewed"]:
            corrected = ("The reviewed dev errors are not a random sample (a queue ordered by loss or"
                         " filtered): review in a random queue to estimate the corrected error and the floor.")
        else:
            corrected = ("Review a random sample of the dev errors to estimate the dev error with"
                         " corrected labels and a floor on achievable error.")
        return cls(rates=tuple(rates), gaps="Gaps: " + " · ".join(gaps) if gaps else "", corrected=corrected,
                   floor=floor, diagnosis=figures.get("diagnosis") or "", warning=figures.get("dev_warning") or "")

    def sentences(self) -> list[str]:
        """What the dashboard says, in the order shown: gaps, estimates, diagnosis, warning."""
        return [s for s in (self.gaps, self.corrected, self.floor, self.diagnosis, self.warning) if s]


def gap_text(gap: float, margin: float, a: str, b: str) -> str:
    """One gap as it should be read: its size, its 95% interval, and what it says. A negative gap is
    a lower error, not a "small" one; one whose interval holds 0 says nothing either way."""
    head = f"{a} → {b}: {100 * gap:+.2f} points"
    if margin == float("inf"):
        return head
    lo, hi = 100 * (gap - margin), 100 * (gap + margin)
    if lo > 0:
        what = f"{b} error is higher, beyond chance"
    elif hi < 0:
        what = f"{b} error is lower than {a} error, beyond chance" + (
            ": are dev and test from the same distribution?" if (a, b) == ("dev", "test") else "")
    else:
        what = "within chance: no difference these splits can show"
    return f"{head} (95% interval {lo:+.1f} to {hi:+.1f}; {what})"
