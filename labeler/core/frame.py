"""The examples of a project as one in-memory table (pandas), for queues and statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .store import Project

from .splits import SPLITS
COLUMNS = ("id", "row", "split", "label", "pred", "confidence", "loss", "wrong", "quality", "flagged", "suggested")


def _objects(col: pa.ChunkedArray) -> np.ndarray:
    """A text column as plain Python objects with None for "no value". (pandas 3 would infer a
    string dtype and turn None into NaN, and an unlabeled example's label would read as nan.)"""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if not pa.types.is_dictionary(col.type):  # (a million None from to_pylist take 50 ms)
        col = pc.dictionary_encode(col)
    if pa.types.is_dictionary(col.type):
        words = np.array(col.dictionary.to_pylist() + [None], dtype=object)
        idx = col.indices.fill_null(len(col.dictionary)).to_numpy(zero_copy_only=False)
        return words[idx]
    return np.array(col.to_pylist(), dtype=object)


def labeled(frame: pd.DataFrame) -> np.ndarray:
    """Where the example has a given label (from the class codes where :func:`load` kept them:
    asking a million Python objects whether they are None took 40 ms)."""
    if "label_i" in frame.columns:
        return frame["label_i"].to_numpy() >= 0
    return frame["label"].notna().to_numpy()


def load(project: Project) -> pd.DataFrame:
    table = project.examples_table()
    data = {}
    for name in COLUMNS:
        col = table.column(name)
        if name == "id":
            # Arrow-backed strings: a million ids without a million Python objects
            data[name] = col.to_pandas()
        elif name == "split":
            # categorical: comparing a million split names as strings took 60 ms per comparison
            data[name] = pd.Categorical.from_codes(_class_indices(col, list(SPLITS)), categories=list(SPLITS))
        elif name in ("label", "pred", "suggested", "flagged"):  # None where there is no value
            data[name] = pd.Series(_objects(col), dtype=object)
        elif name == "wrong":
            data[name] = col.to_numpy(zero_copy_only=False).astype(bool)
        else:
            data[name] = col.to_numpy(zero_copy_only=False).astype(np.float64 if name != "row" else np.int64)
    classes = project.classes
    for name in ("label", "pred"):
        data[f"{name}_i"] = _class_indices(table.column(name), classes)
    # copy=False keeps one block per column: consolidating them copied 120 ms worth at 1M rows
    frame = pd.DataFrame({k: v if isinstance(v, pd.Series) else pd.Series(v) for k, v in data.items()}, copy=False)
    frame.attrs["classes"] = classes
    return frame


def _class_indices(col: pa.ChunkedArray, classes: list[str]) -> np.ndarray:
    """Each value's index in ``classes`` (-1: none), from the dictionary codes: no string lookups."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if not pa.types.is_dictionary(col.type):
        col = pc.dictionary_encode(col)
    where = pc.index_in(col.dictionary.cast(pa.string()), value_set=pa.array(classes, pa.string()))
    lookup = np.append(where.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32), -1)
    codes = col.indices.fill_null(len(col.dictionary)).to_numpy(zero_copy_only=False)
    return lookup[codes]
