"""The image-quality scan and duplicate search against cleanvision, on the same images in the same
run: speed, and how many of the injected problems each finds (recall) and how many of what it
reports are injected problems (precision).

Makes 1024 x 768 JPEG "photos" (shapes over a textured background) and injects problems: blurred,
darkened, brightened, exact copies (the same picture saved again under another name, in dev or test)
and near copies (cropped 2%, shrunk 10%, a little brighter, JPEG quality 70) of training images.
labeler: `scan` (both cores) then the flags and `duplicates`; cleanvision: `Imagelab.find_issues()`
with its default checks (the same kinds: blurry, dark, light, low information, odd size and aspect,
grayscale, exact and near duplicates) and its own process pool over both cores.

    python bench/quality_bench.py [--images 2000] [--folder DIR] [--labeler-only]

cleanvision is a benchmark-only dependency (`pip install cleanvision`, or the `bench` extra);
--labeler-only skips it (e.g. for the 10,000-image throughput figure). Prints figures; never fails.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.quality import duplicates as dupmod  # noqa: E402
from labeler.core.quality import scan as scanmod  # noqa: E402
from labeler.core.store import Project  # noqa: E402

W, H = 1024, 768
SHARE = {"blurry": 0.05, "dark": 0.05, "bright": 0.05, "exact": 0.02, "near": 0.02}


def picture(rng: np.random.Generator) -> np.ndarray:
    img = np.empty((H, W, 3), np.uint8)
    # a smooth background gradient, then shapes, then sensor noise
    top, bottom = rng.integers(40, 215, 3), rng.integers(40, 215, 3)
    ramp = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    img[:] = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    for _ in range(int(rng.integers(15, 40))):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, W)), int(rng.integers(0, H))
        if rng.random() < 0.5:
            cv2.circle(img, (x, y), int(rng.integers(8, 140)), c, -1, lineType=cv2.LINE_AA)
        else:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(8, 260)), y + int(rng.integers(8, 260))), c, -1)
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)


def make(folder: Path, n: int, seed: int = 0) -> dict[str, set[str]]:
    """n images (and the copies) with injected problems, predictions.csv and truth.csv."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    truth = {k: set() for k in SHARE}
    kinds = rng.choice(["blurry", "dark", "bright", "ok"], size=n,
                       p=[SHARE["blurry"], SHARE["dark"], SHARE["bright"], 1 - SHARE["blurry"] - SHARE["dark"] - SHARE["bright"]])
    rows = []
    train = []
    for i in range(n):
        img = picture(rng)
        kind = kinds[i]
        if kind == "blurry":
            img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(3, 5)))
        elif kind == "dark":
            img = (img * rng.uniform(0.12, 0.2)).astype(np.uint8)
        elif kind == "bright":
            img = np.clip(img.astype(np.int16) + int(rng.integers(140, 170)), 0, 255).astype(np.uint8)
        eid = f"i{i:06d}"
        if kind != "ok":
            truth[kind].add(eid)
        split = "train" if i % 5 < 3 else ("dev" if i % 5 == 3 else "test")
        cv2.imwrite(str(folder / "images" / f"{eid}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        rows.append([eid, f"images/{eid}.jpg", split, "a", "a"])
        if split == "train" and kind == "ok":
            train.append((eid, img))
    picks = rng.permutation(len(train))
    n_exact, n_near = int(SHARE["exact"] * n), int(SHARE["near"] * n)
    for k, j in enumerate(picks[: n_exact + n_near]):
        src, img = train[j]
        eid = f"c{k:06d}"
        if k < n_exact:
            shutil.copyfile(folder / "images" / f"{src}.jpg", folder / "images" / f"{eid}.jpg")
            truth["exact"] |= {src, eid}
        else:
            img = img[int(H * 0.02):]
            img = cv2.resize(img, (int(W * 0.9), int(img.shape[0] * 0.9)), interpolation=cv2.INTER_AREA)
            img = np.clip(img.astype(np.int16) + 8, 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / "images" / f"{eid}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 70])
            truth["near"] |= {src, eid}
        rows.append([eid, f"images/{eid}.jpg", "dev" if k % 2 else "test", "a", "a"])
    with open(folder / "predictions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "path", "split", "label", "pred"])
        w.writerows(rows)
    with open(folder / "truth.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["problem", "id"])
        for k, ids in truth.items():
            w.writerows([k, i] for i in sorted(ids))
    return truth


def read_truth(folder: Path) -> dict[str, set[str]]:
    truth = {k: set() for k in SHARE}
    with open(folder / "truth.csv", newline="") as f:
        for r in csv.DictReader(f):
            truth[r["problem"]].add(r["id"])
    return truth


def score(found: set[str], truth: set[str]) -> tuple[int, float, float]:
    hit = len(found & truth)
    return hit, (hit / len(found) if found else 1.0), (hit / len(truth) if truth else 1.0)


def run_labeler(folder: Path) -> tuple[float, float, dict[str, set[str]]]:
    db = folder / "bench.labeler.db"
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.rmtree(str(db) + ".backups", ignore_errors=True)
    import_predictions(folder / "predictions.csv", db)
    with Project.open(db) as p:
        t0 = time.perf_counter()
        result = scanmod.scan(p)
        t_scan = time.perf_counter() - t0
        frame = scanmod.load(p)
        flags, _ = scanmod.flags(frame)
        report = dupmod.find(p)
        t_all = time.perf_counter() - t0
    ids = frame["id"]
    found = {"blurry": set(ids[flags["blurry"]]), "dark": set(ids[flags["dark"]]), "bright": set(ids[flags["bright"]]),
             "exact": {m.id for g in report.groups if g.kind == "exact" for m in g.members},
             "near": {m.id for g in report.groups if g.kind == "near" for m in g.members}}
    assert result.scanned == len(frame)
    return t_scan, t_all, found


def run_cleanvision(folder: Path) -> tuple[float, dict[str, set[str]]]:
    os.environ["TQDM_DISABLE"] = "1"  # its progress bars, on stderr
    from cleanvision import Imagelab

    paths = sorted(str(p) for p in (folder / "images").glob("*.jpg"))
    t0 = time.perf_counter()
    lab = Imagelab(filepaths=paths, verbose=False)
    lab.find_issues(verbose=False)
    seconds = time.perf_counter() - t0
    issues = lab.issues
    name = lambda p: Path(p).stem
    found = {k: {name(p) for p in issues.index[issues[f"is_{col}_issue"]]}
             for k, col in (("blurry", "blurry"), ("dark", "dark"), ("bright", "light"))}
    found["exact"] = {name(p) for s in lab.info["exact_duplicates"]["sets"] for p in s}
    found["near"] = {name(p) for s in lab.info["near_duplicates"]["sets"] for p in s}
    return seconds, found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--folder", type=Path, help="Keep the images here (made once, reused).")
    ap.add_argument("--labeler-only", action="store_true")
    args = ap.parse_args()
    tmp = None
    folder = args.folder
    if folder is None:
        tmp = tempfile.TemporaryDirectory()
        folder = Path(tmp.name)
    if not (folder / "truth.csv").exists():
        t0 = time.perf_counter()
        make(folder, args.images)
        print(f"made {args.images} images of {W} x {H} (+ copies) in {time.perf_counter() - t0:.0f} s")
    truth = read_truth(folder)
    n = sum(1 for _ in (folder / "images").glob("*.jpg"))
    print(f"{n} images, {os.cpu_count()} cores; injected: " + ", ".join(f"{k} {len(v)}" for k, v in truth.items()))

    t_scan, t_all, mine = run_labeler(folder)
    print(f"labeler scan: {t_scan:.2f} s ({n / t_scan:.0f} images/s); scan + flags + duplicates {t_all:.2f} s")
    # a rescan finds nothing new: only the file checks
    with Project.open(folder / "bench.labeler.db") as p:
        t0 = time.perf_counter()
        again = scanmod.scan(p)
        print(f"labeler rescan, nothing changed: {time.perf_counter() - t0:.2f} s ({again.unchanged} unchanged)")
    theirs = None
    if not args.labeler_only:
        t_cv, theirs = run_cleanvision(folder)
        print(f"cleanvision find_issues: {t_cv:.2f} s ({n / t_cv:.0f} images/s); labeler is {t_cv / t_all:.1f}x faster")
    print()
    print("| problem | injected | labeler found | precision | recall |" + (" cleanvision found | precision | recall |" if theirs else ""))
    print("|---|---:|---:|---:|---:|" + ("---:|---:|---:|" if theirs else ""))
    for k in SHARE:
        hit, prec, rec = score(mine[k], truth[k])
        line = f"| {k} | {len(truth[k])} | {hit} of {len(mine[k])} | {prec:.3f} | {rec:.3f} |"
        if theirs:
            hit2, prec2, rec2 = score(theirs[k], truth[k])
            line += f" {hit2} of {len(theirs[k])} | {prec2:.3f} | {rec2:.3f} |"
        print(line)
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
