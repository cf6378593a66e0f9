"""The weight average used for validation and checkpoints."""

from __future__ import annotations

import torch
from torch import nn

from segen.training.ema import ModelEma


def test_ema_follows_the_warmup_formula() -> None:
    model = nn.Sequential(nn.Linear(2, 1), nn.BatchNorm1d(1))
    nn.init.constant_(model[0].weight, 1.0)
    ema = ModelEma(model, decay=0.9)
    nn.init.constant_(model[0].weight, 3.0)
    model[1].num_batches_tracked += 5
    ema.update(model, step=0)  # d = min(0.9, 1/10) = 0.1
    assert torch.allclose(ema.module[0].weight, torch.full((1, 2), 0.1 * 1.0 + 0.9 * 3.0))
    assert int(ema.module[1].num_batches_tracked) == 5
    ema.update(model, step=1000)  # d = 0.9
    expected = 0.9 * (0.1 + 2.7) + 0.1 * 3.0
    assert torch.allclose(ema.module[0].weight, torch.full((1, 2), expected))
    assert not any(p.requires_grad for p in ema.module.parameters())
