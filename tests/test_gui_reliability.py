"""The review window under faults (pytest-qt, offscreen): BAD_INPUTS rows 20-26 through the window
(a folder of broken images), 28-31 as the window shows them, 35 (an exception in a slot), and the
WAL checkpoint the window runs when the reviewer pauses. docs/reliability.md maps rows to tests.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PIL import Image  # noqa: E402
from PySide6.QtCore import QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from labeler.core import location  # noqa: E402
from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.queue import QueueSpec  # noqa: E402
from labeler.core.store import Project, ProjectError  # noqa: E402
from labeler.gui import keymap as keymapmod  # noqa: E402
from labeler.gui import main_window as main_window_mod  # noqa: E402
from labeler.gui.main_window import MainWindow  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def make_window(qtbot, tmp_path) -> MainWindow:
    win = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap())
    qtbot.addWidget(win)
    win.resize(1000, 700)
    return win


def show(qtbot, win: MainWindow) -> None:
    with qtbot.waitExposed(win):
        win.show()
    win.activateWindow()
    win.item_view.image_view.setFocus()


def key(qtbot, win, k) -> None:
    qtbot.keyClick(win.item_view.image_view, k)


def on_disk(db: Path) -> dict[str, tuple]:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {r[0]: r[1:] for r in conn.execute("SELECT example_id, tags, note FROM decisions")}
    finally:
        conn.close()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------------------------------------
# Rows 20-26: a folder of broken images, stepped through in the window


def png_1bit(path: Path, width: int, height: int) -> None:
    """An all-black 1-bit PNG of any size, compressed row by row (never whole in memory)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    z = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def photo(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, w)[None, :, None] + np.zeros((h, 1, 3))
    return Image.fromarray(np.clip(x + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8))


def broken_images(folder: Path) -> dict[str, str]:
    """File name -> what the window must show: "image" or a placeholder reason's first word."""
    folder.mkdir()
    expect = {}

    def jpeg_bytes(img: Image.Image, **kw) -> bytes:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90, **kw)
        return buf.getvalue()

    photo(640, 480).save(folder / "ok.png")
    expect["ok.png"] = "image"
    data = jpeg_bytes(photo(1200, 900, 1))
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    expect["truncated.jpg"] = "truncated"
    buf = io.BytesIO()
    photo(800, 600, 2).save(buf, "PNG")
    (folder / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    expect["truncated.png"] = "truncated"
    (folder / "zero.png").write_bytes(b"")
    expect["zero.png"] = "placeholder"
    (folder / "really_a_jpeg.png").write_bytes(jpeg_bytes(photo(300, 200, 3)))
    expect["really_a_jpeg.png"] = "image"
    Image.new("CMYK", (320, 240), (0, 255, 255, 0)).save(folder / "cmyk.jpg", "JPEG")
    expect["cmyk.jpg"] = "image"
    Image.fromarray((np.arange(256 * 128, dtype=np.uint16).reshape(128, 256) * 2).astype(np.uint16)).save(
        folder / "sixteen_bit.png")
    expect["sixteen_bit.png"] = "image"
    pal = Image.new("P", (200, 150), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.save(folder / "palette.png", transparency=0)
    expect["palette.png"] = "image"
    png_1bit(folder / "huge.png", 30000, 30000)  # tiny on disk, 900 megapixels decoded
    expect["huge.png"] = "too large"
    frames = [Image.new("RGB", (160, 120), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    expect["animated.gif"] = "image"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    (folder / "rotated.jpg").write_bytes(jpeg_bytes(photo(400, 300, 4), exif=exif.tobytes()))
    expect["rotated.jpg"] = "image"
    (folder / "a_folder.jpg").mkdir()
    expect["a_folder.jpg"] = "placeholder"
    (folder / "garbage.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(3000))
    expect["garbage.jpg"] = "placeholder"
    expect["missing.png"] = "missing"
    return expect


def test_rows_20_to_26_broken_images_through_the_window(qtbot, tmp_path):
    """Rows 20, 22-26: stepping with Right through truncated, zero-byte, mislabelled, CMYK, 16-bit,
    palette, 30000x30000, animated, EXIF-rotated, missing and non-image files: each shows an image
    or a placeholder naming the problem, the event loop never stalls (a 10 ms timer keeps firing),
    memory stays bounded, every step is saved."""
    expect = broken_images(tmp_path / "images")
    names = list(expect)
    src = tmp_path / "preds.csv"
    src.write_text("id,path,label,pred\n" + "".join(f"{n},images/{n},good,bad\n" for n in names), encoding="utf-8")
    db = tmp_path / "broken.labeler.db"
    import_predictions(src, db)
    win = make_window(qtbot, tmp_path)
    win.set_project(Project.open(db), QueueSpec(order="file"))
    show(qtbot, win)
    s, view = win.session, win.item_view.image_view
    assert s.items == names

    beats: list[float] = []
    heartbeat = QTimer(interval=10)
    heartbeat.timeout.connect(lambda: beats.append(time.monotonic()))
    heartbeat.start()
    rss_before = rss_mb()
    seen = {}
    try:
        for name in names:
            assert s.current_id == name
            qtbot.waitUntil(lambda: win.item_view._shown_id == name
                            and (view.image() is not None or view.placeholder() is not None), timeout=15_000)
            if view.image() is not None:
                image = view.image()
                seen[name] = ("image", image.width(), image.height())
            else:
                seen[name] = view.placeholder()
            win.grab()  # paint it
            key(qtbot, win, Qt.Key.Key_Right)
        qtbot.wait(50)
    finally:
        heartbeat.stop()
    rss_after = rss_mb()
    print({k: v for k, v in seen.items()}, f"RSS +{rss_after - rss_before:.0f} MB",
          f"longest gap {max(b - a for a, b in zip(beats, beats[1:])) * 1000:.0f} ms")
    for name, what in expect.items():
        got = seen[name]
        if what == "image":
            assert got[0] == "image", (name, got)
        else:
            assert got[0] != "image", (name, got)
            reason, shown = got
            assert shown.endswith(name) and reason, (name, got)
            if what != "placeholder":
                assert reason.startswith(what), (name, got)
    assert seen["rotated.jpg"][1] < seen["rotated.jpg"][2]  # EXIF orientation applied: portrait
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    assert len(beats) > 10 and max(gaps) < 1.0, f"the event loop stalled for {max(gaps):.2f} s"
    assert rss_after - rss_before < 300, f"RSS grew by {rss_after - rss_before:.0f} MB"
    assert all(d[0] is not None for d in on_disk(db).values()) and len(on_disk(db)) == len(names)
    win.close()


# ---------------------------------------------------------------------------------------------
# Row 35: an exception inside a Qt slot


@pytest.mark.qt_no_exception_capture
def test_row35_exception_in_a_slot_is_logged_shown_and_loses_no_decision(qtbot, tmp_path, digits_project,
                                                                         monkeypatch):
    """Row 35: a key whose handler raises: the traceback goes to errors.log in the user's data
    folder and a dialog shows it; every decision made before is in the project; the window goes
    on and the next key is saved."""
    from labeler.gui import errors

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    shown = []
    monkeypatch.setattr(errors, "show_error", lambda message, details, where: shown.append((message, details, where)))
    errors.install()
    win = make_window(qtbot, tmp_path)
    win.set_project(Project.open(digits_project))
    show(qtbot, win)
    s = win.session
    first = s.current_id
    key(qtbot, win, Qt.Key.Key_M)
    key(qtbot, win, Qt.Key.Key_1)
    key(qtbot, win, Qt.Key.Key_Right)
    second = s.current_id
    key(qtbot, win, Qt.Key.Key_H)

    def broken(tag):
        raise RuntimeError("a bug in a slot")

    monkeypatch.setattr(s, "toggle_tag", broken)
    key(qtbot, win, Qt.Key.Key_A)  # the slot raises
    qtbot.waitUntil(lambda: len(shown) == 1)
    message, details, where = shown[0]
    assert message == "RuntimeError: a bug in a slot" and "Traceback" in details
    assert where == errors.log_path() and str(where).startswith(str(tmp_path / "data"))
    assert "a bug in a slot" in where.read_text()
    saved = on_disk(digits_project)
    assert '"mislabeled"' in saved[first][0] and '"very hard"' in saved[second][0]
    monkeypatch.undo()  # (restores toggle_tag and the hooks)
    key(qtbot, win, Qt.Key.Key_A)  # the window goes on
    assert '"ambiguous"' in on_disk(digits_project)[second][0]
    win.close()


# ---------------------------------------------------------------------------------------------
# The WAL checkpoint when the reviewer pauses


def test_window_checkpoints_the_wal_on_a_worker_thread_when_idle(qtbot, tmp_path, digits_project, monkeypatch):
    """(a) ~2 s (here 0.1 s) after the last decision the window runs Project.checkpoint() on a
    worker thread; the WAL is then fully in the file; keys pressed meanwhile are unaffected."""
    monkeypatch.setattr(main_window_mod, "CHECKPOINT_IDLE_MS", 100)
    win = make_window(qtbot, tmp_path)
    project = Project.open(digits_project)
    calls = []
    real = project.checkpoint

    def spy():
        result = real()
        calls.append((threading.current_thread() is threading.main_thread(), result))
        return result

    project.checkpoint = spy
    win.set_project(project)
    show(qtbot, win)
    for _ in range(5):
        key(qtbot, win, Qt.Key.Key_M)
    assert calls == []  # not inside the key presses
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=5000)
    on_gui_thread, (busy, frames, done) = calls[0]
    assert not on_gui_thread and busy == 0 and frames == done > 0
    qtbot.wait(300)
    assert len(calls) == 1  # once per pause, not on a clock
    win.close()


# ---------------------------------------------------------------------------------------------
# Rows 28-31 as the window shows them

HOLDER = textwrap.dedent("""
    import sys
    from labeler.core.store import Project
    p = Project.open(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    p.close()
""")


def test_row28_window_refuses_a_project_another_process_writes(qtbot, tmp_path, digits_project, monkeypatch):
    """Row 28: opening a project that another labeler process writes: a dialog naming that
    process (which offers read-only: declined here), nothing opened; once it has closed, the same
    open works."""
    errors = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: errors.append(text))
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a: errors.append(text)
                        or QMessageBox.StandardButton.No)
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(digits_project)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout.readline().strip() == "ready"
        win = make_window(qtbot, tmp_path)
        assert win.open_path(digits_project) is False
        assert win.session is None
        assert len(errors) == 1 and "another labeler" in errors[0] and f"process {proc.pid}" in errors[0]
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert win.open_path(digits_project) is True
    win.close()


def test_row29_window_shows_the_network_drive_warning(qtbot, tmp_path, digits_project, monkeypatch):
    """Row 29: a project on a network filesystem: a warning box over the window (the event loop
    runs on: no nested exec) and the status bar; once dismissed the review goes on."""
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/vda / ext4 rw 0 0\nsrv:/x {digits_project.parent} nfs rw 0 0\n")
    monkeypatch.setattr(location, "MOUNTS_FILE", str(mounts))
    win = make_window(qtbot, tmp_path)
    win.set_project(Project.open(digits_project))
    show(qtbot, win)
    boxes = [b for b in win.findChildren(QMessageBox) if b.isVisible()]
    assert len(boxes) == 1 and "network filesystem (nfs" in boxes[0].text()
    assert "network filesystem" in win.statusBar().currentMessage()
    qtbot.keyClick(boxes[0], Qt.Key.Key_Return)  # read and dismissed
    qtbot.waitUntil(lambda: not [b for b in win.findChildren(QMessageBox) if b.isVisible()])
    key(qtbot, win, Qt.Key.Key_M)  # the review goes on
    assert on_disk(digits_project)
    win.close()


def test_row30_window_shows_a_corrupt_project_as_an_error_and_leaves_it(qtbot, tmp_path, digits_project,
                                                                         monkeypatch):
    """Row 30: a damaged project opened from the window: a dialog, no session, the file unchanged."""
    errors = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: errors.append(text))
    data = bytearray(digits_project.read_bytes())
    mid = len(data) // 2 // 4096 * 4096
    data[mid: mid + 8192] = bytes(b ^ 0xFF for b in data[mid: mid + 8192])
    digits_project.write_bytes(bytes(data))
    win = make_window(qtbot, tmp_path)
    assert win.open_path(digits_project) is False
    assert win.session is None and len(errors) == 1 and "damaged" in errors[0]
    assert digits_project.read_bytes() == bytes(data)
    win.close()


def test_row31_window_says_not_saved_when_a_decision_cannot_be_written(qtbot, tmp_path, digits_project,
                                                                        monkeypatch):
    """Row 31 in the window: a write that fails (disk full) shows "NOT saved" and the error, the item
    keeps its last saved state, and pressing the key again once it can be written saves it."""
    errors = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: errors.append(text))
    win = make_window(qtbot, tmp_path)
    win.set_project(Project.open(digits_project))
    show(qtbot, win)
    s = win.session
    project = s.project
    real = project.write_decision

    def full(*a, **k):
        raise ProjectError(f"could not save to {project.path}: the disk is full or the file too large")

    project.write_decision = full
    key(qtbot, win, Qt.Key.Key_M)
    assert win.saved_label.text() == "NOT saved" and "disk is full" in errors[0]
    assert "mislabeled" not in s.decision(s.current_id).tags and not s.can_undo
    project.write_decision = real
    key(qtbot, win, Qt.Key.Key_M)
    assert win.saved_label.text().startswith("✓ saved")
    assert '"mislabeled"' in on_disk(digits_project)[s.current_id][0]
    win.close()


def test_row26_a_slow_decode_never_holds_up_the_keys(qtbot, tmp_path, monkeypatch):
    """Row 26: while the current item's image is still decoding (held back here until the test lets
    it go), the window paints, timers fire, and keys are handled and saved at once."""
    from labeler.gui import prefetch as prefetch_module

    folder = tmp_path / "images"
    folder.mkdir()
    names = [f"im{i}.png" for i in range(4)]
    for i, n in enumerate(names):
        photo(400, 300, i).save(folder / n)
    src = tmp_path / "preds.csv"
    src.write_text("id,path,label,pred\n" + "".join(f"{n},images/{n},good,bad\n" for n in names), encoding="utf-8")
    db = tmp_path / "slow.labeler.db"
    import_predictions(src, db)
    gate = threading.Event()
    real = prefetch_module.decode

    def slow(path, max_size=None):
        if Path(path).name == "im1.png":
            gate.wait(timeout=20)  # a decode that takes as long as the test wants
        return real(path, max_size)

    monkeypatch.setattr(prefetch_module, "decode", slow)
    win = make_window(qtbot, tmp_path)
    win.set_project(Project.open(db), QueueSpec(order="file"))
    show(qtbot, win)
    s, view = win.session, win.item_view.image_view
    beats: list[float] = []
    heartbeat = QTimer(interval=10)
    heartbeat.timeout.connect(lambda: beats.append(time.monotonic()))
    heartbeat.start()
    try:
        qtbot.waitUntil(lambda: win.item_view._shown_id == "im0.png")
        key(qtbot, win, Qt.Key.Key_Right)  # onto im1, whose decode hangs
        assert s.current_id == "im1.png"
        qtbot.wait(200)
        assert win.item_view._shown_id != "im1.png"  # still decoding ...
        t0 = time.monotonic()
        key(qtbot, win, Qt.Key.Key_M)  # ... and the keys work
        key(qtbot, win, Qt.Key.Key_1)
        key(qtbot, win, Qt.Key.Key_Right)
        assert time.monotonic() - t0 < 0.5
        assert s.current_id == "im2.png"
        qtbot.wait(200)  # (with one decoder thread, as on 2 cores, im2 waits for im1's decode)
        gate.set()
        qtbot.waitUntil(lambda: win.item_view._shown_id == "im2.png" and view.image() is not None)
        key(qtbot, win, Qt.Key.Key_Left)
        qtbot.waitUntil(lambda: win.item_view._shown_id == "im1.png" and view.image() is not None)
    finally:
        gate.set()
        heartbeat.stop()
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    assert max(gaps) < 0.25, f"the event loop stalled for {max(gaps):.2f} s"
    assert '"mislabeled"' in on_disk(db)["im1.png"][0]
    win.close()


def test_a_project_with_a_damaged_chunk_is_refused_with_a_message(qtbot, tmp_path, digits_project, monkeypatch):
    """A stored chunk failing its checksum (a flipped bit on disk) is found when the window loads
    the examples: a message naming the damage, nothing opened, the file unchanged."""
    import sqlite3

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from labeler.gui import keymap as keymapmod
    from labeler.gui.main_window import MainWindow

    conn = sqlite3.connect(f"file:{digits_project}?mode=ro", uri=True)
    blob = conn.execute("SELECT data FROM columnar WHERE name = 'examples' AND chunk = 0").fetchone()[0]
    conn.close()
    data = bytearray(digits_project.read_bytes())
    at = data.find(blob[200:264])
    data[at + 3] ^= 0x01
    digits_project.write_bytes(bytes(data))
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append(text))
    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap())
    qtbot.addWidget(win)
    assert win.open_path(digits_project) is False
    assert win.session is None
    assert len(shown) == 1 and "damaged" in shown[0] and "'examples' chunk 0" in shown[0]
    assert digits_project.read_bytes() == bytes(data)
