"""Dataset formats: how a layout on disk maps to splits, image/mask pairs, classes and class ids.

Each format is registered by name (`register_format`). A format lists a split as a `SplitListing` (the
pairs it can make plus every problem, for `segen data check`) or strictly (`samples`, raising the first
problem, for training), gives
its built-in class names and colours, and a 256-entry lookup table that turns the stored mask values
into class ids (e.g. CamVid's void 11 -> ignore, Cityscapes label ids -> train ids). `--format auto`
picks the first format whose `detect` recognises the folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from segen.data.registry import Registry
from segen.data.seg.folder import SPLITS, ClassInfo, Sample, SplitListing, has_split, read_classes, split_listing
from segen.errors import DataError


class DatasetFormat(Protocol):
    """A dataset layout on disk."""

    name: str

    def detect(self, root: Path) -> bool:
        """Whether `root` looks like this format."""
        ...

    def splits(self, root: Path) -> list[str]:
        """The labelled splits present under `root` (a subset of train, val, test)."""
        ...

    def listing(self, root: Path, split: str) -> SplitListing:
        """The image/mask pairs of `split` it can make, sorted, and every problem (a DataError with a kind)."""
        ...

    def samples(self, root: Path, split: str) -> list[Sample]:
        """Image/mask pairs of `split`, sorted; raises the first problem of `listing` (a DataError)."""
        ...

    def classes(self, root: Path) -> ClassInfo | None:
        """Class names and colours, or None to infer them from the masks."""
        ...

    def mask_lut(self, root: Path, ignore_index: int) -> np.ndarray | None:
        """uint8[256] mapping stored mask values to class ids (or ignore), or None for identity."""
        ...


class ListedFormat:
    """Base of the built-in formats: `samples` is the strict form of `listing`."""

    def listing(self, root: Path, split: str) -> SplitListing:
        """The pairs of `split` and every problem; formats override this."""
        raise NotImplementedError

    def samples(self, root: Path, split: str) -> list[Sample]:
        """The pairs of `split`; raises the first problem of `listing`."""
        return self.listing(root, split).strict()


def _ensure_loaded() -> None:
    """Import the modules that register the public formats (idempotent)."""
    from segen.data.seg import public_formats  # noqa: F401


_FORMATS: Registry[DatasetFormat] = Registry("format", _ensure_loaded, order=lambda fmt: fmt.name != "folder",
                                             error=DataError)
register_format = _FORMATS.register
"""Class decorator: register an instance of a format under its `name`."""


def list_formats() -> list[str]:
    """Registered format names (folder first)."""
    return _FORMATS.names()


def get_format(name: str, root: str | Path | None = None) -> DatasetFormat:
    """The format `name`; 'auto' detects it from `root`."""
    if name != "auto":
        return _FORMATS.get(name)
    if root is None or not Path(root).is_dir():
        raise DataError(f"{root}: data folder not found", kind="missing", path=root)
    for fmt in _FORMATS.all():
        if fmt.detect(Path(root)):
            return fmt
    raise DataError(f"{root}: layout not recognised; valid formats: {', '.join(list_formats())} (see --format)",
                    kind="invalid", path=root)


@register_format
class FolderFormat(ListedFormat):
    """ROOT/{train,val,test}/{images,masks}/* paired by stem, optional ROOT/classes.yaml."""

    name = "folder"

    def detect(self, root: Path) -> bool:
        return has_split(root, "train") and (root / "train" / "masks").is_dir()

    def splits(self, root: Path) -> list[str]:
        """Splits with images/ or masks/: one that has only one of the two is listed, so its listing names the other."""
        return [s for s in SPLITS if has_split(root, s) or (root / s / "masks").is_dir()]

    def listing(self, root: Path, split: str) -> SplitListing:
        return split_listing(root, split)

    def classes(self, root: Path) -> ClassInfo | None:
        return read_classes(root)

    def mask_lut(self, root: Path, ignore_index: int) -> np.ndarray | None:
        return None

