"""The review window on a team project (pytest-qt, offscreen, real key events on a shown window, a
real PostgreSQL server): the queue is this reviewer's claims, each key press reaches the server, the
status says online or offline and how many decisions wait, the team panel counts by reviewer, and
another reviewer's decision shows up in the window and its tally without a key press. What the
server holds is read back through a separate connection."""

from __future__ import annotations

import json

import psycopg
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt  # noqa: E402

from labeler.core import store_pg  # noqa: E402
from labeler.core.queue import QueueSpec  # noqa: E402
from labeler.core.session import ReviewSession  # noqa: E402
from labeler.core.store import Project  # noqa: E402
from labeler.core.team_sync import TeamLink  # noqa: E402
from labeler.gui import keymap as keymapmod  # noqa: E402
from labeler.gui.main_window import MainWindow  # noqa: E402


def server(base: str, query: str) -> list[tuple]:
    with psycopg.connect(base) as pg:
        return pg.execute(query.replace("P.", '"digits".')).fetchall()


@pytest.fixture
def team(pg_db, digits_project, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home"))
    url = f"{pg_db}?project=digits"
    store_pg.push(digits_project, url)
    return url


def open_team_window(qtbot, tmp_path, url: str, reviewer: str) -> MainWindow:
    win = MainWindow(settings=QSettings(str(tmp_path / f"settings-{reviewer}.ini"), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap(), reviewer=reviewer)
    qtbot.addWidget(win)
    assert win.open_team(url)
    win.resize(1280, 800)
    with qtbot.waitExposed(win):
        win.show()
    win.activateWindow()
    win.item_view.image_view.setFocus()
    return win


def test_keys_in_a_team_window_reach_the_server_and_others_show_up(qtbot, tmp_path, team, pg_db):
    win = open_team_window(qtbot, tmp_path, team, "alice")
    s = win.session
    mine = list(s.items)
    assert 0 < len(mine) <= 20  # a batch claimed, not the whole queue
    claimed = server(pg_db, "SELECT example_id FROM P.claims WHERE reviewer = 'alice' AND lease_until > now()")
    assert sorted(e for e, in claimed) == sorted(mine)
    qtbot.waitUntil(lambda: win.team.label.text().startswith("● online"), timeout=10_000)

    first = s.current_id
    qtbot.keyClick(win.item_view.image_view, Qt.Key.Key_M)  # mislabeled
    qtbot.keyClick(win.item_view.image_view, Qt.Key.Key_Space)
    second = s.current_id
    qtbot.keyClick(win.item_view.image_view, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: len(server(pg_db, "SELECT 1 FROM P.decisions WHERE reviewer = 'alice'")) == 2, timeout=10_000)
    rows = dict(server(pg_db, "SELECT example_id, tags FROM P.decisions"))
    assert json.loads(rows[first]) == ["mislabeled"] and json.loads(rows[second]) == []
    done = server(pg_db, "SELECT example_id FROM P.claims WHERE done_by = 'alice'")
    assert sorted(e for e, in done) == sorted([first, second])
    qtbot.waitUntil(lambda: win.team.label.text().startswith("● online · all saved on the server"), timeout=10_000)
    qtbot.waitUntil(lambda: "alice (you)" in [win.team.panel.table.item(r, 0).text()
                                               for r in range(win.team.panel.table.rowCount())], timeout=10_000)
    with Project.open(win.session.project.path, readonly=True) as copy:
        total = int(copy.examples_table().to_pandas().query("split == 'dev' and wrong").shape[0])  # every dev error
    qtbot.waitUntil(lambda: win.team.label.text().endswith(f"shared queue 2/{total} done"), timeout=10_000)
    assert win.team.dock.isHidden()  # the example keeps the width; T or View ▸ Panels shows it

    # bob, elsewhere, tags one of alice's items as ambiguous: the window shows it without a key
    bob = TeamLink(team, "bob")
    bob.open()
    with Project.open(bob.path) as p:
        b = ReviewSession(p, QueueSpec(), reviewer="bob")
        b.toggle_tag("ambiguous", ids=[mine[2]])
        b.close()
    bob.flush()
    qtbot.waitUntil(lambda: "ambiguous" in s.decision(mine[2]).tags, timeout=10_000)
    with Project.open(win.session.project.path, readonly=True) as local:
        assert "ambiguous" in local.decision(mine[2]).tags
    # ... and in the tally: alice's two reviewed errors and bob's one, one of them ambiguous
    def tally_says():
        t = win.analysis.analysis.tally("dev")
        return t["reviewed"], {c["name"]: c["count"] for c in t["categories"]}["ambiguous"]
    qtbot.waitUntil(lambda: tally_says() == (3, 1), timeout=10_000)
    bob.close()

    recent = win._recent()
    assert recent[0] == team and "project=digits" in recent[0]
    win.close()
    # closing gives back the claims not reviewed
    held = server(pg_db, "SELECT example_id FROM P.claims WHERE reviewer = 'alice' AND done_at IS NULL")
    assert held == []


def test_a_password_in_the_url_is_never_kept_in_recent_files(qtbot, tmp_path, team):
    url = team.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@")
    win = open_team_window(qtbot, tmp_path, url, "carol")
    assert all("s3cret" not in r for r in win._recent())
    assert win._recent()[0] == team
    assert "s3cret" not in win.team.label.toolTip() and "s3cret" not in win.windowTitle()
    win.close()
    assert "s3cret" not in (tmp_path / "settings-carol.ini").read_text()


def test_what_a_team_window_cannot_share_is_refused_with_what_to_do(qtbot, tmp_path, team, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    said = []
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text: said.append(text))
    win = open_team_window(qtbot, tmp_path, team, "dan")
    before = win.session.project.error_types()
    win.edit_error_types()
    win.apply_error_types(before + ["new kind"], {})  # (the slices panel offers one this way)
    assert win.session.project.error_types() == before
    assert win.modes.open_labeling() is None
    assert len(said) == 3 and "labeler taxonomy set|rename" in said[0] and "--label" in said[2]
    win.close()
