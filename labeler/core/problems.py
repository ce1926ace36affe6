"""The errors raised about a user's file, a project or an export: each message names the file, the
line or column and what is wrong. Defined once so the format readers and writers, the store, the
importer, the export, the CLI and the window all speak of the same things (and so that
:mod:`labeler.core.fileops`, below the store, can raise the store's errors)."""

from __future__ import annotations


class ProjectError(Exception):
    """A project file cannot be opened or written; the message says why."""


class ProjectLocked(ProjectError):
    """Another process is writing to the project."""


class ProjectGone(ProjectError):
    """The project file was deleted or replaced by another file while it was open: a write would
    go to a file nobody can open any more, so it is refused (and kept in a recovery file)."""


class ProjectReadOnly(ProjectError):
    """The project's folder or file system cannot be written: it can be opened read-only only."""


class ImportProblem(ValueError):
    """The predictions file cannot be imported; the message says where and why."""


class MissingColumns(ImportProblem):
    """Some roles have no column: the window asks for them, the CLI names them."""

    def __init__(self, missing: list[str], found: list[str], detected: dict[str, str], message: str):
        super().__init__(message)
        self.missing = missing  # e.g. ["label", "path or text"]
        self.found = found  # every column of the file
        self.detected = detected  # role -> column, for the roles that were found


class ImportCancelled(Exception):
    """The user cancelled the import; nothing was written."""



class ExportProblem(Exception):
    """The export cannot be done; the message names the file, line or column and what is wrong.
    Nothing of the previous export has been replaced."""


class ExportCancelled(Exception):
    """The export was cancelled; nothing of the previous export has been replaced."""



class TeamStoreError(ProjectError):
    """A PostgreSQL server refused, or cannot be reached (labeler.core.store_pg); the message never
    holds a password."""
