"""The widget that shows the example under review: an image, or why there is none.

An image is fitted to the widget. Scaled up, it is sampled nearest-neighbour so
that a 32x32 image shows its real pixels instead of a blur; scaled down, it is
resampled smoothly. The reviewer can zoom (wheel, or `zoom_in`/`zoom_out` from
key bindings) and pan by dragging. A file that cannot be shown gets a
placeholder panel naming the problem and the file (BAD_INPUTS rows 20-25).

paintEvent stays cheap: a smoothly scaled QPixmap is made once per
(image, size) and reused; upscaling is left to the painter, which samples
nearest-neighbour from one unscaled pixmap and only touches visible pixels.
"""

from __future__ import annotations

import math
import os

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

__all__ = ["ImageView"]

_ZOOM_STEP = 1.25
_MIN_ZOOM = 0.25  # relative to "fit to widget"
_MAX_ZOOM = 64.0

_BACKGROUND = QColor(40, 40, 40)
_PANEL = QColor(58, 58, 58)
_PANEL_BORDER = QColor(120, 120, 120)
_REASON_COLOR = QColor(255, 196, 92)
_TEXT_COLOR = QColor(230, 230, 230)
_MUTED_COLOR = QColor(160, 160, 160)


class ImageView(QWidget):
    """Shows a QImage fitted to the widget, with zoom and pan, or a placeholder."""

    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._image: QImage | None = None
        self._placeholder: tuple[str, str] | None = None
        self._zoom = 1.0
        self._center = QPointF()  # the image point shown at the widget's centre
        self._drag_from: QPointF | None = None
        self._base_pixmap: tuple[int, QPixmap] | None = None  # (image cacheKey, pixmap)
        self._scaled_pixmap: tuple[tuple, QPixmap] | None = None  # ((cacheKey, w, h), pixmap)
        self._checker = _checker_brush()
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(64, 64)

    # -- content --------------------------------------------------------------

    def set_image(self, image: QImage | None) -> None:
        """Show `image` fitted to the widget (None or a null image shows nothing)."""
        self._image = None if image is None or image.isNull() else image
        self._placeholder = None
        self._forget_pixmaps()
        self.zoom_reset()

    def replace_image(self, image: QImage) -> None:
        """The same picture at another resolution (a sharper decode, for zooming in): the zoom and
        the part of the picture in view stay as they are."""
        if self._image is None or image.isNull():
            self.set_image(image)
            return
        # per axis: a fitted decode rounds width and height separately (1600x1200 -> 933x700)
        rx, ry = image.width() / self._image.width(), image.height() / self._image.height()
        self._image = image
        self._center = QPointF(self._center.x() * rx, self._center.y() * ry)
        self._forget_pixmaps()
        self._clamp_center()
        self.update()

    def set_placeholder(self, reason: str, path: str | os.PathLike) -> None:
        """Show a panel saying why there is no image, and for which file."""
        self._image = None
        self._placeholder = (reason, os.fspath(path))
        self._forget_pixmaps()
        self.zoom_reset()

    def image(self) -> QImage | None:
        return self._image

    def placeholder(self) -> tuple[str, str] | None:
        """(reason, path) while a placeholder is shown, else None."""
        return self._placeholder

    # -- zoom and pan ---------------------------------------------------------

    def zoom_factor(self) -> float:
        """Zoom relative to fitting the whole image in the widget (1.0 = fit)."""
        return self._zoom

    def display_scale(self) -> float:
        """Widget pixels per image pixel at the current zoom (0 without an image)."""
        if self._image is None:
            return 0.0
        return self._fit_scale() * self._zoom

    def zoom_in(self) -> None:
        self._zoom_about(self._zoom * _ZOOM_STEP, self._widget_center())

    def zoom_out(self) -> None:
        self._zoom_about(self._zoom / _ZOOM_STEP, self._widget_center())

    def zoom_reset(self) -> None:
        changed = self._zoom != 1.0
        self._zoom = 1.0
        if self._image is not None:
            self._center = QPointF(self._image.width() / 2, self._image.height() / 2)
        self.update()
        if changed:
            self.zoom_changed.emit(self._zoom)

    def _zoom_about(self, zoom: float, anchor: QPointF) -> None:
        """Zoom keeping the image point under `anchor` (widget coordinates) in place."""
        zoom = min(max(zoom, _MIN_ZOOM), _MAX_ZOOM)
        if self._image is None or zoom == self._zoom:
            return
        old_scale = self.display_scale()
        self._zoom = zoom
        if old_scale > 0:  # a widget not laid out yet has no scale to anchor with
            offset = anchor - self._widget_center()
            under_anchor = self._center + offset / old_scale
            self._center = under_anchor - offset / self.display_scale()
            self._clamp_center()
        self.update()
        self.zoom_changed.emit(self._zoom)

    def _pan_by(self, delta: QPointF) -> None:
        if self.display_scale() <= 0:
            return
        self._center -= delta / self.display_scale()
        self._clamp_center()
        self.update()

    def _clamp_center(self) -> None:
        """Keep the image covering the widget on each axis where it is larger than it."""
        scale = self.display_scale()
        if scale <= 0:
            return
        for axis, image_len, widget_len in (
            ("x", self._image.width(), self.width()),
            ("y", self._image.height(), self.height()),
        ):
            half_view = widget_len / 2 / scale
            if image_len * scale <= widget_len:
                value = image_len / 2
            else:
                current = self._center.x() if axis == "x" else self._center.y()
                value = min(max(current, half_view), image_len - half_view)
            if axis == "x":
                self._center.setX(value)
            else:
                self._center.setY(value)

    def _can_pan(self) -> bool:
        if self._image is None:
            return False
        scale = self.display_scale()
        return self._image.width() * scale > self.width() or self._image.height() * scale > self.height()

    # -- events ---------------------------------------------------------------

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if self._image is None or steps == 0:
            event.ignore()
            return
        self._zoom_about(self._zoom * _ZOOM_STEP**steps, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._can_pan():
            self._drag_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is not None:
            self._pan_by(event.position() - self._drag_from)
            self._drag_from = event.position()
            event.accept()
        else:
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is not None and event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = None
            self.unsetCursor()
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def resizeEvent(self, event) -> None:
        if self._image is not None:
            self._clamp_center()
        super().resizeEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(640, 480)

    # -- painting -------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._image is not None:
            self._paint_image(painter)
        else:
            painter.fillRect(self.rect(), _BACKGROUND)
            if self._placeholder is not None:
                self._paint_placeholder(painter, *self._placeholder)
        painter.end()

    def _paint_image(self, painter: QPainter) -> None:
        image = self._image
        scale = self.display_scale()
        target = QRectF(
            self._widget_center() - self._center * scale,
            QPointF(self._widget_center() + (QPointF(image.width(), image.height()) - self._center) * scale),
        )
        if image.hasAlphaChannel():
            painter.fillRect(self.rect(), _BACKGROUND)
        else:
            # an opaque picture covers its rectangle: only the bands around it need the background
            # (a third of the paint's time went to filling the whole widget first)
            _fill_around(painter, self.rect(), target, _BACKGROUND)
        if image.hasAlphaChannel():
            painter.fillRect(target.intersected(QRectF(self.rect())), self._checker)
        dpr = self.devicePixelRatioF()
        if scale * dpr >= 1.0:
            # Nearest-neighbour: the painter samples without SmoothPixmapTransform.
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            pixmap = self._pixmap_for(image)
            painter.drawPixmap(target, pixmap, QRectF(pixmap.rect()))
        else:
            width = max(1, round(image.width() * scale * dpr))
            height = max(1, round(image.height() * scale * dpr))
            pixmap = self._scaled_pixmap_for(image, width, height, dpr)
            painter.drawPixmap(target.topLeft(), pixmap)

    def _pixmap_for(self, image: QImage) -> QPixmap:
        key = image.cacheKey()
        if self._base_pixmap is None or self._base_pixmap[0] != key:
            self._base_pixmap = (key, QPixmap.fromImage(image))
        return self._base_pixmap[1]

    def _scaled_pixmap_for(self, image: QImage, width: int, height: int, dpr: float) -> QPixmap:
        key = (image.cacheKey(), width, height)
        if self._scaled_pixmap is None or self._scaled_pixmap[0] != key:
            scaled = image.scaled(
                width, height, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            pixmap = QPixmap.fromImage(scaled)
            pixmap.setDevicePixelRatio(dpr)
            self._scaled_pixmap = (key, pixmap)
        return self._scaled_pixmap[1]

    def _paint_placeholder(self, painter: QPainter, reason: str, path: str) -> None:
        base_size = max(self.font().pointSizeF(), 9.0)
        reason_font = QFont(self.font())
        reason_font.setPointSizeF(base_size * 1.5)
        reason_font.setBold(True)
        name_font = QFont(self.font())
        name_font.setPointSizeF(base_size * 1.1)
        lines = [
            (reason_font, _REASON_COLOR, reason, Qt.TextElideMode.ElideRight),
            (name_font, _TEXT_COLOR, os.path.basename(path) or path, Qt.TextElideMode.ElideMiddle),
            (QFont(self.font()), _MUTED_COLOR, os.path.dirname(path), Qt.TextElideMode.ElideLeft),
        ]
        lines = [(font, color, text, elide, QFontMetrics(font)) for font, color, text, elide in lines if text]

        pad, icon_h, gap = 20, 36, 6
        content_h = icon_h + sum(gap + m.height() for *_, m in lines)
        panel_w = min(self.width() - 32, 560)
        panel_h = min(self.height() - 32, content_h + 2 * pad)
        if panel_w < 40 or panel_h < 40:
            return
        panel = QRectF((self.width() - panel_w) / 2, (self.height() - panel_h) / 2, panel_w, panel_h)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(_PANEL_BORDER, 1.5, Qt.PenStyle.DashLine))
        painter.setBrush(_PANEL)
        painter.drawRoundedRect(panel, 10, 10)

        icon = QRectF(0, 0, 44, icon_h)
        icon.moveCenter(QPointF(panel.center().x(), panel.top() + pad + icon_h / 2))
        _paint_broken_image_icon(painter, icon)

        left, width = panel.left() + 16, panel.width() - 32
        y = icon.bottom() + gap
        for font, color, text, elide, metrics in lines:
            if y + metrics.height() > panel.bottom() - 4:
                break  # a tiny widget shows what fits, reason first
            painter.setFont(font)
            painter.setPen(color)
            painter.drawText(
                QRectF(left, y, width, metrics.height()),
                Qt.AlignmentFlag.AlignCenter,
                metrics.elidedText(text, elide, int(width)),
            )
            y += metrics.height() + gap

    # -- helpers --------------------------------------------------------------

    def _fit_scale(self) -> float:
        image = self._image
        return min(self.width() / image.width(), self.height() / image.height())

    def _widget_center(self) -> QPointF:
        return QPointF(self.width() / 2, self.height() / 2)

    def _forget_pixmaps(self) -> None:
        self._base_pixmap = None
        self._scaled_pixmap = None


def _fill_around(painter: QPainter, area: QRect, picture: QRectF, color: QColor) -> None:
    """Fill `area` except the pixels well inside `picture`, which the picture paints over. One
    pixel of its edge is filled too: where a fractional edge lands depends on rounding, and a pixel
    left unpainted would keep the last frame's colour (the widget paints opaquely)."""
    left, top = max(area.left(), math.ceil(picture.left()) + 1), max(area.top(), math.ceil(picture.top()) + 1)
    right = min(area.right() + 1, math.floor(picture.right()) - 1)  # exclusive
    bottom = min(area.bottom() + 1, math.floor(picture.bottom()) - 1)
    if right <= left or bottom <= top:
        painter.fillRect(area, color)
        return
    width, height = area.right() + 1, area.bottom() + 1
    for band in (QRect(area.left(), area.top(), width - area.left(), top - area.top()),  # above
                 QRect(area.left(), bottom, width - area.left(), height - bottom),  # below
                 QRect(area.left(), top, left - area.left(), bottom - top),  # left of it
                 QRect(right, top, width - right, bottom - top)):  # right of it
        if band.width() > 0 and band.height() > 0:
            painter.fillRect(band, color)


def _checker_brush() -> QBrush:
    """A grey checkerboard that shows through transparent pixels."""
    tile = QPixmap(16, 16)
    tile.fill(QColor(102, 102, 102))
    painter = QPainter(tile)
    painter.fillRect(0, 0, 8, 8, QColor(153, 153, 153))
    painter.fillRect(8, 8, 8, 8, QColor(153, 153, 153))
    painter.end()
    return QBrush(tile)


def _paint_broken_image_icon(painter: QPainter, rect: QRectF) -> None:
    """A picture frame with a cross through it: "no image here"."""
    painter.save()
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(_MUTED_COLOR, 2.5))
    painter.drawRoundedRect(rect, 4, 4)
    painter.setPen(QPen(_REASON_COLOR, 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    inset = rect.adjusted(11, 7, -11, -7)
    painter.drawLine(inset.topLeft(), inset.bottomRight())
    painter.drawLine(inset.topRight(), inset.bottomLeft())
    painter.restore()
