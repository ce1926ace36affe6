"""How long do the tally and the dashboard take to catch up with one decision on a big project?

Makes 1,000,000 predictions (10 classes; train/dev/test 80/10/10) in a temporary folder, imports
them, and reviews about 300 dev errors in a random queue through the review session. Then, for
20 more decisions, times what follows each one (median of 20):

- incremental: the core's ``LiveTally`` takes the change, then the dev tally and the dashboard;
- the panels: the same through the window's analysis panels (tally and dashboard models and labels
  updated, the visible dock repainted), offscreen;
- baseline, full recount: ``project_tally`` + ``dashboard`` from the frame and the decisions and
  events read back from the project file (what a panel that recounted on every key would do).

And, once each: indexing the examples (per project or import) and the confusion matrix with the
per-class table for one split (per split change; decisions do not change it).
Target: <= 50 ms for the refresh after one decision. Figures only; this never fails on speed.

    python bench/analysis_bench.py [--rows 1000000] [--reviewed 300]
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
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _data import write_predictions_csv  # noqa: E402

from labeler.core import frame as framemod  # noqa: E402
from labeler.core import stats  # noqa: E402
from labeler.core import tally as tallymod  # noqa: E402
from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.queue import QueueSpec  # noqa: E402
from labeler.core.session import ReviewSession  # noqa: E402
from labeler.core.store import Project  # noqa: E402

TARGET_MS = 50.0


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def ms(seconds: float) -> str:
    return f"{1000 * seconds:8.2f} ms"


def decide(s: ReviewSession, i: int) -> None:
    """One reviewer's decision on the current item, then on to the next."""
    if i % 3 == 0:
        s.accept_prediction()
    if i % 4 == 1:
        s.toggle_tag("very hard")
    if i % 5 == 2:
        s.toggle_error_type(1 + i % 3)
    s.next()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reviewed", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        csv = write_predictions_csv(folder, args.rows)
        db = folder / "bench.labeler.db"
        import_predictions(csv, db)
        print(f"{args.rows:,} rows written and imported in {time.perf_counter() - t0:.1f} s")
        project = Project.open(db)
        project.set_error_types(["blurry", "occluded", "cropped", "dark"])
        s = ReviewSession(project, QueueSpec(), reviewer="bench")
        for i in range(args.reviewed):
            decide(s, i)
        frame = s.frame
        part = frame[frame["split"] == "dev"]
        print(f"dev: {len(part):,} examples, {int(part['wrong'].sum()):,} errors; {args.reviewed} reviewed (random queue)")

        # once per project or import: index the examples
        t_index = timed(lambda: tallymod.ErrorIndex(frame).split_counts)
        live = tallymod.LiveTally(project, frame)
        s.subscribe(lambda e: e.change and live.apply(e.example_id, e.change.before, e.change.after, s.spec.to_json()))

        # the incremental refresh after each decision (the change itself is applied in the listener,
        # inside the decision; it is timed apart)
        inc, applies = [], []
        for i in range(args.repeat):
            before = s.decision(s.current_id)
            eid = s.current_id
            decide(s, args.reviewed + i)
            applies.append(timed(lambda: live.apply(eid, before, s.decision(eid), s.spec.to_json())))
            inc.append(timed(lambda: live.dashboard(live.tally("dev"))))

        # the same through the panels of the window
        from labeler.gui.analysis import Analysis, ConfusionPanel, DashboardPanel, TallyPanel
        from labeler.gui.app import application

        app = application()
        analysis = Analysis()
        t_set = timed(lambda: analysis.set_session(s))
        tally_panel, dash_panel = TallyPanel(analysis), DashboardPanel(analysis)
        confusion_panel = ConfusionPanel(analysis)
        confusion_panel.show()  # counted once seen
        app.processEvents()
        t_conf = timed(lambda: (confusion_panel.set_split("train"), confusion_panel.set_split("dev")))
        assert confusion_panel.model.rowCount() == 10
        tally_panel.resize(620, 700)
        tally_panel.show()
        app.processEvents()
        gui = []
        for i in range(args.repeat):
            decide(s, args.reviewed + args.repeat + i)
            gui.append(timed(lambda: (analysis.refresh(), tally_panel.repaint(), dash_panel.repaint())))
        app.processEvents()
        assert tally_panel.model.rowCount() > 0

        # baseline: the full recount
        full = []
        for i in range(5):
            decide(s, args.reviewed + 2 * args.repeat + i)
            full.append(timed(lambda: tallymod.dashboard(frame, project.decisions(),
                                                          tallymod.project_tally(project, frame, "dev"))))
        t_reload = timed(lambda: framemod.load(project))
        check = tallymod.project_tally(project, frame, "dev")
        assert live.tally("dev") == check, "the live tally differs from the recount"
        s.close()
        project.close()

    med = statistics.median
    print()
    print(f"after one decision (median of {args.repeat}; target <= {TARGET_MS:.0f} ms):")
    print(f"  LiveTally.apply (the change)                  {ms(med(applies))}")
    print(f"  tally + dashboard, incremental                {ms(med(inc))}   max {ms(max(inc))}")
    print(f"  through the panels (models, labels, repaint)  {ms(med(gui))}   max {ms(max(gui))}")
    print(f"  full recount (baseline, median of 5)          {ms(med(full))}")
    print(f"  verdict: {'met' if med(gui) <= TARGET_MS / 1000 and med(inc) <= TARGET_MS / 1000 else 'MISSED'}"
          f" ({med(full) / med(inc):,.0f}x faster than the recount)")
    print()
    print("once, not per decision:")
    print(f"  index the examples (per project or import)    {ms(t_index)}")
    print(f"  panels take a session (index + first tally)   {ms(t_set)}")
    print(f"  confusion matrix + per-class, two splits      {ms(t_conf)}")
    print(f"  (reloading the frame, for scale)              {ms(t_reload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
