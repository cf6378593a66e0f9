"""Reading any image or mask: full bit depth, EXIF orientation and a pixel limit, with clear errors.

Images come back at their own depth: uint8 C,H,W for 8-bit files and int32 C,H,W holding 0..65535 for
16-bit files (grey or colour PNG and TIFF); `segen.preprocess` scales them by the data's `max_value`.
Every file is opened by its header first, so its size is known (and checked against `max_pixels`)
before any pixel is decoded. The EXIF orientation is applied to images and masks alike, as labelling
tools display them, and `image_size` reports the size after it. PNG and JPEG are decoded by torchvision,
TIFF by tifffile when it is installed, everything else by Pillow. `save_image` writes 8- and 16-bit PNGs.
"""

from __future__ import annotations

import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.io import ImageReadMode, decode_image

from segen.errors import DataError
from segen.preprocess import UINT16_MAX, match_channels

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
#: The default pixel limit of prediction and evaluation (100 megapixels; about 1.2 GB as float RGB).
DEFAULT_MAX_PIXELS = 100_000_000
_TORCHVISION_SUFFIXES = (".png", ".jpg", ".jpeg")
_TIFF_SUFFIXES = (".tif", ".tiff")
_GREY_MODES = ("1", "L", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")
_EXIF_ORIENTATION = 0x0112
Pixels = TypeVar("Pixels", torch.Tensor, np.ndarray)


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header says: size as displayed (after EXIF orientation), mode, bits per sample."""

    path: Path
    height: int
    width: int
    mode: str
    bits: int
    orientation: int

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) as displayed."""
        return self.height, self.width


def read_header(path: Path, max_pixels: int | None = None) -> ImageHeader:
    """The header of image `path`; DataError (kind "too-large") above `max_pixels`, without decoding."""
    with _open(path, "image", max_pixels) as im:
        orientation = _orientation(im)
        w, h = (im.height, im.width) if orientation >= 5 else (im.width, im.height)
        header = ImageHeader(path, h, w, im.mode, _bits(im), orientation)
    check_pixels(path, header.size, max_pixels)
    return header


def check_pixels(path: Path, size: tuple[int, int], max_pixels: int | None) -> None:
    """Raise DataError (kind "too-large") naming the file, its size and the limit when above `max_pixels`."""
    h, w = size
    if max_pixels is not None and h * w > max_pixels:
        raise DataError(f"{path}: {w}x{h} image ({h * w:,} pixels) exceeds the limit of {max_pixels:,} pixels "
                        "(raise it with --max-pixels)", kind="too-large", path=path)


def check_sizes(paths: list[Path], max_pixels: int | None) -> None:
    """Refuse (kind "too-large") the first file above `max_pixels`, from headers alone, before any decoding.

    Unreadable headers are left to the decoder, which reports them in its own words when their turn comes.
    """
    if max_pixels is None:
        return
    for path in paths:
        try:
            read_header(path, max_pixels)
        except DataError as exc:
            if exc.kind == "too-large":
                raise


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header, after EXIF orientation, without decoding the pixels."""
    return read_header(path).size


def image_channels(path: Path) -> int:
    """1 for greyscale files (L, I, F modes), else 3."""
    return 1 if read_header(path).mode in _GREY_MODES else 3


def image_bits(path: Path) -> int:
    """Bits per sample from the header: 8, 16 (16-bit PNG and TIFF) or 32 (integer or float TIFF)."""
    return read_header(path).bits


def read_image(path: Path, channels: int, max_pixels: int | None = None) -> torch.Tensor:
    """Decode an image to C,H,W with `channels` (1 or 3) channels, as displayed (EXIF orientation applied).

    Returns uint8 for 8-bit files and int32 holding 0..65535 for 16-bit files. Refuses images above
    `max_pixels` (kind "too-large") from the header alone.
    """
    header = read_header(path, max_pixels)
    image = _decode_torchvision(path, channels) if path.suffix.lower() in _TORCHVISION_SUFFIXES else None
    if image is None and path.suffix.lower() in _TIFF_SUFFIXES:
        image = _decode_tifffile(path, channels)
    if image is None:
        image = _decode_pillow(header, channels)
    return orient(image, header.orientation)


def read_mask(path: Path) -> np.ndarray:
    """Decode a mask to H,W uint8 class ids: single-channel values or paletted indices, EXIF orientation applied.

    RGB masks whose three channels are equal are read as single-channel.
    """
    with _open(path, "mask") as im:
        orientation = _orientation(im)
        im.load()
        mode = im.mode
        array = np.array(im)
    if mode in ("RGB", "RGBA"):
        rgb = array[..., :3]
        if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
            raise DataError(f"{path}: mask is a colour image; expected single-channel class ids or a "
                            "paletted PNG", path=path)
        array = rgb[..., 0]
    if array.ndim != 2:
        raise DataError(f"{path}: mask must be single-channel, got shape {array.shape}", path=path)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.dtype != np.uint8:
        if array.min() < 0 or array.max() > 255:
            raise DataError(f"{path}: mask values must be in 0..255, found {array.min()}..{array.max()}",
                            kind="values", path=path)
        array = array.astype(np.uint8)
    return np.ascontiguousarray(orient(array, orientation))


def orient(image: Pixels, orientation: int) -> Pixels:
    """Turn (C,)H,W pixels stored with EXIF `orientation` (1..8) upright, as Pillow's `exif_transpose`."""
    if orientation <= 1 or orientation > 8:
        return image
    if isinstance(image, torch.Tensor):
        return torch.from_numpy(np.ascontiguousarray(_orient_array(image.numpy(), orientation)))
    return _orient_array(image, orientation)


def _orient_array(array: np.ndarray, orientation: int) -> np.ndarray:
    if orientation in (5, 7):
        array = np.swapaxes(array, -2, -1)
    flips = {2: (-1,), 3: (-2, -1), 4: (-2,), 7: (-2, -1)}.get(orientation)
    if flips:
        array = np.flip(array, flips)
    if orientation in (6, 8):
        array = np.rot90(array, -1 if orientation == 6 else 1, axes=(-2, -1))
    return array


def save_image(image: np.ndarray, path: Path) -> None:
    """Save H,W,C (C = 1 or 3) uint8 or uint16 pixels as an 8- or 16-bit PNG."""
    if image.dtype == np.uint8 or image.shape[-1] == 1:
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
        return
    h, w = image.shape[:2]  # 16-bit colour, which Pillow cannot write: the PNG chunks directly
    rows = b"".join(b"\x00" + image[y].astype(">u2").tobytes() for y in range(h))
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)), (b"IDAT", zlib.compress(rows)), (b"IEND", b"")]
    body = b"".join(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
                    for kind, data in chunks)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


# --- decoders -------------------------------------------------------------------------------------------------


def _decode_torchvision(path: Path, channels: int) -> torch.Tensor | None:
    """PNG/JPEG via torchvision (16-bit PNG -> int32), or None to let Pillow report the problem."""
    try:
        image = decode_image(str(path), mode=ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB)
    except (RuntimeError, ValueError, OSError):
        return None
    return image if image.dtype == torch.uint8 else image.to(torch.int32)


def _decode_tifffile(path: Path, channels: int) -> torch.Tensor | None:
    """TIFF via tifffile when it is installed (any compression, 16-bit colour), else None."""
    try:
        import tifffile
    except ImportError:
        return None
    try:
        array = np.asarray(tifffile.imread(path, key=0))
    except Exception:
        return None
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[-1] not in (3, 4):
        array = np.moveaxis(array, 0, -1)  # planar C,H,W
    if array.ndim not in (2, 3):
        return None
    return _to_tensor(_check_wide(array, path) if array.dtype != np.uint8 else array, channels)


def _decode_pillow(header: ImageHeader, channels: int) -> torch.Tensor:
    path = header.path
    with _open(path, "image") as im:
        if header.bits == 16 and im.mode not in _GREY_MODES:
            array = _raw_tiff16(im, path)
        elif im.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
            array = _check_wide(np.asarray(im), path)
        else:
            return _to_tensor(np.asarray(im.convert("L" if channels == 1 else "RGB")), channels)
    return _to_tensor(array, channels)


def _to_tensor(array: np.ndarray, channels: int) -> torch.Tensor:
    """H,W[,C] uint8 or wide array -> C,H,W tensor (uint8 or int32) with `channels` channels."""
    array = np.ascontiguousarray(array)
    tensor = torch.from_numpy(array if array.flags.writeable else array.copy())
    if tensor.dtype != torch.uint8:
        tensor = tensor.to(torch.int32)
    tensor = tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    if tensor.shape[0] == 2:  # grey + alpha
        tensor = tensor[:1]
    return match_channels(tensor, channels).contiguous()


def _check_wide(array: np.ndarray, path: Path) -> np.ndarray:
    """16-bit (or integer-valued 32-bit/float) pixels as int32 in 0..65535; other value ranges are refused."""
    if array.dtype in (np.uint8, np.uint16):
        return array.astype(np.int32) if array.dtype == np.uint16 else array
    lo, hi = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if lo < 0 or hi > UINT16_MAX or (array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0)):
        raise DataError(f"{path}: {array.dtype} pixels in {lo:g}..{hi:g}; images must hold 8-bit or 16-bit "
                        "values (0..65535); convert the file to an 8- or 16-bit PNG or TIFF", path=path)
    return array.astype(np.int32)


def _raw_tiff16(im: Image.Image, path: Path) -> np.ndarray:
    """Uncompressed 16-bit colour TIFF strips, which Pillow would cut to 8 bits, read at full depth."""
    out: np.ndarray | None = None
    with open(path, "rb") as handle:
        for tile in getattr(im, "tile", []):
            codec, (x0, y0, x1, y1), offset, args = tuple(tile)[:4]
            rawmode, stride, order = args if isinstance(args, tuple) and len(args) == 3 else ("", -1, -1)
            samples = len(rawmode.split(";")[0])
            ok = im.format == "TIFF" and codec == "raw" and order == 1 and rawmode.endswith(("16L", "16B"))
            if not ok or stride not in (0, (x1 - x0) * samples * 2):
                raise DataError(f"{path}: compressed or unusual 16-bit colour image; install tifffile "
                                "(pip install tifffile) to read it at full depth", path=path)
            if out is None:
                out = np.zeros((im.height, im.width, samples), np.uint16)
            count = (y1 - y0) * (x1 - x0) * samples
            handle.seek(offset)
            data = np.frombuffer(handle.read(count * 2), "<u2" if rawmode.endswith("L") else ">u2")
            if data.size != count:
                raise DataError(f"{path}: cannot read image (truncated file)", kind="corrupt", path=path)
            out[y0:y1, x0:x1] = data.reshape(y1 - y0, x1 - x0, samples)
    if out is None:
        raise DataError(f"{path}: cannot read image (no pixel data)", kind="corrupt", path=path)
    return out[..., :3].astype(np.int32)


# --- headers ------------------------------------------------------------------------------------------------


@contextmanager
def _open(path: Path, what: str, max_pixels: int | None = None) -> Iterator[Image.Image]:
    """Pillow's `Image.open` whose decompression-bomb warning and error become our own one-line errors."""
    _allow_pixels(max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies instead
            with Image.open(path) as im:
                yield im
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        limit = f"the limit of {max_pixels:,} pixels (raise it with --max-pixels)" if max_pixels else \
            f"the decoder's limit of {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels"
        raise DataError(f"{path}: image of {size} exceeds {limit}", kind="too-large", path=path) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read {what} ({_reason(exc)})", kind="corrupt", path=path) from None


def _allow_pixels(max_pixels: int | None) -> None:
    """Raise Pillow's own bomb limit (it refuses above twice its value) when a caller allows more pixels."""
    if max_pixels is not None and Image.MAX_IMAGE_PIXELS is not None and max_pixels > 2 * Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels // 2 + 1


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1..8) from the header; PNG's only when its eXIf chunk precedes the pixels."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1  # asking Pillow would decode the whole image to look for a late eXIf chunk
    try:
        value = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _bits(im: Image.Image) -> int:
    if im.mode.startswith("I;16"):
        return 16
    if im.mode in ("I", "F"):
        return 32
    tiles = getattr(im, "tile", None)
    args = tuple(tiles[0])[3] if tiles else None
    rawmode = args[0] if isinstance(args, tuple) and args else args
    return 16 if isinstance(rawmode, str) and ";16" in rawmode else 8


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.replace(" (", " ").rstrip(")") if len(text) < 200 else text[:200]
