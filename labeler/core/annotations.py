"""Reviewers' own labels of examples (blind labels), kept apart from corrections of the given label.

A blind label is what one reviewer says an example is without seeing the given label or the model's
output: given in the window's blind mode, or read from another annotator's file
(:func:`import_file`). They are what agreement and human-level error are measured on
(:mod:`labeler.core.agreement`). Every change is one transaction and one entry of the events log
(action ``blind label``), like a decision.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from . import columns as colmod
from . import formats
from .problems import ImportProblem
from .store import Project, now_iso

BLIND = "blind"
SHOWN = 5


def labels(project: Project) -> dict[str, dict[str, str]]:
    """reviewer -> {example id -> label}, every reviewer's blind labels."""
    try:
        rows = project.conn.execute("SELECT reviewer, example_id, label FROM reviewer_labels").fetchall()
    except sqlite3.OperationalError:  # a project made before blind labels, opened read-only
        return {}
    out: dict[str, dict[str, str]] = {}
    for reviewer, eid, label in rows:
        out.setdefault(reviewer, {})[eid] = label
    return out


@dataclass(frozen=True)
class OwnLabel:
    example_id: str
    reviewer: str
    label: str
    source: str
    labeled_at: str


def records(project: Project, *, sources: tuple[str, ...] | None = None) -> list[OwnLabel]:
    """Every stored label with who gave it, how and when (``sources``: only these), oldest first."""
    try:
        rows = project.conn.execute(
            "SELECT example_id, reviewer, label, source, labeled_at FROM reviewer_labels ORDER BY labeled_at").fetchall()
    except sqlite3.OperationalError:
        return []
    return [OwnLabel(*r) for r in rows if sources is None or r[3] in sources]


def label_of(project: Project, example_id: str, reviewer: str) -> str | None:
    try:
        row = project.conn.execute("SELECT label FROM reviewer_labels WHERE example_id = ? AND reviewer = ?",
                                   (example_id, reviewer)).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else row[0]


def set_label(project: Project, example_id: str, reviewer: str, label: str | None, *,
              session_id: int | None = None, source: str = BLIND) -> str | None:
    """Store ``reviewer``'s label of ``example_id`` (None removes it) and log it; returns the label it
    replaced. One transaction."""
    return set_labels(project, {example_id: label}, reviewer, session_id=session_id, source=source)[example_id]


def set_labels(project: Project, labels: dict[str, str | None], reviewer: str, *,
               session_id: int | None = None, source: str = BLIND) -> dict[str, str | None]:
    """Store ``reviewer``'s labels of several examples (None removes one) and log each, in ONE
    transaction; returns the labels they replaced."""
    if not reviewer:
        raise ValueError("a blind label needs a reviewer's name")
    at = now_iso()
    before: dict[str, str | None] = {}
    with project.transaction() as c:
        for example_id, label in labels.items():
            row = c.execute("SELECT label FROM reviewer_labels WHERE example_id = ? AND reviewer = ?",
                            (example_id, reviewer)).fetchone()
            before[example_id] = None if row is None else row[0]
            if label is None:
                c.execute("DELETE FROM reviewer_labels WHERE example_id = ? AND reviewer = ?", (example_id, reviewer))
            else:
                c.execute(
                    """INSERT INTO reviewer_labels(example_id, reviewer, label, source, labeled_at) VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT(example_id, reviewer) DO UPDATE SET label = excluded.label,
                         source = excluded.source, labeled_at = excluded.labeled_at""",
                    (example_id, reviewer, label, source, at),
                )
            c.execute(
                "INSERT INTO events(at, example_id, action, before, after, reviewer, session_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (at, example_id, "blind label", json.dumps({"label": before[example_id]}), json.dumps({"label": label}),
                 reviewer, session_id),
            )
    return before


@dataclass
class Imported:
    """What :func:`import_file` read and stored."""

    reviewer: str
    source: Path
    labeled: int = 0
    replaced: int = 0  # examples this reviewer had labeled before
    empty: int = 0  # rows without a label: skipped
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.labeled} labels of reviewer {self.reviewer!r} imported from {self.source}"]
        if self.replaced:
            out.append(f"  {self.replaced} of them replace labels this reviewer had given before")
        if self.empty:
            out.append(f"  {self.empty} rows have no label: skipped")
        return out + [f"  {n}" for n in self.notes]


def import_file(project: Project, path: str | os.PathLike, reviewer: str, *,
                columns: dict[str, str] | None = None) -> Imported:
    """Read another annotator's labels (CSV/TSV/JSONL/Parquet: an id column, or the path or text the
    project's examples have, and a label column, found by name or named in ``columns``) and store them
    as ``reviewer``'s blind labels, in one transaction. Unknown ids and classes are refused with counts
    and examples, and nothing is written."""
    path = Path(path)
    if not reviewer or not reviewer.strip():
        raise ImportProblem("--reviewer: a name is needed (whose labels these are)")
    table = formats.read_table(path)
    try:
        cmap = colmod.detect(table.columns, dict(columns or {}))
    except ValueError as e:
        raise ImportProblem(f"{path}: {e}") from None
    if "label" not in cmap.roles:
        raise ImportProblem(f"{path}: no label column (label, ground_truth, target, ...); columns found:"
                            f" {', '.join(table.columns)}. Name it with --column label=NAME")
    examples = project.examples_table()
    key = next((r for r in ("id", "path", "text") if r in cmap.roles), None)
    if key is None:
        raise ImportProblem(f"{path}: no id, path or text column to match the project's examples by; columns"
                            f" found: {', '.join(table.columns)}. Name it with --column id=NAME")
    keys = table.texts(cmap.roles[key])
    given = table.texts(cmap.roles["label"])
    project_keys = examples.column(key).to_pylist()
    ids = examples.column("id").to_pylist()
    by_key: dict[str, str] = {}
    for k, eid in zip(project_keys, ids):
        if k is not None:
            by_key.setdefault(k, eid)
    classes = set(project.classes)
    result = Imported(reviewer, path)
    rows: dict[str, str] = {}
    unknown_ids: list[str] = []
    unknown_classes: dict[str, int] = {}
    twice: list[str] = []
    for k, lab in zip(keys, given):
        if lab == "":
            result.empty += 1
            continue
        eid = by_key.get(k)
        if eid is None:
            unknown_ids.append(k)
            continue
        if lab not in classes:
            unknown_classes[lab] = unknown_classes.get(lab, 0) + 1
            continue
        if eid in rows:
            twice.append(k)
        rows[eid] = lab
    problems = []
    if unknown_ids:
        problems.append(f"{len(unknown_ids)} rows name no example of the project by their {key} (e.g. "
                        + ", ".join(repr(x) for x in unknown_ids[:SHOWN]) + ")")
    if unknown_classes:
        shown = ", ".join(f"{c!r} ({n})" for c, n in sorted(unknown_classes.items())[:SHOWN])
        problems.append(f"{sum(unknown_classes.values())} labels are not classes of the project: {shown}")
    if twice:
        problems.append(f"{len(twice)} examples are labeled twice (e.g. {', '.join(repr(x) for x in twice[:SHOWN])})")
    if problems:
        raise ImportProblem(f"{path}: " + "; ".join(problems) + ". Nothing was imported")
    before = labels(project).get(reviewer, {})
    result.replaced = sum(1 for eid in rows if eid in before)
    at = now_iso()
    source = f"file:{path.name}"
    with project.transaction() as c:
        c.executemany(
            """INSERT INTO reviewer_labels(example_id, reviewer, label, source, labeled_at) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT(example_id, reviewer) DO UPDATE SET label = excluded.label,
                 source = excluded.source, labeled_at = excluded.labeled_at""",
            [(eid, reviewer, lab, source, at) for eid, lab in rows.items()],
        )
        c.executemany(
            "INSERT INTO events(at, example_id, action, before, after, reviewer, session_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(at, eid, "blind label", json.dumps({"label": before.get(eid)}), json.dumps({"label": lab}), reviewer, None)
             for eid, lab in rows.items()],
        )
    result.labeled = len(rows)
    return result
