"""An export folder holds one export at a time (BAD_INPUTS row 33): a process killed with SIGKILL
between two of the renames that move an export's files into place leaves a folder that a reader
finds half-written (labeler.core.export.check_export says so), and the next export into it first
finishes the interrupted one, so the folder then holds exactly that export's files, none of the one
before. Killed before the first rename, the folder is the previous export, whole.

The kill is real: a child process runs the export with os.replace wrapped to SIGKILL itself at the
N-th call (1: the journal, 2 .. 8: the seven files, 9: export.json).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labeler.core import fileops
from labeler.core.export import MANIFEST_FILE, ExportProblem, check_export
from test_export import decide, export, make_project

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

KILL_AT = textwrap.dedent("""
    import os, signal, sys
    from labeler.core.export import export_all
    from labeler.core.store import Project

    kill_at = int(sys.argv[3])
    real_replace = os.replace
    seen = []

    def replace(src, dst, *a, **k):
        seen.append(os.path.basename(os.fspath(dst)))
        if len(seen) == kill_at:
            os.write(1, ("killed before " + " ".join(seen) + "\\n").encode())
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst, *a, **k)

    os.replace = replace
    with Project.open(sys.argv[1], readonly=True) as p:
        export_all(p, sys.argv[2])
    print("exported")
""")

FILES = ["corrections.csv", "train.corrected.csv", "tally.csv", "tally.md", "tally.json", "summary.json",
         "report.html"]
# the same for the same decisions (summary.json and report.html carry the time they were made)
STABLE = ["corrections.csv", "train.corrected.csv", "tally.csv", "tally.md", "tally.json"]


def visible(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def kill_during_export(tmp_path: Path, project: Path, out: Path, kill_at: int) -> list[str]:
    """Run an export in a child killed at the ``kill_at``-th os.replace; the names replaced up to the kill."""
    script = tmp_path / "kill_at.py"
    script.write_text(KILL_AT)
    run = subprocess.run([sys.executable, str(script), str(project), str(out), str(kill_at)], capture_output=True,
                         text=True, cwd=tmp_path, env=ENV, timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stdout + run.stderr
    line = run.stdout.strip().splitlines()[-1]
    assert line.startswith("killed before "), run.stdout
    return line.split()[2:]


@pytest.fixture
def two_generations(tmp_path):
    """A project exported once (the old generation), then decided further; and a reference export of
    the new decisions in another folder."""
    project, _, _ = make_project(tmp_path, "csv")
    decide(project, "train", relabel={"000123": "dog"})
    out = tmp_path / "out"
    export(project, out)
    old = visible(out)
    old_gen = check_export(out)
    assert old_gen.complete and set(old_gen.files) == set(FILES) and sorted(old) == sorted([*FILES, MANIFEST_FILE])
    decide(project, "train", relabel={"x4": "NA"})
    ref = tmp_path / "ref"
    export(project, ref)
    new = visible(ref)
    assert all(old[n] != new[n] for n in ("corrections.csv", "train.corrected.csv"))
    return project, out, old, old_gen.generation, new


@pytest.mark.parametrize("kill_at", [2, 3, 5, 8, 9])
def test_row33_sigkill_between_renames_is_found_half_written_and_the_next_export_finishes_it(
        tmp_path, two_generations, kill_at):
    project, out, old, old_gen, new = two_generations
    seen = kill_during_export(tmp_path, project, out, kill_at)
    assert seen[0] == fileops.JOURNAL and seen[1:] == FILES[:kill_at - 1] + ([MANIFEST_FILE] if kill_at == 9 else [])
    journal = json.loads((out / fileops.JOURNAL).read_text())
    planned = {e["name"]: e["sha256"] for e in journal["files"]}
    assert sorted(planned) == sorted(FILES) and journal["generation"] != old_gen

    # what a reader finds: the files moved before the kill are the new export's, the others the old
    # one's, and export.json of the old one is gone: no file set claims to be whole
    now = visible(out)
    moved = FILES[:kill_at - 2]
    assert MANIFEST_FILE not in now
    for name in FILES:
        assert sha(now[name]) == (planned[name] if name in moved else sha(old[name])), name
    state = check_export(out)
    assert not state.complete and state.generation == journal["generation"]
    assert "half-written" in state.problem and "interrupted" in state.problem

    # the next export into the folder first finishes the interrupted one (shown here on its own)
    assert fileops.tidy_folder(out) is not None
    state = check_export(out)
    assert state.complete and state.generation == journal["generation"], state.problem
    after = visible(out)
    assert sorted(after) == sorted([*FILES, MANIFEST_FILE]) and hidden(out) == []
    assert {n: sha(after[n]) for n in FILES} == planned  # every file the new export's, none the old one's
    assert all(after[n] == new[n] for n in STABLE)

    # and an export after it works as ever
    export(project, out)
    assert check_export(out).complete and hidden(out) == []


def test_row33_sigkill_before_the_first_rename_leaves_the_previous_export_whole(tmp_path, two_generations):
    project, out, old, old_gen, _ = two_generations
    assert kill_during_export(tmp_path, project, out, 1) == [fileops.JOURNAL]
    assert visible(out) == old  # the staged files of the killed export are hidden temporary files
    state = check_export(out)
    assert state.complete and state.generation == old_gen
    assert fileops.tidy_folder(out) is None and hidden(out) == []  # its temporary files are removed
    assert visible(out) == old


def test_row33_next_export_after_a_kill_mid_swap_says_it_finished_the_interrupted_one(tmp_path, two_generations):
    project, out, _, _, new = two_generations
    kill_during_export(tmp_path, project, out, 3)  # between corrections.csv and train.corrected.csv
    assert not check_export(out).complete
    result = export(project, out)
    assert any("interrupted" in w and "finished first" in w for w in result.warnings)
    assert check_export(out).complete and hidden(out) == []
    assert all(visible(out)[n] == new[n] for n in STABLE)


def test_row33_a_rename_that_fails_midway_is_reported_and_finished_by_the_next_export(tmp_path, monkeypatch,
                                                                                      two_generations):
    project, out, _, _, new = two_generations
    real, calls = os.replace, []

    def flaky(src, dst, *a, **k):
        calls.append(dst)
        if len(calls) == 4:
            raise OSError(5, "Input/output error")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(ExportProblem, match=r"stopped halfway.*finishes this one first"):
        export(project, out)
    monkeypatch.undo()
    state = check_export(out)
    assert not state.complete and "half-written" in state.problem
    export(project, out)
    assert check_export(out).complete and hidden(out) == []
    assert all(visible(out)[n] == new[n] for n in STABLE)


def test_check_export_finds_a_changed_file_and_a_folder_without_export_json(tmp_path, two_generations):
    _, out, _, _, _ = two_generations
    p = out / "tally.md"
    p.write_bytes(p.read_bytes().replace(b"|", b"!", 1))  # same size: only the SHA-256 tells
    state = check_export(out)
    assert not state.complete and "changed afterwards" in state.problem and "tally.md" in state.problem
    assert check_export(out, hashes=False).complete
    (out / MANIFEST_FILE).unlink()
    assert "no export.json" in check_export(out).problem


def test_check_export_says_when_a_swap_is_under_way(tmp_path, two_generations):
    _, out, _, _, _ = two_generations
    (out / fileops.JOURNAL).write_text(json.dumps({"generation": "g", "files": []}))
    with fileops.folder_locked(out):  # as an export moving its files into place holds it
        assert "right now" in check_export(out).problem
    assert "half-written" in check_export(out).problem
