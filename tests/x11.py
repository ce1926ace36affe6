"""Starting the app in a real X window for the end-to-end tests: the environment (a private config,
data and runtime folder, no offscreen platform), the process, xdotool, and finding the window."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_e2e_x11 import _poll


class App:
    """`python -m labeler ARGS` on DISPLAY, its log in ``tmp/app.log``; ``xdo(...)`` runs xdotool."""

    def __init__(self, display: str, tmp: Path, args: list[str], cwd: Path | None = None,
                 argv: list[str] | None = None):
        self.tmp = tmp
        self.env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
        self.env.update(DISPLAY=display, XDG_CONFIG_HOME=str(tmp / "config"), XDG_DATA_HOME=str(tmp / "data"),
                        XDG_RUNTIME_DIR=str(tmp / "run"))
        (tmp / "run").mkdir(mode=0o700, exist_ok=True)
        self.log = open(tmp / "app.log", "wb")
        argv = argv or [sys.executable, "-m", "labeler", *map(str, args)]  # (argv: another program)
        self.proc = subprocess.Popen(argv, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd)

    def xdo(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=30)

    def window(self, title: str, timeout: float = 30) -> str:
        """The visible window whose title holds ``title``, focused."""
        def find():
            if self.proc.poll() is not None:
                raise AssertionError(f"the app exited with {self.proc.returncode}: {(self.tmp / 'app.log').read_text()}")
            out = self.xdo("search", "--onlyvisible", "--name", title).stdout.split()
            return out[0] if out else None

        win = _poll(find, timeout, f"the window {title!r}")
        assert self.xdo("windowfocus", "--sync", win).returncode == 0
        return win

    def keys(self, *keys: str) -> None:
        assert self.xdo("key", "--delay", "60", *keys).returncode == 0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self.log.close()
