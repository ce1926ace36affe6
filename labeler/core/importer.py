"""Load a predictions file (CSV/TSV, gzipped CSV, Parquet, JSONL) into a project, all or nothing.

Values that identify things (ids, labels, paths) are read as exact strings: ``000123`` stays
``000123`` and a class called ``NA`` is a class. Anything wrong with the file is an
:class:`ImportProblem` naming the file, the line or column and what is wrong; nothing is written then.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import columns as colmod
from . import columnar, fileops, files, formats, mapping
from . import store as store_mod
from .formats import ArrowColumns, Table, preview, read_table  # noqa: F401  (preview: for the window)
from .probs import ProbColumns
from .problems import ImportCancelled, ImportProblem, MissingColumns
from .store import TOPK, Project, ProjectError, default_project_path, now_iso

SUM_TOLERANCE = 1e-3
SPLITS = ("train", "dev", "test")
SPLIT_VALUES = {
    "train": "train", "training": "train", "trn": "train",
    "dev": "dev", "val": "dev", "valid": "dev", "validation": "dev", "development": "dev",
    "test": "test", "testing": "test", "tst": "test",
}

Progress = Callable[[str, float], None]



@dataclass
class ImportSummary:
    project: Path
    source: Path
    rows: int
    splits: dict[str, int]
    classes: list[str]
    unlabeled: int = 0
    added: int = 0
    updated: int = 0
    removed: list[str] = field(default_factory=list)
    removed_with_reviews: int = 0
    warnings: list[str] = field(default_factory=list)
    missing_files: int | None = None  # None: not checked (a very large file)
    missing_examples: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # every file the project holds, described

    def lines(self) -> list[str]:
        out = [
            f"Imported {self.rows} examples from {self.source} into {self.project}",
            "  splits: " + ", ".join(f"{k} {v}" for k, v in self.splits.items()),
            f"  classes ({len(self.classes)}): " + ", ".join(self.classes[:20]) + (" ..." if len(self.classes) > 20 else ""),
        ]
        if self.updated:
            out.append(f"  {self.added} new, {self.updated} updated (their reviews kept)")
        if self.unlabeled:
            out.append(f"  {self.unlabeled} examples have no label (empty label cell): kept as unlabeled")
        if self.removed:
            shown = ", ".join(self.removed[:10]) + (" ..." if len(self.removed) > 10 else "")
            out.append(
                f"  {len(self.removed)} examples of the previous import are gone ({shown});"
                f" {self.removed_with_reviews} of them had reviews, which are kept"
            )
        if self.missing_files:
            shown = ", ".join(self.missing_examples[:3])
            out.append(f"  {self.missing_files} example files do not exist (e.g. {shown}): they show a"
                       " placeholder and can still be reviewed")
        elif self.missing_files is None:
            out.append(f"  example files not checked at import ({self.rows} rows): `labeler summary` counts missing ones")
        if len(self.files) > 1:
            out.append(f"  the project holds {len(self.files)} files:")
            out += [f"    {f}" for f in self.files]
        out += [f"  warning: {w}" for w in self.warnings]
        return out


# --------------------------------------------------------------------------------------------
# building examples


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
) -> Examples:
    """Check ``table`` and derive what the project stores. The ids are checked on a second thread
    while this one reads the probabilities (Arrow and numpy let go of the GIL): their problems are
    still reported in the order the checks come in."""
    ids = _string_array(table.frame, cmap.roles["id"]) if "id" in cmap.roles else None
    with ThreadPoolExecutor(2, thread_name_prefix="labeler-check") as pool:
        checked = pool.submit(_check_ids, table, ids) if ids is not None else None
        encoded = {role: pool.submit(lambda c: _encode(_string_array(table.frame, c)), cmap.roles[role])
                   for role in ("pred", "split") if role in cmap.roles}
        reached_ids = threading.Event()
        try:
            ex = _build_examples(table, cmap, ids, reached_ids, encoded, classes=classes, split=split)
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
    if "pred" not in roles and probs is None:
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
    if pred_codes is None:
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
    wrong = labeled & (label_idx != pred_idx)

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


# --------------------------------------------------------------------------------------------
# writing


def import_predictions(
    source: str | os.PathLike | list,
    project_path: str | os.PathLike | None = None,
    *,
    columns: dict[str, str] | None = None,
    classes: list[str] | None = None,
    split: str | None = None,
    train_file: str | os.PathLike | None = None,
    add: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ImportSummary:
    """Read ``source`` (one file or several) and store the examples in the project (created if
    needed), in one transaction.

    A project holds every file imported into it: importing a file it holds replaces that file's
    examples (reviews, keyed by id, are kept), importing another adds it (``add`` insists the project
    exists). A file is read with the columns and split recorded at its last import unless ``columns``
    or ``split`` are given, which then replace the record (the summary says so)."""
    sources = [Path(s).resolve() for s in (source if isinstance(source, (list, tuple)) else [source])]
    if not sources:
        raise ImportProblem("no predictions file to import")
    project_path = Path(project_path) if project_path else default_project_path(sources[0])
    report = progress or (lambda stage, frac: None)

    def check_cancel():
        if cancel is not None and cancel.is_set():
            raise ImportCancelled()

    if add and not project_path.exists():
        raise ImportProblem(f"--add: there is no project at {project_path} to add {sources[0].name} to;"
                            " import without --add first")
    twice = [s.name for s in sources if sum(mapping.same_path(s, t) for t in sources) > 1]
    if twice:
        raise ImportProblem(f"{twice[0]} is named twice")
    recorded = _recorded(project_path)
    # every file the project holds is read again (its examples are stored with the new ones), the
    # files named here with the options given now
    jobs: list[_Job] = []
    for m in recorded:
        if not any(mapping.same_path(m.path, s) for s in sources):
            jobs.append(_Job(Path(m.path), m, dict(m.given), m.split, named=False))
    for s in sources:
        m = mapping.find(recorded, s)
        jobs.append(_Job(s, m, dict(columns) if columns else (dict(m.given) if m else {}),
                         split if split is not None else (m.split if m else split_from_name(s)), named=True))
    notes: list[str] = []
    # the files named now first: their problems are the ones to report
    order = sorted(range(len(jobs)), key=lambda i: not jobs[i].named)
    read: list = [None] * len(jobs)
    built: list = [None] * len(jobs)
    for n, i in enumerate(order):
        job = jobs[i]
        report("reading", 0.3 * n / len(jobs))
        if not job.path.exists():
            raise ImportProblem(
                f"{job.path}: no such file; the project {project_path.name} holds it (imported before), so it is"
                " read again with every import. Put it back, or make a new project without it")
        table, cmap = _read_one(job, notes)
        read[i] = (job, table, cmap)
        built[i] = build_examples(table, cmap, classes=classes, split=job.split)
        check_cancel()
    report("checking", 0.3)
    if not add:
        read, built = _replacements(read, built, notes)
    jobs = [j for j, _, _ in read]
    several = len(jobs) > 1
    if several:
        merged = _merged_classes(classes, [(j.path, e) for (j, _, _), e in zip(read, built)])
        built = [e if e.classes == merged else build_examples(t, c, classes=merged, split=j.split)
                 for (j, t, c), e in zip(read, built)]
    check_cancel()
    records = []
    for (job, table, cmap), ex in zip(read, built):
        prefix = ""
        if "id" not in cmap.roles:
            held = job.mapping or job.replaces
            prefix = held.id_prefix if held is not None else (f"{job.path.name}:" if several else "")
            if prefix:
                ex.ids = pc.binary_join_element_wise(prefix, ex.ids, "")
        if several and ex.path is not None and job.path.parent != jobs[0].path.parent:
            ex.path = _absolute(ex.path, job.path.parent)
        counts = np.bincount(ex.split.indices.to_numpy(zero_copy_only=False), minlength=3).tolist()
        records.append(mapping.FileMapping(
            path=str(job.path), kind=formats.kind_of(job.path).name, gz=formats.kind_of(job.path).gz,
            delimiter=table.delimiter, roles=dict(cmap.roles), prob_columns=dict(cmap.prob_columns),
            given=job.given, split=job.split, id_prefix=prefix, rows=len(ex.ids),
            splits={sp: c for sp, c in zip(SPLITS, counts) if c},
            imported_at=now_iso() if job.named else job.mapping.imported_at,
        ))
    ex = built[0] if len(built) == 1 else _concat([(j.path, e) for (j, _, _), e in zip(read, built)])
    report("writing", 0.55)
    summary = _write(project_path, jobs[0].path, ex, train_file, report, check_cancel, records)
    summary.source = sources[0] if len(sources) == 1 else sources[0].parent
    summary.files = [r.describe() for r in records]
    summary.warnings[:0] = notes
    return summary


def split_from_name(path: Path) -> str | None:
    """The split a file's name says, for a file without a split column: ``train.csv``,
    ``preds_val.parquet`` and ``test-2024.jsonl`` say train, dev and test; ``preds.csv`` says nothing."""
    stem = path.name.split(".", 1)[0].lower()
    found = {SPLIT_VALUES[w] for w in re.split(r"[\s_\-]+", stem) if w in SPLIT_VALUES}
    return found.pop() if len(found) == 1 else None


@dataclass
class _Job:
    """One file to read in an import: its record from an earlier import, the options to read it with."""

    path: Path
    mapping: mapping.FileMapping | None
    given: dict[str, str]
    split: str | None
    named: bool  # named in this import (else: held by the project, read again as it was)
    replaces: mapping.FileMapping | None = None  # a file of the project this one takes the place of


def _replacements(read: list, built: list[Examples], notes: list[str]) -> tuple[list, list[Examples]]:
    """A new file holding mostly the same examples as a file of the project (the same ids, or the
    same paths or texts where there are no ids) is that file's new version (a new model's
    predictions): it takes its place instead of joining it."""
    dropped: set[int] = set()
    for i, ((job, _, cmap), ex) in enumerate(zip(read, built)):
        if not job.named or job.mapping is not None:
            continue
        for j, ((old, _, old_cmap), old_ex) in enumerate(zip(read, built)):
            if old.named or j in dropped:
                continue
            a, b = _keys(ex, cmap), _keys(old_ex, old_cmap)
            if a is None or b is None or not len(a) or not len(b):
                continue
            common = pc.sum(pc.is_in(a, value_set=b)).as_py() or 0
            if 2 * common >= min(len(a), len(b)):
                dropped.add(j)
                job.replaces = old.mapping
                notes.append(f"{job.path.name} replaces {old.path.name} in the project ({common} of its"
                             f" {len(b)} examples are in both); reviews are kept by id")
                break
    keep = [k for k in range(len(read)) if k not in dropped]
    return [read[k] for k in keep], [built[k] for k in keep]


def _keys(ex: Examples, cmap: colmod.ColumnMap) -> pa.Array | None:
    """What identifies the examples of a file: its ids where it has an id column, else its paths or
    texts."""
    if "id" in cmap.roles:
        return ex.ids
    return ex.path if ex.path is not None else ex.text


def _recorded(project_path: Path) -> list[mapping.FileMapping]:
    """The files a project holds; for a project made before files were recorded, its one source."""
    if not project_path.exists():
        return []
    with contextlib.suppress(ProjectError):
        with Project.open(project_path, readonly=True) as old:
            files = mapping.files_of(old)
            if files:
                return files
            source = old.meta("source")
            if source:  # an older project: one file, the columns the user gave kept apart
                given = old.meta("columns") or {}
                return [mapping.FileMapping(path=source, kind="", given=dict(given))]
    return []


def _read_one(job: _Job, notes: list[str]) -> tuple[Table, colmod.ColumnMap]:
    """Read one file and find its columns: the options given now, else those recorded."""
    source, overrides = job.path, job.given
    if job.named and job.mapping is not None and job.mapping.given != overrides:
        was = ", ".join(f"{r}={c}" for r, c in job.mapping.given.items()) or "found by name"
        now = ", ".join(f"{r}={c}" for r, c in overrides.items()) or "found by name"
        notes.append(f"{source.name}: the column mapping recorded at its last import ({was}) is replaced ({now})")
    elif job.named and job.mapping is not None and overrides:
        notes.append(f"{source.name}: read with the columns recorded at its last import ("
                     + ", ".join(f"{r}={c}" for r, c in overrides.items()) + ")")

    def float_cols(header: list[str]) -> set[str]:
        try:
            cmap = colmod.detect(header, overrides)
        except ValueError as e:
            raise ImportProblem(f"{source}: {e}") from None
        out = set(cmap.prob_columns.values())
        if "confidence" in cmap.roles:
            out.add(cmap.roles["confidence"])
        return out

    delimiter = job.mapping.delimiter if job.mapping is not None else None
    table = read_table(source, float_columns=float_cols, delimiter=delimiter)
    try:
        cmap = colmod.detect(table.columns, overrides)
    except ValueError as e:
        raise ImportProblem(f"{source}: {e}") from None
    if "probs" in cmap.roles and "probs" not in overrides:
        first = table.frame[cmap.roles["probs"]].iloc[0]
        if not isinstance(first, (list, np.ndarray)) and not (isinstance(first, str) and first.strip().startswith("[")):
            del cmap.roles["probs"]  # a column called "scores" that holds no lists is metadata
            cmap = colmod.ColumnMap(cmap.roles, colmod.detect(table.columns, overrides).prob_columns)
    return table, cmap


def _merged_classes(classes: list[str] | None, built: list[tuple[Path, Examples]]) -> list[str]:
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


def _absolute(paths: pa.Array, folder: Path) -> pa.Array:
    """Relative paths made absolute against ``folder`` (a file beside others in another folder)."""
    return pa.array([p if not p or os.path.isabs(os.path.expanduser(p)) else os.path.join(str(folder), p)
                     for p in paths.to_pylist()], pa.string())


def _concat(parts: list[tuple[Path, Examples]]) -> Examples:
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


def examples_table(ex: Examples, *, with_topk: bool = False) -> pa.Table:
    """The examples as the Arrow table the project stores (see :mod:`labeler.core.columnar`).
    ``with_topk``: add the top-k classes and probabilities, for when the full matrix is not kept."""
    n = len(ex.ids)
    columns = {
        "id": ex.ids,
        "split": ex.split,
        "path": ex.path if ex.path is not None else pa.nulls(n, pa.string()),
        "text": ex.text if ex.text is not None else pa.nulls(n, pa.string()),
        "label": ex.label,
        "pred": ex.pred,
        "confidence": pa.array(ex.confidence, pa.float64(), from_pandas=True),
        "p_label": pa.array(ex.p_label, pa.float64(), from_pandas=True),
        "wrong": pa.array(ex.wrong, pa.bool_()),
        "meta": pa.array(ex.meta, pa.string()) if ex.meta is not None else pa.nulls(n, pa.string()),
    }
    if ex.probs is None:  # (with probabilities it is -log p(given label): derived when read)
        columns["loss"] = pa.array(ex.loss, pa.float64(), from_pandas=True)
    if with_topk and ex.probs is not None:
        top, top_p = _topk(ex.probs.matrix(), TOPK)
        columns["topk_idx"] = _fixed_lists(top.astype(np.int32), pa.int32())
        columns["topk_p"] = _fixed_lists(top_p, pa.float64())
    return pa.table(columns)


def _topk(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` largest probabilities and their columns, best first; ties go to the lower
    column (as a stable sort of the whole row would order them)."""
    k = min(k, probs.shape[1])
    if k < probs.shape[1]:
        # the k-th largest value of each row; every column above it is in, and at it, the lowest first
        kth = -np.partition(-probs, k - 1, axis=1)[:, k - 1 : k]
        above = probs > kth
        at = (probs == kth) & (np.cumsum(probs == kth, axis=1) <= k - above.sum(axis=1, keepdims=True))
        cand = np.nonzero(above | at)[1].reshape(len(probs), k)
    else:
        cand = np.broadcast_to(np.arange(k), probs.shape)
    cand_p = np.take_along_axis(probs, cand, axis=1)
    order = np.argsort(-cand_p, axis=1, kind="stable")  # candidates are in column order: ties stay so
    top = np.take_along_axis(cand, order, axis=1)
    return top, np.take_along_axis(probs, top, axis=1)
def _scores_now(ex: Examples) -> pa.Table:
    """Label-quality scores of every labeled example, per split, as the project stores them."""
    from .ranking import score_split

    n = len(ex.ids)
    labels = ex.label.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    splits = ex.split.indices.to_numpy(zero_copy_only=False)
    quality = np.full(n, np.nan)
    flagged = np.zeros(n, dtype=bool)
    suggested = np.full(n, -1, dtype=np.int64)
    for s in range(len(SPLITS)):
        rows = np.flatnonzero((splits == s) & (labels >= 0))
        if len(rows):
            q, f, sug, _ = score_split(labels[rows], ex.probs.matrix()[rows])
            quality[rows], flagged[rows], suggested[rows] = q, f, sug
    ranked = labels >= 0
    return pa.table({
        "quality": pa.array(quality, pa.float64(), from_pandas=True),
        "flagged": pa.array(flagged, pa.bool_(), mask=~ranked),
        "suggested": _dictionary(np.where(ranked, suggested, -1), ex.classes).cast(pa.string()),
    })


def _fixed_lists(m: np.ndarray, type_: pa.DataType) -> pa.Array:
    values = pa.array(np.ascontiguousarray(m).ravel(), type_)
    return pa.FixedSizeListArray.from_arrays(values, m.shape[1])


# Larger files are not checked for missing example files at import (about 1 s per million paths).
CHECK_FILES_UP_TO = 200_000

# Above this size the full probability matrix is not kept (top-k and p(given) are): 1,000 classes
# must not make a project of gigabytes. Ranking then needs the predictions file again.
MAX_STORED_PROBS = 256 * 2**20


@dataclass
class _Target:
    """Where an import writes: the project itself, or for a first import a scratch file renamed into
    place at the end, while the final name's lock is held."""

    project: Project
    path: Path
    new_file: bool
    final_lock: int | None


def _open_target(project_path: Path) -> _Target:
    new_file = not project_path.exists()
    final_lock = None
    if new_file:
        # Hold the final name's lock while building, so two first imports cannot both rename a new
        # project into place (the second would replace one the first already writes to).
        final_lock = fileops.acquire_lock(project_path)
        if project_path.exists():  # another import finished first: update its project instead
            fileops.release_lock(final_lock)
            final_lock, new_file = None, False
    target = fileops.import_scratch_path(project_path) if new_file else project_path
    if new_file:
        fileops.clear_stale_imports(project_path)
        fileops.remove_db_files(target)  # a dead import with our pid: its WAL must not meet a new file
    try:
        project = Project.create(target, scratch=True) if new_file else Project.open(project_path)
    except BaseException:
        _release_final_lock(final_lock, project_path)
        raise
    return _Target(project, target, new_file, final_lock)


def _release_final_lock(final_lock: int | None, project_path: Path) -> None:
    if final_lock is not None:
        # leave nothing behind: a later writer (and a refused one, which re-checks that the
        # project exists once it has the lock) makes its own lock file
        fileops.release_lock(final_lock)
        fileops.lock_path(project_path).unlink(missing_ok=True)


def _finish_target(t: _Target, project_path: Path, *, failed: bool) -> None:
    """Close ``t``; a failed first import leaves no file behind."""
    try:
        if failed:
            t.project.close()
            if t.new_file:
                fileops.remove_db_files(t.path)
    finally:
        if t.new_file:
            fileops.lock_path(t.path).unlink(missing_ok=True)
        _release_final_lock(t.final_lock, project_path)


def _write(project_path, source, ex: Examples, train_file, report, check_cancel,
           records: list[mapping.FileMapping]) -> ImportSummary:
    # Work handed to other threads (Arrow encoding, the file listing, an early flush: all let go of
    # the GIL) while this one writes. A pool per import: no threads outlive it, none cross a fork.
    with ThreadPoolExecutor(2, thread_name_prefix="labeler-import") as pool:
        return _write_using(pool, project_path, source, ex, train_file, report, check_cancel, records)


def _write_using(pool: ThreadPoolExecutor, project_path, source, ex: Examples, train_file, report, check_cancel,
                 records: list[mapping.FileMapping]) -> ImportSummary:
    n = len(ex.ids)
    keep_probs = ex.probs is not None and ex.probs.size * 8 <= MAX_STORED_PROBS
    # encoded on a second thread while the project is made and the matrix written
    encoding = pool.submit(columnar.encode, examples_table(ex, with_topk=not keep_probs))
    listing = None
    if ex.path is not None and n <= CHECK_FILES_UP_TO:
        listing = pool.submit(files.missing_files, source.parent, ex.path)
    scores = None
    if ex.probs is not None and not keep_probs:
        # the matrix will not be kept, so rank now, while it is here
        report("ranking", 0.5)
        scores = _scores_now(ex)
        check_cancel()
    target = _open_target(project_path)
    project, new_file = target.project, target.new_file
    summary = ImportSummary(
        project=project_path, source=source, rows=n,
        splits={s: c for s, c in zip(SPLITS, np.bincount(ex.split.indices.to_numpy(zero_copy_only=False), minlength=3).tolist()) if c},
        classes=ex.classes, unlabeled=ex.unlabeled, warnings=list(ex.warnings),
    )
    if ex.path is None:
        summary.missing_files = 0
    if scores is not None:
        summary.warnings.append(
            f"{ex.probs.shape[1]} classes x {n} rows: only the top-{TOPK} probabilities and the given label's"
            " are kept in the project; the label-quality ranking was computed now"
        )
    try:
        with project.transaction() as c:
            with project.intact():
                old = columnar.read(c, "examples")
                kept = _kept_scores(c, project, old, ex, summary) if scores is None else None
            if old is not None and old.num_rows:
                old_ids = set(old.column("id").to_pylist())
                new_ids = set(ex.ids.to_pylist())
                removed = sorted(old_ids - new_ids)
                summary.removed = removed
                summary.updated = len(old_ids & new_ids)
                if removed:
                    reviewed = {r[0] for r in c.execute("SELECT example_id FROM decisions")}
                    summary.removed_with_reviews = len(reviewed & set(removed))
            summary.added = n - summary.updated

            def chunk_written(done: int) -> None:
                report("writing", 0.55 + 0.4 * done / max(n, 1))
                check_cancel()

            flushing = None
            if keep_probs:
                k = ex.probs.shape[1]
                columnar.write_matrix(c, "probs", ex.probs.blocks(columnar.matrix_chunk_rows(k)))
                if new_file:  # the bulk of a new project is on its way to the disk while the rest is written
                    flushing = pool.submit(fileops.sync, target.path, data_only=True)
            else:
                columnar.delete(c, "probs")
            columnar.write_encoded(c, "examples", encoding.result(), progress=chunk_written)
            if listing is not None:
                missing = listing.result()
                summary.missing_files = missing.true_count
                if summary.missing_files:
                    summary.missing_examples = ex.path.filter(missing).slice(0, 3).to_pylist()
            if scores is not None:
                columnar.write(c, "scores", scores)
                project.set_meta("ranking", {s: "cleanlab" for s in summary.splits}, conn=c)
            elif kept is not None:  # the rankings of the examples whose predictions did not change
                columnar.write(c, "scores", kept[0])
                project.set_meta("ranking", kept[1], conn=c)
            else:
                columnar.delete(c, "scores")  # rankings belong to the previous predictions
                project.set_meta("ranking", {}, conn=c)
            project.set_meta("classes", ex.classes, conn=c)
            project.set_meta("source", str(source), conn=c)
            project.set_meta("base_dir", str(source.parent), conn=c)
            project.set_meta("has_probs", ex.probs is not None, conn=c)
            project.set_meta("probs_layout", store_mod.PROBS_LAYOUT if keep_probs else "", conn=c)
            project.set_meta("columns", records[0].given, conn=c)  # (read by projects of earlier versions)
            project.set_meta("files", [r.to_json() for r in records], conn=c)
            registered = project.meta("train_file")
            if train_file is not None:
                project.set_meta("train_file", str(Path(train_file).resolve()), conn=c)
            elif registered is None and mapping.holding(records, "train"):
                # the training set is the file that holds the train split (unless one was named)
                project.set_meta("train_file", mapping.holding(records, "train")[0].path, conn=c)
            history = list(project.meta("imports", []))
            history.append({"source": ", ".join(r.path for r in records), "rows": n, "at": now_iso()})
            project.set_meta("imports", history, conn=c)
        if flushing is not None:
            flushing.result()
        if new_file:
            project.seal()
        else:
            project.close()
        if new_file:
            os.replace(target.path, project_path)
            fileops.sync(project_path.parent, strict=False)  # the rename itself survives a power cut
    except BaseException:
        _finish_target(target, project_path, failed=True)
        raise
    _finish_target(target, project_path, failed=False)
    report("done", 1.0)
    return summary


def _kept_scores(c, project: Project, old: pa.Table | None, ex: Examples,
                 summary: ImportSummary) -> tuple[pa.Table, dict] | None:
    """The stored label-quality scores carried over to the examples a re-import leaves as they were
    (same id, split, given label, prediction, confidence and p(given label)); None when nothing is
    kept. Examples that changed lose theirs, and the summary says how many."""
    ranking = project.meta("ranking", {}) or {}
    if old is None or not old.num_rows or not ranking:
        return None
    old_scores = columnar.read(c, "scores")
    if old_scores is None or old_scores.num_rows != old.num_rows:
        return None
    at = pd.Index(old.column("id").to_pylist()).get_indexer(ex.ids.to_pylist())
    found = at >= 0
    take = pa.array(np.where(found, at, 0))

    def same(name: str, new: pa.Array) -> np.ndarray:
        before = old.column(name).take(take)
        if pa.types.is_dictionary(before.type):
            before = before.cast(before.type.value_type)
        if pa.types.is_dictionary(new.type):
            new = new.cast(new.type.value_type)
        eq = pc.fill_null(pc.equal(before, new), False)
        both_null = pc.and_(pc.is_null(before), pc.is_null(new))
        return pc.or_(eq, both_null).to_numpy(zero_copy_only=False)

    def same_float(name: str, new: np.ndarray) -> np.ndarray:
        before = old.column(name).take(take).to_numpy(zero_copy_only=False).astype(np.float64)
        return (before == new) | (np.isnan(before) & np.isnan(new))

    unchanged = found & same("split", ex.split) & same("label", ex.label) & same("pred", ex.pred)
    unchanged &= same_float("confidence", ex.confidence) & same_float("p_label", ex.p_label)
    quality = old_scores.column("quality").take(take)
    had = pc.is_valid(quality).to_numpy(zero_copy_only=False) & found
    lost = int((had & ~unchanged).sum())
    if lost:
        summary.warnings.append(
            f"{lost} examples whose predictions or labels changed lost their label-quality score; the other"
            f" {int((had & unchanged).sum())} keep theirs (`labeler rank` ranks the changed ones again)")
    if not (had & unchanged).any():
        return None
    mask = pa.array(~unchanged)
    table = pa.table({name: pc.if_else(mask, pa.nulls(len(mask), col.type), col.take(take))
                      for name, col in zip(old_scores.column_names, old_scores.columns)})
    splits = ex.split.cast(pa.string()).to_numpy(zero_copy_only=False)
    keep = {s: m for s, m in ranking.items() if (had & unchanged & (splits == s)).any()}
    return table, keep
