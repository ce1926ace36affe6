"""What an import decided about each file it read, kept in the project (meta ``files``).

A re-import reads a file with the columns the user named the first time, the export rewrites the
label column the import read and matches rows by the key the import used, and ``summary`` and the
report say which files a project holds: all from this record, never from a second guess.

The key is what identifies an example in its file: the id column where there is one, else the path,
else the text. Ids of a file without an id column are its row numbers (prefixed with the file's name
when the project holds several files); they are never matched against another file's ``id`` column.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

KEY_ROLES = ("id", "path", "text")


@dataclass
class FileMapping:
    """One imported file and how it was read."""

    path: str  # absolute
    kind: str  # csv, tsv, txt, jsonl, parquet
    gz: bool = False
    delimiter: str | None = None  # delimited files: the one they were read with
    roles: dict[str, str] = field(default_factory=dict)  # role -> column, as used
    prob_columns: dict[str, str] = field(default_factory=dict)  # class -> column
    given: dict[str, str] = field(default_factory=dict)  # the --column options the user gave
    split: str | None = None  # --split, for a file without a split column
    id_prefix: str = ""  # ids from row numbers: this prefix + the row number
    rows: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    imported_at: str | None = None
    attached_to: str | None = None  # a predictions file for the images of this folder of the project

    @property
    def key(self) -> str:
        """The role that identifies an example in this file: id, path or text."""
        return next((r for r in KEY_ROLES if r in self.roles), "id")

    @property
    def key_column(self) -> str | None:
        return self.roles.get(self.key)

    @property
    def ids_from_rows(self) -> bool:
        return bool(self.roles) and "id" not in self.roles

    @property
    def name(self) -> str:
        return Path(self.path).name

    def describe(self) -> str:
        """``dev.csv (csv, 1,000 rows: dev 1,000; key column 'id', label column 'label')``."""
        if self.attached_to:
            return f"{self.path} (the predictions of the images of {Path(self.attached_to).name})"
        if not self.roles:  # recorded by an earlier version: how it was read is not known
            return f"{self.path} (imported by an earlier version; import it again to record how it is read)"
        splits = ", ".join(f"{s} {n}" for s, n in self.splits.items())
        key = f"key column {self.key_column!r}" if not self.ids_from_rows else \
            f"ids from row numbers, matched by {self.key} column {self.key_column!r}"
        return f"{self.path} ({self.rows} rows: {splits}; {key}, label column {self.roles.get('label')!r})"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "FileMapping":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def files_of(project) -> list[FileMapping]:
    """The files a project holds, in the order their examples are stored. A project made before files
    were recorded held one: its source, with the ``--column`` options kept apart (roles unknown)."""
    files = project.meta("files", None)
    if files:
        return [FileMapping.from_json(d) for d in files]
    source = project.meta("source")
    if source:
        return [FileMapping(path=source, kind="", given=dict(project.meta("columns") or {}))]
    return []


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def find(files: list[FileMapping], path: str | os.PathLike) -> FileMapping | None:
    """The record of ``path`` among ``files`` (the same file under another name counts)."""
    return next((f for f in files if same_path(f.path, path)), None)


def holding(files: list[FileMapping], split: str) -> list[FileMapping]:
    """The files that hold examples of ``split``, most examples first."""
    return sorted((f for f in files if f.splits.get(split)), key=lambda f: -f.splits[split])
