"""Key bindings as data: action name -> keys, read from ``resources/keymap.json``.

The defaults ship with the app; a user's ``keymap.json`` in the app's config folder overrides single
actions. :func:`create_actions` is the one factory that turns the table into ``QAction`` s, so the
menus, the shortcuts and the help overlay all come from the same place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Mapping

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from .resources import read_text

Keymap = dict[str, list[str]]

# (action, what it does, group in the help overlay). The order is the order of menus and help.
ACTIONS: list[tuple[str, str, str]] = [
    ("next", "Next item (marks this one reviewed)", "Move"),
    ("prev", "Previous item", "Move"),
    ("skip", "Next item without marking this one reviewed", "Move"),
    ("jump", "Go to an example by id or path…", "Move"),
    ("accept_prediction", "Accept the prediction as the label (again: undo it)", "Label"),
    ("choose_label", "Choose the correct label…", "Label"),
    ("note", "Write a note…", "Label"),
    ("mislabeled", "Tag: mislabeled", "Tags"),
    ("ambiguous", "Tag: ambiguous", "Tags"),
    ("very_hard", "Tag: very hard", "Tags"),
    ("very_easy", "Tag: very easy", "Tags"),
    *[(f"error_type_{i}", f"Error type {i}", "Error types") for i in range(1, 10)],
    ("undo", "Undo", "Edit"),
    ("redo", "Redo", "Edit"),
    ("zoom_in", "Zoom in", "View"),
    ("zoom_out", "Zoom out", "View"),
    ("zoom_reset", "Fit to window", "View"),
    ("page_down", "Scroll a long text down a screenful", "View"),
    ("page_up", "Scroll a long text up a screenful", "View"),
    ("grid", "Grid of the queue, or back (keys act on all selected)", "View"),
    ("panels", "Show/hide tally, confusion matrix, dashboard", "View"),
    ("augment_preview", "Preview augmentations of this image (blur, fog, noise…)", "View"),
    ("help", "Show these keys", "Help"),
]
DESCRIPTIONS = {name: text for name, text, _ in ACTIONS}
GROUPS = {name: group for name, _, group in ACTIONS}
TAGS = {"mislabeled": "mislabeled", "ambiguous": "ambiguous", "very_hard": "very hard", "very_easy": "very easy"}


class KeymapError(ValueError):
    """A keymap file names an unknown action, a key Qt cannot read, or one key for two actions."""


def default_keymap() -> Keymap:
    return _parse(json.loads(read_text("keymap.json")), "the default keymap")


def user_keymap_path() -> Path:
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppConfigLocation)) / "keymap.json"


def load(user_file: str | Path | None = None) -> Keymap:
    """The default keymap with the user's overrides (``user_file``, or the one in the config folder)."""
    keymap = default_keymap()
    path = Path(user_file) if user_file is not None else user_keymap_path()
    if path.is_file():
        try:
            overrides = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise KeymapError(f"{path}: {e}") from e
        keymap.update(_parse(overrides, str(path)))
    check(keymap)
    return keymap


def _parse(data, where: str) -> Keymap:
    if not isinstance(data, dict):
        raise KeymapError(f"{where}: expected an object of action -> list of keys")
    out: Keymap = {}
    for name, keys in data.items():
        if name not in DESCRIPTIONS:
            raise KeymapError(f"{where}: unknown action {name!r} (actions: {', '.join(DESCRIPTIONS)})")
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise KeymapError(f"{where}: {name}: expected a list of keys like [\"Ctrl+Z\"]")
        for k in keys:
            if QKeySequence(k).isEmpty() or QKeySequence(k).toString() == "":
                raise KeymapError(f"{where}: {name}: Qt cannot read the key {k!r}")
        out[name] = list(keys)
    return out


def check(keymap: Keymap) -> None:
    """Refuse one key bound to two actions: Qt would then fire neither ("ambiguous shortcut")."""
    seen: dict[str, str] = {}
    for name, keys in keymap.items():
        for k in keys:
            norm = QKeySequence(k).toString(QKeySequence.SequenceFormat.PortableText)
            if norm in seen and seen[norm] != name:
                raise KeymapError(f"the key {k!r} is bound to both {seen[norm]!r} and {name!r}")
            seen[norm] = name


def key_text(keys: list[str]) -> str:
    """Keys as the user reads them, e.g. "Space, Return, Right"."""
    return ", ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in keys)


def create_actions(
    parent: QWidget,
    handlers: Mapping[str, Callable[[], None]],
    keymap: Keymap | None = None,
) -> dict[str, QAction]:
    """One QAction per handler, with its keys from the keymap, added to ``parent`` so the keys work
    anywhere in that window."""
    keymap = load() if keymap is None else keymap
    actions: dict[str, QAction] = {}
    for name, handler in handlers.items():
        action = QAction(DESCRIPTIONS.get(name, name), parent)
        action.setObjectName(name)
        action.setShortcuts([QKeySequence(k) for k in keymap.get(name, [])])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _checked=False, fn=handler: fn())
        parent.addAction(action)
        actions[name] = action
    return actions


def help_rows(keymap: Keymap, error_types: list[str] | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    """The help overlay's content: per group, (keys, what they do). Error types show their names."""
    error_types = error_types or []
    groups: dict[str, list[tuple[str, str]]] = {}
    for name, text, group in ACTIONS:
        keys = keymap.get(name, [])
        if not keys:
            continue
        if name.startswith("error_type_"):
            i = int(name.rsplit("_", 1)[1])
            if i > len(error_types):
                continue
            text = error_types[i - 1]
        groups.setdefault(group, []).append((key_text(keys), text))
    if not error_types:
        groups["Error types"] = [("1 … 9", "none yet: Review ▸ Edit error types…")]
    order = ["Move", "Label", "Tags", "Error types", "Edit", "View", "Help"]
    return [(g, groups[g]) for g in order if g in groups]
