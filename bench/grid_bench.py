"""How smooth is the grid (G) with 1,000 items, once their thumbnails are decoded (offscreen)?

Makes N JPEGs of 640x480 (a few distinct pictures, copied under other names so each is decoded anew),
imports them as a dev-error queue, opens the real window at 1280x800 and switches to the grid. It
first scrolls through once so every thumbnail is requested, waits until the workers have decoded all
of them, then measures scrolling: one step = the scroll bar moved by a third of a page and the
viewport repainted synchronously (``repaint()``), which is what a frame costs. Prints p50/p95/max over
every step down and back up, and the time the thumbnails took to decode.

Baseline in the same run: the same scroll steps over a plain QListView in icon mode with the same
number of items, text only (no delegate, no pictures): the cost of the view itself.

Target: no frame over 16 ms once decoded. Figures only; this never fails on speed.

    python bench/grid_bench.py [--n 1000]
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
from PySide6.QtCore import QSettings, QStringListModel, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QListView  # noqa: E402

from labeler.gui.app import application  # noqa: E402


def make_data(folder: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    distinct = []
    for k in range(8):
        base = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
        distinct.append(Image.fromarray(base).resize((640, 480), Image.Resampling.BICUBIC))
    rows = ["id,path,label,pred,split"]
    for i in range(n):
        name = f"img{i:05d}.jpg"
        distinct[i % len(distinct)].save(folder / name, quality=90)
        rows.append(f"e{i:05d},{name},c{i % 7},c{(i + 1) % 7},dev")
    src = folder / "preds.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return src


def wait_for(app, condition, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("not there in time")
        app.processEvents()
        QTest.qWait(5)


def scroll_steps(app, view) -> list[float]:
    """ms per step: the scroll bar moved by a third of a page, the viewport repainted at once."""
    bar = view.verticalScrollBar()
    step = max(1, bar.pageStep() // 3)
    times = []
    for direction in (+1, -1):
        while True:
            before = bar.value()
            t0 = time.perf_counter()
            bar.setValue(before + direction * step)
            view.viewport().repaint()
            times.append(1000 * (time.perf_counter() - t0))
            app.processEvents()
            if bar.value() == before:
                break
    return times


def summary(times: list[float]) -> str:
    q = statistics.quantiles(times, n=20)
    return f"p50 {statistics.median(times):5.2f} ms  p95 {q[18]:5.2f} ms  max {max(times):5.2f} ms  ({len(times)} frames)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args(argv)
    app = application()
    from labeler.core.importer import import_predictions
    from labeler.core.store import Project
    from labeler.gui import keymap as keymapmod
    from labeler.gui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src = make_data(folder, args.n)
        project = folder / "grid.labeler.db"
        import_predictions(src, project)
        win = MainWindow(settings=QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat),
                         keymap=keymapmod.default_keymap())
        win.set_project(Project.open(project))
        win.resize(1280, 800)
        win.show()
        QTest.qWaitForWindowExposed(win)
        win.item_view.image_view.setFocus()
        t_g = time.perf_counter()
        QTest.keyClick(win.item_view.image_view, Qt.Key.Key_G)
        wait_for(app, lambda: win.grid_mode.active)
        grid = win.grid_mode.grid
        grid.viewport().repaint()  # asks for what is on screen
        wait_for(app, lambda: grid.prefetcher.pending_count == 0)
        first = time.perf_counter() - t_g
        on_screen = grid.prefetcher.cached_count
        assert grid.model().rowCount() == args.n, grid.model().rowCount()
        t0 = time.perf_counter()
        bar = grid.verticalScrollBar()
        while grid.prefetcher.cached_count + grid.prefetcher.pending_count < args.n:  # every thumbnail asked for
            bar.setValue(0)
            while True:  # (the layout is batched: the scroll range grows while it is laid out)
                grid.viewport().repaint()
                app.processEvents()
                if bar.value() >= bar.maximum():
                    break
                bar.setValue(bar.value() + bar.pageStep())
        wait_for(app, lambda: grid.prefetcher.pending_count == 0)
        decoded = time.perf_counter() - t0
        bar.setValue(0)
        scroll_steps(app, grid)  # the pixmaps are made on this first pass
        times = scroll_steps(app, grid)
        print(f"grid, {args.n} items at 1280x800 ({grid.thumb} px thumbnails): decoded on workers in {decoded:.1f} s"
              f" ({grid.prefetcher.cached_count} cached)")
        print(f"  first screenful ({on_screen} thumbnails) decoded {first:.2f} s after G")
        print(f"  scrolling, decoded:        {summary(times)}")

        plain = QListView()
        plain.setViewMode(QListView.ViewMode.IconMode)
        plain.setResizeMode(QListView.ResizeMode.Adjust)
        plain.setUniformItemSizes(True)
        plain.setGridSize(grid.cell_size())
        plain.setModel(QStringListModel([f"e{i:05d}" for i in range(args.n)]))
        plain.resize(grid.size())
        plain.show()
        QTest.qWaitForWindowExposed(plain)
        base = scroll_steps(app, plain)
        print(f"  baseline, plain QListView: {summary(base)}")
        plain.close()
        win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
