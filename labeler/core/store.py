"""The project file: one SQLite database (via sqlite-utils) that holds the imported examples, the
reviewer's decisions, an append-only event log, the error-type taxonomy and review sessions.

Every decision is one transaction in WAL mode with ``synchronous=FULL``: once a write returns, the
decision survives a crash or a power cut. One process writes at a time; a second writer is refused
(an advisory lock on a side file), readers may open the project read-only at any time.

The writer never checkpoints the WAL inside a decision (that would stall a key press for tens of
milliseconds every few hundred decisions): :meth:`Project.checkpoint` does it through its own
connection, from a worker thread when the window is idle, and closing checkpoints too. A clean close
of a writer that changed something leaves a rotating backup (see :mod:`labeler.core.backup`, which
never imports this module). The lock and the fsyncs are :mod:`labeler.core.fileops`'.
What is promised, and which test proves it: docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlite_utils

from . import backup, columnar, fileops
from .schema import migrations
from .connect import (SQLITE_MAGIC, WAL_SIZE_LIMIT, _check_file, _connect, _connect_readonly, _identity,  # noqa: F401
                      _restore_hint, _save_error, _unsaved_note, _validate)
from .location import location_warnings  # noqa: F401  (named here for the CLI)
from .fileops import acquire_lock, release_lock, sqlite_uri
from .problems import ProjectError, ProjectGone, ProjectLocked, ProjectReadOnly  # noqa: F401  (defined with the other errors; named here too)

BUILTIN_TAGS = ("mislabeled", "very hard", "very easy", "ambiguous")


class ErrorTypesInUse(ProjectError):
    """A new taxonomy would drop error types that decisions use: those decisions would count as
    untagged. ``dropped`` is {error type: decisions using it} in taxonomy order, ``decisions`` the
    number of decisions using at least one of them."""

    def __init__(self, dropped: dict[str, int], decisions: int):
        self.dropped = dropped
        self.decisions = decisions
        which = ", ".join(f"{name} ({n})" for name, n in dropped.items())
        use = "decision uses" if decisions == 1 else "decisions use"
        super().__init__(f"the new taxonomy drops error types that {decisions} {use}: {which}")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def default_project_path(predictions: str | os.PathLike) -> Path:
    """``data/preds.csv`` -> ``data/preds.labeler.db`` (``.csv.gz`` counts as one suffix)."""
    p = Path(predictions)
    name = p.name
    if p.is_dir():  # a folder of images: beside it, named after it
        return p.with_name(name + ".labeler.db")
    for suffix in (".csv.gz", ".tsv.gz", ".txt.gz", ".jsonl.gz", ".ndjson.gz"):
        if name.lower().endswith(suffix):
            return p.with_name(name[: -len(suffix)] + ".labeler.db")
    return p.with_name(p.stem + ".labeler.db")


@dataclass(frozen=True)
class Decision:
    """The current verdict on one example."""

    label: str | None = None  # the corrected label, when the reviewer knows it
    tags: frozenset[str] = field(default_factory=frozenset)
    error_types: frozenset[str] = field(default_factory=frozenset)
    note: str = ""
    reviewed: bool = False
    reviewer: str | None = None
    decided_at: str | None = None

    @property
    def is_wrong_label(self) -> bool:
        return self.label is not None or "mislabeled" in self.tags

    def to_json(self) -> dict:
        return {
            "label": self.label,
            "tags": sorted(self.tags),
            "error_types": sorted(self.error_types),
            "note": self.note,
            "reviewed": self.reviewed,
        }

    @classmethod
    def from_row(cls, row: dict) -> "Decision":
        return cls(
            label=row["label"],
            tags=frozenset(json.loads(row["tags"] or "[]")),
            error_types=frozenset(json.loads(row["error_types"] or "[]")),
            note=row["note"] or "",
            reviewed=bool(row["reviewed"]),
            reviewer=row.get("reviewer"),
            decided_at=row.get("decided_at"),
        )

    def same_verdict(self, other: "Decision") -> bool:
        return self.to_json() == other.to_json()


# One decision row written, replacing the example's (labeler.core.team_sync adds a WHERE: newer only).
UPSERT_DECISION = """INSERT INTO decisions(example_id, label, tags, error_types, note, reviewed, reviewer, decided_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(example_id) DO UPDATE SET label = excluded.label, tags = excluded.tags,
      error_types = excluded.error_types, note = excluded.note, reviewed = excluded.reviewed,
      reviewer = excluded.reviewer, decided_at = excluded.decided_at"""

EMPTY_EXAMPLES = [
    ("id", pa.string()), ("row", pa.int64()), ("split", pa.dictionary(pa.int32(), pa.string())),
    ("path", pa.string()), ("text", pa.string()), ("label", pa.dictionary(pa.int32(), pa.string())),
    ("pred", pa.dictionary(pa.int32(), pa.string())), ("confidence", pa.float64()), ("p_label", pa.float64()),
    ("loss", pa.float64()), ("wrong", pa.bool_()), ("meta", pa.string()),
]

# How many of the most probable classes the item panel lists.
TOPK = 5
# How the class probabilities are stored (meta "probs_layout"; see columnar.write_matrix).
PROBS_LAYOUT = "float64 column-major blocks"

class Project:
    """An open project file. Use :meth:`open` or :meth:`create`."""

    def __init__(self, path: Path, conn: sqlite3.Connection, *, readonly: bool, lock_fd: int | None):
        self.path = path
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.readonly = readonly
        self._lock_fd = lock_fd
        self._scratch = False
        self._changed = False  # a write was committed since opening: a clean close backs it up
        self._probs_layout: str | None = None  # meta "probs_layout", read when first needed
        self.warnings: list[str] = []  # about where the file is (network, removable drive)
        self.backup_error: str | None = None  # why the backup at close failed, if it did
        self.unsaved_note: str | None = None  # decisions kept beside it that it does not hold yet
        self._meta_cache: dict[str, object] = {}
        self._examples: pa.Table | None = None
        self._id_index: pd.Index | None = None
        self._abspath = Path(os.path.abspath(path))  # (a later chdir must not make it "deleted")
        self._identity = _identity(self._abspath)  # which file this is: a write checks it is still there
        self._rescued: str | None = None  # the backup made when the file was found gone

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, *, readonly: bool = False) -> "Project":
        """Open an existing project; ``readonly`` never writes and never waits for the writer.

        Refused with a :class:`ProjectError` when the file is not a sound labeler project (the file
        is left as it was) and with :class:`ProjectLocked` when another process writes to it.
        :attr:`warnings` says when the folder is on a network or removable drive (BAD_INPUTS 29)."""
        path = Path(path)
        if not path.exists():
            raise ProjectError(f"no project at {path}.{_restore_hint(path)}")
        _check_file(path)
        if not readonly and not fileops.writable(path):
            raise ProjectReadOnly(fileops.read_only_message(path))
        lock_fd = None if readonly else acquire_lock(path)
        try:
            # Validate through a connection that cannot write, so a damaged file stays untouched.
            # Read-only, not immutable: "immutable" ignores the WAL, where committed decisions (even
            # the schema of a new project) live until a checkpoint; after a crash they would be
            # missed and a sound project called broken.
            probe = _connect_readonly(path)
            try:
                _validate(probe, path)
            finally:
                probe.close()
            conn = _connect(path, readonly=readonly)
            project = cls(path, conn, readonly=readonly, lock_fd=lock_fd)
            if not readonly:
                migrations.apply(project.db)
                # What a crashed writer left in the WAL goes into the file now, off the review's path.
                project.checkpoint()
        except sqlite3.DatabaseError as e:
            release_lock(lock_fd)
            raise ProjectError(f"{path} is corrupt or not a labeler project: {e}.{_restore_hint(path)}") from e
        except BaseException:
            release_lock(lock_fd)
            raise
        project.warnings = location_warnings(path)
        project.unsaved_note = _unsaved_note(path)
        return project

    @classmethod
    def create(cls, path: str | os.PathLike, *, scratch: bool = False) -> "Project":
        """A new, empty project. Refuses to overwrite an existing file.

        ``scratch``: a file being built that is thrown away if anything fails (a first import into
        a temporary name): no journal on disk and no syncs while building; :meth:`seal` makes it
        durable and switches it to WAL before it is renamed into place."""
        path = Path(path)
        if path.exists():
            raise ProjectError(f"{path} exists already")
        lock_fd = acquire_lock(path)
        if scratch:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=MEMORY")
            conn.execute("PRAGMA synchronous=OFF")
        else:
            conn = _connect(path, readonly=False)
        project = cls(path, conn, readonly=False, lock_fd=lock_fd)
        project._scratch = scratch
        migrations.apply(project.db)
        project.set_meta("created_at", now_iso())
        return project

    def seal(self) -> None:
        """Finish a scratch project: WAL journal, synced to disk, closed."""
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.close()
        fileops.sync(self.path)

    def close(self) -> None:
        """Close the project. A writer that changed something first leaves a backup of it in
        ``<project>.backups/`` (the last few are kept) and checkpoints the WAL into the file.
        Neither can fail the close: everything committed is safe already."""
        if self.conn is not None:
            if not self.readonly and not self._scratch:
                if self._changed:
                    try:
                        backup.make_backup(self.path, self.conn)
                    except (OSError, sqlite3.Error) as e:
                        self.backup_error = str(e)
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self.conn.close()
            self.conn = None  # type: ignore[assignment]
        release_lock(self._lock_fd)
        self._lock_fd = None

    def checkpoint(self) -> tuple[int, int, int] | None:
        """Copy what the WAL holds into the project file (a PASSIVE checkpoint: it never waits for
        and never blocks a decision being written). Runs through a connection of its own, so a
        worker thread may call it while the GUI thread writes decisions. Returns SQLite's
        (busy, WAL frames, frames checkpointed), or None when there was nothing it could do."""
        if self.readonly or self.conn is None or self.file_problem() is not None:
            return None
        try:
            # mode=rw: never create the file (a deleted project must not come back as an empty stub)
            conn = sqlite3.connect(sqlite_uri(self.path, mode="rw"), uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=1.0)
        except sqlite3.Error:
            return None
        try:
            # (1, -1, -1): the WAL index was being reset by a commit at that instant; that clears
            # within a write, so look again a few times rather than report a checkpoint not done
            for attempt in range(20):
                row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if not row or row[0] == 0:
                    break
                time.sleep(0.001 * (attempt + 1))
            return tuple(row) if row else None  # type: ignore[return-value]
        except sqlite3.Error:
            return None
        finally:
            conn.close()

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transactions --------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        if self.readonly:
            raise ProjectError(f"{self.path} is open read-only")
        self._check_still_there()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise _save_error(self.path, e) from e
        try:
            yield self.conn
        except sqlite3.OperationalError as e:  # disk full or an I/O error while writing pages
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise _save_error(self.path, e) from e
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as e:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                raise _save_error(self.path, e) from e
            self._changed = True
            # deleted between the check and the commit: the write went into a file nobody can open
            self._check_still_there()

    def file_problem(self) -> str | None:
        """Why the path no longer names the file this project opened (deleted, or replaced by another
        file, e.g. a restore or a copy from elsewhere), or None while it does. One ``stat``."""
        if self._identity is None or self._scratch:
            return None
        now = _identity(self._abspath)
        if now is None:
            return f"{self.path} was deleted while labeler had it open"
        if now != self._identity:
            return f"{self.path} was replaced by another file while labeler had it open"
        return None

    def _check_still_there(self) -> None:
        problem = self.file_problem()
        if problem is None:
            return
        if self._rescued is None:
            # what the open file holds (every decision saved before) is only reachable through this
            # connection now: back it up at once
            try:
                self._rescued = str(backup.make_backup(self.path, self.conn))
            except (OSError, sqlite3.Error) as e:
                self._rescued = f"not backed up ({e})"
        if self._rescued.startswith("not backed up"):
            held = f"What it held could {self._rescued.replace('not backed up', 'not be backed up')}."
        else:
            held = (f"Everything saved before is backed up as {self._rescued}: after closing, `labeler restore"
                    f" --project {self.path}` puts it back.")
        raise ProjectGone(f"{problem}: this change is NOT saved.\n\n{held}")

    # -- meta ----------------------------------------------------------------------------------
    def meta(self, key: str, default=None):
        if key not in self._meta_cache:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            if row is None:
                return default
            self._meta_cache[key] = json.loads(row[0])
        return self._meta_cache[key]

    def set_meta(self, key: str, value, *, conn: sqlite3.Connection | None = None) -> None:
        sql = "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        if conn is not None:
            conn.execute(sql, (key, json.dumps(value)))
        else:
            with self.transaction() as c:
                c.execute(sql, (key, json.dumps(value)))
        self._meta_cache[key] = value

    @property
    def classes(self) -> list[str]:
        return list(self.meta("classes", []))

    @property
    def base_dir(self) -> Path:
        return Path(self.meta("base_dir", str(self.path.parent)))

    def resolve(self, path: str | None) -> Path | None:
        """An example's path as the file system knows it: relative paths are relative to the
        predictions file's folder, not the working directory."""
        if not path:
            return None
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    # -- examples ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def intact(self) -> Iterator[None]:
        """Stored chunks that fail their checksum surface as a ProjectError saying what to do."""
        try:
            yield
        except columnar.Damaged as e:
            raise ProjectError(f"{self.path} is damaged: {e}. It was not changed.{_restore_hint(self.path)}") from None

    def examples_table(self) -> pa.Table:
        """All examples in file order, with their ranking columns (quality, flagged, suggested)."""
        if self._examples is None:
            with self.intact():
                self._examples = self._read_examples()
        return self._examples

    def _read_examples(self) -> pa.Table:
        table = columnar.read(self.conn, "examples")
        if table is None:
            table = pa.table({name: pa.array([], type) for name, type in EMPTY_EXAMPLES})
        scores = columnar.read(self.conn, "scores")
        if scores is None or scores.num_rows != table.num_rows:
            n = table.num_rows
            scores = pa.table({
                "quality": pa.nulls(n, pa.float64()),
                "flagged": pa.nulls(n, pa.bool_()),
                "suggested": pa.nulls(n, pa.string()),
            })
        for name in scores.column_names:
            table = table.append_column(name, scores.column(name))
        if "loss" not in table.column_names:  # stored only when it is not -log p(given label)
            p_label = table.column("p_label").to_numpy().astype(np.float64)
            with np.errstate(invalid="ignore"):
                loss = -np.log(np.clip(p_label, 1e-12, None))
            table = table.append_column(pa.field("loss", pa.float64()), [pa.array(loss, pa.float64(), from_pandas=True)])
        if "row" not in table.column_names:  # the file order: not stored, it is the position
            table = table.add_column(1, pa.field("row", pa.int64()), [pa.array(np.arange(table.num_rows, dtype=np.int64))])
        return table

    def example_count(self) -> int:
        return self.examples_table().num_rows

    def example_row(self, example_id: str) -> int | None:
        """The position of ``example_id`` in :meth:`examples_table`."""
        if self._id_index is None:
            self._id_index = pd.Index(self.examples_table().column("id").to_numpy(zero_copy_only=False))
        try:
            return int(self._id_index.get_loc(example_id))
        except KeyError:
            return None

    def example(self, example_id: str, *, topk: bool = True) -> dict | None:
        i = self.example_row(example_id)
        return None if i is None else self.example_at(i, topk=topk)

    def path_at(self, i: int) -> str | None:
        """The example file of the example at position ``i`` (None for a text example)."""
        return self.examples_table().column("path")[i].as_py()

    def example_at(self, i: int, *, topk: bool = True) -> dict:
        """The example at position ``i`` of the file order, with metadata decoded and (``topk``) its
        most probable classes, which take a read of its block of the probabilities."""
        d = self.examples_table().slice(i, 1).to_pylist()[0]
        if "topk_idx" in d:  # stored where the full matrix is not (many classes)
            d["topk"] = [[c, p] for c, p in zip(d.pop("topk_idx") or [], d.pop("topk_p") or [])]
        elif topk:
            d["topk"] = self._topk_of_row(i)
        d["meta"] = json.loads(d["meta"]) if d["meta"] else {}
        return d

    def _probs_readable(self, *, refuse_old: bool = True) -> bool:
        """Whether the stored probabilities are in the layout this version reads. Projects imported
        by an earlier labeler kept them as an Arrow list column, which would read as other numbers."""
        if self._probs_layout is None:
            self._probs_layout = self.meta("probs_layout", "")
        if self._probs_layout == PROBS_LAYOUT:
            return True
        if not refuse_old or self.conn.execute("SELECT 1 FROM columnar WHERE name = 'probs' LIMIT 1").fetchone() is None:
            return False  # none kept (or the item panel, which then shows no top-k)
        raise ProjectError(
            f"{self.path} was imported by an earlier version of labeler, which stored the class"
            " probabilities differently: import the predictions file again (reviews are kept)."
        )

    def _topk_of_row(self, i: int) -> list[list]:
        """The most probable classes of example ``i`` and their probabilities, best first (ties:
        the class that comes first)."""
        if not self._probs_readable(refuse_old=False):
            return []
        with self.intact():
            p = columnar.read_matrix_row(self.conn, "probs", len(self.classes), i)
        if p is None:
            return []
        top = np.argsort(-p, kind="stable")[:TOPK]
        return [[int(c), float(p[c])] for c in top]

    def probabilities(self) -> np.ndarray | None:
        """The n x K class probabilities in file order, where the import kept them."""
        if not self._probs_readable():
            return None
        with self.intact():
            return columnar.read_matrix(self.conn, "probs", len(self.classes))

    def store_scores(self, split: str, rows, quality, flagged, suggested, method: str) -> None:
        """Store label-quality scores for the examples at positions ``rows`` (one split)."""
        table = self.examples_table()
        classes = pa.array(self.classes, pa.string())
        q = table.column("quality").to_numpy(zero_copy_only=False).astype(np.float64)
        old_flags = table.column("flagged").combine_chunks()
        f = pc.fill_null(old_flags, False).to_numpy(zero_copy_only=False).astype(bool)
        f_valid = old_flags.is_valid().to_numpy(zero_copy_only=False).astype(bool)
        old_sug = table.column("suggested").combine_chunks()
        if pa.types.is_dictionary(old_sug.type):
            old_sug = old_sug.cast(pa.string())
        sug = pc.index_in(old_sug, value_set=classes).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
        q[rows], f[rows], f_valid[rows] = quality, flagged, True
        sug[rows] = pc.index_in(pa.array(list(suggested), pa.string()), value_set=classes).fill_null(-1).to_numpy(
            zero_copy_only=False)
        scores = pa.table({
            "quality": pa.array(q, pa.float64(), from_pandas=True),
            "flagged": pa.array(f, pa.bool_(), mask=~f_valid),
            "suggested": pa.DictionaryArray.from_arrays(pa.array(sug, mask=sug < 0), classes),
        })
        ranking = dict(self.meta("ranking", {}))
        ranking[split] = method
        with self.transaction() as c:
            columnar.write(c, "scores", scores)
            self.set_meta("ranking", ranking, conn=c)
        # keep the cached table (a million rows are not read again), with the new columns
        for name in scores.column_names:
            table = table.set_column(table.schema.get_field_index(name), name, scores.column(name))
        self._examples = table

    # -- taxonomy ------------------------------------------------------------------------------
    def error_types(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM error_types ORDER BY position")]

    def error_type_usage(self) -> dict[str, int]:
        """{error type: how many decisions use it}, for every error type found on a decision (one
        that was dropped from the taxonomy too); types no decision uses are not listed."""
        counts: dict[str, int] = {}
        for (ets,) in self.conn.execute("SELECT error_types FROM decisions WHERE error_types != '[]'"):
            for name in set(json.loads(ets or "[]")):
                counts[name] = counts.get(name, 0) + 1
        return counts

    def check_error_types(self, names: list[str], *, renames: dict[str, str] | None = None) -> None:
        """Raise :class:`ErrorTypesInUse` when the taxonomy ``names`` (after ``renames`` {old: new}
        are applied to the current one) leaves out error types of the current taxonomy that
        decisions use: the tally would count those decisions as untagged. Types already missing
        from the taxonomy are not "dropped" again. Writes nothing."""
        renames = renames or {}
        keep = set(clean_error_types(names))
        current = [renames.get(n, n) for n in self.error_types()]
        gone = [n for n in current if n not in keep]
        if not gone:
            return
        dropped: dict[str, int] = {}
        decisions = 0
        for (ets,) in self.conn.execute("SELECT error_types FROM decisions WHERE error_types != '[]'"):
            hit = {renames.get(e, e) for e in json.loads(ets or "[]")}.intersection(gone)
            decisions += bool(hit)
            for name in hit:
                dropped[name] = dropped.get(name, 0) + 1
        if decisions:
            raise ErrorTypesInUse({n: dropped[n] for n in gone if n in dropped}, decisions)

    def set_error_types(self, names: list[str], *, force: bool = False) -> None:
        """Replace the taxonomy (order = digit keys). Renames are done with :meth:`rename_error_type`.

        Refused with :class:`ErrorTypesInUse`, nothing written, when the new list drops error types
        that decisions use (see :meth:`check_error_types`), unless ``force``: the decisions keep
        the dropped names but the tally counts them as untagged."""
        clean = clean_error_types(names)
        with self.transaction() as c:
            if not force:
                self.check_error_types(clean)
            c.execute("DELETE FROM error_types")
            c.executemany(
                "INSERT INTO error_types(name, position) VALUES (?, ?)",
                [(n, i) for i, n in enumerate(clean)],
            )

    def rename_error_type(self, old: str, new: str) -> None:
        """Rename an error type of the taxonomy (its place and key stay) and on every decision that
        uses it. Refused when ``old`` is not in the taxonomy or ``new`` is empty or in it already."""
        new = new.strip()
        names = self.error_types()
        if old not in names:
            raise ProjectError(f"no error type {old!r} (the error types are: {', '.join(names) or 'none'})")
        if not new:
            raise ProjectError(f"cannot rename {old!r}: the new name is empty")
        if new in names:
            raise ProjectError(f"cannot rename {old!r} to {new!r}: there is an error type {new!r} already")
        with self.transaction() as c:
            c.execute("UPDATE error_types SET name = ? WHERE name = ?", (new, old))
            rows = c.execute(
                "SELECT example_id, error_types FROM decisions WHERE error_types LIKE ?",
                (f"%{json.dumps(old)[1:-1]}%",),
            ).fetchall()
            for eid, ets in rows:
                s = set(json.loads(ets))
                if old in s:
                    s.discard(old)
                    s.add(new)
                    c.execute(
                        "UPDATE decisions SET error_types = ? WHERE example_id = ?",
                        (json.dumps(sorted(s)), eid),
                    )

    # -- decisions -----------------------------------------------------------------------------
    def decision(self, example_id: str) -> Decision:
        cur = self.conn.execute("SELECT * FROM decisions WHERE example_id = ?", (example_id,))
        row = cur.fetchone()
        if row is None:
            return Decision()
        return Decision.from_row(dict(zip([c[0] for c in cur.description], row)))

    def decisions(self) -> dict[str, Decision]:
        cur = self.conn.execute("SELECT * FROM decisions")
        names = [c[0] for c in cur.description]
        return {row[0]: Decision.from_row(dict(zip(names, row))) for row in cur}

    def write_decision(
        self,
        example_id: str,
        before: Decision,
        after: Decision,
        action: str,
        *,
        reviewer: str | None = None,
        session_id: int | None = None,
    ) -> Decision:
        """Store ``after`` as the verdict on ``example_id`` and log the change, in one transaction."""
        return self.write_decisions([(example_id, before, after, action)], reviewer=reviewer, session_id=session_id)[0]

    def write_decisions(
        self,
        changes: Sequence[tuple[str, Decision, Decision, str]],
        *,
        reviewer: str | None = None,
        session_id: int | None = None,
    ) -> list[Decision]:
        """Store each ``(example_id, before, after, action)`` and log it, all in ONE transaction:
        a decision applied to many selected examples is saved whole or not at all."""
        at = now_iso()
        saved = [replace(after, reviewer=reviewer, decided_at=at) for _, _, after, _ in changes]
        try:
            self._write_decisions(changes, saved, at, reviewer, session_id)
        except ProjectGone as e:
            # never lost: kept in a recovery file until they can be written (labeler restore --unsaved)
            try:
                kept = fileops.keep_unsaved(self.path, [
                    {"at": at, "example_id": eid, "action": action, "before": before.to_json(),
                     "after": a.to_json(), "reviewer": reviewer} for (eid, before, _, action), a in zip(changes, saved)])
            except OSError as oe:
                raise ProjectGone(f"{e} It could not be kept in a recovery file either ({oe}).") from e
            raise ProjectGone(f"{e}\n\nThis change is kept in {kept}; `labeler restore --project {self.path} --unsaved"
                              f" {kept}` then adds it.") from e
        return saved

    def _write_decisions(self, changes, saved, at, reviewer, session_id) -> None:
        with self.transaction() as c:
            c.executemany(
                UPSERT_DECISION,
                [(eid, a.label, json.dumps(sorted(a.tags)), json.dumps(sorted(a.error_types)), a.note,
                  int(a.reviewed), reviewer, at) for (eid, _, _, _), a in zip(changes, saved)],
            )
            c.executemany(
                "INSERT INTO events(at, example_id, action, before, after, reviewer, session_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(at, eid, action, json.dumps(before.to_json()), json.dumps(a.to_json()), reviewer, session_id)
                 for (eid, before, _, action), a in zip(changes, saved)],
            )
            if session_id is not None and changes:
                c.execute("UPDATE sessions SET ended_at = ? WHERE id = ?", (at, session_id))

    def apply_unsaved(self, unsaved: str | os.PathLike) -> int:
        """Write the decisions of a recovery file (see :func:`fileops.keep_unsaved`) into this
        project, in the order they were made, in one transaction; returns how many. Refused, nothing
        written, when the file is not one or names examples this project does not hold."""
        unsaved = Path(unsaved)
        records = []
        try:
            with open(unsaved, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        r = json.loads(line)
                        after = r["after"]
                        records.append((r["example_id"], Decision(
                            label=after["label"], tags=frozenset(after["tags"]), error_types=frozenset(after["error_types"]),
                            note=after["note"], reviewed=bool(after["reviewed"])), r["action"], r.get("reviewer")))
        except OSError as e:
            raise ProjectError(f"cannot read {unsaved}: {e.strerror or e}") from e
        except (ValueError, KeyError, TypeError) as e:
            raise ProjectError(f"{unsaved}: line {n} is not a decision labeler kept ({e})") from e
        unknown = sorted({eid for eid, *_ in records if self.example_row(eid) is None})
        if unknown:
            raise ProjectError(f"{unsaved} holds decisions on examples this project does not have"
                               f" ({', '.join(unknown[:5])}{', ...' if len(unknown) > 5 else ''}): wrong project?")
        decisions = self.decisions()
        rows, reviewer = [], None
        for eid, after, action, who in records:
            rows.append((eid, decisions.get(eid, Decision()), after, f"recovered {action}"))
            decisions[eid] = after
            reviewer = who
        if rows:
            self.write_decisions(rows, reviewer=reviewer)
        return len(rows)

    def save_copy(self, target: str | os.PathLike) -> Path:
        """Write everything this open project holds into a new project file at ``target``, with the
        decisions its recovery file keeps (see :meth:`write_decisions`): the way on when the
        project's own file was deleted or replaced under an open window. Returns ``target``."""
        target = Path(target)
        try:
            backup.copy_to(self.conn, target)
        except (OSError, sqlite3.Error) as e:
            raise ProjectError(f"cannot write {target}: {e}") from e
        unsaved = fileops.unsaved_path(self.path)
        if unsaved.exists():
            with Project.open(target) as copy:
                copy.apply_unsaved(unsaved)
            unsaved.replace(unsaved.with_name(unsaved.name + ".applied"))
        return target

    def events(self, example_id: str | None = None) -> list[dict]:
        sql = "SELECT * FROM events" + (" WHERE example_id = ?" if example_id else "") + " ORDER BY seq"
        cur = self.conn.execute(sql, (example_id,) if example_id else ())
        names = [c[0] for c in cur.description]
        return [dict(zip(names, r)) for r in cur]

    # -- sessions ------------------------------------------------------------------------------
    # (Session bookkeeping alone is no change worth a backup: opening and closing the window
    # without a decision must not push a real backup out of the rotation.)
    def start_session(self, reviewer: str | None, queue: dict) -> int:
        changed = self._changed
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO sessions(started_at, reviewer, queue) VALUES (?, ?, ?)",
                (now_iso(), reviewer, json.dumps(queue)),
            )
        self._changed = changed
        return cur.lastrowid

    def end_session(self, session_id: int, items: int) -> None:
        changed = self._changed
        with self.transaction() as c:
            c.execute("UPDATE sessions SET ended_at = ?, items = ? WHERE id = ?", (now_iso(), items, session_id))
        self._changed = changed


def clean_error_types(names: list[str]) -> list[str]:
    """A taxonomy as given (e.g. the lines of a file): names stripped, blank lines dropped; a name
    listed twice is a :class:`ProjectError`."""
    clean = [n.strip() for n in names if n.strip()]
    dupes = {n for n in clean if clean.count(n) > 1}
    if dupes:
        raise ProjectError(f"error type listed twice: {', '.join(sorted(dupes))}")
    return clean
