"""Blind relabeling end to end in a real X window: `labeler review --blind` started as a user would,
number keys typed with xdotool, a skip and an undo; the reviewer's labels must be in the project (and
nothing else: no decision, the given labels untouched)."""

from __future__ import annotations

import sqlite3

import numpy as np

from conftest import read_digits_rows
from test_e2e_x11 import _poll, xserver  # noqa: F401  (the fixture)
from x11 import App


def _blind(path) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return dict(conn.execute("SELECT example_id, label FROM reviewer_labels WHERE reviewer = 'ann'"))
    finally:
        conn.close()


def _decisions(path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    finally:
        conn.close()


def test_blind_session_with_number_keys_in_a_real_window(xserver, digits_project, tmp_path):  # noqa: F811
    dev = [r["id"] for r in read_digits_rows() if r["split"] == "dev"]
    items = [dev[i] for i in np.random.default_rng(5).permutation(len(dev))[:6]]  # the documented sample
    app = App(xserver, tmp_path, ["review", "--project", digits_project, "--blind", "--sample", "6", "--seed", "5",
                                  "--reviewer", "ann"])
    try:
        app.window("blind labels")
        # 3: class "2"; 0: class "9"; skip; 1: class "0"; 5, then undo it
        app.keys("3", "0", "shift+Right", "1", "5", "ctrl+z")
        expected = {items[0]: "2", items[1]: "9", items[3]: "0"}
        _poll(lambda: _blind(digits_project) == expected, 20, f"the blind labels {expected}")
    finally:
        app.kill()
    assert _blind(digits_project) == expected
    assert _decisions(digits_project) == 0  # blind labels are not corrections
