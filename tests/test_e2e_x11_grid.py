"""The grid end to end in a real X window (Xvfb + xdotool, the app started as a user would): move
with Shift+Right without marking, open the grid, select a range, tag it with one key, undo it with
one Ctrl+Z."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from test_e2e_x11 import _decisions, _poll, _queue, xserver  # noqa: F401 (xserver: a fixture)


def test_grid_range_tagged_with_one_key_and_undone_with_one(xserver, digits_project, tmp_path):  # noqa: F811
    items, _ = _queue(digits_project)
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(DISPLAY=xserver, XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_RUNTIME_DIR=str(tmp_path / "run"))
    (tmp_path / "run").mkdir(mode=0o700)
    log = open(tmp_path / "app.log", "wb")
    app = subprocess.Popen([sys.executable, "-m", "labeler", "review", str(digits_project)],
                           env=env, stdout=log, stderr=subprocess.STDOUT)
    xdo = lambda *args: subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=30)
    try:
        def find_window():
            if app.poll() is not None:
                raise AssertionError(f"the app exited with {app.returncode}: {(tmp_path / 'app.log').read_text()}")
            out = xdo("search", "--onlyvisible", "--name", "labeler").stdout.split()
            return out[0] if out else None

        win = _poll(find_window, 20, "the labeler window")
        assert xdo("windowfocus", "--sync", win).returncode == 0
        # browse two items without judging them, then one back: nothing is written
        assert xdo("key", "--delay", "40", "shift+Right", "shift+Right", "shift+Left").returncode == 0
        # the grid, its cursor on item 1; a range of four selected; one key tags all four
        assert xdo("key", "--delay", "60", "g", "shift+Right", "shift+Right", "shift+Right", "m").returncode == 0
        tagged = {eid: {"label": None, "tags": ["mislabeled"], "error_types": [], "note": "", "reviewed": True}
                  for eid in items[1:5]}
        _poll(lambda: _decisions(digits_project) == tagged, 20, f"the decisions {tagged}")
        assert xdo("key", "ctrl+z").returncode == 0
        undone = {eid: {**d, "tags": [], "reviewed": False} for eid, d in tagged.items()}
        _poll(lambda: _decisions(digits_project) == undone, 20, "one Ctrl+Z to undo all four")
    finally:
        app.send_signal(signal.SIGKILL)
        app.wait(10)
        log.close()
