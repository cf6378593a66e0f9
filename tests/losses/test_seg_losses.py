"""Losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from segen.errors import ConfigError
from segen.losses import BCELoss, CELoss, DiceLoss, create_loss, resolve_loss_name


def test_cross_entropy_uniform_logits_and_ignore() -> None:
    logits = torch.zeros(1, 2, 1, 2)
    logits[0, :, 0, 1] = torch.tensor([0.0, math.log(3.0)])  # p(class 1) = 3/4
    target = torch.tensor([[[0, 1]]])
    expected = (math.log(2.0) + -math.log(0.75)) / 2
    assert CELoss()(logits, target).item() == pytest.approx(expected, rel=1e-6)
    target_ignored = torch.tensor([[[255, 1]]])
    assert CELoss()(logits, target_ignored).item() == pytest.approx(-math.log(0.75), rel=1e-6)


def test_cross_entropy_all_ignored_is_zero_not_nan() -> None:
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = CELoss()(logits, torch.full((1, 2, 2), 255))
    assert loss.item() == 0.0
    loss.backward()


def test_bce_mean_over_valid_pixels() -> None:
    logits = torch.tensor([[[[0.0, 2.0, -1.0]]]])
    target = torch.tensor([[[1, 0, 255]]])
    expected = (math.log(2.0) + math.log(1 + math.exp(2.0))) / 2
    assert BCELoss()(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_binary_dice_by_hand() -> None:
    logits = torch.full((1, 1, 2, 2), 50.0)  # predicts foreground everywhere
    target = torch.tensor([[[1, 0], [0, 255]]])  # 1 foreground, 2 background, 1 ignored
    dice_fg = (2 * 1.0 + 1) / (3.0 + 1.0 + 1)  # |P∩T| = 1, |P| = 3 valid pixels, |T| = 1, smooth 1
    dice_bg = (2 * 0.0 + 1) / (0.0 + 2.0 + 1)  # background predicted nowhere, 2 true pixels
    expected = 1 - (dice_fg + dice_bg) / 2
    assert DiceLoss()(logits, target).item() == pytest.approx(expected, abs=1e-6)


def test_binary_dice_equals_two_class_softmax_dice() -> None:
    logit = torch.randn(2, 1, 6, 7)
    target = torch.randint(0, 2, (2, 6, 7))
    two_class = torch.cat([torch.zeros_like(logit), logit], dim=1)  # softmax([0, x]) = sigmoid(x)
    assert DiceLoss()(logit, target).item() == pytest.approx(DiceLoss()(two_class, target).item(), abs=1e-6)


def test_multiclass_dice_perfect_and_absent_classes() -> None:
    target = torch.tensor([[[0, 0], [2, 2]]])  # class 1 absent: left out
    logits = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float() * 100
    assert DiceLoss(smooth=0.0)(logits, target).item() == pytest.approx(0.0, abs=1e-6)
    wrong = torch.nn.functional.one_hot(torch.tensor([[[2, 2], [0, 0]]]), 3).permute(0, 3, 1, 2).float() * 100
    assert DiceLoss(smooth=0.0)(wrong, target).item() == pytest.approx(1.0, abs=1e-6)


def test_combined_losses_sum() -> None:
    logits = torch.randn(2, 3, 5, 5)
    target = torch.randint(0, 3, (2, 5, 5))
    combined = create_loss("ce+dice", 3)(logits, target)
    assert combined.item() == pytest.approx((CELoss()(logits, target) + DiceLoss()(logits, target)).item())


def test_auto_and_invalid_loss_names() -> None:
    assert resolve_loss_name("auto", 2) == "bce+dice"
    assert resolve_loss_name("auto", 5) == "ce+dice"
    with pytest.raises(ConfigError, match="binary"):
        resolve_loss_name("bce", 3)
    with pytest.raises(ConfigError, match="unknown term 'focl'"):
        resolve_loss_name("focl", 3)
    with pytest.raises(ConfigError, match="expected 3"):
        create_loss("ce", 3, class_weights=[1.0, 2.0])


def test_class_weights_change_cross_entropy() -> None:
    logits = torch.zeros(1, 2, 1, 2)
    logits[0, 1, 0, 1] = 2.0
    target = torch.tensor([[[0, 1]]])
    plain = CELoss()(logits, target).item()
    weighted = CELoss(weight=[1.0, 3.0])(logits, target).item()
    l0, l1 = math.log(2.0), math.log(1 + math.exp(-2.0))
    assert plain == pytest.approx((l0 + l1) / 2, rel=1e-6)
    assert weighted == pytest.approx((l0 + 3 * l1) / 4, rel=1e-6)
