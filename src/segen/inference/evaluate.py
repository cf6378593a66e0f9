"""Evaluation of a segmentation checkpoint on a labelled split: confusion-matrix scores per class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from segen.data import load_split_dataset
from segen.inference.segmenter import Segmenter
from segen.metrics import ConfusionMatrix, logits_to_labels


def evaluate_segmentation(segmenter: Segmenter, root: str | Path, split: str = "test", batch_size: int = 4,
                          progress: bool = True, format: str = "auto") -> dict[str, Any]:
    """Scores of `segmenter` on a labelled split: mean_iou, mean_dice, pixel_accuracy, per_class and counts.

    Images (and masks) above `segmenter.max_pixels` are refused from their headers before any is decoded.
    """
    info = segmenter.info
    dataset = load_split_dataset(root, split, len(info.class_names), info.ignore_index, info.channels,
                                 info.binary_255, format, segmenter.max_pixels)
    metric = ConfusionMatrix(len(info.class_names), info.ignore_index, info.class_names)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, size in enumerate(dataset.sizes):
        groups.setdefault(size, []).append(i)
    batches = [ids[k:k + batch_size] for ids in groups.values() for k in range(0, len(ids), batch_size)]
    for ids in tqdm(batches, desc=f"evaluate {split}", unit="batch", disable=not progress):
        images = torch.stack([dataset.image(i) for i in ids])
        segmenter.check_depth(images, dataset.samples[ids[0]].image)
        masks = torch.stack([dataset.mask(i) for i in ids]).long()
        metric.update(logits_to_labels(segmenter.logits(images)).cpu(), masks)
    scores = metric.compute()
    scores.update(split=split, images=len(dataset), data=str(root))
    return scores


def format_scores(scores: dict[str, Any]) -> str:
    """A per-class table (IoU, Dice, precision, recall, pixel share) and the means, as text."""
    columns = ("iou", "dice", "precision", "recall", "pixel_share")
    width = max(12, *(len(n) + 2 for n in scores["per_class"]))
    lines = [f"{'class':<{width}}" + "".join(f"{c:>12}" for c in columns)]
    for name, per in scores["per_class"].items():
        lines.append(f"{name:<{width}}" + "".join(f"{_fmt(per[c]):>12}" for c in columns))
    lines.append("")
    for key in ("mean_iou", "mean_dice", "pixel_accuracy"):
        lines.append(f"{key:<{width}}{_fmt(scores[key]):>12}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"
