"""Claims of a shared queue with overlap K (labeler.core.claims), eight reviewer processes at once,
next to a baseline measured in the same run: the claim statement as it was before overlap (one
slot per item, no look-up of the reviewer's other slots) on a queue of the same size.

Each process claims --batch items at a time and marks them done, until every slot is done. Printed
per mode: wall time from the start signal to the last slot done, slots per second, and the claim's
latency (median and p99 over every claim of every process), medians of --runs; and the ratio of
each to the baseline. It checks that every item was done K times by K reviewers; it never fails on
speed.

    python bench/claims_bench.py [--items 2000] [--runs 3] [--batch 4]

It starts its own server from the machine's PostgreSQL binaries (tests/pg.py, fsync off).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from psycopg import sql  # noqa: E402

from labeler.core import store_pg  # noqa: E402
from labeler.core.claims import TeamQueues  # noqa: E402

REVIEWERS = 8
# the claim before overlap (commit 26988c6), on a table whose items have one slot each
OLD_CLAIM = ("WITH next AS (SELECT example_id FROM {t} WHERE queue = %s AND done_at IS NULL"
             "   AND (reviewer IS NULL OR lease_until <= now()) ORDER BY position LIMIT %s FOR UPDATE SKIP LOCKED)"
             " UPDATE {t} c SET reviewer = %s, claimed_at = now(), lease_until = now() + %s"
             " FROM next WHERE c.queue = %s AND c.example_id = next.example_id"
             " RETURNING c.example_id, c.position")


def reviewer(url: str, queue: str, name: str, batch: int, old: bool, ready, go, out) -> None:
    lease = timedelta(minutes=10)
    with TeamQueues(url) as q:
        statement = sql.SQL(OLD_CLAIM).format(t=q.table)
        ready.put(name)
        go.wait()
        times, done = [], []
        while True:
            t0 = time.perf_counter()
            if old:
                with q.conn.transaction():
                    rows = q.conn.execute(statement, (queue, batch, name, lease, queue)).fetchall()
                got = [eid for eid, _ in sorted(rows, key=lambda r: r[1])]
            else:
                got = q.claim(queue, name, batch, lease=lease)
            times.append(time.perf_counter() - t0)
            if got:
                done += q.finish(queue, name, got)
                continue
            p = q.progress(queue)
            if p.done == p.total:
                break
            time.sleep(0.005)
    out.put((name, times, done))


def run(ctx, url: str, queue: str, items: int, k: int, batch: int, old: bool) -> dict:
    with TeamQueues(url) as q:
        q.post(queue, [f"i{i:06d}" for i in range(items)], overlap=k)
    ready, go, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=reviewer, args=(url, queue, f"r{i}", batch, old, ready, go, out))
             for i in range(REVIEWERS)]
    for p in procs:
        p.start()
    for _ in procs:  # every process imported, connected and waiting
        ready.get(timeout=120)
    t0 = time.perf_counter()
    go.set()
    results = [out.get(timeout=300) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(30)
    claims = sorted(t for _, times, _ in results for t in times)
    by_item: dict[str, list[str]] = {}
    for name, _, done in results:
        for eid in done:
            by_item.setdefault(eid, []).append(name)
    ok = len(by_item) == items and all(len(v) == k == len(set(v)) for v in by_item.values())
    return {"wall": wall, "slots/s": items * k / wall, "claim p50 ms": 1000 * claims[len(claims) // 2],
            "claim p99 ms": 1000 * claims[min(len(claims) - 1, int(len(claims) * 0.99))], "ok": ok}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    args = ap.parse_args()
    import pg

    from labeler.core.importer import import_predictions

    server = contextlib.ExitStack()
    base = server.enter_context(pg.database())
    tmp = Path(tempfile.mkdtemp())
    ctx = multiprocessing.get_context("spawn")
    try:
        csv = HERE.parent / "sample_data" / "digits" / "predictions.csv"
        import_predictions(csv, tmp / "p.labeler.db")
        url = base + "?project=bench_claims"
        store_pg.push(tmp / "p.labeler.db", url)
        modes = [("before overlap, K=1", 1, True), ("K=1", 1, False), ("K=2", 2, False), ("K=3", 3, False)]
        figures: dict[str, list[dict]] = {m[0]: [] for m in modes}
        n = 0
        for _ in range(args.runs):
            for label, k, old in modes:  # alternated, so a noisy moment hits every mode alike
                n += 1
                figures[label].append(run(ctx, url, f"q{n}", args.items, k, args.batch, old))
        base = {key: statistics.median(r[key] for r in figures[modes[0][0]]) for key in ("wall", "claim p50 ms", "claim p99 ms")}
        print(f"{REVIEWERS} reviewer processes, {args.items} items, batches of {args.batch}, medians of {args.runs} runs")
        for label, k, _ in modes:
            rs = figures[label]
            med = {key: statistics.median(r[key] for r in rs) for key in ("wall", "slots/s", "claim p50 ms", "claim p99 ms")}
            print(f"  {label:20s} wall {med['wall']:6.2f} s ({med['wall'] / base['wall']:.2f}x)"
                  f"  {med['slots/s']:7.0f} slots/s  claim p50 {med['claim p50 ms']:5.2f} ms"
                  f" ({med['claim p50 ms'] / base['claim p50 ms']:.2f}x)  p99 {med['claim p99 ms']:6.2f} ms"
                  f" ({med['claim p99 ms'] / base['claim p99 ms']:.2f}x)  each item done K times by K reviewers:"
                  f" {all(r['ok'] for r in rs)}")
    finally:
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
