"""The team review's journal (labeler.core.team_sync) on a real PostgreSQL server: decisions are
committed to the reviewer's local copy first and sent to the server in order, exactly once, also
across a server that stops mid-session and a window killed between the server's commit and the
journal's note; other reviewers hear of them (LISTEN/NOTIFY); each reviewer's newest decision is
kept apart (``reviews``)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from datetime import timedelta

import psycopg
import pytest

from labeler.core import store_pg
from labeler.core.queue import QueueSpec
from labeler.core.session import ReviewSession
from labeler.core.store import Project
from labeler.core.team_sync import Status, TeamLink, _payloads, apply_remote


def _server_rows(base: str, project: str, query: str, params=()) -> list[tuple]:
    with psycopg.connect(base) as pg:
        return pg.execute(query.replace("P.", f'"{project}".'), params).fetchall()


def _wait(cond, timeout=15.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.fixture
def team(pg_db, digits_project, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data home"))
    url = f"{pg_db}?project=digits"
    store_pg.push(digits_project, url)
    return url


def _review(link: TeamLink, n: int, *, tag: str = "mislabeled") -> list[str]:
    """Review ``n`` items of the errors queue in the link's local copy: tag each and move on."""
    with Project.open(link.path) as p:
        s = ReviewSession(p, QueueSpec(), reviewer=link.reviewer)
        done = []
        for _ in range(n):
            done.append(s.current_id)
            s.toggle_tag(tag)
            s.next()
        s.close()
    return done


def test_decisions_reach_the_server_once_and_in_order(team, pg_db):
    link = TeamLink(team, "alice")
    link.open()
    done = _review(link, 5)
    assert link.pending() == 5  # one event per item: the tag (which marks it reviewed)
    assert link.flush() == 5
    assert link.pending() == 0
    rows = dict(_server_rows(pg_db, "digits", "SELECT example_id, tags FROM P.decisions WHERE reviewer = 'alice'"))
    assert set(rows) == set(done) and all(json.loads(t) == ["mislabeled"] for t in rows.values())
    events = _server_rows(pg_db, "digits", "SELECT example_id, action FROM P.events WHERE reviewer = 'alice' ORDER BY seq")
    assert [e for e, _ in events] == done  # in the order they were made
    # sent again from the start (the note of how far it got was lost): nothing doubles
    link._write_state(0)
    link.flush()
    again = _server_rows(pg_db, "digits", "SELECT example_id, action FROM P.events WHERE reviewer = 'alice' ORDER BY seq")
    assert again == events
    reviews = _server_rows(pg_db, "digits", "SELECT example_id, reviewer, tags FROM P.reviews")
    assert sorted(r[0] for r in reviews) == sorted(done) and {r[1] for r in reviews} == {"alice"}


def test_others_hear_each_decision_and_the_copy_takes_the_newest(team, pg_db):
    alice, bob = TeamLink(team, "alice"), TeamLink(team, "bob")
    alice.open()
    bob.open()
    heard: list[tuple[str, object]] = []
    got = threading.Event()
    bob.on_remote = lambda rows: (heard.extend(rows), got.set())
    bob.start()
    try:
        assert _wait(lambda: bob.status.online)
        done = _review(alice, 3, tag="ambiguous")
        alice.flush()
        assert _wait(lambda: {e for e, _ in heard} >= set(done)), heard
        assert all("ambiguous" in d.tags and d.reviewer == "alice" for _, d in heard)
        with Project.open(bob.path) as p:
            assert sorted(apply_remote(p, heard)) == sorted(set(done))
            assert apply_remote(p, heard) == []  # the same again changes nothing
            assert all("ambiguous" in p.decision(e).tags for e in done)
            assert p.events() == []  # others' decisions are not bob's journal
    finally:
        bob.close()
        alice.close()


def test_a_payload_never_exceeds_what_notify_takes():
    ids = [f"images/{'x' * 300}/{i}.png" for i in range(200)] + ["y" * 9000]
    out = list(_payloads("alice", ids))
    assert all(len(p.encode()) < 8000 for p in out)
    sent = [e for p in out for e in json.loads(p)["ids"]]
    assert sent == ids[:200]  # all but the one that cannot fit, in order
    assert any(json.loads(p)["ids"] == [] for p in out)


def test_status_says_what_waits():
    assert Status(False, 1).describe() == "offline · 1 decision journaled here, sent when the server is back"
    assert Status(False, 3).describe().startswith("offline · 3 decisions journaled")
    assert Status(True, 0).describe() == "online · all saved on the server"


def test_claims_give_each_reviewer_their_own_items_and_finish_with_the_decision(team, pg_db):
    from labeler.core.claims import TeamQueues

    alice, bob = TeamLink(team, "alice"), TeamLink(team, "bob")
    alice.open()
    bob.open()
    spec = QueueSpec()
    with Project.open(alice.path, readonly=True) as p:
        ids = ReviewSession(p, spec).items
    a = alice.take(spec.to_json(), ids)
    b = bob.take(spec.to_json(), ids)
    assert a and b and not set(a) & set(b)
    assert a == [i for i in ids if i in set(a)]  # in queue order
    # alice reviews her first two; the server marks them done with her decisions
    with Project.open(alice.path) as p:
        s = ReviewSession(p, spec, reviewer="alice")
        s.items = list(a)
        s.position = 0
        s.next()
        s.next()
    alice.flush()
    with TeamQueues(team) as q:
        done = _server_rows(pg_db, "digits", "SELECT example_id, done_by FROM P.claims WHERE done_at IS NOT NULL")
        assert sorted(done) == sorted((e, "alice") for e in a[:2])
        before = q.progress(alice.queue)
    alice.reviewed(a[0])
    alice.reviewed(a[1])
    assert alice.close().online  # the rest of alice's claims go back at once
    with TeamQueues(team) as q:
        after = q.progress(alice.queue)
    assert after.claimed == before.claimed - (len(a) - 2) and after.done == 2
    bob.close()


def test_a_server_stopped_mid_session_loses_nothing_and_doubles_nothing(own_server, digits_project, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home"))
    url = own_server.url() + "?project=digits"
    store_pg.push(digits_project, url)
    link = TeamLink(url, "alice")
    link.open()
    states: list[Status] = []
    link.on_status = states.append
    link.start()
    try:
        assert _wait(lambda: link.status.online)
        with Project.open(link.path) as p:
            s = ReviewSession(p, QueueSpec(), reviewer="alice")
            first = []
            for _ in range(3):
                first.append(s.current_id)
                s.toggle_tag("very hard")
                link.wake()
                s.next()
            assert _wait(lambda: link.pending() == 0)
            own_server.stop("immediate")  # as a crash would: no goodbye to the clients
            offline = []
            for _ in range(4):
                offline.append(s.current_id)
                s.toggle_tag("very easy")
                link.wake()
                s.next()
            assert _wait(lambda: not link.status.online and link.status.pending == 4), link.status
            assert "offline" in link.status.describe() and "4 decisions journaled" in link.status.describe()
            own_server.start()
            assert _wait(lambda: link.status.online and link.pending() == 0, timeout=30), link.status
            s.close()
    finally:
        link.close()
    rows = _server_rows(own_server.url(), "digits", "SELECT example_id, action FROM P.events WHERE reviewer = 'alice' ORDER BY seq")
    assert rows == [(e, "+very hard") for e in first] + [(e, "+very easy") for e in offline]  # in order, once each
    tags = dict(_server_rows(own_server.url(), "digits", "SELECT example_id, tags FROM P.decisions"))
    assert all(json.loads(tags[e]) == ["very easy"] for e in offline)
    assert any(not st.online for st in states) and states[-1].online


def test_offline_at_start_the_copy_and_the_items_claimed_before_are_reviewed(own_server, digits_project, tmp_path, monkeypatch):
    from labeler.core.team_review import TeamReviewSession

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home"))
    url = own_server.url() + "?project=digits"
    store_pg.push(digits_project, url)
    link = TeamLink(url, "alice")
    link.open()
    with Project.open(link.path) as p:
        claimed = TeamReviewSession(p, QueueSpec(), link=link).items
    assert claimed
    own_server.stop("immediate")
    try:
        again = TeamLink(url, "alice")
        assert again.open() == link.path and not again.status.online
        with Project.open(again.path) as p:
            s = TeamReviewSession(p, QueueSpec(), link=again)
            assert s.items == claimed  # the same items: no one else's
            s.toggle_tag("mislabeled")
        assert again.pending() == 1
        gone = TeamLink(url, "nobody-before")
        with pytest.raises(Exception, match="cannot be reached and there is no local copy"):
            gone.open()
    finally:
        own_server.start()
    assert again.flush() == 1


def test_overlap_gives_each_item_to_k_reviewers_and_keeps_each_ones_decision(team, pg_db):
    from labeler.core.team_review import TeamReviewSession

    links = [TeamLink(team, name, overlap=2 if name == "ann" else None) for name in ("ann", "ben", "cat")]
    got = {}
    for link in links:
        link.open()
        with Project.open(link.path) as p:
            s = TeamReviewSession(p, QueueSpec(), link=link)
            got[link.reviewer] = list(s.items)
            others = [c for c in p.classes if c != s.frame_row()["label"]]
            s.set_label(others[0] if link.reviewer == "ann" else others[1])  # each corrects their first item
            s.close()
        link.flush()
    # the first two reviewers share the queue's first items (overlap 2, as ann posted it); the third
    # gets what is left after both slots of those went
    assert got["ann"] == got["ben"]
    assert not set(got["cat"]) & set(got["ann"])
    first = got["ann"][0]
    reviews = dict(_server_rows(pg_db, "digits", "SELECT reviewer, label FROM P.reviews WHERE example_id = %s", (first,)))
    with Project.open(links[0].path, readonly=True) as p:
        given = p.example(first)["label"]
        others = [c for c in p.classes if c != given]
        assert reviews == {"ann": others[0], "ben": others[1]}  # each one's own decision
    decided = _server_rows(pg_db, "digits", "SELECT reviewer, label FROM P.decisions WHERE example_id = %s", (first,))
    assert decided == [("ben", reviews["ben"])]  # the project's: the newest
    for link in links:
        link.close()


def test_a_window_asking_for_another_overlap_than_the_queue_has_is_told(team):
    from labeler.core.problems import TeamStoreError
    from labeler.core.team_review import TeamReviewSession

    a, b = TeamLink(team, "ann"), TeamLink(team, "ben", overlap=3)
    for link in (a, b):
        link.open()
    with Project.open(a.path) as p:
        TeamReviewSession(p, QueueSpec(), link=a).close()
    with Project.open(b.path) as p, pytest.raises(TeamStoreError, match="cannot take items with overlap 3"):
        TeamReviewSession(p, QueueSpec(), link=b)
    a.close()
    b.close()


def test_one_window_per_reviewer_and_project_and_a_home_that_cannot_be_written_is_named(team, tmp_path):
    from labeler.core.problems import TeamStoreError

    first = TeamLink(team, "alice")
    first.open()
    with Project.open(first.path):  # the window has it
        with pytest.raises(TeamStoreError, match="alice reviews digits in another labeler window"):
            TeamLink(team, "alice").open()
        TeamLink(team, "bob").open()  # another reviewer: another copy
    (tmp_path / "a file").write_text("")
    with pytest.raises(TeamStoreError, match=r"cannot keep the local copy of .*: Not a directory \(set XDG_DATA_HOME"):
        TeamLink(team, "carol", home=tmp_path / "a file" / "team").open()
    assert not list((tmp_path / "data home").rglob("*carol*"))


def test_the_review_command_says_what_a_team_review_needs(team, digits_project):
    from click.testing import CliRunner

    from labeler.cli import main

    r = CliRunner().invoke(main, ["review", "--project", team])
    assert r.exit_code == 2 and "a team review needs --reviewer NAME" in r.output
    r = CliRunner().invoke(main, ["review", "--project", team, "--reviewer", "a", str(digits_project)])
    assert r.exit_code == 2 and "give no SOURCE or --taxonomy" in r.output
    r = CliRunner().invoke(main, ["review", "--project", str(digits_project), "--overlap", "2"])
    assert r.exit_code == 2 and "--overlap shares a team project's queue" in r.output
    r = CliRunner().invoke(main, ["review", "--project", team, "--read-only", "--overlap", "2"])
    assert r.exit_code == 2 and "--overlap is for a team review" in r.output


def test_a_journal_sent_after_a_restart_still_finishes_the_claims_it_decided(team, pg_db):
    from labeler.core.team_review import TeamReviewSession

    link = TeamLink(team, "alice")
    link.open()
    with Project.open(link.path) as p:
        s = TeamReviewSession(p, QueueSpec(), link=link)
        decided = [s.current_id]
        s.next()
        decided.append(s.current_id)
        s.next()
    # killed before the journal was sent: nothing on the server, the claims held
    assert _server_rows(pg_db, "digits", "SELECT count(*) FROM P.claims WHERE done_at IS NOT NULL") == [(0,)]
    again = TeamLink(team, "alice")
    again.open()  # sends the journal first
    done = _server_rows(pg_db, "digits", "SELECT example_id FROM P.claims WHERE done_by = 'alice'")
    assert sorted(e for e, in done) == sorted(decided)


def test_a_reviewer_role_reviews_and_a_refusal_is_not_called_offline(team, pg_db, tmp_path):
    """The reviewer role (team grant-reviewer) can do a whole team review: pull, post and claim, send
    its decisions. A grant taken away makes the server refuse them: the status says so (not
    "offline"), the journal keeps them, and they go once the grant is back."""
    from labeler.core.team_review import TeamReviewSession

    store_pg.grant_reviewer(team, "rita")
    as_rita = team.replace("postgresql://postgres@", "postgresql://rita@")
    link = TeamLink(as_rita, "rita")
    link.open()
    link.start()
    try:
        with Project.open(link.path) as p:
            s = TeamReviewSession(p, QueueSpec(), link=link)
            s.toggle_tag("mislabeled")
            link.wake()
            assert _wait(lambda: link.status.online and link.pending() == 0), link.status
            with psycopg.connect(pg_db, autocommit=True) as admin:
                admin.execute('REVOKE INSERT, UPDATE ON "digits".reviews FROM rita')
            s.next()
            s.toggle_tag("very hard")
            link.wake()
            assert _wait(lambda: link.status.refused), link.status
            assert "permission denied" in link.status.problem and link.status.pending == 1
            assert link.status.describe().startswith("NOT saved on the server (")
            with psycopg.connect(pg_db, autocommit=True) as admin:
                admin.execute('GRANT INSERT, UPDATE ON "digits".reviews TO rita')
            assert _wait(lambda: link.status.online and link.pending() == 0, timeout=20), link.status
            s.close()
    finally:
        link.close()
    rows = _server_rows(pg_db, "digits", "SELECT action FROM P.events WHERE reviewer = 'rita' ORDER BY seq")
    assert rows == [("+mislabeled",), ("+very hard",)]


def test_a_long_mixed_case_project_name_is_heard_too(pg_db, digits_project, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home"))
    name = "Team-" + "x" * 58  # 63 characters: "labeler_" + it would not fit a channel name
    url = f"{pg_db}?project={name}"
    store_pg.push(digits_project, url)
    alice, bob = TeamLink(url, "alice"), TeamLink(url, "bob")
    alice.open()
    bob.open()
    heard = []
    bob.on_remote = heard.extend
    bob.start()
    try:
        assert _wait(lambda: bob.status.online)
        done = _review(alice, 2)
        alice.flush()
        assert _wait(lambda: {e for e, _ in heard} == set(done)), heard
    finally:
        bob.close()
        alice.close()


def test_an_event_that_is_no_decision_is_logged_on_the_server_but_decides_nothing(team, pg_db):
    from labeler.core import annotations

    link = TeamLink(team, "alice")
    link.open()
    done = _review(link, 1)
    with Project.open(link.path) as p:
        annotations.set_label(p, done[0], "alice", p.classes[0])  # logs a "blind label" event
    assert link.flush() == 2
    actions = _server_rows(pg_db, "digits", "SELECT action FROM P.events WHERE reviewer = 'alice' ORDER BY seq")
    assert actions == [("+mislabeled",), ("blind label",)]
    tags = _server_rows(pg_db, "digits", "SELECT tags, reviewed FROM P.decisions WHERE example_id = %s", (done[0],))
    assert [(json.loads(t), r) for t, r in tags] == [(["mislabeled"], 1)]  # the decision as it was
    link.close()


def test_near_the_end_of_its_items_a_session_is_given_more(team, monkeypatch):
    from labeler.core import team_sync
    from labeler.core.team_review import TeamReviewSession

    monkeypatch.setattr(team_sync, "CLAIM_BATCH", 6)
    link = TeamLink(team, "alice")
    link.open()
    came: list[str] = []
    link.on_claimed = came.extend  # (the window hands them to the session on its own thread)
    link.start()
    try:
        with Project.open(link.path) as p:
            s = TeamReviewSession(p, QueueSpec(), link=link)
            first = list(s.items)
            assert len(first) == 6
            s.next()
            s.next()  # 3 ahead of the last: fewer than TOP_UP, more are asked for
            assert _wait(lambda: len(came) == 6)
            assert s.add_claimed(list(came)) == came and s.items == first + came
            assert not set(came) & set(first)
            s.close()
    finally:
        link.close()
