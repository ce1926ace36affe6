"""How long does ranking 1,000,000 x 10 probabilities by label quality take?

A synthetic predictions file (bench/_data.py: 1,000,000 rows, 10 classes) is imported into a
temporary project; every row is then ranked as one split (the file's own split column puts 80% in
train; the frame's split is set to "train" for all rows so that the full million is ranked).
Timed, median of --repeat runs:

- `ranking.rank`: reading the probabilities from the project, cleanlab's scores and flags, the
  in-sample check, and storing the scores in the project (one transaction); also its two halves,
  `ranking.compute` and `ranking.store`;
- cleanlab called directly on the same arrays (labels as integers, the n x K float64 matrix already
  in memory): `rank.get_label_quality_scores` + `filter.find_label_issues` (n_jobs=1, as labeler calls
  it, and with cleanlab's default n_jobs).

Each timed run starts as a real one does, after `frame.load` (the project's examples table in
memory). Both must give the same scores and the same flags; the script checks. Importing cleanlab, paid once
per process, is timed separately in a fresh interpreter. Prints figures; never fails on speed.

    python bench/rank_bench.py [--rows 1000000] [--classes 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import write_predictions_csv  # noqa: E402

from labeler.core import frame as framemod  # noqa: E402
from labeler.core import ranking  # noqa: E402
from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.store import Project  # noqa: E402

TARGET = 2.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import cleanlab.filter, cleanlab.rank"], check=True)
    import_cleanlab = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import numpy, pandas"], check=True)
    import_cleanlab -= time.perf_counter() - t  # what cleanlab adds to a process that has numpy and pandas
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        src = write_predictions_csv(folder, args.rows, args.classes)
        made = time.perf_counter() - t
        db = folder / "bench.labeler.db"
        t = time.perf_counter()
        import_predictions(src, db)
        imported = time.perf_counter() - t
        print(f"{args.rows:,} x {args.classes} predictions: written in {made:.1f} s ({src.stat().st_size / 2**20:.0f} MB),"
              f" imported in {imported:.1f} s")

        with Project.open(db) as p:
            t = time.perf_counter()
            frame = framemod.load(p)
            loaded = time.perf_counter() - t
            frame["split"] = "train"  # rank every row as one split
            n = len(frame)

            probs = p.probabilities()
            classes = p.classes
            labels = frame["label"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64)

            def direct(n_jobs):
                q = get_label_quality_scores(labels, probs)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return q, find_label_issues(labels, probs, n_jobs=n_jobs)

            # Interleaved, so that a change in the machine's load hits every row alike. A ranking follows
            # frame.load, which leaves the project's examples table in memory and storing scores drops
            # it: each run starts from that state (the reload is not timed).
            runs = {k: [] for k in ("rank", "compute", "store", "direct1", "directN")}
            for _ in range(args.repeat):
                for name, fn in (("rank", lambda: ranking.rank(p, frame, "train")),
                                 ("compute", lambda: ranking.compute(p, frame, "train")),
                                 ("store", lambda: ranking.store(p, scores)),
                                 ("direct1", lambda: direct(1)),
                                 ("directN", lambda: direct(None))):
                    p.examples_table()
                    t = time.perf_counter()
                    out = fn()
                    runs[name].append(time.perf_counter() - t)
                    if name == "rank":
                        result = out
                    elif name == "compute":
                        scores = out
                    elif name == "direct1":
                        q, f = out
                    elif name == "directN":
                        f2 = out[1]

    same = (np.array_equal(scores.quality, q) and np.array_equal(scores.flagged, f)
            and np.array_equal(f, f2) and np.array_equal(scores.rows, np.arange(n)))
    fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    print(f"frame.load (not part of ranking): {loaded:.2f} s; importing cleanlab (once per process): {import_cleanlab:.1f} s")
    print(f"{n:,} examples ranked ({result.method}), {result.flagged:,} flagged; same scores and flags as cleanlab"
          f" directly: {'yes' if same else 'NO'}")
    print()
    print(f"{'median of ' + str(args.repeat):<58} {'s':>6}   runs")
    rows = [
        ("labeler ranking.rank (read probs, score, flag, store)", "rank"),
        ("  of which ranking.compute (read probs, score, flag)", "compute"),
        ("  of which ranking.store (one transaction)", "store"),
        ("cleanlab directly, arrays in memory, n_jobs=1", "direct1"),
        ("cleanlab directly, arrays in memory, default n_jobs", "directN"),
    ]
    for label, key in rows:
        print(f"{label:<58} {statistics.median(runs[key]):6.2f}   {fmt(runs[key])}")
    print()
    rank_med = statistics.median(runs["rank"])
    verdict = "met" if rank_med <= TARGET else "NOT met"
    print(f"target: ranking.rank <= {TARGET:.0f} s: {verdict} ({rank_med:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
