"""Write-back you can trust: corrections land on the right cell of the right row, by the key and the
columns the import recorded (issue: one home per file format, the import's mapping remembered).

Every expectation here is computed from the files the test writes, with the standard library's csv
module or pyarrow, never from labeler's own reading code.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from conftest import file_digest, snapshot
from labeler.cli import main
from labeler.core import mapping
from labeler.core.export import ExportProblem, export_all
from labeler.core.importer import ImportProblem, import_predictions
from labeler.core.store import Decision, Project


def write_rows(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def correct(db: Path, example_id: str, label: str | None = None, tags=()) -> None:
    with Project.open(db) as p:
        p.write_decision(example_id, Decision(), Decision(label=label, tags=frozenset(tags), reviewed=True), "test")


def cli(*args: str):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r


def changed_cells(before: list[dict], after: list[dict]) -> list[tuple[int, str, str, str]]:
    """(row, column, old, new) of every cell that differs; rows must correspond one to one."""
    assert len(before) == len(after)
    return [(i, k, a[k], b[k]) for i, (a, b) in enumerate(zip(before, after)) for k in a if a[k] != b[k]]


# -- defect 1: a predictions file without an id column ------------------------------------------


def test_without_an_id_column_corrections_land_by_path_not_by_the_training_files_id(tmp_path):
    """Row-number ids (0, 1, ...) must never be matched against the training file's own ``id``."""
    names = [f"img/{c}.png" for c in "abcdef"]
    preds = write_rows(tmp_path / "preds.csv", ["path", "split", "label", "pred"],
                       [[n, "train", "cat", "dog" if i == 0 else "cat"] for i, n in enumerate(names)])
    # the training file lists the same images in another order, with ids of its own 0..5
    order = [5, 3, 1, 0, 2, 4]
    train = write_rows(tmp_path / "train.csv", ["id", "path", "label"],
                       [[str(k), names[j], "cat"] for k, j in enumerate(order)])
    db = tmp_path / "p.labeler.db"
    import_predictions(preds, db, train_file=train)
    with Project.open(db, readonly=True) as p:
        first = p.examples_table().column("id")[0].as_py()  # the id of img/a.png (row 0)
        assert p.example(first)["path"] == "img/a.png"
    correct(db, first, "dog")
    with Project.open(db, readonly=True) as p:
        result = export_all(p, tmp_path / "out")
    assert result.relabelled == 1 and result.match_by == "path"
    before, after = read_rows(train), read_rows(tmp_path / "out" / "train.corrected.csv")
    # only the row of img/a.png changed (row 3 of the training file), and only its label
    assert changed_cells(before, after) == [(3, "label", "cat", "dog")]
    assert after[3]["path"] == "img/a.png"


def test_export_refuses_a_training_file_whose_keys_do_not_correspond(tmp_path):
    preds = write_rows(tmp_path / "preds.csv", ["id", "path", "split", "label", "pred"],
                       [[f"i{k}", f"{k}.png", "train", "cat", "dog"] for k in range(10)])
    other = write_rows(tmp_path / "other.csv", ["id", "label"], [[f"x{k}", "cat"] for k in range(10)]
                       + [["i3", "cat"]])  # one id in common: not the file the examples came from
    db = tmp_path / "p.labeler.db"
    import_predictions(preds, db)
    correct(db, "i3", "dog")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier export")
    with Project.open(db, readonly=True) as p, pytest.raises(ExportProblem) as e:
        export_all(p, out, train_file=other)
    msg = str(e.value)
    assert "other.csv" in msg and "1 of the project's 10 train examples" in msg, msg
    assert "'i0'" in msg and "'x0'" in msg, msg  # an example not found, and what the file holds instead
    assert sorted(x.name for x in out.iterdir()) == ["keep.txt"]  # nothing written
    r = cli("export", "--project", db, "--out", out, "--train-file", other)
    assert r.exit_code != 0 and "other.csv" in r.output and "Traceback" not in r.output


# -- defect 2: a re-import remembers --column ------------------------------------------------------


def _two_label_file(path: Path) -> Path:
    # "label" is a decoy: the user's labels are in clean_label, the ids in key
    rows = [[f"k{i}", f"{i}.png", "dev", "a" if i % 2 else "b", "a" if i < 3 else "b", "a"] for i in range(8)]
    return write_rows(path, ["key", "path", "split", "label", "clean_label", "pred"], rows)


def _errors(path: Path, label_col: str) -> int:
    return sum(r[label_col] != r["pred"] for r in read_rows(path))


def test_a_reimport_without_options_reuses_the_recorded_columns(tmp_path):
    src = _two_label_file(tmp_path / "preds.csv")
    db = tmp_path / "preds.labeler.db"
    r = cli("import", src, "--column", "label=clean_label", "--column", "id=key")
    assert r.exit_code == 0, r.output
    correct(db, "k4", "a")
    r = cli("import", src)
    assert r.exit_code == 0, r.output
    assert "clean_label" in r.output  # it says which columns it used
    with Project.open(db, readonly=True) as p:
        assert sorted(p.examples_table().column("id").to_pylist()) == [f"k{i}" for i in range(8)]
        assert p.decision("k4").label == "a"
        files = mapping.files_of(p)
        assert files[0].given == {"label": "clean_label", "id": "key"}
    summary = json.loads(cli("summary", "--project", db, "--json").output)
    assert summary["splits"]["dev"]["errors"] == _errors(src, "clean_label") != _errors(src, "label")
    # explicit options replace the record, and say so
    r = cli("import", src, "--column", "id=key")
    assert r.exit_code == 0, r.output
    assert "replaced" in r.output and "label=clean_label" in r.output, r.output
    summary = json.loads(cli("summary", "--project", db, "--json").output)
    assert summary["splits"]["dev"]["errors"] == _errors(src, "label")


# -- defect 3: export uses the mapping -------------------------------------------------------------


def test_export_corrects_the_label_column_the_import_read(tmp_path):
    rows = [[f"e{i}", f"{i}.png", "train", "x", "a" if i % 2 else "b", "a"] for i in range(6)]
    src = write_rows(tmp_path / "preds.csv", ["id", "path", "split", "label", "noisy_tag", "pred"], rows)
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db, columns={"label": "noisy_tag"})
    correct(db, "e2", "a")
    with Project.open(db, readonly=True) as p:
        result = export_all(p, tmp_path / "out")
    assert result.relabelled == 1
    out = read_rows(tmp_path / "out" / "preds.corrected.csv")
    assert changed_cells(read_rows(src), out) == [(2, "noisy_tag", "b", "a")]


def test_export_into_a_different_training_file_with_its_own_column_names(tmp_path):
    rows = [[f"e{i}", f"{i}.png", "train", "a" if i % 2 else "b", "a"] for i in range(6)]
    src = write_rows(tmp_path / "preds.csv", ["id", "path", "split", "label", "pred"], rows)
    train = write_rows(tmp_path / "train.csv", ["key", "tag", "note"],
                       [[f"e{i}", "a" if i % 2 else "b", "n"] for i in reversed(range(6))])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    correct(db, "e2", "a")
    out = tmp_path / "out"
    r = cli("export", "--project", db, "--out", out, "--train-file", train)
    assert r.exit_code != 0 and "--column" in r.output, r.output  # nothing to match by: says how to name it
    r = cli("export", "--project", db, "--out", out, "--train-file", train, "--column", "id=key",
            "--column", "label=tag")
    assert r.exit_code == 0, r.output
    after = read_rows(out / "train.corrected.csv")
    assert changed_cells(read_rows(train), after) == [(3, "tag", "b", "a")]
    assert after[3]["key"] == "e2"


# -- defect 4: typed Parquet columns ---------------------------------------------------------------


def test_parquet_categorical_label_column_is_corrected_and_stays_categorical(tmp_path):
    df = pd.DataFrame({
        "id": [f"e{i}" for i in range(6)],
        "path": [f"{i}.png" for i in range(6)],
        "split": ["train"] * 6,
        "label": pd.Categorical(["cat", "dog", "cat", "dog", "cat", "bird"], categories=["bird", "cat", "dog"]),
        "pred": ["cat", "cat", "cat", "dog", "dog", "bird"],
    })
    src = tmp_path / "train.parquet"
    df.to_parquet(src, index=False)
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    correct(db, "e1", "cat")
    correct(db, "e4", "dog")
    with Project.open(db, readonly=True) as p:
        result = export_all(p, tmp_path / "out")
    assert result.relabelled == 2 and not result.label_changed
    table = pq.read_table(tmp_path / "out" / "train.corrected.parquet")
    assert pa.types.is_dictionary(table.schema.field("label").type)
    assert table.column("label").to_pylist() == ["cat", "cat", "cat", "dog", "dog", "bird"]
    original = pq.read_table(src)
    for name in ("id", "path", "split", "pred"):
        assert table.column(name).equals(original.column(name))


def test_parquet_timestamp_ids_and_bool_labels_match_at_export(tmp_path):
    t0 = dt.datetime(2024, 5, 1, 12, 0, 0)
    src = tmp_path / "train.parquet"
    pq.write_table(pa.table({
        "id": pa.array([t0 + dt.timedelta(seconds=i, microseconds=250 * i) for i in range(5)], pa.timestamp("us")),
        "path": [f"{i}.png" for i in range(5)],
        "split": ["train"] * 5,
        "label": pa.array([True, False, True, True, False]),
        "pred": ["true", "true", "true", "false", "false"],
    }), src)
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    with Project.open(db, readonly=True) as p:
        ids = p.examples_table().column("id").to_pylist()
        assert ids[1] == (t0 + dt.timedelta(seconds=1, microseconds=250)).isoformat()
        assert set(p.classes) == {"true", "false"}
    correct(db, ids[1], "true")
    correct(db, ids[3], "false")
    with Project.open(db, readonly=True) as p:
        result = export_all(p, tmp_path / "out")
    assert result.relabelled == 2 and not result.unmatched and not result.label_changed, result.lines()
    table = pq.read_table(tmp_path / "out" / "train.corrected.parquet")
    assert table.schema.field("label").type == pa.bool_()
    assert table.column("label").to_pylist() == [True, True, True, False, False]
    assert table.column("id").equals(pq.read_table(src).column("id"))


# -- defect 5: several files in one project --------------------------------------------------------


def _split_file(path: Path, prefix: str, n: int, split_col: bool = False) -> Path:
    header = ["id", "path", "label", "pred"] + (["split"] if split_col else [])
    rows = [[f"{prefix}{i}", f"{prefix}{i}.png", "a" if i % 3 else "b", "a"] for i in range(n)]
    return write_rows(path, header, rows)


def test_importing_a_second_file_keeps_the_first(tmp_path):
    dev = _split_file(tmp_path / "dev.csv", "d", 5)
    train = _split_file(tmp_path / "train.csv", "t", 7)
    db = tmp_path / "p.labeler.db"
    assert cli("import", dev, "--split", "dev", "--project", db).exit_code == 0
    correct(db, "d1", "b")
    r = cli("import", train, "--split", "train", "--project", db)
    assert r.exit_code == 0, r.output
    assert "dev.csv" in r.output and "train.csv" in r.output  # the summary says which files it holds
    with Project.open(db, readonly=True) as p:
        t = p.examples_table()
        splits = dict(zip(t.column("id").to_pylist(), t.column("split").to_pylist()))
        assert splits == {**{f"d{i}": "dev" for i in range(5)}, **{f"t{i}": "train" for i in range(7)}}
        assert p.decision("d1").label == "b"
        assert Path(p.meta("train_file")) == train.resolve()
    # a re-import of one file replaces only that file's examples
    _split_file(dev, "d", 3)
    r = cli("import", dev, "--project", db)  # its split (dev) is remembered
    assert r.exit_code == 0, r.output
    with Project.open(db, readonly=True) as p:
        t = p.examples_table()
        assert sorted(t.column("id").to_pylist()) == sorted([f"d{i}" for i in range(3)] + [f"t{i}" for i in range(7)])
        assert set(t.filter(pa.compute.equal(t.column("split"), "dev")).column("id").to_pylist()) == {"d0", "d1", "d2"}


def test_several_files_at_once_take_their_split_from_their_name(tmp_path):
    files = [_split_file(tmp_path / f"{s}.csv", s[:2], n) for s, n in (("dev", 4), ("train", 6), ("test", 3))]
    db = tmp_path / "all.labeler.db"
    r = cli("import", *files, "--project", db)
    assert r.exit_code == 0, r.output
    summary = json.loads(cli("summary", "--project", db, "--json").output)
    assert {s: d["examples"] for s, d in summary["splits"].items()} == {"train": 6, "dev": 4, "test": 3}
    errors = {s: sum(r["label"] != r["pred"] for r in read_rows(f)) for s, f in zip(("dev", "train", "test"), files)}
    assert {s: d["errors"] for s, d in summary["splits"].items()} == {s: errors[s] for s in ("train", "dev", "test")}
    r = cli("summary", "--project", db)
    assert all(f.name in r.output for f in files), r.output


def test_add_needs_a_project_and_refuses_an_id_held_by_another_file(tmp_path):
    dev = _split_file(tmp_path / "dev.csv", "d", 4)
    db = tmp_path / "p.labeler.db"
    r = cli("import", "--add", dev, "--project", db)
    assert r.exit_code != 0 and "--add" in r.output and not db.exists()
    assert cli("import", dev, "--project", db).exit_code == 0
    clash = write_rows(tmp_path / "more.csv", ["id", "path", "label", "pred"],
                       [["x1", "x1.png", "a", "a"], ["d2", "d2.png", "a", "a"], ["x3", "x3.png", "a", "a"],
                        ["x4", "x4.png", "a", "a"], ["x5", "x5.png", "a", "a"]])
    digest = file_digest(db)
    r = cli("import", "--add", clash, "--project", db)
    assert r.exit_code != 0 and "'d2'" in r.output and "dev.csv" in r.output and "more.csv" in r.output, r.output
    assert file_digest(db) == digest
    extra = _split_file(tmp_path / "extra.csv", "x", 2)
    r = cli("import", "--add", extra, "--split", "train", "--project", db)
    assert r.exit_code == 0, r.output
    with Project.open(db, readonly=True) as p:
        assert [f.name for f in mapping.files_of(p)] == ["dev.csv", "extra.csv"]


def test_files_without_ids_in_one_project_get_distinct_ids(tmp_path):
    a = write_rows(tmp_path / "dev.csv", ["path", "label", "pred"], [[f"a{i}.png", "x", "y"] for i in range(3)])
    b = write_rows(tmp_path / "train.csv", ["path", "label", "pred"], [[f"b{i}.png", "x", "x"] for i in range(3)])
    db = tmp_path / "p.labeler.db"
    import_predictions([a, b], db)
    with Project.open(db, readonly=True) as p:
        t = p.examples_table()
        ids = t.column("id").to_pylist()
        assert len(set(ids)) == 6
        assert dict(zip(t.column("path").to_pylist(), t.column("split").to_pylist())) == {
            **{f"a{i}.png": "dev" for i in range(3)}, **{f"b{i}.png": "train" for i in range(3)}}


def test_a_file_the_project_holds_that_is_gone_is_named(tmp_path):
    dev = _split_file(tmp_path / "dev.csv", "d", 4)
    train = _split_file(tmp_path / "train.csv", "t", 4)
    db = tmp_path / "p.labeler.db"
    import_predictions([dev, train], db)
    before = snapshot(db)
    train.unlink()
    with pytest.raises(ImportProblem) as e:
        import_predictions(dev, db)
    assert "train.csv" in str(e.value)
    assert snapshot(db) == before


def test_export_of_the_dev_split_corrects_the_file_that_holds_it(tmp_path):
    dev = _split_file(tmp_path / "dev.csv", "d", 4)
    train = _split_file(tmp_path / "train.csv", "t", 4)
    db = tmp_path / "p.labeler.db"
    import_predictions([dev, train], db)
    correct(db, "d1", "b")
    correct(db, "t2", "b")
    with Project.open(db, readonly=True) as p:
        res_dev = export_all(p, tmp_path / "out_dev", split="dev")
        res_train = export_all(p, tmp_path / "out_train")
    assert changed_cells(read_rows(dev), read_rows(tmp_path / "out_dev" / "dev.corrected.csv")) == [(1, "label", "a", "b")]
    assert changed_cells(read_rows(train), read_rows(tmp_path / "out_train" / "train.corrected.csv")) == \
        [(2, "label", "a", "b")]
    assert res_dev.relabelled == res_train.relabelled == 1


def test_jsonl_bools_and_numbers_are_one_rule_for_import_and_export(tmp_path):
    lines = [{"id": 1, "path": "a.png", "split": "train", "label": True, "pred": "false"},
             {"id": 2, "path": "b.png", "split": "train", "label": False, "pred": "false"},
             {"id": 3.0, "path": "c.png", "split": "train", "label": True, "pred": "true"}]
    src = tmp_path / "train.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    with Project.open(db, readonly=True) as p:
        assert p.examples_table().column("id").to_pylist() == ["1", "2", "3.0"]
    correct(db, "3.0", "false")
    with Project.open(db, readonly=True) as p:
        result = export_all(p, tmp_path / "out")
    assert result.relabelled == 1 and not result.label_changed
    out = (tmp_path / "out" / "train.corrected.jsonl").read_text(encoding="utf-8").splitlines()
    src_lines = src.read_text(encoding="utf-8").splitlines()
    assert out[:2] == src_lines[:2]
    assert json.loads(out[2]) == {**lines[2], "label": False}  # a bool stays a bool


# -- defect 8: what a re-import leaves behind ------------------------------------------------------


def _abc_file(path: Path, classes: str = "abc") -> Path:
    rows = [[f"e{i}", f"{i}.png", "train", classes[i % len(classes)], classes[0]] for i in range(9)]
    return write_rows(path, ["id", "path", "split", "label", "pred"], rows)


def test_corrections_to_a_class_a_reimport_removed_are_left_out_with_a_warning(tmp_path):
    src = _abc_file(tmp_path / "preds.csv")
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    correct(db, "e1", "c")  # a class the next version of the file no longer has
    correct(db, "e3", "a")
    _abc_file(src, "ab")  # e1 is labeled b, e3 b
    import_predictions(src, db)
    with Project.open(db, readonly=True) as p:
        assert p.classes == ["a", "b"]
        result = export_all(p, tmp_path / "out")
        kept = export_all(p, tmp_path / "out2", keep_removed_classes=True)
    before = read_rows(src)
    assert changed_cells(before, read_rows(tmp_path / "out" / "preds.corrected.csv")) == [(3, "label", "b", "a")]
    assert any("c (1)" in w and "--keep-removed-classes" in w for w in result.warnings), result.warnings
    assert changed_cells(before, read_rows(tmp_path / "out2" / "preds.corrected.csv")) == \
        [(1, "label", "b", "c"), (3, "label", "b", "a")]
    assert (result.relabelled, kept.relabelled) == (1, 2)


def test_a_reimport_keeps_the_ranking_of_unchanged_examples(tmp_path):
    import numpy as np

    rng = np.random.default_rng(3)
    p = rng.dirichlet([1, 1, 1], size=30).round(4)
    p[:, 2] = (1 - p[:, 0] - p[:, 1]).round(4)
    rows = [[f"e{i}", f"{i}.png", "train", "abc"[i % 3], *p[i]] for i in range(30)]
    header = ["id", "path", "split", "label", "p_a", "p_b", "p_c"]
    src = write_rows(tmp_path / "preds.csv", header, rows)
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    assert cli("rank", "--project", db, "--split", "train").exit_code == 0

    def quality() -> dict[str, float]:
        with Project.open(db, readonly=True) as pr:
            t = pr.examples_table()
            return dict(zip(t.column("id").to_pylist(), t.column("quality").to_pylist()))

    before = quality()
    assert all(v is not None for v in before.values())
    rows[4][4], rows[4][5] = rows[4][5], rows[4][4]  # a new model: e4's probabilities change
    write_rows(src, header, rows)
    r = cli("import", src, "--project", db)
    assert r.exit_code == 0 and "1 examples whose predictions or labels changed" in r.output, r.output
    after = quality()
    assert after["e4"] is None
    assert {k: v for k, v in after.items() if k != "e4"} == {k: v for k, v in before.items() if k != "e4"}
    r = cli("queue", "--project", db, "--split", "train", "--order", "quality", "--json")
    assert r.exit_code == 0, r.output


def test_two_training_files_each_corrected_on_its_own(tmp_path):
    a = _split_file(tmp_path / "train_a.csv", "a", 6)
    b = _split_file(tmp_path / "train_b.csv", "b", 6)
    db = tmp_path / "p.labeler.db"
    import_predictions([a, b], db)  # both train (by name); half of the training examples in each
    correct(db, "a1", "b")
    correct(db, "b4", "b")
    with Project.open(db, readonly=True) as p:
        ra = export_all(p, tmp_path / "out_a", train_file=a)
        rb = export_all(p, tmp_path / "out_b", train_file=b)
    assert changed_cells(read_rows(a), read_rows(tmp_path / "out_a" / "train_a.corrected.csv")) == [(1, "label", "a", "b")]
    assert changed_cells(read_rows(b), read_rows(tmp_path / "out_b" / "train_b.corrected.csv")) == [(4, "label", "a", "b")]
    assert ra.unmatched == ["b4"] and rb.unmatched == ["a1"]  # the other file's correction, reported


def test_a_project_from_before_files_were_recorded_still_uses_its_column_options(tmp_path):
    src = write_rows(tmp_path / "preds.csv", ["key", "path", "split", "clean", "label", "pred"],
                     [["k1", "a.png", "train", "a", "x", "b"], ["k2", "b.png", "train", "b", "x", "b"]])
    db = tmp_path / "preds.labeler.db"
    import_predictions(src, db, columns={"id": "key", "label": "clean"})
    with Project.open(db) as p:  # as an earlier version left it: the --column options, no file records
        p.conn.execute("DELETE FROM meta WHERE key = 'files'")
        p._meta_cache.clear()
        assert p.meta("columns") == {"id": "key", "label": "clean"}
    correct(db, "k1", "b")
    with Project.open(db, readonly=True) as p:
        result = export_all(p, tmp_path / "out")
    assert result.relabelled == 1 and not result.label_changed, result.lines()
    assert changed_cells(read_rows(src), read_rows(tmp_path / "out" / "preds.corrected.csv")) == [(0, "clean", "a", "b")]
    r = cli("import", src, "--project", db)
    assert r.exit_code == 0 and "id=key, label=clean" in r.output, r.output
    with Project.open(db, readonly=True) as p:
        assert p.decision("k1").label == "b" and [f.roles["label"] for f in mapping.files_of(p)] == ["clean"]
