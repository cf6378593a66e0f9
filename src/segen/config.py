"""Typed, validated run configurations; load and save as YAML.

A run is described by one frozen dataclass tree. The CLI turns a YAML file plus flags into it,
the run folder and every checkpoint store it as plain data, so a run can be rebuilt from either.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from segen.errors import ConfigError

T = TypeVar("T")

LOSSES_SEG = ("auto", "ce", "dice", "ce+dice", "bce", "bce+dice")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SCHEDULES = ("cosine", "poly", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")


class _ModelChoice:
    """A registered model's name and optional overrides of its preset (fields left None keep the preset)."""

    name: str

    def overrides(self) -> dict[str, Any]:
        """Preset overrides that were set (not None)."""
        return {f.name: getattr(self, f.name) for f in fields(self)  # type: ignore[arg-type]
                if f.name != "name" and getattr(self, f.name) is not None}


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
    stem_stride: int | None = None
    encoder: str | None = None

    def validate(self) -> None:
        """Types and ranges; the model's name, options and choices are checked by the model registry."""
        _check(self.stem_stride is None or self.stem_stride >= 1, "model.stem_stride", "must be >= 1")
        _check(self.depth is None or 1 <= self.depth <= 8, "model.depth", "must be between 1 and 8")
        _check(self.base_width is None or self.base_width >= 1, "model.base_width", "must be >= 1")
        _check(self.dropout is None or 0.0 <= self.dropout < 1.0, "model.dropout", "must be in [0, 1)")


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
    """Where the data is and how it is read; `image_size` is the training crop; smaller images are padded."""

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

    def validate(self) -> None:
        _check(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        _check(self.ema_decay is None or 0 < self.ema_decay < 1, "optim.ema_decay", "must be in (0, 1) or null")
        _check(self.weight_decay >= 0, "optim.weight_decay", "must be >= 0")
        _check(all(0 <= b < 1 for b in self.betas), "optim.betas", "must be in [0, 1)")
        _check_choice(self.schedule, SCHEDULES, "optim.schedule")
        _check(self.warmup_steps >= 0, "optim.warmup_steps", "must be >= 0")
        _check(0 <= self.min_lr_ratio <= 1, "optim.min_lr_ratio", "must be in [0, 1]")
        _check(self.grad_clip is None or self.grad_clip > 0, "optim.grad_clip", "must be > 0 or null")


@dataclass(frozen=True)
class TrainConfig:
    """How long and where to train."""

    out: str = ""
    epochs: int | None = None
    max_time: float | None = None
    batch_size: int = 4
    device: str = "auto"
    seed: int = 0
    precision: str = "auto"
    log_every: int = 10
    threads: int | None = None
    checkpoint_every: str = "10m"

    def validate(self) -> None:
        _check(bool(self.out), "out", "is required (--out RUNDIR)")
        _check(self.epochs is None or self.epochs >= 1, "epochs", f"must be >= 1, got {self.epochs}")
        _check(self.max_time is None or self.max_time > 0, "max-time", f"must be > 0 minutes, got {self.max_time}")
        _check(self.batch_size >= 1, "batch-size", f"must be >= 1, got {self.batch_size}")
        _check_choice(self.device, DEVICES, "device")
        _check_choice(self.precision, PRECISIONS, "precision")
        _check(0 <= self.seed < 2**63, "seed", f"must be in 0..2**63-1, got {self.seed}")
        _check(self.log_every >= 1, "train.log_every", "must be >= 1")
        _check(self.threads is None or self.threads >= 1, "train.threads", "must be >= 1")
        parse_interval(self.checkpoint_every)

    def resolved_epochs(self) -> int:
        """Epochs to run: as given; unbounded under a time budget alone; else 50."""
        if self.epochs is not None:
            return self.epochs
        return 1_000_000 if self.max_time is not None else 50


@dataclass(frozen=True)
class SegConfig:
    """Everything that defines a segmentation training run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    loss: str = "auto"
    class_weights: list[float] | None = None

    def validate(self) -> SegConfig:
        """Check every value; raise ConfigError naming the first bad one."""
        _check_choice(self.loss, LOSSES_SEG, "loss")
        _check(self.class_weights is None or all(w > 0 for w in self.class_weights), "class_weights",
               f"every weight must be > 0, got {self.class_weights} (a zero weight makes the loss 0/0 on a batch "
               "holding only that class; mark pixels to skip with the ignore value instead)")
        self.model.validate()
        self.data.validate()
        self.optim.validate()
        self.train.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML- and checkpoint-safe)."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> SegConfig:
        """Build from a nested dict; unknown keys or wrong types raise ConfigError."""
        return from_dict(cls, data, source)


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
class GanConfig:
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
        self.model.validate()
        self.data.validate()
        self.optim.validate()
        self.train.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML- and checkpoint-safe)."""
        return _plain(dataclasses.asdict(self))

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


@dataclass(frozen=True)
class Interval:
    """A period counted in optimiser steps or in seconds of training time; both None means never."""

    steps: int | None = None
    seconds: float | None = None


_TIME_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_STEP_UNITS = ("step", "steps")


def parse_interval(text: str, name: str = "train.checkpoint_every") -> Interval:
    """"10m", "90s", "1h" (training time) or "500steps"; "off" (or "0") means never."""
    value = text.strip().lower()
    if value in ("off", "0", "never", "none"):
        return Interval()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]+)", value)
    if match is None or match.group(2) not in (*_TIME_UNITS, *_STEP_UNITS) or float(match.group(1)) <= 0:
        raise ConfigError(f"{name}: expected a period such as 10m, 90s, 1h or 500steps, or off; got {text!r}")
    number, unit = float(match.group(1)), match.group(2)
    if unit in _STEP_UNITS:
        _check(number.is_integer(), name, f"a step count must be a whole number, got {text!r}")
        return Interval(steps=int(number))
    return Interval(seconds=number * _TIME_UNITS[unit])


#: Settings a resumed run may change: its budget, where its files are and how fast it runs; nothing that
#: shapes the model, the data split or the schedule.
RESUMABLE_CHANGES = ("train.epochs", "train.max_time", "train.out", "data.root", "train.device", "train.threads",
                     "train.log_every", "train.checkpoint_every", "data.num_workers", "data.cache")


def check_resume(saved: dict[str, Any], requested: dict[str, Any], prefix: str = "") -> None:
    """Raise ConfigError naming the first setting that differs between a run's config and a resume request.

    Both are plain dicts of the same typed config (`to_dict()`), so missing keys have their defaults.
    """
    for key, value in requested.items():
        name = f"{prefix}{key}"
        before = saved.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            check_resume(before, value, f"{name}.")
        elif value != before and name not in RESUMABLE_CHANGES:
            raise ConfigError(f"--resume: {name} would change from {before!r} to {value!r}; a resumed run keeps "
                              f"its own settings (only {', '.join(RESUMABLE_CHANGES)} may change)")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _check(ok: bool, name: str, problem: str) -> None:
    if not ok:
        raise ConfigError(f"{name}: {problem}")


def _check_choice(value: str | None, choices: tuple[str, ...], name: str) -> None:
    if value is not None and value not in choices:
        raise ConfigError(f"{name}: unknown value {value!r}; valid: {', '.join(choices)}")


def from_dict(cls: type[T], data: dict[str, Any], source: str = "config") -> T:
    """Build dataclass `cls` from nested plain data, checking keys and value types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    kwargs = {key: _coerce(hints[key], value, f"{source}.{key}") for key, value in data.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {k: _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {value!r}")
        return tuple(_coerce(a, v, where) for a, v in zip(args, value, strict=True))
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if hint in (int, str, bool) and isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    if hint is Any:
        return value
    expected = "a finite number" if hint is float else getattr(hint, "__name__", hint)
    raise ConfigError(f"{where}: expected {expected}, got {value!r}")


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `overrides` into a copy of `base` (None values in overrides are skipped)."""
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict):
            out[key] = merge(out[key] if isinstance(out.get(key), dict) else {}, value)
        else:
            out[key] = value
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing or malformed file raises ConfigError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: not valid YAML ({first})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level")
    return data


def to_yaml(data: dict[str, Any]) -> str:
    """A plain mapping as YAML text, keys in order (write it with `segen.runtime.write_atomic`)."""
    return yaml.safe_dump(data, sort_keys=False)
