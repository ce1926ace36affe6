"""The project file deleted or replaced while it is open (issue 13). Before: the next decision was
"saved" into the deleted file, the idle checkpoint made an empty file in its place, and the CLI
then called that stub "not a labeler project" without a word about the backups.

Now a write checks the path still names the file it opened: if not, the change is refused as NOT
saved, kept in a recovery file (``PROJECT.unsaved.jsonl``) and on screen, no empty stub is ever
made, the backup at close holds what the open file had, and ``labeler restore`` then
``labeler restore --unsaved FILE`` bring everything back.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest
from click.testing import CliRunner

from labeler.cli import main
from labeler.core import backup, fileops
from labeler.core.store import Decision, Project, ProjectGone


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _first_ids(p: Project, n: int) -> list[str]:
    return p.examples_table().column("id").to_pylist()[:n]


def test_a_deleted_project_refuses_the_write_keeps_it_and_makes_no_stub(digits_project):
    p = Project.open(digits_project)
    a, b = _first_ids(p, 2)
    p.write_decision(a, Decision(), Decision(label="3", reviewed=True), "label 3")
    os.unlink(digits_project)
    with pytest.raises(ProjectGone) as e:
        p.write_decision(b, Decision(), Decision(note="after the delete", reviewed=True), "note")
    msg = str(e.value)
    unsaved = fileops.unsaved_path(digits_project)
    assert "deleted" in msg and "NOT saved" in msg and str(unsaved) in msg
    # what the deleted file held was backed up at once, from the connection still open on it
    found = backup.list_backups(digits_project)
    assert len(found) == 1 and str(found[0].path) in msg and "labeler restore" in msg
    import sqlite3

    conn = sqlite3.connect(f"file:{found[0].path}?mode=ro", uri=True)
    assert conn.execute("SELECT label FROM decisions WHERE example_id = ?", (a,)).fetchone() == ("3",)
    conn.close()
    kept = [json.loads(line) for line in unsaved.read_text(encoding="utf-8").splitlines()]
    assert [(k["example_id"], k["after"]["note"]) for k in kept] == [(b, "after the delete")]
    assert p.checkpoint() is None  # the idle checkpoint of the window
    assert not digits_project.exists(), "an empty stub was made in the project's place"
    p.close()
    assert not digits_project.exists()

    # the CLI names the way back, and it works
    r = cli("summary", "--project", digits_project)
    assert r.exit_code == 2 and "labeler restore" in r.output and "backup" in r.output, r.output
    assert backup.list_backups(digits_project), "the close backed up what the open file held"
    assert cli("restore", "--project", digits_project).exit_code == 0
    r = cli("summary", "--project", digits_project)  # the kept decisions are pointed out
    assert r.exit_code == 0 and f"{unsaved} holds 1 decision" in r.output and "--unsaved" in r.output
    r = cli("restore", "--project", digits_project, "--unsaved", unsaved)
    assert r.exit_code == 0, r.output
    assert not unsaved.exists() and unsaved.with_name(unsaved.name + ".applied").exists()
    with Project.open(digits_project, readonly=True) as q:
        assert q.unsaved_note is None
        assert q.decision(a).label == "3"  # saved before the delete, back from the backup
        assert q.decision(b).note == "after the delete"  # refused then, written now


def test_a_replaced_project_is_left_as_it_is(digits_project, tmp_path):
    other = tmp_path / "other.labeler.db"
    shutil.copyfile(digits_project, other)
    p = Project.open(digits_project)
    (a,) = _first_ids(p, 1)
    os.replace(other, digits_project)  # e.g. a sync client or a copy from elsewhere puts a file there
    digest = hashlib.sha256(digits_project.read_bytes()).hexdigest()
    with pytest.raises(ProjectGone, match="replaced by another file"):
        p.write_decision(a, Decision(), Decision(label="5", reviewed=True), "label 5")
    assert p.checkpoint() is None
    p.close()
    assert hashlib.sha256(digits_project.read_bytes()).hexdigest() == digest
    with Project.open(digits_project, readonly=True) as q:
        assert q.decision(a) == Decision()


def test_recovery_file_for_another_project_is_refused(digits_project, tmp_path):
    unsaved = tmp_path / "x.unsaved.jsonl"
    unsaved.write_text(json.dumps({"example_id": "no such id", "action": "note", "after": Decision(
        note="x", reviewed=True).to_json()}) + "\n", encoding="utf-8")
    r = cli("restore", "--project", digits_project, "--unsaved", unsaved)
    assert r.exit_code == 2 and "no such id" in r.output and "wrong project" in r.output
    assert unsaved.exists()


def test_recovery_file_goes_to_the_data_folder_when_the_project_folder_is_gone(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    gone = tmp_path / "gone" / "p.labeler.db"
    where = fileops.keep_unsaved(gone, [{"example_id": "1"}])
    assert where.parent == tmp_path / "data" / "labeler" / "unsaved" and where.name.startswith("p.labeler.db-")
    assert json.loads(where.read_text(encoding="utf-8"))["project"] == str(gone)


def test_the_window_says_not_saved_once_and_keeps_the_decisions(qtbot, tmp_path, digits_project, monkeypatch):
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    from test_gui_reliability import key, make_window, show

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append(text))
    win = make_window(qtbot, tmp_path)
    win.set_project(Project.open(digits_project))
    show(qtbot, win)
    s = win.session
    key(qtbot, win, Qt.Key.Key_M)
    assert win.saved_label.text().startswith("✓ saved")
    os.unlink(digits_project)
    here = s.current_id
    key(qtbot, win, Qt.Key.Key_H)
    assert win.saved_label.text() == "NOT saved: the project file is gone"
    assert len(shown) == 1 and "deleted" in shown[0]
    assert s.decision(here).tags == {"mislabeled", "very hard"}  # still on screen
    key(qtbot, win, Qt.Key.Key_A)  # a second refusal: the status bar, not another dialog
    assert len(shown) == 1 and "NOT saved" in win.statusBar().currentMessage()
    assert win.saved_label.text() == "NOT saved: the project file is gone"
    win.grab().save(str(tmp_path / "gone.png"))
    s.project.checkpoint()  # what the idle timer runs
    win.close()
    assert not digits_project.exists()
    kept = [json.loads(x) for x in fileops.unsaved_path(digits_project).read_text(encoding="utf-8").splitlines()]
    assert [k["after"]["tags"] for k in kept] == [["mislabeled", "very hard"], ["ambiguous", "mislabeled", "very hard"]]


@pytest.mark.parametrize("how", ["empty", "other sqlite", "deleted"])
def test_every_not_a_project_message_names_restore_when_backups_exist(digits_project, how):
    """An empty stub (what the old window left), another SQLite file, no file: each message says
    backups exist and how to put the newest back."""
    with Project.open(digits_project) as p:
        (a,) = _first_ids(p, 1)
        p.write_decision(a, Decision(), Decision(note="n", reviewed=True), "note")
    assert len(backup.list_backups(digits_project)) == 1
    if how == "empty":
        digits_project.write_bytes(b"")
    elif how == "other sqlite":
        digits_project.unlink()
        import sqlite3

        conn = sqlite3.connect(digits_project)
        conn.execute("CREATE TABLE t(x)")
        conn.commit()
        conn.close()
    else:
        digits_project.unlink()
    for command in (["summary"], ["queue"], ["taxonomy", "list"], ["rank"]):
        r = cli(*command, "--project", digits_project)
        assert r.exit_code == 2, r.output
        assert "1 backup(s) exist" in r.output and f"labeler restore --project {digits_project}" in r.output, r.output


def test_a_relative_path_and_a_change_of_folder_are_not_a_deleted_project(digits_project, tmp_path, monkeypatch):
    monkeypatch.chdir(digits_project.parent)
    with Project.open(digits_project.name) as p:
        (a,) = _first_ids(p, 1)
        monkeypatch.chdir(tmp_path.parent)
        p.write_decision(a, Decision(), Decision(note="still here", reviewed=True), "note")
    with Project.open(digits_project, readonly=True) as p:
        assert p.decision(a).note == "still here"


def test_the_window_saves_a_copy_and_goes_on_there(qtbot, tmp_path, digits_project, monkeypatch):
    """'Keep the decisions until they can be written': File > Save a copy of the project writes what
    the deleted file held and the changes refused since into a new file, and the review goes on
    there, saving again."""
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    from test_gui_reliability import key, make_window, show

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append(text))
    win = make_window(qtbot, tmp_path)
    win.set_project(Project.open(digits_project))
    show(qtbot, win)
    s = win.session
    first = s.current_id
    key(qtbot, win, Qt.Key.Key_M)  # saved
    key(qtbot, win, Qt.Key.Key_Right)
    second = win.session.current_id
    os.unlink(digits_project)
    key(qtbot, win, Qt.Key.Key_H)  # refused, kept
    assert len(shown) == 1 and "Save a copy of the project" in shown[0]
    copy = tmp_path / "rescued.labeler.db"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(copy), ""))
    action = next(a for a in win.menuBar().actions()[0].menu().actions() if a.text() == "Save a &copy of the project…")
    action.trigger()
    assert win.session is not None and win.session.project.path == copy
    with Project.open(copy, readonly=True) as p:
        assert "mislabeled" in p.decision(first).tags
        assert "very hard" in p.decision(second).tags  # the change refused while the file was gone
    win.session.goto(win.session.items.index(second))
    key(qtbot, win, Qt.Key.Key_E)  # and the review saves again, into the copy
    assert win.saved_label.text().startswith("✓ saved")
    win.close()
    with Project.open(copy, readonly=True) as p:
        assert p.decision(second).tags == {"very easy"}  # E replaces its opposite, H
    assert not digits_project.exists()
    assert not fileops.unsaved_path(digits_project).exists()  # applied, renamed .applied
