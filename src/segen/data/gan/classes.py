"""The "class-folders" layout: one sub-folder of images per class; the sorted folder names are class ids 0..N-1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from segen.data.gan.common import GAN_IMAGE_SUFFIXES, check_folder, checked_size, resolve_class_names, subfolders
from segen.data.gan.images import ImageFiles, open_unlabelled
from segen.data.gan.layouts import GanDataInfo, GanRequest, LayoutBase, register_gan_layout
from segen.data.readers import is_image_file, iter_images, list_images
from segen.errors import ConfigError, DataError


class ClassFolderImages(ImageFiles, Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """One sub-folder per class (sorted names are class ids 0..N-1); items are (image, int64 label).

    `image_size` or `channels` None means those of the first image.
    """

    def __init__(self, root: Path | str, image_size: int | Sequence[int] | None, channels: int | None) -> None:
        self.root = check_folder(Path(root))
        size = checked_size(image_size, channels)
        folders = subfolders(self.root)
        if len(folders) < 2:
            raise DataError(f"{self.root}: need at least 2 class sub-folders, found {len(folders)}", kind="invalid",
                            path=self.root)
        self.class_names = [f.name for f in folders]
        paths: list[Path] = []
        self.labels: list[int] = []
        for label, folder in enumerate(folders):
            images = list_images(folder, recursive=True, suffixes=GAN_IMAGE_SUFFIXES)
            if not images:
                raise DataError(f"{folder}: class folder has no images", kind="empty", path=folder)
            paths += images
            self.labels += [label] * len(images)
        super().__init__(paths, size, channels)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.read(index), torch.tensor(self.labels[index], dtype=torch.int64)


@register_gan_layout
class ClassFoldersLayout(LayoutBase, name="class-folders", priority=30, kinds=("class", "none")):
    """At least 2 sub-folders with images and no images at the top level."""

    def detect(self, root: Path) -> bool:
        if any(is_image_file(p, GAN_IMAGE_SUFFIXES) for p in root.iterdir()):
            return False
        with_images = [f for f in subfolders(root) if next(iter_images(f, True, GAN_IMAGE_SUFFIXES), None)]
        return len(with_images) >= 2

    def open(self, root: Path, request: GanRequest) -> tuple[Dataset[Any], GanDataInfo]:
        if request.kind == "none":
            return open_unlabelled(root, request, self.name)
        dataset = ClassFolderImages(root, request.image_size, request.channels)
        names = tuple(dataset.class_names)
        if request.class_names is not None:
            names = resolve_class_names(request.class_names)
            if len(names) != len(dataset.class_names):
                raise ConfigError(f"class_names: {len(names)} names for {len(dataset.class_names)} class folders "
                                  f"in {root}")
        return dataset, replace(dataset.info(len(dataset), self.name), num_classes=len(names), class_names=names)
