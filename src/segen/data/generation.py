"""Datasets for GAN training: plain image folders, class folders, IDX (MNIST) files and image pairs.

Every dataset returns images as uint8 C,H,W tensors (C = 1 or 3) at the requested (height, width);
the training code scales them to [-1, 1]. Unreadable or inconsistent data raises `DataError` naming
the file; invalid arguments raise `ConfigError`.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms.v2.functional import crop, horizontal_flip, resize

from segen.data.io import IMAGE_SUFFIXES, image_channels, read_image
from segen.data.io import image_size as stored_size
from segen.errors import ConfigError, DataError

GAN_IMAGE_SUFFIXES = (*IMAGE_SUFFIXES, ".webp")
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")
CLASS_NAME_PRESETS: dict[str, tuple[str, ...]] = {"mnist": MNIST_CLASSES, "digits": MNIST_CLASSES,
                                                  "fashion-mnist": FASHION_MNIST_CLASSES}
LAYOUTS = ("idx", "class-folders", "paired-folders", "images")
KINDS = ("unconditional", "class", "paired")
DIRECTIONS = ("AtoB", "BtoA")
JITTER_SCALE = 286 / 256  # pix2pix: resize 256 -> 286, then crop back to 256

_IDX_DTYPES: dict[int, np.dtype[Any]] = {code: np.dtype(name) for code, name in (
    (0x08, ">u1"), (0x09, ">i1"), (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"), (0x0E, ">f8"))}
_IDX_NAME = re.compile(r".*[-.]idx\d-ubyte(\.gz)?$", re.IGNORECASE)
_IDX_PREFIX = {"train": "train", "test": "t10k"}
_SPLIT_FOLDERS = ("train", "val", "test")

Size = tuple[int, int]


# ----------------------------------------------------------------------------------------------- helpers


def _check_args(image_size: int | Sequence[int] | None, *channels: int | None) -> Size | None:
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


def _check_folder(path: Path) -> Path:
    """`path` if it is an existing folder, else DataError."""
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if not path.is_dir():
        raise DataError(f"{path}: expected a folder, found a file")
    return path


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in GAN_IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def list_images(root: Path, recursive: bool = True) -> list[Path]:
    """Image files under `root` (recursively by default), sorted; hidden files and folders are skipped."""
    found = root.rglob("*") if recursive else root.iterdir()
    return sorted(p for p in found if _is_image(p) and _visible(p, root))


def _subfolders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def fit_image(image: torch.Tensor, size: Size, channels: int) -> torch.Tensor:
    """`image` (uint8 C,H,W) with `channels` channels at `size`; no resize when it already has that size."""
    if image.shape[0] != channels:
        image = image.repeat(3, 1, 1) if channels == 3 else _to_grey(image)
    if tuple(image.shape[-2:]) != size:
        image = resize(image, list(size), antialias=True)
    return image


def _to_grey(image: torch.Tensor) -> torch.Tensor:
    """Luma of a uint8 RGB image, rounded as Pillow's "L" conversion does."""
    r, g, b = image.to(torch.int32)
    return ((r * 19595 + g * 38470 + b * 7471 + 32768) >> 16).to(torch.uint8)[None]


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


# ------------------------------------------------------------------------------------- image folders


class UnlabelledImages(Dataset[torch.Tensor]):
    """Every image under `root` (recursively, sorted); items are uint8 C,H,W images.

    `image_size` or `channels` None means those of the first image.
    """

    def __init__(self, root: Path | str, image_size: int | Sequence[int] | None, channels: int | None) -> None:
        self.root = _check_folder(Path(root))
        size = _check_args(image_size, channels)
        self.paths = list_images(self.root)
        if not self.paths:
            raise DataError(f"{self.root}: no images found ({', '.join(GAN_IMAGE_SUFFIXES)})")
        self.image_size = size or stored_size(self.paths[0])
        self.channels = channels or image_channels(self.paths[0])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return fit_image(read_image(self.paths[index], self.channels), self.image_size, self.channels)


class ClassFolderImages(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """One sub-folder per class (sorted names are class ids 0..N-1); items are (image, int64 label).

    `image_size` or `channels` None means those of the first image.
    """

    def __init__(self, root: Path | str, image_size: int | Sequence[int] | None, channels: int | None) -> None:
        self.root = _check_folder(Path(root))
        size = _check_args(image_size, channels)
        folders = _subfolders(self.root)
        if len(folders) < 2:
            raise DataError(f"{self.root}: need at least 2 class sub-folders, found {len(folders)}")
        self.class_names = [f.name for f in folders]
        self.paths: list[Path] = []
        self.labels: list[int] = []
        for label, folder in enumerate(folders):
            images = list_images(folder)
            if not images:
                raise DataError(f"{folder}: class folder has no images")
            self.paths += images
            self.labels += [label] * len(images)
        self.image_size = size or stored_size(self.paths[0])
        self.channels = channels or image_channels(self.paths[0])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = fit_image(read_image(self.paths[index], self.channels), self.image_size, self.channels)
        return image, torch.tensor(self.labels[index], dtype=torch.int64)


# -------------------------------------------------------------------------------------------- IDX files


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
    root = _check_folder(Path(root))
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
        size = _check_args(image_size, channels)
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


# ---------------------------------------------------------------------------------------------- pairs


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


def _id_key(stem: str) -> str:
    """Numeric stems compare as numbers, so "007" matches id "7"."""
    return str(int(stem)) if stem.isdigit() else stem


def _by_stem(paths: Iterable[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in paths:
        if path.stem in found:
            raise DataError(f"{path}: duplicate name; {found[path.stem].name} has the same stem")
        found[path.stem] = path
    return found


class PairedImages(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Image pairs for image-to-image translation; items are (input, target) uint8 images.

    `source` holds either side-by-side images (left half A, right half B) or sub-folders A/ and B/ paired
    by file stem. `direction` "AtoB" maps A to B, "BtoA" swaps them. `jitter` applies the pix2pix
    training jitter to both images alike: resize to about 1.12x, the same random crop back, the same
    random horizontal flip. `ids` keeps only the files with these stems (e.g. `parse_id_range("1-350")`).
    Channels None mean those of the first pair; `image_size` None means the size of its target image.
    """

    def __init__(self, source: Path | str, image_size: int | Sequence[int] | None, channels_a: int | None = None,
                 channels_b: int | None = None, direction: str = "AtoB", jitter: bool = False,
                 ids: Iterable[str | int] | None = None) -> None:
        self.root = _check_folder(Path(source))
        size = _check_args(image_size, channels_a, channels_b)
        if direction not in DIRECTIONS:
            raise ConfigError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        self.direction, self.jitter = direction, jitter
        self.side_by_side = not ((self.root / "A").is_dir() and (self.root / "B").is_dir())
        pairs = self._side_by_side() if self.side_by_side else self._folders()
        self.pairs = _select(pairs, ids, self.root)
        if self.side_by_side:
            for path, _ in self.pairs:
                _check_even_width(path)
        first_a, first_b = self.pairs[0]
        self.channels_a = channels_a or image_channels(first_a)
        self.channels_b = channels_b or image_channels(first_b)
        self.image_size = size or self._stored_size()

    def _stored_size(self) -> Size:
        """The size of the first target image (half the width for side-by-side files)."""
        if self.side_by_side:
            height, width = stored_size(self.pairs[0][0])
            return height, width // 2
        return stored_size(self.pairs[0][1 if self.direction == "AtoB" else 0])

    @property
    def input_channels(self) -> int:
        """Channels of the input images (A for "AtoB")."""
        return self.channels_a if self.direction == "AtoB" else self.channels_b

    @property
    def target_channels(self) -> int:
        """Channels of the target images (B for "AtoB")."""
        return self.channels_b if self.direction == "AtoB" else self.channels_a

    @property
    def layout(self) -> str:
        """Either "side-by-side" or "paired-folders"."""
        return "side-by-side" if self.side_by_side else "paired-folders"

    def _side_by_side(self) -> list[tuple[Path, Path]]:
        paths = list_images(self.root, recursive=False)
        if not paths:
            raise DataError(f"{self.root}: no images found ({', '.join(GAN_IMAGE_SUFFIXES)})")
        return [(p, p) for p in _by_stem(paths).values()]

    def _folders(self) -> list[tuple[Path, Path]]:
        a = _by_stem(list_images(self.root / "A", recursive=False))
        b = _by_stem(list_images(self.root / "B", recursive=False))
        unpaired = [f"A/{a[s].name}" for s in a if s not in b] + [f"B/{b[s].name}" for s in b if s not in a]
        if unpaired:
            more = f" and {len(unpaired) - 3} more" if len(unpaired) > 3 else ""
            raise DataError(f"{self.root}: files without a partner of the same name in the other folder: "
                            f"{', '.join(unpaired[:3])}{more}")
        if not a:
            raise DataError(f"{self.root}: no images found in A/ and B/")
        return [(a[s], b[s]) for s in sorted(a)]

    @property
    def stems(self) -> list[str]:
        """File stems of the pairs, in order."""
        return [a.stem for a, _ in self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self._read(index)
        a, b = (_jitter(a, b, self.image_size) if self.jitter else
                (fit_image(a, self.image_size, self.channels_a), fit_image(b, self.image_size, self.channels_b)))
        return (a, b) if self.direction == "AtoB" else (b, a)

    def _read(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A and B at their stored size with their channel counts."""
        path_a, path_b = self.pairs[index]
        if not self.side_by_side:
            return read_image(path_a, self.channels_a), read_image(path_b, self.channels_b)
        both = read_image(path_a, max(self.channels_a, self.channels_b))
        half = both.shape[-1] // 2
        size = (both.shape[-2], half)
        return fit_image(both[..., :half], size, self.channels_a), fit_image(both[..., half:], size, self.channels_b)


def _select(pairs: list[tuple[Path, Path]], ids: Iterable[str | int] | None, root: Path) -> list[tuple[Path, Path]]:
    """The pairs whose stems are in `ids` (all when None); ids without a file raise DataError."""
    if ids is None:
        return pairs
    wanted = {_id_key(str(i)) for i in ids}
    kept = [p for p in pairs if _id_key(p[0].stem) in wanted]
    missing = sorted(wanted - {_id_key(p[0].stem) for p in kept}, key=lambda s: (len(s), s))
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DataError(f"{root}: no image for id(s) {', '.join(missing[:5])}{more}")
    if not kept:
        raise DataError(f"{root}: no ids selected")
    return kept


def _check_even_width(path: Path) -> None:
    width = stored_size(path)[1]
    if width % 2:
        raise DataError(f"{path}: width {width} is odd; side-by-side pairs need left half A, right half B")


def _jitter(a: torch.Tensor, b: torch.Tensor, size: Size) -> tuple[torch.Tensor, torch.Tensor]:
    """The same upscale, random crop back to `size` and random horizontal flip on both images."""
    big = [round(size[0] * JITTER_SCALE), round(size[1] * JITTER_SCALE)]
    a, b = resize(a, big, antialias=True), resize(b, big, antialias=True)
    top = int(torch.randint(0, big[0] - size[0] + 1, ()))
    left = int(torch.randint(0, big[1] - size[1] + 1, ()))
    a, b = crop(a, top, left, *size), crop(b, top, left, *size)
    if float(torch.rand(())) < 0.5:
        a, b = horizontal_flip(a), horizontal_flip(b)
    return a, b


# ----------------------------------------------------------------------------------- layout and opening


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


def _has_idx(folder: Path) -> bool:
    return any(_IDX_NAME.match(p.name) and p.is_file() for p in folder.iterdir())


def _has_images(folder: Path) -> bool:
    return any(_is_image(p) and _visible(p, folder) for p in folder.rglob("*"))


def detect_gan_layout(path: Path | str) -> str:
    """The layout of a GAN data folder.

    Returns:
        "idx" (IDX files), "paired-folders" (A/ and B/ sub-folders), "class-folders" (at least 2 sub-folders
        with images and no images at the top level) or "images" (anything else, side-by-side pairs included).
    """
    root = _check_folder(Path(path))
    if _has_idx(root):
        return "idx"
    if (root / "A").is_dir() and (root / "B").is_dir():
        return "paired-folders"
    top_images = any(_is_image(p) for p in root.iterdir())
    classes = [f for f in _subfolders(root) if _has_images(f)]
    return "class-folders" if len(classes) >= 2 and not top_images else "images"


def open_gan_dataset(path: Path | str, kind: str, image_size: int | Sequence[int] | None,
                     channels: int | Sequence[int | None] | None, *, split: str = "train", direction: str = "AtoB",
                     jitter: bool = False, ids: str | Iterable[str | int] | None = None,
                     class_names: str | Sequence[str] | None = None) -> tuple[Dataset[Any], GanDataInfo]:
    """A GAN dataset of `kind` ("unconditional", "class" or "paired") from a folder of any supported layout.

    Folders with train/, val/ or test/ sub-folders are read from the `split` one; for IDX data `split` picks
    the train or t10k files. `image_size` None means the data's own size (of the first image). `channels` is
    1, 3 or None (the data's own); for paired data it is the target's, or (input, target). `direction`,
    `jitter` and `ids` (stems, or a range such as "1-350") apply to paired data; `class_names` (a preset or a
    list) names the classes of class-conditional data. Unconditional data drops any labels, and from A/ and
    B/ folders reads the target folder.
    """
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    root = _split_folder(_check_folder(Path(path)), split)
    layout = detect_gan_layout(root)
    if isinstance(ids, str):
        ids = parse_id_range(ids)
    if ids is not None and kind != "paired":
        raise ConfigError(f"ids select image pairs; they do not apply to {kind} data")
    if kind == "paired":
        return _open_paired(root, layout, image_size, channels, direction, jitter, ids)
    if not (channels is None or isinstance(channels, int)):
        raise ConfigError(f"channels must be 1 or 3 for {kind} data, got {channels!r}")
    if kind == "class":
        return _open_class(root, layout, image_size, channels, split, class_names)
    return _open_unconditional(root, layout, image_size, channels, split, direction)


def _split_folder(root: Path, split: str) -> Path:
    """ROOT/split when ROOT is divided into train/, val/, test/ folders, else ROOT."""
    if split not in _SPLIT_FOLDERS:
        raise ConfigError(f"split must be one of {', '.join(_SPLIT_FOLDERS)}, got {split!r}")
    if _has_idx(root):
        return root
    present = [f.name for f in _subfolders(root) if f.name in _SPLIT_FOLDERS]
    if not present:
        return root
    if split not in present:
        raise DataError(f"{root}: no {split}/ folder (found {', '.join(present)})")
    return root / split


def _open_unconditional(root: Path, layout: str, image_size: int | Sequence[int] | None, channels: int | None,
                        split: str, direction: str) -> tuple[Dataset[Any], GanDataInfo]:
    dataset: IdxImages | UnlabelledImages
    if layout == "idx":
        dataset = IdxImages(find_idx_split(root, split)[0], None, image_size, channels)
    elif layout == "paired-folders":
        dataset = UnlabelledImages(root / ("B" if direction == "AtoB" else "A"), image_size, channels)
    else:
        dataset = UnlabelledImages(root, image_size, channels)
    return dataset, GanDataInfo(len(dataset), dataset.channels, dataset.image_size, 0, (), layout)


def _open_class(root: Path, layout: str, image_size: int | Sequence[int] | None, channels: int | None, split: str,
                class_names: str | Sequence[str] | None) -> tuple[Dataset[Any], GanDataInfo]:
    dataset: IdxImages | ClassFolderImages
    if layout == "idx":
        images, labels = find_idx_split(root, split)
        if labels is None:
            raise DataError(f"{root}: class-conditional data needs labels, but there is no "
                            f"{_IDX_PREFIX[split]}-labels-idx1-ubyte[.gz]")
        dataset = IdxImages(images, labels, image_size, channels, class_names)
        names = dataset.class_names
    elif layout == "class-folders":
        dataset = ClassFolderImages(root, image_size, channels)
        names = tuple(dataset.class_names)
        if class_names is not None:
            names = resolve_class_names(class_names)
            if len(names) != len(dataset.class_names):
                raise ConfigError(f"class_names: {len(names)} names for {len(dataset.class_names)} class folders "
                                  f"in {root}")
    else:
        raise DataError(f"{root}: class-conditional data needs labels (IDX files with labels, or one sub-folder "
                        f"per class), but this folder's layout is {layout!r}")
    return dataset, GanDataInfo(len(dataset), dataset.channels, dataset.image_size, len(names), names, layout)


def _open_paired(root: Path, layout: str, image_size: int | Sequence[int] | None,
                 channels: int | Sequence[int | None] | None, direction: str, jitter: bool,
                 ids: Iterable[str | int] | None) -> tuple[Dataset[Any], GanDataInfo]:
    if layout not in ("paired-folders", "images"):
        raise DataError(f"{root}: paired data needs side-by-side A|B images or A/ and B/ sub-folders, but this "
                        f"folder's layout is {layout!r}")
    pair = (None, channels) if channels is None or isinstance(channels, int) else tuple(channels)
    if len(pair) != 2:
        raise ConfigError(f"channels must be 1, 3, None or (input, target) for paired data, got {channels!r}")
    channels_a, channels_b = pair if direction == "AtoB" else pair[::-1]
    dataset = PairedImages(root, image_size, channels_a, channels_b, direction, jitter, ids)
    info = GanDataInfo(len(dataset), dataset.target_channels, dataset.image_size, 0, (), dataset.layout,
                       in_channels=dataset.input_channels)
    return dataset, info
