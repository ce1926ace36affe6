"""Shared queues on a real PostgreSQL server: eight reviewers claiming at once never get one item
twice, a claim passes over rows another is claiming instead of waiting, a lease that runs out (a
reviewer killed with SIGKILL) gives the items to the next reviewer, and a reviewer role can claim
but not post a queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import psycopg
import pytest

from conftest import ROOT
from labeler.core import store_pg
from labeler.core.claims import Progress, TeamQueues

IDS = [f"d{i:04d}" for i in range(240)]


@pytest.fixture
def team_url(digits_project, pg_db) -> str:
    url = f"{pg_db}?project=digits"
    store_pg.push(digits_project, url)
    with TeamQueues(url) as q:
        assert q.post("dev", IDS) == len(IDS)
    return url


def wait_for(condition, timeout: float = 10.0):
    """The first true value of ``condition()`` (a server-side lease running out), or fail."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail("timed out")


def test_post_keeps_order_and_adds_only_new_ids(team_url):
    with TeamQueues(team_url) as q:
        assert q.post("dev", IDS[:10] + ["extra1", "extra2"]) == 2
        assert q.claim("dev", "ana", 3) == IDS[:3]
        assert q.progress("dev") == Progress(len(IDS) + 2, 0, 3, len(IDS) - 1)
        assert q.claim("other queue", "ana", 3) == []


def test_eight_reviewers_at_once_never_get_the_same_item(team_url):
    got: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def reviewer(name: str) -> None:
        try:
            with TeamQueues(team_url) as q:
                mine = got.setdefault(name, [])
                start.wait()
                while batch := q.claim("dev", name, 5):
                    assert q.finish("dev", name, batch) == sorted(batch)
                    mine += batch
        except BaseException as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=reviewer, args=(f"r{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    claimed = [eid for ids in got.values() for eid in ids]
    assert len(claimed) == len(set(claimed)) == len(IDS)
    assert sorted(claimed) == IDS
    assert sum(1 for ids in got.values() if ids) >= 2  # they did run side by side
    with TeamQueues(team_url) as q:
        assert q.progress("dev") == Progress(len(IDS), len(IDS), 0, 0)
    with psycopg.connect(team_url.split("?")[0]) as pg:
        done_by = dict(pg.execute("SELECT example_id, done_by FROM digits.claims").fetchall())
    assert all(done_by[eid] == name for name, ids in got.items() for eid in ids)


def test_a_claim_passes_over_rows_being_claimed_instead_of_waiting(team_url):
    with psycopg.connect(team_url.split("?")[0]) as holder, TeamQueues(team_url) as q:
        # another reviewer's claim, in the middle of its transaction
        holder.execute("SELECT example_id FROM digits.claims WHERE queue = 'dev' ORDER BY position LIMIT 3 FOR UPDATE")
        q.conn.execute("SET lock_timeout = '2s'")  # without SKIP LOCKED this fails instead of hanging
        t0 = time.monotonic()
        assert q.claim("dev", "ben", 3) == IDS[3:6]
        assert time.monotonic() - t0 < 1.5
        holder.rollback()  # the other claim never happened: its rows are free again
        assert q.claim("dev", "ben", 3) == IDS[:3]


def test_a_lease_runs_out_and_the_items_go_to_the_next_reviewer(team_url):
    with TeamQueues(team_url) as ana, TeamQueues(team_url) as ben:
        held = ana.claim("dev", "ana", 3, lease=timedelta(milliseconds=300))
        assert held == IDS[:3]
        assert ben.claim("dev", "ben", 3) == IDS[3:6]  # ana's are not free yet
        assert ana.renew("dev", "ana", held[:1], lease=timedelta(minutes=5)) == held[:1]
        wait_for(lambda: ben.progress("dev").claimed == 1 + 3)  # ana's two others ran out
        taken = ben.claim("dev", "ben", 5)
        assert taken == held[1:] + IDS[6:9]  # the renewed one stays ana's
        assert ana.finish("dev", "ana", held) == held[:1]  # no longer ana's to finish
        assert ana.renew("dev", "ana", held) == []
        assert ben.finish("dev", "ben", taken) == sorted(taken)
        assert ben.release("dev", "ben") == IDS[3:6]
        assert ana.claim("dev", "ana", 3) == IDS[3:6]


CHILD = """
import sys, time
from datetime import timedelta
from labeler.core.claims import Progress, TeamQueues
q = TeamQueues(sys.argv[1])
print(" ".join(q.claim("dev", "killed", 4, lease=timedelta(seconds=1))), flush=True)
time.sleep(600)
"""


def test_a_reviewer_killed_with_sigkill_gives_its_items_back_when_the_lease_runs_out(team_url):
    child = subprocess.Popen([sys.executable, "-c", CHILD, team_url], stdout=subprocess.PIPE, text=True,
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        held = child.stdout.readline().split()
        assert held == IDS[:4]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    with TeamQueues(team_url) as q:
        assert q.claim("dev", "next", 4) == IDS[4:8]  # the killed one's are still held
        wait_for(lambda: q.progress("dev").claimed == 4)
        assert q.claim("dev", "next", 4) == IDS[:4]


def test_a_reviewer_role_posts_claims_renews_finishes_and_releases_but_cannot_change_examples(team_url):
    store_pg.grant_reviewer(team_url, "rev_dana")
    as_dana = team_url.replace("postgresql://postgres@", "postgresql://rev_dana@")
    with TeamQueues(as_dana) as q:
        assert q.post("mine", IDS[:6], overlap=2) == 6
        got = q.claim("mine", "rev_dana", 3)
        assert got == IDS[:3]
        assert q.renew("mine", "rev_dana", got, lease=timedelta(minutes=1)) == got
        assert q.held("mine", "rev_dana") == got
        assert q.finish("mine", "rev_dana", got[:2]) == got[:2]
        assert q.release("mine", "rev_dana") == got[2:]
        assert q.progress("mine") == Progress(12, 2, 0, 10)
        assert q.done_by("mine") == {"rev_dana": 2}
        assert q.claim("dev", "rev_dana", 2) == IDS[:2]
    with psycopg.connect(as_dana.split("?")[0], autocommit=True) as pg:
        for statement in ("DELETE FROM digits.claims",
                          "TRUNCATE digits.claims",
                          "ALTER TABLE digits.claims DROP COLUMN slot",
                          "UPDATE digits.columnar SET data = '\\x00'::bytea WHERE name = 'examples'",
                          "DELETE FROM digits.columnar WHERE name = 'examples'",
                          "INSERT INTO digits.columnar (name, chunk, data) VALUES ('examples', 99, '\\x00'::bytea)",
                          "UPDATE digits.meta SET value = 'x'"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                pg.execute(statement)
        assert pg.execute("SELECT count(*) FROM digits.claims").fetchone()[0] == len(IDS) + 12


# -- overlap: K reviewers per item -------------------------------------------------------------

def test_with_overlap_each_item_goes_to_k_different_reviewers(team_url):
    with TeamQueues(team_url) as q:
        assert q.post("k2", IDS[:5], overlap=2) == 5
        assert q.overlap("k2") == 2 and q.overlap("dev") == 1 and q.overlap("none") == 0
        assert q.progress("k2") == Progress(10, 0, 0, 10)
        ana = q.claim("k2", "ana", 3)
        assert ana == IDS[:3]  # distinct items, not two slots of one
        assert q.claim("k2", "ana", 3) == IDS[3:5]  # never an item she holds in another slot
        assert q.claim("k2", "ana", 3) == []
        assert q.claim("k2", "ben", 10) == IDS[:5]  # the second slots
        assert q.claim("k2", "cy", 10) == []  # every slot is held
        assert q.progress("k2") == Progress(10, 0, 10, 0)
        assert q.finish("k2", "ana", IDS[:5]) == IDS[:5]
        assert q.release("k2", "ben", IDS[1:2]) == IDS[1:2]
        assert q.claim("k2", "ana", 3) == []  # done in one slot: the other is not for her
        assert q.claim("k2", "cy", 3) == IDS[1:2]
        assert q.held("k2", "cy") == IDS[1:2]
        assert q.held("k2", "ben") == [IDS[0]] + IDS[2:5]
        assert q.progress("k2") == Progress(10, 5, 5, 0)
        assert q.done_by("k2") == {"ana": 5}
        assert q.finish("k2", "ben", IDS[:5]) == [IDS[0]] + IDS[2:5]
        assert q.done_by("k2") == {"ana": 5, "ben": 4}
    with psycopg.connect(team_url.split("?")[0]) as pg:
        rows = pg.execute("SELECT example_id, slot, done_by FROM digits.claims WHERE queue = 'k2'"
                          " AND done_at IS NOT NULL ORDER BY example_id, slot").fetchall()
    assert [(e, who) for e, _, who in rows] == [(e, who) for e in IDS[:5] for who in ("ana", "ben") if (e, who) != (IDS[1], "ben")]


def test_a_reviewer_whose_lease_ran_out_takes_the_same_slot_back_not_a_second_one(team_url):
    with TeamQueues(team_url) as q:
        q.post("k3", IDS[:2], overlap=3)
        assert q.claim("k3", "ana", 1, lease=timedelta(milliseconds=200)) == IDS[:1]
        wait_for(lambda: q.progress("k3").claimed == 0)
        assert q.held("k3", "ana") == []
        assert q.claim("k3", "ana", 5) == IDS[:2]
        assert q.progress("k3") == Progress(6, 0, 2, 4)
        assert q.finish("k3", "ana", IDS[:2]) == IDS[:2]
        assert q.done_by("k3") == {"ana": 2}


def test_held_is_in_queue_order_and_leaves_out_what_ran_out_or_is_done(team_url):
    with TeamQueues(team_url) as q:
        assert q.held("dev", "ana") == []
        a = q.claim("dev", "ana", 2, lease=timedelta(milliseconds=200))
        b = q.claim("dev", "ana", 4)
        q.finish("dev", "ana", b[:1])
        wait_for(lambda: q.progress("dev").claimed == 3)
        assert a == IDS[:2] and q.held("dev", "ana") == IDS[3:6]
        assert q.held("other", "ana") == []


def test_two_reviewers_claiming_one_item_at_once_get_different_slots_without_waiting(team_url):
    with TeamQueues(team_url) as q:
        q.post("k2", IDS[:4], overlap=2)
    with psycopg.connect(team_url.split("?")[0]) as holder, TeamQueues(team_url) as q:
        # ana's claim in the middle of its transaction: the first slot of every item
        holder.execute("UPDATE digits.claims SET reviewer = 'ana', lease_until = now() + interval '1 hour'"
                       " WHERE queue = 'k2' AND slot = 0")
        q.conn.execute("SET lock_timeout = '2s'")  # a claim that waited would fail here instead
        assert q.claim("k2", "ben", 4) == IDS[:4]
        holder.commit()
        assert q.claim("k2", "ana", 4) == []
    with psycopg.connect(team_url.split("?")[0]) as pg:
        assert pg.execute("SELECT reviewer, count(*) FROM digits.claims WHERE queue = 'k2' GROUP BY reviewer"
                          " ORDER BY reviewer").fetchall() == [("ana", 4), ("ben", 4)]


def test_a_queue_keeps_its_overlap_posting_another_is_refused_and_adds_nothing(team_url):
    with TeamQueues(team_url) as q:
        with pytest.raises(store_pg.TeamStoreError, match=r"queue 'dev' of .* gives each item to 1 reviewer"
                                                           r".*cannot take items with overlap 2"):
            q.post("dev", ["new1", "new2"], overlap=2)
        assert q.progress("dev").total == len(IDS)
        assert q.post("k2", IDS[:3], overlap=2) == 3
        assert q.post("k2", IDS[:5], overlap=2) == 2  # the same overlap: new items join the end
        assert q.progress("k2").total == 10
        assert q.claim("k2", "ana", 5) == IDS[:5]
        with pytest.raises(store_pg.TeamStoreError, match="gives each item to 2 reviewer"):
            q.post("k2", ["x"])
        for bad in (0, -1, 1.5, "2", True, None):
            with pytest.raises(ValueError, match="overlap must be a whole number"):
                q.post("k2", ["x"], overlap=bad)
        assert q.progress("k2").total == 10
        assert q.post("empty", [], overlap=3) == 0 and q.overlap("empty") == 0


# -- a claims table made before overlap (key (queue, example_id), no slot) ----------------------

OLD_CLAIMS = """CREATE TABLE digits.claims (queue text NOT NULL, example_id text NOT NULL, position bigint NOT NULL,
    reviewer text, claimed_at timestamptz, lease_until timestamptz, done_at timestamptz, done_by text,
    PRIMARY KEY (queue, example_id));
    CREATE INDEX ON digits.claims (queue, position) WHERE done_at IS NULL"""


def make_old_claims(url: str) -> list[tuple]:
    """The project's claims table as a labeler before overlap made it, with a queue in progress."""
    with psycopg.connect(url.split("?")[0]) as pg:
        pg.execute("DROP TABLE digits.claims")
        pg.execute(OLD_CLAIMS)
        pg.execute("INSERT INTO digits.claims (queue, example_id, position) SELECT 'dev', id, n"
                   " FROM unnest(%s::text[]) WITH ORDINALITY AS u(id, n)", (IDS[:6],))
        pg.execute("UPDATE digits.claims SET reviewer = 'ana', claimed_at = now(), lease_until = now() + interval '1 hour'"
                   " WHERE example_id = ANY(%s)", (IDS[:2],))
        pg.execute("UPDATE digits.claims SET done_at = now(), done_by = 'ana', lease_until = NULL"
                   " WHERE example_id = %s", (IDS[0],))
        return pg.execute("SELECT * FROM digits.claims ORDER BY example_id").fetchall()


def test_an_old_claims_table_is_upgraded_when_its_owner_opens_the_queues(team_url):
    before = make_old_claims(team_url)
    store_pg.grant_reviewer(team_url, "rev_olga")
    as_olga = team_url.replace("postgresql://postgres@", "postgresql://rev_olga@")
    with pytest.raises(store_pg.TeamStoreError, match=r"^the shared queues of postgresql://rev_olga@.*project=digits"
                                                      r" were made by an older labeler .*pushing the project again"):
        TeamQueues(as_olga)
    with TeamQueues(team_url) as q:
        assert q.overlap("dev") == 1
        assert q.held("dev", "ana") == IDS[1:2]
        assert q.progress("dev") == Progress(6, 1, 1, 4)
        with pytest.raises(store_pg.TeamStoreError, match="gives each item to 1 reviewer"):
            q.post("dev", ["x"], overlap=2)
        assert q.post("k2", IDS[:2], overlap=2) == 2
        assert q.claim("dev", "ben", 10) == IDS[2:6]
    with psycopg.connect(team_url.split("?")[0]) as pg:
        cols = [c.name for c in pg.execute("SELECT * FROM digits.claims LIMIT 0").description]
        kept = pg.execute(f"SELECT {', '.join(c for c in cols if c != 'slot')} FROM digits.claims"
                          " WHERE queue = 'dev' AND example_id = ANY(%s) ORDER BY example_id", (IDS[:2],)).fetchall()
        assert pg.execute("SELECT DISTINCT slot FROM digits.claims WHERE queue = 'dev'").fetchall() == [(0,)]
    assert kept == before[:2]
    with TeamQueues(as_olga) as q:  # upgraded: the reviewer works on it
        assert q.claim("k2", "rev_olga", 5) == IDS[:2]


def test_an_old_claims_table_is_upgraded_by_a_push(team_url, digits_project):
    before = make_old_claims(team_url)
    store_pg.push(digits_project, team_url)
    with psycopg.connect(team_url.split("?")[0]) as pg:
        key = pg.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                         " WHERE conrelid = 'digits.claims'::regclass AND contype = 'p'").fetchone()[0]
        assert key == "PRIMARY KEY (queue, example_id, slot)"
        assert pg.execute("SELECT queue, example_id, position, reviewer, claimed_at, lease_until, done_at, done_by"
                          " FROM digits.claims ORDER BY example_id").fetchall() == before
    with TeamQueues(team_url) as q:
        assert q.post("dev", IDS[:8]) == 2
        assert q.claim("dev", "ana", 10) == IDS[2:8]


def test_an_empty_post_fixes_no_overlap_and_bad_counts_are_refused(team_url):
    with TeamQueues(team_url) as a, TeamQueues(team_url) as b:
        assert a.post("late", [], overlap=3) == 0
        assert b.post("late", IDS[:3], overlap=2) == 3  # the queue had no items: no overlap yet
        assert a.overlap("late") == 2
        assert a.claim("late", "ana", 5) == IDS[:3]
        with pytest.raises(store_pg.TeamStoreError, match="gives each item to 2 reviewer"):
            a.post("late", IDS[3:4], overlap=3)
        for bad in (-1, 1.5, "2", True, None):
            with pytest.raises(ValueError, match="a claim takes a whole number of items"):
                a.claim("late", "ben", bad)
        assert a.claim("late", "ben", 0) == []
        assert a.progress("late") == Progress(6, 0, 3, 3)
