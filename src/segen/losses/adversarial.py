"""Adversarial losses for GAN training, on raw discriminator logits, and their registry.

Logits may have any shape, (N,) per image or (N, 1, h, w) for a patch discriminator; every loss is the
mean over all elements. With D(x) = sigmoid(logit):

* ``minimax`` (Goodfellow et al. 2014): D minimises -[log D(x) + log(1 - D(G(z)))], G minimises
  log(1 - D(G(z))). Its generator gradient vanishes when D confidently rejects the fakes.
* ``non-saturating``: the same D loss; G minimises -log D(G(z)), the paper's practical fix.
* ``lsgan`` (Mao et al. 2017): least squares on the raw outputs with targets real 1, fake 0, G 1.
* ``hinge`` (Lim & Ye 2017; Miyato et al. 2018): D mean(relu(1 - real)) + mean(relu(1 + fake)),
  G -mean(fake).
* ``wgan-gp`` (Gulrajani et al. 2017): D mean(fake) - mean(real), G -mean(fake), plus
  `gradient_penalty_weight` (10) times `gradient_penalty`, which the caller adds to the D loss.

All log-sigmoid terms use softplus, so they stay finite at any logit. `r1_penalty` (Mescheder et al.
2018) and `reconstruction_l1` (pix2pix) are optional extra terms; their weights are the caller's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
import torch.nn.functional as F

from segen.errors import ConfigError
from segen.runtime import RandomSource, random_uniform

Discriminator = Callable[[torch.Tensor], torch.Tensor]


def mean_probability(logits: torch.Tensor) -> torch.Tensor:
    """Mean of sigmoid(logits) as a 0-d tensor, for logging D(x) and D(G(z)); carries no gradient."""
    return torch.sigmoid(logits.detach().float()).mean()


def gradient_penalty(discriminator: Discriminator, real: torch.Tensor, fake: torch.Tensor,
                     generator: RandomSource = None) -> torch.Tensor:
    """WGAN-GP penalty, mean of (||dD/dx||_2 - 1)^2 at random interpolates of real and fake.

    Each sample is interpolated with its own U(0, 1) weight. The graph is kept (``create_graph=True``) so
    the penalty backpropagates into the discriminator; real and fake are detached, so none reaches the
    generator. For a conditional discriminator pass a closure, e.g. ``lambda x: disc(x, condition)``.

    Args:
        discriminator: Maps an image batch to logits of any shape.
        real: Real images, N, ....
        fake: Generated images, the same shape.
        generator: Optional random generator (or `BatchDraws`) for the interpolation weights.

    Returns:
        The scalar penalty, unweighted.
    """
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = random_uniform(shape, generator, real.device).to(real)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    grad = _input_gradient(discriminator(mixed), mixed)
    norm = (grad.flatten(1).pow(2).sum(dim=1) + 1e-12).sqrt()  # eps keeps the backward finite at 0
    return (norm - 1).pow(2).mean()


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """R1 penalty (Mescheder et al. 2018): the batch mean of ||d sum(real_logits) / d real_images||^2.

    Call ``real_images.requires_grad_(True)`` before running the discriminator on them. The graph is kept
    so the penalty backpropagates into the discriminator. The paper's term is gamma / 2 times this value;
    the weighting is the caller's, e.g. ``d_loss + gamma / 2 * r1_penalty(logits, images)``.
    """
    grad = _input_gradient(real_logits, real_images)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


def reconstruction_l1(fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error between generated and target images (the pix2pix L1 term)."""
    return F.l1_loss(fake.float(), target.float())


def _input_gradient(outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Gradient of sum(outputs) with respect to inputs, with its graph kept."""
    (grad,) = torch.autograd.grad(outputs.float().sum(), inputs, create_graph=True)
    return grad.float()


class AdversarialLoss(ABC):
    """A GAN objective on raw discriminator logits; both players minimise their own loss."""

    name: str = ""
    gradient_penalty_weight: float = 0.0

    @abstractmethod
    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """Scalar loss the discriminator minimises."""

    @abstractmethod
    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """Scalar loss the generator minimises."""


class MinimaxLoss(AdversarialLoss):
    """The original minimax GAN loss; G minimises log(1 - D(G(z)))."""

    name = "minimax"

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return _bce_discriminator(real_logits, fake_logits)

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -F.softplus(fake_logits.float()).mean()  # log(1 - sigmoid(x)) = -softplus(x)


class NonSaturatingLoss(AdversarialLoss):
    """The non-saturating GAN loss; G minimises -log D(G(z))."""

    name = "non-saturating"

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return _bce_discriminator(real_logits, fake_logits)

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake_logits.float()).mean()  # -log(sigmoid(x)) = softplus(-x)


class LSGANLoss(AdversarialLoss):
    """Least-squares GAN loss on raw outputs (targets: real 1, fake 0; generator 1)."""

    name = "lsgan"

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * (real_logits.float() - 1).pow(2).mean() + 0.5 * fake_logits.float().pow(2).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * (fake_logits.float() - 1).pow(2).mean()


class HingeLoss(AdversarialLoss):
    """Hinge GAN loss."""

    name = "hinge"

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - real_logits.float()).mean() + F.relu(1 + fake_logits.float()).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.float().mean()


class WGANGPLoss(AdversarialLoss):
    """Wasserstein loss; the caller adds `gradient_penalty_weight` times `gradient_penalty` to the D loss."""

    name = "wgan-gp"

    def __init__(self, gradient_penalty_weight: float = 10.0) -> None:
        self.gradient_penalty_weight = gradient_penalty_weight

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return fake_logits.float().mean() - real_logits.float().mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.float().mean()


def _bce_discriminator(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-[log D(x) + log(1 - D(G(z)))], i.e. binary cross-entropy with real 1 and fake 0."""
    return F.softplus(-real_logits.float()).mean() + F.softplus(fake_logits.float()).mean()


_LOSSES: dict[str, type[AdversarialLoss]] = {
    cls.name: cls for cls in (MinimaxLoss, NonSaturatingLoss, LSGANLoss, HingeLoss, WGANGPLoss)
}
ADVERSARIAL_LOSSES: tuple[str, ...] = tuple(_LOSSES)


def create_adversarial_loss(name: str) -> AdversarialLoss:
    """Build adversarial loss `name`, one of `ADVERSARIAL_LOSSES`."""
    if name not in _LOSSES:
        raise ConfigError(f"unknown adversarial loss {name!r}; valid: {', '.join(ADVERSARIAL_LOSSES)}")
    return _LOSSES[name]()
