"""Augmentation presets: the op pipelines (see `segen.data.augment`) and resampling share of each kind of data."""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, list[dict[str, Any]]] = {
    # Photos and street scenes: a natural up (no vflip). Only mirrored, and the crop is not resampled
    # (`PRESET_RESAMPLE_P`): on CamVid at CPU budgets (about 20 epochs) the stronger variant below trains
    # to a lower mean IoU, because such a model underfits rather than overfits (benchmarks/RESULTS.md).
    "natural": [
        {"name": "hflip", "p": 0.5},
    ],
    # The previous default: adds colour, blur and noise, and scales/rotates half the crops; more
    # regularisation, for models that overfit (many epochs on few images).
    "natural-strong": [
        {"name": "hflip", "p": 0.5},
        {"name": "brightness", "p": 0.5, "limit": 0.2},
        {"name": "contrast", "p": 0.5, "limit": 0.2},
        {"name": "hue", "p": 0.3, "limit": 0.03},
        {"name": "blur", "p": 0.2, "sigma": [0.1, 1.0]},
        {"name": "noise", "p": 0.2, "std": [0.005, 0.02]},
    ],
    # Grey microscopy: no preferred orientation, deformable tissue, varying staining and exposure.
    "biomedical": [
        {"name": "hflip", "p": 0.5},
        {"name": "vflip", "p": 0.5},
        {"name": "rot90", "p": 0.5},
        {"name": "elastic", "p": 0.3, "alpha": 40.0, "sigma": 6.0},
        {"name": "grid_distortion", "p": 0.3, "num_steps": 5, "distort_limit": 0.2},
        {"name": "brightness", "p": 0.4, "limit": 0.15},
        {"name": "contrast", "p": 0.4, "limit": 0.15},
        {"name": "gamma", "p": 0.3, "limit": 0.2},
        {"name": "blur", "p": 0.2, "sigma": [0.1, 1.0]},
        {"name": "noise", "p": 0.3, "std": [0.005, 0.03]},
    ],
    "none": [],
}

PRESET_RESAMPLE_P: dict[str, float] = {"natural": 0.0, "natural-strong": 0.5, "biomedical": 0.5, "none": 0.0}
"""The share of training crops each preset scales and rotates (`AugmentConfig.resample_p` overrides it)."""


def preset_for(channels: int) -> str:
    """The preset for images with `channels` channels: "biomedical" for grey, "natural" otherwise."""
    return "biomedical" if channels == 1 else "natural"
