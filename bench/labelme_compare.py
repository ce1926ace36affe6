"""labeler against labelme 7.9.1 on the same JPEGs in the same run: key press -> next image on screen.

Both windows are 1280x800 in their default layouts, offscreen (labeler's view is 936 px wide with
the panels hidden, labelme's canvas 932 px). For each size (12 MP 4000x3000 and 1024x768), N files
(a few distinct pictures copied under other names, so each is decoded anew):

- held down: the next key as soon as the window has shown the last image (back to back);
  key -> the view painted with the new image, p50/p95/max, and frames (the key handled and the
  window repainted) over 50 ms;
- at 10 keys a second: key -> image, p50/p95.

The image timed is the one the reviewer keeps: fitted to the view at full quality (labeler shows
no reduced preview first). Each size runs labeler, then labelme at once, so both see about the same
load on a shared machine; each labeler run opens a new window (nothing decoded ahead). `--runs N`
repeats it all and ends with the median of each figure over the runs.

labeler's side runs here (its Right key, which also writes "reviewed"); labelme's runs in its own
environment (Python 3.12, labelme 7.9.1 and PySide6 6.11.3; never a dependency of labeler):

    python3.12 -m venv /tmp/labelme-venv && /tmp/labelme-venv/bin/pip install labelme==7.9.1 PySide6==6.11.3
    python bench/labelme_compare.py [--n 90] [--runs 3] [--labelme-python /tmp/labelme-venv/bin/python]

Figures only; this never fails on speed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QSettings  # noqa: E402
from review_bench import (SIZES, TimedView, image_painted, make_data, pct, pump_for,  # noqa: E402
                          pump_until, step_latency)

from labeler.gui.app import application  # noqa: E402

HERE = Path(__file__).resolve().parent


def line(name: str, values: list[float]) -> str:
    return (f"  {name:<34} p50 {pct(values, 50):7.2f}  p95 {pct(values, 95):7.2f}  max {max(values):7.2f} ms"
            f"  over 50 ms: {sum(v > 50 for v in values)}")


def labeler_side(app, folder: Path, project: Path, kind: str, steps: int) -> dict:
    """A new window on the project (nothing decoded yet), the queue of one size, the keys pressed."""
    from labeler.core.queue import QueueSpec
    from labeler.core.store import Project
    from labeler.gui import keymap as keymapmod
    from labeler.gui.main_window import MainWindow

    win = MainWindow(settings=QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap(), view_class=TimedView)
    win.resize(1280, 800)
    win.show()
    pump_until(app, lambda: win.isVisible())
    opened = Project.open(project)
    try:
        win.set_project(opened, QueueSpec(order="file", label=kind))
        win._refresh({"queue"})
        if len(win.session.items) <= steps + steps // 2:
            raise SystemExit(f"the {kind} queue has {len(win.session.items)} items, fewer than the keys to press")
        pump_until(app, lambda: image_painted(win), timeout=30)
        pump_for(app, 0.5)
        view = win.item_view.image_view
        b2b, b2b_frames, _ = step_latency(app, win, None, steps)
        at10, _, _ = step_latency(app, win, 0.1, steps // 2)
        shown = view.image()
        return {"b2b": b2b, "b2b_frames": b2b_frames, "at10": at10, "view": [view.width(), view.height()],
                "image": [shown.width(), shown.height()] if shown is not None else None}
    finally:
        win.close()
        opened.close()


def labelme_side(python: str, folder: Path, kind: str, steps: int) -> dict | None:
    if not Path(python).exists():
        return None
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(folder / "labelme-home"), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([python, str(HERE / "_labelme_side.py"), str(folder / kind), "--steps", str(steps)],
                          env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def verdict(ours: dict, theirs: dict | None) -> str:
    out = (f"  labeler: key -> image over 50 ms held down: {sum(v > 50 for v in ours['b2b'])},"
           f" frames over 50 ms: {sum(v > 50 for v in ours['b2b_frames'])};"
           f" 10/s p95 {pct(ours['at10'], 95):.2f} ms (target < 2): {'met' if pct(ours['at10'], 95) < 2 else 'NOT met'}")
    if theirs:
        beats = pct(ours["b2b"], 50) < pct(theirs["b2b"], 50) and pct(ours["b2b"], 95) < pct(theirs["b2b"], 95)
        out = f"  held down: labeler {'beats' if beats else 'does NOT beat'} labelme at p50 and p95\n" + out
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=90, help="images per size")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole comparison; medians are printed at the end")
    parser.add_argument("--labelme-python", default=os.environ.get("LABELME_PYTHON", "/tmp/labelme-venv/bin/python"))
    args = parser.parse_args(argv)
    steps = (args.n - 1) * 2 // 3  # held down, then half as many at 10/s: one pass through the files

    from labeler.core.importer import import_predictions

    app = application()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv = make_data(folder, args.n, subfolders=True)
        project = folder / "bench.labeler.db"
        import_predictions(csv, project)
        print(f"{os.cpu_count()} CPUs; {args.n} files per size, {steps} keys held down then {steps // 2} at 10/s;"
              f" labeler then labelme for each size, {args.runs} run(s)", flush=True)
        for run in range(args.runs):
            results = {}
            for tag, (w, h) in SIZES.items():
                kind = "big" if w > 2000 else "small"
                load = os.getloadavg()[0]
                fresh = folder / f"run{run}-{kind}.labeler.db"  # nothing reviewed yet: the whole queue to step through
                shutil.copyfile(project, fresh)
                ours = labeler_side(app, folder, fresh, kind, steps)
                theirs = labelme_side(args.labelme_python, folder, kind, steps)
                results[tag] = {"labeler": ours, "labelme": theirs, "load": [load, os.getloadavg()[0]]}
            runs.append(results)
            print(f"\n== run {run + 1} of {args.runs}")
            for tag, r in results.items():
                ours, theirs = r["labeler"], r["labelme"]
                print(f"\n{tag}  (load average {r['load'][0]:.1f} before, {r['load'][1]:.1f} after)")
                print(f"  labeler view {ours['view'][0]}x{ours['view'][1]}, image shown {ours['image'][0]}x{ours['image'][1]}"
                      + (f"; labelme {theirs['labelme']} (Qt {theirs['qt']}) canvas {theirs['canvas'][0]}x{theirs['canvas'][1]}"
                         if theirs else "; labelme: not run (no --labelme-python)"))
                print(line("labeler  held down, key -> image", ours["b2b"]))
                print(line("labeler  held down, frame", ours["b2b_frames"]))
                if theirs:
                    print(line("labelme  held down, key -> image", theirs["b2b"]))
                    print(line("labelme  held down, frame", theirs["b2b_frames"]))
                print(line("labeler  10/s, key -> image", ours["at10"]))
                if theirs:
                    print(line("labelme  10/s, key -> image", theirs["at10"]))
                print(verdict(ours, theirs), flush=True)
    if args.runs > 1:
        print(f"\n== medians over {args.runs} runs (each figure the median of the runs' figures)")
        for tag in SIZES:
            loads = ", ".join(f"{r[tag]['load'][0]:.1f}" for r in runs)
            print(f"\n{tag}  (load average before each run: {loads})")
            for who in ("labeler", "labelme"):
                for key, name in (("b2b", "held down, key -> image"), ("b2b_frames", "held down, frame"),
                                  ("at10", "10/s, key -> image")):
                    per_run = [r[tag][who][key] for r in runs if r[tag][who]]
                    if not per_run:
                        continue
                    med = [statistics.median(pct(v, q) for v in per_run) for q in (50, 95)]
                    worst = statistics.median(max(v) for v in per_run)
                    print(f"  {who:<8} {name:<25} p50 {med[0]:7.2f}  p95 {med[1]:7.2f}  max {worst:7.2f} ms")
            won = [r for r in runs if r[tag]["labelme"] and pct(r[tag]["labeler"]["b2b"], 50) < pct(r[tag]["labelme"]["b2b"], 50)
                   and pct(r[tag]["labeler"]["b2b"], 95) < pct(r[tag]["labelme"]["b2b"], 95)]
            print(f"  labeler beat labelme held down at p50 and p95 in {len(won)} of {args.runs} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
