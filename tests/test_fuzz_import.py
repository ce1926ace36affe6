"""Fuzzing the importer (issue 13): hypothesis mutates the bytes of sound CSV, JSONL, gzip (of both)
and Parquet prediction files (bytes flipped, cut, dropped, repeated, inserted; for gzip also the
text inside, compressed again) and imports each result, into a new project and into an existing one.

Every outcome must be a success (the project then opens and passes SQLite's integrity check) or an
:class:`ImportProblem` whose message names the file; never another exception, and a refused import
writes nothing: no project, no scratch or lock file left beside it, an existing project unchanged.

``LABELER_FUZZ_EXAMPLES`` sets the examples per format (default 40; the run recorded in
docs/reliability.md used 1500).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from labeler.core.importer import import_predictions  # noqa: E402
from labeler.core.problems import ImportProblem  # noqa: E402
from labeler.core.store import Project  # noqa: E402

EXAMPLES = int(os.environ.get("LABELER_FUZZ_EXAMPLES", "40"))
CLASSES = ["cat", "dog", "NA"]


def _frame(n: int = 24) -> pd.DataFrame:
    rows = []
    for i in range(n):
        p = [0.2, 0.3, 0.5] if i % 3 else [0.7, 0.2, 0.1]
        rows.append({"id": f"{i:03d}", "path": f"img/{i}.png", "label": CLASSES[i % 3],
                     "pred": CLASSES[p.index(max(p))], "split": ["train", "dev", "test"][i % 3],
                     **{f"p_{c}": p[k] for k, c in enumerate(CLASSES)}, "note": f"row, {i} \"q\""})
    return pd.DataFrame(rows)


def _seeds() -> dict[str, bytes]:
    df = _frame()
    csv_bytes = df.to_csv(index=False).encode()
    jsonl_bytes = df.to_json(orient="records", lines=True).encode()
    buf = io.BytesIO()
    df.to_parquet(buf)
    return {"preds.csv": csv_bytes, "preds.jsonl": jsonl_bytes, "preds.csv.gz": gzip.compress(csv_bytes, mtime=0),
            "preds.jsonl.gz": gzip.compress(jsonl_bytes, mtime=0), "preds.parquet": buf.getvalue()}


SEEDS = _seeds()


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """``data`` after 1-4 edits at random places (positions drawn as fractions of the length)."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "drop", "repeat", "insert", "byte"]))
        at = int(draw(st.floats(0, 1, allow_nan=False)) * len(out))
        span = draw(st.integers(1, 64))
        if op == "flip" and out:
            out[min(at, len(out) - 1)] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del out[at:]
        elif op == "drop":
            del out[at:at + span]
        elif op == "repeat":
            out[at:at] = out[at:at + span]
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=span))
        elif op == "byte" and out:
            out[min(at, len(out) - 1)] = draw(st.sampled_from(b'",\n\r\t{}[]:\x00\xff\x1f\x8b'))
    return bytes(out)


def _files(folder: Path) -> set[str]:
    return set(os.listdir(folder))


def _content(db: Path) -> str:
    """Every row of the project, read through a connection that cannot change it."""
    conn = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
    try:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()


def _check(source: Path, project: Path, existing: str | None) -> None:
    folder = source.parent
    before = _files(folder)
    try:
        import_predictions(source, project)
    except ImportProblem as e:
        assert str(e).strip(), "an ImportProblem without a message"
        assert source.name in str(e), f"the message does not name the file: {e}"
        assert _files(folder) == before, f"a refused import left files: {_files(folder) - before}"
        if existing is not None:
            assert _content(project) == existing, "a refused import changed the existing project"
        return
    with Project.open(project, readonly=True) as p:
        assert [r[0] for r in p.conn.execute("PRAGMA integrity_check")] == ["ok"]
        assert len(p.examples_table()) > 0


@pytest.fixture(scope="module")
def existing_template(tmp_path_factory) -> tuple[Path, str]:
    """A project that already holds a sound file (another name), for imports into it."""
    folder = tmp_path_factory.mktemp("existing")
    good = folder / "first.csv"
    good.write_bytes(SEEDS["preds.csv"])
    project = folder / "p.labeler.db"
    import_predictions(good, project)
    return project, _content(project)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_mutated_bytes_import_or_are_refused_cleanly(name):
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=mutated(SEEDS[name]))
    def run(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as d:
            source = Path(d) / name
            source.write_bytes(data)
            _check(source, Path(d) / "p.labeler.db", None)

    run()


@pytest.mark.parametrize("name", ["preds.csv.gz", "preds.jsonl.gz"])
def test_mutated_text_inside_gzip(name):
    """The gzip layer stays sound, so the mutations reach the CSV/JSON parsers through it."""
    plain = gzip.decompress(SEEDS[name])

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=mutated(plain))
    def run(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as d:
            source = Path(d) / name
            source.write_bytes(gzip.compress(data, mtime=0))
            _check(source, Path(d) / "p.labeler.db", None)

    run()


@pytest.mark.parametrize("name", ["preds.csv", "preds.jsonl", "preds.parquet"])
def test_mutated_file_added_to_an_existing_project(name, existing_template):
    template, content = existing_template

    @settings(max_examples=max(10, EXAMPLES // 2), deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=mutated(SEEDS[name]))
    def run(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as d:
            project = Path(d) / "p.labeler.db"
            shutil.copyfile(template, project)
            source = Path(d) / "more" / name
            source.parent.mkdir()
            source.write_bytes(data)
            _check(source, project, content)

    run()


def test_the_seeds_themselves_import():
    """The unmutated files are sound: the fuzzing starts from files that import."""
    for name, data in SEEDS.items():
        with tempfile.TemporaryDirectory() as d:
            source = Path(d) / name
            source.write_bytes(data)
            s = import_predictions(source, Path(d) / "p.labeler.db")
            assert s.project.exists()
            with Project.open(s.project, readonly=True) as p:
                assert p.examples_table().column("id").to_pylist() == [f"{i:03d}" for i in range(24)]
