"""Segmentation datasets: a checked folder dataset in memory or on disk, served as integer tensors.

Images are served at their own depth (uint8, or int32 for 16-bit files) with the data's value range
`SegmentationData.max_value`: 255 for 8-bit data; for 16-bit data the largest value in any image,
rounded up to whole bits (4095 for a 12-bit camera, at most 65535), so one scale holds for every image.
Normalisation and the conversion to float happen on whole batches (on the training device), not here.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from tqdm import tqdm

from segen.config import DataConfig
from segen.data.io import check_sizes, image_size, read_header, read_image, read_mask
from segen.data.readers import depth_range
from segen.data.seg.folder import ClassInfo, Sample
from segen.data.seg.formats import get_format
from segen.data.seg.masks import binary_lut, check_mask_values, infer_classes, loader_lut, map_ids, scan_split
from segen.errors import DataError
from segen.preprocess import UINT8_MAX

CACHE_LIMIT_BYTES = 2 * 1024**3
Transform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class SegmentationDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Image/mask pairs as (C,H,W uint8 or int32, uint8 H,W class ids) tensors, optionally transformed.

    Masks are kept in memory when given (decoded during the scan), else read per sample; `lut` maps
    stored mask values to class ids. Images are decoded per sample unless `cache` is set; images above
    `max_pixels` are refused. `sizes` None reads the (height, width) of each image from its header when
    first asked.
    """

    def __init__(self, samples: list[Sample], sizes: list[tuple[int, int]] | None, channels: int,
                 lut: np.ndarray | None = None, masks: list[np.ndarray] | None = None,
                 transform: Transform | None = None, cache: bool = False, max_pixels: int | None = None) -> None:
        self.samples = samples
        self._sizes = sizes
        self.channels = channels
        self.lut = lut
        self.masks = [torch.from_numpy(self._map(m)) for m in masks] if masks is not None else None
        self.transform = transform
        self.max_pixels = max_pixels
        self.images: list[torch.Tensor] | None = None
        if cache:
            self.images = [read_image(s.image, channels, max_pixels) for s in samples]

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """(height, width) of each image."""
        if self._sizes is None:
            self._sizes = [image_size(sample.image) for sample in self.samples]
        return self._sizes

    def _map(self, mask: np.ndarray) -> np.ndarray:
        return self.lut[mask] if self.lut is not None else mask

    def __len__(self) -> int:
        return len(self.samples)

    def image(self, index: int) -> torch.Tensor:
        """The decoded image `index`, C,H,W (uint8, or int32 for 16-bit files)."""
        if self.images is not None:
            return self.images[index]
        return read_image(self.samples[index].image, self.channels, self.max_pixels)

    def mask(self, index: int) -> torch.Tensor:
        """The class-id mask `index`, uint8 H,W."""
        if self.masks is not None:
            return self.masks[index]
        return torch.from_numpy(self._map(read_mask(self.samples[index].mask)))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.image(index), self.mask(index)
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask

    def with_transform(self, transform: Transform | None) -> SegmentationDataset:
        """A view of the same data (sharing the cache) with another transform."""
        view = object.__new__(SegmentationDataset)
        view.__dict__.update(self.__dict__)
        view.transform = transform
        return view


@dataclass
class SegmentationData:
    """A loaded dataset: format, class info, channels, value range, normalisation and the splits."""

    root: Path
    format: str
    classes: ClassInfo
    channels: int
    lut: np.ndarray | None
    train: SegmentationDataset
    val: SegmentationDataset
    test: SegmentationDataset | None
    mean: list[float]
    std: list[float]
    notes: list[str]
    max_value: int = UINT8_MAX
    crop: tuple[int, int] = (256, 256)
    """The training crop: `data.image_size`, cut down to the largest training image (see `fit_crop`)."""

    @property
    def binary_255(self) -> bool:
        """Whether masks are binary 0/255 files read as 0/1."""
        return self.format == "folder" and self.lut is not None


def load_segmentation_data(cfg: DataConfig, seed: int, num_classes: int | None = None) -> SegmentationData:
    """Scan and check a dataset; hold out a seeded share of train when there is no val split.

    Args:
        cfg: data configuration (root, format, ignore value, validation share, caching).
        seed: seed of the validation hold-out.
        num_classes: the expected number of classes (e.g. from a checkpoint), else from the format or masks.
    """
    root = Path(cfg.root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    fmt = get_format(cfg.format, root)
    splits = fmt.splits(root)
    if "train" not in splits:
        raise DataError(f"{root}: no training split found for format {fmt.name!r}")
    notes: list[str] = []
    train_samples = fmt.samples(root, "train")
    if "val" in splits:
        val_samples = fmt.samples(root, "val")
    else:
        train_samples, val_samples = _hold_out(train_samples, cfg.val_fraction, seed)
        notes.append(f"no val split in {root}: held out {len(val_samples)} of "
                     f"{len(train_samples) + len(val_samples)} training images ({cfg.val_fraction:.0%}, "
                     f"seed {seed}) for validation")
    test_samples = fmt.samples(root, "test") if "test" in splits else None
    keep = _want_cache(cfg.cache, train_samples + val_samples + (test_samples or []))
    scanned = [scan_split(s, keep) for s in (train_samples, val_samples, *([test_samples] if test_samples else []))]
    values = set().union(*(s.values for s in scanned))
    classes = fmt.classes(root)
    lut = loader_lut(fmt.mask_lut(root, cfg.ignore_index), values, classes)
    classes = _resolve_classes(classes, values, lut, cfg.ignore_index, num_classes, root)
    for split in scanned:
        check_mask_values(split, classes.num_classes, cfg.ignore_index, lut)
    if not map_ids(scanned[0].values, lut) - {cfg.ignore_index}:
        raise DataError(f"{root}: every training mask holds only the ignore value {cfg.ignore_index}; there is no "
                        "labelled pixel to learn from", kind="values", path=root)
    channels = scanned[0].channels
    train, val, *rest = (SegmentationDataset(s.samples, s.sizes, channels, lut, s.masks, cache=keep) for s in scanned)
    max_value = value_range([train, val, *rest])
    mean, std = channel_stats(train, max_value)
    crop = fit_crop(cfg.image_size, train.sizes)
    if crop != tuple(cfg.image_size):
        notes.append(f"training crop {crop[0]}x{crop[1]}: no training image is larger (data.image_size "
                     f"{cfg.image_size[0]}x{cfg.image_size[1]} is the most)")
    notes.extend(small_image_notes(crop, train.sizes))
    return SegmentationData(root, fmt.name, classes, channels, lut, train, val, rest[0] if rest else None,
                            mean, std, notes, max_value, crop)


def _hold_out(samples: list[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    if len(samples) < 2:
        raise DataError(f"{samples[0].image.parent}: need at least 2 training images to hold out a validation "
                        "share")
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    n_val = min(len(samples) - 1, max(1, round(fraction * len(samples))))
    val_ids = set(order[:n_val])
    return ([s for i, s in enumerate(samples) if i not in val_ids],
            [s for i, s in enumerate(samples) if i in val_ids])


def _resolve_classes(classes: ClassInfo | None, values: set[int], lut: np.ndarray | None, ignore_index: int,
                     expected: int | None, root: Path) -> ClassInfo:
    if classes is None:
        classes = infer_classes(map_ids(values, lut), ignore_index, expected or 0)
    if expected is not None and classes.num_classes != expected:
        raise DataError(f"{root}: dataset has {classes.num_classes} classes but the model was trained on "
                        f"{expected}")
    return classes


def _want_cache(mode: str, samples: list[Sample]) -> bool:
    """Keep decoded images and masks in memory: always, never, or when they fit a 2 GiB budget."""
    if mode != "auto":
        return mode == "yes"
    budget = CACHE_LIMIT_BYTES
    for sample in samples:
        header = read_header(sample.image)
        budget -= header.height * header.width * (13 if header.bits > 8 else 4)  # 3 channels (int32 if 16-bit), mask
        if budget < 0:
            return False
    return True


def fit_crop(crop: tuple[int, int], sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """`crop` cut down, per side, to the largest of the training images `sizes`: a crop larger than every image
    would only add padding, which costs compute and teaches nothing."""
    if not sizes:
        return (crop[0], crop[1])
    return min(crop[0], max(h for h, _ in sizes)), min(crop[1], max(w for _, w in sizes))


def small_image_notes(crop: tuple[int, int], sizes: list[tuple[int, int]]) -> list[str]:
    """One note when some training images are smaller than the crop (they are padded, padding ignored)."""
    small = [size for size in sizes if size[0] < crop[0] or size[1] < crop[1]]
    if not small:
        return []
    h, w = min(small, key=lambda s: s[0] * s[1])
    return [f"{len(small)} of {len(sizes)} training images are smaller than the {crop[0]}x{crop[1]} crop "
            f"(smallest {h}x{w}); they are padded and the padding is ignored by the loss"]


def value_range(datasets: list[SegmentationDataset]) -> int:
    """The data's `max_value`: 255 for 8-bit images; for 16-bit images their largest value rounded up to whole bits.

    Reads every 16-bit image once (8-bit data only needs the headers); a mix of depths is refused.
    """
    items = [(dataset, i) for dataset in datasets for i in range(len(dataset))]
    return depth_range([dataset.samples[i].image for dataset, i in items],
                       lambda k: int(items[k][0].image(items[k][1]).max()))


def stats_indices(count: int, max_images: int | None) -> list[int]:
    """Up to `max_images` (None: all) evenly spaced indices of `count` images, first and last included."""
    picks = count if max_images is None else max(1, min(max_images, count))
    return sorted(set(np.linspace(0, count - 1, picks).round().astype(int).tolist())) if count else []


def channel_stats(dataset: SegmentationDataset, max_value: float = UINT8_MAX, max_images: int | None = 64,
                  progress: bool = False) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] (values divided by `max_value`) over `stats_indices(len, max_images)`.

    The std is at least 1e-3, so that normalising by it never divides by 0.
    """
    total = torch.zeros(dataset.channels, dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    count = 0
    for i in tqdm(stats_indices(len(dataset), max_images), desc="images train", unit="img", disable=not progress,
                  file=sys.stderr):
        image = dataset.image(i).to(torch.float64) / float(max_value)
        total += image.sum(dim=(1, 2))
        total_sq += (image**2).sum(dim=(1, 2))
        count += image.shape[1] * image.shape[2]
    mean = total / count
    std = (total_sq / count - mean**2).clamp_min(1e-12).sqrt().clamp_min(1e-3)
    return mean.tolist(), std.tolist()


class SizeGroupedBatches(Sampler[list[int]]):
    """Batches of indices whose images share one size, in dataset order (for full-size evaluation); with
    `indices`, of those samples only (one process's share of a distributed evaluation)."""

    def __init__(self, sizes: list[tuple[int, int]], batch_size: int, indices: Sequence[int] | None = None) -> None:
        groups: dict[tuple[int, int], list[int]] = {}
        for i in range(len(sizes)) if indices is None else indices:
            groups.setdefault(sizes[i], []).append(i)
        self.batches = [ids[k:k + batch_size] for ids in groups.values() for k in range(0, len(ids), batch_size)]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def load_split_dataset(root: str | Path, split: str, num_classes: int, ignore_index: int, channels: int,
                       binary_255: bool, format: str = "auto", max_pixels: int | None = None) -> SegmentationDataset:
    """One checked split, for evaluation against a model with `num_classes` classes (images up to `max_pixels`)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    fmt = get_format(format, root)
    if split not in fmt.splits(root):
        found = ", ".join(fmt.splits(root)) or "none"
        raise DataError(f"{root}: no {split!r} split (format {fmt.name}; found: {found})")
    samples = fmt.samples(root, split)
    check_sizes([path for s in samples for path in (s.image, s.mask)], max_pixels)
    scanned = scan_split(samples)
    lut = fmt.mask_lut(root, ignore_index)
    if lut is None and binary_255 and scanned.values <= {0, 255}:
        lut = binary_lut()
    check_mask_values(scanned, num_classes, ignore_index, lut)
    return SegmentationDataset(scanned.samples, scanned.sizes, channels, lut, scanned.masks, max_pixels=max_pixels)
