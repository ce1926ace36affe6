"""The image-quality scan: each property against a direct computation on image files the test
writes, the hashes, the flags against injected problems, storage, resume and incremental rescans."""

from __future__ import annotations

import os
import threading

import cv2
import numpy as np
import pytest
from scipy.fft import dctn

from labeler.core.importer import import_predictions
from labeler.core.quality import scan as scanmod
from labeler.core.store import Project
from quality_data import scene, write_dataset


def _direct(gray: np.ndarray) -> dict:
    """The properties computed from the definitions with numpy alone (no OpenCV filter)."""
    g = gray.astype(np.float64)
    pad = np.pad(g, 1, mode="reflect")  # OpenCV's default border, BORDER_REFLECT_101
    lap = pad[:-2, 1:-1] + pad[2:, 1:-1] + pad[1:-1, :-2] + pad[1:-1, 2:] - 4 * g
    counts = np.bincount(gray.ravel(), minlength=256) / gray.size
    p = counts[counts > 0]
    return {
        "sharpness": lap.var(), "brightness": g.mean(), "contrast": g.std(),
        "dark_frac": (gray < 32).mean(), "bright_frac": (gray >= 224).mean(),
        "entropy": float(-(p * np.log2(p)).sum()),
    }


def _gray(bgr: np.ndarray) -> np.ndarray:
    # OpenCV's grey conversion (its fixed-point rounding of 0.299 R + 0.587 G + 0.114 B); the
    # properties under test are computed from it directly
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    assert np.abs(gray - (0.299 * r + 0.587 * g + 0.114 * b)).max() <= 1
    return gray


@pytest.mark.parametrize("kind", ["scene", "halves", "flat", "gray_scene"])
def test_properties_match_a_direct_computation(tmp_path, kind):
    # 256 x 192 PNG: the working size already, so no resize stands between the file and the numbers
    if kind == "scene":
        img = scene(3, 256, 192)
    elif kind == "halves":
        img = np.zeros((192, 256, 3), np.uint8)
        img[:, 128:] = 255
    elif kind == "flat":
        img = np.full((192, 256, 3), 100, np.uint8)
    else:
        img = cv2.cvtColor(cv2.cvtColor(scene(4, 256, 192), cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    path = tmp_path / f"{kind}.png"
    cv2.imwrite(str(path), img)
    m = scanmod.measure(path)
    assert m.error is None
    want = _direct(_gray(img))
    for name, value in want.items():
        assert getattr(m, name) == pytest.approx(value, rel=1e-6, abs=1e-6), name
    assert (m.width, m.height) == (256, 192)
    assert m.aspect == pytest.approx(256 / 192)
    assert m.grayscale is (kind != "scene")
    if kind == "halves":  # the values the definitions give by hand
        assert (m.brightness, m.contrast, m.entropy, m.dark_frac, m.bright_frac) == pytest.approx((127.5, 127.5, 1, .5, .5))
    if kind == "flat":
        assert (m.sharpness, m.contrast, m.entropy) == (0, 0, 0)


def test_large_image_is_measured_on_the_reduced_decode_at_the_working_size(tmp_path):
    img = scene(5, 1024, 768)
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), img)
    m = scanmod.measure(path)
    assert (m.width, m.height) == (1024, 768)
    # a PNG is decoded whole and averaged down to the working size
    small = cv2.resize(img, (256, 192), interpolation=cv2.INTER_AREA)
    want = _direct(_gray(small))
    for name, value in want.items():
        assert getattr(m, name) == pytest.approx(value, rel=1e-6, abs=1e-6), name
    # a JPEG is decoded reduced by 4 (DCT scaling): 256 x 192, the working size
    assert scanmod.reduction((1024, 768)) == 4
    jpg = tmp_path / "big.jpg"
    cv2.imwrite(str(jpg), img)
    m = scanmod.measure(jpg)
    assert (m.width, m.height) == (1024, 768)
    want = _direct(cv2.cvtColor(cv2.imread(str(jpg), cv2.IMREAD_REDUCED_COLOR_4), cv2.COLOR_BGR2GRAY))
    for name, value in want.items():
        assert getattr(m, name) == pytest.approx(value, rel=1e-6, abs=1e-6), name


def test_phash_is_the_dct_median_hash(tmp_path):
    img = scene(6, 256, 192)
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), img)
    m = scanmod.measure(path)
    small = cv2.resize(_gray(img), (32, 32), interpolation=cv2.INTER_AREA).astype(np.float64)
    low = dctn(small, norm="ortho")[:8, :8].ravel()  # scipy's DCT-II, not OpenCV's
    bits = low > np.median(low)
    want = sum(1 << i for i in range(64) if bits[i])
    assert m.phash & (2**64 - 1) == want


def test_hashes_same_picture_and_near_picture(tmp_path):
    img = scene(7)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    cv2.imwrite(str(tmp_path / "a_copy.bmp"), img)  # same pixels, other format
    cv2.imwrite(str(tmp_path / "a.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    changed = img.copy()
    changed[100:140, 100:140] = 0
    cv2.imwrite(str(tmp_path / "b.png"), changed)
    cv2.imwrite(str(tmp_path / "other.png"), scene(8))
    a, copy, jpg, b, other = (scanmod.measure(tmp_path / n) for n in ("a.png", "a_copy.bmp", "a.jpg", "b.png", "other.png"))
    assert a.pixel_hash == copy.pixel_hash and a.phash == copy.phash
    assert a.pixel_hash != jpg.pixel_hash and a.pixel_hash != b.pixel_hash

    def dist(x, y):
        return bin((x.phash ^ y.phash) & (2**64 - 1)).count("1")

    assert dist(a, jpg) <= 4
    assert dist(a, other) > 16


@pytest.mark.parametrize("case,reason", [
    ("missing", "missing file"), ("empty", "empty file"), ("text", "not an image"), ("truncated_jpg", "truncated"),
    ("truncated_png", "truncated"), ("dir", "is a directory"),
])
def test_bad_files_are_reported_not_raised(tmp_path, case, reason):
    path = tmp_path / f"{case}.jpg"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("hello")
    elif case.startswith("truncated"):
        ext = ".jpg" if case.endswith("jpg") else ".png"
        ok, data = cv2.imencode(ext, scene(9))
        path.write_bytes(data.tobytes()[: len(data) // 2])
    elif case == "dir":
        path.mkdir()
    m = scanmod.measure(path)
    assert m.error is not None and m.error.startswith(reason)
    assert m.phash is None


@pytest.fixture
def dataset(tmp_path):
    csv_path, problems = write_dataset(tmp_path / "data")
    project = tmp_path / "p.labeler.db"
    import_predictions(csv_path, project)
    return project, problems, csv_path.parent


def test_scan_stores_results_and_flags_the_injected_problems(dataset):
    path, problems, _ = dataset
    with Project.open(path) as p:
        result = scanmod.scan(p, workers=2)
        assert result.scanned == 63 and not result.failed
    with Project.open(path, readonly=True) as p:  # stored with the project, readable later
        frame = scanmod.load(p)
    assert len(frame) == 63
    flags, t = scanmod.flags(frame)
    flagged = {name: set(frame["id"][flags[name]]) for name in scanmod.FLAGS}
    assert flagged["blurry"] == problems["blurry"]
    assert flagged["dark"] == problems["dark"]
    assert flagged["bright"] == problems["bright"]
    assert not flagged["grayscale"] and not flagged["odd_aspect"]
    # the near copy is 10% smaller: not odd; thresholds are reported
    assert not flagged["odd_size"]
    assert t.dark is not None and 30 <= t.dark <= 80


def test_rescan_measures_only_new_or_changed_files(dataset):
    path, _, folder = dataset
    with Project.open(path) as p:
        scanmod.scan(p, workers=2)
        again = scanmod.scan(p)
        assert (again.scanned, again.unchanged) == (0, 63)
        before = scanmod.load(p).set_index("id")
        target = folder / "images" / "x010.png"
        cv2.imwrite(str(target), np.zeros((480, 640, 3), np.uint8))
        os.utime(target, ns=(1, 1))  # a different modification time, whatever the clock says
        third = scanmod.scan(p)
        assert (third.scanned, third.unchanged) == (1, 62)
        after = scanmod.load(p).set_index("id")
    assert len(after) == 63
    assert after.loc["x010", "brightness"] == 0 and before.loc["x010", "brightness"] > 0
    assert after.drop(index="x010")["sharpness"].equals(before.drop(index="x010")["sharpness"])


def test_cancelled_scan_keeps_committed_batches_and_resumes(dataset, monkeypatch):
    path, _, _ = dataset
    monkeypatch.setattr(scanmod, "BATCH", 10)
    cancel = threading.Event()
    seen = []

    def progress(done, total):
        seen.append(done)
        if done >= 20:
            cancel.set()

    with Project.open(path) as p:
        with pytest.raises(scanmod.ScanCancelled):
            scanmod.scan(p, workers=1, progress=progress, cancel=cancel)
        kept = len(scanmod.load(p))
        assert 20 <= kept < 63
        rest = scanmod.scan(p, workers=2)
        assert rest.unchanged == kept and rest.scanned == 63 - kept
        assert len(scanmod.load(p)) == 63


def test_scan_of_one_split_and_missing_files(dataset):
    path, _, folder = dataset
    (folder / "images" / "x031.jpg").unlink()
    with Project.open(path) as p:
        r = scanmod.scan(p, split="dev")
        frame = scanmod.load(p)
    splits = {e: s for e, s in zip(*[Project.open(path, readonly=True).examples_table().column(c).to_pylist() for c in ("id", "split")])}
    assert set(splits[i] for i in frame["id"]) == {"dev"}
    assert r.failed == {"x031": "missing file"}


def test_stored_scan_is_checksummed(dataset):
    path, _, _ = dataset
    with Project.open(path) as p:
        scanmod.scan(p)
        crcs = p.conn.execute("SELECT COUNT(*), COUNT(crc) FROM columnar WHERE name = 'scan'").fetchone()
    assert crcs[0] >= 1 and crcs[0] == crcs[1]


def test_decompression_bomb_is_refused_from_its_header(tmp_path):
    # a PNG whose header says 30000 x 30000 (900 MP): refused before any pixel is decoded
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 10)
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    m = scanmod.measure(path)
    assert m.error is not None and m.error.startswith("too large")


@pytest.mark.parametrize("name", ["é ü #1 %20?.png", "-leading dash.jpg", "日本語.png"])
def test_odd_file_names_are_measured(tmp_path, name):
    path = tmp_path / name
    ok, data = cv2.imencode(path.suffix, scene(13, 320, 240))
    path.write_bytes(data.tobytes())
    m = scanmod.measure(path)
    assert m.error is None and (m.width, m.height) == (320, 240)
