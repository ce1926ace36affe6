"""Commands about the data behind the errors: other annotators' labels and reviewer agreement, the
image-quality scan, slices, duplicates and augmentation. Registered on the main group by
:mod:`labeler.cli`."""

from __future__ import annotations

import json

import click

from .core.urls import is_pg_url
from .cli_common import _fail, _open_readonly, _open_writable, _parse_columns, _progress_printer, project_option


@click.group("annotations")
def annotations_group() -> None:
    """Other annotators' labels of the project's examples (blind labels), for agreement and
    human-level error."""


@annotations_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--reviewer", required=True, help="Whose labels these are.")
@click.option("--column", "-c", "columns", multiple=True, metavar="ROLE=NAME",
              help="Column NAME holds ROLE (id, path, text or label); otherwise found by name as at import.")
@project_option
def annotations_import(file, reviewer, columns, project):
    """Read another annotator's labels (CSV/TSV/JSONL/Parquet: an id column, or the examples' path or
    text, and a label column) as REVIEWER's blind labels, kept apart from corrections of the given
    labels. Rows naming unknown examples or classes are refused, with counts and examples, and then
    nothing is written."""
    from .core import annotations
    from .core.importer import ImportProblem

    with _open_writable(project) as p:
        try:
            result = annotations.import_file(p, file, reviewer, columns=_parse_columns(columns))
        except ImportProblem as e:
            _fail(str(e))
    for line in result.lines():
        click.echo(line)


@click.command()
@project_option
@click.option("--split", default="dev", show_default=True, type=click.Choice(["train", "dev", "test"]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--disagreements", is_flag=True, help="List the examples where reviewers disagree (with each"
              " other or with the reference label), to settle them in review.")
def agreement(project, split, as_json, disagreements):
    """How well reviewers agree: each reviewer's error against the reference label (the given label,
    or the corrected one) with a 95% interval, Cohen's kappa per pair, Krippendorff's alpha, the
    cleanlab consensus and annotator quality, and the human-level error the dashboard decides with.

    JSON: {split, reviewers: [{name, labeled, error_vs_reference, ci95, quality}], pairs: [{a, b,
    common, agreement, kappa}], alpha, consensus: {labeled, differs_from_reference, ...}, per_class,
    human}. A team project (--project URL) whose review gave items to several reviewers (--overlap)
    adds team_overlap: {items, reviewers, pairs, alpha} of their verdicts (not blind)."""
    from .core import agreement as agreementmod

    with _open_readonly(project) as p:
        if disagreements:
            ids = agreementmod.disagreements(p, split)
            click.echo(json.dumps(ids) if as_json else "\n".join(ids) if ids else "no disagreements")
            return
        result = agreementmod.compute(p, split)
        team = None
        if project is not None and is_pg_url(project):  # a team project: its overlapped reviews too
            from .core import frame as framemod, team_agreement

            team = team_agreement.compute(team_agreement.verdicts(project, framemod.load(p), split))
    if as_json:
        data = result.to_json()
        if data.get("consensus"):
            data["consensus"].pop("labels", None)
        if team is not None:
            data["team_overlap"] = team.to_json()
        click.echo(json.dumps(data, indent=2))
        return
    for line in result.lines() + ([""] + team.lines() if team is not None else []):
        click.echo(line)


# -- where errors come from in the data (labeler.core.quality) ------------------------------------

@click.command()
@project_option
@click.option("--split", default="all", show_default=True, type=click.Choice(["all", "train", "dev", "test"]),
              help="Scan the images of this split only.")
@click.option("--workers", type=click.IntRange(min=1), help="Threads (default: one per core).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def scan(project, split, workers, as_json):
    """Measure every image with OpenCV (sharpness, brightness, contrast, dark and bright fractions,
    entropy, size, aspect, grayscale, a perceptual and an exact hash) and store the results with the
    project; flag blurry, dark, bright, low_information, odd_size, odd_aspect and grayscale images
    with thresholds that adapt to the dataset (shown with the counts).

    Only new or changed files are measured again; a cancelled scan (Ctrl-C) keeps what it measured
    and the next one resumes. JSON: {measured, failed: {reason: n}, flagged: {flag: n}, thresholds,
    rules, scanned_now, unchanged, seconds}."""
    from .core.quality import scan as scanmod

    with _open_writable(project) as p:
        show = _progress_printer()
        try:
            result = scanmod.scan(p, split=None if split == "all" else split, workers=workers,
                                  progress=(lambda done, total: show("scan", done / total if total else 1.0))
                                  if show else None)
        except (scanmod.ScanCancelled, KeyboardInterrupt):
            _fail("scan cancelled; the images measured so far are kept and the next scan resumes")
        s = scanmod.summary(p)
    if as_json:
        click.echo(json.dumps({**s.to_json(), "scanned_now": result.scanned, "unchanged": result.unchanged,
                               "seconds": round(result.seconds, 3)}, indent=2))
        return
    click.echo(f"{result.scanned} images measured now, {result.unchanged} unchanged since the last scan"
               f" ({result.seconds:.1f} s)")
    for line in s.lines():
        click.echo(line)


@click.command()
@project_option
@click.option("--split", default="dev", show_default=True, type=click.Choice(["train", "dev", "test"]))
@click.option("--limit", type=click.IntRange(min=0), help="At most N slices (the most significant).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def slices(project, split, limit, as_json):
    """Where the errors of a split concentrate: the error rate of every slice (each scan flag, the
    quartiles of each scanned property, each class, each metadata column with at most 50 values)
    with its Wilson 95% interval, its lift over the split's rate, Fisher's exact test against the
    rest of the split and Benjamini-Hochberg q-values over all the slices; most significant first.
    Flags and properties need `labeler scan` first.

    JSON: [{slice, kind, n, errors, error_rate, ci95, lift, p_value, q_value}], sorted by q then lift."""
    from .core.quality import slices as slicesmod

    with _open_readonly(project) as p:
        report = slicesmod.compute(p, split)
    if as_json:
        click.echo(json.dumps(report.to_json()[:limit] if limit is not None else report.to_json(), indent=1))
        return
    for line in report.lines(limit):
        click.echo(line)


@click.command()
@project_option
@click.option("--max-distance", type=click.IntRange(0, 31), default=8, show_default=True,
              help="Near duplicates: perceptual hashes at most this many bits apart (of 64).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def duplicates(project, max_distance, as_json):
    """Groups of exact duplicates (identical pixels) and near duplicates (perceptual hashes within
    --max-distance bits) among the scanned images, found without comparing all pairs; a group leaks
    when it spans train and dev or test, and conflicts when its given labels differ. Needs
    `labeler scan` first.

    JSON: [{kind: exact|near, members: [{id, split, label}], leak, conflict, distance}], leaking and
    conflicting groups first."""
    from .core.quality import duplicates as dupmod

    with _open_readonly(project) as p:
        report = dupmod.find(p, max_distance=max_distance)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=1))
        return
    for line in report.lines():
        click.echo(line)


@click.command()
@project_option
@click.option("--slice", "slice_name", metavar="NAME", help="The training examples in this slice (see `labeler slices --split train`).")
@click.option("--category", metavar="NAME", help="The training examples of this class (or tagged with this error type).")
@click.option("--ops", required=True, help="Comma-separated: " + "blur, motion_blur, fog, noise, low_light, jpeg, rotate.")
@click.option("--per-image", type=click.IntRange(min=1), default=1, show_default=True, help="Copies per image and op.")
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed writes the same files.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="The folder to write into.")
def augment(project, slice_name, category, ops, per_image, seed, out_dir):
    """Write augmented copies (OpenCV: Gaussian or motion blur, fog, noise, low light, JPEG
    artefacts, a small rotation) of the training examples in a slice or a category into OUT/images,
    and OUT/augmented.csv (path, label, source_id, op, params) to append to the training set.
    Deterministic for a seed."""
    from .core.quality import augment as augmod

    try:
        names = augmod.parse_ops(ops)
        with _open_readonly(project) as p:
            result = augmod.augment(p, out_dir, ops=names, slice_name=slice_name, category=category,
                                    per_image=per_image, seed=seed)
    except augmod.AugmentProblem as e:
        _fail(str(e))
    for line in result.lines():
        click.echo(line)


# -- the team store (PostgreSQL) ---------------------------------------------------------------
# A server project is named by postgresql://[user@]host[:port]/dbname?project=NAME; a password goes
# in ~/.pgpass or PGPASSWORD, and none is ever printed.
