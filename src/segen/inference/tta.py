"""Test-time augmentation: a model's probabilities averaged over flipped (and rotated) copies of its input,
each mapped back onto the original pixels."""

from __future__ import annotations

from collections.abc import Callable

import torch

TTA_MODES = ("none", "hflip", "flip", "d4")

Transform = tuple[int, tuple[int, ...]]  # (quarter turns, flipped dims): applied as rot90 then flip


def tta_transforms(mode: str) -> list[Transform]:
    """The transforms of `mode`: none (identity), hflip (identity and the left-right mirror: scenes with an up),
    flip (identity, horizontal, vertical, both) or d4 (the eight symmetries of a square: four rotations, each
    also mirrored)."""
    if mode == "none":
        return [(0, ())]
    if mode == "hflip":
        return [(0, ()), (0, (-1,))]
    if mode == "flip":
        return [(0, ()), (0, (-1,)), (0, (-2,)), (0, (-2, -1))]
    if mode == "d4":
        return [(turns, flip) for turns in range(4) for flip in ((), (-1,))]
    raise ValueError(f"unknown TTA mode {mode!r}; choose one of {', '.join(TTA_MODES)}")


def apply(images: torch.Tensor, transform: Transform) -> torch.Tensor:
    """N,C,H,W images turned and flipped by `transform`."""
    turns, flip = transform
    out = torch.rot90(images, turns, dims=(-2, -1)) if turns else images
    return out.flip(flip) if flip else out


def invert(images: torch.Tensor, transform: Transform) -> torch.Tensor:
    """Undo `apply(images, transform)`: flip back, then turn back."""
    turns, flip = transform
    out = images.flip(flip) if flip else images
    return torch.rot90(out, -turns, dims=(-2, -1)) if turns else out


def tta_scores(score_fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, mode: str) -> torch.Tensor:
    """The mean of `score_fn` (N,C,H,W -> N,K,H,W probabilities) over the transforms of `mode`, each mapped back."""
    transforms = tta_transforms(mode)
    total = invert(score_fn(apply(images, transforms[0])), transforms[0])
    for transform in transforms[1:]:
        total = total + invert(score_fn(apply(images, transform)), transform)
    return total / len(transforms)
