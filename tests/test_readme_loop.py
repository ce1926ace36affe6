"""The README's loop, verbatim, in a fresh copy of the repository: every line works from its root.

The copy holds the files git would check out; its ``.venv`` is this checkout's environment (what
``make run``/``make test`` would have made). The review line opens the window (offscreen): it passes
once the window holds the project's lock, and is then ended. Afterwards the shipped sample data is
unchanged and its size test still holds (running the app must not make ``make test`` fail).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


def readme_loop() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The loop"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def fresh_copy(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                           cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(VENV)


def _locked(lock: Path) -> bool:
    """Whether another process holds the project's write lock (the window has taken the project)."""
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _review(repo: Path, line: str, env: dict) -> None:
    proc = subprocess.Popen(["bash", "-c", f". .venv/bin/activate && exec {line.split('#')[0]}"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    lock = repo / "digits.labeler.db.lock"
    deadline = time.monotonic() + 60
    try:
        while not _locked(lock):
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"{line!r} ended ({proc.returncode}) before the window took the project:\n{err.decode()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{line!r}: the window did not take the project within 60 s")
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_readme_loop_runs_verbatim_in_a_fresh_copy(tmp_path):
    if not (VENV / "bin" / "activate").exists() or not (VENV / "bin" / "labeler").exists():
        pytest.skip("not running inside the project's virtual environment")
    repo = tmp_path / "labeler"
    repo.mkdir()
    fresh_copy(repo)
    before = {p.relative_to(repo) for p in (repo / "sample_data").rglob("*")}
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    lines = readme_loop()
    assert lines[0].startswith(". .venv/bin/activate")
    assert any(line.startswith("labeler review") for line in lines)
    for line in lines[1:]:
        if line.startswith("labeler review"):
            _review(repo, line, env)
            continue
        done = subprocess.run(["bash", "-c", f"set -e; {lines[0]}\n{line}"], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{line!r} failed:\n{done.stdout}\n{done.stderr}"
    assert (repo / "corrected" / "report.html").exists()
    # nothing the loop made lands in the shipped sample data
    assert {p.relative_to(repo) for p in (repo / "sample_data").rglob("*")} == before
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_sample_data.py::test_total_size_is_small"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
