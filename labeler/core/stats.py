"""Error rates with intervals, the train/dev/test summary and its diagnosis, confusion matrices."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .splits import SPLITS
Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for k successes in n trials (95% by default)."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at k = 0 or k = n one bound is exactly 0 or 1; rounding must not leave the rate outside
    lo = 0.0 if k <= 0 else max(0.0, centre - half)
    hi = 1.0 if k >= n else min(1.0, centre + half)
    return (lo, hi)


def split_counts(frame: pd.DataFrame) -> dict[str, dict]:
    """Per split present: labeled examples, errors, error rate and its 95% interval."""
    out = {}
    # one pass over the split column (comparing a million strings per split took 0.5 s)
    split = frame["split"]
    if not isinstance(split.dtype, pd.CategoricalDtype) or list(split.cat.categories) != list(SPLITS):
        split = pd.Categorical(split, categories=list(SPLITS))
    codes = np.asarray(split.cat.codes if isinstance(split, pd.Series) else split.codes)
    labeled = frame["label_i"].to_numpy() >= 0 if "label_i" in frame.columns else frame["label"].notna().to_numpy()
    wrong = frame["wrong"].to_numpy(dtype=bool)
    present = np.bincount(codes[codes >= 0], minlength=len(SPLITS))
    examples = np.bincount(codes[labeled & (codes >= 0)], minlength=len(SPLITS))
    errors = np.bincount(codes[labeled & wrong & (codes >= 0)], minlength=len(SPLITS))
    for i, s in enumerate(SPLITS):
        if present[i] == 0:
            continue
        n, k = int(examples[i]), int(errors[i])
        lo, hi = wilson(k, n)
        out[s] = {"examples": n, "errors": k, "error_rate": (k / n) if n else 0.0, "ci95": [lo, hi]}
    return out


def _significant(a: dict, b: dict) -> bool:
    """Is b's error rate higher than a's beyond chance (two-proportion z-test, one-sided 97.5%)?"""
    n1, n2 = a["examples"], b["examples"]
    if n1 == 0 or n2 == 0:
        return False
    p1, p2 = a["errors"] / n1, b["errors"] / n2
    p = (a["errors"] + b["errors"]) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    return se > 0 and (p2 - p1) / se > Z95


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 example``, ``2 examples``, ``1,797 examples``: a count with its noun, in the right number."""
    return f"{n:,} {noun if n == 1 else (nouns or noun + 's')}"


def gap_margin(a: dict, b: dict) -> float:
    """Half-width of the 95% interval of the difference of two splits' error rates (independent samples)."""
    if not a["examples"] or not b["examples"]:
        return math.inf
    p1, p2 = a["error_rate"], b["error_rate"]
    return Z95 * math.sqrt(p1 * (1 - p1) / a["examples"] + p2 * (1 - p2) / b["examples"])


def examples_for_halfwidth(p: float, halfwidth: float) -> int:
    p = min(max(p, 0.01), 0.99)
    return int(math.ceil(Z95 * Z95 * p * (1 - p) / (halfwidth * halfwidth)))


def diagnose(splits: dict[str, dict]) -> str:
    """What the train/dev/test error rates say to work on next, in the words of the error-analysis loop."""
    tr, dv, te = splits.get("train"), splits.get("dev"), splits.get("test")
    parts = []
    pct = lambda d: f"{100 * d['error_rate']:.1f}%"
    if tr and dv:
        gap = dv["error_rate"] - tr["error_rate"]
        if tr["error_rate"] >= max(gap, 0.0) and tr["error_rate"] > 0.02:
            parts.append(
                f"Bias: training error is {pct(tr)}, at least as large as the train-to-dev gap"
                f" ({100 * gap:+.1f} points). Fit the training set better first (bigger model, longer"
                " training, better features), and check the training labels."
            )
        if _significant(tr, dv) and gap > tr["error_rate"] * 0.5:
            parts.append(
                f"Variance or train/dev mismatch: dev error {pct(dv)} is well above training error {pct(tr)}."
                " More or more varied training data, regularisation, or training data that looks like dev."
            )
        if not parts and gap > tr["error_rate"] * 0.5:
            # above training error by the variance rule's margin, but not beyond chance
            parts.append(
                f"Dev error {pct(dv)} is above training error {pct(tr)}, but with {plural(dv['examples'], 'dev example')}"
                f" the gap ({100 * gap:+.1f} points) could be chance: it takes a bigger dev set to"
                " tell variance from noise. Meanwhile, look at the dev errors."
            )
        if not parts:
            parts.append(
                f"Training error {pct(tr)} and dev error {pct(dv)} are both low and close:"
                " look at the dev errors to find what is left."
            )
    elif dv:
        parts.append(f"Dev error is {pct(dv)}; import the training split too to tell bias from variance.")
    elif tr:
        parts.append(f"Training error is {pct(tr)}; import a dev split to review its errors.")
    if dv and te and _significant(dv, te):
        parts.append(
            f"Test error {pct(te)} is well above dev error {pct(dv)}: the dev set is overfit"
            " (tuned on too often) or too small; get a bigger dev set."
        )
    if dv and dv["examples"]:
        lo, hi = dv["ci95"]
        half = (hi - lo) / 2
        if half > 0.005:
            need = examples_for_halfwidth(dv["error_rate"], 0.005)
            parts.append(
                f"The dev set ({plural(dv['examples'], 'example')}) is too small to tell a 1-point change apart"
                f" (95% interval ±{100 * half:.1f} points); that takes about {need:,} examples."
            )
    return " ".join(parts)


def confusion(frame: pd.DataFrame, classes: list[str], split: str | None = "dev") -> np.ndarray:
    """Counts with rows = given label, columns = predicted label, over labeled examples of ``split``."""
    k = len(classes)
    li, pi = _class_indices(frame, classes, split)
    return np.bincount(li * k + pi, minlength=k * k).reshape(k, k)


def confusion_cells(frame: pd.DataFrame, classes: list[str], split: str | None = "dev"
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-empty cells of :func:`confusion` as (given index, predicted index, count), without
    the K x K matrix: with thousands of classes that matrix takes hundreds of megabytes."""
    k = len(classes)
    li, pi = _class_indices(frame, classes, split)
    codes, counts = np.unique(li * k + pi, return_counts=True)
    return codes // k, codes % k, counts


def per_class_from_cells(classes: list[str], given: np.ndarray, pred: np.ndarray, counts: np.ndarray) -> list[dict]:
    """:func:`per_class` from :func:`confusion_cells` (the same figures, no K x K matrix)."""
    k = len(classes)
    support = np.bincount(given, weights=counts, minlength=k).astype(np.int64)
    predicted = np.bincount(pred, weights=counts, minlength=k).astype(np.int64)
    diag = given == pred
    tps = np.bincount(given[diag], weights=counts[diag], minlength=k).astype(np.int64)
    out = []
    for i, c in enumerate(classes):
        tp, sup, prd = int(tps[i]), int(support[i]), int(predicted[i])
        precision = tp / prd if prd else 0.0
        recall = tp / sup if sup else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append({"class": c, "support": sup, "errors": sup - tp, "error_rate": (sup - tp) / sup if sup else 0.0,
                    "precision": precision, "recall": recall, "f1": f1})
    return out


def _class_indices(frame: pd.DataFrame, classes: list[str], split: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Given and predicted class indices of the labeled examples of ``split``."""
    if "label_i" in frame.columns and frame.attrs.get("classes") == list(classes):
        # class indices kept by frame.load: no lookup of a million strings
        mask = frame["label_i"].to_numpy() >= 0
        if split is not None:
            mask &= (frame["split"] == split).to_numpy()
        li = frame["label_i"].to_numpy()[mask].astype(np.int64)
        pi = frame["pred_i"].to_numpy()[mask].astype(np.int64)
    else:
        part = frame if split is None else frame[frame["split"] == split]
        part = part[part["label"].notna()]
        index = {c: i for i, c in enumerate(classes)}
        li = part["label"].map(index).to_numpy(dtype=np.int64)
        pi = part["pred"].map(index).to_numpy(dtype=np.int64)
    return li, pi


def per_class(frame: pd.DataFrame, classes: list[str], split: str = "dev", *, matrix: np.ndarray | None = None) -> list[dict]:
    """Support, errors, error rate, precision, recall and F1 per class (given label = truth).
    ``matrix``: the split's confusion matrix, when the caller has counted it already."""
    m = confusion(frame, classes, split) if matrix is None else matrix
    out = []
    for i, c in enumerate(classes):
        support = int(m[i].sum())
        tp = int(m[i, i])
        predicted = int(m[:, i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append({
            "class": c, "support": support, "errors": support - tp,
            "error_rate": (support - tp) / support if support else 0.0,
            "precision": precision, "recall": recall, "f1": f1,
        })
    return out


def summary(frame: pd.DataFrame, classes: list[str]) -> dict:
    """The figures of ``labeler summary --json``."""
    splits = split_counts(frame)
    return {"classes": list(classes), "splits": splits, "diagnosis": diagnose(splits)}
