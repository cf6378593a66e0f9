"""Checking a dataset for every problem at once, each with its file.

`check_dataset` walks every split of a format: the format lists the pairs it can make and the problems
that kept other files out (`DatasetFormat.listing`), then every image and mask of those pairs is decoded
and checked. Problems are classified by the `kind` of the errors, never by their wording. The loader
used for training stops at the first problem instead; both map mask values and infer classes with the
same functions (`segen.data.seg.masks`).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from segen.data.io import image_channels, read_image, read_mask
from segen.data.seg.folder import SPLITS, ClassInfo, Sample
from segen.data.seg.formats import DatasetFormat, get_format
from segen.data.seg.masks import bad_ids, infer_classes, loader_lut, map_ids, out_of_range, size_mismatch
from segen.errors import DataError

KINDS: dict[str, str] = {
    "missing": "the data folder, a split folder, a split list or a listed file is absent",
    "invalid": "the layout is not recognised, a format has no such split, or the class file cannot be read",
    "empty": "a split holds no images",
    "unpaired": "an image without its mask, or a mask without its image",
    "duplicate": "two files with the same name stem in one folder",
    "corrupt": "an image or mask that cannot be decoded (corrupt or truncated)",
    "too-large": "an image with more pixels than the reader allows",
    "mismatch": "a mask whose size differs from its image's",
    "colour-mask": "an RGB colour mask where class ids are expected",
    "mask-format": "a mask that is not single-channel 8-bit class ids",
    "values": "a class id >= the number of classes that is not the ignore value",
    "id-gap": "class ids skipped below a used id (no class names given)",
    "channel-mismatch": "greyscale and colour images mixed",
    "bit-depth": "8-bit and 16-bit images mixed (the loader needs one value range for all)",
}
"""Problem kinds in report order, with what each means; the kinds of the formats' errors are the same words."""

WARNING_KINDS = frozenset({"id-gap", "channel-mismatch"})
"""Kinds that do not stop training (the loader copes) but deserve a look."""

_DECODE_ERRORS = (DataError, OSError, ValueError, SyntaxError, RuntimeError, EOFError, IndexError,
                  Image.DecompressionBombError)
_CHANNEL_NAMES = {1: "greyscale", 3: "colour"}


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

    def add_error(self, exc: DataError, fallback: Path) -> None:
        """Record a DataError under its own kind and path (`fallback` when it names none)."""
        path = exc.path if exc.path is not None else fallback
        self.add(path, exc.kind, _without_path(str(exc), path))

    @property
    def errors(self) -> list[Problem]:
        """The problems that are not warnings."""
        return [p for p in self if not p.is_warning]


@dataclass
class _Walk:
    """What the pair checks collect for the dataset-wide checks."""

    values: list[tuple[Path, set[int]]] = field(default_factory=list)
    channels: list[tuple[str, Path, int]] = field(default_factory=list)
    wide: list[tuple[Path, bool]] = field(default_factory=list)


def check_dataset(root: Path, format: str = "auto", ignore_index: int = 255, progress: bool = True) -> CheckReport:
    """Every problem of the dataset at `root`, each with its file; an empty list when it is clean.

    Each split is listed by its format (the pairs it can make, and every missing, unpaired or duplicate
    file); every image and mask of those pairs is then decoded and checked.

    Args:
        root: the dataset folder.
        format: a format name (see `segen.data.seg.formats.list_formats`) or 'auto'.
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
        report.add(root, "missing", "data folder not found")
        return report
    fmt = _resolve_format(root, format, report)
    if fmt is None:
        return report
    report.format = fmt.name
    classes = _read_classes(fmt, root, report)
    walk = _Walk()
    splits = fmt.splits(root)
    if "train" not in splits:
        report.add(root, "missing", f"no 'train' split (format {fmt.name})")
    for split in splits:
        samples = _list_split(fmt, root, split, report)
        report.images[split] = len(samples)
        for sample in tqdm(samples, desc=f"check {split}", unit="img", disable=not progress, file=sys.stderr):
            _check_pair(sample, split, classes, report, walk)
    _check_channels(walk, report)
    _check_depths(walk, report)
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
        report.add_error(exc, root)
        return None


def _read_classes(fmt: DatasetFormat, root: Path, report: CheckReport) -> ClassInfo | None:
    try:
        return fmt.classes(root)
    except DataError as exc:
        report.add_error(exc, root)
        return None


def _list_split(fmt: DatasetFormat, root: Path, split: str, report: CheckReport) -> list[Sample]:
    """The pairs the format makes of `split`, recording every problem of its listing."""
    listing = fmt.listing(root, split)
    for problem in listing.problems:
        report.add_error(problem, root / split)
    if not listing.samples and not listing.problems:
        report.add(root / split, "empty", f"no images in split {split!r} (format {fmt.name})")
    return listing.samples


def _check_pair(sample: Sample, split: str, classes: ClassInfo | None, report: CheckReport, walk: _Walk) -> None:
    """Decode one image and its mask; record their problems and what the dataset-wide checks need."""
    image_shape = _check_image(sample.image, split, report, walk)
    mask = _check_mask(sample.mask, classes, report)
    if mask is None:
        return
    if image_shape is not None and mask.shape != image_shape:
        report.add(sample.mask, "mismatch", size_mismatch(mask.shape, image_shape, sample.image))
    walk.values.append((sample.mask, set(np.unique(mask).tolist())))


def _check_image(path: Path, split: str, report: CheckReport, walk: _Walk) -> tuple[int, int] | None:
    """(height, width) of the fully decoded image, or None when it cannot be decoded."""
    try:
        channels = image_channels(path)
        pixels = read_image(path, channels)
    except _DECODE_ERRORS as exc:
        report.add(path, _decode_kind(exc), _without_path(str(exc), path) or type(exc).__name__)
        return None
    walk.channels.append((split, path, channels))
    walk.wide.append((path, pixels.element_size() > 1))  # int32 holds 16-bit pixels
    return int(pixels.shape[1]), int(pixels.shape[2])


def _decode_kind(exc: BaseException) -> str:
    """'corrupt', unless the reader's DataError names a more precise kind (e.g. too-large)."""
    if isinstance(exc, DataError) and exc.kind != DataError.default_kind:
        return exc.kind
    return "corrupt"


def _without_path(message: str, path: Path) -> str:
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _check_mask(path: Path, classes: ClassInfo | None, report: CheckReport) -> np.ndarray | None:
    """The decoded mask, or None after recording why it is not a class-id mask.

    The reader's error kind says what is wrong when it is precise (corrupt, values, too-large); otherwise
    the file itself does: one that does not decode is corrupt, an RGB one a colour mask, anything else
    of the wrong mask format.
    """
    try:
        return read_mask(path)
    except DataError as exc:
        error = exc
    message = _without_path(str(error), path)
    if error.kind != DataError.default_kind:
        report.add(path, error.kind, message)
        return None
    try:
        with Image.open(path) as im:
            im.load()
            mode, array = im.mode, np.array(im)
    except _DECODE_ERRORS:
        report.add(path, "corrupt", message)
        return None
    if mode in ("RGB", "RGBA"):
        report.add(path, "colour-mask", _colour_message(array[..., :3], classes))
    else:
        report.add(path, "mask-format", message)
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


def _check_depths(walk: _Walk, report: CheckReport) -> None:
    """Images of the less common bit depth, when 8-bit and 16-bit images are mixed (the loader refuses them)."""
    wide = [path for path, is_wide in walk.wide if is_wide]
    if not wide or len(wide) == len(walk.wide):
        return
    narrow = [path for path, is_wide in walk.wide if not is_wide]
    odd, usual, bits = (wide, narrow, (16, 8)) if len(wide) < len(narrow) else (narrow, wide, (8, 16))
    for path in odd:
        report.add(path, "bit-depth", f"{bits[0]}-bit image among {len(usual)} {bits[1]}-bit images "
                   f"(such as {usual[0].name}); convert them to one bit depth")


def _check_values(fmt: DatasetFormat, root: Path, classes: ClassInfo | None, ignore_index: int, walk: _Walk,
                  report: CheckReport) -> None:
    """Class ids out of range (with a class count), or skipped ids (without one), after the format's lut."""
    if not walk.values:
        return
    lut = loader_lut(fmt.mask_lut(root, ignore_index), set().union(*(v for _, v in walk.values)), classes)
    masks = [(path, map_ids(raw, lut)) for path, raw in walk.values]
    if classes is None:
        _check_id_gaps(masks, ignore_index, report)
        return
    for path, ids in masks:
        bad = bad_ids(ids, classes.num_classes, ignore_index)
        if bad:
            report.add(path, "values", out_of_range(bad, classes.num_classes, ignore_index))


def _check_id_gaps(masks: list[tuple[Path, set[int]]], ignore_index: int, report: CheckReport) -> None:
    """Without class names the loader infers max id + 1 classes: ids above a skipped id are suspicious."""
    used = sorted(set().union(*(ids for _, ids in masks)) - {ignore_index})
    skipped = [i for i in range(used[-1] + 1) if i not in used] if used else []
    if not skipped:
        return
    inferred = infer_classes(used, ignore_index).num_classes
    for value in (v for v in used if v > skipped[0]):
        holders = [path for path, ids in masks if value in ids]
        report.add(holders[0], "id-gap", f"class id {value} (in {len(holders)} masks) is above ids that no mask "
                   f"uses ({_ranges(skipped)}); without class names the loader infers {inferred} classes")


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

