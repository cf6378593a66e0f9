"""What every GAN dataset checks and reads alike: folders, sizes, channels, class names, id ranges."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segen.data.io import IMAGE_SUFFIXES
from segen.errors import ConfigError, DataError

GAN_IMAGE_SUFFIXES = (*IMAGE_SUFFIXES, ".webp")
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")
CLASS_NAME_PRESETS: dict[str, tuple[str, ...]] = {"mnist": MNIST_CLASSES, "digits": MNIST_CLASSES,
                                                  "fashion-mnist": FASHION_MNIST_CLASSES}

Size = tuple[int, int]


def checked_size(image_size: int | Sequence[int] | None, *channels: int | None) -> Size | None:
    """The (height, width) of `image_size` (an int means square; None stays None); channels must be 1, 3 or None."""
    for c in channels:
        if c is not None and c not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {c!r}")
    if image_size is None:
        return None
    size = tuple(image_size) if isinstance(image_size, Sequence) else (image_size, image_size)
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in size):
        raise ConfigError(f"image_size must be a positive int or (height, width), got {image_size!r}")
    return int(size[0]), int(size[1])


def check_folder(path: Path) -> Path:
    """`path` if it is an existing folder, else DataError."""
    if not path.exists():
        raise DataError(f"{path}: no such file or directory", kind="missing", path=path)
    if not path.is_dir():
        raise DataError(f"{path}: expected a folder, found a file", kind="invalid", path=path)
    return path


def subfolders(root: Path) -> list[Path]:
    """The visible sub-folders of `root`, sorted."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def resolve_class_names(class_names: str | Sequence[str] | None, num_classes: int = 10) -> tuple[str, ...]:
    """Class names from a preset ("mnist", "digits", "fashion-mnist"), a list, or "0".."N-1" when None."""
    if class_names is None:
        return tuple(str(i) for i in range(num_classes))
    if isinstance(class_names, str):
        if class_names.lower() not in CLASS_NAME_PRESETS:
            raise ConfigError(f"class_names: unknown preset {class_names!r}; valid: {', '.join(CLASS_NAME_PRESETS)}, "
                              "or a list of names")
        return CLASS_NAME_PRESETS[class_names.lower()]
    names = tuple(class_names)
    if not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"class_names must be non-empty strings, got {list(names)!r}")
    return names


def parse_id_range(text: str) -> list[str]:
    """Image ids from "1-350" or "1,2,5-9" (inclusive ranges), as strings in the given order."""
    ids: list[str] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if match is None or (match[2] is not None and int(match[2]) < int(match[1])):
            raise ConfigError(f"invalid id range {text!r}: expected numbers and ranges like '1-350' or '1,2,5-9'")
        first, last = int(match[1]), int(match[2] if match[2] is not None else match[1])
        ids += [str(i) for i in range(first, last + 1)]
    return ids

