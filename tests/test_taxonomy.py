"""Replacing the taxonomy must not move reviewed errors into "untagged" silently.

A new list of error types that leaves out types which decisions use is refused (nothing written)
unless forced: in the core (Project.set_error_types), `labeler import --taxonomy`, `labeler taxonomy
set`, and the window (a Yes/No question). `labeler taxonomy list|rename|set` on the sample project.
The expected counts and messages below are written out by hand from the decisions the tests make.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import DIGITS, DIGITS_CSV, file_digest, read_digits_rows, snapshot
from labeler.cli import main
from labeler.core.store import Decision, ErrorTypesInUse, Project, ProjectError

TAXONOMY = ["faint stroke", "thick stroke", "rotated/slanted", "cut off", "looks like another digit",
            "unusual style", "noisy scan"]
IDS = [r["id"] for r in read_digits_rows()[:6]]

# Which error types the decisions of these tests use: faint stroke 2, cut off 2, noisy scan 1,
# thick stroke 1; the sixth decision has a tag and no error type.
USES = {
    IDS[0]: {"faint stroke"},
    IDS[1]: {"faint stroke", "cut off"},
    IDS[2]: {"cut off"},
    IDS[3]: {"noisy scan"},
    IDS[4]: {"thick stroke"},
}
# A taxonomy without "faint stroke" and "cut off": 3 decisions (IDS[0..2]) use them.
DROPS_TWO = ["thick stroke", "rotated/slanted", "looks like another digit", "unusual style", "noisy scan"]
DROPS_TWO_MESSAGE = "the new taxonomy drops error types that 3 decisions use: faint stroke (2), cut off (2)"


def run(*args, ok: bool = True):
    r = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert r.exit_code == 0, r.output + repr(r.exception)
    return r


@pytest.fixture
def decided(digits_project) -> Path:
    """The sample project (sample taxonomy) with the decisions of USES, closed."""
    with Project.open(digits_project) as p:
        assert p.error_types() == TAXONOMY  # the sample file, as these tests read it
        for eid, types in USES.items():
            p.write_decision(eid, Decision(), Decision(error_types=frozenset(types), reviewed=True), "error_type",
                             reviewer="ann")
        p.write_decision(IDS[5], Decision(), Decision(tags=frozenset({"mislabeled"}), reviewed=True), "tag",
                         reviewer="ann")
    return digits_project


def decisions_error_types(path: Path) -> dict[str, set[str]]:
    with Project.open(path, readonly=True) as p:
        return {eid: set(d.error_types) for eid, d in p.decisions().items()}


def taxonomy_of(path: Path) -> list[str]:
    with Project.open(path, readonly=True) as p:
        return p.error_types()


def write_taxonomy(tmp_path: Path, names: list[str], name: str = "tax.txt") -> Path:
    f = tmp_path / name
    f.write_text("\n".join(names) + "\n", encoding="utf-8")
    return f


# ---------------------------------------------------------------------------------------------
# the core


def test_usage_counts_per_error_type(decided):
    with Project.open(decided, readonly=True) as p:
        assert p.error_type_usage() == {"faint stroke": 2, "cut off": 2, "noisy scan": 1, "thick stroke": 1}


def test_a_taxonomy_that_drops_used_types_is_refused_and_nothing_is_written(decided):
    before = snapshot(decided)
    with Project.open(decided) as p:
        with pytest.raises(ErrorTypesInUse) as caught:
            p.set_error_types(DROPS_TWO)
        assert isinstance(caught.value, ProjectError)
        assert str(caught.value) == DROPS_TWO_MESSAGE
        assert caught.value.dropped == {"faint stroke": 2, "cut off": 2}
        assert caught.value.decisions == 3
        # one decision using one dropped type: singular
        with pytest.raises(ErrorTypesInUse, match=r"^the new taxonomy drops error types that 1 decision uses: noisy scan \(1\)$"):
            p.set_error_types(TAXONOMY[:-1])
        assert p.error_types() == TAXONOMY
    assert snapshot(decided) == before


def test_reorders_additions_and_unused_drops_need_no_force(decided):
    with Project.open(decided) as p:
        p.set_error_types(list(reversed(TAXONOMY)) + ["new one"])
        assert p.error_types() == list(reversed(TAXONOMY)) + ["new one"]
        # "rotated/slanted", "looks like another digit", "unusual style" and "new one": no decision uses them
        p.set_error_types(["noisy scan", "cut off", "faint stroke", "thick stroke"])
        assert p.error_types() == ["noisy scan", "cut off", "faint stroke", "thick stroke"]
    assert decisions_error_types(decided) == {**USES, IDS[5]: set()}


def test_force_drops_them_and_the_decisions_keep_the_names(decided):
    with Project.open(decided) as p:
        p.set_error_types(DROPS_TWO, force=True)
        assert p.error_types() == DROPS_TWO
        # already out of the taxonomy: not dropped again, so no refusal for them next time
        p.set_error_types(DROPS_TWO + ["extra"])
        assert p.error_types() == DROPS_TWO + ["extra"]
    assert decisions_error_types(decided) == {**USES, IDS[5]: set()}


def test_the_check_follows_renames(decided):
    with Project.open(decided) as p:
        # "faint stroke" renamed to "faint": its 2 decisions are kept, only "cut off" is dropped
        with pytest.raises(ErrorTypesInUse) as caught:
            p.check_error_types(["faint", *DROPS_TWO], renames={"faint stroke": "faint"})
        assert (caught.value.dropped, caught.value.decisions) == ({"cut off": 2}, 2)
        p.check_error_types(["faint", "cut", *DROPS_TWO], renames={"faint stroke": "faint", "cut off": "cut"})


# ---------------------------------------------------------------------------------------------
# labeler taxonomy


def test_taxonomy_help():
    assert "rename" in run("taxonomy", "--help").output
    assert "--force" in run("taxonomy", "set", "--help").output
    assert "OLD" in run("taxonomy", "rename", "--help").output
    assert "decisions" in run("taxonomy", "list", "--help").output


def test_taxonomy_list(decided):
    out = json.loads(run("taxonomy", "list", "--project", decided, "--json").output)
    assert out == [
        {"name": "faint stroke", "key": 1, "decisions": 2, "in_taxonomy": True},
        {"name": "thick stroke", "key": 2, "decisions": 1, "in_taxonomy": True},
        {"name": "rotated/slanted", "key": 3, "decisions": 0, "in_taxonomy": True},
        {"name": "cut off", "key": 4, "decisions": 2, "in_taxonomy": True},
        {"name": "looks like another digit", "key": 5, "decisions": 0, "in_taxonomy": True},
        {"name": "unusual style", "key": 6, "decisions": 0, "in_taxonomy": True},
        {"name": "noisy scan", "key": 7, "decisions": 1, "in_taxonomy": True},
    ]
    lines = run("taxonomy", "list", "--project", decided).output.splitlines()
    assert len(lines) == 1 + len(TAXONOMY)
    assert lines[1].split() == ["1", "faint", "stroke", "2"]
    assert lines[3].split() == ["3", "rotated/slanted", "0"]
    # after a forced drop, the dropped names are listed last, without a key
    run("taxonomy", "set", write_taxonomy(decided.parent, DROPS_TWO), "--force", "--project", decided)
    out = json.loads(run("taxonomy", "list", "--project", decided, "--json").output)
    assert [(it["name"], it["key"], it["decisions"], it["in_taxonomy"]) for it in out] == [
        ("thick stroke", 1, 1, True), ("rotated/slanted", 2, 0, True), ("looks like another digit", 3, 0, True),
        ("unusual style", 4, 0, True), ("noisy scan", 5, 1, True),
        ("cut off", None, 2, False), ("faint stroke", None, 2, False),
    ]
    assert "not in the taxonomy" in run("taxonomy", "list", "--project", decided).output


def test_taxonomy_set_refused_then_forced(decided, tmp_path):
    tax = write_taxonomy(tmp_path, DROPS_TWO)
    before = snapshot(decided)
    r = run("taxonomy", "set", tax, "--project", decided, ok=False)
    assert r.exit_code == 2
    assert DROPS_TWO_MESSAGE in r.output
    assert "labeler taxonomy rename OLD NEW" in r.output and "--force" in r.output
    assert snapshot(decided) == before

    r = run("taxonomy", "set", tax, "--project", decided, "--force")
    assert "5 error types set" in r.output
    assert "faint stroke (2), cut off (2)" in r.output and "untagged" in r.output
    assert taxonomy_of(decided) == DROPS_TWO
    assert decisions_error_types(decided) == {**USES, IDS[5]: set()}


def test_taxonomy_set_that_keeps_every_used_type(decided, tmp_path):
    new = ["noisy scan", "cut off", "thick stroke", "faint stroke", "blur"]
    r = run("taxonomy", "set", write_taxonomy(tmp_path, new), "--project", decided)
    assert "5 error types set" in r.output and "Warning" not in r.output
    assert taxonomy_of(decided) == new


def test_taxonomy_set_bad_file_writes_nothing(decided, tmp_path):
    before = snapshot(decided)
    r = run("taxonomy", "set", write_taxonomy(tmp_path, ["a", "b", "a"]), "--project", decided, ok=False)
    assert r.exit_code == 2 and "listed twice: a" in r.output
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1"))
    r = run("taxonomy", "set", bad, "--project", decided, ok=False)
    assert r.exit_code == 2 and "not UTF-8" in r.output
    assert snapshot(decided) == before


def test_taxonomy_rename(decided):
    r = run("taxonomy", "rename", "faint stroke", "faint", "--project", decided)
    assert "2 decisions" in r.output
    assert taxonomy_of(decided) == ["faint", *TAXONOMY[1:]]
    expected = {eid: {"faint" if t == "faint stroke" else t for t in types} for eid, types in USES.items()}
    assert decisions_error_types(decided) == {**expected, IDS[5]: set()}

    before = snapshot(decided)
    r = run("taxonomy", "rename", "no such type", "x", "--project", decided, ok=False)
    assert r.exit_code == 2 and "no error type 'no such type'" in r.output
    r = run("taxonomy", "rename", "faint", "cut off", "--project", decided, ok=False)
    assert r.exit_code == 2 and "there is an error type 'cut off' already" in r.output
    r = run("taxonomy", "rename", "faint", "  ", "--project", decided, ok=False)
    assert r.exit_code == 2 and "empty" in r.output
    assert snapshot(decided) == before


def test_taxonomy_commands_on_a_locked_project(decided, tmp_path):
    tax = write_taxonomy(tmp_path, TAXONOMY + ["more"])
    with Project.open(decided):
        for args in (("set", tax), ("rename", "cut off", "cropped")):
            r = run("taxonomy", *args, "--project", decided, ok=False)
            assert r.exit_code == 2 and "open for writing in another labeler" in r.output
        # reading works while another labeler writes
        assert "faint stroke" in run("taxonomy", "list", "--project", decided).output
    assert taxonomy_of(decided) == TAXONOMY


def test_taxonomy_without_a_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("taxonomy", "list", ok=False)
    assert r.exit_code == 2 and "no project here" in r.output


# ---------------------------------------------------------------------------------------------
# labeler import --taxonomy


def test_import_with_a_taxonomy_that_drops_used_types_is_refused_before_importing(decided, tmp_path):
    tax = write_taxonomy(tmp_path, DROPS_TWO)
    before, digest = snapshot(decided), file_digest(decided)
    r = run("import", DIGITS_CSV, "--project", decided, "--taxonomy", tax, ok=False)
    assert r.exit_code == 2
    assert DROPS_TWO_MESSAGE in r.output and "--force" in r.output and "Nothing was imported" in r.output
    assert snapshot(decided) == before and file_digest(decided) == digest


def test_import_with_force_drops_them(decided, tmp_path):
    tax = write_taxonomy(tmp_path, DROPS_TWO)
    r = run("import", DIGITS_CSV, "--project", decided, "--taxonomy", tax, "--force")
    assert "1797" in r.output
    assert taxonomy_of(decided) == DROPS_TWO
    assert decisions_error_types(decided) == {**USES, IDS[5]: set()}


def test_import_with_a_taxonomy_that_keeps_the_used_types(decided, tmp_path):
    new = TAXONOMY + ["blur"]
    run("import", DIGITS_CSV, "--project", decided, "--taxonomy", write_taxonomy(tmp_path, new))
    assert taxonomy_of(decided) == new
    assert decisions_error_types(decided) == {**USES, IDS[5]: set()}


def test_import_of_a_new_project_with_a_taxonomy(tmp_path):
    db = tmp_path / "new.labeler.db"
    run("import", DIGITS_CSV, "--project", db, "--taxonomy", DIGITS / "taxonomy.txt")
    assert taxonomy_of(db) == TAXONOMY


# ---------------------------------------------------------------------------------------------
# the window


def _answer(monkeypatch, yes: bool) -> list[str]:
    from PySide6.QtWidgets import QMessageBox

    asked = []

    def question(parent, title, text, *args):
        asked.append(text)
        return QMessageBox.StandardButton.Yes if yes else QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


@pytest.mark.parametrize("yes", [False, True])
def test_window_taxonomy_file_that_drops_used_types_asks(request, decided, tmp_path, monkeypatch, yes):
    pytest.importorskip("pytestqt")
    request.getfixturevalue("qtbot")
    from labeler.gui import loader

    asked = _answer(monkeypatch, yes)
    before = snapshot(decided)
    project, summary = loader.open_source(None, decided, None, write_taxonomy(tmp_path, DROPS_TWO))
    try:
        assert summary is None
        assert len(asked) == 1 and DROPS_TWO_MESSAGE[1:] in asked[0]
        assert project.error_types() == (DROPS_TWO if yes else TAXONOMY)
    finally:
        project.close()
    if not yes:
        assert snapshot(decided) == before
    assert decisions_error_types(decided) == {**USES, IDS[5]: set()}


@pytest.mark.parametrize("yes", [False, True])
def test_window_error_type_editor_removing_used_types_asks(request, decided, tmp_path, monkeypatch, yes):
    pytest.importorskip("pytestqt")
    qtbot = request.getfixturevalue("qtbot")
    from PySide6.QtCore import QSettings

    from labeler.gui import keymap as keymapmod
    from labeler.gui.main_window import MainWindow

    win = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                     keymap=keymapmod.default_keymap())
    qtbot.addWidget(win)
    win.set_project(Project.open(decided))
    try:
        asked = _answer(monkeypatch, yes)
        # rename "thick stroke" to "thick", remove "cut off" (2 decisions) and "rotated/slanted" (none)
        names = ["faint stroke", "thick", "looks like another digit", "unusual style", "noisy scan"]
        win.apply_error_types(names, {"thick stroke": "thick"})
        assert len(asked) == 1
        assert "drops error types that 2 decisions use: cut off (2)" in asked[0]
        assert win.session.project.error_types() == (names if yes else TAXONOMY)
        assert win.error_types == win.session.project.error_types()
    finally:
        win.close_project()
        win.close()
    thick = "thick" if yes else "thick stroke"
    expected = {eid: {thick if t == "thick stroke" else t for t in types} for eid, types in USES.items()}
    assert decisions_error_types(decided) == {**expected, IDS[5]: set()}
