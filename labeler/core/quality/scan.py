"""The image-quality scan: per-image properties measured with OpenCV, a perceptual and an exact
hash, and the flags derived from them with thresholds that adapt to the dataset.

A JPEG is decoded at a reduced scale (``IMREAD_REDUCED_*``: libjpeg's DCT scaling, so a 12 MP
photo costs a fraction of a full decode; other formats gain nothing from it and are decoded whole),
and every image is then brought to a fixed working size (area averaging), its long side
:data:`WORK_SIZE` pixels, so that sharpness and entropy mean the same for a 640 x 480 and a
4000 x 3000 photo. Properties (all on the working image's grey levels 0-255):

- ``sharpness``: variance of the Laplacian (3 x 3 aperture, reflected border);
- ``brightness``: mean grey level; ``contrast``: its standard deviation;
- ``dark_frac`` / ``bright_frac``: fraction of pixels below :data:`DARK_LEVEL` / at or above
  :data:`BRIGHT_LEVEL`;
- ``entropy``: Shannon entropy of the 256-bin grey histogram, in bits (0 for a flat image, 8 at most);
- ``width``, ``height`` (of the file, after EXIF rotation), ``aspect`` = width / height;
- ``grayscale``: the colour channels differ by less than :data:`GRAY_CHROMA` levels on average;
- ``phash``: a 64-bit perceptual hash: the 8 x 8 lowest frequencies of the DCT of the 32 x 32
  grey image, each bit "above the median of the 64";
- ``pixel_hash``: 64 bits of BLAKE2b over the decoded pixels and the image's size: equal for the
  same picture saved twice, as PNG and BMP, or with other metadata. A JPEG's pixels are those of
  its reduced decode (averages of 2 x 2 to 8 x 8 blocks), so two JPEGs that differ only in a pixel
  or two may hash equal; they are near duplicates in any case.

The scan runs on worker threads (OpenCV releases the GIL while it decodes and filters), commits its
results a batch at a time (a cancel or a crash keeps what was committed, the next scan resumes from
there) and skips images whose file (path, size, modification time) did not change since they were
scanned. Results are stored with the project, in the checksummed column store (name ``"scan"``).

The flags are not stored: :func:`flags` derives them from the stored properties and the dataset's
own distribution whenever they are asked for (see :data:`FLAG_RULES`), so they follow the data as it
grows without a rescan.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import cv2
import numpy as np
import pandas as pd
import pyarrow as pa
from PIL import Image

from .. import columnar
from ..images import MAX_PIXELS, _check_file  # the same "what is wrong with this file" as the viewer
from ..store import Project

__all__ = [
    "WORK_SIZE", "PROPERTIES", "FLAGS", "FLAG_RULES", "Measured", "ScanResult", "ScanCancelled",
    "measure", "scan", "plan", "measure_batches", "store", "finish", "load", "flags", "Thresholds",
    "ScanSummary", "summary",
]

SCAN_VERSION = 1  # a stored row measured by another version is measured again
WORK_SIZE = 256
DARK_LEVEL = 32
BRIGHT_LEVEL = 224
GRAY_CHROMA = 2.0
BATCH = 256  # images per committed batch
TABLE = "scan"

PROPERTIES = ("sharpness", "brightness", "contrast", "dark_frac", "bright_frac", "entropy",
              "width", "height", "aspect")
FLAGS = ("blurry", "dark", "bright", "low_information", "odd_size", "odd_aspect", "grayscale")

FLAG_RULES = {
    "blurry": "sharpness / contrast² (the Laplacian's variance relative to the image's own contrast,"
              " so a dark or faint image is not called blurry for being dark) below the dataset's"
              " lower fence Q1 - 3 IQR of its log10, and below 0.05 in any case; images with contrast"
              " under 4 grey levels are left to low_information",
    "dark": "brightness below the lower fence Q1 - 2 IQR, kept between 30 and 80 grey levels",
    "bright": "brightness above the upper fence Q3 + 2 IQR, kept between 170 and 225 grey levels",
    "low_information": "entropy below the lower fence Q1 - 3 IQR, kept between 1 and 4 bits",
    "odd_size": "pixel count under a quarter or over 4 times the dataset's median",
    "odd_aspect": "aspect ratio 1.5 times wider or narrower than the dataset's median, or beyond 3:1",
    "grayscale": "a grey image (see grayscale) in a dataset where most images are in colour",
}

_SCHEMA = pa.schema([
    ("id", pa.string()), ("path", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64()),
    ("version", pa.int32()), ("error", pa.string()),
    ("sharpness", pa.float64()), ("brightness", pa.float64()), ("contrast", pa.float64()),
    ("dark_frac", pa.float64()), ("bright_frac", pa.float64()), ("entropy", pa.float64()),
    ("width", pa.int32()), ("height", pa.int32()), ("aspect", pa.float64()), ("grayscale", pa.bool_()),
    ("phash", pa.int64()), ("pixel_hash", pa.int64()),
])
_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}
_SWAPS_AXES = {5, 6, 7, 8}
_BITS = (np.uint64(1) << np.arange(64, dtype=np.uint64))


@dataclass
class Measured:
    """What the scan found for one image file: its properties, or ``error`` saying why there are none."""

    error: str | None = None
    sharpness: float = float("nan")
    brightness: float = float("nan")
    contrast: float = float("nan")
    dark_frac: float = float("nan")
    bright_frac: float = float("nan")
    entropy: float = float("nan")
    width: int | None = None
    height: int | None = None
    aspect: float = float("nan")
    grayscale: bool | None = None
    phash: int | None = None
    pixel_hash: int | None = None


class ScanCancelled(Exception):
    """The scan was cancelled; the batches committed before are kept and the next scan resumes."""


@dataclass
class ScanResult:
    """What a :func:`scan` did: images measured now, skipped as unchanged, and failed (with why)."""

    scanned: int = 0
    unchanged: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # id -> reason
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return self.scanned + self.unchanged


def _header(data: bytes) -> tuple[tuple[int, int] | None, str | None, str | None]:
    """(width, height) after EXIF rotation, the format, or a reason the header is unusable."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            fmt = im.format
            try:
                orientation = int(im.getexif().get(0x0112, 1))
            except Exception:
                orientation = 1
    except Image.DecompressionBombError:
        return None, None, "too large"
    except Exception:
        return None, None, "not an image"
    if w * h > MAX_PIXELS:
        return None, fmt, f"too large ({w} x {h})"
    return ((h, w) if orientation in _SWAPS_AXES else (w, h)), fmt, None


def _truncated(data: bytes, fmt: str | None) -> bool:
    """A JPEG without its end-of-image marker, a PNG without its IEND chunk: some decoders fill
    the missing part with grey, which would be measured as a flat, blurry image."""
    tail = data[-4096:]
    if fmt == "JPEG":
        return b"\xff\xd9" not in tail
    if fmt == "PNG":
        return b"IEND" not in tail
    return False


def reduction(size: tuple[int, int], work: int = WORK_SIZE) -> int:
    """The largest decode reduction (1, 2, 4 or 8) that keeps the long side at ``work`` or more."""
    long_side = max(size)
    for f in (8, 4, 2):
        if long_side // f >= work:
            return f
    return 1


def working_image(pixels: np.ndarray, work: int = WORK_SIZE) -> np.ndarray:
    """``pixels`` resized so that the long side is ``work`` (area averaging down, linear up)."""
    h, w = pixels.shape[:2]
    if max(h, w) == work:
        return pixels
    scale = work / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def phash(gray: np.ndarray) -> int:
    """The 64-bit DCT hash of a grey image (as a signed int64, the way it is stored)."""
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].reshape(-1)
    bits = low > np.median(low)
    return int(np.bitwise_or.reduce(_BITS[bits], initial=np.uint64(0)).view(np.int64))


def pixel_hash(pixels: np.ndarray, size: tuple[int, int]) -> int:
    h = hashlib.blake2b(digest_size=8)
    h.update(np.asarray(size, dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(pixels).data)
    return int(np.frombuffer(h.digest(), dtype="<i8")[0])


def properties(bgr: np.ndarray) -> dict:
    """The properties of a working image (B, G, R uint8), without width, height and hashes."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    n = gray.size
    hist = np.bincount(gray.reshape(-1), minlength=256).astype(np.float64)
    p = hist[hist > 0] / n
    mean, std = cv2.meanStdDev(gray)
    b, g, r = cv2.split(bgr)
    chroma = cv2.absdiff(cv2.max(cv2.max(b, g), r), cv2.min(cv2.min(b, g), r))
    return {
        "sharpness": float(cv2.Laplacian(gray, cv2.CV_64F).var()),
        "brightness": float(mean[0, 0]),
        "contrast": float(std[0, 0]),
        "dark_frac": float(hist[:DARK_LEVEL].sum() / n),
        "bright_frac": float(hist[BRIGHT_LEVEL:].sum() / n),
        "entropy": float(-(p * np.log2(p)).sum()) + 0.0,
        "grayscale": bool(float(chroma.mean()) < GRAY_CHROMA),
        "phash": phash(gray),
    }


def measure(path: str | os.PathLike) -> Measured:
    """Measure one image file. Never raises for a bad file: ``error`` says what is wrong with it."""
    problem = _check_file(path)
    if problem:
        return Measured(error=problem)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return Measured(error=e.strerror or "cannot read")
    size, fmt, problem = _header(data)
    if problem:
        return Measured(error=problem)
    if _truncated(data, fmt):
        return Measured(error="truncated")
    # Only JPEG decodes faster reduced (DCT scaling); OpenCV reduces other formats after a full
    # decode with a linear resize, which aliases at 4x and 8x: those are decoded whole and averaged.
    factor = reduction(size) if fmt == "JPEG" else 1
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED[factor])
    except cv2.error:
        pixels = None
    if pixels is None or pixels.size == 0:
        return Measured(error="truncated" if fmt in ("JPEG", "PNG") else "not an image")
    props = properties(working_image(pixels))
    w, h = size
    return Measured(width=w, height=h, aspect=w / h, pixel_hash=pixel_hash(pixels, size), **props)


# -- the project's scan ---------------------------------------------------------------------------

def load(project: Project) -> pd.DataFrame:
    """The stored scan, one row per example id (the latest measurement), in no particular order.
    Columns: id, path, size, mtime_ns, version, error, the properties, grayscale, phash, pixel_hash."""
    with project.intact():
        table = columnar.read(project.conn, TABLE)
    if table is None:
        table = _SCHEMA.empty_table()
    frame = table.to_pandas()
    if len(frame):
        frame = frame.drop_duplicates("id", keep="last").reset_index(drop=True)
    return frame


def _file_state(path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_size, st.st_mtime_ns


def _row(example_id: str, path: str, state, m: Measured) -> dict:
    size, mtime = state if state else (-1, -1)
    return {"id": example_id, "path": path, "size": size, "mtime_ns": mtime, "version": SCAN_VERSION,
            "error": m.error, "sharpness": m.sharpness, "brightness": m.brightness, "contrast": m.contrast,
            "dark_frac": m.dark_frac, "bright_frac": m.bright_frac, "entropy": m.entropy,
            "width": m.width, "height": m.height, "aspect": m.aspect, "grayscale": m.grayscale,
            "phash": m.phash, "pixel_hash": m.pixel_hash}


def plan(project: Project, split: str | None = None) -> tuple[list[tuple[str, str, object, object]], int]:
    """(id, stored path, file state, file) of the images of ``split`` to measure, and how many are
    unchanged since they were measured. Reads the project: call it on the thread that owns it."""
    table = project.examples_table()
    ids = table.column("id").to_pylist()
    paths = table.column("path").to_pylist()
    splits = table.column("split").to_pylist()
    done = load(project)
    known = {}
    if len(done):
        for r in done[["id", "path", "size", "mtime_ns", "version"]].itertuples(index=False):
            known[r.id] = (r.path, r.size, r.mtime_ns, r.version)
    todo, unchanged = [], 0
    for i, p, s in zip(ids, paths, splits):
        if not p or (split is not None and s != split):
            continue
        file = project.resolve(p)
        state = _file_state(file)
        seen = known.get(i)
        if seen and state and seen == (p, state[0], state[1], SCAN_VERSION):
            unchanged += 1
            continue
        todo.append((i, p, state, file))
    return todo, unchanged


def measure_batches(todo, *, workers: int | None = None, cancel: threading.Event | None = None,
                    batch: int | None = None) -> Iterator[list[dict]]:
    """Measure the images of a :func:`plan` on ``workers`` threads (default: one per core), and
    yield the stored rows a batch at a time. Touches no project, so it may run on any thread; once
    ``cancel`` is set no new image is started and what was measured comes out as a last batch."""
    workers = workers or os.cpu_count() or 1
    size = batch or BATCH
    pending: list[dict] = []
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # one image per thread: OpenCV's own threads would only compete with ours
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan") as pool:
            queue = iter(todo)
            running = {}
            for item in queue:
                running[pool.submit(measure, item[3])] = item
                if len(running) >= workers * 4:
                    break
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    example_id, path, state, _file = running.pop(fut)
                    pending.append(_row(example_id, path, state, fut.result()))
                    if cancel is None or not cancel.is_set():
                        nxt = next(queue, None)
                        if nxt is not None:
                            running[pool.submit(measure, nxt[3])] = nxt
                if len(pending) >= size or not running:
                    out, pending = pending, []
                    if out:
                        yield out
    finally:
        cv2.setNumThreads(threads)


def store(project: Project, rows: list[dict]) -> None:
    """Commit one batch of :func:`measure_batches` (one transaction)."""
    if rows:
        with project.transaction() as c:
            columnar.append(c, TABLE, pa.Table.from_pylist(rows, schema=_SCHEMA))


def scan(
    project: Project,
    *,
    split: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> ScanResult:
    """Measure the images of ``split`` (all splits by default) that are new or changed since the
    last scan, and store the results with the project, a batch of :data:`BATCH` at a time.

    ``progress(done, total)`` is called after each batch; ``cancel`` (set from any thread) stops
    the scan after the batch in hand is stored, with :class:`ScanCancelled`. ``workers``: threads
    (default: one per core)."""
    start = time.perf_counter()
    todo, unchanged = plan(project, split)
    result = ScanResult(unchanged=unchanged)
    total = len(todo)
    if progress is not None:
        progress(0, total)
    for rows in measure_batches(todo, workers=workers, cancel=cancel):
        store(project, rows)
        result.scanned += len(rows)
        result.failed.update({r["id"]: r["error"] for r in rows if r["error"]})
        if progress is not None:
            progress(result.scanned, total)
    if result.scanned < total:
        raise ScanCancelled(f"scan cancelled after {result.scanned} of {total} images; the next scan resumes")
    finish(project)
    result.seconds = time.perf_counter() - start
    return result


def finish(project: Project) -> None:
    """After a complete scan: one row per example (rescans append newer rows)."""
    _compact(project)


def _compact(project: Project) -> None:
    """Rewrite the stored scan as one row per example when rescans left older rows behind."""
    with project.intact():
        table = columnar.read(project.conn, TABLE)
    if table is None:
        return
    ids = table.column("id").to_pandas()
    keep = ~ids.duplicated(keep="last").to_numpy()
    if keep.all():
        return
    with project.transaction() as c:
        columnar.write(c, TABLE, table.filter(pa.array(keep)))


# -- flags ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Thresholds:
    """The thresholds :func:`flags` used for this dataset (None: the flag is off for it)."""

    blur_ratio: float | None
    dark: float | None
    bright: float | None
    entropy: float | None
    area_low: float | None
    area_high: float | None
    aspect_low: float | None
    aspect_high: float | None
    grayscale: bool

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _fences(x: np.ndarray, k: float = 3.0) -> tuple[float, float]:
    q1, q3 = np.nanpercentile(x, [25, 75])
    return q1 - k * (q3 - q1), q3 + k * (q3 - q1)


def flags(scanned: pd.DataFrame) -> tuple[pd.DataFrame, Thresholds]:
    """The flags of each scanned image (rows aligned with ``scanned``; False where it failed), and
    the thresholds this dataset gave (rules: :data:`FLAG_RULES`)."""
    ok = scanned["error"].isna().to_numpy() if len(scanned) else np.zeros(0, bool)
    out = pd.DataFrame({f: np.zeros(len(scanned), bool) for f in FLAGS}, index=scanned.index)
    if not ok.any():
        return out, Thresholds(None, None, None, None, None, None, None, None, False)
    s = scanned[ok]
    contrast = s["contrast"].to_numpy(float)
    judged = contrast >= 4.0
    ratio = s["sharpness"].to_numpy(float) / np.maximum(contrast, 1e-9) ** 2
    blur_ratio = None
    if judged.any():
        lo, _ = _fences(np.log10(ratio[judged] + 1e-6))
        blur_ratio = float(min(10 ** lo, 0.05))
    brightness = s["brightness"].to_numpy(float)
    lo, hi = _fences(brightness, 2.0)
    dark = float(np.clip(lo, 30.0, 80.0))
    bright = float(np.clip(hi, 170.0, 225.0))
    entropy = s["entropy"].to_numpy(float)
    ent = float(np.clip(_fences(entropy)[0], 1.0, 4.0))
    area = s["width"].to_numpy(float) * s["height"].to_numpy(float)
    med_area = float(np.median(area))
    aspect = s["aspect"].to_numpy(float)
    med_aspect = float(np.median(aspect))
    asp_lo, asp_hi = max(med_aspect / 1.5, 1 / 3), min(med_aspect * 1.5, 3.0)
    gray = s["grayscale"].to_numpy(bool)
    gray_on = bool(gray.mean() < 0.5)
    t = Thresholds(blur_ratio, dark, bright, ent, med_area / 4, med_area * 4, asp_lo, asp_hi, gray_on)
    cols = {
        "blurry": judged & (ratio < blur_ratio) if blur_ratio is not None else np.zeros(len(s), bool),
        "dark": brightness < dark,
        "bright": brightness > bright,
        "low_information": entropy < ent,
        "odd_size": (area < t.area_low) | (area > t.area_high),
        "odd_aspect": (aspect < asp_lo) | (aspect > asp_hi),
        "grayscale": gray & gray_on,
    }
    for name, values in cols.items():
        out.loc[ok, name] = values
    return out, t


@dataclass
class ScanSummary:
    """The stored scan in figures: images measured, failed (by reason), flagged (by flag), and the
    thresholds this dataset gave."""

    measured: int
    failed: dict[str, int]
    flagged: dict[str, int]
    thresholds: Thresholds | None

    def to_json(self) -> dict:
        return {"measured": self.measured, "failed": self.failed, "flagged": self.flagged,
                "thresholds": self.thresholds.to_json() if self.thresholds else None,
                "rules": FLAG_RULES}

    def lines(self) -> list[str]:
        out = [f"{self.measured} images measured"]
        if self.failed:
            out.append("could not measure: " + ", ".join(f"{n} {why}" for why, n in self.failed.items()))
        t = self.thresholds
        shown = {
            "blurry": t and t.blur_ratio is not None and f"sharpness/contrast² < {t.blur_ratio:.4g}",
            "dark": t and t.dark is not None and f"brightness < {t.dark:.1f}",
            "bright": t and t.bright is not None and f"brightness > {t.bright:.1f}",
            "low_information": t and t.entropy is not None and f"entropy < {t.entropy:.2f} bits",
            "odd_size": t and t.area_low is not None and f"pixels < {t.area_low:,.0f} or > {t.area_high:,.0f}",
            "odd_aspect": t and t.aspect_low is not None and f"aspect < {t.aspect_low:.2f} or > {t.aspect_high:.2f}",
            "grayscale": t and ("on: most images are in colour" if t.grayscale else "off: most images are grey"),
        }
        for name in FLAGS:
            out.append(f"  {name:<16}{self.flagged.get(name, 0):>7}   {shown[name] or ''}")
        return out


def summary(project: Project) -> ScanSummary:
    frame = load(project)
    ok = frame["error"].isna()
    f, t = flags(frame)
    failed = frame.loc[~ok, "error"].value_counts().to_dict() if len(frame) else {}
    return ScanSummary(int(ok.sum()), {str(k): int(v) for k, v in failed.items()},
                       {name: int(f[name].sum()) for name in FLAGS}, t if ok.any() else None)


def by_id(project: Project) -> pd.DataFrame:
    """The stored scan indexed by example id, with one boolean column per flag (``flag_<name>``),
    for showing one example's measurements (the item panel)."""
    frame = load(project)
    f, _ = flags(frame)
    out = frame.drop(columns=["path", "size", "mtime_ns", "version"]).copy()
    for name in FLAGS:
        out[f"flag_{name}"] = f[name].to_numpy(bool)
    return out.set_index("id")


def describe(row: pd.Series) -> tuple[list[str], str]:
    """(the flags raised, one line of measurements) for a row of :func:`by_id`."""
    if isinstance(row.get("error"), str):
        return [], f"not measured: {row['error']}"
    raised = [name for name in FLAGS if bool(row[f"flag_{name}"])]
    text = (f"sharpness {row['sharpness']:.3g} · brightness {row['brightness']:.0f} · contrast {row['contrast']:.0f}"
            f" · entropy {row['entropy']:.2f} bits · dark {100 * row['dark_frac']:.0f}% · bright"
            f" {100 * row['bright_frac']:.0f}% · {int(row['width'])} × {int(row['height'])}"
            + (" · grey" if bool(row["grayscale"]) else ""))
    return raised, text
