"""The duplicates view: the members of the current example's duplicate group side by side (each
image with its id, split and given label; the current one framed), so a reviewer can see a leak
(the same picture in train and dev) or a conflict (the same picture, two labels) and fix the label
with the usual keys. It follows the window's session; the groups are
:func:`labeler.core.quality.duplicates.find`'s, found once per session."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QCheckBox, QFrame, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from labeler.core import images
from labeler.core.quality import duplicates as dupmod

from . import theme

THUMB = 260
SHOWN = 8  # members shown of a bigger group


def _qimage(pixels) -> QImage:
    h, w = pixels.shape[:2]
    fmt = QImage.Format.Format_RGBA8888 if pixels.shape[2] == 4 else QImage.Format.Format_RGB888
    return QImage(pixels.data, w, h, pixels.strides[0], fmt).copy()


class MemberCard(QFrame):
    def __init__(self, member: dupmod.Member, path, current: bool, parent=None):
        super().__init__(parent)
        self.member = member
        self.setFrameShape(QFrame.Shape.Box)
        self.setLineWidth(3 if current else 1)
        if current:
            self.setStyleSheet(f"MemberCard {{ border: 3px solid {theme.ACCENT.name()}; }}")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.image = QLabel()
        self.image.setFixedSize(THUMB, THUMB)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        decoded = images.decode(path, (THUMB, THUMB)) if path is not None else None
        if decoded is not None and decoded.ok:
            self.image.setPixmap(QPixmap.fromImage(_qimage(decoded.pixels)))
        else:
            self.image.setText(decoded.reason if decoded is not None else "no image")
        lay.addWidget(self.image)
        caption = QLabel(f"<b>{member.id}</b> · {member.split} · given <b>{member.label}</b>")
        caption.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(caption)


class DuplicatesView(QWidget):
    """The current example's duplicate group, side by side."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("duplicatesView")
        self._session = None
        self._groups: dict[str, dupmod.Group] = {}
        self.group: dupmod.Group | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        lay.addWidget(self.title)
        self.keep = QCheckBox("Not a leak: keep this example in its split (export --drop-leaks leaves it in)")
        self.keep.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the review keys stay with the item
        self.keep.toggled.connect(self._keep_toggled)
        self.keep.hide()
        lay.addWidget(self.keep)
        self.row = QWidget()
        self.row_layout = QHBoxLayout(self.row)
        self.row_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.row)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumHeight(THUMB + 50)
        lay.addWidget(scroll, 1)

    def _keep_toggled(self, on: bool) -> None:
        s = self._session
        if s is not None and s.current_id is not None and not s.project.readonly:
            dupmod.set_kept(s.project, s.current_id, on)

    def show_current(self, session, *, reload: bool = False) -> None:
        """The group of ``session``'s current example; ``reload``: find the groups again (a new
        queue: the project may have been scanned since)."""
        if session is not self._session or reload:
            self._session = session
            self._groups = {}
            if session is not None:
                for g in dupmod.find(session.project).groups:
                    for m in g.members:
                        self._groups[m.id] = g
        eid = session.current_id if session is not None else None
        group = self._groups.get(eid) if eid is not None else None
        if not reload and group is self.group and group is not None and getattr(self, "_shown_id", None) == eid:
            return
        self.group, self._shown_id = group, eid
        while self.row_layout.count():
            item = self.row_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        leaking = group is not None and any(m.id == eid for m in group.leaking)
        self.keep.blockSignals(True)
        self.keep.setVisible(leaking)
        self.keep.setEnabled(leaking and not session.project.readonly)
        self.keep.setChecked(leaking and eid in dupmod.kept(session.project))
        self.keep.blockSignals(False)
        if group is None:
            self.title.setText("This example has no duplicate." if eid is not None else "")
            return
        what = [w for w, on in (("leaks across splits", group.leak), ("has conflicting labels", group.conflict)) if on]
        how = "identical pixels" if group.kind == "exact" else f"perceptual hashes within {group.distance} bits"
        self.title.setText(f"<b>{group.kind.capitalize()} duplicates</b> ({len(group.members)} images, {how}):"
                           " this group "
                           + (" and ".join(what) or "stays in one split") + ".")
        for m in group.members[:SHOWN]:
            path = session.project.resolve(session.project.path_at(m.row))
            self.row_layout.addWidget(MemberCard(m, path, m.id == eid))
        self.row_layout.addStretch(1)
