"""Masks and class ids: scanning a split, the lookup table the loader applies, class inference and id checks.

The loader, `segen data check`, `segen data stats` and `segen data convert` all decide here which table
turns stored mask values into class ids (`loader_lut`), how many classes a dataset without class names
has (`infer_classes`) and which ids are out of range (`bad_ids`), so they never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segen.data.io import image_channels, image_size, read_mask
from segen.data.seg.folder import ClassInfo, Sample
from segen.errors import DataError


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


def identity_lut() -> np.ndarray:
    """The lookup table that keeps every value."""
    return np.arange(256, dtype=np.uint8)


def is_binary_255(values: set[int]) -> bool:
    """Masks with only 0 and 255 (both present) are a binary dataset stored as 0/255."""
    return values == {0, 255}


def binary_lut() -> np.ndarray:
    """Lookup table of 0/255 binary masks: 255 -> 1, everything else kept."""
    lut = identity_lut()
    lut[255] = 1
    return lut


def loader_lut(lut: np.ndarray | None, values: set[int], classes: ClassInfo | None) -> np.ndarray | None:
    """The table the loader applies: the format's `lut`, else the binary table for 0/255 masks, else None (identity).

    Args:
        lut: the format's table (`DatasetFormat.mask_lut`), or None.
        values: every raw value found in the dataset's masks.
        classes: the format's classes, or None.
    """
    if lut is None and is_binary_255(values) and (classes is None or classes.num_classes == 2):
        return binary_lut()
    return lut


def map_ids(values: Iterable[int], lut: np.ndarray | None) -> set[int]:
    """The class ids of raw mask `values` after `lut` (None: the values themselves)."""
    return {int(lut[v]) for v in values} if lut is not None else set(values)


def infer_classes(ids: Iterable[int], ignore_index: int, at_least: int = 0) -> ClassInfo:
    """Classes of a dataset without class names: max id + 1 of the used `ids` (at least 2 and `at_least`)."""
    count = max(max((i for i in ids if i != ignore_index), default=0) + 1, 2, at_least)
    return ClassInfo(["background", "foreground"] if count == 2 else [f"class_{i}" for i in range(count)])


def bad_ids(ids: Iterable[int], num_classes: int, ignore_index: int) -> list[int]:
    """The `ids` that are neither a class (< `num_classes`) nor the ignore value, sorted."""
    return sorted(i for i in set(ids) if i >= num_classes and i != ignore_index)


def check_mask_values(scanned: ScannedSplit, num_classes: int, ignore_index: int,
                      lut: np.ndarray | None = None) -> None:
    """Raise DataError naming the first mask with a class id >= num_classes that is not the ignore value."""
    for sample, raw in zip(scanned.samples, scanned.sample_values, strict=True):
        bad = bad_ids(map_ids(raw, lut), num_classes, ignore_index)
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
