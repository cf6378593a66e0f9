"""Reading pixels right: 16-bit PNG and TIFF at full depth, EXIF orientation, and pixel limits."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from segen.data.io import DEFAULT_MAX_PIXELS, image_size, read_image, read_mask
from segen.errors import DataError


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png16(array: np.ndarray, path: Path) -> Path:
    """A 16-bit PNG (grey H,W or RGB H,W,3), written byte by byte: Pillow cannot write 16-bit RGB."""
    h, w = array.shape[:2]
    colour = 2 if array.ndim == 3 else 0
    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0)
    data = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows)) + _png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)
    return path


def write_tiff16(array: np.ndarray, path: Path) -> Path:
    """An uncompressed little-endian 16-bit TIFF (grey H,W or RGB H,W,3), written byte by byte."""
    h, w = array.shape[:2]
    spp = 1 if array.ndim == 2 else array.shape[2]
    pixels = array.astype("<u2").tobytes()
    count = 9
    bits_at = 8 + 2 + 12 * count + 4
    bits = struct.pack(f"<{spp}H", *([16] * spp)) if spp > 2 else b""
    data_at = bits_at + len(bits)

    def short(tag: int, value: int) -> bytes:
        return struct.pack("<HHIHH", tag, 3, 1, value, 0)

    entries = [short(256, w), short(257, h),
               struct.pack("<HHII", 258, 3, spp, bits_at) if spp > 2 else short(258, 16),
               short(259, 1), short(262, 1 if spp == 1 else 2), struct.pack("<HHII", 273, 4, 1, data_at),
               short(277, spp), short(278, h), struct.pack("<HHII", 279, 4, 1, len(pixels))]
    path.write_bytes(b"II*\x00" + struct.pack("<IH", 8, count) + b"".join(entries) + b"\x00" * 4 + bits + pixels)
    return path


def ramp(h: int, w: int, channels: int = 0, top: int = 65535) -> np.ndarray:
    """Distinct 16-bit values, most above 255."""
    n = h * w * max(channels, 1)
    values = (np.linspace(0, top, n)).round().astype(np.uint16)
    return values.reshape((h, w, channels) if channels else (h, w))


# --- 16-bit images (defect 6) ---------------------------------------------------------------------------------


def test_16bit_grey_png_from_pillow_and_numpy_keeps_full_depth(tmp_path: Path) -> None:
    grey = ramp(5, 7)
    Image.fromarray(grey).save(tmp_path / "numpy.png")
    Image.fromarray(grey).convert("I;16").save(tmp_path / "pillow.png")
    for name in ("numpy.png", "pillow.png"):
        image = read_image(tmp_path / name, 1)
        assert image.dtype == torch.int32 and image.shape == (1, 5, 7)
        assert np.array_equal(image[0].numpy(), grey), name


def test_16bit_rgb_png_keeps_full_depth_and_converts_to_grey(tmp_path: Path) -> None:
    rgb = ramp(4, 6, 3)
    path = write_png16(rgb, tmp_path / "rgb16.png")
    image = read_image(path, 3)
    assert image.dtype == torch.int32 and np.array_equal(image.permute(1, 2, 0).numpy(), rgb)
    grey = read_image(path, 1)
    luma = (rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])).round()
    assert grey.dtype == torch.int32 and grey.max() > 255
    assert np.abs(grey[0].numpy() - luma).max() <= 1  # no int32 overflow, no clamp to 255


def test_16bit_tiff_grey_and_rgb_keep_full_depth(tmp_path: Path) -> None:
    grey, rgb = ramp(5, 4), ramp(3, 5, 3)
    Image.fromarray(grey).save(tmp_path / "pillow.tif")
    for path, want in ((tmp_path / "pillow.tif", grey), (write_tiff16(grey, tmp_path / "grey.tif"), grey)):
        image = read_image(path, 1)
        assert image.dtype == torch.int32 and np.array_equal(image[0].numpy(), want)
    image = read_image(write_tiff16(rgb, tmp_path / "rgb.tif"), 3)
    assert image.dtype == torch.int32 and np.array_equal(image.permute(1, 2, 0).numpy(), rgb)
    assert read_image(tmp_path / "grey.tif", 3).shape == (3, 5, 4)


def test_8bit_images_stay_uint8(tmp_path: Path) -> None:
    array = np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5
    for suffix in (".png", ".tif", ".bmp"):
        Image.fromarray(array).save(tmp_path / f"a{suffix}")
        image = read_image(tmp_path / f"a{suffix}", 3)
        assert image.dtype == torch.uint8 and np.array_equal(image.permute(1, 2, 0).numpy(), array), suffix


# --- EXIF orientation (defect 7) ------------------------------------------------------------------------------


def asymmetric(h: int = 24, w: int = 40) -> np.ndarray:
    """An RGB image whose every flip and rotation looks different (smooth, so JPEG keeps it)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 128)], axis=-1).astype(np.uint8)


def with_orientation(image: Image.Image, path: Path, orientation: int) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, exif=exif)
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_to_jpeg_images(tmp_path: Path, orientation: int) -> None:
    path = with_orientation(Image.fromarray(asymmetric()), tmp_path / "photo.jpg", orientation)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB")).astype(int)
    image = read_image(path, 3).permute(1, 2, 0).numpy().astype(int)
    assert image.shape == expected.shape
    assert np.abs(image - expected).mean() < 3
    assert image_size(path) == expected.shape[:2]


def test_exif_rotated_photo_and_its_mask_agree(tmp_path: Path) -> None:
    """A phone photo stored landscape with orientation 6, labelled upright (portrait), as labelling tools show it."""
    photo = with_orientation(Image.fromarray(asymmetric(24, 40)), tmp_path / "photo.jpg", 6)
    upright = np.zeros((40, 24), np.uint8)
    upright[:10] = 1
    Image.fromarray(upright).save(tmp_path / "mask.png")
    assert image_size(photo) == (40, 24) == read_mask(tmp_path / "mask.png").shape
    assert read_image(photo, 3).shape == (3, 40, 24)
    # A mask that carries the same EXIF tag is turned the same way.
    stored = np.ascontiguousarray(np.rot90(upright, 1))
    with_orientation(Image.fromarray(stored), tmp_path / "mask_exif.png", 6)
    assert np.array_equal(read_mask(tmp_path / "mask_exif.png"), upright)
    assert image_size(tmp_path / "mask_exif.png") == (40, 24)


# --- pixel limits (defect 14) ---------------------------------------------------------------------------------


def huge_png(path: Path, width: int, height: int) -> Path:
    """A tiny file whose header claims `width` x `height` grey pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)
    return path


@pytest.mark.parametrize("side", [12_000, 40_000])  # above our limit; above the decoder's own bomb limit too
def test_huge_declared_size_is_refused_before_decoding(tmp_path: Path, side: int) -> None:
    path = huge_png(tmp_path / "bomb.png", side, side)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError) as info:
            read_image(path, 1, max_pixels=DEFAULT_MAX_PIXELS)
    assert info.value.kind == "too-large" and info.value.path == path
    message = str(info.value)
    assert "bomb.png" in message and f"{side * side:,} pixels" in message and f"{DEFAULT_MAX_PIXELS:,}" in message
    if side * side < 2 * (Image.MAX_IMAGE_PIXELS or 0):  # our check, from the header: also width x height
        assert f"{side}x{side}" in message


def test_pixel_limit_can_be_lowered_and_raised(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(DataError, match=r"30x20 .*limit of 500 pixels") as info:
        read_image(tmp_path / "small.png", 1, max_pixels=500)
    assert info.value.kind == "too-large"
    assert read_image(tmp_path / "small.png", 1, max_pixels=600).shape == (1, 20, 30)
