"""The team store's speed targets (issue #18) on a localhost PostgreSQL, each next to its baseline
measured in the same run:

- import: ``labeler import predictions.csv --project URL`` end to end (a working copy, the import,
  the push), against ``labeler import predictions.csv --project local.labeler.db``; target <= 3x;
  then where the server import's time goes (pull attempt, import into the copy, push);
- open to the first item: what ``labeler review --project URL`` does before the window can show the
  first queue item (pull into a working copy, ``Project.open``, the review queue of a
  ``ReviewSession``, its first example), headless, against the same on the local file; target <= 3 s;
- a decision commit on the server (one transaction: the decision and its event): p50 and p99;
  target p99 <= 5 ms;
- eight reviewer processes at once, each claiming items of one shared queue one by one and writing a
  decision for each (the decision and its event in one transaction, then the claim marked done):
  throughput, claim and commit p99, and a check that no item went to two reviewers and none was
  missed.

    python bench/team_bench.py [--rows 1000000] [--runs 3] [--url postgresql://user@host/db]

Without --url it starts its own server from the machine's PostgreSQL binaries (tests/pg.py) with
the tests' settings (fsync and synchronous_commit off), so the figures are of labeler's work, not of
the disk. It prints figures (medians of --runs); it never fails on speed.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

import psycopg  # noqa: E402
from _data import write_predictions_csv  # noqa: E402

from labeler.core import store_pg  # noqa: E402
from labeler.core.claims import TeamQueues  # noqa: E402
from labeler.core.store import Project  # noqa: E402
from labeler.core.team_sync import TeamLink  # noqa: E402

SCHEMA = "bench_team"
QUEUE = "bench"
DECIDE = ("INSERT INTO {s}.decisions (example_id, reviewed, reviewer, decided_at)"
          " VALUES (%s, 1, %s, now()::text) ON CONFLICT (example_id) DO UPDATE"
          " SET reviewed = 1, reviewer = excluded.reviewer, decided_at = excluded.decided_at")
EVENT = "INSERT INTO {s}.events (at, example_id, action, reviewer) VALUES (now()::text, %s, 'decide', %s)"
# as the team window's journal sends decisions (labeler.core.team_sync): committed durably whatever
# the server's own setting (the bench's server runs with synchronous_commit off, and fsync off)
DURABLE = "SET LOCAL synchronous_commit = on"


def p99(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.99 * (len(values) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def drop_schema(base: str) -> None:
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def cli_import(csv: Path, project: str) -> float:
    """Seconds of ``labeler import CSV --project PROJECT`` in a new process."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "labeler", "import", str(csv), "--project", project],
                       capture_output=True, text=True)
    took = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"labeler import --project {store_pg.redact(project)} failed:\n{r.stdout}{r.stderr}")
    return took


def import_phases(csv: Path, url: str) -> dict[str, float]:
    """Where the server import's time goes: the working copy's pull attempt (no project yet), the
    import into the copy, the push (timed inside the same block the CLI uses)."""
    from labeler.core.importer import import_predictions
    from labeler.core.workcopy import working_copy

    phases: dict[str, float] = {}
    t = time.perf_counter()
    block = working_copy(url, create=True)
    path = block.__enter__()
    phases["working copy"] = time.perf_counter() - t
    try:
        t = time.perf_counter()
        import_predictions(csv, path)
        phases["import into the copy"] = time.perf_counter() - t
        t = time.perf_counter()
    except BaseException:
        block.__exit__(*sys.exc_info())
        raise
    block.__exit__(None, None, None)
    phases["push"] = time.perf_counter() - t
    return phases


PUSH_MEMORY = """
import sys
from labeler.core import store_pg

def peak_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))

before = peak_mb()
store_pg.push(sys.argv[1], sys.argv[2])
print(before, peak_mb())
"""


def push_memory(local: Path, url: str) -> tuple[float, float]:
    """The peak memory (MB) of a process before and after it pushes ``local`` (a push streams: it
    should grow by a chunk or so, not by the project's size)."""
    r = subprocess.run([sys.executable, "-c", PUSH_MEMORY, str(local), url], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"push failed:\n{r.stderr}")
    before, after = map(float, r.stdout.split())
    return before, after


def open_first_item(path: Path | None, url: str | None = None, *, link=None) -> tuple[float, dict[str, float]]:
    """Seconds to the first item of the review queue, and the phases: of the file ``path``; pulled
    from ``url`` into ``path`` first when given; or, with ``link`` (a TeamLink), what ``labeler
    review --project URL --reviewer NAME`` does before the window shows it: TeamLink.open (send the
    journal, pull the copy), Project.open, the team session (its queue posted to the server's
    shared queue, this reviewer's claims), the first example."""
    from labeler.core.queue import QueueSpec
    from labeler.core.session import ReviewSession
    from labeler.core.team_review import TeamReviewSession

    phases: dict[str, float] = {}
    start = t = time.perf_counter()
    if link is not None:
        path = link.open()
    elif url is not None:
        store_pg.pull(url, path)
    if link is not None or url is not None:
        phases["pull"] = time.perf_counter() - t
        t = time.perf_counter()
    project = Project.open(path)
    phases["open"] = time.perf_counter() - t
    t = time.perf_counter()
    try:
        session = (TeamReviewSession(project, QueueSpec(), link=link) if link is not None
                   else ReviewSession(project, QueueSpec(), reviewer="bench"))
        phases["queue and claims" if link is not None else "queue"] = time.perf_counter() - t
        t = time.perf_counter()
        first = session.example()
        phases["first example"] = time.perf_counter() - t
        took = time.perf_counter() - start
        if first is None:
            raise SystemExit(f"{path}: the review queue is empty")
        session.close()
    finally:
        project.close()
        if link is not None:
            link.close()
    return took, phases


def decision_commits(base: str, ids: list[str], *, pipelined: bool = False) -> list[float]:
    """Seconds of each decision's transaction, one after another. ``pipelined``: its statements
    sent at once (psycopg's pipeline mode), one wait for the server instead of one per statement."""
    times = []
    with psycopg.connect(base) as conn:
        for eid in ids:
            t = time.perf_counter()
            with conn.pipeline() if pipelined else contextlib.nullcontext(), conn.transaction():
                conn.execute(DURABLE)
                conn.execute(DECIDE.format(s=SCHEMA), (eid, "bench"))
                conn.execute(EVENT.format(s=SCHEMA), (eid, "bench"))
            times.append(time.perf_counter() - t)
    return times


def journal_commits(url: str, ids: list[str], home: Path) -> tuple[list[float], list[float]]:
    """labeler's own path for one decision in a team review (labeler.core.team_sync): committed to
    the reviewer's local journal (what "saved" waits for), then sent to the server as the window's
    sync thread sends it (TeamLink.flush: one pipelined server transaction with the event, the
    decision, the reviewer's review, the claims done and the NOTIFY). Seconds of each, one decision
    at a time."""
    from labeler.core.store import Decision

    link = TeamLink(url, "bench-journal", home=home)
    link.open()
    local, sent = [], []
    with Project.open(link.path) as p:
        for eid in ids:
            t = time.perf_counter()
            p.write_decision(eid, Decision(), Decision(tags=frozenset({"mislabeled"}), reviewed=True), "+mislabeled",
                             reviewer=link.reviewer)
            local.append(time.perf_counter() - t)
            t = time.perf_counter()
            link.flush()
            sent.append(time.perf_counter() - t)
    link.close()
    return local, sent


def reviewer_process(url: str, base: str, name: str, quota: int, barrier, out) -> None:
    """One reviewer: claim the next item, write its decision, mark it done, ``quota`` times (or
    until the queue is empty)."""
    claims, commits, got = [], [], []
    with TeamQueues(url) as q, psycopg.connect(base) as conn:
        barrier.wait()
        start = time.time()
        while len(got) < quota:
            t = time.perf_counter()
            batch = q.claim(QUEUE, name, 1)
            claims.append(time.perf_counter() - t)
            if not batch:
                break
            t = time.perf_counter()
            with conn.transaction():
                conn.execute(DURABLE)
                for eid in batch:
                    conn.execute(DECIDE.format(s=SCHEMA), (eid, name))
                    conn.execute(EVENT.format(s=SCHEMA), (eid, name))
            commits.append(time.perf_counter() - t)
            q.finish(QUEUE, name, batch)
            got += batch
        out.put((name, start, time.time(), claims, commits, got))


def in_processes(target, arguments: list[tuple], *, timeout: float) -> list[tuple]:
    """``target(*args, barrier, out)`` in a fresh process for each ``args`` (spawned: each with its
    own connections), started together at the barrier; what each put on ``out``."""
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(len(arguments)), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, out)) for args in arguments]
    for p in procs:
        p.start()
    results = [out.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"a reviewer process failed (exit code {p.exitcode})")
    return results


def team_reviewer_process(url: str, name: str, quota: int, home: str, barrier, out) -> None:
    """One reviewer as the team review window works (labeler.core.team_review): the session claims
    its share of the shared dev-errors queue, each decision (M, then Space) is committed to the
    journal and sent to the server (what the window's sync thread does), more items are claimed
    near the end of the share; ``quota`` decisions or until the queue is empty."""
    from labeler.core.queue import QueueSpec
    from labeler.core.team_review import TeamReviewSession

    link = TeamLink(url, name, home=Path(home))
    link.open()
    claimed: list[str] = []
    link.on_claimed = claimed.extend
    journal, sends, got = [], [], []
    with Project.open(link.path) as p:
        s = TeamReviewSession(p, QueueSpec(), link=link)
        barrier.wait()
        start = time.time()
        while len(got) < quota:
            if s.current_id is None or s.decision(s.current_id).reviewed:
                link._claim_more()  # (the window does this on its sync thread, ahead of need)
                s.add_claimed(claimed)
                claimed.clear()
                if s.current_id is None or s.decision(s.current_id).reviewed:
                    s.next_unreviewed()
                if s.current_id is None or s.decision(s.current_id).reviewed:
                    break  # the queue is empty
            eid = s.current_id
            t = time.perf_counter()
            s.toggle_tag("mislabeled")
            journal.append(time.perf_counter() - t)
            t = time.perf_counter()
            link.flush()
            sends.append(time.perf_counter() - t)
            got.append(eid)
            s.next()
        end = time.time()
        s.close()
    link.close()
    out.put((name, start, end, journal, sends, got))


def team_reviewers_at_once(url: str, base: str, n: int, quota: int, home: Path) -> dict:
    """``n`` reviewer processes, each a team review session (see :func:`team_reviewer_process`)."""
    results = in_processes(team_reviewer_process, [(url, f"t{k}", quota, str(home)) for k in range(n)], timeout=900)
    decided = [e for r in results for e in r[5]]
    with psycopg.connect(base) as conn:
        twice_on_server = conn.execute(
            f"SELECT count(*) FROM (SELECT example_id FROM {SCHEMA}.events WHERE reviewer LIKE 't%%'"
            " GROUP BY example_id HAVING count(*) > 1) x").fetchone()[0]
        on_server = conn.execute(f"SELECT count(*) FROM {SCHEMA}.events WHERE reviewer LIKE 't%%'").fetchone()[0]
    wall = max(r[2] for r in results) - min(r[1] for r in results)
    return {
        "decisions": len(decided), "wall": wall, "per_s": len(decided) / wall,
        "journal_p99": p99([x for r in results for x in r[3]]),
        "send_p50": median([x for r in results for x in r[4]]),
        "send_p99": p99([x for r in results for x in r[4]]),
        "twice": len(decided) - len(set(decided)) + twice_on_server,
        "lost": len(decided) - on_server,
        "per_reviewer": sorted(len(r[5]) for r in results),
    }


def reviewers_at_once(url: str, base: str, ids: list[str], n: int) -> dict:
    """``n`` reviewer processes share the queue ``ids`` (``len(ids) / n`` decisions each)."""
    with TeamQueues(url) as q:
        q.post(QUEUE, ids)
    results = in_processes(reviewer_process, [(url, base, f"r{k}", len(ids) // n) for k in range(n)], timeout=600)
    claimed = [e for r in results for e in r[5]]
    with psycopg.connect(base) as conn:
        # the server's own record: decisions and events per item, claims done
        twice_on_server = conn.execute(
            f"SELECT count(*) FROM (SELECT example_id FROM {SCHEMA}.events WHERE reviewer LIKE 'r%%'"
            " GROUP BY example_id HAVING count(*) > 1) x").fetchone()[0]
        done = conn.execute(f"SELECT count(*) FROM {SCHEMA}.claims WHERE queue = %s AND done_at IS NOT NULL",
                            (QUEUE,)).fetchone()[0]
    wall = max(r[2] for r in results) - min(r[1] for r in results)
    return {
        "items": len(ids), "wall": wall, "per_s": len(ids) / wall,
        "claim_p99": p99([c for r in results for c in r[3]]),
        "commit_p50": median([c for r in results for c in r[4]]),
        "commit_p99": p99([c for r in results for c in r[4]]),
        "twice": len(claimed) - len(set(claimed)) + twice_on_server,
        "missed": len(set(ids) - set(claimed)) + (len(ids) - done),
        "per_reviewer": sorted(len(r[5]) for r in results),
    }


def phases_text(phases: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in phases.items())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3, help="runs of the import and the open (medians are quoted)")
    ap.add_argument("--url", help=f"a database to use (a schema {SCHEMA!r} is made in it, and dropped first)")
    ap.add_argument("--decisions", type=int, default=1000)
    ap.add_argument("--reviewers", type=int, default=8)
    ap.add_argument("--per-reviewer", type=int, default=500)
    args = ap.parse_args()

    import pg

    server = contextlib.ExitStack()
    base = server.enter_context(pg.database(args.url))
    url = f"{base}?project={SCHEMA}"
    tmp = Path(tempfile.mkdtemp(prefix="labeler-team-bench-"))
    try:
        csv = write_predictions_csv(tmp, args.rows)
        print(f"{args.rows:,} rows, {args.runs} runs; medians (every run in brackets)", flush=True)

        local_s, server_s = [], []
        for i in range(args.runs):
            local_s.append(cli_import(csv, str(tmp / f"local{i}.labeler.db")))
            drop_schema(base)
            server_s.append(cli_import(csv, url))
        ratios = [s / loc for s, loc in zip(server_s, local_s)]
        print(f"import, SQLite file        {median(local_s):6.2f} s  {[round(x, 2) for x in local_s]}")
        print(f"import, PostgreSQL         {median(server_s):6.2f} s  {[round(x, 2) for x in server_s]}"
              f"  = {median(ratios):.2f}x the file (target <= 3x: {'met' if median(ratios) <= 3 else 'NOT met'})")
        drop_schema(base)
        print(f"  where it goes (in one process): {phases_text(import_phases(csv, url))} s", flush=True)
        drop_schema(base)
        before, after = push_memory(tmp / "local0.labeler.db", url)
        print(f"  push's peak memory: {after:.0f} MB ({after - before:+.0f} MB over the process before it;"
              f" the project file is {(tmp / 'local0.labeler.db').stat().st_size / 2**20:.0f} MB)", flush=True)

        open_first_item(tmp / "local0.labeler.db")  # warm up: imports, the OS's cache of the file
        local_o, server_o, server_phases, local_phases = [], [], [], []
        for i in range(args.runs):
            took, ph = open_first_item(tmp / "local0.labeler.db")
            local_o.append(took)
            local_phases.append(ph)
            took, ph = open_first_item(tmp / f"pulled{i}.labeler.db", url)
            server_o.append(took)
            server_phases.append(ph)
        print(f"first item, SQLite file    {median(local_o):6.2f} s  {[round(x, 2) for x in local_o]}"
              f"  ({phases_text({k: median([p[k] for p in local_phases]) for k in local_phases[0]})})")
        print(f"first item, PostgreSQL     {median(server_o):6.2f} s  {[round(x, 2) for x in server_o]}"
              f"  ({phases_text({k: median([p[k] for p in server_phases]) for k in server_phases[0]})})"
              f" (target <= 3 s: {'met' if median(server_o) <= 3 else 'NOT met'})", flush=True)

        for who in ("first", "second"):
            took, ph = open_first_item(None, link=TeamLink(url, f"opener-{who}", home=tmp / "team-open"))
            print(f"first item, team review ({who} reviewer{': posts the shared queue' if who == 'first' else ''})"
                  f" {took:6.2f} s  ({phases_text(ph)}) (target <= 3 s: {'met' if took <= 3 else 'NOT met'})", flush=True)

        with Project.open(tmp / "local0.labeler.db", readonly=True) as p:
            ids = p.examples_table().column("id").to_pylist()
        times = decision_commits(base, ids[:args.decisions])
        print(f"decision commit            p50 {1000 * median(times):.2f} ms, p99 {1000 * p99(times):.2f} ms"
              f" ({len(times)} in a row; target p99 <= 5 ms: {'met' if p99(times) <= 0.005 else 'NOT met'})", flush=True)
        times = decision_commits(base, ids[args.decisions:2 * args.decisions], pipelined=True)
        print(f"  the same, pipelined        p50 {1000 * median(times):.2f} ms, p99 {1000 * p99(times):.2f} ms"
              " (one wait for the server instead of one per statement)", flush=True)

        local, sent = journal_commits(url, ids[2 * args.decisions:3 * args.decisions], tmp / "team-home")
        print(f"  labeler's team review: journal commit p50 {1000 * median(local):.2f} ms, p99 {1000 * p99(local):.2f} ms;"
              f" sent to the server p50 {1000 * median(sent):.2f} ms, p99 {1000 * p99(sent):.2f} ms"
              f" (target p99 <= 5 ms: {'met' if p99(sent) <= 0.005 else 'NOT met'})", flush=True)

        total = args.reviewers * args.per_reviewer
        r = reviewers_at_once(url, base, ids[3 * args.decisions:3 * args.decisions + total], args.reviewers)
        print(f"{args.reviewers} reviewer processes, {r['items']} items: {r['per_s']:.0f} decisions/s"
              f" ({r['wall']:.2f} s), claim p99 {1000 * r['claim_p99']:.2f} ms, commit p50"
              f" {1000 * r['commit_p50']:.2f} ms, p99 {1000 * r['commit_p99']:.2f} ms;"
              f" items per reviewer {r['per_reviewer'][0]}-{r['per_reviewer'][-1]};"
              f" reviewed twice: {r['twice']}, missed: {r['missed']}"
              f" ({'met' if r['twice'] == 0 and r['missed'] == 0 else 'NOT met'})")
        r = team_reviewers_at_once(url, base, args.reviewers, args.per_reviewer, tmp / "team-homes")
        print(f"{args.reviewers} team review sessions (processes; labeler's journal and claims), {r['decisions']}"
              f" decisions: {r['per_s']:.0f} decisions/s ({r['wall']:.2f} s), journal commit p99"
              f" {1000 * r['journal_p99']:.2f} ms, send p50 {1000 * r['send_p50']:.2f} ms, p99 {1000 * r['send_p99']:.2f} ms;"
              f" decisions per reviewer {r['per_reviewer'][0]}-{r['per_reviewer'][-1]}; reviewed twice: {r['twice']},"
              f" not on the server: {r['lost']} ({'met' if r['twice'] == 0 and r['lost'] == 0 else 'NOT met'})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        server.close()


if __name__ == "__main__":
    main()
