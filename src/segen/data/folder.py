"""The folder format: ROOT/{train,val,test}/{images,masks}/*, paired by file stem, with classes.yaml.

Masks hold class ids (0..C-1) plus an ignore value (default 255), or are paletted PNGs; a dataset
whose masks hold only 0 and 255 is binary and is read as 0/1. This module is also the one home of
pairing files (`pair_keys`, `pair_folders`): every format lists a split as a `SplitListing`.
"""

from __future__ import annotations

from collections.abc import Callable
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


@dataclass
class SplitListing:
    """The image/mask pairs a format can make of one split, and the problems that kept other files out.

    `problems` are DataErrors carrying a `kind` (missing, unpaired, duplicate, empty, invalid) and the
    `path` at fault; `segen data check` reports them all, training takes `strict()`.
    """

    samples: list[Sample]
    problems: list[DataError] = field(default_factory=list)

    def strict(self) -> list[Sample]:
        """The samples when there is no problem; else raise the first problem."""
        if self.problems:
            raise self.problems[0]
        return self.samples


def has_split(root: Path, split: str) -> bool:
    """Whether ROOT/split/images exists."""
    return (root / split / "images").is_dir()


def list_split(root: Path, split: str) -> list[Sample]:
    """Image/mask pairs of ROOT/split/{images,masks}, sorted by stem; unpaired or duplicate files raise DataError."""
    return split_listing(root, split).strict()


def split_listing(root: Path, split: str) -> SplitListing:
    """The pairs of ROOT/split/{images,masks} and every missing folder, duplicate or unpaired file."""
    if not root.is_dir():
        return SplitListing([], [DataError(f"{root}: data folder not found", kind="missing", path=root)])
    return pair_folders(root / split / "images", root / split / "masks", split)


def pair_folders(images_dir: Path, masks_dir: Path, split: str) -> SplitListing:
    """Pairs of two parallel folders matched by file stem, sorted, with every file that has no partner."""
    missing = [DataError(f"{folder}: folder not found (split {split!r})", kind="missing", path=folder)
               for folder in (images_dir, masks_dir) if not folder.is_dir()]
    if missing:
        return SplitListing([], missing)
    problems: list[DataError] = []
    images, masks = files_by_stem(images_dir, problems), files_by_stem(masks_dir, problems)
    if not images:
        problems.append(DataError(f"{images_dir}: no images ({', '.join(IMAGE_SUFFIXES)}) in split {split!r}",
                                  kind="empty", path=images_dir))
    return pair_keys(images, masks, problems, lambda _: f"no mask with the same name in {masks_dir}",
                     lambda _: f"no image with the same name in {images_dir}")


def pair_keys(images: dict[str, Path], masks: dict[str, Path], problems: list[DataError],
              no_mask: Callable[[str], str], no_image: Callable[[str], str]) -> SplitListing:
    """Pairs of the files with the same key, sorted by key; each file without a partner is an 'unpaired' problem.

    Args:
        images: image files by pairing key.
        masks: mask files by pairing key.
        problems: problems found so far (kept first).
        no_mask: what an image without a mask lacks, from its key.
        no_image: what a mask without an image lacks, from its key.
    """
    problems = list(problems)
    problems += [DataError(f"{path}: {no_mask(key)}", kind="unpaired", path=path)
                 for key, path in images.items() if key not in masks]
    problems += [DataError(f"{path}: {no_image(key)}", kind="unpaired", path=path)
                 for key, path in masks.items() if key not in images]
    return SplitListing([Sample(images[k], masks[k]) for k in sorted(images) if k in masks], problems)


def files_by_stem(folder: Path, problems: list[DataError]) -> dict[str, Path]:
    """Image files of `folder` by stem (the first in name order); each later file with a taken stem is a problem."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
            continue
        if path.stem in found:
            problems.append(DataError(f"{path}: duplicate name; {found[path.stem].name} has the same stem",
                                      kind="duplicate", path=path))
            continue
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
        raise DataError(f"{path}: not valid YAML", kind="invalid", path=path) from None
    names = data.get("names") if isinstance(data, dict) else data
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
        raise DataError(f"{path}: expected 'names:' with a list of at least two class names", kind="invalid",
                        path=path)
    colors = data.get("colors", []) if isinstance(data, dict) else []
    if colors and (len(colors) != len(names) or not all(_is_rgb(c) for c in colors)):
        raise DataError(f"{path}: 'colors' must give one [r, g, b] (0..255) per class name", kind="invalid",
                        path=path)
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
            raise DataError(f"{sample.mask}: {size_mismatch(mask.shape, size, sample.image)}", kind="mismatch",
                            path=sample.mask)
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


def loader_lut(lut: np.ndarray | None, values: set[int], classes: ClassInfo | None) -> np.ndarray:
    """The table the loader applies: the format's `lut`, else 0/255 binary masks read as 0/1, else identity."""
    if lut is None and is_binary_255(values) and (classes is None or classes.num_classes == 2):
        lut = binary_lut()
    return lut if lut is not None else np.arange(256, dtype=np.uint8)


def check_mask_values(scanned: ScannedSplit, num_classes: int, ignore_index: int,
                      lut: np.ndarray | None = None) -> None:
    """Raise DataError naming the first mask with a class id >= num_classes that is not the ignore value."""
    for sample, raw in zip(scanned.samples, scanned.sample_values, strict=True):
        ids = {int(lut[v]) for v in raw} if lut is not None else raw
        bad = sorted(v for v in ids if v >= num_classes and v != ignore_index)
        if bad:
            raise DataError(f"{sample.mask}: {out_of_range(bad, num_classes, ignore_index)}", kind="values",
                            path=sample.mask)


def size_mismatch(mask: tuple[int, ...], image: tuple[int, ...], image_path: Path) -> str:
    """Why a mask of (height, width) `mask` does not fit its image of `image`."""
    return (f"mask size {mask[1]}x{mask[0]} does not match image {image_path.name} "
            f"({image[1]}x{image[0]})")


def out_of_range(ids: list[int], num_classes: int, ignore_index: int) -> str:
    """Why class ids `ids` (sorted) are wrong."""
    return (f"class id {', '.join(map(str, ids))} >= number of classes {num_classes} "
            f"(and not the ignore value {ignore_index})")
