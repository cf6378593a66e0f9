"""Class colour palettes, colourised masks, paletted PNGs and overlays."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from segen.preprocess import class_colors
from segen.reports.grid import save_pil_atomic

Color = tuple[int, int, int]

_GREY: Color = (128, 128, 128)
_WHITE: Color = (255, 255, 255)


def default_palette(num_classes: int) -> list[Color]:
    """Return ``num_classes`` distinct colours (Pascal-VOC bit-interleaved palette).

    Class 0 is black. The colours are deterministic and all different for up to 256 classes.

    Raises:
        ValueError: If ``num_classes`` is not in 0..256.
    """
    if not 0 <= num_classes <= 256:
        raise ValueError(f"num_classes must be in 0..256, got {num_classes}")
    return class_colors(num_classes)


def colorize(mask: np.ndarray, palette: Sequence[Color], ignore_index: int = 255) -> np.ndarray:
    """Map HxW class ids to an HxWx3 uint8 image.

    Ignored pixels are white; ids outside the palette are grey.
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be HxW, got shape {mask.shape}")
    ids = mask.astype(np.int64)
    table = np.array([*palette, _GREY], dtype=np.uint8).reshape(-1, 3)
    lookup = np.where((ids >= 0) & (ids < len(palette)), ids, len(palette))
    out = table[lookup]
    out[ids == ignore_index] = _WHITE
    return out


def palette_entries(palette: Sequence[Color], ignore_index: int = 255) -> list[Color]:
    """The 256 colours of a paletted mask file: the classes', white for `ignore_index`, grey for the rest."""
    entries = [*list(palette)[:256], *[_GREY] * max(0, 256 - len(palette))]
    if 0 <= ignore_index <= 255:
        entries[ignore_index] = _WHITE
    return entries


def tiff_colormap(palette: Sequence[Color], ignore_index: int = 255) -> np.ndarray:
    """`palette_entries` as a TIFF colour map: 3 x 256 uint16 (8-bit values scaled by 257)."""
    return np.array(palette_entries(palette, ignore_index), dtype=np.uint16).T * 257


def save_indexed_png(
    mask: np.ndarray, path: str | os.PathLike[str], palette: Sequence[Color], ignore_index: int = 255
) -> None:
    """Write a paletted ('P' mode) PNG whose pixel values are the class ids (atomic write).

    Palette entries come from ``palette``; entry ``ignore_index`` is white, unused entries grey.

    Raises:
        ValueError: If the mask is not HxW or holds ids outside 0..255.
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be HxW, got shape {mask.shape}")
    if mask.size and (int(mask.min()) < 0 or int(mask.max()) > 255):
        raise ValueError(f"class ids must be in 0..255, got {int(mask.min())}..{int(mask.max())}")
    entries = palette_entries(palette, ignore_index)
    image = Image.fromarray(mask.astype(np.uint8))
    image.putpalette([value for colour in entries for value in colour])  # "L" becomes "P"
    save_pil_atomic(image, path)


def overlay(
    image: np.ndarray,
    mask: np.ndarray,
    palette: Sequence[Color],
    alpha: float = 0.5,
    ignore_index: int = 255,
    skip_background: bool = True,
) -> np.ndarray:
    """Alpha-blend class colours over an image.

    Args:
        image: HxW, HxWx1 or HxWx3 uint8 image.
        mask: HxW class ids.
        palette: Colour per class.
        alpha: Weight of the class colour.
        ignore_index: Id of pixels left unblended.
        skip_background: Leave class 0 unblended.

    Returns:
        HxWx3 uint8 image.
    """
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    rgb = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
    if rgb.shape[:2] != mask.shape:
        raise ValueError(f"image {image.shape} and mask {mask.shape} sizes differ")
    blended = (1.0 - alpha) * rgb.astype(np.float64) + alpha * colorize(mask, palette, ignore_index)
    keep = mask == ignore_index
    if skip_background:
        keep |= mask == 0
    out = np.rint(np.clip(blended, 0, 255)).astype(np.uint8)
    out[keep] = rgb[keep]
    return out


def label_map_colors(images: np.ndarray, max_colors: int = 64, coverage: float = 0.95,
                     min_share: float = 0.002) -> list[Color]:
    """The palette of colour-coded label maps (N,H,W,3 uint8), most frequent first, or [] when the images are not
    label maps: at most `max_colors` colours, each on at least `min_share` of the pixels, must cover `coverage`."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.size == 0:
        return []
    colors, counts = np.unique(images.reshape(-1, 3), axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    share = counts[order] / counts.sum()
    kept = order[share >= min_share][:max_colors]
    if counts[kept].sum() < coverage * counts.sum():
        return []
    return [(int(r), int(g), int(b)) for r, g, b in colors[kept]]


def snap_to_palette(image: np.ndarray, palette: Sequence[Color]) -> np.ndarray:
    """H,W,3 uint8 image with every pixel replaced by its nearest `palette` colour (brush edges, JPEG noise)."""
    table = np.asarray(palette, dtype=np.int32).reshape(-1, 3)
    flat = image.reshape(-1, 3).astype(np.int32)
    nearest = np.empty(len(flat), dtype=np.int64)
    for start in range(0, len(flat), 1 << 18):  # bounded memory: pixels x colours distances per chunk
        chunk = flat[start:start + (1 << 18)]
        nearest[start:start + len(chunk)] = ((chunk[:, None, :] - table[None]) ** 2).sum(-1).argmin(1)
    return table[nearest].astype(np.uint8).reshape(image.shape)
