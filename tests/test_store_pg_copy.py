"""How push and pull move a project's rows (tests/pg.py starts the server): blobs in a binary COPY,
stored as they are (they are compressed already), read back whatever type a server column was given,
and a value of the wrong type in a file refused in one line with nothing written.
"""

from __future__ import annotations

import hashlib
import sqlite3

import psycopg
import pytest

from conftest import snapshot
from labeler.core import store_pg


def url_of(db_url: str, name: str = "digits") -> str:
    return f"{db_url}?project={name}"


def test_blobs_arrive_byte_for_byte_and_are_stored_without_compressing_again(digits_project, pg_db):
    store_pg.push(digits_project, url_of(pg_db))
    conn = sqlite3.connect(digits_project)
    mine = {(n, c): hashlib.sha256(d).hexdigest() for n, c, d in conn.execute("SELECT name, chunk, data FROM columnar")}
    conn.close()
    with psycopg.connect(pg_db) as pg:
        theirs = {(n, c): hashlib.sha256(d).hexdigest() for n, c, d in pg.execute("SELECT name, chunk, data FROM digits.columnar")}
        storage = pg.execute("SELECT attstorage FROM pg_attribute WHERE attrelid = 'digits.columnar'::regclass"
                             " AND attname = 'data'").fetchone()[0]
    assert theirs == mine and len(mine) > 1
    assert storage == "e"  # external, uncompressed: the chunks are Arrow IPC with lz4 already


def test_pull_reads_a_server_column_of_another_integer_type(digits_project, pg_db, tmp_path):
    """The binary rows of a pull are read as the local file's types: a server whose column was
    made or changed to another type (integer instead of bigint, real instead of double) still
    pulls the same project."""
    url = url_of(pg_db)
    store_pg.push(digits_project, url)
    with psycopg.connect(pg_db) as pg:
        pg.execute("ALTER TABLE digits.columnar ALTER COLUMN chunk TYPE integer, ALTER COLUMN crc TYPE numeric")
        pg.execute("ALTER TABLE digits.error_types ALTER COLUMN position TYPE smallint")
    copy = tmp_path / "copy" / "digits.labeler.db"
    copy.parent.mkdir()
    store_pg.pull(url, copy)
    leave_out = ("_sqlite_migrations",)
    assert {t: r for t, r in snapshot(copy).items() if t not in leave_out} == \
        {t: r for t, r in snapshot(digits_project).items() if t not in leave_out}


@pytest.mark.parametrize("value", ["not a number", "3.5"])
def test_a_value_of_the_wrong_type_in_a_blob_table_is_refused_and_nothing_is_written(digits_project, pg_db, value):
    conn = sqlite3.connect(digits_project)
    with conn:
        conn.execute("UPDATE columnar SET crc = ? WHERE rowid = (SELECT MIN(rowid) FROM columnar)", (value,))
    conn.close()
    with pytest.raises(store_pg.TeamStoreError) as e:
        store_pg.push(digits_project, url_of(pg_db))
    message = str(e.value)
    assert "\n" not in message and "could not push to" in message and "bigint" in message, message
    with psycopg.connect(pg_db) as pg:
        assert pg.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'digits'").fetchone() is None


def test_a_text_value_in_a_blob_column_is_pushed_as_its_bytes(digits_project, pg_db, tmp_path):
    """SQLite keeps whatever it is given: a text in a BLOB column travels as its UTF-8 bytes (what
    a text COPY made of it too)."""
    conn = sqlite3.connect(digits_project)
    with conn:
        conn.execute("INSERT INTO columnar (name, chunk, data, crc) VALUES ('odd', 0, 'ünï', NULL)")
    conn.close()
    store_pg.push(digits_project, url_of(pg_db))
    with psycopg.connect(pg_db) as pg:
        assert pg.execute("SELECT data FROM digits.columnar WHERE name = 'odd'").fetchone()[0] == "ünï".encode()
