"""The folder format: ROOT/{train,val,test}/{images,masks}/*, paired by file stem, with classes.yaml.

Masks hold class ids (0..C-1) plus an ignore value (default 255), or are paletted PNGs; a dataset
whose masks hold only 0 and 255 is binary and is read as 0/1. Every format lists a split as a
`SplitListing` of `Sample` pairs, made here by `pair_folders` / `pair_keys` (on `segen.data.readers`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from segen.data.io import IMAGE_SUFFIXES
from segen.data.readers import files_by_stem, pair_by_key
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
    pairs, lone_images, lone_masks = pair_by_key(images, masks)
    problems = [*problems, *(DataError(f"{images[key]}: {no_mask(key)}", kind="unpaired", path=images[key])
                             for key in lone_images),
                *(DataError(f"{masks[key]}: {no_image(key)}", kind="unpaired", path=masks[key]) for key in lone_masks)]
    return SplitListing([Sample(image, mask) for image, mask in pairs], problems)


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
