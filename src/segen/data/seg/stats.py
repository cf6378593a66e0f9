"""Dataset statistics: class pixels and shares, image mean/std, and suggested class weights.

`dataset_stats` counts class pixels (after the format's lookup table), image mean/std and suggests
cross-entropy class weights by median frequency balancing; `save_class_weights` / `load_class_weights`
keep them as YAML for `--class-weights`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from segen.data.io import image_channels, read_mask
from segen.data.seg.dataset import SegmentationDataset, channel_stats, stats_indices, value_range
from segen.data.seg.folder import Sample
from segen.data.seg.formats import get_format
from segen.data.seg.masks import bad_ids, infer_classes, loader_lut, map_ids, out_of_range
from segen.errors import DataError
from segen.preprocess import UINT8_MAX
from segen.runtime import write_atomic

WEIGHT_RANGE = (0.1, 10.0)
"""Suggested class weights are clipped to this range."""


@dataclass
class DatasetStats:
    """Pixel counts, normalisation and suggested class weights of a dataset.

    Pixel counts are class ids after the format's lut, for the train split (`train_pixels`) and for the
    union of all labelled splits (`all_pixels`); class shares are of the labelled (non-ignore) pixels,
    ignore shares of all pixels. Mean/std are per channel in [0, 1] over (up to `stats_images` evenly
    spaced) train images, scaled by the data's value range `max_value` (255 for 8-bit data), as the loader
    computes them (`segen.data.seg.dataset.channel_stats`). Class weights follow `median_frequency_weights`
    on the train shares.
    """

    root: Path
    format: str
    class_names: list[str]
    ignore_index: int
    images: dict[str, int]
    train_pixels: list[int]
    all_pixels: list[int]
    train_ignored: int
    all_ignored: int
    channels: int
    mean: list[float]
    std: list[float]
    stats_images: int
    class_weights: list[float]
    notes: list[str] = field(default_factory=list)
    max_value: int = UINT8_MAX

    @property
    def train_share(self) -> list[float]:
        """Share of each class among the labelled train pixels."""
        return _shares(self.train_pixels)

    @property
    def all_share(self) -> list[float]:
        """Share of each class among the labelled pixels of all splits."""
        return _shares(self.all_pixels)

    @property
    def train_ignore_share(self) -> float:
        """Share of ignored pixels among all train pixels."""
        total = sum(self.train_pixels) + self.train_ignored
        return self.train_ignored / total if total else 0.0

    @property
    def all_ignore_share(self) -> float:
        """Share of ignored pixels among all pixels of all splits."""
        total = sum(self.all_pixels) + self.all_ignored
        return self.all_ignored / total if total else 0.0


def _shares(pixels: list[int]) -> list[float]:
    total = sum(pixels)
    return [p / total if total else 0.0 for p in pixels]


def median_frequency_weights(pixels: Sequence[int], clip: tuple[float, float] = WEIGHT_RANGE) -> list[float]:
    """Cross-entropy class weights by median frequency balancing.

    weight_c = median(freq) / freq_c, with freq_c the class's share of labelled pixels and the median over
    the classes present; then clipped to `clip`. An absent class (freq 0) gets the upper clip, the limit of
    the rule; no labelled pixel at all gives weight 1 everywhere. Every weight is > 0, as the loss needs.
    """
    total = sum(pixels)
    if total == 0:
        return [1.0] * len(pixels)
    freq = [p / total for p in pixels]
    median = float(np.median([f for f in freq if f > 0]))
    return [min(max(median / f, clip[0]), clip[1]) if f > 0 else clip[1] for f in freq]


def dataset_stats(root: Path, format: str = "auto", ignore_index: int = 255, max_images: int | None = None,
                  progress: bool = True) -> DatasetStats:
    """Class pixel counts and shares, ignore share, image mean/std and suggested class weights.

    Args:
        root: the dataset folder (it should pass `check_dataset`).
        format: a format name or 'auto'.
        ignore_index: the mask value that marks unlabelled pixels.
        max_images: mean/std over at most this many evenly spaced train images (None: all).
        progress: show progress bars.

    Raises:
        DataError: the data cannot be read, has no train split, or holds class ids out of range.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found", kind="missing", path=root)
    fmt = get_format(format, root)
    splits = fmt.splits(root)
    if "train" not in splits:
        raise DataError(f"{root}: no training split found for format {fmt.name!r}", kind="missing", path=root)
    samples = {s: fmt.samples(root, s) for s in splits}
    scanned = {s: _histograms(samples[s], s, progress) for s in splits}
    raw = {s: hists.sum(axis=0) for s, hists in scanned.items()}
    values = set(np.flatnonzero(_total(raw.values())).tolist())
    classes = fmt.classes(root)
    lut = loader_lut(fmt.mask_lut(root, ignore_index), values, classes)
    ids = {s: h if lut is None else np.bincount(lut, weights=h, minlength=256).astype(np.int64)
           for s, h in raw.items()}
    if classes is None:
        classes = infer_classes(np.flatnonzero(_total(ids.values())).tolist(), ignore_index)
    names = classes.names
    for split, hists in scanned.items():
        _check_ids(samples[split], hists, len(names), ignore_index, lut)
    train, union = ids["train"], _total(ids.values())
    channels = image_channels(samples["train"][0].image)
    datasets = {s: SegmentationDataset(v, None, channels) for s, v in samples.items()}
    max_value = value_range(list(datasets.values()))
    mean, std = channel_stats(datasets["train"], max_value, max_images, progress)
    used = len(stats_indices(len(samples["train"]), max_images))
    weights = median_frequency_weights(train[: len(names)].tolist())
    notes = [f"class {n!r} has no pixels in train: weight {WEIGHT_RANGE[1]:g}"
             for n, p in zip(names, train.tolist(), strict=False) if p == 0 and train[: len(names)].sum() > 0]
    return DatasetStats(root, fmt.name, list(names), ignore_index, {s: len(v) for s, v in samples.items()},
                        train[: len(names)].tolist(), union[: len(names)].tolist(), _ignored(train, ignore_index),
                        _ignored(union, ignore_index), channels, mean, std, used, weights, notes, max_value)


def _histograms(samples: list[Sample], split: str, progress: bool) -> np.ndarray:
    """Counts of the 256 stored mask values, one row per sample of a split."""
    hists = np.zeros((len(samples), 256), dtype=np.int64)
    for row, sample in enumerate(tqdm(samples, desc=f"masks {split}", unit="img", disable=not progress,
                                      file=sys.stderr)):
        hists[row] = np.bincount(read_mask(sample.mask).ravel(), minlength=256)
    return hists


def _total(hists: Iterable[np.ndarray]) -> np.ndarray:
    """The sum of 256-bin histograms."""
    return np.stack([*hists]).sum(axis=0)


def _check_ids(samples: list[Sample], hists: np.ndarray, num_classes: int, ignore_index: int,
               lut: np.ndarray | None) -> None:
    """Raise DataError naming the first mask whose class ids (after `lut`) are out of range."""
    for sample, hist in zip(samples, hists, strict=True):
        bad = bad_ids(map_ids(np.flatnonzero(hist).tolist(), lut), num_classes, ignore_index)
        if bad:
            raise DataError(f"{sample.mask}: {out_of_range(bad, num_classes, ignore_index)}", kind="values",
                            path=sample.mask)


def _ignored(hist: np.ndarray, ignore_index: int) -> int:
    return int(hist[ignore_index]) if 0 <= ignore_index < 256 else 0


def format_stats(stats: DatasetStats) -> str:
    """A table of class pixels, shares and suggested weights, then image counts and mean/std."""
    width = max(12, *(len(n) for n in stats.class_names))
    lines = [f"{stats.root} (format {stats.format}; images: "
             + ", ".join(f"{s} {n}" for s, n in stats.images.items()) + ")",
             f"{'class':<{width}} {'train pixels':>14} {'share':>7} {'all pixels':>14} {'share':>7} {'weight':>7}"]
    for name, tp, ts, ap, a_s, w in zip(stats.class_names, stats.train_pixels, stats.train_share, stats.all_pixels,
                                         stats.all_share, stats.class_weights, strict=True):
        lines.append(f"{name:<{width}} {tp:>14,} {ts:>7.2%} {ap:>14,} {a_s:>7.2%} {w:>7.3f}")
    lines.append(f"{f'ignored ({stats.ignore_index})':<{width}} {stats.train_ignored:>14,} "
                 f"{stats.train_ignore_share:>7.2%} {stats.all_ignored:>14,} {stats.all_ignore_share:>7.2%}")
    lines.append("(class shares are of labelled pixels, the ignored share of all pixels; 'all' is every "
                 "labelled split)")
    lines.append(f"weights: median frequency balancing on train shares, clipped to "
                 f"[{WEIGHT_RANGE[0]:g}, {WEIGHT_RANGE[1]:g}], absent classes {WEIGHT_RANGE[1]:g}")
    lines.append(f"mean (train, {stats.stats_images} images, values / {stats.max_value}): "
                 + " ".join(f"{m:.4f}" for m in stats.mean))
    lines.append("std: " + " ".join(f"{s:.4f}" for s in stats.std))
    lines.extend(f"note: {n}" for n in stats.notes)
    return "\n".join(lines)


def save_class_weights(stats: DatasetStats, path: Path) -> Path:
    """Write the suggested weights as YAML `class_weights: [...]` with the class `names:` for reference."""
    path = Path(path)
    data = {"class_weights": [round(w, 6) for w in stats.class_weights], "names": list(stats.class_names)}
    header = (f"# median frequency balancing on the train split of {stats.root}, clipped to "
              f"[{WEIGHT_RANGE[0]:g}, {WEIGHT_RANGE[1]:g}]\n")
    return write_atomic(path, header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))


def load_class_weights(path: Path, num_classes: int | None) -> list[float]:
    """Class weights from a YAML file (`class_weights: [...]`, or a bare list), one per class.

    Args:
        path: the YAML file.
        num_classes: the expected count; None checks it later, against the data (the loss does).

    Raises:
        DataError: the file is missing or malformed, or does not hold `num_classes` positive numbers (a zero
            weight makes the loss 0/0 on a batch holding only that class).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: class weights file not found", kind="missing", path=path)
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError):
        raise DataError(f"{path}: not valid YAML", kind="invalid", path=path) from None
    weights = data.get("class_weights") if isinstance(data, dict) else data
    if not isinstance(weights, list) or not all(_is_weight(w) for w in weights):
        raise DataError(f"{path}: expected 'class_weights:' with a list of numbers", kind="invalid", path=path)
    if not all(w > 0 for w in weights):
        raise DataError(f"{path}: every class weight must be > 0, got {weights} (a zero weight makes the loss 0/0 "
                        "on a batch holding only that class; mark pixels to skip with the ignore value instead)",
                        kind="values", path=path)
    if num_classes is not None and len(weights) != num_classes:
        raise DataError(f"{path}: {len(weights)} class weights for {num_classes} classes", kind="mismatch",
                        path=path)
    return [float(w) for w in weights]


def _is_weight(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))
