"""Import speed: `labeler import` of a 1,000,000-row predictions CSV next to pandas.read_csv of the
same file, and the dev-error queue of the imported project. Prints medians of several runs."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _data import write_predictions_csv  # noqa: E402

from labeler.core import frame as framemod  # noqa: E402
from labeler.core import queue as queuemod  # noqa: E402
from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.store import Project  # noqa: E402


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv = write_predictions_csv(tmp, args.rows)
        print(f"{args.rows:,} rows, {csv.stat().st_size / 1e6:.0f} MB CSV")
        base = timed(lambda: pd.read_csv(csv), args.repeat)

        def do_import():
            proj = tmp / "p.labeler.db"
            for f in tmp.glob("p.labeler.db*"):
                f.unlink()
            import_predictions(csv, proj)

        imp = timed(do_import, args.repeat)
        with Project.open(tmp / "p.labeler.db", readonly=True) as p:
            load = timed(lambda: framemod.load(p), args.repeat)
            frame = framemod.load(p)
        q = timed(lambda: queuemod.build(frame, queuemod.QueueSpec()), args.repeat)
        size = (tmp / "p.labeler.db").stat().st_size / 1e6
    m = statistics.median
    print(f"{'figure':<34}{'median s':>10}{'baseline s':>12}{'ratio':>8}  target")
    print(f"{'labeler import':<34}{m(imp):>10.2f}{m(base):>12.2f}{m(imp) / m(base):>8.1f}  <= 5x pandas.read_csv")
    print(f"{'load examples into memory':<34}{m(load):>10.2f}")
    print(f"{'queue of dev errors':<34}{m(q):>10.3f}{'':>12}{'':>8}  < 0.5 s")
    print(f"project file: {size:.0f} MB")


if __name__ == "__main__":
    main()
