"""The folder format: ROOT/{train,val,test}/{images,masks}/*, paired by file stem, with classes.yaml.

Masks hold class ids (0..C-1) plus an ignore value (default 255), or are paletted PNGs; a dataset
whose masks hold only 0 and 255 is binary and is read as 0/1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from segen.data.io import IMAGE_SUFFIXES, image_channels, image_size, read_mask
from segen.errors import DataError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Sample:
    """One image/mask pair on disk."""

    image: Path
    mask: Path


@dataclass
class ClassInfo:
    """Class names and display colours."""

    names: list[str]
    colors: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.names)


def has_split(root: Path, split: str) -> bool:
    """Whether ROOT/split/images exists."""
    return (root / split / "images").is_dir()


def list_split(root: Path, split: str) -> list[Sample]:
    """Image/mask pairs of ROOT/split/{images,masks}, sorted by stem; unpaired or duplicate files raise DataError."""
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    return pair_by_stem(root / split / "images", root / split / "masks", split)


def pair_by_stem(images_dir: Path, masks_dir: Path, split: str) -> list[Sample]:
    """Pairs of two parallel folders matched by file stem, sorted; unpaired files raise DataError."""
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise DataError(f"{folder}: folder not found (split {split!r})")
    images, masks = _by_stem(images_dir), _by_stem(masks_dir)
    if not images:
        raise DataError(f"{images_dir}: no images ({', '.join(IMAGE_SUFFIXES)}) in split {split!r}")
    for stem, path in images.items():
        if stem not in masks:
            raise DataError(f"{path}: no mask with the same name in {masks_dir}")
    for stem, path in masks.items():
        if stem not in images:
            raise DataError(f"{path}: no image with the same name in {images_dir}")
    return [Sample(images[s], masks[s]) for s in sorted(images)]


def _by_stem(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
            continue
        if path.stem in found:
            raise DataError(f"{path}: duplicate name; {found[path.stem].name} has the same stem")
        found[path.stem] = path
    return found


def read_classes(root: Path) -> ClassInfo | None:
    """Class names and colours from ROOT/classes.yaml, or None when there is none."""
    path = root / "classes.yaml"
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError):
        raise DataError(f"{path}: not valid YAML") from None
    names = data.get("names") if isinstance(data, dict) else data
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
        raise DataError(f"{path}: expected 'names:' with a list of at least two class names")
    colors = data.get("colors", []) if isinstance(data, dict) else []
    if colors and (len(colors) != len(names) or not all(_is_rgb(c) for c in colors)):
        raise DataError(f"{path}: 'colors' must give one [r, g, b] (0..255) per class name")
    return ClassInfo(list(names), [tuple(c) for c in colors])


def _is_rgb(value: object) -> bool:
    return isinstance(value, list) and len(value) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in value)


@dataclass
class ScannedSplit:
    """A split after checking every pair: sizes, the raw mask values of each sample, optionally the masks."""

    samples: list[Sample]
    sizes: list[tuple[int, int]]
    sample_values: list[set[int]]
    channels: int
    masks: list[np.ndarray] | None = None

    @property
    def values(self) -> set[int]:
        """All raw values found in the split's masks."""
        return set().union(*self.sample_values)


def scan_split(samples: list[Sample], keep_masks: bool = True) -> ScannedSplit:
    """Decode every mask and check it against its image's size; raise DataError naming the file."""
    masks, sizes, values = [], [], []
    for sample in samples:
        mask = read_mask(sample.mask)
        size = image_size(sample.image)
        if mask.shape != size:
            raise DataError(f"{sample.mask}: mask size {mask.shape[1]}x{mask.shape[0]} does not match image "
                            f"{sample.image.name} ({size[1]}x{size[0]})")
        values.append(set(np.unique(mask).tolist()))
        sizes.append(size)
        if keep_masks:
            masks.append(mask)
    return ScannedSplit(samples, sizes, values, image_channels(samples[0].image), masks if keep_masks else None)


def is_binary_255(values: set[int]) -> bool:
    """Masks with only 0 and 255 (both present) are a binary dataset stored as 0/255."""
    return values == {0, 255}


def binary_lut() -> np.ndarray:
    """Lookup table of 0/255 binary masks: 255 -> 1, everything else kept."""
    lut = np.arange(256, dtype=np.uint8)
    lut[255] = 1
    return lut


def check_mask_values(scanned: ScannedSplit, num_classes: int, ignore_index: int,
                      lut: np.ndarray | None = None) -> None:
    """Raise DataError naming the first mask with a class id >= num_classes that is not the ignore value."""
    for sample, raw in zip(scanned.samples, scanned.sample_values, strict=True):
        ids = {int(lut[v]) for v in raw} if lut is not None else raw
        bad = sorted(v for v in ids if v >= num_classes and v != ignore_index)
        if bad:
            raise DataError(f"{sample.mask}: class id {bad[0]} >= number of classes {num_classes} "
                            f"(and not the ignore value {ignore_index})")
