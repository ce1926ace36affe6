"""The three splits, and the names files give them (``val`` is dev, ``training`` is train, ...).
Defined once, below everything that reads a file or a project."""

SPLITS = ("train", "dev", "test")
SPLIT_VALUES = {
    "train": "train", "training": "train", "trn": "train",
    "dev": "dev", "val": "dev", "valid": "dev", "validation": "dev", "development": "dev",
    "test": "test", "testing": "test", "tst": "test",
}
