"""labelme's side of bench/labelme_compare.py; runs in labelme's own environment, not labeler's.

    LABELME_PYTHON bench/_labelme_side.py FOLDER --steps N

Opens labelme's window (1280x800, its default layout) on FOLDER, presses its next-image key (D)
N times back to back, then N/2 times at 10 a second, and prints JSON: per step the frame time (the key
handled and the window repainted) and key -> the canvas painted with the new image, in ms, and the
canvas's size. labelme is timed the way labeler is in bench/review_bench.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6 import QtCore, QtWidgets  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()

    from labelme import __version__
    from labelme._app import MainWindow
    from labelme._widgets._canvas import Canvas

    painted = {"at": 0.0, "key": None}
    paint = Canvas.paintEvent

    def timed(self, event, /):
        paint(self, event)
        painted["at"] = time.perf_counter()
        painted["key"] = None if self.pixmap.isNull() else self.pixmap.cacheKey()

    Canvas.paintEvent = timed
    app = QtWidgets.QApplication(sys.argv[:1])
    win = MainWindow(file_or_dir=args.folder)
    win.resize(1280, 800)
    win.show()
    QTest.qWaitForWindowExposed(win)
    canvas = win._canvas_widgets.canvas

    def wait_painted(old, timeout=30.0):
        end = time.perf_counter() + timeout
        while canvas.pixmap.isNull() or canvas.pixmap.cacheKey() == old or painted["key"] != canvas.pixmap.cacheKey():
            if time.perf_counter() > end:
                raise TimeoutError("labelme did not show the next image")
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)

    wait_painted(None)
    for _ in range(5):  # settle: the first images, the prefetcher started
        app.processEvents()
        QTest.qWait(50)

    def steps(n, gap):
        frames, to_image = [], []
        for _ in range(n):
            old = canvas.pixmap.cacheKey()
            t0 = time.perf_counter()
            QTest.keyClick(win, QtCore.Qt.Key.Key_D)
            app.processEvents()
            frames.append(1000 * (time.perf_counter() - t0))
            wait_painted(old)
            to_image.append(1000 * (painted["at"] - t0))
            if gap:
                rest = gap - (time.perf_counter() - t0)
                if rest > 0:
                    QTest.qWait(int(rest * 1000))
        return frames, to_image

    b2b_frames, b2b = steps(args.steps, None)
    at10_frames, at10 = steps(args.steps // 2, 0.1)
    print(json.dumps({"labelme": __version__, "qt": QtCore.qVersion(), "canvas": [canvas.parentWidget().width(), canvas.parentWidget().height()],
                      "b2b_frames": b2b_frames, "b2b": b2b, "at10_frames": at10_frames, "at10": at10}))
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
