"""The Generate tab's work, without the page: samples from a seed (dcgan, cgan) and pix2pix translations of an
uploaded or drawn label map."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from segen.data.io import read_image
from segen.errors import ConfigError, DataError
from segen.inference.generator import Generator, as_hwc, grid_of
from segen.reports import save_png
from segen.reports.palette import snap_to_palette
from segen.serve.segment import Limits, check_upload, named_as

MAX_SAMPLES = 64


def sample(generator: Generator, seed: int, count: int, class_name: str | None, out_dir: Path
           ) -> tuple[np.ndarray, Path]:
    """(the grid of `count` samples from `seed`, its PNG): the same seed gives the same images."""
    if not 1 <= count <= MAX_SAMPLES:
        raise ConfigError(f"number of samples must be in 1..{MAX_SAMPLES}, got {count}")
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    label = None
    if generator.info.conditioning == "class" and class_name:
        if class_name not in generator.info.class_names:
            raise ConfigError(f"unknown class {class_name!r}")
        label = generator.info.class_names.index(class_name)
    images = generator.sample(count, seed=int(seed), labels=label)
    grid = _grid(images)
    return grid, _save(grid, out_dir, f"samples-seed{seed}.png")


def translate_upload(generator: Generator, upload: Path, name: str, out_dir: Path, limits: Limits
                     ) -> tuple[np.ndarray, Path]:
    """pix2pix: (the image generated from an uploaded input, its PNG); errors name the file as `name`."""
    with named_as(upload, name):
        check_upload(upload, name, limits)
        image = read_image(upload, generator.info.in_channels, limits.max_pixels)
    if not image.dtype == torch.uint8:
        raise DataError(f"{name}: a 16-bit image; pix2pix takes 8-bit inputs", kind="mismatch")
    out = as_hwc(generator.translate(image[None])[0])
    return out, _save(out, out_dir, f"{Path(name).stem or 'input'}-generated.png")


def translate_drawing(generator: Generator, drawing: np.ndarray | None, palette: list[tuple[int, int, int]],
                      out_dir: Path, limits: Limits) -> tuple[np.ndarray, Path]:
    """pix2pix: (the image generated from a label map drawn on the canvas, its PNG). Brush edges are snapped
    to the nearest palette colour, so the input holds only the label colours the model was trained on."""
    if drawing is None or drawing.ndim != 3 or drawing.size == 0:
        raise DataError("draw a label map on the canvas first", kind="missing")
    if drawing.shape[0] * drawing.shape[1] > limits.max_pixels:
        raise DataError(f"the drawing has {drawing.shape[0] * drawing.shape[1]:,} pixels, above the limit of "
                        f"{limits.max_pixels:,}", kind="too-large")
    rgb = _rgb(drawing)
    if palette:
        rgb = snap_to_palette(rgb, palette)
    image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
    if generator.info.in_channels == 1:
        image = image[:1]
    out = as_hwc(generator.translate(image[None])[0])
    return out, _save(out, out_dir, "drawing-generated.png")


def blank_canvas(generator: Generator, palette: list[tuple[int, int, int]]) -> np.ndarray:
    """An H,W,3 canvas of the model's image size, filled with the first (most frequent) label colour."""
    height, width = generator.info.image_size
    color = palette[0] if palette else (0, 0, 0)
    return np.broadcast_to(np.asarray(color, dtype=np.uint8), (height, width, 3)).copy()


def _rgb(drawing: np.ndarray) -> np.ndarray:
    """H,W,3 uint8 from the canvas's H,W,3 or H,W,4 (alpha composited over black)."""
    array = drawing.astype(np.float32)
    if array.shape[2] == 4:
        array = array[:, :, :3] * (array[:, :, 3:] / 255.0)
    return np.rint(np.clip(array[:, :, :3], 0, 255)).astype(np.uint8)


def _grid(images: torch.Tensor) -> np.ndarray:
    return as_hwc(images[0]) if len(images) == 1 else grid_of(images)


def _save(image: np.ndarray, out_dir: Path, name: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="generate-", dir=out_dir)) / name
    save_png(image, path)
    return path
