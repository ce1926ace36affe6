"""End to end in a real X window: Xvfb, the app started as the user would (``python -m labeler
review PROJECT``), keys typed with xdotool, then the app killed with SIGKILL. Every decision the window
had saved must be in the project, and the project must pass ``PRAGMA integrity_check``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

TAXONOMY = (Path(__file__).resolve().parents[1] / "sample_data" / "digits" / "taxonomy.txt").read_text().splitlines()


def _need_tools() -> None:
    missing = [t for t in ("Xvfb", "xdotool") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (apt-get install xvfb xdotool)")


def _free_display() -> int:
    for n in range(99, 400):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number")


def _poll(fn, timeout: float, what: str):
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def _decisions(path: Path) -> dict[str, dict]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT example_id, label, tags, error_types, note, reviewed FROM decisions").fetchall()
    finally:
        conn.close()
    return {r[0]: {"label": r[1], "tags": sorted(json.loads(r[2])), "error_types": sorted(json.loads(r[3])),
                   "note": r[4], "reviewed": bool(r[5])} for r in rows}


def _queue(path: Path) -> tuple[list[str], dict[str, str]]:
    from labeler.core import frame as framemod
    from labeler.core.queue import QueueSpec, build
    from labeler.core.store import Project

    with Project.open(path, readonly=True) as p:
        rows = build(framemod.load(p), QueueSpec())
    return rows["id"].tolist(), dict(zip(rows["id"], rows["pred"]))


@pytest.fixture
def xserver(tmp_path):
    _need_tools()
    n = _free_display()
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _poll(lambda: Path(f"/tmp/.X11-unix/X{n}").exists() or proc.poll() is not None, 20, "Xvfb to start")
        if proc.poll() is not None:
            pytest.fail(f"Xvfb :{n} exited with {proc.returncode}")
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_keys_in_a_real_window_survive_kill_9(xserver, digits_project, tmp_path):
    items, preds = _queue(digits_project)
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(DISPLAY=xserver, XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_RUNTIME_DIR=str(tmp_path / "run"))
    (tmp_path / "run").mkdir(mode=0o700)
    log = open(tmp_path / "app.log", "wb")
    app = subprocess.Popen([sys.executable, "-m", "labeler", "review", str(digits_project)],
                           env=env, stdout=log, stderr=subprocess.STDOUT)
    xdo = lambda *args: subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=30)
    try:
        def find_window():
            if app.poll() is not None:
                raise AssertionError(f"the app exited with {app.returncode}: {(tmp_path / 'app.log').read_text()}")
            out = xdo("search", "--onlyvisible", "--name", "labeler").stdout.split()
            return out[0] if out else None

        win = _poll(find_window, 20, "the labeler window")
        assert xdo("windowfocus", "--sync", win).returncode == 0
        keys = ["m", "Right", "a", "1", "space", "p", "h", "Return", "e", "ctrl+z", "ctrl+y",
                "Left", "question", "Escape", "m"]
        assert xdo("key", "--delay", "40", *keys).returncode == 0

        plain = {"label": None, "tags": [], "error_types": [], "note": "", "reviewed": True}
        expected = {
            items[0]: {**plain, "tags": ["mislabeled"]},
            items[1]: {**plain, "tags": ["ambiguous"], "error_types": [TAXONOMY[0]]},
            items[2]: {**plain, "label": preds[items[2]], "tags": ["mislabeled", "very hard"]},
            items[3]: {**plain, "tags": ["very easy"]},
        }
        _poll(lambda: _decisions(digits_project) == expected, 20, f"the decisions {expected}")
    finally:
        app.send_signal(signal.SIGKILL)
        app.wait(10)
        log.close()
    assert app.returncode == -signal.SIGKILL
    assert _decisions(digits_project) == expected
    conn = sqlite3.connect(str(digits_project))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
