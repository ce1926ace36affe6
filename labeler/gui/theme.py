"""Light and dark themes: the Fusion style with a palette, plus ``resources/style.qss``.

The style sheet refers to palette roles only, so one sheet serves both themes; custom-painted widgets
read the application palette too.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from .resources import read_text

THEMES = ("light", "dark")

# Colours that carry meaning, the same in both themes (chosen to read on either background).
WRONG = QColor(214, 69, 65)
RIGHT = QColor(46, 160, 67)
ACCENT = QColor(64, 132, 214)
CORRECTED = QColor(224, 142, 30)


def _palette(name: str) -> QPalette:
    p = QPalette()
    if name == "dark":
        colors = {
            QPalette.ColorRole.Window: "#2b2d30",
            QPalette.ColorRole.WindowText: "#e6e6e6",
            QPalette.ColorRole.Base: "#1f2023",
            QPalette.ColorRole.AlternateBase: "#2f3134",
            QPalette.ColorRole.Text: "#e6e6e6",
            QPalette.ColorRole.Button: "#35373b",
            QPalette.ColorRole.ButtonText: "#e6e6e6",
            QPalette.ColorRole.ToolTipBase: "#35373b",
            QPalette.ColorRole.ToolTipText: "#e6e6e6",
            QPalette.ColorRole.Highlight: "#3d6fb4",
            QPalette.ColorRole.HighlightedText: "#ffffff",
            QPalette.ColorRole.PlaceholderText: "#8a8d91",
            QPalette.ColorRole.Mid: "#4a4d52",
            QPalette.ColorRole.Dark: "#18191b",
            QPalette.ColorRole.Light: "#45484d",
            QPalette.ColorRole.Link: "#6ea8ff",
        }
    else:
        colors = {
            QPalette.ColorRole.Window: "#f3f3f3",
            QPalette.ColorRole.WindowText: "#1d1d1f",
            QPalette.ColorRole.Base: "#ffffff",
            QPalette.ColorRole.AlternateBase: "#f0f0f0",
            QPalette.ColorRole.Text: "#1d1d1f",
            QPalette.ColorRole.Button: "#e9e9e9",
            QPalette.ColorRole.ButtonText: "#1d1d1f",
            QPalette.ColorRole.ToolTipBase: "#ffffe1",
            QPalette.ColorRole.ToolTipText: "#1d1d1f",
            QPalette.ColorRole.Highlight: "#3874d8",
            QPalette.ColorRole.HighlightedText: "#ffffff",
            QPalette.ColorRole.PlaceholderText: "#8a8a8a",
            QPalette.ColorRole.Mid: "#c4c4c4",
            QPalette.ColorRole.Dark: "#a0a0a0",
            QPalette.ColorRole.Light: "#ffffff",
            QPalette.ColorRole.Link: "#1f5fbf",
        }
    for role, value in colors.items():
        p.setColor(role, QColor(value))
    disabled = QColor("#6c6f73" if name == "dark" else "#a6a6a6")
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


def apply(app: QApplication, name: str) -> str:
    """Switch ``app`` to theme ``name`` (unknown names fall back to light); returns the theme used."""
    name = name if name in THEMES else "light"
    app.setStyle("Fusion")
    app.setPalette(_palette(name))
    app.setStyleSheet(read_text("style.qss"))
    app.setProperty("labeler_theme", name)
    return name


def current(app: QApplication | None = None) -> str:
    app = app or QApplication.instance()
    name = app.property("labeler_theme") if app is not None else None
    return name if name in THEMES else "light"
