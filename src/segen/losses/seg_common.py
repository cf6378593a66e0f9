"""What every segmentation loss shares: the base class and how logits and targets are read.

Logits are N,C,H,W; targets int64 N,H,W class ids, and pixels equal to `ignore_index` count in no term. A
binary model has one logit channel x, read as two classes, background 1 - sigmoid(x) and foreground sigmoid(x),
which is exactly a two-class softmax over [0, x]. A multi-class model has C channels (softmax). Every loss works
in float32 whatever the autocast dtype of the logits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from segen.errors import ConfigError

#: Which logits a loss takes: "binary" one channel, "multi-class" C >= 2 channels, "either" both.
FORMS = ("binary", "multi-class", "either")


class SegLoss(nn.Module):
    """Base of the segmentation losses: `loss(logits, target)` is a 0-d tensor.

    Subclasses set `name` (their term in a loss spec), `form` (one of `FORMS`) and `takes_class_weights`
    (False where per-class weights have no sensible definition).

    Args:
        ignore_index: target value of the pixels that count in no term.
        weight: one weight > 0 per class (a binary model has two classes: background, foreground), or None.
    """

    name: ClassVar[str] = ""
    form: ClassVar[str] = "either"
    takes_class_weights: ClassVar[bool] = True

    def __init__(self, ignore_index: int = 255, weight: Sequence[float] | None = None) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        if weight is not None and len(weight) == 0:
            weight = None
        if weight is not None and not self.takes_class_weights:
            raise ConfigError(f"loss {self.name}: takes no class weights")
        if weight is not None and not all(math.isfinite(w) and w > 0 for w in weight):
            raise ConfigError(f"loss {self.name}: every class weight must be a finite number > 0, got {list(weight)}")
        self.weight: torch.Tensor | None
        self.register_buffer("weight", torch.tensor(list(weight), dtype=torch.float32) if weight is not None else None)

    def check_logits(self, logits: torch.Tensor) -> None:
        """Refuse logits of the wrong form (one channel for a multi-class loss, several for a binary one)."""
        channels = logits.shape[1]
        if self.form == "binary" and channels != 1:
            raise ConfigError(f"loss {self.name}: takes one logit channel (a binary model), got {channels}")
        if self.form == "multi-class" and channels < 2:
            raise ConfigError(f"loss {self.name}: takes one logit channel per class (C >= 2), got {channels}")


def zero_loss(logits: torch.Tensor) -> torch.Tensor:
    """A zero loss still joined to the graph of `logits` (so backward runs) for a batch with nothing to score."""
    return logits.float().sum() * 0.0


def class_probs(logits: torch.Tensor) -> torch.Tensor:
    """N,K,H,W class probabilities in float32; K = 2 (background, foreground) for one channel, else C."""
    logits = logits.float()
    if logits.shape[1] == 1:
        fg = torch.sigmoid(logits)
        return torch.cat([1 - fg, fg], dim=1)
    return logits.softmax(dim=1)


def class_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """N,K,H,W class log-probabilities in float32, read as `class_probs` reads the logits."""
    logits = logits.float()
    if logits.shape[1] == 1:
        return torch.cat([F.logsigmoid(-logits), F.logsigmoid(logits)], dim=1)
    return logits.log_softmax(dim=1)


def one_hot_truth(target: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    """N,K,H,W float one-hot of `target`; all zero at ignored pixels (and at ids >= `num_classes`)."""
    classes = torch.arange(num_classes, device=target.device).view(1, -1, 1, 1)
    truth = (target.unsqueeze(1) == classes) & (target != ignore_index).unsqueeze(1)
    return truth.float()


def pixel_weights(truth: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """N,H,W weight of each pixel: that of its true class (1 without class weights), 0 where ignored."""
    if weight is None:
        return truth.sum(dim=1)
    return (truth * weight.view(1, -1, 1, 1)).sum(dim=1)


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum(w * v) / sum(w); 0 (joined to the graph) where every weight is 0, without a host sync."""
    return (values * weights).sum() / weights.sum().clamp_min(torch.finfo(torch.float32).tiny)


def present_class_mean(values: torch.Tensor, weight: torch.Tensor | None, present: torch.Tensor) -> torch.Tensor:
    """Mean of the per-class `values` (already restricted to the present classes), weighted by their class weights.

    Args:
        values: one loss value per present class.
        weight: the loss's class weights (all classes), or None for a plain mean.
        present: bool mask of the present classes among all classes.
    """
    if weight is None:
        return values.mean()
    w = weight[present]
    return (values * w).sum() / w.sum()
