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


#: A GAN's mean discriminator outputs on real and generated images, D(x) and D(G(z)).
DISCRIMINATOR_KEYS = ("train/d_real", "train/d_fake")


def _default_groups(keys: Sequence[str]) -> dict[str, list[str]]:
    """Split history keys into losses, validation metrics, per-class validation IoU and D(x) / D(G(z))."""
    scores = [key for key in keys if key.startswith("val/") and not key.endswith("loss")]
    return {
        "loss": [key for key in keys if key.endswith("loss")],
        "metrics": [key for key in scores if not key.startswith("val/iou/")],
        "per-class IoU": [key for key in scores if key.startswith("val/iou/")],
        "D(x), D(G(z))": [key for key in keys if key in DISCRIMINATOR_KEYS],
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


def _save(figure: Figure, path: str | os.PathLike[str] | None) -> bytes:
    """The figure as PNG bytes (without a Software tag), also written atomically to `path` when given."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer, metadata={"Software": None})
    if path is not None:
        write_atomic(path, buffer.getvalue())
    return buffer.getvalue()


def plot_curves(
    history: Sequence[Mapping[str, float]],
    path: str | os.PathLike[str] | None = None,
    x_key: str = "epoch",
    groups: Mapping[str, Sequence[str]] | None = None,
) -> bytes:
    """Plot per-epoch history as one PNG with one subplot per group of keys.

    Args:
        history: One mapping per epoch; missing or None values are skipped.
        path: Destination PNG (atomic write); None: only return the PNG.
        x_key: Key of the x value; the row index is used where it is missing.
        groups: Subplot title -> keys. By default: keys ending in "loss"; the other "val/" keys; the per-class
            "val/iou/" keys; a GAN's D(x) and D(G(z)) (`DISCRIMINATOR_KEYS`). Empty groups are left out.

    Returns:
        The PNG bytes.
    """
    keys = list(dict.fromkeys(key for row in history for key in row if key != x_key))
    chosen = groups if groups is not None else _default_groups(keys)
    panels = [(title, s) for title, ks in chosen.items() if (s := _series(history, ks, x_key))]
    if not panels:
        figure = Figure(figsize=(4, 2), dpi=100)
        figure.text(0.5, 0.5, "no data", ha="center", va="center", fontsize=14)
        return _save(figure, path)
    figure = Figure(figsize=(max(10.0, 5.0 * len(panels)), 4.0), dpi=100, layout="constrained")
    for axes, (title, series) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        for key, (xs, ys) in series.items():
            axes.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=key)
        axes.set_title(title)
        axes.set_xlabel(x_key)
        axes.set_ylabel(title)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small", ncol=1 + len(series) // 12)  # 32 classes: 3 columns
    return _save(figure, path)
