"""GAN data layouts, registered by name: how a folder on disk becomes a dataset of images, labelled images or pairs.

Each layout is registered with `register_gan_layout`: it says whether it recognises a folder (`detect`)
and opens it as a dataset of the kinds it serves (`open`). `open_gan_dataset` takes the layout named,
or with "auto" the first that recognises the folder, in `priority` order: "idx" (MNIST files),
"paired-folders" (A/ and B/), "class-folders" (one sub-folder per class), "images" (anything else,
side-by-side A|B pairs included).

Every dataset returns images as uint8 C,H,W tensors (C = 1 or 3) at the requested (height, width);
16-bit images are scaled to uint8 by the data's value range (`segen.data.readers.read_uint8`). The
training code scales them to [-1, 1]. Unreadable or inconsistent data raises `DataError` naming the
file; invalid arguments raise `ConfigError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from torch.utils.data import Dataset

from segen.config import CONDITIONINGS
from segen.data.gan.common import Size, check_folder, checked_size, parse_id_range, subfolders
from segen.data.registry import Registry
from segen.errors import ConfigError, DataError

KINDS = CONDITIONINGS
"""The data a GAN is trained on is named by its generator's conditioning: "none" (images alone), "class"
(images with labels) or "image" (pairs of input and target images)."""
KIND_NEEDS = {"class": "class-conditional data needs labels (IDX files with labels, or one sub-folder per class)",
              "image": "paired data needs side-by-side A|B images or A/ and B/ sub-folders"}
"""What each kind of data needs, for the error when the folder's layout does not serve it."""
DIRECTIONS = ("AtoB", "BtoA")
SPLIT_FOLDERS = ("train", "val", "test")



@dataclass(frozen=True)
class GanDataInfo:
    """What `open_gan_dataset` found.

    `channels` is the channel count of the images the generator makes (the target for paired data);
    `in_channels` is that of the input images of paired data, else None. `num_classes` is 0 and
    `class_names` empty unless the dataset is class-conditional.
    """

    num_images: int
    channels: int
    image_size: Size
    num_classes: int
    class_names: tuple[str, ...]
    layout: str
    in_channels: int | None = None


@dataclass(frozen=True)
class GanRequest:
    """What `open_gan_dataset` was asked for, checked; a layout's `open` reads it.

    `channels` are those of the images the generator makes (the target of paired data), `in_channels`
    those of the input images of paired data; None means the data's own. `split` is the split of IDX
    files (the split folder is already chosen); `direction`, `jitter` and `ids` apply to paired data,
    `class_names` (a preset or names) to class-conditional data.
    """

    kind: str
    image_size: Size | None
    channels: int | None
    in_channels: int | None = None
    split: str = "train"
    direction: str = "AtoB"
    jitter: bool = False
    ids: tuple[str, ...] | None = None
    class_names: str | tuple[str, ...] | None = None


class GanLayout(Protocol):
    """A GAN data layout on disk."""

    name: str
    priority: int
    """Detection order: the lowest first."""
    kinds: tuple[str, ...]
    """The kinds of data (see `KINDS`) it serves."""
    file_splits: bool
    """Whether its splits are files of one folder (IDX) rather than train/, val/, test/ sub-folders."""

    def detect(self, root: Path) -> bool:
        """Whether `root` looks like this layout."""
        ...

    def open(self, root: Path, request: GanRequest) -> tuple[Dataset[Any], GanDataInfo]:
        """The dataset of `request.kind` (one of `kinds`) at `root`, and what it holds."""
        ...


class LayoutBase:
    """Base of the built-in layouts: `name`, `priority`, `kinds` and `file_splits` given as class arguments."""

    name: str
    priority: int
    kinds: tuple[str, ...]
    file_splits: bool

    def __init_subclass__(cls, *, name: str, priority: int, kinds: tuple[str, ...], file_splits: bool = False) -> None:
        super().__init_subclass__()
        cls.name, cls.priority, cls.kinds, cls.file_splits = name, priority, kinds, file_splits


def _ensure_loaded() -> None:
    """Import the modules that register the layouts (idempotent)."""
    from segen.data.gan import classes, idx, images, pairs  # noqa: F401


_LAYOUTS: Registry[GanLayout] = Registry("GAN data layout", _ensure_loaded, order=lambda layout: layout.priority,
                                         error=ConfigError)
register_gan_layout = _LAYOUTS.register
"""Class decorator: register an instance of a layout under its `name`."""


def list_gan_layouts() -> list[str]:
    """Registered layout names in detection order."""
    return _LAYOUTS.names()


def get_gan_layout(name: str) -> GanLayout:
    """The layout `name`; an unknown name raises ConfigError listing the valid ones."""
    return _LAYOUTS.get(name)


def detect_gan_layout(path: Path | str) -> str:
    """The name of the first layout, in detection order, that recognises the folder `path`.

    Returns:
        "idx" (IDX files), "paired-folders" (A/ and B/ sub-folders), "class-folders" (at least 2 sub-folders
        with images and no images at the top level) or "images" (anything else, side-by-side pairs included).
    """
    root = check_folder(Path(path))
    for layout in _LAYOUTS.all():
        if layout.detect(root):
            return layout.name
    raise DataError(f"{root}: layout not recognised; valid layouts: {', '.join(list_gan_layouts())}",
                    kind="invalid", path=root)


def open_gan_dataset(path: Path | str, kind: str, image_size: int | Sequence[int] | None,
                     channels: int | Sequence[int | None] | None, *, split: str = "train", direction: str = "AtoB",
                     jitter: bool = False, ids: str | Iterable[str | int] | None = None,
                     class_names: str | Sequence[str] | None = None,
                     layout: str = "auto") -> tuple[Dataset[Any], GanDataInfo]:
    """A GAN dataset of `kind` (a conditioning: "none", "class" or "image") from a folder of any registered layout.

    Folders with train/, val/ or test/ sub-folders are read from the `split` one; for IDX data `split` picks
    the train or t10k files. `image_size` None means the data's own size (of the first image). `channels` is
    1, 3 or None (the data's own); for paired data it is the target's, or (input, target). `direction`,
    `jitter` and `ids` (stems, or a range such as "1-350") apply to paired data; `class_names` (a preset or a
    list) names the classes of class-conditional data. Unconditional data drops any labels, and from A/ and
    B/ folders reads the target folder. `layout` names the layout (see `list_gan_layouts`), "auto" detects it.
    """
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    chosen = None if layout == "auto" else get_gan_layout(layout)
    root = _split_folder(check_folder(Path(path)), split)
    chosen = chosen or get_gan_layout(detect_gan_layout(root))
    request = _request(kind, image_size, channels, split, direction, jitter, ids, class_names)
    if kind not in chosen.kinds:
        raise DataError(f"{root}: {KIND_NEEDS.get(kind, f'{kind} data needs another layout')}, but this folder's "
                        f"layout is {chosen.name!r}", kind="invalid", path=root)
    return chosen.open(root, request)


def _request(kind: str, image_size: int | Sequence[int] | None, channels: int | Sequence[int | None] | None,
             split: str, direction: str, jitter: bool, ids: str | Iterable[str | int] | None,
             class_names: str | Sequence[str] | None) -> GanRequest:
    """The checked request: channels split into (input, target) for paired data, ids parsed."""
    if isinstance(ids, str):
        ids = parse_id_range(ids)
    if ids is not None and kind != "image":
        raise ConfigError(f"ids select image pairs; they do not apply to {kind} data")
    if kind != "image" and not (channels is None or isinstance(channels, int)):
        raise ConfigError(f"channels must be 1 or 3 for {kind} data, got {channels!r}")
    pair = (None, channels) if channels is None or isinstance(channels, int) else tuple(channels)
    if len(pair) != 2:
        raise ConfigError(f"channels must be 1, 3, None or (input, target) for paired data, got {channels!r}")
    size = checked_size(image_size, *pair)
    names = class_names if class_names is None or isinstance(class_names, str) else tuple(class_names)
    return GanRequest(kind, size, pair[1], pair[0], split, direction, jitter,
                      None if ids is None else tuple(str(i) for i in ids), names)


def _split_folder(root: Path, split: str) -> Path:
    """ROOT/split when ROOT is divided into train/, val/, test/ folders, else ROOT (also for IDX files)."""
    if split not in SPLIT_FOLDERS:
        raise ConfigError(f"split must be one of {', '.join(SPLIT_FOLDERS)}, got {split!r}")
    if any(layout.file_splits and layout.detect(root) for layout in _LAYOUTS.all()):
        return root
    present = [f.name for f in subfolders(root) if f.name in SPLIT_FOLDERS]
    if not present:
        return root
    if split not in present:
        raise DataError(f"{root}: no {split}/ folder (found {', '.join(present)})", kind="missing", path=root)
    return root / split
