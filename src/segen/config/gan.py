"""The configuration of a GAN run: which GAN, its data, two optimisers and the regularisers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segen.config.base import TrainConfig, _check, _check_choice, _ModelChoice, _RunConfig, from_dict

#: What a GAN's generator takes besides noise, and so which data it trains on: nothing (images alone), a
#: class label (labelled images) or an image (image-to-image pairs).
CONDITIONINGS = ("none", "class", "image")
GAN_LOSSES = ("minimax", "non-saturating", "lsgan", "hinge", "wgan-gp")
DIRECTIONS = ("AtoB", "BtoA")
DIFFAUGMENT_POLICIES = ("auto", "none", "color", "translation", "cutout")


@dataclass(frozen=True)
class GanModelConfig(_ModelChoice):
    """Which GAN to build (`dcgan`, `cgan`, `pix2pix`), with optional overrides of its preset."""

    name: str = "dcgan"
    latent_dim: int | None = None
    width: int | None = None
    d_width: int | None = None
    g_norm: str | None = None
    d_norm: str | None = None
    norm: str | None = None
    depth: int | None = None
    dropout: float | None = None
    generator: str | None = None

    def validate(self) -> None:
        """Types and ranges; the model's name, options and choices are checked by the model registry."""
        for name in ("latent_dim", "width", "d_width", "depth"):
            value = getattr(self, name)
            _check(value is None or value >= 1, f"model.{name}", f"must be >= 1, got {value}")
        _check(self.dropout is None or 0.0 <= self.dropout < 1.0, "model.dropout", "must be in [0, 1)")


@dataclass(frozen=True)
class GanDataConfig:
    """Where the training images are and how they are presented.

    `image_size` None means the data's own size (28x28 for MNIST-like IDX files, the size of the
    first image otherwise). `ids` / `val_ids` select files by numeric stem ("1-350") in paired data.
    `diffaugment` is a comma-separated DiffAugment policy ("color,translation,cutout"), "none", or
    "auto": all three ops for unconditional and class GANs on fewer than 5,000 images.
    """

    root: str = ""
    image_size: tuple[int, int] | None = None
    channels: int | None = None
    direction: str = "AtoB"
    ids: str | None = None
    val_ids: str | None = None
    jitter: bool = True
    diffaugment: str = "auto"
    num_workers: int | None = None

    def validate(self) -> None:
        _check(bool(self.root), "data", "is required (--data PATH)")
        _check(self.image_size is None or all(8 <= s <= 1024 for s in self.image_size), "image-size",
               f"each side must be between 8 and 1024, got {self.image_size}")
        _check(self.channels in (None, 1, 3), "data.channels", f"must be 1 or 3, got {self.channels}")
        _check_choice(self.direction, DIRECTIONS, "direction")
        for op in self.diffaugment_ops():
            _check_choice(op, DIFFAUGMENT_POLICIES, "data.diffaugment")
        _check(self.num_workers is None or self.num_workers >= 0, "workers", "must be >= 0")

    def diffaugment_ops(self) -> list[str]:
        """The policy as a list of names (may hold "auto" or "none")."""
        return [op.strip() for op in self.diffaugment.split(",") if op.strip()]


@dataclass(frozen=True)
class GanOptimConfig:
    """Two Adam optimisers and the regularisers of GAN training.

    `r1_gamma` > 0 adds the R1 penalty (gamma / 2) * ||grad D(x)||^2 on real images every
    `r1_interval` steps (scaled by the interval, as in lazy regularisation). `l1_weight` is the
    pix2pix reconstruction weight. `ema_decay` 0 disables the averaged generator.
    """

    g_lr: float = 2e-4
    d_lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    r1_gamma: float = 0.0
    r1_interval: int = 16
    l1_weight: float = 100.0
    ema_decay: float = 0.999

    def validate(self) -> None:
        _check(self.g_lr > 0 and self.d_lr > 0, "lr", f"must be > 0, got g {self.g_lr} / d {self.d_lr}")
        _check(all(0 <= b < 1 for b in self.betas), "optim.betas", f"must be in [0, 1), got {self.betas}")
        _check(self.r1_gamma >= 0, "r1-gamma", f"must be >= 0, got {self.r1_gamma}")
        _check(self.r1_interval >= 1, "optim.r1_interval", "must be >= 1")
        _check(self.l1_weight >= 0, "optim.l1_weight", "must be >= 0")
        _check(0 <= self.ema_decay < 1, "optim.ema_decay", "must be in [0, 1)")


GAN_DEFAULT_BATCH = {"dcgan": 64, "cgan": 64, "pix2pix": 4}


def _gan_train_defaults() -> TrainConfig:
    return TrainConfig(batch_size=GAN_DEFAULT_BATCH["dcgan"])


@dataclass(frozen=True)
class GanConfig(_RunConfig):
    """Everything that defines a GAN training run.

    `sample_every` writes a sample grid from fixed latents (or fixed validation inputs) every so many
    steps; `sample_count` is the number of images in it.
    """

    model: GanModelConfig = field(default_factory=GanModelConfig)
    data: GanDataConfig = field(default_factory=GanDataConfig)
    optim: GanOptimConfig = field(default_factory=GanOptimConfig)
    train: TrainConfig = field(default_factory=_gan_train_defaults)
    loss: str = "non-saturating"
    sample_every: int = 500
    sample_count: int = 64

    def validate(self) -> GanConfig:
        """Check every value; raise ConfigError naming the first bad one."""
        _check_choice(self.loss, GAN_LOSSES, "loss")
        _check(self.sample_every >= 1, "sample_every", "must be >= 1")
        _check(1 <= self.sample_count <= 1024, "sample_count", "must be between 1 and 1024")
        self._validate_sections()
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> GanConfig:
        """Build from a nested dict; unknown keys or wrong types raise ConfigError.

        Without a batch size, the model's default applies (64 for dcgan / cgan, 4 for pix2pix).
        """
        if isinstance(data, dict) and isinstance(data.get("train", {}), dict):
            model = data.get("model") or {}
            name = model.get("name", "dcgan") if isinstance(model, dict) else "dcgan"
            train = dict(data.get("train", {}))
            train.setdefault("batch_size", GAN_DEFAULT_BATCH.get(name, 64))
            data = {**data, "train": train}
        return from_dict(cls, data, source)


