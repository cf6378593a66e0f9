"""Dataset formats: how a layout on disk maps to splits, image/mask pairs, classes and class ids.

Each format is registered by name (`register_format`). A format lists the samples of a split, gives
its built-in class names and colours, and a 256-entry lookup table that turns the stored mask values
into class ids (e.g. CamVid's void 11 -> ignore, Cityscapes label ids -> train ids). `--format auto`
picks the first format whose `detect` recognises the folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from segen.data.folder import SPLITS, ClassInfo, Sample, has_split, list_split, read_classes
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

    def samples(self, root: Path, split: str) -> list[Sample]:
        """Image/mask pairs of `split`, sorted; raises DataError for missing or unpaired files."""
        ...

    def classes(self, root: Path) -> ClassInfo | None:
        """Class names and colours, or None to infer them from the masks."""
        ...

    def mask_lut(self, root: Path, ignore_index: int) -> np.ndarray | None:
        """uint8[256] mapping stored mask values to class ids (or ignore), or None for identity."""
        ...


_FORMATS: dict[str, DatasetFormat] = {}


def register_format(factory: Callable[[], DatasetFormat]) -> Callable[[], DatasetFormat]:
    """Class decorator: register an instance of a format under its `name`."""
    instance = factory()
    if instance.name in _FORMATS:
        raise ValueError(f"format {instance.name!r} is already registered")
    _FORMATS[instance.name] = instance
    return factory


def list_formats() -> list[str]:
    """Registered format names (folder first)."""
    _ensure_loaded()
    return sorted(_FORMATS, key=lambda n: (n != "folder", n))


def get_format(name: str, root: str | Path | None = None) -> DatasetFormat:
    """The format `name`; 'auto' detects it from `root`."""
    _ensure_loaded()
    if name == "auto":
        if root is None or not Path(root).is_dir():
            raise DataError(f"{root}: data folder not found")
        for candidate in list_formats():
            if _FORMATS[candidate].detect(Path(root)):
                return _FORMATS[candidate]
        raise DataError(f"{root}: layout not recognised; valid formats: {', '.join(list_formats())} "
                        "(see --format)")
    if name not in _FORMATS:
        raise DataError(f"unknown format {name!r}; valid: auto, {', '.join(list_formats())}")
    return _FORMATS[name]


def identity_lut() -> np.ndarray:
    """The lookup table that keeps every value."""
    return np.arange(256, dtype=np.uint8)


@register_format
class FolderFormat:
    """ROOT/{train,val,test}/{images,masks}/* paired by stem, optional ROOT/classes.yaml."""

    name = "folder"

    def detect(self, root: Path) -> bool:
        return has_split(root, "train") and (root / "train" / "masks").is_dir()

    def splits(self, root: Path) -> list[str]:
        return [s for s in SPLITS if has_split(root, s)]

    def samples(self, root: Path, split: str) -> list[Sample]:
        return list_split(root, split)

    def classes(self, root: Path) -> ClassInfo | None:
        return read_classes(root)

    def mask_lut(self, root: Path, ignore_index: int) -> np.ndarray | None:
        return None


def _ensure_loaded() -> None:
    """Import the modules that register the public formats (idempotent)."""
    from segen.data import public_formats  # noqa: F401
