"""Shows the example under review: its image, decoded ahead on worker threads, or its text.

On every move the current image is requested first, then the next few and the previous one are
prefetched at the view's size, so the next key press finds its image decoded. Nothing is decoded on
the GUI thread: an image that is not ready yet shows "loading" until the prefetcher's ``ready`` signal
brings it.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QTimer, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QStackedWidget, QWidget

from labeler.core.images import Decoded
from labeler.core.session import ReviewSession

from .image_view import ImageView
from .prefetch import ImagePrefetcher
from .text_view import TextView

AHEAD = 8  # items decoded ahead of the current one (and one behind)
AHEAD_DELAY_MS = 15


class ItemView(QStackedWidget):
    """An ImageView, a text view and a message page, with the prefetcher that feeds the image view."""

    shown = Signal(str)  # example id whose image (or placeholder, or text) is now set on the view

    def __init__(self, parent: QWidget | None = None, *, view_class: type[ImageView] = ImageView):
        super().__init__(parent)
        self.image_view = view_class()
        self.text_view = TextView()
        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setObjectName("message")
        for w in (self.image_view, self.text_view, self.message):
            self.addWidget(w)
        self.loading = QLabel("loading…", self.image_view)
        self.loading.setStyleSheet("color: #bbbbbb; background: transparent; font-size: 14pt;")
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.loading.hide()
        # One core stays with the GUI thread; more decoders only help where there are cores for them.
        # the next 8 items and the previous one are decoded ahead; 24 cached images cover going back
        # and forth without holding hundreds of MB of pixels
        self.prefetcher = ImagePrefetcher(self, max_items=24, max_bytes=128 * 1024 * 1024,
                                          threads=max(2, min(4, (os.cpu_count() or 2) - 1)))
        self.prefetcher.ready.connect(self._on_ready)
        self._sharp: str | None = None  # the path decoded at full size for zooming in, if any
        self.image_view.zoom_changed.connect(self._zoomed)
        self._session: ReviewSession | None = None
        self._paths: dict[str, str | None] = {}  # example id -> resolved image path (None: no image)
        self._current: tuple[str, str] | None = None  # (example id, path) waiting for or showing an image
        self._shown_id: str | None = None  # whose image the image view shows now
        self._resize_timer = QTimer(self, singleShot=True, interval=150)
        self._resize_timer.timeout.connect(self._resized)
        self._shown_size: tuple[int, int] | None = None  # the decode size of the image shown
        # Decoding ahead starts just after the new item is painted, not while it is being painted:
        # on a machine with few cores the decoders would take the CPU from the frame.
        self._ahead: tuple[list[str], tuple[int, int]] | None = None
        self._ahead_timer = QTimer(self, singleShot=True, interval=AHEAD_DELAY_MS)
        self._ahead_timer.timeout.connect(self._prefetch_ahead)
        self.show_message("Open a predictions file or a project:\nFile ▸ Open…, or drop it on this window.")

    # -- what to show --------------------------------------------------------------------------
    def set_session(self, session: ReviewSession | None) -> None:
        self._session = session
        self._paths.clear()
        self._current = None
        self._ahead = None
        self.prefetcher.clear()

    def show_message(self, text: str) -> None:
        self._current = None
        self._shown_id = None
        self.message.setText(text)
        self.setCurrentWidget(self.message)

    def refresh(self) -> None:
        """Show the session's current item and decode the ones around it."""
        self._sharp = None
        s = self._session
        if s is None:
            return
        eid = s.current_id
        if eid is None:
            self.show_message("Nothing to review in this queue.\n" + s.spec.describe())
            return
        path = self._path(eid)
        if path is None:
            ex = s.example(eid, topk=False)
            self._current = None
            self._shown_id = None
            self.text_view.set_text((ex or {}).get("text") or "(this example has neither an image nor a text)")
            self.setCurrentWidget(self.text_view)
            self.shown.emit(eid)
        else:
            self.setCurrentWidget(self.image_view)
            size = self.decode_size()
            self._current = (eid, path)
            self.prefetcher.request(path, size, priority=1)
            around = s.items[s.position + 1 : s.position + 1 + AHEAD] + s.items[max(0, s.position - 1) : s.position]
            self._ahead = ([path, *[p for p in map(self._path, around) if p]], size)
            # not restarted by the next key: with a key held down (a key every few ms) a restarted
            # timer never fired and every image waited for its own decode
            if not self._ahead_timer.isActive():
                self._ahead_timer.start()
            self._show_if_ready()

    def show_now(self, eid: str) -> bool:
        """Paint ``eid``'s image at once, if it is decoded already: called just before a move to it,
        so the picture is on screen before the move's decision is written and the panels redrawn.
        ``refresh`` then finds it in place and leaves it."""
        path = self._path(eid)
        hit = self.prefetcher.get(path, self.decode_size()) if path is not None else None
        if not isinstance(hit, QImage):
            return False
        self.loading.hide()
        self.setCurrentWidget(self.image_view)
        self.image_view.set_image(hit)
        self.image_view.repaint()
        return True

    def _prefetch_ahead(self) -> None:
        if self._ahead is not None:
            self.prefetcher.prefetch(*self._ahead)  # (drops other queued work)
            self._ahead = None
            if self._sharp is not None:
                self.prefetcher.request(self._sharp, None, priority=2)

    def _zoomed(self, zoom: float) -> None:
        """Zoomed in past the decoded pixels (which fit the view): decode the file at full size and
        show it, sharper, in place, when it comes."""
        if self._current is None or self._sharp == self._current[1] or self._shown_id != self._current[0]:
            return
        image, box = self.image_view.image(), self._shown_size
        if image is None or box is None or self.image_view.display_scale() * self.image_view.devicePixelRatioF() <= 1.0:
            return
        if image.width() < box[0] and image.height() < box[1]:
            return  # smaller than its box: it was decoded whole already
        self._sharp = self._current[1]
        self.prefetcher.request(self._sharp, None, priority=2)
        self._show_sharp()

    def _show_sharp(self) -> None:
        if self._sharp is None or self._current is None or self._current[1] != self._sharp:
            return
        hit, shown = self.prefetcher.get(self._sharp, None), self.image_view.image()
        if isinstance(hit, QImage) and shown is not None and hit.width() > shown.width():
            self.image_view.replace_image(hit)

    # -- keys that act on what is shown -----------------------------------------------------------
    def _shown_view(self):
        return self.text_view if self.currentWidget() is self.text_view else self.image_view

    def zoom_in(self) -> None:
        self._shown_view().zoom_in()

    def zoom_out(self) -> None:
        self._shown_view().zoom_out()

    def zoom_reset(self) -> None:
        self._shown_view().zoom_reset()

    def page(self, step: int) -> None:
        """PgDn/PgUp: a long text scrolls by a screenful (an image has nothing to scroll)."""
        if self.currentWidget() is self.text_view:
            self.text_view.page(step)

    def decode_size(self) -> tuple[int, int]:
        """The image view's size in device pixels: decoded images fit it exactly, so painting is a blit."""
        dpr = self.image_view.devicePixelRatioF()
        return max(64, round(self.image_view.width() * dpr)), max(64, round(self.image_view.height() * dpr))

    def current_path(self) -> str | None:
        return self._current[1] if self._current else None

    # -- internals -----------------------------------------------------------------------------
    def _path(self, eid: str) -> str | None:
        if eid not in self._paths:
            p = self._session.project.resolve(self._session.path_of(eid)) if self._session else None
            self._paths[eid] = os.fspath(p) if p is not None else None
        return self._paths[eid]

    def _show_if_ready(self) -> None:
        if self._current is None:
            return
        eid, path = self._current
        hit = self.prefetcher.get(path, self.decode_size())
        if hit is None:
            if self._shown_id != eid:  # the same item at a new size keeps its image until then
                self._shown_id = None
                if self.image_view.image() is not None or self.image_view.placeholder() is not None:
                    self.image_view.set_image(None)
                self.loading.resize(self.image_view.size())
                self.loading.show()
            return
        self.loading.hide()
        self._shown_id, self._shown_size = eid, self.decode_size()
        if isinstance(hit, QImage):
            shown = self.image_view.image()
            if shown is None or shown.cacheKey() != hit.cacheKey():  # (show_now may have put it there)
                self.image_view.set_image(hit)
        else:
            assert isinstance(hit, Decoded)
            self.image_view.set_placeholder(hit.reason or "cannot show this image", path)
        self.shown.emit(eid)

    def _on_ready(self, path: str) -> None:
        if self._current is not None and self._current[1] == path:
            if self._sharp == path:  # shown already; this may be its full-size decode
                self._show_sharp()
            else:
                self._show_if_ready()

    def _resized(self) -> None:
        # An image smaller than its box was decoded whole: a new size would decode the same pixels
        # (and setting them again would reset the reviewer's zoom).
        image, box, new = self.image_view.image(), self._shown_size, self.decode_size()
        if self._sharp is not None and self._current and self._sharp == self._current[1]:
            return  # zoomed in on the full-size picture: a new view size changes nothing
        if (image is not None and box is not None and self._current and self._shown_id == self._current[0]
                and image.width() < box[0] and image.height() < box[1]
                and image.width() <= new[0] and image.height() <= new[1]):
            return
        self.refresh()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.loading.resize(self.image_view.size())
        if self._current is not None:
            self._resize_timer.start()
