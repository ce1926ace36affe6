"""Load predictions files (CSV/TSV, gzipped, Parquet, JSONL) into a project, all or nothing.

A project holds every file imported into it, and records how each was read (its kind, delimiter,
which column plays which role, the ``--column`` options given: :mod:`labeler.core.mapping`); a
re-import reads a file the same way unless told otherwise, and replaces only that file's examples.
Reading is :mod:`labeler.core.formats`', checking and deriving :mod:`labeler.core.examples`'; this
module decides which files and writes the project. Values that identify things (ids, labels, paths)
are exact strings: ``000123`` stays ``000123`` and a class called ``NA`` is a class. Anything wrong
is an :class:`ImportProblem` naming the file, the line or column and what is wrong; nothing is
written then.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import columnar, fileops, files, formats, mapping, sources
from . import store as store_mod
from .formats import preview, read_table  # noqa: F401  (the window's, and tests')
from .examples import SPLIT_VALUES, SPLITS, Examples, _dictionary, build_examples, concat, merged_classes  # noqa: F401
from .probs import ProbColumns  # noqa: F401  (tests tune its refill size here)
from .problems import ImportCancelled, ImportProblem, MissingColumns  # noqa: F401
from .store import TOPK, Project, default_project_path, now_iso

Progress = Callable[[str, float], None]



@dataclass
class ImportSummary:
    project: Path
    source: Path
    rows: int
    splits: dict[str, int]
    classes: list[str]
    unlabeled: int = 0
    added: int = 0
    updated: int = 0
    removed: list[str] = field(default_factory=list)
    removed_with_reviews: int = 0
    warnings: list[str] = field(default_factory=list)
    missing_files: int | None = None  # None: not checked (a very large file)
    missing_examples: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # every file the project holds, described
    notes: list[str] = field(default_factory=list)  # how the files were read, where a record was used or replaced
    sources: int = 1  # the files named in this import

    def lines(self) -> list[str]:
        out = [
            f"Imported {self.rows} example{'' if self.rows == 1 else 's'} from "
            + (f"{self.source}" if self.sources == 1 else f"{self.sources} files") + f" into {self.project}",
            "  splits: " + ", ".join(f"{k} {v}" for k, v in self.splits.items()),
            f"  classes ({len(self.classes)}): " + ", ".join(self.classes[:20]) + (" ..." if len(self.classes) > 20 else ""),
        ]
        if self.updated:
            out.append(f"  {self.added} new, {self.updated} updated (their reviews kept)")
        if self.unlabeled:
            out.append(f"  {self.unlabeled} example{' has' if self.unlabeled == 1 else 's have'} no label"
                       " (empty label cell): kept as unlabeled")
        if self.removed:
            shown = ", ".join(self.removed[:10]) + (" ..." if len(self.removed) > 10 else "")
            out.append(
                f"  {len(self.removed)} examples of the previous import are gone ({shown});"
                f" {self.removed_with_reviews} of them had reviews, which are kept"
            )
        if self.missing_files:
            shown = ", ".join(self.missing_examples[:3])
            out.append(f"  {self.missing_files} example files do not exist (e.g. {shown}): they show a"
                       " placeholder and can still be reviewed")
        elif self.missing_files is None:
            out.append(f"  example files not checked at import ({self.rows} rows): `labeler summary` counts missing ones")
        if len(self.files) > 1:
            out.append(f"  the project holds {len(self.files)} files:")
            out += [f"    {f}" for f in self.files]
        out += [f"  note: {n}" for n in self.notes]
        out += [f"  warning: {w}" for w in self.warnings]
        return out


# --------------------------------------------------------------------------------------------
# writing


def import_predictions(
    source: str | os.PathLike | list,
    project_path: str | os.PathLike | None = None,
    *,
    columns: dict[str, str] | None = None,
    classes: list[str] | None = None,
    split: str | None = None,
    train_file: str | os.PathLike | None = None,
    add: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ImportSummary:
    """Read ``source`` (one file or several) and store the examples in the project (created if
    needed), in one transaction.

    A project holds every file imported into it: importing a file it holds replaces that file's
    examples (reviews, keyed by id, are kept), importing another adds it (``add`` insists the project
    exists). A file is read with the columns and split recorded at its last import unless ``columns``
    or ``split`` are given, which then replace the record (the summary says so)."""
    named_paths = [Path(s).resolve() for s in (source if isinstance(source, (list, tuple)) else [source])]
    if not named_paths:
        raise ImportProblem("no predictions file to import")
    project_path = Path(project_path) if project_path else default_project_path(named_paths[0])
    report = progress or (lambda stage, frac: None)

    def check_cancel():
        if cancel is not None and cancel.is_set():
            raise ImportCancelled()

    if add and not project_path.exists():
        raise ImportProblem(f"--add: there is no project at {project_path} to add {named_paths[0].name} to;"
                            " import without --add first")
    twice = [s.name for s in named_paths if sum(mapping.same_path(s, t) for t in named_paths) > 1]
    if twice:
        raise ImportProblem(f"{twice[0]} is named twice")
    recorded = sources.recorded(project_path)
    # every file the project holds is read again (its examples are stored with the new ones), the
    # files named here with the options given now
    def named(s: Path, m: mapping.FileMapping | None) -> sources.Job:
        return sources.Job(s, m, dict(columns) if columns else (dict(m.given) if m else {}),
                           split if split is not None else (m.split if m else sources.split_from_name(s)),
                           named=True)

    # the files the project holds, in their order (a file named now in its place), then the new ones
    jobs: list[sources.Job] = []
    for m in recorded:
        s = next((s for s in named_paths if mapping.same_path(m.path, s)), None)
        jobs.append(sources.Job(Path(m.path), m, dict(m.given), m.split, named=False) if s is None else named(s, m))
    jobs += [named(s, None) for s in named_paths if mapping.find(recorded, s) is None]
    notes: list[str] = []
    # the files named now first: their problems are the ones to report
    order = sorted(range(len(jobs)), key=lambda i: not jobs[i].named)
    read: list = [None] * len(jobs)
    built: list = [None] * len(jobs)
    for n, i in enumerate(order):
        job = jobs[i]
        report("reading", 0.3 * n / len(jobs))
        if job.named and not job.path.exists():
            raise ImportProblem(f"{job.path}: no such file")
        if not job.path.exists():
            raise ImportProblem(
                f"{job.path}: no such file; the project {project_path.name} holds it (imported before), so it is"
                " read again with every import. Put it back, or make a new project without it")
        read[i] = (job, *sources.read_one(job, notes))
        check_cancel()
    # a predictions file for the images of a folder the project holds joins the folder's examples
    attached = sources.attach(read, notes)
    for i in order:
        if read[i] is None:
            continue
        job, table, cmap = read[i]
        folder_alone = job.kind == "folder" and not any(a.attached_to == str(job.path) for a in attached)
        built[i] = build_examples(table, cmap, split=job.split, predictions=not folder_alone,
                                  classes=classes if classes is not None or not folder_alone
                                  else sources.folder_classes(job, table))
        check_cancel()
    read = [r for r in read if r is not None]
    built = [b for b in built if b is not None]
    report("checking", 0.3)
    if not add:
        read, built = sources.replacements(read, built, notes)
    jobs = [j for j, _, _ in read]
    several = len(jobs) > 1
    if several:
        merged = merged_classes(classes, [(j.path, e) for (j, _, _), e in zip(read, built)])
        built = [e if e.classes == merged else build_examples(t, c, classes=merged, split=j.split)
                 for (j, t, c), e in zip(read, built)]
    check_cancel()
    records = []
    for (job, table, cmap), ex in zip(read, built):
        prefix = ""
        if "id" not in cmap.roles:
            held = job.mapping or job.replaces
            prefix = held.id_prefix if held is not None else (f"{job.path.name}:" if several else "")
            if prefix:
                ex.ids = pc.binary_join_element_wise(prefix, ex.ids, "")
        if several and ex.path is not None and sources.base_dir(job.path) != sources.base_dir(jobs[0].path):
            ex.path = sources.absolute(ex.path, sources.base_dir(job.path))
        counts = np.bincount(ex.split.indices.to_numpy(zero_copy_only=False), minlength=3).tolist()
        records.append(mapping.FileMapping(
            path=str(job.path), kind=job.kind, gz=formats.kind_of(job.path).gz,
            delimiter=table.delimiter, roles=dict(cmap.roles), prob_columns=dict(cmap.prob_columns),
            given=job.given, split=job.split, id_prefix=prefix, rows=len(ex.ids),
            splits={sp: c for sp, c in zip(SPLITS, counts) if c},
            imported_at=now_iso() if job.named else job.mapping.imported_at,
        ))
    records += attached
    ex = built[0] if len(built) == 1 else concat([(j.path, e) for (j, _, _), e in zip(read, built)])
    report("writing", 0.55)
    summary = _write(project_path, jobs[0].path, ex, train_file, report, check_cancel, records)
    summary.source = named_paths[0]
    summary.sources = len(named_paths)
    summary.files = [r.describe() for r in records]
    summary.notes = notes
    return summary


def examples_table(ex: Examples, *, with_topk: bool = False) -> pa.Table:
    """The examples as the Arrow table the project stores (see :mod:`labeler.core.columnar`).
    ``with_topk``: add the top-k classes and probabilities, for when the full matrix is not kept."""
    n = len(ex.ids)
    columns = {
        "id": ex.ids,
        "split": ex.split,
        "path": ex.path if ex.path is not None else pa.nulls(n, pa.string()),
        "text": ex.text if ex.text is not None else pa.nulls(n, pa.string()),
        "label": ex.label,
        "pred": ex.pred,
        "confidence": pa.array(ex.confidence, pa.float64(), from_pandas=True),
        "p_label": pa.array(ex.p_label, pa.float64(), from_pandas=True),
        "wrong": pa.array(ex.wrong, pa.bool_()),
        "meta": pa.array(ex.meta, pa.string()) if ex.meta is not None else pa.nulls(n, pa.string()),
    }
    if ex.probs is None:  # (with probabilities it is -log p(given label): derived when read)
        columns["loss"] = pa.array(ex.loss, pa.float64(), from_pandas=True)
    if with_topk and ex.probs is not None:
        top, top_p = _topk(ex.probs.matrix(), TOPK)
        columns["topk_idx"] = _fixed_lists(top.astype(np.int32), pa.int32())
        columns["topk_p"] = _fixed_lists(top_p, pa.float64())
    return pa.table(columns)


def _topk(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` largest probabilities and their columns, best first; ties go to the lower
    column (as a stable sort of the whole row would order them)."""
    k = min(k, probs.shape[1])
    if k < probs.shape[1]:
        # the k-th largest value of each row; every column above it is in, and at it, the lowest first
        kth = -np.partition(-probs, k - 1, axis=1)[:, k - 1 : k]
        above = probs > kth
        at = (probs == kth) & (np.cumsum(probs == kth, axis=1) <= k - above.sum(axis=1, keepdims=True))
        cand = np.nonzero(above | at)[1].reshape(len(probs), k)
    else:
        cand = np.broadcast_to(np.arange(k), probs.shape)
    cand_p = np.take_along_axis(probs, cand, axis=1)
    order = np.argsort(-cand_p, axis=1, kind="stable")  # candidates are in column order: ties stay so
    top = np.take_along_axis(cand, order, axis=1)
    return top, np.take_along_axis(probs, top, axis=1)
def _scores_now(ex: Examples) -> pa.Table:
    """Label-quality scores of every labeled example, per split, as the project stores them."""
    from .ranking import score_split

    n = len(ex.ids)
    labels = ex.label.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    splits = ex.split.indices.to_numpy(zero_copy_only=False)
    quality = np.full(n, np.nan)
    flagged = np.zeros(n, dtype=bool)
    suggested = np.full(n, -1, dtype=np.int64)
    for s in range(len(SPLITS)):
        rows = np.flatnonzero((splits == s) & (labels >= 0))
        if len(rows):
            q, f, sug, _ = score_split(labels[rows], ex.probs.matrix()[rows])
            quality[rows], flagged[rows], suggested[rows] = q, f, sug
    ranked = labels >= 0
    return pa.table({
        "quality": pa.array(quality, pa.float64(), from_pandas=True),
        "flagged": pa.array(flagged, pa.bool_(), mask=~ranked),
        "suggested": _dictionary(np.where(ranked, suggested, -1), ex.classes).cast(pa.string()),
    })


def _fixed_lists(m: np.ndarray, type_: pa.DataType) -> pa.Array:
    values = pa.array(np.ascontiguousarray(m).ravel(), type_)
    return pa.FixedSizeListArray.from_arrays(values, m.shape[1])


# Larger files are not checked for missing example files at import (about 1 s per million paths).
CHECK_FILES_UP_TO = 200_000

# Above this size the full probability matrix is not kept (top-k and p(given) are): 1,000 classes
# must not make a project of gigabytes. Ranking then needs the predictions file again.
MAX_STORED_PROBS = 256 * 2**20


@dataclass
class _Target:
    """Where an import writes: the project itself, or for a first import a scratch file renamed into
    place at the end, while the final name's lock is held."""

    project: Project
    path: Path
    new_file: bool
    final_lock: int | None


def _open_target(project_path: Path) -> _Target:
    new_file = not project_path.exists()
    final_lock = None
    if new_file:
        # Hold the final name's lock while building, so two first imports cannot both rename a new
        # project into place (the second would replace one the first already writes to).
        final_lock = fileops.acquire_lock(project_path)
        if project_path.exists():  # another import finished first: update its project instead
            fileops.release_lock(final_lock)
            final_lock, new_file = None, False
    target = fileops.import_scratch_path(project_path) if new_file else project_path
    if new_file:
        fileops.clear_stale_imports(project_path)
        fileops.remove_db_files(target)  # a dead import with our pid: its WAL must not meet a new file
    try:
        project = Project.create(target, scratch=True) if new_file else Project.open(project_path)
    except BaseException:
        _release_final_lock(final_lock, project_path)
        raise
    return _Target(project, target, new_file, final_lock)


def _release_final_lock(final_lock: int | None, project_path: Path) -> None:
    if final_lock is not None:
        # leave nothing behind: a later writer (and a refused one, which re-checks that the
        # project exists once it has the lock) makes its own lock file
        fileops.release_lock(final_lock)
        fileops.lock_path(project_path).unlink(missing_ok=True)


def _finish_target(t: _Target, project_path: Path, *, failed: bool) -> None:
    """Close ``t``; a failed first import leaves no file behind."""
    try:
        if failed:
            t.project.close()
            if t.new_file:
                fileops.remove_db_files(t.path)
    finally:
        if t.new_file:
            fileops.lock_path(t.path).unlink(missing_ok=True)
        _release_final_lock(t.final_lock, project_path)


def _write(project_path, source, ex: Examples, train_file, report, check_cancel,
           records: list[mapping.FileMapping]) -> ImportSummary:
    # Work handed to other threads (Arrow encoding, the file listing, an early flush: all let go of
    # the GIL) while this one writes. A pool per import: no threads outlive it, none cross a fork.
    with ThreadPoolExecutor(2, thread_name_prefix="labeler-import") as pool:
        return _write_using(pool, project_path, source, ex, train_file, report, check_cancel, records)


def _write_using(pool: ThreadPoolExecutor, project_path, source, ex: Examples, train_file, report, check_cancel,
                 records: list[mapping.FileMapping]) -> ImportSummary:
    n = len(ex.ids)
    keep_probs = ex.probs is not None and ex.probs.size * 8 <= MAX_STORED_PROBS
    # encoded on a second thread while the project is made and the matrix written
    encoding = pool.submit(columnar.encode, examples_table(ex, with_topk=not keep_probs))
    listing = None
    if ex.path is not None and n <= CHECK_FILES_UP_TO:
        listing = pool.submit(files.missing_files, sources.base_dir(source), ex.path)
    scores = None
    if ex.probs is not None and not keep_probs:
        # the matrix will not be kept, so rank now, while it is here
        report("ranking", 0.5)
        scores = _scores_now(ex)
        check_cancel()
    target = _open_target(project_path)
    project, new_file = target.project, target.new_file
    summary = ImportSummary(
        project=project_path, source=source, rows=n,
        splits={s: c for s, c in zip(SPLITS, np.bincount(ex.split.indices.to_numpy(zero_copy_only=False), minlength=3).tolist()) if c},
        classes=ex.classes, unlabeled=ex.unlabeled, warnings=list(ex.warnings),
    )
    if ex.path is None:
        summary.missing_files = 0
    if scores is not None:
        summary.warnings.append(
            f"{ex.probs.shape[1]} classes x {n} rows: only the top-{TOPK} probabilities and the given label's"
            " are kept in the project; the label-quality ranking was computed now"
        )
    try:
        with project.transaction() as c:
            with project.intact():
                old = columnar.read(c, "examples")
                kept = _kept_scores(c, project, old, ex, summary) if scores is None else None
            if old is not None and old.num_rows:
                old_ids = set(old.column("id").to_pylist())
                new_ids = set(ex.ids.to_pylist())
                removed = sorted(old_ids - new_ids)
                summary.removed = removed
                summary.updated = len(old_ids & new_ids)
                if removed:
                    reviewed = {r[0] for r in c.execute("SELECT example_id FROM decisions")}
                    summary.removed_with_reviews = len(reviewed & set(removed))
            summary.added = n - summary.updated

            def chunk_written(done: int) -> None:
                report("writing", 0.55 + 0.4 * done / max(n, 1))
                check_cancel()

            flushing = None
            if keep_probs:
                k = ex.probs.shape[1]
                columnar.write_matrix(c, "probs", ex.probs.blocks(columnar.matrix_chunk_rows(k)))
                if new_file:  # the bulk of a new project is on its way to the disk while the rest is written
                    flushing = pool.submit(fileops.sync, target.path, data_only=True)
            else:
                columnar.delete(c, "probs")
            columnar.write_encoded(c, "examples", encoding.result(), progress=chunk_written)
            if listing is not None:
                missing = listing.result()
                summary.missing_files = missing.true_count
                if summary.missing_files:
                    summary.missing_examples = ex.path.filter(missing).slice(0, 3).to_pylist()
            if scores is not None:
                columnar.write(c, "scores", scores)
                project.set_meta("ranking", {s: "cleanlab" for s in summary.splits}, conn=c)
            elif kept is not None:  # the rankings of the examples whose predictions did not change
                columnar.write(c, "scores", kept[0])
                project.set_meta("ranking", kept[1], conn=c)
            else:
                columnar.delete(c, "scores")  # rankings belong to the previous predictions
                project.set_meta("ranking", {}, conn=c)
            project.set_meta("classes", ex.classes, conn=c)
            project.set_meta("source", str(source), conn=c)
            project.set_meta("base_dir", str(sources.base_dir(source)), conn=c)
            project.set_meta("has_probs", ex.probs is not None, conn=c)
            project.set_meta("probs_layout", store_mod.PROBS_LAYOUT if keep_probs else "", conn=c)
            project.set_meta("columns", records[0].given, conn=c)  # (read by projects of earlier versions)
            project.set_meta("files", [r.to_json() for r in records], conn=c)
            registered = project.meta("train_file")
            if train_file is not None:
                project.set_meta("train_file", str(Path(train_file).resolve()), conn=c)
            elif registered is None and mapping.holding(records, "train"):
                # the training set is the file that holds the train split (unless one was named)
                project.set_meta("train_file", mapping.holding(records, "train")[0].path, conn=c)
            history = list(project.meta("imports", []))
            history.append({"source": ", ".join(r.path for r in records), "rows": n, "at": now_iso()})
            project.set_meta("imports", history, conn=c)
        if flushing is not None:
            flushing.result()
        if new_file:
            project.seal()
        else:
            project.close()
        if new_file:
            os.replace(target.path, project_path)
            fileops.sync(project_path.parent, strict=False)  # the rename itself survives a power cut
    except BaseException:
        _finish_target(target, project_path, failed=True)
        raise
    _finish_target(target, project_path, failed=False)
    report("done", 1.0)
    return summary


def _kept_scores(c, project: Project, old: pa.Table | None, ex: Examples,
                 summary: ImportSummary) -> tuple[pa.Table, dict] | None:
    """The stored label-quality scores carried over to the examples a re-import leaves as they were
    (same id, split, given label, prediction, confidence and p(given label)); None when nothing is
    kept. Examples that changed lose theirs, and the summary says how many."""
    ranking = project.meta("ranking", {}) or {}
    if old is None or not old.num_rows or not ranking:
        return None
    old_scores = columnar.read(c, "scores")
    if old_scores is None or old_scores.num_rows != old.num_rows:
        return None
    at = pd.Index(old.column("id").to_pylist()).get_indexer(ex.ids.to_pylist())
    found = at >= 0
    take = pa.array(np.where(found, at, 0))

    def same(name: str, new: pa.Array) -> np.ndarray:
        before = old.column(name).take(take)
        if pa.types.is_dictionary(before.type):
            before = before.cast(before.type.value_type)
        if pa.types.is_dictionary(new.type):
            new = new.cast(new.type.value_type)
        eq = pc.fill_null(pc.equal(before, new), False)
        both_null = pc.and_(pc.is_null(before), pc.is_null(new))
        return pc.or_(eq, both_null).to_numpy(zero_copy_only=False)

    def same_float(name: str, new: np.ndarray) -> np.ndarray:
        before = old.column(name).take(take).to_numpy(zero_copy_only=False).astype(np.float64)
        return (before == new) | (np.isnan(before) & np.isnan(new))

    unchanged = found & same("split", ex.split) & same("label", ex.label) & same("pred", ex.pred)
    unchanged &= same_float("confidence", ex.confidence) & same_float("p_label", ex.p_label)
    quality = old_scores.column("quality").take(take)
    had = pc.is_valid(quality).to_numpy(zero_copy_only=False) & found
    lost = int((had & ~unchanged).sum())
    if lost:
        summary.warnings.append(
            f"{lost} examples whose predictions or labels changed lost their label-quality score; the other"
            f" {int((had & unchanged).sum())} keep theirs (`labeler rank` ranks the changed ones again)")
    if not (had & unchanged).any():
        return None
    mask = pa.array(~unchanged)
    table = pa.table({name: pc.if_else(mask, pa.nulls(len(mask), col.type), col.take(take))
                      for name, col in zip(old_scores.column_names, old_scores.columns)})
    splits = ex.split.cast(pa.string()).to_numpy(zero_copy_only=False)
    keep = {s: m for s, m in ranking.items() if (had & unchanged & (splits == s)).any()}
    return table, keep
