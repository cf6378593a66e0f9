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
from segen.losses.lovasz import LovaszHingeLoss, LovaszSoftmaxLoss
from segen.losses.pixel import BCELoss, CELoss, FocalLoss
from segen.losses.region import DiceLoss, JaccardLoss, TverskyLoss
from segen.losses.seg_common import SegLoss
from segen.losses.segmentation import (
    SEG_LOSS_TERMS,
    CombinedLoss,
    LossSpec,
    check_loss_spec,
    create_loss,
    list_losses,
    model_outputs,
    parse_loss_spec,
    resolve_loss_name,
)

__all__ = ["ADVERSARIAL_LOSSES", "SEG_LOSS_TERMS", "AdversarialLoss", "BCELoss", "CELoss", "CombinedLoss",
           "DiceLoss", "FocalLoss", "HingeLoss", "JaccardLoss", "LSGANLoss", "LossSpec", "LovaszHingeLoss",
           "LovaszSoftmaxLoss", "MinimaxLoss", "NonSaturatingLoss", "SegLoss", "TverskyLoss", "WGANGPLoss",
           "check_loss_spec", "create_adversarial_loss", "create_loss", "gradient_penalty", "list_losses",
           "mean_probability", "model_outputs", "parse_loss_spec", "r1_penalty", "reconstruction_l1",
           "resolve_loss_name"]
