"""Paired images for image-to-image translation: side-by-side A|B files or A/ and B/ folders paired by stem.

Registers the "paired-folders" layout (A/ and B/ sub-folders); side-by-side files are a folder of the
"images" layout, which opens them here (`open_pairs`) when paired data is asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset
from torchvision.transforms.v2.functional import crop, horizontal_flip

from segen.data.gan.common import GAN_IMAGE_SUFFIXES, Size, check_folder, checked_size
from segen.data.gan.layouts import DIRECTIONS, GanDataInfo, GanRequest, LayoutBase, get_gan_layout, register_gan_layout
from segen.data.io import image_channels
from segen.data.io import image_size as stored_size
from segen.data.readers import files_by_stem, fit_image, pair_by_key, read_uint8, resize_image, wide_range
from segen.errors import ConfigError, DataError

JITTER_SCALE = 286 / 256  # pix2pix: resize 256 -> 286, then crop back to 256


def _has_ab(root: Path) -> bool:
    """Whether `root` has the sub-folders A/ and B/ (else its images are side-by-side pairs)."""
    return (root / "A").is_dir() and (root / "B").is_dir()


def _id_key(stem: str) -> str:
    """Numeric stems compare as numbers, so "007" matches id "7"."""
    return str(int(stem)) if stem.isdigit() else stem


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
        self.root = check_folder(Path(source))
        size = checked_size(image_size, channels_a, channels_b)
        if direction not in DIRECTIONS:
            raise ConfigError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        self.direction, self.jitter = direction, jitter
        self.side_by_side = not _has_ab(self.root)
        pairs = self._side_by_side() if self.side_by_side else self._folders()
        self.pairs = _select(pairs, ids, self.root)
        if self.side_by_side:
            for path, _ in self.pairs:
                _check_even_width(path)
        first_a, first_b = self.pairs[0]
        self.channels_a = channels_a or image_channels(first_a)
        self.channels_b = channels_b or image_channels(first_b)
        self.image_size = size or self._stored_size()
        if self.side_by_side:
            self.max_value_a = self.max_value_b = wide_range([a for a, _ in self.pairs],
                                                             max(self.channels_a, self.channels_b))
        else:
            self.max_value_a = wide_range([a for a, _ in self.pairs], self.channels_a)
            self.max_value_b = wide_range([b for _, b in self.pairs], self.channels_b)

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
        return [(p, p) for p in self._by_stem(self.root).values()]

    def _folders(self) -> list[tuple[Path, Path]]:
        a, b = self._by_stem(self.root / "A"), self._by_stem(self.root / "B")
        pairs, lone_a, lone_b = pair_by_key(a, b)
        unpaired = [f"A/{a[s].name}" for s in lone_a] + [f"B/{b[s].name}" for s in lone_b]
        if unpaired:
            more = f" and {len(unpaired) - 3} more" if len(unpaired) > 3 else ""
            raise DataError(f"{self.root}: files without a partner of the same name in the other folder: "
                            f"{', '.join(unpaired[:3])}{more}", kind="unpaired", path=self.root)
        return pairs

    def _by_stem(self, folder: Path) -> dict[str, Path]:
        """The images of `folder` by stem; a duplicate stem or no image at all raises DataError."""
        problems: list[DataError] = []
        found = files_by_stem(folder, problems, GAN_IMAGE_SUFFIXES)
        if problems:
            raise problems[0]
        if not found:
            raise DataError(f"{folder}: no images found ({', '.join(GAN_IMAGE_SUFFIXES)})", kind="empty", path=folder)
        return found

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
            return (read_uint8(path_a, self.channels_a, self.max_value_a),
                    read_uint8(path_b, self.channels_b, self.max_value_b))
        both = read_uint8(path_a, max(self.channels_a, self.channels_b), self.max_value_a)
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
        raise DataError(f"{root}: no image for id(s) {', '.join(missing[:5])}{more}", kind="missing", path=root)
    if not kept:
        raise DataError(f"{root}: no ids selected")
    return kept


def _check_even_width(path: Path) -> None:
    width = stored_size(path)[1]
    if width % 2:
        raise DataError(f"{path}: width {width} is odd; side-by-side pairs need left half A, right half B")


def _jitter(a: torch.Tensor, b: torch.Tensor, size: Size) -> tuple[torch.Tensor, torch.Tensor]:
    """The same upscale, random crop back to `size` and random horizontal flip on both images."""
    big = (round(size[0] * JITTER_SCALE), round(size[1] * JITTER_SCALE))
    a, b = resize_image(a, big), resize_image(b, big)
    top = int(torch.randint(0, big[0] - size[0] + 1, ()))
    left = int(torch.randint(0, big[1] - size[1] + 1, ()))
    a, b = crop(a, top, left, *size), crop(b, top, left, *size)
    if float(torch.rand(())) < 0.5:
        a, b = horizontal_flip(a), horizontal_flip(b)
    return a, b


def open_pairs(root: Path, request: GanRequest) -> tuple[Dataset[Any], GanDataInfo]:
    """The pairs of `root` (side-by-side files or A/ and B/ folders) as `request` asks."""
    pair = (request.in_channels, request.channels)
    channels_a, channels_b = pair if request.direction == "AtoB" else pair[::-1]
    dataset = PairedImages(root, request.image_size, channels_a, channels_b, request.direction, request.jitter,
                           request.ids)
    info = GanDataInfo(len(dataset), dataset.target_channels, dataset.image_size, 0, (), dataset.layout,
                       in_channels=dataset.input_channels)
    return dataset, info


@register_gan_layout
class PairedFoldersLayout(LayoutBase, name="paired-folders", priority=20, kinds=("image", "none")):
    """Sub-folders A/ and B/ of images paired by file stem; unpaired data is the target folder's images."""

    def detect(self, root: Path) -> bool:
        return _has_ab(root)

    def open(self, root: Path, request: GanRequest) -> tuple[Dataset[Any], GanDataInfo]:
        if request.kind == "image":
            return open_pairs(root, request)
        target = root / ("B" if request.direction == "AtoB" else "A")  # the images a generator learns to make
        dataset, info = get_gan_layout("images").open(target, request)
        return dataset, replace(info, layout=self.name)
