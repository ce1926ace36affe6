"""What the commands of the labeler command line share: how they fail (a message and exit code 2),
find and open the project (a file, or a team project on a server through a working copy), and parse
the options several of them take."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .core.store import Project, ProjectError, clean_error_types
from .core.urls import is_pg_url

PROJECT_SUFFIX = ".labeler.db"


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _find_project(project: str | None) -> Path:
    if project and is_pg_url(project):
        return _team_copy(project)
    if project:
        return Path(project)
    found = sorted(Path.cwd().glob(f"*{PROJECT_SUFFIX}"))
    if len(found) == 1:
        return found[0]
    if not found:
        _fail(f"no project here: pass --project PATH (a *{PROJECT_SUFFIX} file made by `labeler import`)")
    _fail("several projects here: choose one with --project PATH (" + ", ".join(p.name for p in found) + ")")


def _team_copy(url: str, *, create: bool = False) -> Path:
    """--project postgresql://...: the command works on a copy pulled from the server, pushed back when
    it ends if it changed it (see labeler.core.workcopy)."""
    from .core.workcopy import working_copy

    def pushed(result) -> None:
        click.echo(f"Pushed: {result.describe()}", err=True)

    try:
        return click.get_current_context().with_resource(working_copy(url, create=create, pushed=pushed))
    except ProjectError as e:
        _fail(str(e))


def _open_readonly(project: str | None) -> Project:
    path = _find_project(project)
    try:
        return _warn(Project.open(path, readonly=True))
    except ProjectError as e:
        _fail(str(e))


def _open_writable(project: str | None) -> Project:
    """The project open for writing; refused with a message when another labeler writes to it."""
    path = _find_project(project)
    try:
        return _warn(Project.open(path))
    except ProjectError as e:
        _fail(str(e))


def _read_taxonomy(path: str) -> list[str]:
    """The error types of a taxonomy file: one a line, in order, blank lines skipped."""
    try:
        return clean_error_types(Path(path).read_text(encoding="utf-8-sig").splitlines())
    except UnicodeDecodeError as e:
        line = Path(path).read_bytes()[: e.start].count(b"\n") + 1
        _fail(f"{path}: line {line} is not UTF-8 text (byte 0x{e.object[e.start]:02x}); save it as UTF-8")
    except OSError as e:
        _fail(f"{path}: {e.strerror}")
    except ProjectError as e:
        _fail(f"{path}: {e}")


# How a taxonomy that drops error types in use is refused (see Project.check_error_types).
TAXONOMY_REFUSAL_HINT = "rename them with `labeler taxonomy rename OLD NEW`, or pass --force to drop them"


def _warn(p: Project) -> Project:
    """Say where the project is when that is risky (a network or removable drive)."""
    for w in p.warnings:
        click.echo(f"Warning: {w}", err=True)
    if p.unsaved_note:
        click.echo(f"Note: {p.unsaved_note}", err=True)
    return p


def _parse_columns(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        role, sep, name = v.partition("=")
        if not sep or not role or not name:
            _fail(f"--column {v!r}: expected ROLE=NAME, e.g. --column label=ground_truth")
        out[role.strip()] = name
    return out


def _parse_classes(classes: str | None, classes_file: str | None) -> list[str] | None:
    if classes and classes_file:
        _fail("give --classes or --classes-file, not both")
    if classes:
        return [c.strip() for c in classes.split(",")]
    if classes_file:
        try:
            lines = Path(classes_file).read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError as e:
            line = Path(classes_file).read_bytes()[: e.start].count(b"\n") + 1
            _fail(f"{classes_file}: line {line} is not UTF-8 text (byte 0x{e.object[e.start]:02x}); save it as UTF-8")
        except OSError as e:
            _fail(f"{classes_file}: {e.strerror}")
        return [ln.strip() for ln in lines if ln.strip()]
    return None


project_option = click.option("--project", "-p", type=click.Path(dir_okay=False), help="The project file (*.labeler.db).")


def _progress_printer():
    if not sys.stderr.isatty():
        return None
    def show(stage: str, frac: float) -> None:
        bar = "#" * int(30 * frac)
        click.echo(f"\r{stage:<10} [{bar:<30}] {100 * frac:5.1f}%", err=True, nl=(frac >= 1.0))
    return show
