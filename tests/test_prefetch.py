"""Decoding ahead on worker threads (ImagePrefetcher) and showing the result (ImageView).

Offscreen Qt. Tests wait on signals and conditions, never on sleeps. Bad-input
tests name their row in /work/shared/BAD_INPUTS.md.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QCoreApplication, QEvent, QPoint, QPointF, Qt, QThread
from PySide6.QtGui import QColor, QImage, QMouseEvent, QWheelEvent

import labeler.gui.prefetch as prefetch_module
from labeler.core.images import Decoded
from labeler.gui.image_view import ImageView
from labeler.gui.prefetch import ImagePrefetcher

SIZE = (200, 200)


@pytest.fixture
def prefetcher(qtbot):
    pf = ImagePrefetcher()
    yield pf
    pf.shutdown()


def make_jpeg(path: Path, size=(400, 300), color=(200, 30, 30)) -> Path:
    Image.new("RGB", size, color).save(path, quality=95)
    return path


def wait_idle(qtbot, pf: ImagePrefetcher) -> None:
    qtbot.waitUntil(lambda: pf.pending_count == 0, timeout=10_000)


def as_array(image: QImage) -> np.ndarray:
    """H x W x 3 RGB copy of a QImage, for checking pixels in bulk."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    height, width = rgb.height(), rgb.width()
    raw = np.frombuffer(rgb.constBits(), np.uint8, count=rgb.sizeInBytes())
    return raw.reshape(height, rgb.bytesPerLine())[:, : width * 3].reshape(height, width, 3).copy()


class GatedDecode:
    """Stands in for `decode` in the workers: records calls, can hold the first jobs.

    Holding jobs makes the queue's state deterministic: with both worker threads
    blocked, every later job is known to be still queued.
    """

    def __init__(self, real, hold: int = 0):
        self.calls: list[str] = []
        self.held = 0
        self.hold = hold
        self.gate = threading.Event()
        self._real = real
        self._lock = threading.Lock()

    def __call__(self, path, max_size=None):
        with self._lock:
            self.calls.append(str(path))
            must_wait = self.held < self.hold
            if must_wait:
                self.held += 1
        if must_wait:
            self.gate.wait(timeout=20)
        return self._real(path, max_size)


@pytest.fixture
def gated(monkeypatch):
    installed: list[GatedDecode] = []

    def install(hold: int) -> GatedDecode:
        fake = GatedDecode(prefetch_module.decode, hold)
        monkeypatch.setattr(prefetch_module, "decode", fake)
        installed.append(fake)
        return fake

    yield install
    for fake in installed:
        fake.gate.set()  # never leave a worker blocked, even when a test fails


# -- the prefetcher ------------------------------------------------------------------


def test_delivers_qimage_on_the_gui_thread(qtbot, prefetcher, tmp_path):
    path = make_jpeg(tmp_path / "a.jpg")
    threads = []
    prefetcher.ready.connect(lambda p: threads.append(QThread.currentThread()))
    assert prefetcher.get(path, SIZE) is None  # not decoded yet, and get() does not wait

    with qtbot.waitSignal(prefetcher.ready, timeout=10_000) as blocker:
        prefetcher.request(path, SIZE)
    assert blocker.args == [str(path)]
    assert threads == [QCoreApplication.instance().thread()]

    image = prefetcher.get(path, SIZE)
    assert isinstance(image, QImage)
    assert (image.width(), image.height()) == (200, 150)  # fitted, aspect kept
    assert image.format() == QImage.Format.Format_RGB32
    r, g, b, _ = image.pixelColor(100, 75).getRgb()
    assert abs(r - 200) < 8 and g < 45 and b < 45
    assert prefetcher.get(path, (100, 100)) is None  # another size is another entry


def test_rgba_image_keeps_its_alpha(qtbot, prefetcher, tmp_path):
    im = Image.new("RGBA", (10, 10), (0, 0, 255, 255))
    im.paste((0, 0, 0, 0), (0, 0, 5, 10))
    im.save(tmp_path / "alpha.png")
    with qtbot.waitSignal(prefetcher.ready, timeout=10_000):
        prefetcher.request(tmp_path / "alpha.png", None)
    image = prefetcher.get(tmp_path / "alpha.png", None)
    assert image.hasAlphaChannel()
    assert image.pixelColor(2, 5).alpha() == 0
    assert image.pixelColor(7, 5) == QColor(0, 0, 255)


def test_rows_20_22_25_bad_files_come_back_as_reasons(qtbot, prefetcher, tmp_path):
    """Rows 20, 22, 25: the workers return a Decoded with the reason, for a placeholder."""
    make_jpeg(tmp_path / "full.jpg", (600, 400))
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "dir.png").mkdir()
    expected = {
        tmp_path / "missing.jpg": "missing file",
        tmp_path / "cut.jpg": "truncated",
        tmp_path / "empty.png": "empty file (0 bytes)",
        tmp_path / "dir.png": "is a directory",
    }
    prefetcher.prefetch(list(expected), SIZE)
    qtbot.waitUntil(lambda: all(prefetcher.get(p, SIZE) is not None for p in expected), timeout=10_000)
    for path, reason in expected.items():
        result = prefetcher.get(path, SIZE)
        assert isinstance(result, Decoded) and result.reason == reason


def test_no_duplicate_jobs_in_flight(qtbot, prefetcher, tmp_path, gated):
    fake = gated(hold=1)
    path = make_jpeg(tmp_path / "a.jpg")
    ready = []
    prefetcher.ready.connect(ready.append)
    for _ in range(5):
        prefetcher.request(path, SIZE)
    prefetcher.prefetch([path], SIZE)
    assert prefetcher.pending_count == 1
    fake.gate.set()
    wait_idle(qtbot, prefetcher)
    prefetcher.request(path, SIZE)  # cached now: no new job
    assert prefetcher.pending_count == 0
    assert fake.calls == [str(path)]
    assert ready == [str(path)]


def test_prefetch_drops_stale_queued_jobs(qtbot, prefetcher, tmp_path, gated):
    """Holding a key down must not pile up decodes of items already passed."""
    fake = gated(hold=2)  # both worker threads get stuck on the first two jobs
    old = [make_jpeg(tmp_path / f"old{i}.jpg", (64, 48)) for i in range(30)]
    new = [make_jpeg(tmp_path / f"new{i}.jpg", (64, 48)) for i in range(3)]

    prefetcher.prefetch(old, SIZE)
    qtbot.waitUntil(lambda: fake.held == 2, timeout=10_000)
    prefetcher.prefetch(new, SIZE)
    assert prefetcher.pending_count == 2 + 3  # the two running old jobs, the three new ones
    fake.gate.set()
    wait_idle(qtbot, prefetcher)

    assert sorted(fake.calls) == sorted(map(str, old[:2] + new))
    assert all(isinstance(prefetcher.get(p, SIZE), QImage) for p in new)
    assert prefetcher.get(old[5], SIZE) is None


def test_request_goes_ahead_of_prefetching(qtbot, tmp_path, gated):
    # One worker, so the order jobs start in is the order they reach `decode` (with two, the
    # scheduler decides which of two jobs started together gets there first).
    pf = ImagePrefetcher(threads=1)
    try:
        fake = gated(hold=1)
        queued = [make_jpeg(tmp_path / f"next{i}.jpg", (64, 48)) for i in range(6)]
        current = make_jpeg(tmp_path / "current.jpg", (64, 48))
        pf.prefetch(queued, SIZE)
        qtbot.waitUntil(lambda: fake.held == 1, timeout=10_000)
        pf.request(current, SIZE)
        fake.gate.set()
        wait_idle(qtbot, pf)
        assert fake.calls[1] == str(current)  # the request before every queued prefetch
        assert fake.calls[2:] == [str(p) for p in queued[1:]]  # then in prefetch order
    finally:
        pf.shutdown()


def test_cache_is_bounded_by_count(qtbot, tmp_path):
    pf = ImagePrefetcher(max_items=3)
    try:
        paths = [make_jpeg(tmp_path / f"{i}.jpg", (40, 30)) for i in range(8)]
        for path in paths:
            with qtbot.waitSignal(pf.ready, timeout=10_000):
                pf.request(path, SIZE)
        assert pf.cached_count == 3
        assert [pf.get(p, SIZE) is not None for p in paths] == [False] * 5 + [True] * 3
    finally:
        pf.shutdown()


def test_cache_is_bounded_by_bytes(qtbot, tmp_path):
    one_image = 100 * 100 * 4
    pf = ImagePrefetcher(max_bytes=int(2.5 * one_image))
    try:
        paths = [make_jpeg(tmp_path / f"{i}.jpg", (100, 100)) for i in range(6)]
        pf.prefetch(paths, SIZE)
        wait_idle(qtbot, pf)
        assert pf.cached_count == 2
        assert pf.cached_bytes == 2 * one_image <= 2.5 * one_image
    finally:
        pf.shutdown()


def test_recently_used_entries_survive_eviction(qtbot, tmp_path):
    pf = ImagePrefetcher(max_items=2)
    try:
        a, b, c = (make_jpeg(tmp_path / f"{n}.jpg", (40, 30)) for n in "abc")
        for path in (a, b):
            with qtbot.waitSignal(pf.ready, timeout=10_000):
                pf.request(path, SIZE)
        assert pf.get(a, SIZE) is not None  # touch a: b is now the oldest
        with qtbot.waitSignal(pf.ready, timeout=10_000):
            pf.request(c, SIZE)
        assert pf.get(a, SIZE) is not None and pf.get(b, SIZE) is None
    finally:
        pf.shutdown()


def test_clear_forgets_cache_and_drops_running_results(qtbot, prefetcher, tmp_path, gated):
    fake = gated(hold=1)
    done = make_jpeg(tmp_path / "done.jpg")
    with qtbot.waitSignal(prefetcher.ready, timeout=10_000):
        prefetcher.request(done, SIZE)  # the first call is the held one...
        fake.gate.set()  # ...so let it through right away
    fake.gate.clear()
    fake.hold, fake.held = 1, 0
    running = make_jpeg(tmp_path / "running.jpg")
    prefetcher.request(running, SIZE)
    qtbot.waitUntil(lambda: fake.held == 1, timeout=10_000)

    prefetcher.clear()
    assert prefetcher.get(done, SIZE) is None
    assert prefetcher.cached_count == prefetcher.pending_count == 0
    fake.gate.set()
    prefetcher.shutdown()  # waits for the running decode...
    QCoreApplication.processEvents()  # ...and delivers its result, which must be dropped
    assert prefetcher.get(running, SIZE) is None


def test_worker_fits_a_reduced_decode_smoothly_like_pillow(qtbot, prefetcher, tmp_path):
    """The workers fit the last fractional shrink with Qt's scaler: the image has the fitted size and
    is the same picture as Pillow's own fit (not a nearest-neighbour pick of its pixels)."""
    from labeler.core.images import decode

    rng = np.random.default_rng(3)
    base = np.linspace(0, 255, 1024)[None, :, None] + np.zeros((768, 1, 3))
    noisy = np.clip(base + rng.normal(0, 40, (768, 1024, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "a.jpg", quality=95)
    box = (926, 729)
    with qtbot.waitSignal(prefetcher.ready, timeout=10_000):
        prefetcher.request(tmp_path / "a.jpg", box)
    image = prefetcher.get(tmp_path / "a.jpg", box)
    assert (image.width(), image.height()) == (926, 694)
    assert image.format() == QImage.Format.Format_RGB32
    ours = as_array(image).astype(int)
    pillow = decode(tmp_path / "a.jpg", box).pixels.astype(int)
    assert np.abs(ours - pillow).mean() < 6  # the same smoothing: the noise is averaged alike
    picked = as_array(QImage(str(tmp_path / "a.jpg")).scaled(926, 694)).astype(int)  # a nearest-neighbour pick

    def noise(a):  # the gradient runs along x: what differs within a column is noise
        return (a - a.mean(axis=0, keepdims=True)).std()

    assert noise(ours) < 0.85 * noise(picked)  # averaged, not picked


def test_worker_image_of_an_exif_rotated_jpeg_is_turned_and_fitted(qtbot, prefetcher, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; turned clockwise, the red left half ends up on top
    stored = Image.new("RGB", (2000, 1000), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 1000, 1000))
    stored.save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    with qtbot.waitSignal(prefetcher.ready, timeout=10_000):
        prefetcher.request(tmp_path / "r.jpg", (300, 300))
    image = prefetcher.get(tmp_path / "r.jpg", (300, 300))
    assert (image.width(), image.height()) == (150, 300)
    top, bottom = image.pixelColor(75, 10), image.pixelColor(75, 290)
    assert top.red() > 230 and top.blue() < 30
    assert bottom.blue() > 230 and bottom.red() < 30


def test_prefetcher_feeds_the_view(qtbot, prefetcher, tmp_path):
    """Row 20 end to end: a missing file becomes a placeholder, a good one an image."""
    view = ImageView()
    qtbot.addWidget(view)
    good = make_jpeg(tmp_path / "good.jpg")

    def show(path: str) -> None:
        result = prefetcher.get(path, SIZE)
        if isinstance(result, QImage):
            view.set_image(result)
        else:
            view.set_placeholder(result.reason, path)

    prefetcher.ready.connect(show)
    with qtbot.waitSignal(prefetcher.ready, timeout=10_000):
        prefetcher.request(tmp_path / "gone.jpg", SIZE)
    assert view.placeholder() == ("missing file", str(tmp_path / "gone.jpg"))
    with qtbot.waitSignal(prefetcher.ready, timeout=10_000):
        prefetcher.request(good, SIZE)
    assert view.placeholder() is None and view.image().width() == 200


# -- the view ----------------------------------------------------------------------


def checkerboard(cells: int, cell_px: int = 1) -> QImage:
    size = cells * cell_px
    image = QImage(size, size, QImage.Format.Format_RGB32)
    for y in range(size):
        for x in range(size):
            white = ((x // cell_px) + (y // cell_px)) % 2
            image.setPixelColor(x, y, QColor(255, 255, 255) if white else QColor(0, 0, 0))
    return image


@pytest.fixture
def view(qtbot):
    widget = ImageView()
    qtbot.addWidget(widget)
    widget.resize(256, 256)
    with qtbot.waitExposed(widget):
        widget.show()
    return widget


def test_small_image_is_upscaled_with_nearest_neighbour(view):
    view.set_image(checkerboard(8))
    shot = as_array(view.grab().toImage())
    assert shot.shape == (256, 256, 3)
    expected = np.kron((np.indices((8, 8)).sum(axis=0) % 2) * 255, np.ones((32, 32), int))
    assert np.array_equal(shot[:, :, 0], expected)  # every pixel exact: crisp 32x32 cells
    assert np.array_equal(shot[:, :, 0], shot[:, :, 2])


def test_upscaling_by_a_fraction_stays_crisp(qtbot, view):
    view.resize(300, 300)
    qtbot.waitUntil(lambda: view.width() == 300)
    view.set_image(checkerboard(8))
    shot = as_array(view.grab().toImage())
    assert set(np.unique(shot)) <= {0, 255}  # no blended greys anywhere


def test_large_image_is_scaled_down_smoothly(view):
    view.set_image(checkerboard(512))  # one-pixel checks, shown 4x smaller
    assert view.display_scale() == pytest.approx(0.5)
    shot = as_array(view.grab().toImage()).astype(int)
    assert abs(shot.mean() - 127.5) < 3
    assert shot.min() > 100 and shot.max() < 155  # averaged to grey, not aliased stripes


@pytest.mark.parametrize("size", [(200, 100), (3, 2), (2, 3), (700, 333), (256, 256)])
def test_every_pixel_is_painted_picture_or_background(view, size):
    """The background is filled only around an opaque picture: no pixel may be left out (it would
    keep the last frame's colour) and the picture is not painted over."""
    view.set_image(QImage(512, 512, QImage.Format.Format_RGB32))  # a frame before, to leave traces of
    view.image().fill(QColor(255, 255, 255))
    view.grab()
    picture = QImage(*size, QImage.Format.Format_RGB32)
    picture.fill(QColor(200, 0, 0))
    view.set_image(picture)
    shot = view.grab().toImage().convertToFormat(QImage.Format.Format_ARGB32)
    pixels = {tuple(c) for c in as_array(shot).reshape(-1, 3)}
    assert pixels <= {(200, 0, 0), (40, 40, 40)}, pixels - {(200, 0, 0), (40, 40, 40)}
    centre = shot.pixelColor(128, 128)
    assert (centre.red(), centre.green(), centre.blue()) == (200, 0, 0)
    scale = min(256 / size[0], 256 / size[1])
    if size[1] * scale < 250:  # letterboxed above and below
        corner = shot.pixelColor(128, 1)
        assert (corner.red(), corner.green(), corner.blue()) == (40, 40, 40)


def test_zoom_in_out_reset_and_wheel(view):
    view.set_image(checkerboard(8))
    fit = view.display_scale()
    view.zoom_in()
    assert view.display_scale() == pytest.approx(fit * 1.25)
    view.zoom_out()
    view.zoom_out()
    assert view.zoom_factor() == pytest.approx(1 / 1.25)
    view.zoom_reset()
    assert view.display_scale() == pytest.approx(fit)

    wheel = QWheelEvent(
        QPointF(128, 128), QPointF(128, 128), QPoint(0, 0), QPoint(0, 120),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )
    QCoreApplication.sendEvent(view, wheel)
    assert view.zoom_factor() == pytest.approx(1.25)


def test_drag_pans_when_zoomed(view):
    view.set_image(checkerboard(8))
    for _ in range(4):
        view.zoom_in()  # 32 px cells become ~78 px
    before = as_array(view.grab().toImage())

    def mouse(kind, x, buttons):
        event = QMouseEvent(
            kind, QPointF(x, 128), QPointF(x, 128), Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier
        )
        QCoreApplication.sendEvent(view, event)

    mouse(QEvent.Type.MouseButtonPress, 100, Qt.MouseButton.LeftButton)
    mouse(QEvent.Type.MouseMove, 140, Qt.MouseButton.LeftButton)
    mouse(QEvent.Type.MouseButtonRelease, 140, Qt.MouseButton.NoButton)
    after = as_array(view.grab().toImage())
    assert np.array_equal(after[:, 40:, 0], before[:, :-40, 0])  # content moved 40 px right


def test_placeholder_renders_reason_and_file_name(view, tmp_path):
    view.resize(480, 300)
    view.set_placeholder("too large (30000 x 30000)", "/data/images/bomb.png")
    assert view.placeholder() == ("too large (30000 x 30000)", "/data/images/bomb.png")
    shot = as_array(view.grab().toImage()).astype(int)
    background = shot[2, 2]
    assert (np.abs(shot - background).sum(axis=2) > 60).sum() > 500  # a panel with text on it
    reason_coloured = (np.abs(shot - (255, 196, 92)).sum(axis=2) < 40).sum()
    assert reason_coloured > 100  # the reason, in its highlight colour
    view.set_image(checkerboard(8))
    assert view.placeholder() is None


def test_many_repaints_reuse_the_cached_pixmap(qtbot, view):
    """paintEvent is cheap and survives many calls (see DESIGN.md on PySide6 6.12)."""
    view.resize(200, 150)
    qtbot.waitUntil(lambda: view.width() == 200)
    view.set_image(checkerboard(512))
    view.repaint()
    cached = view._scaled_pixmap[1]
    for _ in range(20_000):
        view.repaint()
    assert view._scaled_pixmap[1] is cached


def test_zoom_before_the_view_has_a_size(qtbot):
    widget = ImageView()
    qtbot.addWidget(widget)
    widget.setMinimumSize(0, 0)
    widget.resize(0, 0)
    assert widget.width() == 0
    widget.set_image(checkerboard(8))
    widget.zoom_in()
    widget.zoom_out()
    assert widget.zoom_factor() == pytest.approx(1.0)
    widget.grab()  # paints without dividing by zero


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_workers_decode_at_a_lower_cpu_priority_than_the_gui_thread(qtbot, prefetcher, tmp_path, monkeypatch):
    """A key press must get a core at once even while every core is decoding ahead."""
    seen = []
    real = prefetch_module.decode

    def recording(path, size):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return real(path, size)

    monkeypatch.setattr(prefetch_module, "decode", recording)
    gui = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    paths = [str(make_jpeg(tmp_path / f"{i}.jpg")) for i in range(4)]
    prefetcher.prefetch(paths, SIZE)
    wait_idle(qtbot, prefetcher)
    assert len(seen) == 4
    assert all(p == min(19, gui + prefetch_module.WORKER_NICENESS) for p in seen)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == gui  # the GUI thread keeps its own


def test_the_application_hands_the_gil_back_quickly(qapp):
    from labeler.gui.app import application

    application()
    assert sys.getswitchinterval() <= 0.001
