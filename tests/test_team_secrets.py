"""No password in any output: every command run on a team project whose URL carries a password
(the test server trusts 127.0.0.1, so the password is accepted and ignored), when it works and when
it fails (an unknown project, a server that is down, a database that does not exist), in-process
through click's CliRunner and as a real ``labeler`` process. The password must be nowhere: not on
stdout or stderr, not in a traceback, not in any file labeler writes (working copies, pulled
projects, exports, augmented images), not in the server's log."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import DIGITS, DIGITS_CSV
from labeler.cli import main

# an escaped '@' and a '%': what a password in a URL looks like
SECRET = "Pw0rd-9x7Q"
IN_URL = SECRET + "%40x"
LABELER = Path(sys.executable).with_name("labeler")


def with_password(db_url: str, project: str, *, form: str = "userinfo") -> str:
    """``db_url`` (postgresql://postgres@host:port/db) with the password in it."""
    if form == "userinfo":
        return db_url.replace("postgresql://postgres@", f"postgresql://postgres:{IN_URL}@") + f"?project={project}"
    return f"{db_url}?project={project}&password={IN_URL}"


def broken(url: str, pg_server, how: str) -> str:
    """``url`` made to fail: an unknown project, a port with nothing listening, no such database."""
    if how == "unknown project":
        return url.replace("project=digits", "project=nope")
    if how == "server down":
        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]  # free once closed: nothing listens there
        return url.replace(f":{pg_server.port}/", f":{dead}/")
    assert how == "no such database"
    db = url.split("?")[0].rsplit("/", 1)[1]
    return url.replace(f"/{db}?", "/no_such_db?")


FAILURES = ("unknown project", "server down", "no such database")
MAKES_A_PROJECT = ("import", "push")  # on a project the server does not hold: they make it


def commands(url: str, work: Path, tag: str) -> list[list[str]]:
    """Every command of labeler on the project of ``url``, in an order in which each can work."""
    local, out = work / f"local_{tag}.labeler.db", work / f"out_{tag}"
    return [
        ["import", str(work / "predictions.csv"), "--project", url, "--taxonomy", str(DIGITS / "taxonomy.txt")],
        ["summary", "--project", url],
        ["queue", "--project", url, "--limit", "5"],
        ["tally", "--project", url],
        ["confusion", "--project", url],
        ["rank", "--project", url, "--split", "train", "--limit", "3"],
        ["slices", "--project", url],
        ["duplicates", "--project", url],
        ["taxonomy", "list", "--project", url],
        ["taxonomy", "rename", "noisy scan", f"noisy {tag}", "--project", url],
        ["taxonomy", "set", str(work / "taxonomy.txt"), "--project", url, "--force"],
        ["annotations", "import", str(work / "blind.csv"), "--reviewer", "ana", "--project", url],
        ["agreement", "--project", url],
        ["export", "--project", url, "--out", str(out / "export")],
        ["augment", "--project", url, "--category", "3", "--ops", "blur", "--out", str(out / "augment")],
        ["restore", "--project", url, "--list"],
        ["restore", "--project", url],
        ["pull", url, str(local)],
        ["push", str(local), url],
        ["team", "grant-reviewer", url, f"rev_{tag}"],
        ["restore", "--project", url, "no_such_backup"],  # refused even when all is well
    ]


@pytest.fixture
def work(tmp_path) -> Path:
    """The files the commands read, and a private temporary folder for the working copies."""
    shutil.copyfile(DIGITS_CSV, tmp_path / "predictions.csv")
    (tmp_path / "images").symlink_to(DIGITS / "images")
    (tmp_path / "taxonomy.txt").write_text("blurry\nnoisy\n", encoding="utf-8")
    (tmp_path / "blind.csv").write_text("id,label\nd0000,0\nd0001,7\n", encoding="utf-8")
    (tmp_path / "tmp").mkdir()
    return tmp_path


def check_everything_written(folder: Path, pg_server) -> int:
    """No file under ``folder`` (exports, pulled and working copies, home) nor the server's log
    holds the password; no working copy is left behind. Returns how many files were read."""
    n = 0
    for path in [*folder.rglob("*"), pg_server.log]:
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            assert SECRET.encode() not in data, path
            n += 1
    assert not list((folder / "tmp").glob("labeler-team-*")), "a working copy was left behind"
    return n


def test_no_password_in_anything_the_commands_say_or_write_in_process(pg_db, pg_server, work, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(work / "tmp"))
    said: list[str] = []
    failed_cleanly = 0

    def invoke(args: list[str]):
        r = CliRunner().invoke(main, args)
        said.extend([r.stdout, r.stderr, repr(r.exception)])
        if r.exc_info is not None and not isinstance(r.exception, SystemExit):
            said.append("".join(traceback.format_exception(*r.exc_info)))
        return r

    for form in ("userinfo", "parameter"):
        url = with_password(pg_db, "digits", form=form)
        for args in commands(url, work, form):
            r = invoke(args)
            if args[-1] == "no_such_backup":
                assert r.exit_code == 2 and "no backup no_such_backup" in r.stderr, r.output
            else:
                assert r.exit_code == 0, (args, r.output, r.exception)
        for how in FAILURES:
            bad = broken(url, pg_server, how)
            for args in commands(bad, work, f"{form}_{how.replace(' ', '_')}"):
                if args[0] in MAKES_A_PROJECT and how == "unknown project":
                    continue
                if args[0] == "push":  # a local project that exists, to a server that fails
                    args[1] = str(work / f"local_{form}.labeler.db")
                r = invoke(args)
                assert r.exit_code == 2 and "Traceback" not in r.output, (args, r.output, r.exception)
                assert r.stderr.startswith("Error: ") and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
                failed_cleanly += 1
    assert failed_cleanly == 2 * (len(FAILURES) * len(commands("u", work, "t")) - len(MAKES_A_PROJECT))
    text = "\n".join(said)
    for expected in ("postgres:***@", "password=***", "cannot connect to", "no project 'nope'", "no_such_db"):
        assert expected in text, expected  # the messages are there, only the password is not
    assert SECRET not in text
    assert check_everything_written(work, pg_server) > 10


def test_no_password_in_anything_a_labeler_process_says_or_writes(pg_db, pg_server, work):
    home = work / "home"
    home.mkdir()
    env = {**os.environ, "TMPDIR": str(work / "tmp"), "HOME": str(home), "XDG_STATE_HOME": str(home / "state"),
           "XDG_CACHE_HOME": str(home / "cache"), "XDG_CONFIG_HOME": str(home / "config"), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PGPASSWORD", None)
    said: list[str] = []

    def run(args: list[str]) -> subprocess.CompletedProcess:
        r = subprocess.run([str(LABELER), *args], capture_output=True, text=True, env=env, cwd=work, timeout=300)
        said.extend([r.stdout, r.stderr])
        return r

    url = with_password(pg_db, "digits")
    for args in commands(url, work, "proc"):
        r = run(args)
        assert r.returncode == (2 if args[-1] == "no_such_backup" else 0), (args, r.stdout, r.stderr)
    # each command fails once, the three ways in turn
    for i, args in enumerate(commands(url, work, "proc_failing")):
        how = FAILURES[i % len(FAILURES)]
        bad = broken(url, pg_server, "server down" if args[0] in MAKES_A_PROJECT and how == "unknown project" else how)
        args = [bad if a == url else a for a in args]
        if args[0] == "push":
            args[1] = str(work / "local_proc.labeler.db")
        r = run(args)
        assert r.returncode == 2 and r.stderr.startswith("Error: ") and "Traceback" not in r.stderr, (args, r.stderr)
    text = "\n".join(said)
    assert "postgres:***@" in text and "cannot connect to" in text
    assert SECRET not in text
    assert check_everything_written(work, pg_server) > 10


@pytest.mark.parametrize("c", ["#", "?", "/", " ", "@", "%zz", ":", "'", '"', "\\", "&password=", "%40"])
def test_a_password_holding_what_a_url_cannot_hold_is_not_shown_either(pg_db, pg_server, c, tmp_path, monkeypatch):
    """A password typed into a URL unescaped: the command works or is refused, and says no part of it."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    password = f"{SECRET}{c}{SECRET}"
    url = pg_db.replace("postgresql://postgres@", f"postgresql://postgres:{password}@")
    down = broken(url + "?project=digits", pg_server, "server down")
    for args in (["summary", "--project", f"{url}?project=digits"], ["summary", "--project", down],
                 ["pull", f"{url}?project=nope", str(tmp_path / "p.labeler.db")], ["restore", "--project", down, "--list"]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2 and r.stderr.startswith("Error: ") and "***" in r.stderr, (args, r.output, r.exception)
        assert SECRET not in r.output, r.output
