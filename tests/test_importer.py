"""The importer: file formats, column roles, classes, derived figures, paths, re-import.

Expected values are computed here independently (pandas / math on the input), never copied from the
importer's own output.
"""

from __future__ import annotations

import gzip
import io
import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import DIGITS, DIGITS_CSV, project_files, snapshot
from labeler.core import columns as colmod, importer
from labeler.core.formats import delimited
from labeler.core.importer import ImportProblem, import_predictions, read_table
from labeler.core.store import Project, default_project_path


def examples(db) -> dict[str, dict]:
    """Every stored example by id, with the top-k the item panel shows (``example_at``)."""
    with Project.open(db, readonly=True) as p:
        return {r["id"]: {**r, "topk": p.example_at(i)["topk"]} for i, r in enumerate(p.examples_table().to_pylist())}


def classes_of(db) -> list[str]:
    with Project.open(db, readonly=True) as p:
        return p.classes


# ---------------------------------------------------------------------------------------------
# the sample data, checked against pandas on the CSV


def test_digits_import_matches_the_csv(digits_project):
    df = pd.read_csv(DIGITS_CSV, dtype=str, keep_default_na=False)
    ex = examples(digits_project)
    assert list(ex) == df["id"].tolist()
    assert classes_of(digits_project) == [str(k) for k in range(10)]
    pcols = [f"p_{k}" for k in range(10)]
    probs = df[pcols].astype(float).to_numpy()
    for i, row in enumerate(df.itertuples(index=False)):
        e = ex[row.id]
        assert (e["split"], e["path"], e["label"], e["pred"]) == (row.split, row.path, row.label, row.pred)
        assert e["row"] == i
        p = probs[i]
        p_given = p[int(row.label)]
        assert e["confidence"] == pytest.approx(p.max())
        assert e["p_label"] == pytest.approx(p_given)
        assert e["loss"] == pytest.approx(-math.log(p_given))
        assert e["wrong"] == int(row.label != row.pred)
        topk = e["topk"]
        assert len(topk) == 5
        assert [c for c, _ in topk][0] == int(np.argmax(p))
        assert [q for _, q in topk] == pytest.approx(sorted(p, reverse=True)[:5], abs=1e-6)
        assert e["meta"] in (None, "{}")
    split_counts = df["split"].value_counts().to_dict()
    with Project.open(digits_project, readonly=True) as pr:
        got = pd.Series(pr.examples_table().column("split").to_pylist()).value_counts().to_dict()
        assert got == split_counts
        # relative image paths resolve against the predictions file's folder (BAD_INPUTS row 21)
        assert pr.resolve("images/d0000.png") == DIGITS / "images" / "d0000.png"
        assert pr.resolve(ex["d0000"]["path"]).is_file()


def test_relative_paths_resolve_against_the_file_not_the_cwd(tmp_path, write_csv, monkeypatch):
    src = write_csv("data/sub/preds.csv", ["id", "path", "label", "pred"], [["1", "img/a.png", "x", "x"]])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    db = tmp_path / "p.labeler.db"
    import_predictions("../data/sub/preds.csv", db)
    with Project.open(db, readonly=True) as p:
        assert p.resolve("img/a.png") == (tmp_path / "data" / "sub" / "img" / "a.png").resolve()
        assert p.resolve("/abs/b.png").as_posix() == "/abs/b.png"
    assert src.exists()


def test_default_project_path_next_to_the_predictions(tmp_path, write_csv):
    src = write_csv("preds.csv", ["id", "path", "label", "pred"], [["1", "a", "x", "x"]])
    s = import_predictions(src)
    assert s.project == tmp_path / "preds.labeler.db"
    assert (tmp_path / "preds.labeler.db").is_file()
    for name in ("x.csv.gz", "x.CSV.GZ", "x.tsv", "x.jsonl.gz", "x.parquet", "x.ndjson"):
        assert default_project_path(tmp_path / name) == tmp_path / "x.labeler.db"


# ---------------------------------------------------------------------------------------------
# formats

ROWS = [["a1", "x.png", "cat", "dog"], ["a2", "y.png", "dog", "dog"], ["a3", "z.png", "cat", "cat"]]
HEAD = ["id", "path", "label", "pred"]


def _expect_basic(db):
    ex = examples(db)
    assert [(e["id"], e["path"], e["label"], e["pred"], e["wrong"]) for e in ex.values()] == [
        ("a1", "x.png", "cat", "dog", 1), ("a2", "y.png", "dog", "dog", 0), ("a3", "z.png", "cat", "cat", 0)
    ]
    assert classes_of(db) == ["cat", "dog"]


def test_csv(tmp_path, write_csv):
    src = write_csv("p.csv", HEAD, ROWS)
    import_predictions(src, tmp_path / "p.labeler.db")
    _expect_basic(tmp_path / "p.labeler.db")


def test_tsv(tmp_path, write_csv):
    src = write_csv("p.tsv", HEAD, ROWS, delimiter="\t")
    import_predictions(src, tmp_path / "p.labeler.db")
    _expect_basic(tmp_path / "p.labeler.db")


@pytest.mark.parametrize("delimiter", ["\t", ",", ";"])
def test_txt_is_sniffed(tmp_path, write_csv, delimiter):
    src = write_csv("p.txt", HEAD, ROWS, delimiter=delimiter)
    import_predictions(src, tmp_path / "p.labeler.db")
    _expect_basic(tmp_path / "p.labeler.db")


def test_gzipped_csv(tmp_path, write_text):
    text = "\n".join(",".join(r) for r in [HEAD, *ROWS]) + "\n"
    src = write_text("p.csv.gz", gzip.compress(text.encode()))
    import_predictions(src, tmp_path / "p.labeler.db")
    _expect_basic(tmp_path / "p.labeler.db")


def test_crlf_line_endings(tmp_path, write_text):
    text = "\r\n".join(",".join(r) for r in [HEAD, *ROWS]) + "\r\n"
    src = write_text("p.csv", text)
    import_predictions(src, tmp_path / "p.labeler.db")
    _expect_basic(tmp_path / "p.labeler.db")


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_jsonl(tmp_path, write_text, suffix):
    lines = [json.dumps(dict(zip(HEAD, r))) for r in ROWS]
    src = write_text("p" + suffix, "\n".join(lines) + "\n")
    import_predictions(src, tmp_path / "p.labeler.db")
    _expect_basic(tmp_path / "p.labeler.db")


def test_parquet(tmp_path):
    src = tmp_path / "p.parquet"
    pq.write_table(pa.table({h: [r[i] for r in ROWS] for i, h in enumerate(HEAD)}), src)
    import_predictions(src, tmp_path / "p.labeler.db")
    _expect_basic(tmp_path / "p.labeler.db")


def test_unknown_extension_is_refused(tmp_path, write_csv):
    src = write_csv("p.xlsx", HEAD, ROWS)
    with pytest.raises(ImportProblem, match="p.xlsx"):
        import_predictions(src, tmp_path / "p.labeler.db")
    assert project_files(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# column roles


def test_common_column_names_are_found():
    cmap = colmod.detect(["Image Path", "ground_truth", "y_pred", "sample_id", "Split", "prob_cat", "prob_dog", "extra"])
    assert cmap.roles == {"id": "sample_id", "path": "Image Path", "label": "ground_truth", "pred": "y_pred",
                          "split": "Split"}
    assert cmap.prob_columns == {"cat": "prob_cat", "dog": "prob_dog"}
    assert colmod.detect(["text", "label", "proba_0", "proba_1"]).prob_columns == {"0": "proba_0", "1": "proba_1"}


def test_column_override(tmp_path, write_csv):
    src = write_csv("p.csv", ["key2", "file", "truth", "guess", "note"],
                    [["007", "a.png", "x", "y", "hello"], ["008", "b.png", "y", "y", ""]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db, columns={"id": "key2", "label": "truth", "pred": "guess"})
    ex = examples(db)
    assert list(ex) == ["007", "008"]
    assert ex["007"]["label"] == "x" and ex["007"]["pred"] == "y" and ex["007"]["wrong"] == 1
    # columns without a role are kept as metadata, exactly
    assert json.loads(ex["007"]["meta"]) == {"note": "hello"}
    assert json.loads(ex["008"]["meta"]) == {"note": ""}


def test_override_naming_a_missing_column_is_a_problem(tmp_path, write_csv):
    src = write_csv("p.csv", HEAD, ROWS)
    with pytest.raises(ImportProblem, match="nope"):
        import_predictions(src, tmp_path / "p.labeler.db", columns={"label": "nope"})
    with pytest.raises(ImportProblem, match="colour"):
        import_predictions(src, tmp_path / "p.labeler.db", columns={"colour": "label"})
    assert project_files(tmp_path) == []


def test_text_instead_of_path_and_quoted_newlines(tmp_path, write_csv):
    src = write_csv("p.csv", ["id", "text", "label", "pred"],
                    [["1", "hello, world", "pos", "pos"], ["2", "two\nlines \"quoted\"", "neg", "pos"]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    ex = examples(db)
    assert ex["2"]["text"] == 'two\nlines "quoted"'
    assert ex["1"]["text"] == "hello, world"
    assert ex["1"]["path"] is None


def test_metadata_values_kept_as_exact_strings(tmp_path, write_csv):
    src = write_csv("p.csv", HEAD + ["zip", "score_x", "when"],
                    [["1", "a", "x", "x", "00501", "1.50", "NA"]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    assert json.loads(examples(db)["1"]["meta"]) == {"zip": "00501", "score_x": "1.50", "when": "NA"}


# ---------------------------------------------------------------------------------------------
# ids, splits, predictions, confidence


def test_id_defaults_to_row_number(tmp_path, write_csv):
    src = write_csv("p.csv", ["path", "label", "pred"], [["a", "x", "x"], ["b", "x", "y"], ["c", "y", "y"]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    ex = examples(db)
    assert [(e["id"], e["path"]) for e in ex.values()] == [("0", "a"), ("1", "b"), ("2", "c")]


@pytest.mark.parametrize(
    "value,split",
    [("train", "train"), ("training", "train"), ("Train", "train"), ("dev", "dev"), ("val", "dev"),
     ("valid", "dev"), ("validation", "dev"), ("VALIDATION", "dev"), ("test", "test"), ("testing", "test")],
)
def test_split_names(tmp_path, write_csv, value, split):
    src = write_csv("p.csv", HEAD + ["split"], [["1", "a", "x", "x", value]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    assert examples(db)["1"]["split"] == split


def test_unknown_split_value_is_an_error(tmp_path, write_csv):
    src = write_csv("p.csv", HEAD + ["split"], [["1", "a", "x", "x", "dev"], ["2", "a", "x", "x", "holdout"]])
    with pytest.raises(ImportProblem) as e:
        import_predictions(src, tmp_path / "p.labeler.db")
    assert "holdout" in str(e.value) and "line 3" in str(e.value)
    assert project_files(tmp_path) == []


def test_no_split_column_means_dev_or_the_split_option(tmp_path, write_csv):
    src = write_csv("p.csv", HEAD, ROWS)
    import_predictions(src, tmp_path / "a.labeler.db")
    assert {e["split"] for e in examples(tmp_path / "a.labeler.db").values()} == {"dev"}
    import_predictions(src, tmp_path / "b.labeler.db", split="train")
    assert {e["split"] for e in examples(tmp_path / "b.labeler.db").values()} == {"train"}
    with pytest.raises(ImportProblem, match="holdout"):
        import_predictions(src, tmp_path / "c.labeler.db", split="holdout")
    assert not (tmp_path / "c.labeler.db").exists()


def test_pred_and_confidence_default_to_argmax_and_max(tmp_path, write_csv):
    src = write_csv("p.csv", ["id", "path", "label", "p_b", "p_a", "p_c"],
                    [["1", "u", "a", "0.2", "0.7", "0.1"], ["2", "v", "a", "0.5", "0.1", "0.4"]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    ex = examples(db)
    # classes in probability-column order
    assert classes_of(db) == ["b", "a", "c"]
    assert ex["1"]["pred"] == "a" and ex["1"]["confidence"] == pytest.approx(0.7) and ex["1"]["wrong"] == 0
    assert ex["2"]["pred"] == "b" and ex["2"]["confidence"] == pytest.approx(0.5) and ex["2"]["wrong"] == 1
    assert ex["2"]["p_label"] == pytest.approx(0.1)
    assert ex["2"]["loss"] == pytest.approx(-math.log(0.1))
    assert ex["2"]["topk"] == [[0, pytest.approx(0.5)], [2, pytest.approx(0.4)], [1, pytest.approx(0.1)]]


@pytest.mark.parametrize("prefix", ["p_", "prob_", "proba_"])
def test_probability_column_prefixes(tmp_path, write_csv, prefix):
    src = write_csv("p.csv", ["id", "path", "label", prefix + "x", prefix + "y"], [["1", "u", "y", "0.8", "0.2"]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    assert classes_of(db) == ["x", "y"]
    e = examples(db)["1"]
    assert e["pred"] == "x" and e["wrong"] == 1 and e["loss"] == pytest.approx(-math.log(0.2))


def test_explicit_pred_column_is_kept_even_if_not_argmax(tmp_path, write_csv):
    src = write_csv("p.csv", ["id", "path", "label", "pred", "p_x", "p_y"], [["1", "u", "x", "y", "0.6", "0.4"]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    e = examples(db)["1"]
    assert e["pred"] == "y" and e["wrong"] == 1


def test_confidence_column_without_probabilities(tmp_path, write_csv):
    src = write_csv("p.csv", ["id", "path", "label", "pred", "confidence"],
                    [["1", "u", "x", "x", "0.9"], ["2", "v", "x", "y", "0.75"]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    ex = examples(db)
    assert ex["1"]["confidence"] == pytest.approx(0.9)
    assert ex["2"]["confidence"] == pytest.approx(0.75)
    assert ex["2"]["wrong"] == 1


# ---------------------------------------------------------------------------------------------
# classes


def test_classes_option_sets_the_order_and_reorders_probabilities(tmp_path, write_csv):
    src = write_csv("p.csv", ["id", "path", "label", "p_x", "p_y"], [["1", "u", "y", "0.8", "0.2"]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db, classes=["y", "x"])
    assert classes_of(db) == ["y", "x"]
    e = examples(db)["1"]
    assert e["pred"] == "x" and e["p_label"] == pytest.approx(0.2)
    # top-k indices refer to the project's class order: x is index 1 now
    assert e["topk"][0] == [1, pytest.approx(0.8)]


def test_union_of_classes_in_a_stable_order(tmp_path, write_csv):
    rows1 = [["1", "a", "10", "9"], ["2", "a", "2", "2"], ["3", "a", "b", "nan"], ["4", "a", "NA", "1"]]
    rows2 = list(reversed(rows1))
    a = write_csv("a.csv", HEAD, rows1)
    b = write_csv("b.csv", HEAD, rows2)
    import_predictions(a, tmp_path / "a.labeler.db")
    import_predictions(b, tmp_path / "b.labeler.db")
    ca, cb = classes_of(tmp_path / "a.labeler.db"), classes_of(tmp_path / "b.labeler.db")
    assert sorted(ca) == sorted(["10", "9", "2", "b", "nan", "NA", "1"])
    assert ca == cb  # the order does not depend on the order of the rows
    # numbers in numeric order
    nums = [c for c in ca if c.isdigit()]
    assert nums == ["1", "2", "9", "10"]


def test_union_order_does_not_depend_on_hash_seed(tmp_path, write_csv):
    import subprocess
    import sys

    src = write_csv("p.csv", HEAD, [["1", "a", "nan", "3"], ["2", "a", "inf", "b"], ["3", "a", "1", "NaN"],
                                    ["4", "a", "a", "-inf"], ["5", "a", "2", "Infinity"]])
    code = (
        "import sys; from labeler.core.importer import read_table, build_examples; from labeler.core import columns;"
        "t = read_table(sys.argv[1]); print('|'.join(build_examples(t, columns.detect(t.columns)).classes))"
    )
    outs = set()
    for seed in ("1", "2"):
        r = subprocess.run([sys.executable, "-c", code, str(src)], capture_output=True, text=True,
                           env={**__import__("os").environ, "PYTHONHASHSEED": seed}, check=True)
        outs.add(r.stdout.strip())
    assert len(outs) == 1, outs


def test_classes_file_order_is_used(tmp_path, write_csv):
    src = write_csv("p.csv", HEAD, [["1", "a", "b", "a"]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db, classes=["c", "b", "a"])
    assert classes_of(db) == ["c", "b", "a"]


def test_list_column_with_classes(tmp_path, write_text):
    lines = [
        {"id": "1", "path": "u", "label": "dog", "probs": [0.1, 0.7, 0.2]},
        {"id": "2", "path": "v", "label": "cat", "probs": [0.6, 0.3, 0.1]},
    ]
    src = write_text("p.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db, classes=["cat", "dog", "eel"])
    ex = examples(db)
    assert ex["1"]["pred"] == "dog" and ex["1"]["p_label"] == pytest.approx(0.7)
    assert ex["2"]["pred"] == "cat" and ex["2"]["wrong"] == 0


def test_parquet_list_column_with_explicit_role(tmp_path):
    src = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": ["1", "2"], "path": ["u", "v"], "label": ["b", "a"],
                             "model_out": [[0.9, 0.1], [0.2, 0.8]]}), src)
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db, columns={"probs": "model_out"}, classes=["a", "b"])
    ex = examples(db)
    assert ex["1"]["pred"] == "a" and ex["1"]["wrong"] == 1 and ex["1"]["loss"] == pytest.approx(-math.log(0.1))
    assert ex["2"]["pred"] == "b" and ex["2"]["wrong"] == 1


def test_list_column_order_inferred_from_unambiguous_predictions(tmp_path, write_csv):
    src = write_csv("p.csv", ["id", "path", "label", "pred", "probs"],
                    [["1", "u", "y", "y", "[0.1, 0.9]"], ["2", "v", "x", "x", "[0.7, 0.3]"]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    assert classes_of(db) == ["x", "y"]
    assert examples(db)["1"]["p_label"] == pytest.approx(0.9)


def test_list_column_order_ambiguous_asks_for_classes(tmp_path, write_csv):
    # position 0 is the argmax of both rows: position 1 cannot be named
    src = write_csv("p.csv", ["id", "path", "label", "pred", "probs"],
                    [["1", "u", "y", "x", "[0.9, 0.1]"], ["2", "v", "x", "x", "[0.7, 0.3]"]])
    with pytest.raises(ImportProblem, match="--classes"):
        import_predictions(src, tmp_path / "p.labeler.db")
    assert project_files(tmp_path) == []


def test_list_column_without_predictions_asks_for_classes(tmp_path, write_csv):
    src = write_csv("p.csv", ["id", "path", "label", "probs"], [["1", "u", "y", "[0.1, 0.9]"]])
    with pytest.raises(ImportProblem, match="--classes"):
        import_predictions(src, tmp_path / "p.labeler.db")
    assert project_files(tmp_path) == []


def test_list_column_of_the_wrong_length(tmp_path, write_csv):
    src = write_csv("p.csv", ["id", "path", "label", "probs"], [["1", "u", "y", "[0.1, 0.9]"]])
    with pytest.raises(ImportProblem, match="3 classes|2 probability"):
        import_predictions(src, tmp_path / "p.labeler.db", classes=["x", "y", "z"])


# ---------------------------------------------------------------------------------------------
# exact strings


def test_parquet_numbers_and_nulls(tmp_path):
    src = tmp_path / "p.parquet"
    table = pa.table({
        "id": pa.array([1, 2, 3], pa.int64()),
        "path": ["a", "b", "c"],
        "label": pa.array([1.0, None, 3.0], pa.float64()),
        "pred": pa.array([1.0, 2.0, 1.0], pa.float64()),
    })
    pq.write_table(table, src)
    db = tmp_path / "p.labeler.db"
    s = import_predictions(src, db)
    ex = examples(db)
    assert list(ex) == ["1", "2", "3"]
    # a null label is an unlabeled example, not a class called "nan"
    assert ex["2"]["label"] is None
    assert s.unlabeled == 1
    assert "nan" not in classes_of(db)
    assert classes_of(db) == ["1.0", "2.0", "3.0"]


def test_jsonl_types(tmp_path, write_text):
    lines = [
        '{"id": 1.0, "path": "a", "label": 3, "pred": 3, "flag": true, "n": null}',
        '{"id": "000123", "path": "b", "label": "None", "pred": 3}',
    ]
    src = write_text("p.jsonl", "\n".join(lines) + "\n")
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    ex = examples(db)
    assert list(ex) == ["1.0", "000123"]
    assert ex["000123"]["label"] == "None"
    assert ex["1.0"]["label"] == "3"


def test_read_table_keeps_strings_exact(write_csv):
    src = write_csv("p.csv", ["id", "label"], [["000123", "NA"], ["1.0", "null"], ["1e3", ""]])
    t = read_table(src)
    assert t.frame["id"].tolist() == ["000123", "1.0", "1e3"]
    assert t.frame["label"].tolist() == ["NA", "null", ""]


# ---------------------------------------------------------------------------------------------
# re-import


def _review(db, eid, **kw):
    from labeler.core.store import Decision

    with Project.open(db) as p:
        before = p.decision(eid)
        p.write_decision(eid, before, Decision(reviewed=True, **kw), "test")


def test_reimport_same_file_duplicates_nothing_and_keeps_reviews(tmp_path, write_csv):
    src = write_csv("p.csv", HEAD, ROWS)
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    _review(db, "a1", label="dog", note="n1")
    before = snapshot(db)
    s = import_predictions(src, db)
    assert s.added == 0 and s.updated == 3 and s.removed == []
    after = snapshot(db)
    assert after["columnar"] == before["columnar"]
    assert after["decisions"] == before["decisions"]
    assert after["events"] == before["events"]
    with Project.open(db, readonly=True) as p:
        assert p.example_count() == 3
        assert p.decision("a1").label == "dog" and p.decision("a1").note == "n1"


def test_reimport_updated_predictions(tmp_path, write_csv):
    db = tmp_path / "p.labeler.db"
    import_predictions(write_csv("v1.csv", HEAD, ROWS), db)
    _review(db, "a1", label="dog")
    _review(db, "a3", tags=frozenset({"very hard"}))
    new_rows = [["a1", "x.png", "cat", "cat"], ["a2", "y.png", "dog", "cat"], ["a4", "w.png", "dog", "dog"]]
    s = import_predictions(write_csv("v2.csv", HEAD, new_rows), db)
    assert s.removed == ["a3"] and s.removed_with_reviews == 1
    assert s.added == 1 and s.updated == 2
    assert any("a3" in line for line in s.lines())
    ex = examples(db)
    assert list(ex) == ["a1", "a2", "a4"]
    assert ex["a1"]["pred"] == "cat" and ex["a1"]["wrong"] == 0
    assert ex["a2"]["pred"] == "cat" and ex["a2"]["wrong"] == 1
    with Project.open(db, readonly=True) as p:
        assert p.decision("a1").label == "dog"
        # the review of the removed example is kept
        assert p.decision("a3").tags == frozenset({"very hard"})


def test_summary_reports_unlabeled_and_splits(tmp_path, write_csv):
    src = write_csv("p.csv", HEAD + ["split"], [["1", "a", "", "x", "dev"], ["2", "a", "x", "x", "test"],
                                                 ["3", "a", "y", "x", "dev"]])
    s = import_predictions(src, tmp_path / "p.labeler.db")
    assert s.unlabeled == 1
    assert s.splits == {"dev": 2, "test": 1}
    assert s.rows == 3
    assert any("no label" in line for line in s.lines())


# ---------------------------------------------------------------------------------------------
# found while testing


def test_a_scores_column_next_to_per_class_probabilities_is_metadata(tmp_path, write_csv):
    src = write_csv("p.csv", ["id", "path", "label", "scores", "p_x", "p_y"],
                    [["1", "a", "x", "0.3", "0.9", "0.1"], ["2", "b", "y", "0.4", "0.8", "0.2"]])
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    ex = examples(db)
    assert ex["2"]["pred"] == "x" and ex["2"]["wrong"] == 1 and ex["2"]["p_label"] == pytest.approx(0.2)
    assert json.loads(ex["2"]["meta"]) == {"scores": "0.4"}


def test_upper_case_gz_extension(tmp_path, write_text):
    src = write_text("P.CSV.GZ", gzip.compress(("\n".join(",".join(r) for r in [HEAD, *ROWS]) + "\n").encode()))
    import_predictions(src, tmp_path / "p.labeler.db")
    _expect_basic(tmp_path / "p.labeler.db")


def test_header_wider_than_the_first_read(tmp_path, write_text):
    k = 9000  # ~117 kB of header
    names = [f"class{j:05d}" for j in range(k)]
    header = "id,path,label," + ",".join(f"p_{n}" for n in names)
    row = "1,a,class00002," + ",".join("1" if j == 7 else "0" for j in range(k))
    assert len(header) > 1 << 16  # more than the 64 kB read first
    src = write_text("wide.csv", header + "\n" + row + "\n")
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    assert classes_of(db) == names
    e = examples(db)["1"]
    assert e["pred"] == "class00007" and e["wrong"] == 1


def test_class_list_naming_a_class_twice(tmp_path, write_csv):
    src = write_csv("p.csv", HEAD, ROWS)
    with pytest.raises(ImportProblem, match="'cat'"):
        import_predictions(src, tmp_path / "p.labeler.db", classes=["cat", "dog", "cat"])
    assert project_files(tmp_path) == []


def test_metadata_with_line_separators_stays_on_its_row(tmp_path, write_csv):
    odd = ["one\u2028two", "fo\x85ur", "page\x0cbreak", "multi\nline", "tab\there", 'say "hi"', "\u00e9\U0001F600"]
    rows = [[str(i), f"{i}.png", "x", "y" if i % 2 else "x", v] for i, v in enumerate(odd)]
    src = write_csv("p.csv", HEAD + ["note"], rows)
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    ex = examples(db)
    assert [json.loads(ex[str(i)]["meta"]) for i in range(len(odd))] == [{"note": v} for v in odd]
    assert [ex[str(i)]["path"] for i in range(len(odd))] == [f"{i}.png" for i in range(len(odd))]


@pytest.mark.parametrize("gz", [False, True])
def test_quoted_line_breaks_across_parse_blocks(tmp_path, monkeypatch, gz):
    """Blocks are parsed in parallel, cut at line breaks; a cut inside a quoted value must not
    shift or split a row (the reader falls back to record-aware cuts)."""
    import csv
    import gzip

    monkeypatch.setattr(delimited, "CSV_BLOCK_BYTES", 64)
    rows = [[str(i), f"line {i}\nnext, \"q\"\n" if i % 3 == 0 else f"t{i}", "a" if i % 2 else "b", "a"] for i in range(200)]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([["id", "text", "label", "pred"], *rows])
    src = tmp_path / ("p.csv.gz" if gz else "p.csv")
    src.write_bytes(gzip.compress(buf.getvalue().encode()) if gz else buf.getvalue().encode())
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    got = examples(db)
    assert list(got) == [r[0] for r in rows]
    assert [(e["text"], e["label"]) for e in got.values()] == [(r[1], r[2]) for r in rows]


def test_parquet_probabilities_over_row_groups_are_stored_exactly(tmp_path):
    """Arrow reads each row group as its own chunk: the chunks line up in the stored matrix, the
    derived figures and the item panel's top-k, float32 columns widened exactly."""
    rng = np.random.default_rng(11)
    n, k = 57, 4
    probs = rng.dirichlet(np.ones(k), n).astype(np.float32)
    labels = rng.integers(0, k, n)
    table = {"id": [f"r{i:03d}" for i in range(n)], "path": ["a.png"] * n, "label": [f"c{v}" for v in labels]}
    table.update({f"p_c{j}": pa.array(probs[:, j], pa.float32()) for j in range(k)})
    src = tmp_path / "p.parquet"
    pq.write_table(pa.table(table), src, row_group_size=10)
    db = tmp_path / "p.labeler.db"
    import_predictions(src, db)
    want = probs.astype(np.float64)
    with Project.open(db, readonly=True) as p:
        assert np.array_equal(p.probabilities(), want)
        ex = p.examples_table().to_pylist()
        for i in (0, 9, 10, 33, 56):
            assert ex[i]["confidence"] == want[i].max()
            assert ex[i]["p_label"] == want[i, labels[i]]
            assert ex[i]["pred"] == f"c{int(np.argmax(want[i]))}"
            top = sorted(range(k), key=lambda c: (-want[i, c], c))[:k]
            assert p.example_at(i)["topk"] == [[c, want[i, c]] for c in top]
