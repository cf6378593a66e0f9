"""A grid of augmented training samples with their masks, to see what the model will be trained on."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from segen.config import DataConfig
from segen.data import TrainTransform, load_segmentation_data
from segen.reports import default_palette, image_grid, overlay, save_png


def preview_augmentations(cfg: DataConfig, out: str | Path, samples: int = 6, variants: int = 4,
                          seed: int = 0) -> Path:
    """Write a PNG grid: per row an original training image with its mask, then `variants` augmentations."""
    data = load_segmentation_data(cfg, seed)
    crop = data.crop
    transform = TrainTransform(crop, cfg.augment, cfg.ignore_index, data.channels, max_value=data.max_value)
    palette = data.classes.colors or default_palette(data.classes.num_classes)
    random.seed(seed)
    torch.manual_seed(seed)
    picks = random.sample(range(len(data.train)), min(samples, len(data.train)))
    rows = []
    for index in picks:
        image, mask = data.train.image(index), data.train.mask(index)
        row = [_overlay(image, mask, palette, cfg.ignore_index)]
        for _ in range(variants):
            row.append(_overlay(*transform(image, mask), palette, cfg.ignore_index))
        rows.append(row)
    out = Path(out)
    save_png(image_grid(rows), out)
    return out


def _overlay(image: torch.Tensor, mask: torch.Tensor, palette: list[tuple[int, int, int]], ignore: int) -> np.ndarray:
    pixels = image.permute(1, 2, 0).numpy()
    return overlay(pixels, mask.numpy(), palette, alpha=0.45, ignore_index=ignore)
