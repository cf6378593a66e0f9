"""The configuration of a segmentation run: model, data and augmentation, optimiser, loss."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segen.config.base import (
    SCHEDULES,
    TrainConfig,
    _check,
    _check_choice,
    _ModelChoice,
    _RunConfig,
    from_dict,
    parse_interval,
)

ENCODER_BN_MODES = ("auto", "train", "frozen")
#: Batches below this size keep a pretrained encoder's BatchNorm statistics under `encoder_bn: auto`.
SMALL_BATCH = 16
#: segen's own encoders; any other `model.encoder` is a timm model name.
NATIVE_ENCODERS = ("double", "residual")


@dataclass(frozen=True)
class ModelConfig(_ModelChoice):
    """Which registered model to build, with optional overrides of its preset."""

    name: str = "unet-small"
    depth: int | None = None
    base_width: int | None = None
    norm: str | None = None
    activation: str | None = None
    dropout: float | None = None
    upsampling: str | None = None
    """transpose (the paper's 2x2 up-convolution), bilinear, nearest, or auto (the preset's: transpose for the
    native encoders, nearest under a timm encoder)."""
    stem_stride: int | None = None
    encoder: str | None = None
    encoder_weights: str | None = None
    """Pretrained encoder weights: a file (safetensors or a weights-only state dict) or "imagenet" (timm's, from
    the local Hugging Face cache or downloaded when online). Loaded once when training starts; checkpoints hold
    every weight. Not a model option: `overrides()` leaves it out."""

    decoder_widths: list[int] | None = None
    """U-Net and Attention U-Net: each decoder level's width, finest first, one per level (the preset's: the
    width of the skip each level fuses for the native encoders; 256 at the coarsest level, halving towards the
    finest, under a timm encoder)."""
    head_kernel: int | None = None
    """The head's kernel, 1 or 3 (the preset's: 1, as the paper, for the native encoders; 3 under a timm
    encoder)."""
    deep_supervision: bool | None = None
    """UNet++ only: a head on every top-row node, trained on the mean of their losses (the preset's: on)."""
    prune: int | None = None
    """UNet++ only: evaluate with head k (1 = the shallowest and fastest) instead of the last; the weights of
    every head are kept, so `seg predict|evaluate --prune` can choose again."""

    def overrides(self) -> dict[str, Any]:
        """Preset overrides that were set (not None), without the weights source."""
        return {k: v for k, v in super().overrides().items() if k != "encoder_weights"}

    @property
    def native_encoder(self) -> bool:
        """Whether the encoder is segen's own (double, residual) rather than a timm model."""
        return self.encoder in (None, *NATIVE_ENCODERS)

    def validate(self) -> None:
        """Types and ranges; the model's name, options and choices are checked by the model registry."""
        if not self.native_encoder:
            for name in ("base_width", "stem_stride"):
                _check(getattr(self, name) is None, f"model.{name}", f"applies to the native encoders "
                       f"({', '.join(NATIVE_ENCODERS)}) only, not to timm encoder {self.encoder!r}")
        _check(self.encoder_weights is None or not self.native_encoder, "model.encoder_weights",
               "needs a pretrained encoder: set model.encoder (--encoder) to a timm model, e.g. resnet34")
        _check(self.stem_stride is None or self.stem_stride >= 1, "model.stem_stride", "must be >= 1")
        _check(self.depth is None or 1 <= self.depth <= 8, "model.depth", "must be between 1 and 8")
        _check(self.base_width is None or self.base_width >= 1, "model.base_width", "must be >= 1")
        _check(self.dropout is None or 0.0 <= self.dropout < 1.0, "model.dropout", "must be in [0, 1)")
        _check(self.decoder_widths is None or all(w >= 1 for w in self.decoder_widths), "model.decoder_widths",
               "every width must be >= 1")
        _check(self.prune is None or self.prune >= 1, "model.prune", "must be a head from 1 (the shallowest) up")


AUGMENT_PRESETS = ("auto", "natural", "natural-strong", "biomedical", "none")


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation, applied jointly to image and mask.

    Every crop is cut at a random place; for a share `resample_p` of the crops it is also scaled (by a
    factor in `scale`) and rotated (within +-`rotate_degrees`); the others stay free of interpolation
    blur. Then the ops of `pipeline` run, or those of `preset` when no pipeline is given: "auto" picks
    "biomedical" (flips, rot90, elastic, grid distortion, intensity; half the crops resampled) for grey
    images and "natural" (horizontal flip only, no resampling) otherwise; "natural-strong" adds colour,
    blur, noise and resamples half the crops. `resample_p` None takes the preset's share. Ops are given
    by name and parameters, e.g. `{"name": "elastic", "p": 0.5, "alpha": 40, "sigma": 6}` (see
    `segen.data.augment.OPS`).
    """

    scale: tuple[float, float] = (0.75, 1.25)
    rotate_degrees: float = 10.0
    resample_p: float | None = None
    preset: str = "auto"
    pipeline: list[dict[str, Any]] | None = None

    def validate(self) -> None:
        lo, hi = self.scale
        _check(0 < lo <= hi, "augment.scale", "must be two numbers 0 < min <= max")
        _check(0.0 <= self.rotate_degrees <= 180.0, "augment.rotate_degrees", "must be in [0, 180]")
        _check(self.resample_p is None or 0.0 <= self.resample_p <= 1.0, "augment.resample_p",
               "must be a probability in [0, 1] (or null: the preset's)")
        _check_choice(self.preset, AUGMENT_PRESETS, "augment.preset")


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and how it is read; `image_size` is the training crop (cut down to the largest training
    image; smaller images are padded)."""

    root: str = ""
    format: str = "auto"
    image_size: tuple[int, int] = (256, 256)
    ignore_index: int = 255
    val_fraction: float = 0.1
    cache: str = "auto"
    num_workers: int | None = None
    min_epoch_samples: int = 128
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def validate(self) -> None:
        _check(bool(self.root), "data.root", "is required (--data ROOT)")
        _check(bool(self.format), "data.format", "must name a format (or auto)")
        h, w = self.image_size
        _check(8 <= h <= 16384 and 8 <= w <= 16384, "image_size", f"must be between 8x8 and 16384x16384, got {h}x{w}")
        _check(0 <= self.ignore_index <= 255, "data.ignore_index", "must be in 0..255")
        _check(0.0 < self.val_fraction < 1.0, "data.val_fraction", "must be in (0, 1)")
        _check_choice(self.cache, ("auto", "yes", "no"), "data.cache")
        _check(self.num_workers is None or self.num_workers >= 0, "data.num_workers", "must be >= 0")
        _check(self.min_epoch_samples >= 0, "data.min_epoch_samples", "must be >= 0")
        self.augment.validate()


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with warm-up then a decaying schedule; gradient clipping; a weight average (EMA) for evaluation."""

    lr: float = 2e-3
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "cosine"
    warmup_steps: int = 20
    min_lr_ratio: float = 0.01
    grad_clip: float | None = 1.0
    ema_decay: float | None = 0.995
    encoder_lr_mult: float = 0.1
    """A pretrained encoder learns at this share of `lr` (the decoder and head at `lr`)."""
    freeze_encoder: str = "off"
    """Keep a pretrained encoder fixed for the first part of training: "off", "2epochs", "500steps" or "5m"."""
    encoder_bn: str = "auto"
    """A pretrained encoder's BatchNorm statistics: "train" (updated from each batch), "frozen" (kept as
    pretrained), or "auto": frozen for batches below 16 images, whose statistics are too noisy to replace them."""

    def validate(self) -> None:
        _check(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        _check(self.ema_decay is None or 0 < self.ema_decay < 1, "optim.ema_decay", "must be in (0, 1) or null")
        _check(self.weight_decay >= 0, "optim.weight_decay", "must be >= 0")
        _check(all(0 <= b < 1 for b in self.betas), "optim.betas", "must be in [0, 1)")
        _check_choice(self.schedule, SCHEDULES, "optim.schedule")
        _check(self.warmup_steps >= 0, "optim.warmup_steps", "must be >= 0")
        _check(0 <= self.min_lr_ratio <= 1, "optim.min_lr_ratio", "must be in [0, 1]")
        _check(self.grad_clip is None or self.grad_clip > 0, "optim.grad_clip", "must be > 0 or null")
        _check(self.encoder_lr_mult > 0, "optim.encoder_lr_mult", "must be > 0")
        parse_interval(self.freeze_encoder, "optim.freeze_encoder", epochs=True)
        _check_choice(self.encoder_bn, ENCODER_BN_MODES, "optim.encoder_bn")


@dataclass(frozen=True)
class SegConfig(_RunConfig):
    """Everything that defines a segmentation training run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    loss: str = "auto"
    """auto (bce+dice for binary data, ce+dice otherwise) or a weighted sum of loss terms such as ce+0.5*lovasz;
    the terms are checked by `segen.losses.check_loss_spec` (when the config is resolved and when training)."""
    class_weights: list[float] | str | None = None
    """One weight per class for every loss term (all but lovasz-hinge), or the YAML file holding them
    (`segen data stats --write-weights`); a run resolves a file to its values once the data's classes are known
    and records those."""

    def validate(self) -> SegConfig:
        """Check every value; raise ConfigError naming the first bad one."""
        _check(bool(self.loss.strip()), "loss", "must name a loss: auto, or a sum of terms such as ce+dice or "
               "ce+0.5*lovasz")
        _check(not isinstance(self.class_weights, list) or all(w > 0 for w in self.class_weights), "class_weights",
               f"every weight must be > 0, got {self.class_weights} (a zero weight makes the loss 0/0 on a batch "
               "holding only that class; mark pixels to skip with the ignore value instead)")
        self._validate_sections()
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> SegConfig:
        """Build from a nested dict; unknown keys or wrong types raise ConfigError."""
        return from_dict(cls, data, source)


