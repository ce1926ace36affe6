"""Export the results of a review: the corrected labels written back into a copy of the training-set
file, the list of corrections, the tally, a summary and a self-contained HTML report.

The corrected copy is the source file byte for byte except the label cells of the corrected examples
(and, with ``drop_ambiguous``, the rows tagged ambiguous). This module is policy only: *which* cells
change. Which column is the label and which identifies a row come from what the import recorded
(:mod:`labeler.core.mapping`): the label column it read, and the key the examples were imported with
(their id column, else path, else text; ids made of row numbers are never looked for in another
file). A file in which most of the project's examples are not found by that key is refused; the row
plan is :mod:`labeler.core.rowplan`. *How* a file is read and its cells rewritten is
:mod:`labeler.core.formats`' (one module per file family).

Nothing is written in place, and an export folder holds one export at a time, never a mix of two.
Every file goes to a temporary name in the output folder and is flushed and fsynced; a failure while
writing them (disk full, a cancel, any exception) leaves the previous export as it was and no
temporary file behind. Only when all of them are written are they moved into place with
``os.replace``, after a journal (``.export-journal.json``) that names them, and ``export.json`` is
written last: the export's generation and each file's name, size and SHA-256. So the folder keeps
plainly named files, and

- ``export.json`` there and no journal: the files it names are exactly one export (a file changed
  since is found by its size or SHA-256);
- a journal there: the export was killed (``kill -9``, a power cut) between two renames, so the folder
  holds some files of it and some of the export before. :func:`check_export` says so, and the next
  export into the folder first finishes the interrupted one from its journal (its staged files are
  complete and on disk) before it writes its own.

The machinery is :class:`labeler.core.fileops.Staged`. Source files are only opened for reading, and
an output that would land on a source is refused.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


from . import agreement, annotations, fileops, formats, labels_export, mapping, rowplan
from . import frame as framemod
from . import stats
from . import tally as tallymod
from . import tally_format
from .formats import arrow as arrow_format
from .formats import delimited, jsonl
from .problems import ExportCancelled, ExportProblem
from .store import Decision, Project, now_iso

Progress = Callable[[str, float], None]

FORMATS = ("same", "csv", "parquet")
EXPORT_SPLITS = ("train", "dev", "test")
CORRECTIONS_FILE = "corrections.csv"
REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"
AGREEMENT_FILE = "agreement.json"  # where reviewers gave blind labels
LEAKAGE_FILE = "leakage.csv"  # where the scan found duplicates leaking across splits or conflicting
TALLY_FILES = {"tally.csv": "csv", "tally.md": "md", "tally.json": "json"}
BLOCK = 1 << 22  # bytes read at a time when streaming a delimited file
SHOWN = 10  # unmatched ids named in messages


# --------------------------------------------------------------------------------------------
# what was corrected


def corrections_csv(corrections: list[rowplan.Correction], blind: dict[str, dict[str, str]] | None = None,
                    consensus: dict[str, str] | None = None) -> str:
    """corrections.csv: one row per correction, every cell safe to open in a spreadsheet. Where
    reviewers gave blind labels, the consensus label and each reviewer's label (``name=label;...``)."""
    with_path = any(c.path for c in corrections) or not any(c.text for c in corrections)
    with_text = any(c.text for c in corrections)
    header = ["id", "split"] + (["path"] if with_path else []) + (["text"] if with_text else [])
    header += ["given_label", "corrected_label", "tags", "error_types", "note", "reviewer", "decided_at"]
    if blind:
        header += ["consensus_label", "reviewer_labels"]
    lines = [delimited.record(header)]
    for c in corrections:
        d = c.decision
        row = [c.id, c.split or ""]
        if with_path:
            row.append(c.path or "")
        if with_text:
            row.append(c.text or "")
        row += [c.given or "", d.label or "", ";".join(sorted(d.tags)), ";".join(sorted(d.error_types)),
                d.note, d.reviewer or "", d.decided_at or ""]
        if blind:
            row += [(consensus or {}).get(c.id, ""),
                    ";".join(f"{name}={labs[c.id]}" for name, labs in sorted(blind.items()) if c.id in labs)]
        lines.append(delimited.record([tally_format.spreadsheet_safe(v) for v in row]))
    return "".join(lines)


# --------------------------------------------------------------------------------------------
# matching rows of a file to corrections


# --------------------------------------------------------------------------------------------
# file kinds


def _split_name(path: Path) -> tuple[str, str]:
    """``train.csv.gz`` -> ("train", ".csv.gz")."""
    name = path.name
    low = name.lower()
    cut = len(name) - len(Path(name[:-3]).suffix) - 3 if low.endswith(".gz") else len(name) - len(path.suffix)
    return name[:cut], name[cut:]


def corrected_name(source: Path, fmt: str = "same") -> str:
    """``train.csv`` -> ``train.corrected.csv`` (``.parquet`` / ``.csv`` with another format)."""
    stem, ext = _split_name(source)
    kind = formats.kind_of(source, ExportProblem).name
    if fmt == "csv" and kind != "csv":
        ext = ".csv"
    elif fmt == "parquet" and kind != "parquet":
        ext = ".parquet"
    return f"{stem}.corrected{ext}"


# --------------------------------------------------------------------------------------------
# staged writes: one generation at a time (labeler.core.fileops.Staged)

MANIFEST_FILE = fileops.MANIFEST


def check_export(out_dir: str | os.PathLike, *, hashes: bool = True) -> fileops.Generation:
    """What a reader finds in an export folder: exactly one export (``complete``), or why not (a
    half-written export, a file changed since, no ``export.json``)."""
    return fileops.check_generation(out_dir, hashes=hashes)


def _write_failure(e: OSError, target: Path | None, out_dir: Path, swapping: bool = False) -> ExportProblem:
    where = target or out_dir
    if swapping:
        return ExportProblem(
            f"could not move {where} into place: {e.strerror or e}. The export stopped halfway: {out_dir} holds"
            f" some of its files and some of the export before (its journal {fileops.JOURNAL} says which). The"
            " next export into the folder finishes this one first; export again."
        )
    if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        why = ("the disk is full" if e.errno == errno.ENOSPC else
               "a file-size limit was reached (or the disk is full)" if e.errno == errno.EFBIG else
               "the disk quota is used up")
        return ExportProblem(
            f"could not write {where}: {why} ({os.strerror(e.errno)}). Nothing was replaced: the files of any"
            f" earlier export in {out_dir} are as they were. Free some space and export again."
        )
    return ExportProblem(
        f"could not write {where}: {e.strerror or e}. Nothing was replaced: the files of any earlier export"
        f" in {out_dir} are as they were."
    )


# --------------------------------------------------------------------------------------------
# the export


@dataclass
class ExportResult:
    """What an export wrote and what it could not do."""

    out_dir: Path
    split: str
    files: list[Path] = field(default_factory=list)
    corrections: int = 0  # rows in corrections.csv
    source_file: Path | None = None
    corrected_file: Path | None = None
    match_by: str | None = None  # the column the corrections were matched by
    rows: int = 0  # rows in the source file
    relabelled: int = 0
    dropped: int = 0
    dropped_leaks: int = 0  # leaking duplicates left out (--drop-leaks)
    labeled: int = 0  # examples labeled from scratch that the export wrote (labels.csv, .labeled copies)
    tree: Path | None = None
    tree_links: int = 0
    leaking_groups: int | None = None  # groups in leakage.csv (None: no scan, no file)
    already_correct: int = 0
    without_label: int = 0  # tagged mislabeled in this split but no corrected label given
    unmatched: list[str] = field(default_factory=list)
    label_changed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        return {
            "split": self.split,
            "corrections": self.corrections,
            "source_file": None if self.source_file is None else str(self.source_file),
            "corrected_file": None if self.corrected_file is None else str(self.corrected_file),
            "match_by": self.match_by,
            "rows": self.rows,
            "relabelled": self.relabelled,
            "dropped_ambiguous": self.dropped,
            "dropped_leaks": self.dropped_leaks,
            "already_correct": self.already_correct,
            "mislabeled_without_label": self.without_label,
            "unmatched": {"count": len(self.unmatched), "examples": self.unmatched[:SHOWN]},
            "label_changed_since_import": {"count": len(self.label_changed), "examples": self.label_changed[:SHOWN]},
            "conflicting_paths": self.conflicts[:SHOWN],
            "warnings": list(self.warnings),
        }

    def lines(self) -> list[str]:
        out = [f"Exported to {self.out_dir}:"]
        out += [f"  {p.name}" for p in self.files]
        out.append(f"  {self.corrections} corrections (all splits) in {CORRECTIONS_FILE}")
        if self.labeled:
            out.append(f"  {self.labeled} examples labeled from scratch written")
        if self.tree is not None:
            out.append(f"  {self.tree_links} labeled images linked into the tree {self.tree}")
        if self.corrected_file is not None:
            out.append(
                f"  {self.corrected_file.name}: {self.relabelled} {self.split} labels corrected"
                + (f", {self.dropped} ambiguous {self.split} rows left out" if self.dropped else "")
                + (f", {self.dropped_leaks} {self.split} rows that duplicate training images left out"
                   if self.dropped_leaks else "")
                + f" ({self.rows} rows in {self.source_file.name}; matched by column {self.match_by!r})"
            )
        if self.already_correct:
            out.append(f"  {self.already_correct} rows already carried the corrected label")
        if self.without_label:
            out.append(f"  {self.without_label} {self.split} examples are tagged mislabeled without a corrected"
                       " label: left as they are")
        if self.unmatched:
            shown = ", ".join(self.unmatched[:SHOWN]) + (" ..." if len(self.unmatched) > SHOWN else "")
            out.append(f"  warning: {len(self.unmatched)} corrections match no row of {self.source_file}"
                       f" and were not applied: {shown}")
        if self.label_changed:
            shown = ", ".join(self.label_changed[:SHOWN]) + (" ..." if len(self.label_changed) > SHOWN else "")
            out.append(f"  warning: {len(self.label_changed)} rows had a different label in the file than at"
                       f" import: {shown}")
        out += [f"  warning: {w}" for w in self.warnings]
        return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def export_all(
    project: Project,
    out_dir: str | os.PathLike,
    *,
    train_file: str | os.PathLike | None = None,
    drop_ambiguous: bool = False,
    fmt: str = "same",
    split: str = "train",
    columns: dict[str, str] | None = None,
    keep_removed_classes: bool = False,
    tree: str | os.PathLike | None = None,
    drop_leaks: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ExportResult:
    """Write corrections.csv, the corrected copy of the training-set file (or of the dev file with
    ``split="dev"``), tally.csv/.md/.json, summary.json and report.html into ``out_dir``.

    ``train_file``: the file to correct instead of the one registered at import (with
    ``split="train"`` it is also registered for later exports). ``columns``: role -> column of that
    file, where its columns do not map by themselves. Raises :class:`ExportProblem` with a clear
    message (nothing replaced) or :class:`ExportCancelled`. A correction to a class that a later
    import removed is left out, with a warning, unless ``keep_removed_classes``.

    Where the project was scanned (``labeler scan``) and duplicates leak across splits or carry
    conflicting labels, leakage.csv lists them; ``drop_leaks`` leaves the dev and test rows of
    leaking groups out of the corrected copy (a dev or test export; a training copy keeps its rows)."""
    report = progress or (lambda stage, frac: None)
    if fmt not in FORMATS:
        raise ExportProblem(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")
    if split not in EXPORT_SPLITS:
        raise ExportProblem(f"unknown split {split!r} (splits: {', '.join(EXPORT_SPLITS)})")
    out_dir = Path(out_dir).expanduser()
    result = ExportResult(out_dir=out_dir, split=split)

    files = mapping.files_of(project)
    holders = mapping.holding(files, split)
    if split == "train" or not files:
        registered = project.meta("train_file") if split == "train" else project.meta("source")
    else:  # the imported file that holds the split's examples
        registered = holders[0].path if holders else project.meta("source")
    target = Path(train_file).expanduser().resolve() if train_file else (Path(registered) if registered else None)
    folder = labels_export.folder_of(files)
    if target is not None and folder is not None and not train_file and target.is_dir():
        target = None  # a folder of images: labels.csv (and --tree) is what changes
    if target is not None:
        if not target.exists():
            raise ExportProblem(f"the {split} file {target} does not exist"
                                + ("" if train_file else "; pass --train-file PATH"))
        if target.is_dir():
            raise ExportProblem(f"the {split} file {target} is a folder")
        kind = formats.kind_of(target, ExportProblem)
    elif folder is None:
        result.warnings.append(
            "no training-set file is registered for this project: corrected labels were not written back"
            " (import with --train-file, or export with --train-file PATH)"
        )

    names = [CORRECTIONS_FILE, *TALLY_FILES, SUMMARY_FILE, REPORT_FILE]
    if target is not None:
        names.insert(1, corrected_name(target, fmt))
    if folder is not None:
        names.insert(1, labels_export.LABELS_FILE)
    labeled = _labeled_targets(project, files)  # files with empty label cells a person has labeled since
    names += [labeled_name(Path(f.path)) for f, _ in labeled]
    leakage = _leakage(project, drop_leaks)
    if leakage is not None:
        names.append(LEAKAGE_FILE)
    blind = annotations.labels(project)
    if blind:
        names.append(AGREEMENT_FILE)
    written = [*names, MANIFEST_FILE, fileops.JOURNAL]  # (the last two: the generation's bookkeeping)
    sources = [project.path, project.path.with_name(project.path.name + "-wal"),
               project.path.with_name(project.path.name + "-shm"), project.path.with_name(project.path.name + ".lock")]
    sources += [Path(p) for p in (project.meta("source"), project.meta("train_file"), target) if p]
    sources += [Path(f.path) for f in files]
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportProblem(f"--out {out_dir} is a file, not a folder" +
                            (" (it is one of the project's sources)" if any(_same_file(out_dir, s) for s in sources) else ""))
    for name in written:
        for src in sources:
            if _same_file(out_dir / name, src):
                raise ExportProblem(
                    f"refusing to export: {out_dir / name} would overwrite the source file {src}; choose another --out folder"
                )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportProblem(f"cannot create the output folder {out_dir}: {e.strerror or e}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ExportProblem(f"the output folder {out_dir} is not writable")
    finished = fileops.tidy_folder(out_dir)  # an export killed midway: finished (or its temporary files removed)
    if finished:
        result.warnings.append(f"the previous export into {out_dir} had been interrupted while its files were moved"
                               " into place; it was finished first")

    def check_cancel():
        if cancel is not None and cancel.is_set():
            raise ExportCancelled()

    report("corrections", 0.0)
    corrections = rowplan.collect_corrections(project)
    result.corrections = len(corrections)
    frame = framemod.load(project)
    decisions = project.decisions()
    summary = stats.summary(frame, project.classes)
    dev_tally = tallymod.project_tally(project, frame, "dev")
    dash = tallymod.dashboard(frame, decisions, dev_tally)
    agreed = agreement.compute(project, "dev", frame=frame) if blind else None
    check_cancel()

    staged = fileops.Staged(out_dir)
    try:
        consensus = (agreed.consensus or {}).get("labels") if agreed is not None else None
        staged.write_text(CORRECTIONS_FILE, corrections_csv(corrections, blind, consensus))
        label_rows = labels_export.label_rows(project) if folder is not None else None
        if label_rows is not None:
            staged.write_text(labels_export.LABELS_FILE, labels_export.labels_csv(label_rows))
            result.labeled = sum(1 for r in label_rows if r["source"] in (labels_export.HUMAN, labels_export.ACCEPTED))
        for record, fills in labeled:
            name, filled = _write_labeled(project, record, fills, staged, lambda s, f: None, cancel)
            result.labeled += filled
            result.warnings += [] if filled == len(fills) else [
                f"{len(fills) - filled} labels given to examples of {Path(record.path).name} found no empty cell"]
        if agreed is not None:
            figures = agreed.to_json()
            figures.update(agreement.decomposition(summary["splits"], agreed.human))
            staged.write_text(AGREEMENT_FILE, json.dumps(figures, indent=2, default=_json_default) + "\n")
        drop_ids = frozenset()
        if leakage is not None:
            groups, drop_ids = leakage
            if not drop_leaks:
                drop_ids = frozenset()
            staged.write_text(LEAKAGE_FILE, leakage_csv(project, groups, decisions, drop_ids, split))
            result.leaking_groups = len(groups)
        if target is not None:
            _write_corrected(project, target, kind, names[1], staged, corrections, result,
                             split=split, drop_ambiguous=drop_ambiguous, fmt=fmt, files=files,
                             columns=dict(columns or {}), keep_removed_classes=keep_removed_classes,
                             drop_ids=drop_ids,
                             progress=lambda s, f: report(s, 0.05 + 0.75 * f), cancel=cancel)
        check_cancel()
        report("tally", 0.8)
        for name, tfmt in TALLY_FILES.items():
            staged.write_text(name, tally_format.render(dev_tally, tfmt))
        result.files = [out_dir / n for n in names]
        report("report", 0.85)
        from . import report as reportmod

        html = reportmod.build(project, frame, decisions, tally=dev_tally, dashboard=dash,
                               summary=summary, export=result.counts(), cancel=cancel)
        check_cancel()
        full = {"generated_at": now_iso(), "project": str(project.path), "summary": summary,
                "dashboard": dash, "export": result.counts()}
        staged.write_text(SUMMARY_FILE, json.dumps(full, indent=2, default=_json_default) + "\n")
        staged.write_text(REPORT_FILE, html)
        check_cancel()
        report("writing", 0.98)
        staged.commit()
        if tree is not None:
            if label_rows is None:
                raise ExportProblem("--tree writes an ImageFolder tree of a folder of images; this project holds none")
            result.tree = Path(tree).expanduser()
            result.tree_links = labels_export.write_tree(project, label_rows, result.tree)
        result.files.append(out_dir / MANIFEST_FILE)
    except OSError as e:
        staged.discard()
        raise _write_failure(e, staged.current, out_dir, staged.swapping) from None
    except BaseException:
        staged.discard()
        raise
    if train_file and split == "train" and str(target) != project.meta("train_file"):
        if project.readonly:
            result.warnings.append(f"{target} was used but not registered: the project is open read-only")
        else:
            project.set_meta("train_file", str(target))
    report("done", 1.0)
    return result


def _write_corrected(project, target: Path, kind: formats.FileKind, name: str, staged: fileops.Staged,
                     corrections: list[rowplan.Correction], result: ExportResult, *, split, drop_ambiguous, fmt, files,
                     columns, keep_removed_classes, progress, cancel, drop_ids=frozenset()) -> None:
    out_kind = kind.name if fmt == "same" else fmt
    record = mapping.find(files, target)
    holders = mapping.holding(files, split)
    base = record if record is not None and record.splits.get(split) else (holders[0] if holders else record)
    outcome = rowplan.Outcome()
    edit = rowplan.RowEdit(project, corrections, split=split, drop_ambiguous=drop_ambiguous, record=record, base=base,
                    given=columns, outcome=outcome, keep_removed_classes=keep_removed_classes, drop_ids=drop_ids)
    delimiter = record.delimiter if record is not None else None
    result.source_file = target
    outcome.rows = _rewrite(target, kind, out_kind, name, staged, edit, delimiter, progress, cancel)
    roles, plan = edit.roles, edit.plan
    rowplan.check_keys(project, target, kind, roles, split, delimiter, plan)
    result.match_by = roles.key
    result.corrected_file = staged.out_dir / name
    result.rows = outcome.rows
    result.relabelled = outcome.relabelled
    result.dropped = outcome.dropped
    result.dropped_leaks = outcome.dropped_leaks
    result.already_correct = outcome.already_correct
    result.label_changed = outcome.label_changed
    result.without_label = plan.without_label
    result.unmatched = [c.id for c in plan.unmatched()]
    result.conflicts = list(plan.conflicts)
    if plan.removed_classes:
        listed = ", ".join(f"{k} ({v})" for k, v in sorted(plan.removed_classes.items()))
        result.warnings.append(
            f"{sum(plan.removed_classes.values())} corrections name classes the project no longer has ({listed}):"
            + (" written as asked" if keep_removed_classes else
               " left out of the corrected file (--keep-removed-classes writes them)"))
    if plan.conflicts:
        result.warnings.append(
            f"{len(plan.conflicts)} paths belong to several reviewed examples with different verdicts; not applied"
        )


def _rewrite(target: Path, kind: formats.FileKind, out_kind: str, name: str, staged: fileops.Staged, edit,
             delimiter: str | None, progress, cancel) -> int:
    """A copy of ``target`` as ``name`` with the rows ``edit`` decides changed, by its format's own code."""
    if out_kind == kind.name and kind.delimited:
        with staged.open(name, gz=kind.gz) as out:
            return delimited.rewrite(target, kind, out, edit, delimiter=delimiter, progress=progress, cancel=cancel)
    if out_kind == kind.name == "jsonl":
        with staged.open(name, gz=kind.gz) as out:
            return jsonl.rewrite(target, kind, out, edit, progress=progress, cancel=cancel)
    with staged.open(name) as out:
        return arrow_format.rewrite(target, kind, out, edit, out_kind=out_kind, delimiter=delimiter,
                                    progress=progress, cancel=cancel)


def labeled_name(source: Path) -> str:
    """``data.csv`` -> ``data.labeled.csv``: the file with its empty label cells filled."""
    stem, ext = _split_name(source)
    return f"{stem}.labeled{ext}"


def _labeled_targets(project: Project, files: list[mapping.FileMapping]) -> list[tuple[mapping.FileMapping, dict]]:
    """The imported files (not folders) holding examples a person labeled from scratch, with those labels."""
    fills = labels_export.fills(project)
    if not fills:
        return []
    ids = project.examples_table().column("id").to_pylist()
    out, start = [], 0
    for f in files:
        mine = set(ids[start:start + f.rows])
        start += f.rows
        if f.kind in ("", "folder") or f.attached_to or not Path(f.path).is_file():
            continue
        theirs = {eid: lab for eid, lab in fills.items() if eid in mine}
        if theirs:
            out.append((f, theirs))
    return out


def _write_labeled(project: Project, record: mapping.FileMapping, fills: dict[str, str], staged: fileops.Staged,
                   progress, cancel) -> tuple[str, int]:
    """``<stem>.labeled<ext>``: the file with the empty label cells of the examples labeled from scratch
    filled, every other byte unchanged (the same row plan and rewriters as the corrected copy)."""
    target = Path(record.path)
    kind = formats.kind_of(target, ExportProblem)
    table = project.examples_table()
    at = {eid: i for i, eid in enumerate(table.column("id").to_pylist())}
    fixes = []
    for eid, label in fills.items():
        ex = project.example_at(at[eid], topk=False)
        fixes.append(rowplan.Correction(eid, ex["split"], ex["row"], ex.get("path"), ex.get("text"), None,
                                Decision(label=label, reviewed=True)))
    outcome = rowplan.Outcome()
    edit = rowplan.RowEdit(project, fixes, split=None, drop_ambiguous=False, record=record, base=record, given={},
                    outcome=outcome)
    name = labeled_name(target)
    _rewrite(target, kind, kind.name, name, staged, edit, record.delimiter, progress, cancel)
    return name, outcome.relabelled


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


# --------------------------------------------------------------------------------------------
# duplicates that leak across splits or conflict (labeler.core.quality.duplicates)


def _leakage(project: Project, drop_leaks: bool):
    """(the leaking or conflicting duplicate groups, the dev/test ids of the leaking ones), or None
    when the project has no scan (``drop_leaks`` then refused: there is nothing to drop by)."""
    from .quality import duplicates, scan

    if not len(scan.load(project)):
        if drop_leaks:
            raise ExportProblem("--drop-leaks needs the images scanned first: run `labeler scan`")
        return None
    groups = [g for g in duplicates.find(project).groups if g.leak or g.conflict]
    keep = duplicates.kept(project)  # judged no leak by a reviewer
    return groups, frozenset(m.id for g in groups for m in g.leaking if m.id not in keep)


def leakage_csv(project: Project, groups, decisions: dict[str, Decision], dropped: frozenset[str], split: str) -> str:
    """leakage.csv: one row per member of a duplicate group that leaks across splits or has
    conflicting labels, with the reviewer's verdict on it and whether this export left its row out."""
    from .quality import duplicates

    keep = duplicates.kept(project)
    header = ["group", "kind", "leak", "conflict", "id", "split", "path", "given_label", "corrected_label",
              "tags", "kept_by_reviewer", "dropped"]
    lines = [delimited.record(header)]
    for n, g in enumerate(groups, 1):
        for m in g.members:
            d = decisions.get(m.id, Decision())
            row = [str(n), g.kind, str(g.leak).lower(), str(g.conflict).lower(), m.id, m.split or "",
                   project.path_at(m.row) or "", m.label or "", d.label or "", ";".join(sorted(d.tags)),
                   str(m.id in keep).lower(), str(m.id in dropped and m.split == split).lower()]
            lines.append(delimited.record([tally_format.spreadsheet_safe(v) for v in row]))
    return "".join(lines)
