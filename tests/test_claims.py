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


def test_a_reviewer_role_claims_but_cannot_post_or_take_over_done_items(team_url):
    store_pg.grant_reviewer(team_url, "rev_dana")
    as_dana = team_url.replace("postgresql://postgres@", "postgresql://rev_dana@")
    with TeamQueues(as_dana) as q:
        got = q.claim("dev", "rev_dana", 2)
        assert got == IDS[:2]
        assert q.finish("dev", "rev_dana", got) == got
        with pytest.raises(store_pg.TeamStoreError, match="permission denied"):
            q.post("dev", ["new"])
    with psycopg.connect(as_dana.split("?")[0], autocommit=True) as pg:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            pg.execute("DELETE FROM digits.claims")
