"""Name -> model builder registry: `register_model` decorates a builder, `create_model` calls it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from segen.errors import ConfigError

Builder = Callable[..., nn.Module]

_BUILDERS: dict[str, Builder] = {}
_DEFAULTS: dict[str, dict[str, Any]] = {}
_FAMILIES: dict[str, str] = {}
FAMILIES = ("segmentation", "gan")


def register_model(name: str, family: str = "segmentation", **defaults: Any) -> Callable[[Builder], Builder]:
    """Register `builder` under `name` in `family` (segmentation or gan); `defaults` are its preset arguments."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}")

    def decorate(builder: Builder) -> Builder:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is already registered")
        _BUILDERS[name] = builder
        _DEFAULTS[name] = dict(defaults)
        _FAMILIES[name] = family
        return builder

    return decorate


def list_models(family: str | None = None) -> list[str]:
    """Names of the registered models (of one family when given), sorted."""
    _ensure_loaded()
    return sorted(n for n in _BUILDERS if family is None or _FAMILIES[n] == family)


def model_defaults(name: str, family: str | None = None) -> dict[str, Any]:
    """The preset keyword arguments of model `name`; ConfigError if it is unknown or of another family."""
    _check_name(name, family)
    return dict(_DEFAULTS[name])


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build registered model `name`, its preset updated with `overrides`.

    Raises:
        ConfigError: unknown name (the message lists the valid ones) or bad arguments.
    """
    _check_name(name)
    kwargs = {**_DEFAULTS[name], **overrides}
    try:
        return _BUILDERS[name](**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model {name!r}: {exc}") from None


def _check_name(name: str, family: str | None = None) -> None:
    _ensure_loaded()
    if name not in _BUILDERS or (family is not None and _FAMILIES[name] != family):
        kind = f"{family} model" if family else "model"
        raise ConfigError(f"unknown {kind} {name!r}; valid: {', '.join(list_models(family))}")


def _ensure_loaded() -> None:
    """Import the modules that register models (idempotent)."""
    from segen.models import gan, unet  # noqa: F401
