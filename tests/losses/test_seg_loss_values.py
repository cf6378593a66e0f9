"""The new segmentation losses against values worked by hand on tiny tensors.

Most tests use three pixels in a row, N=1, H=1, W=3, with target [1, 0, 255] (the last pixel ignored):

* binary form, one logit channel x = [ln 3, 0, 5]: foreground probability [3/4, 1/2, ~1];
* multi-class form, two channels [0, x]: the same probabilities, softmax([0, x]) = (1 - sigmoid(x), sigmoid(x)).

So pixel A (truth 1) has p = (bg 1/4, fg 3/4) and pixel B (truth 0) has p = (1/2, 1/2). Per class, pooled:
background: TP = 1/2 (B), |P| = 1/4 + 1/2 = 3/4, |T| = 1, FP = 1/4, FN = 1/2;
foreground: TP = 3/4 (A), |P| = 3/4 + 1/2 = 5/4, |T| = 1, FP = 1/2, FN = 1/4.
Pixel C (ignored) predicts foreground with p ~ 1; counting it anywhere would change every value below.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from segen.errors import ConfigError
from segen.losses import (
    BCELoss,
    DiceLoss,
    FocalLoss,
    JaccardLoss,
    LovaszHingeLoss,
    LovaszSoftmaxLoss,
    TverskyLoss,
)

WEIGHTS = [1.0, 3.0]  # background 1, foreground 3


def binary_logits() -> torch.Tensor:
    return torch.tensor([math.log(3.0), 0.0, 5.0]).view(1, 1, 1, 3)


def two_channel_logits() -> torch.Tensor:
    x = binary_logits()
    return torch.cat([torch.zeros_like(x), x], dim=1)


TARGET = torch.tensor([[[1, 0, 255]]])
BOTH_FORMS = [binary_logits, two_channel_logits]


@pytest.mark.parametrize("logits", BOTH_FORMS)
def test_jaccard_by_hand(logits: Callable[[], torch.Tensor]) -> None:
    # background (TP + s) / (|P| + |T| - TP + s), s = 0: (1/2) / (3/4 + 1 - 1/2) = 2/5; foreground
    # (3/4) / (5/4 + 1 - 3/4) = 1/2. Loss 1 - (2/5 + 1/2) / 2 = 0.55; class-weighted (3/5 + 3 * 1/2) / 4 = 0.525.
    assert JaccardLoss(smooth=0.0)(logits(), TARGET).item() == pytest.approx(0.55, abs=1e-6)
    assert JaccardLoss(smooth=0.0, weight=WEIGHTS)(logits(), TARGET).item() == pytest.approx(0.525, abs=1e-6)
    # default smooth 1: (1/2 + 1) / (5/4 + 1) = 2/3 and (3/4 + 1) / (3/2 + 1) = 7/10
    assert JaccardLoss()(logits(), TARGET).item() == pytest.approx(1 - (2 / 3 + 0.7) / 2, abs=1e-6)


@pytest.mark.parametrize("logits", BOTH_FORMS)
def test_dice_class_weights_by_hand(logits: Callable[[], torch.Tensor]) -> None:
    # 2 TP / (|P| + |T|): background 1 / (7/4) = 4/7, foreground (3/2) / (9/4) = 2/3.
    # Weighted: ((1 - 4/7) + 3 * (1 - 2/3)) / 4 = (3/7 + 1) / 4 = 5/14.
    assert DiceLoss(smooth=0.0)(logits(), TARGET).item() == pytest.approx(1 - (4 / 7 + 2 / 3) / 2, abs=1e-6)
    assert DiceLoss(smooth=0.0, weight=WEIGHTS)(logits(), TARGET).item() == pytest.approx(5 / 14, abs=1e-6)


@pytest.mark.parametrize("logits", BOTH_FORMS)
def test_tversky_by_hand(logits: Callable[[], torch.Tensor]) -> None:
    # TP / (TP + 0.3 FP + 0.7 FN), s = 0: background 0.5 / (0.5 + 0.075 + 0.35) = 20/37,
    # foreground 0.75 / (0.75 + 0.15 + 0.175) = 30/43.
    bg, fg = 20 / 37, 30 / 43
    assert TverskyLoss(smooth=0.0)(logits(), TARGET).item() == pytest.approx(1 - (bg + fg) / 2, abs=1e-6)
    weighted = ((1 - bg) + 3 * (1 - fg)) / 4
    assert TverskyLoss(smooth=0.0, weight=WEIGHTS)(logits(), TARGET).item() == pytest.approx(weighted, abs=1e-6)
    # smooth 1: (2 TP + 1) / (2 TP + 0.6 FP + 1.4 FN + 1): background 2 / 2.85, foreground 2.5 / 3.15
    expected = 1 - (2 / 2.85 + 2.5 / 3.15) / 2
    assert TverskyLoss()(logits(), TARGET).item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("logits", BOTH_FORMS)
def test_focal_by_hand(logits: Callable[[], torch.Tensor]) -> None:
    # -(1 - p_t)^2 log p_t: A p_t = 3/4 -> (1/16) ln(4/3); B p_t = 1/2 -> (1/4) ln 2. Mean of the two valid pixels;
    # class-weighted, A (foreground) counts 3 times: (3 * A + B) / 4.
    a, b = math.log(4 / 3) / 16, math.log(2.0) / 4
    assert FocalLoss()(logits(), TARGET).item() == pytest.approx((a + b) / 2, rel=1e-6)
    assert FocalLoss(weight=WEIGHTS)(logits(), TARGET).item() == pytest.approx((3 * a + b) / 4, rel=1e-6)
    # gamma 0 is the cross-entropy: (ln(4/3) + ln 2) / 2
    expected = (math.log(4 / 3) + math.log(2.0)) / 2
    assert FocalLoss(gamma=0.0)(logits(), TARGET).item() == pytest.approx(expected, rel=1e-6)


def test_bce_class_weights_by_hand() -> None:
    # A (foreground, weight 3): -ln(3/4); B (background, weight 1): ln 2. Weighted mean (3 ln(4/3) + ln 2) / 4.
    expected = (3 * math.log(4 / 3) + math.log(2.0)) / 4
    assert BCELoss(weight=WEIGHTS)(binary_logits(), TARGET).item() == pytest.approx(expected, rel=1e-6)


def test_lovasz_softmax_by_hand() -> None:
    # Per class, errors |t - p| sorted down with the truth in that order, and the Lovasz gradient
    # g_i = J_i - J_{i-1}, J_i = 1 - (|T| - cumsum(t)_i) / (|T| + cumsum(1 - t)_i):
    # background: errors B 1/2 (t 1), A 1/4 (t 0): J = [1 - 0/1, 1 - 0/2] = [1, 1], g = [1, 0] -> 1/2.
    # foreground: errors B 1/2 (t 0), A 1/4 (t 1): J = [1 - 1/2, 1 - 0/2] = [1/2, 1], g = [1/2, 1/2] -> 3/8.
    # Mean (1/2 + 3/8) / 2 = 7/16; class-weighted (1/2 + 3 * 3/8) / 4 = 13/32.
    assert LovaszSoftmaxLoss()(two_channel_logits(), TARGET).item() == pytest.approx(7 / 16, abs=1e-6)
    assert LovaszSoftmaxLoss(weight=WEIGHTS)(two_channel_logits(), TARGET).item() == pytest.approx(13 / 32, abs=1e-6)


def test_lovasz_softmax_of_hard_predictions_is_one_minus_iou() -> None:
    target = torch.tensor([[[0, 0, 1, 1], [2, 2, 2, 255]]])
    pred = torch.tensor([[[0, 1, 1, 1], [2, 2, 0, 0]]])
    logits = torch.nn.functional.one_hot(pred, 3).permute(0, 3, 1, 2).float() * 100
    # over the 7 valid pixels: class 0 IoU 1/3 (1 shared of {0,1,6}), class 1 2/3, class 2 2/3
    expected = 1 - (1 / 3 + 2 / 3 + 2 / 3) / 3
    assert LovaszSoftmaxLoss()(logits, target).item() == pytest.approx(expected, abs=1e-5)


def test_lovasz_hinge_by_hand() -> None:
    logits = torch.tensor([[[[2.0, 0.5], [-1.0, 7.0]]]])
    target = torch.tensor([[[1, 0], [1, 255]]])
    # hinge errors 1 - x (2t - 1): A (x 2, t 1) -1, B (x 0.5, t 0) 1.5, C (x -1, t 1) 2; D ignored.
    # Sorted down: C 2 (t 1), B 1.5 (t 0), A -1 (t 1); |T| = 2.
    # J = 1 - [(2-1)/(2+0), (2-1)/(2+1), (2-2)/(2+1)] = [1/2, 2/3, 1]; g = [1/2, 1/6, 1/3].
    # Loss = 2 * 1/2 + 1.5 * 1/6 + relu(-1) * 1/3 = 1.25.
    assert LovaszHingeLoss()(logits, target).item() == pytest.approx(1.25, abs=1e-6)
    no_foreground = torch.tensor([[[0, 0], [0, 255]]])  # no foreground in the truth: no term
    assert LovaszHingeLoss()(logits, no_foreground).item() == 0.0


def test_lovasz_hinge_refuses_class_weights() -> None:
    with pytest.raises(ConfigError, match="lovasz-hinge: takes no class weights"):
        LovaszHingeLoss(weight=WEIGHTS)


@pytest.mark.parametrize("loss", [JaccardLoss(smooth=0.0), TverskyLoss(smooth=0.0), LovaszSoftmaxLoss(),
                                  DiceLoss(smooth=0.0)])
def test_region_losses_leave_absent_classes_out(loss: torch.nn.Module) -> None:
    target = torch.tensor([[[0, 0], [2, 2]]])  # class 1 absent: no term, so a perfect prediction scores 0
    right = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float() * 100
    wrong = torch.nn.functional.one_hot(torch.tensor([[[2, 2], [0, 0]]]), 3).permute(0, 3, 1, 2).float() * 100
    assert loss(right, target).item() == pytest.approx(0.0, abs=1e-5)
    assert loss(wrong, target).item() == pytest.approx(1.0, abs=1e-5)


def test_tversky_half_half_is_dice() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 6)
    target = torch.randint(0, 4, (2, 5, 6))
    target[0, 0] = 255
    for smooth in (0.0, 1.0):
        tversky = TverskyLoss(alpha=0.5, beta=0.5, smooth=smooth)(logits, target).item()
        assert tversky == pytest.approx(DiceLoss(smooth=smooth)(logits, target).item(), abs=1e-6)


@pytest.mark.parametrize("make", [lambda: FocalLoss(gamma=-1.0), lambda: TverskyLoss(alpha=0.0, beta=0.0),
                                  lambda: TverskyLoss(alpha=-0.1), lambda: DiceLoss(smooth=float("nan")),
                                  lambda: JaccardLoss(weight=[1.0, 0.0]), lambda: FocalLoss(weight=[1.0, math.inf])])
def test_bad_parameters_are_one_line_config_errors(make: Callable[[], object]) -> None:
    with pytest.raises(ConfigError) as err:
        make()
    assert "\n" not in str(err.value)
