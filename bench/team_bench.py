"""The team store's speed on a localhost PostgreSQL: push and pull of a 1,000,000-row project next to
the SQLite import of the same file, a decision written on the server (one transaction: the decision
and its event) with its p50/p99, and eight reviewers claiming and finishing items of one shared
queue at once (throughput, p99 of a claim, and a check that no item went to two of them).

    python bench/team_bench.py [--rows 1000000] [--url postgresql://user@host/db]

Without --url it starts its own server from the machine's PostgreSQL binaries (tests/pg.py) with
the tests' settings (fsync off), so the figures are of labeler's work, not of the disk. It prints
figures; it never fails on speed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
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
from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.store import Project  # noqa: E402


def p99(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.99 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--url", help="a database to use (a schema 'bench_team' is made in it)")
    ap.add_argument("--decisions", type=int, default=1000)
    ap.add_argument("--reviewers", type=int, default=8)
    ap.add_argument("--per-reviewer", type=int, default=500)
    args = ap.parse_args()

    server = None
    if args.url is None:
        import pg

        server = pg.start_server()
        args.url = server.url()
    base = args.url.split("?")[0]
    url = f"{base}?project=bench_team"
    tmp = Path(tempfile.mkdtemp(prefix="labeler-team-bench-"))
    try:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute('DROP SCHEMA IF EXISTS "bench_team" CASCADE')
        csv = write_predictions_csv(tmp, args.rows)
        t = time.perf_counter()
        import_predictions(csv, tmp / "p.labeler.db")
        t_import = time.perf_counter() - t
        t = time.perf_counter()
        store_pg.push(tmp / "p.labeler.db", url)
        t_push = time.perf_counter() - t
        t = time.perf_counter()
        store_pg.pull(url, tmp / "pulled.labeler.db")
        t_pull = time.perf_counter() - t
        t = time.perf_counter()
        with Project.open(tmp / "pulled.labeler.db", readonly=True) as p:
            n = p.example_count()
        t_open = time.perf_counter() - t
        print(f"rows: {n:,}")
        print(f"SQLite import            {t_import:7.2f} s")
        print(f"push to PostgreSQL       {t_push:7.2f} s  ({t_push / t_import:.1f}x the import; target <= 3x)")
        print(f"pull to a new file       {t_pull:7.2f} s")
        print(f"open the pulled file     {t_open:7.2f} s")

        with Project.open(tmp / "p.labeler.db", readonly=True) as p:
            ids = p.examples_table().column("id").to_pylist()
        # a decision as the server would take it: one transaction, the decision and its event
        with psycopg.connect(base) as conn:
            times = []
            for i in range(args.decisions):
                t = time.perf_counter()
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO bench_team.decisions (example_id, reviewed, reviewer, decided_at)"
                        " VALUES (%s, 1, 'bench', now()::text) ON CONFLICT (example_id) DO UPDATE"
                        " SET reviewed = 1, decided_at = excluded.decided_at", (ids[i],))
                    conn.execute("INSERT INTO bench_team.events (at, example_id, action, reviewer)"
                                 " VALUES (now()::text, %s, 'decide', 'bench')", (ids[i],))
                times.append(time.perf_counter() - t)
        print(f"decision commit          p50 {1000 * statistics.median(times):.2f} ms, p99 {1000 * p99(times):.2f} ms"
              f" (target p99 <= 5 ms; the test server runs with fsync off)")

        total = args.reviewers * args.per_reviewer
        with TeamQueues(url) as q:
            q.post("bench", ids[:total])
        got: dict[int, list[str]] = {}
        claim_times: list[float] = []
        start = threading.Barrier(args.reviewers)

        def reviewer(k: int) -> None:
            mine = got.setdefault(k, [])
            with TeamQueues(url) as q:
                start.wait()
                while True:
                    t = time.perf_counter()
                    batch = q.claim("bench", f"r{k}", 1)
                    claim_times.append(time.perf_counter() - t)
                    if not batch:
                        return
                    q.finish("bench", f"r{k}", batch)
                    mine += batch

        threads = [threading.Thread(target=reviewer, args=(k,)) for k in range(args.reviewers)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t
        claimed = [e for v in got.values() for e in v]
        print(f"{args.reviewers} reviewers, {total} items  {total / wall:7.0f} claim+finish/s, claim p99"
              f" {1000 * p99(claim_times):.2f} ms; items claimed twice: {len(claimed) - len(set(claimed))},"
              f" missed: {total - len(set(claimed))}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if server is not None:
            server.stop("fast")
            shutil.rmtree(server.base, ignore_errors=True)


if __name__ == "__main__":
    main()
