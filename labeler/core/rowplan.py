"""Which rows of a user's file an export changes, and how they are found.

:class:`Plan` holds the verdicts (a corrected label, or a row to drop) keyed by the cell that
identifies an example in the file; :class:`RowEdit` is what the rewriters of
:mod:`labeler.core.formats` call back: it resolves the file's columns from the import's record (or by
name for another file, with ``--column`` options) and decides on each row. The key is the one the
examples were imported with (their id column, else path, else text), and :func:`check_keys` refuses a
file in which most of the project's examples are not found by it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import columns as colmod
from . import formats, mapping
from .problems import ExportProblem
from .splits import SPLIT_VALUES
from .store import Decision, Project

WRONG_TAGS = frozenset({"mislabeled", "ambiguous"})


@dataclass(frozen=True)
class Correction:
    """One example the reviewer judged wrongly or ambiguously labeled."""

    id: str
    split: str | None  # None: the example is no longer in the project (removed by a re-import)
    row: int | None
    path: str | None
    text: str | None
    given: str | None
    decision: Decision

    @property
    def label(self) -> str | None:
        """The corrected label, when the reviewer knows it."""
        return self.decision.label

    @property
    def ambiguous(self) -> bool:
        return "ambiguous" in self.decision.tags


def collect_corrections(project: Project) -> list[Correction]:
    """Every example with a corrected label or tagged mislabeled or ambiguous, all splits, in file order."""
    wanted = {
        eid: d for eid, d in project.decisions().items() if d.label is not None or d.tags & WRONG_TAGS
    }
    out = []
    for eid, d in wanted.items():
        ex = project.example(eid, topk=False)
        if ex is None:  # removed by a re-import; its review is kept
            out.append(Correction(eid, None, None, None, None, None, d))
        else:
            out.append(Correction(eid, ex["split"], ex["row"], ex.get("path"), ex.get("text"), ex.get("label"), d))
    out.sort(key=lambda c: (c.row is None, c.row if c.row is not None else 0, c.id))
    return out



def _split_of(value: str) -> str | None:
    return SPLIT_VALUES.get(value.strip().lower())


class Plan:
    """Which rows of one file change: corrected labels and rows to drop, keyed by the cell of the
    column that identifies an example (id, else path, else text)."""

    def __init__(self, role: str, corrections: list[Correction], split: str, drop_ambiguous: bool,
                 project: Project, file_dir: Path, *, keep_removed_classes: bool = False,
                 drop_ids: frozenset[str] = frozenset()):
        self.role = role
        self.split = split
        self.file_dir = os.path.normpath(os.path.abspath(file_dir))
        self.by_key: dict[str, Correction] = {}
        self.conflicts: list[str] = []
        self.without_label = 0
        self.removed_classes: dict[str, int] = {}  # corrected to a class the project no longer has
        classes = set(project.classes)
        mine = [c for c in corrections if split is None or c.split == split]  # (None: every split)
        # rows dropped whatever their review (--drop-leaks): those not corrected join the plan here
        reviewed = {c.id for c in mine}
        mine += [c for c in uncorrected(project, drop_ids - reviewed) if split is None or c.split == split]
        self.drop_ids = drop_ids
        for c in mine:
            drop = drop_ambiguous and c.ambiguous or c.id in drop_ids
            if c.label is None and not drop:
                self.without_label += "mislabeled" in c.decision.tags
                continue
            if c.label is not None and c.label not in classes and not drop:
                self.removed_classes[c.label] = self.removed_classes.get(c.label, 0) + 1
                if not keep_removed_classes:
                    continue
            key = self._project_key(c, project)
            if key is None:
                continue
            other = self.by_key.get(key)
            if other is not None and (other.label, other.ambiguous, other.id in drop_ids) != (c.label, c.ambiguous, c.id in drop_ids):
                self.conflicts.append(key)
            self.by_key.setdefault(key, c)
        for key in self.conflicts:  # two examples with one path and different verdicts: not guessed
            self.by_key.pop(key, None)
        self.drop = {k for k, c in self.by_key.items() if drop_ambiguous and c.ambiguous or c.id in drop_ids}
        # Cells that identify a planned row exactly as a file may write them; checked in the fast loop.
        self.fast: set[str] = set(self.by_key)
        if role == "path":
            for key in self.by_key:
                self.fast.add(os.path.relpath(key, self.file_dir))
        self.fast_bytes = {k.encode("utf-8") for k in self.fast}
        self.matched: set[str] = set()

    def _project_key(self, c: Correction, project: Project) -> str | None:
        if self.role == "id":
            return c.id
        if self.role == "text":
            return c.text
        p = project.resolve(c.path)
        return None if p is None else os.path.normpath(os.path.abspath(p))

    def maybe(self, cell: bytes) -> bool:
        """Could this raw cell name a planned row? (cheap; False for nearly every row)"""
        if cell in self.fast_bytes:
            return True
        return self.role == "path" and (b"./" in cell or b"//" in cell or cell.startswith(b"~"))

    def find(self, cell: str) -> tuple[str, Correction] | None:
        """The planned correction a cell names, with its key."""
        key = cell
        if self.role == "path" and cell not in self.by_key:
            key = os.path.normpath(os.path.join(self.file_dir, os.path.expanduser(cell)))
        c = self.by_key.get(key)
        return None if c is None else (key, c)

    def unmatched(self) -> list[Correction]:
        return [c for k, c in self.by_key.items() if k not in self.matched]


@dataclass
class Outcome:
    """What happened to one file."""

    rows: int = 0
    relabelled: int = 0
    dropped: int = 0
    dropped_leaks: int = 0  # of which leaking duplicates (--drop-leaks), not tagged ambiguous
    already_correct: int = 0
    label_changed: list[str] = field(default_factory=list)  # ids whose cell differs from the import


class Decide:
    """The verdict on one row whose key cell may name a correction: None (keep it as it is),
    "drop", or the new label."""

    def __init__(self, plan: Plan, outcome: Outcome):
        self.plan = plan
        self.outcome = outcome

    def __call__(self, key_cell: str, split_cell: str | None, label_cell: str | None):
        hit = self.plan.find(key_cell)
        if hit is None:
            return None
        if self.plan.split is not None and split_cell is not None and _split_of(split_cell) != self.plan.split:
            return None  # the same id in another split of a predictions file
        key, c = hit
        self.plan.matched.add(key)
        if label_cell is not None and label_cell != (c.given or ""):
            self.outcome.label_changed.append(c.id)
        if key in self.plan.drop:
            if c.id in self.plan.drop_ids:
                self.outcome.dropped_leaks += 1
            else:
                self.outcome.dropped += 1
            return "drop"
        if label_cell == c.label:
            self.outcome.already_correct += 1
            return None
        self.outcome.relabelled += 1
        return c.label


@dataclass
class Roles:
    header: list[str]
    key: str  # the column that identifies an example
    role: str  # its role: id, path or text
    label: str
    split: str | None


class RowEdit:
    """The export's side of a rewrite (see :func:`labeler.core.formats.delimited.rewrite`): which
    columns of the file play which role, and the verdict on each row.

    The columns come from what the import recorded when the file is one it read; a different file
    (``--train-file``) has them found by name, with the import's ``--column`` names where the file has
    those columns and the export's ``--column`` options on top. Rows are matched by the key the
    project's examples were imported with (their id column, else path, else text), never by a column
    that merely happens to be called ``id``."""

    def __init__(self, project: Project, corrections: list[Correction], *, split: str, drop_ambiguous: bool,
                 record: mapping.FileMapping | None, base: mapping.FileMapping | None, given: dict[str, str],
                 outcome: Outcome, keep_removed_classes: bool = False, drop_ids: frozenset[str] = frozenset()):
        self.project = project
        self.corrections = corrections
        self.split = split
        self.drop_ambiguous = drop_ambiguous
        self.record = record  # the import's record of the file being corrected, if it imported it
        self.base = base  # the record of the file the split's examples came from
        self.given = given
        self.outcome = outcome
        self.keep_removed_classes = keep_removed_classes
        self.drop_ids = drop_ids
        self.roles: Roles | None = None
        self.rows: tuple[int, int] | None = None  # where the examples of the file being corrected are stored
        files = mapping.files_of(project)
        if record is not None and record in files and sum(f.rows for f in files) == project.example_count():
            start = sum(f.rows for f in files[: files.index(record)])
            self.rows = (start, start + record.rows)

    def begin(self, path: Path, header: list[str]) -> Roles:
        self.roles = self._roles(path, header)
        self.plan = Plan(self.roles.role, self.corrections, self.split, self.drop_ambiguous, self.project, path.parent,
                          keep_removed_classes=self.keep_removed_classes, drop_ids=self.drop_ids)
        # a sample of the project's keys of the split; the rewrite notes which of them the file holds
        sample = key_sample(self.project, self.roles.role, self.split, self.rows)
        self.plan.sample = set(sample)
        self.plan.sample_bytes = {k.encode("utf-8") for k in sample}
        self.plan.sample_array = pa.array(sorted(sample), pa.string())
        self.plan.seen = set()
        self.decide = Decide(self.plan, self.outcome)
        return self.roles

    def _roles(self, path: Path, header: list[str]) -> Roles:
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise ExportProblem(f"{path}: duplicate column names: {', '.join(dupes)}")
        unknown = [f"{r}={c}" for r, c in self.given.items() if c not in header]
        if unknown:
            raise ExportProblem(f"{path}: --column {unknown[0]}: no such column; columns found: {', '.join(header)}")
        if self.record is not None and self.record.roles:
            cols = {**self.record.roles, **self.given}
            gone = [c for r, c in cols.items() if r in ("id", "path", "text", "label", "split") and c not in header]
            if gone:
                raise ExportProblem(
                    f"{path}: the column {gone[0]!r} that the import read is not in the file any more; was the file"
                    f" changed since it was imported? Import it again, or name its columns with --column ROLE=NAME")
        else:
            overrides = {r: c for r, c in (self.base.given if self.base else {}).items() if c in header}
            overrides.update(self.given)
            try:
                cols = colmod.detect(header, overrides).roles
            except ValueError as e:
                raise ExportProblem(f"{path}: {e}") from None
        if "label" not in cols:
            raise ExportProblem(
                f"{path}: no label column to correct (looked for label, ground_truth, target, y_true, class, ...);"
                f" columns found: {', '.join(header)}. Name it with --column label=NAME"
            )
        if self.base is not None and self.base.roles:
            # the key the examples were imported with; else another thing the project knows of each
            # example (its path or text: ids from row numbers are no key outside their own file)
            role = self.base.key
            if role not in cols:
                role = next((r for r in ("path", "text") if r in self.base.roles and r in cols), role)
            if role not in cols:
                role = self.base.key
                how = (f"their ids come from column {self.base.key_column!r}" if role == "id" else
                       f"they were imported without ids, so they are matched by their {role}")
                raise ExportProblem(
                    f"{path}: no {role} column to match the project's {self.split} examples by ({how} in"
                    f" {self.base.name}); columns found: {', '.join(header)}. Name it with --column {role}=NAME"
                )
            return Roles(header, cols[role], role, cols["label"], cols.get("split"))
        for role in ("id", "path", "text"):  # a project made before imports were recorded
            if role in cols:
                return Roles(header, cols[role], role, cols["label"], cols.get("split"))
        raise ExportProblem(
            f"{path}: no id, path or text column to match the corrections by; columns found: {', '.join(header)}"
        )


# Below this share of the project's examples found in the file by their key, the file is not the
# one they came from (or the key column is the wrong one): refused, not half-applied.
MIN_KEYS_FOUND = 0.5
KEY_SAMPLE = 2000  # project keys looked for in the file while it is rewritten (enough to tell 50% apart)


def key_sample(project: Project, role: str, split: str, rows: tuple[int, int] | None = None) -> list[str]:
    """Up to KEY_SAMPLE keys of the project's examples of ``split`` (seeded: the same every time);
    ``rows``: only those that came from the file stored at these rows."""
    table = project.examples_table()
    if rows is not None:
        table = table.slice(rows[0], rows[1] - rows[0])
    keys = (table.column(role) if split is None else
            table.column(role).filter(pc.equal(table.column("split"), split))).drop_null()
    if len(keys) > KEY_SAMPLE:
        keys = keys.take(pa.array(np.random.default_rng(0).choice(len(keys), KEY_SAMPLE, replace=False)))
    return keys.to_pylist()


def check_keys(project: Project, path: Path, kind: formats.FileKind, roles: Roles, split: str,
                delimiter: str | None, plan: Plan) -> None:
    """Refuse a file in which most of the project's examples of ``split`` are not found by their key
    (counted on a sample while the file was rewritten)."""
    sample = sorted(plan.sample)
    if not sample:
        return
    found = set(plan.seen)
    if len(found) < MIN_KEYS_FOUND * len(sample) and roles.role == "path":
        # paths may be written relative to another folder: compare them resolved (a slow pass, only here)
        cells = formats.column_text(path, kind, roles.key, delimiter, ExportProblem).to_pylist()
        here = {os.path.normpath(os.path.join(str(path.parent), os.path.expanduser(c))) for c in cells}
        found = {k for k in sample if os.path.normpath(str(project.resolve(k))) in here}
    if len(found) >= MIN_KEYS_FOUND * len(sample):
        return
    missing = [k for k in sample if k not in found][:3]
    held = formats.column_text(path, kind, roles.key, delimiter, ExportProblem).slice(0, 3).to_pylist()
    splits = project.examples_table().column("split")
    total = len(splits) if split is None else int(pc.sum(pc.equal(splits, split)).as_py() or 0)
    share = f"only {len(found)} of the project's {len(sample)} {split} examples" if len(sample) == total else \
        f"only {len(found)} of {len(sample)} of the project's {total} {split} examples (a sample)"
    raise ExportProblem(
        f"refusing to correct {path}: {share} are found in it by column {roles.key!r} (e.g."
        f" {', '.join(repr(m) for m in missing)} are not; the file's {roles.key} values look like"
        f" {', '.join(repr(c) for c in held)}). It does not look like the file they were imported from: pass"
        f" that file with --train-file, or name the column that holds the {roles.role} with --column"
        f" {roles.role}=NAME. Nothing was written"
    )


def uncorrected(project: Project, ids) -> list[Correction]:
    """Examples named by id as rows of a plan (e.g. to drop) that no decision corrects."""
    out = []
    for eid in sorted(ids):
        ex = project.example(eid, topk=False)
        if ex is not None:
            out.append(Correction(eid, ex["split"], ex["row"], ex.get("path"), ex.get("text"), ex.get("label"), Decision()))
    return out


