"""Overlays, sample grids, plots and the HTML run report."""

from __future__ import annotations

from segen.reports.grid import image_grid, save_png, to_uint8_image
from segen.reports.html import write_report
from segen.reports.palette import colorize, default_palette, overlay, save_indexed_png, tiff_colormap
from segen.reports.plots import plot_curves

__all__ = [
    "colorize",
    "default_palette",
    "image_grid",
    "overlay",
    "plot_curves",
    "save_indexed_png",
    "save_png",
    "tiff_colormap",
    "to_uint8_image",
    "write_report",
]
