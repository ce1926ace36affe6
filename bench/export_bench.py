"""How long does `labeler export` take to write a corrected training set of 1,000,000 rows?

A training CSV (id, path, label, source, width) with 1,000 corrected labels, in two shapes: written
without quotes (as pandas writes it) and with every string quoted (as pyarrow writes it). For each,
the time of `export_all` (corrections.csv, the corrected copy, tallies, summary, report) and of its
corrected-training-set stage is set next to pandas `to_csv` and `pyarrow.csv.write_csv` writing the
same data (already in memory) in the same run. Median of --repeat runs. Prints figures; never fails
on speed.

    python bench/export_bench.py [--rows 1000000] [--corrections 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeler.core.export import export_all  # noqa: E402
from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.store import Decision, Project  # noqa: E402

CLASSES = [f"class_{k}" for k in range(10)]


def training_table(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "id": pa.array([f"tr{i:07d}" for i in range(rows)]),
        "path": pa.array([f"images/{i % 1000:03d}/tr{i:07d}.jpg" for i in range(rows)]),
        "label": pa.array(np.array(CLASSES)[rng.integers(0, len(CLASSES), rows)]),
        "source": pa.array(np.array(["crawl-a", "crawl-b", "vendor", "manual"])[rng.integers(0, 4, rows)]),
        "width": pa.array(np.round(rng.uniform(0, 1, rows), 6)),
    })


def make_project(folder: Path, train: Path, table: pa.Table, n: int, seed: int = 1) -> tuple[Path, dict]:
    """A project whose train split holds the n corrected examples, with train.csv registered."""
    rng = random.Random(seed)
    rows = sorted(rng.sample(range(table.num_rows), n))
    ids, paths, labels = (table.column(c).to_pylist() for c in ("id", "path", "label"))
    preds = folder / "predictions.csv"
    fixes = {}
    with open(preds, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "path", "split", "label", "pred"])
        for r in rows:
            new = rng.choice([c for c in CLASSES if c != labels[r]])
            fixes[ids[r]] = new
            w.writerow([ids[r], paths[r], "train", labels[r], new])
    project = folder / "bench.labeler.db"
    import_predictions(preds, project, train_file=train)
    with Project.open(project) as p:
        for eid, new in fixes.items():
            p.write_decision(eid, Decision(), Decision(label=new, reviewed=True), f"label {new}")
    return project, fixes


def time_export(project: Path, out: Path) -> tuple[float, float, int]:
    marks: dict[str, float] = {}

    def progress(stage: str, frac: float) -> None:
        marks.setdefault(stage, time.perf_counter())

    with Project.open(project, readonly=True) as p:
        t0 = time.perf_counter()
        result = export_all(p, out, progress=progress)
        total = time.perf_counter() - t0
    # the corrected copy is written between the corrections list and the tally
    stage = marks["tally"] - marks["corrections"]
    return total, stage, result.relabelled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--corrections", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        table = training_table(args.rows)
        for quoting in ("none", "needed"):
            folder = tmp / quoting
            folder.mkdir()
            train = folder / "train.csv"
            pacsv.write_csv(table, train, write_options=pacsv.WriteOptions(quoting_style=quoting))
            project, fixes = make_project(folder, train, table, args.corrections)
            size = train.stat().st_size / 1e6

            exports, stages = [], []
            for k in range(args.repeat):
                total, stage, relabelled = time_export(project, folder / f"out{k}")
                assert relabelled == len(fixes), relabelled
                exports.append(total)
                stages.append(stage)

            frame = pd.read_csv(train, dtype=str, keep_default_na=False)
            frame.loc[frame["id"].isin(fixes), "label"] = frame["id"].map(fixes)
            corrected = pa.Table.from_pandas(frame, preserve_index=False)
            pandas_t, arrow_t = [], []
            for k in range(args.repeat):
                t0 = time.perf_counter()
                frame.to_csv(folder / "pandas.csv", index=False)
                pandas_t.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                pacsv.write_csv(corrected, folder / "arrow.csv")
                arrow_t.append(time.perf_counter() - t0)

            src = train.read_bytes().split(b"\n")
            out = (folder / "out0" / "train.corrected.csv").read_bytes().split(b"\n")
            changed = sum(a != b for a, b in zip(src, out))
            print(f"\n{args.rows:,} rows, {size:.0f} MB, {args.corrections:,} corrections,"
                  f" strings {'unquoted' if quoting == 'none' else 'quoted'}; median of {args.repeat}")
            for name, values in (
                ("labeler export_all (all 7 files)", exports),
                ("  of which the corrected training set", stages),
                ("pandas DataFrame.to_csv (write only)", pandas_t),
                ("pyarrow.csv.write_csv (write only)", arrow_t),
            ):
                print(f"  {name:<40} {statistics.median(values):7.2f} s   ({', '.join(f'{v:.2f}' for v in values)})")
            print(f"  lines that differ from the source: {changed:,} (of {len(src) - 1:,}); same line count: {len(src) == len(out)}")


if __name__ == "__main__":
    main()
