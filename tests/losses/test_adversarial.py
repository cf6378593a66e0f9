"""Adversarial losses against hand-computed values; gradient penalty and R1 against analytic values."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from segen.errors import ConfigError
from segen.losses import (
    ADVERSARIAL_LOSSES,
    create_adversarial_loss,
    gradient_penalty,
    mean_probability,
    r1_penalty,
    reconstruction_l1,
)

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def neg_log_sigmoid(x: float) -> float:
    """-log(1 / (1 + e^-x)), written out."""
    return math.log(1 + math.exp(-x))


def log_one_minus_sigmoid(x: float) -> float:
    """log(1 - 1 / (1 + e^-x)), written out."""
    return math.log(1 - 1 / (1 + math.exp(-x)))


BCE_D = (neg_log_sigmoid(2.0) + neg_log_sigmoid(-1.0)) / 2 - (log_one_minus_sigmoid(0.5) +
                                                                log_one_minus_sigmoid(-3.0)) / 2
EXPECTED = {  # name: (D loss, G loss) for REAL and FAKE
    "minimax": (BCE_D, (log_one_minus_sigmoid(0.5) + log_one_minus_sigmoid(-3.0)) / 2),
    "non-saturating": (BCE_D, (neg_log_sigmoid(0.5) + neg_log_sigmoid(-3.0)) / 2),
    "lsgan": (0.5 * (1.0 + 4.0) / 2 + 0.5 * (0.25 + 9.0) / 2, 0.5 * (0.25 + 16.0) / 2),  # 3.5625, 4.0625
    "hinge": ((0.0 + 2.0) / 2 + (1.5 + 0.0) / 2, -(0.5 - 3.0) / 2),  # 1.75, 1.25
    "wgan-gp": ((0.5 - 3.0) / 2 - (2.0 - 1.0) / 2, -(0.5 - 3.0) / 2),  # -1.75, 1.25
}


def linear_discriminator(weight_norm: float, size: int = 12) -> nn.Module:
    """D(x) = <w, flatten(x)> + b with ||w|| = weight_norm, so its input gradient is w everywhere."""
    torch.manual_seed(0)
    disc = nn.Sequential(nn.Flatten(), nn.Linear(size, 1))
    with torch.no_grad():
        disc[1].weight.mul_(weight_norm / disc[1].weight.norm())
    return disc


def test_registry_names_and_penalty_weights() -> None:
    assert ADVERSARIAL_LOSSES == ("minimax", "non-saturating", "lsgan", "hinge", "wgan-gp")
    weights = {name: create_adversarial_loss(name).gradient_penalty_weight for name in ADVERSARIAL_LOSSES}
    assert weights == {"minimax": 0.0, "non-saturating": 0.0, "lsgan": 0.0, "hinge": 0.0, "wgan-gp": 10.0}


@pytest.mark.parametrize("name", ADVERSARIAL_LOSSES)
def test_losses_by_hand(name: str) -> None:
    loss = create_adversarial_loss(name)
    d_expected, g_expected = EXPECTED[name]
    assert loss.discriminator_loss(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)
    assert loss.generator_loss(FAKE).item() == pytest.approx(g_expected, rel=1e-6)


@pytest.mark.parametrize("name", ADVERSARIAL_LOSSES)
def test_patch_logits_are_averaged_over_all_elements(name: str) -> None:
    loss = create_adversarial_loss(name)
    real = torch.tensor([2.0, -1.0, 2.0, -1.0]).view(2, 1, 1, 2)  # same mean terms as REAL
    fake = torch.tensor([0.5, -3.0, -3.0, 0.5]).view(2, 1, 2, 1)
    d_expected, g_expected = EXPECTED[name]
    d = loss.discriminator_loss(real, fake)
    assert d.dim() == 0
    assert d.item() == pytest.approx(d_expected, rel=1e-6)
    assert loss.generator_loss(fake).item() == pytest.approx(g_expected, rel=1e-6)


def test_minimax_generator_is_log_one_minus_d() -> None:
    fake = torch.linspace(-6, 6, 13)
    expected = sum(log_one_minus_sigmoid(x) for x in fake.tolist()) / 13
    assert create_adversarial_loss("minimax").generator_loss(fake).item() == pytest.approx(expected, rel=1e-5)


def test_non_saturating_gradient_does_not_vanish_when_d_rejects_fakes() -> None:
    grads = {}
    for name in ("minimax", "non-saturating"):
        fake = torch.tensor([-5.0], requires_grad=True)  # D(G(z)) = 0.0067: D confidently rejects
        create_adversarial_loss(name).generator_loss(fake).backward()
        assert fake.grad is not None
        grads[name] = fake.grad.item()
    d_fake = 1 / (1 + math.exp(5.0))
    assert grads["minimax"] == pytest.approx(-d_fake, rel=1e-5)  # d/dx log(1 - s(x)) = -s(x)
    assert grads["non-saturating"] == pytest.approx(-(1 - d_fake), rel=1e-5)  # d/dx -log s(x) = -(1 - s(x))
    assert abs(grads["non-saturating"]) > 100 * abs(grads["minimax"])


@pytest.mark.parametrize("name", ADVERSARIAL_LOSSES)
def test_extreme_logits_are_finite(name: str) -> None:
    loss = create_adversarial_loss(name)
    for real_value, fake_value in ((100.0, -100.0), (-100.0, 100.0)):
        real = torch.full((3,), real_value, requires_grad=True)
        fake = torch.full((3,), fake_value, requires_grad=True)
        total = loss.discriminator_loss(real, fake) + loss.generator_loss(fake)
        total.backward()
        assert torch.isfinite(total)
        assert real.grad is not None and fake.grad is not None
        assert torch.isfinite(real.grad).all() and torch.isfinite(fake.grad).all()


def test_bce_losses_at_confident_logits() -> None:
    loss = create_adversarial_loss("non-saturating")
    assert loss.discriminator_loss(torch.tensor([100.0]), torch.tensor([-100.0])).item() == pytest.approx(0.0)
    assert loss.discriminator_loss(torch.tensor([-100.0]), torch.tensor([100.0])).item() == pytest.approx(200.0)
    assert create_adversarial_loss("minimax").generator_loss(torch.tensor([100.0])).item() == pytest.approx(-100.0)


def test_gradient_penalty_zero_for_unit_gradient_and_backpropagates() -> None:
    real, fake = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    unit = linear_discriminator(1.0)
    assert gradient_penalty(unit, real, fake).item() == pytest.approx(0.0, abs=1e-6)
    steep = linear_discriminator(3.0)
    penalty = gradient_penalty(steep, real, fake)
    assert penalty.item() == pytest.approx((3.0 - 1.0) ** 2, rel=1e-5)
    penalty.backward()
    weight = steep[1].weight
    assert weight.grad is not None
    expected = 2 * (3.0 - 1.0) * weight.detach() / 3.0  # d/dw (||w|| - 1)^2
    assert torch.allclose(weight.grad, expected, atol=1e-5)


def test_gradient_penalty_on_a_nonlinear_patch_discriminator() -> None:
    torch.manual_seed(0)
    disc = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    real, fake = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8, requires_grad=True)
    gen = torch.Generator().manual_seed(1)
    penalty = gradient_penalty(disc, real, fake, generator=gen)
    assert penalty.item() > 0
    penalty.backward()
    weights = [disc[0].weight, disc[2].weight]  # dD/dx of a piecewise-linear D is locally constant in biases
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)
    assert fake.grad is None  # the penalty does not reach the generator


def test_r1_penalty_is_squared_weight_norm_for_linear_d() -> None:
    disc = linear_discriminator(2.5)
    images = torch.randn(5, 3, 2, 2).requires_grad_(True)
    penalty = r1_penalty(disc(images), images)
    assert penalty.item() == pytest.approx(2.5**2, rel=1e-5)
    penalty.backward()
    weight = disc[1].weight
    assert weight.grad is not None
    assert torch.allclose(weight.grad, 2 * weight.detach(), atol=1e-5)  # d/dw ||w||^2


def test_reconstruction_l1_and_mean_probability() -> None:
    fake, target = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.0, 1.0]])
    assert reconstruction_l1(fake, target).item() == pytest.approx((0.5 + 2.0) / 2)
    logits = torch.tensor([0.0, math.log(3.0)])  # sigmoid: 1/2, 3/4
    assert float(mean_probability(logits)) == pytest.approx((0.5 + 0.75) / 2)


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown adversarial loss 'wgan'.*minimax, non-saturating"):
        create_adversarial_loss("wgan")
