"""Augmentations: deterministic for a seed, each op doing what it says (measured with the scan's
own properties), and `augment` writing the matching training examples and augmented.csv."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from labeler.core.importer import import_predictions
from labeler.core.quality import augment as augmod
from labeler.core.quality import scan as scanmod
from labeler.core.store import Project
from quality_data import scene, write_dataset


def _props(img):
    return scanmod.properties(scanmod.working_image(img))


def test_each_op_changes_the_image_as_named():
    img = scene(11)
    base = _props(img)
    out = {op: augmod.apply(img, op, augmod.rng_for(0, "a", op, 0)) for op in augmod.OPS}
    for op, (pixels, params) in out.items():
        assert pixels.shape == img.shape and pixels.dtype == np.uint8, op
        assert params and json.dumps(params), op
        assert not np.array_equal(pixels, img), op
    ratio = lambda p: p["sharpness"] / p["contrast"] ** 2
    assert ratio(_props(out["gaussian_blur"][0])) < ratio(base) / 4
    assert ratio(_props(out["motion_blur"][0])) < ratio(base) / 2
    assert _props(out["low_light"][0])["brightness"] < base["brightness"] * 0.5
    fog = _props(out["fog"][0])
    assert fog["contrast"] < base["contrast"] * 0.8 and fog["brightness"] > base["brightness"]
    noisy, params = out["noise"]
    assert np.std(noisy.astype(float) - img) == pytest.approx(params["sigma"], rel=0.15)
    assert 6 <= out["jpeg"][1]["quality"] <= 25 and -10 <= out["rotate"][1]["angle"] <= 10


def test_same_seed_same_pixels_other_seed_others():
    img = scene(12)
    for op in augmod.OPS:
        a, pa = augmod.apply(img, op, augmod.rng_for(7, "x1", op, 0))
        b, pb = augmod.apply(img, op, augmod.rng_for(7, "x1", op, 0))
        c, pc = augmod.apply(img, op, augmod.rng_for(8, "x1", op, 0))
        assert np.array_equal(a, b) and pa == pb, op
        assert not np.array_equal(a, c), op


def test_parse_ops():
    assert augmod.parse_ops("blur, fog,blur") == ["gaussian_blur", "fog"]
    with pytest.raises(augmod.AugmentProblem, match="unknown augmentation sepia"):
        augmod.parse_ops("blur,sepia")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("augment")
    csv_path, problems = write_dataset(folder / "data", n=40)
    path = folder / "p.labeler.db"
    import_predictions(csv_path, path)
    with Project.open(path) as p:
        scanmod.scan(p)
    return path, problems


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_augment_a_slice_is_deterministic(project, tmp_path):
    path, problems = project
    with Project.open(path, readonly=True) as p:
        first = augmod.augment(p, tmp_path / "a", ops=["gaussian_blur", "fog"], slice_name="dark", per_image=2, seed=3)
        again = augmod.augment(p, tmp_path / "b", ops=["gaussian_blur", "fog"], slice_name="dark", per_image=2, seed=3)
        other = augmod.augment(p, tmp_path / "c", ops=["gaussian_blur", "fog"], slice_name="dark", per_image=2, seed=4)
        ids = p.examples_table().column("id").to_pylist()
        splits = dict(zip(ids, p.examples_table().column("split").to_pylist()))
        labels = dict(zip(ids, p.examples_table().column("label").to_pylist()))
    dark_train = {i for i in problems["dark"] if splits[i] == "train"}
    assert first.sources == len(dark_train) > 0 and first.written == 4 * len(dark_train)
    rows = _read(tmp_path / "a" / "augmented.csv")
    assert {r["source_id"] for r in rows} == dark_train
    assert all(r["label"] == labels[r["source_id"]] for r in rows)
    assert sorted({r["op"] for r in rows}) == ["fog", "gaussian_blur"]
    assert all((tmp_path / "a" / r["path"]).is_file() for r in rows)
    assert (tmp_path / "a" / "augmented.csv").read_bytes() == (tmp_path / "b" / "augmented.csv").read_bytes()
    for r in rows:
        assert (tmp_path / "a" / r["path"]).read_bytes() == (tmp_path / "b" / r["path"]).read_bytes()
    assert (tmp_path / "a" / "augmented.csv").read_bytes() != (tmp_path / "c" / "augmented.csv").read_bytes()
    # the copies of one image follow from its own seed: the same whatever else is augmented
    blurred = augmod.apply(cv2.imread(str(path.parent / "data" / "images" / f"{sorted(dark_train)[0]}.png"))
                           if sorted(dark_train)[0][-1] in "02468" else
                           cv2.imread(str(path.parent / "data" / "images" / f"{sorted(dark_train)[0]}.jpg")),
                           "gaussian_blur", augmod.rng_for(3, sorted(dark_train)[0], "gaussian_blur", 1))[0]
    stored = cv2.imread(str(tmp_path / "a" / "images" / f"{sorted(dark_train)[0]}__gaussian_blur_1.png"))
    assert np.array_equal(blurred, stored)


def test_augment_a_class_and_bad_requests(project, tmp_path):
    path, _ = project
    with Project.open(path, readonly=True) as p:
        r = augmod.augment(p, tmp_path / "cls", ops=["rotate"], category="cat")
        n_cat = sum(1 for s, lab in zip(p.examples_table().column("split").to_pylist(),
                                        p.examples_table().column("label").to_pylist()) if s == "train" and lab == "cat")
        assert r.written == r.sources == n_cat
        with pytest.raises(augmod.AugmentProblem, match="neither a class nor an error type"):
            augmod.augment(p, tmp_path / "x", ops=["rotate"], category="zebra")
        with pytest.raises(augmod.AugmentProblem, match="no slice"):
            augmod.augment(p, tmp_path / "x", ops=["rotate"], slice_name="nope")
        with pytest.raises(augmod.AugmentProblem, match="one of them"):
            augmod.augment(p, tmp_path / "x", ops=["rotate"])
