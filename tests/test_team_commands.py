"""Every command on a team project (`--project postgresql://...?project=NAME`) gives what it gives on
the same project in a local file: the command runs on a working copy pulled from the server and
pushes back what it changed (labeler.core.workcopy). A real PostgreSQL server (tests/pg.py)."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from conftest import DIGITS, DIGITS_CSV
from labeler.cli import main


def run(*args) -> str:
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, (args, r.output)
    return r.output


def test_every_command_on_both_stores_gives_the_same_output(pg_db, tmp_path):
    url = f"{pg_db}?project=digits"
    local = tmp_path / "local.labeler.db"
    src = tmp_path / "predictions.csv"
    shutil.copyfile(DIGITS_CSV, src)
    (tmp_path / "images").symlink_to(DIGITS / "images")
    taxonomy = DIGITS / "taxonomy.txt"
    for project in (local, url):  # the same steps on each store
        run("import", src, "--project", project, "--taxonomy", taxonomy)
        run("rank", "--project", project, "--split", "train", "--limit", "3")
        run("taxonomy", "rename", "noisy scan", "noisy", "--project", project)
    readers = [
        ("summary", "--json"), ("tally", "--format", "json"), ("confusion", "--json"),
        ("queue", "--json"), ("queue", "--split", "train", "--order", "quality", "--json", "--limit", "20"),
        ("taxonomy", "list", "--json"), ("agreement", "--json"),
    ]
    for args in readers:
        a = run(*args, "--project", local)
        b = run(*args, "--project", url)
        if args[0] == "summary":  # the files a project holds are named by their paths: the same here
            a, b = json.loads(a), json.loads(b)
        assert a == b, args
    # an export from the server's project writes the same corrected files
    run("export", "--project", local, "--out", tmp_path / "out_local")
    run("export", "--project", url, "--out", tmp_path / "out_team")
    for name in ("corrections.csv", "tally.csv", "predictions.corrected.csv"):
        assert (tmp_path / "out_local" / name).read_bytes() == (tmp_path / "out_team" / name).read_bytes(), name


def test_a_reading_command_pushes_nothing_and_an_unknown_project_is_named(pg_db, tmp_path, digits_project):
    url = f"{pg_db}?project=p1"
    run("push", digits_project, url)
    r = CliRunner().invoke(main, ["summary", "--project", url])
    assert r.exit_code == 0 and "Pushed" not in r.output
    r = CliRunner().invoke(main, ["summary", "--project", f"{pg_db}?project=nope"])
    assert r.exit_code == 2 and "no project 'nope'" in r.output and "Traceback" not in r.output
