"""Exponential moving average of a model's weights, used for validation, checkpoints and sampling."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class ModelEma:
    """An averaged copy of `model`: e <- d*e + (1-d)*w after every step, with d warming up from 0.

    The decay at step t is min(decay, (1 + t) / (10 + t)), so early averages follow the model closely.
    Integer buffers (e.g. BatchNorm's batch counter) are copied.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        averaged = self.module.state_dict()
        for key, value in model.state_dict().items():
            target = averaged[key]
            if target.dtype.is_floating_point:
                target.lerp_(value.detach(), 1 - d)
            else:
                target.copy_(value)

    def state_dict(self) -> dict[str, Any]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state)
