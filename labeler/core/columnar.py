"""Imported examples stored column-wise inside the project's SQLite file.

Examples do not change between imports, and every view of them (queues, tallies, the confusion
matrix) reads whole columns. So they are kept as Arrow IPC chunks in an SQLite table, written in
the import's transaction: a million rows write in a fraction of a second and load in less, where a
row-per-example table takes seconds each way. Decisions, events, the taxonomy and sessions stay
ordinary row tables: they are what changes, one transaction per key press.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

CHUNK_ROWS = 1 << 17
_OPTIONS = ipc.IpcWriteOptions(compression="lz4")


def to_blobs(table: pa.Table, chunk_rows: int = CHUNK_ROWS) -> list[bytes]:
    """``table`` as IPC streams of at most ``chunk_rows`` rows each."""
    out = []
    for start in range(0, max(table.num_rows, 1), chunk_rows):
        part = table.slice(start, chunk_rows)
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, table.schema, options=_OPTIONS) as w:
            w.write_table(part)
        out.append(sink.getvalue().to_pybytes())
    return out


def from_blobs(blobs: list[bytes]) -> pa.Table:
    tables = [ipc.open_stream(pa.py_buffer(b)).read_all() for b in blobs]
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def write(conn: sqlite3.Connection, name: str, table: pa.Table) -> None:
    """Replace the stored table ``name`` (inside the caller's transaction)."""
    conn.execute("DELETE FROM columnar WHERE name = ?", (name,))
    conn.executemany(
        "INSERT INTO columnar(name, chunk, data) VALUES (?, ?, ?)",
        [(name, i, b) for i, b in enumerate(to_blobs(table))],
    )


def read(conn: sqlite3.Connection, name: str) -> pa.Table | None:
    blobs = [r[0] for r in conn.execute("SELECT data FROM columnar WHERE name = ? ORDER BY chunk", (name,))]
    return from_blobs(blobs) if blobs else None


def matrix_table(probs: np.ndarray) -> pa.Table:
    """An n x K float32 matrix as a one-column table of fixed-size lists."""
    flat = pa.array(np.ascontiguousarray(probs, dtype=np.float32).ravel())
    return pa.table({"p": pa.FixedSizeListArray.from_arrays(flat, probs.shape[1])})


def table_matrix(table: pa.Table) -> np.ndarray:
    col = table.column("p").combine_chunks()
    k = col.type.list_size
    return col.values.to_numpy(zero_copy_only=False).reshape(-1, k)
