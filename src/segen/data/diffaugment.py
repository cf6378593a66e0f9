"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

Random, differentiable augmentations of N,C,H,W image batches in [-1, 1]. A GAN applies the same policy to
the real and the fake batch before every discriminator call, in both the D and the G step, so D never sees
an unaugmented image and the gradients reach G through the augmentation. Each call draws new parameters,
independently per sample.

Ops, in the paper's order:

* ``color``: add a brightness offset in U(-0.5, 0.5); scale the saturation (distance from the per-pixel
  channel mean) by U(0, 2), on 3-channel images only; scale the contrast (distance from the image mean) by
  U(0.5, 1.5).
* ``translation``: shift by a whole number of pixels in [-s, s] per axis, s = 1/8 of that side (rounded);
  uncovered pixels are 0.
* ``cutout``: set a rectangle of half the height and half the width (a square on square images) to 0. It
  always lies wholly inside the image, so it hides a quarter of it; the reference code centres it anywhere
  and clips it at the border.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from segen.errors import ConfigError
from segen.runtime import RandomSource, random_integers, random_uniform

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5

Op = Callable[[torch.Tensor, RandomSource], torch.Tensor]


def diff_augment(x: torch.Tensor, policy: str | Sequence[str] = ("color", "translation", "cutout"),
                 generator: RandomSource = None) -> torch.Tensor:
    """Augment an image batch differentiably.

    Args:
        x: Images, N,C,H,W, in [-1, 1], on any device.
        policy: Op names from `DIFFAUGMENT_OPS`, as a sequence or a comma-separated string; empty for none.
        generator: Optional random generator (CPU or the images' device), for reproducible draws, or the
            `BatchDraws` of this process's rows of a batch split over processes.

    Returns:
        The augmented batch, the same shape, device and dtype; `x` itself for an empty policy.

    Raises:
        ConfigError: A policy name is unknown.
        ValueError: `x` is not 4-dimensional.
    """
    ops = parse_policy(policy)
    if x.dim() != 4:
        raise ValueError(f"diff_augment expects N,C,H,W images, got shape {tuple(x.shape)}")
    for name in ops:
        x = _OPS[name](x, generator)
    return x


def parse_policy(policy: str | Sequence[str]) -> tuple[str, ...]:
    """Op names of a policy, validated; a string is split at commas."""
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    ops = tuple(name.strip() for name in names if name.strip())
    unknown = [name for name in ops if name not in _OPS]
    if unknown:
        raise ConfigError(f"unknown DiffAugment op {unknown[0]!r}; valid: {', '.join(DIFFAUGMENT_OPS)}")
    return ops


def _uniform(x: torch.Tensor, low: float, high: float, generator: RandomSource) -> torch.Tensor:
    """One U(low, high) number per sample, shaped N,1,1,1, on the device and in the dtype of `x`."""
    draw = random_uniform((x.shape[0], 1, 1, 1), generator, x.device)
    return (low + (high - low) * draw).to(x)


def _randint(x: torch.Tensor, low: int, high: int, generator: RandomSource) -> torch.Tensor:
    """One integer in [low, high] per sample, shaped N, on the device of `x`."""
    return random_integers(low, high + 1, (x.shape[0],), generator, x.device).to(x.device)


def _color(x: torch.Tensor, generator: RandomSource) -> torch.Tensor:
    """Random brightness, saturation (3 channels only) and contrast, per sample."""
    x = x + _uniform(x, -0.5, 0.5, generator)
    if x.shape[1] == 3:
        pixel_mean = x.mean(dim=1, keepdim=True)
        x = (x - pixel_mean) * _uniform(x, 0.0, 2.0, generator) + pixel_mean
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - image_mean) * _uniform(x, 0.5, 1.5, generator) + image_mean


def _translation(x: torch.Tensor, generator: RandomSource) -> torch.Tensor:
    """Shift each sample by up to 1/8 of each side, filling with 0; a differentiable gather."""
    n, c, h, w = x.shape
    max_y, max_x = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    shift_y, shift_x = _randint(x, -max_y, max_y, generator), _randint(x, -max_x, max_x, generator)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + shift_y.view(n, 1, 1) + 1).clamp(0, h + 1)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + shift_x.view(n, 1, 1) + 1).clamp(0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))  # the border ring of zeros is what clamped indices hit
    index = (rows * (w + 2) + cols).view(n, 1, h * w).expand(n, c, h * w)
    return padded.flatten(2).gather(2, index).view(n, c, h, w)


def _cutout(x: torch.Tensor, generator: RandomSource) -> torch.Tensor:
    """Zero a rectangle of half of each side, placed wholly inside the image, per sample."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    top, left = _randint(x, 0, h - size_y, generator), _randint(x, 0, w - size_x, generator)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - top.view(n, 1, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w) - left.view(n, 1, 1)
    hole = (rows >= 0) & (rows < size_y) & (cols >= 0) & (cols < size_x)
    return x * (~hole).unsqueeze(1).to(x.dtype)


_OPS: dict[str, Op] = {"color": _color, "translation": _translation, "cutout": _cutout}
DIFFAUGMENT_OPS: tuple[str, ...] = tuple(_OPS)
