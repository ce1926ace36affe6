"""The probability matrix's storage (labeler.core.columnar): raw column-major blocks that read back
exactly, whole or one row at a time, whatever the block size."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from labeler.core import columnar


@pytest.fixture
def conn(tmp_path):
    c = sqlite3.connect(tmp_path / "m.db")
    c.execute("CREATE TABLE columnar (name TEXT NOT NULL, chunk INTEGER NOT NULL, data BLOB NOT NULL,"
              " PRIMARY KEY (name, chunk))")
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
