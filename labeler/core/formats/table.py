"""A predictions file as read: every column as exact strings (or float64 where the reader was asked
to parse numbers, lists for list columns), with a way to name a row's line in messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa


class ArrowColumns:
    """The columns of an Arrow table, as pandas Series converted only when first asked for: an
    import reads most columns straight from Arrow and never pays for their conversion."""

    def __init__(self, table: pa.Table):
        self._table = table
        self._series: dict[str, pd.Series] = {}

    def __len__(self) -> int:
        return self._table.num_rows

    def __getitem__(self, key):
        if isinstance(key, list):
            return pd.DataFrame({k: self[k] for k in key})
        if key not in self._series:
            self._series[key] = self._table.column(key).to_pandas()
        return self._series[key]

    def strings(self, name: str) -> pa.Array | None:
        """The column as one Arrow string array, if it is one (exact text, no nulls)."""
        col = self._table.column(name)
        if col.type != pa.string() or col.null_count:
            return None
        return col.combine_chunks()

    def text(self, name: str) -> pa.Array:
        """The column as exact strings by the rule of :mod:`labeler.core.formats.cells`."""
        from .cells import text_array

        return text_array(self._table.column(name))

    def float_chunks(self, name: str) -> list[np.ndarray]:
        """A float64 column's chunks as numpy (views where there are no nulls; null = NaN)."""
        return [c.to_numpy(zero_copy_only=False) for c in self._table.column(name).chunks]

    def floats(self, name: str) -> np.ndarray:
        """A float64 column as numpy (null = NaN)."""
        return np.asarray(self._table.column(name).to_numpy(), dtype=np.float64)


@dataclass
class Table:
    """A predictions file as read: every column as exact strings, or lists for list columns."""

    path: Path
    columns: list[str]
    frame: pd.DataFrame | ArrowColumns
    first_line: int  # the file line of frame row 0, for messages (None-like 0 for Parquet)
    float_columns: set[str] = field(default_factory=set)  # already parsed as float64
    lines: list[int] | None = None  # the file line of every row, where rows and lines do not match
    find_lines: Callable[[], list[int] | None] | None = None  # computes ``lines`` when first needed
    delimiter: str | None = None  # a delimited file's, as read

    def texts(self, column: str) -> list[str]:
        """One column's cells as exact strings (the rule of :mod:`labeler.core.formats.cells`)."""
        if isinstance(self.frame, ArrowColumns):
            return self.frame.text(column).to_pylist()
        from .cells import text_value

        return [text_value(v) for v in self.frame[column].tolist()]

    def where(self, row: int) -> str:
        if self.find_lines is not None:
            self.lines, self.find_lines = self.find_lines(), None
        if self.lines is not None:
            return f"line {self.lines[row]}"
        return f"line {row + self.first_line}" if self.first_line else f"row {row + 1}"


