"""labeler.core imports no Qt (and nothing from the GUI or the CLI).

Both checks run in a subprocess: pytest-qt has loaded Qt into this process already.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHECK = r"""
import importlib, pkgutil, sys
import labeler.core
names = sorted(m.name for m in pkgutil.walk_packages(labeler.core.__path__, "labeler.core."))  # subpackages too
for name in names[: int(sys.argv[1]) if len(sys.argv) > 1 else None]:
    importlib.import_module(name)
assert "labeler.core.importer" in names and "labeler.core.session" in names, names
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6", "PyQt5", "PyQt6")
             or m.startswith(("labeler.gui", "labeler.cli")))
assert not bad, bad
print(len(names), "modules")
"""


def test_core_modules_import_no_qt():
    r = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.split()[0]) >= 8  # store, columns, importer, ranking, stats, queue, frame, session...


def test_the_check_can_fail():
    """The same check, on a module that does import Qt, must fail (so the test above means something)."""
    code = "import PySide6.QtCore\n" + CHECK
    r = subprocess.run([sys.executable, "-c", code, "1"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode != 0 and "PySide6" in r.stderr


def _linter_config(tmp_path: Path) -> Path:
    """pyproject's import-linter contracts, with include_external_packages (needed to forbid PySide6)."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    assert any("PySide6" in c.get("forbidden_modules", []) for c in cfg["contracts"])

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return '"' + str(v).replace('"', '\\"') + '"'

    top = {k: v for k, v in cfg.items() if k != "contracts"}
    top["include_external_packages"] = True
    lines = ["[tool.importlinter]"] + [f"{k} = {val(v)}" for k, v in top.items()]
    for c in cfg["contracts"]:  # (each contract its own table: several of them must not merge)
        lines.append("[[tool.importlinter.contracts]]")
        lines += [f"{k} = {val(v)}" for k, v in c.items()]
    path = tmp_path / "importlinter.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_lint_imports_contracts_kept(tmp_path):
    exe = Path(sys.executable).with_name("lint-imports")
    assert exe.exists(), "import-linter is a dev dependency"
    r = subprocess.run([str(exe), str(_linter_config(tmp_path))], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "broken" in r.stdout and "0 broken" in r.stdout
    assert f"{len(_contracts())} kept" in r.stdout, r.stdout[-3000:]


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]


def test_store_and_backup_import_no_cycle_contract():
    """The store calls the backups when a project closes; the backups must never import the store
    (they are handed a path and a connection), and the crash-safety module sits below both."""
    layers = [c["layers"] for c in _contracts() if c["type"] == "layers"]
    assert ["labeler.core.store", "labeler.core.backup", "labeler.core.fileops", "labeler.core.problems"] in layers
    code = ("import sys, labeler.core.backup, labeler.core.fileops;"
            " assert 'labeler.core.store' not in sys.modules, 'backup or fileops imports the store'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
