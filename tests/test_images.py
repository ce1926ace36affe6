"""Decoding images for review (labeler.core.images), with real files made by Pillow.

Bad-input tests name their row in /work/shared/BAD_INPUTS.md ("row 20" ...).
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from labeler.core import images
from labeler.core.images import Decoded, decode, thumbnail_png_bytes

RED, BLUE = (255, 0, 0), (0, 0, 255)
ROOT = Path(__file__).resolve().parents[1]


def noisy_rgb(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Gradients plus noise: compresses like a photo, not like a flat colour."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, width)[None, :, None]
    y = np.linspace(0, 255, height)[:, None, None]
    base = np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2)
    return np.clip(base + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(np.uint8)


def png_1bit(path: Path, width: int, height: int) -> Path:
    """A real, all-black 1-bit PNG of any size, written without ever holding it in memory."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def assert_valid_pixels(result: Decoded, size: tuple[int, int], channels: int = 3) -> None:
    assert result.reason is None
    assert result.ok
    pixels = result.pixels
    assert pixels.dtype == np.uint8
    assert pixels.flags["C_CONTIGUOUS"]
    assert pixels.shape == (size[1], size[0], channels)


def near(pixel, color, tol: int = 40) -> bool:
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(pixel, color))


# -- ordinary images ------------------------------------------------------------


def test_normal_jpeg_and_png(tmp_path):
    pixels = noisy_rgb(320, 240)
    Image.fromarray(pixels).save(tmp_path / "a.jpg", quality=92)
    Image.fromarray(pixels).save(tmp_path / "a.png")

    jpeg = decode(tmp_path / "a.jpg")
    assert_valid_pixels(jpeg, (320, 240))
    assert jpeg.original_size == (320, 240)
    error = np.abs(jpeg.pixels.astype(int) - pixels.astype(int))
    assert error.mean() < 20  # lossy, but the same picture
    assert np.abs(jpeg.pixels.mean(axis=(0, 1)) - pixels.mean(axis=(0, 1))).max() < 2

    png = decode(str(tmp_path / "a.png"))
    assert_valid_pixels(png, (320, 240))
    assert np.array_equal(png.pixels, pixels)  # lossless


def test_large_jpeg_is_reduced_to_fit_max_size(tmp_path, monkeypatch):
    from PIL import JpegImagePlugin

    Image.fromarray(noisy_rgb(4000, 3000)).save(tmp_path / "big.jpg", quality=85)
    drafts = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def recording_draft(self, mode, size):
        drafts.append(size)
        return real_draft(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", recording_draft)

    result = decode(tmp_path / "big.jpg", (1280, 960))
    assert_valid_pixels(result, (1280, 960))
    assert result.original_size == (4000, 3000)
    assert drafts == [(1280, 960)], "reduced (DCT-scaled) decoding was not requested"


def test_reduction_keeps_aspect_ratio_of_a_wide_image(tmp_path):
    Image.fromarray(noisy_rgb(2000, 500)).save(tmp_path / "wide.jpg")
    result = decode(tmp_path / "wide.jpg", (400, 400))
    assert_valid_pixels(result, (400, 100))


def test_large_png_is_downscaled_too(tmp_path):
    Image.fromarray(noisy_rgb(1000, 800)).save(tmp_path / "big.png")
    assert_valid_pixels(decode(tmp_path / "big.png", (250, 250)), (250, 200))


def test_small_image_is_never_upscaled(tmp_path):
    Image.new("L", (8, 8), 200).save(tmp_path / "digit.png")
    result = decode(tmp_path / "digit.png", (1280, 960))
    assert_valid_pixels(result, (8, 8))


def test_max_size_none_keeps_full_resolution(tmp_path):
    Image.fromarray(noisy_rgb(1500, 1000)).save(tmp_path / "full.jpg")
    assert_valid_pixels(decode(tmp_path / "full.jpg", None), (1500, 1000))


def test_not_exact_leaves_the_last_fractional_shrink_to_the_caller(tmp_path):
    """exact=False: a JPEG comes back as its DCT-reduced decode, at least the fitted size and under
    twice it; the fitted size is what the caller scales it to."""
    Image.fromarray(noisy_rgb(1024, 768)).save(tmp_path / "a.jpg", quality=90)
    Image.fromarray(noisy_rgb(4000, 3000)).save(tmp_path / "big.jpg", quality=85)
    assert images.fitted_size((1024, 768), (926, 729)) == (926, 694)

    small = decode(tmp_path / "a.jpg", (926, 729), exact=False)
    assert_valid_pixels(small, (1024, 768))  # no DCT reduction fits, and no resize either
    assert small.original_size == (1024, 768)
    big = decode(tmp_path / "big.jpg", (926, 729), exact=False)
    assert_valid_pixels(big, (1000, 750))  # 1/4 scale: the largest that still covers 926x694
    exact = decode(tmp_path / "big.jpg", (926, 729))
    assert_valid_pixels(exact, (926, 694))


def test_not_exact_reduces_other_files_by_a_whole_factor(tmp_path):
    Image.fromarray(noisy_rgb(1000, 800)).save(tmp_path / "big.png")
    result = decode(tmp_path / "big.png", (300, 300), exact=False)
    assert_valid_pixels(result, (334, 267))  # / 3: still covers the fitted 300x240; / 4 would not
    assert_valid_pixels(decode(tmp_path / "big.png", (600, 600), exact=False), (1000, 800))  # / 1


def test_not_exact_reduction_does_not_bleed_transparent_colour(tmp_path):
    im = Image.new("RGBA", (400, 400), (0, 0, 255, 255))
    im.paste((255, 0, 0, 0), (0, 0, 201, 400))  # transparent red, up to a column that a /2 box straddles
    im.save(tmp_path / "alpha.png")
    result = decode(tmp_path / "alpha.png", (100, 100), exact=False)
    assert_valid_pixels(result, (100, 100), channels=4)
    edge = result.pixels[50, 50]  # half transparent red, half blue
    assert 0 < edge[3] < 255 and edge[0] < 10 and edge[2] > 245


def test_row24_exif_rotated_jpeg_not_exact_is_rotated(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    _two_colour(2000, 1000).save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    result = decode(tmp_path / "rotated.jpg", (300, 300), exact=False)
    assert result.original_size == (1000, 2000)
    assert_valid_pixels(result, (250, 500))  # 1/4 scale, turned: covers the fitted 150x300
    assert near(result.pixels[20, 125], RED) and near(result.pixels[480, 125], BLUE)


def test_the_decoder_gets_the_whole_file_in_one_call(tmp_path, monkeypatch):
    """Pillow feeds a decoder 64 KB at a time and takes the GIL back between blocks, where a busy GUI
    thread can hold the decoding thread up: the whole file goes in one call."""
    Image.fromarray(noisy_rgb(2000, 1500)).save(tmp_path / "big.jpg", quality=95)
    assert (tmp_path / "big.jpg").stat().st_size > 8 * 65536
    calls = []
    real = Image._getdecoder

    class Counting:
        def __init__(self, decoder):
            self._decoder = decoder

        def decode(self, data):
            calls.append(len(data))
            return self._decoder.decode(data)

        def __getattr__(self, name):
            return getattr(self._decoder, name)

    monkeypatch.setattr(Image, "_getdecoder", lambda *args: Counting(real(*args)))
    assert_valid_pixels(decode(tmp_path / "big.jpg", (500, 500)), (500, 375))
    assert len(calls) == 1


# -- row 24: unusual but valid images --------------------------------------------


def _two_colour(width: int, height: int) -> Image.Image:
    """Left half red, right half blue."""
    im = Image.new("RGB", (width, height), BLUE)
    im.paste(RED, (0, 0, width // 2, height))
    return im


def test_row24_exif_orientation_6_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; rotate 90 degrees clockwise to display
    _two_colour(60, 40).save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)

    result = decode(tmp_path / "rotated.jpg")
    assert_valid_pixels(result, (40, 60))  # width and height swapped
    assert result.original_size == (40, 60)
    # turned clockwise, the red left half ends up on top
    assert near(result.pixels[5, 20], RED)
    assert near(result.pixels[55, 20], BLUE)


def test_row24_exif_rotated_large_jpeg_fits_max_size_after_rotation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(noisy_rgb(2000, 1000)).save(tmp_path / "r.jpg", exif=exif.tobytes())
    result = decode(tmp_path / "r.jpg", (300, 300))
    assert_valid_pixels(result, (150, 300))
    assert result.original_size == (1000, 2000)


def test_row24_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (50, 40), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)
    result = decode(tmp_path / "cmyk.jpg")
    assert_valid_pixels(result, (50, 40))
    assert near(result.pixels[20, 25], RED)


def test_row24_16bit_png_is_scaled_not_clipped(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 256), (16, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "depth16.png")
    assert Image.open(tmp_path / "depth16.png").mode.startswith("I")

    result = decode(tmp_path / "depth16.png")
    assert_valid_pixels(result, (256, 16))
    grey = result.pixels[:, :, 0].astype(int)
    assert grey[0, 0] == 0 and grey[-1, -1] == 255
    assert 120 <= grey[8, 128] <= 135  # mid-grey, where clipping would give 255
    assert np.all(np.diff(grey[0]) >= 0)  # still a ramp


def test_row24_palette_png_with_transparency(tmp_path):
    im = Image.new("P", (20, 10), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (10, 0, 20, 10))
    im.save(tmp_path / "pal.png", transparency=1)

    result = decode(tmp_path / "pal.png")
    assert_valid_pixels(result, (20, 10), channels=4)
    assert tuple(result.pixels[5, 2]) == (255, 0, 0, 255)
    assert result.pixels[5, 15, 3] == 0  # the transparent index stays transparent


@pytest.mark.parametrize("mode, value, channels", [("LA", (90, 128), 4), ("1", 1, 3), ("L", 77, 3)])
def test_row24_grey_modes(tmp_path, mode, value, channels):
    Image.new(mode, (12, 9), value).save(tmp_path / "g.png")
    result = decode(tmp_path / "g.png")
    assert_valid_pixels(result, (12, 9), channels)
    expected = {"LA": (90, 90, 90, 128), "1": (255, 255, 255), "L": (77, 77, 77)}[mode]
    assert tuple(result.pixels[4, 6]) == expected


def test_row24_animated_gif_shows_first_frame(tmp_path):
    frames = [Image.new("RGB", (30, 20), RED), Image.new("RGB", (30, 20), BLUE)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(tmp_path / "anim.gif").n_frames == 2

    result = decode(tmp_path / "anim.gif")
    assert result.ok and result.pixels.shape[:2] == (20, 30)
    assert near(result.pixels[10, 15], RED, tol=10)


def test_row24_wrong_extension_decodes_by_content(tmp_path):
    Image.new("RGB", (16, 12), BLUE).save(tmp_path / "really_png.jpg", format="PNG")
    Image.new("RGB", (16, 12), RED).save(tmp_path / "really_jpeg.png", format="JPEG")
    assert tuple(decode(tmp_path / "really_png.jpg").pixels[6, 8]) == BLUE
    assert near(decode(tmp_path / "really_jpeg.png").pixels[6, 8], RED)


# -- rows 20, 22, 23, 25: files that cannot be shown ------------------------------


def test_row20_missing_file(tmp_path):
    result = decode(tmp_path / "nope.jpg")
    assert result.pixels is None and not result.ok
    assert result.reason == "missing file"
    assert result.original_size is None


def test_row20_missing_parent_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    assert decode(tmp_path / "file" / "img.png").reason == "missing file"


def test_row25_zero_byte_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert decode(tmp_path / "empty.jpg").reason == "empty file (0 bytes)"


def test_row25_directory_named_like_an_image(tmp_path):
    (tmp_path / "x.png").mkdir()
    assert decode(tmp_path / "x.png").reason == "is a directory"


def test_row25_unreadable_file(tmp_path):
    path = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(path)
    path.chmod(0)
    try:
        result = decode(path)  # must not raise either way
    finally:
        path.chmod(0o644)
    assert result.reason in (None, "permission denied")
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading the file")
    assert result.reason == "permission denied"


def test_row25_permission_error_from_open_becomes_a_reason(tmp_path, monkeypatch):
    """Row 25 without relying on the user id: whatever raises PermissionError is reported."""
    path = tmp_path / "locked.png"
    Image.new("RGB", (4, 4)).save(path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(images.Image, "open", denied)
    assert decode(path).reason == "permission denied"


def test_row25_not_an_image(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is a text file, not a JPEG\n" * 20)
    assert decode(tmp_path / "notes.jpg").reason == "not an image"


@pytest.mark.parametrize("max_size", [None, (200, 150)])
def test_row22_truncated_jpeg(tmp_path, max_size):
    Image.fromarray(noisy_rgb(800, 600)).save(tmp_path / "full.jpg", quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])

    result = decode(tmp_path / "cut.jpg", max_size)
    assert result.reason == "truncated"
    assert result.pixels is None
    assert result.original_size == (800, 600)  # the header was fine
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # never switched on to pad the image


def test_row22_truncated_png(tmp_path):
    Image.fromarray(noisy_rgb(300, 200)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    result = decode(tmp_path / "cut.png")
    assert result.reason == "truncated"
    assert result.pixels is None


def test_row23_decompression_bomb_is_refused_from_the_header(tmp_path):
    bomb = png_1bit(tmp_path / "bomb.png", 30000, 30000)
    assert bomb.stat().st_size < 1_000_000  # tiny on disk, 900 megapixels when decoded

    result = decode(bomb)
    assert result.reason == "too large (30000 x 30000)"
    assert result.pixels is None
    assert result.original_size == (30000, 30000)


def test_row23_decompression_bomb_keeps_memory_bounded(tmp_path):
    """Row 23: decoding the bomb would need ~900 MB; refusing it must cost next to nothing."""
    bomb = png_1bit(tmp_path / "bomb.png", 30000, 30000)
    script = (
        "import resource, sys\n"
        "from labeler.core.images import decode\n"
        "decode(sys.argv[1], (64, 64))  # warm up imports and plugins\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "result = decode(sys.argv[1])\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(result.reason, after - before)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(bomb)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout.split()
    assert out[:4] == ["too", "large", "(30000", "x"]
    assert int(out[-1]) < 50_000  # KiB of peak RSS growth


def test_row23_pixel_limit_is_configurable(tmp_path):
    png_1bit(tmp_path / "wide.png", 3000, 2000)
    assert decode(tmp_path / "wide.png", max_pixels=5_000_000).reason == "too large (3000 x 2000)"
    assert decode(tmp_path / "wide.png", (300, 300)).ok  # within the default limit


def test_bad_files_never_raise(tmp_path):
    """Rows 20-25 together: garbage after a valid signature, odd paths, a FIFO."""
    (tmp_path / "sig.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(500))
    (tmp_path / "sig.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(500))
    os.mkfifo(tmp_path / "pipe.jpg")
    for path in ["", "\0bad", tmp_path / "sig.png", tmp_path / "sig.jpg", tmp_path / "pipe.jpg"]:
        result = decode(path)
        assert isinstance(result, Decoded)
        assert result.pixels is None and result.reason


# -- thumbnails and the no-Qt rule ---------------------------------------------------


def test_thumbnail_png_bytes(tmp_path):
    Image.fromarray(noisy_rgb(640, 480)).save(tmp_path / "a.jpg")
    data = thumbnail_png_bytes(tmp_path / "a.jpg")
    with Image.open(io.BytesIO(data)) as thumb:
        assert thumb.format == "PNG" and thumb.size == (128, 96)
    assert thumbnail_png_bytes(tmp_path / "missing.jpg") is None


def test_images_module_imports_no_qt():
    """The core must not import Qt; checked in a fresh interpreter (pytest-qt imports Qt here)."""
    script = (
        "import sys, labeler.core.images\n"
        "qt = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6'))\n"
        "print(qt)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.stdout.strip() == "[]"
