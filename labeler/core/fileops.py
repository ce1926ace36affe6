"""Where crash safety lives: every file operation that must survive a ``kill -9`` or a power cut.

- **The project lock.** One writer per project: an advisory ``flock`` on ``<project>.lock``, which
  also says who holds it (:func:`acquire_lock`, :func:`release_lock`).
- **Durability.** :func:`sync` fsyncs a file's data or a folder's entries (after a rename).
- **SQLite files.** A database is up to four files (:func:`remove_db_files`); a first import builds
  its project under a scratch name (:func:`import_scratch_path`) whose leftovers, when the import
  was killed, are removed by the next one (:func:`clear_stale_imports`).
- **Export generations.** The files of an export are staged under temporary names, fsynced, and
  moved into place as one generation (:class:`Staged`); ``export.json``, written last, names the
  files of the generation with their size and SHA-256. A swap cut short by a kill is finished by
  the next export into the folder (:func:`finish_interrupted`), and :func:`check_generation` tells
  a reader whether a folder holds exactly one generation. The protocol is told in :class:`Staged`.

This module imports nothing of labeler but :mod:`labeler.core.problems`: the store, the backups,
the importer and the export build on it (an import-linter contract in pyproject.toml keeps it so).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gzip
import hashlib
import io
import json
import os
import re
import secrets
import socket
import tempfile
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .problems import ProjectError, ProjectLocked, ProjectReadOnly

UNSAVED_SUFFIX = ".unsaved.jsonl"

# --------------------------------------------------------------------------------------------
# the project lock


def lock_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".lock")


def acquire_lock(path: str | os.PathLike) -> int:
    """Take the write lock of the project at ``path`` (its file need not exist yet) and note in it
    who holds it. :class:`ProjectLocked` when another process holds it. Returns the lock's fd."""
    lock = lock_path(path)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        if e.errno in READ_ONLY_ERRNOS:
            raise ProjectReadOnly(read_only_message(path, e.strerror)) from e
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise ProjectError(f"cannot create the project {path}: there is no folder {Path(path).parent}") from e
        raise ProjectError(f"cannot create lock file {lock}: {e.strerror}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
        finally:
            os.close(fd)
        raise ProjectLocked(
            f"{path} is open for writing in another labeler{describe_holder(holder)};"
            " close it there, or open this one read-only"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}".encode(), 0)
    return fd


# A folder or file system that cannot be written (a mounted dataset, a colleague's share).
READ_ONLY_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)


def read_only_message(path: str | os.PathLike, why: str | None = None) -> str:
    """What a writing command says about a project it cannot write (not "corrupt": it is sound)."""
    path = Path(path)
    folder = path.parent
    because = f" ({why})" if why else ""
    if not path.exists():
        return (f"cannot create the project {path}: its folder {folder} is read-only{because}; name a project"
                " in a folder you can write to (--project PATH)")
    what = f"its folder {folder} is read-only" if not os.access(folder, os.W_OK) else "the file is read-only"
    return (f"{path} cannot be changed: {what}{because}. labeler can read it there (summary, queue, tally,"
            " confusion, export, `labeler review --read-only`); to change it, copy the project to a folder"
            " you can write to")


def writable(path: str | os.PathLike) -> bool:
    """Whether the project at ``path`` (an existing file) and its folder can be written: SQLite
    needs the folder for its WAL and the lock. ``os.access`` says no on a read-only file system even
    to root."""
    p = Path(path)
    return os.access(p, os.W_OK) and os.access(p.parent if str(p.parent) else ".", os.W_OK)


def describe_holder(holder: str) -> str:
    """' (process 1234 on host, labeler review)' from what the lock file says."""
    if not holder:
        return ""
    pid, _, host = holder.partition(" ")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    what = ""
    if not where and pid.isdigit():
        with contextlib.suppress(OSError):
            argv = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
            # "python -m labeler review", "labeler review": the program and its command, not a script's text
            words = [Path(a).name if "/" in a and "\n" not in a else a for a in argv[:4]]
            words = [w for w in words if w and "\n" not in w and len(w) < 40]
            what = (", " + " ".join(words)) if words else ""
    return f" (process {pid}{where}{what})"


def release_lock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        with contextlib.suppress(OSError):
            os.close(fd)


# --------------------------------------------------------------------------------------------
# durability


def sync(path: str | os.PathLike, *, data_only: bool = False, strict: bool = True) -> None:
    """Make what was written to ``path`` durable: a file's data, or a folder's entries (after a
    rename). ``data_only``: fdatasync. Not ``strict``: an OSError (some filesystems refuse to sync a
    folder) is let go."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if strict:
            raise
        return
    try:
        (os.fdatasync if data_only else os.fsync)(fd)
    except OSError:
        if strict:
            raise
    finally:
        os.close(fd)


def umask() -> int:
    """The process umask, read without setting it (os.umask would race with other threads)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    return 0o022


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        pass
    return True


# --------------------------------------------------------------------------------------------
# SQLite files


DB_SUFFIXES = ("", "-wal", "-shm", "-journal")


def sqlite_uri(path: str | os.PathLike, **params: str | int) -> str:
    """An SQLite ``file:`` URI for ``path`` with query ``params`` (e.g. ``mode="ro"``). The path is
    percent-encoded: a folder named ``data #2``, ``why?`` or ``100%25 done`` would otherwise end the
    path at the ``#`` or ``?`` (SQLite then opens, and creates, another file) or decode ``%25``."""
    absolute = os.path.abspath(os.fspath(path))
    uri = "file://" + urllib.parse.quote(absolute, safe="/")  # empty authority: a path "//x" stays a path
    if params:
        uri += "?" + urllib.parse.urlencode(params)
    return uri


def remove_db_files(path: str | os.PathLike, *, strict: bool = True) -> None:
    """Delete a database and the files SQLite keeps beside it. Not ``strict``: what cannot be
    deleted is let go (clean-up after a failure must not hide the failure)."""
    for suffix in DB_SUFFIXES:
        try:
            os.unlink(f"{os.fspath(path)}{suffix}")
        except FileNotFoundError:
            pass
        except OSError:
            if strict:
                raise


def data_home() -> Path:
    """labeler's folder in the user's data folder (``$XDG_DATA_HOME/labeler``, by default
    ``~/.local/share/labeler``): what labeler keeps outside a project's folder."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "labeler"


def unsaved_path(project_path: str | os.PathLike) -> Path:
    """Where decisions that could not be written to the project are kept: beside it while its
    folder can be written, else in the user's data folder (XDG_DATA_HOME/labeler/unsaved)."""
    p = Path(project_path)
    if p.parent.is_dir() and os.access(p.parent, os.W_OK):
        return p.with_name(p.name + UNSAVED_SUFFIX)
    digest = hashlib.sha256(os.fsencode(os.path.abspath(p))).hexdigest()[:10]
    return data_home() / "unsaved" / f"{p.name}-{digest}{UNSAVED_SUFFIX}"


def keep_unsaved(project_path: str | os.PathLike, records: list[dict]) -> Path:
    """Append ``records`` (one JSON object each: what could not be saved) to the project's recovery
    file, fsynced; returns its path."""
    target = unsaved_path(project_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({"project": os.path.abspath(project_path), **r}, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return target


def import_scratch_path(project_path: Path) -> Path:
    """Where a first import builds the project before renaming it into place."""
    return project_path.with_name(f".{project_path.name}.importing-{os.getpid()}")


def clear_stale_imports(project_path: Path) -> None:
    """Remove the scratch files of first imports into ``project_path`` that were killed (kill -9,
    power cut): their lock is free. An import still running holds its lock and is left alone."""
    pattern = re.compile(re.escape(f".{project_path.name}.importing-") + r"\d+")
    try:
        names = os.listdir(project_path.parent)
    except OSError:
        return
    for name in names:
        if not pattern.fullmatch(name):
            continue
        stale = project_path.with_name(name)
        lock = lock_path(stale)
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # still importing
            remove_db_files(stale)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------------------------
# export generations

MANIFEST = "export.json"  # the files of the generation in the folder; written last
JOURNAL = ".export-journal.json"  # the generation being moved into place; removed when it is
# a staged file: .<name>.<pid>.<random>.tmp
TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$")


def remove_stale_temps(out_dir: Path) -> None:
    """Temporary files an export killed outright (kill -9, power cut) left behind; their process is gone.
    (Run after :func:`finish_interrupted`, which may still need some of them.)"""
    with contextlib.suppress(OSError):
        for p in out_dir.iterdir():
            m = TEMP.match(p.name)
            if not m or int(m["pid"]) == os.getpid() or _pid_alive(int(m["pid"])):
                continue
            with contextlib.suppress(OSError):
                p.unlink()


@contextlib.contextmanager
def folder_locked(out_dir: Path):
    """Held while an export moves its files into place or tidies the folder, so that two exports
    into one folder swap one after the other and a reader can tell a swap is under way: an
    ``flock`` on the folder itself (no lock file to leave behind). Waits for the other export's swap
    (a matter of milliseconds). Where the folder cannot be locked (some network filesystems), it is
    not."""
    try:
        fd = os.open(out_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        fd = None
    try:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                pass
        yield
    finally:
        if fd is not None:
            os.close(fd)  # (closing the only descriptor lets go of the flock)


def tidy_folder(out_dir: Path) -> str | None:
    """Before an export writes into ``out_dir``: finish the swap of an export killed while moving
    its files into place (:func:`finish_interrupted`), then delete the temporary files of exports
    killed while writing them. Returns what was finished, if anything."""
    with folder_locked(out_dir):
        finished = finish_interrupted(out_dir)
        remove_stale_temps(out_dir)
    return finished


def _folder_busy(out_dir: Path) -> bool:
    """Whether an export holds the folder's lock now."""
    try:
        fd = os.open(out_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_json(path: Path, data: dict) -> None:
    """``path`` replaced as a whole by ``data``: written to a temporary name, fsynced, renamed."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    sync(path.parent, strict=False)


class _Hashing(io.RawIOBase):
    """A file opened for writing that keeps the size and SHA-256 of what went through it."""

    def __init__(self, f):
        super().__init__()
        self._f = f
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        n = self._f.write(b)
        view = memoryview(b).cast("B")
        self.sha.update(view[:n])
        self.size += n
        return n

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        if not self._f.closed:  # (IOBase flushes again when collected)
            self._f.flush()


@dataclass
class _File:
    name: str
    tmp: Path
    size: int = 0
    sha256: str = ""

    def entry(self) -> dict:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}


class Staged:
    """The files of one export generation, written under temporary names in the output folder and
    moved into place together.

    1. Each file is written to ``.<name>.<pid>.<random>.tmp`` in the folder, flushed and fsynced. A
       failure here (disk full, a cancel, any exception) deletes them (:meth:`discard`): the folder
       is as it was.
    2. :meth:`commit` writes the journal ``.export-journal.json`` (the generation, and each file's
       temporary name, size and SHA-256) and fsyncs it. From here on the new generation is the one
       the folder will hold.
    3. ``export.json`` of the generation before is deleted, each file is renamed over its final
       name (``os.replace``), the folder is fsynced.
    4. ``export.json`` is written (the generation, the time, each file's name, size and SHA-256),
       then the journal deleted.

    A kill during 3 or 4 leaves the journal: the folder then holds some files of each generation
    and :func:`check_generation` says so; the next export into it, or :func:`finish_interrupted`,
    first finishes the swap from the journal (the staged files are complete and on disk), so the
    folder holds the whole interrupted generation before anything else happens. ``export.json``
    present and no journal: the files it names are exactly one generation."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        self.generation = f"{stamp}-{os.getpid()}-{secrets.token_hex(3)}"
        self.pending: list[_File] = []
        self.current: Path | None = None  # the file being written or moved into place
        self.swapping = False  # the journal is written: the folder is between two generations

    @contextlib.contextmanager
    def open(self, name: str, *, gz: bool = False):
        self.current = self.out_dir / name
        fd, tmp = tempfile.mkstemp(dir=self.out_dir, prefix=f".{name}.{os.getpid()}.", suffix=".tmp")
        staged = _File(name, Path(tmp))
        self.pending.append(staged)
        with os.fdopen(fd, "wb") as f:
            h = _Hashing(f)
            if gz:
                with gzip.GzipFile(filename="", mode="wb", fileobj=h, mtime=0) as z:
                    yield z
            else:
                yield h
            f.flush()
            os.fsync(f.fileno())
        staged.size, staged.sha256 = h.size, h.sha.hexdigest()
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o666 & ~umask())

    def write_text(self, name: str, text: str) -> None:
        with self.open(name) as f:
            f.write(text.encode("utf-8"))

    def commit(self) -> list[Path]:
        """Move the generation into place (steps 2-4 above). Returns the final paths."""
        journal = {
            "generation": self.generation,
            "pid": os.getpid(),
            "started_at": _now(),
            "files": [{**s.entry(), "temp": s.tmp.name} for s in self.pending],
        }
        with folder_locked(self.out_dir):
            self.current = self.out_dir / JOURNAL
            write_json(self.out_dir / JOURNAL, journal)
            self.swapping = True
            done = _swap(self.out_dir, journal, self)
        self.pending.clear()
        return done

    def discard(self) -> None:
        """Delete the staged files of a generation that will not be committed. Once the swap has
        begun they are left to finish it (see :func:`finish_interrupted`)."""
        if self.swapping:
            return
        for s in self.pending:
            with contextlib.suppress(OSError):
                s.tmp.unlink()
        self.pending.clear()


def _swap(out_dir: Path, journal: dict, staged: Staged | None = None) -> list[Path]:
    """Steps 3 and 4 of :class:`Staged`, from a journal: by the export that wrote it, or to finish
    one that was cut short (files already in place are left there)."""
    (out_dir / MANIFEST).unlink(missing_ok=True)
    done = []
    for entry in journal["files"]:
        tmp, final = out_dir / entry["temp"], out_dir / entry["name"]
        if staged is not None:
            staged.current = final
        if tmp.exists() or staged is not None:
            os.replace(tmp, final)
        done.append(final)
    sync(out_dir, strict=False)
    if staged is not None:
        staged.current = out_dir / MANIFEST
    write_json(out_dir / MANIFEST, {
        "generation": journal["generation"],
        "written_at": _now(),
        "files": [{k: e[k] for k in ("name", "size", "sha256")} for e in journal["files"]],
    })
    (out_dir / JOURNAL).unlink(missing_ok=True)
    sync(out_dir, strict=False)
    return done


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _journal_ok(journal: dict) -> bool:
    files = journal.get("files")
    return isinstance(journal.get("generation"), str) and isinstance(files, list) and all(
        isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("temp"), str)
        and isinstance(e.get("size"), int) and isinstance(e.get("sha256"), str)
        and "/" not in e["name"] + e["temp"] and not e["name"].startswith(".") for e in files)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def finish_interrupted(out_dir: Path) -> str | None:
    """Finish the swap of an export that was killed while moving its files into place (its journal
    is there): the folder then holds that whole generation. Call with the folder locked
    (:func:`folder_locked`, as :func:`tidy_folder` does), so that no export is swapping. Returns what was done, or
    None when there was nothing to finish. Raises nothing for a journal that cannot be followed
    (a staged file gone or of the wrong size): it is left, and the folder reported half-written,
    until the next export replaces every file."""
    journal = _read_json(out_dir / JOURNAL)
    if journal is None:
        return None
    if not _journal_ok(journal):
        return None
    for e in journal["files"]:
        tmp, final = out_dir / e["temp"], out_dir / e["name"]
        try:
            if tmp.exists():  # staged, fsynced before the journal was written: complete
                ok = tmp.stat().st_size == e["size"]
            else:  # moved into place already (or lost: then it is not this generation's file)
                ok = final.stat().st_size == e["size"] and _sha256(final) == e["sha256"]
        except OSError:
            ok = False
        if not ok:
            return None
    _swap(out_dir, journal)
    return f"finished the interrupted export {journal['generation']} in {out_dir}"


@dataclass(frozen=True)
class Generation:
    """What a reader finds in an export folder."""

    folder: Path
    complete: bool  # exactly the files of one generation, as export.json names them
    generation: str | None  # its id (the interrupted one's, when half-written)
    files: tuple[str, ...]  # the files export.json names
    problem: str | None  # why not complete, in a sentence for the user


def check_generation(out_dir: str | os.PathLike, *, hashes: bool = True) -> Generation:
    """Whether ``out_dir`` holds exactly one export generation: no journal, and every file named
    by export.json of its size (and, with ``hashes``, its SHA-256)."""
    out_dir = Path(out_dir)
    journal = _read_json(out_dir / JOURNAL)
    if journal is not None:
        gen = journal.get("generation") if isinstance(journal.get("generation"), str) else None
        if _folder_busy(out_dir):
            why = f"an export into {out_dir} is moving its files into place right now; look again in a moment"
        else:
            why = (f"{out_dir} holds a half-written export: export {gen} was interrupted while its files were"
                   " moved into place, so some files are from it and some from the export before. The next"
                   " export into this folder finishes it before writing its own; until then do not use"
                   " these files")
        names = tuple(e.get("name", "?") for e in journal.get("files", []) if isinstance(e, dict))
        return Generation(out_dir, False, gen, names, why)
    manifest = _read_json(out_dir / MANIFEST)
    if manifest is None:
        return Generation(out_dir, False, None, (), f"{out_dir} has no {MANIFEST}: it is not a labeler export,"
                          " or one made before exports named their files")
    entries = manifest.get("files")
    gen = manifest.get("generation") if isinstance(manifest.get("generation"), str) else None
    if not isinstance(entries, list) or gen is None or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries):
        return Generation(out_dir, False, gen, (), f"{out_dir / MANIFEST} is damaged")
    names = tuple(e["name"] for e in entries)
    for e in entries:
        p = out_dir / e["name"]
        try:
            size = p.stat().st_size
        except OSError:
            return Generation(out_dir, False, gen, names, f"{p} of export {gen} is missing")
        differs = size != e.get("size")
        if not differs and hashes:
            try:
                differs = _sha256(p) != e.get("sha256")
            except OSError:
                differs = True
        if differs:
            return Generation(out_dir, False, gen, names,
                              f"{p} is not the file export {gen} wrote: it was changed afterwards")
    return Generation(out_dir, True, gen, names, None)
