"""Segmentation losses on logits: cross-entropy, binary cross-entropy, soft Dice, and their sums.

Binary models have one logit channel (sigmoid); multi-class models have C channels (softmax).
Targets are int64 N,H,W class ids; pixels equal to `ignore_index` count in no loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segen.errors import ConfigError


class CELoss(nn.Module):
    """Cross-entropy over C logits, optionally class-weighted."""

    def __init__(self, ignore_index: int = 255, weight: Sequence[float] | None = None) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.weight: torch.Tensor | None
        self.register_buffer("weight", torch.tensor(weight, dtype=torch.float32) if weight else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if (target != self.ignore_index).sum() == 0:
            return logits.sum() * 0.0
        return F.cross_entropy(logits.float(), target, weight=self.weight, ignore_index=self.ignore_index)


class BCELoss(nn.Module):
    """Binary cross-entropy on one logit channel; the mean over valid pixels."""

    def __init__(self, ignore_index: int = 255) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = target != self.ignore_index
        x = logits[:, 0].float()
        loss = F.binary_cross_entropy_with_logits(x, (target == 1).float(), reduction="none")
        return (loss * valid).sum() / valid.sum().clamp_min(1)


class DiceLoss(nn.Module):
    """Soft Dice loss, 1 - 2|P∩T| / (|P| + |T|), pooled over the batch.

    The mean over the classes present in the batch's truth (a class absent from the truth has no Dice
    and is left out). A binary model (one channel) has two classes, background (1 - p) and foreground
    (p), so both count, as for a two-class softmax model; a foreground-only Dice over-segments thin
    structures.
    """

    def __init__(self, ignore_index: int = 255, smooth: float = 1.0) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = (target != self.ignore_index).unsqueeze(1)
        logits = logits.float()
        if logits.shape[1] == 1:
            fg = torch.sigmoid(logits)
            probs = torch.cat([1 - fg, fg], dim=1)
            truth = torch.stack([target == 0, target == 1], dim=1).float()
        else:
            probs = logits.softmax(dim=1)
            safe = torch.where(valid[:, 0], target, torch.zeros_like(target))
            truth = F.one_hot(safe, logits.shape[1]).permute(0, 3, 1, 2).float()
        probs, truth = probs * valid, truth * valid
        inter = (probs * truth).sum(dim=(0, 2, 3))
        total = probs.sum(dim=(0, 2, 3)) + truth.sum(dim=(0, 2, 3))
        dice = (2 * inter + self.smooth) / (total + self.smooth)
        present = truth.sum(dim=(0, 2, 3)) > 0
        if not present.any():
            return logits.sum() * 0.0
        return 1 - dice[present].mean()


class CombinedLoss(nn.Module):
    """Weighted sum of losses."""

    def __init__(self, losses: Sequence[nn.Module], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        self.losses = nn.ModuleList(losses)
        self.weights = list(weights) if weights is not None else [1.0] * len(losses)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum((w * loss(logits, target) for w, loss in zip(self.weights, self.losses, strict=True)),
                   torch.zeros((), device=logits.device))


_BINARY_ONLY = ("bce", "bce+dice")
_FACTORIES: dict[str, Callable[[int, Sequence[float] | None], nn.Module]] = {
    "ce": lambda ig, w: CELoss(ig, w),
    "dice": lambda ig, w: DiceLoss(ig),
    "ce+dice": lambda ig, w: CombinedLoss([CELoss(ig, w), DiceLoss(ig)]),
    "bce": lambda ig, w: BCELoss(ig),
    "bce+dice": lambda ig, w: CombinedLoss([BCELoss(ig), DiceLoss(ig)]),
}


def list_losses() -> list[str]:
    """Names of the segmentation losses ('auto' picks bce+dice for binary data, ce+dice otherwise)."""
    return ["auto", *_FACTORIES]


def resolve_loss_name(name: str, num_classes: int) -> str:
    """Replace 'auto' by the default for the data; reject binary losses on multi-class data."""
    if name == "auto":
        return "bce+dice" if num_classes == 2 else "ce+dice"
    if name not in _FACTORIES:
        raise ConfigError(f"unknown loss {name!r}; valid: {', '.join(list_losses())}")
    if name in _BINARY_ONLY and num_classes != 2:
        raise ConfigError(f"loss {name!r} is for binary data, but the data has {num_classes} classes; "
                          "use ce or ce+dice")
    return name


def model_outputs(loss_name: str, num_classes: int) -> int:
    """Logit channels the model needs: 1 for the binary (sigmoid) losses, else one per class."""
    return 1 if loss_name in _BINARY_ONLY else num_classes


def create_loss(name: str, num_classes: int, ignore_index: int = 255,
                class_weights: Sequence[float] | None = None) -> nn.Module:
    """Build loss `name` (see `list_losses`) for data with `num_classes` classes."""
    name = resolve_loss_name(name, num_classes)
    if class_weights is not None and len(class_weights) != num_classes:
        raise ConfigError(f"class weights: expected {num_classes} values, got {len(class_weights)}")
    if class_weights is not None and name not in ("ce", "ce+dice"):
        raise ConfigError(f"class weights apply to the cross-entropy losses (ce, ce+dice), not {name!r}")
    return _FACTORIES[name](ignore_index, class_weights)
