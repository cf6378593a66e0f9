"""Transfer learning with a pretrained encoder: loading its weights, its input normalisation, a lower
learning rate for it and an optional frozen start.

A run asks for pretrained weights with `model.encoder_weights` (a file, or "imagenet" for timm's from the
local cache); they are loaded once, when a run starts (a resumed run takes every weight from its checkpoint).
The input is then normalised as the encoder was trained (its mean and std), the encoder learns at
`optim.encoder_lr_mult` times the learning rate, and `optim.freeze_encoder` keeps it fixed (weights and
BatchNorm statistics) for the first epochs, steps or minutes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from segen.config import SMALL_BATCH, SegConfig, parse_interval
from segen.models.encoders.timm_encoder import (
    TimmEncoder,
    load_encoder_weights,
    pretrained_settings,
    resolve_imagenet_weights,
)


def pretrained_encoder(model: nn.Module) -> TimmEncoder | None:
    """The model's timm encoder, if it has one."""
    encoder = getattr(model, "encoder", None)
    return encoder if isinstance(encoder, TimmEncoder) else None


def load_pretrained(model: nn.Module, cfg: SegConfig) -> Path | None:
    """Load `cfg.model.encoder_weights` into the model's encoder; returns the file read (None: none asked)."""
    source = cfg.model.encoder_weights
    encoder = pretrained_encoder(model)
    if source is None or encoder is None:
        return None
    path = resolve_imagenet_weights(encoder.name) if source == "imagenet" else Path(source)
    load_encoder_weights(encoder, path)
    return path


def input_normalisation(cfg: SegConfig, channels: int, data_mean: list[float], data_std: list[float]
                        ) -> tuple[list[float], list[float]]:
    """Mean and std the model's input is normalised with: the pretrained encoder's, else the data's own."""
    if cfg.model.encoder_weights is None or cfg.model.native_encoder or cfg.model.encoder is None:
        return data_mean, data_std
    settings = pretrained_settings(cfg.model.encoder, channels)
    return list(settings.mean), list(settings.std)


def parameter_groups(model: nn.Module, cfg: SegConfig) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on weights only (not norms and biases); a pretrained encoder's parameters at
    `encoder_lr_mult` times the learning rate (the group's `lr_mult`)."""
    encoder = pretrained_encoder(model) if cfg.model.encoder_weights is not None else None
    in_encoder = {id(p) for p in encoder.parameters()} if encoder is not None else set()
    groups = []
    for pretrained in (False, True):
        mult = cfg.optim.encoder_lr_mult if pretrained else 1.0
        params = [p for p in model.parameters() if (id(p) in in_encoder) == pretrained]
        for decay in (True, False):
            chosen = [p for p in params if (p.ndim > 1) == decay]
            if chosen:
                groups.append({"params": chosen, "weight_decay": cfg.optim.weight_decay if decay else 0.0,
                               "lr_mult": mult})
    return groups


class EncoderFreeze:
    """Keeps a pretrained encoder fixed (no gradients, BatchNorm statistics frozen) until `optim.freeze_encoder`
    of training has passed, and its BatchNorm statistics as pretrained under `optim.encoder_bn`; `update` is
    called before every step with where the run stands."""

    def __init__(self, model: nn.Module, cfg: SegConfig) -> None:
        self.encoder = pretrained_encoder(model) if cfg.model.encoder_weights is not None else None
        self.period = parse_interval(cfg.optim.freeze_encoder, "optim.freeze_encoder", epochs=True)
        mode = cfg.optim.encoder_bn
        self.hold_bn = mode == "frozen" or (mode == "auto" and cfg.train.batch_size < SMALL_BATCH)
        self.frozen = False

    def due(self, epoch: int, step: int, elapsed: float) -> bool:
        """Whether the encoder is still to be kept fixed at this point of the run."""
        p = self.period
        return self.encoder is not None and (
            (p.epochs is not None and epoch < p.epochs) or (p.steps is not None and step < p.steps)
            or (p.seconds is not None and elapsed < p.seconds))

    def update(self, epoch: int, step: int, elapsed: float) -> None:
        """Freeze or release the encoder's weights for the coming step."""
        self.frozen = self.due(epoch, step, elapsed)
        if self.encoder is not None:
            for param in self.encoder.parameters():
                param.requires_grad_(not self.frozen)

    def hold_statistics(self) -> None:
        """Keep the encoder's BatchNorm statistics while it is frozen, and always under `optim.encoder_bn`
        frozen (or auto with a small batch); call after `model.train()`."""
        if self.encoder is None:
            return
        if self.frozen:
            self.encoder.eval()
        elif self.hold_bn:
            for module in self.encoder.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
