"""A team review in a real X window (Xvfb, xdotool key events) on a real PostgreSQL server that is
stopped (``pg_ctl stop -m immediate``, as a crash) and started again mid-session, and a window killed
with SIGKILL: every decision the window made reaches the server once, in the order it was made.

What the window journaled is read from its local copy (a separate read-only SQLite connection);
what the server holds through psycopg."""

from __future__ import annotations

import sqlite3

import psycopg

from labeler.core import store_pg
from test_e2e_x11 import _poll, xserver  # noqa: F401  (the fixture)
from x11 import App


def server_events(url: str) -> list[tuple]:
    with psycopg.connect(url) as pg:
        return pg.execute('SELECT at, example_id, action FROM "digits".events WHERE reviewer = %s ORDER BY seq',
                          ("alice",)).fetchall()


def journal(tmp) -> list[tuple]:
    copies = list((tmp / "data" / "labeler" / "team").glob("digits-*/project.labeler.db"))
    assert len(copies) == 1, copies
    with sqlite3.connect(f"file:{copies[0]}?mode=ro", uri=True) as j:
        return j.execute("SELECT at, example_id, action FROM events WHERE reviewer = 'alice' ORDER BY seq").fetchall()


def test_a_team_window_survives_a_server_crash_and_a_kill_9(xserver, own_server, digits_project, tmp_path):  # noqa: F811
    base = own_server.url()
    url = f"{base}?project=digits"
    store_pg.push(digits_project, url)
    args = ["review", "--project", url, "--reviewer", "alice"]
    app = App(xserver, tmp_path, args)
    try:
        app.window("as alice")
        app.keys("m", "space", "m", "space", "m", "space")
        _poll(lambda: len(server_events(base)) == 3 or None, 30, "three decisions on the server")

        own_server.stop("immediate")
        app.keys("h", "space", "h", "space", "h", "space")
        _poll(lambda: len(journal(tmp_path)) == 6 or None, 30, "three more decisions journaled")
        own_server.start()
        _poll(lambda: len(server_events(base)) == 6 or None, 60, "the journal replayed after the restart")
        assert server_events(base) == journal(tmp_path)  # in order, once each

        app.keys("e", "space", "e", "space")
        _poll(lambda: len(journal(tmp_path)) == 8 or None, 30, "two more journaled")
        app.kill()  # SIGKILL, maybe before those two were sent
    finally:
        if app.proc.poll() is None:
            app.kill()
    made = journal(tmp_path)
    assert len(made) == 8
    # the next start sends whatever the killed window had not, before anything else
    again = App(xserver, tmp_path, args)
    try:
        again.window("as alice")
        _poll(lambda: len(server_events(base)) == 8 or None, 30, "all eight on the server")
        assert server_events(base) == made
    finally:
        again.kill()
    assert [a for _, _, a in made] == ["+mislabeled"] * 3 + ["+very hard"] * 3 + ["+very easy"] * 2
