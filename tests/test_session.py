"""The review session (one plain function per key) and the project store under it.

Every change must be on disk when the call returns: the checks read the project file through a
separate, plain sqlite3 connection while the session is still open.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from conftest import DIGITS
from labeler.core import frame as framemod
from labeler.core.queue import QueueSpec, build
from labeler.core.session import ReviewSession
from labeler.core.store import Decision, Project, ProjectError, ProjectLocked

TAXONOMY = [t for t in (DIGITS / "taxonomy.txt").read_text(encoding="utf-8").splitlines() if t.strip()]


def on_disk(db: Path, eid: str) -> dict | None:
    """The decision row of ``eid`` as another process would see it now."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        cur = conn.execute("SELECT * FROM decisions WHERE example_id = ?", (eid,))
        row = cur.fetchone()
        if row is None:
            return None
        d = dict(zip([c[0] for c in cur.description], row))
        d["tags"] = json.loads(d["tags"])
        d["error_types"] = json.loads(d["error_types"])
        return d
    finally:
        conn.close()


def events_on_disk(db: Path) -> list[tuple[str, str, dict, dict]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [(eid, action, json.loads(b), json.loads(a))
                for eid, action, b, a in conn.execute("SELECT example_id, action, before, after FROM events ORDER BY seq")]
    finally:
        conn.close()


@pytest.fixture
def project(digits_project):
    p = Project.open(digits_project)
    yield p
    p.close()


@pytest.fixture
def session(project):
    s = ReviewSession(project, reviewer="ann")
    yield s
    s.close()


def test_session_walks_the_default_queue(session, project):
    expected = build(framemod.load(project), QueueSpec())["id"].tolist()
    assert session.items == expected and len(expected) == 39
    assert session.position == 0 and session.current_id == expected[0]


def test_next_marks_reviewed_and_persists(session, digits_project):
    first = session.current_id
    assert on_disk(digits_project, first) is None
    session.next()
    d = on_disk(digits_project, first)
    assert d is not None and d["reviewed"] == 1 and d["label"] is None and d["reviewer"] == "ann"
    assert session.position == 1
    session.prev()
    assert session.current_id == first
    session.prev()  # at the start: stays
    assert session.position == 0


def test_accept_prediction_toggles(session, project, digits_project):
    eid = session.current_id
    row = project.example(eid)
    session.accept_prediction()
    assert on_disk(digits_project, eid)["label"] == row["pred"] != row["label"]
    session.accept_prediction()
    assert on_disk(digits_project, eid)["label"] is None
    assert on_disk(digits_project, eid)["reviewed"] == 1


def test_set_label(session, project, digits_project):
    eid = session.current_id
    given = project.example(eid)["label"]
    other = next(c for c in project.classes if c not in (given, project.example(eid)["pred"]))
    session.set_label(other)
    assert on_disk(digits_project, eid)["label"] == other
    session.set_label(given)  # "corrected" to the given label: no correction
    assert on_disk(digits_project, eid)["label"] is None
    with pytest.raises(ValueError):
        session.set_label("eleven")
    assert on_disk(digits_project, eid)["label"] is None


def test_tags(session, digits_project):
    eid = session.current_id
    session.toggle_tag("mislabeled")
    assert on_disk(digits_project, eid)["tags"] == ["mislabeled"]
    session.toggle_tag("very hard")
    assert on_disk(digits_project, eid)["tags"] == ["mislabeled", "very hard"]
    session.toggle_tag("very easy")  # not both very hard and very easy
    assert on_disk(digits_project, eid)["tags"] == ["mislabeled", "very easy"]
    session.toggle_tag("mislabeled")
    assert on_disk(digits_project, eid)["tags"] == ["very easy"]
    with pytest.raises(ValueError):
        session.toggle_tag("boring")


def test_error_types(session, project, digits_project):
    project.set_error_types(TAXONOMY)
    eid = session.current_id
    session.toggle_error_type(1)
    session.toggle_error_type(3)
    assert on_disk(digits_project, eid)["error_types"] == sorted([TAXONOMY[0], TAXONOMY[2]])
    session.toggle_error_type(TAXONOMY[0])
    assert on_disk(digits_project, eid)["error_types"] == [TAXONOMY[2]]
    n_events = len(events_on_disk(digits_project))
    session.toggle_error_type(99)  # no such position: nothing happens
    session.toggle_error_type(0)
    assert len(events_on_disk(digits_project)) == n_events
    with pytest.raises(ValueError):
        session.toggle_error_type("no such type")


def test_undo_and_redo_after_an_error_type_is_renamed(session, project, digits_project):
    project.set_error_types(TAXONOMY)
    eid = session.current_id
    session.toggle_error_type(1)
    session.toggle_error_type(2)
    session.undo()  # error type 2 off again; on the redo stack
    project.rename_error_type(TAXONOMY[0], "renamed one")
    project.rename_error_type(TAXONOMY[1], "renamed two")
    session.reload_decisions()
    session.rename_in_history({TAXONOMY[0]: "renamed one", TAXONOMY[1]: "renamed two"})
    assert on_disk(digits_project, eid)["error_types"] == ["renamed one"]
    session.redo()
    assert on_disk(digits_project, eid)["error_types"] == ["renamed one", "renamed two"]
    session.undo()
    session.undo()
    assert on_disk(digits_project, eid)["error_types"] == []
    session.redo()
    assert on_disk(digits_project, eid)["error_types"] == ["renamed one"]  # not the old name
    assert TAXONOMY[0] not in json.dumps(on_disk(digits_project, eid))


def test_note(session, digits_project):
    eid = session.current_id
    session.set_note("  looks like a 7  ")
    assert on_disk(digits_project, eid)["note"] == "looks like a 7"
    n = len(events_on_disk(digits_project))
    session.set_note("looks like a 7")  # unchanged: no write
    assert len(events_on_disk(digits_project)) == n
    session.set_note("")
    assert on_disk(digits_project, eid)["note"] == ""


def test_undo_redo(session, digits_project):
    a = session.current_id
    session.toggle_tag("mislabeled")
    session.set_note("n")
    session.next()
    b = session.current_id
    session.accept_prediction()
    assert on_disk(digits_project, b)["label"] is not None
    session.undo()
    assert on_disk(digits_project, b)["label"] is None
    # next() wrote nothing (the tag had marked a reviewed already), so this undo takes back the note
    session.undo()
    assert on_disk(digits_project, a)["note"] == ""
    assert session.current_id == a  # undo shows the item it changes
    session.undo()
    assert on_disk(digits_project, a)["tags"] == [] and on_disk(digits_project, a)["reviewed"] == 0
    assert not session.can_undo
    session.undo()  # nothing left: no error
    session.redo()
    assert on_disk(digits_project, a)["tags"] == ["mislabeled"] and on_disk(digits_project, a)["reviewed"] == 1
    session.redo()
    assert on_disk(digits_project, a)["note"] == "n"
    assert session.can_redo
    session.toggle_tag("ambiguous")  # a new change drops the redo history
    assert not session.can_redo
    session.redo()
    assert on_disk(digits_project, b)["label"] is None


def test_events_are_logged(session, digits_project):
    a = session.current_id
    session.toggle_tag("mislabeled")
    session.set_note("x")
    session.undo()
    ev = events_on_disk(digits_project)
    assert [(e[0], e[1]) for e in ev] == [(a, "+mislabeled"), (a, "note"), (a, "undo note")]
    assert ev[0][2]["tags"] == [] and ev[0][3]["tags"] == ["mislabeled"]
    assert ev[1][3]["note"] == "x" and ev[2][3]["note"] == ""
    # every event names the session and reviewer
    conn = sqlite3.connect(f"file:{digits_project}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT reviewer, session_id FROM events").fetchall()
        assert rows and all(r == ("ann", session.session_id) for r in rows)
        assert conn.execute("SELECT reviewer FROM sessions WHERE id = ?", (session.session_id,)).fetchone() == ("ann",)
    finally:
        conn.close()


def test_listeners_hear_every_change(session):
    heard = []
    session.subscribe(heard.append)
    session.toggle_tag("very hard")
    session.next()
    assert [e.kind for e in heard] == ["decision", "moved"]
    assert heard[0].change.after.tags == frozenset({"very hard"})


def test_reopening_resumes_at_first_unreviewed(digits_project):
    with Project.open(digits_project) as p:
        s = ReviewSession(p)
        items = list(s.items)
        s.next()
        s.next()
        s.toggle_tag("very easy")  # the third is reviewed too
        s.close()
    with Project.open(digits_project) as p:
        s = ReviewSession(p)
        assert s.items == items  # same order after a restart
        assert s.position == 3 and s.current_id == items[3]
        assert s.reviewed_count() == 3
        s.close()
        # --unreviewed leaves the reviewed ones out
        s = ReviewSession(p, QueueSpec(unreviewed=True))
        assert s.items == items[3:]
        assert s.position == 0
        s.close()


def test_all_reviewed_stays_on_the_last(digits_project):
    with Project.open(digits_project) as p:
        s = ReviewSession(p, QueueSpec(label="8", pred="7"))
        n = len(s.items)
        assert n == 5
        for _ in range(n):
            s.next()
        assert s.position == n - 1
        s.close()
        s = ReviewSession(p, QueueSpec(label="8", pred="7", unreviewed=True))
        assert s.items == [] and s.current_id is None
        s.next()
        s.accept_prediction()  # nothing to act on: no error
        s.close()


def test_queue_refuses_test_split(project):
    from labeler.core.queue import QueueRefused

    with pytest.raises(QueueRefused):
        ReviewSession(project, QueueSpec(split="test"))


# ---------------------------------------------------------------------------------------------
# the store


def test_decision_round_trip(project, digits_project):
    d = Decision(label="3", tags=frozenset({"ambiguous", "very hard"}), error_types=frozenset({"cut off"}),
                 note="ü ñ \u2713", reviewed=True)
    saved = project.write_decision("d0001", Decision(), d, "test", reviewer="bob")
    assert saved.same_verdict(d)
    with Project.open(digits_project, readonly=True) as other:
        got = other.decision("d0001")
    assert got.same_verdict(d) and got.reviewer == "bob" and got.decided_at
    assert project.decision("nope") == Decision()


def test_second_writer_is_refused(project, digits_project):
    with pytest.raises(ProjectLocked):
        Project.open(digits_project)
    # readers are fine
    with Project.open(digits_project, readonly=True) as r:
        assert r.example_count() == 1797
        with pytest.raises(ProjectError):
            r.write_decision("d0001", Decision(), Decision(reviewed=True), "x")
    project.close()
    with Project.open(digits_project) as again:
        assert again.example_count() == 1797


def test_readonly_session_does_not_write(digits_project):
    with Project.open(digits_project, readonly=True) as p:
        s = ReviewSession(p)
        assert s.session_id is None
        with pytest.raises(ProjectError):
            s.toggle_tag("mislabeled")


def test_failed_write_leaves_nothing(project, digits_project):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with project.transaction() as c:
            c.execute("INSERT INTO decisions(example_id, reviewed) VALUES ('d0002', 1)")
            raise Boom
    assert on_disk(digits_project, "d0002") is None
    assert project.decision("d0002") == Decision()


def test_not_a_project(tmp_path):
    bad = tmp_path / "x.labeler.db"
    bad.write_bytes(b"hello, this is not sqlite")
    before = bad.read_bytes()
    with pytest.raises(ProjectError, match="not a labeler project"):
        Project.open(bad)
    assert bad.read_bytes() == before
    with pytest.raises(ProjectError, match="no project"):
        Project.open(tmp_path / "missing.labeler.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ProjectError, match="missing tables"):
        Project.open(other)
    with pytest.raises(ProjectError):
        Project.create(bad)


def test_error_types_taxonomy(project):
    project.set_error_types(["  blurry ", "", "occluded"])
    assert project.error_types() == ["blurry", "occluded"]
    with pytest.raises(ProjectError):
        project.set_error_types(["a", "a"])
    assert project.error_types() == ["blurry", "occluded"]
    project.write_decision("d0003", Decision(), Decision(error_types=frozenset({"blurry"}), reviewed=True), "x")
    project.rename_error_type("blurry", "out of focus")
    assert project.error_types() == ["out of focus", "occluded"]
    assert project.decision("d0003").error_types == frozenset({"out of focus"})
    with pytest.raises(ProjectError):
        project.rename_error_type("occluded", "out of focus")


KILLED_AFTER_SAVING = r"""
import os, signal, sys
from labeler.core.store import Decision, Project
p = Project.create(sys.argv[1])
p.write_decision("x1", Decision(), Decision(note="saved", reviewed=True), "note")
print("saved", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_new_project_killed_before_a_checkpoint_reopens(tmp_path):
    """Everything committed is still in the WAL after kill -9: opening must read it, not call the
    project broken (BAD_INPUTS rows 27, 30)."""
    import subprocess
    import sys

    db = tmp_path / "k.labeler.db"
    r = subprocess.run([sys.executable, "-c", KILLED_AFTER_SAVING, str(db)], capture_output=True, text=True)
    assert r.stdout.strip() == "saved" and r.returncode != 0
    assert Path(str(db) + "-wal").exists()
    with Project.open(db) as p:
        assert p.decision("x1").note == "saved"
        assert p.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_corrupt_project_is_refused_and_left_untouched(digits_project):
    data = bytearray(digits_project.read_bytes())
    data[120:2000] = bytes(range(256)) * 7 + bytes(88)  # the schema on page 1
    digits_project.write_bytes(bytes(data))
    with pytest.raises(ProjectError, match="corrupt|not a labeler project"):
        Project.open(digits_project)
    with pytest.raises(ProjectError):
        Project.open(digits_project, readonly=True)
    assert digits_project.read_bytes() == bytes(data)


def test_switching_queues_records_which_queue_each_decision_was_made_in(session, project, digits_project):
    """Decisions made after switching to a loss-ordered confusion cell are not a random sample: the
    project must say which queue each was made in, so `labeler tally` (reading the file) agrees."""
    from labeler.core import tally as tallymod

    session.next()
    session.next()  # two reviewed in the default random queue
    random_ids = set(session.items[:2])
    session.set_queue(QueueSpec(label="8", pred="7", order="loss"))
    cell_id = session.current_id
    session.toggle_tag("very hard")
    conn = sqlite3.connect(f"file:{digits_project}?mode=ro", uri=True)
    try:
        queues = [json.loads(q) for (q,) in conn.execute("SELECT queue FROM sessions ORDER BY id")]
        by_event = dict(conn.execute(
            "SELECT e.example_id, s.queue FROM events e JOIN sessions s ON s.id = e.session_id ORDER BY e.seq"))
    finally:
        conn.close()
    assert [(q["order"], q["label"], q["pred"]) for q in queues] == [("random", None, None), ("loss", "8", "7")]
    assert json.loads(by_event[cell_id])["order"] == "loss"
    assert tallymod.random_sample_ids(project) == random_ids
    t = tallymod.project_tally(project, framemod.load(project), "dev")
    assert t["reviewed"] == 3 and t["random_sample"] is False
