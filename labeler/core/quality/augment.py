"""Augmentations for the training set, once a weakness is found (a slice of blurry or dark images
where the model fails): OpenCV versions of the training images with blur, fog, noise, low light,
JPEG artefacts or a small rotation, written as new files plus ``augmented.csv`` (path, label,
source_id, op, params) ready to append to a training set.

Deterministic: each copy's random parameters come from a generator seeded by (seed, source id, op,
copy number) through BLAKE2b, so a seed gives the same files on any machine and in any order, and
adding images does not change the copies of the others.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..store import Project

__all__ = ["OPS", "ALIASES", "apply", "rng_for", "preview", "AugmentProblem", "AugmentResult", "augment", "parse_ops"]


class AugmentProblem(ValueError):
    """Nothing to augment, or an option that cannot be used (said in words)."""


def _gaussian_blur(img, rng):
    sigma = float(rng.uniform(1.5, 4.0))
    return cv2.GaussianBlur(img, (0, 0), sigma), {"sigma": round(sigma, 3)}


def _motion_blur(img, rng):
    length = int(rng.integers(4, 11)) * 2 + 1
    angle = float(rng.uniform(0, 180))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    kernel /= max(float(kernel.sum()), 1e-6)
    return cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT), {"length": length, "angle": round(angle, 2)}


def _fog(img, rng):
    strength = float(rng.uniform(0.35, 0.65))
    grey = float(rng.uniform(190, 235))
    h, w = img.shape[:2]
    # denser towards the top (the far distance in most photos), a little uneven
    ramp = np.linspace(1.0, 0.55, h, dtype=np.float32)[:, None]
    patches = cv2.resize(rng.uniform(0.8, 1.0, (4, 4)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    a = np.clip(strength * ramp * patches, 0, 1)[..., None]
    hazy = cv2.GaussianBlur(img, (0, 0), 1.0).astype(np.float32)
    out = hazy * (1 - a) + grey * a
    return np.clip(out, 0, 255).astype(np.uint8), {"strength": round(strength, 3), "grey": round(grey, 1)}


def _noise(img, rng):
    sigma = float(rng.uniform(8, 22))
    out = img.astype(np.float32) + rng.normal(0, sigma, img.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8), {"sigma": round(sigma, 2)}


def _low_light(img, rng):
    gamma = float(rng.uniform(1.6, 2.6))
    gain = float(rng.uniform(0.35, 0.65))
    x = (img.astype(np.float32) / 255.0) ** gamma * gain * 255.0
    x += rng.normal(0, 3.0, img.shape).astype(np.float32)  # a dark sensor is a noisy one
    return np.clip(x, 0, 255).astype(np.uint8), {"gamma": round(gamma, 3), "gain": round(gain, 3)}


def _jpeg(img, rng):
    quality = int(rng.integers(6, 26))
    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR), {"quality": quality}


def _rotate(img, rng):
    angle = float(rng.uniform(-10, 10))
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101), \
        {"angle": round(angle, 2)}


OPS: dict[str, Callable] = {
    "gaussian_blur": _gaussian_blur, "motion_blur": _motion_blur, "fog": _fog, "noise": _noise,
    "low_light": _low_light, "jpeg": _jpeg, "rotate": _rotate,
}
ALIASES = {"blur": "gaussian_blur", "haze": "fog", "dark": "low_light", "compression": "jpeg"}


def parse_ops(text: str) -> list[str]:
    """``"blur,fog"`` -> ["gaussian_blur", "fog"]; an unknown name is an :class:`AugmentProblem`."""
    names = [ALIASES.get(n.strip(), n.strip()) for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in OPS]
    if unknown or not names:
        raise AugmentProblem(f"unknown augmentation {', '.join(unknown) or '(none given)'}"
                             f" (known: {', '.join([*OPS, *ALIASES])})")
    return list(dict.fromkeys(names))


def rng_for(seed: int, source_id: str, op: str, k: int) -> np.random.Generator:
    digest = hashlib.blake2b(f"{seed}\x00{source_id}\x00{op}\x00{k}".encode("utf-8"), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def apply(img: np.ndarray, op: str, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """``img`` (B, G, R uint8) under ``op``, and the parameters drawn for it."""
    return OPS[op](img, rng)


def preview(img: np.ndarray, *, seed: int = 0, source_id: str = "") -> list[tuple[str, np.ndarray, dict]]:
    """Every augmentation of one image, as ``augment`` would make its first copy."""
    return [(op, *apply(img, op, rng_for(seed, source_id, op, 0))) for op in OPS]


@dataclass
class AugmentResult:
    out_dir: Path
    sources: int = 0
    written: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # source id -> why it could not be read

    def lines(self) -> list[str]:
        out = [f"{self.written} augmented images of {self.sources} training examples in {self.out_dir}"
               f" (listed in {self.out_dir / 'augmented.csv'})"]
        if self.failed:
            out.append(f"{len(self.failed)} could not be read: " + ", ".join(list(self.failed)[:10]))
        return out


def _matching(project: Project, slice_name: str | None, category: str | None, split: str) -> list[int]:
    """Positions of the ``split`` examples (with an image) in the slice or the category."""
    table = project.examples_table()
    if slice_name is not None:
        from .slices import compute

        found = compute(project, split).get(slice_name)
        if found is None:
            raise AugmentProblem(f"no slice {slice_name!r} in the {split} split (see `labeler slices --split {split}`)")
        rows = found.rows.tolist()
    else:
        splits = table.column("split").to_pylist()
        if category in project.classes:
            labels = table.column("label").to_pylist()
            rows = [i for i, (s, lab) in enumerate(zip(splits, labels)) if s == split and lab == category]
        elif category in project.error_types():
            tagged = {eid for eid, d in project.decisions().items() if category in d.error_types}
            ids = table.column("id").to_pylist()
            rows = [i for i, (s, eid) in enumerate(zip(splits, ids)) if s == split and eid in tagged]
        else:
            raise AugmentProblem(f"{category!r} is neither a class nor an error type of this project")
    paths = table.column("path")
    return [i for i in rows if paths[i].as_py()]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80] or "x"


def augment(project: Project, out_dir: str | os.PathLike, *, ops: list[str], slice_name: str | None = None,
            category: str | None = None, per_image: int = 1, seed: int = 0, split: str = "train",
            progress: Callable[[int, int], None] | None = None) -> AugmentResult:
    """Write ``per_image`` copies under each of ``ops`` of the ``split`` examples in the slice
    ``slice_name`` (see :mod:`.slices`) or of the class or error type ``category``, as PNG files in
    ``out_dir/images``, and ``out_dir/augmented.csv`` (written last, whole or not at all)."""
    if (slice_name is None) == (category is None):
        raise AugmentProblem("give a slice or a category (one of them)")
    if per_image < 1:
        raise AugmentProblem("--per-image must be at least 1")
    rows = _matching(project, slice_name, category, split)
    if not rows:
        raise AugmentProblem(f"no {split} examples with an image in {slice_name or category!r}")
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    table = project.examples_table()
    result = AugmentResult(out_dir)
    lines = []
    for n, i in enumerate(rows):
        ex = table.slice(i, 1).to_pylist()[0]
        path = project.resolve(ex["path"])
        try:
            img = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)
        except (OSError, ValueError, cv2.error):
            img = None
        if img is None:
            result.failed[ex["id"]] = "cannot read the image"
            continue
        result.sources += 1
        for op in ops:
            for k in range(per_image):
                out, params = apply(img, op, rng_for(seed, ex["id"], op, k))
                name = f"images/{_safe(ex['id'])}__{op}_{k}.png"
                ok, data = cv2.imencode(".png", out)
                (out_dir / name).write_bytes(data.tobytes())
                lines.append([name, ex["label"] or "", ex["id"], op, json.dumps(params, sort_keys=True)])
                result.written += 1
        if progress is not None:
            progress(n + 1, len(rows))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "label", "source_id", "op", "params"])
    w.writerows(lines)
    tmp = out_dir / ".augmented.csv.tmp"
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, out_dir / "augmented.csv")
    return result
