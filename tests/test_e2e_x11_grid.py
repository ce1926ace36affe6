"""The grid end to end in a real X window (Xvfb + xdotool, the app started as a user would): move
with Shift+Right without marking, open the grid, select a range, tag it with one key, undo it with
one Ctrl+Z."""

from __future__ import annotations

from test_e2e_x11 import _decisions, _poll, _queue, xserver  # noqa: F401 (xserver: a fixture)
from x11 import App


def test_grid_range_tagged_with_one_key_and_undone_with_one(xserver, digits_project, tmp_path):  # noqa: F811
    items, _ = _queue(digits_project)
    app = App(xserver, tmp_path, ["review", digits_project])
    try:
        app.window("labeler")
        # browse two items without judging them, then one back: nothing is written
        app.keys("shift+Right", "shift+Right", "shift+Left")
        # the grid, its cursor on item 1; a range of four selected; one key tags all four
        app.keys("g", "shift+Right", "shift+Right", "shift+Right", "m")
        tagged = {eid: {"label": None, "tags": ["mislabeled"], "error_types": [], "note": "", "reviewed": True}
                  for eid in items[1:5]}
        _poll(lambda: _decisions(digits_project) == tagged, 20, f"the decisions {tagged}")
        app.keys("ctrl+z")
        undone = {eid: {**d, "tags": [], "reviewed": False} for eid, d in tagged.items()}
        _poll(lambda: _decisions(digits_project) == undone, 20, "one Ctrl+Z to undo all four")
    finally:
        app.kill()
