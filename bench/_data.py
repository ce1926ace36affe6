"""Synthetic prediction files for the benchmarks, made in a temporary folder (never in the repo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def predictions_frame(rows: int, classes: int = 10, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, rows)
    logits = rng.normal(0, 1, (rows, classes))
    logits[np.arange(rows), labels] += 2.5
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    split = rng.choice(np.array(["train", "dev", "test"]), rows, p=[0.8, 0.1, 0.1])
    df = pd.DataFrame({
        "id": [f"ex{i:07d}" for i in range(rows)],
        "path": [f"images/{i % 1000:03d}/{i:07d}.jpg" for i in range(rows)],
        "split": split,
        "label": [f"class_{c}" for c in labels],
        "pred": [f"class_{c}" for c in probs.argmax(axis=1)],
    })
    probs_df = pd.DataFrame(probs, columns=[f"p_class_{k}" for k in range(classes)])
    return pd.concat([df, probs_df], axis=1)


def write_predictions_csv(folder: Path, rows: int, classes: int = 10) -> Path:
    path = folder / f"predictions_{rows}_{classes}.csv"
    if not path.exists():
        import pyarrow as pa
        import pyarrow.csv as pacsv

        pacsv.write_csv(pa.Table.from_pandas(predictions_frame(rows, classes), preserve_index=False), path)
    return path
