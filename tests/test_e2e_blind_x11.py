"""Blind relabeling end to end in a real X window: `labeler review --blind` started as a user would,
number keys typed with xdotool, a skip and an undo; the reviewer's labels must be in the project (and
nothing else: no decision, the given labels untouched)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import numpy as np

from conftest import read_digits_rows
from test_e2e_x11 import _poll, xserver  # noqa: F401  (the fixture)


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
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(DISPLAY=xserver, XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_RUNTIME_DIR=str(tmp_path / "run"))
    (tmp_path / "run").mkdir(mode=0o700)
    log = open(tmp_path / "app.log", "wb")
    app = subprocess.Popen([sys.executable, "-m", "labeler", "review", "--project", str(digits_project), "--blind",
                            "--sample", "6", "--seed", "5", "--reviewer", "ann"],
                           env=env, stdout=log, stderr=subprocess.STDOUT)
    xdo = lambda *args: subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=30)
    try:
        def find_window():
            if app.poll() is not None:
                raise AssertionError(f"the app exited with {app.returncode}: {(tmp_path / 'app.log').read_text()}")
            out = xdo("search", "--onlyvisible", "--name", "blind labels").stdout.split()
            return out[0] if out else None

        win = _poll(find_window, 20, "the blind-labeling window")
        assert xdo("windowfocus", "--sync", win).returncode == 0
        # 3: class "2"; 0: class "9"; skip; 1: class "0"; 5, then undo it
        assert xdo("key", "--delay", "60", "3", "0", "shift+Right", "1", "5", "ctrl+z").returncode == 0
        expected = {items[0]: "2", items[1]: "9", items[3]: "0"}
        _poll(lambda: _blind(digits_project) == expected, 20, f"the blind labels {expected}")
    finally:
        app.send_signal(signal.SIGKILL)
        app.wait(10)
        log.close()
    assert _blind(digits_project) == expected
    assert _decisions(digits_project) == 0  # blind labels are not corrections
