"""Segmentation and adversarial losses and their registries."""

from segen.losses.adversarial import (
    ADVERSARIAL_LOSSES,
    AdversarialLoss,
    HingeLoss,
    LSGANLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    WGANGPLoss,
    create_adversarial_loss,
    gradient_penalty,
    mean_probability,
    r1_penalty,
    reconstruction_l1,
)
from segen.losses.segmentation import (
    BCELoss,
    CELoss,
    CombinedLoss,
    DiceLoss,
    create_loss,
    list_losses,
    resolve_loss_name,
)

__all__ = ["ADVERSARIAL_LOSSES", "AdversarialLoss", "BCELoss", "CELoss", "CombinedLoss", "DiceLoss", "HingeLoss",
           "LSGANLoss", "MinimaxLoss", "NonSaturatingLoss", "WGANGPLoss", "create_adversarial_loss", "create_loss",
           "gradient_penalty", "list_losses", "mean_probability", "r1_penalty", "reconstruction_l1",
           "resolve_loss_name"]
