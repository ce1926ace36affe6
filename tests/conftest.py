"""Shared fixtures for the core and CLI tests.

- ``digits_project``: the shipped sample data (sample_data/digits) imported into a fresh project in
  ``tmp_path``. The import itself runs once per test session; each test gets its own copy.
- ``write_csv`` / ``write_text``: small prediction files written by the test itself.
- ``snapshot``: the whole content of a project file (every table, every row) for "nothing written"
  checks, read through an immutable connection that cannot touch the file.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "sample_data" / "digits"
DIGITS_CSV = DIGITS / "predictions.csv"
DIGITS_CLASSES = [str(k) for k in range(10)]


def read_digits_rows() -> list[dict[str, str]]:
    """The sample predictions as plain strings, read with the standard library only."""
    with DIGITS_CSV.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def digits_template(tmp_path_factory) -> Path:
    """The sample data imported once, with the sample taxonomy; never modified by tests."""
    from labeler.core.importer import import_predictions
    from labeler.core.store import Project

    path = tmp_path_factory.mktemp("digits_template") / "digits.labeler.db"
    import_predictions(DIGITS_CSV, path)
    with Project.open(path) as p:
        p.set_error_types((DIGITS / "taxonomy.txt").read_text(encoding="utf-8").splitlines())
    for suffix in ("-wal", "-shm"):
        assert not Path(str(path) + suffix).exists(), "the template was not closed cleanly"
    return path


@pytest.fixture
def digits_project(digits_template, tmp_path) -> Path:
    """A private copy of the imported sample data: a path to a closed project file."""
    dst = tmp_path / "digits.labeler.db"
    shutil.copyfile(digits_template, dst)
    return dst


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return path


@pytest.fixture
def write_text(tmp_path):
    """write_text(name, text_or_bytes) -> path in tmp_path, written exactly (no newline translation)."""

    def write(name: str, text: str | bytes) -> Path:
        return _write(tmp_path / name, text)

    return write


@pytest.fixture
def write_csv(tmp_path):
    """write_csv(name, header, rows, delimiter=",") -> path; cells are written with csv.writer."""

    def write(name: str, header: list[str], rows: list[list], delimiter: str = ",") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, delimiter=delimiter, lineterminator="\n")
            w.writerow(header)
            for r in rows:
                w.writerow(r)
        return path

    return write


def snapshot(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table of the project, sorted, read without any chance of writing to it."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {
            t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables
        }
    finally:
        conn.close()


def content_snapshot(path: Path) -> dict[str, list[tuple]]:
    """Like :func:`snapshot`, but through a normal connection, so a WAL file left by a crash counts."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def project_files(folder: Path) -> list[str]:
    """Names in ``folder`` that belong to a project database (the file, its WAL/SHM, temp copies)."""
    return sorted(p.name for p in folder.iterdir() if ".db" in p.name)


def make_big_csv(path: Path, n: int, k: int = 3, seed: int = 0) -> Path:
    """A generated predictions file of ``n`` rows and ``k`` classes (train/dev/test, p_c0..), fast."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 2
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    label = rng.integers(0, k, n)
    cols = {
        "id": pa.array([f"e{i:07d}" for i in range(n)]),
        "path": pa.array([f"img/{i}.png" for i in range(n)]),
        "split": pa.array(np.array(["train", "train", "train", "dev", "test"])[np.arange(n) % 5]),
        "label": pa.array([f"c{v}" for v in label.tolist()]),
    }
    for j in range(k):
        cols[f"p_c{j}"] = pa.array(np.round(probs[:, j], 6))
    pacsv.write_csv(pa.table(cols), path)
    return path


BIG_ROWS = 200_000


@pytest.fixture(scope="session")
def big_csv(tmp_path_factory) -> Path:
    """200k generated rows: big enough that an import spends a while writing (two 100k chunks)."""
    return make_big_csv(tmp_path_factory.mktemp("big") / "big.csv", BIG_ROWS)


# -- PostgreSQL (the team store): one real server for the run, one database per test -------------

@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server started for this test run from the machine's binaries (tests/pg.py);
    stopped at the end. Skipped only where no server binaries are installed at all."""
    import pg

    if pg.find_bin_dir() is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH:"
                    " install Debian's postgresql package (make system-deps)")
    server = pg.start_server()
    try:
        yield server
    finally:
        server.stop("fast")
        shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture
def pg_db(pg_server, request) -> str:
    """A fresh, empty database on the test server, for this test alone: its URL (no project)."""
    import os
    import re

    import psycopg

    name = "t_" + re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40] + f"_{os.getpid()}"
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_server.url(name)
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def own_server():
    """A PostgreSQL server of this test's own, which the test may stop (``-m immediate``, as a crash)
    and start again; stopped and removed at the end."""
    import pg

    if pg.find_bin_dir() is None:
        pytest.skip("no PostgreSQL server binaries: install Debian's postgresql package (make system-deps)")
    server = pg.start_server()
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(server.base, ignore_errors=True)
