"""The command line: help everywhere, and the JSON of summary, queue and confusion checked against
pandas on the sample CSV (and a Wilson interval written here).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import DIGITS, DIGITS_CLASSES, DIGITS_CSV, ROOT
from labeler.cli import main
from labeler.core.store import Decision, Project


@pytest.fixture(scope="module")
def csv():
    df = pd.read_csv(DIGITS_CSV, dtype=str, keep_default_na=False)
    probs = df[[f"p_{k}" for k in range(10)]].astype(float).to_numpy()
    df["p_given"] = probs[np.arange(len(df)), df["label"].astype(int).to_numpy()]
    df["conf"] = probs.max(axis=1)
    df["loss"] = -np.log(df["p_given"])
    df["wrong"] = df["label"] != df["pred"]
    return df


def run(*args: str, ok: bool = True):
    r = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert r.exit_code == 0, r.output + repr(r.exception)
    return r


# ---------------------------------------------------------------------------------------------
# help


def test_every_command_has_help():
    r = run("--help")
    assert "Usage" in r.output
    names = sorted(main.commands)
    assert {"import", "summary", "queue", "confusion", "review"} <= set(names)
    for name in names:
        assert name in r.output
        sub = run(name, "--help")
        assert "Usage" in sub.output and name in sub.output


def test_help_from_the_installed_script_and_python_m():
    exe = Path(sys.executable).with_name("labeler")
    cmds = [[sys.executable, "-m", "labeler", "--help"]]
    if exe.exists():
        cmds.append([str(exe), "--help"])
    else:
        assert shutil.which("labeler"), "the labeler console script is not installed"
        cmds.append([shutil.which("labeler"), "--help"])
    for cmd in cmds:
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "Usage" in r.stdout and "import" in r.stdout and "queue" in r.stdout


# ---------------------------------------------------------------------------------------------
# import


def test_import_with_options(tmp_path):
    src = tmp_path / "preds.tsv"
    src.write_text("key\tfile\ttruth\tguess\nk1\ta.png\tcat\tdog\nk2\tb.png\tdog\tdog\n", encoding="utf-8")
    tax = tmp_path / "tax.txt"
    tax.write_text("blurry\noccluded\n", encoding="utf-8")
    db = tmp_path / "x.labeler.db"
    r = run("import", src, "--project", db, "-c", "id=key", "--column", "label=truth", "-c", "pred=guess",
            "--classes", "dog,cat", "--split", "train", "--taxonomy", tax)
    assert "Imported 2 examples" in r.output and "train 2" in r.output
    with Project.open(db, readonly=True) as p:
        assert p.classes == ["dog", "cat"]
        assert p.error_types() == ["blurry", "occluded"]
        assert p.example("k1")["split"] == "train" and p.example("k1")["wrong"] == 1


def test_import_default_project_path_and_bad_column_option(tmp_path):
    src = tmp_path / "preds.csv"
    src.write_text("id,path,label,pred\n1,a,x,y\n", encoding="utf-8")
    r = run("import", src, "--column", "labeltruth", ok=False)
    assert r.exit_code != 0 and "ROLE=NAME" in r.output
    assert not (tmp_path / "preds.labeler.db").exists()
    run("import", src)
    assert (tmp_path / "preds.labeler.db").is_file()


def test_import_into_a_project_open_elsewhere_is_refused(digits_project):
    with Project.open(digits_project):
        r = run("import", DIGITS_CSV, "--project", digits_project, ok=False)
    assert r.exit_code != 0 and "another labeler" in r.output


# ---------------------------------------------------------------------------------------------
# summary


def wilson(k: int, n: int, z: float = 1.959963984540054) -> list[float]:
    """Roots of (n + z^2) p^2 - (2k + z^2) p + k^2/n = 0."""
    a, b, c = n + z * z, -(2 * k + z * z), k * k / n
    d = math.sqrt(b * b - 4 * a * c)
    return [(-b - d) / (2 * a), (-b + d) / (2 * a)]


def test_summary_json(digits_project, csv):
    out = json.loads(run("summary", "--project", digits_project, "--json").output)
    assert {"classes", "splits", "diagnosis"} <= set(out)
    assert out["classes"] == DIGITS_CLASSES
    assert set(out["splits"]) == {"train", "dev", "test"}
    for split, part in csv.groupby("split"):
        n, k = len(part), int(part["wrong"].sum())
        d = out["splits"][split]
        assert set(d) == {"examples", "errors", "error_rate", "ci95"}
        assert (d["examples"], d["errors"]) == (n, k)
        assert d["error_rate"] == pytest.approx(k / n)
        assert d["ci95"] == pytest.approx(wilson(k, n))
    assert isinstance(out["diagnosis"], str) and out["diagnosis"]


def test_summary_text(digits_project):
    out = run("summary", "--project", digits_project).output
    assert "10.86%" in out  # 39 / 359
    assert "12.15%" in out and "3.06%" in out


def test_summary_finds_the_project_in_the_working_directory(digits_project, monkeypatch, tmp_path):
    monkeypatch.chdir(digits_project.parent)
    assert json.loads(run("summary", "--json").output)["splits"]["dev"]["errors"] == 39
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    r = run("summary", ok=False)
    assert r.exit_code != 0 and "--project" in r.output


def test_summary_of_a_broken_project(tmp_path):
    bad = tmp_path / "bad.labeler.db"
    bad.write_text("not a database", encoding="utf-8")
    r = run("summary", "--project", bad, ok=False)
    assert r.exit_code != 0 and "not a labeler project" in r.output and "Traceback" not in r.output
    r = run("summary", "--project", tmp_path / "missing.labeler.db", ok=False)
    assert r.exit_code != 0 and "no project" in r.output


# ---------------------------------------------------------------------------------------------
# queue


def test_queue_json(digits_project, csv):
    items = json.loads(run("queue", "--project", digits_project, "--json").output)
    assert isinstance(items, list)
    dev_err = csv[(csv["split"] == "dev") & csv["wrong"]].set_index("id")
    assert len(items) == len(dev_err) == 39
    assert {it["id"] for it in items} == set(dev_err.index)
    for it in items:
        assert {"id", "split", "given", "predicted", "confidence", "loss"} <= set(it)
        row = dev_err.loc[it["id"]]
        assert it["split"] == "dev"
        assert (it["given"], it["predicted"]) == (row["label"], row["pred"])
        assert it["confidence"] == pytest.approx(row["conf"])
        assert it["loss"] == pytest.approx(row["loss"])
    # stable: the same order again, another order with another seed
    again = json.loads(run("queue", "--project", digits_project, "--json").output)
    assert [i["id"] for i in again] == [i["id"] for i in items]
    other = json.loads(run("queue", "--project", digits_project, "--json", "--seed", "5").output)
    assert [i["id"] for i in other] != [i["id"] for i in items]


def test_queue_orders_and_filters(digits_project, csv):
    by_loss = json.loads(run("queue", "-p", digits_project, "--json", "--order", "loss").output)
    dev_err = csv[(csv["split"] == "dev") & csv["wrong"]]
    assert [i["loss"] for i in by_loss] == pytest.approx(sorted(dev_err["loss"], reverse=True))
    by_conf = json.loads(run("queue", "-p", digits_project, "--json", "--order", "confidence").output)
    assert [i["confidence"] for i in by_conf] == pytest.approx(sorted(dev_err["conf"], reverse=True))

    base = [i["id"] for i in json.loads(run("queue", "-p", digits_project, "--json").output)]
    pair = json.loads(run("queue", "-p", digits_project, "--json", "--pair", "8,7").output)
    n87 = int(((dev_err["label"] == "8") & (dev_err["pred"] == "7")).sum())
    assert len(pair) == n87 == 5
    assert all(i["given"] == "8" and i["predicted"] == "7" for i in pair)
    assert [i["id"] for i in pair] == [i for i in base if i in {p["id"] for p in pair}]
    lab = json.loads(run("queue", "-p", digits_project, "--json", "--label", "3").output)
    assert len(lab) == int((dev_err["label"] == "3").sum()) and all(i["given"] == "3" for i in lab)
    pred = json.loads(run("queue", "-p", digits_project, "--json", "--pred", "1").output)
    assert len(pred) == int((dev_err["pred"] == "1").sum()) and all(i["predicted"] == "1" for i in pred)
    train = json.loads(run("queue", "-p", digits_project, "--json", "--split", "train").output)
    assert len(train) == int(((csv["split"] == "train") & csv["wrong"]).sum())
    limited = json.loads(run("queue", "-p", digits_project, "--json", "--limit", "4").output)
    assert [i["id"] for i in limited] == base[:4]


def test_queue_unreviewed(digits_project):
    base = [i["id"] for i in json.loads(run("queue", "-p", digits_project, "--json").output)]
    with Project.open(digits_project) as p:
        for eid in base[:3]:
            p.write_decision(eid, Decision(), Decision(reviewed=True), "reviewed")
    rest = [i["id"] for i in json.loads(run("queue", "-p", digits_project, "--json", "--unreviewed").output)]
    assert rest == base[3:]


def test_queue_test_split_needs_allow_test(digits_project, csv):
    r = run("queue", "-p", digits_project, "--split", "test", ok=False)
    assert r.exit_code != 0
    assert "--allow-test" in r.output and "test" in r.output
    items = json.loads(run("queue", "-p", digits_project, "--json", "--split", "test", "--allow-test").output)
    assert len(items) == int(((csv["split"] == "test") & csv["wrong"]).sum()) == 11


def test_queue_bad_filters(digits_project):
    r = run("queue", "-p", digits_project, "--label", "11", ok=False)
    assert r.exit_code != 0 and "'11'" in r.output
    r = run("queue", "-p", digits_project, "--pair", "87", ok=False)
    assert r.exit_code != 0 and "GIVEN,PRED" in r.output
    r = run("queue", "-p", digits_project, "--order", "height", ok=False)
    assert r.exit_code != 0


def test_queue_text(digits_project):
    out = run("queue", "-p", digits_project, "--pair", "8,7").output
    assert out.startswith("5 items")


# ---------------------------------------------------------------------------------------------
# confusion


@pytest.mark.parametrize("split", ["dev", "train", "test"])
def test_confusion_json_matches_crosstab(digits_project, csv, split):
    out = json.loads(run("confusion", "-p", digits_project, "--json", "--split", split).output)
    assert set(out) == {"classes", "matrix"}
    assert out["classes"] == DIGITS_CLASSES
    part = csv[csv["split"] == split]
    ct = pd.crosstab(part["label"], part["pred"]).reindex(index=DIGITS_CLASSES, columns=DIGITS_CLASSES, fill_value=0)
    assert out["matrix"] == ct.to_numpy().tolist()


def test_confusion_text(digits_project):
    out = run("confusion", "-p", digits_project).output.splitlines()
    assert out[0].split()[-10:] == DIGITS_CLASSES
    row8 = next(line for line in out[1:] if line.split()[0] == "8").split()[1:]
    assert row8[7] == "5"  # given 8, predicted 7: five times in dev


def test_import_with_a_bad_taxonomy_writes_nothing(tmp_path):
    src = tmp_path / "preds.csv"
    src.write_text("id,path,label,pred\n1,a,x,y\n", encoding="utf-8")
    tax = tmp_path / "tax.txt"
    tax.write_text("blurry\noccluded\nblurry\n", encoding="utf-8")
    r = run("import", src, "--taxonomy", tax, ok=False)
    assert r.exit_code != 0 and "blurry" in r.output and "tax.txt" in r.output
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)
    assert not (tmp_path / "preds.labeler.db").exists()


# ---------------------------------------------------------------------------------------------
# long work on a terminal: a progress bar on stderr, and Ctrl-C cancels


def _on_a_terminal(args: list[str], cwd: Path, interrupt_at: str | None = None) -> tuple[int, str]:
    """Run ``labeler args`` with stderr on a pseudo-terminal (stdout a pipe); send SIGINT once
    stderr shows ``interrupt_at``. Returns the exit code and all stderr."""
    import os
    import pty
    import select
    import signal

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "labeler", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen, sent = b"", False
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError(f"no output for 60 s: {seen!r}")
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if interrupt_at and not sent and interrupt_at.encode() in seen:
            proc.send_signal(signal.SIGINT)
            sent = True
    os.close(master)
    return proc.wait(timeout=60), seen.decode("utf-8", "replace")


def test_import_rank_and_export_show_a_progress_bar_on_a_terminal(tmp_path):
    shutil.copytree(DIGITS, tmp_path / "digits")
    src = tmp_path / "digits" / "predictions.csv"
    db = tmp_path / "d.labeler.db"
    code, err = _on_a_terminal(["import", str(src), "--project", str(db)], tmp_path)
    assert code == 0, err
    assert "[" + "#" * 30 + "] 100.0%" in err and "reading" in err
    code, err = _on_a_terminal(["rank", "--project", str(db)], tmp_path)
    assert code == 0, err
    assert "#" * 30 + "] 100.0%" in err
    code, err = _on_a_terminal(["export", "--project", str(db), "--out", str(tmp_path / "out")], tmp_path)
    assert code == 0, err
    assert "#" * 30 + "] 100.0%" in err
    # not a terminal: no bar in the captured stderr
    r = subprocess.run([sys.executable, "-m", "labeler", "rank", "--project", str(db)], capture_output=True,
                       text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and "#" not in r.stderr


def test_ctrl_c_cancels_an_import_and_writes_nothing(tmp_path):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    n = 600_000
    rng = np.random.default_rng(0)
    src = tmp_path / "big.csv"
    pacsv.write_csv(pa.table({"id": pa.array(np.arange(n)).cast(pa.string()), "path": ["a.png"] * n,
                              "label": rng.choice(["x", "y"], n), "pred": rng.choice(["x", "y"], n)}), src)
    code, err = _on_a_terminal(["import", str(src)], tmp_path, interrupt_at="reading")
    assert code != 0
    assert "import cancelled; nothing was written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]
