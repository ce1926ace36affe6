"""The window on a project it cannot write (issue 13): on a read-only file system, or while another
labeler writes to it, the window offers to open it read-only; `labeler review --read-only` does so
directly. Read-only, every item and panel can be looked at, keys that would change a decision say
so in the status bar, and nothing is written (the folder's files and the project's rows are as they
were). Read-only file systems are real ones (see tests/test_paths_and_filesystems.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("pytestqt")

from click.testing import CliRunner  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from labeler.cli import main  # noqa: E402
from labeler.core.store import Project  # noqa: E402
from labeler.gui.main_window import MainWindow  # noqa: E402
from test_gui_reliability import ENV, HOLDER, key, make_window, on_disk, show  # noqa: E402
from test_paths_and_filesystems import ReadOnlyShare  # noqa: E402


@pytest.fixture
def share(tmp_path):
    s = ReadOnlyShare(tmp_path / "share")
    try:
        yield s
    finally:
        s.close()


def _digest(folder) -> dict[str, str]:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in sorted(os.listdir(folder))}


def _answer(monkeypatch, answer) -> list[str]:
    asked: list[str] = []

    def question(parent, title, text, *a, **k):
        asked.append(text)
        return answer

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def test_window_opens_a_project_on_a_read_only_file_system_read_only(qtbot, tmp_path, digits_project, share,
                                                                      monkeypatch):
    """Before: "cannot create lock file ...: Read-only file system" and nothing opened."""
    project = share.folder / "p.labeler.db"
    shutil.copyfile(digits_project, project)
    share.seal()
    before = _digest(share.folder)
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    errors: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: errors.append(text))
    win = make_window(qtbot, tmp_path)
    assert win.open_path(project) is True
    assert len(asked) == 1 and "read-only" in asked[0] and "corrupt" not in asked[0]
    assert win.session is not None and win.session.project.readonly
    assert "(read-only)" in win.windowTitle()
    assert win.saved_label.text() == "read-only: nothing is saved"
    show(qtbot, win)
    first = win.session.current_id
    key(qtbot, win, Qt.Key.Key_M)  # would tag it mislabeled
    assert "Read-only" in win.statusBar().currentMessage()
    assert not win.session.decision(first).tags
    key(qtbot, win, Qt.Key.Key_Right)  # moving on works, and marks nothing
    assert win.session.position == 1 and not win.session.decision(first).reviewed
    win.grab().save(str(tmp_path / "read_only.png"))
    win.close()
    assert errors == []
    assert _digest(share.folder) == before


def test_window_offers_read_only_when_another_process_writes(qtbot, tmp_path, digits_project, monkeypatch):
    """The refusal named the other process and said "open this one read-only", but there was no
    way to: now the window asks, and Yes opens it read-only; the writer's decisions are untouched."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(digits_project)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout.readline().strip() == "ready"
        before = on_disk(digits_project)
        asked = _answer(monkeypatch, QMessageBox.StandardButton.Yes)
        win = make_window(qtbot, tmp_path)
        assert win.open_path(digits_project) is True
        assert len(asked) == 1 and "another labeler" in asked[0] and f"process {proc.pid}" in asked[0]
        assert win.session.project.readonly
        show(qtbot, win)
        key(qtbot, win, Qt.Key.Key_M)
        key(qtbot, win, Qt.Key.Key_Right)
        win.close()
        assert on_disk(digits_project) == before
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_declining_read_only_opens_nothing(qtbot, tmp_path, digits_project, monkeypatch):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(digits_project)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout.readline().strip() == "ready"
        asked = _answer(monkeypatch, QMessageBox.StandardButton.No)
        errors: list[str] = []
        monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: errors.append(text))
        win = make_window(qtbot, tmp_path)
        assert win.open_path(digits_project) is False
        assert len(asked) == 1 and win.session is None
        assert errors == []  # the question said it all
        win.close()
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_labeler_review_read_only_from_the_command_line(qtbot, tmp_path, digits_project, share, monkeypatch):
    """`labeler review --read-only PROJECT` on a read-only share: the window opens it read-only
    without asking (the event loop is replaced by a look at the window it would run)."""
    project = share.folder / "p.labeler.db"
    shutil.copyfile(digits_project, project)
    share.seal()
    before = _digest(share.folder)
    asked = _answer(monkeypatch, QMessageBox.StandardButton.No)
    seen = {}

    def exec_(self):
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        seen["readonly"] = [w.session.project.readonly for w in wins]
        seen["title"] = [w.windowTitle() for w in wins]
        for w in wins:
            w.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", exec_)
    monkeypatch.setenv("HOME", str(tmp_path))  # QSettings of this run stay in the test's folder
    r = CliRunner().invoke(main, ["review", "--read-only", str(project)])
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert seen["readonly"] == [True] and "(read-only)" in seen["title"][0]
    assert asked == []
    assert _digest(share.folder) == before


@pytest.mark.parametrize("extra,said", [(["--taxonomy", "TAX"], "--taxonomy changes the project"),
                                        (["--blind", "--reviewer", "me"], "--blind records your labels")])
def test_review_read_only_refuses_what_would_write(digits_project, extra, said):
    before = hashlib.sha256(digits_project.read_bytes()).hexdigest()
    extra = [str(digits_project) if a == "TAX" else a for a in extra]
    r = CliRunner().invoke(main, ["review", "--read-only", str(digits_project), *extra])
    assert r.exit_code == 2 and said in r.output and "--read-only" in r.output, r.output
    assert hashlib.sha256(digits_project.read_bytes()).hexdigest() == before


def test_read_only_session_moves_without_writing(digits_project):
    """The core: Next on a read-only project goes on without trying to save "reviewed" (which
    raised "is open read-only" before)."""
    from labeler.core.session import ReviewSession

    with Project.open(digits_project, readonly=True) as p:
        s = ReviewSession(p)
        first = s.current_id
        s.next()
        assert s.position == 1 and not s.decision(first).reviewed


def test_window_on_a_folder_named_with_uri_characters(qtbot, tmp_path, digits_project):
    """The window's open, a decision and its close (checkpoint, backup) in `data #2?x=1%25`: the
    decision is in the project, nothing is made beside the folder, the recent list keeps the path."""
    parent = tmp_path / "parent"
    folder = parent / "data #2?x=1%25"
    folder.mkdir(parents=True)
    project = folder / "p.labeler.db"
    shutil.copyfile(digits_project, project)
    win = make_window(qtbot, tmp_path)
    assert win.open_path(project) is True
    show(qtbot, win)
    first = win.session.current_id
    key(qtbot, win, Qt.Key.Key_M)
    assert win.saved_label.text().startswith("✓ saved")
    win.session.project.checkpoint()
    win.close()
    assert set(os.listdir(parent)) == {folder.name}
    with Project.open(project, readonly=True) as p:  # (tests' on_disk builds its URI by hand)
        assert "mislabeled" in p.decision(first).tags
    assert str(project.resolve()) in win._recent()
