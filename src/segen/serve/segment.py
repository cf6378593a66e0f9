"""The Segment tab's work, without the page: an uploaded file -> mask, probabilities, preview, class shares.

The mask is the one `segen seg predict` writes for the same file: the same reading, the same tiling rule
and the same prediction (`segen.inference.predict.predict_image`), the same paletted PNG.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
from PIL import Image

from segen.data.io import read_image
from segen.errors import DataError, SegenError
from segen.inference import Segmenter
from segen.inference.predict import npy_bytes, predict_image
from segen.inference.tiling import AUTO_TILING
from segen.inference.tta import tta_transforms
from segen.preprocess import to_unit, unit_to_uint8
from segen.reports import overlay, save_indexed_png
from segen.runtime import write_atomic

Color = tuple[int, int, int]


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server."""

    max_upload_mb: float = 50.0
    max_pixels: int = 40_000_000
    preview_side: int = 1024


@dataclass
class Segmentation:
    """One uploaded image's prediction: files to download and a small preview to draw."""

    mask_file: Path
    probabilities_file: Path | None
    preview: np.ndarray  # H',W',3 uint8, the image scaled to fit the preview
    preview_mask: np.ndarray  # H',W' class ids at the preview's size
    size: tuple[int, int]  # the image's H, W
    tiled: bool
    shares: list[tuple[str, Color, int, float]]  # (class, colour, pixels, share)


def with_tta(segmenter: Segmenter, mode: str) -> Segmenter:
    """`segmenter` predicting with TTA `mode`, sharing its model (no copy of the weights)."""
    if mode == segmenter.tta:
        return segmenter
    tta_transforms(mode)  # ValueError for an unknown mode
    other = copy.copy(segmenter)
    other.tta = mode
    return other


def check_upload(path: Path, name: str, limits: Limits) -> None:
    """DataError naming the upload when it is too large to accept."""
    size_mb = path.stat().st_size / 2**20
    if size_mb > limits.max_upload_mb:
        raise DataError(f"{name}: {size_mb:.1f} MB, above this server's upload limit of {limits.max_upload_mb:g} MB",
                        kind="too-large")


@contextmanager
def named_as(upload: Path, name: str) -> Iterator[None]:
    """Re-raise a segen error about the server's copy of an upload as one about `name`, the user's file."""
    try:
        yield
    except SegenError as exc:
        raise type(exc)(str(exc).replace(str(upload), name), kind=exc.kind) from None


def segment_upload(segmenter: Segmenter, upload: Path, name: str, out_dir: Path, limits: Limits,
                   probabilities: bool = False, on_progress: Callable[[float], None] | None = None) -> Segmentation:
    """Predict one uploaded file into a new folder under `out_dir`; errors name the file as `name`."""
    with named_as(upload, name):
        check_upload(upload, name, limits)
        limit = min(limits.max_pixels, segmenter.max_pixels or limits.max_pixels)
        image = read_image(upload, segmenter.info.channels, limit)
        segmenter.check_depth(image, name)
    size = (int(image.shape[-2]), int(image.shape[-1]))
    spec = segmenter.tile_for(size, AUTO_TILING)
    rows = (lambda done, total: on_progress(done / total)) if on_progress is not None else None
    mask, probs = predict_image(segmenter, image, spec, probabilities, rows)
    folder = Path(tempfile.mkdtemp(prefix="predict-", dir=out_dir))
    stem = Path(name).stem or "image"
    mask_file = folder / f"{stem}.png"
    save_indexed_png(mask, mask_file, segmenter.palette, segmenter.info.ignore_index)
    prob_file = None
    if probs is not None:
        prob_file = write_atomic(folder / f"{stem}_prob.npy", npy_bytes(probs))
    pixels = unit_to_uint8(to_unit(image, segmenter.info.max_value)).permute(1, 2, 0).numpy()
    preview, preview_mask = _preview(pixels, mask, limits.preview_side)
    return Segmentation(mask_file, prob_file, preview, preview_mask, size, spec is not None,
                        class_shares(mask, segmenter.info.class_names, segmenter.palette))


def class_shares(mask: np.ndarray, names: list[str], palette: list[Color]) -> list[tuple[str, Color, int, float]]:
    """(class, colour, pixel count, share of the image) for every class."""
    counts = np.bincount(mask.ravel(), minlength=len(names))[:len(names)]
    total = max(int(mask.size), 1)
    return [(name, palette[i], int(counts[i]), int(counts[i]) / total) for i, name in enumerate(names)]


def _preview(pixels: np.ndarray, mask: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """The image (bilinear) and mask (nearest) scaled down to fit `side` x `side`; unchanged if they fit."""
    height, width = mask.shape
    scale = min(1.0, side / max(height, width))
    if scale == 1.0:
        return pixels, mask
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    grey = pixels.ndim == 3 and pixels.shape[2] == 1
    image = Image.fromarray(pixels[:, :, 0] if grey else pixels).resize(size, Image.Resampling.BILINEAR)
    small = Image.fromarray(mask).resize(size, Image.Resampling.NEAREST)
    return np.asarray(image), np.asarray(small)


def render_overlay(result: Segmentation, palette: list[Color], opacity: float, ignore_index: int) -> np.ndarray:
    """The preview with the predicted classes blended in at `opacity` (0: the image, 1: the class colours)."""
    return overlay(result.preview, result.preview_mask, palette, alpha=float(np.clip(opacity, 0.0, 1.0)),
                   ignore_index=ignore_index)


def legend_html(result: Segmentation, tiled_note: bool = True) -> str:
    """The class legend with each class's share of the image, as an HTML table."""
    rows = "".join(
        f'<tr><td><span class="swatch" style="background: rgb{tuple(color)}"></span></td>'
        f"<td>{escape(name)}</td><td class=num>{pixels:,}</td><td class=num>{share:.2%}</td></tr>"
        for name, color, pixels, share in result.shares)
    height, width = result.size
    note = f"{width}x{height} pixels" + (", predicted in tiles" if result.tiled and tiled_note else "")
    return (f'<table class="legend"><tr><th></th><th>class</th><th>pixels</th><th>share</th></tr>{rows}</table>'
            f"<p>{escape(note)}</p>")

