"""Region (overlap) losses on soft predictions: Dice (dice), Jaccard / soft IoU (jaccard), Tversky (tversky).

Each class c has soft counts pooled over the batch and the valid pixels: TP = sum(p_c t_c), |P| = sum(p_c),
|T| = sum(t_c), FP = |P| - TP, FN = |T| - TP. The loss is 1 - score, averaged over the classes present in the
batch's truth (a class absent from the truth has no score and is left out, as in the metrics); with class
weights, the mean over present classes is weighted by them. One logit channel reads as two classes, background
(1 - p) and foreground (p), so both count, as for a two-class softmax; a foreground-only score over-segments
thin structures. A batch with no valid pixel gives a zero loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from segen.errors import ConfigError
from segen.losses.seg_common import SegLoss, class_probs, one_hot_truth, present_class_mean, zero_loss


class RegionLoss(SegLoss):
    """Base of the region losses: 1 - `score(TP, |P|, |T|)` per present class, then their (weighted) mean.

    Args:
        ignore_index: target value of the pixels that count in no term.
        smooth: added to numerator and denominator of each score (>= 0), see the subclass formula.
        weight: one weight > 0 per class, or None.
    """

    def __init__(self, ignore_index: int = 255, smooth: float = 1.0, weight: Sequence[float] | None = None) -> None:
        super().__init__(ignore_index, weight)
        if not (math.isfinite(smooth) and smooth >= 0):
            raise ConfigError(f"loss {self.name}: smooth must be a finite number >= 0, got {smooth}")
        self.smooth = smooth

    def score(self, tp: torch.Tensor, pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
        """Per-class score in [0, 1] from the soft true positives, predicted and true totals."""
        raise NotImplementedError

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        probs = class_probs(logits)
        truth = one_hot_truth(target, probs.shape[1], self.ignore_index)
        probs = probs * (target != self.ignore_index).unsqueeze(1)
        true = truth.sum(dim=(0, 2, 3))
        present = true > 0
        if not present.any():
            return zero_loss(logits)
        tp = (probs * truth).sum(dim=(0, 2, 3))[present]
        pred = probs.sum(dim=(0, 2, 3))[present]
        return present_class_mean(1 - self.score(tp, pred, true[present]), self.weight, present)


class DiceLoss(RegionLoss):
    """Soft Dice loss: score (2 TP + smooth) / (|P| + |T| + smooth)."""

    name = "dice"

    def score(self, tp: torch.Tensor, pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
        return (2 * tp + self.smooth) / (pred + true + self.smooth)


class JaccardLoss(RegionLoss):
    """Soft Jaccard (IoU) loss: score (TP + smooth) / (|P| + |T| - TP + smooth)."""

    name = "jaccard"

    def score(self, tp: torch.Tensor, pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
        return (tp + self.smooth) / (pred + true - tp + self.smooth)


class TverskyLoss(RegionLoss):
    """Tversky loss (Salehi et al. 2017): score TP / (TP + alpha FP + beta FN), smoothed.

    Written (2 TP + smooth) / (2 TP + 2 alpha FP + 2 beta FN + smooth), so alpha = beta = 0.5 is exactly
    `DiceLoss` with the same smooth (alpha = beta = 1 is the Jaccard index). beta > alpha weighs missed
    pixels (FN) more than false alarms (FP), which favours recall on small structures.

    Args:
        ignore_index: target value of the pixels that count in no term.
        alpha: weight of the false positives, >= 0.
        beta: weight of the false negatives, >= 0 (alpha + beta > 0).
        smooth: see the formula, >= 0.
        weight: one weight > 0 per class, or None.
    """

    name = "tversky"

    def __init__(self, ignore_index: int = 255, alpha: float = 0.3, beta: float = 0.7, smooth: float = 1.0,
                 weight: Sequence[float] | None = None) -> None:
        super().__init__(ignore_index, smooth, weight)
        if not (math.isfinite(alpha) and math.isfinite(beta) and alpha >= 0 and beta >= 0 and alpha + beta > 0):
            raise ConfigError(f"loss tversky: alpha and beta must be finite numbers >= 0, not both 0; "
                              f"got alpha {alpha}, beta {beta}")
        self.alpha = alpha
        self.beta = beta

    def score(self, tp: torch.Tensor, pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
        fp, fn = pred - tp, true - tp
        denominator = 2 * (tp + self.alpha * fp + self.beta * fn) + self.smooth
        return (2 * tp + self.smooth) / denominator.clamp_min(1e-12)  # 0/0 only at smooth 0, beta 0, TP = FP = 0
