"""One definition of pixel value ranges, normalisation, grey/RGB, [-1, 1] <-> uint8 and the class colour map.

Images are read at their own depth (uint8 for 8-bit files; int32 holding 0..65535 for 16-bit files)
and turned into float32 `N,C,H,W` (or `C,H,W`) in [0, 1] by dividing by the data's `max_value`
(255 for 8-bit data, the dataset's range for 16-bit data, recorded in every checkpoint). Training,
inference and metrics all go through these functions, so a change here changes every stage.
"""

from __future__ import annotations

import torch
from torch import Tensor

UINT8_MAX = 255
UINT16_MAX = 65535
#: ITU-R BT.601 luma weights, as Pillow's "L" conversion and torchvision's rgb_to_grayscale.
LUMA = (0.299, 0.587, 0.114)


def to_unit(images: Tensor, max_value: float = UINT8_MAX) -> Tensor:
    """Integer images in 0..max_value (or float images already in [0, 1]) -> float32 in [0, 1]."""
    if images.is_floating_point():
        return images.float()
    return images.float().div_(float(max_value)).clamp_(0.0, 1.0)


def normalise(images: Tensor, mean: Tensor, std: Tensor, max_value: float = UINT8_MAX) -> Tensor:
    """Images in 0..max_value -> float32 in [0, 1], then standardised per channel by `mean` and `std`."""
    return (to_unit(images, max_value) - mean) / std


def from_unit(images: Tensor, max_value: float = UINT8_MAX, dtype: torch.dtype | None = None) -> Tensor:
    """Float images in [0, 1] -> integers in 0..max_value (rounded, clamped): uint8 up to 255, else int32."""
    if dtype is None:
        dtype = torch.uint8 if max_value <= UINT8_MAX else torch.int32
    return images.detach().float().mul(float(max_value)).round_().clamp_(0, float(max_value)).to(dtype)


def unit_to_uint8(images: Tensor) -> Tensor:
    """Float images in [0, 1] -> uint8 in 0..255 (rounded, clamped)."""
    return from_unit(images, UINT8_MAX, torch.uint8)


def dtype_max(images: Tensor) -> float:
    """The full range of an image tensor's dtype: 255 (uint8), 65535 (other integers: 16-bit data), 1.0 (float)."""
    if images.is_floating_point():
        return 1.0
    return UINT8_MAX if images.dtype == torch.uint8 else UINT16_MAX


def bit_range(peak: int) -> int:
    """The value range of data whose largest value is `peak`: 2**bits - 1 for the fewest bits (8 to 16) that hold it.

    So 8-bit data gives 255, a 12-bit camera 4095 and full 16-bit data 65535.
    """
    return (1 << min(16, max(8, int(peak).bit_length()))) - 1


def to_signed(images: Tensor, max_value: float = UINT8_MAX) -> Tensor:
    """Integer images in 0..max_value -> float32 in [-1, 1] (the GAN convention)."""
    return to_unit(images, max_value).mul_(2.0).sub_(1.0)


def signed_to_uint8(images: Tensor) -> Tensor:
    """Float images in [-1, 1] -> uint8 in 0..255 (rounded, clamped)."""
    return unit_to_uint8(images.detach().float().add(1.0).mul_(0.5))


def rgb_to_grey(images: Tensor) -> Tensor:
    """RGB `(N,)3,H,W` -> grey `(N,)1,H,W` by BT.601 luma; integer images stay integers (rounded)."""
    weights = torch.tensor(LUMA, dtype=torch.float64 if not images.is_floating_point() else images.dtype,
                           device=images.device).view(3, 1, 1)
    grey = (images.to(weights.dtype) * weights).sum(-3, keepdim=True)
    if images.is_floating_point():
        return grey
    return grey.round_().to(images.dtype)


def match_channels(images: Tensor, channels: int) -> Tensor:
    """`(N,)C,H,W` with C in {1, 3} -> `channels` (1 or 3): grey repeated to RGB, RGB to grey by luma."""
    have = images.shape[-3]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(*images.shape[:-3], 3, *images.shape[-2:]).contiguous()
    if have in (3, 4) and channels == 1:
        return rgb_to_grey(images[..., :3, :, :])
    if have == 4 and channels == 3:
        return images[..., :3, :, :]
    raise ValueError(f"cannot convert {have}-channel images to {channels} channels")


def class_colors(count: int) -> list[tuple[int, int, int]]:
    """The Pascal VOC colour map: `count` (at most 256) distinct RGB colours from the bits of each class index."""
    if not 0 <= count <= 256:
        raise ValueError(f"the colour map has 256 colours, asked for {count}")
    colors = []
    for index in range(count):
        rgb, code = [0, 0, 0], index
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((code >> channel) & 1) << shift
            code >>= 3
        colors.append((rgb[0], rgb[1], rgb[2]))
    return colors
