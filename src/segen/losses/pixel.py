"""Per-pixel segmentation losses: cross-entropy (ce), binary cross-entropy (bce) and focal loss (focal).

Each is a mean over the valid pixels; with class weights, a mean weighted by the weight of each pixel's true
class, sum(w_t * l) / sum(w_t), as PyTorch's weighted cross-entropy is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from segen.errors import ConfigError
from segen.losses.seg_common import (
    SegLoss,
    class_log_probs,
    one_hot_truth,
    pixel_weights,
    weighted_mean,
    zero_loss,
)


class CELoss(SegLoss):
    """Cross-entropy over C logits (softmax), optionally class-weighted."""

    name = "ce"
    form = "multi-class"

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_logits(logits)
        if (target != self.ignore_index).sum() == 0:
            return zero_loss(logits)
        return F.cross_entropy(logits.float(), target, weight=self.weight, ignore_index=self.ignore_index)


class BCELoss(SegLoss):
    """Binary cross-entropy on one logit channel (sigmoid); class weights are (background, foreground).

    Equals `CELoss` on the two logits [0, x], with the same class weights.
    """

    name = "bce"
    form = "binary"

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_logits(logits)
        valid = target != self.ignore_index
        fg = target == 1
        loss = F.binary_cross_entropy_with_logits(logits[:, 0].float(), fg.float(), reduction="none")
        if self.weight is None:
            return weighted_mean(loss, valid.float())
        return weighted_mean(loss, torch.where(fg, self.weight[1], self.weight[0]) * valid)


class FocalLoss(SegLoss):
    """Focal loss (Lin et al. 2017), -w_t (1 - p_t)^gamma log p_t, for one channel (sigmoid) or C (softmax).

    p_t is the probability of the pixel's true class and w_t its class weight (Lin's alpha; 1 without class
    weights). The mean is weighted by w_t, as for `CELoss`, so gamma = 0 gives the cross-entropy.

    Args:
        ignore_index: target value of the pixels that count in no term.
        gamma: focusing parameter >= 0; larger values down-weight well-classified pixels more.
        weight: per-class alpha, one weight > 0 per class, or None.
    """

    name = "focal"

    def __init__(self, ignore_index: int = 255, gamma: float = 2.0, weight: Sequence[float] | None = None) -> None:
        super().__init__(ignore_index, weight)
        if not (math.isfinite(gamma) and gamma >= 0):
            raise ConfigError(f"loss focal: gamma must be a finite number >= 0, got {gamma}")
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_probs = class_log_probs(logits)
        truth = one_hot_truth(target, log_probs.shape[1], self.ignore_index)
        log_pt = (log_probs * truth).sum(dim=1)  # 0 at ignored pixels
        # 1 - p_t, accurate near p_t = 1; the clamp keeps the gradient of x^gamma finite at 0 for gamma < 1
        modulation = (-torch.expm1(log_pt)).clamp_min(1e-12).pow(self.gamma)
        return weighted_mean(-modulation * log_pt, pixel_weights(truth, self.weight))
