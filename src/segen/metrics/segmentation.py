"""Segmentation scores from an accumulated confusion matrix.

Ignore pixels are excluded. A class absent from both truth and prediction has no score (None) and is
left out of the means, never counted as 0 or 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


def logits_to_labels(logits: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """N,C,H,W logits -> N,H,W class ids: argmax, or sigmoid > threshold for one channel."""
    if logits.shape[1] == 1:
        return (torch.sigmoid(logits[:, 0].float()) > threshold).long()
    return logits.argmax(dim=1)


class ConfusionMatrix:
    """Accumulates a C x C matrix (rows = truth, columns = prediction) and derives the scores."""

    def __init__(self, num_classes: int, ignore_index: int = 255, class_names: Sequence[str] | None = None,
                 device: str | torch.device = "cpu") -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.class_names = list(class_names) if class_names else [f"class_{i}" for i in range(num_classes)]
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def reset(self) -> None:
        self.matrix.zero_()

    @torch.no_grad()
    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch of predicted and true class ids (same shape)."""
        if prediction.shape != target.shape:
            raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ")
        valid = target != self.ignore_index
        t = target[valid].long().to(self.matrix.device)
        p = prediction[valid].long().to(self.matrix.device)
        if t.numel() and int(t.max()) >= self.num_classes:
            raise ValueError(f"target holds class id {int(t.max())} >= {self.num_classes}")
        counts = torch.bincount(t * self.num_classes + p, minlength=self.num_classes**2)
        self.matrix += counts.view(self.num_classes, self.num_classes)

    def reduce(self, total: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Replace the counts by `total(counts)`: their sum over the processes of a distributed evaluation."""
        self.matrix = total(self.matrix)

    def compute(self) -> dict[str, Any]:
        """mean_iou, mean_dice, pixel_accuracy, mean_class_accuracy (mean recall) and per_class {name: {iou, dice,
        precision, recall, pixel_share}}."""
        m = self.matrix.double().cpu()
        tp = m.diag()
        truth, pred = m.sum(1), m.sum(0)
        total = float(m.sum())
        per_class: dict[str, dict[str, float | None]] = {}
        for k, name in enumerate(self.class_names):
            t, p, hit = float(truth[k]), float(pred[k]), float(tp[k])
            union = t + p - hit
            per_class[name] = {
                "iou": hit / union if union > 0 else None,
                "dice": 2 * hit / (t + p) if t + p > 0 else None,
                "precision": hit / p if p > 0 else None,
                "recall": hit / t if t > 0 else None,
                "pixel_share": t / total if total > 0 else None,
            }
        return {
            "mean_iou": mean_where_defined(s["iou"] for s in per_class.values()),
            "mean_dice": mean_where_defined(s["dice"] for s in per_class.values()),
            "pixel_accuracy": float(tp.sum()) / total if total > 0 else None,
            "mean_class_accuracy": mean_where_defined(s["recall"] for s in per_class.values()),
            "per_class": per_class,
        }


def mean_where_defined(values: Any) -> float | None:
    scored = [v for v in values if v is not None]
    return sum(scored) / len(scored) if scored else None
