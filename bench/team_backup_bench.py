"""What the server's backup before a push costs (labeler.core.pg_backup) on a 1,000,000-row project
with a ranking of its training split and 10,000 decisions: a push of 100 new decisions (which makes
the backup) next to the backup alone, and next to a full copy that would take the examples' chunks
too (what the backup leaves out: a push never changes them).

    python bench/team_backup_bench.py [--rows 1000000] [--url postgresql://user@host/db]

Without --url it starts its own server from the machine's PostgreSQL binaries (tests/pg.py) with
the tests' settings (fsync off). It prints medians; it never fails on speed.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
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
from click.testing import CliRunner  # noqa: E402

from labeler.cli import main as cli  # noqa: E402
from labeler.core import pg_backup, store_pg  # noqa: E402
from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.store import Decision, Project  # noqa: E402

SCHEMA = "bench_backup"


def review(path: Path, ids: list[str]) -> None:
    with Project.open(path) as p:
        sid = p.start_session("bench", "{}")
        after = Decision(error_types=frozenset({"blurry"}), reviewed=True)
        p.write_decisions([(eid, p.decision(eid), after, "decide") for eid in ids], reviewer="bench", session_id=sid)
        p.end_session(sid, len(ids))


def timed_in_rollback(base: str, statement: str, reps: int) -> list[float]:
    times = []
    with psycopg.connect(base) as pg:
        for _ in range(reps):
            t = time.perf_counter()
            pg.execute(statement)
            times.append(time.perf_counter() - t)
            pg.rollback()
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--url", help="a database to use (a schema 'bench_backup' is made in it)")
    ap.add_argument("--pushes", type=int, default=5)
    args = ap.parse_args()

    import pg

    server = contextlib.ExitStack()
    base = server.enter_context(pg.database(args.url))
    url = f"{base}?project={SCHEMA}"
    tmp = Path(tempfile.mkdtemp(prefix="labeler-backup-bench-"))
    try:
        with psycopg.connect(base, autocommit=True) as conn:
            for (name,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (SCHEMA + "%",)).fetchall():
                conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        local = tmp / "p.labeler.db"
        import_predictions(write_predictions_csv(tmp, args.rows), local)
        r = CliRunner().invoke(cli, ["rank", "--project", str(local), "--split", "train", "--limit", "1"])
        assert r.exit_code == 0, r.output
        with Project.open(local, readonly=True) as p:
            ids = p.examples_table().column("id").to_pylist()
        review(local, ids[:10_000])
        store_pg.push(local, url)

        pushes = []
        for k in range(args.pushes):
            review(local, ids[10_000 + 100 * k:10_000 + 100 * (k + 1)])
            t = time.perf_counter()
            result = store_pg.push(local, url)
            pushes.append(time.perf_counter() - t)
            assert result.backup, result.describe()
        backup_only = timed_in_rollback(base, f"SELECT {SCHEMA}.labeler_backup('replaced')", args.pushes)
        full = timed_in_rollback(base, f"CREATE SCHEMA full_copy; CREATE TABLE full_copy.columnar AS SELECT * FROM {SCHEMA}.columnar;"
                                       f" CREATE TABLE full_copy.decisions AS SELECT * FROM {SCHEMA}.decisions;"
                                       f" CREATE TABLE full_copy.events AS SELECT * FROM {SCHEMA}.events", args.pushes)
        with psycopg.connect(base) as pg:
            project_mb = float(pg.execute("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n"
                                    " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
                                    (SCHEMA,)).fetchone()[0]) / 1e6
        newest = pg_backup.list_backups(url)[0]
        t = time.perf_counter()
        pg_backup.restore(url, newest.name)
        t_restore = time.perf_counter() - t

        med = statistics.median
        print(f"rows: {len(ids):,}; project on the server {project_mb:.1f} MB, a backup {newest.size / 1e6:.1f} MB")
        print(f"push of 100 decisions, with its backup   p50 {med(pushes):6.3f} s  (n={len(pushes)})")
        print(f"the backup alone                         p50 {med(backup_only):6.3f} s  "
              f"({100 * med(backup_only) / med(pushes):.0f}% of the push)")
        print(f"a full copy (examples' chunks too)       p50 {med(full):6.3f} s  "
              f"({med(full) / med(backup_only):.1f}x the backup)")
        print(f"restore of the newest backup             {t_restore:6.3f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        server.close()


if __name__ == "__main__":
    main()
