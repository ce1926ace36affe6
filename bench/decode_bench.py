"""How long does it take to get a reviewable image out of a JPEG?

Compares `labeler.core.images.decode(path, (1280, 960))` (reduced JPEG decoding
plus a fit into the box) with a baseline of a full Pillow decode plus the same
resize, on the same files in the same run; and what the review window's decoder
threads do (`decode(exact=False)`, then the fit by Qt's smooth scaler into a
display-ready QImage, as in labeler/gui/prefetch.py). `--box 926x729` is the
review window's view at 1280x800. Prints figures; never fails on speed.

    python bench/decode_bench.py [--files 20] [--repeat 3] [--box 926x729]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeler.core.images import RESAMPLE, decode  # noqa: E402

BOX = (1280, 960)


def photo_like(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth gradients, a few soft blobs and sensor-like noise: JPEG sizes like a photo's."""
    # The smooth part is drawn small and enlarged; only the noise is full size.
    w, h = max(8, width // 8), max(8, height // 8)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x /= w
    y /= h
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 6.3)
        plane = 128 + 60 * np.sin(fx * 6.3 * x + phase) * np.cos(fy * 6.3 * y) + 40 * (x - y)
        for _ in range(4):
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.2)
            plane += rng.uniform(-60, 60) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
        channels.append(np.clip(plane, 0, 255).astype(np.uint8))
    smooth = Image.fromarray(np.stack(channels, axis=2)).resize((width, height), Image.Resampling.BILINEAR)
    noise = rng.integers(-12, 13, (height, width, 1), dtype=np.int16)  # luminance noise
    return np.clip(np.asarray(smooth, np.int16) + noise, 0, 255).astype(np.uint8)


def make_files(folder: Path, count: int) -> dict[str, list[Path]]:
    rng = np.random.default_rng(7)
    sets: dict[str, list[Path]] = {}
    for label, (width, height) in (("4000x3000", (4000, 3000)), ("1024x768", (1024, 768))):
        paths = []
        for i in range(count):
            path = folder / f"{label}_{i:02d}.jpg"
            Image.fromarray(photo_like(width, height, rng)).save(path, quality=90)
            paths.append(path)
        sets[label] = paths
    return sets


def fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    scale = min(1.0, box[0] / size[0], box[1] / size[1])
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def baseline(path: Path) -> np.ndarray:
    """The plain way: decode every pixel, then the same fit and filter as `decode`."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        target = fit(im.size, BOX)
        if target != im.size:
            im = im.resize(target, RESAMPLE)
        return np.asarray(im)


def reduced(path: Path) -> np.ndarray:
    result = decode(path, BOX)
    assert result.pixels is not None, result.reason
    return result.pixels


def worker(path: Path) -> SimpleNamespace:
    from labeler.gui.prefetch import _to_qimage
    from labeler.gui.prefetch import decode as worker_decode

    image = _to_qimage(worker_decode(str(path), BOX), BOX)
    return SimpleNamespace(shape=(image.height(), image.width(), 4))


METHODS = {"decode()": reduced, "full + resize": baseline, "worker, Qt fit": worker}


def time_ms(fn, path: Path) -> tuple[float, tuple[int, ...]]:
    start = time.perf_counter()
    out = fn(path)
    return (time.perf_counter() - start) * 1000, out.shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20, help="JPEGs per size (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the files (default 3)")
    parser.add_argument("--box", default="1280x960", help="the box to fit, WxH (default 1280x960)")
    args = parser.parse_args()
    global BOX
    BOX = tuple(int(v) for v in args.box.lower().split("x"))

    with tempfile.TemporaryDirectory(prefix="decode_bench_") as tmp:
        started = time.perf_counter()
        sets = make_files(Path(tmp), args.files)
        print(f"made {2 * args.files} JPEGs in {time.perf_counter() - started:.1f} s")
        for paths in sets.values():  # warm up the page cache and the plugins
            for path in paths[:2]:
                for fn in METHODS.values():
                    fn(path)

        rows = []
        for label, paths in sets.items():
            size_mb = statistics.mean(p.stat().st_size for p in paths) / 1e6
            times: dict[str, list[float]] = {name: [] for name in METHODS}
            shapes = {}
            for _ in range(args.repeat):
                for path in paths:  # alternate the two so drift hits both alike
                    for name, fn in METHODS.items():
                        ms, shape = time_ms(fn, path)
                        times[name].append(ms)
                        shapes[name] = shape
            for name, values in times.items():
                height, width = shapes[name][:2]
                rows.append((label, f"{size_mb:.2f}", name, f"{width}x{height}",
                             statistics.median(values), float(np.percentile(values, 95))))

    print(f"\nbox {BOX[0]}x{BOX[1]}, {args.files} files x {args.repeat} passes per size\n")
    header = ("source", "MB/file", "method", "output", "median ms", "p95 ms")
    print(f"{header[0]:<10} {header[1]:>7}  {header[2]:<14} {header[3]:>9} {header[4]:>10} {header[5]:>8}")
    for source, mb, method, out, median, p95 in rows:
        print(f"{source:<10} {mb:>7}  {method:<14} {out:>9} {median:>10.1f} {p95:>8.1f}")
    print(f"load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
