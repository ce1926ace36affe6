"""The labeler command line: each command is one call into labeler.core. The commands about the data
behind the errors live in :mod:`labeler.cli_data`, the team store's in :mod:`labeler.cli_team`; what they
all share in :mod:`labeler.cli_common`."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import click

from .core import dashboard as dashmod
from .core import frame as framemod
from .core import queue as queuemod
from .core import files, mapping, stats
from .core import tally as tallymod
from .core.importer import ImportProblem, import_predictions
from .core.store import ErrorTypesInUse, Project, ProjectError, default_project_path, location_warnings
from .core.urls import is_pg_url
from .cli_common import (PROJECT_SUFFIX, TAXONOMY_REFUSAL_HINT, _fail, _find_project, _open_readonly, _open_writable,
                         _parse_classes, _parse_columns, _progress_printer, _read_taxonomy, _team_copy, _warn,
                         project_option)

CONFUSION_TABLE_MAX = 40  # classes; above, `labeler confusion` lists the largest cells (as report.html does)
LABEL_MODE = "\0label the unlabeled"  # `review --label` without a class
LABEL_ORDERS = ("uncertainty", "entropy", "least-confidence", "random", "file", "pred")


class _DefaultToReview(click.Group):
    """``labeler FILE`` means ``labeler review FILE``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["review", *args]
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        # A project found damaged while a command reads it (a chunk failing its checksum) is a
        # message, not a traceback; opening one already says so where each command opens it.
        try:
            return super().invoke(ctx)
        except ProjectError as e:
            _fail(str(e))


@click.group(cls=_DefaultToReview)
@click.version_option(package_name="labeler")
def main() -> None:
    """labeler: review a classifier's mistakes, tally why it fails, and fix the labels.

    `labeler PREDICTIONS_OR_PROJECT` opens the review window.
    """


@main.command("import")
@click.argument("predictions", nargs=-1, required=True, type=click.Path(exists=True))
@project_option
@click.option("--add", is_flag=True, help="Add the file(s) to an existing project (refused if there is none).")
@click.option("--column", "-c", "columns", multiple=True, metavar="ROLE=NAME",
              help="Use column NAME for ROLE (id, path, text, label, pred, confidence, split, probs)."
                   " Without it, a file imported before is read with the columns it was given then.")
@click.option("--classes", help="The classes, comma-separated, in order.")
@click.option("--classes-file", type=click.Path(exists=True, dir_okay=False), help="The classes, one per line.")
@click.option("--split", "split", help="The split of every row when the file has no split column (default: dev).")
@click.option("--train-file", type=click.Path(exists=True, dir_okay=False),
              help="The training-set file that corrected labels are written back into.")
@click.option("--taxonomy", type=click.Path(exists=True, dir_okay=False), help="Error types, one per line.")
@click.option("--force", is_flag=True,
              help="Replace the taxonomy even if it drops error types that decisions use (they then count as untagged).")
def import_cmd(predictions, project, add, columns, classes, classes_file, split, train_file, taxonomy, force):
    """Load predictions files (CSV/TSV, Parquet, JSONL) into a project: one file, or one per split
    (`labeler import dev.csv train.csv test.csv`; each file's split from its split column, its name,
    or --split).

    A project holds every file imported into it. Re-importing a file replaces that file's examples
    (matched by id; every review is kept) and reads it with the --column options given at its last
    import, unless new ones are given. A --taxonomy that leaves out error
    types which decisions use is refused, before anything is written, unless --force is given."""
    cancel = threading.Event()
    if project and is_pg_url(project):  # a team project: imported into a working copy, then pushed
        project = str(_team_copy(project, create=True))
    target = Path(project) if project else default_project_path(predictions[0])
    try:
        # checked before the import, so a bad taxonomy leaves nothing written
        error_types = _read_taxonomy(taxonomy) if taxonomy else None
        if error_types is not None and not force and target.exists():
            with Project.open(target, readonly=True) as existing:
                existing.check_error_types(error_types)
        for w in location_warnings(target):
            click.echo(f"Warning: {w}", err=True)
        summary = import_predictions(
            list(predictions), project, columns=_parse_columns(columns) or None, add=add,
            classes=_parse_classes(classes, classes_file), split=split, train_file=train_file,
            progress=_progress_printer(), cancel=cancel,
        )
    except ErrorTypesInUse as e:
        _fail(f"{taxonomy}: {e}; {TAXONOMY_REFUSAL_HINT}. Nothing was imported")
    except (ImportProblem, ProjectError) as e:
        _fail(f"{taxonomy}: {e}" if taxonomy and "error type" in str(e) else str(e))
    except KeyboardInterrupt:
        _fail("import cancelled; nothing was written")
    if error_types is not None:
        with Project.open(summary.project) as p:
            try:
                p.set_error_types(error_types, force=force)
            except ErrorTypesInUse as e:  # decisions written between the check and now
                _fail(f"the import is saved, but the taxonomy was not replaced: {taxonomy}: {e};"
                      f" {TAXONOMY_REFUSAL_HINT}")
    for line in summary.lines():
        click.echo(line)


@main.command()
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def summary(project, as_json):
    """Per split: examples, errors, error rate with a 95% interval, and what they say (the window's
    dashboard and report.html say the same)."""
    with _open_readonly(project) as p:
        frame = framemod.load(p)
        result = stats.summary(frame, p.classes)
        decisions = p.decisions()
        dev_tally = tallymod.project_tally(p, frame, "dev") if "dev" in result["splits"] else None
        dash = tallymod.dashboard(frame, decisions, dev_tally) if dev_tally is not None else {}
        result["missing_files"] = files.missing_files(p.base_dir, p.examples_table().column("path")).true_count
        from .core import agreement as agreementmod

        human = agreementmod.compute(p, "dev", frame=frame).human if "dev" in result["splits"] else None
        held = mapping.files_of(p)
        result["files"] = [{"path": f.path, "rows": f.rows, "splits": f.splits, "key": f.key_column,
                            "label": f.roles.get("label"), "ids_from_rows": f.ids_from_rows} for f in held]
    result["dev_error_corrected"] = dash.get("dev_error_corrected")
    result["error_floor"] = dash.get("error_floor")
    result["human"] = None if human is None else {k: human[k] for k in ("error", "ci95", "reviewers", "sample", "source")}
    result.update(agreementmod.decomposition(result["splits"], human))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{'split':<6} {'examples':>9} {'errors':>7} {'error rate':>11}  95% interval")
    for s, d in result["splits"].items():
        lo, hi = d["ci95"]
        click.echo(f"{s:<6} {d['examples']:>9} {d['errors']:>7} {100 * d['error_rate']:>10.2f}%  "
                   f"{100 * lo:.2f}%-{100 * hi:.2f}%")
    if result["missing_files"]:
        click.echo(f"{result['missing_files']} example files do not exist (they show a placeholder in review)")
    if held:
        click.echo(f"files ({len(held)}):")
        for f in held:
            click.echo(f"  {f.describe()}")
    said = dashmod.Dashboard.of(dash or result, dev_tally)
    for part in ([said.gaps], [said.corrected, said.floor], [said.diagnosis, said.warning]):
        if any(part):
            click.echo("")
            for sentence in filter(None, part):
                click.echo(sentence)
    click.echo("")
    for line in agreementmod.decomposition_lines(human, result):
        click.echo(line)


def queue_options(f):
    f = click.option("--split", default="dev", show_default=True, type=click.Choice(["train", "dev", "test"]))(f)
    f = click.option("--order", default=None, type=click.Choice(list(dict.fromkeys(queuemod.ORDERS + LABEL_ORDERS))),
                     help="random (seeded; default), loss (highest first), confidence (most confident mistakes"
                          " first), quality (likeliest wrong label first), file; with --label (labeling): uncertainty"
                          " (default), entropy, least-confidence, random, file, pred.")(f)
    f = click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random order.")(f)
    f = click.option("--scope", default=None, type=click.Choice([s for s in queuemod.SCOPES if s not in ("slice", "duplicates")]),
                     help="errors (misclassified; default), all examples, flagged label issues, or disagreements (reviewers' blind labels disagree)"
                          " (default with --order quality: all).")(f)
    f = click.option("--label", is_flag=False, flag_value=LABEL_MODE, default=None,
                     help="Only examples whose given label is LABEL. `labeler review --label` without a class"
                          " labels the unlabeled examples instead (put it before the file).")(f)
    f = click.option("--pred", help="Only examples predicted as PRED.")(f)
    f = click.option("--pair", metavar="GIVEN,PRED", help="One cell of the confusion matrix.")(f)
    f = click.option("--unreviewed", is_flag=True, help="Leave out reviewed examples.")(f)
    f = click.option("--allow-test", is_flag=True, help="Allow reviewing the test split (not recommended).")(f)
    return f


def make_spec(split, order, seed, scope, label, pred, pair, unreviewed, allow_test) -> queuemod.QueueSpec:
    if label == LABEL_MODE:
        _fail("--label needs a class name here (`labeler review --label` alone labels the unlabeled examples)")
    if order in LABEL_ORDERS and order not in queuemod.ORDERS:
        _fail(f"--order {order} orders the unlabeled examples: it goes with `labeler review --label`")
    if pair:
        given, sep, predicted = pair.partition(",")
        if not sep:
            _fail(f"--pair {pair!r}: expected GIVEN,PRED")
        if label or pred:
            _fail("--pair already sets --label and --pred")
        label, pred = given, predicted
    order = order or "random"
    scope = scope or ("all" if order == "quality" else "errors")
    spec = queuemod.QueueSpec(split=split, order=order, seed=seed, scope=scope, label=label, pred=pred,
                              unreviewed=unreviewed, allow_test=allow_test)
    if split == "test" and not allow_test:
        _fail(queuemod.TEST_REFUSAL)
    return spec


def _ranked_in_memory(p: Project, frame, split: str):
    """``frame`` with label-quality scores for ``split``: the stored ones, or computed here without
    storing them. `queue` only reads the project (it must work while a window holds it open), so
    scores it computes are not kept; `labeler rank` stores them."""
    from .core import ranking

    if ranking.has_scores(frame, split):
        return frame
    try:
        scores = ranking.compute(p, frame, split)
    except ranking.RankProblem as e:
        _fail(f"cannot rank the {split} split: {e}")
    for w in scores.warnings:
        click.echo(f"Warning: {w}", err=True)
    click.echo(f"Note: the {split} split had no label-quality scores; ranked now, not stored"
               " (`labeler rank` stores them)", err=True)
    return ranking.with_scores(frame, scores)


@main.command()
@project_option
@queue_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--limit", type=click.IntRange(min=0), help="At most N items.")
def queue(project, split, order, seed, scope, label, pred, pair, unreviewed, allow_test, as_json, limit):
    """The review queue: by default the misclassified dev examples in a seeded random order."""
    spec = make_spec(split, order, seed, scope, label, pred, pair, unreviewed, allow_test)
    with _open_readonly(project) as p:
        classes = set(p.classes)
        for what, v in (("--label", spec.label), ("--pred", spec.pred)):
            if v is not None and v not in classes:
                _fail(f"{what} {v!r} is not a class of this project")
        decisions = p.decisions()
        reviewed = {k for k, d in decisions.items() if d.reviewed}
        frame = framemod.load(p)
        if spec.order == "quality" or spec.scope == "flagged":
            frame = _ranked_in_memory(p, frame, spec.split)
        only = None
        if spec.scope == "disagreements":
            from .core.agreement import disagreements

            only = set(disagreements(p, spec.split, frame=frame))
        rows = queuemod.build(frame, spec, reviewed, only=only)
    if limit is not None:
        rows = rows.head(limit)
    items = [
        {"id": r.id, "split": r.split, "given": r.label, "predicted": r.pred,
         "confidence": None if r.confidence != r.confidence else r.confidence,
         "loss": None if r.loss != r.loss else r.loss,
         "quality": None if r.quality != r.quality else r.quality,
         "suggested": r.suggested, "flagged": None if r.flagged is None else bool(r.flagged),
         "reviewed": r.id in reviewed,
         "corrected": decisions[r.id].label if r.id in decisions else None}
        for r in rows.itertuples(index=False)
    ]
    if as_json:
        click.echo(json.dumps(items))
        return
    click.echo(f"{len(items)} item{'' if len(items) == 1 else 's'}: {spec.describe()}")
    for it in items:
        conf = "" if it["confidence"] is None else f"{it['confidence']:.3f}"
        loss = "" if it["loss"] is None else f"{it['loss']:.3f}"
        quality = "" if it["quality"] is None else f"  quality {it['quality']:.4f}" + ("  FLAGGED" if it["flagged"] else "")
        click.echo(f"{it['id']:<16} {it['given']!s:>10} -> {it['predicted']!s:<10} conf {conf:<6} loss {loss}"
                   + quality + ("  (reviewed)" if it["reviewed"] else "")
                   + (f"  corrected to {it['corrected']}" if it["corrected"] is not None else ""))


@main.command()
@project_option
@click.option("--split", default="dev", show_default=True, type=click.Choice(["train", "dev", "test"]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--cells", is_flag=True,
              help="Only the non-empty cells, largest errors first: JSON {classes, cells: [[given, pred, count]]};"
                   " as text, the default above 40 classes.")
def confusion(project, split, as_json, cells):
    """The confusion matrix of a split: rows are given labels, columns predicted labels.

    Above 40 classes the text lists the 30 largest off-diagonal cells instead of the table (pass --cells
    for every non-empty cell); JSON is the whole matrix unless --cells."""
    with _open_readonly(project) as p:
        classes = p.classes
        frame = framemod.load(p)
        many = len(classes) > CONFUSION_TABLE_MAX and not as_json
        if cells or many:
            given, pred, counts = stats.confusion_cells(frame, classes, split)
            order = sorted(range(len(counts)), key=lambda n: (given[n] == pred[n], -counts[n], given[n], pred[n]))
            rows = [[classes[given[n]], classes[pred[n]], int(counts[n])] for n in order]
        else:
            m = stats.confusion(frame, classes, split)
    if as_json:
        click.echo(json.dumps({"classes": classes, "cells": rows} if cells else {"classes": classes, "matrix": m.tolist()}))
        return
    if cells or many:
        shown = rows if cells else [r for r in rows if r[0] != r[1]][:30]
        if many and not cells:
            click.echo(f"{len(classes)} classes: the {len(shown)} largest confusions ({split}); --cells lists every cell")
        w = max([len(r[0]) for r in shown] + [5])
        click.echo(f"{'given':<{w}}  {'predicted':<{w}}  count")
        for g, pr, n in shown:
            click.echo(f"{g:<{w}}  {pr:<{w}}  {n:>5}")
        return
    w = max([len(c) for c in classes] + [len(str(int(m.max()) if m.size else 0)), 4])
    click.echo("given \\ pred".ljust(w + 2) + " ".join(c.rjust(w) for c in classes))
    for c, row in zip(classes, m):
        click.echo(c.ljust(w + 2) + " ".join(str(int(v)).rjust(w) for v in row))


@main.command()
@click.argument("source", required=False, type=click.Path(exists=True))
@project_option
@queue_options
@click.option("--taxonomy", type=click.Path(exists=True, dir_okay=False), help="Error types, one per line.")
@click.option("--reviewer", help="Your name, stored with each decision.")
@click.option("--blind", is_flag=True, help="Blind relabeling: label a seeded random sample of --split yourself,"
              " without seeing the given label, the prediction or the probabilities (needs --reviewer).")
@click.option("--sample", type=click.IntRange(min=1), help="With --blind: how many examples (default: all of the split).")
@click.option("--read-only", "read_only", is_flag=True,
              help="Look without changing anything: for a project another labeler has open, or on a read-only share.")
@click.option("--overlap", type=click.IntRange(min=1), default=None,
              help="A team project (--project postgresql://...): how many reviewers get each item of the shared queue"
              " (default: as the queue was first posted, else 1).")
def review(source, project, split, order, seed, scope, label, pred, pair, unreviewed, allow_test, taxonomy, reviewer,
           blind, sample, read_only, overlap):
    """Open the review window on a predictions file (imported first) or a project.

    With --read-only nothing is imported or saved (a predictions file opens the project made from it)."""
    if read_only:
        for given, what in ((taxonomy, "--taxonomy changes the project"), (blind, "--blind records your labels"),
                            (label == LABEL_MODE, "--label (labeling the unlabeled) records labels"),
                            (source is not None and Path(source).is_dir(), f"{source} is a folder to import")):
            if given:
                _fail(f"{what}: it cannot be given with --read-only")
    team = None
    if project and is_pg_url(project) and not (read_only or blind or label == LABEL_MODE):
        # a team project: reviewed live, items claimed from the server's shared queue (team_sync)
        if source is not None or taxonomy:
            _fail("a team review reads the project on the server: give no SOURCE or --taxonomy"
                  " (import or `labeler taxonomy` with --project URL change it)")
        if not reviewer or not reviewer.strip():
            _fail("a team review needs --reviewer NAME: each decision and claim is made in a reviewer's name")
        team, project = project, None
    elif project and is_pg_url(project):  # read-only, blind or labeling: in a working copy, pushed back at the end
        if overlap is not None:
            _fail("--overlap is for a team review (no --read-only, --blind or --label)")
        project = str(_team_copy(project))
    elif overlap is not None:
        _fail("--overlap shares a team project's queue: it needs --project postgresql://...?project=NAME")
    if blind:
        _review_blind(source, project, split, seed, sample, reviewer)
    if source is not None and Path(source).is_dir() and not blind:  # `labeler DIR`: label the folder
        _import_folder(source, project)
        label = LABEL_MODE
    if label == LABEL_MODE:
        explicit = click.get_current_context().get_parameter_source("split") != click.core.ParameterSource.DEFAULT
        _review_label(source, project, split if explicit else None, order, seed, reviewer)
    spec = make_spec(split, order, seed, scope, label, pred, pair, unreviewed, allow_test)
    try:
        from .gui.app import run
    except ImportError as e:  # the window is not there yet, or Qt cannot load
        _fail(f"the review window cannot start: {e}")
    sys.exit(run(source=source, project=project, spec=spec, taxonomy=taxonomy, reviewer=reviewer, readonly=read_only,
                 team=team, overlap=overlap))

def _review_label(source, project, split, order, seed, reviewer) -> None:
    """`labeler review --label`: label the unlabeled examples, with the model's suggestion."""
    from .core.labeling import LabelSpec

    if order is not None and order not in LABEL_ORDERS:
        _fail(f"--order {order}: labeling orders the unlabeled examples by {', '.join(LABEL_ORDERS)}")
    path = _project_of(source, project)
    try:
        from .gui.app import run_own_labels
    except ImportError as e:
        _fail(f"the review window cannot start: {e}")
    sys.exit(run_own_labels(path, LabelSpec(split=split, order=order or "uncertainty", seed=seed), reviewer, label=True))


def _import_folder(source, project) -> None:
    """A folder given to `labeler review` is imported (again: new images join) before labeling."""
    try:
        summary = import_predictions(source, project)
    except (ImportProblem, ProjectError) as e:
        _fail(str(e))
    click.echo(summary.lines()[0], err=True)


def _project_of(source, project) -> Path:
    """The project to open: --project, else the one made from SOURCE (a file or a folder), else here."""
    path = Path(project) if project else None
    if path is None and source is not None:
        path = Path(source) if str(source).endswith(PROJECT_SUFFIX) else default_project_path(source)
    return _find_project(str(path) if path else None)


def _review_blind(source, project, split, seed, sample, reviewer) -> None:
    """`labeler review --blind`: the blind-labeling window on the project (made from SOURCE)."""
    from .core.blind import BlindSpec

    if not reviewer:
        _fail("--blind needs --reviewer NAME: a blind label is one reviewer's own label")
    if split == "test":
        click.echo("Warning: blind labels of the test split measure human error there; they change nothing"
                   " in the test set", err=True)
    path = _project_of(source, project)
    try:
        from .gui.app import run_own_labels
    except ImportError as e:
        _fail(f"the review window cannot start: {e}")
    sys.exit(run_own_labels(path, BlindSpec(split=split, sample=sample, seed=seed), reviewer))


@main.command()
@project_option
@click.option("--split", default="dev", show_default=True, type=click.Choice(["train", "dev", "test"]))
@click.option("--format", "fmt", default="table", show_default=True, type=click.Choice(["table", "csv", "md", "json"]))
def tally(project, split, fmt):
    """How often each error category occurs among the reviewed errors, projected onto all errors."""
    from .core import tally_format

    with _open_readonly(project) as p:
        result = tallymod.project_tally(p, framemod.load(p), split)
    click.echo(tally_format.render(result, fmt), nl=False)


@main.command()
@project_option
@click.option("--split", default="train", show_default=True, type=click.Choice(["train", "dev", "test"]))
@click.option("--limit", type=click.IntRange(min=0), help="At most N examples.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rank(project, split, limit, as_json):
    """Training examples most likely mislabeled first (cleanlab label-quality scores), stored in the
    project for `labeler review --split train --order quality`.

    JSON: [{id, given, suggested, quality, flagged, corrected}]: the flagged first, each part lowest
    quality first; corrected is the label a reviewer corrected it to (null: none yet). Needs out-of-sample
    probabilities (cross-validated for the training set); without probabilities the ranking falls
    back to the loss from the prediction's confidence, and says so."""
    from .core import ranking

    path = _find_project(project)
    try:
        p = Project.open(path)
    except ProjectError as e:
        _fail(str(e))
    with p:
        frame = framemod.load(p)
        decisions = p.decisions()  # (for the corrected field)
        show = _progress_printer()
        try:
            scores = ranking.compute(p, frame, split, progress=show)
            result = ranking.store(p, scores)
            if show is not None:
                show("stored", 1.0)
        except (ranking.RankProblem, ProjectError) as e:
            _fail(f"cannot rank the {split} split: {e}")
        except (ranking.RankCancelled, KeyboardInterrupt):
            _fail("ranking cancelled; the project's earlier ranking is as it was")
    for w in result.warnings:
        click.echo(f"Warning: {w}", err=True)
    rows = ranking.ranked(ranking.with_scores(frame, scores), split)
    if limit is not None:
        rows = rows.head(limit)
    items = ranking.records(rows, decisions)
    if as_json:
        click.echo(json.dumps(items))
        return
    click.echo(f"{result.ranked} {split} example{'' if result.ranked == 1 else 's'} ranked ({result.method});"
               f" {result.flagged} flagged as likely label issues")
    for it in items:
        click.echo(f"{it['id']:<16} given {it['given']!s:>10}  suggested {it['suggested']!s:<10}"
                   f" quality {it['quality']:.4f}" + ("  FLAGGED" if it["flagged"] else "")
                   + (f"  corrected to {it['corrected']}" if it["corrected"] is not None else ""))


@main.command()
@project_option
@click.option("--out", "out_dir", required=True, type=click.Path(), help="The folder to write into (created if needed).")
@click.option("--train-file", type=click.Path(exists=True, dir_okay=False),
              help="Correct this training-set file instead of the one registered at import (and register it).")
@click.option("--drop-ambiguous", is_flag=True, help="Leave out the rows tagged ambiguous.")
@click.option("--drop-leaks", is_flag=True,
              help="Leave out the dev/test rows whose image duplicates a training image (needs `labeler scan`).")
@click.option("--format", "fmt", default="same", show_default=True, type=click.Choice(["same", "csv", "parquet"]),
              help="Format of the corrected copy.")
@click.option("--split", default="train", show_default=True, type=click.Choice(["train", "dev", "test"]),
              help="Whose labels to write back: train (the training-set file) or dev (the predictions file).")
@click.option("--column", "-c", "columns", multiple=True, metavar="ROLE=NAME",
              help="In the file to correct, column NAME plays ROLE (id, path, text, label, split); needed only"
                   " where a --train-file's columns are named unlike the predictions file's.")
@click.option("--tree", type=click.Path(file_okay=False), help="A folder project: also write an ImageFolder tree"
              " of the labeled images there (hard links where possible, copies otherwise).")
@click.option("--keep-removed-classes", is_flag=True,
              help="Also write corrections to classes that a later import removed (left out by default).")
def export(project, out_dir, train_file, drop_ambiguous, fmt, split, columns, keep_removed_classes, tree, drop_leaks):
    """Write the corrected labels back into a copy of the training-set file, plus corrections.csv,
    tally.csv/.md/.json, summary.json and a self-contained report.html, into the folder OUT.

    The copy (train.csv -> OUT/train.corrected.csv) is the source except the label cells of the
    corrected examples. Rows are matched by the key the examples were imported with (their id column,
    else their path, else their text) and the label column is the one the import read; a file in
    which most examples are not found is refused. Files are replaced only once all are written;
    sources are never written. A scanned project (`labeler scan`) with duplicates that leak across
    splits or conflict also gets leakage.csv; --drop-leaks leaves their dev rows out of a dev copy
    (--split dev)."""
    from .core.export import ExportCancelled, ExportProblem, export_all
    from .core.store import ProjectLocked

    path = _find_project(project)
    try:
        try:
            p = Project.open(path, readonly=not train_file)  # writable only to register --train-file
        except ProjectLocked:
            p = Project.open(path, readonly=True)
    except ProjectError as e:
        _fail(str(e))
    with _warn(p):
        try:
            result = export_all(p, out_dir, train_file=train_file, drop_ambiguous=drop_ambiguous, fmt=fmt,
                                split=split, columns=_parse_columns(columns), keep_removed_classes=keep_removed_classes, tree=tree,
                                drop_leaks=drop_leaks, progress=_progress_printer())
        except ExportProblem as e:
            _fail(str(e))
        except (ExportCancelled, KeyboardInterrupt):
            _fail("export cancelled; the files of any earlier export are as they were")
    for line in result.lines():
        click.echo(line)


@main.command()
@project_option
@click.option("--list", "list_only", is_flag=True, help="List the backups, newest first, and restore nothing.")
@click.option("--unsaved", type=click.Path(exists=True, dir_okay=False),
              help="Write the decisions of a recovery file (PROJECT.unsaved.jsonl) into the project.")
@click.argument("backup", required=False)
def restore(project, list_only, unsaved, backup):
    """Put a backup of the project back (the newest, or BACKUP: a name from --list or a path).

    A backup is made each time labeler closes a project it changed; the last 5 are kept in
    PROJECT.backups/. The current file, damaged or not, is renamed to PROJECT.replaced-TIME, never
    deleted. Refused while another labeler has the project open for writing.

    Decisions made while the project file was deleted or replaced under the window are kept in a
    recovery file that the window names; --unsaved FILE writes them into the project (after a
    restore, say), and renames FILE to FILE.applied.

    A team project (--project postgresql://...?project=NAME) is restored from the server's own
    backups: before each push that changes the project, the server copies it into a schema
    NAME__backup_TIME (the last 5 are kept); the state a restore replaces is kept as
    NAME__replaced_TIME. Only the project's owner may restore it."""
    from .core import backup as backupmod

    if is_pg_url(project) and not unsaved:
        return _restore_team(project, list_only, backup)
    path = _find_project(project)
    if unsaved:
        with _open_writable(str(path)) as p:
            n = p.apply_unsaved(unsaved)
        done = Path(unsaved).with_name(Path(unsaved).name + ".applied")
        Path(unsaved).replace(done)
        click.echo(f"Wrote {n} kept decision{'' if n == 1 else 's'} from {unsaved} into {path} (the file is now {done})")
        return
    if list_only:
        found = backupmod.list_backups(path)
        if not found:
            click.echo(f"no backups of {path} yet (made in {backupmod.backup_dir(path)} when labeler closes it)")
        for b in found:
            click.echo(f"{b.path.name}  {b.when}  {b.size / 1e6:.1f} MB")
        return
    try:
        done = backupmod.restore(path, backup)
    except ProjectError as e:
        _fail(str(e))
    click.echo(f"Restored {done.project} from {done.backup}")
    for m in done.moved_aside:
        click.echo(f"  the file that was there is kept as {m}")


def _restore_team(url: str, list_only: bool, backup: str | None) -> None:
    from .core import pg_backup

    try:
        if list_only:
            found = pg_backup.list_backups(url)
            if not found:
                click.echo(f"no backups of {pg_backup.pg_server.redact(url)} yet (made on the server before a push changes it)")
            for b in found:
                click.echo(f"{b.name}  {b.when}  {b.size / 1e6:.1f} MB  pushed by {b.by}")
            return
        done = pg_backup.restore(url, backup)
    except ProjectError as e:
        _fail(str(e))
    click.echo(f"Restored {done.where} from {done.backup}")
    click.echo(f"  the project that was there is kept on the server as {done.replaced}")


# ---------------------------------------------------------------------------------------------
# taxonomy


@main.group("taxonomy")
def taxonomy_group() -> None:
    """The error types of a project (keys 1-9 in review, in order): list, rename, replace."""


@taxonomy_group.command("list")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def taxonomy_list(project, as_json):
    """The error types in order, each with its key and the number of decisions that use it.

    Error types that decisions still carry but the taxonomy no longer lists (dropped with --force,
    or removed in the window) come last, without a key: the tally counts those decisions as
    untagged.

    JSON: [{name, key, decisions, in_taxonomy}]."""
    with _open_readonly(project) as p:
        names = p.error_types()
        usage = p.error_type_usage()
    items = [{"name": n, "key": i + 1 if i < 9 else None, "decisions": usage.get(n, 0), "in_taxonomy": True}
             for i, n in enumerate(names)]
    items += [{"name": n, "key": None, "decisions": usage[n], "in_taxonomy": False}
              for n in sorted(set(usage) - set(names))]
    if as_json:
        click.echo(json.dumps(items))
        return
    if not names:
        click.echo("no error types yet: `labeler taxonomy set FILE` (one a line)")
    w = max([len(it["name"]) for it in items] + [len("error type")])
    if items:
        click.echo(f"{'key':>3}  {'error type':<{w}}  decisions")
    for it in items:
        key = "" if it["key"] is None else str(it["key"])
        note = "" if it["in_taxonomy"] else "  (not in the taxonomy: counted as untagged)"
        click.echo(f"{key:>3}  {it['name']:<{w}}  {it['decisions']:>9}{note}")


@taxonomy_group.command("rename")
@click.argument("old")
@click.argument("new")
@project_option
def taxonomy_rename(old, new, project):
    """Rename error type OLD to NEW, in the taxonomy and on every decision that uses it.

    NEW keeps OLD's place (and key). Refused when OLD is not an error type or NEW is one already."""
    with _open_writable(project) as p:
        n = p.error_type_usage().get(old, 0)
        try:
            p.rename_error_type(old, new)
        except ProjectError as e:
            _fail(str(e))
    click.echo(f"Renamed {old!r} to {new.strip()!r}; {n} decision{'' if n == 1 else 's'} changed with it")


@taxonomy_group.command("set")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Drop error types that decisions use (they then count as untagged).")
@project_option
def taxonomy_set(file, force, project):
    """Replace the error types with those of FILE: one a line, in order (the first nine get keys 1-9).

    Refused, nothing changed, when FILE leaves out error types that decisions use: their decisions
    would count as untagged. Rename them first (`labeler taxonomy rename OLD NEW`), or pass --force
    to drop them; the decisions keep the dropped names."""
    names = _read_taxonomy(file)
    with _open_writable(project) as p:
        try:
            p.check_error_types(names)
            dropped = None
        except ErrorTypesInUse as e:
            if not force:
                _fail(f"{file}: {e}; {TAXONOMY_REFUSAL_HINT}")
            dropped = e
        p.set_error_types(names, force=force)
    click.echo(f"{len(names)} error type{'' if len(names) == 1 else 's'} set from {file}")
    if dropped is not None:
        which = ", ".join(f"{name} ({n})" for name, n in dropped.dropped.items())
        n = dropped.decisions
        click.echo(f"Warning: dropped with --force: {which}, on {n} decision{'' if n == 1 else 's'} in all;"
                   " the decisions keep these names, and the tally counts them as untagged", err=True)


# the commands defined beside this module: the data behind the errors, and the team store
from .cli_data import agreement, annotations_group, augment, duplicates, scan, slices  # noqa: E402
from .cli_team import pull, push, team_group  # noqa: E402

for _command in (annotations_group, agreement, scan, slices, duplicates, augment, push, pull, team_group):
    main.add_command(_command)
