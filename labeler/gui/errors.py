"""What happens to an exception nobody caught (BAD_INPUTS row 35): it is written to a log file in the
app's data folder and shown in a dialog; the window keeps running.

Decisions are written by the core before a key's handler returns, so an exception after that loses
nothing; the dialog says so. Exceptions in Qt slots and overrides reach ``sys.excepthook`` (PySide6
prints them through it), exceptions in plain threads reach ``threading.excepthook``.
"""

from __future__ import annotations

import sys
import threading
import traceback
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

_state = {"showing": False, "suppressed": 0}


class _Bridge(QObject):
    # Queued: the dialog opens from the event loop, never inside the paint or slot that failed,
    # and on the GUI thread whichever thread raised.
    failed = Signal(str, str, object)


_bridge: _Bridge | None = None


def log_path() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".labeler") / "errors.log"


def log_exception(exc_type, exc, tb) -> Path | None:
    """Append the traceback to the log file; returns its path (None if it cannot be written)."""
    path = log_path()
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"--- {datetime.now().isoformat(timespec='seconds')}\n{text}\n")
        return path
    except OSError:
        return None


def _hook(exc_type, exc, tb) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    where = log_exception(exc_type, exc, tb)
    traceback.print_exception(exc_type, exc, tb)
    if _bridge is None or QApplication.instance() is None:
        return
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    _bridge.failed.emit(f"{exc_type.__name__}: {exc}", details, where)


def _thread_hook(args: threading.ExceptHookArgs) -> None:
    _hook(args.exc_type, args.exc_value, args.exc_traceback)


def show_error(message: str, details: str, where: Path | None) -> None:
    """One dialog at a time: an error repeating in every repaint must not bury the window."""
    if _state["showing"]:
        _state["suppressed"] += 1
        return
    _state["showing"] = True
    try:
        box = QMessageBox(QApplication.activeWindow())
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle("labeler: something went wrong")
        box.setText(
            "<b>Something went wrong.</b><br>Every decision shown as saved is in the project; you can go on.<br><br>"
            + message.replace("<", "&lt;")
        )
        box.setInformativeText(f"Details were written to {where}" if where else "The log file could not be written.")
        box.setDetailedText(details)
        box.exec()
    finally:
        _state["showing"] = False


def install() -> None:
    """Route uncaught exceptions (Qt slots, overrides, threads) to the log and a dialog."""
    global _bridge
    if _bridge is None:
        _bridge = _Bridge()
        _bridge.failed.connect(lambda m, d, w: show_error(m, d, w), Qt.ConnectionType.QueuedConnection)
    sys.excepthook = _hook
    threading.excepthook = _thread_hook
