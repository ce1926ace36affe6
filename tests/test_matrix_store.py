"""The probability matrix's storage (labeler.core.columnar): raw column-major blocks that read back
exactly, whole or one row at a time, whatever the block size."""

from __future__ import annotations

import sqlite3

import numpy as np
import pyarrow as pa
import pytest

from labeler.core import columnar, importer


@pytest.fixture
def conn(tmp_path):
    c = sqlite3.connect(tmp_path / "m.db")
    c.execute("CREATE TABLE columnar (name TEXT NOT NULL, chunk INTEGER NOT NULL, data BLOB NOT NULL,"
              " crc INTEGER, PRIMARY KEY (name, chunk))")
    yield c
    c.close()


@pytest.mark.parametrize("block_bytes", [8, 8 * 7 * 3, 1 << 20])
@pytest.mark.parametrize("order", ["C", "F"])
def test_matrix_reads_back_exactly(conn, monkeypatch, block_bytes, order):
    monkeypatch.setattr(columnar, "MATRIX_CHUNK_BYTES", block_bytes)
    rng = np.random.default_rng(1)
    m = np.asarray(rng.random((101, 7)), order=order)  # 101 rows: the last block is short
    m[3, 2] = 0.1 + 0.2  # not a round number
    columnar.write_matrix(conn, "probs", m)
    got = columnar.read_matrix(conn, "probs", 7)
    assert got.shape == (101, 7) and np.array_equal(got, m)
    for i in range(101):
        assert np.array_equal(columnar.read_matrix_row(conn, "probs", 7, i), m[i])
    assert columnar.read_matrix_row(conn, "probs", 7, 101) is None
    assert columnar.read_matrix(conn, "other", 7) is None


def test_rewriting_a_matrix_replaces_every_block(conn, monkeypatch):
    monkeypatch.setattr(columnar, "MATRIX_CHUNK_BYTES", 64)
    columnar.write_matrix(conn, "probs", np.ones((50, 2)))
    columnar.write_matrix(conn, "probs", np.zeros((10, 2)))
    assert np.array_equal(columnar.read_matrix(conn, "probs", 2), np.zeros((10, 2)))


def _chunked(m: np.ndarray, rng) -> "importer.ProbColumns":
    """``m``'s columns cut into chunks at random places (each column its own cuts)."""
    cols = []
    for k in range(m.shape[1]):
        cuts = sorted(rng.choice(np.arange(1, len(m)), size=rng.integers(0, 6), replace=False).tolist())
        cols.append([m[a:b, k].copy() for a, b in zip([0, *cuts], [*cuts, len(m)])])
    return importer.ProbColumns(cols)


@pytest.mark.parametrize("seed", range(6))
def test_probability_columns_in_chunks_give_what_the_matrix_gives(seed, monkeypatch):
    monkeypatch.setattr(importer.ProbColumns, "REFILL_BYTES", [1, 200, 1 << 20][seed % 3])  # refills
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(2, 90)), int(rng.choice([1, 3, 8, 40, 70]))  # at_columns' three ways
    m = np.round(rng.random((n, k)), 1)  # ties
    pc = _chunked(m, rng)
    assert pc.shape == (n, k) and np.array_equal(pc.matrix(), m)
    assert np.allclose(pc.row_sums(), m.sum(axis=1))
    assert np.array_equal(pc.row_max(), m.max(axis=1)) and np.array_equal(pc.argmax(), m.argmax(axis=1))
    cols = rng.integers(0, k, n)
    assert np.array_equal(pc.at_columns(cols), m[np.arange(n), cols])
    aligned = importer.ProbColumns([[m[:7, c], m[7:, c]] for c in range(k)])  # cut alike, as a reader does
    assert np.array_equal(aligned.at_columns(cols), m[np.arange(n), cols])
    rows = int(rng.integers(1, 20))
    blocks = [b.copy() for b in pc.blocks(rows)]  # (views of a buffer that is refilled)
    assert np.array_equal(np.concatenate(blocks, axis=1).T, m)
    assert all(b.shape[1] == rows for b in blocks[:-1])
    assert pc.valid()
    bad = m.copy()
    bad[rng.integers(0, n), rng.integers(0, k)] = float(rng.choice([np.nan, 1.5, -0.1, np.inf]))
    assert not _chunked(bad, rng).valid()


def test_probability_blocks_are_what_the_project_stores(conn, monkeypatch):
    monkeypatch.setattr(columnar, "MATRIX_CHUNK_BYTES", 8 * 3 * 5)  # 5 rows of 3 per block
    rng = np.random.default_rng(2)
    m = rng.random((23, 3))
    pc = _chunked(m, rng)
    columnar.write_matrix(conn, "probs", pc.blocks(columnar.matrix_chunk_rows(3)))
    assert np.array_equal(columnar.read_matrix(conn, "probs", 3), m)
    assert np.array_equal(columnar.read_matrix_row(conn, "probs", 3, 17), m[17])


def _flip_a_byte(conn, name: str, chunk: int, at: int) -> None:
    """Change one stored byte behind the checksum's back (what a bad disk sector does)."""
    data = bytearray(conn.execute("SELECT data FROM columnar WHERE name = ? AND chunk = ?", (name, chunk)).fetchone()[0])
    data[at] ^= 0x10
    conn.execute("UPDATE columnar SET data = ? WHERE name = ? AND chunk = ?", (bytes(data), name, chunk))


def test_a_changed_byte_is_caught_by_the_chunk_checksum(conn, monkeypatch):
    monkeypatch.setattr(columnar, "MATRIX_CHUNK_BYTES", 8 * 2 * 10)  # 10 rows of 2 per block
    m = np.random.default_rng(3).random((35, 2))
    columnar.write_matrix(conn, "probs", m)
    table = pa.table({"id": [f"x{i}" for i in range(35)], "v": np.arange(35.0)})
    columnar.write(conn, "examples", table)
    assert columnar.read(conn, "examples").equals(table)
    _flip_a_byte(conn, "probs", 2, 5)
    with pytest.raises(columnar.Damaged, match="'probs' chunk 2"):
        columnar.read_matrix(conn, "probs", 2)
    with pytest.raises(columnar.Damaged):
        columnar.read_matrix_row(conn, "probs", 2, 21)
    assert np.array_equal(columnar.read_matrix_row(conn, "probs", 2, 3), m[3])  # other blocks read
    _flip_a_byte(conn, "examples", 0, 40)
    with pytest.raises(columnar.Damaged, match="'examples' chunk 0"):
        columnar.read(conn, "examples")


def test_chunks_from_before_checksums_read_unchecked(tmp_path):
    """A project from before migration 2, opened read-only (so not migrated): no crc column."""
    c = sqlite3.connect(tmp_path / "old.db")
    c.execute("CREATE TABLE columnar (name TEXT NOT NULL, chunk INTEGER NOT NULL, data BLOB NOT NULL,"
              " PRIMARY KEY (name, chunk))")
    m = np.arange(12.0).reshape(6, 2)
    block = np.ascontiguousarray(m.T).reshape(-1).view(np.uint8)
    c.execute("INSERT INTO columnar(name, chunk, data) VALUES ('probs', 0, ?)", (block,))
    assert np.array_equal(columnar.read_matrix(c, "probs", 2), m)
    assert np.array_equal(columnar.read_matrix_row(c, "probs", 2, 4), m[4])
    c.close()


def test_probabilities_stored_by_an_earlier_version_are_refused_not_misread(tmp_path):
    """Session 1's projects kept the matrix as an Arrow list column under the same name: read as raw
    blocks it would be other numbers. The layout is recorded at import; without it, ranking asks
    for a re-import and the item panel shows no top-5."""
    from labeler.core.importer import import_predictions
    from labeler.core.store import Project, ProjectError

    src = tmp_path / "p.csv"
    src.write_text("id,path,label,p_a,p_b\n1,x.png,a,0.9,0.1\n2,y.png,b,0.3,0.7\n", encoding="utf-8")
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    with Project.open(db) as p:
        assert np.array_equal(p.probabilities(), [[0.9, 0.1], [0.3, 0.7]])
        assert p.example_at(1)["topk"] == [[1, 0.7], [0, 0.3]]
        p.set_meta("probs_layout", None)  # as an earlier version left it
    with Project.open(db, readonly=True) as p:
        with pytest.raises(ProjectError, match="earlier version of labeler.*import the predictions file again"):
            p.probabilities()
        assert p.example_at(1)["topk"] == []
