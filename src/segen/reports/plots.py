"""Training curves plotted to PNG with matplotlib's Figure API (Agg, no pyplot state)."""

from __future__ import annotations

import io
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import TypeGuard

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from segen.runtime import write_atomic

Series = dict[str, tuple[list[float], list[float]]]


def _default_groups(keys: Sequence[str]) -> dict[str, list[str]]:
    """Split history keys into a loss group and a validation-metrics group."""
    return {
        "loss": [key for key in keys if key.endswith("loss")],
        "metrics": [key for key in keys if key.startswith("val/") and not key.endswith("loss")],
    }


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _series(history: Sequence[Mapping[str, float]], keys: Sequence[str], x_key: str) -> Series:
    """Collect (x, y) points per key, skipping missing and None values."""
    out: Series = {}
    for key in keys:
        xs: list[float] = []
        ys: list[float] = []
        for index, row in enumerate(history):
            x, y = row.get(x_key, index), row.get(key)
            if _is_number(y):
                xs.append(float(x) if _is_number(x) else float(index))
                ys.append(float(y))
        if xs:
            out[key] = (xs, ys)
    return out


def _save(figure: Figure, path: str | os.PathLike[str]) -> None:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    write_atomic(path, buffer.getvalue())


def plot_curves(
    history: Sequence[Mapping[str, float]],
    path: str | os.PathLike[str],
    x_key: str = "epoch",
    groups: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Plot per-epoch history as one PNG with one subplot per group of keys.

    Args:
        history: One mapping per epoch; missing or None values are skipped.
        path: Destination PNG (atomic write).
        x_key: Key of the x value; the row index is used where it is missing.
        groups: Subplot title -> keys. By default, keys ending in "loss" and the other "val/" keys.
    """
    keys = list(dict.fromkeys(key for row in history for key in row if key != x_key))
    chosen = groups if groups is not None else _default_groups(keys)
    panels = [(title, s) for title, ks in chosen.items() if (s := _series(history, ks, x_key))]
    if not panels:
        figure = Figure(figsize=(4, 2), dpi=100)
        figure.text(0.5, 0.5, "no data", ha="center", va="center", fontsize=14)
        _save(figure, path)
        return
    figure = Figure(figsize=(max(10.0, 5.0 * len(panels)), 4.0), dpi=100, layout="constrained")
    for axes, (title, series) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        for key, (xs, ys) in series.items():
            axes.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=key)
        axes.set_title(title)
        axes.set_xlabel(x_key)
        axes.set_ylabel(title)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small")
    _save(figure, path)
