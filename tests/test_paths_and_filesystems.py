"""Where users keep projects (issue 13): folders named with ``#``, ``?``, ``%``, spaces, Unicode or
a leading ``-``, and read-only folders and file systems (a mounted dataset, a colleague's share).

Every command is walked on such a path: it must work, leave no stray file beside the folder, and
never call a sound project "corrupt". A read-only file system is a real one: a tmpfs mounted and
remounted read-only (the tests run as root, where ``chmod`` does not stop a write); where mounting
is not allowed and the tests do not run as root, the folder is made read-only with ``chmod``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import DIGITS, DIGITS_CSV
from labeler.cli import main
from labeler.core import backup, fileops
from labeler.core.store import Decision, Project, ProjectError, ProjectReadOnly

ODD_NAMES = ["data #2", "why?", "100%25 done", "with  spaces", "ünïcödé 数据", "-lead", "a#b?c%41&d=e"]


def run(*args, ok: bool = True):
    r = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert r.exit_code == 0, r.output + repr(r.exception)
    return r


def _listing(folder: Path) -> set[str]:
    return set(os.listdir(folder))


@pytest.mark.parametrize("name", ODD_NAMES)
def test_every_command_works_in_a_folder_named_with_uri_characters(tmp_path, name):
    """Before: the import worked, then every command said "not a labeler project" and left an
    empty file named after the part of the folder before the ``#`` or ``?``."""
    parent = tmp_path / "parent"
    folder = parent / name
    folder.mkdir(parents=True)
    preds = folder / "predictions.csv"
    shutil.copyfile(DIGITS_CSV, preds)
    taxonomy = folder / "taxonomy.txt"
    shutil.copyfile(DIGITS / "taxonomy.txt", taxonomy)
    project = folder / "predictions.labeler.db"

    run("import", preds, "--taxonomy", taxonomy)
    assert project.exists()
    # a decision, so that closing makes a backup and restore has something to put back
    with Project.open(project) as p:
        eid = p.examples_table().column("id")[0].as_py()
        p.write_decision(eid, Decision(), Decision(label="3", reviewed=True), "label 3")

    assert "train" in run("summary", "--project", project).output
    assert "items" in run("queue", "--project", project, "--limit", 3).output
    run("confusion", "--project", project, "--json")
    run("tally", "--project", project)
    names = taxonomy.read_text(encoding="utf-8").splitlines()
    assert names[0] in run("taxonomy", "list", "--project", project).output
    run("taxonomy", "rename", names[0], "renamed one", "--project", project)
    run("taxonomy", "set", taxonomy, "--project", project, "--force")
    assert "ranked" in run("rank", "--project", project, "--limit", 2).output
    out = folder / "export #1?"
    run("export", "--project", project, "--out", out)
    assert (out / "report.html").exists()
    found = backup.list_backups(project)
    assert found, "closing a changed project makes a backup"
    assert found[0].path.name in run("restore", "--project", project, "--list").output
    run("restore", "--project", project)
    with Project.open(project, readonly=True) as p:  # what was restored is a sound project
        assert p.decision(eid).label == "3"
    run("import", preds, "--project", project)  # a re-import into the existing project
    with Project.open(project, readonly=True) as p:
        assert p.decision(eid).label == "3"

    # nothing was created beside the folder (SQLite opened "parent/data " for "parent/data #2/...")
    assert _listing(parent) == {name}


def test_a_leading_dash_file_name_after_double_dash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(DIGITS_CSV, tmp_path / "-preds.csv")
    run("import", "--", "-preds.csv")
    assert (tmp_path / "-preds.labeler.db").exists()
    assert "train" in run("summary", "--project", "./-preds.labeler.db").output


def test_sqlite_uri_round_trips_every_odd_character(tmp_path):
    """The URI names the same file for any character a folder may hold; computed against a file
    made by the plain (non-URI) API."""
    names = [*ODD_NAMES, "x%y", "%", "?mode=rw", "#", "a b", "tab\there", "new\nline"]
    for name in names:
        folder = tmp_path / name
        folder.mkdir()
        db = folder / "t.db"
        conn = sqlite3.connect(str(db))
        conn.execute("CREATE TABLE t(x)")
        conn.execute("INSERT INTO t VALUES (?)", (name,))
        conn.commit()
        conn.close()
        ro = sqlite3.connect(fileops.sqlite_uri(db, mode="ro"), uri=True)
        try:
            assert ro.execute("SELECT x FROM t").fetchone() == (name,)
            with pytest.raises(sqlite3.OperationalError):
                ro.execute("INSERT INTO t VALUES (1)")  # mode=ro was read as a parameter, not a name
        finally:
            ro.close()
    assert _listing(tmp_path) == set(names)  # no stray file beside them
    for name in names:
        assert _listing(tmp_path / name) == {"t.db"}


def test_backup_and_restore_in_a_folder_named_with_uri_characters(digits_project, tmp_path):
    folder = tmp_path / "backups #1 ?x=1"
    folder.mkdir()
    project = folder / "p.labeler.db"
    shutil.copyfile(digits_project, project)
    with Project.open(project) as p:
        eid = p.examples_table().column("id")[0].as_py()
        p.write_decision(eid, Decision(), Decision(note="kept", reviewed=True), "note")
    assert len(backup.list_backups(project)) == 1
    project.write_bytes(b"garbage" * 100)
    with pytest.raises(ProjectError, match="labeler restore"):
        Project.open(project, readonly=True)
    backup.restore(project)
    with Project.open(project, readonly=True) as p:
        assert p.decision(eid).note == "kept"
    assert _listing(tmp_path) == {folder.name, digits_project.name}


# ---------------------------------------------------------------------------------------------
# read-only folders and file systems


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


class ReadOnlyShare:
    """A folder on its own file system that is filled while writable, then made read-only."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.mounted = False
        folder.mkdir()
        if _can_mount():
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)],
                               capture_output=True, text=True)
            self.mounted = r.returncode == 0
        if not self.mounted and os.geteuid() == 0:
            pytest.skip("running as root without permission to mount: a read-only folder cannot be made")

    def seal(self) -> None:
        if self.mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(self.folder)], check=True)
        else:
            for p in self.folder.iterdir():
                p.chmod(0o444)
            self.folder.chmod(0o555)
        assert not os.access(self.folder, os.W_OK)

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.folder)], check=False)
        else:
            self.folder.chmod(0o755)


@pytest.fixture
def share(tmp_path):
    s = ReadOnlyShare(tmp_path / "share")
    try:
        yield s
    finally:
        s.close()


def _decided_project(digits_project: Path) -> tuple[Path, str]:
    with Project.open(digits_project) as p:
        eid = p.examples_table().column("id")[0].as_py()
        p.write_decision(eid, Decision(), Decision(label="7", note="on the share", reviewed=True), "label 7")
    return digits_project, eid


def test_reading_commands_work_on_a_read_only_file_system(digits_project, share):
    """Before: "corrupt or not a labeler project: unable to open database file"."""
    src, eid = _decided_project(digits_project)
    project = share.folder / "p.labeler.db"
    shutil.copyfile(src, project)
    share.seal()
    before = _listing(share.folder)
    with Project.open(project, readonly=True) as p:
        assert p.decision(eid).label == "7"
        assert len(p.examples_table()) == 1797
    assert "train" in run("summary", "--project", project).output
    assert "items" in run("queue", "--project", project, "--limit", 2).output
    run("tally", "--project", project)
    run("confusion", "--project", project)
    run("taxonomy", "list", "--project", project)
    run("restore", "--project", project, "--list")
    out = share.folder.parent / "out"
    assert "1 train label" in run("export", "--project", project, "--out", out).output
    assert _listing(share.folder) == before


@pytest.mark.parametrize("command", [
    ["taxonomy", "rename", "blurry", "fuzzy"],
    ["taxonomy", "set", str(DIGITS / "taxonomy.txt")],
    ["rank"],
    ["import", str(DIGITS_CSV)],
    ["restore"],
])
def test_writing_commands_say_the_folder_is_read_only(digits_project, share, command):
    """Before: "cannot create lock file" or "corrupt"; the message now says read-only, never corrupt."""
    src, _ = _decided_project(digits_project)
    project = share.folder / "p.labeler.db"
    shutil.copyfile(src, project)
    shutil.copytree(backup.backup_dir(src), backup.backup_dir(project))
    share.seal()
    before = _listing(share.folder)
    r = run(*command, "--project", project, ok=False)
    assert r.exit_code == 2, r.output
    assert "read-only" in r.output and "corrupt" not in r.output, r.output
    assert "Traceback" not in r.output
    assert _listing(share.folder) == before


def test_writer_open_on_a_read_only_file_system_is_project_read_only(digits_project, share):
    project = share.folder / "p.labeler.db"
    shutil.copyfile(digits_project, project)
    share.seal()
    with pytest.raises(ProjectReadOnly, match="read-only"):
        Project.open(project)


def test_a_new_project_in_a_read_only_folder_is_refused_clearly(share, tmp_path):
    shutil.copyfile(DIGITS_CSV, share.folder / "predictions.csv")
    share.seal()
    r = run("import", share.folder / "predictions.csv", ok=False)
    assert r.exit_code == 2
    assert "cannot create the project" in r.output and "read-only" in r.output, r.output
    assert _listing(share.folder) == {"predictions.csv"}
    # with --project elsewhere it works
    run("import", share.folder / "predictions.csv", "--project", tmp_path / "mine.labeler.db")


def test_unsaved_changes_in_a_wal_on_a_read_only_share_are_said_not_missed(digits_project, share):
    """A project copied while a writer had decisions in its WAL: reading it without the WAL would
    miss them; reading the WAL needs an index file the read-only folder cannot hold. Say so."""
    with Project.open(digits_project) as p:
        eid = p.examples_table().column("id")[0].as_py()
        p.write_decision(eid, Decision(), Decision(label="7", reviewed=True), "label 7")
        wal = Path(f"{digits_project}-wal")
        assert wal.stat().st_size > 0
        shutil.copyfile(digits_project, share.folder / "p.labeler.db")
        shutil.copyfile(wal, share.folder / "p.labeler.db-wal")
    share.seal()
    with pytest.raises(ProjectError, match="p.labeler.db-wal.*not closed cleanly") as e:
        Project.open(share.folder / "p.labeler.db", readonly=True)
    assert "corrupt" not in str(e.value)


def test_a_project_in_a_folder_that_does_not_exist(tmp_path):
    """Before: "cannot create lock file .../x.labeler.db.lock: No such file or directory"."""
    shutil.copyfile(DIGITS_CSV, tmp_path / "predictions.csv")
    r = run("import", tmp_path / "predictions.csv", "--project", tmp_path / "nofolder" / "x.labeler.db", ok=False)
    assert r.exit_code == 2
    assert f"there is no folder {tmp_path / 'nofolder'}" in r.output, r.output
    assert _listing(tmp_path) == {"predictions.csv"}
