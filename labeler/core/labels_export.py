"""What labeling from scratch exports: ``labels.csv`` for a folder of images (every image's label and
where it came from), an ImageFolder tree of links (``--tree``), and, for a file, the examples whose
label cell was empty with the label a person gave them (the ``<stem>.labeled<ext>`` copy is written
by :mod:`labeler.core.export` through :mod:`labeler.core.formats`, like the corrected copy).

Which label counts, per example: a correction of the review (a decision's label), else the latest
label given in a labeling session (``human`` or ``suggestion accepted``), else the folder's. Blind
labels are for agreement only and never count here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

from . import annotations, mapping
from .formats import delimited
from .labeling import ACCEPTED, HUMAN
from .problems import ExportProblem
from .store import Project
from .tally_format import spreadsheet_safe

LABELS_FILE = "labels.csv"
HEADER = ["id", "path", "label", "source", "reviewer", "time"]


def own_labels(project: Project) -> dict[str, annotations.OwnLabel]:
    """The latest labeling-session label of each example (any reviewer)."""
    out: dict[str, annotations.OwnLabel] = {}
    for r in annotations.records(project, sources=(HUMAN, ACCEPTED)):
        out[r.example_id] = r  # records come oldest first: the last one stands
    return out


def folder_of(files: list[mapping.FileMapping]) -> mapping.FileMapping | None:
    return next((f for f in files if f.kind == "folder"), None)


def label_rows(project: Project) -> list[dict]:
    """One row per example of a folder project: id, path, label, source, reviewer, time."""
    table = project.examples_table()
    decisions = project.decisions()
    own = own_labels(project)
    rows = []
    for eid, path, given in zip(table.column("id").to_pylist(), table.column("path").to_pylist(),
                                table.column("label").to_pylist()):
        d = decisions.get(eid)
        o = own.get(eid)
        if d is not None and d.label is not None:
            row = (d.label, HUMAN, d.reviewer or "", d.decided_at or "")
        elif o is not None:
            row = (o.label, o.source, o.reviewer, o.labeled_at)
        elif given is not None:
            row = (given, "folder", "", "")
        else:
            row = ("", "", "", "")
        rows.append(dict(zip(HEADER, (eid, path or "", *row))))
    return rows


def labels_csv(rows: list[dict]) -> str:
    return "".join([delimited.record(HEADER)] + [delimited.record([spreadsheet_safe(r[h]) for h in HEADER])
                                                 for r in rows])


def fills(project: Project) -> dict[str, str]:
    """example id -> the label a person gave an example whose given label is empty (a file project)."""
    table = project.examples_table()
    empty = {eid for eid, lab in zip(table.column("id").to_pylist(), table.column("label").to_pylist()) if lab is None}
    return {eid: r.label for eid, r in own_labels(project).items() if eid in empty}


def write_tree(project: Project, rows: list[dict], tree: Path) -> int:
    """An ImageFolder tree of the labeled images: ``tree/<label>/<file>`` (``tree/<split>/<label>/...``
    for a project with splits), hard links where the file system allows, copies otherwise. Built beside
    ``tree`` and swapped in whole; an earlier tree there is replaced. Returns the images linked."""
    tree = Path(tree).expanduser().resolve()
    table = project.examples_table()
    split_of = dict(zip(table.column("id").to_pylist(), table.column("split").to_pylist()))
    with_splits = len({s for s in split_of.values() if s}) > 1
    staging = tree.with_name(f".{tree.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    used: set[Path] = set()
    n = 0
    try:
        staging.mkdir(parents=True)
        for r in rows:
            if not r["label"]:
                continue
            src = project.resolve(r["path"])
            if src is None or not Path(src).is_file():
                continue
            folder = staging / (split_of.get(r["id"]) or "") if with_splits else staging
            name = Path(r["path"]).name
            dst = folder / _safe(r["label"]) / name
            k = 2
            while dst in used:
                dst = dst.with_name(f"{Path(name).stem}-{k}{Path(name).suffix}")
                k += 1
            used.add(dst)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
            n += 1
        old = None
        if tree.exists():
            old = tree.with_name(f".{tree.name}.old-{int(time.time())}")
            os.replace(tree, old)
        os.replace(staging, tree)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
        raise ExportProblem(f"cannot write the tree {tree}: {e.strerror or e}") from None
    return n


def _safe(label: str) -> str:
    """A class name as a folder name (no separators, not '.' or '..')."""
    name = label.replace("/", "_").replace(os.sep, "_").strip()
    return name if name not in ("", ".", "..") else f"_{name}_"
