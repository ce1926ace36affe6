"""The files of a project, for an import: which to read (those it holds, in their order, and the ones
named now), how each is read (with the columns and split recorded at its last import, unless new ones
are given), and how a new one joins the others (a new version of a held file takes its place; a
predictions file for the images of a held folder joins them row by row). :mod:`labeler.core.importer`
builds and writes what they hold."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import columns as colmod
from . import formats, mapping
from .examples import SPLIT_VALUES, Examples
from .formats import Table, read_table
from .problems import ImportProblem
from .store import Project, ProjectError, now_iso


def split_from_name(path: Path) -> str | None:
    """The split a file's name says, for a file without a split column: ``train.csv``,
    ``preds_val.parquet`` and ``test-2024.jsonl`` say train, dev and test; ``preds.csv`` says nothing."""
    stem = path.name.split(".", 1)[0].lower()
    found = {SPLIT_VALUES[w] for w in re.split(r"[\s_\-]+", stem) if w in SPLIT_VALUES}
    return found.pop() if len(found) == 1 else None


@dataclass
class Job:
    """One file to read in an import: its record from an earlier import, the options to read it with."""

    path: Path
    mapping: mapping.FileMapping | None
    given: dict[str, str]
    split: str | None
    named: bool  # named in this import (else: held by the project, read again as it was)
    replaces: mapping.FileMapping | None = None  # a file of the project this one takes the place of

    @property
    def kind(self) -> str:
        return formats.kind_of(self.path).name


def replacements(read: list, built: list[Examples], notes: list[str]) -> tuple[list, list[Examples]]:
    """A new file holding mostly the same examples as a file of the project (the same ids, or the
    same paths or texts where there are no ids) is that file's new version (a new model's
    predictions): it takes its place instead of joining it."""
    dropped: set[int] = set()
    for i, ((job, _, cmap), ex) in enumerate(zip(read, built)):
        if not job.named or job.mapping is not None:
            continue
        for j, ((old, _, old_cmap), old_ex) in enumerate(zip(read, built)):
            if old.named or j in dropped:
                continue
            a, b = _keys(ex, cmap), _keys(old_ex, old_cmap)
            if a is None or b is None or not len(a) or not len(b):
                continue
            common = pc.sum(pc.is_in(a, value_set=b)).as_py() or 0
            if 2 * common >= min(len(a), len(b)):
                dropped.add(j)
                job.replaces = old.mapping
                notes.append(f"{job.path.name} replaces {old.path.name} in the project ({common} of its"
                             f" {len(b)} examples are in both); reviews are kept by id")
                break
    keep = [k for k in range(len(read)) if k not in dropped]
    return [read[k] for k in keep], [built[k] for k in keep]


def _keys(ex: Examples, cmap: colmod.ColumnMap) -> pa.Array | None:
    """What identifies the examples of a file: its ids where it has an id column, else its paths or
    texts."""
    if "id" in cmap.roles:
        return ex.ids
    return ex.path if ex.path is not None else ex.text


def folder_classes(job: Job, table: Table) -> list[str]:
    """A folder's class order without --classes: its class folders' names, sorted (as torchvision's
    ImageFolder numbers them)."""
    from .formats import folder

    found = folder.classes_of(table)
    if not found:
        raise ImportProblem(f"{job.path}: no class folders (DIR/<class>/image.jpg) and no --classes: name the"
                            " classes to label with, e.g. --classes cat,dog,bird")
    return found


def attach(read: list, notes: list[str]) -> list[mapping.FileMapping]:
    """Predictions files for the images of a folder the project holds: their columns (prediction,
    probabilities, metadata) join the folder's table row by row, matched by id or path (relative to the
    folder); the folder's own id, path, label and split win. Such a file adds no examples; its record
    says which folder it belongs to. Every image of the folder needs its prediction."""
    folders = [(k, r) for k, r in enumerate(read) if r is not None and r[0].kind == "folder"]
    out = []
    if not folders:
        return out
    for k, entry in enumerate(read):
        if entry is None or entry[0].kind == "folder":
            continue
        job, table, cmap = entry
        target = None
        if job.mapping is not None and job.mapping.attached_to:
            target = next((f for f in folders if mapping.same_path(f[1][0].path, job.mapping.attached_to)), None)
        elif job.mapping is None:
            target = next((f for f in folders if _matches(f[1][1], f[1][0].path, table, cmap, job.path) > 0.5), None)
        if target is None:
            continue
        fk, (fjob, ftable, fcmap) = target
        combined, ccmap = _joined(fjob.path, ftable, job.path, table, cmap)
        read[fk] = (fjob, combined, ccmap)
        read[k] = None
        notes.append(f"{job.path.name}: the predictions of the images of {fjob.path.name}")
        out.append(mapping.FileMapping(
            path=str(job.path), kind=job.kind, gz=formats.kind_of(job.path).gz, delimiter=table.delimiter,
            roles=dict(cmap.roles), prob_columns=dict(cmap.prob_columns), given=job.given, rows=0,
            attached_to=str(fjob.path), imported_at=now_iso() if job.named else job.mapping.imported_at))
    return out


def _keys_of(folder: Path, table: Table, cmap: colmod.ColumnMap, path: Path) -> list[str] | None:
    """The images a predictions file names, as paths relative to ``folder`` (by its id, else its path)."""
    if "id" in cmap.roles:
        return table.texts(cmap.roles["id"])
    if "path" not in cmap.roles:
        return None
    cells = table.texts(cmap.roles["path"])
    out = []
    for c in cells:
        full = os.path.normpath(os.path.join(str(path.parent), os.path.expanduser(c)))
        out.append(os.path.relpath(full, str(folder)).replace(os.sep, "/"))
    return out


def _matches(ftable: Table, folder: Path, table: Table, cmap: colmod.ColumnMap, path: Path) -> float:
    keys = _keys_of(folder, table, cmap, path)
    if not keys:
        return 0.0
    ids = set(ftable.texts("id"))
    return sum(k in ids for k in keys) / len(keys)


def _joined(folder: Path, ftable: Table, path: Path, table: Table, cmap: colmod.ColumnMap):
    """The folder's table with the predictions file's other columns, row by row."""
    keys = _keys_of(folder, table, cmap, path)
    ids = ftable.texts("id")
    at = {k: i for i, k in enumerate(keys)}
    missing = [i for i in ids if i not in at]
    if missing:
        raise ImportProblem(
            f"{path}: no prediction for {len(missing)} of the {len(ids)} images of {folder} (e.g."
            f" {', '.join(repr(m) for m in missing[:3])}); every image needs one (matched by id or path)")
    order = pa.array([at[i] for i in ids])
    theirs = table.frame._table if isinstance(table.frame, formats.ArrowColumns) else \
        pa.Table.from_pandas(table.frame, preserve_index=False)
    mine = ftable.frame._table
    skip = {cmap.roles.get(r) for r in ("id", "path", "text", "label", "split")} | set(mine.column_names)
    columns = {name: mine.column(name) for name in mine.column_names}
    for name in theirs.column_names:
        if name not in skip:
            columns[name] = theirs.column(name).take(order)
    joined = pa.table(columns)
    roles = {r: c for r, c in cmap.roles.items() if r not in ("id", "path", "text", "label", "split")}
    roles.update({r: r for r in ("id", "path", "label", "split") if r in mine.column_names})
    floats = {c for c in table.float_columns if c in columns}
    new = Table(folder, list(columns), formats.ArrowColumns(joined), first_line=0, float_columns=floats)
    return new, colmod.ColumnMap(roles, {k: v for k, v in cmap.prob_columns.items() if v in columns})


def recorded(project_path: Path) -> list[mapping.FileMapping]:
    """The files a project holds; for a project made before files were recorded, its one source."""
    if not project_path.exists():
        return []
    with contextlib.suppress(ProjectError):
        with Project.open(project_path, readonly=True) as old:
            return mapping.files_of(old)
    return []


def read_one(job: Job, notes: list[str]) -> tuple[Table, colmod.ColumnMap]:
    """Read one file and find its columns: the options given now, else those recorded."""
    source, overrides = job.path, job.given
    if job.named and job.mapping is not None and job.mapping.given != overrides:
        was = ", ".join(f"{r}={c}" for r, c in job.mapping.given.items()) or "found by name"
        now = ", ".join(f"{r}={c}" for r, c in overrides.items()) or "found by name"
        notes.append(f"{source.name}: the column mapping recorded at its last import ({was}) is replaced ({now})")
    elif job.named and job.mapping is not None and overrides:
        notes.append(f"{source.name}: read with the columns recorded at its last import ("
                     + ", ".join(f"{r}={c}" for r, c in overrides.items()) + ")")

    def float_cols(header: list[str]) -> set[str]:
        try:
            cmap = colmod.detect(header, overrides)
        except ValueError as e:
            raise ImportProblem(f"{source}: {e}") from None
        out = set(cmap.prob_columns.values())
        if "confidence" in cmap.roles:
            out.add(cmap.roles["confidence"])
        return out

    delimiter = job.mapping.delimiter if job.mapping is not None else None
    table = read_table(source, float_columns=float_cols, delimiter=delimiter)
    try:
        cmap = colmod.detect(table.columns, overrides)
    except ValueError as e:
        raise ImportProblem(f"{source}: {e}") from None
    if "probs" in cmap.roles and "probs" not in overrides:
        first = table.frame[cmap.roles["probs"]].iloc[0]
        if not isinstance(first, (list, np.ndarray)) and not (isinstance(first, str) and first.strip().startswith("[")):
            del cmap.roles["probs"]  # a column called "scores" that holds no lists is metadata
            cmap = colmod.ColumnMap(cmap.roles, colmod.detect(table.columns, overrides).prob_columns)
    return table, cmap


def absolute(paths: pa.Array, folder: Path) -> pa.Array:
    """Relative paths made absolute against ``folder`` (a file beside others in another folder)."""
    return pa.array([p if not p or os.path.isabs(os.path.expanduser(p)) else os.path.join(str(folder), p)
                     for p in paths.to_pylist()], pa.string())


def base_dir(source: Path) -> Path:
    """What relative paths are relative to: a predictions file's folder, or the folder of images."""
    return source if source.is_dir() else source.parent
