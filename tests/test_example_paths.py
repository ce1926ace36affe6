"""Example paths as users write them (issue 13): ``~/x.png`` is the user's home (the window showed
it, the summary counted it missing); a broken symbolic link is missing (it was counted present); a
folder is missing and its placeholder says it is a folder. The expected counts are computed here
with ``os.path.isfile`` on the expanded path, not with labeler's listing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
from click.testing import CliRunner
from PIL import Image

from labeler.cli import main
from labeler.core import files, images
from labeler.core.importer import import_predictions
from labeler.core.store import Project


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(path)


def _layout(tmp_path, monkeypatch) -> tuple[Path, list[str]]:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    data = tmp_path / "data"
    _png(home / "pics" / "a.png")
    _png(home / "pics" / "c.png")
    _png(data / "b.png")
    _png(data / "real.png")
    os.symlink(data / "real.png", data / "good_link.png")
    os.symlink(data / "gone.png", data / "broken_link.png")
    (data / "folder.png").mkdir()
    paths = ["~/pics/a.png", "~/pics/c.png", "~/pics/missing.png", "b.png", "good_link.png", "broken_link.png", "folder.png",
             "nowhere.png", str(data / "real.png")]
    return data, paths


def test_missing_files_expand_home_and_follow_links(tmp_path, monkeypatch):
    data, paths = _layout(tmp_path, monkeypatch)
    expected = [not os.path.isfile(os.path.join(data, os.path.expanduser(p))) for p in paths]
    assert expected == [False, False, True, False, False, True, True, True, False]  # the layout is what we meant
    got = files.missing_files(data, pa.array(paths)).to_pylist()
    assert got == expected


def test_import_and_summary_count_them_so(tmp_path, monkeypatch):
    data, paths = _layout(tmp_path, monkeypatch)
    rows = ["id,path,label,pred"] + [f"{i},{p},cat,{'dog' if i % 2 else 'cat'}" for i, p in enumerate(paths)]
    src = data / "preds.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    expected = sum(not os.path.isfile(os.path.join(data, os.path.expanduser(p))) for p in paths)
    s = import_predictions(src, tmp_path / "p.labeler.db")
    assert s.missing_files == expected
    r = CliRunner().invoke(main, ["summary", "--project", str(s.project), "--json"])
    assert r.exit_code == 0, r.output
    import json

    assert json.loads(r.output)["missing_files"] == expected


def test_placeholders_name_the_reason(tmp_path, monkeypatch):
    data, _ = _layout(tmp_path, monkeypatch)
    src = data / "preds.csv"
    src.write_text("id,path,label,pred\n0,~/pics/a.png,cat,dog\n", encoding="utf-8")
    s = import_predictions(src, tmp_path / "p.labeler.db")
    with Project.open(s.project, readonly=True) as p:
        assert images.decode(p.resolve("~/pics/a.png")).ok  # shown, and (above) not counted missing
    broken = images.decode(data / "broken_link.png")
    assert not broken.ok and "broken link" in broken.reason and "gone.png" in broken.reason
    folder = images.decode(data / "folder.png")
    assert not folder.ok and "directory" in folder.reason


def test_a_path_with_a_nul_byte_is_missing_not_a_crash(tmp_path):
    """Found by tests/test_fuzz_import.py: os.scandir raised ValueError ("embedded null byte")
    out of the import."""
    src = tmp_path / "preds.csv"
    src.write_bytes(b"id,path,label,pred\n0,im\x00g/0.png,cat,dog\n1,b.png,dog,dog\n")
    s = import_predictions(src, tmp_path / "p.labeler.db")
    assert s.missing_files == 2
    assert files.missing_files(tmp_path, pa.array(["im\x00g/0.png", "preds.csv"])).to_pylist() == [True, False]
