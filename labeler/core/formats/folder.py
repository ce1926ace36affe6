"""A folder of images as a predictions table without predictions (the ImageFolder convention).

Images are found recursively (jpg, jpeg, png, webp, bmp, tif, tiff; by name, nothing is decoded). The
first folder level says the class (``DIR/<class>/x.jpg``), or, when every first-level folder is named
like a split (train, dev/val/valid, test...), the split, and then the second level the class
(``DIR/<split>/<class>/x.jpg``). Files directly in DIR (or in a split folder) and files under a folder
named ``unlabeled`` have no label. The id of an image is its path relative to DIR, with ``/``.

The table has the columns ``id``, ``path``, ``label`` and, for split layouts, ``split``; a file
directly in DIR of a split layout gets no split (the import's ``--split``, else the default).
Nothing of the folder is ever written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from ..problems import ImportProblem
from ..splits import SPLIT_VALUES
from .table import ArrowColumns, Table

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
UNLABELED = "unlabeled"


def images(folder: Path) -> list[str]:
    """The relative paths (``/``-separated, sorted) of the images under ``folder``. Hidden files and
    folders (``.git``, ``.DS_Store``) are left out; symlinked folders are not followed (no loops)."""
    out: list[str] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            entries = list(os.scandir(folder / rel if rel else folder))
        except OSError as e:
            raise ImportProblem(f"{folder / rel}: cannot list the folder ({e.strerror or e})") from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            sub = f"{rel}/{entry.name}" if rel else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(sub)
                elif entry.name.lower().endswith(IMAGE_SUFFIXES):
                    out.append(sub)
            except OSError:
                continue
    out.sort()
    return out


def read(folder: Path) -> Table:
    """The folder's images as a table (see the module's docstring)."""
    if not folder.is_dir():
        raise ImportProblem(f"{folder}: not a folder")
    found = images(folder)
    if not found:
        raise ImportProblem(f"{folder}: no images found (looked for {', '.join(IMAGE_SUFFIXES)}, in every subfolder)")
    first = {p.split("/", 1)[0] for p in found if "/" in p}
    split_layout = bool(first) and all(name.strip().lower() in SPLIT_VALUES for name in first)
    labels, splits = [], []
    for p in found:
        parts = p.split("/")
        split = ""
        if split_layout and len(parts) > 1:
            split, parts = SPLIT_VALUES[parts[0].strip().lower()], parts[1:]
        label = parts[0] if len(parts) > 1 and parts[0] != UNLABELED else ""
        labels.append(label)
        splits.append(split)
    columns = {"id": found, "path": found, "label": labels}
    names = ["id", "path", "label"]
    if split_layout:
        columns["split"] = splits
        names.append("split")
    table = pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})
    return Table(folder, names, ArrowColumns(table), first_line=0)


def classes_of(table: Table) -> list[str]:
    """The class order of a folder: its class folders' names, sorted."""
    return sorted({v for v in table.texts("label") if v})
