"""Joint image/mask transforms (torchvision transforms.v2 with tv_tensors.Mask).

Images are C,H,W tensors (uint8, or int32 in 0..max_value for 16-bit data), masks uint8 H,W. Geometric
transforms move both alike, the mask with nearest-neighbour interpolation; pixels that come from outside
the image (padding of images smaller than the crop, rotated corners) get the ignore value in the mask.
"""

from __future__ import annotations

import math
import random

import torch
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from segen.config import AugmentConfig
from segen.data.augment import build_pipeline
from segen.data.presets import PRESET_RESAMPLE_P, PRESETS, preset_for


class ScaleRotateCrop:
    """A random crop of `size` from the image scaled by s and rotated by a, both drawn with probability `p`.

    The window is cut from the source with room for the rotation, rotated, centre-cropped and resized,
    so rotated crops have no empty corners. With probability 1 - p the crop is taken as it is (no
    resampling), so the model also sees the unblurred pixels it will see at inference. Areas outside
    small images are padded: 0 in the image, the ignore value in the mask.
    """

    def __init__(self, size: tuple[int, int], scale: tuple[float, float], degrees: float, p: float,
                 ignore_index: int) -> None:
        self.size = size
        self.scale = scale
        self.degrees = degrees
        self.p = p
        self.ignore_index = ignore_index

    def __call__(self, image: tv_tensors.Image, mask: tv_tensors.Mask) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        s, angle = 1.0, 0.0
        if random.random() < self.p:
            s = math.exp(random.uniform(math.log(self.scale[0]), math.log(self.scale[1])))
            angle = random.uniform(-self.degrees, self.degrees)
        ch, cw = max(1, round(self.size[0] / s)), max(1, round(self.size[1] / s))
        cos, sin = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
        eh, ew = math.ceil(ch * cos + cw * sin), math.ceil(cw * cos + ch * sin)
        image, mask = self._pad_to(image, mask, eh, ew)
        h, w = image.shape[-2:]
        top, left = random.randint(0, h - eh), random.randint(0, w - ew)
        image, mask = TF.crop(image, top, left, eh, ew), TF.crop(mask, top, left, eh, ew)
        if angle:
            image = TF.rotate(image, angle, interpolation=InterpolationMode.BILINEAR)
            mask = TF.rotate(mask, angle, interpolation=InterpolationMode.NEAREST, fill=self.ignore_index)
            image, mask = TF.center_crop(image, [ch, cw]), TF.center_crop(mask, [ch, cw])
        if (ch, cw) != self.size:
            image = TF.resize(image, list(self.size), antialias=True)
            mask = TF.resize(mask, list(self.size), interpolation=InterpolationMode.NEAREST)
        return image, mask

    def _pad_to(self, image: tv_tensors.Image, mask: tv_tensors.Mask, eh: int, ew: int
                ) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        h, w = image.shape[-2:]
        if h >= eh and w >= ew:
            return image, mask
        pad = [0, 0, max(0, ew - w), max(0, eh - h)]
        return TF.pad(image, pad, fill=0), TF.pad(mask, pad, fill=self.ignore_index)


class TrainTransform:
    """Training augmentation: the scale-rotate crop, then the configured pipeline of joint ops.

    The preset ("auto": by channel count) gives the ops unless `aug.pipeline` lists them, and the share
    of resampled crops unless `aug.resample_p` is set. `max_value` is the data's value range
    (`SegmentationData.max_value`); None means that of the image dtype (255 for uint8, 65535 for int32).
    """

    def __init__(self, size: tuple[int, int], aug: AugmentConfig, ignore_index: int = 255, channels: int = 3,
                 max_value: int | None = None) -> None:
        preset = preset_for(channels) if aug.preset == "auto" else aug.preset
        resample_p = PRESET_RESAMPLE_P[preset] if aug.resample_p is None else aug.resample_p
        self.crop = ScaleRotateCrop(size, aug.scale, aug.rotate_degrees, resample_p, ignore_index)
        self.pipeline = build_pipeline(PRESETS[preset] if aug.pipeline is None else aug.pipeline, ignore_index,
                                       max_value)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        img, msk = self.crop(tv_tensors.Image(image), tv_tensors.Mask(mask[None]))
        img, msk = img.as_subclass(torch.Tensor), msk.as_subclass(torch.Tensor)[0]
        return self.pipeline(img, msk)
