"""Shared readers of image folders: listing, pairing by stem, the data's value range, uint8 images and resizing.

Segmentation formats and GAN layouts both list and pair their files here, so a hidden file, a duplicate
stem, a 16-bit image or a resize is treated the same way by every format and layout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2.functional import resize

from segen.data.io import IMAGE_SUFFIXES, image_bits, read_image
from segen.errors import DataError
from segen.preprocess import UINT8_MAX, bit_range, match_channels, to_unit, unit_to_uint8

Size = tuple[int, int]


# --- listing and pairing ------------------------------------------------------------------------------------


def is_image_file(path: Path, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> bool:
    """Whether `path` is a file with one of `suffixes` (any case) whose name does not start with a dot."""
    return path.suffix.lower() in suffixes and not path.name.startswith(".") and path.is_file()


def iter_images(folder: Path, recursive: bool = False, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> Iterator[Path]:
    """Image files of `folder` (and of its sub-folders when `recursive`), unsorted; hidden files and folders skipped."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return (path for path in found if is_image_file(path, suffixes)
            and not any(part.startswith(".") for part in path.relative_to(folder).parts))


def list_images(folder: Path, recursive: bool = False, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Image files of `folder` (recursively when asked), sorted; hidden files and folders skipped."""
    return sorted(iter_images(folder, recursive, suffixes))


def files_by_stem(folder: Path, problems: list[DataError], suffixes: Sequence[str] = IMAGE_SUFFIXES) -> dict[str, Path]:
    """Image files of `folder` by stem (the first in name order); each later file with a taken stem is a problem."""
    found: dict[str, Path] = {}
    for path in list_images(folder, suffixes=suffixes):
        if path.stem in found:
            problems.append(DataError(f"{path}: duplicate name; {found[path.stem].name} has the same stem",
                                      kind="duplicate", path=path))
            continue
        found[path.stem] = path
    return found


def pair_by_key(first: dict[str, Path], second: dict[str, Path]
                ) -> tuple[list[tuple[Path, Path]], list[str], list[str]]:
    """The files with the same key paired (sorted by key), then the keys of `first` and `second` without a partner."""
    pairs = [(first[key], second[key]) for key in sorted(first) if key in second]
    return pairs, [key for key in first if key not in second], [key for key in second if key not in first]


# --- value range and uint8 ----------------------------------------------------------------------------------


def depth_range(paths: Sequence[Path], peak: Callable[[int], int]) -> int:
    """The value range of the images `paths`: 255 for 8-bit images, else their largest value rounded up to whole bits.

    Reads every header, and every 16-bit image through `peak(i)` (the largest value of image `i`); a mix of
    8-bit and 16-bit images is refused, so that one range holds for all.
    """
    wide = [i for i, path in enumerate(paths) if image_bits(path) > 8]
    if not wide:
        return UINT8_MAX
    if len(wide) < len(paths):
        taken = set(wide)
        narrow = next(path for i, path in enumerate(paths) if i not in taken)
        raise DataError(f"{narrow}: 8-bit image in a dataset of 16-bit images (such as {paths[wide[0]].name}); "
                        "convert them to one bit depth, so that one value range holds for all", kind="mismatch",
                        path=narrow)
    return bit_range(max(peak(i) for i in wide))


def wide_range(paths: Sequence[Path], channels: int) -> int | None:
    """The value range of 16-bit data, or None for 8-bit data, as the first image says.

    8-bit data costs one header; for 16-bit data every image is read once (`depth_range`). A 16-bit image
    in 8-bit data is refused when it is read (`read_uint8`).
    """
    if not paths or image_bits(paths[0]) <= 8:
        return None
    return depth_range(paths, lambda i: int(read_image(paths[i], channels).max()))


def read_uint8(path: Path, channels: int, max_value: int | None) -> torch.Tensor:
    """Image `path` as uint8 C,H,W: 8-bit files as stored, 16-bit files scaled from the data's range 0..`max_value`.

    `max_value` None means 8-bit data (see `wide_range`): a 16-bit file there is refused.
    """
    image = read_image(path, channels)
    if image.dtype == torch.uint8:
        return image
    if max_value is None:
        raise DataError(f"{path}: 16-bit image in a dataset of 8-bit images; convert them to one bit depth, so that "
                        "one value range holds for all", kind="mismatch", path=path)
    return unit_to_uint8(to_unit(image, max_value))


# --- sizes and channels -------------------------------------------------------------------------------------


def resize_image(image: torch.Tensor, size: Size) -> torch.Tensor:
    """(N,)C,H,W `image` at (height, width) `size`: bilinear, antialiased (integers rounded); as it is if it fits."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return resize(image, list(size), antialias=True)


def resize_mask(mask: torch.Tensor, size: Size) -> torch.Tensor:
    """(C,)H,W class ids at (height, width) `size` by the nearest pixel centre (aligned with `resize_image`)."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    flat = mask[None] if mask.ndim == 2 else mask
    out = resize(flat, list(size), interpolation=InterpolationMode.NEAREST_EXACT)
    return out[0] if mask.ndim == 2 else out


def fit_image(image: torch.Tensor, size: Size, channels: int) -> torch.Tensor:
    """`image` (C,H,W) with `channels` channels (grey repeated, RGB by luma) at `size`; no resize when it fits."""
    return resize_image(match_channels(image, channels), size)
