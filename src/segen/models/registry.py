"""Name -> model builder registry: `register_model` decorates a builder, `create_model` calls it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from segen.errors import ConfigError

Builder = Callable[..., nn.Module]

_BUILDERS: dict[str, Builder] = {}
_DEFAULTS: dict[str, dict[str, Any]] = {}


def register_model(name: str, **defaults: Any) -> Callable[[Builder], Builder]:
    """Register `builder` under `name`; `defaults` are the preset's keyword arguments."""

    def decorate(builder: Builder) -> Builder:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is already registered")
        _BUILDERS[name] = builder
        _DEFAULTS[name] = dict(defaults)
        return builder

    return decorate


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _ensure_loaded()
    return sorted(_BUILDERS)


def model_defaults(name: str) -> dict[str, Any]:
    """The preset keyword arguments of model `name`."""
    _check_name(name)
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


def _check_name(name: str) -> None:
    _ensure_loaded()
    if name not in _BUILDERS:
        raise ConfigError(f"unknown model {name!r}; valid: {', '.join(sorted(_BUILDERS))}")


def _ensure_loaded() -> None:
    """Import the modules that register models (idempotent)."""
    from segen.models import unet  # noqa: F401
