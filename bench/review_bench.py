"""How long from a key press to the next image on screen, in the review window (offscreen)?

Makes 200 JPEGs of 4000x3000 and 200 of 1024x768 in a temporary folder, imports them as a project and
opens the real window. A key press is ``QTest.keyClick(view, Right)``; "painted" is the end of the
ImageView's ``paintEvent`` with the new item's image. Prints, for each size:

- stepping at 10 items/s (100 ms between keys): key -> image painted, p50/p95/max (the first item
  is left out: nothing can be decoded ahead of it);
- back to back (the next key as soon as the window has painted): frame time (key -> next paint),
  how often the image was already there, key -> image;
- the baseline in the same run: the same step with the image decoded on the GUI thread, no prefetch.

And the time of ``ReviewSession.toggle_tag`` calls (one committed transaction each), p50/p99.
Targets: p95 <= 8 ms at 10/s; no frame over 50 ms back to back; decision write p99 <= 2 ms.
Figures only; this never fails on speed.

    python bench/review_bench.py [--n 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from labeler.gui.app import application  # noqa: E402
from labeler.gui.image_view import ImageView  # noqa: E402

SIZES = {"12MP 4000x3000": (4000, 3000), "0.8MP 1024x768": (1024, 768)}
DISTINCT = 8  # distinct pictures per size; the others are copies under other names (decoded anew)


class TimedView(ImageView):
    """An ImageView that notes when it finished painting, and which image it painted."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.painted_at = 0.0
        self.painted_key = None
        self.paints = 0

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        image = self.image()
        self.painted_key = image.cacheKey() if image is not None else None
        self.painted_at = time.perf_counter()
        self.paints += 1


def photo_like(w: int, h: int, rng: np.random.Generator) -> Image.Image:
    """Gradients, soft blobs and noise: a JPEG about as big and slow to decode as a photo."""
    small = rng.random((h // 50 + 2, w // 50 + 2, 3)) * 255
    base = Image.fromarray(small.astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    noise = rng.normal(0, 12, (h, w, 1))
    arr = np.clip(np.asarray(base, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def make_data(folder: Path, n: int, *, subfolders: bool = False) -> Path:
    """``n`` JPEGs per size (DISTINCT pictures under other names) and their predictions.csv;
    ``subfolders``: each size in a folder of its own (big/, small/: labelme opens a folder)."""
    rng = np.random.default_rng(0)
    rows = ["id,path,split,label,pred,confidence"]
    for (w, h) in SIZES.values():
        kind = "big" if w > 2000 else "small"
        if subfolders:
            (folder / kind).mkdir()
        bases = []
        for j in range(DISTINCT):
            p = folder / f"{kind}_base{j}.jpg"
            photo_like(w, h, rng).save(p, quality=90)
            bases.append(p.read_bytes())
        for i in range(n):
            name = f"{kind}/{i:04d}.jpg" if subfolders else f"{kind}_{i:04d}.jpg"
            (folder / name).write_bytes(bases[i % DISTINCT])
            rows.append(f"{kind}{i:04d},{name},dev,{kind},other,0.9")
    csv = folder / "predictions.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))]


def fmt(values: list[float]) -> str:
    worst = max(range(len(values)), key=values.__getitem__)
    return (f"p50 {pct(values, 50):6.2f}  p95 {pct(values, 95):6.2f}  max {values[worst]:6.2f} ms"
            f" (step {worst + 1} of {len(values)})")


def pump_until(app, condition, timeout: float = 10.0) -> None:
    """Run the event loop (sleeping in it, not spinning) until ``condition()`` holds."""
    if condition():
        return
    loop = QEventLoop()
    check = QTimer(interval=1)
    check.timeout.connect(lambda: loop.quit() if condition() else None)
    QTimer.singleShot(int(timeout * 1000), loop.quit)
    check.start()
    loop.exec()
    check.stop()
    if not condition():
        raise TimeoutError("the window did not get there in time")


def pump_for(app, seconds: float) -> None:
    if seconds > 0:
        loop = QEventLoop()
        QTimer.singleShot(max(0, int(seconds * 1000)), loop.quit)
        loop.exec()


def image_painted(win) -> bool:
    view = win.item_view.image_view
    return (win.item_view._shown_id == win.session.current_id and view.image() is not None
            and view.painted_key == view.image().cacheKey())


def step_latency(app, win, gap: float | None, steps: int) -> tuple[list[float], list[float], int]:
    """Press Right ``steps`` times; returns key->image ms, frame ms (the key handled and the window
    repainted) and how often the image was ready."""
    view = win.item_view.image_view
    to_image, frames, hits = [], [], 0
    for _ in range(steps):
        t0 = time.perf_counter()
        QTest.keyClick(view, Qt.Key.Key_Right)
        app.processEvents()  # the repaint the key asked for
        frames.append(1000 * (time.perf_counter() - t0))
        hit = image_painted(win)
        hits += hit
        pump_until(app, lambda: image_painted(win), timeout=30)
        to_image.append(1000 * (view.painted_at - t0))
        if gap is not None:
            pump_for(app, max(0.0, gap - (time.perf_counter() - t0)))
    return to_image, frames, hits


def baseline(app, win, paths: list[str]) -> list[float]:
    """The same step without the prefetcher: decode on the GUI thread, then show and paint."""
    from labeler.core.images import decode
    from labeler.gui.prefetch import _to_qimage

    view = win.item_view.image_view
    out = []
    size = win.item_view.decode_size()
    for p in paths:
        t0 = time.perf_counter()
        decoded = decode(p, size)
        view.set_image(_to_qimage(decoded))
        view.repaint()
        out.append(1000 * (time.perf_counter() - t0))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="images per size")
    args = parser.parse_args(argv)
    n = args.n

    from labeler.core.importer import import_predictions
    from labeler.core.queue import QueueSpec
    from labeler.core.session import ReviewSession
    from labeler.core.store import Project
    from labeler.gui import keymap as keymapmod
    from labeler.gui.main_window import MainWindow

    app = application()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        csv = make_data(folder, n)
        print(f"made {2 * n} JPEGs in {time.perf_counter() - t:.1f} s; {os.cpu_count()} CPUs")
        project = folder / "bench.labeler.db"
        import_predictions(csv, project)
        win = MainWindow(settings=QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat),
                         keymap=keymapmod.default_keymap(), view_class=TimedView)
        win.resize(1280, 800)
        win.show()
        pump_until(app, lambda: win.isVisible())
        opened = Project.open(project)
        verdicts: list[str] = []
        pump_for(app, 0.3)
        sizes = [p.stat().st_size for p in folder.glob("*.jpg")]
        print(f"files: {statistics.mean(sizes) / 1e6:.1f} MB on average")
        for tag, (w, h) in SIZES.items():
            kind = "big" if w > 2000 else "small"
            spec = QueueSpec(order="file", label=kind)
            win.set_project(opened, spec) if win.session is None else win.session.set_queue(spec)
            win._refresh({"queue"})
            pump_until(app, lambda: image_painted(win), timeout=30)
            print(f"view {win.item_view.decode_size()} device pixels")
            half = (n - 1) // 2
            at10, frames10, hits10 = step_latency(app, win, 0.1, half)
            b2b, frames, hits = step_latency(app, win, None, n - 1 - half)
            paths = [str(opened.resolve(opened.example(i)["path"])) for i in win.session.items[:20]]
            base = baseline(app, win, paths)
            print(f"{tag}")
            print(f"  at 10 items/s   key -> image   {fmt(at10)}   images ready {hits10}/{len(at10)}")
            print(f"                  frame          {fmt(frames10)}")
            print(f"  back to back    frame          {fmt(frames)}   frames over 50 ms: {sum(f > 50 for f in frames)}")
            print(f"                  key -> image   {fmt(b2b)}   images ready {hits}/{len(b2b)}")
            print(f"  baseline: decode on the GUI thread, no prefetch   {fmt(base)}\n")
            verdicts.append(f"{tag}: p95 at 10/s {pct(at10, 95):.1f} ms (target <= 8): "
                            f"{'met' if pct(at10, 95) <= 8 else 'NOT met'}; "
                            f"longest frame back to back {max(frames):.1f} ms (target <= 50): "
                            f"{'met' if max(frames) <= 50 else 'NOT met'}\n")

        s = win.session
        writes = []
        for _ in range(200):
            t0 = time.perf_counter()
            s.toggle_tag("mislabeled")
            writes.append(1000 * (time.perf_counter() - t0))
            app.processEvents()
        core = ReviewSession(opened, QueueSpec(order="file", label="small"))  # no window listening
        core_writes = []
        for _ in range(200):
            t0 = time.perf_counter()
            core.toggle_tag("mislabeled")
            core_writes.append(1000 * (time.perf_counter() - t0))
        core.close()
        print("decision write (ReviewSession.toggle_tag, one committed transaction)")
        print(f"  with the window redrawing   p50 {pct(writes, 50):.2f}  p99 {pct(writes, 99):.2f} ms")
        print(f"  core alone                  p50 {pct(core_writes, 50):.2f}  p99 {pct(core_writes, 99):.2f} ms")
        print("\n" + "".join(verdicts), end="")
        print(f"decision write p99 {pct(core_writes, 99):.2f} ms (target <= 2): "
              f"{'met' if pct(core_writes, 99) <= 2 else 'NOT met'}")
        print(f"load average during the run: {os.getloadavg()[0]:.2f} (other processes on the machine skew these)")
        win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
