"""Imported examples stored column-wise inside the project's SQLite file.

Examples do not change between imports, and every view of them (queues, tallies, the confusion
matrix) reads whole columns. So they are kept as Arrow IPC chunks (lz4) in an SQLite table, written
in the import's transaction: a million rows write in a fraction of a second and load in less, where a
row-per-example table takes seconds each way. The class probabilities, an n x K matrix of floats,
are kept in the same table as raw float64 blocks (see :func:`write_matrix`). Decisions, events, the
taxonomy and sessions stay ordinary row tables: they are what changes, one transaction per key press.

Each chunk carries the CRC-32 of its bytes (column ``crc``, from schema migration 2): SQLite checks
its own pages' structure, not what is inside a blob, so a flipped bit in the disk's copy of the
examples would otherwise be read as data. A chunk that fails its check raises :class:`Damaged`.
"""

from __future__ import annotations

import sqlite3
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

CHUNK_ROWS = 1 << 17
_OPTIONS = ipc.IpcWriteOptions(compression="lz4")


def _blob(part: pa.Table, schema: pa.Schema) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, schema, options=_OPTIONS) as w:
        w.write_table(part)
    return sink.getvalue().to_pybytes()


class Damaged(Exception):
    """A stored chunk whose bytes are not the ones written (its checksum fails)."""


def _rows(conn: sqlite3.Connection, sql_tail: str, params: tuple) -> list[tuple[bytes, int | None]]:
    """(data, crc) rows; a project from before the checksums (opened read-only, so not migrated)
    has no crc column: its chunks read unchecked."""
    try:
        return conn.execute(f"SELECT data, crc FROM columnar {sql_tail}", params).fetchall()
    except sqlite3.OperationalError as e:
        if "no such column" not in str(e):
            raise
        return [(r[0], None) for r in conn.execute(f"SELECT data FROM columnar {sql_tail}", params)]


def _checked(name: str, i: int, data: bytes, crc: int | None) -> bytes:
    if crc is not None and zlib.crc32(data) != crc:
        raise Damaged(f"stored {name!r} chunk {i} is damaged (its checksum does not match)")
    return data


def _insert(conn: sqlite3.Connection, rows) -> None:
    """Insert (name, chunk, data) rows with each one's checksum."""
    conn.executemany(
        "INSERT INTO columnar(name, chunk, data, crc) VALUES (?, ?, ?, ?)",
        ((name, i, data, zlib.crc32(data)) for name, i, data in rows),
    )


def from_blobs(blobs: list[bytes]) -> pa.Table:
    tables = [ipc.open_stream(pa.py_buffer(b)).read_all() for b in blobs]
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def write(conn: sqlite3.Connection, name: str, table: pa.Table, *, progress=None) -> None:
    """Replace the stored table ``name`` (inside the caller's transaction). ``progress(rows_done)``
    is called after each chunk (and may raise to abandon the write)."""
    write_encoded(conn, name, encode(table), progress=progress)


def encode(table: pa.Table) -> list[tuple[int, bytes, int]]:
    """``table`` as the chunks :func:`write_encoded` stores: (rows, Arrow IPC bytes, their CRC-32).
    No database is touched, so this can run on another thread while the caller writes something else."""
    out = []
    for start in range(0, max(table.num_rows, 1), CHUNK_ROWS):
        part = table.slice(start, CHUNK_ROWS)
        blob = _blob(part, table.schema)
        out.append((part.num_rows, blob, zlib.crc32(blob)))
    return out


def write_encoded(conn: sqlite3.Connection, name: str, chunks: list[tuple[int, bytes, int]], *, progress=None) -> None:
    delete(conn, name)
    done = 0
    for i, (rows, blob, crc) in enumerate(chunks):
        conn.execute("INSERT INTO columnar(name, chunk, data, crc) VALUES (?, ?, ?, ?)", (name, i, blob, crc))
        done += rows
        if progress is not None:
            progress(done)


def delete(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("DELETE FROM columnar WHERE name = ?", (name,))


def read(conn: sqlite3.Connection, name: str, columns: list[str] | None = None) -> pa.Table | None:
    blobs = [_checked(name, i, d, c) for i, (d, c) in enumerate(_rows(conn, "WHERE name = ? ORDER BY chunk", (name,)))]
    if not blobs:
        return None
    table = from_blobs(blobs)
    return table.select(columns) if columns else table


# A dense n x K matrix (the class probabilities) is stored as raw little-endian float64 bytes, in
# blocks of about MATRIX_CHUNK_BYTES: each block holds a run of rows, column by column. Arrow adds
# nothing to a block of floats; column-major blocks are written and read back with plain copies
# (the importer has the probabilities as columns); and one example's row is read from its block alone
# (the item panel's top-k).
MATRIX_CHUNK_BYTES = 1 << 20
_F8 = np.dtype("<f8")


def matrix_chunk_rows(k: int) -> int:
    return max(1, MATRIX_CHUNK_BYTES // (_F8.itemsize * max(k, 1)))


def write_matrix(conn: sqlite3.Connection, name: str, m) -> None:
    """Replace the stored n x K matrix ``name`` (inside the caller's transaction). ``m`` is an
    array, or the blocks themselves: K x R arrays for consecutive runs of ``matrix_chunk_rows(K)``
    rows (see :func:`matrix_blocks`)."""
    delete(conn, name)
    blocks = matrix_blocks(m) if isinstance(m, np.ndarray) else m
    _insert(conn, ((name, i, np.ascontiguousarray(b, dtype=_F8).reshape(-1).view(np.uint8)) for i, b in enumerate(blocks)))


def matrix_blocks(m: np.ndarray):
    """The blocks :func:`write_matrix` stores of an n x K array (cheapest when column-major)."""
    rows = matrix_chunk_rows(m.shape[1])
    for start in range(0, len(m), rows):
        yield m[start:start + rows].T


def read_matrix(conn: sqlite3.Connection, name: str, k: int) -> np.ndarray | None:
    """The stored n x ``k`` matrix ``name`` (column-major), or None."""
    blobs = [_checked(name, i, d, c) for i, (d, c) in enumerate(_rows(conn, "WHERE name = ? ORDER BY chunk", (name,)))]
    if not blobs:
        return None
    n = sum(len(b) for b in blobs) // (_F8.itemsize * k)
    out = np.empty((n, k), dtype=np.float64, order="F")
    at = 0
    for b in blobs:
        block = np.frombuffer(b, dtype=_F8).reshape(k, -1)
        out[at:at + block.shape[1]] = block.T
        at += block.shape[1]
    return out


def read_matrix_row(conn: sqlite3.Connection, name: str, k: int, i: int) -> np.ndarray | None:
    """Row ``i`` of the stored n x ``k`` matrix ``name`` (reads one block), or None."""
    rows = matrix_chunk_rows(k)
    found = _rows(conn, "WHERE name = ? AND chunk = ?", (name, i // rows))
    if not found:
        return None
    block = np.frombuffer(_checked(name, i // rows, *found[0]), dtype=_F8).reshape(k, -1)
    return block[:, i % rows].astype(np.float64) if i % rows < block.shape[1] else None


def append(conn: sqlite3.Connection, name: str, table: pa.Table) -> None:
    """Add ``table``'s rows after those stored as ``name`` (inside the caller's transaction), as new
    chunks with the same schema: a long computation commits its results a batch at a time, and what
    was committed before a crash or a cancel is kept (:func:`read` returns all batches in order)."""
    last = conn.execute("SELECT MAX(chunk) FROM columnar WHERE name = ?", (name,)).fetchone()[0]
    start = -1 if last is None else last
    _insert(conn, ((name, start + 1 + i, blob) for i, (_, blob, _crc) in enumerate(encode(table))))
