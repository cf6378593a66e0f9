"""Reading images and masks with clear errors: torchvision's decoders first, Pillow as fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.io import ImageReadMode, decode_image

from segen.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_TORCHVISION_SUFFIXES = (".png", ".jpg", ".jpeg")


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            return im.height, im.width
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read image ({_reason(exc)})") from None


def image_channels(path: Path) -> int:
    """1 for greyscale files (L, I, F modes), else 3."""
    try:
        with Image.open(path) as im:
            return 1 if im.mode in ("1", "L", "I", "I;16", "F") else 3
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read image ({_reason(exc)})") from None


def read_image(path: Path, channels: int) -> torch.Tensor:
    """Decode an image to a uint8 C,H,W tensor with `channels` (1 or 3) channels."""
    if path.suffix.lower() in _TORCHVISION_SUFFIXES:
        mode = ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB
        try:
            return decode_image(str(path), mode=mode)
        except (RuntimeError, ValueError, OSError):
            pass  # fall through to Pillow, which also reports the problem precisely
    try:
        with Image.open(path) as im:
            im = _to_8bit(im).convert("L" if channels == 1 else "RGB")
            array = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read image ({_reason(exc)})") from None
    tensor = torch.from_numpy(array.copy())
    return tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1).contiguous()


def read_mask(path: Path) -> np.ndarray:
    """Decode a mask to H,W uint8 class ids: single-channel values or paletted indices.

    RGB masks whose three channels are equal are read as single-channel.
    """
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            array = np.array(im)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read mask ({_reason(exc)})") from None
    if mode in ("RGB", "RGBA"):
        rgb = array[..., :3]
        if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
            raise DataError(f"{path}: mask is a colour image; expected single-channel class ids or a "
                            "paletted PNG")
        array = rgb[..., 0]
    if array.ndim != 2:
        raise DataError(f"{path}: mask must be single-channel, got shape {array.shape}")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.dtype != np.uint8:
        if array.min() < 0 or array.max() > 255:
            raise DataError(f"{path}: mask values must be in 0..255, found {array.min()}..{array.max()}")
        array = array.astype(np.uint8)
    return array


def _to_8bit(im: Image.Image) -> Image.Image:
    """Scale 16-bit and float greyscale images to 8 bits."""
    if im.mode in ("I", "I;16", "F"):
        array = np.asarray(im, dtype=np.float64)
        lo, hi = float(array.min()), float(array.max())
        scaled = (array - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(array)
        return Image.fromarray(scaled.round().astype(np.uint8))
    return im


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.replace(" (", " ").rstrip(")") if len(text) < 200 else text[:200]
