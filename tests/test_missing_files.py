"""BAD_INPUTS row 20: example files that do not exist are counted (import summary, labeler summary),
checked against os.path.exists on every path; rows 21: relative to the predictions file's folder."""

from __future__ import annotations

import json
import os

import pyarrow as pa
from click.testing import CliRunner

from labeler.cli import main
from labeler.core.files import missing_files
from labeler.core.importer import import_predictions


def test_row20_missing_files_match_os_path_exists(tmp_path):
    (tmp_path / "img" / "sub").mkdir(parents=True)
    for name in ("img/a.png", "img/sub/b.png", "c.png"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "img" / "dir.png").mkdir()  # a folder named like an image is not a file
    paths = ["img/a.png", "img/sub/b.png", "c.png", "img/nope.png", "nofolder/x.png", "img/dir.png",
             str(tmp_path / "c.png"), str(tmp_path / "gone.png"), None]
    got = missing_files(tmp_path, pa.array(paths, pa.string())).to_pylist()
    want = [p is not None and not os.path.isfile(p if os.path.isabs(p) else tmp_path / p) for p in paths]
    assert got == want


def test_row20_row21_import_and_summary_count_missing_files(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    for i in range(0, 6, 2):
        (data / "images" / f"{i}.png").write_bytes(b"x")
    lines = ["id,path,label,pred"] + [f"e{i},images/{i}.png,a,{'b' if i % 3 else 'a'}" for i in range(6)]
    (data / "p.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)  # relative paths must resolve against data/, not here
    summary = import_predictions(data / "p.csv")
    assert summary.missing_files == 3
    assert summary.missing_examples == ["images/1.png", "images/3.png", "images/5.png"]
    assert any("3 example files do not exist" in line for line in summary.lines())
    out = CliRunner().invoke(main, ["summary", "--project", str(data / "p.labeler.db"), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["missing_files"] == 3
