"""Shared queues under eight reviewer PROCESSES at once on a real PostgreSQL server (each its own
interpreter and connection, tests/claims_reviewer.py): with overlap 1 every item is done exactly
once; with overlap 2 and 3 exactly K times, by K different reviewers; no reviewer is ever given one
item twice. A reviewer killed with SIGKILL while holding items gives them back when its (1 s) lease
runs out, and the others do them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

import psycopg
import pytest

from conftest import ROOT
from labeler.core import store_pg
from labeler.core.claims import Progress, TeamQueues

ITEMS = [f"x{i:04d}" for i in range(300)]
REVIEWERS = [f"r{i}" for i in range(8)]
SCRIPT = ROOT / "tests" / "claims_reviewer.py"


@pytest.fixture
def project_url(digits_project, pg_db) -> str:
    url = f"{pg_db}?project=digits"
    store_pg.push(digits_project, url)
    return url


def start(url: str, queue: str, name: str, *, batch: int = 4, lease: float = 600, stall_after: int | None = None):
    args = [sys.executable, str(SCRIPT), url, queue, name, str(batch), str(lease)]
    if stall_after is not None:
        args.append(str(stall_after))
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def lines(text: str, kind: str) -> list[list[str]]:
    return [line.split()[1:] for line in text.splitlines() if line.split()[:1] == [kind]]


def run_team(url: str, queue: str, *, victim: str | None = None) -> tuple[dict[str, list[str]], dict[str, list[str]], list[str]]:
    """Eight reviewers work ``queue`` to the end at once (``victim``, if named, is SIGKILLed while
    holding a batch). Returns each reviewer's claimed and finished items (in order) and what the
    victim held when it was killed."""
    procs = {name: start(url, queue, name, lease=1 if name == victim else 600,
                         stall_after=2 if name == victim else None) for name in REVIEWERS}
    held: list[str] = []
    outputs: dict[str, str] = {}
    try:
        for p in procs.values():  # all started and connected before any claims
            assert p.stdout.readline() == "ready\n"

        def go(name: str) -> None:
            procs[name].stdin.write("go\n")
            procs[name].stdin.flush()

        if victim:
            # the victim alone until it holds its batch: started together, the others could finish
            # the queue before a starved victim got to its stall (it then ended cleanly: seen in CI)
            go(victim)
            p = procs[victim]
            out = []
            for line in p.stdout:
                out.append(line)
                if line.startswith("holding"):
                    held = line.split()[1:]
                    break
            p.send_signal(signal.SIGKILL)
            p.wait(10)
            assert held, "".join(out)
            assert p.returncode == -signal.SIGKILL
            outputs[victim] = "".join(out)
        for name in procs:
            if name != victim:
                go(name)
        for name, p in procs.items():
            if name != victim:
                out, _ = p.communicate(timeout=60)
                assert p.returncode == 0, (name, out[-500:])
                outputs[name] = out
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)
    claimed = {name: [i for batch in lines(outputs[name], "claimed") for i in batch] for name in REVIEWERS}
    finished = {name: [i for batch in lines(outputs[name], "finished") for i in batch] for name in REVIEWERS}
    return claimed, finished, held


def server_done(url: str, queue: str) -> dict[str, list[str]]:
    """item -> the reviewers who did its slots, read from the server's table."""
    with psycopg.connect(url.split("?")[0]) as pg:
        rows = pg.execute("SELECT example_id, done_by FROM digits.claims WHERE queue = %s AND done_at IS NOT NULL",
                          (queue,)).fetchall()
    out: dict[str, list[str]] = {}
    for eid, who in rows:
        out.setdefault(eid, []).append(who)
    return out


def check_all_done(url: str, queue: str, k: int, claimed, finished) -> None:
    for name in REVIEWERS:
        assert len(claimed[name]) == len(set(claimed[name])), f"{name} was given an item twice"
        assert len(finished[name]) == len(set(finished[name]))
    done = server_done(url, queue)
    assert sorted(done) == ITEMS
    for eid, who in done.items():
        assert len(who) == k and len(set(who)) == k, (eid, who)
    # what the reviewers saw finishing is what the server holds
    by_reviewer = Counter(who for whos in done.values() for who in whos)
    assert {n: c for n, c in by_reviewer.items()} == {n: len(f) for n, f in finished.items() if f}
    assert all(sorted(done[eid]).count(name) == 1 for name, ids in finished.items() for eid in ids)
    assert sum(1 for f in finished.values() if f) >= max(k, 2)  # they did run side by side
    with TeamQueues(url) as q:
        assert q.progress(queue) == Progress(k * len(ITEMS), k * len(ITEMS), 0, 0)
        assert q.done_by(queue) == dict(by_reviewer)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_eight_reviewer_processes_do_each_item_k_times_by_k_reviewers(project_url, k):
    with TeamQueues(project_url) as q:
        assert q.post("team", ITEMS, overlap=k) == len(ITEMS)
        assert q.progress("team") == Progress(k * len(ITEMS), 0, 0, k * len(ITEMS))
    claimed, finished, _ = run_team(project_url, "team")
    assert claimed == finished  # nothing lost on the way: every lease was long
    check_all_done(project_url, "team", k, claimed, finished)


@pytest.mark.parametrize("k", [1, 2])
def test_a_reviewer_process_killed_holding_items_gives_them_to_the_others(project_url, k):
    with TeamQueues(project_url) as q:
        q.post("team", ITEMS, overlap=k)
    claimed, finished, held = run_team(project_url, "team", victim="r3")
    assert held, "the victim held nothing when it was killed"
    assert finished["r3"] == claimed["r3"]  # it finished two batches, then held one and died
    assert not set(held) & set(finished["r3"])
    check_all_done(project_url, "team", k, claimed, finished)
    done = server_done(project_url, "team")
    assert all("r3" not in done[eid] for eid in held)  # its held items went to the others
