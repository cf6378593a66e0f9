"""The machinery of configs: typed parsing from plain data, YAML, flag merging, checks, the shared
training settings, checkpoint periods and the rule of what a resumed run may change."""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from segen.errors import ConfigError

T = TypeVar("T")

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


class _RunConfig:
    """What every run's config (SegConfig, GanConfig) shares: its four sections and their plain-dict form."""

    model: Any
    data: Any
    optim: Any
    train: TrainConfig

    def _validate_sections(self) -> None:
        for section in (self.model, self.data, self.optim, self.train):
            section.validate()

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML- and checkpoint-safe)."""
        return _plain(dataclasses.asdict(self))  # type: ignore[call-overload]


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
    accumulate: int = 1
    sync_bn: bool = False
    compile: bool = False
    tensorboard: bool = False

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
        _check(self.accumulate >= 1, "accumulate", f"must be >= 1, got {self.accumulate}")

    def resolved_epochs(self) -> int:
        """Epochs to run: as given; unbounded under a time budget alone; else 50."""
        if self.epochs is not None:
            return self.epochs
        return 1_000_000 if self.max_time is not None else 50


@dataclass(frozen=True)
class Interval:
    """A period counted in optimiser steps, epochs or seconds of training time; all None means never."""

    steps: int | None = None
    seconds: float | None = None
    epochs: int | None = None


_TIME_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_STEP_UNITS = ("step", "steps")
_EPOCH_UNITS = ("epoch", "epochs")


def parse_interval(text: str, name: str = "train.checkpoint_every", epochs: bool = False) -> Interval:
    """"10m", "90s", "1h" (training time), "500steps" or, with `epochs`, "2epochs"; "off" (or "0") means never."""
    value = text.strip().lower()
    if value in ("off", "0", "never", "none"):
        return Interval()
    units = (*_TIME_UNITS, *_STEP_UNITS, *(_EPOCH_UNITS if epochs else ()))
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]+)", value)
    if match is None or match.group(2) not in units or float(match.group(1)) <= 0:
        examples = "10m, 90s, 1h, 500steps" + (", 2epochs" if epochs else "")
        raise ConfigError(f"{name}: expected a period such as {examples}, or off; got {text!r}")
    number, unit = float(match.group(1)), match.group(2)
    if unit in (*_STEP_UNITS, *_EPOCH_UNITS):
        _check(number.is_integer(), name, f"a count of {unit} must be a whole number, got {text!r}")
        return Interval(steps=int(number)) if unit in _STEP_UNITS else Interval(epochs=int(number))
    return Interval(seconds=number * _TIME_UNITS[unit])


#: Settings a resumed run may change: its budget, where its files are and how fast it runs; nothing that
#: shapes the model, the data split or the schedule.
RESUMABLE_CHANGES = ("train.epochs", "train.max_time", "train.out", "data.root", "train.device", "train.threads",
                     "train.log_every", "train.checkpoint_every", "data.num_workers", "data.cache",
                     "train.accumulate", "train.sync_bn", "train.compile", "train.tensorboard")


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
        errors = []
        for alternative in (a for a in args if a is not type(None)):
            try:
                return _coerce(alternative, value, where)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
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
