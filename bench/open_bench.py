"""Open a project in the review window (offscreen) and report, as `key value` lines:
`first_paint` seconds from the parent's start time to the first item painted, then `rss_mb`, the
peak memory after stepping through items with the Right key. Run by bench/run_all.py:

    python bench/open_bench.py PROJECT START_TIME [--steps N]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not getrusage: on Linux its ru_maxrss survives fork and
    exec, so a child started by a big parent would report the parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("project")
    ap.add_argument("start", type=float, help="time.time() when the parent started this process")
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()

    from PySide6.QtCore import QEvent, QObject, QSettings, Qt
    from PySide6.QtTest import QTest

    from labeler.core.queue import QueueSpec
    from labeler.core.store import Project
    from labeler.gui import keymap
    from labeler.gui.app import application
    from labeler.gui.main_window import MainWindow

    app = application()
    painted = []

    class PaintWatch(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 (Qt's name)
            if event.type() == QEvent.Type.Paint and (obj.image() is not None or obj.placeholder() is not None):
                painted.append(time.time())
            return False

    settings = QSettings(os.path.join(os.path.dirname(args.project), "bench.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, keymap=keymap.default_keymap(), reviewer=None, spec=QueueSpec())
    watch = PaintWatch()
    win.item_view.image_view.installEventFilter(watch)
    win.set_project(Project.open(args.project), QueueSpec())
    win.resize(1280, 800)
    win.show()
    while not painted:
        app.processEvents()
    print(f"first_paint {painted[0] - args.start:.3f}", flush=True)
    for _ in range(args.steps):
        QTest.keyClick(win, Qt.Key.Key_Right)
        app.processEvents()
    print(f"rss_mb {peak_rss_mb():.0f}", flush=True)
    win.close()


if __name__ == "__main__":
    sys.exit(main())
