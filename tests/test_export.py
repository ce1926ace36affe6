"""Export (labeler.core.export, labeler.core.report, `labeler export`): corrected training sets that
differ from their source only in the corrected label cells, the corrections list, the tallies, the
summary and the report, written atomically.

Bad-input tests name their row of /work/shared/BAD_INPUTS.md in the test name (row31 ...).
"""

from __future__ import annotations

import csv
import html.parser
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image

from labeler.cli import main
from labeler.core.export import ExportCancelled, ExportProblem, export_all
from labeler.core.importer import import_predictions
from labeler.core.queue import QueueSpec
from labeler.core.session import ReviewSession
from labeler.core.store import Project

CLASSES = ["cat", "dog", "NA"]
OUTPUTS = ["corrections.csv", "tally.csv", "tally.md", "tally.json", "summary.json", "report.html"]

# id, path, label, comment, score, code: the training set, with values that must survive as text
TRICKY = [
    ["000123", "images/a.png", "cat", "plain", "1.0", "000123"],
    ["1.0", "images/b.png", "dog", "quoted, comma", "NA", "=1+1"],
    ["=1+1", "images/c.png", "NA", "café ü 日本 🐈", "2.50", "+44"],
    ["x4", "images/d.png", "cat", "line1\nline2", "", "@SUM(A1)"],
    ["x5", "images/e.png", "dog", 'say "hi"', "-3", "-3"],
    ["x6", "images/f.png", "NA", "\ttab first", "1e5", "\rcr"],
]
FILLER = [[f"f{i:03d}", f"images/f{i:03d}.png", CLASSES[i % 3], f"filler {i}", f"{i}.0", f"{i:05d}"]
          for i in range(30)]
TRAIN = TRICKY + FILLER
HEADER = ["id", "path", "label", "comment", "score", "code"]
# what the reviewer decides on the training split: id -> corrected label
RELABEL = {"000123": "dog", "1.0": "NA", "=1+1": "cat", "x4": "dog", "f007": "NA"}
DEV = [[f"d{i}", f"images/d{i}.png", CLASSES[i % 3]] for i in range(12)]


# --------------------------------------------------------------------------------------------
# building projects


def write_predictions(path: Path, train=TRAIN, dev=DEV, *, with_ids: bool = True) -> Path:
    """A predictions file for the training rows (model right) and dev rows (every third one wrong)."""
    rows = [[r[0], r[1], "train", r[2], r[2]] for r in train]
    rows += [[r[0], r[1], "dev", r[2], CLASSES[(CLASSES.index(r[2]) + (i % 3 == 0)) % 3]] for i, r in enumerate(dev)]
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "path", "split", "label", "pred"] if with_ids else ["path", "split", "label", "pred"])
        for r in rows:
            w.writerow(r if with_ids else r[1:])
    return path


def csv_line(row: list[str], delim: str) -> str:
    """One record, quoted where needed (also for a bare \r, which csv.writer leaves unquoted)."""
    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in (delim, '"', "\n", "\r")) else v
    return delim.join(cell(v) for v in row) + "\n"


def write_train(path: Path, kind: str, rows=TRAIN, header=HEADER) -> Path:
    if kind in ("csv", "tsv"):
        delim = "," if kind == "csv" else "\t"
        text = "".join(csv_line(r, delim) for r in [header, *rows])
        if kind == "csv":
            # a label cell quoted although it need not be: the quoting style must survive
            text = text.replace("f007,images/f007.png,dog,", 'f007,images/f007.png,"dog",')
        path.write_bytes(text.encode("utf-8"))
    elif kind == "jsonl":
        lines = []
        for i, r in enumerate(rows):
            obj = dict(zip(header, r))
            if "score" in obj:
                obj["score"] = float(obj["score"]) if re.fullmatch(r"-?\d+(\.\d+)?(e\d+)?", obj["score"]) else obj["score"]
            # varied formatting: compact, spaced, ASCII-escaped; raw number text like 1.0 and 1e5
            if i % 3 == 0:
                line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
            elif i % 3 == 1:
                line = json.dumps(obj, ensure_ascii=True)
            else:
                line = json.dumps(obj, ensure_ascii=False, indent=None).replace(": ", " :  ")
            lines.append(line.replace("100000.0", "1e5"))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    elif kind == "parquet":
        cols = {h: [r[i] for r in rows] for i, h in enumerate(header)}
        table = pa.table({
            **{h: pa.array(v, pa.string()) for h, v in cols.items() if h != "score"},
            "score": pa.array([float(v) if re.fullmatch(r"-?[\d.e]+", v) else None for v in cols["score"]], pa.float64()),
        })
        pq.write_table(table, path)
    return path


def make_project(tmp_path: Path, kind: str = "csv", *, train_name: str | None = None,
                 pred_rows: list | None = None, **kw) -> tuple[Path, Path, Path]:
    """(project, predictions, training file) in tmp_path; the training file registered at import."""
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    preds = write_predictions(data / "predictions.csv", train=pred_rows or kw.get("rows", TRAIN))
    ext = {"csv": ".csv", "tsv": ".tsv", "jsonl": ".jsonl", "parquet": ".parquet"}[kind]
    train = write_train(data / (train_name or f"train{ext}"), kind, **kw)
    project = tmp_path / "p.labeler.db"
    import_predictions(preds, project, train_file=train)
    return project, preds, train


def decide(project: Path, split: str, *, relabel: dict | None = None, tags: dict | None = None,
           notes: dict | None = None, error_types: dict | None = None, taxonomy: list[str] | None = None) -> None:
    """Make decisions through a review session, as the keys would."""
    with Project.open(project) as p:
        if taxonomy:
            p.set_error_types(taxonomy)
        s = ReviewSession(p, QueueSpec(split=split, scope="all", order="file"), reviewer="tester")
        ids = set(relabel or {}) | set(tags or {}) | set(notes or {}) | set(error_types or {})
        for eid in sorted(ids):
            s.goto(s.items.index(eid))
            if relabel and eid in relabel:
                s.set_label(relabel[eid])
            for t in (tags or {}).get(eid, ()):
                s.toggle_tag(t)
            for e in (error_types or {}).get(eid, ()):
                s.toggle_error_type(e)
            if notes and eid in notes:
                s.set_note(notes[eid])
            s.next()
        s.close()


def export(project: Path, out: Path, **kw):
    with Project.open(project, readonly=True) as p:
        return export_all(p, out, **kw)


def read_delimited(path: Path, delim: str) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f, delimiter=delim))


def assert_only_labels_changed(src: list[list[str]], out: list[list[str]], header: list[str],
                               expected: dict[str, str], key: str = "id") -> None:
    """Same columns, same rows in the same order, every cell equal except the expected label cells."""
    assert out[0] == src[0] == header
    assert len(out) == len(src)
    ki, li = header.index(key), header.index("label")
    changed = set()
    for r_src, r_out in zip(src[1:], out[1:]):
        assert len(r_src) == len(r_out)
        for j, (a, b) in enumerate(zip(r_src, r_out)):
            if a != b:
                assert j == li, f"row {r_src[ki]!r}: column {header[j]!r} changed from {a!r} to {b!r}"
                assert b == expected[r_src[ki]]
                changed.add(r_src[ki])
    assert changed == {k for k, v in expected.items() if v != next(r[li] for r in src[1:] if r[ki] == k)}


def physical_lines_differ(src: bytes, out: bytes) -> list[int]:
    a, b = src.split(b"\n"), out.split(b"\n")
    assert len(a) == len(b)
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


def no_temp_files(folder: Path) -> bool:
    return not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------------------------
# round trips


def test_row34_csv_round_trip_changes_only_corrected_label_cells(tmp_path):
    project, _, train = make_project(tmp_path, "csv")
    decide(project, "train", relabel=RELABEL, notes={"1.0": "=1+1 is what the code says", "x5": "-minus"},
           tags={"x5": ["mislabeled"]})
    before = train.read_bytes()
    result = export(project, tmp_path / "out")
    assert train.read_bytes() == before  # the source is never written
    out = tmp_path / "out" / "train.corrected.csv"
    assert result.corrected_file == out
    assert result.relabelled == len(RELABEL) and result.unmatched == [] and result.match_by == "id"
    assert_only_labels_changed(read_delimited(train, ","), read_delimited(out, ","), HEADER, RELABEL)
    # byte for byte: only the physical lines holding a corrected label differ
    src_lines = before.split(b"\n")
    differ = physical_lines_differ(before, out.read_bytes())
    assert [src_lines[i].split(b",")[0] for i in differ] == [b"000123", b"1.0", b"=1+1", b"x4", b"f007"]
    out_lines = out.read_bytes().split(b"\n")
    assert out_lines[differ[-1]] == b'f007,images/f007.png,"NA",filler 7,7.0,00007'  # quoting style kept
    assert out_lines[differ[1]] == b'1.0,images/b.png,NA,"quoted, comma",NA,=1+1'
    assert b"=1+1,images/c.png,cat,caf\xc3\xa9" in out.read_bytes()  # the formula-like id stays exact
    # corrections.csv: for people, so neutralised
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "corrections.csv").read_text(encoding="utf-8"))))
    by_id = {r["id"]: r for r in rows}
    assert "'=1+1" in by_id and "=1+1" not in by_id
    assert by_id["'=1+1"]["corrected_label"] == "cat"
    assert by_id["1.0"]["note"] == "'=1+1 is what the code says"
    assert by_id["x5"]["note"] == "'-minus" and by_id["x5"]["tags"] == "mislabeled"
    assert by_id["x5"]["corrected_label"] == ""  # judged wrong, correct label unknown
    assert by_id["000123"]["given_label"] == "cat" and by_id["000123"]["reviewer"] == "tester"
    assert list(rows[0]) == ["id", "split", "path", "given_label", "corrected_label", "tags", "error_types",
                             "note", "reviewer", "decided_at"]
    assert result.without_label == 1


def test_row34_tsv_round_trip(tmp_path):
    project, _, train = make_project(tmp_path, "tsv")
    decide(project, "train", relabel=RELABEL)
    export(project, tmp_path / "out")
    out = tmp_path / "out" / "train.corrected.tsv"
    src, got = read_delimited(train, "\t"), read_delimited(out, "\t")
    assert_only_labels_changed(src, got, HEADER, RELABEL)
    assert len(physical_lines_differ(train.read_bytes(), out.read_bytes())) == len(RELABEL)


def test_row34_jsonl_round_trip_splices_the_label_value_only(tmp_path):
    project, _, train = make_project(tmp_path, "jsonl")
    decide(project, "train", relabel=RELABEL)
    result = export(project, tmp_path / "out")
    assert result.relabelled == len(RELABEL)
    src = train.read_bytes().split(b"\n")
    out = (tmp_path / "out" / "train.corrected.jsonl").read_bytes().split(b"\n")
    assert len(src) == len(out)
    for a, b in zip(src, out):
        if a == b:
            continue
        x, y = json.loads(a), json.loads(b)
        assert x["id"] in RELABEL and y["label"] == RELABEL[x["id"]]
        assert {k: v for k, v in x.items() if k != "label"} == {k: v for k, v in y.items() if k != "label"}
        # everything outside the label value is the same text
        pa_, pb = a.split(b'"label"', 1), b.split(b'"label"', 1)
        assert pa_[0] == pb[0]
        assert pa_[1].split(b",", 1)[1] == pb[1].split(b",", 1)[1]
    assert sum(a != b for a, b in zip(src, out)) == len(RELABEL)
    assert b'"score" :  1e5' in b"\n".join(out)


def test_row34_parquet_round_trip_keeps_types_and_values(tmp_path):
    project, _, train = make_project(tmp_path, "parquet")
    decide(project, "train", relabel=RELABEL)
    result = export(project, tmp_path / "out")
    src = pq.read_table(train)
    out = pq.read_table(tmp_path / "out" / "train.corrected.parquet")
    assert out.schema == src.schema
    assert out.num_rows == src.num_rows and result.relabelled == len(RELABEL)
    for name in src.column_names:
        if name != "label":
            assert out.column(name).equals(src.column(name)), name
    ids, labels = src.column("id").to_pylist(), src.column("label").to_pylist()
    got = out.column("label").to_pylist()
    for i, eid in enumerate(ids):
        assert got[i] == RELABEL.get(eid, labels[i])


def test_row34_parquet_integer_labels_stay_integers(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = [[f"i{k}", f"images/{k}.png", str(k % 3)] for k in range(9)]
    with open(data / "preds.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "path", "split", "label", "pred"])
        w.writerows([[r[0], r[1], "train", r[2], r[2]] for r in rows])
    pq.write_table(pa.table({"id": [r[0] for r in rows], "label": pa.array([int(r[2]) for r in rows], pa.int64()),
                             "weight": pa.array([1.0] * 9)}), data / "train.parquet")
    project = tmp_path / "p.labeler.db"
    import_predictions(data / "preds.csv", project, train_file=data / "train.parquet")
    decide(project, "train", relabel={"i4": "2"})
    export(project, tmp_path / "out")
    out = pq.read_table(tmp_path / "out" / "train.corrected.parquet")
    assert out.schema.field("label").type == pa.int64()
    assert out.column("label").to_pylist() == [0, 1, 2, 0, 2, 2, 0, 1, 2]


def test_multiline_record_and_crlf_line_endings_survive(tmp_path):
    project, _, train = make_project(tmp_path, "csv")
    raw = train.read_bytes()
    # a CRLF file (embedded newline inside the quoted comment stays a bare \n)
    crlf = re.sub(rb"(?<!line1)\n", b"\r\n", raw)
    train.write_bytes(crlf)
    decide(project, "train", relabel={"x4": "dog", "f001": "cat"})
    export(project, tmp_path / "out")
    out = (tmp_path / "out" / "train.corrected.csv").read_bytes()
    assert out.count(b"\r\n") == crlf.count(b"\r\n")
    assert b'x4,images/d.png,dog,"line1\nline2",,@SUM(A1)\r\n' in out
    assert b"f001,images/f001.png,cat,filler 1,1.0,00001\r\n" in out
    assert out.replace(b"x4,images/d.png,dog", b"x4,images/d.png,cat").replace(
        b"f001,images/f001.png,cat", b"f001,images/f001.png,dog") == crlf


def test_format_conversion_csv_to_parquet_and_back(tmp_path):
    project, _, train = make_project(tmp_path, "csv")
    decide(project, "train", relabel=RELABEL)
    export(project, tmp_path / "pq", fmt="parquet")
    table = pq.read_table(tmp_path / "pq" / "train.corrected.parquet")
    assert table.column_names == HEADER
    src = read_delimited(train, ",")
    expected = [[RELABEL.get(r[0], r[2]) if j == 2 else v for j, v in enumerate(r)] for r in src[1:]]
    assert [list(r.values()) for r in table.to_pylist()] == expected  # every value as exact text
    # Parquet -> CSV
    project2, _, train2 = make_project(tmp_path / "two", "parquet")
    decide(project2, "train", relabel=RELABEL)
    export(project2, tmp_path / "csv", fmt="csv")
    got = read_delimited(tmp_path / "csv" / "train.corrected.csv", ",")
    assert got[0] == pq.read_table(train2).column_names
    assert {r[0]: r[2] for r in got[1:]} == {r[0]: RELABEL.get(r[0], r[2]) for r in TRAIN}


def test_drop_ambiguous_leaves_out_rows_tagged_ambiguous(tmp_path):
    project, _, train = make_project(tmp_path, "csv")
    decide(project, "train", relabel={"000123": "dog"}, tags={"x5": ["ambiguous"], "f003": ["ambiguous"]})
    result = export(project, tmp_path / "keep")
    assert result.dropped == 0
    assert len(read_delimited(tmp_path / "keep" / "train.corrected.csv", ",")) == len(TRAIN) + 1
    result = export(project, tmp_path / "out", drop_ambiguous=True)
    assert result.dropped == 2 and result.relabelled == 1
    got = read_delimited(tmp_path / "out" / "train.corrected.csv", ",")
    src = read_delimited(train, ",")
    assert got == [r if r[0] != "000123" else r[:2] + ["dog"] + r[3:] for r in src if r[0] not in {"x5", "f003"}]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["export"]["dropped_ambiguous"] == 2


def test_predictions_file_as_training_file_changes_train_rows_only(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    preds = write_predictions(data / "predictions.csv")
    project = tmp_path / "p.labeler.db"
    import_predictions(preds, project)  # no --train-file: the predictions file holds the train split
    decide(project, "train", relabel={"f002": "cat", "x5": "cat"})
    decide(project, "dev", relabel={"d0": "dog", "d3": "cat"})
    result = export(project, tmp_path / "out")
    assert result.source_file == preds.resolve() and result.relabelled == 2
    src = read_delimited(preds, ",")
    got = read_delimited(tmp_path / "out" / "predictions.corrected.csv", ",")
    assert len(got) == len(src)
    diff = {r[0]: (a[3], r[3]) for a, r in zip(src, got) if a != r}
    assert diff == {"f002": ("NA", "cat"), "x5": ("dog", "cat")}  # dev rows untouched
    # --split dev: the dev rows of the predictions file
    result = export(project, tmp_path / "dev", split="dev")
    got = read_delimited(tmp_path / "dev" / "predictions.corrected.csv", ",")
    diff = {r[0]: (a[3], r[3]) for a, r in zip(src, got) if a != r}
    assert diff == {"d0": ("cat", "dog")}  # d3 "corrected" to its own label is no correction
    assert result.split == "dev"


def test_match_by_path_when_the_training_file_has_no_id_column(tmp_path):
    (tmp_path / "pred").mkdir()
    (tmp_path / "train").mkdir()
    items = [[f"e{i}", f"../imgs/{i}.png", CLASSES[i % 3]] for i in range(8)]
    write_predictions(tmp_path / "pred" / "predictions.csv", train=[[i, p, l] for i, p, l in items], dev=DEV)
    rows = [
        ["../imgs/0.png", "cat", "same relative path"],
        [str(tmp_path / "imgs" / "1.png"), "dog", "absolute"],
        ["./../imgs/2.png", "NA", "not normalised"],
        ["imgs/3.png", "cat", "another file (train/imgs/3.png): must not match"],
        ["../imgs/4.png", "dog", "untouched"],
    ]
    train = write_train(tmp_path / "train" / "train.csv", "csv", rows=rows, header=["path", "label", "comment"])
    project = tmp_path / "p.labeler.db"
    import_predictions(tmp_path / "pred" / "predictions.csv", project, train_file=train)
    decide(project, "train", relabel={"e0": "dog", "e1": "NA", "e2": "cat", "e3": "dog"})
    result = export(project, tmp_path / "out")
    assert result.match_by == "path"
    got = read_delimited(tmp_path / "out" / "train.corrected.csv", ",")
    assert [r[1] for r in got[1:]] == ["dog", "NA", "cat", "cat", "dog"]
    assert result.unmatched == ["e3"]  # its path is not in the file: reported, not guessed


def test_unmatched_corrections_are_reported_not_guessed(tmp_path):
    project, _, train = make_project(tmp_path, "csv", rows=[r for r in TRAIN if r[0] not in {"x4", "f007"}],
                                     pred_rows=TRAIN)
    decide(project, "train", relabel=RELABEL)
    result = export(project, tmp_path / "out")
    assert sorted(result.unmatched) == ["f007", "x4"]
    assert result.relabelled == len(RELABEL) - 2
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["export"]["unmatched"] == {"count": 2, "examples": ["x4", "f007"]}
    runner = CliRunner()
    r = runner.invoke(main, ["export", "--project", str(project), "--out", str(tmp_path / "cli")])
    assert r.exit_code == 0, r.output
    assert "2 corrections match no row" in r.output and "x4" in r.output and "f007" in r.output


# --------------------------------------------------------------------------------------------
# faults


def test_row32_output_equal_to_a_source_is_refused(tmp_path):
    # the training file is called tally.csv: exporting into its folder would overwrite it
    project, preds, train = make_project(tmp_path, "csv", train_name="tally.csv")
    decide(project, "train", relabel=RELABEL)
    before = train.read_bytes()
    with pytest.raises(ExportProblem, match="refusing to export.*tally.csv"):
        export(project, train.parent)
    assert train.read_bytes() == before
    assert sorted(p.name for p in train.parent.iterdir()) == ["predictions.csv", "tally.csv"]
    with pytest.raises(ExportProblem, match="is a file"):
        export(project, preds)
    r = CliRunner().invoke(main, ["export", "--project", str(project), "--out", str(train.parent)])
    assert r.exit_code != 0 and "refusing" in r.output
    assert train.read_bytes() == before


def test_row32_training_file_named_like_an_output_of_the_project_folder(tmp_path):
    project, preds, train = make_project(tmp_path, "csv")
    decide(project, "train", relabel=RELABEL)
    # --train-file pointing at a previous export's corrections.csv, exported into that same folder
    first = export(project, tmp_path / "out")
    assert first.relabelled
    with pytest.raises(ExportProblem, match="refusing"):
        export(project, tmp_path / "out", train_file=tmp_path / "out" / "corrections.csv")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_row33_interrupted_replace_keeps_previous_files_and_leaves_no_temp(tmp_path, monkeypatch):
    project, _, _ = make_project(tmp_path, "csv")
    decide(project, "train", relabel={"000123": "dog"})
    out = tmp_path / "out"
    export(project, out)
    previous = _snapshot(out)
    decide(project, "train", relabel={"x4": "NA"})

    def boom(*a, **k):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(ExportProblem, match="could not write"):
        export(project, out)
    monkeypatch.undo()
    assert _snapshot(out) == previous
    assert no_temp_files(out)
    export(project, out)  # a retry works
    assert b"x4,images/d.png,NA" in (out / "train.corrected.csv").read_bytes()


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_row33_exception_while_writing_leaves_previous_export_intact(tmp_path, monkeypatch, exc):
    project, _, _ = make_project(tmp_path, "csv")
    decide(project, "train", relabel={"000123": "dog"})
    out = tmp_path / "out"
    export(project, out)
    previous = _snapshot(out)
    decide(project, "train", relabel={"x4": "NA"})
    from labeler.core import report

    def fail(*a, **k):
        raise exc("interrupted")

    monkeypatch.setattr(report, "build", fail)
    with pytest.raises(exc):
        export(project, out)
    assert _snapshot(out) == previous and no_temp_files(out)


def test_row33_cancel_and_stale_temp_files(tmp_path):
    import threading

    project, _, _ = make_project(tmp_path, "csv")
    decide(project, "train", relabel={"000123": "dog"})
    out = tmp_path / "out"
    out.mkdir()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ExportCancelled):
        export(project, out, cancel=cancel)
    assert list(out.iterdir()) == []
    # a temp file of an export that was killed outright (its process is gone) is cleaned up
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = out / f".train.corrected.csv.{dead.stdout.strip()}.abc123.tmp"
    stale.write_bytes(b"partial")
    export(project, out)
    assert not stale.exists() and no_temp_files(out)


DISK_FULL = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from labeler.core.export import ExportProblem, export_all
    from labeler.core.store import Project
    with Project.open(sys.argv[1], readonly=True) as p:
        try:
            export_all(p, sys.argv[2])
        except ExportProblem as e:
            print(e)
            sys.exit(3)
    print("exported")
""")


def test_row31_disk_full_gives_a_clear_error_keeps_earlier_export_and_retry_works(tmp_path):
    filler = [[f"g{i:05d}", f"images/g{i:05d}.png", CLASSES[i % 3], "x" * 40, "1.0", "0"] for i in range(3000)]
    project, _, train = make_project(tmp_path, "csv", rows=TRAIN + filler)
    assert train.stat().st_size > 150_000
    decide(project, "train", relabel={"000123": "dog"})
    out = tmp_path / "out"
    export(project, out)
    previous = _snapshot(out)
    decide(project, "train", relabel={"g00100": "NA"})
    script = tmp_path / "disk_full.py"
    script.write_text(DISK_FULL)
    run = subprocess.run([sys.executable, str(script), str(project), str(out), "100000"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 3, run.stdout + run.stderr
    assert "could not write" in run.stdout and "train.corrected.csv" in run.stdout
    assert "file-size limit" in run.stdout and "as they were" in run.stdout
    assert _snapshot(out) == previous
    assert no_temp_files(out)
    run = subprocess.run([sys.executable, str(script), str(project), str(out), str(1 << 30)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0 and "exported" in run.stdout, run.stdout + run.stderr
    assert b"g00100,images/g00100.png,NA" in (out / "train.corrected.csv").read_bytes()


def test_missing_label_column_is_a_clear_error_and_nothing_is_written(tmp_path):
    project, _, train = make_project(tmp_path, "csv", header=["id", "path", "category", "comment", "score", "code"])
    decide(project, "train", relabel={"000123": "dog"})
    with pytest.raises(ExportProblem, match=r"no label column.*columns found: id, path, category"):
        export(project, tmp_path / "out")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_ragged_training_file_names_the_line(tmp_path):
    project, _, train = make_project(tmp_path, "csv")
    train.write_text(train.read_text(encoding="utf-8") + "zz,images/zz.png,cat,too,many,fields,here\n",
                     encoding="utf-8", newline="")
    decide(project, "train", relabel={"000123": "dog"})
    with pytest.raises(ExportProblem, match=r"line \d+ has 7 fields, the header has 6"):
        export(project, tmp_path / "out")


# --------------------------------------------------------------------------------------------
# report, tallies, summary, CLI


class _ReportParser(html.parser.HTMLParser):
    """Collects the tally rows, the dashboard rows, the images and every URL-bearing attribute."""

    def __init__(self):
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.splits: dict[str, dict[str, str]] = {}
        self.urls: list[str] = []
        self.images: list[str] = []
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href", "srcset", "action", "data"):
            if k in a:
                self.urls.append(a[k])
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "tr" and "data-category" in a:
            self._row = self.rows.setdefault(a["data-category"], {})
        elif tag == "tr" and "data-split" in a:
            self._row = self.splits.setdefault(a["data-split"], {})
        if tag == "td" and self._row is not None:
            classes = (a.get("class") or "").split()
            self._cell = next((c for c in classes if c in ("count", "share", "projected", "ceiling", "rate")), None)

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        if self._row is not None and self._cell:
            self._row[self._cell] = self._row.get(self._cell, "") + data


def test_report_is_self_contained_and_its_numbers_match_tally_json(tmp_path):
    project, _, _ = make_project(tmp_path, "csv")
    images = tmp_path / "data" / "images"
    images.mkdir()
    for i, r in enumerate(DEV):
        Image.new("L", (8, 8), 40 * (i % 6)).save(images / f"d{i}.png")
    decide(project, "dev", relabel={"d0": "dog"}, tags={"d3": ["very hard"], "d6": ["ambiguous"]},
           notes={"d9": "<script>alert('x')</script> & =1+1"}, error_types={"d9": [1], "d6": [2]},
           taxonomy=["blurry <b>", "occluded"])
    export(project, tmp_path / "out")
    text = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    tally = json.loads((tmp_path / "out" / "tally.json").read_text())
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    parser = _ReportParser()
    parser.feed(text)
    assert "http://" not in text and "https://" not in text
    assert all(u.startswith("data:image/png;base64,") for u in parser.urls)
    assert len(parser.images) >= 4 and "image-rendering:pixelated" in text
    assert "<script>" not in text and "&lt;script&gt;" in text and "blurry &lt;b&gt;" in text
    assert set(parser.rows) == {c["name"] for c in tally["categories"]}
    for c in tally["categories"]:
        row = parser.rows[c["name"]]
        assert int(row["count"]) == c["count"]
        assert row["share"] == f"{100 * c['share']:.1f}%"
        if c["projected_errors"] is not None:
            assert row["projected"] == f"{c['projected_errors']:.1f}"
    for split, d in summary["summary"]["splits"].items():
        assert parser.splits[split]["rate"] == f"{100 * d['error_rate']:.2f}%"
    assert tally["reviewed"] == 4 and tally["split"] == "dev"
    assert (tmp_path / "out" / "tally.csv").read_text().startswith("category,kind,count")
    assert "| category |" in (tmp_path / "out" / "tally.md").read_text()
    assert set(summary) >= {"summary", "dashboard", "export"}
    assert summary["dashboard"]["splits"]["dev"]["errors"] == tally["errors"]


def test_cli_export_help_and_train_file_override_is_stored(tmp_path):
    r = CliRunner().invoke(main, ["export", "--help"])
    assert r.exit_code == 0 and "--drop-ambiguous" in r.output and "corrections.csv" in r.output
    data = tmp_path / "data"
    data.mkdir()
    preds = write_predictions(data / "predictions.csv")
    project = tmp_path / "p.labeler.db"
    import_predictions(preds, project)
    other = write_train(data / "other.tsv", "tsv")
    decide(project, "train", relabel={"000123": "dog"})
    r = CliRunner().invoke(main, ["export", "--project", str(project), "--out", str(tmp_path / "out"),
                                  "--train-file", str(other)])
    assert r.exit_code == 0, r.output
    assert "other.corrected.tsv: 1 train labels corrected (36 rows in other.tsv" in r.output
    assert (tmp_path / "out" / "other.corrected.tsv").exists()
    with Project.open(project, readonly=True) as p:
        assert p.meta("train_file") == str(other.resolve())
    r = CliRunner().invoke(main, ["export", "--project", str(project), "--out", str(tmp_path / "again")])
    assert r.exit_code == 0 and (tmp_path / "again" / "other.corrected.tsv").exists()


@pytest.mark.parametrize("block", [16, 37, 64, 1 << 22])
@pytest.mark.parametrize("variant", ["bom", "no-final-newline", "blank-lines", "gzip"])
def test_records_across_block_boundaries_and_file_variants(tmp_path, monkeypatch, block, variant):
    """Quoted line breaks, BOM, a missing final newline, blank lines and gzip, read in blocks that cut
    records anywhere: still only the label cells change."""
    import gzip

    from labeler.core import export as exportmod

    monkeypatch.setattr(exportmod, "BLOCK", block)
    project, _, train = make_project(tmp_path, "csv")
    raw = train.read_bytes()
    if variant == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif variant == "no-final-newline":
        raw = raw.rstrip(b"\n")
    elif variant == "blank-lines":
        raw = raw.replace(b"\nf010,", b"\n\n\nf010,") + b"\n"
    if variant == "gzip":
        train.unlink()
        train = train.with_name("train.csv.gz")
        train.write_bytes(gzip.compress(raw))
        with Project.open(project) as p:
            p.set_meta("train_file", str(train))
    else:
        train.write_bytes(raw)
    decide(project, "train", relabel=RELABEL)
    result = export(project, tmp_path / "out")
    assert result.relabelled == len(RELABEL)
    out = (tmp_path / "out" / exportmod.corrected_name(train)).read_bytes()
    if variant == "gzip":
        assert result.corrected_file.name == "train.corrected.csv.gz"
        out = gzip.decompress(out)
    expected = raw
    for eid, new in RELABEL.items():
        eid_, path, label = next(r for r in TRAIN if r[0] == eid)[:3]
        q = '"' if eid == "f007" else ""  # that label cell is quoted in the source
        old = f"\n{eid},{path},{q}{label}{q},".encode()
        assert expected.count(old) == 1
        expected = expected.replace(old, f"\n{eid},{path},{q}{new}{q},".encode())
    assert out == expected
