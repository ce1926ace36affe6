"""Image datasets with known problems, written by the tests themselves with OpenCV: the same
scenes for the scan, slices and duplicates tests (not a fixture module: plain functions)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np


def scene(seed: int, w: int = 640, h: int = 480) -> np.ndarray:
    """A colour picture of random shapes over a textured background (B, G, R)."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), rng.integers(60, 200, 3), np.uint8)
    for _ in range(25):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.5:
            cv2.circle(img, (x, y), int(rng.integers(5, 80)), c, -1)
        else:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(5, 150)), y + int(rng.integers(5, 150))), c, -1)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def blurred(img: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), 4)


def darkened(img: np.ndarray) -> np.ndarray:
    return (img * 0.15).astype(np.uint8)


def brightened(img: np.ndarray) -> np.ndarray:
    return np.clip(img.astype(np.int32) + 150, 0, 255).astype(np.uint8)


def near_copy(img: np.ndarray) -> np.ndarray:
    """The same picture slightly changed: 2% cropped off the top, shrunk by 10%, a little brighter
    (what a re-crawl gives)."""
    img = img[int(img.shape[0] * 0.02):]
    h, w = img.shape[:2]
    small = cv2.resize(img, (int(w * 0.9), int(h * 0.9)), interpolation=cv2.INTER_AREA)
    return np.clip(small.astype(np.int32) + 8, 0, 255).astype(np.uint8)


def write_dataset(folder: Path, n: int = 60, *, seed: int = 0) -> tuple[Path, dict[str, set[str]]]:
    """``n`` images with injected problems and a predictions CSV (id, path, split, label, pred).

    Returns the CSV and {problem: ids}: blurry, dark, bright (every 10th image from 1, 2, 3), an
    exact copy of a training image in dev (``exact``: both ids), a near copy of another training
    image in test (``near``), and a copy of a third image in dev with a different label
    (``conflict``). The model is wrong on every blurry dev image and on one in five of the rest."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    problems: dict[str, set[str]] = {k: set() for k in ("blurry", "dark", "bright", "exact", "near", "conflict")}
    rows = []
    rng = np.random.default_rng(seed)
    classes = ["cat", "dog", "fox"]
    originals = {}
    for i in range(n):
        img = scene(seed * 1000 + i)
        kind = {1: "blurry", 2: "dark", 3: "bright"}.get(i % 10)
        if kind == "blurry":
            img = blurred(img)
        elif kind == "dark":
            img = darkened(img)
        elif kind == "bright":
            img = brightened(img)
        eid = f"x{i:03d}"
        if kind:
            problems[kind].add(eid)
        originals[eid] = img
        name = f"images/{eid}.jpg" if i % 2 else f"images/{eid}.png"
        cv2.imwrite(str(folder / name), img)
        split = "train" if i < n // 2 else ("dev" if i % 4 else "test")
        label = classes[i % 3]
        wrong = kind == "blurry" and split == "dev" or rng.random() < 0.2
        pred = classes[(i + 1) % 3] if wrong else label
        rows.append([eid, name, split, label, pred])

    def copy(src: str, eid: str, split: str, img: np.ndarray, label: str | None = None) -> None:
        name = f"images/{eid}.png"
        cv2.imwrite(str(folder / name), img)
        given = label or next(r[3] for r in rows if r[0] == src)
        rows.append([eid, name, split, given, given])

    copy("x004", "x900", "dev", originals["x004"])
    problems["exact"] = {"x004", "x900"}
    copy("x005", "x901", "test", near_copy(originals["x005"]))
    problems["near"] = {"x005", "x901"}
    other = next(c for c in classes if c != rows[6][3])
    copy("x006", "x902", "dev", originals["x006"], label=other)
    problems["conflict"] = {"x006", "x902"}
    csv_path = folder / "predictions.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "path", "split", "label", "pred"])
        w.writerows(rows)
    return csv_path, problems
