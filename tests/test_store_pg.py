"""The team store on a real PostgreSQL server (tests/pg.py starts one; see conftest's pg_server):
URLs and their redaction, push and pull with the same command outputs on both copies, reviews of
two pulled copies merged on push-back, and the reviewer role's limits held by the server itself.
"""

from __future__ import annotations

import json
import sqlite3
import time

import psycopg
import pytest
from click.testing import CliRunner

from conftest import snapshot
from labeler.cli import main
from labeler.core import annotations, store_pg
from labeler.core.queue import QueueSpec
from labeler.core.store import Decision, Project


def run(*args, ok: bool = True):
    r = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert r.exit_code == 0, r.output + repr(r.exception)
    return r


def project_url(db_url: str, name: str = "digits") -> str:
    return f"{db_url}?project={name}"


def dev_errors(path, n: int) -> list[str]:
    with Project.open(path, readonly=True) as p:
        t = p.examples_table()
        ids = t.column("id").to_pylist()
        split = t.column("split").to_pylist()
        wrong = t.column("wrong").to_pylist()
    return [i for i, s, w in zip(ids, split, wrong) if s == "dev" and w][:n]


def review(path, ids, *, reviewer: str, label=None, error_types=("blurry",), tags=()) -> None:
    """Decisions as the review window makes them: in a session of a random dev queue."""
    with Project.open(path) as p:
        sid = p.start_session(reviewer, QueueSpec().to_json())
        for eid in ids:
            before = p.decision(eid)
            after = Decision(label=label, tags=frozenset(tags), error_types=frozenset(error_types), reviewed=True)
            p.write_decision(eid, before, after, "decide", reviewer=reviewer, session_id=sid)
        p.end_session(sid, len(ids))


def outputs(path) -> dict[str, object]:
    """What the analysis commands print about a project, as JSON."""
    return {
        "summary": json.loads(run("summary", "--json", "--project", path).output),
        "tally": json.loads(run("tally", "--format", "json", "--project", path).output),
        "confusion": json.loads(run("confusion", "--json", "--project", path).output),
        "queue": json.loads(run("queue", "--json", "--project", path).output),
        "queue_unreviewed": json.loads(run("queue", "--json", "--unreviewed", "--project", path).output),
    }


def tables(path, *, leave_out=("_sqlite_migrations",)) -> dict[str, list[tuple]]:
    return {t: rows for t, rows in snapshot(path).items() if t not in leave_out}


@pytest.fixture
def reviewed_project(digits_project):
    """The sample project with decisions of two reviewers and blind labels."""
    ids = dev_errors(digits_project, 12)
    review(digits_project, ids[:5], reviewer="ana", error_types=("blurry",))
    review(digits_project, ids[5:8], reviewer="ben", label="3", tags=("mislabeled",), error_types=())
    with Project.open(digits_project) as p:
        for eid in ids[:6]:
            annotations.set_label(p, eid, "ana", "1")
            annotations.set_label(p, eid, "ben", "7" if eid in ids[:3] else "1")
    return digits_project


# -- URLs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, shown", [
    ("postgresql://ana:s3cret@db.lab:5433/team?project=digits", "postgresql://ana:***@db.lab:5433/team?project=digits"),
    ("postgres://ana:p%40ss@db/team?project=x&sslmode=require", "postgres://ana:***@db/team?project=x&sslmode=require"),
    ("postgresql://db/team?password=s3cret&project=x", "postgresql://db/team?password=***&project=x"),
    ("postgresql://db/team?project=x&password=s3cret&sslmode=verify-full",
     "postgresql://db/team?project=x&password=***&sslmode=verify-full"),
    ("postgresql://ana@db/team?project=x", "postgresql://ana@db/team?project=x"),
    ("postgresql://ana:p@ss:w@db:5432/team?project=x", "postgresql://ana:***@db:5432/team?project=x"),
    ("mysql://u:s3cret@db/x", "mysql://u:***@db/x"),
    ("cannot reach postgresql://u:pw@h/d?project=p, host=h password=pw dbname=d",
     "cannot reach postgresql://u:***@h/d?project=p, host=h password=*** dbname=d"),
])
def test_redact(url, shown):
    assert store_pg.redact(url) == shown


def test_parse_url_keeps_libpq_parameters_and_names_the_project():
    where = store_pg.parse_url("postgresql://ana:s3cret@db:5433/team?sslmode=require&project=digits_v2")
    assert where.project == "digits_v2"
    assert where.conninfo == "postgresql://ana:s3cret@db:5433/team?sslmode=require"
    assert where.shown == "postgresql://ana:***@db:5433/team?sslmode=require&project=digits_v2"
    assert "s3cret" not in repr(where) and "s3cret" not in str(where)


@pytest.mark.parametrize("url, says", [
    ("postgresql://db/team", "?project=NAME"),
    ("postgresql://db/team?project=a&project=b", "?project=NAME"),
    ("postgresql://db/team?project=drop;table", "must be"),
    ("postgresql://db/?project=x", "name the database"),
    ("mysql://u:s3cret@db/team?project=x", "not a PostgreSQL URL"),
])
def test_parse_url_refuses(url, says):
    with pytest.raises(store_pg.TeamStoreError, match=None) as e:
        store_pg.parse_url(url)
    assert says in str(e.value) and "s3cret" not in str(e.value)


# -- push and pull ---------------------------------------------------------------------------------

def test_push_then_pull_gives_the_same_project(reviewed_project, pg_db, tmp_path):
    url = project_url(pg_db)
    r = run("push", reviewed_project, url)
    assert "copied to" in r.output and "decisions 8" in r.output, r.output
    copy = tmp_path / "copy" / "digits.labeler.db"
    copy.parent.mkdir()
    r = run("pull", url, copy)
    assert str(copy) in r.output
    assert sorted(x.name for x in copy.parent.iterdir()) == ["digits.labeler.db"]  # nothing left beside it
    # every table, row for row (the migrations' record is the new file's own)
    assert tables(copy) == tables(reviewed_project)
    assert outputs(copy) == outputs(reviewed_project)
    with Project.open(copy) as p:  # opens for writing too
        assert len(p.decisions()) == 8


def test_pushed_tables_are_on_the_server_with_checksums(reviewed_project, pg_db):
    store_pg.push(reviewed_project, project_url(pg_db, "lab_1"))
    with psycopg.connect(pg_db) as pg:
        chunks = pg.execute('SELECT name, chunk, data, crc FROM "lab_1".columnar ORDER BY name, chunk').fetchall()
        types = dict(pg.execute("SELECT column_name, data_type FROM information_schema.columns"
                                " WHERE table_schema = 'lab_1' AND table_name = 'columnar'").fetchall())
        n_events = pg.execute('SELECT count(*) FROM "lab_1".events').fetchone()[0]
    conn = sqlite3.connect(reviewed_project)
    assert chunks == conn.execute("SELECT name, chunk, data, crc FROM columnar ORDER BY name, chunk").fetchall()
    assert n_events == conn.execute("SELECT count(*) FROM events").fetchone()[0] == 8 + 12
    conn.close()
    assert types["data"] == "bytea" and types["crc"] == "bigint"


def test_pull_refuses_to_overwrite_and_an_unknown_project(reviewed_project, pg_db, tmp_path):
    url = project_url(pg_db)
    store_pg.push(reviewed_project, url)
    existing = tmp_path / "mine.labeler.db"
    existing.write_bytes(b"keep me")
    r = run("pull", url, existing, ok=False)
    assert r.exit_code == 2 and "exists already" in r.output
    assert existing.read_bytes() == b"keep me"
    r = run("pull", project_url(pg_db, "nothing_here"), tmp_path / "new.labeler.db", ok=False)
    assert r.exit_code == 2 and "no project 'nothing_here'" in r.output
    assert not (tmp_path / "new.labeler.db").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("digits.")) == ["mine.labeler.db"]


def test_push_back_merges_by_example_newest_wins_and_keeps_both_events(reviewed_project, pg_db, tmp_path):
    url = project_url(pg_db)
    store_pg.push(reviewed_project, url)
    a, b = tmp_path / "a.labeler.db", tmp_path / "b.labeler.db"
    store_pg.pull(url, a)
    store_pg.pull(url, b)
    ids = dev_errors(reviewed_project, 20)
    shared, only_a, only_b = ids[0], ids[12:14], ids[14:16]
    review(a, [shared, *only_a], reviewer="ana", error_types=("occluded",))
    time.sleep(0.01)
    review(b, [shared, *only_b], reviewer="ben", label="9", error_types=())  # b decides `shared` later
    with Project.open(a) as p:
        annotations.set_label(p, shared, "ana", "4")

    # b first, then a (older on `shared`): b's decision must stay
    rb = store_pg.push(b, url)
    assert not rb.new and rb.added["decisions"] == 3 and rb.added["sessions"] == 1 and rb.added["events"] == 3
    ra = store_pg.push(a, url)
    assert ra.added["decisions"] == 2 and ra.kept_newer["decisions"] == 1
    assert ra.added["events"] == 4 and ra.added["reviewer_labels"] == 1  # 3 decisions + 1 blind label

    merged = tmp_path / "merged.labeler.db"
    store_pg.pull(url, merged)
    with Project.open(merged, readonly=True) as p, Project.open(a, readonly=True) as pa_, \
            Project.open(b, readonly=True) as pb:
        d = p.decisions()
        assert d[shared] == pb.decision(shared) and d[shared].reviewer == "ben" and d[shared].label == "9"
        for eid in only_a:
            assert d[eid] == pa_.decision(eid)
        for eid in only_b:
            assert d[eid] == pb.decision(eid)
        assert len(d) == 8 + 2 + 2  # `shared` was among the 8 of the original
        # the log keeps both reviewers' changes of `shared`, in the order they happened
        log = [(e["reviewer"], json.loads(e["after"]).get("error_types")) for e in p.events(shared)
               if e["action"] == "decide"]
        assert log[-2:] == [("ana", ["occluded"]), ("ben", [])]
        assert annotations.label_of(p, shared, "ana") == "4"
        # each session once, the events of a copy pointing at its own session
        sessions = {r[0]: r for r in p.conn.execute("SELECT id, reviewer, items FROM sessions")}
        assert sorted(r[1] for r in sessions.values()) == ["ana", "ana", "ben", "ben"]
        for e in p.events():
            if e["session_id"] is not None:
                assert sessions[e["session_id"]][1] == e["reviewer"]
    # pushing the same copies again adds nothing
    again = store_pg.push(a, url)
    assert not any(again.added.values()), again.added
    assert not any(store_pg.push(b, url).added.values())
    # each reviewer's own newest decision is kept apart (the server's reviews): both on `shared`
    with psycopg.connect(pg_db) as pg:
        reviews = pg.execute('SELECT example_id, reviewer, label, error_types FROM "digits".reviews').fetchall()
    on_shared = {r[1]: (r[2], json.loads(r[3])) for r in reviews if r[0] == shared}
    assert on_shared == {"ana": (None, ["occluded"]), "ben": ("9", [])}
    with Project.open(merged, readonly=True) as p:  # every other decided example: its one reviewer's
        decided = {eid: (d.reviewer, d.label) for eid, d in p.decisions().items() if eid != shared}
    assert {r[0]: (r[1], r[2]) for r in reviews if r[0] != shared} == decided


def test_push_back_of_other_examples_is_refused(reviewed_project, pg_db, tmp_path, write_csv):
    url = project_url(pg_db)
    store_pg.push(reviewed_project, url)
    from labeler.core.importer import import_predictions

    other = tmp_path / "other.labeler.db"
    import_predictions(write_csv("o.csv", ["id", "path", "split", "label", "pred"],
                                 [["x1", "a.png", "dev", "a", "b"], ["x2", "b.png", "dev", "b", "b"]]), other)
    before = snapshot_server(pg_db, "digits")
    r = run("push", other, url, ok=False)
    assert r.exit_code == 2 and "other examples" in r.output
    assert snapshot_server(pg_db, "digits") == before


def snapshot_server(db_url: str, schema: str) -> dict[str, list[tuple]]:
    with psycopg.connect(db_url) as pg:
        names = [r[0] for r in pg.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (schema,))]
        return {t: sorted(pg.execute(f'SELECT * FROM "{schema}"."{t}"').fetchall(), key=repr) for t in names}


def test_no_password_in_any_output(reviewed_project, pg_db, tmp_path, pg_server):
    """The test server trusts 127.0.0.1, so a password in the URL is accepted and ignored: what
    matters is that no message says it, when things work and when they fail."""
    secret = "Sup3rS3cret"
    url = project_url(pg_db).replace("postgresql://postgres@", f"postgresql://postgres:{secret}@")
    said = [run("push", reviewed_project, url).output,
            run("pull", url, tmp_path / "p.labeler.db").output,
            run("team", "grant-reviewer", url, "rev_pw").output]
    dead = url.replace(f":{pg_server.port}/", f":{pg_server.port + 1 if pg_server.port < 65535 else 1}/")
    for args in (("push", reviewed_project, dead), ("pull", dead, tmp_path / "q.labeler.db"),
                 ("push", reviewed_project, dead.replace(secret, secret + "&password=" + secret)),
                 ("pull", project_url(pg_db, "absent").replace("postgres@", f"postgres:{secret}@"), tmp_path / "r.db")):
        r = run(*args, ok=False)
        assert r.exit_code == 2, r.output
        said.append(r.output)
    assert any("cannot connect" in s for s in said)
    for s in said:
        assert secret not in s, s
    assert any(":***@" in s for s in said)


# -- the reviewer role -----------------------------------------------------------------------------

def test_reviewer_role_writes_decisions_but_cannot_touch_examples(reviewed_project, pg_db, pg_server, tmp_path):
    url = project_url(pg_db)
    store_pg.push(reviewed_project, url)
    r = run("team", "grant-reviewer", url, "rev_carla")
    assert "GRANT" in r.output
    eid = dev_errors(reviewed_project, 20)[15]
    as_reviewer = pg_db.replace("postgresql://postgres@", "postgresql://rev_carla@")
    with psycopg.connect(as_reviewer, autocommit=True) as pg:
        assert pg.execute("SELECT current_user").fetchone()[0] == "rev_carla"
        # what a review writes
        pg.execute('INSERT INTO digits.decisions (example_id, reviewed, reviewer, decided_at) VALUES (%s, 1, %s, %s)',
                   (eid, "rev_carla", "2026-11-30T07:00:00.000+00:00"))
        pg.execute('UPDATE digits.decisions SET note = %s WHERE example_id = %s', ("blurry", eid))
        pg.execute("INSERT INTO digits.events (at, example_id, action, reviewer) VALUES (%s, %s, 'decide', 'rev_carla')",
                   ("2026-11-30T07:00:00.000+00:00", eid))
        pg.execute("INSERT INTO digits.reviewer_labels VALUES (%s, 'rev_carla', '3', 'blind', '2026-11-30T07:00:00.000+00:00')",
                   (eid,))
        # what it must not
        for statement in ("UPDATE digits.columnar SET data = '\\x00'::bytea WHERE name = 'examples'",
                          "DELETE FROM digits.columnar WHERE name = 'examples'",
                          "INSERT INTO digits.columnar (name, chunk, data) VALUES ('examples', 99, '\\x00'::bytea)",
                          "TRUNCATE digits.columnar",
                          "UPDATE digits.meta SET value = '[]' WHERE key = 'classes'",
                          "DELETE FROM digits.error_types",
                          "DELETE FROM digits.events",
                          "DROP TABLE digits.columnar",
                          "CREATE TABLE digits.mine (x int)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                pg.execute(statement)
        assert pg.execute("SELECT count(*) FROM digits.columnar WHERE name = 'examples'").fetchone()[0] >= 1
    # and a copy the reviewer pulled and reviewed pushes back as that role
    mine = tmp_path / "carla.labeler.db"
    store_pg.pull(project_url(as_reviewer), mine)
    review(mine, dev_errors(reviewed_project, 20)[16:18], reviewer="rev_carla")
    result = store_pg.push(mine, project_url(as_reviewer))
    assert result.added["decisions"] == 2
    with psycopg.connect(pg_db) as pg:
        stored = pg.execute("SELECT data FROM digits.columnar WHERE name = 'examples' ORDER BY chunk").fetchall()
    conn = sqlite3.connect(reviewed_project)
    assert stored == conn.execute("SELECT data FROM columnar WHERE name = 'examples' ORDER BY chunk").fetchall()
    conn.close()


def test_the_readme_shows_the_sql_grant_reviewer_runs(digits_project, pg_db):
    import re

    from conftest import ROOT

    store_pg.push(digits_project, project_url(pg_db))
    printed = run("team", "grant-reviewer", project_url(pg_db), "ben").output
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Team.*?```sql\n(.*?)```", text, re.S).group(1)
    documented = [re.sub(r"\s*--.*", "", line).strip() for line in block.splitlines()]
    assert [s for s in documented if s] == [line.replace('"', "") for line in printed.splitlines()]


def test_a_push_that_fails_midway_leaves_the_server_as_it_was(reviewed_project, pg_db, tmp_path):
    """A reviewer's copy with new decisions and a ranking of its own: the decisions merge first,
    then replacing the ranking is refused (a reviewer cannot write columnar chunks): nothing of the
    push stays."""
    url = project_url(pg_db)
    store_pg.push(reviewed_project, url)
    store_pg.grant_reviewer(url, "rev_eve")
    as_eve = project_url(pg_db.replace("postgresql://postgres@", "postgresql://rev_eve@"))
    mine = tmp_path / "eve.labeler.db"
    store_pg.pull(as_eve, mine)
    review(mine, dev_errors(reviewed_project, 20)[12:15], reviewer="rev_eve")
    run("rank", "--project", mine)
    before = snapshot_server(pg_db, "digits")
    r = run("push", mine, as_eve, ok=False)
    assert r.exit_code == 2 and "permission denied for table" in r.output, r.output
    assert snapshot_server(pg_db, "digits") == before
    # the owner's push of the same copy goes through, ranking and all
    assert store_pg.push(mine, url).added["decisions"] == 3
    fresh = tmp_path / "fresh.labeler.db"
    store_pg.pull(url, fresh)
    assert outputs(fresh) == outputs(mine)


def test_pushes_at_once_take_turns(reviewed_project, pg_db, tmp_path):
    import threading

    url = project_url(pg_db)
    store_pg.push(reviewed_project, url)
    copies = []
    for i in range(4):
        copies.append(tmp_path / f"c{i}.labeler.db")
        store_pg.pull(url, copies[-1])
        review(copies[-1], dev_errors(reviewed_project, 40)[12 + 3 * i:15 + 3 * i], reviewer=f"r{i}")
    pushes = copies + [copies[0]] * 3  # the same copy pushed four times at once: its reviews once
    errors, start = [], threading.Barrier(len(pushes))

    def push(path):
        try:
            start.wait()
            store_pg.push(path, url)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=push, args=(c,)) for c in pushes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    merged = tmp_path / "merged.labeler.db"
    store_pg.pull(url, merged)
    with Project.open(merged, readonly=True) as p:
        assert len(p.decisions()) == 8 + 4 * 3
        assert len(p.events()) == 20 + 4 * 3
        assert p.conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 2 + 4


def test_a_table_of_a_later_schema_is_copied_and_an_older_labeler_refuses_to_pull_it(reviewed_project, pg_db, tmp_path):
    """Tables are read from the file: one that a later migration adds goes to the server with its
    rows and no change to the copying code; a labeler that does not know it will not pull a copy
    that would silently lack it."""
    conn = sqlite3.connect(reviewed_project)
    conn.execute("CREATE TABLE later_notes (example_id TEXT PRIMARY KEY, note TEXT NOT NULL DEFAULT '', score REAL, raw BLOB)")
    conn.executemany("INSERT INTO later_notes VALUES (?, ?, ?, ?)", [("d1", "x", 0.5, b"\x00\x01"), ("d2", "", None, None)])
    conn.commit()
    conn.close()
    url = project_url(pg_db)
    store_pg.push(reviewed_project, url)
    assert snapshot_server(pg_db, "digits")["later_notes"] == [("d1", "x", 0.5, b"\x00\x01"), ("d2", "", None, None)]
    r = run("pull", url, tmp_path / "old.labeler.db", ok=False)
    assert r.exit_code == 2 and "newer labeler" in r.output and "later_notes" in r.output
    assert not (tmp_path / "old.labeler.db").exists()


def test_the_same_copy_pushed_at_once_adds_its_session_once(digits_project, pg_db, tmp_path):
    """Nothing else makes these pushes wait for one another (no decision rows to lock): the
    project's advisory lock does, so each sees what the one before added."""
    import threading

    url = project_url(pg_db)
    store_pg.push(digits_project, url)
    idle = tmp_path / "idle.labeler.db"
    store_pg.pull(url, idle)
    with Project.open(idle) as p:  # the window opened and closed, nothing decided
        p.end_session(p.start_session("ana", QueueSpec().to_json()), 0)
    errors, start = [], threading.Barrier(6)

    def push():
        try:
            start.wait()
            store_pg.push(idle, url)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=push) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(snapshot_server(pg_db, "digits")["sessions"]) == 1
