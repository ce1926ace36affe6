"""Rows 1-19 of shared/BAD_INPUTS.md (prediction files): one test (or more) per row.

A refused file must give an ImportProblem naming the file and the line/row or column, a non-zero exit
code and a message from the CLI, and leave NOTHING written: no project file in a fresh folder, and an
existing project byte-identical.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from conftest import BIG_ROWS, content_snapshot, file_digest, make_big_csv, project_files, snapshot
from labeler.cli import main
from labeler.core.importer import ImportCancelled, ImportProblem, import_predictions
from labeler.core.store import Decision, Project, ProjectError

HEAD = "id,path,label,pred\n"


@pytest.fixture
def existing(tmp_path) -> Path:
    """A small existing project with one review, in its own folder."""
    folder = tmp_path / "existing"
    folder.mkdir()
    src = folder / "old.csv"
    src.write_text(HEAD + "o1,a.png,cat,dog\no2,b.png,dog,dog\n", encoding="utf-8")
    db = folder / "old.labeler.db"
    import_predictions(src, db)
    with Project.open(db) as p:
        p.write_decision("o1", Decision(), Decision(label="dog", reviewed=True), "label dog")
    return db


@pytest.fixture
def existing_big(tmp_path) -> Path:
    """An existing project (with one review) made from an earlier version of the big file: its first
    rows, so that importing the big file is a new version of the same file, not a second file."""
    folder = tmp_path / "existing_big"
    folder.mkdir()
    db = folder / "old.labeler.db"
    import_predictions(make_big_csv(folder / "old.csv", 3), db)
    with Project.open(db) as p:
        p.write_decision("e0000000", Decision(), Decision(label="c1", reviewed=True), "label c1")
    return db


def assert_refused(src: Path, existing: Path, *needles: str, cli_args: tuple[str, ...] = (), **kw) -> str:
    """``src`` is refused by the core and the CLI, with a message naming the file and ``needles``,
    and nothing is written: not into a fresh project, not into an existing one."""
    folder = src.parent
    before_files = sorted(p.name for p in folder.iterdir())
    # 1. a new project next to the file (the default path)
    with pytest.raises(ImportProblem) as e:
        import_predictions(src, **kw)
    msg = str(e.value)
    assert src.name in msg, msg
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"
    assert sorted(p.name for p in folder.iterdir()) == before_files, "something was written"
    # 2. an existing project: byte-identical afterwards
    digest, content = file_digest(existing), snapshot(existing)
    with pytest.raises(ImportProblem):
        import_predictions(src, existing, **kw)
    assert file_digest(existing) == digest
    assert snapshot(existing) == content
    assert not Path(str(existing) + "-wal").exists() or Path(str(existing) + "-wal").stat().st_size == 0
    # 3. the CLI, both ways
    runner = CliRunner()
    for extra in ((), ("--project", str(existing))):
        r = runner.invoke(main, ["import", str(src), *cli_args, *extra])
        assert r.exit_code != 0, r.output
        assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
        assert "Traceback" not in r.output
        assert src.name in r.output, r.output
        for n in needles:
            assert n in r.output, f"{n!r} not in {r.output!r}"
    assert sorted(p.name for p in folder.iterdir()) == before_files, "the CLI wrote something"
    assert file_digest(existing) == digest
    return msg


def imported(db: Path) -> dict[str, dict]:
    with Project.open(db, readonly=True) as p:
        return {r["id"]: r for r in p.examples_table().to_pylist()}


def classes_of(db: Path) -> list[str]:
    with Project.open(db, readonly=True) as p:
        return p.classes


# ---------------------------------------------------------------------------------------------
# 1. UTF-8 byte-order mark


@pytest.mark.parametrize("name", ["p.csv", "p.tsv", "p.csv.gz", "p.jsonl"])
def test_row01_utf8_bom(tmp_path, name):
    if name.endswith(".jsonl"):
        text = "\ufeff" + "\n".join(json.dumps(r) for r in [
            {"id": "007", "path": "a.png", "label": "cat", "pred": "dog"},
            {"id": "008", "path": "b.png", "label": "dog", "pred": "dog"}]) + "\n"
    else:
        d = "\t" if ".tsv" in name else ","
        text = "\ufeff" + "\n".join(d.join(r) for r in [
            ["id", "path", "label", "pred"], ["007", "a.png", "cat", "dog"], ["008", "b.png", "dog", "dog"]]) + "\n"
    data = text.encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    src = tmp_path / name
    src.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    ex = imported(db)
    # the first column still plays its role: ids are the file's, not row numbers
    assert list(ex) == ["007", "008"]
    assert ex["007"]["label"] == "cat" and ex["007"]["wrong"] == 1
    assert all(e["meta"] in (None, "{}") for e in ex.values())


# ---------------------------------------------------------------------------------------------
# 2. cp1252 / Latin-1


def test_row02_cp1252_near_the_start(tmp_path, existing):
    src = tmp_path / "latin.csv"
    src.write_bytes((HEAD + "1,a.png,caf\u00e9,x\n2,b.png,x,x\n").encode("cp1252"))
    msg = assert_refused(src, existing, "line 2", "UTF-8")
    assert "caf" not in msg or "\ufffd" not in msg


def test_row02_latin1_far_into_the_file(tmp_path, existing):
    # past the header sample, so the fast reader meets it first
    body = "".join(f"{i},img{i}.png,x,x\n" for i in range(5000))
    src = tmp_path / "latin.csv"
    src.write_bytes((HEAD + body + "5000,b.png,na\u00efve,x\n").encode("latin-1"))
    assert_refused(src, existing, "line 5002", "UTF-8")


def test_row02_cp1252_jsonl(tmp_path, existing):
    src = tmp_path / "latin.jsonl"
    src.write_bytes(('{"id": "1", "path": "a", "label": "x", "pred": "x"}\n'
                     '{"id": "2", "path": "a", "label": "\u00e9t\u00e9", "pred": "x"}\n').encode("cp1252"))
    assert_refused(src, existing, "line 2", "UTF-8")


@pytest.mark.parametrize("name", ["utf16.txt", "utf16.csv"])
def test_row02_utf16(tmp_path, existing, name):
    src = tmp_path / name
    src.write_bytes((HEAD.replace(",", "\t") + "1\ta.png\tx\tx\n").encode("utf-16"))
    assert_refused(src, existing, "UTF-16")


# ---------------------------------------------------------------------------------------------
# 3. missing roles


def test_row03_no_label_column(tmp_path, existing):
    src = tmp_path / "nolabel.csv"
    src.write_text("id,path,pred,colour\n1,a,x,red\n", encoding="utf-8")
    msg = assert_refused(src, existing, "label", "colour")
    assert "id, path, pred, colour" in msg  # the columns that were found


def test_row03_no_path_or_text_column(tmp_path, existing):
    src = tmp_path / "nopath.csv"
    src.write_text("id,label,pred\n1,x,x\n", encoding="utf-8")
    assert_refused(src, existing, "path or text", "id, label, pred")


def test_row03_no_prediction_at_all(tmp_path, existing):
    src = tmp_path / "nopred.csv"
    src.write_text("id,path,label\n1,a,x\n", encoding="utf-8")
    assert_refused(src, existing, "pred", "id, path, label")


# ---------------------------------------------------------------------------------------------
# 4. duplicate column names


def test_row04_duplicate_column_names_csv(tmp_path, existing):
    src = tmp_path / "dupcols.csv"
    src.write_text("id,path,label,label,pred\n1,a,x,y,x\n", encoding="utf-8")
    assert_refused(src, existing, "duplicate", "label")


def test_row04_duplicate_keys_jsonl(tmp_path, existing):
    src = tmp_path / "dupkeys.jsonl"
    src.write_text('{"id": "1", "path": "a", "label": "x", "pred": "x"}\n'
                   '{"id": "2", "path": "a", "label": "x", "label": "y", "pred": "x"}\n', encoding="utf-8")
    assert_refused(src, existing, "line 2", "label")


def test_row04_duplicate_column_names_parquet(tmp_path, existing):
    src = tmp_path / "dupcols.parquet"
    table = pa.Table.from_arrays([pa.array(["1"]), pa.array(["a"]), pa.array(["x"]), pa.array(["y"]), pa.array(["x"])],
                                 names=["id", "path", "label", "label", "pred"])
    pq.write_table(table, src)
    assert_refused(src, existing, "duplicate", "label")


def test_row04_two_probability_columns_for_one_class(tmp_path, existing):
    src = tmp_path / "dupprob.csv"
    src.write_text("id,path,label,p_cat,prob_cat,p_dog\n1,a,cat,0.5,0.7,0.5\n", encoding="utf-8")
    assert_refused(src, existing, "p_cat", "prob_cat")


# ---------------------------------------------------------------------------------------------
# 5. duplicate ids


def test_row05_duplicate_ids(tmp_path, existing):
    rows = "".join(f"{i},img{i}.png,x,x\n" for i in range(10)) + "3,again.png,x,y\n007,a,x,x\n007,b,x,x\n"
    src = tmp_path / "dupids.csv"
    src.write_text(HEAD + rows, encoding="utf-8")
    msg = assert_refused(src, existing, "'3'", "'007'")
    assert "line 5" in msg  # the first occurrence of 3


@pytest.mark.parametrize("ids", [["a1", "a2", "a2", "a3"], ["a1", "a2", "a3", "a3"], ["b", "a", "b"], ["1", "10", "2", "10"]])
def test_row05_duplicate_ids_in_order_or_not(tmp_path, existing, ids):
    """Ids in increasing order are known distinct without hashing them; a repeat breaks the order
    (equal is not greater), so it is still found."""
    src = tmp_path / "dups.csv"
    src.write_text(HEAD + "".join(f"{i},p{k}.png,x,x\n" for k, i in enumerate(ids)), encoding="utf-8")
    twice = sorted({i for i in ids if ids.count(i) > 1})
    assert_refused(src, existing, *[repr(t) for t in twice])


@pytest.mark.parametrize("blank", ["", " ", "\u00a0", "\u3000\t"])
def test_row05_empty_or_blank_id(tmp_path, existing, blank):
    src = tmp_path / "blankid.csv"
    src.write_text(HEAD + "1,a.png,x,x\n2,b.png,x,x\n" + f'"{blank}",c.png,x,x\n', encoding="utf-8")
    msg = assert_refused(src, existing, "empty id")
    assert "line 4" in msg


def test_row05_ids_with_inner_spaces_are_ids(tmp_path):
    src = tmp_path / "spaced.csv"
    src.write_text(HEAD + "a b,a.png,x,x\n a,b.png,x,x\n", encoding="utf-8")
    assert import_predictions(src, tmp_path / "s.labeler.db").rows == 2


# ---------------------------------------------------------------------------------------------
# 6. classes named like missing values


NA_NAMES = ["NA", "None", "null", "n/a", "nan", "NaN", "N/A", "#N/A", "NULL", "-"]


def test_row06_na_like_class_names_csv(tmp_path):
    rows = "".join(f"{i},img{i}.png,{c},{c}\n" for i, c in enumerate(NA_NAMES))
    src = tmp_path / "na.csv"
    src.write_text(HEAD + rows + "99,z.png,NA,None\n", encoding="utf-8")
    db = tmp_path / "na.labeler.db"
    s = import_predictions(src, db)
    assert s.unlabeled == 0
    ex = imported(db)
    assert [ex[str(i)]["label"] for i in range(len(NA_NAMES))] == NA_NAMES
    assert ex["99"]["label"] == "NA" and ex["99"]["pred"] == "None" and ex["99"]["wrong"] == 1
    assert sorted(classes_of(db)) == sorted(NA_NAMES)


def test_row06_na_like_class_names_with_probabilities_and_class_list(tmp_path):
    src = tmp_path / "na.csv"
    src.write_text("id,path,label,p_NA,p_None\n1,a,NA,0.2,0.8\n2,b,None,0.9,0.1\n", encoding="utf-8")
    db = tmp_path / "na.labeler.db"
    import_predictions(src, db, classes=["None", "NA"])
    ex = imported(db)
    assert classes_of(db) == ["None", "NA"]
    assert ex["1"]["pred"] == "None" and ex["1"]["p_label"] == pytest.approx(0.2)
    assert ex["2"]["pred"] == "NA" and ex["2"]["p_label"] == pytest.approx(0.1)


def test_row06_na_like_class_names_jsonl_and_parquet(tmp_path):
    recs = [{"id": "1", "path": "a", "label": "null", "pred": "NA"}, {"id": "2", "path": "b", "label": "None", "pred": "nan"}]
    j = tmp_path / "na.jsonl"
    j.write_text("\n".join(json.dumps(r) for r in recs) + "\n", encoding="utf-8")
    pqf = tmp_path / "na.parquet"
    pq.write_table(pa.table({k: [r[k] for r in recs] for k in recs[0]}), pqf)
    for src in (j, pqf):
        db = tmp_path / (src.name + ".labeler.db")
        import_predictions(src, db)
        ex = imported(db)
        assert (ex["1"]["label"], ex["1"]["pred"], ex["2"]["label"], ex["2"]["pred"]) == ("null", "NA", "None", "nan")


# ---------------------------------------------------------------------------------------------
# 7. empty label cell


def test_row07_empty_label_is_unlabeled(tmp_path):
    src = tmp_path / "unl.csv"
    src.write_text(HEAD + "1,a,,x\n2,b,x,y\n3,c,\"\",y\n", encoding="utf-8")
    db = tmp_path / "unl.labeler.db"
    s = import_predictions(src, db)
    ex = imported(db)
    assert ex["1"]["label"] is None and ex["3"]["label"] is None
    assert ex["1"]["wrong"] == 0 and ex["3"]["wrong"] == 0  # not an error: there is nothing to be wrong about
    assert ex["2"]["wrong"] == 1
    assert "nan" not in classes_of(db) and "" not in classes_of(db)
    assert s.unlabeled == 2
    assert any("2 examples have no label" in line for line in s.lines())
    r = CliRunner().invoke(main, ["import", str(src), "--project", str(tmp_path / "cli.labeler.db")])
    assert r.exit_code == 0, r.output
    assert "2 examples have no label" in r.output


def test_row07_unlabeled_with_probabilities(tmp_path):
    src = tmp_path / "unl.csv"
    src.write_text("id,path,label,p_x,p_y\n1,a,,0.3,0.7\n2,b,x,0.4,0.6\n", encoding="utf-8")
    db = tmp_path / "unl.labeler.db"
    import_predictions(src, db)
    ex = imported(db)
    assert ex["1"]["label"] is None and ex["1"]["pred"] == "y" and ex["1"]["loss"] is None
    assert ex["1"]["confidence"] == pytest.approx(0.7)
    assert ex["2"]["loss"] == pytest.approx(-math.log(0.4))


# ---------------------------------------------------------------------------------------------
# 8. labels or predictions outside the class list


def test_row08_label_not_in_class_list(tmp_path, existing):
    src = tmp_path / "cls.csv"
    src.write_text(HEAD + "1,a,cat,cat\n2,b,cow,cat\n", encoding="utf-8")
    assert_refused(src, existing, "'cow'", "line 3", "label", classes=["cat", "dog"], cli_args=("--classes", "cat,dog"))


def test_row08_prediction_not_in_class_list(tmp_path, existing):
    src = tmp_path / "cls.csv"
    src.write_text(HEAD + "1,a,cat,cat\n2,b,dog,emu\n", encoding="utf-8")
    assert_refused(src, existing, "'emu'", "line 3", "pred", classes=["cat", "dog"], cli_args=("--classes", "cat,dog"))


def test_row08_classes_file_via_cli(tmp_path, existing):
    src = tmp_path / "cls.csv"
    src.write_text(HEAD + "1,a,cat,cat\n2,b,cow,cat\n", encoding="utf-8")
    cf = tmp_path.parent / f"{tmp_path.name}_classes.txt"
    cf.write_text("cat\ndog\n", encoding="utf-8")
    assert_refused(src, existing, "'cow'", classes=["cat", "dog"], cli_args=("--classes-file", str(cf)))


def test_row08_label_not_among_probability_columns(tmp_path, existing):
    src = tmp_path / "cls.csv"
    src.write_text("id,path,label,p_cat,p_dog\n1,a,cat,0.5,0.5\n2,b,cow,0.5,0.5\n", encoding="utf-8")
    assert_refused(src, existing, "'cow'", "line 3")


def test_row08_without_class_list_the_union(tmp_path):
    src = tmp_path / "cls.csv"
    src.write_text(HEAD + "1,a,cat,cat\n2,b,cow,emu\n3,c,,dog\n", encoding="utf-8")
    db = tmp_path / "u.labeler.db"
    s = import_predictions(src, db)
    assert sorted(classes_of(db)) == ["cat", "cow", "dog", "emu"]
    assert sorted(s.classes) == ["cat", "cow", "dog", "emu"]


# ---------------------------------------------------------------------------------------------
# 9. probabilities out of range


@pytest.mark.parametrize("bad", ["-0.1", "1.5", "nan", "NaN", "inf", "-inf", ""])
def test_row09_bad_probability(tmp_path, existing, bad):
    src = tmp_path / "probs.csv"
    src.write_text("id,path,label,p_x,p_y\n1,a,x,0.5,0.5\n2,b,x,0.5,0.5\n3,c,y," + bad + ",0.5\n", encoding="utf-8")
    assert_refused(src, existing, "line 4", "p_x")


def test_row09_bad_probability_names_all_rows(tmp_path, existing):
    src = tmp_path / "probs.csv"
    src.write_text("id,path,label,p_x,p_y\n1,a,x,1.2,0.5\n2,b,x,0.5,0.5\n3,c,y,0.5,-2\n", encoding="utf-8")
    assert_refused(src, existing, "line 2", "line 4", "p_x", "p_y")


def test_row09_bad_probability_jsonl_list(tmp_path, existing):
    src = tmp_path / "probs.jsonl"
    src.write_text('{"id": "1", "path": "a", "label": "x", "probs": [0.5, 0.5]}\n'
                   '{"id": "2", "path": "a", "label": "y", "probs": [NaN, 0.5]}\n', encoding="utf-8")
    assert_refused(src, existing, "line 2", "probs", classes=["x", "y"], cli_args=("--classes", "x,y"))


@pytest.mark.parametrize("cell", ["null", '""', '"oops"', "[[0.5], [0.5]]"])
def test_row09_missing_or_broken_probability_list(tmp_path, existing, cell):
    src = tmp_path / "probs.jsonl"
    src.write_text('{"id": "1", "path": "a", "label": "x", "probs": [0.5, 0.5]}\n'
                   '{"id": "2", "path": "a", "label": "y", "probs": [0.2, 0.8]}\n'
                   '{"id": "3", "path": "a", "label": "y", "probs": ' + cell + '}\n', encoding="utf-8")
    msg = assert_refused(src, existing, "probs", classes=["x", "y"], cli_args=("--classes", "x,y"))
    assert "line 3" in msg or "not numbers" in msg


def test_row09_null_probability_list_parquet(tmp_path, existing):
    src = tmp_path / "probs.parquet"
    pq.write_table(pa.table({"id": ["1", "2"], "path": ["a", "b"], "label": ["x", "y"],
                             "probs": pa.array([[0.5, 0.5], None], pa.list_(pa.float64()))}), src)
    assert_refused(src, existing, "probs", "row 2", classes=["x", "y"], cli_args=("--classes", "x,y"))


@pytest.mark.parametrize("bad", [None, float("nan"), 1.5, -0.25])
def test_row09_bad_probability_parquet_columns_across_row_groups(tmp_path, existing, bad):
    """Parquet p_ columns are read as Arrow chunks (one per row group) and checked chunk by chunk:
    a bad value in a later row group is found and named with its row."""
    n = 30
    p_x = [0.5] * n
    p_x[23] = bad
    src = tmp_path / "probs.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(n)], "path": ["a"] * n, "label": ["x"] * n,
                             "p_x": pa.array(p_x, pa.float32()), "p_y": [0.5] * n}), src, row_group_size=10)
    assert pq.ParquetFile(src).num_row_groups == 3
    assert_refused(src, existing, "p_x", "row 24")


def test_row09_text_in_a_probability_column(tmp_path, existing):
    src = tmp_path / "probs.csv"
    src.write_text("id,path,label,p_x,p_y\n1,a,x,0.5,0.5\n2,b,x,high,0.5\n", encoding="utf-8")
    assert_refused(src, existing, "line 3", "p_x", "high")


# ---------------------------------------------------------------------------------------------
# 10. probabilities that do not sum to 1


def test_row10_sum_not_one_is_a_warning_and_values_are_kept(tmp_path):
    src = tmp_path / "sum.csv"
    src.write_text("id,path,label,p_x,p_y\n1,a,x,0.5,0.5\n2,b,x,0.6,0.6\n3,c,y,0.2,0.3\n4,d,y,0.3,0.7005\n",
                   encoding="utf-8")
    db = tmp_path / "sum.labeler.db"
    s = import_predictions(src, db)
    assert len(s.warnings) == 1 and "2 rows" in s.warnings[0]  # rows 2 and 3; row 4 is within 1e-3
    ex = imported(db)
    assert ex["2"]["p_label"] == pytest.approx(0.6)  # not renormalised to 0.5
    assert ex["3"]["p_label"] == pytest.approx(0.3)
    assert ex["3"]["loss"] == pytest.approx(-math.log(0.3))
    assert ex["3"]["confidence"] == pytest.approx(0.3)
    r = CliRunner().invoke(main, ["import", str(src), "--project", str(tmp_path / "cli.labeler.db")])
    assert r.exit_code == 0 and "warning" in r.output and "2 rows" in r.output


# ---------------------------------------------------------------------------------------------
# 11. number of probability columns vs classes


def test_row11_fewer_probability_columns_than_classes(tmp_path, existing):
    src = tmp_path / "n.csv"
    src.write_text("id,path,label,p_x,p_y\n1,a,x,0.5,0.5\n", encoding="utf-8")
    assert_refused(src, existing, "2 probability columns", "3 classes", classes=["x", "y", "z"],
                   cli_args=("--classes", "x,y,z"))


def test_row11_probability_columns_for_other_classes(tmp_path, existing):
    src = tmp_path / "n.csv"
    src.write_text("id,path,label,p_x,p_y\n1,a,x,0.5,0.5\n", encoding="utf-8")
    assert_refused(src, existing, "p", classes=["x", "z"], cli_args=("--classes", "x,z"))


def test_row11_list_lengths_differ(tmp_path, existing):
    src = tmp_path / "n.jsonl"
    src.write_text('{"id": "1", "path": "a", "label": "x", "probs": [0.5, 0.5]}\n'
                   '{"id": "2", "path": "a", "label": "x", "probs": [0.5, 0.25, 0.25]}\n', encoding="utf-8")
    assert_refused(src, existing, "probs", classes=["x", "y"], cli_args=("--classes", "x,y"))


def test_row11_list_length_vs_class_list(tmp_path, existing):
    src = tmp_path / "n.jsonl"
    src.write_text('{"id": "1", "path": "a", "label": "x", "probs": [0.5, 0.5]}\n', encoding="utf-8")
    assert_refused(src, existing, "3 classes", classes=["x", "y", "z"], cli_args=("--classes", "x,y,z"))


# ---------------------------------------------------------------------------------------------
# 12. ragged rows, broken quoting


def test_row12_too_few_fields(tmp_path, existing):
    src = tmp_path / "ragged.csv"
    src.write_text(HEAD + "1,a,x,x\n2,b,x\n3,c,x,x\n", encoding="utf-8")
    assert_refused(src, existing, "line 3", "3 fields")


def test_row12_too_many_fields(tmp_path, existing):
    src = tmp_path / "ragged.csv"
    src.write_text(HEAD + "1,a,x,x\n2,b,x,x\n3,c,x,x,extra\n", encoding="utf-8")
    assert_refused(src, existing, "line 4", "5 fields")


def test_row12_ragged_after_a_quoted_line_break(tmp_path, existing):
    src = tmp_path / "ragged.csv"
    src.write_text(HEAD + '1,"two\nlines",x,x\n2,b,x\n', encoding="utf-8")
    assert_refused(src, existing, "line 4")


def test_row12_unclosed_quote(tmp_path, existing):
    src = tmp_path / "quote.csv"
    src.write_text(HEAD + '1,a,x,x\n2,"b,x,x\n3,c,x,x\n', encoding="utf-8")
    assert_refused(src, existing, "line 3", "quot")


def test_row12_ragged_tsv(tmp_path, existing):
    src = tmp_path / "ragged.tsv"
    src.write_text("id\tpath\tlabel\tpred\n1\ta\tx\tx\n2\tb\tx\n", encoding="utf-8")
    assert_refused(src, existing, "line 3")


# ---------------------------------------------------------------------------------------------
# 13. empty file, header only


@pytest.mark.parametrize("name,content", [
    ("empty.csv", b""),
    ("header.csv", HEAD.encode()),
    ("header_nonl.csv", b"id,path,label,pred"),
    ("header.tsv", b"id\tpath\tlabel\tpred\n"),
    ("empty.jsonl", b""),
    ("blank.jsonl", b"\n\n"),
    ("header.csv.gz", gzip.compress(HEAD.encode())),
])
def test_row13_no_rows(tmp_path, existing, name, content):
    src = tmp_path / name
    src.write_bytes(content)
    msg = assert_refused(src, existing)
    assert "no rows" in msg or "empty" in msg


def test_row13_parquet_without_rows(tmp_path, existing):
    src = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"id": pa.array([], pa.string()), "path": pa.array([], pa.string()),
                             "label": pa.array([], pa.string()), "pred": pa.array([], pa.string())}), src)
    assert_refused(src, existing, "no rows")


# ---------------------------------------------------------------------------------------------
# 14. a malformed JSONL line


def test_row14_jsonl_malformed_line(tmp_path, existing):
    good = '{"id": "%d", "path": "a", "label": "x", "pred": "x"}\n'
    src = tmp_path / "bad.jsonl"
    src.write_text(good % 1 + good % 2 + '{"id": "3", "path": "a", "label": "x" "pred": "x"}\n' + good % 4,
                   encoding="utf-8")
    assert_refused(src, existing, "line 3")


def test_row14_jsonl_line_that_is_not_an_object(tmp_path, existing):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"id": "1", "path": "a", "label": "x", "pred": "x"}\n\n[1, 2]\n', encoding="utf-8")
    assert_refused(src, existing, "line 3")


def test_row14_jsonl_line_numbers_count_blank_lines(tmp_path, existing):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"id": "1", "path": "a", "label": "x", "p_x": 0.5, "p_y": 0.5}\n\n\n'
                   '{"id": "2", "path": "a", "label": "y", "p_x": 1.5, "p_y": 0.5}\n', encoding="utf-8")
    assert_refused(src, existing, "line 4", "p_x")


# ---------------------------------------------------------------------------------------------
# 15. ids as floats or with leading zeros


def test_row15_ids_kept_exactly(tmp_path):
    ids = ["000123", "1.0", "1", "01", "1e3", "0x1F", " 7", "12345678901234567890"]
    src = tmp_path / "ids.csv"
    src.write_text(HEAD + "".join(f'"{i}",p{n}.png,x,x\n' for n, i in enumerate(ids)), encoding="utf-8")
    db = tmp_path / "ids.labeler.db"
    import_predictions(src, db)
    assert list(imported(db)) == ids


def test_row15_ids_in_jsonl_and_parquet(tmp_path):
    j = tmp_path / "ids.jsonl"
    j.write_text('{"id": 1.0, "path": "a", "label": "x", "pred": "x"}\n'
                 '{"id": "000123", "path": "b", "label": "x", "pred": "x"}\n'
                 '{"id": 123456789012345678901234567890, "path": "c", "label": "x", "pred": "x"}\n', encoding="utf-8")
    db = tmp_path / "j.labeler.db"
    import_predictions(j, db)
    assert list(imported(db)) == ["1.0", "000123", "123456789012345678901234567890"]
    p = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"id": ["000123", "1.0"], "path": ["a", "b"], "label": ["x", "x"], "pred": ["x", "x"]}), p)
    db = tmp_path / "p.labeler.db"
    import_predictions(p, db)
    assert list(imported(db)) == ["000123", "1.0"]


# ---------------------------------------------------------------------------------------------
# 16, 17. re-import


def test_row16_same_file_twice(tmp_path, existing):
    src = existing.parent / "old.csv"
    before = snapshot(existing)
    s = import_predictions(src, existing)
    after = snapshot(existing)
    assert after["columnar"] == before["columnar"]
    assert after["decisions"] == before["decisions"] and len(after["decisions"]) == 1
    with Project.open(existing, readonly=True) as p:
        assert p.example_count() == 2
        assert p.decision("o1") == Decision(label="dog", reviewed=True, decided_at=p.decision("o1").decided_at)
    assert (s.added, s.updated, s.removed) == (0, 2, [])
    # and through the CLI
    r = CliRunner().invoke(main, ["import", str(src), "--project", str(existing)])
    assert r.exit_code == 0, r.output
    assert snapshot(existing)["columnar"] == before["columnar"]


def test_row17_updated_predictions(tmp_path, existing):
    with Project.open(existing) as p:
        p.write_decision("o2", Decision(), Decision(tags=frozenset({"very easy"}), reviewed=True), "+very easy")
    new = tmp_path / "new.csv"
    new.write_text(HEAD + "o1,a.png,cat,cat\nn3,c.png,dog,cat\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["import", str(new), "--project", str(existing)])
    assert r.exit_code == 0, r.output
    assert "o2" in r.output and "gone" in r.output  # removed ids are reported
    ex = imported(existing)
    assert list(ex) == ["o1", "n3"]
    assert ex["o1"]["pred"] == "cat" and ex["o1"]["wrong"] == 0
    with Project.open(existing, readonly=True) as p:
        assert p.decision("o1").label == "dog" and p.decision("o1").reviewed
        assert p.decision("o2").tags == frozenset({"very easy"})  # kept although o2 is gone


# ---------------------------------------------------------------------------------------------
# 18. kill -9 during an import

KILL_SCRIPT = r"""
import sys
from labeler.core.importer import import_predictions
def progress(stage, frac):
    print(stage, repr(frac), flush=True)
import_predictions(sys.argv[1], sys.argv[2], progress=progress)
print("finished", flush=True)
"""


def _run_and_kill(src: Path, db: Path, when, log: list[str]) -> None:
    """Import in a child process; SIGKILL it as soon as ``when(line)`` is true for a progress line."""
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(src), str(db)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            log.append(line.strip())
            if when(line.split()):
                os.kill(proc.pid, signal.SIGKILL)
                log.append("killed")
                break
    finally:
        proc.wait(timeout=120)
        proc.stdout.close()
        err = proc.stderr.read()
        proc.stderr.close()
    log.append(f"rc={proc.returncode} {err[-500:]}")


def _integrity_ok(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def _mid_write(fields: list[str]) -> bool:
    return fields[0] == "writing" and float(fields[1]) > 0.6


def test_row18_kill_during_import(tmp_path, big_csv, existing_big):
    existing = existing_big
    cases = {
        # new project: killed while reading, and in the middle of writing (100k rows written)
        "new_early": (tmp_path / "a" / "new.labeler.db", lambda f: f[0] == "reading"),
        "new_mid": (tmp_path / "b" / "new.labeler.db", _mid_write),
        # new project: killed after the last rows, around the commit and the rename into place
        "new_late": (tmp_path / "c" / "new.labeler.db", lambda f: f[0] == "writing" and float(f[1]) >= 0.95),
        # existing project (with a review): killed in the middle of writing
        "old_mid": (tmp_path / "d" / "old.labeler.db", _mid_write),
    }
    for name, (db, _) in cases.items():
        db.parent.mkdir()
        if name.startswith("old"):
            db.write_bytes(existing.read_bytes())
    before_digest = file_digest(existing)
    before = snapshot(existing)
    logs = {name: [] for name in cases}
    threads = [threading.Thread(target=_run_and_kill, args=(big_csv, db, when, logs[name]))
               for name, (db, when) in cases.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    for name, (db, _) in cases.items():
        log = logs[name]
        assert "killed" in log, (name, log)
        # (the late kill may come after the import has finished: then the import is complete)
        assert f"rc={-signal.SIGKILL}" in log[-1] or (name == "new_late" and "rc=0" in log[-1]), (name, log)
        if name == "new_late" and db.exists():
            # the import got to the end before the kill: then it is all there
            with Project.open(db, readonly=True) as p:
                assert p.example_count() == BIG_ROWS, (name, log)
            _integrity_ok(db)
        elif name.startswith("new"):
            assert not db.exists(), (name, log)
            # whatever the killed import left behind is not a project, and a new import cleans it up
            src = db.parent / "small.csv"
            src.write_text(HEAD + "1,a,x,x\n", encoding="utf-8")
            import_predictions(src, db)
            assert list(imported(db)) == ["1"]
            _integrity_ok(db)
            assert project_files(db.parent) == ["new.labeler.db"], (name, log)
        else:
            assert content_snapshot(db) == before, (name, log)
            _integrity_ok(db)
            assert snapshot(db) == before
            assert file_digest(db) == before_digest
            with Project.open(db) as p:  # the lock died with the process
                assert p.example_count() == 3


# ---------------------------------------------------------------------------------------------
# 19. a very large file: progress and cancel


def test_row19_progress_and_cancel(tmp_path, big_csv, existing_big):
    existing = existing_big
    seen: list[tuple[str, float]] = []
    cancel = threading.Event()

    def progress(stage, frac):
        seen.append((stage, frac))
        if stage == "writing" and frac > 0.6:  # 100k rows are in the (uncommitted) project already
            cancel.set()

    digest = file_digest(existing)
    with pytest.raises(ImportCancelled):
        import_predictions(big_csv, existing, progress=progress, cancel=cancel)
    fracs = [f for _, f in seen]
    assert len(fracs) >= 4
    assert fracs == sorted(fracs) and fracs[0] < fracs[-1] and 0 <= fracs[0] and fracs[-1] <= 1
    assert [s for s, _ in seen][-1] == "writing"
    assert file_digest(existing) == digest
    with Project.open(existing, readonly=True) as p:
        assert p.example_count() == 3


def test_row19_cancel_while_writing_a_new_project(tmp_path):
    src = tmp_path / "p.csv"
    src.write_text(HEAD + "".join(f"{i},a,x,{'xy'[i % 2]}\n" for i in range(50)), encoding="utf-8")
    new = tmp_path / "fresh" / "p.labeler.db"
    new.parent.mkdir()
    cancel = threading.Event()

    def progress(stage, frac):
        if stage == "writing":
            cancel.set()

    with pytest.raises(ImportCancelled):
        import_predictions(src, new, progress=progress, cancel=cancel)
    assert list(new.parent.iterdir()) == []


def test_row19_cancel_before_start_and_full_progress(tmp_path):
    src = tmp_path / "p.csv"
    src.write_text(HEAD + "".join(f"{i},a,x,{'xy'[i % 2]}\n" for i in range(50)), encoding="utf-8")
    ev = threading.Event()
    ev.set()
    with pytest.raises(ImportCancelled):
        import_predictions(src, tmp_path / "p.labeler.db", cancel=ev)
    assert project_files(tmp_path) == []
    seen = []
    import_predictions(src, tmp_path / "p.labeler.db", progress=lambda s, f: seen.append(f), cancel=threading.Event())
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] == 1.0


def test_row28_two_first_imports_at_once_do_not_replace_each_other(tmp_path):
    """While one first import builds a new project, a second one into the same project is refused
    (it holds the final name's lock); nothing it does replaces the first one's project."""
    import subprocess
    import sys

    src = tmp_path / "p.csv"
    src.write_text("id,path,label,pred\n1,a.png,cat,cat\n2,b.png,dog,cat\n")
    db = tmp_path / "p.labeler.db"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from labeler.core import fileops; from pathlib import Path;"
         " fd = fileops.acquire_lock(Path(sys.argv[1])); print('locked', flush=True); time.sleep(30)", str(db)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ProjectError, match="another labeler"):
            import_predictions(src, db)
        assert not db.exists()
    finally:
        holder.kill()
        holder.wait()
    assert import_predictions(src, db).rows == 2  # once the other one is gone, it works
