"""The shipped sample data (sample_data/digits) is consistent and regenerates byte for byte.

The consistency checks use only the standard library; the regeneration test needs scikit-learn,
numpy and Pillow and is skipped without them.
"""

from __future__ import annotations

import csv
import hashlib
import struct
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "sample_data" / "digits"
SCRIPT = ROOT / "scripts" / "make_sample_data.py"
CLASSES = [str(k) for k in range(10)]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def header(name: str) -> list[str]:
    with (DATA / name).open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle))


@pytest.fixture(scope="module")
def predictions() -> dict[str, dict[str, str]]:
    return {row["id"]: row for row in read_rows("predictions.csv")}


def test_predictions_columns_and_rows(predictions):
    assert header("predictions.csv") == ["id", "path", "split", "label", "pred"] + [
        f"p_{c}" for c in CLASSES
    ]
    assert len(predictions) == 1797
    assert list(predictions) == sorted(predictions)
    assert list(predictions) == [f"d{i:04d}" for i in range(1797)]
    splits = {}
    for row in predictions.values():
        splits[row["split"]] = splits.get(row["split"], 0) + 1
        assert row["label"] in CLASSES and row["pred"] in CLASSES
    assert set(splits) == {"train", "dev", "test"}
    # ~60/20/20
    assert 0.55 < splits["train"] / 1797 < 0.65
    assert 0.15 < splits["dev"] / 1797 < 0.25
    assert 0.15 < splits["test"] / 1797 < 0.25


def test_probabilities_sum_to_one_and_pred_is_argmax(predictions):
    for row in predictions.values():
        probs = [float(row[f"p_{c}"]) for c in CLASSES]
        assert all(0.0 <= p <= 1.0 for p in probs), row["id"]
        assert abs(sum(probs) - 1.0) <= 1e-3, row["id"]
        assert row["pred"] == CLASSES[probs.index(max(probs))], row["id"]


def test_every_image_exists_and_is_an_8x8_grayscale_png(predictions):
    for row in predictions.values():
        assert row["path"] == f"images/{row['id']}.png"
        data = (DATA / row["path"]).read_bytes()
        assert data[:8] == PNG_SIGNATURE, row["path"]
        length, chunk = struct.unpack(">I4s", data[8:16])
        assert chunk == b"IHDR" and length == 13, row["path"]
        width, height, bit_depth, color_type = struct.unpack(">IIBB", data[16:26])
        assert (width, height, bit_depth, color_type) == (8, 8, 8, 0), row["path"]
    shipped = sorted(p.name for p in (DATA / "images").iterdir())
    assert shipped == sorted(f"{i}.png" for i in predictions)


def test_noise_records_real_label_flips(predictions):
    assert header("noise.csv") == ["id", "split", "true_label", "given_label"]
    noise = read_rows("noise.csv")
    assert noise, "no injected noise recorded"
    assert [r["id"] for r in noise] == sorted(r["id"] for r in noise)
    counts = {"train": 0, "dev": 0}
    for row in noise:
        example = predictions[row["id"]]
        assert row["split"] == example["split"] and row["split"] in counts
        assert row["given_label"] == example["label"]
        assert row["true_label"] in CLASSES and row["true_label"] != row["given_label"]
        counts[row["split"]] += 1
    for split, n_noisy in counts.items():
        n = sum(r["split"] == split for r in predictions.values())
        assert 0.04 < n_noisy / n < 0.08, (split, n_noisy, n)


def test_train_manifest_matches_train_rows(predictions):
    assert header("train.csv")[:3] == ["id", "path", "label"]
    train = read_rows("train.csv")
    expected = [
        (r["id"], r["path"], r["label"]) for r in predictions.values() if r["split"] == "train"
    ]
    assert [(r["id"], r["path"], r["label"]) for r in train] == expected


def test_taxonomy_is_one_error_type_per_line():
    lines = (DATA / "taxonomy.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 5
    assert all(line.strip() == line and line for line in lines)
    assert len(set(lines)) == len(lines)


def test_checksums_match_shipped_files():
    entries = (DATA / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    assert len(entries) == 1797 + 4
    for entry in entries:
        digest, name = entry.split("  ", 1)
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


def test_total_size_is_small():
    # what ships: a project someone made beside the sample (and its backups) is not part of it
    total = sum(p.stat().st_size for p in DATA.rglob("*")
                if p.is_file() and ".labeler.db" not in p.relative_to(DATA).as_posix())
    assert total < 2_000_000


def _recorded_versions() -> dict[str, str]:
    """The library versions the shipped files were made with (the sample README says)."""
    text = (DATA / "README.md").read_text(encoding="utf-8")
    m = re.search(r"Made with numpy (\S+), scikit-learn (\S+) and Pillow (\S+?);", text)
    assert m, "the sample README names the versions it was made with"
    return {"numpy": m.group(1), "scikit-learn": m.group(2), "pillow": m.group(3)}


def test_script_regenerates_the_shipped_files(tmp_path):
    """Byte for byte with the versions the files were made with; with other versions (a newer
    scikit-learn can round a probability differently) the same rows, labels, noise and pixels, and
    probabilities equal to 1e-4."""
    pytest.importorskip("sklearn")
    pytest.importorskip("PIL")
    from importlib.metadata import version

    import numpy as np
    import pandas as pd
    from PIL import Image

    out = tmp_path / "digits"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "dev" in result.stdout
    same_versions = _recorded_versions() == {k: version(k) for k in ("numpy", "scikit-learn", "pillow")}
    if same_versions:
        for name in ["predictions.csv", "noise.csv", "train.csv", "taxonomy.txt", "SHA256SUMS"]:
            assert (out / name).read_bytes() == (DATA / name).read_bytes(), name
    else:
        for name in ["noise.csv", "train.csv", "taxonomy.txt"]:
            assert (out / name).read_bytes() == (DATA / name).read_bytes(), name
        new = pd.read_csv(out / "predictions.csv", dtype=str, keep_default_na=False)
        old = pd.read_csv(DATA / "predictions.csv", dtype=str, keep_default_na=False)
        assert new[["id", "path", "split", "label"]].equals(old[["id", "path", "split", "label"]])
        p_cols = [c for c in old.columns if c.startswith("p_")]
        assert np.abs(new[p_cols].astype(float).to_numpy() - old[p_cols].astype(float).to_numpy()).max() < 1e-4
    for i in [0, 1, 7, 100, 999, 1796]:
        name = f"images/d{i:04d}.png"
        if same_versions:
            assert (out / name).read_bytes() == (DATA / name).read_bytes(), name
        else:
            assert np.array_equal(np.asarray(Image.open(out / name)), np.asarray(Image.open(DATA / name))), name
