"""The "images" layout: a folder of unlabelled images (searched recursively); side-by-side A|B files serve as pairs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from segen.data.gan.common import GAN_IMAGE_SUFFIXES, Size, check_folder, checked_size
from segen.data.gan.layouts import GanDataInfo, GanRequest, LayoutBase, register_gan_layout
from segen.data.gan.pairs import open_pairs
from segen.data.io import image_channels
from segen.data.io import image_size as stored_size
from segen.data.readers import fit_image, list_images, read_uint8, wide_range
from segen.errors import DataError


class ImageFiles:
    """Image files served as uint8 C,H,W at one size and channel count.

    `image_size` or `channels` None means those of the first image. 16-bit files are scaled to uint8 by the
    data's value range `max_value` (None for 8-bit data; see `segen.data.readers.wide_range`).
    """

    def __init__(self, paths: list[Path], image_size: Size | None, channels: int | None) -> None:
        self.paths = paths
        self.image_size = image_size or stored_size(paths[0])
        self.channels = channels or image_channels(paths[0])
        self.max_value = wide_range(paths, self.channels)

    def read(self, index: int) -> torch.Tensor:
        """Image `index` as uint8 with `channels` channels at `image_size`."""
        return fit_image(read_uint8(self.paths[index], self.channels, self.max_value), self.image_size, self.channels)

    def info(self, num_images: int, layout: str) -> GanDataInfo:
        """What an unlabelled dataset of these files holds."""
        return GanDataInfo(num_images, self.channels, self.image_size, 0, (), layout)


class UnlabelledImages(ImageFiles, Dataset[torch.Tensor]):
    """Every image under `root` (recursively, sorted); items are uint8 C,H,W images.

    `image_size` or `channels` None means those of the first image.
    """

    def __init__(self, root: Path | str, image_size: int | Sequence[int] | None, channels: int | None) -> None:
        self.root = check_folder(Path(root))
        size = checked_size(image_size, channels)
        paths = list_images(self.root, recursive=True, suffixes=GAN_IMAGE_SUFFIXES)
        if not paths:
            raise DataError(f"{self.root}: no images found ({', '.join(GAN_IMAGE_SUFFIXES)})", kind="empty",
                            path=self.root)
        super().__init__(paths, size, channels)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.read(index)


def open_unlabelled(root: Path, request: GanRequest, layout: str) -> tuple[Dataset[Any], GanDataInfo]:
    """Every image under `root` as unlabelled data of `layout`, as `request` asks."""
    dataset = UnlabelledImages(root, request.image_size, request.channels)
    return dataset, dataset.info(len(dataset), layout)


@register_gan_layout
class ImagesLayout(LayoutBase, name="images", priority=100, kinds=("none", "image")):
    """Any folder of images: unlabelled images, or side-by-side pairs (left half A, right half B)."""

    def detect(self, root: Path) -> bool:
        """Every folder: this layout takes what no other recognises."""
        return True

    def open(self, root: Path, request: GanRequest) -> tuple[Dataset[Any], GanDataInfo]:
        return open_pairs(root, request) if request.kind == "image" else open_unlabelled(root, request, self.name)
