"""Every segmentation loss: binary and multi-class forms agree, gradients are finite, ignored pixels never count."""

from __future__ import annotations

import pytest
import torch

from segen.errors import ConfigError
from segen.losses import (
    SEG_LOSS_TERMS,
    BCELoss,
    CELoss,
    DiceLoss,
    FocalLoss,
    JaccardLoss,
    LovaszHingeLoss,
    LovaszSoftmaxLoss,
    SegLoss,
    TverskyLoss,
)

WEIGHTS = [0.5, 2.0]
EITHER_FORM = [DiceLoss, JaccardLoss, FocalLoss, TverskyLoss]
BINARY_ONLY = [BCELoss, LovaszHingeLoss]
MULTI_CLASS = [CELoss, LovaszSoftmaxLoss]
ALL = [*EITHER_FORM, *BINARY_ONLY, *MULTI_CLASS]


def binary_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """One logit channel and a 0/1 target with some ignored pixels."""
    gen = torch.Generator().manual_seed(seed)
    logit = torch.randn(2, 1, 6, 7, generator=gen) * 3
    target = torch.randint(0, 2, (2, 6, 7), generator=gen)
    target[:, 0, :3] = 255
    return logit, target


def two_channels(logit: torch.Tensor) -> torch.Tensor:
    """[0, x]: softmax gives (1 - sigmoid(x), sigmoid(x)), the binary reading of x."""
    return torch.cat([torch.zeros_like(logit), logit], dim=1)


def batch_for(cls: type[SegLoss], seed: int, shape: tuple[int, int, int] = (2, 5, 6)
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random logits (one channel for a binary-only loss, else 3) and a target with every class present."""
    gen = torch.Generator().manual_seed(seed)
    num_classes = 2 if cls.form == "binary" else 3
    n, h, w = shape
    logits = torch.randn(n, 1 if cls.form == "binary" else num_classes, h, w, generator=gen)
    target = torch.randint(0, num_classes, shape, generator=gen)
    k = min(num_classes, w)
    target[0, 0, :k] = torch.arange(k)
    return logits, target


def test_registry_covers_every_loss() -> None:
    assert set(SEG_LOSS_TERMS) == {"ce", "bce", "dice", "jaccard", "focal", "tversky", "lovasz", "lovasz-hinge"}
    assert {cls.form for cls in EITHER_FORM} == {"either"}
    assert {cls.form for cls in BINARY_ONLY} == {"binary"}
    assert {cls.form for cls in MULTI_CLASS} == {"multi-class"}
    assert {cls.name for cls in ALL} == set(SEG_LOSS_TERMS)


@pytest.mark.parametrize("cls", EITHER_FORM)
@pytest.mark.parametrize("weight", [None, WEIGHTS])
def test_binary_form_equals_two_class_softmax(cls: type[SegLoss], weight: list[float] | None) -> None:
    logit, target = binary_batch()
    one = cls(weight=weight)(logit, target).item()
    two = cls(weight=weight)(two_channels(logit), target).item()
    assert one == pytest.approx(two, abs=1e-6)


@pytest.mark.parametrize("weight", [None, WEIGHTS])
def test_bce_equals_two_class_cross_entropy(weight: list[float] | None) -> None:
    logit, target = binary_batch()
    bce = BCELoss(weight=weight)(logit, target).item()
    assert bce == pytest.approx(CELoss(weight=weight)(two_channels(logit), target).item(), rel=1e-6)


@pytest.mark.parametrize("weight", [None, [1.0, 2.0, 0.5, 3.0]])
def test_focal_gamma_zero_is_cross_entropy(weight: list[float] | None) -> None:
    torch.manual_seed(1)
    logits = torch.randn(2, 4, 5, 5) * 2
    target = torch.randint(0, 4, (2, 5, 5))
    target[1, 2] = 255
    focal = FocalLoss(gamma=0.0, weight=weight)(logits, target).item()
    assert focal == pytest.approx(CELoss(weight=weight)(logits, target).item(), rel=1e-5)


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("scale", [1.0, 100.0])  # 100: saturated sigmoid/softmax
def test_backward_gives_finite_gradients(cls: type[SegLoss], scale: float) -> None:
    logits, target = batch_for(cls, 2)
    logits = (logits * scale).requires_grad_()
    target[0, 1:3] = 255
    loss = cls()(logits, target)
    loss.backward()
    assert logits.grad is not None
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert logits.grad[0, :, 1:3].abs().sum() == 0  # ignored pixels get no gradient
    if scale == 1.0:
        assert logits.grad.abs().sum() > 0


@pytest.mark.parametrize("cls", ALL)
def test_all_ignored_batch_is_zero_with_a_graph(cls: type[SegLoss]) -> None:
    logits = batch_for(cls, 0, (1, 2, 2))[0].requires_grad_()
    loss = cls()(logits, torch.full((1, 2, 2), 255))
    assert loss.item() == 0.0
    assert loss.grad_fn is not None
    loss.backward()
    assert logits.grad is not None and (logits.grad == 0).all()


@pytest.mark.parametrize("cls", ALL)
def test_ignored_pixels_change_nothing(cls: type[SegLoss]) -> None:
    logits, target = batch_for(cls, 3, (1, 4, 5))
    target[0, :, 4] = 255
    changed = logits.clone()
    changed[:, :, :, 4] = torch.randn(changed.shape[1], 4) * 50  # the ignored column says anything
    assert cls()(logits, target).item() == pytest.approx(cls()(changed, target).item(), abs=1e-6)


@pytest.mark.parametrize(("cls", "channels"), [(CELoss, 1), (LovaszSoftmaxLoss, 1), (BCELoss, 3), (LovaszHingeLoss, 2)])
def test_wrong_channel_count_is_refused(cls: type[SegLoss], channels: int) -> None:
    with pytest.raises(ConfigError, match=f"loss {cls.name}: takes"):
        cls()(torch.zeros(1, channels, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))


@pytest.mark.parametrize("cls", ALL)
def test_bfloat16_logits_give_a_float32_loss(cls: type[SegLoss]) -> None:
    logits, target = batch_for(cls, 4)
    logits = logits.to(torch.bfloat16).requires_grad_()
    loss = cls()(logits, target)
    assert loss.dtype == torch.float32
    loss.backward()
    assert logits.grad is not None and logits.grad.dtype == torch.bfloat16
