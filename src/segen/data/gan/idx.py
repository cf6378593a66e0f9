"""The "idx" layout: MNIST-style IDX files (plain or gzipped), with the IDX parser.

A folder holds `{train,t10k}-images-idx3-ubyte[.gz]` and optionally the matching `labels-idx1` files; its
splits are these files, not sub-folders. Images are held in memory as uint8.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from segen.data.gan.common import check_folder, checked_size, resolve_class_names
from segen.data.gan.layouts import GanDataInfo, GanRequest, LayoutBase, register_gan_layout
from segen.data.readers import fit_image
from segen.errors import ConfigError, DataError

_IDX_DTYPES: dict[int, np.dtype[Any]] = {code: np.dtype(name) for code, name in (
    (0x08, ">u1"), (0x09, ">i1"), (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"), (0x0E, ">f8"))}
_IDX_NAME = re.compile(r".*[-.]idx\d-ubyte(\.gz)?$", re.IGNORECASE)
_IDX_PREFIX = {"train": "train", "test": "t10k"}


def read_idx(path: Path | str) -> np.ndarray:
    """The array in an IDX file (MNIST format), plain or gzipped, in native byte order.

    Raises DataError naming the file when it is missing, not IDX, or its size does not match its header.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if not path.is_file():
        raise DataError(f"{path}: expected an IDX file, found a folder")
    data = _idx_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    code, ndim = data[2], data[3]
    if data[:2] != b"\0\0" or ndim == 0:
        raise DataError(f"{path}: not an IDX file (magic number 0x{magic:08x}, expected 0x0000TTNN: type, dimensions)")
    if code not in _IDX_DTYPES:
        raise DataError(f"{path}: unknown IDX data type 0x{code:02x} (magic number 0x{magic:08x})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes, {ndim} dimensions need {header})")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[code]
    expected, actual = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, len(data) - header
    if actual != expected:
        problem = "truncated" if actual < expected else "has extra bytes"
        raise DataError(f"{path}: {problem}: the header gives shape {shape} ({expected} data bytes), "
                        f"the file holds {actual}")
    array = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return array.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def _idx_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it is gzipped (detected from its content, not its name)."""
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip data ({str(exc) or type(exc).__name__})") from None


def find_idx_split(root: Path | str, split: str) -> tuple[Path, Path | None]:
    """(images, labels or None) of an MNIST-style folder: `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`.

    `split` is "train" or "test"; the Kaggle spelling `train-images.idx3-ubyte` is accepted too.
    """
    root = check_folder(Path(root))
    if split not in _IDX_PREFIX:
        raise ConfigError(f"split must be 'train' or 'test' for IDX data, got {split!r}")
    prefix = _IDX_PREFIX[split]
    images = _find_idx(root, prefix, "images", 3)
    if images is None:
        raise DataError(f"{root}: no {prefix}-images-idx3-ubyte[.gz] for split {split!r}")
    return images, _find_idx(root, prefix, "labels", 1)


def _find_idx(root: Path, prefix: str, kind: str, ndim: int) -> Path | None:
    for sep in ("-", "."):
        for suffix in ("", ".gz"):
            path = root / f"{prefix}-{kind}{sep}idx{ndim}-ubyte{suffix}"
            if path.is_file():
                return path
    return None


class IdxImages(Dataset[Any]):
    """Images from an IDX file held in memory; items are images, or (image, int64 label) with a labels file.

    `image_size` None keeps the stored size, `channels` None means 1.
    """

    def __init__(self, images_path: Path | str, labels_path: Path | str | None,
                 image_size: int | Sequence[int] | None, channels: int | None,
                 class_names: str | Sequence[str] | None = None) -> None:
        size = checked_size(image_size, channels)
        self.channels = channels or 1
        self.images_path = Path(images_path)
        array = read_idx(self.images_path)
        if array.ndim != 3 or array.dtype != np.uint8:
            raise DataError(f"{self.images_path}: expected N,H,W unsigned-byte images, got shape {array.shape} "
                            f"of {array.dtype}")
        if len(array) == 0:
            raise DataError(f"{self.images_path}: no images found")
        self.image_size = size or (array.shape[1], array.shape[2])
        self.images = torch.from_numpy(array)
        self.labels: torch.Tensor | None = None
        self.class_names: tuple[str, ...] = ()
        if labels_path is not None:
            self.labels = self._read_labels(Path(labels_path), len(array))
            self.class_names = resolve_class_names(class_names, max(10, int(self.labels.max()) + 1))
            if int(self.labels.max()) >= len(self.class_names):
                raise DataError(f"{labels_path}: label {int(self.labels.max())} >= number of class names "
                                f"{len(self.class_names)}")

    @staticmethod
    def _read_labels(path: Path, count: int) -> torch.Tensor:
        labels = read_idx(path)
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DataError(f"{path}: expected a 1-D array of integer labels, got shape {labels.shape} "
                            f"of {labels.dtype}")
        if len(labels) != count:
            raise DataError(f"{path}: {len(labels)} labels for {count} images")
        if labels.min() < 0:
            raise DataError(f"{path}: negative label {int(labels.min())}")
        return torch.from_numpy(labels.astype(np.int64))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Any:
        image = fit_image(self.images[index][None], self.image_size, self.channels)
        return image if self.labels is None else (image, self.labels[index])


@register_gan_layout
class IdxLayout(LayoutBase, name="idx", priority=10, kinds=("none", "class"), file_splits=True):
    """A folder with IDX files; its splits are the train and t10k files."""

    def detect(self, root: Path) -> bool:
        return any(_IDX_NAME.match(p.name) and p.is_file() for p in root.iterdir())

    def open(self, root: Path, request: GanRequest) -> tuple[Dataset[Any], GanDataInfo]:
        images, labels = find_idx_split(root, request.split)
        if request.kind == "none":
            labels = None
        elif labels is None:
            raise DataError(f"{root}: class-conditional data needs labels, but there is no "
                            f"{_IDX_PREFIX[request.split]}-labels-idx1-ubyte[.gz]", kind="missing", path=root)
        dataset = IdxImages(images, labels, request.image_size, request.channels, request.class_names)
        names = dataset.class_names
        return dataset, GanDataInfo(len(dataset), dataset.channels, dataset.image_size, len(names), names, self.name)
