"""Opening a folder of 100,000 images: `labeler import DIR` (listing, no decoding, and writing the
project) next to a bare `os.walk` of the same tree in the same run. The files are tiny stand-ins:
nothing is decoded at import, so their content does not matter. Median of --repeat runs; prints
figures, never fails on speed.

    python bench/folder_bench.py [--images 100000] [--classes 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeler.core.formats import folder  # noqa: E402
from labeler.core.importer import import_predictions  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from import_bench import timed  # noqa: E402


def make_tree(root: Path, n: int, classes: int) -> None:
    for k in range(classes):
        (root / f"class_{k:02d}").mkdir(parents=True)
    (root / "unlabeled").mkdir()
    for i in range(n):
        where = "unlabeled" if i % 5 == 0 else f"class_{i % classes:02d}"
        (root / where / f"img_{i:07d}.jpg").write_bytes(b"\xff\xd8\xff")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        make_tree(root, args.images, args.classes)
        walk = timed(lambda: sum(len(f) for _, _, f in os.walk(root)), args.repeat)
        listing = timed(lambda: folder.images(root), args.repeat)
        k = iter(range(10**6))
        imports = timed(lambda: import_predictions(root, Path(tmp) / f"p{next(k)}.labeler.db"), args.repeat)
    print(f"{args.images:,} images in {args.classes} class folders + unlabeled; median of {args.repeat}")
    for name, values in (("os.walk of the tree (baseline)", walk), ("formats.folder.images (listing)", listing),
                         ("labeler import DIR (listing + project written)", imports)):
        print(f"  {name:<48} {statistics.median(values):6.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")
    med = statistics.median(imports)
    print(f"  target: import <= 2 s: {'met' if med <= 2 else 'MISSED'} ({med / statistics.median(walk):.1f}x os.walk)")


if __name__ == "__main__":
    main()
