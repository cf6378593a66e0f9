"""Segmentation losses by name: the registry of loss terms and weighted sums of them, written as a spec string.

A spec is one term or a sum of terms, each `NAME` or `WEIGHT*NAME` with a finite weight > 0, e.g. ``ce+dice``,
``ce+0.5*lovasz``, ``0.7*focal+0.3*tversky`` (spaces allowed, names case-insensitive, each term once), or
``auto``: bce+dice for two-class data, ce+dice otherwise. The terms, with the logits they take:

* ``ce`` (C channels): cross-entropy, `CELoss`.
* ``bce`` (1 channel): binary cross-entropy, `BCELoss`.
* ``dice`` (either): soft Dice, `DiceLoss`.
* ``jaccard`` (either): soft Jaccard (IoU), `JaccardLoss`.
* ``focal`` (either): focal loss, gamma 2, `FocalLoss`.
* ``tversky`` (either): Tversky, alpha 0.3 on FP, beta 0.7 on FN, `TverskyLoss`.
* ``lovasz`` (C channels): Lovasz-softmax, `LovaszSoftmaxLoss`.
* ``lovasz-hinge`` (1 channel): Lovasz hinge, the foreground IoU surrogate, `LovaszHingeLoss`.

The binary / multi-class rule: the binary-only terms (bce, lovasz-hinge) need two-class data and make the model
output one logit channel (sigmoid); the multi-class terms (ce, lovasz) take one channel per class (softmax, also
for two classes); the terms that work with either (dice, jaccard, focal, tversky) follow the others: one channel
when a binary-only term is in the sum, else one per class. A sum mixing binary-only and multi-class terms is
refused. Class weights (one per class) apply to every term in the sum; lovasz-hinge takes none.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from segen.errors import ConfigError
from segen.losses.lovasz import LovaszHingeLoss, LovaszSoftmaxLoss
from segen.losses.pixel import BCELoss, CELoss, FocalLoss
from segen.losses.region import DiceLoss, JaccardLoss, TverskyLoss
from segen.losses.seg_common import SegLoss

__all__ = ["SEG_LOSS_TERMS", "BCELoss", "CELoss", "CombinedLoss", "DiceLoss", "FocalLoss", "JaccardLoss",
           "LossSpec", "LovaszHingeLoss", "LovaszSoftmaxLoss", "TverskyLoss", "check_loss_spec", "create_loss",
           "list_losses", "model_outputs", "parse_loss_spec", "resolve_loss_name"]

_TERMS: dict[str, type[SegLoss]] = {cls.name: cls for cls in (
    CELoss, BCELoss, DiceLoss, JaccardLoss, FocalLoss, TverskyLoss, LovaszSoftmaxLoss, LovaszHingeLoss)}
#: The names of the loss terms a spec may sum.
SEG_LOSS_TERMS: tuple[str, ...] = tuple(_TERMS)

_EXAMPLE = "e.g. ce+dice or ce+0.5*lovasz"
_PLUS = re.compile(r"(?<![0-9.][eE])\+")  # a '+' joining terms, not the sign of an exponent (1e+3)


class CombinedLoss(nn.Module):
    """Weighted sum of losses."""

    def __init__(self, losses: Sequence[nn.Module], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        self.losses = nn.ModuleList(losses)
        self.weights = list(weights) if weights is not None else [1.0] * len(losses)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum((w * loss(logits, target) for w, loss in zip(self.weights, self.losses, strict=True)),
                   torch.zeros((), device=logits.device))


@dataclass(frozen=True)
class LossSpec:
    """A parsed loss spec: its terms as (name, weight), in the order written. `str()` gives the canonical spec."""

    terms: tuple[tuple[str, float], ...]

    @property
    def form(self) -> str:
        """The logits the sum takes: "binary" (one channel), "multi-class" (C channels) or "either"."""
        forms = {_TERMS[name].form for name, _ in self.terms} - {"either"}
        return forms.pop() if forms else "either"

    def __str__(self) -> str:
        return "+".join(name if weight == 1 else f"{_format_weight(weight)}*{name}" for name, weight in self.terms)


def _format_weight(weight: float) -> str:
    """The shortest text that reads back as `weight`: 0.5, 2, 1e-05."""
    short = f"{weight:g}"
    return short if float(short) == weight else repr(weight)


def _parse_term(text: str, spec: str) -> tuple[str, float]:
    """One `NAME` or `WEIGHT*NAME` term of `spec`, checked."""
    where = f"loss {spec!r}"
    parts = [part.strip() for part in text.split("*")]
    if len(parts) > 2:
        raise ConfigError(f"{where}: term {text!r} has more than one '*'; write each term as NAME or WEIGHT*NAME, "
                          f"{_EXAMPLE}")
    name = parts[-1].lower()
    if not name:
        raise ConfigError(f"{where}: term {text!r} names no loss; write each term as NAME or WEIGHT*NAME, {_EXAMPLE}")
    if name not in _TERMS:
        hint = " ('auto' stands alone)" if name == "auto" else ""
        raise ConfigError(f"{where}: unknown term {name!r}{hint}; valid terms: {', '.join(SEG_LOSS_TERMS)}, "
                          "or auto alone")
    if len(parts) == 1:
        return name, 1.0
    try:
        weight = float(parts[0])
    except ValueError:
        raise ConfigError(f"{where}: the weight {parts[0]!r} of term {text!r} is not a number; write each term as "
                          f"NAME or WEIGHT*NAME, {_EXAMPLE}") from None
    if not (math.isfinite(weight) and weight > 0):
        raise ConfigError(f"{where}: the weight of term {text!r} must be a finite number > 0, got {parts[0]}")
    return name, weight


def parse_loss_spec(spec: str) -> LossSpec:
    """Parse and check a loss spec other than 'auto' (see the module docstring); ConfigError, one line, if bad."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"loss: {spec!r} names no loss; give auto or a sum of terms, {_EXAMPLE}")
    terms = []
    for text in _PLUS.split(spec):
        if not text.strip():
            raise ConfigError(f"loss {spec!r}: an empty term (a '+' with nothing on one side); {_EXAMPLE}")
        terms.append(_parse_term(text.strip(), spec))
    names = [name for name, _ in terms]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(f"loss {spec!r}: term {twice[0]!r} appears more than once; give it once, with its weight")
    binary = [name for name in names if _TERMS[name].form == "binary"]
    multi = [name for name in names if _TERMS[name].form == "multi-class"]
    if binary and multi:
        raise ConfigError(f"loss {spec!r}: mixes binary-only terms ({', '.join(binary)}: one logit channel) with "
                          f"multi-class terms ({', '.join(multi)}: one channel per class); for binary data use e.g. "
                          "bce+dice or bce+lovasz-hinge, or ce+lovasz with two channels")
    return LossSpec(tuple(terms))


def check_loss_spec(spec: str) -> None:
    """Raise ConfigError (one line) unless `spec` is 'auto' or a valid sum of loss terms; needs no data."""
    if not (isinstance(spec, str) and spec.strip().lower() == "auto"):
        parse_loss_spec(spec)


def list_losses() -> list[str]:
    """The loss term names, and 'auto' (bce+dice for binary data, ce+dice otherwise); specs sum terms."""
    return ["auto", *SEG_LOSS_TERMS]


def resolve_loss_name(name: str, num_classes: int) -> str:
    """The canonical spec of loss `name` for data with `num_classes` classes; 'auto' becomes its default.

    Raises ConfigError when the spec is bad or holds a binary-only term but the data has more than two classes.
    """
    if isinstance(name, str) and name.strip().lower() == "auto":
        return "bce+dice" if num_classes == 2 else "ce+dice"
    spec = parse_loss_spec(name)
    if spec.form == "binary" and num_classes != 2:
        binary = ", ".join(n for n, _ in spec.terms if _TERMS[n].form == "binary")
        raise ConfigError(f"loss {str(spec)!r}: {binary} is for binary data (2 classes, one logit channel), but "
                          f"the data has {num_classes} classes; use ce, ce+dice or ce+lovasz")
    return str(spec)


def model_outputs(loss_name: str, num_classes: int) -> int:
    """Logit channels the model needs: 1 for a spec with a binary-only term (sigmoid), else one per class."""
    return 1 if parse_loss_spec(resolve_loss_name(loss_name, num_classes)).form == "binary" else num_classes


def create_loss(name: str, num_classes: int, ignore_index: int = 255,
                class_weights: Sequence[float] | None = None) -> nn.Module:
    """Build the loss of spec `name` (see `list_losses`) for data with `num_classes` classes.

    Args:
        name: 'auto' or a spec such as ce+0.5*lovasz.
        num_classes: the data's classes (2 for binary data, whatever the model's channels).
        ignore_index: target value of the pixels that count in no term.
        class_weights: one weight > 0 per class, applied to every term, or None.

    Returns:
        The term's module, or a `CombinedLoss` for a sum or a weighted term.
    """
    spec = parse_loss_spec(resolve_loss_name(name, num_classes))
    if class_weights is not None and len(class_weights) != num_classes:
        raise ConfigError(f"class weights: expected {num_classes} values, got {len(class_weights)}")
    if class_weights is not None:
        refused = [n for n, _ in spec.terms if not _TERMS[n].takes_class_weights]
        if refused:
            raise ConfigError(f"loss {str(spec)!r}: class weights do not apply to {', '.join(refused)} (it scores "
                              "the foreground alone); drop the class weights or use a term that takes them")
    losses = [_TERMS[n](ignore_index=ignore_index, weight=class_weights) for n, _ in spec.terms]
    if len(spec.terms) == 1 and spec.terms[0][1] == 1:
        return losses[0]
    return CombinedLoss(losses, [weight for _, weight in spec.terms])
