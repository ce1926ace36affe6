"""Check a predictions table and derive what the project stores: exact ids, labels and predictions
over one class list, the checked probabilities, confidence, p(given label), loss and which examples
are wrong, column-wise (:class:`Examples`). The importer reads files and writes projects; this
module decides what a table means.
"""

from __future__ import annotations

import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import columns as colmod
from .formats import ArrowColumns, Table
from .probs import ProbColumns
from .problems import ImportProblem, MissingColumns

SUM_TOLERANCE = 1e-3
from .splits import SPLIT_VALUES, SPLITS  # noqa: F401  (named here for the importer)



@dataclass
class Examples:
    """Everything derived from a table, column-wise, ready to store."""

    ids: pa.Array  # exact strings
    split: pa.DictionaryArray  # over SPLITS
    path: pa.Array | None
    text: pa.Array | None
    label: pa.DictionaryArray  # over classes; null = unlabeled
    pred: pa.DictionaryArray  # over classes
    confidence: np.ndarray
    p_label: np.ndarray
    loss: np.ndarray
    wrong: np.ndarray
    meta: list[str | None]
    classes: list[str]
    probs: ProbColumns | None
    unlabeled: int
    warnings: list[str]


def _natural_key(s: str):
    """Numbers first in numeric order, then the rest as text. Only finite numbers count: "nan" would
    make the order depend on the order the classes were seen in (NaN compares false both ways)."""
    try:
        v = float(s)
    except ValueError:
        return (1, 0.0, s)
    return (0, v, s) if math.isfinite(v) else (1, 0.0, s)


def _problem_rows(table: Table, mask: np.ndarray, limit: int = 5) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(table.where(int(r)) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"{shown}{more}"


def _strings(frame: pd.DataFrame, col: str) -> list[str]:
    s = frame[col]
    if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object and not s.hasnans:
        return s.tolist()  # already exact strings (CSV/TSV): no per-value checks needed
    if s.dtype == object:
        return [v if isinstance(v, str) else ("" if v is None else json.dumps(v) if isinstance(v, list) else str(v)) for v in s.tolist()]
    # numeric columns (Parquet): a null is an empty cell, not the text "nan"
    return [("" if v != v else repr(float(v))) if isinstance(v, float) else str(v) for v in s.tolist()]


def _string_array(frame: pd.DataFrame, col: str) -> pa.Array:
    """A column as exact strings in Arrow (no per-value Python work for CSV/TSV columns)."""
    if isinstance(frame, ArrowColumns):
        arr = frame.strings(col)
        if arr is not None:
            return arr
    s = frame[col]
    if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object and not s.hasnans:
        arr = pa.array(s)
        return arr.cast(pa.string()) if arr.type != pa.string() else arr
    return pa.array(_strings(frame, col), pa.string())


def _encode(arr: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Codes into the distinct values, and those values: hashing once per row, in Arrow."""
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary.to_pylist()


def _float_chunks(table: Table, col: str, what: str) -> list[np.ndarray]:
    """A column as float64 chunks: views of Arrow's buffers where it parsed them already."""
    if col in table.float_columns and isinstance(table.frame, ArrowColumns):
        return table.frame.float_chunks(col)
    return [_floats(table, col, what)]


def _floats(table: Table, col: str, what: str) -> np.ndarray:
    """A column as float64, refused where a value is not a number."""
    if col in table.float_columns and isinstance(table.frame, ArrowColumns):
        return table.frame.floats(col)
    s = table.frame[col]
    if col in table.float_columns:
        return s.to_numpy(dtype=np.float64)
    vals = pd.to_numeric(s.replace("", np.nan) if s.dtype == object else s, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(vals) & ~(s.astype(str).str.strip().str.lower().isin(["nan"])).to_numpy()
    if bad.any():
        raise ImportProblem(
            f"{table.path}: column {col!r} ({what}) is not a number at {_problem_rows(table, bad)}"
        )
    return vals


def _refuse_unknown(table: Table, idx: np.ndarray, codes: np.ndarray, values: list, classes: list[str], what: str) -> None:
    """An error naming the values (and rows) that are not classes: ``idx`` is -2 there."""
    bad = idx == -2
    if bad.any():
        unknown = sorted({values[codes[i]] for i in np.flatnonzero(bad)})[:5]
        raise ImportProblem(
            f"{table.path}: {what} not among the classes"
            f" ({', '.join(classes[:10])}{' ...' if len(classes) > 10 else ''}): "
            f"{', '.join(repr(u) for u in unknown)} at {_problem_rows(table, bad)}"
        )


def build_examples(
    table: Table,
    cmap: colmod.ColumnMap,
    *,
    classes: list[str] | None = None,
    split: str | None = None,
    predictions: bool = True,
) -> Examples:
    """Check ``table`` and derive what the project stores. ``predictions=False``: a table that has
    none (a folder of images); every example's prediction is then empty. The ids are checked on a second thread
    while this one reads the probabilities (Arrow and numpy let go of the GIL): their problems are
    still reported in the order the checks come in."""
    ids = _string_array(table.frame, cmap.roles["id"]) if "id" in cmap.roles else None
    with ThreadPoolExecutor(2, thread_name_prefix="labeler-check") as pool:
        checked = pool.submit(_check_ids, table, ids) if ids is not None else None
        encoded = {role: pool.submit(lambda c: _encode(_string_array(table.frame, c)), cmap.roles[role])
                   for role in ("pred", "split") if role in cmap.roles}
        reached_ids = threading.Event()
        try:
            ex = _build_examples(table, cmap, ids, reached_ids, encoded, classes=classes, split=split,
                                 predictions=predictions)
        except ImportProblem:
            if checked is not None and reached_ids.is_set():
                checked.result()  # an id problem comes before the later checks'
            raise
        if checked is not None:
            checked.result()
    return ex


def _check_ids(table: Table, ids: pa.Array) -> None:
    n = len(ids)
    empty = pc.or_(pc.equal(pc.utf8_length(ids), 0), pc.utf8_is_space(ids)).to_numpy(zero_copy_only=False)
    if empty.any():
        raise ImportProblem(f"{table.path}: empty id at {_problem_rows(table, empty)}")
    if n > 1 and pc.all(pc.greater(ids.slice(1), ids.slice(0, n - 1))).as_py():
        return  # strictly increasing (ids written in order, as they often are): all distinct
    if len(pc.unique(ids)) != n:  # (unique hashes twice as fast as count_distinct)
        ser = pd.Series(ids.to_pylist(), dtype=object)
        dup = ser.duplicated(keep=False).to_numpy()
        names = list(dict.fromkeys(ser[dup].tolist()))
        raise ImportProblem(
            f"{table.path}: {len(names)} ids appear more than once, e.g. "
            + ", ".join(repr(x) for x in names[:5])
            + f" (first at {_problem_rows(table, dup, 3)})"
        )


def _build_examples(
    table: Table,
    cmap: colmod.ColumnMap,
    ids: pa.Array | None,
    reached_ids: threading.Event,
    encoded: dict,  # role -> a future of _encode(that column)
    *,
    classes: list[str] | None,
    split: str | None,
    predictions: bool = True,
) -> Examples:
    path, frame, n = table.path, table.frame, len(table.frame)
    roles = cmap.roles
    warnings: list[str] = []

    # -- probabilities: a list column, or one column per class
    probs = None
    prob_classes: list[str] | None = None
    list_col = roles.get("probs")
    if list_col is not None:
        cells = frame[list_col].tolist()
        parsed = []
        for i, v in enumerate(cells):
            if isinstance(v, str):
                try:
                    v = json.loads(v) if v.strip() else None
                except json.JSONDecodeError:
                    v = None
            if not isinstance(v, (list, tuple, np.ndarray)):
                # every row needs its list (an empty cell or null is not "no probabilities")
                raise ImportProblem(
                    f"{path}: column {list_col!r} should hold a list of probabilities; {table.where(i)} does not"
                )
            parsed.append(v)
        lengths = np.fromiter((len(v) for v in parsed), dtype=np.int64, count=len(parsed))
        if len(set(lengths.tolist())) != 1:
            odd = lengths != lengths[0]
            raise ImportProblem(
                f"{path}: the probability lists in {list_col!r} have different lengths"
                f" ({int(lengths[0])} at {table.where(0)}, other lengths at {_problem_rows(table, odd)})"
            )
        try:
            probs = np.asarray(parsed, dtype=np.float64)
        except (TypeError, ValueError):
            probs = None
        if probs is None or probs.ndim != 2:
            raise ImportProblem(f"{path}: column {list_col!r} holds values that are not numbers")
        probs = ProbColumns.from_matrix(probs)
    elif cmap.prob_columns:
        prob_classes = list(cmap.prob_columns)
        probs = ProbColumns([_float_chunks(table, c, f"probability of class {name!r}")
                             for name, c in cmap.prob_columns.items()])

    # -- missing roles
    missing = []
    if "label" not in roles:
        missing.append("label (the given label: label, ground_truth, target, y_true, ...)")
    if "path" not in roles and "text" not in roles:
        missing.append("path or text (the example: path, filepath, image, ... or text, sentence, ...)")
    if "pred" not in roles and probs is None and predictions:
        missing.append("pred or probabilities (pred, prediction, y_pred, ... or p_<class> columns)")
    if missing:
        raise MissingColumns(
            [m.split(" (")[0] for m in missing], list(table.columns), dict(roles),
            f"{path}: cannot find the columns for: " + "; ".join(missing)
            + f". Columns found: {', '.join(table.columns)}. Name them with --column ROLE=NAME."
        )

    # -- ids: checked by build_examples' second thread; from here on, its problems come first
    reached_ids.set()
    if ids is None:
        ids = pc.cast(pa.array(np.arange(n)), pa.string())

    # labels and predictions: distinct values are looked up once, not once per row
    label_codes, label_values = _encode(_string_array(frame, roles["label"]))
    label_values = [v if v != "" else None for v in label_values]  # an empty cell = unlabeled
    unlabeled = int(np.isin(label_codes, [i for i, v in enumerate(label_values) if v is None]).sum())

    pred_codes = pred_values = None
    if "pred" in roles:
        pred_codes, pred_values = encoded["pred"].result()
    preds = None  # a list, only where the classes must be inferred from it

    # -- classes
    if classes is not None:
        classes = [str(c) for c in classes]
        if len(set(classes)) != len(classes):
            twice = sorted({c for c in classes if classes.count(c) > 1})
            raise ImportProblem(f"the class list names a class twice: {', '.join(repr(c) for c in twice)}")
        if probs is not None and probs.shape[1] != len(classes):
            raise ImportProblem(
                f"{path}: {probs.shape[1]} probability columns but {len(classes)} classes were given"
            )
        if prob_classes is not None:
            if set(prob_classes) != set(classes):
                raise ImportProblem(
                    f"{path}: the probability columns are for classes {prob_classes}, the class list is {classes}"
                )
            order = [prob_classes.index(c) for c in classes]
            probs = probs.reorder(order)
    elif prob_classes is not None:
        classes = prob_classes
    elif probs is not None:
        if pred_codes is not None:
            preds = np.array(pred_values, dtype=object)[pred_codes].tolist()
        classes = _infer_list_order(path, probs.matrix(), preds)
    else:
        seen = {v for v in label_values if v is not None} | set(pred_values or [])
        seen.discard("")
        classes = sorted(seen, key=_natural_key)
    index = {c: i for i, c in enumerate(classes)}

    label_idx = np.array([-1 if v is None else index.get(v, -2) for v in label_values] + [-1], dtype=np.int64)[label_codes]
    _refuse_unknown(table, label_idx, label_codes, label_values, classes, f"column {roles['label']!r}: labels")

    # -- probabilities: check, then predictions from them where needed
    if probs is not None:
        if not probs.valid():
            m = probs.matrix()
            bad_cells = ~((m >= 0) & (m <= 1))  # NaN fails both comparisons, and an infinity one
            bad = bad_cells.any(axis=1)
            if prob_classes is not None:
                cols = [cmap.prob_columns[classes[j]] for j in np.flatnonzero(bad_cells.any(axis=0))]
            else:
                cols = [list_col]
            first = int(np.flatnonzero(bad)[0])
            value = float(m[first][bad_cells[first]][0])
            raise ImportProblem(
                f"{path}: probabilities must be between 0 and 1 (no NaN or inf); column"
                f"{'s' if len(cols) > 1 else ''} {', '.join(repr(c) for c in cols[:5])} at {_problem_rows(table, bad)}"
                f" (e.g. {value!r} at {table.where(first)})"
            )
        off = np.abs(probs.row_sums() - 1.0) > SUM_TOLERANCE
        if off.any():
            warnings.append(
                f"{int(off.sum())} rows have probabilities that do not sum to 1 (beyond {SUM_TOLERANCE:g}),"
                f" e.g. {_problem_rows(table, off, 3)}; the values are kept as they are"
            )
    if pred_codes is None and probs is None:
        pred_idx = np.full(n, -1, dtype=np.int64)  # no predictions (a folder of images)
    elif pred_codes is None:
        pred_idx = probs.argmax()
    else:
        # -3: an empty cell, the argmax of the probabilities where there are any
        pred_idx = np.array([-3 if v == "" else index.get(v, -2) for v in pred_values], dtype=np.int64)[pred_codes]
        empty_pred = pred_idx == -3
        if probs is not None and empty_pred.any():
            pred_idx = np.where(empty_pred, probs.argmax(), pred_idx)
        elif empty_pred.any():
            raise ImportProblem(f"{path}: empty prediction at {_problem_rows(table, empty_pred)}")
    if pred_codes is not None:
        _refuse_unknown(table, pred_idx, pred_codes, pred_values, classes, f"column {roles['pred']!r}: predictions")

    # -- split
    if "split" in roles:
        codes, uniques = encoded["split"].result()
        mapped = [SPLIT_VALUES.get(str(v).strip().lower()) for v in uniques]
        split_idx = np.array([-1 if m is None else SPLITS.index(m) for m in mapped], dtype=np.int64)[codes]
        bad = split_idx < 0
        if bad.any():
            values = sorted({uniques[codes[i]] for i in np.flatnonzero(bad)})[:5]
            raise ImportProblem(
                f"{path}: unknown split values {', '.join(repr(v) for v in values)} at {_problem_rows(table, bad)}"
                " (expected train/training, dev/val/valid/validation, test/testing)"
            )
    else:
        s = SPLIT_VALUES.get((split or "dev").lower())
        if s is None:
            raise ImportProblem(f"--split {split!r}: expected train, dev or test")
        split_idx = np.full(n, SPLITS.index(s), dtype=np.int64)

    # -- derived figures (the top-k is derived when it is stored: see _write)
    labeled = label_idx >= 0
    if probs is not None:
        confidence = probs.row_max()
        p_label = probs.at_columns(np.maximum(label_idx, 0))
        p_label[~labeled] = np.nan
        loss = np.where(labeled, -np.log(np.clip(p_label, 1e-12, None)), np.nan)
    else:
        confidence = np.full(n, np.nan)
        p_label = np.full(n, np.nan)
        loss = np.full(n, np.nan)
    if "confidence" in roles:
        confidence = _floats(table, roles["confidence"], "confidence")
        bad = ~np.isfinite(confidence) | (confidence < 0) | (confidence > 1)
        if bad.any():
            raise ImportProblem(f"{path}: confidence must be between 0 and 1: {_problem_rows(table, bad)}")
        if probs is None:
            # Without probabilities the given label's probability is unknown; the loss is estimated
            # from the confidence of the prediction (a weaker ranking).
            right = labeled & (label_idx == pred_idx)
            est = np.where(right, confidence, 1.0 - confidence)
            loss = np.where(labeled, -np.log(np.clip(est, 1e-12, None)), np.nan)
    wrong = labeled & (pred_idx >= 0) & (label_idx != pred_idx)

    paths = _string_array(frame, roles["path"]) if "path" in roles else None
    texts = _string_array(frame, roles["text"]) if "text" in roles else None
    used = cmap.used  # a property that builds a set: once, not per column
    extra = [c for c in table.columns if c not in used]
    if extra:
        sub = frame[extra]
        # one JSON object per line; split on "\n" only: splitlines() also splits at U+2028, U+0085
        # and other separators that JSON leaves unescaped inside strings, which shifted rows
        meta = sub.to_json(orient="records", lines=True, force_ascii=False).rstrip("\n").split("\n")
        if len(meta) != n:
            raise AssertionError(f"metadata of {len(meta)} rows for {n} examples")
    else:
        meta = None
    return Examples(
        ids=ids, split=_dictionary(split_idx, list(SPLITS)), path=paths, text=texts,
        label=_dictionary(label_idx, classes), pred=_dictionary(pred_idx, classes),
        confidence=confidence, p_label=p_label, loss=loss, wrong=wrong,
        meta=meta, classes=classes, probs=probs, unlabeled=unlabeled, warnings=warnings,
    )


def _dictionary(codes: np.ndarray, words: list[str]) -> pa.DictionaryArray:
    """Codes (-1 = no value) over ``words`` as an Arrow dictionary array."""
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(words, pa.string()))


def _infer_list_order(path: Path, probs: np.ndarray, preds: list[str] | None) -> list[str]:
    """A list column does not say which class each position is. Infer it from pred = argmax where
    that is unambiguous; otherwise ask for --classes."""
    k = probs.shape[1]
    if preds is None:
        raise ImportProblem(
            f"{path}: a list column of probabilities needs --classes to say which class each position is"
        )
    argmax = probs.argmax(axis=1)
    mapping: dict[int, str] = {}
    for a, p in zip(argmax.tolist(), preds):
        if p == "":
            continue
        if mapping.setdefault(a, p) != p:
            raise ImportProblem(
                f"{path}: cannot tell which class each probability position is (position {a} is the argmax for"
                f" both {mapping[a]!r} and {p!r}); give the order with --classes"
            )
    if len(mapping) != k or len(set(mapping.values())) != k:
        raise ImportProblem(
            f"{path}: cannot tell which class each of the {k} probability positions is from the predictions;"
            " give the order with --classes"
        )
    return [mapping[i] for i in range(k)]



def merged_classes(classes: list[str] | None, built: list[tuple[Path, Examples]]) -> list[str]:
    """One class order for several files: the given one; else the probability columns' order (every
    file with probabilities must have the same classes); else every class seen, in natural order."""
    if classes is not None:
        return [str(c) for c in classes]
    with_probs = [(p, e) for p, e in built if e.probs is not None]
    if with_probs and len(with_probs) != len(built):
        a = next(p for p, e in built if e.probs is not None)
        b = next(p for p, e in built if e.probs is None)
        raise ImportProblem(f"{a.name} has class probabilities and {b.name} has none: one project needs"
                            " probabilities in every file or in none")
    if with_probs:
        first_path, first = with_probs[0]
        for p, e in with_probs[1:]:
            if set(e.classes) != set(first.classes):
                raise ImportProblem(
                    f"{p.name} and {first_path.name} have probabilities for different classes"
                    f" ({', '.join(sorted(set(e.classes) ^ set(first.classes))[:5])} in one only)")
        return list(first.classes)
    return sorted({c for _, e in built for c in e.classes}, key=_natural_key)


def concat(parts: list[tuple[Path, Examples]]) -> Examples:
    """The examples of several files as one, in file order; an id in two files is refused."""
    ids = pa.concat_arrays([e.ids.cast(pa.string()) for _, e in parts])
    if len(pc.unique(ids)) != len(ids):
        where: dict[str, Path] = {}
        for p, e in parts:
            for v in e.ids.to_pylist():
                if v in where:
                    raise ImportProblem(f"the id {v!r} is in both {where[v].name} and {p.name}: ids must be"
                                        " unique across the files of a project")
                where[v] = p
    classes = parts[0][1].classes
    first = parts[0][1]

    def codes(arr: pa.DictionaryArray) -> np.ndarray:
        return arr.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)

    def texts(get) -> pa.Array | None:
        cols = [get(e) for _, e in parts]
        if all(c is None for c in cols):
            return None
        return pa.concat_arrays([c.cast(pa.string()) if c is not None else pa.nulls(len(e.ids), pa.string())
                                 for c, (_, e) in zip(cols, parts)])

    probs = None
    if first.probs is not None:
        probs = ProbColumns([sum((e.probs.columns[k] for _, e in parts), []) for k in range(len(classes))])
    return Examples(
        ids=ids,
        split=_dictionary(np.concatenate([codes(e.split) for _, e in parts]), list(SPLITS)),
        path=texts(lambda e: e.path), text=texts(lambda e: e.text),
        label=_dictionary(np.concatenate([codes(e.label) for _, e in parts]), classes),
        pred=_dictionary(np.concatenate([codes(e.pred) for _, e in parts]), classes),
        confidence=np.concatenate([e.confidence for _, e in parts]),
        p_label=np.concatenate([e.p_label for _, e in parts]),
        loss=np.concatenate([e.loss for _, e in parts]),
        wrong=np.concatenate([e.wrong for _, e in parts]),
        meta=None if all(e.meta is None for _, e in parts) else
        sum((e.meta if e.meta is not None else [None] * len(e.ids) for _, e in parts), []),
        classes=classes, probs=probs, unlabeled=sum(e.unlabeled for _, e in parts),
        warnings=[f"{p.name}: {w}" for p, e in parts for w in e.warnings],
    )


