"""The project store under faults: rows 28-31 of shared/BAD_INPUTS.md, the WAL checkpoint and the
backups (docs/reliability.md maps each promise to its test here).

- row 28: a second labeler on a project another process writes: a clear refusal naming that process
  (CLI and core), read-only commands still work, two processes racing for it get one writer.
- row 29: a project on a network or removable drive: a warning (a fake /proc/mounts).
- row 30: a corrupt project: a clear error at open and the file byte-identical; rotating backups on a
  clean close, ``labeler restore``.
- row 31: disk full during a decision (RLIMIT_FSIZE in a subprocess): a clear error, nothing half
  written, the retry works.
- the writer never checkpoints inside a decision; ``Project.checkpoint()`` keeps the WAL bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import DIGITS_CSV, file_digest
from labeler.cli import main
from labeler.core import backup as backupmod
from labeler.core import location, store
from labeler.core.session import ReviewSession
from labeler.core.store import Decision, Project, ProjectError, ProjectLocked

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def cli(*args, ok: bool = True):
    r = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert r.exit_code == 0, r.output
    return r


def integrity(db: Path) -> str:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def note_of(db: Path, example_id: str) -> str | None:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT note FROM decisions WHERE example_id = ?", (example_id,)).fetchone()
    finally:
        conn.close()
    return row[0] if row else None


def first_ids(db: Path, n: int) -> list[str]:
    with Project.open(db, readonly=True) as p:
        return p.examples_table().column("id").to_pylist()[:n]


# ---------------------------------------------------------------------------------------------
# Row 28: a second labeler on a project another process is writing

WRITER = textwrap.dedent("""
    import os, select, sys
    from labeler.core.store import Decision, Project
    p = Project.open(sys.argv[1])
    ids = p.examples_table().column("id").to_pylist()
    print("ready", os.getpid(), flush=True)
    n = 0
    # keep writing decisions until the test closes stdin
    while not select.select([sys.stdin], [], [], 0.005)[0]:
        p.write_decision(ids[n % 50], Decision(), Decision(note=f"w{n}", reviewed=True), "note")
        n += 1
    p.close()
    print("wrote", n, flush=True)
""")


@pytest.fixture
def writer_process(digits_project):
    """Another process that holds ``digits_project`` open for writing and writes decisions."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(digits_project)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        line = proc.stdout.readline().split()
        assert line[:1] == ["ready"], proc.stderr.read()
        yield proc
    finally:
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait(timeout=30)


def test_row28_second_writer_is_refused_naming_the_other_process(digits_project, writer_process):
    """Row 28: Project.open and `labeler import` into a project another process writes: a clear
    refusal naming that process; nothing written by the refused one."""
    pid = str(writer_process.pid)
    with pytest.raises(ProjectLocked) as e:
        Project.open(digits_project)
    msg = str(e.value)
    assert "another labeler" in msg and f"process {pid}" in msg and "read-only" in msg, msg
    # the CLI, as a process of its own, while the other one keeps writing
    r = subprocess.run([sys.executable, "-m", "labeler", "import", str(DIGITS_CSV), "--project", str(digits_project)],
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode != 0
    assert "another labeler" in r.stderr and f"process {pid}" in r.stderr and "Traceback" not in r.stderr, r.stderr
    # `labeler rank` writes too: refused the same way
    r = cli("rank", "--project", digits_project, ok=False)
    assert r.exit_code != 0 and f"process {pid}" in r.output


def test_row28_read_only_commands_work_while_another_process_writes(digits_project, writer_process):
    """Row 28: readers (summary, queue, a read-only open) work during the other process's writes,
    and see what it has committed."""
    out = json.loads(cli("summary", "--project", digits_project, "--json").output)
    assert out["splits"]["dev"]["examples"] == 359
    assert json.loads(cli("queue", "--project", digits_project, "--json", "--limit", "3").output)
    time.sleep(0.2)
    with Project.open(digits_project, readonly=True) as r:
        seen = len(r.events())
        assert seen > 0  # the other process's committed decisions
        with pytest.raises(ProjectError, match="read-only"):
            r.write_decision("d0001", Decision(), Decision(reviewed=True), "x")
    writer_process.stdin.close()
    assert writer_process.stdout.readline().split()[0] == "wrote"
    assert writer_process.wait(timeout=30) == 0
    assert integrity(digits_project) == "ok"


RACER = textwrap.dedent("""
    import os, sys
    from labeler.core.store import Decision, Project, ProjectLocked
    print("ready", flush=True)
    sys.stdin.readline()  # the start signal, given to both at once
    try:
        p = Project.open(sys.argv[1])
    except ProjectLocked as e:
        print("refused", e, flush=True)
        sys.exit(0)
    print("writer", flush=True)
    for n in range(100):
        p.write_decision(f"d{n % 10:04d}", Decision(), Decision(note=f"{os.getpid()}-{n}", reviewed=True), "note")
    sys.stdin.readline()  # hold the project until the test has seen both answers
    p.close()
""")


def test_row28_two_processes_racing_for_the_project_get_one_writer(digits_project):
    """Row 28: two processes open the same project for writing at the same moment: exactly one
    gets it, the other a refusal; never two writers."""
    for attempt in range(2):
        procs = [subprocess.Popen([sys.executable, "-c", RACER, str(digits_project)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
                 for _ in range(2)]
        for p in procs:  # both have imported labeler and wait for the signal
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        answers = [p.stdout.readline().strip() for p in procs]
        for p in procs:
            with contextlib.suppress(BrokenPipeError):  # the refused one has gone already
                p.stdin.write("done\n")
                p.stdin.close()
            assert p.wait(timeout=60) == 0, p.stderr.read()
        kinds = sorted(a.split()[0] for a in answers)
        assert kinds == ["refused", "writer"], answers
        refused = next(a for a in answers if a.startswith("refused"))
        assert "another labeler" in refused and "process" in refused
    assert integrity(digits_project) == "ok"


# ---------------------------------------------------------------------------------------------
# Row 29: a project on a network or removable drive


def fake_mounts(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "mounts"
    path.write_text("".join(line + "\n" for line in (
        "/dev/vda / ext4 rw,relatime 0 0", "proc /proc proc rw 0 0", *lines)))
    return path


@pytest.mark.parametrize("fstype, source, needle", [
    ("nfs4", "server:/export", "network filesystem (nfs4"),
    ("cifs", "//nas/share", "network filesystem (cifs"),
    ("fuse.sshfs", "me@host:/data", "network filesystem (fuse.sshfs"),
    ("vfat", "/dev/sdb1", "vfat filesystem"),
    ("exfat", "/dev/sdb1", "exfat filesystem"),
])
def test_row29_network_or_removable_drive_warns(tmp_path, digits_project, monkeypatch, fstype, source, needle):
    """Row 29: Project.open says where the file is risky; the CLI prints it; local disks say nothing."""
    share = tmp_path / "my share"  # a space: /proc/mounts writes it as \\040
    share.mkdir()
    db = share / "digits.labeler.db"
    db.write_bytes(digits_project.read_bytes())
    escaped = str(share).replace(" ", "\\040")
    monkeypatch.setattr(location, "MOUNTS_FILE", str(fake_mounts(tmp_path, f"{source} {escaped} {fstype} rw 0 0")))
    monkeypatch.setattr(location, "SYS_BLOCK", str(tmp_path / "no-sys"))
    with Project.open(db) as p:
        assert len(p.warnings) == 1 and needle in p.warnings[0], p.warnings
        assert "local disk" in p.warnings[0]
    with Project.open(db, readonly=True) as p:
        assert p.warnings
    r = cli("summary", "--project", db)
    assert "Warning:" in r.output and needle in r.output
    r = cli("import", DIGITS_CSV, "--project", db)
    assert "Warning:" in r.output and needle in r.output
    # the project next door, on the local disk, gets no warning
    with Project.open(digits_project) as p:
        assert p.warnings == []


def test_row29_removable_device_with_any_filesystem(tmp_path, digits_project, monkeypatch):
    """Row 29: an ext4 USB stick is removable too: the kernel's `removable` flag of the disk."""
    sysfs = tmp_path / "sys"
    (sysfs / "devices" / "sdc" / "sdc1").mkdir(parents=True)
    (sysfs / "devices" / "sdc" / "removable").write_text("1\n")
    (sysfs / "devices" / "sdd" / "sdd1").mkdir(parents=True)
    (sysfs / "devices" / "sdd" / "removable").write_text("0\n")
    (sysfs / "class").mkdir()
    for name, disk in (("sdc1", "sdc"), ("sdd1", "sdd")):
        (sysfs / "class" / name).symlink_to(sysfs / "devices" / disk / name)
    stick, internal = tmp_path / "stick", tmp_path / "internal"
    mounts = fake_mounts(tmp_path, f"/dev/sdc1 {stick} ext4 rw 0 0", f"/dev/sdd1 {internal} ext4 rw 0 0")
    monkeypatch.setattr(location, "MOUNTS_FILE", str(mounts))
    monkeypatch.setattr(location, "SYS_BLOCK", str(sysfs / "class"))
    assert "removable drive (ext4" in location.location_warnings(stick / "p.labeler.db")[0]
    assert location.location_warnings(internal / "p.labeler.db") == []
    assert location.location_warnings(tmp_path / "elsewhere" / "p.labeler.db") == []
    # the innermost mount wins: a local folder mounted inside a network share
    mounts = fake_mounts(tmp_path, f"srv:/x {tmp_path} nfs rw 0 0", f"/dev/vdb {tmp_path / 'local'} ext4 rw 0 0")
    monkeypatch.setattr(location, "MOUNTS_FILE", str(mounts))
    assert location.location_warnings(tmp_path / "local" / "p.labeler.db") == []
    assert location.location_warnings(tmp_path / "p.labeler.db")
    # no /proc/mounts (another OS, a sandbox): no warning, no error
    monkeypatch.setattr(location, "MOUNTS_FILE", str(tmp_path / "missing"))
    assert location.location_warnings(tmp_path / "p.labeler.db") == []


# ---------------------------------------------------------------------------------------------
# Row 30: a corrupt project file; backups and restore


def corrupt(db: Path, how: str) -> bytes:
    data = bytearray(db.read_bytes())
    page = 4096
    if how == "truncated":
        data = data[: (len(data) // 2) - 1000]
    elif how == "flipped":  # every bit of two pages in the middle
        mid = (len(data) // 2) // page * page
        for i in range(mid, mid + 2 * page):
            data[i] ^= 0xFF
    elif how == "zeroed":  # a torn write that left a page of zeros
        mid = (len(data) // 3) // page * page
        data[mid: mid + page] = bytes(page)
    elif how == "garbage_header":
        data[:100] = os.urandom(100)
    elif how == "schema_page":
        data[120:2000] = bytes(range(256)) * 7 + bytes(88)
    db.write_bytes(bytes(data))
    return bytes(data)


@pytest.mark.parametrize("how", ["truncated", "flipped", "zeroed", "garbage_header", "schema_page"])
def test_row30_corrupt_project_is_a_clear_error_and_left_byte_identical(digits_project, how):
    """Row 30: a damaged file is refused at open (writer and reader, core and CLI) with a message
    that says so; the file is byte-identical afterwards."""
    data = corrupt(digits_project, how)
    for readonly in (False, True):
        with pytest.raises(ProjectError, match="corrupt|damaged|not a labeler project") as e:
            Project.open(digits_project, readonly=readonly)
        assert str(digits_project) in str(e.value)
    r = cli("summary", "--project", digits_project, ok=False)
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "corrupt" in r.output or "damaged" in r.output or "not a labeler project" in r.output
    r = cli("import", DIGITS_CSV, "--project", digits_project, ok=False)
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert digits_project.read_bytes() == data
    assert not Path(f"{digits_project}-wal").exists() or Path(f"{digits_project}-wal").stat().st_size == 0
    # and the lock was let go: nothing holds the file
    with pytest.raises(ProjectError):
        Project.open(digits_project)


def _flip_inside_a_stored_chunk(db: Path, name: str) -> bytes:
    """Flip one bit of the file where chunk 0 of ``name``'s bytes lie, as a bad sector would: the
    pages stay well-formed (quick_check passes), only the content changes."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    blob = conn.execute("SELECT data FROM columnar WHERE name = ? AND chunk = 0", (name,)).fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    at = data.find(blob[200:264])  # 64 bytes from inside the blob, as they sit in a page
    assert at > 0 and data.find(blob[200:264], at + 1) < 0
    data[at + 10] ^= 0x04
    db.write_bytes(bytes(data))
    return bytes(data)


@pytest.mark.parametrize("name, command", [("examples", "summary"), ("probs", "rank")])
def test_row30_a_flipped_bit_inside_the_stored_examples_is_caught(digits_project, name, command):
    """SQLite checks its pages, not a blob's content: each stored chunk carries a CRC-32, so a bit
    flipped on disk is a clear error naming the damage, not wrong numbers; the file is unchanged."""
    assert integrity(digits_project) == "ok"
    data = _flip_inside_a_stored_chunk(digits_project, name)
    assert integrity(digits_project) == "ok"  # invisible to SQLite's own check
    r = cli(command, "--project", digits_project, ok=False)
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "damaged" in r.output and f"'{name}' chunk 0" in r.output
    with Project.open(digits_project, readonly=True) as p, pytest.raises(ProjectError, match="damaged"):
        p.examples_table() if name == "examples" else p.example_at(0)
    assert digits_project.read_bytes() == data


def decide(db: Path, example_id: str, note: str) -> None:
    with Project.open(db) as p:
        p.write_decision(example_id, p.decision(example_id), Decision(note=note, reviewed=True), "note")


def test_row30_backup_on_clean_close_rotates_and_only_after_changes(digits_project):
    """Row 30: closing a writer that changed something leaves a backup (a consistent SQLite copy)
    in <project>.backups/; the last 5 are kept; opening and closing without a change, a read-only
    open and a review session without decisions make none."""
    folder = backupmod.backup_dir(digits_project)
    assert folder.name == "digits.labeler.db.backups"
    with Project.open(digits_project):
        pass
    with Project.open(digits_project, readonly=True):
        pass
    with Project.open(digits_project) as p:
        ReviewSession(p).close()  # session bookkeeping only
    assert backupmod.list_backups(digits_project) == []
    for n in range(7):
        decide(digits_project, "d0001", f"version {n}")
    found = backupmod.list_backups(digits_project)
    assert len(found) == backupmod.KEEP == 5
    assert [b.path.name for b in found] == sorted((b.path.name for b in found), reverse=True)
    assert not list(folder.glob("*.tmp")) and not list(folder.glob("*-wal"))
    for b, n in zip(found, range(6, 1, -1)):  # newest first: versions 6, 5, 4, 3, 2
        assert integrity(b.path) == "ok"
        assert note_of(b.path, "d0001") == f"version {n}"
    # the CLI lists them
    r = cli("restore", "--project", digits_project, "--list")
    assert [line.split()[0] for line in r.output.splitlines()] == [b.path.name for b in found]


def test_row30_restore_the_newest_backup_after_corruption(digits_project, tmp_path):
    """Row 30: a corrupt project's error names the backups and `labeler restore`; restoring moves the
    damaged file aside (never deletes it) and the decisions of the last clean close are back."""
    decide(digits_project, "d0001", "first")
    decide(digits_project, "d0002", "second")
    data = corrupt(digits_project, "flipped")
    with pytest.raises(ProjectError) as e:
        Project.open(digits_project)
    assert "labeler restore" in str(e.value) and "2 backup(s)" in str(e.value)
    r = cli("restore", "--project", digits_project)
    assert "Restored" in r.output and "kept as" in r.output
    aside = [p for p in digits_project.parent.iterdir() if ".replaced-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and aside[0].read_bytes() == data  # (its WAL and index beside it, if any)
    with Project.open(digits_project) as p:
        assert p.decision("d0001").note == "first" and p.decision("d0002").note == "second"
        assert p.example_count() == 1797
    assert integrity(digits_project) == "ok"


def test_row30_restore_a_chosen_backup_and_refusals(digits_project, tmp_path):
    """Row 30: `labeler restore NAME` puts back that backup; refused while another labeler writes
    (nothing moved); refused for a backup that is not a sound project; no backups: a clear error."""
    r = cli("restore", "--project", digits_project, ok=False)
    assert r.exit_code != 0 and "no backups" in r.output
    decide(digits_project, "d0001", "old")
    decide(digits_project, "d0001", "new")
    older = backupmod.list_backups(digits_project)[1]
    with Project.open(digits_project):
        digest = file_digest(digits_project)
        r = cli("restore", "--project", digits_project, older.path.name, ok=False)
        assert r.exit_code != 0 and "another labeler" in r.output
        assert file_digest(digits_project) == digest
    bad = tmp_path / "bad.labeler.db"
    bad.write_bytes(b"SQLite format 3\x00" + bytes(5000))
    r = cli("restore", "--project", digits_project, bad, ok=False)
    assert r.exit_code != 0 and "not a sound labeler project" in r.output
    assert file_digest(digits_project) == digest
    cli("restore", "--project", digits_project, older.path.name)
    assert note_of(digits_project, "d0001") == "old"
    # a deleted project file can be restored too
    for suffix in ("", "-wal", "-shm"):
        Path(f"{digits_project}{suffix}").unlink(missing_ok=True)
    cli("restore", "--project", digits_project)
    assert note_of(digits_project, "d0001") in ("old", "new")


def test_row30_backup_is_taken_through_sqlite_while_a_reader_is_open(digits_project):
    """Row 30: the backup is a consistent SQLite copy (backup API), also with a reader open and
    committed data still in the WAL, never a byte copy of the live file."""
    reader = sqlite3.connect(f"file:{digits_project}?mode=ro", uri=True)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM decisions").fetchone()  # holds a snapshot: no checkpoint
        with Project.open(digits_project) as p:
            for n in range(30):
                p.write_decision(f"d{n:04d}", Decision(), Decision(note=f"n{n}", reviewed=True), "note")
        reader.execute("COMMIT")
    finally:
        reader.close()
    (newest,) = backupmod.list_backups(digits_project)
    assert integrity(newest.path) == "ok"
    assert note_of(newest.path, "d0029") == "n29"
    conn = sqlite3.connect(f"file:{newest.path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# Row 31: disk full during a decision

DISK_FULL_DECISION = textwrap.dedent("""
    import os, resource, signal, sys
    from labeler.core.session import ReviewSession
    from labeler.core.store import Project, ProjectError
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    db = sys.argv[1]
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    p = Project.open(db)
    s = ReviewSession(p)
    first = s.current_id
    s.set_note("saved before the disk filled")
    s.toggle_tag("mislabeled")
    # the next WAL frame cannot be written: the file may not grow past its current size + 512
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(db + "-wal") + 512, hard))
    try:
        s.set_note("typed while the disk was full")
        print("NOT REFUSED")
    except ProjectError as e:
        print("refused:", e)
    print("session shows:", s.decision(first).note, "| undo:", s._undo[-1].action)
    print("project shows:", p.decision(first).note)
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space freed
    s.set_note("typed again after freeing space")
    print("retried:", p.decision(first).note)
    # closing on a full disk: the backup fails quietly, nothing half-written is left
    s.close()
    resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, hard))
    p.close()
    print("backup error:", bool(p.backup_error))
    print("first:", first)
""")


def test_row31_disk_full_during_a_decision(digits_project):
    """Row 31: with the file-size limit reached mid-review, the decision raises a clear ProjectError
    ("could not save ... disk is full or the file too large"), the session and the project keep the
    last saved state, the WAL holds no half-written frame that counts, and the retry works."""
    r = subprocess.run([sys.executable, "-c", DISK_FULL_DECISION, str(digits_project)],
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out = dict(line.split(":", 1) for line in r.stdout.splitlines())
    assert "NOT REFUSED" not in r.stdout
    assert "could not save to" in out["refused"] and "disk is full or the file too large" in out["refused"]
    assert "not saved" in out["refused"]
    assert out["session shows"].strip() == "saved before the disk filled | undo: +mislabeled"
    assert out["project shows"].strip() == "saved before the disk filled"
    assert out["retried"].strip() == "typed again after freeing space"
    assert out["backup error"].strip() == "True"
    first = out["first"].strip()
    assert integrity(digits_project) == "ok"
    with Project.open(digits_project) as p:
        d = p.decision(first)
        assert d.note == "typed again after freeing space" and "mislabeled" in d.tags
        notes = [json.loads(e["after"])["note"] for e in p.events(first)]
        assert notes == ["saved before the disk filled", "saved before the disk filled", "typed again after freeing space"]
    folder = backupmod.backup_dir(digits_project)
    assert not folder.exists() or not [f for f in folder.iterdir() if not f.name.endswith(".labeler.db")]


# ---------------------------------------------------------------------------------------------
# WAL checkpoints: never inside a decision, bounded by Project.checkpoint()


def wal_frames(db: Path) -> int:
    """Frames in the WAL, read from its size (32-byte header, 24-byte frame headers)."""
    wal = Path(f"{db}-wal")
    return 0 if not wal.exists() else max(0, (wal.stat().st_size - 32) // (4096 + 24))


def test_writer_never_checkpoints_inside_a_decision_and_checkpoint_bounds_the_wal(digits_project):
    """Automatic checkpoints are off on the writer (they stalled a key press every ~600 decisions);
    Project.checkpoint() on a worker thread in the pauses between bursts of decisions (as the
    window's idle timer does) keeps the WAL bounded; every decision survives; close checkpoints."""
    ids = first_ids(digits_project, 300)
    p = Project.open(digits_project)
    assert p.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    for n in range(300):  # without a checkpoint the WAL only grows
        p.write_decision(ids[n], Decision(), Decision(note=f"a{n}", reviewed=True), "note")
    assert wal_frames(digits_project) > 1000  # SQLite's automatic checkpoint would have run at 1000
    sizes, frames = [], []
    for burst in range(10):
        for n in range(burst * 100, burst * 100 + 100):
            eid = ids[n % 300]
            p.write_decision(eid, p.decision(eid), Decision(note=f"b{n}", reviewed=True), "note")
        result: list = []
        worker = threading.Thread(target=lambda: result.append(p.checkpoint()))  # the idle pause
        worker.start()
        worker.join()
        busy, in_wal, checkpointed = result[0]
        assert busy == 0 and in_wal == checkpointed
        frames.append(in_wal)
        sizes.append(Path(f"{digits_project}-wal").stat().st_size)
    # each pause's checkpoint caught up, so the next decision started the WAL over, cut to the limit
    assert max(frames[1:]) < 600, frames
    assert max(sizes[1:]) <= store.WAL_SIZE_LIMIT, sizes
    p.close()
    assert not Path(f"{digits_project}-wal").exists() or wal_frames(digits_project) == 0
    assert integrity(digits_project) == "ok"
    with Project.open(digits_project, readonly=True) as r:
        for n in range(700, 1000):
            assert r.decision(ids[n % 300]).note == f"b{n}"
        assert len(r.events()) == 1300


def test_checkpoint_from_another_thread_during_writes_loses_nothing(digits_project):
    """Project.checkpoint() running back to back on a worker thread while the main thread writes
    decisions: no error, no decision lost, a sound file."""
    ids = first_ids(digits_project, 100)
    p = Project.open(digits_project)
    stop = threading.Event()
    results: list = []

    def checkpointer():
        while not stop.is_set():
            results.append(p.checkpoint())

    worker = threading.Thread(target=checkpointer)
    worker.start()
    try:
        n = 0
        while n < 400 or (len(results) < 10 and n < 5000):  # (however slow the disk is today)
            eid = ids[n % 100]
            p.write_decision(eid, p.decision(eid), Decision(note=f"c{n}", reviewed=True), "note")
            n += 1
    finally:
        stop.set()
        worker.join()
    assert len(results) >= 10
    assert all(r is not None and r[0] == 0 for r in results), [r for r in results if r is None or r[0]][:5]
    p.close()
    assert integrity(digits_project) == "ok"
    with Project.open(digits_project, readonly=True) as r:
        assert [r.decision(ids[k % 100]).note for k in range(n - 100, n)] == [f"c{k}" for k in range(n - 100, n)]
        assert len(r.events()) == n


def test_checkpoint_on_a_closed_or_read_only_project_does_nothing(digits_project):
    p = Project.open(digits_project, readonly=True)
    assert p.checkpoint() is None
    p.close()
    p = Project.open(digits_project)
    p.close()
    assert p.checkpoint() is None


def test_open_after_a_crash_checkpoints_what_the_dead_writer_left(digits_project):
    """Rows 27/30: a killed writer leaves committed decisions in the WAL; the next writer's open
    reads them (nothing lost) and moves them into the file."""
    script = textwrap.dedent("""
        import os, signal, sys
        from labeler.core.store import Decision, Project
        p = Project.open(sys.argv[1])
        for n in range(200):
            p.write_decision(f"d{n:04d}", Decision(), Decision(note=f"k{n}", reviewed=True), "note")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    r = subprocess.run([sys.executable, "-c", script, str(digits_project)], env=ENV, timeout=120)
    assert r.returncode == -9
    assert wal_frames(digits_project) > 200
    with Project.open(digits_project) as p:
        assert p.decision("d0199").note == "k199"
        busy, frames, done = p.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert frames == done
    assert integrity(digits_project) == "ok"
