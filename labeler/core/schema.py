"""The project file's schema, as sqlite-utils migrations applied in order when a project is opened
for writing: a new migration is a new function at the end, never an edit of an old one."""

from __future__ import annotations

import sqlite_utils

migrations = sqlite_utils.Migrations("labeler")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)"""
    )
    # The imported examples, their class probabilities and rankings, column-wise: Arrow IPC chunks,
    # and raw float64 blocks for "probs" (see labeler.core.columnar). name = "examples" | "probs" | "scores".
    db.execute(
        """CREATE TABLE columnar (
            name TEXT NOT NULL,
            chunk INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (name, chunk)
        )"""
    )
    db.execute(
        """CREATE TABLE decisions (
            example_id TEXT PRIMARY KEY,
            label TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            error_types TEXT NOT NULL DEFAULT '[]',
            note TEXT NOT NULL DEFAULT '',
            reviewed INTEGER NOT NULL DEFAULT 0,
            reviewer TEXT,
            decided_at TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            example_id TEXT NOT NULL,
            action TEXT NOT NULL,
            before TEXT,
            after TEXT,
            reviewer TEXT,
            session_id INTEGER
        )"""
    )
    db.execute(
        """CREATE TABLE error_types (
            name TEXT PRIMARY KEY,
            position INTEGER NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE sessions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            reviewer TEXT,
            queue TEXT,
            items INTEGER NOT NULL DEFAULT 0
        )"""
    )


@migrations()
def m002_columnar_checksums(db: sqlite_utils.Database) -> None:
    # CRC-32 of each chunk's bytes (see labeler.core.columnar); NULL for chunks written before
    db.execute("ALTER TABLE columnar ADD COLUMN crc INTEGER")


@migrations()
def m003_reviewer_labels(db: sqlite_utils.Database) -> None:
    # Each reviewer's own label of an example, given blind (the given label and the model's output
    # hidden) or read from another annotator's file; kept apart from corrections of the given label.
    db.execute(
        """CREATE TABLE reviewer_labels (
            example_id TEXT NOT NULL,
            reviewer TEXT NOT NULL,
            label TEXT NOT NULL,
            source TEXT NOT NULL,
            labeled_at TEXT NOT NULL,
            PRIMARY KEY (example_id, reviewer)
        )"""
    )
