"""Shortcuts are data: the shipped keymap, a user's overrides, and the one action factory."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtGui import QKeySequence  # noqa: E402
from PySide6.QtWidgets import QWidget  # noqa: E402

from labeler.gui import keymap as km  # noqa: E402
from labeler.gui.resources import resource  # noqa: E402

EXPECTED = {
    "next": ["Space", "Return", "Right"], "prev": ["Left", "Backspace", "Shift+Left"], "skip": ["Shift+Right"],
    "jump": ["Ctrl+G"], "grid": ["G"], "panels": ["T"], "augment_preview": ["V"], "accept_prediction": ["P"],
    "choose_label": ["L"], "mislabeled": ["M"], "ambiguous": ["A"], "very_hard": ["H"], "very_easy": ["E"],
    **{f"error_type_{i}": [str(i)] for i in range(1, 10)}, "note": ["N"], "undo": ["Ctrl+Z"],
    "redo": ["Ctrl+Shift+Z", "Ctrl+Y"], "help": ["F1", "?"], "zoom_in": ["+", "="], "zoom_out": ["-"],
    "zoom_reset": ["0"], "page_down": ["PgDown"], "page_up": ["PgUp"],
}


def test_default_keymap_is_the_documented_one(qapp):
    assert km.default_keymap() == EXPECTED
    assert resource("keymap.json").is_file()


def test_every_action_has_a_description_and_no_key_is_bound_twice(qapp):
    keymap = km.default_keymap()
    assert set(keymap) == set(km.DESCRIPTIONS)
    km.check(keymap)


def test_user_overrides_replace_single_actions(qapp, tmp_path):
    user = tmp_path / "keymap.json"
    user.write_text(json.dumps({"mislabeled": ["X"]}))
    keymap = km.load(user)
    assert keymap["mislabeled"] == ["X"] and keymap["next"] == EXPECTED["next"]


@pytest.mark.parametrize(
    "overrides, message",
    [({"fly": ["F"]}, "unknown action"), ({"mislabeled": ["A"]}, "bound to both"), ({"note": 3}, "expected a list")],
)
def test_bad_user_keymaps_are_refused_with_a_reason(qapp, tmp_path, overrides, message):
    user = tmp_path / "keymap.json"
    user.write_text(json.dumps(overrides))
    with pytest.raises(km.KeymapError, match=message):
        km.load(user)


def test_factory_makes_one_action_per_handler_with_its_keys(qtbot):
    w = QWidget()
    qtbot.addWidget(w)
    calls = []
    actions = km.create_actions(w, {"next": lambda: calls.append("next"), "undo": lambda: calls.append("undo")},
                                km.default_keymap())
    assert [s.toString() for s in actions["next"].shortcuts()] == ["Space", "Return", "Right"]
    assert actions["undo"].shortcut() == QKeySequence("Ctrl+Z")
    assert set(w.actions()) == set(actions.values())
    actions["next"].trigger()
    assert calls == ["next"]


def test_help_rows_name_the_error_types(qapp):
    rows = dict(km.help_rows(km.default_keymap(), ["blurry", "occluded"]))
    assert rows["Error types"] == [("1", "blurry"), ("2", "occluded")]
    assert ("F1, ?", km.DESCRIPTIONS["help"]) in rows["Help"]


def test_the_help_overlay_says_where_keys_are_changed(qtbot):
    from labeler.gui.help_overlay import HelpOverlay

    parent = QWidget()
    qtbot.addWidget(parent)
    overlay = HelpOverlay(parent)
    assert str(km.user_keymap_path()) in overlay.footer() and "resources/keymap.json" in overlay.footer()
