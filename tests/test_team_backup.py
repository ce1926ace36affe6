"""The server's own backups of a team project (labeler.core.pg_backup): made before each push that
changes the project, the last 5 kept, listed and put back by `labeler restore --project URL`, on a
real PostgreSQL server (tests/pg.py)."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from conftest import snapshot
from labeler.cli import main
from labeler.core import pg_backup, store_pg
from labeler.core.queue import QueueSpec
from labeler.core.store import Decision, Project


def run(*args, ok: bool = True):
    r = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert r.exit_code == 0, r.output + repr(r.exception)
    return r


def dev_errors(path, n: int) -> list[str]:
    with Project.open(path, readonly=True) as p:
        t = p.examples_table()
        rows = zip(t.column("id").to_pylist(), t.column("split").to_pylist(), t.column("wrong").to_pylist())
        return [i for i, s, w in rows if s == "dev" and w][:n]


def review(path, ids, *, reviewer: str, label=None, error_types=("blurry",)) -> None:
    with Project.open(path) as p:
        sid = p.start_session(reviewer, QueueSpec().to_json())
        for eid in ids:
            after = Decision(label=label, error_types=frozenset(error_types), reviewed=True)
            p.write_decision(eid, p.decision(eid), after, "decide", reviewer=reviewer, session_id=sid)
        p.end_session(sid, len(ids))


def server_tables(db_url: str, schema: str) -> dict[str, list[tuple]]:
    with psycopg.connect(db_url) as pg:
        names = [r[0] for r in pg.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (schema,))]
        return {t: sorted(pg.execute(f'SELECT * FROM "{schema}"."{t}"').fetchall(), key=repr) for t in names}


def schemas(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as pg:
        return [r[0] for r in pg.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
            " ORDER BY 1")]


@pytest.fixture
def team(digits_project, pg_db, tmp_path):
    """The sample project on the server with five decisions of ana; a pulled copy to change."""
    review(digits_project, dev_errors(digits_project, 5), reviewer="ana")
    url = f"{pg_db}?project=digits"
    run("push", digits_project, url)
    return url


def test_a_push_that_changes_the_project_leaves_a_backup_and_restore_brings_the_decisions_back(team, pg_db, tmp_path):
    before = server_tables(pg_db, "digits")
    assert run("restore", "--project", team, "--list").output.startswith("no backups of ")
    copy = tmp_path / "copy.labeler.db"
    store_pg.pull(team, copy)
    ids = dev_errors(copy, 12)
    review(copy, ids[:8], reviewer="ben", label="3", error_types=())  # overrides ana's five, adds three
    pushed = run("push", copy, team).output
    assert "kept on the server as digits__backup_" in pushed, pushed
    after = server_tables(pg_db, "digits")
    assert after["decisions"] != before["decisions"]

    listed = run("restore", "--project", team, "--list").output.splitlines()
    assert len(listed) == 1 and listed[0].startswith("digits__backup_") and "UTC" in listed[0], listed
    name = listed[0].split()[0]
    said = run("restore", "--project", team).output
    assert f"Restored {team} from {name}" in said and "digits__replaced_" in said, said
    assert server_tables(pg_db, "digits") == before  # every table, the event log too
    # the state the restore replaced is kept aside, and can itself be put back
    replaced = said.split("kept on the server as ")[1].strip()
    assert replaced in schemas(pg_db)
    run("restore", "--project", team, replaced)
    assert server_tables(pg_db, "digits") == after
    # a pulled copy of the restored project reads as the project did
    again = tmp_path / "again.labeler.db"
    run("restore", "--project", team, name)
    store_pg.pull(team, again)
    with Project.open(again, readonly=True) as p:
        assert {i for i in ids if p.decision(i).label == "3"} == set()
        assert sum(p.decision(i).reviewed for i in ids[:5]) == 5


def test_a_command_run_on_the_server_leaves_a_backup_and_a_reading_one_or_an_unchanged_push_none(team, digits_project):
    run("summary", "--project", team)
    run("push", digits_project, team)  # nothing new
    assert pg_backup.list_backups(team) == []
    run("taxonomy", "rename", "noisy scan", "noisy", "--project", team)
    [b] = pg_backup.list_backups(team)
    run("restore", "--project", team, b.name)
    assert "noisy scan" in run("taxonomy", "list", "--project", team).output


def test_the_last_five_backups_are_kept_newest_first(team, digits_project):
    ids = dev_errors(digits_project, 20)
    made = []
    for k in range(7):
        review(digits_project, ids[k:k + 1], reviewer=f"r{k}")
        made.append(store_pg.push(digits_project, team).backup)
    assert all(made) and len(set(made)) == 7
    listed = [b.name for b in pg_backup.list_backups(team)]
    assert listed == made[::-1][:pg_backup.KEEP]


def test_restoring_a_name_that_is_not_a_backup_is_refused_naming_it_and_nothing_changes(team, digits_project, pg_db):
    review(digits_project, dev_errors(digits_project, 8)[5:], reviewer="ben")
    store_pg.push(digits_project, team)
    before, names = server_tables(pg_db, "digits"), schemas(pg_db)
    for which in ("digits__backup_20200101T000000000000Z", "digits", "public", "nope; DROP SCHEMA digits"):
        r = run("restore", "--project", team, which, ok=False)
        assert r.exit_code == 2 and f"no backup {which} of " in r.output and "Traceback" not in r.output, r.output
    assert server_tables(pg_db, "digits") == before and schemas(pg_db) == names
    # another project's backup is not this project's
    other = team.replace("project=digits", "project=other")
    store_pg.push(digits_project, other)
    r = run("restore", "--project", other, pg_backup.list_backups(team)[0].name, ok=False)
    assert r.exit_code == 2 and "no backup digits__backup_" in r.output
    r = run("restore", "--project", team.replace("project=digits", "project=absent"), "--list", ok=False)
    assert r.exit_code == 2 and "no project 'absent'" in r.output


def test_a_reviewer_leaves_backups_behind_their_pushes_but_cannot_restore(team, pg_db, tmp_path):
    run("team", "grant-reviewer", team, "rev_dana")
    as_reviewer = team.replace("postgresql://postgres@", "postgresql://rev_dana@")
    mine = tmp_path / "dana.labeler.db"
    store_pg.pull(as_reviewer, mine)
    review(mine, dev_errors(mine, 10)[5:], reviewer="rev_dana")
    result = store_pg.push(mine, as_reviewer)  # the reviewer may not create schemas; the function may
    assert result.backup and result.added["decisions"] == 5
    [b] = pg_backup.list_backups(team)
    assert b.by == "rev_dana" and b.name == result.backup
    before, names = server_tables(pg_db, "digits"), schemas(pg_db)
    r = run("restore", "--project", as_reviewer, ok=False)
    assert r.exit_code == 2 and "rev_dana may not restore" in r.output and "owner (postgres)" in r.output, r.output
    # nor by calling the function itself: it keeps the replaced state for owners only, and a
    # reviewer cannot read a backup
    with psycopg.connect(as_reviewer.split("?")[0], autocommit=True) as pg:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            pg.execute("SELECT digits.labeler_backup('replaced')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            pg.execute(f'SELECT * FROM "{b.name}".decisions')
    assert server_tables(pg_db, "digits") == before and schemas(pg_db) == names


def test_pull_never_copies_a_backup(team, digits_project, pg_db, tmp_path):
    review(digits_project, dev_errors(digits_project, 9)[5:], reviewer="ben")
    store_pg.push(digits_project, team)
    assert any(n.startswith("digits__backup_") for n in schemas(pg_db))
    pulled = tmp_path / "pulled.labeler.db"
    store_pg.pull(team, pulled)
    mine, theirs = snapshot(pulled), snapshot(digits_project)
    assert set(mine) == set(theirs)  # no table of a backup (labeler_examples, ...)
    for t in mine:
        if t not in ("_sqlite_migrations", "sqlite_sequence", "events"):
            assert mine[t] == theirs[t], t
    assert len(mine["events"]) == len(theirs["events"])


def test_the_readmes_pg_dump_of_the_schema_restores_into_another_database(team, pg_server, pg_db, tmp_path):
    """Disaster recovery as the README says: pg_dump --schema=NAME (the password, were there one, in
    PGPASSWORD, never in argv), pg_restore into an empty database; the project pulls from there."""
    import os
    import subprocess

    from conftest import ROOT

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pg_dump --schema=digits --format=custom" in text and "PGPASSWORD" in text
    copy = tmp_path / "copy.labeler.db"
    store_pg.pull(team, copy)
    review(copy, dev_errors(copy, 7)[5:], reviewer="ben")
    store_pg.push(copy, team)  # leaves a backup schema, which the dump leaves out
    dump = tmp_path / "digits.dump"
    env = {**os.environ, "PGPASSWORD": "not-in-argv"}
    subprocess.run([str(pg_server.bin_dir / "pg_dump"), "--schema=digits", "--format=custom", "-f", str(dump), pg_db],
                   check=True, env=env, capture_output=True)
    with psycopg.connect(pg_server.url(), autocommit=True) as pg:
        pg.execute("DROP DATABASE IF EXISTS recovered")
        pg.execute("CREATE DATABASE recovered")
    try:
        subprocess.run([str(pg_server.bin_dir / "pg_restore"), "-d", pg_server.url("recovered"), str(dump)],
                       check=True, env=env, capture_output=True)
        assert "digits" in schemas(pg_server.url("recovered"))
        assert not [s for s in schemas(pg_server.url("recovered")) if "__backup_" in s]
        assert server_tables(pg_server.url("recovered"), "digits") == server_tables(pg_db, "digits")
        store_pg.pull(f"{pg_server.url('recovered')}?project=digits", tmp_path / "recovered.labeler.db")
    finally:
        with psycopg.connect(pg_server.url(), autocommit=True) as pg:
            pg.execute("DROP DATABASE IF EXISTS recovered WITH (FORCE)")


def test_a_project_pushed_before_backups_gets_its_function_from_its_owner_and_a_reviewer_is_told(team, pg_db, tmp_path):
    with psycopg.connect(pg_db, autocommit=True) as pg:
        pg.execute("DROP FUNCTION digits.labeler_backup(text)")  # as a project pushed by an older labeler
    run("team", "grant-reviewer", team, "rev_eve")
    as_reviewer = team.replace("postgresql://postgres@", "postgresql://rev_eve@")
    mine = tmp_path / "eve.labeler.db"
    store_pg.pull(as_reviewer, mine)
    review(mine, dev_errors(mine, 7)[5:], reviewer="rev_eve")
    result = store_pg.push(mine, as_reviewer)
    assert result.backup is None and result.added["decisions"] == 2
    assert "no backup kept on the server (the project has no backup function yet: push once as its owner)" in result.describe()
    review(mine, dev_errors(mine, 9)[7:], reviewer="rev_eve")
    assert store_pg.push(mine, team).backup  # the owner's push makes the function, and a backup
