"""A throwaway PostgreSQL server for the team-store tests, started from the machine's own binaries
(Debian's ``postgresql`` package: ``/usr/lib/postgresql/<version>/bin``, installed by ``make
system-deps``, which ``.ci/run`` calls).

PostgreSQL refuses to run as root, and CI runs as root: the data folder is then made for the
``postgres`` user and every server command runs through ``runuser -u postgres``. The server listens
on a free port of 127.0.0.1 and on a unix socket in a folder of its own (never the system's
``/var/run/postgresql``), with ``trust`` authentication: it is reachable from this machine only and
lives as long as the test run. Durability settings are off (fsync, synchronous_commit): these tests
are about what the store does, not about the disk.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

SERVER_USER = "postgres"


def find_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with initdb and pg_ctl, or the one on PATH, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    bin_dir: Path
    base: Path  # holds data/, the socket and the log
    port: int
    user: str = SERVER_USER

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "server.log"

    def url(self, dbname: str = "postgres", *, user: str | None = None) -> str:
        return f"postgresql://{user or self.user}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=self.base)
        if check and r.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}\n{log}")
        return r

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
                   " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")


def start_server() -> Server:
    """initdb + pg_ctl start in a new temporary folder; the caller stops it (:meth:`Server.stop`)
    and removes :attr:`Server.base`."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("no PostgreSQL server binaries")
    # as root, in /tmp itself: a TMPDIR under /root would not let the postgres user in
    base = Path(tempfile.mkdtemp(prefix="labeler-pg-", dir="/tmp" if os.geteuid() == 0 else None))
    base.chmod(0o755)
    if os.geteuid() == 0:
        pw = pwd.getpwnam(SERVER_USER)  # Debian's package makes this user
        os.chown(base, pw.pw_uid, pw.pw_gid)
        user = SERVER_USER
    else:
        user = pwd.getpwuid(os.geteuid()).pw_name
    server = Server(bin_dir, base, free_port(), user)
    server._run("initdb", "-D", str(server.data), "-U", user, "-A", "trust", "-E", "UTF8",
                "--locale=C", "--no-sync")
    server.start()
    return server


@contextlib.contextmanager
def database(url: str | None = None) -> Iterator[str]:
    """The base URL of ``url`` (its query dropped) when one is given, else of a server started for
    the block (:func:`start_server`), stopped and removed after it: for benches and scripts."""
    if url is not None:
        yield url.split("?")[0]
        return
    server = start_server()
    try:
        yield server.url()
    finally:
        server.stop("fast")
        shutil.rmtree(server.base, ignore_errors=True)
