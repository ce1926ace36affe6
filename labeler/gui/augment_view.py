"""The augmentation preview (key V): the current image next to each OpenCV augmentation of
:mod:`labeler.core.quality.augment` (blur, motion blur, fog, noise, low light, JPEG, rotation), as
``labeler augment --seed 0`` draws its first copy, to judge which one makes training images look
like the failing slice. The image is brought to :data:`SIZE` pixels on its long side first, so the
preview is quick; the command works on the full image."""

from __future__ import annotations

import json

import cv2
import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QGridLayout, QLabel, QVBoxLayout, QWidget

from labeler.core.quality import augment as augmod

from . import keymap as keymapmod

SIZE = 480  # long side of the image the preview augments
TILE = 300  # long side of each tile shown
COLUMNS = 4


def _pixmap(bgr: np.ndarray, size: int) -> QPixmap:
    rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation)


def preview_image(path) -> np.ndarray | None:
    """The image at ``path`` (B, G, R), its long side at most :data:`SIZE`, or None."""
    try:
        img = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)
    except (OSError, ValueError, cv2.error):
        return None
    if img is None:
        return None
    h, w = img.shape[:2]
    if max(h, w) > SIZE:
        s = SIZE / max(h, w)
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return img


class AugmentPreview(QDialog):
    """A grid: the original, then one tile per augmentation with its parameters."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Augmentation preview")
        self.setObjectName("augmentPreview")
        lay = QVBoxLayout(self)
        self.title = QLabel()
        lay.addWidget(self.title)
        self.grid = QGridLayout()
        lay.addLayout(self.grid)
        hint = QLabel("labeler augment --slice NAME --ops blur,fog,… --out DIR writes such copies of the"
                      " training examples (deterministic for a --seed; this is seed 0's first copy). V or Esc closes.")
        hint.setWordWrap(True)
        lay.addWidget(hint)
        self.tiles: list[tuple[str, np.ndarray, dict]] = []

    def show_example(self, example_id: str, path) -> bool:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        img = preview_image(path) if path is not None else None
        if img is None:
            self.title.setText(f"{example_id}: no image to augment")
            self.tiles = []
            return False
        self.title.setText(f"<b>{example_id}</b> under each augmentation")
        self.tiles = [("original", img, {})] + augmod.preview(img, seed=0, source_id=example_id)
        for i, (op, pixels, params) in enumerate(self.tiles):
            cell = QWidget()
            v = QVBoxLayout(cell)
            v.setContentsMargins(2, 2, 2, 2)
            picture = QLabel()
            picture.setPixmap(_pixmap(pixels, TILE))
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption = QLabel(f"<b>{op}</b> {json.dumps(params)[1:-1] if params else ''}")
            caption.setWordWrap(True)
            v.addWidget(picture)
            v.addWidget(caption)
            self.grid.addWidget(cell, i // COLUMNS, i % COLUMNS)
        return True

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_V:
            self.close()
            return
        super().keyPressEvent(event)


class AugmentPreviewer:
    """Key V in a review window: the preview of the current item (again: closed)."""

    def __init__(self, window):
        self.window = window
        self.dialog: AugmentPreview | None = None
        self.action = keymapmod.create_actions(window, {"augment_preview": self.toggle}, window.keymap)["augment_preview"]

    def toggle(self) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.close()
            return
        s = self.window.session
        if s is None or s.current_id is None:
            return
        ex = s.example()
        path = s.project.resolve(ex.get("path")) if ex is not None else None
        if self.dialog is None:
            self.dialog = AugmentPreview(self.window)
        self.dialog.show_example(s.current_id, path)
        self.dialog.show()
        self.dialog.raise_()


def install(window) -> AugmentPreviewer:
    return AugmentPreviewer(window)
