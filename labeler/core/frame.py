"""The examples of a project as one in-memory table (pandas), for queues and statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .store import Project

COLUMNS = ("id", "row", "split", "label", "pred", "confidence", "loss", "wrong", "quality", "flagged", "suggested")


def load(project: Project) -> pd.DataFrame:
    cur = project.conn.execute(f"SELECT {', '.join(COLUMNS)} FROM examples ORDER BY row")
    rows = cur.fetchall()
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    for c in ("split", "label", "pred", "suggested"):
        # plain objects with None for "no value": pandas 3 would infer a string dtype and turn
        # None into NaN, and an unlabeled example's label would read as the float nan
        i = COLUMNS.index(c)
        frame[c] = pd.Series([r[i] for r in rows], dtype=object, index=frame.index)
    frame["wrong"] = frame["wrong"].astype(bool)
    for c in ("confidence", "loss", "quality"):
        frame[c] = frame[c].astype(np.float64)
    return frame
