"""Segmentation losses and their registry."""

from segen.losses.segmentation import (
    BCELoss,
    CELoss,
    CombinedLoss,
    DiceLoss,
    create_loss,
    list_losses,
    resolve_loss_name,
)

__all__ = ["BCELoss", "CELoss", "CombinedLoss", "DiceLoss", "create_loss", "list_losses", "resolve_loss_name"]
