"""Checking a dataset for every problem at once, and its statistics: class pixels, mean/std, class weights.

`check_dataset` walks every split of a format and lists each problem with its file (the training loader
stops at the first). `dataset_stats` counts class pixels, image mean/std and suggests cross-entropy class
weights by median frequency balancing; `save_class_weights` / `load_class_weights` keep them as YAML.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from tqdm import tqdm

from segen.data.folder import SPLITS, ClassInfo, Sample, binary_lut, is_binary_255
from segen.data.formats import DatasetFormat, get_format
from segen.data.io import IMAGE_SUFFIXES, image_channels, read_image, read_mask
from segen.errors import DataError

KINDS: dict[str, str] = {
    "missing-folder": "the data folder or an expected split folder is absent",
    "bad-layout": "the layout is not recognised or the format rejects a split",
    "bad-classes": "the class file cannot be read",
    "empty-split": "a split folder holds no images",
    "missing-mask": "an image without a mask",
    "missing-image": "a mask without an image",
    "duplicate-stem": "two files with the same name stem in one folder",
    "unreadable": "an image or mask that cannot be decoded (corrupt or truncated)",
    "size-mismatch": "a mask whose size differs from its image's",
    "colour-mask": "an RGB colour mask where class ids are expected",
    "bad-mask-format": "a mask that is not single-channel 8-bit class ids",
    "bad-mask-value": "a class id >= the number of classes that is not the ignore value",
    "id-gap": "class ids skipped below a used id (no class names given)",
    "channel-mismatch": "greyscale and colour images mixed",
}
"""Problem kinds in report order, with what each means."""

WARNING_KINDS = frozenset({"id-gap", "channel-mismatch"})
"""Kinds that do not stop training (the loader copes) but deserve a look."""

WEIGHT_RANGE = (0.1, 10.0)
"""Suggested class weights are clipped to this range."""

_DECODE_ERRORS = (DataError, OSError, ValueError, SyntaxError, RuntimeError, EOFError, IndexError,
                  Image.DecompressionBombError)
_CHANNEL_NAMES = {1: "greyscale", 3: "colour"}
_ERROR_KINDS = (("duplicate", "duplicate-stem"), (r"\bno (mask|label)\b", "missing-mask"),
                (r"\bno\b[^:]*\bimages\b", "empty-split"), (r"\bno image\b", "missing-image"),
                ("not found", "missing-folder"))


@dataclass
class Problem:
    """One problem of a dataset: the file or folder, its kind (see `KINDS`) and what is wrong."""

    path: str
    kind: str
    message: str

    @property
    def is_warning(self) -> bool:
        """Whether the loader copes with it (see `WARNING_KINDS`)."""
        return self.kind in WARNING_KINDS


class CheckReport(list[Problem]):
    """The problems found (a list), with the root, the format and the image pairs checked per split."""

    def __init__(self, root: Path, format: str = "", problems: Iterable[Problem] = ()) -> None:
        super().__init__(problems)
        self.root = root
        self.format = format
        self.images: dict[str, int] = {}

    def add(self, path: Path | str, kind: str, message: str) -> None:
        """Record one problem."""
        self.append(Problem(str(path), kind, message))


@dataclass
class _Walk:
    """What the pair checks collect for the dataset-wide checks."""

    values: list[tuple[Path, set[int]]] = field(default_factory=list)
    channels: list[tuple[str, Path, int]] = field(default_factory=list)


def check_dataset(root: Path, format: str = "auto", ignore_index: int = 255, progress: bool = True) -> CheckReport:
    """Every problem of the dataset at `root`, each with its file; an empty list when it is clean.

    Pairing problems of the folder format are found by walking its folders; other formats list their
    samples (a refusal becomes one problem). Every image and mask is decoded.

    Args:
        root: the dataset folder.
        format: a format name (see `segen.data.formats.list_formats`) or 'auto'.
        ignore_index: the mask value that marks unlabelled pixels.
        progress: show a progress bar per split.

    Returns:
        A `CheckReport`: a list of `Problem` that also knows the root, format and images per split.

    Raises:
        DataError: `format` is not a known format name.
    """
    root = Path(root)
    report = CheckReport(root, format)
    if not root.is_dir():
        report.add(root, "missing-folder", "data folder not found")
        return report
    fmt = _resolve_format(root, format, report)
    if fmt is None:
        return report
    report.format = fmt.name
    classes = _read_classes(fmt, root, report)
    walk = _Walk()
    for split in _check_splits(fmt, root, report):
        samples = _folder_samples(root, split, report) if fmt.name == "folder" else _format_samples(
            fmt, root, split, report)
        report.images[split] = len(samples)
        for sample in tqdm(samples, desc=f"check {split}", unit="img", disable=not progress, file=sys.stderr):
            _check_pair(sample, split, classes, report, walk)
    _check_channels(walk, report)
    _check_values(fmt, root, classes, ignore_index, walk, report)
    return report


def _resolve_format(root: Path, name: str, report: CheckReport) -> DatasetFormat | None:
    """The format; with 'auto', a folder with any ROOT/split/{images,masks} is checked as the folder format."""
    if name != "auto":
        return get_format(name, root)
    try:
        return get_format("auto", root)
    except DataError as exc:
        if any((root / s / d).is_dir() for s in SPLITS for d in ("images", "masks")):
            return get_format("folder", root)
        report.add(root, "bad-layout", _without_path(str(exc), root))
        return None


def _read_classes(fmt: DatasetFormat, root: Path, report: CheckReport) -> ClassInfo | None:
    try:
        return fmt.classes(root)
    except DataError as exc:
        _add_error(report, exc, root, "bad-classes")
        return None


def _check_splits(fmt: DatasetFormat, root: Path, report: CheckReport) -> list[str]:
    """The splits to walk; a missing train split is a problem."""
    if fmt.name == "folder":
        splits = [s for s in SPLITS if (root / s / "images").is_dir() or (root / s / "masks").is_dir()]
    else:
        splits = fmt.splits(root)
    if "train" not in splits:
        where = root / "train" / "images" if fmt.name == "folder" else root
        report.add(where, "missing-folder", f"no 'train' split (format {fmt.name})")
    return splits


def _folder_samples(root: Path, split: str, report: CheckReport) -> list[Sample]:
    """Pairs of a folder-format split, recording every missing folder, unpaired file and duplicate."""
    images_dir, masks_dir = root / split / "images", root / split / "masks"
    missing = [d for d in (images_dir, masks_dir) if not d.is_dir()]
    for folder in missing:
        report.add(folder, "missing-folder", f"folder not found (split {split!r} needs images/ and masks/)")
    if missing:
        return []
    images, masks = _by_stem(images_dir, report), _by_stem(masks_dir, report)
    if not images:
        report.add(images_dir, "empty-split", f"no images ({', '.join(IMAGE_SUFFIXES)}) in split {split!r}")
    for stem, path in images.items():
        if stem not in masks:
            report.add(path, "missing-mask", f"no mask with the same name in {masks_dir}")
    for stem, path in masks.items():
        if stem not in images:
            report.add(path, "missing-image", f"no image with the same name in {images_dir}")
    return [Sample(images[s], masks[s]) for s in sorted(images) if s in masks]


def _by_stem(folder: Path, report: CheckReport) -> dict[str, Path]:
    """Image files of `folder` by stem (the first in name order); later files with a taken stem are problems."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
            continue
        if path.stem in found:
            report.add(path, "duplicate-stem", f"same stem as {found[path.stem].name}; keep one file per name")
            continue
        found[path.stem] = path
    return found


def _format_samples(fmt: DatasetFormat, root: Path, split: str, report: CheckReport) -> list[Sample]:
    """The format's pairs of `split`; its refusal becomes one problem."""
    try:
        samples = fmt.samples(root, split)
    except DataError as exc:
        _add_error(report, exc, root / split, _error_kind(str(exc)))
        return []
    if not samples:
        report.add(root / split, "empty-split", f"no images in split {split!r} (format {fmt.name})")
    return samples


def _error_kind(message: str) -> str:
    """The problem kind of a format's DataError, from its wording; 'bad-layout' when unclear."""
    for pattern, kind in _ERROR_KINDS:
        if re.search(pattern, message):
            return kind
    return "bad-layout"


def _add_error(report: CheckReport, exc: DataError, fallback: Path, kind: str) -> None:
    """A DataError as a problem: its leading 'PATH: ' names the file, else `fallback`."""
    text = str(exc)
    head, sep, rest = text.partition(": ")
    if sep and (Path(head).is_absolute() or head.startswith(str(report.root))):
        report.add(head, kind, rest)
    else:
        report.add(fallback, kind, text)


def _without_path(message: str, path: Path) -> str:
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _check_pair(sample: Sample, split: str, classes: ClassInfo | None, report: CheckReport, walk: _Walk) -> None:
    """Decode one image and its mask; record their problems and what the dataset-wide checks need."""
    image_shape = _check_image(sample.image, split, report, walk)
    mask = _check_mask(sample.mask, classes, report)
    if mask is None:
        return
    if image_shape is not None and mask.shape != image_shape:
        report.add(sample.mask, "size-mismatch", f"mask size {mask.shape[1]}x{mask.shape[0]} does not match image "
                                                 f"{sample.image.name} ({image_shape[1]}x{image_shape[0]})")
    walk.values.append((sample.mask, set(np.unique(mask).tolist())))


def _check_image(path: Path, split: str, report: CheckReport, walk: _Walk) -> tuple[int, int] | None:
    """(height, width) of the fully decoded image, or None when it cannot be decoded."""
    try:
        channels = image_channels(path)
        pixels = read_image(path, channels)
    except _DECODE_ERRORS as exc:
        report.add(path, "unreadable", _without_path(str(exc), path) or type(exc).__name__)
        return None
    walk.channels.append((split, path, channels))
    return int(pixels.shape[1]), int(pixels.shape[2])


def _check_mask(path: Path, classes: ClassInfo | None, report: CheckReport) -> np.ndarray | None:
    """The decoded mask, or None after recording why it is not a class-id mask."""
    try:
        return read_mask(path)
    except DataError as exc:
        error = _without_path(str(exc), path)
    try:
        with Image.open(path) as im:
            im.load()
            mode, array = im.mode, np.array(im)
    except _DECODE_ERRORS:
        report.add(path, "unreadable", error)
        return None
    if mode in ("RGB", "RGBA"):
        report.add(path, "colour-mask", _colour_message(array[..., :3], classes))
    else:
        report.add(path, "bad-mask-format", error)
    return None


def _colour_message(rgb: np.ndarray, classes: ClassInfo | None) -> str:
    """Why a colour mask is a problem, and whether its colours are the format's class colours."""
    colours = [tuple(int(v) for v in c) for c in np.unique(rgb.reshape(-1, 3), axis=0)]
    text = f"colour (RGB) mask with {len(colours)} colours; expected single-channel class ids or a paletted PNG"
    if classes is None or not classes.colors:
        return f"{text} (the format gives no class colours to compare with)"
    palette = {tuple(c) for c in classes.colors}
    unknown = [c for c in colours if c not in palette]
    if not unknown:
        return f"{text}; all its colours are class colours, so it can be converted to class ids"
    return f"{text}; {len(unknown)} of its colours are not class colours, e.g. {unknown[0]}"


def _check_channels(walk: _Walk, report: CheckReport) -> None:
    """Images whose channel count differs from most images' (the loader converts them)."""
    counts = Counter(ch for _, _, ch in walk.channels)
    if len(counts) < 2:
        return
    usual = counts.most_common(1)[0][0]
    for split, path, channels in walk.channels:
        if channels != usual:
            report.add(path, "channel-mismatch", f"{_CHANNEL_NAMES[channels]} image in split {split!r} among "
                       f"{counts[usual]} {_CHANNEL_NAMES[usual]} images; the loader converts every image to "
                       "the channels of the first training image")


def _check_values(fmt: DatasetFormat, root: Path, classes: ClassInfo | None, ignore_index: int, walk: _Walk,
                  report: CheckReport) -> None:
    """Class ids out of range (with a class count), or skipped ids (without one), after the format's lut."""
    if not walk.values:
        return
    lut = _mask_lut(fmt, root, set().union(*(v for _, v in walk.values)), classes, ignore_index)
    masks = [(path, {int(lut[v]) for v in raw}) for path, raw in walk.values]
    if classes is None:
        _check_id_gaps(masks, ignore_index, report)
        return
    for path, ids in masks:
        bad = sorted(v for v in ids if v >= classes.num_classes and v != ignore_index)
        if bad:
            report.add(path, "bad-mask-value", f"class id {', '.join(map(str, bad))} >= number of classes "
                       f"{classes.num_classes} (and not the ignore value {ignore_index})")


def _mask_lut(fmt: DatasetFormat, root: Path, values: set[int], classes: ClassInfo | None,
              ignore_index: int) -> np.ndarray:
    """The loader's lut: the format's, else 0/255 binary masks read as 0/1, else identity."""
    lut = fmt.mask_lut(root, ignore_index)
    if lut is None and is_binary_255(values) and (classes is None or classes.num_classes == 2):
        lut = binary_lut()
    return lut if lut is not None else np.arange(256, dtype=np.uint8)


def _check_id_gaps(masks: list[tuple[Path, set[int]]], ignore_index: int, report: CheckReport) -> None:
    """Without class names the loader infers max id + 1 classes: ids above a skipped id are suspicious."""
    used = sorted(set().union(*(ids for _, ids in masks)) - {ignore_index})
    skipped = [i for i in range(used[-1] + 1) if i not in used] if used else []
    if not skipped:
        return
    for value in (v for v in used if v > skipped[0]):
        holders = [path for path, ids in masks if value in ids]
        report.add(holders[0], "id-gap", f"class id {value} (in {len(holders)} masks) is above ids that no mask "
                   f"uses ({_ranges(skipped)}); without class names the loader infers {used[-1] + 1} classes")


def _ranges(values: Sequence[int]) -> str:
    """'3..8, 10' for [3, 4, 5, 6, 7, 8, 10]."""
    parts: list[str] = []
    start = prev = values[0]
    for v in [*values[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}..{prev}")
        if v is not None:
            start = prev = v
    return ", ".join(parts)


def format_problems(problems: Sequence[Problem]) -> str:
    """A readable report: problems grouped by kind with counts, one `kind: path: message` line each.

    A clean `CheckReport` reads "no problems found in ROOT (N images in splits ...)".
    """
    root = problems.root if isinstance(problems, CheckReport) else None
    if not problems:
        if root is None:
            return "no problems found"
        images = problems.images if isinstance(problems, CheckReport) else {}
        splits = ", ".join(f"{s} {n}" for s, n in images.items())
        return f"no problems found in {root} ({sum(images.values())} images in splits {splits or 'none'})"
    warnings = sum(p.is_warning for p in problems)
    head = (f"{_count(len(problems), 'problem')} ({_count(len(problems) - warnings, 'error')}, "
            f"{_count(warnings, 'warning')})")
    lines = [f"{head} in {root}:" if root is not None else f"{head}:"]
    order = [*KINDS, *sorted({p.kind for p in problems} - set(KINDS))]
    for kind in order:
        group = [p for p in problems if p.kind == kind]
        if group:
            level = " (warning)" if kind in WARNING_KINDS else ""
            lines.append(f"\n{kind}{level}: {len(group)} - {KINDS.get(kind, '')}".rstrip(" -"))
            lines.extend(f"  {p.kind}: {p.path}: {p.message}" for p in group)
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass
class DatasetStats:
    """Pixel counts, normalisation and suggested class weights of a dataset.

    Pixel counts are class ids after the format's lut, for the train split (`train_pixels`) and for the
    union of all labelled splits (`all_pixels`); class shares are of the labelled (non-ignore) pixels,
    ignore shares of all pixels. Mean/std are per channel in [0, 1] over (up to `stats_images` evenly
    spaced) train images. Class weights follow `median_frequency_weights` on the train shares.
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
    the classes present; then clipped to `clip`. Absent classes get weight 0; no labelled pixel at all
    gives weight 1 everywhere.
    """
    total = sum(pixels)
    if total == 0:
        return [1.0] * len(pixels)
    freq = [p / total for p in pixels]
    median = float(np.median([f for f in freq if f > 0]))
    return [min(max(median / f, clip[0]), clip[1]) if f > 0 else 0.0 for f in freq]


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
        raise DataError(f"{root}: data folder not found")
    fmt = get_format(format, root)
    splits = fmt.splits(root)
    if "train" not in splits:
        raise DataError(f"{root}: no training split found for format {fmt.name!r}")
    samples = {s: fmt.samples(root, s) for s in splits}
    raw = {s: _raw_histogram(samples[s], s, progress) for s in splits}
    values = set(np.flatnonzero(_total(raw.values())).tolist())
    classes = fmt.classes(root)
    lut = _mask_lut(fmt, root, values, classes, ignore_index)
    ids = {s: np.bincount(lut, weights=h, minlength=256).astype(np.int64) for s, h in raw.items()}
    names = classes.names if classes is not None else _inferred_names(ids, ignore_index)
    _check_ids(ids, len(names), ignore_index, root)
    train, union = ids["train"], _total(ids.values())
    channels, mean, std, used = _image_stats(samples["train"], max_images, progress)
    weights = median_frequency_weights(train[: len(names)].tolist())
    notes = [f"class {n!r} has no pixels in train: weight 0" for n, p in zip(names, train.tolist(), strict=False)
             if p == 0 and train[: len(names)].sum() > 0]
    return DatasetStats(root, fmt.name, list(names), ignore_index, {s: len(v) for s, v in samples.items()},
                        train[: len(names)].tolist(), union[: len(names)].tolist(), _ignored(train, ignore_index),
                        _ignored(union, ignore_index), channels, mean, std, used, weights, notes)


def _raw_histogram(samples: list[Sample], split: str, progress: bool) -> np.ndarray:
    """Counts of the 256 stored mask values over a split."""
    hist = np.zeros(256, dtype=np.int64)
    for sample in tqdm(samples, desc=f"masks {split}", unit="img", disable=not progress, file=sys.stderr):
        hist += np.bincount(read_mask(sample.mask).ravel(), minlength=256)
    return hist


def _total(hists: Iterable[np.ndarray]) -> np.ndarray:
    """The sum of 256-bin histograms."""
    return np.stack([*hists]).sum(axis=0)


def _inferred_names(ids: dict[str, np.ndarray], ignore_index: int) -> list[str]:
    """Class names as the loader infers them without a class file: max id + 1 classes, at least 2."""
    used = [i for i in np.flatnonzero(_total(ids.values())).tolist() if i != ignore_index]
    count = max(max(used, default=0) + 1, 2)
    return ["background", "foreground"] if count == 2 else [f"class_{i}" for i in range(count)]


def _check_ids(ids: dict[str, np.ndarray], num_classes: int, ignore_index: int, root: Path) -> None:
    for split, hist in ids.items():
        bad = [i for i in np.flatnonzero(hist).tolist() if i >= num_classes and i != ignore_index]
        if bad:
            raise DataError(f"{root}: masks of split {split!r} hold class id {bad[0]} >= number of classes "
                            f"{num_classes}; run `segen data check {root}` to list the files")


def _ignored(hist: np.ndarray, ignore_index: int) -> int:
    return int(hist[ignore_index]) if 0 <= ignore_index < 256 else 0


def _image_stats(samples: list[Sample], max_images: int | None,
                 progress: bool) -> tuple[int, list[float], list[float], int]:
    """(channels, mean, std, images used) over evenly spaced images, channels from the first image."""
    count = len(samples) if max_images is None else max(1, min(max_images, len(samples)))
    picks = sorted(set(np.linspace(0, len(samples) - 1, count).round().astype(int).tolist()))
    channels = image_channels(samples[0].image)
    total, total_sq, n = np.zeros(channels), np.zeros(channels), 0
    for i in tqdm(picks, desc="images train", unit="img", disable=not progress, file=sys.stderr):
        image = read_image(samples[i].image, channels).numpy().reshape(channels, -1).astype(np.float64) / 255.0
        total += image.sum(axis=1)
        total_sq += (image**2).sum(axis=1)
        n += image.shape[1]
    mean = total / n
    std = np.sqrt(np.clip(total_sq / n - mean**2, 0.0, None))
    return channels, mean.tolist(), std.tolist(), len(picks)


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
                 f"[{WEIGHT_RANGE[0]:g}, {WEIGHT_RANGE[1]:g}], absent classes 0")
    lines.append(f"mean (train, {stats.stats_images} images): " + " ".join(f"{m:.4f}" for m in stats.mean))
    lines.append("std: " + " ".join(f"{s:.4f}" for s in stats.std))
    lines.extend(f"note: {n}" for n in stats.notes)
    return "\n".join(lines)


def save_class_weights(stats: DatasetStats, path: Path) -> Path:
    """Write the suggested weights as YAML `class_weights: [...]` with the class `names:` for reference."""
    path = Path(path)
    data = {"class_weights": [round(w, 6) for w in stats.class_weights], "names": list(stats.class_names)}
    header = (f"# median frequency balancing on the train split of {stats.root}, clipped to "
              f"[{WEIGHT_RANGE[0]:g}, {WEIGHT_RANGE[1]:g}]\n")
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
    return path


def load_class_weights(path: Path, num_classes: int | None) -> list[float]:
    """Class weights from a YAML file (`class_weights: [...]`, or a bare list), one per class.

    Args:
        path: the YAML file.
        num_classes: the expected count; None checks it later, against the data (the loss does).

    Raises:
        DataError: the file is missing or malformed, or does not hold `num_classes` non-negative numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: class weights file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError):
        raise DataError(f"{path}: not valid YAML") from None
    weights = data.get("class_weights") if isinstance(data, dict) else data
    if not isinstance(weights, list) or not all(_is_weight(w) for w in weights):
        raise DataError(f"{path}: expected 'class_weights:' with a list of non-negative numbers")
    if num_classes is not None and len(weights) != num_classes:
        raise DataError(f"{path}: {len(weights)} class weights for {num_classes} classes")
    if not any(weights):
        raise DataError(f"{path}: all class weights are 0")
    return [float(w) for w in weights]


def _is_weight(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value)) and value >= 0
