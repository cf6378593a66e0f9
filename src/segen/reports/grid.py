"""Image grids, array-to-image conversion and atomic file writes."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from segen.runtime import write_atomic


def pil_png_bytes(image: Image.Image) -> bytes:
    """A PIL image encoded as PNG: the one PNG encoder of segen's reports."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_pil_atomic(image: Image.Image, path: str | os.PathLike[str]) -> None:
    """Encode a PIL image as PNG and write it atomically."""
    write_atomic(path, pil_png_bytes(image))


def png_bytes(array: np.ndarray) -> bytes:
    """An HxW or HxWx3 uint8 array encoded as PNG.

    Raises:
        ValueError: If the array is not uint8 or has the wrong shape.
    """
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"expected an HxW or HxWx3 uint8 array, got {array.dtype} {array.shape}")
    return pil_png_bytes(Image.fromarray(array))


def save_png(array: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Save an HxW or HxWx3 uint8 array as a PNG (atomic write).

    Raises:
        ValueError: If the array is not uint8 or has the wrong shape.
    """
    write_atomic(path, png_bytes(array))


def fit_within(image: np.ndarray, max_side: int, nearest: bool = False) -> np.ndarray:
    """A uint8 image shrunk (never enlarged) so that its longer side is at most `max_side`; `nearest` keeps
    exact colours (class masks), else pixels are averaged."""
    height, width = image.shape[:2]
    scale = max_side / max(height, width, 1)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    method = Image.Resampling.NEAREST if nearest else Image.Resampling.BOX
    return np.asarray(Image.fromarray(image).resize(size, method))


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Expand HxW or HxWx1 to HxWx3; check the dtype and shape."""
    if image.dtype != np.uint8:
        raise ValueError(f"grid cells must be uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"grid cells must be HxW or HxWx3, got shape {image.shape}")


def image_grid(rows: Sequence[Sequence[np.ndarray]], pad: int = 2, background: int = 255) -> np.ndarray:
    """Tile images into one HxWx3 uint8 array.

    Every cell has the size of the largest image; smaller images are centred. Short rows are
    filled with ``background``. ``pad`` pixels separate the cells and surround the grid.

    Args:
        rows: Rows of HxW or HxWx3 uint8 images.
        pad: Gap between cells, in pixels.
        background: Grey level of the gaps and empty cells.

    Raises:
        ValueError: If there are no images or an image has the wrong dtype or shape.
    """
    cells = [[_as_rgb(image) for image in row] for row in rows]
    images = [image for row in cells for image in row]
    if not images:
        raise ValueError("image_grid needs at least one image")
    cell_h = max(image.shape[0] for image in images)
    cell_w = max(image.shape[1] for image in images)
    n_cols = max(len(row) for row in cells)
    height = len(cells) * (cell_h + pad) + pad
    width = n_cols * (cell_w + pad) + pad
    out = np.full((height, width, 3), background, dtype=np.uint8)
    for r, row in enumerate(cells):
        for c, image in enumerate(row):
            top = pad + r * (cell_h + pad) + (cell_h - image.shape[0]) // 2
            left = pad + c * (cell_w + pad) + (cell_w - image.shape[1]) // 2
            out[top : top + image.shape[0], left : left + image.shape[1]] = image
    return out


def to_uint8_image(x: np.ndarray) -> np.ndarray:
    """Convert a CxHxW, HxWxC or HxW array to an HxWx3 or HxW uint8 image.

    Floating-point input is taken to lie in [0, 1]; it is clipped, scaled and rounded. Integer
    input is clipped to 0..255. A leading axis of size 1 or 3 is read as channels when the last
    axis is not.

    Raises:
        ValueError: If the shape is not that of a 1- or 3-channel image.
    """
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[0] in (1, 3) and x.shape[2] not in (1, 3):
        x = np.transpose(x, (1, 2, 0))
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[:, :, 0]
    if not (x.ndim == 2 or (x.ndim == 3 and x.shape[2] == 3)):
        raise ValueError(f"expected CxHxW, HxWxC (C = 1 or 3) or HxW, got shape {x.shape}")
    if x.dtype == np.uint8:
        return x.copy()
    if np.issubdtype(x.dtype, np.integer):
        return np.clip(x, 0, 255).astype(np.uint8)
    return np.rint(np.clip(x.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
