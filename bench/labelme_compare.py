"""labeler against labelme 7.9.1 on the same JPEGs in the same run: key press -> next image on screen.

Both windows are 1280x800 in their default layouts, offscreen (labeler's view is 936 px wide with
the panels hidden, labelme's canvas 932 px). For each size (12 MP 4000x3000 and 1024x768), N files
(a few distinct pictures copied under other names, so each is decoded anew):

- held down: the next key as soon as the window has handled the last one (back to back);
  key -> the view painted with the new image, p50/p95/max, and frames over 50 ms;
- at 10 keys a second: key -> image, p50/p95.

labeler's side runs here (its Right key, which also writes "reviewed"); labelme's runs in its own
environment (Python 3.12, labelme 7.9.1 and PySide6 6.11.3; never a dependency of labeler):

    python3.12 -m venv /tmp/labelme-venv && /tmp/labelme-venv/bin/pip install labelme==7.9.1 PySide6==6.11.3
    python bench/labelme_compare.py [--n 90] [--labelme-python /tmp/labelme-venv/bin/python]

Figures only; this never fails on speed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from review_bench import (DISTINCT, SIZES, TimedView, image_painted, pct, photo_like, pump_for,  # noqa: E402
                          pump_until, step_latency)

from labeler.gui.app import application  # noqa: E402

HERE = Path(__file__).resolve().parent


def make_data(folder: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    rows = ["id,path,split,label,pred,confidence"]
    for (w, h) in SIZES.values():
        kind = "big" if w > 2000 else "small"
        (folder / kind).mkdir()
        bases = []
        for j in range(DISTINCT):
            p = folder / f"{kind}_base{j}.jpg"
            photo_like(w, h, rng).save(p, quality=90)
            bases.append(p.read_bytes())
        for i in range(n):
            name = f"{kind}/{i:04d}.jpg"
            (folder / name).write_bytes(bases[i % DISTINCT])
            rows.append(f"{kind}{i:04d},{name},dev,{kind},other,0.9")
    csv = folder / "predictions.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv


def line(name: str, values: list[float]) -> str:
    return (f"  {name:<34} p50 {pct(values, 50):7.2f}  p95 {pct(values, 95):7.2f}  max {max(values):7.2f} ms"
            f"  over 50 ms: {sum(v > 50 for v in values)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=90, help="images per size")
    parser.add_argument("--labelme-python", default=os.environ.get("LABELME_PYTHON", "/tmp/labelme-venv/bin/python"))
    args = parser.parse_args(argv)
    steps = (args.n - 1) * 2 // 3  # held down, then half as many at 10/s: one pass through the files

    from labeler.core.importer import import_predictions
    from labeler.core.queue import QueueSpec
    from labeler.core.store import Project
    from labeler.gui import keymap as keymapmod
    from labeler.gui.main_window import MainWindow

    app = application()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv = make_data(folder, args.n)
        project = folder / "bench.labeler.db"
        import_predictions(csv, project)
        win = MainWindow(settings=QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat),
                         keymap=keymapmod.default_keymap(), view_class=TimedView)
        win.resize(1280, 800)
        win.show()
        pump_until(app, lambda: win.isVisible())
        opened = Project.open(project)
        results = {}
        for tag, (w, h) in SIZES.items():
            kind = "big" if w > 2000 else "small"
            spec = QueueSpec(order="file", label=kind)
            win.set_project(opened, spec) if win.session is None else win.session.set_queue(spec)
            win._refresh({"queue"})
            pump_until(app, lambda: image_painted(win), timeout=30)
            pump_for(app, 0.5)
            view_size = win.item_view.image_view.size()
            b2b, b2b_frames, _ = step_latency(app, win, None, steps)
            at10, _, _ = step_latency(app, win, 0.1, steps // 2)
            results[tag] = {"labeler": {"b2b": b2b, "b2b_frames": b2b_frames, "at10": at10,
                                        "view": [view_size.width(), view_size.height()]}}
        win.close()
        opened.close()

        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(HOME=str(folder / "labelme-home"), QT_QPA_PLATFORM="offscreen")
        for tag, (w, h) in SIZES.items():
            kind = "big" if w > 2000 else "small"
            if not Path(args.labelme_python).exists():
                results[tag]["labelme"] = None
                continue
            done = subprocess.run([args.labelme_python, str(HERE / "_labelme_side.py"), str(folder / kind),
                                   "--steps", str(steps)], env=env, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                print(done.stderr[-2000:], file=sys.stderr)
                results[tag]["labelme"] = None
                continue
            results[tag]["labelme"] = json.loads(done.stdout.strip().splitlines()[-1])

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.n} files per size, "
          f"{steps} keys held down then {steps // 2} at 10/s")
    for tag, r in results.items():
        ours, theirs = r["labeler"], r["labelme"]
        print(f"\n{tag}")
        print(f"  labeler view {ours['view'][0]}x{ours['view'][1]}"
              + (f", labelme {theirs['labelme']} (Qt {theirs['qt']}) canvas {theirs['canvas'][0]}x{theirs['canvas'][1]}"
                 if theirs else ", labelme: not run (no --labelme-python)"))
        print(line("labeler  held down, key -> image", ours["b2b"]))
        print(line("labeler  held down, frame", ours["b2b_frames"]))
        if theirs:
            print(line("labelme  held down, key -> image", theirs["b2b"]))
            print(line("labelme  held down, frame", theirs["b2b_frames"]))
        print(line("labeler  10/s, key -> image", ours["at10"]))
        if theirs:
            print(line("labelme  10/s, key -> image", theirs["at10"]))
        if theirs:
            beats = pct(ours["b2b"], 50) < pct(theirs["b2b"], 50) and pct(ours["b2b"], 95) < pct(theirs["b2b"], 95)
            print(f"  held down: labeler {'beats' if beats else 'does NOT beat'} labelme at p50 and p95;"
                  f" labeler frames over 50 ms: {sum(v > 50 for v in ours['b2b'])};"
                  f" 10/s p95 {pct(ours['at10'], 95):.2f} ms (target < 2): {'met' if pct(ours['at10'], 95) < 2 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
