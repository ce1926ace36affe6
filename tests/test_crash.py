"""kill -9 at random moments (BAD_INPUTS rows 27 and 18): nothing reported as saved is lost, the
project file stays sound, and an import killed midway leaves the project exactly as it was.

A reviewer process is made by forking a warm "zygote" that has imported labeler once, so that each
of the 50+ runs costs milliseconds, not the second a fresh Python needs to import pandas and
pyarrow: the loop stays well under a minute on a busy machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from conftest import DIGITS, content_snapshot
from labeler.core.importer import import_predictions
from labeler.core.store import Project

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

ZYGOTE = textwrap.dedent(r"""
    import json, os, sys
    from labeler.core import frame  # noqa: F401  (imported once, before forking)
    from labeler.core.importer import import_predictions
    from labeler.core.queue import QueueSpec
    from labeler.core.session import ReviewSession
    from labeler.core.store import Project

    db = sys.argv[1]

    def say(line):
        os.write(1, (line + "\n").encode())  # one write: lines of two processes never mix

    def review(run):
        p = Project.open(db)
        s = ReviewSession(p, QueueSpec(scope="all"), reviewer=f"run{run}")
        say(f"open {run} {s.session_id}")
        wrote = []
        s.subscribe(lambda event: wrote.append(event) if event.kind == "decision" else None)
        n = 0
        while True:
            wrote.clear()
            step = n % 5
            if step == 0:
                s.set_note(f"run {run} note {n}")
            elif step == 1:
                s.toggle_tag("very hard")
            elif step == 2:
                s.toggle_error_type(1 + n % 3)
            elif step == 3:
                s.undo()
            else:
                s.accept_prediction()
            # reported only once the call has returned: what the window would show as saved
            if wrote:  # (P on an item whose prediction is its label changes nothing)
                eid = wrote[-1].example_id
                say("saved " + json.dumps([run, eid, s.decision(eid).to_json()]))
            n += 1
            if step == 4:
                s.next() if s.position + 1 < len(s.items) else s.goto(0)

    def reimport(run, source):
        import_predictions(source, db)
        say(f"imported {run}")

    for line in sys.stdin:
        what, run, *rest = line.split()
        pid = os.fork()
        if pid == 0:
            try:
                review(int(run)) if what == "review" else reimport(int(run), rest[0])
            except BaseException as e:
                say(f"error {run} {type(e).__name__}: {e}")
            finally:
                os._exit(0)
        say(f"child {pid}")
        _, status = os.waitpid(pid, 0)
        say(f"dead {pid} {status}")
""")


class Zygote:
    """The warm process; ``run`` forks a child that works until it is killed."""

    def __init__(self, db: Path):
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE, str(db)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            self.lines.put(raw.decode().rstrip("\n"))
        self.lines.put("EOF")

    def next_line(self, timeout: float = 30.0) -> str:
        line = self.lines.get(timeout=timeout)
        assert line != "EOF", self.proc.stderr.read().decode()
        return line

    def start(self, command: str) -> int:
        self.proc.stdin.write((command + "\n").encode())
        self.proc.stdin.flush()
        line = self.next_line()
        assert line.startswith("child "), line
        return int(line.split()[1])

    def collect_until_dead(self, pid: int) -> tuple[list[str], int]:
        """Every line the child wrote, and its wait status."""
        out = []
        while True:
            line = self.next_line()
            if line.startswith(f"dead {pid} "):
                return out, int(line.split()[2])
            out.append(line)

    def wait_for(self, prefix: str, out: list[str], timeout: float) -> bool:
        """Read lines into ``out`` until one starts with ``prefix`` (True) or ``timeout`` (False)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=max(0.001, end - time.monotonic()))
            except queue.Empty:
                return False
            out.append(line)
            if line.startswith(prefix):
                return True
        return False

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def test_row27_kill_9_at_random_moments_loses_no_reported_decision(digits_project):
    """Row 27: a reviewer process making decisions as fast as it can (note, tag, error type, undo,
    accept the prediction, next) is killed with SIGKILL at random moments, at least 50 times: while
    opening (validation, the checkpoint of the previous run's WAL), while loading, mid-commit.
    Every decision it reported after the call returned is in the project, with its content and in
    its order; at most the one in flight is there unreported; PRAGMA integrity_check is ok."""
    rng = random.Random(27)
    zygote = Zygote(digits_project)
    reported: dict[int, list] = {}  # run -> [(example id, decision json), ...]
    sessions: dict[int, int] = {}  # run -> session id
    kills = 0
    started = time.monotonic()
    try:
        run = 0
        while kills < 60 and time.monotonic() - started < 40:
            run += 1
            pid = zygote.start(f"review {run}")
            early: list[str] = []
            if rng.random() < 0.2:  # now and then during the open: validation, checkpoint, loading
                time.sleep(rng.uniform(0, 0.08))
            else:  # mostly while deciding: a random moment after the first few decisions
                assert zygote.wait_for("saved", early, timeout=20), early
                time.sleep(rng.uniform(0, 0.12))
            os.kill(pid, signal.SIGKILL)
            lines, status = zygote.collect_until_dead(pid)
            lines = early + lines
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, lines[-3:]
            assert not [line for line in lines if line.startswith("error")], lines
            kills += 1
            for line in lines:
                kind, _, rest = line.partition(" ")
                if kind == "open":
                    r, sid = rest.split()
                    sessions[int(r)] = int(sid)
                elif kind == "saved":
                    r, eid, d = json.loads(rest)
                    reported.setdefault(r, []).append((eid, d))
    finally:
        zygote.close()
    elapsed = time.monotonic() - started
    assert kills >= 50, f"only {kills} kills in {elapsed:.0f} s"
    total = sum(len(v) for v in reported.values())
    assert total > 200, "the children hardly decided anything before being killed"

    conn = sqlite3.connect(f"file:{digits_project}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    with Project.open(digits_project) as p:
        events = p.events()
        decisions = p.decisions()
        assert p.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    by_session: dict[int, list] = {}
    for e in events:
        by_session.setdefault(e["session_id"], []).append((e["example_id"], json.loads(e["after"])))
    for r, saved in reported.items():
        assert r in sessions, f"run {r} reported decisions without its session"
        logged = by_session.get(sessions[r], [])
        # every reported decision, in order; at most one more (committed, killed before reporting)
        assert logged[: len(saved)] == saved, f"run {r}: a reported decision is missing or different"
        assert len(logged) - len(saved) <= 1, f"run {r}: {len(logged) - len(saved)} unreported decisions"
    # the current verdicts agree with the log: each example's decision is its last event's
    last: dict[str, dict] = {}
    for e in events:
        last[e["example_id"]] = json.loads(e["after"])
    assert {k: d.to_json() for k, d in decisions.items()} == last
    print(f"{kills} kills, {total} reported decisions, {elapsed:.1f} s")


def test_row18_import_killed_at_random_moments_leaves_the_project_as_it_was(digits_project, tmp_path):
    """Row 18 (with test_bad_inputs_import.py::test_row18_kill_during_import): re-importing new
    predictions into a project with reviews, killed at random moments: the project is exactly as
    before, or (killed after the commit) exactly as a finished import leaves it; never in between."""
    # the sample predictions with every prediction changed: a finished import is easy to tell apart
    lines = (DIGITS / "predictions.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    pred = header.index("pred")
    changed = [lines[0]]
    for line in lines[1:]:
        cells = line.rstrip("\n").split(",")
        cells[pred] = str((int(cells[pred]) + 1) % 10)
        changed.append(",".join(cells) + "\n")
    source = tmp_path / "images_here" / "new_model.csv"
    source.parent.mkdir()
    source.write_text("".join(changed), encoding="utf-8")
    (source.parent / "images").symlink_to(DIGITS / "images")
    with Project.open(digits_project) as p:
        from labeler.core.store import Decision

        p.write_decision("d0001", Decision(), Decision(note="kept", reviewed=True), "note")
    before = content_snapshot(digits_project)
    pristine = digits_project.read_bytes()
    finished = tmp_path / "finished.labeler.db"
    finished.write_bytes(pristine)
    import_predictions(source, finished)
    after = content_snapshot(finished)

    def comparable(snap):  # the import history and the files' records carry a time stamp
        def timeless(row):
            if row[0] != "files":
                return row
            return (row[0], json.dumps([{**f, "imported_at": None} for f in json.loads(row[1])]), *row[2:])

        return {t: [timeless(r) for r in rows if not (t == "meta" and r[0] == "imports")] for t, rows in snap.items()}

    rng = random.Random(18)
    zygote = Zygote(digits_project)
    outcomes = []

    def start_over():
        for suffix in ("-wal", "-shm"):
            Path(f"{digits_project}{suffix}").unlink(missing_ok=True)
        digits_project.write_bytes(pristine)

    try:
        durations = []
        for run in range(2):  # how long a forked child takes to import, left alone
            t0 = time.monotonic()
            pid = zygote.start(f"import {run} {source}")
            lines_, status = zygote.collect_until_dead(pid)
            durations.append(time.monotonic() - t0)
            assert lines_ == [f"imported {run}"] and comparable(content_snapshot(digits_project)) == comparable(after)
            start_over()
        duration = min(durations)
        for run in range(15):
            pid = zygote.start(f"import {run} {source}")
            time.sleep(rng.uniform(0, 1.2 * duration))
            with contextlib.suppress(ProcessLookupError):  # (it may have finished)
                os.kill(pid, signal.SIGKILL)
            lines_, status = zygote.collect_until_dead(pid)
            assert not [line for line in lines_ if line.startswith("error")], lines_
            now = content_snapshot(digits_project)
            if now == before:
                outcomes.append("before")
            else:
                assert comparable(now) == comparable(after), f"run {run}: a half-done import"
                outcomes.append("finished")
                start_over()
    finally:
        zygote.close()
    print(f"import {duration * 1000:.0f} ms:", outcomes)
    assert "before" in outcomes, outcomes
    with Project.open(digits_project) as p:
        assert p.decision("d0001").note == "kept"
        assert p.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

