"""Find the files shipped in the top-level ``resources/`` folder (keymap, style sheets, icons).

An installed wheel carries them as ``labeler/_resources`` (hatch ``force-include``); a source checkout
or an editable install reads the repository's ``resources/`` folder.
"""

from __future__ import annotations

import importlib.resources
from importlib.resources.abc import Traversable
from pathlib import Path

_REPO_RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def resource(name: str) -> Traversable:
    """The shipped resource ``name`` (a path relative to ``resources/``), installed or not."""
    try:
        packaged = importlib.resources.files("labeler").joinpath("_resources")
        if packaged.is_dir():
            return packaged.joinpath(name)
    except (ModuleNotFoundError, FileNotFoundError):
        pass
    return _REPO_RESOURCES / name


def read_text(name: str) -> str:
    return resource(name).read_text(encoding="utf-8")
