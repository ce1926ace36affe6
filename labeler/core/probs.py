"""Class probabilities of an import held as the reader's column chunks (see :class:`ProbColumns`)."""

from __future__ import annotations

import numpy as np


class ProbColumns:
    """n x K class probabilities as K float64 columns, each a list of chunks: numpy views of the
    reader's Arrow buffers. Checks and derived figures go column by column, and the project's
    blocks are cut from the columns directly: no n x K copy is made unless :meth:`matrix` is asked
    for (ranking at import, top-k of very many classes)."""

    REFILL_BYTES = 8 << 20

    def __init__(self, columns: list[list[np.ndarray]]):
        self.columns = columns
        self.starts = [np.cumsum([0] + [len(c) for c in chunks]) for chunks in columns]
        self.shape = (int(self.starts[0][-1]) if columns else 0, len(columns))
        self._matrix: np.ndarray | None = None

    @classmethod
    def from_matrix(cls, m: np.ndarray) -> "ProbColumns":
        m = np.asfortranarray(m, dtype=np.float64)
        out = cls([[m[:, k]] for k in range(m.shape[1])])
        out._matrix = m
        return out

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    def reorder(self, order: list[int]) -> "ProbColumns":
        return ProbColumns([self.columns[j] for j in order])

    def chunks(self, k: int):
        """(first row, values) of each chunk of column ``k``."""
        return zip(self.starts[k][:-1].tolist(), self.columns[k])

    def _fill(self, out: np.ndarray, start: int, stop: int) -> None:
        """Rows ``start:stop`` into ``out``, a K x (stop - start) array."""
        for k, chunks in enumerate(self.columns):
            st = self.starts[k]
            first = int(np.searchsorted(st, start, side="right")) - 1
            at = start
            for j in range(first, len(chunks)):
                if at >= stop:
                    break
                part = chunks[j][at - st[j] : stop - st[j]]
                out[k, at - start : at - start + len(part)] = part
                at += len(part)

    def blocks(self, rows: int):
        """Rows in runs of ``rows``, each a K x rows array. They are views of one buffer, refilled
        a few MB at a time: use each before asking for the next."""
        n, k = self.shape
        per = max(1, self.REFILL_BYTES // (8 * k * rows)) * rows  # rows per refill: whole runs
        buf = np.empty((k, min(per, n)))
        for a in range(0, n, per):
            b = min(a + per, n)
            self._fill(buf[:, : b - a], a, b)
            for start in range(0, b - a, rows):
                yield buf[:, start : min(start + rows, b - a)]

    def gather(self, k: int, rows: np.ndarray) -> np.ndarray:
        """Column ``k`` at ``rows`` (ascending)."""
        out = np.empty(len(rows))
        st = self.starts[k]
        cut = np.searchsorted(rows, st)
        for j, chunk in enumerate(self.columns[k]):
            sel = rows[cut[j] : cut[j + 1]]
            out[cut[j] : cut[j + 1]] = chunk[sel - st[j]]
        return out

    def matrix(self) -> np.ndarray:
        """The n x K matrix (column-major), made on first use."""
        if self._matrix is None:
            m = np.empty(self.shape, order="F")
            for k in range(self.shape[1]):
                for start, chunk in self.chunks(k):
                    m[start : start + len(chunk), k] = chunk
            self._matrix = m
        return self._matrix

    def valid(self) -> bool:
        """Every value is a number from 0 to 1 (NaN fails both comparisons)."""
        return all(len(c) == 0 or (c.min() >= 0 and c.max() <= 1) for chunks in self.columns for c in chunks)

    def row_sums(self) -> np.ndarray:
        out = np.zeros(self.shape[0])
        for k in range(self.shape[1]):
            for start, chunk in self.chunks(k):
                out[start : start + len(chunk)] += chunk
        return out

    def row_max(self) -> np.ndarray:
        out = np.full(self.shape[0], -np.inf)
        for k in range(self.shape[1]):
            for start, chunk in self.chunks(k):
                np.maximum(out[start : start + len(chunk)], chunk, out=out[start : start + len(chunk)])
        return out

    def argmax(self) -> np.ndarray:
        """Each row's most probable column (the first, on ties, as numpy's argmax)."""
        best = np.full(self.shape[0], -np.inf)
        arg = np.zeros(self.shape[0], dtype=np.int64)
        for k in range(self.shape[1]):
            for start, chunk in self.chunks(k):
                b = best[start : start + len(chunk)]
                higher = chunk > b
                np.copyto(b, chunk, where=higher)
                np.copyto(arg[start : start + len(chunk)], k, where=higher)
        return arg

    def at_columns(self, cols: np.ndarray) -> np.ndarray:
        """Each row's value in column ``cols[row]`` (0 <= cols < K)."""
        out = np.empty(self.shape[0])
        if self.shape[1] <= 32 and all(np.array_equal(st, self.starts[0]) for st in self.starts):
            # the columns are cut alike (as a reader cuts them): one pass per chunk
            for j, start in enumerate(self.starts[0][:-1].tolist()):
                stop = start + len(self.columns[0][j])
                np.choose(cols[start:stop], [c[j] for c in self.columns], out=out[start:stop])
            return out
        if self.shape[1] <= 64:  # one pass of compares per column
            for k in range(self.shape[1]):
                mine = cols == k
                for start, chunk in self.chunks(k):
                    np.copyto(out[start : start + len(chunk)], chunk, where=mine[start : start + len(chunk)])
            return out
        order = np.argsort(cols, kind="stable")  # many columns: the rows of each, once
        cut = np.searchsorted(cols[order], np.arange(self.shape[1] + 1))
        for k in range(self.shape[1]):
            rows = order[cut[k] : cut[k + 1]]
            out[rows] = self.gather(k, rows)
        return out

