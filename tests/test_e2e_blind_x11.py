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


def test_a_blind_window_on_a_real_display_draws_no_given_label_prediction_or_probability(xserver, digits_project,  # noqa: F811
                                                                                          tmp_path):
    """The window's own texts, logged by tests/x11_probe_blind.py while xdotool types into it."""
    import json
    import sys
    from pathlib import Path

    from conftest import read_digits_rows
    from x11 import App

    rows = {r["id"]: r for r in read_digits_rows()}
    log = tmp_path / "texts.jsonl"
    app = App(xserver, tmp_path, [], argv=[sys.executable, str(Path(__file__).with_name("x11_probe_blind.py")),
                                           str(digits_project), str(log)])
    try:
        app.window("blind labels")

        def last() -> str | None:
            lines = log.read_text().splitlines() if log.exists() else []
            return json.loads(lines[-1])["example"] if lines else None

        _poll(last, 10, "the window's texts")
        for k in ("3", "5", "shift+Right", "1"):
            before = last()
            app.keys(k)
            _poll(lambda: last() != before, 10, f"the next example after {k}")
        _poll(lambda: len(_blind(digits_project)) == 3, 20, "three blind labels")
    finally:
        app.kill()
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    shown = {s["example"] for s in seen if s["example"]}
    assert len(shown) >= 4  # the examples stepped through
    for s in seen:
        if not s["example"]:
            continue
        row = rows[s["example"]]
        drawn = " | ".join(s["texts"]).lower()
        assert "given" not in drawn and "predict" not in drawn and "loss" not in drawn, drawn
        assert not any(row[f"p_{k}"] in drawn for k in range(10)), drawn  # no probability, to the digit
