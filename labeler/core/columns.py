"""Which column of a predictions file plays which role (id, path, label, prediction, ...).

Roles are found from common column names, or set by the user (``--column ROLE=NAME``).
Probabilities come as one column per class (``p_cat``, ``prob_cat``, ``proba_cat``) or as one list column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ROLES = ("id", "path", "text", "label", "pred", "confidence", "split", "probs")

ROLE_DESCRIPTIONS = {
    "id": "example id",
    "path": "image path",
    "text": "example text",
    "label": "given label",
    "pred": "predicted label",
    "confidence": "confidence of the prediction",
    "split": "train/dev/test split",
    "probs": "list of class probabilities",
}

# Names are compared after lower-casing and turning spaces and dashes into underscores.
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "id": ("id", "sample_id", "example_id", "uid", "uuid", "image_id", "img_id", "item_id", "key"),
    "path": ("path", "filepath", "file_path", "file", "filename", "file_name", "image", "image_path",
             "img", "img_path", "image_file", "imagepath", "uri", "url", "location"),
    "text": ("text", "sentence", "content", "utterance", "document", "review", "input_text"),
    "label": ("label", "labels", "ground_truth", "groundtruth", "gt", "target", "y_true", "true_label",
              "given_label", "annotation", "class", "y"),
    "pred": ("pred", "prediction", "predicted", "predicted_label", "pred_label", "y_pred",
             "predicted_class", "pred_class", "model_prediction"),
    "confidence": ("confidence", "score", "prob", "probability", "conf", "pred_score", "pred_prob",
                   "max_prob"),
    "split": ("split", "subset", "partition", "fold_name", "dataset_split"),
    "probs": ("probs", "probabilities", "proba", "probas", "scores", "pred_probs", "softmax"),
}

PROB_COLUMN = re.compile(r"^(?:p|prob|proba|probs|probability)_(.+)$", re.IGNORECASE)


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


@dataclass
class ColumnMap:
    """The columns found for each role. ``prob_columns`` maps class name -> column name, in file order."""

    roles: dict[str, str] = field(default_factory=dict)
    prob_columns: dict[str, str] = field(default_factory=dict)

    @property
    def used(self) -> set[str]:
        return set(self.roles.values()) | set(self.prob_columns.values())


def detect(columns: list[str], overrides: dict[str, str] | None = None) -> ColumnMap:
    """Assign roles to ``columns``. ``overrides`` (role -> column) win over name matching.

    Raises ``ValueError`` for an override naming an unknown role or a missing column."""
    overrides = dict(overrides or {})
    cmap = ColumnMap()
    for role, col in overrides.items():
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} in --column (roles: {', '.join(ROLES)})")
        if col not in columns:
            raise ValueError(
                f"--column {role}={col}: no column named {col!r} (columns: {', '.join(columns)})"
            )
        cmap.roles[role] = col
    taken = set(cmap.roles.values())
    normed = {c: _norm(c) for c in columns}
    for role, names in ROLE_NAMES.items():
        if role in cmap.roles:
            continue
        if role == "probs" and any(PROB_COLUMN.match(c) for c in columns if c not in taken):
            # per-class columns (p_cat, p_dog) say which class each probability is; a column that is
            # merely called "scores" or "proba" next to them is metadata, not a list of probabilities
            continue
        for name in names:  # earlier names in the list win
            hit = next((c for c in columns if normed[c] == name and c not in taken), None)
            if hit is not None:
                cmap.roles[role] = hit
                taken.add(hit)
                break
    if "probs" not in cmap.roles:
        for c in columns:
            if c in taken:
                continue
            m = PROB_COLUMN.match(c)
            if m:
                if m.group(1) in cmap.prob_columns:
                    raise ValueError(
                        f"two probability columns for class {m.group(1)!r}:"
                        f" {cmap.prob_columns[m.group(1)]!r} and {c!r}"
                    )
                cmap.prob_columns[m.group(1)] = c
    return cmap
