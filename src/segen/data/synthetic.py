"""Procedurally drawn shapes over noisy textured backgrounds, with exact masks.

Deterministic by seed: image `i` of a dataset depends only on `(seed, i)`. Binary datasets mark every
shape as foreground; multi-class datasets give each shape kind its own class (and a colour family,
jittered, so colour and shape both carry the class).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

from segen.data.io import save_image

SHAPES = ("circle", "rectangle", "triangle", "ellipse", "star", "pentagon")
_HUES = ((220, 60, 50), (60, 170, 230), (240, 200, 40), (150, 80, 220), (70, 200, 90), (240, 120, 200))


@dataclass(frozen=True)
class SyntheticSpec:
    """What to draw: image size, number of classes (2 = binary) and shapes per image."""

    height: int = 128
    width: int = 128
    num_classes: int = 4
    min_shapes: int = 2
    max_shapes: int = 5
    noise: float = 0.08
    channels: int = 3
    bits: int = 8

    def __post_init__(self) -> None:
        if not 2 <= self.num_classes <= len(SHAPES) + 1:
            raise ValueError(f"num_classes must be in 2..{len(SHAPES) + 1}, got {self.num_classes}")
        if self.height < 16 or self.width < 16:
            raise ValueError("synthetic images must be at least 16x16")
        if not 1 <= self.min_shapes <= self.max_shapes:
            raise ValueError("need 1 <= min_shapes <= max_shapes")
        if self.channels not in (1, 3):
            raise ValueError("channels must be 1 or 3")
        if not 8 <= self.bits <= 16:
            raise ValueError(f"bits must be in 8..16, got {self.bits}")

    @property
    def class_names(self) -> list[str]:
        """Class names: background first."""
        if self.num_classes == 2:
            return ["background", "shape"]
        return ["background", *SHAPES[: self.num_classes - 1]]


def make_sample(spec: SyntheticSpec, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw sample `index` of the dataset with `seed`.

    Returns:
        (image H,W,C: uint8, or uint16 in 0..2**bits - 1 above 8 bits; mask H,W uint8 class ids).
    """
    rng = np.random.default_rng([seed, index])
    image = _background(rng, spec.height, spec.width)
    mask = np.zeros((spec.height, spec.width), np.uint8)
    kinds = len(SHAPES) if spec.num_classes == 2 else spec.num_classes - 1
    for _ in range(int(rng.integers(spec.min_shapes, spec.max_shapes + 1))):
        kind = int(rng.integers(kinds))
        region = _shape_region(rng, SHAPES[kind], spec.height, spec.width)
        label = 1 if spec.num_classes == 2 else kind + 1
        mask[region] = label
        image[region] = _texture(rng, _HUES[kind], int(region.sum()))
    image += rng.normal(0.0, 255 * spec.noise, image.shape)
    if spec.bits > 8:
        image = np.clip(image, 0, 255) * (((1 << spec.bits) - 1) / 255.0)
        if spec.channels == 1:
            image = image.mean(axis=2, keepdims=True)
        return image.round().astype(np.uint16), mask
    pixels = np.clip(image, 0, 255).astype(np.uint8)
    if spec.channels == 1:
        pixels = pixels.mean(axis=2, keepdims=True).astype(np.uint8)
    return pixels, mask


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth random gradient plus low-frequency blobs, float H,W,3."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = rng.uniform(60, 140, 3)
    tilt = rng.uniform(-60, 60, (2, 3))
    image = base + yy[..., None] * tilt[0] + xx[..., None] * tilt[1]
    for _ in range(3):
        fy, fx, phase = rng.uniform(2, 8), rng.uniform(2, 8), rng.uniform(0, 2 * math.pi)
        image += rng.uniform(5, 20) * np.sin(fy * yy * math.pi + fx * xx * math.pi + phase)[..., None]
    return image


def _texture(rng: np.random.Generator, hue: tuple[int, int, int], n: int) -> np.ndarray:
    """Jittered colour of one shape kind, with mild per-pixel texture, float n,3."""
    colour = np.asarray(hue, float) * rng.uniform(0.7, 1.15) + rng.uniform(-25, 25, 3)
    return colour + rng.normal(0, 8, (n, 3))


def _shape_region(rng: np.random.Generator, kind: str, h: int, w: int) -> np.ndarray:
    """Boolean H,W region of one randomly placed shape of `kind`."""
    size = min(h, w)
    r = rng.uniform(0.08, 0.2) * size
    cy, cx = rng.uniform(r, h - r), rng.uniform(r, w - r)
    canvas = Image.new("1", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
    elif kind == "ellipse":
        draw.ellipse([cx - r, cy - 0.5 * r, cx + r, cy + 0.5 * r], fill=1)
    elif kind == "rectangle":
        ry = r * rng.uniform(0.5, 1.0)
        draw.rectangle([cx - r, cy - ry, cx + r, cy + ry], fill=1)
    else:
        draw.polygon(_polygon(rng, kind, cx, cy, r), fill=1)
    return np.asarray(canvas, dtype=bool)


def _polygon(rng: np.random.Generator, kind: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    start = rng.uniform(0, 2 * math.pi)
    if kind == "star":
        radii = [r if i % 2 == 0 else 0.45 * r for i in range(10)]
    else:
        radii = [r] * (3 if kind == "triangle" else 5)
    step = 2 * math.pi / len(radii)
    return [(cx + q * math.cos(start + i * step), cy + q * math.sin(start + i * step)) for i, q in enumerate(radii)]


def write_folder_dataset(root: str | Path, spec: SyntheticSpec | None = None, seed: int = 0,
                         splits: dict[str, int] | None = None) -> Path:
    """Write a synthetic dataset in the folder format: ROOT/{split}/{images,masks}/*.png + classes.yaml.

    Args:
        root: destination folder (created).
        spec: what to draw; defaults to 4 classes at 128x128.
        seed: dataset seed; splits use disjoint sample indices.
        splits: images per split, default {"train": 64, "val": 16, "test": 16}.
    """
    spec = spec or SyntheticSpec()
    splits = splits if splits is not None else {"train": 64, "val": 16, "test": 16}
    root = Path(root)
    offset = 0
    for split, count in splits.items():
        (root / split / "images").mkdir(parents=True, exist_ok=True)
        (root / split / "masks").mkdir(parents=True, exist_ok=True)
        for i in range(count):
            image, mask = make_sample(spec, seed, offset + i)
            save_image(image, root / split / "images" / f"{split}_{i:04d}.png")
            Image.fromarray(mask).save(root / split / "masks" / f"{split}_{i:04d}.png")
        offset += count
    colours = [[0, 0, 0], *[list(c) for c in _HUES[: spec.num_classes - 1]]]
    classes = {"names": spec.class_names, "colors": colours}
    (root / "classes.yaml").write_text(yaml.safe_dump(classes, sort_keys=False))
    return root


def class_colours(spec: SyntheticSpec) -> list[tuple[int, int, int]]:
    """The display colour of each class (black background), as written to classes.yaml."""
    return [(0, 0, 0), *_HUES[: spec.num_classes - 1]]


def write_paired_dataset(root: str | Path, spec: SyntheticSpec | None = None, seed: int = 0,
                         count: int = 64) -> Path:
    """Write label map -> photo pairs for image-to-image GANs: ROOT/A/N.png (colour label maps, the class
    colours of `class_colours`) and ROOT/B/N.png (the images), N = 1..count.
    """
    spec = spec or SyntheticSpec()
    root = Path(root)
    (root / "A").mkdir(parents=True, exist_ok=True)
    (root / "B").mkdir(parents=True, exist_ok=True)
    lut = np.array(class_colours(spec), dtype=np.uint8)
    for i in range(1, count + 1):
        image, mask = make_sample(spec, seed, i)
        Image.fromarray(lut[mask]).save(root / "A" / f"{i}.png")
        save_image(image, root / "B" / f"{i}.png")
    return root
