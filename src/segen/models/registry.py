"""Name -> model registry: `register_model` decorates a builder with its metadata, `create_model` calls it.

Each entry carries what the rest of segen needs to know about a model without building it: its
family (segmentation or gan), its conditioning (GANs: "none", "class" or "image"), its preset
arguments and the valid values of its choice-valued options. Configs check types and ranges; the
registry checks names, options and choices (`check_model_options`), before any work.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from segen.config import CONDITIONINGS
from segen.errors import ConfigError

Builder = Callable[..., nn.Module]
#: Checks an option's value: None if valid, else what is wrong with it (for options too open for a list of choices).
OptionCheck = Callable[[Any], str | None]
FAMILIES = ("segmentation", "gan")


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: how to build it and what it is."""

    name: str
    family: str
    builder: Builder
    defaults: dict[str, Any]
    conditioning: str | None = None
    choices: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    checks: dict[str, OptionCheck] = field(default_factory=dict)

    @property
    def options(self) -> set[str]:
        """The keyword arguments the builder takes."""
        params = inspect.signature(self.builder).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return set(self.defaults)
        return {p.name for p in params} | set(self.defaults)


_ENTRIES: dict[str, ModelEntry] = {}


def register_model(name: str, family: str = "segmentation", *, conditioning: str | None = None,
                   choices: dict[str, tuple[Any, ...]] | None = None, checks: dict[str, OptionCheck] | None = None,
                   **defaults: Any) -> Callable[[Builder], Builder]:
    """Register `builder` under `name` in `family`; `defaults` are its preset arguments, `choices` the valid
    values of its choice-valued options, `checks` the checks of open-valued ones (such as an encoder name),
    `conditioning` (GANs) what its generator takes."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}")
    if (family == "gan") != (conditioning in CONDITIONINGS):
        raise ValueError(f"model {name!r}: a GAN needs a conditioning in {CONDITIONINGS}, other models none")

    def decorate(builder: Builder) -> Builder:
        if name in _ENTRIES:
            raise ValueError(f"model {name!r} is already registered")
        _ENTRIES[name] = ModelEntry(name, family, builder, dict(defaults), conditioning, dict(choices or {}),
                                    dict(checks or {}))
        return builder

    return decorate


def list_models(family: str | None = None) -> list[str]:
    """Names of the registered models (of one family when given), sorted."""
    _ensure_loaded()
    return sorted(n for n, e in _ENTRIES.items() if family is None or e.family == family)


def describe_models() -> str:
    """The registered models by family, each with the first line of its builder's docstring."""
    _ensure_loaded()
    lines = []
    width = max([16, *(len(name) for name in _ENTRIES)])
    for family in FAMILIES:
        lines.append(f"{family}:")
        for name in list_models(family):
            doc = (inspect.getdoc(_ENTRIES[name].builder) or "").splitlines()
            lines.append(f"  {name:<{width}} {doc[0] if doc else ''}".rstrip())
    return "\n".join(lines)


def model_entry(name: str, family: str | None = None) -> ModelEntry:
    """The registry entry of `name`; ConfigError (listing the valid names) if unknown or of another family."""
    _ensure_loaded()
    entry = _ENTRIES.get(name)
    if entry is None or (family is not None and entry.family != family):
        kind = f"{family} model" if family else "model"
        raise ConfigError(f"unknown {kind} {name!r}; valid: {', '.join(list_models(family))}", kind="unknown")
    return entry


def model_defaults(name: str, family: str | None = None) -> dict[str, Any]:
    """The preset keyword arguments of model `name`; ConfigError if it is unknown or of another family."""
    return dict(model_entry(name, family).defaults)


def check_model_options(name: str, family: str, options: dict[str, Any]) -> None:
    """Raise ConfigError naming the first option `name` does not take or whose value is not a valid choice."""
    entry = model_entry(name, family)
    for option, value in options.items():
        if option not in entry.options:
            raise ConfigError(f"model.{option}: not an option of {name}", kind="invalid")
        valid = entry.choices.get(option)
        if valid is not None and value not in valid:
            raise ConfigError(f"model.{option}: unknown value {value!r} for {name}; valid: "
                              f"{', '.join(str(v) for v in valid)}", kind="invalid")
        check = entry.checks.get(option)
        problem = check(value) if check is not None else None
        if problem:
            raise ConfigError(f"model.{option}: {problem}", kind="invalid")


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build registered model `name`, its preset updated with `overrides`.

    Raises:
        ConfigError: unknown name (the message lists the valid ones) or bad arguments.
    """
    entry = model_entry(name)
    kwargs = {**entry.defaults, **overrides}
    try:
        return entry.builder(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model {name!r}: {exc}") from None


def _ensure_loaded() -> None:
    """Import the modules that register models (idempotent)."""
    from segen.models import attention_unet, gan, unet, unetplusplus  # noqa: F401
