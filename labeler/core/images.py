"""Decode image files for review, fast and without ever raising on a bad file.

A reviewer flips through images at a few per second, so decoding must be cheap
and must never stop the session: every problem (missing, empty, truncated,
absurdly large, not an image at all) comes back as a `Decoded` with a short
human `reason` that the view shows as a placeholder (BAD_INPUTS rows 20-25).

Speed comes from decoding no more pixels than will be shown: JPEGs are
decoded at a reduced scale (libjpeg DCT scaling via `Image.draft`) and then
fitted into `max_size`. Images are never scaled *up* here; the view does that
with nearest-neighbour sampling so small images stay crisp. A caller with a
faster scaler of its own (the review window's decoders use Qt's, which costs a
third of Pillow's here) asks for `exact=False` and does the last, fractional
shrink itself, to `fitted_size(decoded.original_size, max_size)`.

This module imports no Qt; the GUI turns `Decoded.pixels` into a `QImage`.
"""

from __future__ import annotations

import io
import os
import stat
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

__all__ = ["MAX_PIXELS", "RESAMPLE", "Decoded", "decode", "fitted_size", "thumbnail_png_bytes"]

MAX_PIXELS = 100_000_000
"""Default limit on width x height read from the header; larger is "too large"."""

RESAMPLE = Image.Resampling.BILINEAR
"""The filter that shrinks images into `max_size`. When shrinking, Pillow widens
it to cover every source pixel (a tent filter), so it averages rather than
skips pixels. After a DCT-reduced decode the factor left is under 2, where
BICUBIC/LANCZOS differ little and cost 1.6-2.5x more (measured here)."""

_ONE_BLOCK = 16 * 1024 * 1024  # bytes read in one go at most (a 12 MP JPEG is ~5 MB); see _read_in_one_block

_EXIF_ORIENTATION = 0x0112
_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that turn the image by 90 degrees

# What Pillow raises while reading pixel data from a damaged file. We never set
# ImageFile.LOAD_TRUNCATED_IMAGES, so a short file fails here instead of being
# silently padded with grey.
_LOAD_ERRORS = (OSError, SyntaxError, EOFError, ValueError, IndexError, zlib.error)

_SRGB = None  # built lazily: only CMYK files with an ICC profile need it


@dataclass(frozen=True, eq=False)
class Decoded:
    """The result of `decode`: pixels, or the reason there are none.

    `pixels` is H x W x 3 (RGB) or H x W x 4 (RGBA), uint8, C-contiguous and
    read-only. `original_size` is (width, height) of the full image after EXIF
    rotation, known whenever the header could be read (also when too large).
    `eq=False`: comparing arrays element-wise is never what a caller means.
    """

    pixels: np.ndarray | None
    reason: str | None = None
    original_size: tuple[int, int] | None = None

    @property
    def ok(self) -> bool:
        return self.pixels is not None


def decode(
    path: str | os.PathLike,
    max_size: tuple[int, int] | None = None,
    *,
    max_pixels: int = MAX_PIXELS,
    exact: bool = True,
) -> Decoded:
    """Decode `path` to RGB/RGBA pixels that fit within `max_size` (w, h).

    Never raises for a bad file: returns a `Decoded` with `pixels=None` and a
    `reason`. `max_size=None` keeps the full resolution. `max_pixels` bounds
    width x height as read from the header, before any pixel is decoded.
    `exact=False` stops before the last, fractional shrink: the pixels are at
    least `fitted_size(original_size, max_size)` and less than about twice it on
    each axis (a JPEG as its DCT-reduced decode, other files reduced by a whole
    factor), for the caller to fit with its own scaler.
    """
    problem = _check_file(path)
    if problem:
        return Decoded(None, problem)
    try:
        im = Image.open(path)
    except Image.DecompressionBombError as exc:
        return _too_large_from_header(path, exc)
    except PermissionError:
        return Decoded(None, "permission denied")
    except (UnidentifiedImageError, SyntaxError, ValueError, EOFError, OSError):
        return Decoded(None, "not an image")
    with im:
        try:
            return _decode_open(im, max_size, max_pixels, exact)
        except MemoryError:
            return Decoded(None, "too large ({} x {})".format(*im.size))
        except Exception as exc:  # a file must never take the session down
            return Decoded(None, f"unsupported: {type(exc).__name__}: {exc}")


def thumbnail_png_bytes(
    path: str | os.PathLike, size: tuple[int, int] = (128, 128)
) -> bytes | None:
    """A PNG of the image fitted within `size`, or None if it cannot be decoded."""
    result = decode(path, size)
    if result.pixels is None:
        return None
    out = io.BytesIO()
    Image.fromarray(result.pixels).save(out, "PNG")
    return out.getvalue()


def _check_file(path: str | os.PathLike) -> str | None:
    """The reason `path` cannot be an image file, judged from the file system alone."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        if os.path.islink(path):
            return f"broken link: its target {os.readlink(path)} does not exist"
        return "missing file"
    except PermissionError:
        return "permission denied"
    except (OSError, ValueError):  # name too long, embedded NUL byte...
        return "missing file"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory"
    if not stat.S_ISREG(st.st_mode):
        # opening a FIFO or a device would block the worker forever
        return "unsupported: not a regular file"
    if st.st_size == 0:
        return "empty file (0 bytes)"
    return None


def _decode_open(im: Image.Image, max_size: tuple[int, int] | None, max_pixels: int, exact: bool) -> Decoded:
    width, height = im.size
    orientation = _orientation(im)
    shown_size = (height, width) if orientation in _SWAPS_AXES else (width, height)
    if width * height > max_pixels:
        return Decoded(None, "too large ({} x {})".format(*shown_size), shown_size)

    target = fitted_size(shown_size, max_size)
    if target != shown_size:
        # draft() works in stored (unrotated) coordinates, and picks the largest
        # DCT reduction that still leaves at least the requested size.
        stored_target = target[::-1] if orientation in _SWAPS_AXES else target
        im.draft(None, stored_target)

    _read_in_one_block(im)
    try:
        im.load()
    except _LOAD_ERRORS:
        return Decoded(None, "truncated", shown_size)

    if orientation != 1:
        try:
            ImageOps.exif_transpose(im, in_place=True)
        except Exception:
            pass  # unreadable EXIF: showing the image unrotated beats not showing it

    rgb = _to_rgb(im)
    if rgb is None:
        return Decoded(None, f"unsupported: mode {im.mode}", shown_size)
    pixels = np.ascontiguousarray(_shrink(rgb, target) if exact else _reduce(rgb, target))
    pixels.setflags(write=False)
    return Decoded(pixels, None, shown_size)


def _read_in_one_block(im: Image.Image) -> None:
    """Hand the decoder the whole file (up to `_ONE_BLOCK`) in one call instead of Pillow's 64 KB
    blocks. Between blocks the decoding thread takes the GIL back, and while another thread runs
    Python (the GUI thread, on a key) each block can wait up to the switch interval: a 12 MP JPEG is
    80 blocks. Measured beside a thread busy in Python: 1024x768 15.9 -> 9.3 ms, 12 MP 111 -> 97 ms."""
    try:
        size = os.fstat(im.fp.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return
    if isinstance(getattr(im, "decodermaxblock", None), int):
        im.decodermaxblock = max(im.decodermaxblock, min(size, _ONE_BLOCK))


def _shrink(rgb: Image.Image, target: tuple[int, int]) -> np.ndarray:
    """`rgb` as an array of `target` size (never larger than it is)."""
    if rgb.size != target:
        # reducing_gap: shrink by a whole factor with a box filter first when the
        # factor is 3 or more (non-JPEG files), which is much cheaper and looks the same.
        # Pillow premultiplies RGBA here, so transparent pixels cannot bleed colour.
        rgb = rgb.resize(target, RESAMPLE, reducing_gap=3.0)
    return np.asarray(rgb)


def _reduce(rgb: Image.Image, target: tuple[int, int]) -> np.ndarray:
    """`rgb` shrunk by the largest whole factor that keeps it at least `target` (a box
    filter, cheap; premultiplied for RGBA like `_shrink`), so less than about twice `target` is
    left for the caller's scaler."""
    factor = min(rgb.width // target[0], rgb.height // target[1])
    if factor >= 2:
        rgb = rgb.reduce(factor)
    return np.asarray(rgb)


def _orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


def fitted_size(size: tuple[int, int], max_size: tuple[int, int] | None) -> tuple[int, int]:
    """`size` shrunk to fit within `max_size`, keeping the aspect ratio; never grown."""
    w, h = size
    if max_size is None:
        return size
    box_w, box_h = max(1, int(max_size[0])), max(1, int(max_size[1]))
    if w <= box_w and h <= box_h:
        return size
    scale = min(box_w / w, box_h / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _to_rgb(im: Image.Image) -> Image.Image | None:
    """`im` as an "RGB" or "RGBA" image, or None for a mode we cannot show."""
    mode = im.mode
    if mode == "RGBA" or (mode == "RGB" and "transparency" not in im.info):
        return im
    if mode == "CMYK":
        return _cmyk_to_rgb(im)
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_to_uint8(np.asarray(im), mode)).convert("RGB")
    if im.has_transparency_data:  # alpha band, RGBA palette or a tRNS colour key
        return im.convert("RGBA")
    try:
        return im.convert("RGB")
    except (ValueError, OSError):
        return None


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    # Print CMYK values only look right through their colour profile; Pillow's
    # plain conversion is a rough fallback for files without one.
    global _SRGB
    icc = im.info.get("icc_profile")
    if icc:
        try:
            if _SRGB is None:
                _SRGB = ImageCms.createProfile("sRGB")
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, source, _SRGB, outputMode="RGB")
        except Exception:
            pass
    return im.convert("RGB")


def _to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Scale integer or float samples (16-bit, 32-bit, float) to 0-255."""
    if mode.startswith("I;16"):
        return (values.astype(np.uint16) >> 8).astype(np.uint8)
    if values.size == 0:
        return np.zeros(values.shape, np.uint8)
    if mode != "F":
        lo, hi = int(values.min()), int(values.max())
        if lo >= 0 and hi <= 65535:  # "I" holding 16-bit data, e.g. from a PNG
            return (values.astype(np.uint32) >> 8).astype(np.uint8)
    values = values.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, np.uint8)
    lo, hi = float(values[finite].min()), float(values[finite].max())
    if mode == "F" and lo >= 0.0 and hi <= 1.0:
        lo, hi = 0.0, 1.0
    span = hi - lo or 1.0
    scaled = np.where(finite, (values - lo) * (255.0 / span), 0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _too_large_from_header(path: str | os.PathLike, exc: Exception) -> Decoded:
    """The "too large (W x H)" reason for a file Pillow refused to open.

    Pillow raises before handing back the image, so read the size again with the
    format plugins directly; they parse only the header.
    """
    Image.init()
    try:
        with open(path, "rb") as f:
            prefix = f.read(16)
            for name in Image.ID:
                factory, accept = Image.OPEN[name]
                if accept and not accept(prefix):
                    continue
                try:
                    f.seek(0)
                    w, h = factory(f, os.fspath(path)).size
                except Exception:
                    continue
                return Decoded(None, f"too large ({w} x {h})", (w, h))
    except OSError:
        pass
    return Decoded(None, f"too large ({exc})")
