"""Joint image/mask transforms (torchvision transforms.v2 with tv_tensors.Mask).

Images are uint8 C,H,W tensors, masks uint8 H,W. Geometric transforms move both alike, the mask with
nearest-neighbour interpolation; pixels that come from outside the image get the ignore value.
"""

from __future__ import annotations

import math
import random

import torch
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as TF

from segen.config import AugmentConfig


class ScaleCrop:
    """Random scale in [lo, hi], then a random crop of `size`; padded with the ignore value if needed."""

    def __init__(self, size: tuple[int, int], scale: tuple[float, float], ignore_index: int) -> None:
        self.size = size
        self.scale = scale
        self.ignore_index = ignore_index

    def __call__(self, image: tv_tensors.Image, mask: tv_tensors.Mask) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        s = math.exp(random.uniform(math.log(self.scale[0]), math.log(self.scale[1])))
        ch, cw = max(1, round(self.size[0] / s)), max(1, round(self.size[1] / s))
        h, w = image.shape[-2:]
        if h < ch or w < cw:
            pad = [0, 0, max(0, cw - w), max(0, ch - h)]
            image = TF.pad(image, pad, fill=0)
            mask = TF.pad(mask, pad, fill=self.ignore_index)
            h, w = image.shape[-2:]
        top, left = random.randint(0, h - ch), random.randint(0, w - cw)
        if (ch, cw) == self.size:
            return TF.crop(image, top, left, ch, cw), TF.crop(mask, top, left, ch, cw)
        image = TF.resized_crop(image, top, left, ch, cw, list(self.size), antialias=True)
        mask = TF.resized_crop(mask, top, left, ch, cw, list(self.size), interpolation=InterpolationMode.NEAREST)
        return image, mask


class TrainTransform:
    """Training augmentation: scale-crop, flips, small rotation (geometric, joint), colour jitter (image)."""

    def __init__(self, size: tuple[int, int], aug: AugmentConfig, ignore_index: int = 255) -> None:
        self.crop = ScaleCrop(size, aug.scale, ignore_index)
        geometric: list[v2.Transform] = []
        if aug.hflip > 0:
            geometric.append(v2.RandomHorizontalFlip(aug.hflip))
        if aug.vflip > 0:
            geometric.append(v2.RandomVerticalFlip(aug.vflip))
        if aug.rotate_degrees > 0:
            geometric.append(v2.RandomRotation(aug.rotate_degrees, interpolation=InterpolationMode.BILINEAR,
                                               fill={tv_tensors.Image: 0, tv_tensors.Mask: ignore_index}))
        self.geometric = v2.Compose(geometric) if geometric else None
        jitter = (aug.brightness, aug.contrast, aug.saturation, aug.hue)
        self.photometric = v2.ColorJitter(*jitter) if any(j > 0 for j in jitter) else None

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        img, msk = self.crop(tv_tensors.Image(image), tv_tensors.Mask(mask[None]))
        if self.geometric is not None:
            img, msk = self.geometric(img, msk)
        if self.photometric is not None:
            img = self.photometric(img) if img.shape[0] == 3 else self._grey_jitter(img)
        return img.as_subclass(torch.Tensor), msk.as_subclass(torch.Tensor)[0]

    def _grey_jitter(self, image: tv_tensors.Image) -> tv_tensors.Image:
        """Brightness and contrast only: saturation and hue do not apply to one channel."""
        assert self.photometric is not None
        b, c = self.photometric.brightness, self.photometric.contrast
        out = image
        if b is not None:
            out = TF.adjust_brightness(out, random.uniform(*b))
        if c is not None:
            out = TF.adjust_contrast(out, random.uniform(*c))
        return out
