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
_RAW = ipc.IpcWriteOptions()  # probabilities: random floats do not compress, so do not try


def _blob(part: pa.Table, schema: pa.Schema) -> bytes:
    sink = pa.BufferOutputStream()
    numbers_only = all(pa.types.is_floating(f.type) or pa.types.is_fixed_size_list(f.type) for f in schema)
    with ipc.new_stream(sink, schema, options=_RAW if numbers_only else _OPTIONS) as w:
        w.write_table(part)
    return sink.getvalue().to_pybytes()


def from_blobs(blobs: list[bytes]) -> pa.Table:
    tables = [ipc.open_stream(pa.py_buffer(b)).read_all() for b in blobs]
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def write(conn: sqlite3.Connection, name: str, table: pa.Table, *, progress=None) -> None:
    """Replace the stored table ``name`` (inside the caller's transaction). ``progress(rows_done)``
    is called after each chunk (and may raise to abandon the write)."""
    delete(conn, name)
    done = 0
    for i, start in enumerate(range(0, max(table.num_rows, 1), CHUNK_ROWS)):
        part = table.slice(start, CHUNK_ROWS)
        conn.execute("INSERT INTO columnar(name, chunk, data) VALUES (?, ?, ?)", (name, i, _blob(part, table.schema)))
        done += part.num_rows
        if progress is not None:
            progress(done)


def delete(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("DELETE FROM columnar WHERE name = ?", (name,))


def read(conn: sqlite3.Connection, name: str, columns: list[str] | None = None) -> pa.Table | None:
    blobs = [r[0] for r in conn.execute("SELECT data FROM columnar WHERE name = ? ORDER BY chunk", (name,))]
    if not blobs:
        return None
    table = from_blobs(blobs)
    return table.select(columns) if columns else table


def matrix_table(probs: np.ndarray) -> pa.Table:
    """An n x K float64 matrix as a one-column table of fixed-size lists."""
    flat = pa.array(np.ascontiguousarray(probs, dtype=np.float64).ravel())
    return pa.table({"p": pa.FixedSizeListArray.from_arrays(flat, probs.shape[1])})


def table_matrix(table: pa.Table) -> np.ndarray:
    col = table.column("p").combine_chunks()
    k = col.type.list_size
    return col.values.to_numpy(zero_copy_only=False).reshape(-1, k)
